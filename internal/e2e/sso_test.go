package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cpauth/cpauth/client/cpapi"
	"github.com/cpauth/cpauth/client/logmein"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/daemon"
)

// Single sign-on (create_user_session), Webmail hand-off (UAPI Session)
// and secure remote logins (client/logmein), end to end through the public
// client package.

// cp is a cpapi client of the daemon's TLS port of a service.
func (e *testEnv) cp(t testing.TB, svc core.Service, a cpapi.Auth) *cpapi.Client {
	t.Helper()
	_, portText, err := net.SplitHostPort(e.d.Addr(svc, true))
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(portText)
	return &cpapi.Client{Host: "127.0.0.1", Port: port, Service: cpapiService(svc), Auth: a, HTTPClient: e.client}
}

func cpapiService(svc core.Service) cpapi.Service {
	switch svc {
	case core.ServiceWHM:
		return cpapi.WHM
	case core.ServiceWebmail:
		return cpapi.Webmail
	}
	return cpapi.CPanel
}

// tlsPort is the daemon's TLS port of a service.
func (e *testEnv) tlsPort(t testing.TB, svc core.Service) int {
	t.Helper()
	_, p, err := net.SplitHostPort(e.d.Addr(svc, true))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// ssoData is create_user_session's data.
type ssoData struct {
	Token   string `json:"cp_security_token"`
	Expires int64  `json:"expires"`
	Service string `json:"service"`
	Session string `json:"session"`
	URL     string `json:"url"`
	Locale  string `json:"locale"`
}

// createSession calls create_user_session as who (Basic with the fixture
// password) with the arguments kv.
func (e *testEnv) createSession(t testing.TB, who string, kv ...string) (ssoData, error) {
	t.Helper()
	args := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		args.Add(kv[i], kv[i+1])
	}
	res, err := e.cp(t, core.ServiceWHM, cpapi.Password{User: who, Pass: e.pass[who]}).WHM1(context.Background(), "create_user_session", args)
	if err != nil {
		return ssoData{}, err
	}
	if res.Metadata.Reason != "Created session" {
		t.Errorf("metadata.reason = %q, want Created session", res.Metadata.Reason)
	}
	var d ssoData
	if err := json.Unmarshal(res.Data, &d); err != nil {
		t.Fatalf("create_user_session data %s: %v", res.Data, err)
	}
	return d, nil
}

func (e *testEnv) mustCreateSession(t testing.TB, who string, kv ...string) ssoData {
	t.Helper()
	d, err := e.createSession(t, who, kv...)
	if err != nil {
		t.Fatalf("create_user_session as %s %q: %v", who, kv, err)
	}
	return d
}

// redemption is the answer to opening a login URL.
type redemption struct {
	status   int
	location string
	cookie   *http.Cookie // the session cookie set, if any
	cookies  []*http.Cookie
	body     string
}

// open requests a URL as a browser would (GET; POST with a form when
// form is not nil), without following the redirect.
func (e *testEnv) open(t testing.TB, method, rawURL string, form url.Values) redemption {
	t.Helper()
	var req *http.Request
	var err error
	if form != nil {
		req, err = http.NewRequest(method, rawURL, strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		req, err = http.NewRequest(method, rawURL, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	var body strings.Builder
	buf := make([]byte, 4096)
	for {
		n, rerr := resp.Body.Read(buf)
		body.Write(buf[:n])
		if rerr != nil {
			break
		}
	}
	r := redemption{status: resp.StatusCode, location: resp.Header.Get("Location"), cookies: resp.Cookies(), body: body.String()}
	for _, c := range r.cookies {
		if strings.HasSuffix(c.Name, "session") && c.Value != "" {
			r.cookie = c
		}
	}
	return r
}

// sessionOf is the cpapi session a successful redemption made.
func redeemedSession(t testing.TB, svc core.Service, r redemption) *cpapi.Session {
	t.Helper()
	if r.cookie == nil {
		t.Fatalf("no session cookie in the answer (status %d)", r.status)
	}
	tok, _, _ := strings.Cut(strings.TrimPrefix(r.location, "/"), "/")
	return &cpapi.Session{Service: cpapiService(svc), Cookie: r.cookie.Value, Token: "/" + tok}
}

// refusedAsBadLogin checks the answer of a refused redemption: D8's login
// page, no session cookie.
func refusedAsBadLogin(t testing.TB, r redemption) {
	t.Helper()
	if r.status != http.StatusUnauthorized {
		t.Errorf("status = %d, want 401 (as a bad login); location %q", r.status, r.location)
	}
	if r.cookie != nil {
		t.Errorf("a refused redemption set %s", r.cookie.Name)
	}
	if !strings.Contains(r.body, "The login is invalid.") {
		t.Errorf("the page does not say The login is invalid.:\n%s", tail(r.body, 5))
	}
}

var (
	securityTokenRE = regexp.MustCompile(`^/cpsess[0-9]{10}$`)
	ssoSessionRE    = regexp.MustCompile(`^([^:,]+):[A-Za-z0-9_]{16}:create_user_session,[0-9a-f]{32}$`)
)

// whoAmI is the user a session (or any auth) is on a cPanel or Webmail
// port, by Variables::get_user_information, or on WHM by list_sessions'
// "current" session.
func (e *testEnv) whoAmI(t testing.TB, svc core.Service, a cpapi.Auth) (string, error) {
	t.Helper()
	ctx := context.Background()
	if svc == core.ServiceWHM {
		res, err := e.cp(t, svc, a).WHM1(ctx, "list_sessions", nil)
		if err != nil {
			return "", err
		}
		var d struct {
			Sessions []struct {
				User    string `json:"user"`
				Current int    `json:"current"`
			} `json:"sessions"`
		}
		if err := json.Unmarshal(res.Data, &d); err != nil {
			t.Fatal(err)
		}
		for _, s := range d.Sessions {
			if s.Current == 1 {
				return s.User, nil
			}
		}
		return "", errors.New("no current session")
	}
	res, err := e.cp(t, svc, a).UAPI(ctx, "Variables", "get_user_information", nil)
	if err != nil {
		return "", err
	}
	if s, ok := a.(*cpapi.Session); ok && svc == core.ServiceWebmail {
		// get_user_information is the account's; the session knows its
		// login name.
		ss, err := e.d.Data.Store.ListSessions(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range ss {
			if x.SecurityToken == s.Token {
				return x.Username, nil
			}
		}
		return "", errors.New("no session with the token " + s.Token)
	}
	var d struct {
		User string `json:"user"`
	}
	if err := json.Unmarshal(res.Data, &d); err != nil {
		t.Fatal(err)
	}
	return d.User, nil
}

func TestSSOEachService(t *testing.T) {
	e := startWithFixtures(t)
	tests := []struct {
		name, user, service string
		svc                 core.Service
		want                string // who the session is
	}{
		{"cPanel account", "bob", "cpaneld", core.ServiceCPanel, "bob"},
		{"reseller's cPanel", "res", "cpaneld", core.ServiceCPanel, "res"},
		{"root's WHM", "root", "whostmgrd", core.ServiceWHM, "root"},
		{"reseller's WHM", "res", "whostmgrd", core.ServiceWHM, "res"},
		{"mailbox's Webmail", "info@bob.test", "webmaild", core.ServiceWebmail, "info@bob.test"},
		{"cPanel account's Webmail", "bob", "webmaild", core.ServiceWebmail, "bob"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.clock.Now()
			d := e.mustCreateSession(t, "root", "user", tc.user, "service", tc.service)
			if !securityTokenRE.MatchString(d.Token) || d.Service != tc.service || d.Locale != "" {
				t.Errorf("data = %+v", d)
			}
			if m := ssoSessionRE.FindStringSubmatch(d.Session); m == nil || m[1] != tc.user {
				t.Errorf("session = %q, want %s:<16>:create_user_session,<32 hex>", d.Session, tc.user)
			}
			if exp := time.Unix(d.Expires, 0); exp.Before(before.Add(299*time.Second)) || exp.After(e.clock.Now().Add(301*time.Second)) {
				t.Errorf("expires = %v, want creation + 300 s", exp)
			}
			wantURL := "https://127.0.0.1:" + strconv.Itoa(e.tlsPort(t, tc.svc)) + d.Token + "/login/?session=" + url.QueryEscape(d.Session)
			if !strings.EqualFold(d.URL, wantURL) {
				t.Errorf("url = %s\nwant  %s", d.URL, wantURL)
			}
			r := e.open(t, http.MethodGet, d.URL, nil)
			if r.status != http.StatusTemporaryRedirect || r.location != d.Token+"/" {
				t.Fatalf("GET url: %d, Location %q; want 307 to %s/", r.status, r.location, d.Token)
			}
			s := redeemedSession(t, tc.svc, r)
			if s.Token != d.Token {
				t.Errorf("the new session's token %s is not the URL's %s", s.Token, d.Token)
			}
			if who, err := e.whoAmI(t, tc.svc, s); err != nil || who != tc.want {
				t.Errorf("the redeemed session is %q (%v), want %s", who, err, tc.want)
			}
			// One use only.
			refusedAsBadLogin(t, e.open(t, http.MethodGet, d.URL, nil))
			// And the session made is not the one-time id.
			if who, err := e.whoAmI(t, tc.svc, &cpapi.Session{Service: cpapiService(tc.svc), Cookie: url.QueryEscape(d.Session), Token: d.Token}); err == nil {
				t.Errorf("the one-time id works as a cookie (as %s)", who)
			}
		})
	}
	// The log names the sessions by handle, never by id.
	logText := e.log.String()
	if !strings.Contains(logText, `msg="single sign-on session created"`) || !strings.Contains(logText, `msg="session redeemed"`) {
		t.Errorf("creation or redemption not logged")
	}
	if regexp.MustCompile(`create_user_session(%2c|,)[0-9a-f]{32}`).MatchString(logText) {
		t.Errorf("a one-time session id is in the log")
	}
}

// The checks and reasons of PROTOCOL.md 8.1, for root, resellers and
// refused callers.
func TestSSOCreateChecks(t *testing.T) {
	e := startWithFixtures(t)
	// res may create sessions once it holds create-user-session.
	grant := func(extra ...string) {
		kv := []string{"reseller", "res", "acl-list-accts", "1", "acl-create-acct", "1", "acl-kill-acct", "1",
			"acl-passwd", "1", "acl-suspend-acct", "1", "acl-acct-summary", "1"}
		e.whm1("setacls", append(kv, extra...)...)
	}
	if _, err := e.createSession(t, "res", "user", "carol", "service", "cpaneld"); err == nil || !strings.Contains(err.Error(), "Permission denied") {
		t.Errorf("reseller without create-user-session: %v, want Permission denied", err)
	}
	grant("acl-create-user-session", "1")
	tests := []struct {
		name   string
		who    string
		kv     []string
		reason string // "" for success
	}{
		{"root for a cPanel account", "root", []string{"user", "bob", "service", "cpaneld"}, ""},
		{"reseller for its account", "res", []string{"user", "carol", "service", "cpaneld"}, ""},
		{"reseller for itself", "res", []string{"user", "res", "service", "whostmgrd"}, ""},
		{"reseller for root's account", "res", []string{"user", "bob", "service", "cpaneld"}, "You do not have permission to create sessions for the user “bob”."},
		{"reseller for a mailbox of root's account", "res", []string{"user", "info@bob.test", "service", "webmaild"}, "You do not have permission to create sessions for the user “info@bob.test”."},
		{"reseller for root", "res", []string{"user", "root", "service", "whostmgrd"}, "You do not have permission to create sessions for the user “root”."},
		{"reseller for an unknown user", "res", []string{"user", "nobody", "service", "cpaneld"}, "You do not have permission to create sessions for the user “nobody”."},
		{"missing user", "root", []string{"service", "cpaneld"}, "The “user” parameter is required."},
		{"missing service", "root", []string{"user", "bob"}, "The “service” parameter is required."},
		{"unknown user", "root", []string{"user", "nobody", "service", "cpaneld"}, "You cannot create a session for the user “nobody” because they do not exist."},
		{"suspended", "root", []string{"user", "sus", "service", "cpaneld"}, "You cannot create a session for the user “sus” because they are currently suspended."},
		{"mailbox of a suspended account", "root", []string{"user", "info@sus.test", "service", "webmaild"}, "You cannot create a session for the user “info@sus.test” because they are currently suspended."},
		{"not a reseller", "root", []string{"user", "bob", "service", "whostmgrd"}, "You cannot create a “whostmgrd” session for the user “bob” because they are not a reseller."},
		{"root on cPanel", "root", []string{"user", "root", "service", "cpaneld"}, "You do not have permission to create sessions for the user “root”."},
		{"bad service", "root", []string{"user", "bob", "service", "sshd"}, "The “service” parameter is invalid. The only supported services for this API call are “cpaneld”, “whostmgrd”, and “webmaild”."},
		{"bad app", "root", []string{"user", "bob", "service", "cpaneld", "app", "../etc"}, "The requested application, ../etc, is invalid."},
		{"long locale", "root", []string{"user", "bob", "service", "cpaneld", "locale", strings.Repeat("x", 17)}, "The “locale” parameter is invalid: use a locale tag of at most 16 letters, digits, underscores and hyphens."},
		{"foreign preferred_domain", "root", []string{"user", "bob", "service", "cpaneld", "preferred_domain", "example.org"}, "The “preferred_domain” parameter, “example.org”, is not a domain or IP address of this server."},
		{"bad bind_ip", "root", []string{"user", "bob", "service", "cpaneld", "bind_ip", "somewhere"}, "The “bind_ip” parameter must be 1 or an IP address, not “somewhere”."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.createSession(t, tc.who, tc.kv...)
			var ae *cpapi.APIError
			switch {
			case tc.reason == "" && err != nil:
				t.Errorf("failed: %v", err)
			case tc.reason != "" && !errors.As(err, &ae):
				t.Errorf("err = %v, want the API error %q", err, tc.reason)
			case tc.reason != "" && ae.Reason != tc.reason:
				t.Errorf("reason = %q\nwant     %q", ae.Reason, tc.reason)
			}
		})
	}
	// A cPanel account cannot call WHM API 1 at all (D5).
	_, err := e.createSession(t, "bob", "user", "bob", "service", "cpaneld")
	if !errors.Is(err, cpapi.ErrAccessDenied) {
		t.Errorf("bob on WHM: %v, want access denied", err)
	}
	// A reseller that is its own account's owner.
	d := e.mustCreateSession(t, "res", "user", "carol", "service", "webmaild")
	if d.Service != "webmaild" || !strings.Contains(d.URL, ":"+strconv.Itoa(e.tlsPort(t, core.ServiceWebmail))+"/cpsess") {
		t.Errorf("webmail session: %+v", d)
	}
}

func TestSSOURLOptions(t *testing.T) {
	e := startWithFixtures(t)
	d := e.mustCreateSession(t, "root", "user", "bob", "service", "cpaneld", "app", "Api_Tokens", "locale", "fr", "preferred_domain", "bob.test")
	if d.Locale != "fr" || !strings.HasPrefix(d.URL, "https://bob.test:") || !strings.HasSuffix(d.URL, "&goto_uri=%2Ftokens%2F&locale=fr") {
		t.Errorf("data = %+v", d)
	}
	// Open it on 127.0.0.1 (bob.test does not resolve here).
	u, _ := url.Parse(d.URL)
	u.Host = net.JoinHostPort("127.0.0.1", u.Port())
	// A goto_uri added to the URL does not steer the landing page.
	r := e.open(t, http.MethodGet, u.String()+"&goto_uri=%2Fsessions%2F", nil)
	if r.status != http.StatusTemporaryRedirect || r.location != d.Token+"/tokens/" {
		t.Fatalf("%d to %q, want 307 to %s/tokens/", r.status, r.location, d.Token)
	}
	var locale string
	for _, c := range r.cookies {
		if c.Name == "session_locale" {
			locale = c.Value
		}
	}
	if locale != "fr" {
		t.Errorf("session_locale cookie = %q, want fr", locale)
	}
	// An app cpauth does not serve: created, lands on the home page, warned.
	res, err := e.cp(t, core.ServiceWHM, cpapi.Password{User: "root", Pass: e.rootPass}).WHM1(context.Background(), "create_user_session",
		url.Values{"user": {"bob"}, "service": {"cpaneld"}, "app": {"FileManager_Home"}})
	if err != nil || len(res.Metadata.Warnings) != 1 || strings.Contains(string(res.Data), "goto_uri") {
		t.Errorf("unknown app: %v, warnings %q, data %s", err, res.Metadata.Warnings, res.Data)
	}
}

// A URL works once, before it expires, on its own service's port, from its
// bound address, and only as issued.
func TestSSORefusals(t *testing.T) {
	g := &recordingGuard{deny: map[string]bool{}}
	e := startOpts(t, nil, func(o *daemon.Options) { o.Guard = g })
	e.whm1("createacct", "username", "bob", "domain", "bob.test", "password", bobPass)
	mk := func(kv ...string) ssoData {
		return e.mustCreateSession(t, "root", append([]string{"user", "bob", "service", "cpaneld"}, kv...)...)
	}
	g.take()

	t.Run("expired", func(t *testing.T) {
		d := mk()
		e.clock.Advance(301 * time.Second)
		refusedAsBadLogin(t, e.open(t, http.MethodGet, d.URL, nil))
	})
	t.Run("wrong port", func(t *testing.T) {
		d := mk()
		u, _ := url.Parse(d.URL)
		u.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(e.tlsPort(t, core.ServiceWebmail)))
		refusedAsBadLogin(t, e.open(t, http.MethodGet, u.String(), nil))
		// The URL is spent by the misuse.
		refusedAsBadLogin(t, e.open(t, http.MethodGet, d.URL, nil))
	})
	t.Run("another token", func(t *testing.T) {
		d := mk()
		other := "/cpsess0000000001"
		if other == d.Token {
			other = "/cpsess0000000002"
		}
		refusedAsBadLogin(t, e.open(t, http.MethodGet, strings.Replace(d.URL, d.Token, other, 1), nil))
	})
	t.Run("no token", func(t *testing.T) {
		d := mk()
		refusedAsBadLogin(t, e.open(t, http.MethodGet, strings.Replace(d.URL, d.Token, "", 1), nil))
		// Not spent: the right URL still works.
		if r := e.open(t, http.MethodGet, d.URL, nil); r.status != http.StatusTemporaryRedirect {
			t.Errorf("the URL after a tokenless try: %d", r.status)
		}
	})
	t.Run("tampered and truncated", func(t *testing.T) {
		d := mk()
		i := strings.Index(d.URL, "session=") + len("session=")
		value := d.URL[i:]
		flip := func(s string, at int) string {
			c := byte('A')
			if s[at] == 'A' {
				c = 'B'
			}
			return s[:at] + string(c) + s[at+1:]
		}
		for name, v := range map[string]string{
			"random part changed": flip(value, len("bob%3a")+3),
			"hex part changed":    value[:len(value)-1] + map[bool]string{true: "1", false: "0"}[value[len(value)-1] == '0'],
			"truncated":           value[:len(value)-5],
			"user changed":        strings.Replace(value, "bob", "res", 1),
			"tag removed":         strings.Replace(value, "%3acreate_user_session", "", 1),
			"empty":               "",
			"garbage":             "%zz%00",
		} {
			t.Run(name, func(t *testing.T) {
				refusedAsBadLogin(t, e.open(t, http.MethodGet, d.URL[:i]+v, nil))
			})
		}
		// None of them spent the real one.
		if r := e.open(t, http.MethodGet, d.URL, nil); r.status != http.StatusTemporaryRedirect {
			t.Errorf("the URL after tampered tries: %d", r.status)
		}
	})
	t.Run("bound to another address", func(t *testing.T) {
		d := mk("bind_ip", "192.0.2.7")
		refusedAsBadLogin(t, e.open(t, http.MethodGet, d.URL, nil))
	})
	t.Run("bound to the caller", func(t *testing.T) {
		d := mk("bind_ip", "1")
		if r := e.open(t, http.MethodGet, d.URL, nil); r.status != http.StatusTemporaryRedirect {
			t.Errorf("bind_ip=1 from the caller's own address: %d", r.status)
		}
	})
	t.Run("suspended after creation", func(t *testing.T) {
		d := mk()
		e.whm1("suspendacct", "user", "bob")
		refusedAsBadLogin(t, e.open(t, http.MethodGet, d.URL, nil))
		e.whm1("unsuspendacct", "user", "bob")
	})
	t.Run("refused by the guard", func(t *testing.T) {
		d := mk()
		g.setDeny("bob", true)
		refusedAsBadLogin(t, e.open(t, http.MethodGet, d.URL, nil))
		g.setDeny("bob", false)
		// Refused before anything was looked at: not spent.
		if r := e.open(t, http.MethodGet, d.URL, nil); r.status != http.StatusTemporaryRedirect {
			t.Errorf("the URL after the guard refused it: %d", r.status)
		}
	})
	// Every redemption was an attempt the guard saw, counted by method.
	var fails, oks int
	for _, l := range g.take() {
		switch {
		case strings.HasPrefix(l, "fail ") && strings.HasSuffix(l, " sso"):
			fails++
		case l == "ok bob sso":
			oks++
		}
	}
	if fails != 14 || oks != 4 {
		t.Errorf("guard saw %d failed and %d good redemptions, want 14 and 4", fails, oks)
	}
	if !strings.Contains(e.log.String(), `msg="session redemption refused"`) {
		t.Errorf("refusals not logged")
	}
}

// Of concurrent redemptions of one URL, exactly one logs in.
func TestSSOConcurrentRedemption(t *testing.T) {
	e := start(t)
	e.whm1("createacct", "username", "bob", "domain", "bob.test", "password", bobPass)
	d := e.mustCreateSession(t, "root", "user", "bob", "service", "cpaneld")
	const n = 8
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, d.URL, nil)
			resp, err := e.client.Do(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	slices.Sort(statuses)
	want := []int{307, 401, 401, 401, 401, 401, 401, 401}
	if !slices.Equal(statuses, want) {
		t.Errorf("statuses = %v, want one 307 and seven 401", statuses)
	}
}

// UAPI Session: a cPanel account hands Webmail logins to a browser.
func TestWebmailHandoff(t *testing.T) {
	e := startWithFixtures(t)
	ctx := context.Background()
	bob := e.cp(t, core.ServiceCPanel, cpapi.Password{User: "bob", Pass: bobPass})
	webmail := "https://127.0.0.1:" + strconv.Itoa(e.tlsPort(t, core.ServiceWebmail))
	type out struct {
		Session  string  `json:"session"`
		Token    string  `json:"token"`
		Hostname *string `json:"hostname"`
	}
	tests := []struct {
		name string
		fn   string
		args url.Values
		want string // the Webmail user; "" when the call fails
		err  string
	}{
		{"self", "create_webmail_session_for_self", nil, "bob", ""},
		{"mail user", "create_webmail_session_for_mail_user", url.Values{"login": {"info"}, "domain": {"bob.test"}}, "info@bob.test", ""},
		{"mail user, password checked", "create_webmail_session_for_mail_user_check_password",
			url.Values{"login": {"info"}, "domain": {"bob.test"}, "password": {infoPass}}, "info@bob.test", ""},
		{"wrong password", "create_webmail_session_for_mail_user_check_password",
			url.Values{"login": {"info"}, "domain": {"bob.test"}, "password": {"wrong"}}, "", "The password for “info@bob.test” is incorrect."},
		{"another account's mailbox", "create_webmail_session_for_mail_user", url.Values{"login": {"info"}, "domain": {"sus.test"}}, "",
			"The email account “info@sus.test” does not exist."},
		{"missing login", "create_webmail_session_for_mail_user", url.Values{"domain": {"bob.test"}}, "", "The “login” parameter is required."},
		{"missing password", "create_webmail_session_for_mail_user_check_password", url.Values{"login": {"info"}, "domain": {"bob.test"}}, "",
			"The “password” parameter is required."},
		{"bad remote_address", "create_webmail_session_for_self", url.Values{"remote_address": {"x"}}, "", "The “remote_address” parameter must be an IP address, not “x”."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := bob.UAPI(ctx, "Session", tc.fn, tc.args)
			if tc.err != "" {
				var ae *cpapi.APIError
				if !errors.As(err, &ae) || ae.Reason != tc.err {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var o out
			if err := json.Unmarshal(res.Data, &o); err != nil {
				t.Fatal(err)
			}
			if !securityTokenRE.MatchString(o.Token) || o.Hostname == nil || *o.Hostname != "127.0.0.1" {
				t.Errorf("data = %s", res.Data)
			}
			r := e.open(t, http.MethodPost, webmail+o.Token+"/login", url.Values{"session": {o.Session}})
			if r.status != http.StatusSeeOther || r.location != o.Token+"/" {
				t.Fatalf("POST login: %d to %q, want 303 to %s/", r.status, r.location, o.Token)
			}
			if who, err := e.whoAmI(t, core.ServiceWebmail, redeemedSession(t, core.ServiceWebmail, r)); err != nil || who != tc.want {
				t.Errorf("webmail session of %q (%v), want %s", who, err, tc.want)
			}
			refusedAsBadLogin(t, e.open(t, http.MethodPost, webmail+o.Token+"/login", url.Values{"session": {o.Session}}))
		})
	}
	// A hand-off is a Webmail session: useless on cPanel's port.
	res, err := bob.UAPI(ctx, "Session", "create_webmail_session_for_self", nil)
	if err != nil {
		t.Fatal(err)
	}
	var o out
	_ = json.Unmarshal(res.Data, &o)
	cpanel := "https://127.0.0.1:" + strconv.Itoa(e.tlsPort(t, core.ServiceCPanel))
	refusedAsBadLogin(t, e.open(t, http.MethodPost, cpanel+o.Token+"/login", url.Values{"session": {o.Session}}))
	// Bound to an address by remote_address.
	res, err = bob.UAPI(ctx, "Session", "create_webmail_session_for_self", url.Values{"remote_address": {"198.51.100.1"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(res.Data, &o)
	refusedAsBadLogin(t, e.open(t, http.MethodPost, webmail+o.Token+"/login", url.Values{"session": {o.Session}}))
	// A webmail user cannot hand off anything (not webmail-safe).
	info := e.cp(t, core.ServiceWebmail, cpapi.Password{User: "info@bob.test", Pass: infoPass})
	if _, err := info.UAPI(ctx, "Session", "create_webmail_session_for_self", nil); err == nil {
		t.Errorf("a webmail user made a webmail session")
	}
}

// client/logmein against the daemon: each service, a bad password, a host
// that does not answer, and TLS verification on by default.
func TestLogMeIn(t *testing.T) {
	e := startWithFixtures(t)
	ctx := context.Background()
	tests := []struct {
		name, service, user, pass string
		svc                       core.Service
		gotoURI                   string
		wantLanding               string
	}{
		{"cpanel", "cpanel", "bob", bobPass, core.ServiceCPanel, "", "/"},
		{"whm", "whm", "root", e.rootPass, core.ServiceWHM, "/sessions/", "/sessions/"},
		{"webmail", "webmail", "info@bob.test", infoPass, core.ServiceWebmail, "/", "/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, token, err := logmein.GetLoggedInURL(ctx, logmein.Options{
				User: tc.user, Pass: tc.pass, Host: "127.0.0.1", Port: e.tlsPort(t, tc.svc), Service: tc.service,
				GotoURI: tc.gotoURI, InsecureSkipVerify: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			prefix := "https://127.0.0.1:" + strconv.Itoa(e.tlsPort(t, tc.svc)) + token + "/login/?session="
			if !securityTokenRE.MatchString(token) || !strings.HasPrefix(u, prefix) {
				t.Fatalf("url %s, token %s", u, token)
			}
			r := e.open(t, http.MethodGet, u, nil)
			if r.status != http.StatusTemporaryRedirect || r.location != token+tc.wantLanding {
				t.Fatalf("GET url: %d to %q, want 307 to %s%s", r.status, r.location, token, tc.wantLanding)
			}
			if who, err := e.whoAmI(t, tc.svc, redeemedSession(t, tc.svc, r)); err != nil || who != tc.user {
				t.Errorf("browser session of %q (%v), want %s", who, err, tc.user)
			}
			refusedAsBadLogin(t, e.open(t, http.MethodGet, u, nil))
		})
	}
	t.Run("handed over within five minutes only", func(t *testing.T) {
		u, _, err := logmein.GetLoggedInURL(ctx, logmein.Options{User: "bob", Pass: bobPass, Host: "127.0.0.1",
			Port: e.tlsPort(t, core.ServiceCPanel), Service: "cpanel", InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(6 * time.Minute)
		refusedAsBadLogin(t, e.open(t, http.MethodGet, u, nil))
	})
	t.Run("bad password", func(t *testing.T) {
		_, _, err := logmein.GetLoggedInURL(ctx, logmein.Options{User: "bob", Pass: "wrong", Host: "127.0.0.1",
			Port: e.tlsPort(t, core.ServiceCPanel), Service: "cpanel", InsecureSkipVerify: true})
		if !errors.Is(err, logmein.ErrBadLogin) {
			t.Errorf("err = %v, want ErrBadLogin", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		_, _, err = logmein.GetLoggedInURL(ctx, logmein.Options{User: "bob", Pass: bobPass, Host: "127.0.0.1", Port: port, Service: "cpanel"})
		var ue *logmein.UnreachableError
		if !errors.As(err, &ue) {
			t.Errorf("err = %v, want an UnreachableError", err)
		}
	})
	t.Run("self-signed refused by default", func(t *testing.T) {
		_, _, err := logmein.GetLoggedInURL(ctx, logmein.Options{User: "bob", Pass: bobPass, Host: "127.0.0.1",
			Port: e.tlsPort(t, core.ServiceCPanel), Service: "cpanel"})
		var ue *logmein.UnreachableError
		if err == nil || errors.As(err, &ue) || errors.Is(err, logmein.ErrBadLogin) {
			t.Errorf("err = %v, want a certificate error", err)
		}
	})
}

// The client package authenticates by every method cpauth serves.
func TestClientAuthMethods(t *testing.T) {
	e := startWithFixtures(t)
	ctx := context.Background()
	root := e.cp(t, core.ServiceWHM, cpapi.Password{User: "root", Pass: e.rootPass})
	res, err := root.WHM1(ctx, "api_token_create", url.Values{"token_name": {"client-test"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		Token string `json:"token"`
	}
	_ = json.Unmarshal(res.Data, &tok)
	bob := e.cp(t, core.ServiceCPanel, cpapi.Password{User: "bob", Pass: bobPass})
	res2, err := bob.UAPI(ctx, "Tokens", "create_full_access", url.Values{"name": {"client-test"}})
	if err != nil {
		t.Fatal(err)
	}
	var ctok struct {
		Token string `json:"token"`
	}
	_ = json.Unmarshal(res2.Data, &ctok)
	s, err := e.cp(t, core.ServiceCPanel, nil).Login(ctx, cpapi.LoginOptions{User: "bob", Pass: bobPass})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		svc  core.Service
		auth cpapi.Auth
		want string
	}{
		{"password on WHM", core.ServiceWHM, cpapi.Password{User: "root", Pass: e.rootPass}, ""},
		{"WHM token", core.ServiceWHM, cpapi.WHMToken{User: "root", Token: tok.Token}, ""},
		{"access hash", core.ServiceWHM, cpapi.AccessHash{User: "root", Hash: e.accessHashFile(t, "root")}, ""},
		{"password on cPanel", core.ServiceCPanel, cpapi.Password{User: "bob", Pass: bobPass}, "bob"},
		{"cPanel token", core.ServiceCPanel, cpapi.CPanelToken{User: "bob", Token: ctok.Token}, "bob"},
		{"session", core.ServiceCPanel, s, "bob"},
		{"password on Webmail", core.ServiceWebmail, cpapi.Password{User: "info@bob.test", Pass: infoPass}, "bob"}, // the account's information
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := e.cp(t, tc.svc, tc.auth)
			if tc.svc == core.ServiceWHM {
				if _, err := c.WHM1(ctx, "version", nil); err != nil {
					t.Error(err)
				}
				return
			}
			if who, err := e.whoAmI(t, tc.svc, tc.auth); err != nil || who != tc.want {
				t.Errorf("%q, %v; want %s", who, err, tc.want)
			}
		})
	}
	// cPanel API 2, as root for bob through WHM.
	r2, err := root.API2(ctx, "bob", "Email", "listpops", nil)
	if err != nil || !strings.Contains(string(r2.Data), "info@bob.test") {
		t.Errorf("API 2 listpops: %v %s", err, r2.Data)
	}
	// Failures: a wrong password is access denied; a failing function an
	// APIError.
	if _, err := e.cp(t, core.ServiceWHM, cpapi.Password{User: "root", Pass: "wrong"}).WHM1(ctx, "version", nil); !errors.Is(err, cpapi.ErrAccessDenied) {
		t.Errorf("wrong password: %v", err)
	}
	var ae *cpapi.APIError
	if _, err := root.WHM1(ctx, "accountsummary", url.Values{"user": {"nobody"}}); !errors.As(err, &ae) {
		t.Errorf("accountsummary of nobody: %v, want an APIError", err)
	}
	if _, err := bob.UAPI(ctx, "Email", "add_pop", nil); !errors.As(err, &ae) || len(ae.Errors) == 0 {
		t.Errorf("add_pop without arguments: %v, want an APIError", err)
	}
	if _, err := e.cp(t, core.ServiceCPanel, nil).Login(ctx, cpapi.LoginOptions{User: "bob", Pass: "wrong"}); !errors.Is(err, cpapi.ErrBadLogin) {
		t.Errorf("Login with a wrong password: %v", err)
	}
	// Logout ends the session.
	sc := e.cp(t, core.ServiceCPanel, s)
	if err := sc.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.whoAmI(t, core.ServiceCPanel, s); !errors.Is(err, cpapi.ErrAccessDenied) {
		t.Errorf("after logout: %v", err)
	}
}
