package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/logs"
	"github.com/cpauth/cpauth/internal/settings"
	"github.com/cpauth/cpauth/internal/store"
)

// Gateway mode's authentication: passwords are the backend's, checked
// through the gateway's regulator and cache; the directory follows the
// backend; the gateway's own policies apply on top.

// backendPasswordChecks counts the password checks the backend made for
// user: its audit stream's password decisions.
func backendPasswordChecks(t testing.TB, e *testEnv, user string) int {
	t.Helper()
	e.d.Data.Logs.Flush()
	raw, _ := os.ReadFile(filepath.Join(e.dir, "logs", logs.AuditLog))
	n := 0
	for line := range bytes.Lines(raw) {
		var d logs.Decision
		if json.Unmarshal(line, &d) == nil && d.Method == "password" && d.User == user && d.Result != "blocked" {
			n++
		}
	}
	return n
}

// Basic on every call costs the backend one password check per cache
// lifetime; a password changed through the gateway is refused at once
// (the cache's entries of it are useless), for an account and a mailbox.
func TestGatewayPasswords(t *testing.T) {
	g := startGateway(t, gwOptions{})
	bob := g.gw.authFor(t, "bob")
	info := "/execute/Variables/get_user_information"
	for range 20 {
		uapiOK(t, g.gw.do(t, request{port: p2083, path: info, auth: bob}))
	}
	if n := backendPasswordChecks(t, g.backend, "bob"); n != 1 {
		t.Errorf("20 Basic calls cost the backend %d password checks, want 1", n)
	}
	// After the cache's lifetime, one more.
	g.gw.clock.Advance(6 * time.Minute)
	for range 5 {
		uapiOK(t, g.gw.do(t, request{port: p2083, path: info, auth: bob}))
	}
	if n := backendPasswordChecks(t, g.backend, "bob"); n != 2 {
		t.Errorf("after the cache's lifetime: %d checks, want 2", n)
	}

	// passwd through the gateway.
	root := g.gw.authFor(t, "root")
	whmOK(t, g.gw.do(t, request{port: p2087, auth: root, path: "/json-api/passwd?api.version=1&user=bob&password=Bob-New-Pass-9"}))
	assertD5(t, g.gw.do(t, request{port: p2083, path: info, auth: bob}))
	uapiOK(t, g.gw.do(t, request{port: p2083, path: info, auth: basic("bob", "Bob-New-Pass-9")}))

	// A mailbox, mirrored at its first login, its password changed by its
	// account through the gateway (UAPI Email::passwd_pop).
	mb := g.gw.authFor(t, "info@bob.test")
	uapiOK(t, g.gw.do(t, request{port: p2096, path: info, auth: mb}))
	uapiOK(t, g.gw.do(t, request{port: p2083, auth: basic("bob", "Bob-New-Pass-9"), path: "/execute/Email/passwd_pop?email=info&password=Info-New-Pass-9"}))
	assertD5(t, g.gw.do(t, request{port: p2096, path: info, auth: mb}))
	uapiOK(t, g.gw.do(t, request{port: p2096, path: info, auth: basic("info@bob.test", "Info-New-Pass-9")}))

	// The API 0 spelling of passwd (pass=) changes the password too.
	carol := g.gw.authFor(t, "carol")
	uapiOK(t, g.gw.do(t, request{port: p2083, path: info, auth: carol}))
	r := g.gw.do(t, request{port: p2087, auth: root, path: "/json-api/passwd?user=carol&pass=Carol-New-Pass-9"})
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"status":1`) {
		t.Fatalf("WHM API 0 passwd through the gateway: %d %s", r.status, r.body)
	}
	assertD5(t, g.gw.do(t, request{port: p2083, path: info, auth: carol}))
}

// Suspension and removal at the backend stop the user at the gateway
// within one sync interval, whatever its credential.
func TestGatewaySuspensionAtTheBackend(t *testing.T) {
	g := startGateway(t, gwOptions{})
	info := "/execute/Variables/get_user_information"
	bob, carolTok := g.gw.authFor(t, "bob"), cpanelTok("carol", g.gwToken(t, "carol", "ci"))
	uapiOK(t, g.gw.do(t, request{port: p2083, path: info, auth: bob}))
	uapiOK(t, g.gw.do(t, request{port: p2083, path: "/execute/Tokens/list", auth: carolTok}))
	s := g.gw.login(t, p2083, "bob", bobPass)
	uapiOK(t, g.gw.do(t, s.api("/execute/Tokens/list")))

	g.backend.whm1("suspendacct", "user", "bob")
	g.backend.whm1("removeacct", "username", "carol")
	start := time.Now()
	refused := func() bool {
		return g.gw.do(t, request{port: p2083, path: info, auth: bob}).status == http.StatusForbidden &&
			g.gw.do(t, s.api("/execute/Tokens/list")).status == http.StatusForbidden &&
			g.gw.do(t, request{port: p2083, path: "/execute/Tokens/list", auth: carolTok}).status == http.StatusForbidden
	}
	if took, ok := within(3*time.Second, refused); !ok {
		t.Fatalf("still accepted at the gateway %v after the backend suspended bob and removed carol", took)
	}
	if took := time.Since(start); took > 2*time.Second+500*time.Millisecond {
		t.Errorf("refused after %v: more than one sync interval (1s) and a sync", took)
	}
	if _, err := g.gw.account("carol"); err == nil {
		t.Error("carol, removed at the backend, is still in the gateway's directory")
	}
	if made, _ := g.gw.d.Gateway().Sessions.Stats(); made == 0 || g.gw.d.Gateway().Sessions.Live("bob") != 0 {
		t.Errorf("backend sessions: %d made, %d of bob's live; want bob's ended", made, g.gw.d.Gateway().Sessions.Live("bob"))
	}
	// Unsuspended, bob is back.
	g.backend.whm1("unsuspendacct", "user", "bob")
	if took, ok := within(3*time.Second, func() bool { return g.gw.do(t, request{port: p2083, path: info, auth: bob}).status == 200 }); !ok {
		t.Fatalf("still refused %v after the backend unsuspended bob", took)
	}
}

// The gateway's two-factor policy applies on top of the backend's
// password, and the code never reaches the backend.
func TestGatewayTwoFactor(t *testing.T) {
	g := startGateway(t, gwOptions{})
	f := g.gw.enroll(t, "bob")
	g.gw.setSetting(t, settings.APIPolicy, "1")
	bob := g.gw.authFor(t, "bob")
	tfaChallenge(t, g.gw.do(t, request{port: p2083, auth: bob, path: "/execute/GwTest/echo"}))
	if n := g.extra.echo.Load(); n != 0 {
		t.Fatalf("the backend ran a call whose second factor was missing")
	}
	m := uapiOK(t, g.gw.do(t, request{port: p2083, auth: bob, path: "/execute/GwTest/echo", header: map[string]string{"X-CPANEL-OTP": g.gw.code(t, f)}}))
	if str(dig(m, "data", "user")) != "bob" {
		t.Errorf("with the code: %s", mustJSON(m))
	}
}

// The gateway's cPHulk refuses before the backend is asked; a wrong
// password costs the backend one check at most, and the backend (which
// allow-lists the gateway, as the documentation says) never blocks it.
func TestGatewayRegulator(t *testing.T) {
	g := startGateway(t, gwOptions{regulated: true})
	info := "/execute/Variables/get_user_information"
	for i := range 5 {
		assertD5(t, g.gw.do(t, request{port: p2083, path: info, auth: basic("bob", "Wrong-Pass-"+string(rune('a'+i)))}))
		if n := backendPasswordChecks(t, g.backend, "bob"); n != i+1 {
			t.Fatalf("wrong password %d cost the backend %d checks in all", i+1, n)
		}
	}
	// The address is blocked at the gateway now: the right password is
	// refused there, and the backend is not asked.
	assertD5(t, g.gw.do(t, request{port: p2083, path: info, auth: g.gw.authFor(t, "bob")}))
	if n := backendPasswordChecks(t, g.backend, "bob"); n != 5 {
		t.Errorf("a blocked attempt reached the backend: %d checks", n)
	}
	blocks, err := g.backend.d.Data.Store.ListHulkBlocks(context.Background(), time.Now())
	if err != nil || len(blocks) != 0 {
		t.Errorf("the backend blocked: %v %v", blocks, err)
	}
	if err := g.gw.d.Gateway().Directory.Sync(context.Background()); err != nil {
		t.Errorf("the gateway's own calls after the guesses: %v", err)
	}
	if brutes, _ := g.gw.whm1("get_cphulk_brutes").Data.(map[string]any)["brutes"].([]map[string]any); len(brutes) != 1 {
		t.Errorf("the gateway's address blocks: %v, want the guessing address's", brutes)
	}
}

// A browser session at the gateway acts through a backend session, which
// ends with the last gateway session of that user and service.
func TestGatewayLogoutEndsBackendSession(t *testing.T) {
	g := startGateway(t, gwOptions{})
	s := g.gw.login(t, p2083, "bob", bobPass)
	m := uapiOK(t, g.gw.do(t, s.api("/execute/GwTest/echo")))
	if str(dig(m, "data", "user")) != "bob" {
		t.Fatalf("through the session: %s", mustJSON(m))
	}
	backendSessions := func() int {
		all, err := g.backend.d.Data.Store.ListSessions(context.Background(), "bob")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ss := range all {
			if ss.Kind == store.SessionNormal {
				n++
			}
		}
		return n
	}
	if backendSessions() != 1 || g.gw.d.Gateway().Sessions.Live("bob") != 1 {
		t.Fatalf("backend sessions: %d at the backend, %d at the gateway", backendSessions(), g.gw.d.Gateway().Sessions.Live("bob"))
	}
	g.gw.do(t, s.req(s.token+"/logout/"))
	if backendSessions() != 0 || g.gw.d.Gateway().Sessions.Live("bob") != 0 {
		t.Errorf("after the logout: %d backend sessions at the backend, %d at the gateway", backendSessions(), g.gw.d.Gateway().Sessions.Live("bob"))
	}
}

// Every forwarded call is one line of the audit stream: principal,
// function, the backend's status and time; a call the backend did not
// answer says why.
func TestGatewayAudit(t *testing.T) {
	g := startGateway(t, gwOptions{})
	root, bob := g.gw.authFor(t, "root"), g.gw.authFor(t, "bob")
	whmOK(t, g.gw.do(t, request{port: p2087, auth: root, path: "/json-api/listaccts?api.version=1"}))
	uapiOK(t, g.gw.do(t, request{port: p2083, auth: bob, path: "/execute/Email/list_pops"}))
	g.gw.do(t, request{port: p2083, auth: bob, path: "/json-api/cpanel?cpanel_jsonapi_apiversion=2&cpanel_jsonapi_module=Email&cpanel_jsonapi_func=listpops"})
	whmOK(t, g.gw.do(t, request{port: p2087, auth: root, path: "/json-api/version?api.version=1"})) // served: no line
	g.backend.stop(t)
	g.gw.do(t, request{port: p2087, auth: root, path: "/json-api/gw_test_echo?api.version=1"})
	g.gw.stop(t)
	raw, err := os.ReadFile(filepath.Join(g.gw.dir, "logs", logs.AuditLog))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		if err := logs.Check(logs.AuditLog, sc.Text()); err != nil {
			t.Error(err)
		}
		var d logs.Decision
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatal(err)
		}
		if d.Result != "forwarded" {
			continue
		}
		if d.RequestID == "" || d.Address != "127.0.0.1" || d.Time.IsZero() || d.Reason == "ok" && d.BackendMicros <= 0 {
			t.Errorf("line %s", sc.Text())
		}
		got = append(got, d.User+" "+d.Method+" "+d.Function+" "+d.Reason+" "+itoa(d.BackendStatus))
	}
	want := []string{
		"root password whmapi1 listaccts ok 200",
		"bob password uapi Email::list_pops ok 200",
		"bob password api2 Email::listpops ok 200",
		"root password whmapi1 gw_test_echo backend_unreachable 0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("forwarded lines:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// A narrow gateway WHM token forwards through a backend token minted with
// the same ACLs, kept sealed: the backend's own ACL check refuses what the
// gateway token may not do, and the backend token goes when the gateway
// token is revoked or changed. A read-only cPanel token forwards only the
// read-only list.
func TestGatewayNarrowTokens(t *testing.T) {
	g := startGateway(t, gwOptions{})
	ctx := context.Background()
	backendTokens := func(user string) []string {
		list, err := g.backend.d.Data.Store.ListTokens(ctx, store.TokenWHM, user)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tok := range list {
			if strings.HasPrefix(tok.Name, "cpauth-gateway-") {
				names = append(names, tok.Name+" "+strings.Join(tok.ACLs, ","))
			}
		}
		return names
	}

	t.Run("root", func(t *testing.T) {
		tok := whmTok("root", g.gwToken(t, "root", "lister", "acl", "list-accts"))
		m := whmOK(t, g.gw.do(t, request{port: p2087, auth: tok, path: "/json-api/listaccts?api.version=1"}))
		if accts, _ := dig(m, "data", "acct").([]any); len(accts) != 4 {
			t.Errorf("listaccts through the narrow token: %d accounts", len(accts))
		}
		// Outside its ACLs: the backend's refusal, passed on as it is.
		via := g.gw.do(t, request{port: p2087, auth: tok, path: "/json-api/createacct?api.version=1&username=zed&domain=zed.test&password=Zed-Pass-1"})
		if reason := whmFailed(t, via); reason != "Permission denied" {
			t.Errorf("createacct through the narrow token: %q", reason)
		}
		if _, err := g.backend.account("zed"); err == nil {
			t.Error("the backend created the account")
		}
		if got := backendTokens("root"); len(got) != 1 || !strings.HasSuffix(got[0], " list-accts") {
			t.Fatalf("backend tokens of root: %v, want one with list-accts", got)
		}
		// A function the gateway has no code for runs as root's minted token.
		m = whmOK(t, g.gw.do(t, request{port: p2087, auth: tok, path: "/json-api/gw_test_echo?api.version=1"}))
		if str(dig(m, "data", "method")) != "token" || str(dig(m, "data", "user")) != "root" {
			t.Errorf("echo through the narrow token: %s", mustJSON(m))
		}
		// Sealed at rest: the store holds no backend token in clear.
		rec, err := g.gw.d.Data.Records.GetBackendToken(ctx, "root", "lister")
		if err != nil || len(rec.Sealed) == 0 || rec.BackendName == "" {
			t.Fatalf("the record: %+v %v", rec, err)
		}
		// Its ACLs changed at the gateway: the old backend token goes, a
		// new one with the new ACLs serves the next call.
		whmOK(t, g.gw.do(t, request{port: p2087, auth: g.gw.authFor(t, "root"), path: "/json-api/api_token_update?api.version=1&token_name=lister&acl=list-accts&acl=acct-summary"}))
		whmOK(t, g.gw.do(t, request{port: p2087, auth: tok, path: "/json-api/accountsummary?api.version=1&user=bob"}))
		if got := backendTokens("root"); len(got) != 1 || !strings.HasSuffix(got[0], " acct-summary,list-accts") {
			t.Errorf("after the update: backend tokens of root %v", got)
		}
		// Revoked at the gateway: revoked at the backend.
		whmOK(t, g.gw.do(t, request{port: p2087, auth: g.gw.authFor(t, "root"), path: "/json-api/api_token_revoke?api.version=1&token_name=lister"}))
		if got := backendTokens("root"); len(got) != 0 {
			t.Errorf("after the revocation: backend tokens of root %v", got)
		}
		if list, _ := g.gw.d.Data.Records.ListBackendTokens(ctx); len(list) != 0 {
			t.Errorf("records left: %v", list)
		}
	})

	t.Run("reseller", func(t *testing.T) {
		// A reseller makes tokens (at the gateway) and has them minted (at
		// the backend) with manage-api-tokens, granted at the backend.
		g.backend.whm1("setacls", "reseller", "res", "acl-list-accts", "1", "acl-create-acct", "1", "acl-kill-acct", "1",
			"acl-passwd", "1", "acl-suspend-acct", "1", "acl-acct-summary", "1", "acl-manage-api-tokens", "1")
		if err := g.gw.d.Gateway().Directory.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		tok := whmTok("res", g.gwToken(t, "res", "lister", "acl", "list-accts"))
		m := whmOK(t, g.gw.do(t, request{port: p2087, auth: tok, path: "/json-api/listaccts?api.version=1"}))
		if accts, _ := dig(m, "data", "acct").([]any); len(accts) != 2 {
			t.Errorf("listaccts through res's narrow token: %d accounts, want 2", len(accts))
		}
		if reason := whmFailed(t, g.gw.do(t, request{port: p2087, auth: tok, path: "/json-api/suspendacct?api.version=1&user=carol"})); reason != "Permission denied" {
			t.Errorf("suspendacct through res's narrow token: %q", reason)
		}
		if got := backendTokens("res"); len(got) != 1 || !strings.HasSuffix(got[0], " list-accts") {
			t.Errorf("backend tokens of res: %v", got)
		}
		// The backend token revoked at the backend behind the gateway's
		// back: a new one is minted, and the call still succeeds, once.
		for _, name := range backendTokens("res") {
			if err := g.backend.d.Data.Store.DeleteToken(ctx, store.TokenWHM, "res", strings.Fields(name)[0]); err != nil {
				t.Fatal(err)
			}
		}
		whmOK(t, g.gw.do(t, request{port: p2087, auth: tok, path: "/json-api/listaccts?api.version=1"}))
		if got := backendTokens("res"); len(got) != 1 {
			t.Errorf("after the backend lost it: %v", got)
		}
		// The reseller loses list-accts at the backend: its token has no
		// privilege left, and forwards nothing (a backend token made
		// without an ACL would hold every privilege of the reseller).
		g.backend.whm1("setacls", "reseller", "res", "acl-create-acct", "1", "acl-manage-api-tokens", "1")
		if err := g.gw.d.Gateway().Directory.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if reason := whmFailed(t, g.gw.do(t, request{port: p2087, auth: tok, path: "/json-api/listaccts?api.version=1"})); reason != "Permission denied" {
			t.Errorf("a token with no privilege left: %q", reason)
		}
		if err := g.gw.d.Gateway().Tokens.Reconcile(ctx, ""); err != nil {
			t.Fatal(err)
		}
		if got := backendTokens("res"); len(got) != 0 {
			t.Errorf("backend tokens of res after it lost the token's privileges: %v", got)
		}
	})

	t.Run("read-only cPanel token", func(t *testing.T) {
		tok := cpanelTok("bob", g.gwToken(t, "bob", "reader", "readonly", "1"))
		uapiOK(t, g.gw.do(t, request{port: p2083, auth: tok, path: "/execute/Email/list_pops"}))
		before := g.extra.echo.Load()
		r := g.gw.do(t, request{port: p2083, auth: tok, path: "/execute/Email/add_pop?email=ro&password=Ro-Pass-12"})
		if msg := uapiError(t, r, http.StatusOK); msg != "The API token “reader” is read-only: it cannot call Email::add_pop, which changes data." {
			t.Errorf("a write through a read-only token: %q", msg)
		}
		if _, err := g.backend.d.Data.Store.GetMailbox(ctx, "ro", "bob.test"); err == nil {
			t.Error("the backend made the mailbox")
		}
		r = g.gw.do(t, request{port: p2083, auth: tok, path: "/execute/GwTest/echo"})
		if msg := uapiError(t, r, http.StatusOK); !strings.Contains(msg, "is read-only") || g.extra.echo.Load() != before {
			t.Errorf("a function off the list through a read-only token: %q", msg)
		}
	})
}
