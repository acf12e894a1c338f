package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/totp"
)

// Authorization: no credential reaches more than it was given (D24-D26).
// Each test here reproduces a path by which a narrow credential once got
// more than it was given.

// narrowRoot is a root WHM token as an attacker would hold it: narrow ACLs,
// an address list holding the test client's address, an expiry an hour
// away.
func (e *testEnv) narrowRoot(t testing.TB, acls ...string) string {
	t.Helper()
	q := "token_name=narrow" + strconv.Itoa(len(acls)) + "&whitelist_ip=127.0.0.1&expires_at=" + strconv.FormatInt(e.clock.Now().Add(time.Hour).Unix(), 10)
	for _, a := range acls {
		q += "&acl=" + a
	}
	return e.createTokenHTTP(t, e.authFor(t, "root"), q)
}

func (e *testEnv) whmAs(t testing.TB, authz, fn, query string) response {
	t.Helper()
	return e.do(t, request{port: p2087, path: "/json-api/" + fn + "?api.version=1&" + query, auth: authz})
}

// TestAccessHashFromNarrowToken: a token with any limit, or without "all",
// neither makes nor reads an access hash, and root's hash survives the
// attempt (D24).
func TestAccessHashFromNarrowToken(t *testing.T) {
	e := startWithFixtures(t)
	before := e.accessHash(t, "root")
	rootPass := e.authFor(t, "root")
	soon := strconv.FormatInt(e.clock.Now().Add(time.Hour).Unix(), 10)
	cases := []struct {
		name, query string
		want        string // in the refusal
	}{
		{"narrow ACLs, address list and expiry", "token_name=n1&acl=list-accts&whitelist_ip=127.0.0.1&expires_at=" + soon, "does not hold “all”"},
		{"all, with an address list", "token_name=n2&acl=all&whitelist_ip=127.0.0.1", "is limited to an address list"},
		{"all, with an expiry", "token_name=n3&acl=all&expires_at=" + soon, "expires"},
		{"all, requiring OTP", "token_name=n4&acl=all&require_otp=1", "requires a two-factor code"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := e.createTokenHTTP(t, rootPass, tc.query)
			name := strings.TrimPrefix(strings.SplitN(tc.query, "&", 2)[0], "token_name=")
			for _, q := range []string{"generate=1", "", "user=res"} {
				reason := whmFailed(t, e.whmAs(t, whmTok("root", tok), "accesshash", q))
				if !strings.Contains(reason, tc.want) || !strings.Contains(reason, "“"+name+"”") {
					t.Errorf("accesshash %s: reason %q, want it to name the token and say %q", q, reason, tc.want)
				}
			}
		})
	}
	if after := e.accessHash(t, "root"); after != before {
		t.Fatal("root's access hash was replaced by a refused call")
	}
	// Root's hash still works, and a token without limits still reaches it.
	whmOK(t, e.whmAs(t, e.authFor(t, "root-hash"), "version", ""))
	full := e.createTokenHTTP(t, rootPass, "token_name=full")
	m := whmOK(t, e.whmAs(t, whmTok("root", full), "accesshash", ""))
	if got := str(dig(m, "data", "accesshash")); strings.ReplaceAll(got, "\n", "") != before {
		t.Errorf("a token without limits read %d characters, not root's hash", len(got))
	}

	// A reseller's token never holds "all": not even its full token.
	resNarrow := e.mkToken(t, store.TokenWHM, "res", "res-narrow", "acl", "list-accts")
	resFull := e.mkToken(t, store.TokenWHM, "res", "res-full")
	resBefore := e.accessHash(t, "res")
	for _, tok := range []string{resNarrow, resFull} {
		whmFailed(t, e.whmAs(t, whmTok("res", tok), "accesshash", "generate=1"))
	}
	if e.accessHash(t, "res") != resBefore {
		t.Fatal("res's access hash was replaced by a refused call")
	}
	// The narrow reseller token cannot change the reseller's password
	// either: the hash it could once mint could.
	whmFailed(t, e.whmAs(t, whmTok("res", resNarrow), "passwd", "user=res&password=Changed-Pass-9"))
	if !e.checkPassword("res", resPass, 0) {
		t.Fatal("res's password changed")
	}
}

// TestTwoFactorFromNarrowToken: a narrowed token cannot set or remove
// two-factor authentication (D24).
func TestTwoFactorFromNarrowToken(t *testing.T) {
	e := startWithFixtures(t)
	tok := e.narrowRoot(t, "list-accts")
	auth := whmTok("root", tok)
	gen := whmOK(t, e.whmAs(t, auth, "twofactorauth_generate_tfa_config", ""))
	secret := str(dig(gen, "data", "secret"))
	code, err := totp.Code(secret, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	reason := whmFailed(t, e.whmAs(t, auth, "twofactorauth_set_tfa_config", "secret="+secret+"&tfa_token="+code))
	if !strings.Contains(reason, "“narrow1”") {
		t.Errorf("set_tfa_config reason %q does not name the token", reason)
	}
	if on, err := e.d.Data.Env.TwoFactor.Configured(context.Background(), "root"); err != nil || on {
		t.Fatalf("root has two-factor authentication after a refused call (%v)", err)
	}
	// root's next login is a plain one: no attacker's authenticator.
	r := e.postLogin(t, p2087, "/login/?login_only=1", loginForm("user", "root", "pass", e.pass["root"]), nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"status":1`) {
		t.Fatalf("root's login: %d %s", r.status, r.body)
	}
	// Removing, and the policy, are refused too.
	e.enroll(t, "root")
	for _, fn := range []string{"twofactorauth_remove_user_config?user=root", "twofactorauth_disable_policy"} {
		path, q, _ := strings.Cut(fn, "?")
		r := e.whmAs(t, auth, path, q)
		if r.status == http.StatusOK && strings.Contains(string(r.body), `"result":1`) && !strings.Contains(string(r.body), `"failed":{"root"`) {
			t.Errorf("%s through a narrowed token: %s", path, r.body)
		}
	}
	if on, _ := e.d.Data.Env.TwoFactor.Configured(context.Background(), "root"); !on {
		t.Fatal("root's two-factor authentication was removed through a narrowed token")
	}
}

// TestImpersonationFromNarrowToken: acting inside a cPanel account takes a
// credential that is not narrowed (D25), on every path in.
func TestImpersonationFromNarrowToken(t *testing.T) {
	e := startWithFixtures(t)
	tok := e.narrowRoot(t, "list-accts")
	auth := whmTok("root", tok)

	reason := whmFailed(t, e.whmAs(t, auth, "uapi_cpanel", "cpanel.user=bob&cpanel.module=Tokens&cpanel.function=create_full_access&name=stolen"))
	if !strings.Contains(reason, "“narrow1” does not carry every privilege") {
		t.Errorf("uapi_cpanel through a narrowed token: %q", reason)
	}
	if _, err := e.d.Data.Store.GetToken(context.Background(), store.TokenCPanel, "bob", "stolen"); err == nil {
		t.Fatal("a cPanel token of bob was made through a narrowed root token")
	}
	r := e.do(t, request{port: p2087, path: "/json-api/cpanel?cpanel_jsonapi_user=bob&cpanel_jsonapi_apiversion=3&cpanel_jsonapi_module=Email&cpanel_jsonapi_func=add_pop&email=evil&password=Evil-Pass-123", auth: auth})
	if strings.Contains(string(r.body), `"status":1`) {
		t.Fatalf("/json-api/cpanel through a narrowed token: %s", r.body)
	}
	if !strings.Contains(string(r.body), "does not carry every privilege") {
		t.Errorf("the refusal does not say why: %s", r.body)
	}
	if _, err := e.d.Data.Store.GetMailbox(context.Background(), "evil", "bob.test"); err == nil {
		t.Fatal("a mailbox was added to bob through a narrowed root token")
	}
	// API 2 through WHM as well.
	r = e.do(t, request{port: p2087, path: "/json-api/cpanel?cpanel_jsonapi_user=bob&cpanel_jsonapi_apiversion=2&cpanel_jsonapi_module=Email&cpanel_jsonapi_func=listpops", auth: auth})
	if !strings.Contains(string(r.body), "does not carry every privilege") {
		t.Errorf("API 2 through a narrowed token: %s", r.body)
	}

	// A reseller: its narrowed token cannot enter carol; its full one can.
	narrow := e.mkToken(t, store.TokenWHM, "res", "res-narrow", "acl", "list-accts")
	full := e.mkToken(t, store.TokenWHM, "res", "res-full")
	q := "cpanel.user=carol&cpanel.module=Email&cpanel.function=list_pops"
	whmFailed(t, e.whmAs(t, whmTok("res", narrow), "uapi_cpanel", q))
	m := whmOK(t, e.whmAs(t, whmTok("res", full), "uapi_cpanel", q))
	if str(dig(m, "data", "uapi", "status")) != "1" {
		t.Errorf("full reseller token refused in carol: %s", m)
	}
	// Nor can the narrowed token make a session (for itself or another).
	for _, user := range []string{"res", "carol"} {
		whmFailed(t, e.whmAs(t, whmTok("res", narrow), "create_user_session", "user="+user+"&service=cpaneld"))
	}
}

// TestTwoFactorReplaceNeedsCode: replacing a two-factor configuration
// takes a current code of it (D26), on UAPI, WHM API 1 and the pages.
func TestTwoFactorReplaceNeedsCode(t *testing.T) {
	e := startWithFixtures(t)
	bob := e.enroll(t, "bob")
	auth := e.authFor(t, "bob")
	gen := uapiOK(t, e.do(t, request{port: p2083, path: "/execute/TwoFactorAuth/generate_user_configuration", auth: auth}))
	evil := tfa{user: "bob", secret: str(dig(gen, "data", "secret"))}
	set := func(extra string) response {
		return e.do(t, request{port: p2083, path: "/execute/TwoFactorAuth/set_user_configuration", auth: auth,
			body: "secret=" + evil.secret + "&tfa_token=" + e.code(t, evil) + extra})
	}
	msg := uapiError(t, set(""), http.StatusOK)
	if !strings.Contains(msg, "current_tfa_token") {
		t.Errorf("replacing without a code: %q", msg)
	}
	// A wrong current code is refused, and a recovery code left whole.
	uapiError(t, set("&current_tfa_token=000000"), http.StatusOK)
	stillOld := func() {
		t.Helper()
		tf, err := e.d.Data.Store.GetTwoFactor(context.Background(), "bob")
		if err != nil {
			t.Fatal(err)
		}
		sec, err := auth0(e, tf)
		if err != nil || sec != bob.secret {
			t.Fatal("bob's authenticator was replaced without a code of it")
		}
	}
	stillOld()
	// With a current code of the old one: replaced.
	uapiOK(t, set("&current_tfa_token="+e.code(t, bob)))
	tf, _ := e.d.Data.Store.GetTwoFactor(context.Background(), "bob")
	if sec, _ := auth0(e, tf); sec != evil.secret {
		t.Fatal("replacing with a current code did not take")
	}

	// WHM: root by password replacing its own needs its code; root acting
	// on another user does not; a reseller on its account needs the code.
	rootTFA := e.enroll(t, "root")
	gen2 := whmOK(t, e.whmAs(t, e.authFor(t, "root"), "twofactorauth_generate_tfa_config", ""))
	next := tfa{user: "root", secret: str(dig(gen2, "data", "secret"))}
	whmFailed(t, e.whmAs(t, e.authFor(t, "root"), "twofactorauth_set_tfa_config", "secret="+next.secret+"&tfa_token="+e.code(t, next)))
	whmOK(t, e.whmAs(t, e.authFor(t, "root"), "twofactorauth_set_tfa_config", "secret="+next.secret+"&tfa_token="+e.code(t, next)+"&current_tfa_token="+e.code(t, rootTFA)))
	e.enroll(t, "carol")
	genC := whmOK(t, e.whmAs(t, e.authFor(t, "root"), "twofactorauth_generate_tfa_config", "user=carol"))
	c2 := tfa{user: "carol", secret: str(dig(genC, "data", "secret"))}
	whmFailed(t, e.whmAs(t, e.authFor(t, "res"), "twofactorauth_set_tfa_config", "user=carol&secret="+c2.secret+"&tfa_token="+e.code(t, c2)))
	whmOK(t, e.whmAs(t, e.authFor(t, "root"), "twofactorauth_set_tfa_config", "user=carol&secret="+c2.secret+"&tfa_token="+e.code(t, c2)))
}

// auth0 opens a stored two-factor secret.
func auth0(e *testEnv, tf store.TwoFactor) (string, error) {
	return auth.OpenSecret(e.d.Data.Key, tf)
}

// TestArgumentLists: a repeated argument longer than what it can hold is
// refused with a reason, before any work per value; a request of more
// than api.MaxArgs arguments is refused before any function sees it.
func TestArgumentLists(t *testing.T) {
	e := startWithFixtures(t)
	rootPass := e.authFor(t, "root")
	body := func(key string, n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "%s=%s%d&", key, key[:1], i)
		}
		return b.String()
	}
	for _, tc := range []struct {
		fn, key string
		n       int
	}{
		{"api_token_create", "acl", 9000},
		{"api_token_revoke", "token_name", 5500},
		{"twofactorauth_remove_user_config", "user", 2000},
		{"create_cphulk_record", "ip", 2000},
	} {
		t.Run(tc.fn, func(t *testing.T) {
			b := body(tc.key, tc.n)
			if tc.fn == "api_token_create" {
				b += "token_name=many"
			}
			r := e.do(t, request{port: p2087, path: "/json-api/" + tc.fn + "?api.version=1&list_name=white", auth: rootPass, body: b, ctype: "application/x-www-form-urlencoded"})
			reason := whmFailed(t, r)
			if !strings.Contains(reason, fmt.Sprintf("“%s” argument was given %d times", tc.key, tc.n)) {
				t.Errorf("reason %.300q", reason)
			}
		})
	}
	t.Run("over api.MaxArgs", func(t *testing.T) {
		r := e.do(t, request{port: p2087, path: "/json-api/api_token_create?api.version=1&token_name=many", auth: rootPass, body: body("acl", 70000), ctype: "application/x-www-form-urlencoded"})
		if r.status != http.StatusBadRequest || !strings.Contains(str(dig(object(t, r), "metadata", "reason")), "too many arguments (more than 10000)") {
			t.Errorf("%d %.300s", r.status, r.body)
		}
	})
	r := e.do(t, request{port: p2087, path: "/json-api/setacls?api.version=1&reseller=res", auth: rootPass, body: body("acl-x", 5000), ctype: "application/x-www-form-urlencoded"})
	if reason := whmFailed(t, r); !strings.Contains(reason, "5000 “acl-<name>” arguments") {
		t.Errorf("setacls reason %.300q", reason)
	}
	r = e.do(t, request{port: p2087, path: "/json-api/listaccts?api.version=1&want=" + url.QueryEscape(strings.Repeat("user,", 5000)), auth: rootPass})
	if reason := whmFailed(t, r); !strings.Contains(reason, "“want”") {
		t.Errorf("listaccts reason %.300q", reason)
	}
}

// TestTwoFactorPageNoReplace: the two-factor page offers setup only while
// none is set up; a setup form posted after one was set up elsewhere is
// refused, not a replacement without a code (D26).
func TestTwoFactorPageNoReplace(t *testing.T) {
	e := startWithFixtures(t)
	s := e.login(t, p2083, "bob", bobPass)
	page := e.do(t, s.req(s.token+"/twofactor/"))
	setup := regexp.MustCompile(`name="setup" value="([^"]+)"`).FindSubmatch(page.body)
	secret := regexp.MustCompile(`id="tfa-secret">([A-Z2-7]+)<`).FindSubmatch(page.body)
	if setup == nil || secret == nil {
		t.Fatalf("no setup offer on the page: %.500s", page.body)
	}
	bob := e.enroll(t, "bob") // meanwhile, through the API
	// With the policy off the session is not sent to the code page: the
	// form reaches the function.
	e.setSetting(t, "SecurityPolicy::TwoFactorAuth", "0")
	form := tfa{user: "bob", secret: string(secret[1])}
	r := e.do(t, request{port: p2083, method: http.MethodPost, path: s.token + "/twofactor/enable", ctype: "application/x-www-form-urlencoded",
		body:   "setup=" + url.QueryEscape(string(setup[1])) + "&tfa_token=" + e.code(t, form),
		header: map[string]string{"Cookie": s.cookie()}})
	if r.status == http.StatusOK || !strings.Contains(string(r.body), "current_tfa_token") {
		t.Errorf("the page's setup replaced a configuration: %d %.400s", r.status, r.body)
	}
	tf, err := e.d.Data.Store.GetTwoFactor(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	if sec, _ := auth0(e, tf); sec != bob.secret {
		t.Fatal("bob's authenticator was replaced through the page without a code")
	}
}
