package server

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/sessions"
	"github.com/cpauth/cpauth/internal/settings"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/web"
)

// Browser sessions on the wire (PROTOCOL.md section 6, D8-D15): the login
// form and its JSON twin, logout, and the pages behind a session. API paths
// under a security token are served by serveAPI, which authenticates the
// session through the chain.

// maxLoginBody bounds a login request's body: a user name, a password and
// a landing page.
const maxLoginBody = 64 << 10

// loginResult is D9's JSON (login_only=1), fields in cPanel's order.
type loginResult struct {
	Status        int    `json:"status"`
	SecurityToken string `json:"security_token"`
	Redirect      string `json:"redirect"`
}

// loginFailure is D8's JSON.
type loginFailure struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
}

// sessionCookie builds the session cookie of a port: HttpOnly, Path=/,
// SameSite=Strict, and Secure on TLS ports (D9). Without Max-Age it lasts
// as long as the browser runs; the server ends the session itself.
func sessionCookie(p Port, value string) *http.Cookie {
	return &http.Cookie{
		Name: sessions.CookieName(p.Service), Value: value, Path: "/",
		HttpOnly: true, Secure: p.TLS, SameSite: http.SameSiteStrictMode,
	}
}

// clearCookie tells the browser to drop the session cookie (Max-Age=0).
func clearCookie(w http.ResponseWriter, p Port) {
	c := sessionCookie(p, "")
	c.MaxAge = -1
	http.SetCookie(w, c)
}

// cookieValue returns the request's session cookie of the port's service
// (the first of that name, without surrounding double quotes), as
// r.Cookie would, but without parsing every cookie of the host on every
// API call. Its value is checked by sessions.ParseCookie.
func cookieValue(r *http.Request, p Port) (string, bool) {
	name := sessions.CookieName(p.Service)
	for _, line := range r.Header["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			k, v, _ := strings.Cut(strings.TrimLeft(part, " \t"), "=")
			if k != name {
				continue
			}
			v = strings.TrimRight(v, " \t")
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v, true
		}
	}
	return "", false
}

// cookieSession finds the session the request's cookie names, if it is a
// session of this port's service that has not ended. It checks neither the
// security token nor the address: it serves the login and logout pages,
// which need no more.
func (s *Server) cookieSession(r *http.Request, p Port) (store.Session, bool) {
	v, ok := cookieValue(r, p)
	if !ok {
		return store.Session{}, false
	}
	id, _, ok := sessions.ParseCookie(v)
	if !ok {
		return store.Session{}, false
	}
	ss, err := s.Store.GetSession(r.Context(), sessions.IDHash(s.Sessions.Key, id))
	if err != nil || ss.Service != p.Service.App() || ss.Kind != store.SessionNormal {
		return store.Session{}, false
	}
	return ss, true
}

// clock is the sessions' clock (the daemon's).
func (s *Server) clock() time.Time {
	if s.Sessions != nil && s.Sessions.Now != nil {
		return s.Sessions.Now()
	}
	return time.Now()
}

// serveLoginPage is GET / and GET /login/: the login page. A request whose
// cookie names a live session of this service but carries no security token
// gets it with HTTP 401 and token_missing (D12), as cpsrvd answers GET /.
func (s *Server) serveLoginPage(w http.ResponseWriter, r *http.Request, p Port) {
	if s.redirectTLS(w, r, p) {
		return
	}
	if ss, ok := s.cookieSession(r, p); ok && sessions.Expired(ss, ss.LastSeen, s.clock()) == "" {
		s.Web.LoginPage(w, r, p.Service, http.StatusUnauthorized, auth.CodeTokenMissing)
		return
	}
	s.Web.LoginPage(w, r, p.Service, http.StatusOK, "")
}

// serveLogin is /login and /login/ (also under a security token).
func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request, p Port) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if r.Method == http.MethodGet && hasQueryKey(r.URL.RawQuery, "session") {
			if s.redirectTLS(w, r, p) {
				return
			}
			query, _ := api.ParseRequest(http.MethodGet, r.URL.RawQuery, "", nil)
			s.serveRedeem(w, r, p, query)
			return
		}
		s.serveLoginPage(w, r, p)
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		web.SetPageHeaders(w.Header())
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	if s.redirectTLS(w, r, p) {
		return
	}
	ctx := r.Context()
	remote := remoteAddr(r)
	query, _ := api.ParseRequest(http.MethodGet, r.URL.RawQuery, "", nil)
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	args, err := api.ParseRequest(r.Method, r.URL.RawQuery, r.Header.Get("Content-Type"), r.Body)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge) || errors.Is(err, api.ErrBodyTooLarge):
		s.Log.Warn("login refused: body too large", "request_id", requestID(ctx), "service", p.Service.App(), "remote", remote.String())
		web.SetPageHeaders(w.Header())
		http.Error(w, "Request Entity Too Large", http.StatusRequestEntityTooLarge)
		return
	case errors.Is(err, errBodyBusy):
		// The budget of request bodies is spent (body.go): not a failed
		// login, and not counted as one.
		s.Log.Warn("login refused: the budget of request bodies is spent", "request_id", requestID(ctx), "service", p.Service.App(), "remote", remote.String())
		web.SetPageHeaders(w.Header())
		w.Header().Set("Retry-After", "1")
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
		return
	case err != nil:
		args = query
	}
	if err == nil && args.Has("session") && !args.Has("user") {
		s.serveRedeem(w, r, p, args) // a hand-off (PROTOCOL.md 8.3)
		return
	}
	loginOnly := args.Bool("login_only")
	user, pass, gotoURI := args.Get("user"), args.Get("pass"), args.Get("goto_uri")
	if why := crossSite(r, p); why != "" {
		// Login CSRF (D30): another site would log the browser in to an
		// account of its choosing. Refused before the regulator or the
		// password is asked: it is no guess at a password, and must not
		// count as one against the user it names.
		s.Log.Warn("login refused: sent from another site",
			"request_id", requestID(ctx), "service", p.Service.App(), "remote", remote.String(),
			"user", clipUser(user), "why", why, "origin", clipUser(headerValue(r.Header, "Origin")), "login_only", loginOnly)
		if loginOnly {
			writeJSON(w, http.StatusForbidden, loginFailure{Status: 0, Message: codeCrossSite})
			return
		}
		r.PostForm = url.Values{} // nothing another site typed goes into the page
		s.Web.LoginPage(w, r, p.Service, http.StatusForbidden, codeCrossSite)
		return
	}
	var out auth.Outcome
	g := s.guard()
	att := auth.Attempt{Service: p.Service, Remote: remote, User: user, Method: core.MethodPassword, Secret: pass}
	admitted, why := g.Admit(ctx, att)
	switch {
	case !admitted:
		// Refused before the password is hashed, and answered like a
		// wrong password (D8).
		out = auth.Outcome{Result: auth.Failed, Method: core.MethodPassword, Reason: "refused by the brute-force regulator: " + why}
	case err != nil:
		out = auth.Outcome{Result: auth.Failed, Method: core.MethodPassword, Reason: "unreadable request: " + err.Error()}
	case auth.HasControl(user) || auth.HasControl(pass) || auth.HasControl(tfaCode(args)) || auth.HasControl(args.Get("goto_app")):
		// Refused before anything is looked up (the CVE-2026-41940 lesson).
		out = auth.Outcome{Result: auth.Failed, Method: core.MethodPassword, Reason: "control bytes in login fields"}
	default:
		out = s.Password.Check(ctx, user, pass, p.Service)
		if out.Result == auth.OK {
			if reason := auth.ServiceRefusal(out.Principal, p.Service); reason != "" {
				out = auth.Outcome{Result: auth.Failed, Method: core.MethodPassword, User: out.Principal.User, Reason: reason}
			}
		}
	}
	rec := recordOf(r)
	rec.method = core.MethodPassword
	if admitted {
		if out.Result == auth.OK {
			g.Succeeded(ctx, att)
		} else if !auth.StoreFailure(out) {
			g.Failed(ctx, att, out.Reason)
		}
	}
	// The second factor (D10): with tfa_token, checked now; without it,
	// login_only=1 answers tfa_required, and a browser gets a session that
	// reaches only the code page until the code is given there.
	tfaVerified := false
	passkeyOnly := false
	if out.Result == auth.OK {
		// The phishing-resistant policy: the login needs a passkey, and a
		// code does not complete it; without a passkey there is nothing
		// that could.
		req, err := auth.PasskeyRequired(ctx, s.Store, out.Principal.User, p.Service)
		has := false
		if err == nil && req {
			has, err = auth.HasPasskey(ctx, s.Store, out.Principal.User)
		}
		switch {
		case err != nil:
			out = auth.Outcome{Result: auth.Failed, Method: core.MethodPassword, User: out.Principal.User, Reason: "passkey policy: " + err.Error()}
		case req && !has:
			rec.user = out.Principal.User
			s.decision(r, p, "failure", out.Principal.User, core.MethodPassword, "the phishing-resistant policy requires a passkey, and the user has none", core.Principal{})
			s.Log.Warn("login refused: the phishing-resistant policy requires a passkey, and the user has none",
				"request_id", requestID(ctx), "service", p.Service.App(), "remote", remote.String(), "user", out.Principal.User)
			if loginOnly {
				writeJSON(w, http.StatusUnauthorized, loginFailure{Status: 0, Message: codePasskeyMissing})
				return
			}
			r.PostForm = url.Values{"user": {user}, "goto_uri": {gotoURI}}
			s.Web.LoginPage(w, r, p.Service, http.StatusUnauthorized, codePasskeyMissing)
			return
		case req:
			passkeyOnly = true
			if loginOnly {
				// A script has no passkey to give: the password (and any
				// code with it) is refused, as on the API.
				rec.user = out.Principal.User
				s.decision(r, p, "failure", out.Principal.User, core.MethodPassword, "the phishing-resistant policy requires a passkey: a password cannot log in without a browser", core.Principal{})
				s.Log.Warn("login refused: the phishing-resistant policy requires a passkey", "request_id", requestID(ctx), "service", p.Service.App(),
					"remote", remote.String(), "user", out.Principal.User, "login_only", true)
				writeJSON(w, http.StatusUnauthorized, loginFailure{Status: 0, Message: codePasskeyRequired})
				return
			}
		}
	}
	if out.Result == auth.OK && s.TwoFactor != nil && !passkeyOnly {
		needed, err := s.TwoFactor.LoginNeeded(ctx, out.Principal.User)
		if err != nil {
			out = auth.Outcome{Result: auth.Failed, Method: core.MethodPassword, User: out.Principal.User, Reason: "two-factor: " + err.Error()}
		} else if code := tfaCode(args); needed && code != "" {
			rec.method = core.MethodTwoFactor
			v, err := s.verifyCode(r, p, remote, out.Principal.User, code, false)
			if err != nil {
				s.Log.Error("two-factor: checking a code", "request_id", requestID(ctx), "user", out.Principal.User, "error", err.Error())
			}
			if !v.OK() {
				rec.user = out.Principal.User
				s.Log.Warn("login failed",
					"request_id", requestID(ctx), "service", p.Service.App(), "remote", remote.String(),
					"user", out.Principal.User, "reason", "two-factor: "+v.String(), "login_only", loginOnly)
				if loginOnly {
					writeJSON(w, http.StatusUnauthorized, loginFailure{Status: 0, Message: codeTFAInvalid})
					return
				}
				r.PostForm = url.Values{"user": {user}, "goto_uri": {gotoURI}}
				s.Web.LoginPage(w, r, p.Service, http.StatusUnauthorized, codeTFAInvalid)
				return
			}
			tfaVerified = true
		} else if needed && loginOnly {
			rec.user = out.Principal.User
			s.Log.Info("login needs the two-factor code",
				"request_id", requestID(ctx), "service", p.Service.App(), "remote", remote.String(), "user", out.Principal.User)
			writeJSON(w, http.StatusUnauthorized, loginFailure{Status: 0, Message: codeTFARequired})
			return
		}
	}
	if out.Result != auth.OK {
		rec.user = clipUser(user)
		result := "failure"
		if !admitted {
			result = "blocked"
		}
		if s.decision(r, p, result, user, core.MethodPassword, out.Reason, core.Principal{}) {
			s.Log.Warn("login failed",
				"request_id", requestID(ctx), "service", p.Service.App(), "remote", remote.String(),
				"user", clipUser(user), "reason", out.Reason, "login_only", loginOnly)
		}
		if loginOnly {
			writeJSON(w, http.StatusUnauthorized, loginFailure{Status: 0, Message: "invalid_login"}) // D8
			return
		}
		// The page keeps the user name and the landing page, never the
		// password.
		r.PostForm = url.Values{"user": {user}, "goto_uri": {gotoURI}}
		s.Web.LoginPage(w, r, p.Service, http.StatusUnauthorized, "invalid_login")
		return
	}
	// A session the browser had on this service is replaced: end it, so
	// that nothing of it outlives the cookie this answer overwrites. The
	// new session never reuses anything the client sent.
	if old, ok := s.cookieSession(r, p); ok {
		_ = s.Store.DeleteSession(ctx, old.IDHash)
	}
	n, err := s.Sessions.CreateTFA(ctx, out.Principal, p.Service, remote, sessions.MethodPassword, tfaVerified)
	if err != nil {
		s.Log.Error("login: creating the session", "request_id", requestID(ctx), "service", p.Service.App(), "user", out.Principal.User, "error", err.Error())
		if loginOnly {
			writeJSON(w, http.StatusInternalServerError, loginFailure{Status: 0, Message: "internal_error"})
			return
		}
		r.PostForm = url.Values{"user": {user}, "goto_uri": {gotoURI}}
		s.Web.LoginPage(w, r, p.Service, http.StatusInternalServerError, "internal_error")
		return
	}
	rec.user = out.Principal.User
	handle := sessions.Handle(n.Session.IDHash)
	s.decision(r, p, "success", out.Principal.User, core.MethodPassword, "", core.Principal{Session: n.Session.IDHash})
	s.Logs.SessionNew(p.Service.App(), remote.String(), out.Principal.User+":"+handle, map[string]string{
		"address": remote.String(), "app": p.Service.App(), "creator": out.Principal.User,
		"method": sessions.MethodPassword, "path": "form", "possessed": "0",
	})
	location := n.Session.SecurityToken + landing(gotoURI)
	s.Log.Info("login",
		"request_id", requestID(ctx), "service", p.Service.App(), "remote", remote.String(),
		"user", out.Principal.User, "method", sessions.MethodPassword, "session", sessions.Handle(n.Session.IDHash), "tfa_verified", tfaVerified,
		"expires", n.Session.Expires.Format("2006-01-02T15:04:05Z"), "login_only", loginOnly)
	http.SetCookie(w, sessionCookie(p, sessions.EncodeCookie(n.ID)))
	w.Header().Set("Location", location)
	if loginOnly {
		writeJSON(w, http.StatusOK, loginResult{Status: 1, SecurityToken: n.Session.SecurityToken, Redirect: location}) // D9
		return
	}
	// 302, not 303 (D21): cPanel's Perl client (HTTP::Tiny) follows a 303
	// after a POST and then never sees Location, the security token it
	// needs; it returns a 302 as it is. Browsers go on with a GET either
	// way (a 307 would make them post the password again).
	web.SetPageHeaders(w.Header())
	w.WriteHeader(http.StatusFound)
}

// codeCrossSite is the message code of a login sent from another site.
const codeCrossSite = "cross_site_login"

// crossSite says why a login form was sent by another site ("" when it was
// not): the browser says so (Sec-Fetch-Site: cross-site), or its Origin
// is another origin than this request's own (scheme, host or port differ:
// another port of this host is another origin; "null", sent from a
// sandboxed or opaque context, is another too). Sec-Fetch-Site same-origin
// and none are the browser's word for this origin's own pages and the
// user's own navigation, and are taken as they are (a proxy in front may
// make the Host and scheme differ from what the browser sees). Requests
// with neither header, from scripts, curl and cPanel's own clients, pass:
// a site cannot make a browser send a form without them.
//
// http.CrossOriginProtection is close, but refuses same-site requests
// however their Origin reads and compares no scheme or default port.
func crossSite(r *http.Request, p Port) string {
	switch headerValue(r.Header, "Sec-Fetch-Site") {
	case "same-origin", "none":
		return ""
	case "cross-site":
		return "Sec-Fetch-Site: cross-site"
	}
	origin := headerValue(r.Header, "Origin")
	switch {
	case origin == "":
		return ""
	case origin == "null":
		return "Origin: null"
	case !sameOrigin(origin, r.Host, p.TLS):
		return "Origin of another site"
	}
	return ""
}

// sameOrigin reports whether origin (an Origin header) is the origin of a
// request to host (its Host header) on a TLS port or not: the same scheme,
// host and port, default ports filled in.
func sameOrigin(origin, host string, tls bool) bool {
	scheme, port := "http", "80"
	if tls {
		scheme, port = "https", "443"
	}
	u, err := url.Parse(origin)
	if err != nil || !strings.EqualFold(u.Scheme, scheme) || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" {
		return false
	}
	oHost, oPort := u.Hostname(), u.Port()
	if oPort == "" {
		oPort = port
	}
	rHost, rPort, err := net.SplitHostPort(host)
	if err != nil {
		rHost, rPort = strings.Trim(host, "[]"), port
	}
	return rHost != "" && strings.EqualFold(oHost, rHost) && oPort == rPort
}

// tfaCode is the login's two-factor code: tfa_token (PROTOCOL.md 6.1), or
// tfatoken, the code page's field name, from a form that posts it to the
// login instead.
func tfaCode(args api.Args) string {
	if c := args.Get("tfa_token"); c != "" {
		return c
	}
	return args.Get("tfatoken")
}

// landing is where a login lands under its new security token: goto_uri
// when it is a local path (without any old security token), else the
// service's home.
func landing(gotoURI string) string {
	if !web.SafeGotoURI(gotoURI) {
		return "/"
	}
	if tok, rest, ok := sessions.SplitPath(pathOf(gotoURI)); ok {
		gotoURI = strings.TrimPrefix(gotoURI, tok)
		if rest == "" {
			gotoURI = "/" + strings.TrimPrefix(gotoURI, "/")
		}
	}
	return gotoURI
}

// pathOf is the path part of a local URL (before any query or fragment).
func pathOf(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i]
	}
	return u
}

// serveLogout is /logout and /logout/ (also under a security token): it
// ends the session the cookie names, server-side, clears the cookie and
// shows the login page with "You have logged out." (or redirects to the
// logout_redirect_url setting).
func (s *Server) serveLogout(w http.ResponseWriter, r *http.Request, p Port) {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		web.SetPageHeaders(w.Header())
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	if s.redirectTLS(w, r, p) {
		return
	}
	ctx := r.Context()
	if ss, ok := s.cookieSession(r, p); ok {
		err := s.Store.DeleteSession(ctx, ss.IDHash)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.Log.Error("logout: ending the session", "request_id", requestID(ctx), "user", ss.Username, "error", err.Error())
		} else {
			s.Log.Info("logout", "request_id", requestID(ctx), "service", p.Service.App(),
				"remote", remoteString(r), "user", ss.Username, "session", sessions.Handle(ss.IDHash))
			s.Logs.SessionPurge(p.Service.App(), remoteString(r), ss.Username+":"+sessions.Handle(ss.IDHash), "logout")
			if s.Gateway != nil {
				// The backend session ends with the user's last one here.
				s.Gateway.LoggedOut(ctx, ss.Account, ss.Username, p.Service)
			}
		}
		rec := recordOf(r)
		rec.user, rec.method = ss.Username, core.MethodSession
	}
	clearCookie(w, p)
	if to, err := settings.Get(ctx, s.Store, settings.LogoutRedirectURL); err == nil && to != "" {
		web.SetPageHeaders(w.Header())
		w.Header().Set("Location", to)
		w.WriteHeader(http.StatusSeeOther)
		return
	}
	s.Web.LoginPage(w, r, p.Service, http.StatusOK, "logged_out")
}

// servePrivate is every other path under a security token: a page behind
// the session. Pages accept the session alone (no Authorization header).
func (s *Server) servePrivate(w http.ResponseWriter, r *http.Request, p Port, token, rest string) {
	if s.redirectTLS(w, r, p) {
		return
	}
	if rest == "" {
		// "/cpsessNNNNNNNNNN" alone: the home page, with a slash so that
		// the page's relative links work.
		to := token + "/"
		if r.URL.RawQuery != "" {
			to += "?" + r.URL.RawQuery
		}
		web.SetPageHeaders(w.Header())
		w.Header().Set("Location", to)
		w.WriteHeader(http.StatusSeeOther)
		return
	}
	req := new(auth.Request)
	s.sessionRequest(req, r, p, "", token)
	ctx := r.Context()
	// A page's credential is the session cookie: the regulator is asked
	// first and told the result, as for every other credential. A refused
	// request is answered as an unknown session.
	g := s.guard()
	att := auth.Attempt{Service: p.Service, Remote: req.Remote, Method: core.MethodSession, Secret: req.SessionCookie}
	var out auth.Outcome
	admitted, logged := true, true
	if req.HasSessionCookie {
		var why string
		if admitted, why = g.Admit(ctx, att); !admitted {
			out = auth.Outcome{Result: auth.Failed, Method: core.MethodSession, Code: auth.CodeExpired,
				Reason: "refused by the brute-force regulator: " + why}
		}
	}
	if admitted {
		out = auth.Chain{s.SessionAuth}.Authenticate(ctx, req)
		att.User = out.User
		switch out.Result {
		case auth.OK:
			att.User = out.Principal.User
			g.Succeeded(ctx, att)
			s.decision(r, p, "success", att.User, core.MethodSession, "", out.Principal)
		case auth.Failed:
			if !auth.StoreFailure(out) {
				g.Failed(ctx, att, out.Reason)
			}
			s.decision(r, p, "failure", att.User, core.MethodSession, out.Reason, core.Principal{})
		}
	} else {
		logged = s.decision(r, p, "blocked", "", core.MethodSession, out.Reason, core.Principal{})
	}
	rec := recordOf(r)
	rec.method = out.Method
	if out.Result == auth.OK {
		rec.user = out.Principal.User
		if s.TwoFactor != nil {
			needed, err := s.TwoFactor.Needed(r.Context(), out)
			if err != nil {
				s.Log.Error("two-factor: deciding whether a code is needed", "request_id", requestID(r.Context()), "user", out.Principal.User, "error", err.Error())
				s.Web.LoginPage(w, r, p.Service, http.StatusInternalServerError, "internal_error")
				return
			}
			if needed {
				s.servePending(w, r, p, out, req.Remote, rest)
				return
			}
		}
		if strings.HasPrefix(rest, "/passkeys/") {
			s.servePasskeys(w, r, p, out, req.Remote, rest)
			return
		}
		s.Web.Private(w, r, web.Visit{Principal: out.Principal, Session: out.Session, Rest: rest, TLS: p.TLS})
		return
	}
	rec.user = out.User
	code := out.Code
	if out.Result == auth.NotMine {
		// A security token without the cookie: the browser no longer has
		// the session (it was closed, or the cookie cleared).
		code, out.Reason = auth.CodeExpired, "security token without a session cookie"
	}
	if logged { // not a refusal summed up in the logs (decision)
		s.Log.Warn("session refused",
			"request_id", requestID(r.Context()), "service", p.Service.App(),
			"remote", req.Remote.String(), "user", clipUser(out.User), "reason", out.Reason, "code", code)
	}
	switch code {
	case auth.CodeExpired, auth.CodeInvalid, auth.CodeChangedIP:
		// This browser's session is over: it may drop the cookie.
		if req.HasSessionCookie {
			clearCookie(w, p)
		}
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		// Back to this page after logging in again.
		if to := rest; web.SafeGotoURI(to) {
			if r.URL.RawQuery != "" {
				to += "?" + r.URL.RawQuery
			}
			r = r.Clone(r.Context())
			r.URL.RawQuery = url.Values{"goto_uri": {to}}.Encode()
		}
	}
	s.Web.LoginPage(w, r, p.Service, http.StatusUnauthorized, code)
}

// sessionRequest makes req the auth.Request of a request: the
// Authorization header (pages pass ""), this service's session cookie and
// the security token.
func (s *Server) sessionRequest(req *auth.Request, r *http.Request, p Port, authorization, token string) {
	req.Init(p.Service, p.TLS, remoteAddr(r), authorization)
	req.SessionCookie, req.HasSessionCookie = cookieValue(r, p)
	req.SecurityToken = token
}
