package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/logs"
	"github.com/cpauth/cpauth/internal/passkey/softkey"
	"github.com/cpauth/cpauth/internal/sessions"
	"github.com/cpauth/cpauth/internal/settings"
)

// Passkeys over HTTP, with the software authenticator standing in for the
// browser's: the routes of server/passkeys.go, the sessions they make,
// the regulator and the audit stream, and the phishing-resistant policy.

const pkHost = "host.test"

func startPasskeys(t testing.TB) *testEnv {
	t.Helper()
	return startFixturesWith(t, func(c *config.Config) { c.Hostname = pkHost })
}

// vhost is the Host header of the configured host name on p.
func (e *testEnv) vhost(t testing.TB, p port) string {
	t.Helper()
	_, num, err := net.SplitHostPort(e.d.Addr(p.service(), p.tls()))
	if err != nil {
		t.Fatal(err)
	}
	return pkHost + ":" + num
}

// origin is the browser's origin of p under the host name.
func (e *testEnv) origin(t testing.TB, p port) string {
	scheme := "http"
	if p.tls() {
		scheme = "https"
	}
	return scheme + "://" + e.vhost(t, p)
}

// pkPost posts a form under the host name (with the session's cookie
// when s is not nil, and more cookies in extra).
func (e *testEnv) pkPost(t testing.TB, p port, s *sess, path, form, extra string) response {
	t.Helper()
	h := map[string]string{}
	cookie := extra
	if s != nil {
		cookie = strings.TrimPrefix(cookie+"; "+s.cookie(), "; ")
	}
	if cookie != "" {
		h["Cookie"] = cookie
	}
	return e.do(t, request{port: p, method: http.MethodPost, path: path, body: form, ctype: "application/x-www-form-urlencoded", header: h, vhost: e.vhost(t, p)})
}

func (e *testEnv) pkGet(t testing.TB, s sess, path string) response {
	t.Helper()
	r := s.req(path)
	r.vhost = e.vhost(t, s.port)
	return e.do(t, r)
}

// pkLogin logs in with the password under the host name.
func (e *testEnv) pkLogin(t testing.TB, p port, user, pass, code string) sess {
	t.Helper()
	kv := []string{"user", user, "pass", pass}
	if code != "" {
		kv = append(kv, "tfa_token", code)
	}
	r := e.pkPost(t, p, nil, "/login", loginForm(kv...), "")
	if r.status != http.StatusFound {
		t.Fatalf("login of %s: status %d; body %.300s", user, r.status, r.body)
	}
	return sessionOf(t, p, r)
}

func challengeOf(t testing.TB, r response) string {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("begin: status %d; body %.300s", r.status, r.body)
	}
	ch, err := softkey.Challenge(r.body)
	if err != nil || ch == "" {
		t.Fatalf("begin: no challenge in %.300s (%v)", r.body, err)
	}
	return ch
}

type pkResult struct {
	Status        int    `json:"status"`
	Message       string `json:"message"`
	Redirect      string `json:"redirect"`
	SecurityToken string `json:"security_token"`
}

func resultOf(t testing.TB, r response) pkResult {
	t.Helper()
	var res pkResult
	if err := json.Unmarshal(r.body, &res); err != nil {
		t.Fatalf("finish: status %d, not JSON: %.300s", r.status, r.body)
	}
	return res
}

// register adds a passkey to s's user through the two-factor page's
// routes, proving it is the user with proof (form pairs: "pass", the
// password, or "tfa_token", a code).
func (e *testEnv) register(t testing.TB, s sess, name string, proof ...string) *softkey.Credential {
	t.Helper()
	r := e.pkPost(t, s.port, &s, s.token+"/passkeys/register/begin", loginForm(proof...), "")
	ch := challengeOf(t, r)
	handle, _ := softkey.UserID(r.body)
	cred, resp, err := softkey.New(pkHost, handle, softkey.Options{Origin: e.origin(t, s.port), Challenge: ch, UserVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	r = e.pkPost(t, s.port, &s, s.token+"/passkeys/register/finish", loginForm("name", name, "response", string(resp)), "")
	if res := resultOf(t, r); r.status != http.StatusOK || res.Status != 1 || !strings.Contains(res.Redirect, "passkey=added") {
		t.Fatalf("register: %d %+v", r.status, res)
	}
	return cred
}

// assert answers s's code page with cred (changed by change) and returns
// the finish step's answer.
func (e *testEnv) assert(t testing.TB, s sess, cred *softkey.Credential, change func(*softkey.Options)) response {
	t.Helper()
	ch := challengeOf(t, e.pkPost(t, s.port, &s, s.token+"/passkeys/login/begin", "", ""))
	o := softkey.Options{Origin: e.origin(t, s.port), Challenge: ch, UserVerified: true}
	if change != nil {
		change(&o)
	}
	resp, err := cred.Assert(o)
	if err != nil {
		t.Fatal(err)
	}
	return e.pkPost(t, s.port, &s, s.token+"/passkeys/login/finish", loginForm("response", string(resp)), "")
}

func (e *testEnv) sessionMethod(t testing.TB, s sess) (string, bool) {
	t.Helper()
	ss, err := e.storedSession(t, s)
	if err != nil {
		t.Fatal(err)
	}
	return ss.Method, ss.TFAVerified
}

func auditLines(t testing.TB, e *testEnv, method string) []string {
	t.Helper()
	e.d.Data.Logs.Flush()
	b, _ := os.ReadFile(filepath.Join(e.dir, "logs", logs.AuditLog))
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, `"method":"`+method+`"`) {
			out = append(out, l)
		}
	}
	return out
}

func TestPasskeySecondFactor(t *testing.T) {
	e := startPasskeys(t)
	bob := e.pkLogin(t, p2083, "bob", bobPass, "")
	page := e.pkGet(t, bob, bob.token+"/twofactor/")
	for _, want := range []string{"Passkeys and security keys", `data-passkey="register"`, `data-proof="passkey-add-pass"`, `id="passkey-add-pass" name="pass" type="password"`, "<noscript>", `src="/static/passkey.js`} {
		if !strings.Contains(string(page.body), want) {
			t.Fatalf("two-factor page lacks %q", want)
		}
	}
	if strings.Contains(string(page.body), "<script>") || strings.Contains(string(page.body), " onclick=") {
		t.Fatal("inline script on the two-factor page")
	}
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Fatalf("CSP %q", csp)
	}
	cred := e.register(t, bob, "Phone", "pass", bobPass)
	page = e.pkGet(t, bob, bob.token+"/twofactor/?passkey=added")
	for _, want := range []string{"Phone", "Chromium virtual authenticator", "The passkey was added."} {
		if !strings.Contains(string(page.body), want) {
			t.Fatalf("two-factor page lacks %q after adding", want)
		}
	}

	// A new login needs the second factor: the code page offers the
	// passkey (bob has no TOTP, so no code form).
	s := e.pkLogin(t, p2083, "bob", bobPass, "")
	r := e.pkGet(t, s, s.token+"/")
	if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), `data-passkey="login"`) || strings.Contains(string(r.body), `name="tfatoken"`) {
		t.Fatalf("code page: %d %.600s", r.status, r.body)
	}
	// The session reaches nothing else meanwhile, API included.
	if r := e.do(t, request{port: p2083, path: s.token + "/execute/Variables/get_user_information", header: map[string]string{"Cookie": s.cookie()}}); r.status != http.StatusUnauthorized {
		t.Fatalf("API under a pending session: %d", r.status)
	}
	// Another session cannot finish this one's ceremony.
	other := e.pkLogin(t, p2083, "bob", bobPass, "")
	ch := challengeOf(t, e.pkPost(t, p2083, &s, s.token+"/passkeys/login/begin", "", ""))
	resp, _ := cred.Assert(softkey.Options{Origin: e.origin(t, p2083), Challenge: ch, UserVerified: true})
	if r := e.pkPost(t, p2083, &other, other.token+"/passkeys/login/finish", loginForm("response", string(resp)), ""); r.status != http.StatusBadRequest {
		t.Fatalf("another session's ceremony: %d %s", r.status, r.body)
	}
	r = e.assert(t, s, cred, nil)
	if res := resultOf(t, r); r.status != http.StatusOK || res.Status != 1 || res.Redirect != s.token+"/" {
		t.Fatalf("passkey second factor: %d %+v", r.status, res)
	}
	if r := e.pkGet(t, s, s.token+"/"); r.status != http.StatusOK {
		t.Fatalf("home after the passkey: %d", r.status)
	}
	if m, v := e.sessionMethod(t, s); m != sessions.MethodPasswordWebAuthn || !v {
		t.Fatalf("session method %q verified %v", m, v)
	}
	// list_sessions says so.
	list := whmOK(t, e.do(t, request{port: p2087, path: "/json-api/list_sessions?api.version=1&user=bob", auth: e.authFor(t, "root")}))
	if !strings.Contains(mustJSON(list), `"method":"password+webauthn"`) {
		t.Fatalf("list_sessions: %s", mustJSON(list))
	}
	if len(auditLines(t, e, "webauthn")) == 0 {
		t.Fatal("no webauthn decision in the audit stream")
	}
	stored, _ := e.d.Data.Store.ListPasskeys(context.Background(), "bob")
	if len(stored) != 1 || stored[0].SignCount != cred.SignCount || stored[0].LastUsed.IsZero() {
		t.Fatalf("stored passkey after use: %+v", stored)
	}
}

func TestPasskeyRefusals(t *testing.T) {
	e := startPasskeys(t)
	bob := e.pkLogin(t, p2083, "bob", bobPass, "")
	cred := e.register(t, bob, "Phone", "pass", bobPass)
	tests := []struct {
		name   string
		change func(*softkey.Options)
		clone  bool
		want   int
	}{
		{"wrong origin", func(o *softkey.Options) { o.Origin = "https://evil.test:2083" }, false, http.StatusUnauthorized},
		{"wrong relying party", func(o *softkey.Options) { o.RPID = "evil.test" }, false, http.StatusUnauthorized},
		{"wrong challenge", func(o *softkey.Options) { o.Challenge = "AAAA" }, false, http.StatusUnauthorized},
		{"cloned counter", nil, true, http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := e.pkLogin(t, p2083, "bob", bobPass, "")
			c := cred
			if tc.clone {
				cp := *cred
				cp.SignCount = 0 // a copy taken before its last uses
				c = &cp
				if r := e.assert(t, s, cred, nil); r.status != http.StatusOK {
					t.Fatalf("the original: %d %s", r.status, r.body)
				}
				s = e.pkLogin(t, p2083, "bob", bobPass, "")
			}
			r := e.assert(t, s, c, tc.change)
			if r.status != tc.want || resultOf(t, r).Status != 0 {
				t.Fatalf("status %d %s, want %d", r.status, r.body, tc.want)
			}
			if _, v := e.sessionMethod(t, s); v {
				t.Fatal("the session was verified")
			}
		})
	}
	// The clone marked the passkey: it is refused from now on, and the
	// page says so.
	stored, _ := e.d.Data.Store.ListPasskeys(context.Background(), "bob")
	if len(stored) != 1 || !stored[0].CloneWarning {
		t.Fatalf("after the clone: %+v", stored)
	}
	if !strings.Contains(e.log.String(), "sign counter did not move forward") {
		t.Fatal("the clone was not logged")
	}
	// A page on another host name (the server's address by IP) offers no
	// passkey, and its routes refuse.
	s := e.login(t, p2083, "bob", bobPass)
	r := e.do(t, request{port: p2083, method: http.MethodPost, path: s.token + "/passkeys/register/begin", header: map[string]string{"Cookie": s.cookie()}})
	if r.status != http.StatusBadRequest {
		t.Fatalf("begin on another origin: %d %s", r.status, r.body)
	}
	// Failures were counted for the regulator and audited.
	if n := len(auditLines(t, e, "webauthn")); n < 4 {
		t.Fatalf("%d webauthn decisions audited", n)
	}
}

func TestPasskeyPasswordless(t *testing.T) {
	e := startPasskeys(t)
	bob := e.pkLogin(t, p2083, "bob", bobPass, "")
	cred := e.register(t, bob, "Phone", "pass", bobPass)
	login := func(c *softkey.Credential, uv bool) response {
		t.Helper()
		r := e.pkPost(t, p2083, nil, "/login/passkey/begin", "", "")
		ch := challengeOf(t, r)
		ck := cookieNamed(r, "cpauth_passkey_cpaneld")
		if ck == nil || !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode {
			t.Fatalf("attempt cookie %+v", ck)
		}
		resp, _ := c.Assert(softkey.Options{Origin: e.origin(t, p2083), Challenge: ch, UserVerified: uv})
		return e.pkPost(t, p2083, nil, "/login/passkey/finish", loginForm("response", string(resp), "goto_uri", "/twofactor/"), ck.Name+"="+ck.Value)
	}
	if r := login(cred, true); r.status != http.StatusUnauthorized {
		t.Fatalf("passwordless before it is enabled: %d %s", r.status, r.body)
	}
	r := e.pkPost(t, p2083, &bob, bob.token+"/passkeys/passwordless", loginForm("passwordless", "1", "pass", bobPass), "")
	if r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), "passkey=passwordless_on") {
		t.Fatalf("enable passwordless: %d %s", r.status, r.header.Get("Location"))
	}
	if r := login(cred, false); r.status != http.StatusUnauthorized {
		t.Fatalf("passwordless without user verification: %d %s", r.status, r.body)
	}
	r = login(cred, true)
	res := resultOf(t, r)
	if r.status != http.StatusOK || res.Status != 1 || !strings.HasSuffix(res.Redirect, "/twofactor/") {
		t.Fatalf("passwordless: %d %+v", r.status, res)
	}
	s := sess{port: p2083, name: "cpsession", token: res.SecurityToken}
	if c := cookieNamed(r, "cpsession"); c != nil {
		s.value = c.Value
	}
	if m, v := e.sessionMethod(t, s); m != sessions.MethodWebAuthn || !v {
		t.Fatalf("session method %q verified %v", m, v)
	}
	if r := e.pkGet(t, s, s.token+"/"); r.status != http.StatusOK {
		t.Fatalf("home: %d", r.status)
	}
	e.d.Data.Logs.Flush()
	b, _ := os.ReadFile(filepath.Join(e.dir, "logs", logs.SessionLog))
	if !strings.Contains(string(b), "method=webauthn") {
		t.Fatalf("session_log: %s", b)
	}
	// Without the attempt cookie, or from another site: refused.
	if r := e.pkPost(t, p2083, nil, "/login/passkey/finish", "response=x", ""); r.status != http.StatusBadRequest {
		t.Fatalf("finish without an attempt: %d", r.status)
	}
	r = e.do(t, request{port: p2083, method: http.MethodPost, path: "/login/passkey/begin", vhost: e.vhost(t, p2083),
		header: map[string]string{"Origin": "https://evil.test", "Sec-Fetch-Site": "cross-site"}})
	if r.status != http.StatusForbidden {
		t.Fatalf("begin from another site: %d", r.status)
	}
	// The login page offers it on the host name only.
	page := e.do(t, request{port: p2083, path: "/", vhost: e.vhost(t, p2083)})
	if !strings.Contains(string(page.body), "Sign in with a passkey") {
		t.Fatal("the login page offers no passkey")
	}
	if page := e.do(t, request{port: p2083, path: "/"}); strings.Contains(string(page.body), "Sign in with a passkey") {
		t.Fatal("the login page offers passkeys on an address they cannot work on")
	}
	if page := e.do(t, request{port: p2082, path: "/", vhost: e.vhost(t, p2082)}); strings.Contains(string(page.body), "Sign in with a passkey") {
		t.Fatal("the login page offers passkeys on plain HTTP")
	}
}

func TestPasskeyManage(t *testing.T) {
	e := startPasskeys(t)
	bob := e.pkLogin(t, p2083, "bob", bobPass, "")
	e.register(t, bob, "Phone", "pass", bobPass)
	e.register(t, bob, "Laptop", "pass", bobPass)
	list, _ := e.d.Data.Store.ListPasskeys(context.Background(), "bob")
	id := func(i int) string { return b64url(list[i].ID) }
	back := func(r response) string {
		t.Helper()
		if r.status != http.StatusSeeOther {
			t.Fatalf("status %d %s", r.status, r.body)
		}
		loc := r.header.Get("Location")
		return loc[strings.Index(loc, "passkey=")+len("passkey="):]
	}
	for _, tc := range []struct{ name, form, want string }{
		{"rename", "id=" + id(0) + "&name=Old+phone", "renamed"},
		{"taken name", "id=" + id(0) + "&name=Laptop", "name_taken"},
		{"bad name", "id=" + id(0) + "&name=%00", "bad_name"},
		{"unknown id", "id=AAAA&name=X", "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := back(e.pkPost(t, p2083, &bob, bob.token+"/passkeys/rename", tc.form, "")); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	// Carol cannot rename or remove bob's passkeys.
	carol := e.pkLogin(t, p2083, "carol", carolPass, "")
	if got := back(e.pkPost(t, p2083, &carol, carol.token+"/passkeys/rename", "id="+id(0)+"&name=Mine", "")); got != "not_found" {
		t.Fatalf("carol renames bob's: %q", got)
	}
	if got := back(e.pkPost(t, p2083, &carol, carol.token+"/passkeys/remove", "id="+id(0)+"&pass="+carolPass, "")); got != "not_found" {
		t.Fatalf("carol removes bob's: %q", got)
	}
	// Removal needs a confirmation.
	for _, form := range []string{"id=" + id(0), "id=" + id(0) + "&pass=wrong", "id=" + id(0) + "&tfa_token=123456"} {
		if got := back(e.pkPost(t, p2083, &bob, bob.token+"/passkeys/remove", form, "")); got != "remove_denied" {
			t.Fatalf("remove with %q: %q", form, got)
		}
	}
	if got := back(e.pkPost(t, p2083, &bob, bob.token+"/passkeys/remove", "id="+id(0)+"&pass="+bobPass, "")); got != "removed" {
		t.Fatalf("remove with the password: %q", got)
	}
	if left, _ := e.d.Data.Store.ListPasskeys(context.Background(), "bob"); len(left) != 1 || left[0].Name != "Laptop" {
		t.Fatalf("left: %+v", left)
	}
	// Cross-site forms are refused.
	r := e.do(t, request{port: p2083, method: http.MethodPost, path: bob.token + "/passkeys/remove", body: "id=" + id(1) + "&pass=" + bobPass,
		ctype: "application/x-www-form-urlencoded", vhost: e.vhost(t, p2083),
		header: map[string]string{"Cookie": bob.cookie(), "Sec-Fetch-Site": "cross-site", "Origin": "https://evil.test"}})
	if r.status != http.StatusForbidden {
		t.Fatalf("cross-site removal: %d", r.status)
	}
}

func b64url(b []byte) string {
	const enc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var out []byte
	for i := 0; i < len(b); i += 3 {
		var n uint32
		k := min(3, len(b)-i)
		for j := 0; j < 3; j++ {
			n <<= 8
			if j < k {
				n |= uint32(b[i+j])
			}
		}
		for j := 0; j < k+1; j++ {
			out = append(out, enc[(n>>(18-6*j))&63])
		}
	}
	return string(out)
}

func TestPasskeyPolicy(t *testing.T) {
	e := startPasskeys(t)
	root := e.authFor(t, "root")
	// Root's policy waits for root's first passkey.
	r := e.do(t, request{port: p2087, path: "/json-api/set_tweaksetting?api.version=1&key=" + settings.RequirePasskeyRoot + "&value=1", auth: root})
	if msg := whmFailed(t, r); !strings.Contains(msg, "no passkey") {
		t.Fatalf("policy without a passkey: %q", msg)
	}
	f := e.enroll(t, "root")
	s := e.pkLogin(t, p2087, "root", e.rootPass, e.code(t, f))
	cred := e.register(t, s, "YubiKey", "pass", e.rootPass)
	whmOK(t, e.do(t, request{port: p2087, path: "/json-api/set_tweaksetting?api.version=1&key=" + settings.RequirePasskeyRoot + "&value=1", auth: root}))

	// A right code at login no longer verifies the session.
	s = e.pkLogin(t, p2087, "root", e.rootPass, e.code(t, f))
	if _, v := e.sessionMethod(t, s); v {
		t.Fatal("a code verified root's session under the policy")
	}
	r = e.pkGet(t, s, s.token+"/")
	if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "a security code is not enough") || strings.Contains(string(r.body), `name="tfatoken"`) {
		t.Fatalf("code page under the policy: %d %.500s", r.status, r.body)
	}
	// Nor on the code page.
	r = e.pkPost(t, p2087, &s, s.token+"/", "tfatoken="+e.code(t, f), "")
	if r.status != http.StatusUnauthorized {
		t.Fatalf("a code on the code page: %d", r.status)
	}
	if _, v := e.sessionMethod(t, s); v {
		t.Fatal("a code verified root's session on the code page")
	}
	// login_only says a passkey is needed.
	r = e.pkPost(t, p2087, nil, "/login/?login_only=1", loginForm("user", "root", "pass", e.rootPass, "tfa_token", e.code(t, f)), "")
	if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "passkey_required") {
		t.Fatalf("login_only under the policy: %d %s", r.status, r.body)
	}
	// The passkey does.
	if r := e.assert(t, s, cred, nil); r.status != http.StatusOK {
		t.Fatalf("passkey under the policy: %d %s", r.status, r.body)
	}
	// Root's last passkey stays.
	list, _ := e.d.Data.Store.ListPasskeys(context.Background(), "root")
	r = e.pkPost(t, p2087, &s, s.token+"/passkeys/remove", "id="+b64url(list[0].ID)+"&pass="+e.rootPass, "")
	if loc := r.header.Get("Location"); !strings.Contains(loc, "passkey=last_required") {
		t.Fatalf("removing root's last passkey: %d %s", r.status, loc)
	}
	// The policy does not reach cPanel or other users.
	if got, _ := e.d.Data.Store.GetSetting(context.Background(), settings.RequirePasskeyResellers); got == "1" {
		t.Fatal("resellers' policy on")
	}
	e.pkLogin(t, p2087, "res", resPass, "")

	// Resellers: one without a passkey is told so at login.
	e.setSetting(t, settings.RequirePasskeyResellers, "1")
	r = e.pkPost(t, p2087, nil, "/login", loginForm("user", "res", "pass", resPass), "")
	if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "it has none") {
		t.Fatalf("reseller without a passkey: %d %.300s", r.status, r.body)
	}
	// On cPanel the reseller logs in as before and may add one there.
	resC := e.pkLogin(t, p2083, "res", resPass, "")
	if r := e.pkGet(t, resC, resC.token+"/"); r.status != http.StatusOK {
		t.Fatalf("reseller on cPanel: %d", r.status)
	}
}

// TestPasskeyCluster: a ceremony begun on one node finishes on the other
// (challenges live in the shared store), and one response sent to both
// nodes at once passes on at most one.
func TestPasskeyCluster(t *testing.T) {
	db := newClusterDB(t)
	key := filepath.Join(t.TempDir(), "cluster.key")
	node := func(c *config.Config) {
		c.Store, c.PostgresDSN, c.KeyFile, c.Hostname = "postgres", db.dsn, key, pkHost
	}
	a := startFixturesWith(t, node)
	// B listens on another loopback address with A's port numbers, as
	// nodes behind one name do: the origins are the same on both.
	portOf := func(svc core.Service, tls bool) int {
		_, p, _ := net.SplitHostPort(a.d.Addr(svc, tls))
		n, _ := strconv.Atoi(p)
		return n
	}
	b := startWith(t, func(c *config.Config) {
		node(c)
		c.Listen = "127.0.0.2"
		c.PortCPanel, c.PortCPanelTLS = portOf(core.ServiceCPanel, false), portOf(core.ServiceCPanel, true)
		c.PortWHM, c.PortWHMTLS = portOf(core.ServiceWHM, false), portOf(core.ServiceWHM, true)
		c.PortWebmail, c.PortWebmailTLS = portOf(core.ServiceWebmail, false), portOf(core.ServiceWebmail, true)
	})
	onA := a.pkLogin(t, p2083, "bob", bobPass, "")
	// Begun on A, finished on B (the session cookie is the cluster's).
	r := a.pkPost(t, p2083, &onA, onA.token+"/passkeys/register/begin", loginForm("pass", bobPass), "")
	ch := challengeOf(t, r)
	handle, _ := softkey.UserID(r.body)
	cred, resp, err := softkey.New(pkHost, handle, softkey.Options{Origin: a.origin(t, p2083), Challenge: ch, UserVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	onB := onA
	r = b.pkPost(t, p2083, &onB, onB.token+"/passkeys/register/finish", loginForm("name", "Phone", "response", string(resp)), "")
	if res := resultOf(t, r); res.Status != 1 {
		t.Fatalf("registration finished on the other node: %d %s", r.status, r.body)
	}
	// A's cache of bob's passkeys (read when the ceremony began there)
	// hears of the new one through the change feed.
	if took, ok := within(5*time.Second, func() bool {
		l, err := a.d.Data.Store.ListPasskeys(context.Background(), "bob")
		return err == nil && len(l) == 1
	}); !ok {
		t.Fatalf("node A does not see the passkey after %v", took)
	}
	// Assertions: each begun on one node and raced on both.
	for round := range 3 {
		s := a.pkLogin(t, p2083, "bob", bobPass, "")
		ch := challengeOf(t, a.pkPost(t, p2083, &s, s.token+"/passkeys/login/begin", "", ""))
		resp, err := cred.Assert(softkey.Options{Origin: a.origin(t, p2083), Challenge: ch, UserVerified: true})
		if err != nil {
			t.Fatal(err)
		}
		form := loginForm("response", string(resp))
		nodes, hosts := []*testEnv{a, b}, []string{a.vhost(t, p2083), b.vhost(t, p2083)}
		statuses := make([]int, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range nodes {
			wg.Go(func() {
				<-start
				r, err := nodes[i].try(request{port: p2083, method: http.MethodPost, path: s.token + "/passkeys/login/finish", body: form,
					ctype: "application/x-www-form-urlencoded", header: map[string]string{"Cookie": s.cookie()}, vhost: hosts[i]})
				if err != nil {
					t.Error(err)
				}
				statuses[i] = r.status
			})
		}
		close(start)
		wg.Wait()
		passed := 0
		for _, st := range statuses {
			switch st {
			case http.StatusOK:
				passed++
			case http.StatusBadRequest: // the ceremony was taken by the other node
			default:
				t.Errorf("round %d: status %d", round, st)
			}
		}
		if passed != 1 {
			t.Fatalf("round %d: the response passed on %d nodes (%v), want 1", round, passed, statuses)
		}
	}
}

// TestPasskeyRemoveConfirmedByPasskey: the two-factor page's removal
// confirmed by a passkey assertion (the confirm ceremony), on Webmail.
func TestPasskeyRemoveConfirmedByPasskey(t *testing.T) {
	e := startPasskeys(t)
	s := e.pkLogin(t, p2096, "info@bob.test", infoPass, "")
	cred := e.register(t, s, "Phone", "pass", infoPass)
	e.register(t, s, "Key", "pass", infoPass)
	list, _ := e.d.Data.Store.ListPasskeys(context.Background(), "info@bob.test")
	if len(list) != 2 || list[0].Account != "bob" {
		t.Fatalf("webmail user's passkeys: %+v", list)
	}
	confirm := func(c *softkey.Credential, change func(*softkey.Options)) string {
		t.Helper()
		ch := challengeOf(t, e.pkPost(t, p2096, &s, s.token+"/passkeys/confirm/begin", "", ""))
		o := softkey.Options{Origin: e.origin(t, p2096), Challenge: ch, UserVerified: true}
		if change != nil {
			change(&o)
		}
		resp, err := c.Assert(o)
		if err != nil {
			t.Fatal(err)
		}
		r := e.pkPost(t, p2096, &s, s.token+"/passkeys/remove", loginForm("id", b64url(list[1].ID), "assertion", string(resp)), "")
		loc := r.header.Get("Location")
		return loc[strings.Index(loc, "passkey=")+len("passkey="):]
	}
	if got := confirm(cred, func(o *softkey.Options) { o.Origin = "https://evil.test" }); got != "remove_denied" {
		t.Fatalf("a confirmation from another origin: %q", got)
	}
	// A verified session has no second-factor ceremony: that route is
	// the code page's only.
	if r := e.pkPost(t, p2096, &s, s.token+"/passkeys/login/begin", "", ""); r.status != http.StatusNotFound {
		t.Fatalf("login/begin for a verified session: %d", r.status)
	}
	if got := confirm(cred, nil); got != "removed" {
		t.Fatalf("removal confirmed by a passkey: %q", got)
	}
	if left, _ := e.d.Data.Store.ListPasskeys(context.Background(), "info@bob.test"); len(left) != 1 || left[0].Name != "Phone" {
		t.Fatalf("left: %+v", left)
	}
	// Deleting the mailbox deletes its passkeys.
	e.uapi("bob", "Email", "delete_pop", "email", "info@bob.test")
	if left, _ := e.d.Data.Store.ListPasskeys(context.Background(), "info@bob.test"); len(left) != 0 {
		t.Fatalf("after the mailbox's deletion: %+v", left)
	}
}

// TestPasskeyLocalhost: browsers let plain-HTTP pages of localhost use
// WebAuthn, so with the host name localhost the plain ports offer
// passkeys too; a ceremony begun there takes a plain-HTTP origin.
func TestPasskeyLocalhost(t *testing.T) {
	e := startFixturesWith(t, func(c *config.Config) { c.Hostname = "localhost" })
	_, num, _ := net.SplitHostPort(e.d.Addr(core.ServiceCPanel, false))
	host := "localhost:" + num
	page := e.do(t, request{port: p2082, path: "/", vhost: host})
	if !strings.Contains(string(page.body), "Sign in with a passkey") {
		t.Fatal("localhost's plain-HTTP login page offers no passkey")
	}
	r := e.do(t, request{port: p2082, method: http.MethodPost, path: "/login", body: loginForm("user", "bob", "pass", bobPass),
		ctype: "application/x-www-form-urlencoded", vhost: host})
	s := sessionOf(t, p2082, r)
	r = e.do(t, request{port: p2082, method: http.MethodPost, path: s.token + "/passkeys/register/begin", vhost: host,
		body: loginForm("pass", bobPass), ctype: "application/x-www-form-urlencoded", header: map[string]string{"Cookie": s.cookie()}})
	ch := challengeOf(t, r)
	handle, _ := softkey.UserID(r.body)
	_, resp, err := softkey.New("localhost", handle, softkey.Options{Origin: "http://" + host, Challenge: ch, UserVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	r = e.do(t, request{port: p2082, method: http.MethodPost, path: s.token + "/passkeys/register/finish", vhost: host,
		body: loginForm("name", "Laptop", "response", string(resp)), ctype: "application/x-www-form-urlencoded", header: map[string]string{"Cookie": s.cookie()}})
	if res := resultOf(t, r); res.Status != 1 {
		t.Fatalf("registration on localhost's plain port: %d %s", r.status, r.body)
	}
}
