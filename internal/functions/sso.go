package functions

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/sessions"
	"github.com/cpauth/cpauth/internal/store"
)

// Single sign-on (PROTOCOL.md 8): WHM API 1 create_user_session, by which
// root or a reseller makes a one-time login URL for a user, and the UAPI
// Session functions, by which a cPanel account hands its own or a mailbox's
// Webmail login to a browser. Both store a one-time session
// (sessions.CreateOneTime) that the server redeems once, within
// sessions.OneTimeLifetime, for a normal session.
//
// The one-time session id is a bearer credential: it is returned to the
// caller and never logged (the log names the session by its handle).

// ACLCreateUserSession is the WHM privilege create_user_session needs.
const ACLCreateUserSession = "create-user-session"

func (e *Env) registerSSO(r *api.Registry) {
	u := func(name string, h api.Handler) *api.Func {
		return &api.Func{Flavour: api.UAPI, Module: "Session", Name: name, Access: api.Account, Mints: api.MintSession, Handler: h}
	}
	r.Register(
		&api.Func{Flavour: api.WHM1, Name: "create_user_session", Access: api.NeedACL, ACL: ACLCreateUserSession, InAccount: true, Mints: api.MintSession, Handler: e.createUserSession},
		u("create_webmail_session_for_self", e.webmailSessionForSelf),
		u("create_webmail_session_for_mail_user", func(ctx context.Context, c *api.Call) (*api.Result, error) {
			return e.webmailSessionForMailUser(ctx, c, false)
		}),
		u("create_webmail_session_for_mail_user_check_password", func(ctx context.Context, c *api.Call) (*api.Result, error) {
			return e.webmailSessionForMailUser(ctx, c, true)
		}),
	)
}

// ssoServices are create_user_session's services, in cPanel's order.
var ssoServices = []core.Service{core.ServiceCPanel, core.ServiceWHM, core.ServiceWebmail}

// ssoApps maps create_user_session's app keys (case-insensitive) to the
// pages cpauth serves; other well-formed keys make a session that lands on
// the home page, with a warning.
var ssoApps = map[string]string{
	"home":       "/",
	"api_tokens": "/tokens/",
	"sessions":   "/sessions/",
}

func validAppKey(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validLocale: at most 16 characters of [A-Za-z0-9_-] (cPanel's locale
// tags: en, fr, pt_br, i_cpanel_snowmen).
func validLocale(s string) bool { return len(s) <= 16 && (s == "" || validAppKey(s)) }

// ssoRequest is create_user_session's arguments, checked.
type ssoRequest struct {
	user    string
	service core.Service
	app     string // the goto path ("" for the home page)
	locale  string
	host    string // host of the URL
	bind    netip.Addr
}

func (e *Env) createUserSession(ctx context.Context, c *api.Call) (*api.Result, error) {
	var warnings []string
	req := ssoRequest{user: c.Args.Get("user")}
	if req.user == "" {
		return nil, required("user")
	}
	svcName, ok := c.Args.Lookup("service")
	if !ok || svcName == "" {
		return nil, required("service")
	}
	for _, s := range ssoServices {
		if s.App() == svcName {
			req.service = s
		}
	}
	if req.service == core.ServiceNone {
		return nil, core.Errorf(core.KindInvalid, "The “service” parameter is invalid. The only supported services for this API call are “cpaneld”, “whostmgrd”, and “webmaild”.")
	}
	if app := c.Args.Get("app"); app != "" {
		if !validAppKey(app) {
			return nil, core.Errorf(core.KindInvalid, "The requested application, %s, is invalid.", clip(app))
		}
		path, known := ssoApps[strings.ToLower(app)]
		if path == "/tokens/" && req.service == core.ServiceWebmail {
			known = false
		}
		if known {
			req.app = path
		} else {
			warnings = append(warnings, "The application “"+app+"” is not available on this server: the session lands on the home page.")
		}
	}
	req.locale = c.Args.Get("locale")
	if !validLocale(req.locale) {
		return nil, core.Errorf(core.KindInvalid, "The “locale” parameter is invalid: use a locale tag of at most 16 letters, digits, underscores and hyphens.")
	}
	host, err := e.urlHost(ctx, c, c.Args.Get("preferred_domain"))
	if err != nil {
		return nil, err
	}
	req.host = host
	if req.bind, err = bindAddr(c, c.Args.Get("bind_ip"), "bind_ip"); err != nil {
		return nil, err
	}
	if tok := c.Args.Get("cp_security_token"); tok != "" {
		if !sessions.IsToken(tok) {
			return nil, core.Errorf(core.KindInvalid, "The “cp_security_token” parameter must be a security token (/cpsess and ten digits).")
		}
		warnings = append(warnings, "cpauth does not reuse security tokens: the session has a new one (cp_security_token).")
	}

	// Who the session is for, and may the caller make it?
	p := c.Principal
	denied := core.Errorf(core.KindPermission, "You do not have permission to create sessions for the user “%s”.", clip(req.user))
	id, err := auth.Lookup(ctx, e.Store, req.user)
	switch {
	case errors.Is(err, auth.ErrUnknownUser):
		if !p.IsRootLike() {
			return nil, denied // a reseller cannot probe for names
		}
		return nil, core.Errorf(core.KindNotFound, "You cannot create a session for the user “%s” because they do not exist.", clip(req.user))
	case err != nil:
		return nil, core.Internal(err)
	}
	target := id.Principal
	if !e.mayCreateSessionFor(ctx, p, target) {
		return nil, denied
	}
	if target.Role == core.RoleRoot && req.service != core.ServiceWHM {
		return nil, denied
	}
	if id.Disabled != "" {
		return nil, core.Errorf(core.KindPermission, "You cannot create a session for the user “%s” because they are currently suspended.", clip(req.user))
	}
	switch req.service {
	case core.ServiceWHM:
		if target.Role != core.RoleRoot && target.Role != core.RoleReseller {
			return nil, core.Errorf(core.KindPermission, "You cannot create a “whostmgrd” session for the user “%s” because they are not a reseller.", clip(req.user))
		}
	case core.ServiceCPanel:
		if target.Role == core.RoleWebmail {
			return nil, core.Errorf(core.KindPermission, "You cannot create a “cpaneld” session for the user “%s” because they are an email account.", clip(req.user))
		}
	}

	n, err := e.Sessions.CreateOneTime(ctx, sessions.OneTime{
		User: target.User, Account: sessions.AccountOf(target), Service: req.service, Tag: sessions.TagSSO, Method: sessions.MethodSSO,
		Creator: creatorOf(c), Bind: req.bind, Locale: req.locale, GotoURI: req.app, Bounds: c.Principal.Bounds,
	})
	if err != nil {
		return nil, core.Internal(err)
	}
	e.logOneTime(c, n, "single sign-on session created")
	u := e.loginURL(req.host, req.service, n.Session.SecurityToken, n.ID, req.app, req.locale)
	data := map[string]any{
		"cp_security_token": n.Session.SecurityToken,
		"expires":           n.Session.Expires.Unix(),
		"service":           req.service.App(),
		"session":           n.ID,
		"url":               u,
	}
	if req.locale != "" {
		data["locale"] = req.locale
	}
	return &api.Result{Data: data, Reason: "Created session", Warnings: warnings}, nil
}

// mayCreateSessionFor: root-like callers for anyone; a reseller for itself,
// the accounts it owns and their mailboxes.
func (e *Env) mayCreateSessionFor(ctx context.Context, p, target core.Principal) bool {
	if p.IsRootLike() {
		return true
	}
	if p.Role != core.RoleReseller || target.Role == core.RoleRoot || target.Account == "" {
		return false
	}
	if target.Account == p.User {
		return true
	}
	a, err := e.Store.GetAccount(ctx, target.Account)
	return err == nil && a.Owner == p.User
}

// creatorOf names who makes a session: the WHM caller behind a cPanel call
// made through WHM, else the caller.
func creatorOf(c *api.Call) string {
	if c.Caller != nil {
		return c.Caller.User
	}
	return c.Principal.User
}

// bindAddr reads a binding argument: "", "0": none; "1": the caller's own
// address; otherwise an IP address.
func bindAddr(c *api.Call, v, name string) (netip.Addr, error) {
	switch v {
	case "", "0":
		return netip.Addr{}, nil
	case "1":
		if !c.Remote.IsValid() {
			return netip.Addr{}, core.Errorf(core.KindInvalid, "The “%s” parameter is 1, but the caller's address is unknown: give the address.", name)
		}
		return c.Remote.Unmap(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, core.Errorf(core.KindInvalid, "The “%s” parameter must be 1 or an IP address, not “%s”.", name, clip(v))
	}
	return a.Unmap(), nil
}

// urlHost picks the host of a login URL: preferred_domain when it names
// this server (NamesServer), else the request's host when that does, else
// the configured host name (ServerHost, D29).
func (e *Env) urlHost(ctx context.Context, c *api.Call, preferred string) (string, error) {
	if preferred == "" {
		return e.ServerHost(ctx, c.Host), nil
	}
	p := strings.ToLower(strings.TrimSuffix(preferred, "."))
	if a, err := netip.ParseAddr(strings.Trim(p, "[]")); err == nil && a.Zone() == "" {
		p = a.Unmap().String()
	}
	ok, err := e.NamesServer(ctx, p)
	if err != nil {
		return "", core.Internal(err)
	}
	if !ok {
		return "", core.Errorf(core.KindInvalid, "The “preferred_domain” parameter, “%s”, is not a domain or IP address of this server.", clip(preferred))
	}
	return p, nil
}

// tlsPort is the TLS port of a service: the daemon's bound one, else the
// standard one.
func (e *Env) tlsPort(svc core.Service) int {
	if e.TLSPort != nil {
		if p := e.TLSPort(svc); p > 0 {
			return p
		}
	}
	_, p := svc.Ports()
	return p
}

// loginURL is the URL that redeems a one-time session:
// https://host:port/cpsessNNNNNNNNNN/login/?session=<id>[&goto_uri=...][&locale=...].
func (e *Env) loginURL(host string, svc core.Service, token, id, gotoURI, locale string) string {
	var b strings.Builder
	b.WriteString("https://")
	b.WriteString(net.JoinHostPort(host, strconv.Itoa(e.tlsPort(svc))))
	b.WriteString(token)
	b.WriteString("/login/?session=")
	b.WriteString(sessions.EncodeCookie(id))
	if gotoURI != "" && gotoURI != "/" {
		b.WriteString("&goto_uri=")
		b.WriteString(url.QueryEscape(gotoURI))
	}
	if locale != "" {
		b.WriteString("&locale=")
		b.WriteString(url.QueryEscape(locale))
	}
	return b.String()
}

// logOneTime logs a one-time session's creation: who made it, for whom, on
// which service, from where, and its handle (never its id).
func (e *Env) logOneTime(c *api.Call, n sessions.New, msg string) {
	s := n.Session
	bound := s.Origin
	if bound == "" {
		bound = "any"
	}
	e.Log.Info(msg,
		"creator", creatorOf(c), "user", s.Username, "service", s.Service, "remote", c.Remote.String(),
		"session", sessions.Handle(s.IDHash), "method", s.Method, "redeemable_from", bound,
		"expires", s.Expires.UTC().Format(time.RFC3339))
	e.Logs.SessionNew(s.Service, c.Remote.String(), s.Username+":"+sessions.Handle(s.IDHash), map[string]string{
		"address": c.Remote.String(), "app": s.Service, "creator": creatorOf(c), "method": s.Method,
		"redeemable_from": bound, "possessed": "0",
	})
}

// ---------------------------------------------------------------------------
// UAPI Session: Webmail hand-off (PROTOCOL.md 8.3).

func (e *Env) webmailSessionForSelf(ctx context.Context, c *api.Call) (*api.Result, error) {
	p := c.Principal
	if p.Role != core.RoleCPanel && p.Role != core.RoleReseller {
		return nil, core.Errorf(core.KindPermission, "Permission denied")
	}
	return e.webmailSession(ctx, c, p.User, p.Account, sessions.TagWebmailSelf)
}

func (e *Env) webmailSessionForMailUser(ctx context.Context, c *api.Call, checkPassword bool) (*api.Result, error) {
	p := c.Principal
	login, domain := strings.ToLower(c.Args.Get("login")), strings.ToLower(c.Args.Get("domain"))
	if login == "" {
		return nil, required("login")
	}
	if domain == "" {
		return nil, required("domain")
	}
	password := c.Args.Get("password")
	if checkPassword && password == "" {
		return nil, required("password")
	}
	address := login + "@" + domain
	notFound := core.Errorf(core.KindNotFound, "The email account “%s” does not exist.", clip(address))
	if ValidateLocalPart(login) != nil || ValidateDomain(domain) != nil {
		return nil, notFound
	}
	m, err := e.Store.GetMailbox(ctx, login, domain)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, notFound
	case err != nil:
		return nil, core.Internal(err)
	case m.Account != p.Account:
		return nil, notFound // only the owning account may hand off its mailboxes
	}
	if checkPassword {
		if !e.checkMailboxPassword(ctx, c, m, password) {
			return nil, core.Errorf(core.KindPermission, "The password for “%s” is incorrect.", clip(address))
		}
	}
	if m.Suspended {
		return nil, core.Errorf(core.KindPermission, "The email account “%s” is suspended.", clip(address))
	}
	return e.webmailSession(ctx, c, m.Address(), m.Account, sessions.TagWebmailMailbox)
}

// checkMailboxPassword checks a mailbox password through the brute-force
// regulator, as every credential check does.
func (e *Env) checkMailboxPassword(ctx context.Context, c *api.Call, m store.Mailbox, password string) bool {
	g := e.guard()
	att := auth.Attempt{Service: core.ServiceWebmail, Remote: c.Remote, User: m.Address(), Method: core.MethodPassword, Secret: password}
	if ok, why := g.Admit(ctx, att); !ok {
		e.Log.Warn("mailbox password check refused", "user", m.Address(), "remote", c.Remote.String(), "reason", why)
		return false
	}
	if auth.HasControl(password) {
		g.Failed(ctx, att, "mailbox password incorrect (Session::create_webmail_session_for_mail_user_check_password)")
		return false
	}
	switch err := e.mailboxPassword(ctx, m, password); {
	case errors.Is(err, auth.ErrBusy):
		// Not checked, so not counted (auth.StoreFailure says why), and
		// answered as a wrong password would be.
		e.Log.Warn("mailbox password check refused", "user", m.Address(), "remote", c.Remote.String(), "reason", auth.ReasonBusy)
		return false
	case errors.Is(err, auth.ErrNotChecked):
		// The same for a check its verifier could not make (a gateway's
		// backend that did not answer).
		e.Log.Warn("mailbox password check refused", "user", m.Address(), "remote", c.Remote.String(), "reason", err.Error())
		return false
	case err != nil:
		g.Failed(ctx, att, "mailbox password incorrect (Session::create_webmail_session_for_mail_user_check_password)")
		return false
	}
	g.Succeeded(ctx, att)
	return true
}

// mailboxPassword checks the password of m as a Webmail login would:
// through the same method, so that the verified-password cache (D32) and
// the pool of password checks serve it, and a hash of another cost is
// re-hashed (D31) here too. It returns nil, secret.ErrMismatch,
// auth.ErrBusy or an auth.ErrNotChecked.
func (e *Env) mailboxPassword(ctx context.Context, m store.Mailbox, password string) error {
	pw := e.Passwords
	if pw == nil {
		pw = &auth.Password{Store: e.Store, Hasher: e.Hasher, Log: e.Log}
	}
	id, err := auth.Lookup(ctx, e.Store, m.Address())
	if err != nil {
		return secret.ErrMismatch // it was there a moment ago
	}
	return pw.Verify(ctx, id, core.ServiceWebmail, password)
}

func (e *Env) webmailSession(ctx context.Context, c *api.Call, user, account, tag string) (*api.Result, error) {
	locale := c.Args.Get("locale")
	if !validLocale(locale) {
		return nil, core.Errorf(core.KindInvalid, "The “locale” parameter is invalid: use a locale tag of at most 16 letters, digits, underscores and hyphens.")
	}
	bind, err := remoteAddress(c.Args.Get("remote_address"))
	if err != nil {
		return nil, err
	}
	n, err := e.Sessions.CreateOneTime(ctx, sessions.OneTime{
		User: user, Account: account, Service: core.ServiceWebmail, Tag: tag, Method: sessions.MethodHandoff,
		Creator: creatorOf(c), Bind: bind, Locale: locale, Bounds: c.Principal.Bounds,
	})
	if err != nil {
		return nil, core.Internal(err)
	}
	e.logOneTime(c, n, "webmail session created")
	hostname := e.ServerHost(ctx, c.Host)
	return &api.Result{Data: map[string]any{"session": n.ID, "token": n.Session.SecurityToken, "hostname": hostname}}, nil
}

// remoteAddress reads UAPI Session's remote_address: the one address that
// may redeem the session ("": any).
func remoteAddress(v string) (netip.Addr, error) {
	if v == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, core.Errorf(core.KindInvalid, "The “remote_address” parameter must be an IP address, not “%s”.", clip(v))
	}
	return a.Unmap(), nil
}

func (e *Env) guard() auth.Guard {
	if e.Guard == nil {
		return auth.NoGuard{}
	}
	return e.Guard
}
