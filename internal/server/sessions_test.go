package server

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cpauth/cpauth/internal/core"
)

func TestCookieValue(t *testing.T) {
	whm := Port{Service: core.ServiceWHM, TLS: true}
	for _, tc := range []struct {
		headers []string
		want    string
		ok      bool
	}{
		{nil, "", false},
		{[]string{"whostmgrsession=root%3aabc"}, "root%3aabc", true},
		{[]string{"cpsession=x; whostmgrsession=y; webmailsession=z"}, "y", true},
		{[]string{"cpsession=x;whostmgrsession=y"}, "y", true},
		{[]string{"cpsession=x", "whostmgrsession=\"y\""}, "y", true},
		{[]string{"whostmgrsession="}, "", true},
		{[]string{"whostmgrsession=a; whostmgrsession=b"}, "a", true},
		{[]string{"xwhostmgrsession=a"}, "", false},
		{[]string{"whostmgrsessionx=a"}, "", false},
		{[]string{"whostmgrsession"}, "", true},
		{[]string{"cpsession=whostmgrsession=a"}, "", false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		for _, h := range tc.headers {
			r.Header.Add("Cookie", h)
		}
		got, ok := cookieValue(r, whm)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%q: %q %v, want %q %v", tc.headers, got, ok, tc.want, tc.ok)
		}
		// What net/http's parser makes of it, for the cases it accepts.
		if c, err := r.Cookie("whostmgrsession"); err == nil && (c.Value != got || !ok) {
			t.Errorf("%q: net/http reads %q, we %q", tc.headers, c.Value, got)
		}
	}
}

func TestLanding(t *testing.T) {
	for in, want := range map[string]string{
		"":                            "/",
		"/":                           "/",
		"/tokens/":                    "/tokens/",
		"/tokens/?a=1#x":              "/tokens/?a=1#x",
		"/cpsess0123456789":           "/",
		"/cpsess0123456789/":          "/",
		"/cpsess0123456789/sessions/": "/sessions/",
		"/cpsess0123456789?x=1":       "/?x=1",
		"//evil.example/":             "/",
		"/\\evil.example/":            "/",
		"https://evil.example/":       "/",
		"tokens/":                     "/",
		"/x\ny":                       "/",
	} {
		if got := landing(in); got != want {
			t.Errorf("landing(%q) = %q, want %q", in, got, want)
		}
	}
}
