package api

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// jsonOf is what encoding/json writes for v (compact, no HTML escaping).
func jsonOf(t testing.TB, v any) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// AppendJSON writes the bytes encoding/json writes, for the maps it writes
// itself and for those it hands to encoding/json.
func TestAppendJSON(t *testing.T) {
	var nilMap map[string]any
	sixteen, seventeen := map[string]any{}, map[string]any{}
	for i := range 17 {
		k := string(rune('a' + i))
		if i < 16 {
			sixteen[k] = i
		}
		seventeen[k] = i
	}
	cases := []struct {
		name string
		v    any
	}{
		{"nil", nil},
		{"nil map", nilMap},
		{"empty map", map[string]any{}},
		{"string", "a\"b<c>\u2028\xff"},
		{"flat", map[string]any{"b": true, "a": -3, "c": "x\"y", "é": "\u2028", "<": "&", "z": false, "y": 0, "x": ""}},
		{"int64", map[string]any{"created": int64(1_700_000_000), "min": int64(-1 << 63)}},
		{"lists", map[string]any{"nil": []string(nil), "empty": []string{}, "one": []string{"a.example"}, "odd": []string{"<&>", "\"", "\n", "é\xff"}}},
		{"get_user_information", map[string]any{
			"user": "bob", "domain": "bob.example", "domains": []string{"bob.example", "bob.test"}, "contact_email": "",
			"created": int64(1_700_000_000), "owner": "root", "plan": "default", "home": "/home/bob",
			"suspended": 0, "is_reseller": 0, "lang": "english", "locale": "en", "theme": "jupiter",
		}},
		{"sixteen keys", sixteen},
		{"seventeen keys", seventeen},
		{"other values", map[string]any{"a": 1.5, "b": nil, "c": []int{1}, "d": map[string]any{"x": 1}, "e": uint(3)}},
		{"list of another type", []string{"a"}},
		{"appender", appender{"a<b"}},
		{"appender in a map", map[string]any{"x": appender{"\u2028"}, "y": 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := AppendJSON([]byte("prefix:"), c.v)
			if err != nil {
				t.Fatal(err)
			}
			if want := "prefix:" + jsonOf(t, c.v); string(got) != want {
				t.Errorf("\n got %s\nwant %s", got, want)
			}
		})
	}
}

// FuzzAppendJSON: for maps of arbitrary keys, strings, numbers and lists,
// AppendJSON writes what encoding/json writes.
func FuzzAppendJSON(f *testing.F) {
	f.Add("user", "bob", int64(1_700_000_000), "a.example\x00b.example", true)
	f.Add("", "", int64(-1), "", false)
	f.Add("é\u2028", "<\"\\>\xff", int64(0), "\x00\x00", true)
	f.Fuzz(func(t *testing.T, key, val string, n int64, list string, b bool) {
		var l []string
		if list != "" {
			l = strings.Split(list, "\x00")
		}
		m := map[string]any{key: val, key + "n": n, key + "i": int(n), key + "l": l, key + "b": b}
		got, err := AppendJSON(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		if want := jsonOf(t, m); string(got) != want {
			t.Errorf("\n got %s\nwant %s", got, want)
		}
	})
}

// appender writes its own JSON.
type appender struct{ s string }

func (a appender) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"s":`...)
	return append(AppendJSONString(dst, a.s), '}')
}

func (a appender) MarshalJSON() ([]byte, error) { return a.AppendJSON(nil), nil }
