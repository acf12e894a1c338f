package server

import (
	"testing"
)

var routeCases = []struct {
	name string
	path string
	want Route
}{
	{"WHM API", "/json-api/version", RouteWHMAPI1},
	{"WHM API under a token", "/cpsess0123456789/json-api/listaccts", RouteWHMAPI1},
	{"cPanel API 2", "/json-api/cpanel", RouteAPI2},
	{"cPanel API 2, slash", "/json-api/cpanel/", RouteAPI2},
	{"a WHM function named like it", "/json-api/cpanelx", RouteWHMAPI1},
	{"UAPI", "/execute/Email/list_pops", RouteUAPI},
	{"UAPI under a token", "/cpsess0123456789/execute/Email/list_pops", RouteUAPI},
	{"login page", "/", RouteLogin},
	{"login form", "/login/", RouteLogin},
	{"login under a token", "/cpsess0123456789/login", RouteLogin},
	{"logout", "/logout", RouteLogout},
	{"logout under a token", "/cpsess0123456789/logout/", RouteLogout},
	{"page", "/cpsess0123456789/", RoutePage},
	{"page deeper", "/cpsess0123456789/frontend/jupiter/index.html", RoutePage},
	{"static", "/static/cpauth.css", RouteStatic},
	{"health", "/cpauth/health", RouteHealth},
	{"unknown", "/bob/secret", RouteOther},
	{"not a token", "/cpsess12/json-api/version", RouteOther},
	{"empty", "", RouteOther},
}

func TestRouteOf(t *testing.T) {
	for _, tc := range routeCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := routeOf(tc.path); got != tc.want {
				t.Errorf("routeOf(%q) = %s, want %s", tc.path, got, tc.want)
			}
		})
	}
	for rt := range NumRoutes {
		if rt.String() == "other" && rt != RouteOther {
			t.Errorf("route %d has no name", rt)
		}
	}
	if got := Route(250).String(); got != "other" {
		t.Errorf("an unknown route is %q", got)
	}
}

// FuzzRouteOf: any path (the client's) gets one of the fixed routes.
func FuzzRouteOf(f *testing.F) {
	for _, tc := range routeCases {
		f.Add(tc.path)
	}
	f.Fuzz(func(t *testing.T, path string) {
		rt := routeOf(path)
		if rt >= NumRoutes {
			t.Fatalf("routeOf(%q) = %d, outside the routes", path, rt)
		}
		if rt.String() != routeNames[rt] {
			t.Fatalf("route %d named %q", rt, rt.String())
		}
	})
}
