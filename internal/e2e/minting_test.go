package e2e

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/functions"
	"github.com/cpauth/cpauth/internal/sessions"
	"github.com/cpauth/cpauth/internal/store"
)

// The minting test (D24): for every function that makes or changes a
// credential, a call through an API token yields nothing stronger than the
// token, checked on the credential made (its ACLs, expiry, address list,
// OTP requirement), not only on the answer. Every function the registry
// declares as minting must have a case here.

// mintFixture is what every case may use.
type mintFixture struct {
	e *testEnv
	// bounded: root's token with "all" and every other bound (an address
	// list, an expiry, require_otp); its calls carry root's current code.
	bounded string
	expires time.Time
	rootTFA tfa
	// narrow: root's token without "all" (but with the ACLs the
	// functions need).
	narrow string
	// cp: bob's cPanel token with an address list and an expiry; ro:
	// bob's read-only cPanel token.
	cp, ro string
}

// whm calls a WHM API 1 function with a token, adding root's code for the
// bounded token.
func (m *mintFixture) whm(t testing.TB, tok, fn, query string) response {
	t.Helper()
	r := request{port: p2087, path: "/json-api/" + fn + "?api.version=1&" + query, auth: whmTok("root", tok)}
	if tok == m.bounded {
		r.header = map[string]string{"X-CPANEL-OTP": m.e.code(t, m.rootTFA)}
	}
	return m.e.do(t, r)
}

// uapi calls a UAPI function of bob's with a cPanel token.
func (m *mintFixture) uapi(t testing.TB, tok, module, fn, query string) response {
	t.Helper()
	return m.e.do(t, request{port: p2083, path: "/execute/" + module + "/" + fn + "?" + query, auth: cpanelTok("bob", tok)})
}

// api2 calls an API 2 function of bob's with a cPanel token and returns
// its cpanelresult.
func (m *mintFixture) api2(t testing.TB, tok, module, fn, query string) map[string]any {
	t.Helper()
	r := m.e.do(t, request{port: p2083, path: "/json-api/cpanel?cpanel_jsonapi_apiversion=2&cpanel_jsonapi_module=" + module + "&cpanel_jsonapi_func=" + fn + "&" + query, auth: cpanelTok("bob", tok)})
	if r.status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", r.status, r.body)
	}
	cr, _ := object(t, r)["cpanelresult"].(map[string]any)
	return cr
}

// refused checks a WHM API 1 refusal that names the token.
func refusedNaming(t testing.TB, r response, name string) {
	t.Helper()
	if reason := whmFailed(t, r); !strings.Contains(reason, "“"+name+"”") {
		t.Errorf("refusal %q does not name the token %q", reason, name)
	}
}

func (m *mintFixture) token(t testing.TB, service, user, name string) store.Token {
	t.Helper()
	tok, err := m.e.d.Data.Store.GetToken(context.Background(), service, user, name)
	if err != nil {
		t.Fatalf("token %s of %s: %v", name, user, err)
	}
	return tok
}

func noToken(t testing.TB, e *testEnv, service, user, name string) {
	t.Helper()
	if _, err := e.d.Data.Store.GetToken(context.Background(), service, user, name); err == nil {
		t.Errorf("the token %s of %s was made", name, user)
	}
}

// within checks a made token against the bounded token's bounds.
func (m *mintFixture) within(t testing.TB, tok store.Token) {
	t.Helper()
	if tok.ExpiresAt.IsZero() || tok.ExpiresAt.After(m.expires) {
		t.Errorf("token %s expires at %v, after the token that made it (%v)", tok.Name, tok.ExpiresAt, m.expires)
	}
	if len(tok.WhitelistIPs) == 0 || slices.ContainsFunc(tok.WhitelistIPs, func(a string) bool { return a != "127.0.0.1" && a != "127.0.0.1/32" }) {
		t.Errorf("token %s works from %v, beyond 127.0.0.1", tok.Name, tok.WhitelistIPs)
	}
	if !tok.RequireOTP {
		t.Errorf("token %s does not require the OTP", tok.Name)
	}
}

// oneTime reads the one-time session of a login URL or hand-off id.
func (m *mintFixture) oneTime(t testing.TB, id string) store.Session {
	t.Helper()
	ss, err := m.e.d.Data.Store.GetSession(context.Background(), sessions.IDHash(m.e.d.Data.Key, id))
	if err != nil {
		t.Fatalf("the session made: %v", err)
	}
	return ss
}

// sessionBounded checks a session against bounds: its address list, its
// end and its OTP requirement.
func sessionBounded(t testing.TB, ss store.Session, ips []string, notAfter time.Time, otp bool) {
	t.Helper()
	if !slices.Equal(ss.AllowedIPs, ips) {
		t.Errorf("session works from %v, want %v", ss.AllowedIPs, ips)
	}
	if !ss.NotAfter.Equal(notAfter.Truncate(time.Microsecond)) || ss.Expires.After(notAfter) {
		t.Errorf("session ends %v (bound %v), want by %v", ss.Expires, ss.NotAfter, notAfter)
	}
	if ss.RequireOTP != otp || ss.TFAVerified == otp {
		t.Errorf("session RequireOTP=%v TFAVerified=%v, want RequireOTP=%v", ss.RequireOTP, ss.TFAVerified, otp)
	}
}

var mintCases = map[string]func(t *testing.T, m *mintFixture){
	"whmapi1 accesshash": func(t *testing.T, m *mintFixture) {
		e := m.e
		before, err := e.d.Data.Store.GetAccessHash(context.Background(), "root")
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range []string{m.bounded, m.narrow} {
			for _, q := range []string{"generate=1", ""} {
				whmFailed(t, m.whm(t, tok, "accesshash", q))
			}
		}
		after, _ := e.d.Data.Store.GetAccessHash(context.Background(), "root")
		if after.MAC != before.MAC {
			t.Error("root's access hash changed")
		}
	},
	"whmapi1 api_token_create": func(t *testing.T, m *mintFixture) {
		exp := strconv.FormatInt(m.expires.Unix(), 10)
		later := strconv.FormatInt(m.expires.Add(time.Hour).Unix(), 10)
		for name, q := range map[string]string{
			"m-none":    "",
			"m-later":   "expires_at=" + later + "&whitelist_ip=127.0.0.1&require_otp=1",
			"m-never":   "expires_at=0&whitelist_ip=127.0.0.1&require_otp=1",
			"m-wide":    "expires_at=" + exp + "&whitelist_ip=0.0.0.0/0&require_otp=1",
			"m-any":     "expires_at=" + exp + "&whitelist_ip=any&require_otp=1",
			"m-beyond":  "expires_at=" + exp + "&whitelist_ip=127.0.0.1&whitelist_ip=192.0.2.1&require_otp=1",
			"m-no-otp":  "expires_at=" + exp + "&whitelist_ip=127.0.0.1&require_otp=0",
			"m-omitted": "expires_at=" + exp + "&whitelist_ip=127.0.0.1",
		} {
			refusedNaming(t, m.whm(t, m.bounded, "api_token_create", "token_name="+name+"&"+q), "bounded")
			noToken(t, m.e, store.TokenWHM, "root", name)
		}
		whmOK(t, m.whm(t, m.bounded, "api_token_create", "token_name=m-ok&expires_at="+exp+"&whitelist_ip=127.0.0.1&require_otp=1"))
		m.within(t, m.token(t, store.TokenWHM, "root", "m-ok"))
		whmOK(t, m.whm(t, m.bounded, "api_token_create", "token_name=m-ok2&expires_at="+strconv.FormatInt(m.expires.Add(-time.Minute).Unix(), 10)+"&whitelist_ip=127.0.0.1/32&require_otp=1"))
		m.within(t, m.token(t, store.TokenWHM, "root", "m-ok2"))

		// ACLs: never beyond the narrow token's own.
		whmFailed(t, m.whm(t, m.narrow, "api_token_create", "token_name=m-all&acl=all"))
		whmFailed(t, m.whm(t, m.narrow, "api_token_create", "token_name=m-more&acl=list-accts&acl=kill-acct"))
		noToken(t, m.e, store.TokenWHM, "root", "m-all")
		whmOK(t, m.whm(t, m.narrow, "api_token_create", "token_name=m-default"))
		tok := m.token(t, store.TokenWHM, "root", "m-default")
		if slices.Contains(tok.ACLs, core.ACLAll) || tok.ACLs == nil {
			t.Errorf("a token made through a narrow one has ACLs %v", tok.ACLs)
		}
		for _, a := range tok.ACLs {
			if !slices.Contains(mintNarrowACLs, a) {
				t.Errorf("a token made through a narrow one holds %s", a)
			}
		}
	},
	"whmapi1 api_token_update": func(t *testing.T, m *mintFixture) {
		before := m.token(t, store.TokenWHM, "root", "bounded")
		for _, q := range []string{"expires_at=0", "expires_at=" + strconv.FormatInt(m.expires.Add(time.Hour).Unix(), 10), "whitelist_ip=any", "whitelist_ip=10.0.0.0/8", "require_otp=0"} {
			refusedNaming(t, m.whm(t, m.bounded, "api_token_update", "token_name=bounded&"+q), "bounded")
		}
		after := m.token(t, store.TokenWHM, "root", "bounded")
		if !after.ExpiresAt.Equal(before.ExpiresAt) || !slices.Equal(after.WhitelistIPs, before.WhitelistIPs) || after.RequireOTP != before.RequireOTP {
			t.Errorf("the bounded token was widened: %+v", after)
		}
		whmFailed(t, m.whm(t, m.narrow, "api_token_update", "token_name=narrow&acl=all"))
		if got := m.token(t, store.TokenWHM, "root", "narrow"); slices.Contains(got.ACLs, core.ACLAll) {
			t.Error("the narrow token gave itself all")
		}
	},
	"uapi Tokens::create_full_access": func(t *testing.T, m *mintFixture) {
		// bob's bounded cPanel token: its tokens are held within it.
		uapiError(t, m.uapi(t, m.cp, "Tokens", "create_full_access", "name=c-none"), http.StatusOK)
		noToken(t, m.e, store.TokenCPanel, "bob", "c-none")
		exp := m.token(t, store.TokenCPanel, "bob", "cp").ExpiresAt
		uapiOK(t, m.uapi(t, m.cp, "Tokens", "create_full_access", "name=c-ok&expires_at="+strconv.FormatInt(exp.Unix(), 10)+"&whitelist_ip=127.0.0.1"))
		tok := m.token(t, store.TokenCPanel, "bob", "c-ok")
		if tok.ExpiresAt.IsZero() || tok.ExpiresAt.After(exp) || !slices.Equal(tok.WhitelistIPs, []string{"127.0.0.1"}) {
			t.Errorf("bob's token made through a bounded one: %+v", tok)
		}
		// Through WHM → cPanel with root's bounded token: the same bounds.
		r := m.whm(t, m.bounded, "uapi_cpanel", "cpanel.user=bob&cpanel.module=Tokens&cpanel.function=create_full_access&name=c-root-none")
		if s := str(dig(whmOK(t, r), "data", "uapi", "status")); s != "0" {
			t.Errorf("an unbounded cPanel token was made through root's bounded one: %s", r.body)
		}
		noToken(t, m.e, store.TokenCPanel, "bob", "c-root-none")
		r = m.whm(t, m.bounded, "uapi_cpanel", "cpanel.user=bob&cpanel.module=Tokens&cpanel.function=create_full_access&name=c-root&expires_at="+strconv.FormatInt(m.expires.Unix(), 10)+"&whitelist_ip=127.0.0.1&require_otp=1")
		if s := str(dig(whmOK(t, r), "data", "uapi", "status")); s != "1" {
			t.Fatalf("a bounded cPanel token through root's bounded one: %s", r.body)
		}
		m.within(t, m.token(t, store.TokenCPanel, "bob", "c-root"))
		// The read-only token makes none.
		uapiError(t, m.uapi(t, m.ro, "Tokens", "create_full_access", "name=c-ro"), http.StatusOK)
		noToken(t, m.e, store.TokenCPanel, "bob", "c-ro")
	},
	"whmapi1 create_user_session": func(t *testing.T, m *mintFixture) {
		e := m.e
		ctx := context.Background()
		count := func() int {
			ss, err := e.d.Data.Store.ListSessions(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			return len(ss)
		}
		n := count()
		whmFailed(t, m.whm(t, m.narrow, "create_user_session", "user=bob&service=cpaneld"))
		whmFailed(t, m.whm(t, m.narrow, "create_user_session", "user=root&service=whostmgrd"))
		if count() != n {
			t.Fatal("a narrow token made a session")
		}
		d := whmOK(t, m.whm(t, m.bounded, "create_user_session", "user=bob&service=cpaneld"))
		id := str(dig(d, "data", "session"))
		ot := m.oneTime(t, id)
		sessionBounded(t, ot, []string{"127.0.0.1"}, m.expires, true)
		if exp, _ := strconv.ParseInt(str(dig(d, "data", "expires")), 10, 64); exp > m.expires.Unix() {
			t.Errorf("the URL's expiry %d is after the token's %d", exp, m.expires.Unix())
		}
		// Redeemed (from an address on the list): the new session keeps
		// the bounds, and asks for bob's second factor.
		red := e.open(t, http.MethodGet, str(dig(d, "data", "url")), nil)
		s := redeemedSession(t, core.ServiceCPanel, red)
		id2, _, _ := sessions.ParseCookie(s.Cookie)
		next, err := e.d.Data.Store.GetSession(ctx, sessions.IDHash(e.d.Data.Key, id2))
		if err != nil {
			t.Fatal(err)
		}
		sessionBounded(t, next, []string{"127.0.0.1"}, m.expires, true)

		// A URL made through a token that works only from elsewhere is
		// not redeemed here (the test's address is loopback, so the URL
		// is made in-process for a token listing another address).
		far := rootPrincipal()
		far.Method, far.TokenName = core.MethodToken, "far"
		far.Bounds = core.Bounds{Addresses: []string{"192.0.2.1"}}
		c := &api.Call{Flavour: api.WHM1, Func: "create_user_session", Args: pairs([]string{"user", "bob", "service", "cpaneld"}), Principal: far, Remote: netip.MustParseAddr("192.0.2.1"), Host: "localhost"}
		res, err := functions.RunWHM1(ctx, e.d.Data.Registry, c)
		if err != nil {
			t.Fatal(err)
		}
		u := res.Data.(map[string]any)["url"].(string)
		refusedAsBadLogin(t, e.open(t, http.MethodGet, m.localURL(t, u), nil))

		// A session made through a token that expires (without OTP), for
		// root on WHM: what it makes is held within the token too.
		exp := e.clock.Now().Add(2 * time.Hour).Truncate(time.Second)
		tok := e.createTokenHTTP(t, e.authFor(t, "root"), "token_name=sso-bounded&whitelist_ip=127.0.0.1&expires_at="+strconv.FormatInt(exp.Unix(), 10))
		d = whmOK(t, e.do(t, request{port: p2087, path: "/json-api/create_user_session?api.version=1&user=root&service=whostmgrd", auth: whmTok("root", tok)}))
		sessionBounded(t, m.oneTime(t, str(dig(d, "data", "session"))), []string{"127.0.0.1"}, exp, false)
		red = e.open(t, http.MethodGet, str(dig(d, "data", "url")), nil)
		rs := redeemedSession(t, core.ServiceWHM, red)
		sr := request{port: p2087, path: rs.Token + "/json-api/api_token_create?api.version=1&token_name=from-session", header: map[string]string{"Cookie": sessions.CookieName(core.ServiceWHM) + "=" + rs.Cookie}}
		if reason := whmFailed(t, e.do(t, sr)); !strings.Contains(reason, "session, made through an API token") {
			t.Errorf("an unbounded token made through a bounded session: %q", reason)
		}
		noToken(t, e, store.TokenWHM, "root", "from-session")
		sr.path = rs.Token + "/json-api/accesshash?api.version=1"
		whmFailed(t, e.do(t, sr))
	},
	"uapi Session::create_webmail_session_for_self": func(t *testing.T, m *mintFixture) {
		d := uapiOK(t, m.uapi(t, m.cp, "Session", "create_webmail_session_for_self", ""))
		exp := m.token(t, store.TokenCPanel, "bob", "cp").ExpiresAt
		sessionBounded(t, m.oneTime(t, str(dig(d, "data", "session"))), []string{"127.0.0.1"}, exp, false)
		uapiError(t, m.uapi(t, m.ro, "Session", "create_webmail_session_for_self", ""), http.StatusOK)
	},
	"uapi Session::create_webmail_session_for_mail_user": func(t *testing.T, m *mintFixture) {
		d := uapiOK(t, m.uapi(t, m.cp, "Session", "create_webmail_session_for_mail_user", "login=info&domain=bob.test"))
		exp := m.token(t, store.TokenCPanel, "bob", "cp").ExpiresAt
		sessionBounded(t, m.oneTime(t, str(dig(d, "data", "session"))), []string{"127.0.0.1"}, exp, false)
		// Through root's bounded token, inside bob: root's bounds.
		r := m.whm(t, m.bounded, "uapi_cpanel", "cpanel.user=bob&cpanel.module=Session&cpanel.function=create_webmail_session_for_mail_user&login=info&domain=bob.test")
		sessionBounded(t, m.oneTime(t, str(dig(whmOK(t, r), "data", "uapi", "data", "session"))), []string{"127.0.0.1"}, m.expires, true)
	},
	"uapi Session::create_webmail_session_for_mail_user_check_password": func(t *testing.T, m *mintFixture) {
		d := uapiOK(t, m.uapi(t, m.cp, "Session", "create_webmail_session_for_mail_user_check_password", "login=info&domain=bob.test&password="+url.QueryEscape(infoPass)))
		exp := m.token(t, store.TokenCPanel, "bob", "cp").ExpiresAt
		sessionBounded(t, m.oneTime(t, str(dig(d, "data", "session"))), []string{"127.0.0.1"}, exp, false)
	},
	"whmapi1 twofactorauth_set_tfa_config": func(t *testing.T, m *mintFixture) {
		m.twoFactorUnchanged(t, func() {
			gen := whmOK(t, m.whm(t, m.narrow, "twofactorauth_generate_tfa_config", ""))
			f := tfa{user: "root", secret: str(dig(gen, "data", "secret"))}
			whmFailed(t, m.whm(t, m.narrow, "twofactorauth_set_tfa_config", "secret="+f.secret+"&tfa_token="+m.e.code(t, f)+"&current_tfa_token="+m.e.code(t, m.rootTFA)))
		})
	},
	"whmapi1 twofactorauth_remove_user_config": func(t *testing.T, m *mintFixture) {
		m.twoFactorUnchanged(t, func() {
			r := m.whm(t, m.narrow, "twofactorauth_remove_user_config", "user=root&tfa_token="+m.e.code(t, m.rootTFA))
			whmFailed(t, r)
		})
	},
	"whmapi1 twofactorauth_disable_policy": func(t *testing.T, m *mintFixture) {
		whmFailed(t, m.whm(t, m.narrow, "twofactorauth_disable_policy", ""))
		if v, _ := m.e.d.Data.Store.GetSetting(context.Background(), "SecurityPolicy::TwoFactorAuth"); v == "0" {
			t.Error("the two-factor policy was turned off through a narrow token")
		}
	},
	"whmapi1 twofactorauth_enable_policy": func(t *testing.T, m *mintFixture) {
		whmFailed(t, m.whm(t, m.narrow, "twofactorauth_enable_policy", ""))
	},
	"uapi TwoFactorAuth::set_user_configuration": func(t *testing.T, m *mintFixture) {
		uapiError(t, m.uapi(t, m.ro, "TwoFactorAuth", "set_user_configuration", "secret=JBSWY3DPEHPK3PXP&tfa_token=123456"), http.StatusOK)
		if on, _ := m.e.d.Data.TwoFactor.Configured(context.Background(), "bob"); on {
			t.Error("bob's two-factor authentication was set through a read-only token")
		}
		// Through root's narrow token, inside bob: not at all (D25).
		whmFailed(t, m.whm(t, m.narrow, "uapi_cpanel", "cpanel.user=bob&cpanel.module=TwoFactorAuth&cpanel.function=set_user_configuration&secret=JBSWY3DPEHPK3PXP&tfa_token=123456"))
	},
	"uapi TwoFactorAuth::remove_user_configuration": func(t *testing.T, m *mintFixture) {
		uapiError(t, m.uapi(t, m.ro, "TwoFactorAuth", "remove_user_configuration", "tfa_token=123456"), http.StatusOK)
		whmFailed(t, m.whm(t, m.narrow, "uapi_cpanel", "cpanel.user=bob&cpanel.module=TwoFactorAuth&cpanel.function=remove_user_configuration"))
	},
	// Passkeys: removing one, or turning passwordless sign-in on or off,
	// changes what signs a user in. No API registers a passkey.
	"whmapi1 passkey_remove": func(t *testing.T, m *mintFixture) {
		for _, p := range []store.Passkey{m.passkey(t, "root", "mint-root"), m.passkey(t, "bob", "mint-whm")} {
			q := "user=" + p.Username + "&id=" + functions.PasskeyID(p.ID) + "&password=" + url.QueryEscape(m.e.rootPass)
			refusedNaming(t, m.whm(t, m.narrow, "passkey_remove", q), "narrow")
			m.passkeyKept(t, p)
		}
		// The bounded token holds "all": root's power over bob's.
		p := m.passkey(t, "bob", "mint-whm-bounded")
		whmOK(t, m.whm(t, m.bounded, "passkey_remove", "user=bob&id="+functions.PasskeyID(p.ID)))
		if _, err := m.e.d.Data.Store.GetPasskey(context.Background(), p.ID); err == nil {
			t.Error("the bounded token (with all) could not remove bob's passkey")
		}
	},
	"whmapi1 passkey_set_passwordless": func(t *testing.T, m *mintFixture) {
		m.passkey(t, "bob", "mint-pl")
		refusedNaming(t, m.whm(t, m.narrow, "passkey_set_passwordless", "user=bob&enabled=1"), "narrow")
		m.passwordlessIs(t, "bob", false)
		whmOK(t, m.whm(t, m.bounded, "passkey_set_passwordless", "user=bob&enabled=1"))
		m.passwordlessIs(t, "bob", true)
		refusedNaming(t, m.whm(t, m.narrow, "passkey_set_passwordless", "user=bob&enabled=0"), "narrow")
		m.passwordlessIs(t, "bob", true)
	},
	"uapi Passkeys::remove": func(t *testing.T, m *mintFixture) {
		p := m.passkey(t, "bob", "mint-uapi")
		uapiError(t, m.uapi(t, m.ro, "Passkeys", "remove", "id="+functions.PasskeyID(p.ID)+"&password="+url.QueryEscape(bobPass)), http.StatusOK)
		whmFailed(t, m.whm(t, m.narrow, "uapi_cpanel", "cpanel.user=bob&cpanel.module=Passkeys&cpanel.function=remove&id="+functions.PasskeyID(p.ID)))
		m.passkeyKept(t, p)
	},
	"uapi Passkeys::set_passwordless": func(t *testing.T, m *mintFixture) {
		m.passkey(t, "bob", "mint-uapi-pl")
		before := m.passwordless(t, "bob")
		uapiError(t, m.uapi(t, m.ro, "Passkeys", "set_passwordless", "enabled="+strconv.Itoa(functionsBool(!before))), http.StatusOK)
		whmFailed(t, m.whm(t, m.narrow, "uapi_cpanel", "cpanel.user=bob&cpanel.module=Passkeys&cpanel.function=set_passwordless&enabled="+strconv.Itoa(functionsBool(!before))))
		m.passwordlessIs(t, "bob", before)
	},
	"whmapi1 passwd": func(t *testing.T, m *mintFixture) {
		for _, user := range []string{"root", "bob"} {
			refusedNaming(t, m.whm(t, m.narrow, "passwd", "user="+user+"&password=Minted-Pass-123"), "narrow")
		}
		if !m.e.checkPassword("bob", bobPass, core.ServiceCPanel) || !m.e.checkPassword("root", m.e.rootPass, core.ServiceWHM) {
			t.Error("a password was changed through a narrow token")
		}
	},
	"uapi Email::passwd_pop": func(t *testing.T, m *mintFixture) {
		uapiError(t, m.uapi(t, m.ro, "Email", "passwd_pop", "email=info&password=Minted-Pass-123"), http.StatusOK)
		whmFailed(t, m.whm(t, m.narrow, "uapi_cpanel", "cpanel.user=bob&cpanel.module=Email&cpanel.function=passwd_pop&email=info&password=Minted-Pass-123"))
		if !m.e.checkPassword("info@bob.test", infoPass, core.ServiceWebmail) {
			t.Error("a mailbox password was changed through a read-only or narrow token")
		}
	},
	// New logins: nothing in them predates the call, so the ACL that
	// allows the call is enough (README, API tokens).
	"whmapi1 createacct": func(t *testing.T, m *mintFixture) {
		whmOK(t, m.whm(t, m.narrow, "createacct", "username=minted&domain=minted.test&password=Minted-Pass-123"))
		if a, err := m.e.account("minted"); err != nil || a.Owner != "root" || a.Reseller {
			t.Errorf("the account made through a narrow token: %+v, %v", a, err)
		}
		whmFailed(t, m.whm(t, m.narrow, "createacct", "username=minted2&domain=minted2.test&password=Minted-Pass-123&reseller=1"))
	},
	"uapi Email::add_pop": func(t *testing.T, m *mintFixture) {
		uapiOK(t, m.uapi(t, m.cp, "Email", "add_pop", "email=minted&password=Minted-Pass-123"))
		uapiError(t, m.uapi(t, m.ro, "Email", "add_pop", "email=minted2&password=Minted-Pass-123"), http.StatusOK)
	},
	"api2 Email::addpop": func(t *testing.T, m *mintFixture) {
		ctx := context.Background()
		if cr := m.api2(t, m.cp, "Email", "addpop", "email=minted3&domain=bob.test&password=Minted-Pass-123"); str(dig(cr, "event", "result")) != "1" {
			t.Errorf("addpop through bob's bounded token: %v", cr)
		}
		if _, err := m.e.d.Data.Store.GetMailbox(ctx, "minted3", "bob.test"); err != nil {
			t.Errorf("the mailbox made through bob's bounded token: %v", err)
		}
		cr := m.api2(t, m.ro, "Email", "addpop", "email=minted4&domain=bob.test&password=Minted-Pass-123")
		if msg := str(cr["error"]); !strings.Contains(msg, "“ro” is read-only") {
			t.Errorf("addpop through the read-only token: %v", cr)
		}
		if _, err := m.e.d.Data.Store.GetMailbox(ctx, "minted4", "bob.test"); err == nil {
			t.Error("a mailbox was made through a read-only token")
		}
	},
}

// mintNarrowACLs are the narrow token's ACLs.
var mintNarrowACLs = []string{"list-accts", "manage-api-tokens", "create-user-session", "passwd", "create-acct"}

// localURL points a login URL at the test's listener (the URL names the
// server's TLS port for the service, which the test daemon moved).
func (m *mintFixture) localURL(t testing.TB, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	local, err := m.e.url(p2083, u.RequestURI())
	if err != nil {
		t.Fatal(err)
	}
	return local
}

// passkey puts a passkey of user in the store (no API registers one).
func (m *mintFixture) passkey(t testing.TB, user, name string) store.Passkey {
	t.Helper()
	p := store.Passkey{ID: []byte("mint-" + user + "-" + name), Username: user, Account: user, Name: name,
		PublicKey: []byte("cose-key"), AttestationType: "none", Created: m.e.clock.Now()}
	if err := m.e.d.Data.Store.CreatePasskey(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

// passkeyKept checks that p is still in the store, unchanged.
func (m *mintFixture) passkeyKept(t testing.TB, p store.Passkey) {
	t.Helper()
	got, err := m.e.d.Data.Store.GetPasskey(context.Background(), p.ID)
	if err != nil || got.Name != p.Name || got.Username != p.Username {
		t.Errorf("the passkey %s of %s after a refused call: %+v, %v", p.Name, p.Username, got, err)
	}
}

func (m *mintFixture) passwordless(t testing.TB, user string) bool {
	t.Helper()
	pu, err := m.e.d.Data.Store.GetPasskeyUser(context.Background(), user)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	return pu.Passwordless
}

func (m *mintFixture) passwordlessIs(t testing.TB, user string, want bool) {
	t.Helper()
	if got := m.passwordless(t, user); got != want {
		t.Errorf("passwordless sign-in of %s = %v, want %v", user, got, want)
	}
}

func functionsBool(b bool) int {
	if b {
		return 1
	}
	return 0
}

// twoFactorUnchanged runs f and checks root's two-factor configuration is
// the same after it.
func (m *mintFixture) twoFactorUnchanged(t *testing.T, f func()) {
	t.Helper()
	before, err := m.e.d.Data.Store.GetTwoFactor(context.Background(), "root")
	if err != nil {
		t.Fatal(err)
	}
	f()
	after, err := m.e.d.Data.Store.GetTwoFactor(context.Background(), "root")
	if err != nil || string(after.Sealed) != string(before.Sealed) {
		t.Errorf("root's two-factor configuration changed through a narrow token (%v)", err)
	}
}

func TestMinting(t *testing.T) {
	e := startWithFixtures(t)
	m := &mintFixture{e: e, expires: e.clock.Now().Add(time.Hour).Truncate(time.Second)}
	m.rootTFA = e.enroll(t, "root")
	m.bounded = e.createTokenHTTP(t, e.authFor(t, "root"), "token_name=bounded&acl=all&whitelist_ip=127.0.0.1&require_otp=1&expires_at="+strconv.FormatInt(m.expires.Unix(), 10))
	q := "token_name=narrow"
	for _, a := range mintNarrowACLs {
		q += "&acl=" + a
	}
	m.narrow = e.createTokenHTTP(t, e.authFor(t, "root"), q)
	m.cp = e.mkToken(t, store.TokenCPanel, "bob", "cp", "whitelist_ip", "127.0.0.1", "expires_at", strconv.FormatInt(m.expires.Add(time.Hour).Unix(), 10))
	m.ro = e.mkToken(t, store.TokenCPanel, "bob", "ro", "readonly", "1")

	var names []string
	for _, f := range e.d.Data.Registry.All() {
		if f.Mints == api.MintNothing {
			continue
		}
		name := f.Flavour.String() + " " + f.FullName()
		names = append(names, name)
		if _, ok := mintCases[name]; !ok {
			t.Errorf("%s makes a credential (%s) but has no case in the minting test", name, f.Mints)
		}
	}
	for name := range mintCases {
		if !slices.Contains(names, name) {
			t.Errorf("the minting test has a case for %s, which the registry does not declare as minting", name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		if c, ok := mintCases[name]; ok {
			t.Run(name, func(t *testing.T) { c(t, m) })
		}
	}
}
