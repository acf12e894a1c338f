package logs

import (
	"encoding/json"
	"testing"
	"time"
)

var appendCases = []struct {
	name, s string
}{
	{"empty", ""},
	{"plain", "root"},
	{"address", "2001:db8::1"},
	{"request line", "GET /json-api/version HTTP/1.1"},
	{"quotes and brackets", `a"b'c[d]e`},
	{"control bytes", "a\r\nb\x00c\x7fd\te"},
	{"html", "<script>&</script>"},
	{"unicode", "пользователь ✓"},
	{"line separators", "a\u2028b\u2029c"},
	{"invalid utf-8", "a\xffb\xc3"},
	{"backslash", `C:\path\`},
	{"long", string(make([]byte, 300))},
}

// The appenders write exactly what field, word and encoding/json write.
func TestAppenders(t *testing.T) {
	for _, tc := range appendCases {
		t.Run(tc.name, func(t *testing.T) { checkAppenders(t, tc.s) })
	}
}

func FuzzAppenders(f *testing.F) {
	for _, tc := range appendCases {
		f.Add(tc.s)
	}
	f.Fuzz(checkAppenders)
}

func checkAppenders(t *testing.T, s string) {
	if got, want := string(appendField(nil, s)), field(s); got != want {
		t.Errorf("appendField(%q) = %q, field = %q", s, got, want)
	}
	if got, want := string(appendWord(nil, s)), word(s); got != want {
		t.Errorf("appendWord(%q) = %q, word = %q", s, got, want)
	}
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendJSONString(nil, s); string(got) != string(want) {
		t.Errorf("appendJSONString(%q) = %s, encoding/json: %s", s, got, want)
	}
	d := Decision{Time: time.Date(2026, 11, 29, 12, 0, 0, 123456789, time.UTC), RequestID: s, Service: "whostmgrd", Port: len(s),
		TLS: len(s)%2 == 0, Address: s, User: s, Method: "token", Result: "failure", Reason: "bad_token", Detail: s, TokenName: s, Session: s, Path: s}
	checkDecision(t, d)
	checkDecision(t, Decision{Time: d.Time, Service: s, Address: s, User: s, Method: s, Result: s, Reason: s})
	checkDecision(t, Decision{Time: d.Time, Service: "whostmgrd", Address: s, Result: "blocked", Reason: "suppressed", Detail: s,
		Suppressed: int64(len(s)) + 1, PeriodSeconds: 60})
	checkDecision(t, Decision{Time: d.Time, Service: "cpaneld", Address: s, User: s, Method: "token", Result: "forwarded", Reason: "ok",
		Path: s, Function: s, BackendStatus: 200 + len(s), BackendMicros: int64(len(s)) * 1001})
}

func checkDecision(t *testing.T, d Decision) {
	t.Helper()
	want, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendDecision(nil, d); string(got) != string(want) {
		t.Errorf("appendDecision:\n got %s\nwant %s", got, want)
	}
}

// A second's text is reused within the second and made anew for the next.
func TestStamper(t *testing.T) {
	s := stamper{layout: "2006-01-02 15:04:05 +0000"}
	base := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for _, at := range []time.Time{base, base.Add(500 * time.Millisecond), base.Add(time.Second), base.Add(-time.Hour), base.In(time.FixedZone("x", 3600))} {
		if got, want := string(s.append(nil, at)), at.UTC().Format(s.layout); got != want {
			t.Errorf("%v: %q, want %q", at, got, want)
		}
	}
}
