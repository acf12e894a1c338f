package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/api/api2"
	"github.com/cpauth/cpauth/internal/api/uapi"
	"github.com/cpauth/cpauth/internal/api/whmapi0"
	"github.com/cpauth/cpauth/internal/api/whmapi1"
	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/functions"
	"github.com/cpauth/cpauth/internal/gateway"
	"github.com/cpauth/cpauth/internal/health"
	"github.com/cpauth/cpauth/internal/sessions"
)

// routes is the whole URL map of one port.
//
//	/json-api/..., /execute/...          API (header authentication)
//	/cpsessNNNNNNNNNN/json-api/..., /cpsessNNNNNNNNNN/execute/...
//	                                     API (header, or session cookie + token)
//	/ , /login, /login/ (GET)            login page
//	/login, /login/ (POST)               log in (D8, D9)
//	/login/passkey/begin, /finish (POST) passwordless sign-in with a passkey (passkeys.go)
//	/logout, /logout/                    log out
//	/cpsessNNNNNNNNNN/login[/], /logout[/]  the same, under a token
//	/cpsessNNNNNNNNNN/passkeys/...       passkey ceremonies and forms of the session (passkeys.go)
//	/cpsessNNNNNNNNNN/<anything else>    a page behind the session (web.Private)
//	/static/...                          the pages' style sheet and script
//	/cpauth/health/live (GET, HEAD)      liveness: the process serves
//	/cpauth/health/ready, /cpauth/health (GET, HEAD)
//	                                     readiness: store, change feed, log files, backend
//
// Anything else is 404.
func (s *Server) routes(p Port) http.Handler {
	mux := http.NewServeMux()
	api := func(w http.ResponseWriter, r *http.Request) { s.serveAPI(w, r, p, r.URL.Path, "") }
	mux.HandleFunc("/json-api/", api)
	mux.HandleFunc("/execute/", api)
	login := func(w http.ResponseWriter, r *http.Request) { s.serveLogin(w, r, p) }
	mux.HandleFunc("/login", login)
	mux.HandleFunc("/login/{$}", login)
	mux.HandleFunc("/login/passkey/begin", func(w http.ResponseWriter, r *http.Request) { s.servePasskeyLogin(w, r, p, false) })
	mux.HandleFunc("/login/passkey/finish", func(w http.ResponseWriter, r *http.Request) { s.servePasskeyLogin(w, r, p, true) })
	logout := func(w http.ResponseWriter, r *http.Request) { s.serveLogout(w, r, p) }
	mux.HandleFunc("/logout", logout)
	mux.HandleFunc("/logout/{$}", logout)
	if s.Web != nil {
		mux.Handle("/static/", s.Web.Static())
	}
	hh := s.health().Handler()
	mux.Handle(health.PathCompat, hh)
	mux.Handle(health.PathLive, hh)
	mux.Handle(health.PathReady, hh)
	// underToken is "/": paths under a security token, the login page at
	// "/" itself, and 404 for the rest.
	underToken := func(w http.ResponseWriter, r *http.Request) {
		if token, rest, ok := sessions.SplitPath(r.URL.Path); ok {
			switch {
			case strings.HasPrefix(rest, "/json-api/") || strings.HasPrefix(rest, "/execute/"):
				s.serveAPI(w, r, p, rest, token)
			case rest == "/login" || rest == "/login/":
				s.serveLogin(w, r, p)
			case rest == "/logout" || rest == "/logout/":
				s.serveLogout(w, r, p)
			default:
				s.servePrivate(w, r, p, token, rest)
			}
			return
		}
		if r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			s.serveLoginPage(w, r, p)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		http.Error(w, "Not Found", http.StatusNotFound)
	}
	mux.HandleFunc("/", underToken)
	// API calls skip the mux's matching (and what it allocates): fastRoute
	// picks the handler the mux would pick, for the requests it is sure of.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch fastRoute(r) {
		case routeAPI:
			api(w, r)
		case routeUnderToken:
			underToken(w, r)
		default:
			mux.ServeHTTP(w, r)
		}
	})
}

// A route fastRoute chose without the mux.
type route int

const (
	routeMux        route = iota // not sure: ask the mux
	routeAPI                     // the "/json-api/" and "/execute/" patterns
	routeUnderToken              // "/" for a path under a security token
)

// fastRoute chooses the pattern of the URL map above that the mux would
// choose for a request that needs no redirect: not CONNECT, a path without
// escapes (the mux matches escaped segments) that is already clean (else the
// mux redirects), and under /json-api/, /execute/ or /cpsess, which only the
// API patterns and "/" match. It must change with the URL map
// (TestFastRoute, FuzzFastRoute).
func fastRoute(r *http.Request) route {
	p := r.URL.Path
	if r.Method == http.MethodConnect || r.URL.RawPath != "" || !isCleanPath(p) {
		return routeMux
	}
	switch {
	case strings.HasPrefix(p, "/json-api/"), strings.HasPrefix(p, "/execute/"):
		return routeAPI
	case strings.HasPrefix(p, "/cpsess"):
		return routeUnderToken
	}
	return routeMux
}

// isCleanPath reports whether the mux would serve p without redirecting it
// to its cleaned form: p starts with a slash and path.Clean changes nothing
// but a trailing slash, which the mux keeps. That is: no segment is "." or
// "..", and none is empty but the last.
func isCleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	for rest := p[1:]; ; {
		seg, after, more := strings.Cut(rest, "/")
		if !more {
			return seg != "." && seg != ".."
		}
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		rest = after
	}
}

// serveAPI handles /json-api/... and /execute/... (path without any
// /cpsess prefix; token is that prefix, "" when there was none).
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, p Port, path, token string) {
	if s.redirectTLS(w, r, p) {
		return
	}
	switch {
	case path == "/json-api/cpanel" || path == "/json-api/cpanel/":
		s.serveCPanelProxy(w, r, p, token)
	case strings.HasPrefix(path, "/json-api/"):
		s.serveWHM(w, r, p, path, token)
	case strings.HasPrefix(path, "/execute/"):
		s.serveUAPI(w, r, p, path, token)
	default:
		http.NotFound(w, r)
	}
}

// apiRequest is what an API call keeps per request, in one allocation: the
// request the authentication methods look at, the call, and room for its
// first few arguments.
type apiRequest struct {
	auth  auth.Request
	call  api.Call
	pairs [4][2]string
	// body is the request body as read, in gateway mode (a forwarded
	// call passes it on unchanged); nil otherwise.
	body []byte
}

// admit authenticates the caller into st.call.Principal and reads the
// arguments into st.call.Args; when either fails, or the credential may
// not reach this API path, it has written the answer and returns false.
// path is the API path without any /cpsess prefix.
//
// The query is read first: its bytes are already in hand, within the
// header limit, and a malformed one is answered as it always was, whoever
// asks. The body is read only once the credential has been checked (and
// the regulator asked): what a caller without a valid credential sends is
// never read (body.go). Nothing in authentication needs the arguments:
// the credentials and the second factor come from headers and the path.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, p Port, path, token string, st *apiRequest, fail func(int, error)) bool {
	st.call.Args = api.NewArgs(st.pairs[:0]...)
	if err := api.ParseQuery(&st.call.Args, r.URL.RawQuery); err != nil {
		unreadable(fail, err)
		return false
	}
	principal, ok := s.authenticate(w, r, p, token, &st.auth)
	if !ok {
		return false
	}
	if !s.parseBody(w, r, st, fail) {
		return false
	}
	if !cpanelTokenMayReach(principal, path, st.call.Args) {
		s.Log.Warn("cPanel API token refused on a path other than UAPI or API 2",
			"request_id", requestID(r.Context()), "user", principal.User, "token_name", principal.TokenName, "path", path)
		forbiddenText(w, cpanelTokenForbidden)
		return false
	}
	st.call.Principal = principal
	return true
}

// parseBody adds the arguments of an authenticated call's body to
// st.call.Args; on bad input it writes the flavour's error.
func (s *Server) parseBody(w http.ResponseWriter, r *http.Request, st *apiRequest, fail func(status int, err error)) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true // a GET's body is not read (D20)
	}
	allowBody(r, api.MaxBodyBytes+1)
	var err error
	if s.Gateway == nil {
		err = api.ParseRequestBody(&st.call.Args, r.Method, headerValue(r.Header, "Content-Type"), r.Body, r.ContentLength)
	} else {
		// The same parse, keeping the bytes: a forwarded call passes
		// them on as the client sent them.
		if st.body, err = api.ReadBody(r.Body, r.ContentLength); err == nil {
			err = api.ParseBody(&st.call.Args, headerValue(r.Header, "Content-Type"), st.body)
		}
	}
	if errors.Is(err, errBodyBusy) {
		s.Log.Warn("request refused: the budget of request bodies is spent",
			"request_id", requestID(r.Context()), "remote", remoteString(r), "user", recordOf(r).user, "content_length", r.ContentLength)
		w.Header().Set("Retry-After", "1")
		fail(http.StatusServiceUnavailable, core.Errorf(core.KindOther, "The request could not be read: the server is busy reading other requests; try again shortly."))
		return false
	}
	if err != nil {
		unreadable(fail, err)
		return false
	}
	return true
}

// unreadable writes the flavour's answer to arguments that could not be
// read.
func unreadable(fail func(status int, err error), err error) {
	status := http.StatusBadRequest
	if errors.Is(err, api.ErrBodyTooLarge) {
		status = http.StatusRequestEntityTooLarge
	}
	fail(status, core.Errorf(core.KindInvalid, "The request could not be read: %s.", err.Error()))
}

// cpanelTokenForbidden is cpsrvd's answer to a cPanel API token used
// anywhere but UAPI and cPanel API 2 (PROTOCOL.md 4.1).
const cpanelTokenForbidden = "Token authentication allows access to UAPI or API 2 calls only."

// cpanelTokenMayReach reports whether a principal may call the API path:
// a cPanel API token reaches /execute/... and /json-api/cpanel with API
// version 2 or 3 only; every other principal is not limited here.
func cpanelTokenMayReach(p core.Principal, path string, args api.Args) bool {
	if p.Method != core.MethodToken || p.Service != core.ServiceCPanel {
		return true
	}
	switch {
	case strings.HasPrefix(path, "/execute/"):
		return true
	case path == "/json-api/cpanel" || path == "/json-api/cpanel/":
		switch args.Get("cpanel_jsonapi_apiversion") {
		case "", "2", "3":
			return true
		}
	}
	return false
}

// serveWHM serves path, /json-api/<name>: WHM API 1 with api.version=1,
// WHM API 0 without it (or with 0). The checks before the call — the port
// (D2), the credential (D5), an unreadable request — answer in API 1's
// envelope whatever the version: they come before the version is known
// (it may be in the body), and they are as they always were.
func (s *Server) serveWHM(w http.ResponseWriter, r *http.Request, p Port, path, token string) {
	name := strings.TrimSuffix(strings.TrimPrefix(path, "/json-api/"), "/")
	fail := func(status int, err error) { writeWHM1(w, status, name, nil, err) }
	if p.Service != core.ServiceWHM {
		fail(http.StatusForbidden, whmapi1.WrongPort()) // D2
		return
	}
	st := new(apiRequest)
	// The path as the name makes it: without a trailing slash.
	if !s.admit(w, r, p, path[:len("/json-api/")+len(name)], token, st, fail) {
		return
	}
	c := &st.call
	c.Flavour, c.Func, c.Remote, c.Host = api.WHM1, name, remoteAddr(r), r.Host
	version := c.Args.Get("api.version")
	if s.Metrics != nil && version != "1" {
		setRoute(recordOf(r), RouteWHMAPI0)
	}
	if s.Gateway != nil && !gateway.Serves(api.WHM1, "", name, c.Args) {
		fw := gateway.Request{Flavour: api.WHM1, Func: name}
		if name == "uapi_cpanel" {
			// Described by the function it runs, in the account it names.
			fw = gateway.Request{Flavour: api.UAPI, Module: c.Args.Get("cpanel.module"), Func: c.Args.Get("cpanel.function"), WHM: true, Account: c.Args.Get("cpanel.user")}
		}
		s.forward(w, r, p, token, st, &fw, fail)
		return
	}
	switch v := version; v {
	case "1":
		res, err := functions.RunWHM1(r.Context(), s.Registry, c)
		s.logCallError(r, c, err)
		if s.Gateway != nil && err == nil {
			s.Gateway.Served(r.Context(), api.WHM1, name, c.Principal.User)
		}
		writeWHM1(w, http.StatusOK, name, res, err)
	case "", "0":
		// WHM API 0 (D23): the API 1 function in API 0's shape, or the
		// unknown-app answer for one API 0 does not have.
		out, err := whmapi0.Run(r.Context(), s.Registry, c)
		s.logCallError(r, c, err)
		writeJSON(w, http.StatusOK, out)
	default:
		writeJSON(w, http.StatusOK, whmapi0.UnknownVersion(name, v))
	}
}

// serveUAPI serves path, /execute/<Module>/<func>.
func (s *Server) serveUAPI(w http.ResponseWriter, r *http.Request, p Port, path, token string) {
	fail := func(status int, err error) { writeUAPI(w, status, nil, err) }
	if p.Service == core.ServiceWHM {
		fail(http.StatusNotFound, uapi.WrongPort()) // D3
		return
	}
	module, fn, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(path, "/execute/"), "/"), "/")
	st := new(apiRequest)
	if !s.admit(w, r, p, path, token, st, fail) {
		return
	}
	c := &st.call
	c.Flavour, c.Module, c.Func, c.Remote, c.Host = api.UAPI, module, fn, remoteAddr(r), r.Host
	if s.Gateway != nil && !gateway.Serves(api.UAPI, module, fn, c.Args) {
		s.forward(w, r, p, token, st, &gateway.Request{Flavour: api.UAPI, Module: module, Func: fn, Account: c.Principal.Account}, fail)
		return
	}
	res, err := functions.RunUAPI(r.Context(), s.Registry, c)
	s.logCallError(r, c, err)
	writeUAPI(w, http.StatusOK, res, err)
}

// serveCPanelProxy handles /json-api/cpanel: on WHM ports a root or reseller
// caller names the cPanel account in cpanel_jsonapi_user; on cPanel and
// Webmail ports the caller is the account.
func (s *Server) serveCPanelProxy(w http.ResponseWriter, r *http.Request, p Port, token string) {
	version := "2" // until the arguments say otherwise
	failProxy := func(status int, err error) {
		env := api2.ProxyError(core.Message(err))
		if version != "2" {
			// Other API versions get the same object without the
			// cpanelresult wrapper: a top-level "error" (PROTOCOL.md 9.2, 9.3).
			env = env["cpanelresult"].(map[string]any)
		}
		writeJSON(w, status, env)
	}
	st := new(apiRequest)
	if !s.admit(w, r, p, "/json-api/cpanel", token, st, failProxy) {
		return
	}
	args, principal := st.call.Args, st.call.Principal
	user := args.Get("cpanel_jsonapi_user")
	module, fn := args.Get("cpanel_jsonapi_module"), args.Get("cpanel_jsonapi_func")
	if v := args.Get("cpanel_jsonapi_apiversion"); v != "" {
		version = v
	}
	if s.Metrics != nil && version == "3" {
		setRoute(recordOf(r), RouteUAPI)
	}
	if s.Gateway != nil {
		fl := api.API2
		if version == "3" {
			fl = api.UAPI
		}
		if version != "2" && version != "3" || !gateway.Serves(fl, module, fn, args) {
			// Any other version (API 1) is the backend's too.
			account := principal.Account
			if p.Service == core.ServiceWHM {
				account = user
			}
			fw := gateway.Request{Flavour: fl, Module: module, Func: fn, WHM: p.Service == core.ServiceWHM, Account: account}
			s.forward(w, r, p, token, st, &fw, failProxy)
			return
		}
	}
	var caller *core.Principal
	if p.Service == core.ServiceWHM {
		target, err := s.Env.Impersonate(r.Context(), principal, user)
		if err != nil {
			failProxy(http.StatusOK, err)
			return
		}
		c := principal
		caller, principal = &c, target
	} else if user != "" && user != principal.Account && user != principal.User {
		failProxy(http.StatusOK, core.Errorf(core.KindPermission, "Access Denied to %s", user))
		return
	}
	var pass api.Args
	for _, kv := range args.Pairs() {
		if !strings.HasPrefix(kv[0], "cpanel_jsonapi_") && kv[0] != "api.version" {
			pass.Add(kv[0], kv[1])
		}
	}
	switch version {
	case "3":
		c := &api.Call{Flavour: api.UAPI, Module: module, Func: fn, Args: pass, Principal: principal, Caller: caller, Remote: remoteAddr(r), Host: r.Host}
		res, err := functions.RunUAPI(r.Context(), s.Registry, c)
		s.logCallError(r, c, err)
		writeJSON(w, http.StatusOK, map[string]any{"result": uapi.Envelope(res, err)})
	case "2":
		c := &api.Call{Flavour: api.API2, Module: module, Func: fn, Args: pass, Principal: principal, Caller: caller, Remote: remoteAddr(r), Host: r.Host}
		res, err := functions.RunAPI2(r.Context(), s.Registry, c)
		s.logCallError(r, c, err)
		writeJSON(w, http.StatusOK, api2.Envelope(module, fn, res, err))
	default:
		failProxy(http.StatusOK, core.Errorf(core.KindInvalid, "cpauth serves cPanel API 2 and UAPI through this path: set cpanel_jsonapi_apiversion to 2 or 3."))
	}
}
