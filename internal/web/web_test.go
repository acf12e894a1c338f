package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/daemon"
	"github.com/cpauth/cpauth/internal/functions"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/web"
)

// fixture is an opened data directory with accounts, and the web server
// over it:
//
//	root
//	res    reseller with list-accts and manage-api-tokens
//	lim    reseller with list-accts only
//	bob    cPanel account, mailbox info@bob.test
//	alice  cPanel account
type fixture struct {
	t    *testing.T
	data *daemon.Data
	web  *web.Server
	seq  int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HashRounds = 1000
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	data, err := daemon.Open(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("daemon.Open: %v", err)
	}
	t.Cleanup(func() { data.Close() })
	f := &fixture{t: t, data: data, web: &web.Server{Store: data.Store, Registry: data.Registry, Env: data.Env, Log: log, Now: data.Now}}
	f.whm1("createacct", "username", "res", "domain", "res.test", "password", "Res-Pass-1")
	f.whm1("setupreseller", "user", "res")
	f.whm1("setacls", "reseller", "res", "acl-list-accts", "1", "acl-manage-api-tokens", "1")
	f.whm1("createacct", "username", "lim", "domain", "lim.test", "password", "Lim-Pass-1")
	f.whm1("setupreseller", "user", "lim")
	f.whm1("setacls", "reseller", "lim", "acl-list-accts", "1")
	f.whm1("createacct", "username", "bob", "domain", "bob.test", "password", "Bob-Pass-1")
	f.whm1("createacct", "username", "alice", "domain", "alice.test", "password", "Alice-Pass-1")
	f.uapi("bob", "Email", "add_pop", "email", "info", "password", "Info-Pass-1")
	return f
}

func rootLocal() core.Principal {
	p := auth.PrincipalFor(store.Account{Username: "root"})
	p.Method, p.Service = core.MethodLocal, core.ServiceWHM
	return p
}

func args(kv []string) api.Args {
	var a api.Args
	for i := 0; i+1 < len(kv); i += 2 {
		a.Add(kv[i], kv[i+1])
	}
	return a
}

func (f *fixture) whm1(fn string, kv ...string) {
	f.t.Helper()
	c := &api.Call{Flavour: api.WHM1, Func: fn, Args: args(kv), Principal: rootLocal(), Remote: netip.IPv6Loopback(), Host: "localhost"}
	if _, err := functions.RunWHM1(context.Background(), f.data.Registry, c); err != nil {
		f.t.Fatalf("whmapi1 %s %q: %v", fn, kv, err)
	}
}

func (f *fixture) uapi(user, module, fn string, kv ...string) {
	f.t.Helper()
	root := rootLocal()
	p, err := f.data.Env.Impersonate(context.Background(), root, user)
	if err != nil {
		f.t.Fatal(err)
	}
	c := &api.Call{Flavour: api.UAPI, Module: module, Func: fn, Args: args(kv), Principal: p, Caller: &root, Remote: netip.IPv6Loopback(), Host: "localhost"}
	if _, err := functions.RunUAPI(context.Background(), f.data.Registry, c); err != nil {
		f.t.Fatalf("uapi %s::%s %q: %v", module, fn, kv, err)
	}
}

// visit logs user in to svc: a stored session and the Visit the server
// would hand over.
func (f *fixture) visit(user string, svc core.Service) web.Visit {
	f.t.Helper()
	ctx := context.Background()
	var p core.Principal
	account := user
	if strings.Contains(user, "@") {
		account = strings.SplitN(user, "@", 2)[1]
		account = strings.TrimSuffix(account, ".test")
		p = core.Principal{User: user, Role: core.RoleWebmail, Account: account, ACLs: core.ACLSet{}}
	} else {
		a, err := f.data.Store.GetAccount(ctx, user)
		if err != nil {
			f.t.Fatal(err)
		}
		p = auth.PrincipalFor(a)
	}
	p.Method, p.Service = core.MethodPassword, svc
	f.seq++
	now := time.Now().UTC()
	s := store.Session{
		IDHash:        fmt.Sprintf("%064x", f.seq),
		Kind:          store.SessionNormal,
		Username:      user,
		Account:       account,
		Service:       svc.App(),
		SecurityToken: fmt.Sprintf("/cpsess%010d", 1000000000+f.seq),
		Creator:       user,
		Origin:        "192.0.2.10",
		Method:        "password",
		Created:       now.Add(-10*time.Minute + time.Duration(f.seq)*time.Second), // distinct, to the second
		LastSeen:      now.Add(-time.Minute),
		IdleTimeout:   30 * time.Minute,
		Expires:       now.Add(12 * time.Hour),
	}
	if err := f.data.Store.CreateSession(ctx, s); err != nil {
		f.t.Fatalf("CreateSession: %v", err)
	}
	got, err := f.data.Store.GetSession(ctx, s.IDHash)
	if err != nil {
		f.t.Fatal(err)
	}
	return web.Visit{Principal: p, Session: got, Rest: "/"}
}

// page sends a request to Private as v and returns the response and body.
func (f *fixture) page(v web.Visit, method, rest string, form url.Values, hdr ...string) (*http.Response, string) {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	target := v.Session.SecurityToken + rest
	r := httptest.NewRequest(method, "http://localhost:2087"+target, body)
	r.RemoteAddr = "192.0.2.10:50000"
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if method == http.MethodPost {
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		r.Header.Set("Origin", "http://localhost:2087")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	u, _ := url.Parse(rest)
	v.Rest = u.Path
	w := httptest.NewRecorder()
	f.web.Private(w, r, v)
	res := w.Result()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func (f *fixture) login(svc core.Service, method string, status int, code string, form url.Values, target string) (*http.Response, string) {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	if target == "" {
		target = "/login/"
	}
	r := httptest.NewRequest(method, "http://localhost"+target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	w := httptest.NewRecorder()
	f.web.LoginPage(w, r, svc, status, code)
	res := w.Result()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

var wantHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
	"X-Frame-Options":         "DENY",
	"X-Content-Type-Options":  "nosniff",
	"Cache-Control":           "no-store",
	"Referrer-Policy":         "same-origin",
}

func checkHeaders(t *testing.T, what string, res *http.Response) {
	t.Helper()
	for k, v := range wantHeaders {
		if got := res.Header.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
}

func checkHTML(t *testing.T, what string, res *http.Response, body string) {
	t.Helper()
	checkHeaders(t, what, res)
	if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("%s: Content-Type %q", what, ct)
	}
	for _, s := range []string{`<!DOCTYPE html>`, `<html lang="en">`, `<meta name="viewport"`, `<title>`, `<main id="main"`, `<h1`} {
		if !strings.Contains(body, s) {
			t.Errorf("%s: page lacks %s", what, s)
		}
	}
	// Nothing from elsewhere, nothing inline that CSP would block.
	for _, s := range []string{"http://", "https://", "<script>", " style=", "onclick=", "onload=", "javascript:"} {
		if strings.Contains(body, s) {
			t.Errorf("%s: page contains %q", what, s)
		}
	}
}

func has(t *testing.T, what, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(body, s) {
			t.Errorf("%s: page lacks %q", what, s)
		}
	}
}

func hasNot(t *testing.T, what, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if strings.Contains(body, s) {
			t.Errorf("%s: page contains %q", what, s)
		}
	}
}

func TestLoginPage(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		svc        core.Service
		name, user string
	}{
		{core.ServiceCPanel, "cPanel", "Username"},
		{core.ServiceWHM, "WHM", "Username"},
		{core.ServiceWebmail, "Webmail", "Email address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, body := f.login(tc.svc, http.MethodGet, http.StatusOK, "", nil, "/")
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d", res.StatusCode)
			}
			checkHTML(t, "login", res, body)
			has(t, "login", body,
				`<form method="post" action="/login/"`,
				`name="user"`, `name="pass"`, `type="password"`, `name="goto_uri"`,
				`<label for="user">`+tc.user+`</label>`, `<label for="pass">Password</label>`,
				`class="svc-`+strings.ToLower(tc.name)+`"`,
				`<span class="brand-name">`+tc.name+`</span>`,
				`<title>Log in – `+tc.name+`</title>`)
			hasNot(t, "login", body, `name="tfa_token"`, `role="alert"`)
		})
	}
	t.Run("messages", func(t *testing.T) {
		for code, text := range web.Messages {
			status := http.StatusUnauthorized
			if code == "logged_out" {
				status = http.StatusOK
			}
			res, body := f.login(core.ServiceCPanel, http.MethodGet, status, code, nil, "")
			if res.StatusCode != status {
				t.Errorf("%s: status %d", code, res.StatusCode)
			}
			checkHeaders(t, code, res)
			has(t, code, body, `id="login-msg"`, text)
		}
		res, body := f.login(core.ServiceCPanel, http.MethodGet, 200, "logged_out", nil, "")
		has(t, "logged_out", body, `class="msg ok" role="status"`)
		if got := res.Header.Get("Clear-Site-Data"); got != `"cache"` {
			t.Errorf("logged_out: Clear-Site-Data %q", got)
		}
		res, _ = f.login(core.ServiceCPanel, http.MethodGet, 401, "invalid_login", nil, "")
		if got := res.Header.Get("Clear-Site-Data"); got != "" {
			t.Errorf("invalid_login: Clear-Site-Data %q", got)
		}
		_, body = f.login(core.ServiceCPanel, http.MethodGet, 401, "invalid_login", nil, "")
		has(t, "invalid_login", body, `class="msg err" role="alert"`, "The login is invalid.")
		_, body = f.login(core.ServiceCPanel, http.MethodGet, 401, "no_such_code", nil, "")
		has(t, "unknown code", body, "The login is invalid.")
	})
	t.Run("failed login keeps the user, never the password", func(t *testing.T) {
		form := url.Values{"user": {`bob"><b>x`}, "pass": {"Secret-Pass-9"}, "goto_uri": {"/frontend/x/index.html"}}
		res, body := f.login(core.ServiceCPanel, http.MethodPost, http.StatusUnauthorized, "invalid_login", form, "")
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d", res.StatusCode)
		}
		has(t, "failed", body, `value="bob&#34;&gt;&lt;b&gt;x"`, `name="goto_uri" value="/frontend/x/index.html"`, "The login is invalid.")
		hasNot(t, "failed", body, "Secret-Pass-9", "<b>x")
	})
	t.Run("goto_uri must be a local path", func(t *testing.T) {
		for _, bad := range []string{"//evil.test/", "https://evil.test/", `/\evil.test`, "javascript:alert(1)", "/a\nb"} {
			form := url.Values{"user": {"bob"}, "pass": {"x"}, "goto_uri": {bad}}
			_, body := f.login(core.ServiceCPanel, http.MethodPost, 401, "invalid_login", form, "")
			has(t, bad, body, `name="goto_uri" value=""`)
		}
		_, body := f.login(core.ServiceWHM, http.MethodGet, 200, "", nil, "/?goto_uri="+url.QueryEscape("/scripts/x?a=1&b=2"))
		has(t, "query", body, `name="goto_uri" value="/scripts/x?a=1&amp;b=2"`)
	})
	t.Run("two-factor", func(t *testing.T) {
		form := url.Values{"user": {"bob"}, "pass": {"x"}}
		_, body := f.login(core.ServiceCPanel, http.MethodPost, 401, "tfa_required", form, "")
		has(t, "tfa", body, `name="tfa_login_form"`, `name="tfa_token"`, `autocomplete="one-time-code"`, Messages("tfa_required"))
	})
	t.Run("HEAD has no body", func(t *testing.T) {
		res, body := f.login(core.ServiceCPanel, http.MethodHead, 200, "", nil, "/")
		checkHeaders(t, "HEAD", res)
		if body != "" {
			t.Errorf("HEAD body %q", body)
		}
	})
}

// Messages is web.Messages[code], failing loudly when missing.
func Messages(code string) string {
	m, ok := web.Messages[code]
	if !ok {
		panic("no message " + code)
	}
	return m
}

func TestHome(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		user      string
		svc       core.Service
		role      string
		tokens    bool
		extraSubs []string
	}{
		{"root", core.ServiceWHM, "root", true, []string{"Privileges", ">all<"}},
		{"res", core.ServiceWHM, "reseller", true, []string{"list-accts, manage-api-tokens"}},
		{"lim", core.ServiceWHM, "reseller", false, nil},
		{"bob", core.ServiceCPanel, "cpanel", true, nil},
		{"res", core.ServiceCPanel, "reseller", true, nil},
		{"info@bob.test", core.ServiceWebmail, "webmail", false, []string{"<dt>Account</dt><dd>bob</dd>"}},
		{"bob", core.ServiceWebmail, "cpanel", false, nil},
	} {
		t.Run(tc.user+"@"+tc.svc.String(), func(t *testing.T) {
			v := f.visit(tc.user, tc.svc)
			tok := v.Session.SecurityToken
			for _, rest := range []string{"/", "/index.html"} {
				res, body := f.page(v, http.MethodGet, rest, nil)
				if res.StatusCode != http.StatusOK {
					t.Fatalf("%s: status %d", rest, res.StatusCode)
				}
				checkHTML(t, "home", res, body)
				has(t, "home", body,
					`<span id="who">`+tc.user+`</span>`,
					`<dd id="user-role">`+tc.role+`</dd>`,
					`href="`+tok+`/logout/"`,
					`href="`+tok+`/sessions/"`,
					"after 30 minutes without use",
					fmtUTC(v.Session.Expires))
				has(t, "home", body, tc.extraSubs...)
				if got := strings.Contains(body, `href="`+tok+`/tokens/"`); got != tc.tokens {
					t.Errorf("link to tokens: %v, want %v", got, tc.tokens)
				}
			}
		})
	}
}

func fmtUTC(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func TestPrivateRouting(t *testing.T) {
	f := newFixture(t)
	v := f.visit("bob", core.ServiceCPanel)
	res, body := f.page(v, http.MethodGet, "/nothing/here", nil)
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown page: %d", res.StatusCode)
	}
	checkHTML(t, "404", res, body)
	has(t, "404", body, "Page not found")

	for _, tc := range []struct{ method, rest string }{
		{http.MethodPost, "/"},
		{http.MethodGet, "/tokens/create"},
		{http.MethodGet, "/tokens/revoke"},
		{http.MethodGet, "/sessions/end"},
		{http.MethodPost, "/sessions/"},
		{http.MethodPut, "/tokens/"},
		{http.MethodDelete, "/sessions/"},
	} {
		res, body := f.page(v, tc.method, tc.rest, url.Values{})
		if res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: status %d, want 405", tc.method, tc.rest, res.StatusCode)
		}
		checkHeaders(t, tc.method+" "+tc.rest, res)
		if res.Header.Get("Allow") == "" {
			t.Errorf("%s %s: no Allow header", tc.method, tc.rest)
		}
		has(t, "405", body, "does not accept")
	}

	// Webmail has no token page.
	wv := f.visit("info@bob.test", core.ServiceWebmail)
	if res, _ := f.page(wv, http.MethodGet, "/tokens/", nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("webmail tokens page: %d", res.StatusCode)
	}
	if res, _ := f.page(wv, http.MethodPost, "/tokens/create", url.Values{"name": {"x"}}); res.StatusCode != http.StatusNotFound {
		t.Errorf("webmail token create: %d", res.StatusCode)
	}
}

func TestCrossOriginRefused(t *testing.T) {
	f := newFixture(t)
	v := f.visit("bob", core.ServiceCPanel)
	form := url.Values{"name": {"evil"}}
	for _, hdr := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"},
		{"Sec-Fetch-Site", "", "Origin", "https://evil.test"},
	} {
		res, body := f.page(v, http.MethodPost, "/tokens/create", form, hdr...)
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("%q: status %d, want 403", hdr, res.StatusCode)
		}
		checkHTML(t, "403", res, body)
		has(t, "403", body, "sent from another site")
	}
	// Nothing was created.
	_, body := f.page(v, http.MethodGet, "/tokens/", nil)
	has(t, "list", body, `id="no-tokens"`)
	hasNot(t, "list", body, `data-token="evil"`)
	// A session cannot be ended cross-site either.
	other := f.visit("bob", core.ServiceCPanel)
	_, body = f.page(v, http.MethodGet, "/sessions/", nil)
	handle := handleOf(t, body, other.Session.Created)
	res, _ := f.page(v, http.MethodPost, "/sessions/end", url.Values{"session": {handle}}, "Sec-Fetch-Site", "cross-site")
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site session end: %d", res.StatusCode)
	}
	if _, err := f.data.Store.GetSession(context.Background(), other.Session.IDHash); err != nil {
		t.Errorf("session ended by a cross-site form: %v", err)
	}
}

var tokenRE = regexp.MustCompile(`<code id="new-token-value" class="token">([0-9A-Z]{32})</code>`)

func TestTokensWHM(t *testing.T) {
	f := newFixture(t)
	v := f.visit("root", core.ServiceWHM)
	tok := v.Session.SecurityToken

	res, body := f.page(v, http.MethodGet, "/tokens/", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("list: %d %s", res.StatusCode, body)
	}
	checkHTML(t, "tokens", res, body)
	has(t, "tokens", body, `id="no-tokens"`, `action="`+tok+`/tokens/create"`, `name="acl" value="all"`,
		`name="acl" value="manage-api-tokens"`, `name="expires" type="date"`, `name="whitelist_ip"`, `name="require_otp"`,
		"Authorization: whm root:TOKEN")
	hasNot(t, "tokens", body, `name="readonly"`)

	// Create with options.
	form := url.Values{"name": {"deploy"}, "acl": {"list-accts", "create-acct"}, "whitelist_ip": {"192.0.2.0/24, 2001:db8::1\n198.51.100.7"},
		"expires": {time.Now().AddDate(0, 1, 0).Format("2006-01-02")}, "require_otp": {"1"}}
	res, body = f.page(v, http.MethodPost, "/tokens/create", form)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("create: %d\n%s", res.StatusCode, body)
	}
	checkHTML(t, "created", res, body)
	m := tokenRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no token shown:\n%s", body)
	}
	raw := m[1]
	has(t, "created", body, `Your new token “deploy”`, "will not be shown again", `data-copy="new-token-value"`,
		`data-token="deploy"`, "list-accts, create-acct", "192.0.2.0/24", "needs OTP")
	// The form is empty again after success.
	has(t, "created", body, `id="tok-name" name="name" type="text" required maxlength="50" pattern="[A-Za-z0-9_\-]{1,50}" value=""`)

	// The token shown is the one stored: the API recognises it.
	c := &api.Call{Flavour: api.WHM1, Func: "api_token_get_details", Args: args([]string{"token", raw}), Principal: rootLocal()}
	det, err := functions.RunWHM1(context.Background(), f.data.Registry, c)
	if err != nil || !strings.Contains(fmt.Sprint(det.Data), "deploy") {
		t.Errorf("api_token_get_details of the shown token: %v %v", det, err)
	}

	// Shown once: the list page does not have it.
	_, body = f.page(v, http.MethodGet, "/tokens/", nil)
	hasNot(t, "list", body, raw, "new-token-value")
	has(t, "list", body, `data-token="deploy"`, "never</td>")

	// Errors are the API's own, and the form keeps what was typed.
	for _, tc := range []struct {
		form   url.Values
		status int
		want   string
	}{
		{url.Values{"name": {"deploy"}}, http.StatusConflict, "A conflicting API token with the name “deploy” already exists."},
		{url.Values{"name": {"bad name!"}}, http.StatusBadRequest, "The system failed to create the API token: "},
		{url.Values{"name": {"ip"}, "whitelist_ip": {"not-an-ip"}}, http.StatusBadRequest, "“not-an-ip” is not a valid IP address or CIDR range."},
		{url.Values{"name": {"past"}, "expires": {"2001-01-01"}}, http.StatusBadRequest, "must be a future date."},
		{url.Values{"name": {"date"}, "expires": {"tomorrow"}}, http.StatusBadRequest, "is not a date"},
		{url.Values{"name": {"acl"}, "acl": {"no-such-acl"}}, http.StatusBadRequest, "Invalid or unauthorized ACL(s) specified: no-such-acl"},
	} {
		res, body := f.page(v, http.MethodPost, "/tokens/create", tc.form)
		if res.StatusCode != tc.status {
			t.Errorf("%v: status %d, want %d", tc.form, res.StatusCode, tc.status)
		}
		has(t, fmt.Sprint(tc.form), body, `id="page-error"`, tc.want)
		hasNot(t, fmt.Sprint(tc.form), body, "new-token-value")
		has(t, "kept", body, `value="`+tc.form.Get("name")+`"`)
	}

	// Revoke: see-other back to the list with a notice.
	res, _ = f.page(v, http.MethodPost, "/tokens/revoke", url.Values{"name": {"deploy"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != tok+"/tokens/?revoked=deploy" {
		t.Fatalf("revoke: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	checkHeaders(t, "revoke", res)
	_, body = f.page(v, http.MethodGet, "/tokens/?revoked=deploy", nil)
	has(t, "revoked", body, "The API token “deploy” was revoked.", `id="no-tokens"`)
	_, body = f.page(v, http.MethodGet, "/tokens/?revoked="+url.QueryEscape("<b>x</b>"), nil)
	hasNot(t, "revoked notice", body, "was revoked", "<b>x")
}

func TestTokensReseller(t *testing.T) {
	f := newFixture(t)
	v := f.visit("res", core.ServiceWHM)
	_, body := f.page(v, http.MethodGet, "/tokens/", nil)
	// Only what the reseller holds is offered.
	has(t, "res", body, `name="acl" value="list-accts"`, `name="acl" value="manage-api-tokens"`)
	hasNot(t, "res", body, `name="acl" value="all"`, `name="acl" value="create-acct"`)
	res, body := f.page(v, http.MethodPost, "/tokens/create", url.Values{"name": {"x"}, "acl": {"create-acct"}})
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("unheld ACL: %d", res.StatusCode)
	}
	has(t, "unheld", body, "Invalid or unauthorized ACL(s) specified: create-acct")
	res, body = f.page(v, http.MethodPost, "/tokens/create", url.Values{"name": {"ro"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("default ACLs: %d", res.StatusCode)
	}
	has(t, "default", body, `data-token="ro"`, "list-accts, manage-api-tokens")

	// A reseller without manage-api-tokens sees the API's refusal.
	lv := f.visit("lim", core.ServiceWHM)
	res, body = f.page(lv, http.MethodGet, "/tokens/", nil)
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("lim: %d", res.StatusCode)
	}
	has(t, "lim", body, "Permission denied")
}

func TestTokensCPanel(t *testing.T) {
	f := newFixture(t)
	v := f.visit("bob", core.ServiceCPanel)
	tok := v.Session.SecurityToken
	_, body := f.page(v, http.MethodGet, "/tokens/", nil)
	has(t, "cpanel", body, `name="readonly"`, `name="require_otp"`, `name="whitelist_ip"`, "Authorization: cpanel bob:TOKEN")
	hasNot(t, "cpanel", body, `name="acl"`)

	res, body := f.page(v, http.MethodPost, "/tokens/create", url.Values{"name": {"backup"}, "readonly": {"1"}, "whitelist_ip": {"203.0.113.9"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("create: %d\n%s", res.StatusCode, body)
	}
	m := tokenRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no token shown:\n%s", body)
	}
	has(t, "created", body, `data-token="backup"`, "read-only", "203.0.113.9")

	// bob's token is not alice's.
	av := f.visit("alice", core.ServiceCPanel)
	_, body = f.page(av, http.MethodGet, "/tokens/", nil)
	hasNot(t, "alice", body, `data-token="backup"`)
	// alice revoking "backup" revokes nothing of bob's.
	f.page(av, http.MethodPost, "/tokens/revoke", url.Values{"name": {"backup"}})
	_, body = f.page(v, http.MethodGet, "/tokens/", nil)
	has(t, "bob", body, `data-token="backup"`)

	res, _ = f.page(v, http.MethodPost, "/tokens/revoke", url.Values{"name": {"backup"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != tok+"/tokens/?revoked=backup" {
		t.Fatalf("revoke: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	_, body = f.page(v, http.MethodGet, "/tokens/", nil)
	has(t, "after revoke", body, `id="no-tokens"`)

	res, body = f.page(v, http.MethodPost, "/tokens/revoke", url.Values{})
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("revoke without a name: %d", res.StatusCode)
	}
	has(t, "no name", body, `id="page-error"`)
}

// handleOf finds the end-session handle of the row whose start time is
// created.
func handleOf(t *testing.T, body string, created time.Time) string {
	t.Helper()
	rows := strings.Split(body, "<tr")
	for _, row := range rows {
		if !strings.Contains(row, `datetime="`+created.UTC().Format(time.RFC3339)+`"`) {
			continue
		}
		m := regexp.MustCompile(`name="session" value="([0-9a-f]+)"`).FindStringSubmatch(row)
		if m != nil {
			return m[1]
		}
	}
	t.Fatalf("no session row started at %v in:\n%s", created, body)
	return ""
}

// A session whose holder gave the second factor says so on the page.
func TestSessionsTwoFactorTag(t *testing.T) {
	f := newFixture(t)
	bob := f.visit("bob", core.ServiceCPanel)
	verified := bob.Session
	verified.IDHash, verified.SecurityToken, verified.TFAVerified = fmt.Sprintf("%064x", 999), "/cpsess1999999999", true
	verified.Created = verified.Created.Add(-time.Hour)
	if err := f.data.Store.CreateSession(context.Background(), verified); err != nil {
		t.Fatal(err)
	}
	res, body := f.page(bob, http.MethodGet, "/sessions/", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("sessions: %d", res.StatusCode)
	}
	checkHTML(t, "sessions", res, body)
	if n := strings.Count(body, `<span class="tag ok">two-factor</span>`); n != 1 {
		t.Errorf("%d sessions tagged two-factor, want 1 (of 2):\n%s", n, body)
	}
}

func TestSessions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	bob1 := f.visit("bob", core.ServiceCPanel)
	bob2 := f.visit("bob", core.ServiceWebmail)
	alice := f.visit("alice", core.ServiceCPanel)
	info := f.visit("info@bob.test", core.ServiceWebmail)
	root := f.visit("root", core.ServiceWHM)

	res, body := f.page(bob1, http.MethodGet, "/sessions/", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("sessions: %d", res.StatusCode)
	}
	checkHTML(t, "sessions", res, body)
	if n := strings.Count(body, `name="session"`); n != 2 {
		t.Errorf("bob sees %d sessions, want 2:\n%s", n, body)
	}
	has(t, "bob", body, `id="current-session"`, "this session", "192.0.2.10", "cPanel", "Webmail", "password")
	hasNot(t, "bob", body, "<th scope=\"col\">User</th>", bob1.Session.IDHash, "alice")
	hasNot(t, "bob", body, bob2.Session.SecurityToken)

	// alice's session cannot be ended by bob: its handle is unknown to him.
	_, abody := f.page(alice, http.MethodGet, "/sessions/", nil)
	aliceHandle := handleOf(t, abody, alice.Session.Created)
	res, body = f.page(bob1, http.MethodPost, "/sessions/end", url.Values{"session": {aliceHandle}})
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("ending alice's session: %d", res.StatusCode)
	}
	has(t, "foreign", body, "does not exist or has already ended")
	if _, err := f.data.Store.GetSession(ctx, alice.Session.IDHash); err != nil {
		t.Errorf("alice's session is gone: %v", err)
	}

	// bob ends his other session.
	_, body = f.page(bob1, http.MethodGet, "/sessions/", nil)
	h2 := handleOf(t, body, bob2.Session.Created)
	res, _ = f.page(bob1, http.MethodPost, "/sessions/end", url.Values{"session": {h2}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != bob1.Session.SecurityToken+"/sessions/?ended=1" {
		t.Fatalf("end: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if _, err := f.data.Store.GetSession(ctx, bob2.Session.IDHash); err == nil {
		t.Error("bob's second session still exists")
	}
	_, body = f.page(bob1, http.MethodGet, "/sessions/?ended=1", nil)
	has(t, "ended", body, "The session was ended.")
	if n := strings.Count(body, `name="session"`); n != 1 {
		t.Errorf("bob sees %d sessions, want 1", n)
	}

	// Ending the current session is logging out.
	h1 := handleOf(t, body, bob1.Session.Created)
	res, _ = f.page(bob1, http.MethodPost, "/sessions/end", url.Values{"session": {h1}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != bob1.Session.SecurityToken+"/logout/" {
		t.Fatalf("end current: %d %q", res.StatusCode, res.Header.Get("Location"))
	}

	// The Webmail user sees only its own.
	_, body = f.page(info, http.MethodGet, "/sessions/", nil)
	if n := strings.Count(body, `name="session"`); n != 1 {
		t.Errorf("info sees %d sessions, want 1", n)
	}

	// Root on WHM sees everybody's, with a user column, and ends any.
	_, body = f.page(root, http.MethodGet, "/sessions/", nil)
	has(t, "root", body, `<th scope="col">User</th>`, `<th scope="row" data-label="User">alice</th>`, `<th scope="row" data-label="User">info@bob.test</th>`)
	if n := strings.Count(body, `name="session"`); n != 4 {
		t.Errorf("root sees %d sessions, want 4", n)
	}
	res, _ = f.page(root, http.MethodPost, "/sessions/end", url.Values{"session": {handleOf(t, body, alice.Session.Created)}})
	if res.StatusCode != http.StatusSeeOther {
		t.Errorf("root ending alice's session: %d", res.StatusCode)
	}
	if _, err := f.data.Store.GetSession(ctx, alice.Session.IDHash); err == nil {
		t.Error("alice's session still exists")
	}

	// An expired session is not listed.
	old := f.visit("bob", core.ServiceCPanel)
	if _, err := f.data.Store.UpdateSession(ctx, old.Session.IDHash, func(s store.Session) (store.Session, error) {
		s.LastSeen = time.Now().Add(-2 * time.Hour)
		s.Created = s.LastSeen
		return s, nil
	}); err != nil {
		t.Fatal(err)
	}
	_, body = f.page(bob1, http.MethodGet, "/sessions/", nil)
	if n := strings.Count(body, `name="session"`); n != 1 {
		t.Errorf("with an idle-expired session bob sees %d sessions, want 1", n)
	}
}

func TestStatic(t *testing.T) {
	f := newFixture(t)
	h := f.web.Static()
	get := func(method, path string) (*http.Response, string) {
		r := httptest.NewRequest(method, "http://localhost"+path, nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		b, _ := io.ReadAll(w.Result().Body)
		return w.Result(), string(b)
	}
	for path, ct := range map[string]string{"/static/style.css": "text/css; charset=utf-8", "/static/app.js": "text/javascript; charset=utf-8", "/static/favicon.svg": "image/svg+xml"} {
		res, body := get(http.MethodGet, path+"?v=1")
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != ct || len(body) < 50 {
			t.Errorf("%s: %d %q %d bytes", path, res.StatusCode, res.Header.Get("Content-Type"), len(body))
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(res.Header.Get("Cache-Control"), "public") {
			t.Errorf("%s: headers %v", path, res.Header)
		}
	}
	for _, path := range []string{"/static/", "/static/nope.css", "/static/../web.go", "/static//style.css", "/static/./style.css", "/other"} {
		if res, _ := get(http.MethodGet, path); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, res.StatusCode)
		}
	}
	if res, _ := get(http.MethodPost, "/static/style.css"); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", res.StatusCode)
	}
	// Pages link the files with a version.
	_, body := f.login(core.ServiceCPanel, http.MethodGet, 200, "", nil, "/")
	if !regexp.MustCompile(`href="/static/style.css\?v=[0-9a-f]{12}"`).MatchString(body) ||
		!regexp.MustCompile(`src="/static/app.js\?v=[0-9a-f]{12}" defer`).MatchString(body) {
		t.Errorf("login page does not link the static files:\n%s", body)
	}
}

func TestSafeGotoURI(t *testing.T) {
	for u, want := range map[string]bool{
		"/": true, "/cpsess0123456789/frontend/jupiter/index.html": true, "/scripts/x?a=1": true,
		"": false, "//evil.test": false, `/\evil`: false, "http://x/": false, "x/y": false,
		"/a\x00b": false, "/a\r\nSet-Cookie: x": false, "/" + strings.Repeat("a", 3000): false,
	} {
		if got := web.SafeGotoURI(u); got != want {
			t.Errorf("SafeGotoURI(%q) = %v, want %v", u, got, want)
		}
	}
}
