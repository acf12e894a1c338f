package e2e

import (
	"context"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/daemon"
	"github.com/cpauth/cpauth/internal/functions"
	"github.com/cpauth/cpauth/internal/sessions"
	"github.com/cpauth/cpauth/internal/settings"
	"github.com/cpauth/cpauth/internal/totp"
)

// Two-factor authentication on the wire (PROTOCOL.md 10, D10, D11).

// tfa is a user's two-factor setup as the test holds it: the secret (to
// compute codes, as the user's app does) and the recovery codes.
type tfa struct {
	user     string
	secret   string
	recovery []string
}

// setSetting sets a tweak setting straight in the store.
func (e *testEnv) setSetting(t testing.TB, key, value string) {
	t.Helper()
	if err := e.d.Data.Store.SetSetting(context.Background(), key, value); err != nil {
		t.Fatal(err)
	}
}

// code is the user's current code after moving the daemon's clock to the
// next time step, so that every code a test uses is one not yet burnt.
func (e *testEnv) code(t testing.TB, f tfa) string {
	t.Helper()
	e.clock.Advance(totp.Period)
	c, err := totp.Code(f.secret, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enroll sets up two-factor authentication for user over HTTP, as a client
// does: generate, then set with a code computed from the secret.
func (e *testEnv) enroll(t testing.TB, user string) tfa {
	t.Helper()
	p, auth := p2083, e.authFor(t, user)
	gen, set := "/execute/TwoFactorAuth/generate_user_configuration", "/execute/TwoFactorAuth/set_user_configuration"
	switch {
	case user == "root":
		p, gen, set = p2087, "/json-api/twofactorauth_generate_tfa_config?api.version=1", "/json-api/twofactorauth_set_tfa_config?api.version=1"
	case strings.Contains(user, "@"):
		p = p2096
	}
	var data map[string]any
	if p == p2087 {
		data = whmOK(t, e.do(t, request{port: p, path: gen, auth: auth}))
	} else {
		data = uapiOK(t, e.do(t, request{port: p, path: gen, auth: auth}))
	}
	f := tfa{user: user, secret: str(dig(data, "data", "secret"))}
	if len(f.secret) != totp.SecretLen {
		t.Fatalf("generated secret %q", f.secret)
	}
	body := "secret=" + f.secret + "&tfa_token=" + e.code(t, f)
	var res map[string]any
	if p == p2087 {
		res = whmOK(t, e.do(t, request{port: p, path: set, auth: auth, body: body}))
	} else {
		res = uapiOK(t, e.do(t, request{port: p, path: set, auth: auth, body: body}))
	}
	codes, _ := dig(res, "data", "recovery_codes").([]any)
	for _, c := range codes {
		f.recovery = append(f.recovery, str(c))
	}
	if len(f.recovery) != 10 {
		t.Fatalf("set: %d recovery codes in %v", len(f.recovery), res)
	}
	return f
}

// tfaChallenge checks D11's answer: HTTP 401 and an HTML page whose form
// cPanel's clients recognise (tfa_login_form).
func tfaChallenge(t testing.TB, r response) {
	t.Helper()
	if r.status != http.StatusUnauthorized {
		t.Errorf("status %d, want 401 (two-factor challenge); body %.200s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q, want HTML", ct)
	}
	if !strings.Contains(string(r.body), `name="tfa_login_form"`) {
		t.Errorf("no tfa_login_form in %.400s", r.body)
	}
}

// codePage checks the code page of a session not yet verified (D10).
func codePage(t testing.TB, r response, token string) {
	t.Helper()
	tfaChallenge(t, r)
	for _, want := range []string{`action="` + token + `/"`, `name="tfatoken"`, `id="tfa_login_form"`} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("code page lacks %s: %.400s", want, r.body)
		}
	}
}

const otp = "X-CPANEL-OTP"

// ---------------------------------------------------------------------------
// The matrix: {Basic, session, WHM token, cPanel token, access hash} x
// {2FA configured or not} x {API policy on or off} x {token require_otp or
// not}, with the 2FA policy on. Each cell is "ok" (the call passes without
// a code, and an X-CPANEL-OTP header is ignored) or "otp" (without a code
// the answer is D11's challenge; a wrong code too; the right code passes,
// again within its window (D22), and the previous step's code, older than
// it, does not). For the session, "otp" means
// that a login without the code gets a session that reaches nothing but the
// code page, and a login with it one that works.

type tfaCell struct {
	method                            string
	configured, apiPolicy, requireOTP bool
	want                              string
}

var tfaMatrix = []tfaCell{
	// method       configured apiPolicy requireOTP  want
	{"basic", false, false, false, "ok"},
	{"basic", false, false, true, "ok"},
	{"basic", false, true, false, "ok"},
	{"basic", false, true, true, "ok"},
	{"basic", true, false, false, "ok"},
	{"basic", true, false, true, "ok"},
	{"basic", true, true, false, "otp"},
	{"basic", true, true, true, "otp"},

	{"session", false, false, false, "ok"},
	{"session", false, false, true, "ok"},
	{"session", false, true, false, "ok"},
	{"session", false, true, true, "ok"},
	{"session", true, false, false, "otp"},
	{"session", true, false, true, "otp"},
	{"session", true, true, false, "otp"},
	{"session", true, true, true, "otp"},

	{"whm-token", false, false, false, "ok"},
	{"whm-token", false, false, true, "ok"},
	{"whm-token", false, true, false, "ok"},
	{"whm-token", false, true, true, "ok"},
	{"whm-token", true, false, false, "ok"},
	{"whm-token", true, false, true, "otp"},
	{"whm-token", true, true, false, "ok"},
	{"whm-token", true, true, true, "otp"},

	{"cpanel-token", false, false, false, "ok"},
	{"cpanel-token", false, false, true, "ok"},
	{"cpanel-token", false, true, false, "ok"},
	{"cpanel-token", false, true, true, "ok"},
	{"cpanel-token", true, false, false, "ok"},
	{"cpanel-token", true, false, true, "otp"},
	{"cpanel-token", true, true, false, "ok"},
	{"cpanel-token", true, true, true, "otp"},

	{"access-hash", false, false, false, "ok"},
	{"access-hash", false, false, true, "ok"},
	{"access-hash", false, true, false, "ok"},
	{"access-hash", false, true, true, "ok"},
	{"access-hash", true, false, false, "ok"},
	{"access-hash", true, false, true, "ok"},
	{"access-hash", true, true, false, "ok"},
	{"access-hash", true, true, true, "ok"},
}

// concurrentPasses sends n requests at once (send makes the i-th and
// returns its status) and counts those answered 200. An error, or any
// answer but 200 and 401, fails the test.
func concurrentPasses(t testing.TB, n int, send func(i int) (int, error)) int {
	t.Helper()
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			s, err := send(i)
			if err != nil {
				t.Error(err)
				return
			}
			statuses <- s
		}()
	}
	close(start)
	wg.Wait()
	close(statuses)
	passed := 0
	for s := range statuses {
		switch s {
		case http.StatusOK:
			passed++
		case http.StatusUnauthorized:
		default:
			t.Errorf("status %d", s)
		}
	}
	return passed
}

func TestTwoFactorMatrix(t *testing.T) {
	e := startWithFixtures(t)
	// res is a reseller: it has an access hash, WHM tokens and cPanel
	// tokens. Its tokens, with and without require_otp, made up front.
	e.whm1("setacls", "reseller", "res", "acl-list-accts", "1", "acl-"+functions.ACLManageTokens, "1")
	tokens := map[string]string{}
	for _, req := range []bool{false, true} {
		ro := map[bool]string{false: "0", true: "1"}[req]
		c := e.do(t, request{port: p2087, path: "/json-api/api_token_create?api.version=1&token_name=m" + ro + "&require_otp=" + ro, auth: e.authFor(t, "res")})
		tokens["whm-token"+ro] = str(dig(whmOK(t, c), "data", "token"))
		c = e.do(t, request{port: p2083, path: "/execute/Tokens/create_full_access?name=m" + ro + "&require_otp=" + ro, auth: e.authFor(t, "res")})
		tokens["cpanel-token"+ro] = str(dig(uapiOK(t, c), "data", "token"))
	}
	call := func(cell tfaCell) request {
		ro := map[bool]string{false: "0", true: "1"}[cell.requireOTP]
		switch cell.method {
		case "basic":
			return request{port: p2087, path: "/json-api/version?api.version=1", auth: e.authFor(t, "res")}
		case "whm-token":
			return request{port: p2087, path: "/json-api/version?api.version=1", auth: "whm res:" + tokens["whm-token"+ro]}
		case "cpanel-token":
			return request{port: p2083, path: "/execute/Variables/get_user_information", auth: "cpanel res:" + tokens["cpanel-token"+ro]}
		case "access-hash":
			return request{port: p2087, path: "/json-api/version?api.version=1", auth: e.authFor(t, "res-hash")}
		}
		t.Fatalf("no request for %s", cell.method)
		return request{}
	}
	var f tfa
	configured := false
	// The cells without a configuration first: res is enrolled once,
	// between the two passes.
	var ordered []tfaCell
	for _, pass := range []bool{false, true} {
		for _, cell := range tfaMatrix {
			if cell.configured == pass {
				ordered = append(ordered, cell)
			}
		}
	}
	for _, cell := range ordered {
		name := cell.method + map[bool]string{true: "/configured", false: "/unconfigured"}[cell.configured] +
			map[bool]string{true: "/api-policy-on", false: "/api-policy-off"}[cell.apiPolicy] +
			map[bool]string{true: "/require_otp", false: ""}[cell.requireOTP]
		if cell.configured && !configured {
			f, configured = e.enroll(t, "res"), true
		}
		e.setSetting(t, settings.TwoFactorPolicy, "1")
		e.setSetting(t, settings.APIPolicy, map[bool]string{true: "1", false: "0"}[cell.apiPolicy])
		t.Run(name, func(t *testing.T) {
			ok := func(r response) {
				t.Helper()
				if r.status != http.StatusOK || !strings.Contains(r.header.Get("Content-Type"), "json") {
					t.Fatalf("status %d, %s: %.300s", r.status, r.header.Get("Content-Type"), r.body)
				}
			}
			if cell.method == "session" {
				if cell.want == "ok" {
					s := e.login(t, p2087, "res", resPass)
					ok(e.do(t, s.api("/json-api/version?api.version=1")))
					return
				}
				pending := e.login(t, p2087, "res", resPass)
				tfaChallenge(t, e.do(t, pending.api("/json-api/version?api.version=1")))
				codePage(t, e.do(t, pending.req(pending.token+"/")), pending.token)
				r := e.postLogin(t, p2087, "/login", loginForm("user", "res", "pass", resPass, "tfa_token", e.code(t, f)), nil)
				if r.status != http.StatusFound {
					t.Fatalf("login with the code: %d %.200s", r.status, r.body)
				}
				ok(e.do(t, sessionOf(t, p2087, r).api("/json-api/version?api.version=1")))
				return
			}
			req := call(cell)
			if cell.want == "ok" {
				ok(e.do(t, req))
				req.header = map[string]string{otp: "000000"}
				ok(e.do(t, req))
				return
			}
			tfaChallenge(t, e.do(t, req))
			req.header = map[string]string{otp: "12345x"}
			tfaChallenge(t, e.do(t, req))
			code := e.code(t, f)
			req.header = map[string]string{otp: code}
			ok(e.do(t, req))
			ok(e.do(t, req)) // the same code again, in its window (D22)
			older, err := totp.Code(f.secret, e.clock.Now().Add(-totp.Period))
			if err != nil {
				t.Fatal(err)
			}
			req.header = map[string]string{otp: older}
			tfaChallenge(t, e.do(t, req))
		})
	}
}

// ---------------------------------------------------------------------------

// A code in X-CPANEL-OTP serves every call of its window, on every port and
// service, concurrent ones too (D22), but not the login form afterwards; a
// code typed at a login passes once, and of concurrent logins with one code
// exactly one passes; a code older than one used is refused.
func TestTwoFactorReplay(t *testing.T) {
	e := startWithFixtures(t)
	f := e.enroll(t, "bob")
	e.setSetting(t, settings.APIPolicy, "1")
	get := func(p port, code string) response {
		return e.do(t, request{port: p, path: "/execute/Variables/get_user_information", auth: e.authFor(t, "bob"), header: map[string]string{otp: code}})
	}
	login := func(code string) response {
		return e.postLogin(t, p2083, "/login/?login_only=1", loginForm("user", "bob", "pass", bobPass, "tfa_token", code), nil)
	}
	t.Run("two ports", func(t *testing.T) {
		code := e.code(t, f)
		uapiOK(t, get(p2083, code))
		uapiOK(t, get(p2082, code))
		uapiOK(t, get(p2096, code)) // Webmail, as bob
		// A code that has been in a header does not log in.
		if r := login(code); r.status != http.StatusUnauthorized || string(r.body) != `{"status":0,"message":"tfa_invalid"}` {
			t.Fatalf("login with a used code: %d %s", r.status, r.body)
		}
	})
	t.Run("concurrent requests", func(t *testing.T) {
		for round := range 3 {
			code := e.code(t, f)
			const n = 6
			passed := concurrentPasses(t, n, func(i int) (int, error) {
				r, err := e.try(request{port: []port{p2083, p2082}[i%2], path: "/execute/Variables/get_user_information",
					auth: e.authFor(t, "bob"), header: map[string]string{otp: code}})
				return r.status, err
			})
			if passed != n {
				t.Fatalf("round %d: %d of %d concurrent requests with one code passed, want all (D22)", round, passed, n)
			}
		}
	})
	t.Run("concurrent logins", func(t *testing.T) {
		for round := range 3 {
			code := e.code(t, f)
			const n = 6
			passed := concurrentPasses(t, n, func(int) (int, error) {
				r, err := e.try(request{port: p2083, method: http.MethodPost, path: "/login/?login_only=1", ctype: "application/x-www-form-urlencoded",
					body: loginForm("user", "bob", "pass", bobPass, "tfa_token", code)})
				return r.status, err
			})
			if passed != 1 {
				t.Fatalf("round %d: %d of %d concurrent logins with one code passed, want exactly 1", round, passed, n)
			}
		}
	})
	t.Run("clock at the edges of the window", func(t *testing.T) {
		// The clock stopped at the first instant of a step well after
		// the last code used, then moved to the edges of the window.
		start := e.clock.Now().Add(5 * totp.Period).Truncate(totp.Period)
		e.clock.Freeze(start)
		defer func() {
			e.clock.Unfreeze()
			e.clock.Advance(start.Sub(time.Now()) + 5*totp.Period) // never back behind a used step
		}()
		cur := totp.Step(start)
		at := func(step int64) string {
			c, err := totp.CodeAt(f.secret, step)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		tfaChallenge(t, get(p2083, at(cur-2))) // too old
		tfaChallenge(t, get(p2083, at(cur+2))) // too new
		uapiOK(t, get(p2083, at(cur-1)))       // the previous step, at the first instant of the current one
		uapiOK(t, get(p2083, at(cur-1)))       // and again (D22)
		e.clock.Freeze(start.Add(totp.Period - time.Nanosecond))
		uapiOK(t, get(p2083, at(cur+1)))     // the next step, at the last instant of the current one
		tfaChallenge(t, get(p2083, at(cur))) // the current, now behind a used one
		e.clock.Freeze(start.Add(2*totp.Period + totp.Period - time.Nanosecond))
		uapiOK(t, get(p2083, at(cur+1))) // a step on, still in the window
		e.clock.Freeze(start.Add(3 * totp.Period))
		tfaChallenge(t, get(p2083, at(cur+1))) // two steps on, out of the window
		uapiOK(t, get(p2083, at(cur+3)))
	})
}

// D22: cPanel's clients compute one code and send it in X-CPANEL-OTP on
// every call. It serves every call of its window, for every credential of
// the user that asks for it (Basic with the API policy on, a require_otp
// token); a code older than one used is refused; recovery codes are not
// taken; the limit of wrong codes holds; and at a login a code still passes
// once, and not after it has been in a header.
func TestTwoFactorHeaderWindow(t *testing.T) {
	e := startWithFixtures(t)
	f := e.enroll(t, "bob")
	// The token first: with the API policy on, Basic needs the code too.
	tok := str(dig(uapiOK(t, e.do(t, request{port: p2083, path: "/execute/Tokens/create_full_access?name=otp&require_otp=1",
		auth: e.authFor(t, "bob")})), "data", "token"))
	e.setSetting(t, settings.APIPolicy, "1")
	creds := []struct{ name, auth string }{
		{"Basic, API policy on", e.authFor(t, "bob")},
		{"token with require_otp", "cpanel bob:" + tok},
	}
	get := func(p port, auth, code string) response {
		return e.do(t, request{port: p, path: "/execute/Variables/get_user_information", auth: auth, header: map[string]string{otp: code}})
	}
	at := func(step int64) string {
		c, err := totp.CodeAt(f.secret, step)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// next stops the daemon's clock at the first instant of the next time
	// step, and returns that step.
	next := func() int64 {
		s := totp.Step(e.clock.Now()) + 1
		e.clock.Freeze(time.Unix(s*int64(totp.Period/time.Second), 0))
		return s
	}
	for _, c := range creds {
		t.Run("ten calls with one code: "+c.name, func(t *testing.T) {
			code := at(next())
			for i := range 10 {
				r := get(p2083, c.auth, code)
				if r.status != http.StatusOK {
					t.Fatalf("call %d of 10 with one code, %s into its step: %d %.200s", i+1, 3*time.Duration(i)*time.Second, r.status, r.body)
				}
				uapiOK(t, r)
				e.clock.Advance(3 * time.Second)
			}
		})
	}
	t.Run("every port and credential share the code", func(t *testing.T) {
		code := at(next())
		uapiOK(t, get(p2083, creds[0].auth, code))
		uapiOK(t, get(p2082, creds[1].auth, code))
		uapiOK(t, get(p2096, creds[0].auth, code)) // Webmail, as bob
		uapiOK(t, get(p2083, creds[1].auth, code))
	})
	t.Run("the window's edges", func(t *testing.T) {
		s := next()
		uapiOK(t, get(p2083, creds[0].auth, at(s)))
		e.clock.Advance(2*totp.Period - time.Nanosecond) // the last instant of the next step
		uapiOK(t, get(p2083, creds[1].auth, at(s)))
		e.clock.Advance(time.Nanosecond)
		tfaChallenge(t, get(p2083, creds[1].auth, at(s))) // out of the window
	})
	t.Run("an older code after a newer one", func(t *testing.T) {
		s := next()
		uapiOK(t, get(p2083, creds[0].auth, at(s)))
		uapiOK(t, get(p2083, creds[0].auth, at(s+1))) // the next step's, early
		for _, c := range creds {
			tfaChallenge(t, get(p2083, c.auth, at(s)))
		}
		uapiOK(t, get(p2083, creds[1].auth, at(s+1)))
	})
	t.Run("no recovery code in the header", func(t *testing.T) {
		next()
		for _, c := range creds {
			tfaChallenge(t, get(p2083, c.auth, f.recovery[0]))
		}
		// Not spent either: it still logs in.
		r := e.postLogin(t, p2083, "/login/?login_only=1", loginForm("user", "bob", "pass", bobPass, "tfa_token", f.recovery[0]), nil)
		if r.status != http.StatusOK {
			t.Fatalf("login with the recovery code: %d %s", r.status, r.body)
		}
	})
	t.Run("logins take a code once", func(t *testing.T) {
		login := func(code string) response {
			return e.postLogin(t, p2083, "/login/?login_only=1", loginForm("user", "bob", "pass", bobPass, "tfa_token", code), nil)
		}
		invalid := func(r response) {
			t.Helper()
			if r.status != http.StatusUnauthorized || string(r.body) != `{"status":0,"message":"tfa_invalid"}` {
				t.Fatalf("%d %s, want tfa_invalid", r.status, r.body)
			}
		}
		s := next()
		if r := login(at(s)); r.status != http.StatusOK {
			t.Fatalf("login: %d %s", r.status, r.body)
		}
		invalid(login(at(s))) // replayed
		// The step a login took is the newest accepted: the header may
		// use its code for the rest of the window.
		uapiOK(t, get(p2083, creds[1].auth, at(s)))
		// A code that has been in a header does not log in, on the form
		// or on the code page; the next one does.
		s = next()
		uapiOK(t, get(p2083, creds[0].auth, at(s)))
		invalid(login(at(s)))
		pending := e.login(t, p2083, "bob", bobPass)
		r := e.do(t, request{port: p2083, method: http.MethodPost, path: pending.token + "/", body: "tfatoken=" + at(s),
			ctype: "application/x-www-form-urlencoded", header: map[string]string{"Cookie": pending.cookie()}})
		codePage(t, r, pending.token)
		if r := login(at(s + 1)); r.status != http.StatusOK {
			t.Fatalf("login with the next code: %d %s", r.status, r.body)
		}
	})
	t.Run("the limit of wrong codes holds", func(t *testing.T) {
		code := at(next())
		uapiOK(t, get(p2083, creds[0].auth, code))
		for range 4 {
			tfaChallenge(t, get(p2083, creds[0].auth, "000000"))
		}
		// The right code again passes, but does not clear the count.
		uapiOK(t, get(p2083, creds[1].auth, code))
		tfaChallenge(t, get(p2083, creds[1].auth, "000000"))
		for _, c := range creds {
			tfaChallenge(t, get(p2083, c.auth, code))
		}
		if !strings.Contains(e.log.String(), "too many wrong codes") {
			t.Error("the log does not say why the code was refused")
		}
		e.clock.Advance(15 * time.Minute)
		uapiOK(t, get(p2083, creds[0].auth, at(next())))
	})
}

// Wrong codes are limited per user (five in fifteen minutes) and each is a
// failure for the brute-force regulator.
func TestTwoFactorRateLimit(t *testing.T) {
	g := &recordingGuard{deny: map[string]bool{}}
	e := startOpts(t, nil, func(o *daemon.Options) { o.Guard = g })
	e.whm1("createacct", "username", "bob", "domain", "bob.test", "password", bobPass)
	f := e.enroll(t, "bob")
	e.setSetting(t, settings.APIPolicy, "1")
	get := func(code string) response {
		return e.do(t, request{port: p2083, path: "/execute/Variables/get_user_information", auth: e.authFor(t, "bob"), header: map[string]string{otp: code}})
	}
	g.take()
	for range 5 {
		tfaChallenge(t, get("000000"))
	}
	fails := 0
	for _, l := range g.take() {
		if l == "fail bob "+string(core.MethodTwoFactor) {
			fails++
		}
	}
	if fails != 5 {
		t.Fatalf("the guard was told of %d wrong codes, want 5", fails)
	}
	// Over the limit the right code is refused, and not burnt.
	code := e.code(t, f)
	tfaChallenge(t, get(code))
	if !strings.Contains(e.log.String(), "too many wrong codes") {
		t.Error("the log does not say why the code was refused")
	}
	e.clock.Advance(15 * time.Minute)
	uapiOK(t, get(e.code(t, f)))
	// A guard that refuses stops the check before the code is looked at.
	g.setDeny("bob", true)
	code = e.code(t, f)
	assertD5(t, get(code)) // the password attempt itself is refused first
	g.setDeny("bob", false)
	uapiOK(t, get(code))
}

// The login flow (D10): login_only answers tfa_required / tfa_invalid; the
// browser's two-step login reaches the code page only, until a code (or a
// recovery code) is given there.
func TestTwoFactorLogin(t *testing.T) {
	e := startWithFixtures(t)
	f := e.enroll(t, "bob")
	t.Run("login_only", func(t *testing.T) {
		r := e.postLogin(t, p2083, "/login/?login_only=1", loginForm("user", "bob", "pass", bobPass), nil)
		if r.status != http.StatusUnauthorized || string(r.body) != `{"status":0,"message":"tfa_required"}` || len(cookiesOf(r)) != 0 {
			t.Fatalf("without the code: %d %s %v", r.status, r.body, r.header.Values("Set-Cookie"))
		}
		r = e.postLogin(t, p2083, "/login/?login_only=1", loginForm("user", "bob", "pass", bobPass, "tfa_token", "000000"), nil)
		if r.status != http.StatusUnauthorized || string(r.body) != `{"status":0,"message":"tfa_invalid"}` {
			t.Fatalf("wrong code: %d %s", r.status, r.body)
		}
		// A wrong password with a right code is a wrong login, and the
		// code is not looked at (so not burnt).
		code := e.code(t, f)
		r = e.postLogin(t, p2083, "/login/?login_only=1", loginForm("user", "bob", "pass", "nope", "tfa_token", code), nil)
		if r.status != http.StatusUnauthorized || string(r.body) != loginFailedJSON {
			t.Fatalf("wrong password: %d %s", r.status, r.body)
		}
		r = e.postLogin(t, p2083, "/login/?login_only=1", loginForm("user", "bob", "pass", bobPass, "tfa_token", code), nil)
		if r.status != http.StatusOK || !loginJSONRE.Match(r.body) {
			t.Fatalf("right code: %d %s", r.status, r.body)
		}
		s := sessionOf(t, p2083, r)
		uapiOK(t, e.do(t, s.api("/execute/Variables/get_user_information")))
		st, err := e.storedSession(t, s)
		if err != nil || !st.TFAVerified {
			t.Fatalf("session after a right code: %+v, %v", st, err)
		}
		// list_sessions says so (and 0 for a session without the code).
		plain := e.login(t, p2087, "root", e.rootPass)
		plainSt, err := e.storedSession(t, plain)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{sessions.Handle(st.IDHash): "1", sessions.Handle(plainSt.IDHash): "0"}
		m := whmOK(t, e.do(t, request{port: p2087, path: "/json-api/list_sessions?api.version=1", auth: e.authFor(t, "root")}))
		for _, x := range dig(m, "data", "sessions").([]any) {
			x := x.(map[string]any)
			if w, ok := want[str(x["session"])]; ok {
				if got := str(x["tfa_verified"]); got != w {
					t.Errorf("%s's session: tfa_verified %q, want %q", str(x["user"]), got, w)
				}
				delete(want, str(x["session"]))
			}
		}
		if len(want) != 0 {
			t.Errorf("sessions not listed: %v", want)
		}
	})
	t.Run("two steps", func(t *testing.T) {
		s := e.login(t, p2083, "bob", bobPass)
		codePage(t, e.do(t, s.req(s.token+"/")), s.token)
		codePage(t, e.do(t, s.req(s.token+"/tokens/")), s.token)
		tfaChallenge(t, e.do(t, s.api("/execute/Variables/get_user_information")))
		post := func(code string) response {
			return e.do(t, request{port: p2083, method: http.MethodPost, path: s.token + "/", body: "tfatoken=" + code,
				ctype: "application/x-www-form-urlencoded", header: map[string]string{"Cookie": s.cookie()}})
		}
		r := post("")
		codePage(t, r, s.token)
		if !strings.Contains(string(r.body), "No security code specified.") {
			t.Errorf("empty code: %.300s", r.body)
		}
		r = post("123456")
		codePage(t, r, s.token)
		if !strings.Contains(string(r.body), "The security code is invalid.") {
			t.Errorf("wrong code: %.300s", r.body)
		}
		r = post(e.code(t, f))
		if r.status != http.StatusSeeOther || r.header.Get("Location") != s.token+"/" {
			t.Fatalf("right code: %d %q", r.status, r.header.Get("Location"))
		}
		uapiOK(t, e.do(t, s.api("/execute/Variables/get_user_information")))
		if r := e.do(t, s.req(s.token+"/")); r.status != http.StatusOK || strings.Contains(string(r.body), "tfa_login_form") {
			t.Fatalf("home after the code: %d", r.status)
		}
	})
	t.Run("logout from the code page", func(t *testing.T) {
		s := e.login(t, p2083, "bob", bobPass)
		r := e.do(t, s.req(s.token+"/logout/"))
		loginPage(t, r, http.StatusOK, "logged_out")
		if e.alive(t, s) {
			t.Fatal("the pending session outlived its logout")
		}
	})
	t.Run("recovery codes", func(t *testing.T) {
		r := e.postLogin(t, p2083, "/login", loginForm("user", "bob", "pass", bobPass, "tfa_token", strings.ToUpper(f.recovery[0])), nil)
		if r.status != http.StatusFound {
			t.Fatalf("recovery code: %d %.300s", r.status, r.body)
		}
		uapiOK(t, e.do(t, sessionOf(t, p2083, r).api("/execute/Variables/get_user_information")))
		// The code page's field name works on the login form too.
		r = e.postLogin(t, p2083, "/login/?login_only=1", loginForm("user", "bob", "pass", bobPass, "tfatoken", e.code(t, f)), nil)
		if r.status != http.StatusOK {
			t.Fatalf("login with tfatoken: %d %s", r.status, r.body)
		}
		if !strings.Contains(e.log.String(), "two-factor recovery code used") || !strings.Contains(e.log.String(), "recovery_codes_left=9") {
			t.Error("the use of a recovery code is not logged")
		}
		r = e.postLogin(t, p2083, "/login", loginForm("user", "bob", "pass", bobPass, "tfa_token", f.recovery[0]), nil)
		if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), `name="tfa_login_form"`) || !strings.Contains(string(r.body), "The security code is invalid.") {
			t.Fatalf("recovery code used twice: %d %.300s", r.status, r.body)
		}
		// Not as X-CPANEL-OTP: recovery codes are for logging in.
		e.setSetting(t, settings.APIPolicy, "1")
		tfaChallenge(t, e.do(t, request{port: p2083, path: "/execute/Variables/get_user_information", auth: e.authFor(t, "bob"), header: map[string]string{otp: f.recovery[1]}}))
		e.setSetting(t, settings.APIPolicy, "0")
		for _, c := range f.recovery {
			if strings.Contains(e.log.String(), c) || strings.Contains(e.log.String(), f.secret) {
				t.Fatal("a secret reached the log")
			}
		}
	})
	t.Run("webmail", func(t *testing.T) {
		w := e.enroll(t, "info@bob.test")
		s := e.login(t, p2096, "info@bob.test", infoPass)
		tfaChallenge(t, e.do(t, s.api("/execute/Variables/get_user_information")))
		r := e.postLogin(t, p2096, "/login/?login_only=1", loginForm("user", "info@bob.test", "pass", infoPass, "tfa_token", e.code(t, w)), nil)
		if r.status != http.StatusOK {
			t.Fatalf("webmail login with the code: %d %s", r.status, r.body)
		}
	})
	t.Run("policy off", func(t *testing.T) {
		e.setSetting(t, settings.TwoFactorPolicy, "0")
		defer e.setSetting(t, settings.TwoFactorPolicy, "1")
		s := e.login(t, p2083, "bob", bobPass)
		uapiOK(t, e.do(t, s.api("/execute/Variables/get_user_information")))
		e.setSetting(t, settings.APIPolicy, "1")
		defer e.setSetting(t, settings.APIPolicy, "0")
		uapiOK(t, e.do(t, request{port: p2083, path: "/execute/Variables/get_user_information", auth: e.authFor(t, "bob")}))
		// The configuration was kept: policy on again, the code is asked.
		e.setSetting(t, settings.TwoFactorPolicy, "1")
		tfaChallenge(t, e.do(t, s.api("/execute/Variables/get_user_information")))
	})
}

// The functions of PROTOCOL.md 10.2 and 10.3.
func TestTwoFactorFunctions(t *testing.T) {
	e := startWithFixtures(t)
	root, res, bob := e.authFor(t, "root"), e.authFor(t, "res"), e.authFor(t, "bob")
	whm := func(auth, path string) response {
		return e.do(t, request{port: p2087, path: "/json-api/" + path + map[bool]string{true: "&", false: "?"}[strings.Contains(path, "?")] + "api.version=1", auth: auth})
	}
	cp := func(auth, path string) response {
		return e.do(t, request{port: p2083, path: "/execute/TwoFactorAuth/" + path, auth: auth})
	}
	t.Run("policy", func(t *testing.T) {
		if m := whmOK(t, whm(root, "twofactorauth_policy_status")); str(dig(m, "data", "is_enabled")) != "1" {
			t.Fatalf("default policy: %v", m)
		}
		whmOK(t, whm(root, "twofactorauth_disable_policy"))
		if m := whmOK(t, whm(res, "twofactorauth_policy_status")); str(dig(m, "data", "is_enabled")) != "0" {
			t.Fatalf("after disable: %v", m)
		}
		if msg := whmFailed(t, whm(res, "twofactorauth_enable_policy")); !strings.Contains(msg, "Permission") {
			t.Fatalf("reseller enabling the policy: %q", msg)
		}
		whmOK(t, whm(root, "twofactorauth_enable_policy"))
	})
	var secret string
	t.Run("generate", func(t *testing.T) {
		m := uapiOK(t, cp(bob, "generate_user_configuration"))
		secret = str(dig(m, "data", "secret"))
		uri := str(dig(m, "data", "otpauth_str"))
		host := e.d.Data.Env.Hostname
		if host == "" {
			host = hostname(t)
		}
		want := regexp.QuoteMeta("otpauth://totp/"+host+":bob?secret=") + "[A-Z2-7]{16}" + regexp.QuoteMeta("&issuer="+host)
		if !regexp.MustCompile("^"+want+"$").MatchString(uri) || !strings.Contains(uri, secret) {
			t.Fatalf("otpauth_str %q (secret %q)", uri, secret)
		}
		if m := uapiOK(t, cp(bob, "get_user_configuration")); str(dig(m, "data", "is_enabled")) != "0" {
			t.Fatalf("generate stored a configuration: %v", m)
		}
		m = whmOK(t, whm(res, "twofactorauth_generate_tfa_config?user=carol"))
		if !strings.Contains(str(dig(m, "data", "otpauth_str")), ":carol?") {
			t.Fatalf("reseller for its account: %v", m)
		}
		whmFailed(t, whm(res, "twofactorauth_generate_tfa_config?user=bob")) // not res's account
	})
	t.Run("set", func(t *testing.T) {
		msg := uapiError(t, cp(bob, "set_user_configuration?secret="+secret+"&tfa_token=000000"), http.StatusOK)
		if msg != "Failed to set user configuration: The security code is invalid." {
			t.Fatalf("wrong code: %q", msg)
		}
		msg = uapiError(t, cp(bob, "set_user_configuration?secret=short&tfa_token=000000"), http.StatusOK)
		if !strings.HasPrefix(msg, "Failed to set user configuration: The secret must be 16 characters") {
			t.Fatalf("bad secret: %q", msg)
		}
		msg = uapiError(t, cp(bob, "set_user_configuration?secret="+secret), http.StatusOK)
		if msg != "Failed to set user configuration: No security code specified." {
			t.Fatalf("no code: %q", msg)
		}
		f := tfa{user: "bob", secret: secret}
		m := uapiOK(t, cp(bob, "set_user_configuration?secret="+strings.ToLower(secret)+"&tfa_token="+e.code(t, f)))
		if str(dig(m, "data", "tfa_configured")) != "1" || len(dig(m, "data", "recovery_codes").([]any)) != 10 {
			t.Fatalf("set: %v", m)
		}
		if m := uapiOK(t, cp(bob, "get_user_configuration")); str(dig(m, "data", "is_enabled")) != "1" || str(dig(m, "data", "issuer")) == "" {
			t.Fatalf("get after set: %v", m)
		}
		rec, err := e.d.Data.Store.GetTwoFactor(context.Background(), "bob")
		if err != nil || strings.Contains(string(rec.Sealed), strings.ToUpper(secret)) {
			t.Fatalf("stored: %v (sealed %q)", err, rec.Sealed)
		}
		// WHM: root's own, with a wrong code.
		msg = whmFailed(t, whm(root, "twofactorauth_set_tfa_config?secret="+secret+"&tfa_token=000000"))
		if msg != "The security code is invalid." {
			t.Fatalf("WHM wrong code: %q", msg)
		}
	})
	t.Run("get_user_configs", func(t *testing.T) {
		m := whmOK(t, whm(root, "twofactorauth_get_user_configs"))
		data, _ := dig(m, "data").(map[string]any)
		if str(dig(data, "bob", "is_enabled")) != "1" || str(dig(data, "carol", "is_enabled")) != "0" || str(dig(data, "bob", "primary_domain")) != "bob.test" {
			t.Fatalf("root's view: %v", m)
		}
		if _, ok := data["root"]; !ok {
			t.Errorf("root missing from root's view: %v", data)
		}
		m = whmOK(t, whm(res, "twofactorauth_get_user_configs"))
		data, _ = dig(m, "data").(map[string]any)
		if _, ok := data["bob"]; ok || data["carol"] == nil || data["res"] == nil || data["root"] != nil {
			t.Fatalf("reseller's view: %v", data)
		}
	})
	t.Run("issuer", func(t *testing.T) {
		m := whmOK(t, whm(root, "twofactorauth_get_issuer"))
		if str(dig(m, "data", "issuer")) != str(dig(m, "data", "system_wide_issuer")) {
			t.Fatalf("default issuer: %v", m)
		}
		whmOK(t, whm(root, "twofactorauth_set_issuer?issuer=Example%20Hosting"))
		whmOK(t, whm(res, "twofactorauth_set_issuer?issuer=Res.Host"))
		if m := whmOK(t, whm(res, "twofactorauth_get_issuer")); str(dig(m, "data", "issuer")) != "Res.Host" || str(dig(m, "data", "system_wide_issuer")) != "Example Hosting" {
			t.Fatalf("reseller's issuer: %v", m)
		}
		m = whmOK(t, whm(res, "twofactorauth_generate_tfa_config?user=carol"))
		if !strings.HasPrefix(str(dig(m, "data", "otpauth_str")), "otpauth://totp/Res.Host:carol?") {
			t.Fatalf("carol's issuer is her reseller's: %v", m)
		}
		m = uapiOK(t, cp(bob, "generate_user_configuration"))
		if !strings.HasPrefix(str(dig(m, "data", "otpauth_str")), "otpauth://totp/Example%20Hosting:bob?") || !strings.HasSuffix(str(dig(m, "data", "otpauth_str")), "&issuer=Example%20Hosting") {
			t.Fatalf("bob's issuer is the system-wide one: %v", m)
		}
		for _, bad := range []string{"a%3Cb", strings.Repeat("x", 33), "tab%09in"} {
			if msg := whmFailed(t, whm(root, "twofactorauth_set_issuer?issuer="+bad)); !strings.Contains(msg, "at most 32") {
				t.Errorf("issuer %q: %q", bad, msg)
			}
		}
		if msg := whmFailed(t, whm(root, "twofactorauth_set_issuer")); !strings.Contains(msg, "issuer") {
			t.Errorf("no issuer: %q", msg)
		}
	})
	t.Run("remove", func(t *testing.T) {
		msg := uapiError(t, cp(bob, "remove_user_configuration"), http.StatusOK)
		if !strings.HasPrefix(msg, "Failed to remove user configuration: A current security code") {
			t.Fatalf("without a code: %q", msg)
		}
		msg = uapiError(t, cp(bob, "remove_user_configuration?tfa_token=000000"), http.StatusOK)
		if msg != "Failed to remove user configuration: The security code is invalid." {
			t.Fatalf("wrong code: %q", msg)
		}
		f := tfa{user: "bob", secret: secret}
		m := uapiOK(t, cp(bob, "remove_user_configuration?tfa_token="+e.code(t, f)))
		if str(dig(m, "data", "tfa_removed")) != "1" {
			t.Fatalf("remove: %v", m)
		}
		// WHM: root removes without a code; a reseller not another's.
		e.enroll(t, "bob")
		e.enroll(t, "carol")
		if msg := whmFailed(t, whm(root, "twofactorauth_remove_user_config")); msg != "No users specified." {
			t.Fatalf("no users: %q", msg)
		}
		m = whmOK(t, whm(res, "twofactorauth_remove_user_config?user=carol"))
		if str(dig(m, "data", "failed", "carol")) == "" || len(dig(m, "data", "users_modified").([]any)) != 0 {
			t.Fatalf("reseller removing its account's: %v", m)
		}
		m = whmOK(t, whm(root, "twofactorauth_remove_user_config?user-0=bob&user-1=carol&user-2=nobody"))
		if got := dig(m, "data", "users_modified").([]any); len(got) != 2 || str(dig(m, "data", "failed", "nobody")) == "" {
			t.Fatalf("root removing: %v", m)
		}
		if m := uapiOK(t, cp(bob, "get_user_configuration")); str(dig(m, "data", "is_enabled")) != "0" {
			t.Fatalf("after root's removal: %v", m)
		}
	})
	t.Run("webmail", func(t *testing.T) {
		f := e.enroll(t, "info@bob.test")
		m := uapiOK(t, e.do(t, request{port: p2096, path: "/execute/TwoFactorAuth/get_user_configuration", auth: e.authFor(t, "info@bob.test")}))
		if str(dig(m, "data", "is_enabled")) != "1" {
			t.Fatalf("webmail: %v", m)
		}
		// Deleting the mailbox deletes its configuration.
		e.uapi("bob", "Email", "delete_pop", "email", "info@bob.test")
		if _, err := e.d.Data.Store.GetTwoFactor(context.Background(), f.user); err == nil {
			t.Fatal("a deleted mailbox's configuration is still there")
		}
	})
}

func hostname(t testing.TB) string {
	t.Helper()
	h, err := osHostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

var osHostname = os.Hostname

// TestTwoFactorCluster: two nodes on one PostgreSQL database. A setup made
// on one node is asked for on the other within a second (which had cached
// its absence); a header's code serves both nodes (D22), and once a newer
// one is used on one node the older is refused on the other; a code that
// logged in on one node is refused at a login on the other; and of
// concurrent logins with one code spread over both nodes exactly one
// passes (and concurrent API calls with one code all do).
func TestTwoFactorCluster(t *testing.T) {
	a, b := startLivePair(t)
	whmOK(t, a.do(t, request{port: p2087, auth: basic("root", a.rootPass),
		path: "/json-api/createacct?api.version=1&username=nina&domain=nina.test&password=Nina-Pass-1"}))
	a.pass["nina"], b.pass["nina"] = "Nina-Pass-1", "Nina-Pass-1"
	a.setSetting(t, settings.APIPolicy, "1")
	get := func(e *testEnv, code string) (response, error) {
		r := request{port: p2083, path: "/execute/Variables/get_user_information", auth: basic("nina", "Nina-Pass-1")}
		if code != "" {
			r.header = map[string]string{otp: code}
		}
		return e.try(r)
	}
	status := func(e *testEnv, code string) int {
		r, err := get(e, code)
		if err != nil {
			return -1
		}
		return r.status
	}
	if _, ok := within(time.Second, func() bool { return status(b, "") == http.StatusOK }); !ok {
		t.Fatal("B does not answer nina")
	}
	f := a.enroll(t, "nina")
	if d, ok := within(time.Second, func() bool { return status(b, "") == http.StatusUnauthorized }); !ok {
		t.Fatalf("B still lets nina in without a code %v after A set it up", d)
	}
	// Both nodes' clocks move together, a step at a time.
	code := func() string {
		b.clock.Advance(totp.Period)
		return a.code(t, f)
	}
	c := code()
	if got := status(a, c); got != http.StatusOK {
		t.Fatalf("code on A: %d", got)
	}
	if got := status(b, c); got != http.StatusOK {
		t.Fatalf("the same code on B: %d, want 200 (D22)", got)
	}
	// The next step's code is in the window already: used on A, it makes
	// the older one useless on B.
	newer, err := totp.Code(f.secret, a.clock.Now().Add(totp.Period))
	if err != nil {
		t.Fatal(err)
	}
	if got := status(a, newer); got != http.StatusOK {
		t.Fatalf("the next step's code on A: %d", got)
	}
	if got := status(b, c); got != http.StatusUnauthorized {
		t.Fatalf("the older code on B after a newer one on A: %d, want 401", got)
	}
	login := func(e *testEnv, code string) (int, error) {
		r, err := e.try(request{port: p2083, method: http.MethodPost, path: "/login/?login_only=1", ctype: "application/x-www-form-urlencoded",
			body: loginForm("user", "nina", "pass", "Nina-Pass-1", "tfa_token", code)})
		return r.status, err
	}
	code() // past the step used above
	c = code()
	if got, err := login(a, c); err != nil || got != http.StatusOK {
		t.Fatalf("login on A: %d, %v", got, err)
	}
	if got, err := login(b, c); err != nil || got != http.StatusUnauthorized {
		t.Fatalf("login on B with the code that logged in on A: %d, %v; want 401", got, err)
	}
	for round := range 3 {
		c := code()
		const n = 8
		passed := concurrentPasses(t, n, func(i int) (int, error) {
			return login([]*testEnv{a, b}[i%2], c)
		})
		if passed != 1 {
			t.Fatalf("round %d: %d of %d concurrent logins on two nodes passed with one code, want exactly 1", round, passed, n)
		}
		passed = concurrentPasses(t, n, func(i int) (int, error) {
			return status([]*testEnv{a, b}[i%2], c), nil
		})
		if passed != n {
			t.Fatalf("round %d: %d of %d concurrent API calls on two nodes passed with one code, want all (D22)", round, passed, n)
		}
	}
}
