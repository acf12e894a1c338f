package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Gateway mode (docs/gateway.md): a cpauth in front of a cPanel & WHM
// server, played here by a second cpauth with the standard fixtures.

// mustJSON is v as JSON, for a failure's message.
func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// The gateway mirrors the backend's accounts at start; root's gateway
// token lists the backend's accounts, answered byte for byte as the
// backend answers root; createacct through the gateway makes the account
// on the backend, and its password then works at the gateway.
func TestGatewayAccounts(t *testing.T) {
	g := startGateway(t, gwOptions{})
	for _, u := range []string{"res", "bob", "carol", "sus"} {
		if _, err := g.gw.account(u); err != nil {
			t.Errorf("the gateway did not mirror %s: %v", u, err)
		}
	}
	if a, _ := g.gw.account("sus"); !a.Suspended {
		t.Error("sus is suspended at the backend, not at the gateway")
	}
	tok := g.gwToken(t, "root", "ci")
	list := "/json-api/listaccts?api.version=1"
	via := g.gw.do(t, request{port: p2087, path: list, auth: whmTok("root", tok)})
	direct := g.backend.do(t, request{port: p2087, path: list, auth: whmTok("root", g.rootToken)})
	whmOK(t, via)
	if string(via.body) != string(direct.body) || via.header.Get("Content-Type") != direct.header.Get("Content-Type") {
		t.Errorf("listaccts through the gateway:\n%s\nwant the backend's own answer:\n%s", via.body, direct.body)
	}
	if via.header.Get("Set-Cookie") != "" {
		t.Errorf("a forwarded answer sets a cookie: %q", via.header.Get("Set-Cookie"))
	}

	r := g.gw.do(t, request{port: p2087, auth: whmTok("root", tok),
		path: "/json-api/createacct?api.version=1&username=nina&domain=nina.test&password=Nina-Pass-1"})
	whmOK(t, r)
	if _, err := g.backend.account("nina"); err != nil {
		t.Fatalf("createacct through the gateway: not on the backend: %v", err)
	}
	if a, err := g.gw.account("nina"); err != nil || a.PasswordHash == "" || strings.HasPrefix(a.PasswordHash, "$") {
		t.Fatalf("nina at the gateway: %+v %v (want a mirrored record holding no hash)", a, err)
	}
	m := uapiOK(t, g.gw.do(t, request{port: p2083, path: "/execute/Variables/get_user_information", auth: basic("nina", "Nina-Pass-1")}))
	if got := str(dig(m, "data", "user")); got != "nina" {
		t.Errorf("get_user_information as nina through the gateway: user %q", got)
	}
	assertD5(t, g.gw.do(t, request{port: p2083, path: "/execute/Variables/get_user_information", auth: basic("nina", "Wrong-Pass-1")}))
}

// Passwords are the backend's; a cPanel account's call runs on the
// backend as that account, and a mailbox's as that mailbox.
func TestGatewayActsAsPrincipal(t *testing.T) {
	g := startGateway(t, gwOptions{})
	bob := g.gw.authFor(t, "bob")
	uapiOK(t, g.gw.do(t, request{port: p2083, auth: bob, path: "/execute/Email/add_pop?email=news&password=News-Pass-1"}))
	mb, err := g.backend.d.Data.Store.GetMailbox(context.Background(), "news", "bob.test")
	if err != nil || mb.Account != "bob" {
		t.Fatalf("Email::add_pop through the gateway: the backend's mailbox %+v %v", mb, err)
	}
	if _, err := g.gw.d.Data.Store.GetMailbox(context.Background(), "news", "bob.test"); err == nil {
		t.Error("the gateway made the mailbox in its own store")
	}
	m := uapiOK(t, g.gw.do(t, request{port: p2083, auth: bob, path: "/execute/GwTest/echo?x=1"}))
	if got := str(dig(m, "data", "user")); got != "bob" || str(dig(m, "data", "method")) != "session" {
		t.Errorf("the backend ran GwTest::echo as %q by %q, want bob by its backend session", got, dig(m, "data", "method"))
	}
	// A webmail user: its webmail-safe call runs in the backend's Webmail
	// as that mailbox, and the mailbox is mirrored at its first login.
	info := g.gw.authFor(t, "info@bob.test")
	m = uapiOK(t, g.gw.do(t, request{port: p2096, auth: info, path: "/execute/GwTest/echo"}))
	if got := str(dig(m, "data", "user")); got != "info@bob.test" || str(dig(m, "data", "service")) != "webmaild" {
		t.Errorf("the backend ran GwTest::echo as %q on %q, want info@bob.test in Webmail", got, dig(m, "data", "service"))
	}
	if _, err := g.gw.d.Data.Store.GetMailbox(context.Background(), "info", "bob.test"); err != nil {
		t.Errorf("the mailbox was not mirrored at its first login: %v", err)
	}
	// The backend's Webmail rules hold: GwTest::write is not webmail-safe.
	r := g.gw.do(t, request{port: p2096, auth: info, path: "/execute/GwTest/write"})
	if msg := uapiError(t, r, http.StatusOK); !strings.Contains(msg, "not permitted inside of webmail") {
		t.Errorf("a function that is not webmail-safe, in Webmail through the gateway: %q", msg)
	}
	// A reseller on WHM: its session, its accounts only.
	res := g.gw.authFor(t, "res")
	m = whmOK(t, g.gw.do(t, request{port: p2087, auth: res, path: "/json-api/listaccts?api.version=1"}))
	accts, _ := dig(m, "data", "acct").([]any)
	if len(accts) != 2 { // res and carol
		t.Errorf("listaccts as res through the gateway: %d accounts, want 2: %v", len(accts), accts)
	}
}

// A function the gateway has no code for is forwarded, with its
// arguments, in each API; WHM API 0 passes through as it is.
func TestGatewayForwardsUnknownFunctions(t *testing.T) {
	g := startGateway(t, gwOptions{})
	root := g.gw.authFor(t, "root")
	m := whmOK(t, g.gw.do(t, request{port: p2087, auth: root, path: "/json-api/gw_test_echo?api.version=1&a=1", body: "b=two&c=%C3%A9", ctype: "application/x-www-form-urlencoded"}))
	if str(dig(m, "data", "user")) != "root" || str(dig(m, "data", "args", "b")) != "two" || str(dig(m, "data", "args", "c")) != "é" || str(dig(m, "data", "args", "a")) != "1" {
		t.Errorf("gw_test_echo through the gateway: %s", mustJSON(m))
	}
	r := g.gw.do(t, request{port: p2087, auth: root, path: "/json-api/gw_test_echo"})
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "Unknown app (gw_test_echo) requested for this version (0) of the API.") {
		t.Errorf("WHM API 0 through the gateway: %d %s", r.status, r.body)
	}
	bob := g.gw.authFor(t, "bob")
	m = object(t, g.gw.do(t, request{port: p2083, auth: bob, path: "/json-api/cpanel?cpanel_jsonapi_apiversion=2&cpanel_jsonapi_module=GwTest&cpanel_jsonapi_func=echo&k=v"}))
	if got := str(dig(m, "cpanelresult", "data")); !strings.Contains(got, "bob") {
		t.Errorf("API 2 GwTest::echo through the gateway: %s", mustJSON(m))
	}
	// WHM → cPanel as root: the backend acts in bob's account.
	m = object(t, g.gw.do(t, request{port: p2087, auth: root, path: "/json-api/cpanel?cpanel_jsonapi_user=bob&cpanel_jsonapi_apiversion=3&cpanel_jsonapi_module=GwTest&cpanel_jsonapi_func=echo"}))
	if got := str(dig(m, "result", "data", "user")); got != "bob" {
		t.Errorf("WHM → UAPI GwTest::echo through the gateway: %s", mustJSON(m))
	}
	m = whmOK(t, g.gw.do(t, request{port: p2087, auth: root, path: "/json-api/uapi_cpanel?api.version=1&cpanel.user=bob&cpanel.module=GwTest&cpanel.function=echo"}))
	if got := str(dig(m, "data", "uapi", "data", "user")); got != "bob" {
		t.Errorf("uapi_cpanel GwTest::echo through the gateway: %s", mustJSON(m))
	}
	if n := g.extra.echo.Load(); n != 4 { // API 0 has no such function
		t.Errorf("the backend ran its echo %d times, want 4", n)
	}
	// What the gateway serves itself it does not forward.
	m = whmOK(t, g.gw.do(t, request{port: p2087, auth: root, path: "/json-api/api_token_list?api.version=1"}))
	if _, ok := dig(m, "data", "tokens", "gateway").(map[string]any); ok {
		t.Error("api_token_list through the gateway listed the backend's tokens")
	}
}

// The backend gone, slow, or its session ended: 502 and 504 in each API's
// envelope, nothing sent twice, and a session made again once.
func TestGatewayFailures(t *testing.T) {
	g := startGateway(t, gwOptions{})
	root := g.gw.authFor(t, "root")
	bob := g.gw.authFor(t, "bob")
	var golden []string // the failures' answers, byte for byte

	t.Run("backend session ended between calls", func(t *testing.T) {
		uapiOK(t, g.gw.do(t, request{port: p2083, auth: bob, path: "/execute/Email/add_pop?email=one&password=One-Pass-1"}))
		n, err := g.backend.d.Data.Store.DeleteUserSessions(context.Background(), "bob", "")
		if err != nil || n == 0 {
			t.Fatalf("ending bob's backend sessions: %d %v", n, err)
		}
		uapiOK(t, g.gw.do(t, request{port: p2083, auth: bob, path: "/execute/Email/add_pop?email=two&password=Two-Pass-1"}))
		if _, err := g.backend.d.Data.Store.GetMailbox(context.Background(), "two", "bob.test"); err != nil {
			t.Fatalf("the call after the session ended did not run: %v", err)
		}
	})

	t.Run("backend slow", func(t *testing.T) {
		start := time.Now()
		r := g.gw.do(t, request{port: p2087, auth: root, path: "/json-api/gw_test_slow?api.version=1"})
		if r.status != http.StatusGatewayTimeout {
			t.Fatalf("a call slower than the timeout: %d %s, want 504", r.status, r.body)
		}
		if took := time.Since(start); took < 2*time.Second || took > 3*time.Second {
			t.Errorf("answered after %v, want the timeout (2s)", took)
		}
		m := object(t, r)
		if str(dig(m, "metadata", "result")) != "0" || !strings.Contains(str(dig(m, "metadata", "reason")), "did not answer within 2s") {
			t.Errorf("504 envelope: %s", r.body)
		}
		golden = append(golden, "504 WHM API 1: "+string(r.body))
		time.Sleep(g.extra.slowFor)
		if n := g.extra.slow.Load(); n != 1 {
			t.Errorf("the backend ran the slow call %d times, want once", n)
		}
	})

	// A cPanel token of bob's, made at the gateway (a token call needs
	// no password check).
	ctok := cpanelTok("bob", g.gwToken(t, "bob", "ci"))
	// Remembered by the verified-password cache before the backend goes.
	uapiOK(t, g.gw.do(t, request{port: p2083, auth: bob, path: "/execute/Tokens/list"}))
	g.backend.stop(t)

	t.Run("backend stopped", func(t *testing.T) {
		checks := []struct {
			name  string
			req   request
			check func(t *testing.T, m map[string]any)
		}{
			{"WHM API 1", request{port: p2087, auth: root, path: "/json-api/listaccts?api.version=1"}, func(t *testing.T, m map[string]any) {
				if str(dig(m, "metadata", "result")) != "0" || str(dig(m, "metadata", "command")) != "listaccts" {
					t.Errorf("envelope %s", mustJSON(m))
				}
			}},
			{"UAPI", request{port: p2083, auth: ctok, path: "/execute/Email/list_pops"}, func(t *testing.T, m map[string]any) {
				if str(m["status"]) != "0" || len(m["errors"].([]any)) != 1 {
					t.Errorf("envelope %s", mustJSON(m))
				}
			}},
			{"cPanel API 2", request{port: p2083, auth: ctok, path: "/json-api/cpanel?cpanel_jsonapi_apiversion=2&cpanel_jsonapi_module=Email&cpanel_jsonapi_func=listpops"}, func(t *testing.T, m map[string]any) {
				if !strings.Contains(str(dig(m, "cpanelresult", "error")), "could not be reached") {
					t.Errorf("envelope %s", mustJSON(m))
				}
			}},
			{"WHM → UAPI", request{port: p2087, auth: root, path: "/json-api/cpanel?cpanel_jsonapi_user=bob&cpanel_jsonapi_apiversion=3&cpanel_jsonapi_module=Email&cpanel_jsonapi_func=list_pops"}, func(t *testing.T, m map[string]any) {
				if !strings.Contains(str(m["error"]), "could not be reached") { // PROTOCOL.md 9.2: a top-level error
					t.Errorf("envelope %s", mustJSON(m))
				}
			}},
		}
		for _, tc := range checks {
			t.Run(tc.name, func(t *testing.T) {
				r := g.gw.do(t, tc.req)
				if r.status != http.StatusBadGateway {
					t.Fatalf("status %d, want 502: %s", r.status, r.body)
				}
				if strings.Contains(string(r.body), g.rootToken) || strings.Contains(string(r.body), "cpsess") {
					t.Errorf("the answer holds a credential: %s", r.body)
				}
				tc.check(t, object(t, r))
				golden = append(golden, "502 "+tc.name+": "+string(r.body))
			})
		}
		checkGolden(t, "gateway_failures", []byte(strings.Join(golden, "\n")+"\n"))
		// What the gateway serves keeps working; a password it remembers
		// too. A password it does not is neither right nor wrong.
		whmOK(t, g.gw.do(t, request{port: p2087, auth: root, path: "/json-api/version?api.version=1"}))
		uapiOK(t, g.gw.do(t, request{port: p2083, auth: ctok, path: "/execute/Tokens/list"}))
		uapiOK(t, g.gw.do(t, request{port: p2083, auth: bob, path: "/execute/Tokens/list"}))
		assertD5(t, g.gw.do(t, request{port: p2083, auth: g.gw.authFor(t, "carol"), path: "/execute/Tokens/list"}))
		if !strings.Contains(g.gw.log.String(), "password not checked") {
			t.Error("carol's refusal is not logged as a password not checked")
		}
	})
}

// Gateway mode changes nothing of how a call is answered when the
// gateway serves it: a wrong credential is D5 before the backend is asked.
func TestGatewayAuthenticatesFirst(t *testing.T) {
	g := startGateway(t, gwOptions{})
	before := g.gw.d.Gateway().Verifier.Checks()
	assertD5(t, g.gw.do(t, request{port: p2087, auth: whmTok("root", strings.Repeat("A", 32)), path: "/json-api/listaccts?api.version=1"}))
	r := g.gw.do(t, request{port: p2087, path: "/json-api/listaccts?api.version=1"})
	if r.status != http.StatusUnauthorized && r.status != http.StatusForbidden {
		t.Errorf("no credential: %d", r.status)
	}
	if got := g.gw.d.Gateway().Verifier.Checks(); got != before {
		t.Errorf("tokens cost %d backend password checks", got-before)
	}
	// The port check comes first too (D2).
	r = g.gw.do(t, request{port: p2083, auth: g.gw.authFor(t, "bob"), path: "/json-api/listaccts?api.version=1"})
	if r.status != http.StatusForbidden || !strings.Contains(string(r.body), "Permission denied") {
		t.Errorf("WHM API on the cPanel port: %d %s", r.status, r.body)
	}
}
