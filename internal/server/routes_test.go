package server

import (
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"testing"
)

// patternMux is a mux with the patterns of routes, each answering with its
// own name.
func patternMux() *http.ServeMux {
	mux := http.NewServeMux()
	for _, pat := range []string{"/json-api/", "/execute/", "/login", "/login/{$}", "/logout", "/logout/{$}", "/static/", "/cpauth/health", "/cpauth/health/live", "/cpauth/health/ready", "/"} {
		mux.HandleFunc(pat, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(pat)) })
	}
	return mux
}

// checkFastRoute fails when fastRoute chose a route for r that the mux
// would not have chosen, without a redirect.
func checkFastRoute(t *testing.T, mux *http.ServeMux, r *http.Request) route {
	t.Helper()
	got := fastRoute(r)
	if got == routeMux {
		return got
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, r)
	want := map[route][]string{routeAPI: {"/json-api/", "/execute/"}, routeUnderToken: {"/"}}[got]
	if rec.Code != http.StatusOK || (rec.Body.String() != want[0] && (len(want) < 2 || rec.Body.String() != want[1])) {
		t.Errorf("%s %q (raw %q): fastRoute chose %d, the mux answers %d %q", r.Method, r.URL.Path, r.URL.RawPath, got, rec.Code, rec.Body.String())
	}
	return got
}

func TestFastRoute(t *testing.T) {
	mux := patternMux()
	for _, tc := range []struct {
		method, target string
		want           route
	}{
		{"GET", "/json-api/version?api.version=1", routeAPI},
		{"POST", "/json-api/createacct", routeAPI},
		{"GET", "/json-api/", routeAPI},
		{"GET", "/json-api/cpanel?cpanel_jsonapi_apiversion=3", routeAPI},
		{"GET", "/execute/Variables/get_user_information", routeAPI},
		{"GET", "/execute/Variables/get_user_information/", routeAPI},
		{"GET", "/cpsess0123456789/json-api/version", routeUnderToken},
		{"GET", "/cpsess0123456789/execute/Email/list_pops", routeUnderToken},
		{"GET", "/cpsess0123456789/", routeUnderToken},
		{"GET", "/cpsess0123456789", routeUnderToken},
		{"GET", "/cpsess", routeUnderToken},
		{"GET", "/cpsessx/../login", routeMux},
		// The mux redirects these, or matches them elsewhere.
		{"GET", "/json-api", routeMux},
		{"GET", "/json-api//version", routeMux},
		{"GET", "/json-api/./version", routeMux},
		{"GET", "/json-api/../login", routeMux},
		{"GET", "/json-api/x/..", routeMux},
		{"GET", "/json-api/x/.", routeMux},
		{"GET", "/execute/a/../../static/x", routeMux},
		{"GET", "/json-api%2Fversion", routeMux},
		{"GET", "/json-api/a%2Fb", routeMux},
		{"GET", "/cpsess0123456789%2Fjson-api/version", routeMux},
		{"GET", "/login", routeMux},
		{"GET", "/", routeMux},
		{"GET", "/static/app.css", routeMux},
		{"GET", "/cpauth/health", routeMux},
		{"POST", "/cpauth/health", routeMux},
		{"GET", "/cpauth/health/live", routeMux},
		{"HEAD", "/cpauth/health/ready", routeMux},
		{"CONNECT", "/json-api/version", routeMux},
	} {
		r := httptest.NewRequest(tc.method, tc.target, nil)
		if got := checkFastRoute(t, mux, r); got != tc.want {
			t.Errorf("%s %s: fastRoute = %d, want %d", tc.method, tc.target, got, tc.want)
		}
	}
}

func TestIsCleanPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/": true, "/a": true, "/a/": true, "/a/b/": true, "": false, "a": false, "//": false,
		"/a//": false, "/a/./": false, "/a/../": false, "/.": false, "/..": false, "/a/.b": true, "/a..b/": true,
	} {
		if got := isCleanPath(p); got != want {
			t.Errorf("isCleanPath(%q) = %v, want %v", p, got, want)
		}
	}
}

// isCleanPathByClean is isCleanPath by its definition.
func isCleanPathByClean(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	c := path.Clean(p)
	return c == p || p[len(p)-1] == '/' && c != "/" && len(p) == len(c)+1 && strings.HasPrefix(p, c)
}

func FuzzIsCleanPath(f *testing.F) {
	for _, s := range []string{"/", "//", "/a/", "/a//", "/./", "/../", "/a/.", "/a/..", "/a/...", "/.a/", "", "a", "/a/b/c/", "/json-api/version"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if got, want := isCleanPath(p), isCleanPathByClean(p); got != want {
			t.Fatalf("isCleanPath(%q) = %v, want %v", p, got, want)
		}
	})
}

// FuzzFastRoute: whatever the path, fastRoute never picks a route the mux
// would not.
func FuzzFastRoute(f *testing.F) {
	for _, s := range []string{"/json-api/version", "/execute/A/b", "/cpsess0123456789/json-api/x", "/json-api/../x", "/json-api%2fx", "/cpsess/./x", "/%63psess1/x"} {
		f.Add("GET", s)
	}
	mux := patternMux()
	f.Fuzz(func(t *testing.T, method, target string) {
		r, err := http.NewRequest(method, "http://example.com"+target, nil)
		if err != nil || r.URL.Host != "example.com" || r.URL.Opaque != "" {
			return
		}
		r.RequestURI = r.URL.RequestURI()
		checkFastRoute(t, mux, r)
	})
}
