package api_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/cpauth/cpauth/internal/api"
)

// boundCases are bodies of about MaxBodyBytes built to cost as much memory
// per byte as decoding can be made to spend: every one is refused.
func boundCases(t testing.TB) []struct {
	name, contentType string
	body              []byte
} {
	const size = api.MaxBodyBytes - 16
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	for mp.Len() < size-200 {
		if err := w.WriteField("a", ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var names strings.Builder
	names.WriteString("{")
	for i := 0; names.Len() < size-20; i++ {
		fmt.Fprintf(&names, `"%d":0,`, i)
	}
	names.WriteString(`"x":0}`)
	depth := (size - 8) / 2
	return []struct {
		name, contentType string
		body              []byte
	}{
		{"a million empty keys", "application/x-www-form-urlencoded", []byte(strings.Repeat("a&", size/2))},
		{"empty keys, no content type", "", []byte(strings.Repeat("&a=", size/3))},
		{"JSON array of half a million values", "application/json", []byte(`{"a":[` + strings.Repeat("1,", (size-10)/2) + `1]}`)},
		{"JSON of a hundred thousand names", "application/json", []byte(names.String())},
		{"JSON names of empty arrays", "application/json", []byte(`{` + strings.Repeat(`"":[],`, (size-10)/6) + `"a":1}`)},
		{"JSON nested half a million deep", "application/json", []byte(`{"a":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`)},
		{"JSON nested array of values", "application/json", []byte(`{"a":[[` + strings.Repeat("1,", (size-12)/2) + `1]]}`)},
		{"multipart of tiny parts", w.FormDataContentType(), mp.Bytes()},
	}
}

// A body of about 1 MiB is refused with a clear error, having allocated a
// few MiB at most whatever its shape. Before the arguments were counted,
// "a&a&…" allocated about 32 MiB and the JSON array about 60 MiB. The
// costliest now are JSON numbers, whose tokens encoding/json allocates
// several times each: 10,000 of them, about 5 MiB in 140,000 allocations,
// most of it garbage at once.
func TestParseBodyBoundedMemory(t *testing.T) {
	const (
		maxBytes  = 8 << 20
		maxAllocs = 200_000
	)
	for _, tc := range boundCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.body) > api.MaxBodyBytes {
				t.Fatalf("the case's body is %d bytes, over MaxBodyBytes", len(tc.body))
			}
			var err error
			parse := func() {
				var a api.Args
				err = api.ParseBody(&a, tc.contentType, tc.body)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			parse()
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("accepted")
			}
			if msg := err.Error(); !strings.Contains(msg, "too many arguments") && !strings.Contains(msg, "bad JSON body") && !strings.Contains(msg, "multipart") {
				t.Errorf("error %q does not say what is wrong", msg)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > maxBytes {
				t.Errorf("allocated %.1f MiB, want at most %d MiB", float64(n)/(1<<20), maxBytes>>20)
			}
			if n := testing.AllocsPerRun(3, parse); n > maxAllocs {
				t.Errorf("%.0f allocations, want at most %d", n, maxAllocs)
			}
		})
	}
}

// Too many arguments is said in those words, and counts the query's.
func TestTooManyArgs(t *testing.T) {
	tests := []struct {
		name, query, contentType, body string
	}{
		{"query", manyPairs(api.MaxArgs + 1), "", ""},
		{"form body", "", "", manyPairs(api.MaxArgs + 1)},
		{"query and form body", manyPairs(api.MaxArgs), "", "a=1"},
		{"query and JSON body", manyPairs(api.MaxArgs), "application/json", `{"a":1}`},
		{"JSON body", "", "application/json", `{"a":[` + strings.Repeat(`"",`, api.MaxArgs) + `""]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := api.ParseRequest("POST", tc.query, tc.contentType, strings.NewReader(tc.body))
			if !errors.Is(err, api.ErrTooManyArgs) {
				t.Fatalf("error %v, want ErrTooManyArgs", err)
			}
			if want := "too many arguments (more than 10000)"; err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
		})
	}
}

// ReadBody refuses a declared length over the limit without reading, and
// reads a declared length into a buffer of that size.
func TestReadBody(t *testing.T) {
	tests := []struct {
		name    string
		size    int64 // declared
		body    int   // sent
		wantErr error
		read    bool // whether the body may be read
	}{
		{"declared and sent", 100, 100, nil, true},
		{"unknown length", -1, 100, nil, true},
		{"unknown length over the limit", -1, api.MaxBodyBytes + 1, api.ErrBodyTooLarge, true},
		{"declared at the limit", api.MaxBodyBytes, api.MaxBodyBytes, nil, true},
		{"declared over the limit", api.MaxBodyBytes + 1, api.MaxBodyBytes + 1, api.ErrBodyTooLarge, false},
		{"declared empty", 0, 0, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &recordingReader{r: strings.NewReader(strings.Repeat("x", tc.body))}
			b, err := api.ReadBody(r, tc.size)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if r.read && !tc.read {
				t.Error("the body was read")
			}
			if err == nil && len(b) != tc.body {
				t.Errorf("read %d bytes, want %d", len(b), tc.body)
			}
			if tc.size > 0 && err == nil && cap(b) != int(tc.size)+1 {
				t.Errorf("buffer of %d bytes for a declared %d", cap(b), tc.size)
			}
		})
	}
}

// recordingReader records whether it was read.
type recordingReader struct {
	r    *strings.Reader
	read bool
}

func (r *recordingReader) Read(p []byte) (int, error) {
	r.read = true
	return r.r.Read(p)
}

// legacyParseBody is ParseBody's JSON and multipart decoding as it was
// before the arguments were counted: the whole JSON object into a map, and
// mime/multipart's ReadForm. FuzzParseBodyAsBefore holds the new decoders
// to its answers.
func legacyParseBody(contentType string, body []byte) (pairs, error) {
	var a api.Args
	mt, params, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "multipart/form-data":
		form, err := multipart.NewReader(bytes.NewReader(body), params["boundary"]).ReadForm(api.MaxBodyBytes)
		if err != nil {
			return nil, fmt.Errorf("bad multipart body: %w", err)
		}
		defer form.RemoveAll()
		keys := make([]string, 0, len(form.Value))
		for k := range form.Value {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, v := range form.Value[k] {
				a.Add(k, v)
			}
		}
		return a.Pairs(), nil
	case "application/json":
	default:
		return nil, errors.New("not a legacy case")
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || m == nil || dec.More() {
		return nil, errors.New("bad JSON body: the body must be one JSON object")
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	scalar := func(v any) (string, error) {
		switch x := v.(type) {
		case string:
			return x, nil
		case json.Number:
			return x.String(), nil
		case bool:
			if x {
				return "1", nil
			}
			return "0", nil
		case nil:
			return "", nil
		}
		return "", errors.New("values must be strings, numbers or booleans")
	}
	for _, k := range keys {
		if k == "" {
			continue
		}
		vs, ok := m[k].([]any)
		if !ok {
			vs = []any{m[k]}
		}
		for _, x := range vs {
			s, err := scalar(x)
			if err != nil {
				return nil, fmt.Errorf("bad JSON body: %q: %w", k, err)
			}
			a.Add(k, s)
		}
	}
	return a.Pairs(), nil
}

// The token-at-a-time JSON decoder and the part-at-a-time multipart reader
// answer every body of fewer than MaxArgs values as the decoders before
// them did: the same pairs in the same order, or the same error.
func FuzzParseBodyAsBefore(f *testing.F) {
	for _, tc := range requestCases(f) {
		if len(tc.body) <= 4096 {
			f.Add(tc.header(), tc.body)
		}
	}
	for _, body := range []string{
		`{"a":{"b":1},"a":[1]}`, `{"b":[1,{"x":[]}],"a":{"y":null}}`, `{"a":[[]],"a":{}}`, `{"a":1}{"b":2}`,
		`{"a":1,}`, `{"a" 1}`, `{"a":[1,]}`, `{"\u00e9":"\ud800"}`, "{\"a\":\"\xff\"}", `{"a":1e999}`,
		`[{"a":1}]`, ` {"a":true} `, `{ }}`, `{"a":1}]x`, `{"a":1}}{`, `{"a":1} x`, `{"a":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`,
	} {
		f.Add("application/json", []byte(body))
	}
	ct, body := multipartBody(f, pairs{{"b", "2"}, {"a", "1"}, {"b", "1"}, {"", "x"}})
	f.Add(ct, body)
	f.Add(ct, body[:len(body)-10])
	f.Add("multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"a\"; filename=\"f\"\r\n\r\nfile\r\n--x\r\nContent-Disposition: form-data; name=\"b\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=41=\r\nB\r\n--x--\r\n"))
	f.Add("multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"a\"; filename=\"f\"\r\n\r\nfile"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		if len(bytes.TrimSpace(body)) == 0 {
			return // ParseBody answers empty bodies before decoding
		}
		want, wantErr := legacyParseBody(contentType, body)
		if wantErr != nil && wantErr.Error() == "not a legacy case" {
			return
		}
		var a api.Args
		err := api.ParseBody(&a, contentType, body)
		if errors.Is(err, api.ErrTooManyArgs) {
			return // the one answer the old decoders never gave
		}
		if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
			t.Fatalf("ParseBody(%q, %q): error %v, before %v", contentType, body, err, wantErr)
		}
		if err == nil && (a.Len() != len(want) || len(want) > 0 && !reflect.DeepEqual(a.Pairs(), want)) {
			t.Fatalf("ParseBody(%q, %q) = %q, before %q", contentType, body, a.Pairs(), want)
		}
	})
}

// BenchmarkParseBody is the cost of decoding a small body of each encoding
// and of refusing the bodies of TestParseBodyBoundedMemory.
func BenchmarkParseBody(b *testing.B) {
	mpCT, mpBody := multipartBody(b, pairs{{"api.version", "1"}, {"user", "bob"}, {"acl", "list-accts"}})
	small := []struct {
		name, contentType string
		body              []byte
	}{
		{"form", "application/x-www-form-urlencoded", []byte("api.version=1&user=bob&acl=list-accts")},
		{"JSON", "application/json", []byte(`{"api.version":1,"user":"bob","acl":["list-accts"]}`)},
		{"multipart", mpCT, mpBody},
	}
	for _, tc := range append(small, boundCases(b)...) {
		b.Run(strings.ReplaceAll(tc.name, " ", "-"), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.body)))
			for b.Loop() {
				var a api.Args
				_ = api.ParseBody(&a, tc.contentType, tc.body)
			}
		})
	}
}
