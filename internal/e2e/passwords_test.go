package e2e

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/store"
)

// Hashes of "secret" made by openssl:
//
//	openssl passwd -6 -salt saltsalt secret                      (5000 rounds, named by none)
//	openssl passwd -6 -salt 'rounds=5000000$saltsalt' secret     (above D31's bound)
const (
	hashSecret5000    = "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1"
	hashSecret5000000 = "$6$rounds=5000000$saltsalt$L.A0/uSS.wqLsJHWNVnD8bIjxI.mE0T8DBe48K6.JgEqKNAxAEBuxHOo/dp8YeUlkqrGGiOq029z/zs.pI8YP."
)

// D31: an imported hash must cost what a login may cost. Email::add_pop
// password_hash, over HTTP and through the command-line twin, refuses one
// outside the bounds with a reason, and creates nothing.
func TestImportedHashCost(t *testing.T) {
	e := startWithFixtures(t)
	tests := []struct {
		name, hash, must string
	}{
		{"5,000,000 rounds", hashSecret5000000, "must have 1000 to 1000000 rounds"},
		{"1,000,001 rounds", "$6$rounds=1000001$saltsalt$E4ZWl4Og.COmtRYGOfjB79vIV7qYCN0abQdsjjJA./ZoyJow6ZU5R1fUGJMeya5pvhD72HKHWsdhldu/ux/EY/", "must have 1000 to 1000000 rounds"},
		{"bcrypt cost 14", "$2y$14$Ybw7jl3Q.No..evjgr8o0.sGm4YQYnQhssaMLj1DY0VQgbd4T2hJW", "a bcrypt hash a cost of at most 13"},
		{"md5-crypt", "$1$saltsalt$zkYyS.NDVh/9dUGHDdP4Q/", "must be a SHA-512-crypt, SHA-256-crypt or bcrypt hash"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			local := "imp" + string(rune('a'+i))
			r := e.do(t, request{port: p2083, auth: basic("bob", bobPass), path: "/execute/Email/add_pop",
				ctype: "application/x-www-form-urlencoded", body: "email=" + local + "&password_hash=" + url.QueryEscape(tc.hash)})
			if got := uapiError(t, r, http.StatusOK); !strings.Contains(got, tc.must) {
				t.Errorf("add_pop over HTTP: %q, want it to say %q", got, tc.must)
			}
			code, out, errOut := runCLIIn(t, e, "", "uapi", "--user", "bob", "Email", "add_pop", "email="+local, "password_hash="+tc.hash)
			if code == 0 || !strings.Contains(out+errOut, tc.must) {
				t.Errorf("add_pop by the command line: exit %d, %q %q; want a failure saying %q", code, out, errOut, tc.must)
			}
			if _, err := e.d.Data.Store.GetMailbox(context.Background(), local, "bob.test"); err == nil {
				t.Error("the mailbox was created")
			}
		})
	}
	// At the bounds' inside: imported, and it logs in.
	r := e.do(t, request{port: p2083, auth: basic("bob", bobPass), path: "/execute/Email/add_pop",
		ctype: "application/x-www-form-urlencoded", body: "email=imported&password_hash=" + url.QueryEscape(hashSecret5000)})
	uapiOK(t, r)
	if got := e.do(t, request{port: p2096, auth: basic("imported@bob.test", "secret"), path: p2096.nativePath()}); got.status != 200 {
		t.Fatalf("the imported mailbox's login: %d", got.status)
	}
}

// D31: a right password whose hash has other rounds than the daemon's is
// re-hashed at the daemon's rounds, by every way a password is checked
// (Basic, /login, the mailbox check of single sign-on); the sessions stay
// and PasswordChanged does not move.
func TestRehashOnLogin(t *testing.T) {
	e := startWithFixtures(t)
	ctx := context.Background()
	st := e.d.Data.Store
	setAccount := func(t *testing.T, user, hash string) store.Account {
		t.Helper()
		a, err := st.UpdateAccount(ctx, user, func(a store.Account) (store.Account, error) {
			a.PasswordHash = hash
			return a, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	setMailbox := func(t *testing.T, local, domain, hash string) {
		t.Helper()
		if _, err := st.UpdateMailbox(ctx, local, domain, func(m store.Mailbox) (store.Mailbox, error) {
			m.PasswordHash = hash
			return m, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	accountHash := func(t *testing.T, user string) store.Account {
		t.Helper()
		a, err := st.GetAccount(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	mailboxHash := func(t *testing.T, local, domain string) string {
		t.Helper()
		m, err := st.GetMailbox(ctx, local, domain)
		if err != nil {
			t.Fatal(err)
		}
		return m.PasswordHash
	}
	rehashed := func(t *testing.T, hash string) {
		t.Helper()
		if !strings.HasPrefix(hash, "$6$rounds=1000$") {
			t.Fatalf("hash after a right password = %q, want the daemon's 1000 rounds", hash)
		}
	}

	t.Run("Basic, sessions kept", func(t *testing.T) {
		s := e.login(t, p2083, "bob", bobPass) // before the hash is replaced
		before := setAccount(t, "bob", hashSecret5000)
		if r := e.do(t, request{port: p2083, auth: basic("bob", "secret"), path: p2083.nativePath()}); r.status != 200 {
			t.Fatalf("Basic with the imported password: %d", r.status)
		}
		after := accountHash(t, "bob")
		rehashed(t, after.PasswordHash)
		if !after.PasswordChanged.Equal(before.PasswordChanged) {
			t.Errorf("PasswordChanged moved from %v to %v", before.PasswordChanged, after.PasswordChanged)
		}
		if !e.alive(t, s) {
			t.Error("the re-hash ended bob's session")
		}
		if r := e.do(t, request{port: p2083, auth: basic("bob", "secret"), path: p2083.nativePath()}); r.status != 200 {
			t.Fatalf("Basic after the re-hash: %d", r.status)
		}
	})
	t.Run("/login", func(t *testing.T) {
		setAccount(t, "carol", hashSecret5000)
		e.login(t, p2083, "carol", "secret")
		rehashed(t, accountHash(t, "carol").PasswordHash)
	})
	t.Run("wrong password changes nothing", func(t *testing.T) {
		setAccount(t, "res", hashSecret5000)
		if r := e.do(t, request{port: p2087, auth: basic("res", "Secret"), path: p2087.nativePath()}); r.status != 403 {
			t.Fatalf("wrong password: %d", r.status)
		}
		if got := accountHash(t, "res").PasswordHash; got != hashSecret5000 {
			t.Fatalf("a wrong password replaced the hash: %q", got)
		}
	})
	t.Run("mailbox by Basic", func(t *testing.T) {
		setMailbox(t, "info", "bob.test", hashSecret5000)
		if r := e.do(t, request{port: p2096, auth: basic("info@bob.test", "secret"), path: p2096.nativePath()}); r.status != 200 {
			t.Fatalf("mailbox Basic: %d", r.status)
		}
		rehashed(t, mailboxHash(t, "info", "bob.test"))
	})
	t.Run("mailbox check of single sign-on", func(t *testing.T) {
		uapiOK(t, e.do(t, request{port: p2083, auth: basic("bob", "secret"), path: "/execute/Email/add_pop",
			ctype: "application/x-www-form-urlencoded", body: "email=sso&password_hash=" + url.QueryEscape(hashSecret5000)}))
		uapiOK(t, e.do(t, request{port: p2083, auth: basic("bob", "secret"),
			path: "/execute/Session/create_webmail_session_for_mail_user_check_password?login=sso&domain=bob.test&password=secret"}))
		rehashed(t, mailboxHash(t, "sso", "bob.test"))
	})
}

// cacheStep is one step of a verified-password cache scenario: an optional
// change, then a Basic call, its status and how many password checks
// hashed on the node that answered.
type cacheStep struct {
	name   string
	change func(t *testing.T)
	port   port
	user   string
	pass   string
	status int
	hashed uint64
}

func runCacheSteps(t *testing.T, node *testEnv, steps []cacheStep) {
	t.Helper()
	pw := node.d.Data.Env.Passwords
	for _, s := range steps {
		if s.change != nil {
			s.change(t)
		}
		before := pw.Hashed()
		r := node.do(t, request{port: s.port, auth: basic(s.user, s.pass), path: s.port.nativePath()})
		if r.status != s.status {
			t.Fatalf("%s: status %d, want %d", s.name, r.status, s.status)
		}
		if s.status == 403 {
			assertD5(t, r)
		}
		if got := pw.Hashed() - before; got != s.hashed {
			t.Fatalf("%s: %d password checks hashed, want %d", s.name, got, s.hashed)
		}
	}
}

// D32 on one node (SQLite): a repeated Basic call is checked once per
// TTL, on the daemon's clock; a password change, a suspension, a removal,
// a mailbox's password change or removal, over the API or by the command
// line (another process on the same database), makes the remembered check
// useless at once.
func TestPasswordCacheSQLite(t *testing.T) {
	e := startWithFixtures(t)
	whm := func(path string) func(t *testing.T) {
		return func(t *testing.T) {
			whmOK(t, e.do(t, request{port: p2087, auth: basic("root", e.rootPass), path: path}))
		}
	}
	cp := func(path string) func(t *testing.T) {
		return func(t *testing.T) {
			uapiOK(t, e.do(t, request{port: p2083, auth: basic("bob", "Bob-Pass-3"), path: path}))
		}
	}
	runCacheSteps(t, e, []cacheStep{
		{"first call checks", nil, p2083, "bob", bobPass, 200, 1},
		{"second call is remembered", nil, p2083, "bob", bobPass, 200, 0},
		{"on another service, another entry", nil, p2095, "bob", bobPass, 200, 1},
		{"wrong password", nil, p2083, "bob", "Bob-Pass-X", 403, 1},
		{"wrong password again: failures are never remembered", nil, p2083, "bob", "Bob-Pass-X", 403, 1},
		{"password changed (WHM passwd): the old one fails at once",
			whm("/json-api/passwd?api.version=1&user=bob&password=Bob-Pass-2"), p2083, "bob", bobPass, 403, 1},
		{"the new one", nil, p2083, "bob", "Bob-Pass-2", 200, 1},
		{"the new one remembered", nil, p2083, "bob", "Bob-Pass-2", 200, 0},
		{"password changed by cpauth passwd (another process): the old one fails at once", func(t *testing.T) {
			if code := runPasswdCLI(t, e, "bob", "Bob-Pass-3"); code != 0 {
				t.Fatalf("cpauth passwd: exit %d", code)
			}
		}, p2083, "bob", "Bob-Pass-2", 403, 1},
		{"the CLI's password", nil, p2083, "bob", "Bob-Pass-3", 200, 1},
		{"suspended: refused at once", whm("/json-api/suspendacct?api.version=1&user=bob"), p2083, "bob", "Bob-Pass-3", 403, 0},
		{"unsuspended", whm("/json-api/unsuspendacct?api.version=1&user=bob"), p2083, "bob", "Bob-Pass-3", 200, 0},
		{"TTL passed on the daemon's clock: checked again", func(t *testing.T) { e.clock.Advance(5 * time.Minute) }, p2083, "bob", "Bob-Pass-3", 200, 1},
		{"mailbox first call", nil, p2096, "info@bob.test", infoPass, 200, 1},
		{"mailbox remembered", nil, p2096, "info@bob.test", infoPass, 200, 0},
		{"mailbox password changed: refused at once",
			cp("/execute/Email/passwd_pop?email=info@bob.test&password=Info-Pass-2"), p2096, "info@bob.test", infoPass, 403, 1},
		{"mailbox new password", nil, p2096, "info@bob.test", "Info-Pass-2", 200, 1},
		{"mailbox new password remembered", nil, p2096, "info@bob.test", "Info-Pass-2", 200, 0},
		{"mailbox removed: refused at once", cp("/execute/Email/delete_pop?email=info@bob.test"), p2096, "info@bob.test", "Info-Pass-2", 403, 1},
		{"carol remembered", nil, p2083, "carol", carolPass, 200, 1},
		{"account removed: refused at once", whm("/json-api/removeacct?api.version=1&username=carol"), p2083, "carol", carolPass, 403, 1},
	})
	if n := e.d.Data.PasswordCache.Len(); n == 0 || n > 10 {
		t.Errorf("the cache holds %d entries", n)
	}
}

// password-cache-ttl 0 (or password-cache-size 0) turns the cache off:
// every call checks.
func TestPasswordCacheOff(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*config.Config)
	}{
		{"ttl 0", func(c *config.Config) { c.PasswordCacheTTL = 0 }},
		{"size 0", func(c *config.Config) { c.PasswordCacheSize = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startWith(t, tc.set)
			if e.d.Data.PasswordCache.Enabled() {
				t.Fatal("the cache is on")
			}
			runCacheSteps(t, e, []cacheStep{
				{"first", nil, p2087, "root", e.rootPass, 200, 1},
				{"second checks again", nil, p2087, "root", e.rootPass, 200, 1},
			})
		})
	}
}

// D32 on a cluster: what node B remembered is useless as soon as B's store
// knows of a change made on node A (the change feed), for a password
// change, a suspension, a removal and a mailbox's password change.
func TestClusterPasswordCache(t *testing.T) {
	a, b := startLivePair(t)
	ctx := context.Background()
	root := basic("root", a.rootPass)
	whmOK(t, a.do(t, request{port: p2087, auth: root, path: "/json-api/createacct?api.version=1&username=nina&domain=nina.test&password=Nina-Pass-1"}))
	whmOK(t, a.do(t, request{port: p2087, auth: root, path: "/json-api/createacct?api.version=1&username=otto&domain=otto.test&password=Otto-Pass-1"}))
	uapiOK(t, a.do(t, request{port: p2083, auth: basic("nina", "Nina-Pass-1"), path: "/execute/Email/add_pop?email=info&password=Info-Pass-1"}))
	onA := func(path, auth string) {
		t.Helper()
		if strings.HasPrefix(path, "/execute/") {
			uapiOK(t, a.do(t, request{port: p2083, auth: auth, path: path}))
			return
		}
		whmOK(t, a.do(t, request{port: p2087, auth: auth, path: path}))
	}
	// seen waits until B's store answers what A changed: from then on the
	// remembered check must not answer.
	seen := func(t *testing.T, changed func() bool) {
		t.Helper()
		if took, ok := within(time.Second, changed); !ok {
			t.Fatalf("B's store did not see the change within %v", took)
		}
	}
	hashOf := func(user string) string {
		acct, err := b.d.Data.Store.GetAccount(ctx, user)
		if err != nil {
			return ""
		}
		return acct.PasswordHash
	}
	mailHash := func() string {
		m, err := b.d.Data.Store.GetMailbox(ctx, "info", "nina.test")
		if err != nil {
			return ""
		}
		return m.PasswordHash
	}
	var old string
	runCacheSteps(t, b, []cacheStep{
		{"made on A, checked on B", nil, p2083, "nina", "Nina-Pass-1", 200, 1},
		{"remembered on B", nil, p2083, "nina", "Nina-Pass-1", 200, 0},
		{"password changed on A", func(t *testing.T) {
			old = hashOf("nina")
			onA("/json-api/passwd?api.version=1&user=nina&password=Nina-Pass-2", root)
			seen(t, func() bool { return hashOf("nina") != old })
		}, p2083, "nina", "Nina-Pass-1", 403, 1},
		{"new password on B", nil, p2083, "nina", "Nina-Pass-2", 200, 1},
		{"new password remembered on B", nil, p2083, "nina", "Nina-Pass-2", 200, 0},
		{"suspended on A", func(t *testing.T) {
			onA("/json-api/suspendacct?api.version=1&user=nina", root)
			seen(t, func() bool { acct, err := b.d.Data.Store.GetAccount(ctx, "nina"); return err == nil && acct.Suspended })
		}, p2083, "nina", "Nina-Pass-2", 403, 0},
		{"unsuspended on A", func(t *testing.T) {
			onA("/json-api/unsuspendacct?api.version=1&user=nina", root)
			seen(t, func() bool { acct, err := b.d.Data.Store.GetAccount(ctx, "nina"); return err == nil && !acct.Suspended })
		}, p2083, "nina", "Nina-Pass-2", 200, 0},
		{"mailbox checked on B", nil, p2096, "info@nina.test", "Info-Pass-1", 200, 1},
		{"mailbox remembered on B", nil, p2096, "info@nina.test", "Info-Pass-1", 200, 0},
		{"mailbox password changed on A", func(t *testing.T) {
			old = mailHash()
			onA("/execute/Email/passwd_pop?email=info@nina.test&password=Info-Pass-2", basic("nina", "Nina-Pass-2"))
			seen(t, func() bool { return mailHash() != old })
		}, p2096, "info@nina.test", "Info-Pass-1", 403, 1},
		{"mailbox new password on B", nil, p2096, "info@nina.test", "Info-Pass-2", 200, 1},
		{"otto checked on B", nil, p2083, "otto", "Otto-Pass-1", 200, 1},
		{"otto remembered on B", nil, p2083, "otto", "Otto-Pass-1", 200, 0},
		{"otto removed on A", func(t *testing.T) {
			onA("/json-api/removeacct?api.version=1&username=otto", root)
			seen(t, func() bool { return hashOf("otto") == "" })
		}, p2083, "otto", "Otto-Pass-1", 403, 1},
	})
}

// A password check that gets no turn in the pool of password checks is
// answered as a wrong password (D5, D8; never a server error), logged
// with its reason, and not counted by the brute-force regulator; calls
// that need no password hash (an API token, a remembered Basic check) go
// on as before.
func TestPasswordChecksBusy(t *testing.T) {
	e := startRegulated(t, func(c *config.Config) {
		c.PasswordCheckWorkers, c.PasswordCheckQueue, c.PasswordCheckWait = 1, 0, 0
	})
	e.whm1("createacct", "username", "bob", "domain", "bob.test", "password", bobPass)
	e.uapi("bob", "Email", "add_pop", "email", "info", "password", infoPass)
	tok := whmTok("root", e.mkToken(t, store.TokenWHM, "root", "busy"))
	root, bob := basic("root", e.rootPass), basic("bob", bobPass)
	if r := e.do(t, request{port: p2083, auth: bob, path: p2083.nativePath()}); r.status != 200 {
		t.Fatalf("bob's first call: %d", r.status) // remembered from now on
	}
	pool := e.d.Data.HashPool
	if !pool.Acquire(context.Background()) { // the one turn, held by a long check
		t.Fatal("the pool's turn was refused")
	}
	held := true
	defer func() {
		if held {
			pool.Release()
		}
	}()
	// More attempts than max_failures_byip (5): were they counted, the
	// address would be blocked.
	for i := range 8 {
		assertD5(t, e.do(t, request{port: p2087, auth: root, path: p2087.nativePath()}))
		if i == 0 {
			assertD5(t, e.do(t, request{port: p2087, auth: basic("nobody", "x"), path: p2087.nativePath()}))
		}
	}
	r := e.postLogin(t, p2087, "/login/?login_only=1", loginForm("user", "root", "pass", e.rootPass), nil)
	if r.status != http.StatusUnauthorized || string(r.body) != loginFailedJSON {
		t.Errorf("/login login_only=1: %d %s, want 401 %s", r.status, r.body, loginFailedJSON)
	}
	loginPage(t, e.postLogin(t, p2087, "/login", loginForm("user", "root", "pass", e.rootPass), nil), http.StatusUnauthorized, "invalid_login")
	msg := uapiError(t, e.do(t, request{port: p2083, auth: bob,
		path: "/execute/Session/create_webmail_session_for_mail_user_check_password?login=info&domain=bob.test&password=" + infoPass}), http.StatusOK)
	if !strings.Contains(msg, "is incorrect") {
		t.Errorf("mailbox check: %q, want the wrong-password answer", msg)
	}
	if r := e.do(t, request{port: p2087, auth: tok, path: p2087.nativePath()}); r.status != 200 {
		t.Errorf("an API token while the pool is busy: %d", r.status)
	}
	if r := e.do(t, request{port: p2083, auth: bob, path: p2083.nativePath()}); r.status != 200 {
		t.Errorf("a remembered Basic check while the pool is busy: %d", r.status)
	}
	if _, shed, _, _ := pool.Stats(); shed < 12 {
		t.Errorf("%d checks shed, want at least 12", shed)
	}
	if !strings.Contains(e.log.String(), auth.ReasonBusy) {
		t.Error("the log does not say why the checks failed")
	}
	pool.Release()
	held = false
	// Nothing was counted: root is not blocked, from this address or at all.
	if r := e.do(t, request{port: p2087, auth: root, path: p2087.nativePath()}); r.status != 200 {
		t.Fatalf("root after the busy spell: %d (counted as failures?)", r.status)
	}
	if r := e.do(t, request{port: p2087, auth: root, path: "/json-api/get_cphulk_failed_logins?api.version=1"}); !strings.Contains(string(r.body), `"failed_logins":[]`) {
		t.Errorf("failed logins recorded: %s", r.body)
	}
}

// D32: the regulator is asked before the cache. An address blocked for
// wrong passwords is refused with the right one too, although the cache
// remembers it, and nothing is hashed for it.
func TestPasswordCacheAfterRegulator(t *testing.T) {
	e := startRegulated(t, nil)
	root := basic("root", e.rootPass)
	pw := e.d.Data.Env.Passwords
	for range 2 { // checked, then remembered
		if r := e.do(t, request{port: p2087, auth: root, path: p2087.nativePath()}); r.status != 200 {
			t.Fatalf("root before the block: %d", r.status)
		}
	}
	for i := range 5 { // max_failures_byip
		assertD5(t, e.do(t, request{port: p2087, auth: basic("root", "wrong-"+string(rune('a'+i))), path: p2087.nativePath()}))
	}
	before := pw.Hashed()
	assertD5(t, e.do(t, request{port: p2087, auth: root, path: p2087.nativePath()}))
	if pw.Hashed() != before {
		t.Error("a blocked address's attempt reached the password check")
	}
	if e.d.Data.PasswordCache.Len() == 0 {
		t.Error("the cache lost root's entry: the test proves nothing")
	}
}
