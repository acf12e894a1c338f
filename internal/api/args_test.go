package api_test

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/core"
)

type pairs = [][2]string

// parse is ParseRequest on an *http.Request, as the server calls it.
func parse(r *http.Request) (api.Args, error) {
	return api.ParseRequest(r.Method, r.URL.RawQuery, r.Header.Get("Content-Type"), r.Body)
}

// multipartBody builds a multipart/form-data body with fields in order.
func multipartBody(t testing.TB, fields pairs) (contentType string, body []byte) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, f := range fields {
		if err := w.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), b.Bytes()
}

// multipartWithFile adds a file part, which is ignored.
func multipartWithFile(t testing.TB) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	_ = w.WriteField("user", "bob")
	fw, err := w.CreateFormFile("upload", "x.txt")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write([]byte("file data"))
	_ = w.Close()
	return w.FormDataContentType(), b.Bytes()
}

type requestCase struct {
	name        string
	method      string
	target      string
	contentType string // "-" means no Content-Type header
	body        []byte
	want        pairs
	// sorted compares ignoring the order of different keys (multipart
	// bodies arrive as a map).
	sorted  bool
	wantErr error // nil: no error; errAny: any error
	// wantLen, when not 0, is the number of pairs wanted, in place of
	// want (for cases of thousands of pairs).
	wantLen int
}

// manyPairs is a query of n arguments, k0=v&k1=v&…
func manyPairs(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString("k" + strconv.Itoa(i) + "=v")
	}
	return b.String()
}

var errAny = errors.New("any error")

func requestCases(t testing.TB) []requestCase {
	mpCT, mpBody := multipartBody(t, pairs{{"user", "bob"}, {"acl", "list-accts"}, {"acl", "create-acct"}})
	mpfCT, mpfBody := multipartWithFile(t)
	mp2CT, mp2Body := multipartBody(t, pairs{{"a", "1"}, {"b", "2"}})
	many := func(n int) pairs {
		p := make(pairs, n)
		for i := range p {
			p[i] = [2]string{"k", "v"}
		}
		return p
	}
	mpMaxCT, mpMaxBody := multipartBody(t, many(1000))
	mpOverCT, mpOverBody := multipartBody(t, many(1001))
	cases := []requestCase{
		{
			name: "query only", method: "GET", target: "/json-api/listaccts?api.version=1&search=bob",
			want: pairs{{"api.version", "1"}, {"search", "bob"}},
		},
		{
			name: "no arguments", method: "GET", target: "/json-api/version",
			want: nil,
		},
		{
			name: "query percent and plus decoding", method: "GET", target: "/x?a=b+c&d=%2F%26%3D&e%20f=g",
			want: pairs{{"a", "b c"}, {"d", "/&="}, {"e f", "g"}},
		},
		{
			name: "query key without value", method: "GET", target: "/x?flag&a=",
			want: pairs{{"flag", ""}, {"a", ""}},
		},
		{
			name: "query value containing =", method: "GET", target: "/x?a=b=c",
			want: pairs{{"a", "b=c"}},
		},
		{
			name: "query semicolon is not a separator", method: "GET", target: "/x?a=1;b=2",
			want: pairs{{"a", "1;b=2"}},
		},
		{
			name: "trailing question mark", method: "GET", target: "/json-api/version?",
			want: nil,
		},
		{
			name: "doubled question mark", method: "GET", target: "/json-api/version??api.version=1",
			want: pairs{{"api.version", "1"}},
		},
		{
			name: "trailing ampersand", method: "GET", target: "/x?a=1&",
			want: pairs{{"a", "1"}},
		},
		{
			name: "doubled and leading ampersands", method: "GET", target: "/x?&&a=1&&b=2&&",
			want: pairs{{"a", "1"}, {"b", "2"}},
		},
		{
			name: "ampersand then question mark", method: "GET", target: "/x?a=1&?",
			want: pairs{{"a", "1"}},
		},
		{
			name: "empty key skipped", method: "GET", target: "/x?=v&a=1",
			want: pairs{{"a", "1"}},
		},
		{
			name: "bad percent-encoding in value", method: "GET", target: "/x?a=%zz",
			wantErr: errAny,
		},
		{
			name: "bad percent-encoding in key", method: "GET", target: "/x?%zz=1",
			wantErr: errAny,
		},
		{
			name: "truncated percent-encoding", method: "GET", target: "/x?a=%4",
			wantErr: errAny,
		},
		{
			name: "repeated keys kept in order", method: "GET", target: "/x?acl=a&acl=b&acl=c",
			want: pairs{{"acl", "a"}, {"acl", "b"}, {"acl", "c"}},
		},
		{
			name: "GET body ignored", method: "GET", target: "/x?a=1",
			contentType: "application/x-www-form-urlencoded", body: []byte("b=2"),
			want: pairs{{"a", "1"}},
		},
		{
			name: "HEAD body ignored", method: "HEAD", target: "/x?a=1",
			contentType: "application/x-www-form-urlencoded", body: []byte("b=2"),
			want: pairs{{"a", "1"}},
		},
		{
			name: "GET bad body ignored", method: "GET", target: "/x",
			contentType: "application/json", body: []byte("{not json"),
			want: nil,
		},
		{
			name: "POST form merged, query first", method: "POST", target: "/json-api/createacct?api.version=1",
			contentType: "application/x-www-form-urlencoded", body: []byte("username=bob&domain=example.com"),
			want: pairs{{"api.version", "1"}, {"username", "bob"}, {"domain", "example.com"}},
		},
		{
			name: "POST same key in query and body", method: "POST", target: "/x?a=query",
			contentType: "application/x-www-form-urlencoded", body: []byte("a=body"),
			want: pairs{{"a", "query"}, {"a", "body"}},
		},
		{
			name: "POST octet-stream read as form", method: "POST", target: "/json-api/version",
			contentType: "application/octet-stream", body: []byte("api.version=1&x=y%20z"),
			want: pairs{{"api.version", "1"}, {"x", "y z"}},
		},
		{
			name: "POST no content type read as form", method: "POST", target: "/json-api/cpanel",
			contentType: "-", body: []byte("cpanel_jsonapi_user=bob&cpanel_jsonapi_apiversion=3"),
			want: pairs{{"cpanel_jsonapi_user", "bob"}, {"cpanel_jsonapi_apiversion", "3"}},
		},
		{
			name: "POST text/plain read as form", method: "POST", target: "/x",
			contentType: "text/plain; charset=utf-8", body: []byte("a=1"),
			want: pairs{{"a", "1"}},
		},
		{
			name: "POST unparseable content type read as form", method: "POST", target: "/x",
			contentType: ";;;", body: []byte("a=1"),
			want: pairs{{"a", "1"}},
		},
		{
			name: "POST form trailing newline dropped", method: "POST", target: "/x",
			contentType: "application/x-www-form-urlencoded", body: []byte("a=1&b=2\r\n"),
			want: pairs{{"a", "1"}, {"b", "2"}},
		},
		{
			name: "POST form encoded newline kept in value", method: "POST", target: "/x",
			contentType: "application/x-www-form-urlencoded", body: []byte("a=1&b=2%0A"),
			want: pairs{{"a", "1"}, {"b", "2\n"}},
		},
		{
			name: "POST form trailing ampersand", method: "POST", target: "/x",
			contentType: "application/x-www-form-urlencoded", body: []byte("a=1&"),
			want: pairs{{"a", "1"}},
		},
		{
			name: "POST whitespace-only body", method: "POST", target: "/x?a=1",
			contentType: "application/json", body: []byte(" \r\n\t"),
			want: pairs{{"a", "1"}},
		},
		{
			name: "POST empty body", method: "POST", target: "/x?a=1",
			contentType: "application/x-www-form-urlencoded", body: nil,
			want: pairs{{"a", "1"}},
		},
		{
			name: "POST bad percent-encoding in body", method: "POST", target: "/x",
			contentType: "application/x-www-form-urlencoded", body: []byte("a=%G1"),
			wantErr: errAny,
		},
		{
			name: "POST multipart", method: "POST", target: "/x?api.version=1",
			contentType: mpCT, body: mpBody,
			want:   pairs{{"api.version", "1"}, {"acl", "list-accts"}, {"acl", "create-acct"}, {"user", "bob"}},
			sorted: true,
		},
		{
			name: "POST multipart file part ignored", method: "POST", target: "/x",
			contentType: mpfCT, body: mpfBody,
			want: pairs{{"user", "bob"}},
		},
		{
			name: "POST multipart without boundary", method: "POST", target: "/x",
			contentType: "multipart/form-data", body: mpBody,
			wantErr: errAny,
		},
		{
			name: "POST multipart garbage", method: "POST", target: "/x",
			contentType: "multipart/form-data; boundary=xyz", body: []byte("not multipart at all"),
			wantErr: errAny,
		},
		{
			name: "POST JSON object", method: "POST", target: "/x?api.version=1",
			contentType: "application/json",
			body:        []byte(`{"username":"bob","quota":100,"ratio":1.50,"big":12345678901234567890,"neg":-3,"ok":true,"no":false,"none":null}`),
			// Keys in sorted order after the query.
			want: pairs{{"api.version", "1"}, {"big", "12345678901234567890"}, {"neg", "-3"}, {"no", "0"}, {"none", ""}, {"ok", "1"}, {"quota", "100"}, {"ratio", "1.50"}, {"username", "bob"}},
		},
		{
			name: "POST JSON with charset", method: "POST", target: "/x",
			contentType: "application/json; charset=utf-8", body: []byte(`{"a":"b"}`),
			want: pairs{{"a", "b"}},
		},
		{
			name: "POST JSON array becomes repeated keys", method: "POST", target: "/x",
			contentType: "application/json", body: []byte(`{"acl":["list-accts","create-acct",1,true]}`),
			want: pairs{{"acl", "list-accts"}, {"acl", "create-acct"}, {"acl", "1"}, {"acl", "1"}},
		},
		{
			name: "POST JSON empty array adds nothing", method: "POST", target: "/x",
			contentType: "application/json", body: []byte(`{"acl":[],"a":"b"}`),
			want: pairs{{"a", "b"}},
		},
		{
			name: "POST JSON empty object", method: "POST", target: "/x?a=1",
			contentType: "application/json", body: []byte(`{}`),
			want: pairs{{"a", "1"}},
		},
		{
			name: "POST JSON string escapes", method: "POST", target: "/x",
			contentType: "application/json", body: []byte(`{"a":"line\nbreak \u00e9"}`),
			want: pairs{{"a", "line\nbreak é"}},
		},
		{
			name: "PUT body read", method: "PUT", target: "/x",
			contentType: "-", body: []byte("a=1"),
			want: pairs{{"a", "1"}},
		},
		{
			name: "POST body at MaxBodyBytes", method: "POST", target: "/x",
			contentType: "application/x-www-form-urlencoded",
			body:        []byte("a=" + strings.Repeat("x", api.MaxBodyBytes-2)),
			want:        pairs{{"a", strings.Repeat("x", api.MaxBodyBytes-2)}},
		},
		{
			name: "POST body over MaxBodyBytes", method: "POST", target: "/x",
			contentType: "application/x-www-form-urlencoded",
			body:        []byte("a=" + strings.Repeat("x", api.MaxBodyBytes-1)),
			wantErr:     api.ErrBodyTooLarge,
		},
		{
			name: "POST JSON over MaxBodyBytes", method: "POST", target: "/x",
			contentType: "application/json",
			body:        []byte(`{"a":"` + strings.Repeat("x", api.MaxBodyBytes) + `"}`),
			wantErr:     api.ErrBodyTooLarge,
		},
		{
			name: "POST JSON name given twice keeps the last value", method: "POST", target: "/x",
			contentType: "application/json", body: []byte(`{"a":"1","b":["x","y"],"a":["2","3"],"b":"z"}`),
			want: pairs{{"a", "2"}, {"a", "3"}, {"b", "z"}},
		},
		{
			name: "POST JSON nested value replaced by a later scalar", method: "POST", target: "/x",
			contentType: "application/json", body: []byte(`{"a":{"b":"c"},"a":"ok"}`),
			want: pairs{{"a", "ok"}},
		},
		{
			name: "POST JSON empty name dropped, whatever its value", method: "POST", target: "/x",
			contentType: "application/json", body: []byte(`{"":{"b":[1]},"a":null,"c":[null,false]}`),
			want: pairs{{"a", ""}, {"c", ""}, {"c", "0"}},
		},
		{
			name: "query of MaxArgs arguments", method: "GET", target: "/x?" + manyPairs(api.MaxArgs),
			want: pairs(nil), wantLen: api.MaxArgs,
		},
		{
			name: "query over MaxArgs arguments", method: "GET", target: "/x?" + manyPairs(api.MaxArgs+1),
			wantErr: api.ErrTooManyArgs,
		},
		{
			name: "empty parts do not count", method: "GET", target: "/x?" + strings.Repeat("&", 2*api.MaxArgs) + "=v&" + manyPairs(api.MaxArgs),
			wantLen: api.MaxArgs,
		},
		{
			name: "query and form body over MaxArgs together", method: "POST", target: "/x?" + manyPairs(api.MaxArgs/2),
			contentType: "-", body: []byte(manyPairs(api.MaxArgs/2 + 1)),
			wantErr: api.ErrTooManyArgs,
		},
		{
			name: "POST form of MaxArgs arguments", method: "POST", target: "/x",
			contentType: "-", body: []byte(manyPairs(api.MaxArgs)),
			wantLen: api.MaxArgs,
		},
		{
			name: "POST form over MaxArgs arguments", method: "POST", target: "/x",
			contentType: "-", body: []byte(manyPairs(api.MaxArgs + 1)),
			wantErr: api.ErrTooManyArgs,
		},
		{
			name: "POST JSON of MaxArgs values", method: "POST", target: "/x",
			contentType: "application/json", body: []byte(`{"a":[` + strings.Repeat("1,", api.MaxArgs-2) + `1]}`),
			wantLen: api.MaxArgs - 1,
		},
		{
			name: "POST JSON array over MaxArgs values", method: "POST", target: "/x",
			contentType: "application/json", body: []byte(`{"a":[` + strings.Repeat("1,", api.MaxArgs) + `1]}`),
			wantErr: api.ErrTooManyArgs,
		},
		{
			name: "POST JSON names over MaxArgs", method: "POST", target: "/x",
			contentType: "application/json", body: []byte(`{` + strings.Repeat(`"a":[],`, api.MaxArgs) + `"a":1}`),
			wantErr: api.ErrTooManyArgs,
		},
		{
			name: "POST JSON nested value over MaxArgs tokens", method: "POST", target: "/x",
			contentType: "application/json", body: []byte(`{"a":[[` + strings.Repeat("1,", api.MaxArgs) + `1]]}`),
			wantErr: api.ErrTooManyArgs,
		},
		{
			name: "POST multipart over MaxArgs with the query", method: "POST", target: "/x?" + manyPairs(api.MaxArgs-1),
			contentType: mp2CT, body: mp2Body,
			wantErr: api.ErrTooManyArgs,
		},
		{
			name: "POST multipart of 1000 parts", method: "POST", target: "/x",
			contentType: mpMaxCT, body: mpMaxBody,
			wantLen: 1000,
		},
		{
			name: "POST multipart over 1000 parts", method: "POST", target: "/x",
			contentType: mpOverCT, body: mpOverBody,
			wantErr: multipart.ErrMessageTooLarge,
		},
	}
	// Bodies a JSON content type refuses.
	for _, c := range []struct{ name, body string }{
		{"POST invalid JSON", `{"a":`},
		{"POST JSON trailing junk", `{"a":"1"} junk`},
		{"POST JSON null", `null`},
		{"POST JSON top-level array", `["a","b"]`},
		{"POST JSON top-level string", `"a=b"`},
		{"POST JSON nested object", `{"a":{"b":"c"}}`},
		{"POST JSON nested array", `{"a":[["b"]]}`},
		{"POST JSON object inside array", `{"a":[{"b":1}]}`},
		{"POST form body under JSON content type", "a=1&b=2"},
	} {
		cases = append(cases, requestCase{
			name: c.name, method: "POST", target: "/x",
			contentType: "application/json", body: []byte(c.body),
			wantErr: errAny,
		})
	}
	return cases
}

// header is the case's Content-Type header, "" for none.
func (tc requestCase) header() string {
	if tc.contentType == "-" {
		return ""
	}
	return tc.contentType
}

func checkPairs(t *testing.T, got api.Args, want pairs, sorted bool) {
	t.Helper()
	g := got.Pairs()
	if sorted {
		g = sortPairs(g)
		want = sortPairs(want)
	}
	if len(g) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(g, want) {
		t.Fatalf("pairs = %q, want %q", g, want)
	}
	if got.Len() != len(want) {
		t.Fatalf("Len() = %d, want %d", got.Len(), len(want))
	}
}

// sortPairs orders by key only (stable), so the order of a key's values is
// still checked.
func sortPairs(p pairs) pairs {
	out := append(pairs(nil), p...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j][0] < out[j-1][0]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func TestParseRequest(t *testing.T) {
	for _, tc := range requestCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.target, bytes.NewReader(tc.body))
			if ct := tc.header(); ct != "" {
				r.Header.Set("Content-Type", ct)
			}
			a, err := parse(r)
			switch {
			case tc.wantErr == errAny:
				if err == nil {
					t.Fatalf("ParseRequest succeeded with %q, want an error", a.Pairs())
				}
				return
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("ParseRequest error = %v, want %v", err, tc.wantErr)
				}
				return
			case err != nil:
				t.Fatalf("ParseRequest error = %v", err)
			}
			if tc.wantLen != 0 {
				if a.Len() != tc.wantLen {
					t.Fatalf("Len() = %d, want %d", a.Len(), tc.wantLen)
				}
				return
			}
			checkPairs(t, a, tc.want, tc.sorted)
		})
	}
}

// ParseRequestTo into Args with room for two pairs gives what ParseRequest
// gives, whether the pairs fit in the room or not.
func TestParseRequestTo(t *testing.T) {
	for _, tc := range requestCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			newReq := func() *http.Request {
				r := httptest.NewRequest(tc.method, tc.target, bytes.NewReader(tc.body))
				if ct := tc.header(); ct != "" {
					r.Header.Set("Content-Type", ct)
				}
				return r
			}
			want, wantErr := parse(newReq())
			var room [2][2]string
			got := api.NewArgs(room[:0]...)
			r := newReq()
			err := api.ParseRequestTo(&got, r.Method, r.URL.RawQuery, r.Header.Get("Content-Type"), r.Body)
			if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
				t.Fatalf("error %v, want %v", err, wantErr)
			}
			if err == nil && (got.Len() != want.Len() || want.Len() > 0 && !reflect.DeepEqual(got.Pairs(), want.Pairs())) {
				t.Errorf("pairs %q, want %q", got.Pairs(), want.Pairs())
			}
		})
	}
}

func TestParseRequestNilBody(t *testing.T) {
	for _, method := range []string{"POST", "GET"} {
		t.Run(method, func(t *testing.T) {
			a, err := api.ParseRequest(method, "a=1", "application/x-www-form-urlencoded", nil)
			if err != nil {
				t.Fatal(err)
			}
			checkPairs(t, a, pairs{{"a", "1"}}, false)
		})
	}
}

// The server wraps every body in http.MaxBytesReader(MaxBodyBytes+1); a body
// over MaxBodyBytes must still come back as ErrBodyTooLarge (HTTP 413), not
// as a read error.
func TestParseRequestBehindMaxBytesReader(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		wantErr error
	}{
		{"under", 100, nil},
		{"at limit", api.MaxBodyBytes, nil},
		{"one over", api.MaxBodyBytes + 1, api.ErrBodyTooLarge},
		{"far over", 3 * api.MaxBodyBytes, api.ErrBodyTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := "a=" + strings.Repeat("x", tc.size-2)
			r := httptest.NewRequest("POST", "/x", strings.NewReader(body))
			r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, api.MaxBodyBytes+1)
			a, err := parse(r)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := len(a.Get("a")); got != tc.size-2 {
				t.Fatalf("value length = %d, want %d", got, tc.size-2)
			}
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestParseRequestReadError(t *testing.T) {
	r := httptest.NewRequest("POST", "/x", nil)
	r.Body = io.NopCloser(failingReader{})
	_, err := parse(r)
	if err == nil || errors.Is(err, api.ErrBodyTooLarge) {
		t.Fatalf("error = %v, want a read error", err)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("error = %v does not wrap the read error", err)
	}
}

func TestParseBody(t *testing.T) {
	for _, tc := range requestCases(t) {
		if tc.method != "POST" || tc.wantErr == api.ErrBodyTooLarge {
			continue // ParseBody knows no methods and no size limit
		}
		if tc.wantErr == api.ErrTooManyArgs && strings.Contains(tc.target, "?") {
			continue // the query's arguments are what makes too many
		}
		t.Run(tc.name, func(t *testing.T) {
			a := api.NewArgs([2]string{"pre", "existing"})
			if tc.wantLen != 0 {
				a = api.Args{} // cases at MaxArgs have no room for one more
			}
			err := api.ParseBody(&a, tc.header(), tc.body)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("ParseBody succeeded with %q, want an error", a.Pairs())
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseBody error = %v", err)
			}
			// ParseBody appends after what a already holds; the case's query
			// pairs (parsed alone) are not involved here.
			q, err := parse(httptest.NewRequest("GET", tc.target, nil))
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantLen != 0 {
				if want := tc.wantLen - q.Len(); a.Len() != want {
					t.Fatalf("Len() = %d, want %d", a.Len(), want)
				}
				return
			}
			want := append(pairs{{"pre", "existing"}}, tc.want[q.Len():]...)
			checkPairs(t, a, want, tc.sorted)
		})
	}
}

func TestArgsAccessors(t *testing.T) {
	a := api.NewArgs(
		[2]string{"user", "bob"},
		[2]string{"user", "alice"},
		[2]string{"empty", ""},
		[2]string{"quota", " 100 "},
		[2]string{"neg", "-5"},
		[2]string{"bad", "12x"},
		[2]string{"huge", "99999999999999999999"},
	)
	if got := a.Get("user"); got != "bob" {
		t.Errorf("Get(user) = %q, want the first value bob", got)
	}
	if got := a.Get("missing"); got != "" {
		t.Errorf("Get(missing) = %q", got)
	}
	if v, ok := a.Lookup("empty"); !ok || v != "" {
		t.Errorf("Lookup(empty) = %q, %v; want \"\", true", v, ok)
	}
	if _, ok := a.Lookup("missing"); ok {
		t.Error("Lookup(missing) reports present")
	}
	if !a.Has("empty") || a.Has("missing") || a.Has("User") {
		t.Error("Has is wrong (keys are case-sensitive)")
	}
	if a.Len() != 7 {
		t.Errorf("Len = %d", a.Len())
	}

	intTests := []struct {
		key     string
		want    int64
		present bool
		wantErr bool
	}{
		{"quota", 100, true, false},
		{"neg", -5, true, false},
		{"missing", 0, false, false},
		{"empty", 0, false, false},
		{"bad", 0, true, true},
		{"huge", 0, true, true},
		{"user", 0, true, true},
	}
	for _, tc := range intTests {
		t.Run("Int/"+tc.key, func(t *testing.T) {
			n, present, err := a.Int(tc.key)
			if (err != nil) != tc.wantErr || present != tc.present || (!tc.wantErr && n != tc.want) {
				t.Fatalf("Int(%q) = %d, %v, %v; want %d, %v, err=%v", tc.key, n, present, err, tc.want, tc.present, tc.wantErr)
			}
		})
	}
}

func TestArgsBool(t *testing.T) {
	tests := []struct {
		name string
		val  string
		set  bool
		want bool
	}{
		{"1", "1", true, true},
		{"0", "0", true, false},
		{"true", "true", true, true},
		{"TRUE", "TRUE", true, true},
		{"yes", "yes", true, true},
		{"Yes", "Yes", true, true},
		{"on", "on", true, true},
		{"padded 1", " 1 ", true, true},
		{"false", "false", true, false},
		{"no", "no", true, false},
		{"off", "off", true, false},
		{"empty", "", true, false},
		{"2", "2", true, false},
		{"y", "y", true, false},
		{"absent", "", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var a api.Args
			if tc.set {
				a.Add("k", tc.val)
			}
			if got := a.Bool("k"); got != tc.want {
				t.Fatalf("Bool(%q) = %v, want %v", tc.val, got, tc.want)
			}
		})
	}
}

func TestArgsMulti(t *testing.T) {
	tests := []struct {
		name string
		in   pairs
		key  string
		want []string
	}{
		{"absent", pairs{{"x", "1"}}, "acl", nil},
		{"single", pairs{{"acl", "a"}}, "acl", []string{"a"}},
		{"repeated", pairs{{"acl", "a"}, {"acl", "b"}}, "acl", []string{"a", "b"}},
		{"numbered in order", pairs{{"acl-0", "a"}, {"acl-1", "b"}, {"acl-2", "c"}}, "acl", []string{"a", "b", "c"}},
		{"numbered out of order", pairs{{"acl-0", "a"}, {"acl-2", "c"}, {"acl-1", "b"}}, "acl", []string{"a", "b", "c"}},
		{"numbered reversed", pairs{{"acl-2", "c"}, {"acl-1", "b"}, {"acl-0", "a"}}, "acl", []string{"a", "b", "c"}},
		{"numeric not lexical order", pairs{{"acl-10", "k"}, {"acl-9", "j"}, {"acl-2", "c"}}, "acl", []string{"c", "j", "k"}},
		{"gaps kept", pairs{{"acl-5", "f"}, {"acl-0", "a"}}, "acl", []string{"a", "f"}},
		{"same number keeps arrival order", pairs{{"acl-1", "x"}, {"acl-1", "y"}}, "acl", []string{"x", "y"}},
		{"plain before numbered", pairs{{"acl-0", "n0"}, {"acl", "p"}}, "acl", []string{"p", "n0"}},
		{"negative index ignored", pairs{{"acl--1", "x"}, {"acl-0", "a"}}, "acl", []string{"a"}},
		{"non-numeric suffix ignored", pairs{{"acl-list", "x"}, {"acl-0x1", "y"}, {"acl-", "z"}}, "acl", nil},
		{"other keys ignored", pairs{{"acls", "x"}, {"xacl-0", "y"}, {"ACL", "z"}, {"acl", "a"}}, "acl", []string{"a"}},
		{"empty values kept", pairs{{"acl", ""}, {"acl-0", ""}}, "acl", []string{"", ""}},
		{"key with dash", pairs{{"domain-name-1", "b"}, {"domain-name-0", "a"}}, "domain-name", []string{"a", "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := api.NewArgs(tc.in...).Multi(tc.key)
			if len(got) == 0 && len(tc.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Multi(%q) = %q, want %q", tc.key, got, tc.want)
			}
		})
	}
}

func TestArgsMultiAtMost(t *testing.T) {
	tests := []struct {
		name    string
		in      pairs
		max     int
		want    []string
		wantErr string
	}{
		{"absent", pairs{{"x", "1"}}, 2, nil, ""},
		{"at the limit", pairs{{"acl", "a"}, {"acl-0", "b"}}, 2, []string{"a", "b"}, ""},
		{"over, plain", pairs{{"acl", "a"}, {"acl", "b"}, {"acl", "c"}}, 2, nil, "The “acl” argument was given 3 times; it takes at most 2 values."},
		{"over, numbered", pairs{{"acl-0", "a"}, {"acl-1", "b"}, {"acl-2", "c"}}, 2, nil, "given 3 times"},
		// Any acl-<suffix> counts, numbered or not: the bound is on work.
		{"over, any suffix", pairs{{"acl", "a"}, {"acl-x", "b"}, {"acl-", "c"}}, 2, nil, "given 3 times"},
		{"other keys do not count", pairs{{"acls", "a"}, {"xacl", "b"}, {"acl", "c"}}, 1, []string{"c"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := api.NewArgs(tc.in...).MultiAtMost("acl", tc.max)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || core.KindOf(err) != core.KindInvalid {
					t.Fatalf("err = %v, want an invalid-argument error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(got) != len(tc.want) || len(got) > 0 && !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("MultiAtMost = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// BenchmarkMultiAtMost: a refused list costs one pass over the arguments,
// whatever its length (the bound is checked before anything is collected).
func BenchmarkMultiAtMost(b *testing.B) {
	var a api.Args
	for i := range 70000 {
		a.Add("acl", strconv.Itoa(i))
	}
	for b.Loop() {
		if _, err := a.MultiAtMost("acl", 68); err == nil {
			b.Fatal("accepted")
		}
	}
}

// TestMultiFromRequest is D20 end to end: both repeated-key forms work from a
// query and a form body.
func TestMultiFromRequest(t *testing.T) {
	tests := []struct {
		name   string
		target string
		body   string
	}{
		{"repeated in query", "/x?acl=a&acl=b&acl=c", ""},
		{"numbered in query", "/x?acl-0=a&acl-2=c&acl-1=b", ""},
		{"repeated in body", "/x", "acl=a&acl=b&acl=c"},
		{"numbered in body", "/x", "acl-2=c&acl-0=a&acl-1=b"},
		{"split between query and body", "/x?acl=a", "acl=b&acl=c"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", tc.target, strings.NewReader(tc.body))
			r.Header.Set("Content-Type", "application/octet-stream")
			a, err := parse(r)
			if err != nil {
				t.Fatal(err)
			}
			if got := a.Multi("acl"); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
				t.Fatalf("Multi(acl) = %q", got)
			}
		})
	}
}

func FuzzParseBody(f *testing.F) {
	for _, tc := range requestCases(f) {
		if len(tc.body) > 4096 {
			continue
		}
		f.Add(tc.header(), tc.body)
	}
	// Shapes that cost the most memory per byte, small.
	f.Add("application/json", []byte(`{"a":[[[[{"b":[1]}]]]],"a":1}`))
	f.Add("application/json", []byte(`{"a":[1,2,3],"":{},"b":null}`))
	f.Add("", []byte("a&a&a&a&?&&=x&a"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		var a api.Args
		if err := api.ParseBody(&a, contentType, body); err != nil {
			return
		}
		if a.Len() > api.MaxArgs {
			t.Fatalf("%d arguments accepted", a.Len())
		}
		// Form and multipart bodies drop empty names; JSON keeps {"":...}.
		if mt, _, _ := mime.ParseMediaType(contentType); mt != "application/json" {
			for _, p := range a.Pairs() {
				if p[0] == "" {
					t.Fatalf("empty key accepted from %q", body)
				}
			}
		}
		// Accessors must not panic on whatever was parsed.
		for _, p := range a.Pairs() {
			_ = a.Multi(p[0])
			_, _, _ = a.Int(p[0])
			_ = a.Bool(p[0])
		}
	})
}

func FuzzParseRequestQuery(f *testing.F) {
	for _, tc := range requestCases(f) {
		if _, q, ok := strings.Cut(tc.target, "?"); ok {
			f.Add(q)
		}
	}
	f.Fuzz(func(t *testing.T, q string) {
		r := httptest.NewRequest("GET", "/x", nil)
		r.URL.RawQuery = q
		a, err := parse(r)
		if err != nil {
			return
		}
		for _, p := range a.Pairs() {
			if p[0] == "" {
				t.Fatalf("empty key accepted from %q", q)
			}
		}
		if a.Len() > strings.Count(q, "&")+1 {
			t.Fatalf("%d pairs from %q", a.Len(), q)
		}
	})
}
