package server

import (
	"strings"
	"time"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/health"
	"github.com/cpauth/cpauth/internal/sessions"
)

// Metrics receives what the server counts (Server.Metrics; nil counts
// nothing). Its methods run on every request: an implementation adds to
// counters it resolved beforehand, and never keeps what it is given.
type Metrics interface {
	// Auth counts one authentication decision: result is "success",
	// "failure" or "blocked"; method is "" when no credential was
	// presented (or none could be read).
	Auth(svc core.Service, method core.Method, result string)
	// Request observes one answered request: what it was, its HTTP
	// status and how long it took.
	Request(route Route, status int, took time.Duration)
}

// Route is what a request was, as the metrics label it: a bounded set,
// decided by the server, never by text the client chose.
type Route uint8

// The routes. RouteOther is anything the URL map does not serve (404s).
const (
	RouteOther   Route = iota
	RouteWHMAPI1       // /json-api/<func> with api.version=1, and what fails before the version is known
	RouteWHMAPI0       // /json-api/<func> without api.version=1
	RouteUAPI          // /execute/..., and /json-api/cpanel with cpanel_jsonapi_apiversion=3
	RouteAPI2          // /json-api/cpanel (cPanel API 2)
	RouteLogin         // the login page and the login form
	RouteLogout        // /logout
	RoutePage          // a page behind a session (/cpsessNNNNNNNNNN/...)
	RouteStatic        // /static/...
	RouteHealth        // /cpauth/health
	NumRoutes
)

var routeNames = [NumRoutes]string{"other", "whmapi1", "whmapi0", "uapi", "api2", "login", "logout", "page", "static", "health"}

func (r Route) String() string {
	if r < NumRoutes {
		return routeNames[r]
	}
	return "other"
}

// routeOf is the route of a request's path, before a handler has said
// more (the API version).
func routeOf(path string) Route {
	_, rest, underToken := sessions.SplitPath(path)
	if underToken {
		path = rest
	}
	switch {
	case path == "/json-api/cpanel" || path == "/json-api/cpanel/":
		return RouteAPI2
	case strings.HasPrefix(path, "/json-api/"):
		return RouteWHMAPI1
	case strings.HasPrefix(path, "/execute/"):
		return RouteUAPI
	case path == "/login" || path == "/login/" || (path == "/" && !underToken):
		return RouteLogin
	case path == "/logout" || path == "/logout/":
		return RouteLogout
	case underToken:
		return RoutePage
	case strings.HasPrefix(path, "/static/"):
		return RouteStatic
	case path == health.PathCompat || path == health.PathLive || path == health.PathReady:
		return RouteHealth
	}
	return RouteOther
}

// setRoute records what the handler learnt of the request's route (the
// API version), for the metrics.
func setRoute(rec *record, rt Route) { rec.route = rt + 1 }

// observe hands a finished request to the metrics.
func (s *Server) observe(path string, rec *record, status int, start time.Time) {
	rt := routeOf(path)
	if rec.route != 0 {
		rt = rec.route - 1
	}
	if status == 0 {
		status = 200 // net/http answers 200 for a handler that wrote nothing
	}
	s.Metrics.Request(rt, status, time.Since(start))
}
