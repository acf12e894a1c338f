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

// D30: which login forms come from another site.
func TestCrossSite(t *testing.T) {
	tls := Port{Service: core.ServiceCPanel, TLS: true}
	plain := Port{Service: core.ServiceCPanel}
	tests := []struct {
		name   string
		port   Port
		host   string
		fetch  string // Sec-Fetch-Site ("": none sent)
		origin string // Origin ("": none sent)
		cross  bool
	}{
		{name: "no headers (scripts, curl, cPanel's clients)", port: tls, host: "host.example:2083"},
		{name: "same-origin", port: tls, host: "host.example:2083", fetch: "same-origin", origin: "https://host.example:2083"},
		{name: "same-origin is taken as the browser says (a proxy)", port: plain, host: "backend:2082", fetch: "same-origin", origin: "https://host.example"},
		{name: "none (the user's own navigation)", port: tls, host: "host.example:2083", fetch: "none"},
		{name: "same-site without an Origin", port: tls, host: "host.example:2083", fetch: "same-site"},
		{name: "same-site from another port", port: tls, host: "host.example:2083", fetch: "same-site", origin: "https://host.example:2087", cross: true},
		{name: "cross-site", port: tls, host: "host.example:2083", fetch: "cross-site", cross: true},
		{name: "cross-site with a matching Origin", port: tls, host: "host.example:2083", fetch: "cross-site", origin: "https://host.example:2083", cross: true},
		{name: "Origin of the same origin", port: tls, host: "host.example:2083", origin: "https://host.example:2083"},
		{name: "Origin in upper case", port: tls, host: "host.example:2083", origin: "HTTPS://HOST.EXAMPLE:2083"},
		{name: "Origin with the default port", port: tls, host: "host.example", origin: "https://host.example:443"},
		{name: "Host with the default port", port: plain, host: "host.example:80", origin: "http://host.example"},
		{name: "IPv6", port: tls, host: "[::1]:2083", origin: "https://[::1]:2083"},
		{name: "Origin of another site", port: tls, host: "host.example:2083", origin: "https://evil.example", cross: true},
		{name: "Origin of another port", port: tls, host: "host.example:2083", origin: "https://host.example:2087", cross: true},
		{name: "Origin of another scheme", port: plain, host: "host.example:2082", origin: "https://host.example:2082", cross: true},
		{name: "Origin null", port: tls, host: "host.example:2083", origin: "null", cross: true},
		{name: "Origin malformed", port: tls, host: "host.example:2083", origin: "host.example:2083", cross: true},
		{name: "Origin with a path", port: tls, host: "host.example:2083", origin: "https://host.example:2083/login", cross: true},
		{name: "unknown Sec-Fetch-Site: the Origin decides", port: tls, host: "host.example:2083", fetch: "elsewhere", origin: "https://evil.example", cross: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/login/", nil)
			r.Host = tc.host
			if tc.fetch != "" {
				r.Header.Set("Sec-Fetch-Site", tc.fetch)
			}
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if why := crossSite(r, tc.port); (why != "") != tc.cross {
				t.Errorf("crossSite = %q, want cross-site %v", why, tc.cross)
			}
		})
	}
}
