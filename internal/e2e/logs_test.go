package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/daemon"
	"github.com/cpauth/cpauth/internal/logs"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/testutil"
)

// The log files after a day's worth of authentication: every line has its
// documented format, and no secret the test used appears in any file of
// the data directory.
func TestLogFiles(t *testing.T) {
	e := startRegulated(t, nil)
	e.whm1("createacct", "username", "bob", "domain", "bob.test", "password", bobPass)
	e.whm1("accesshash", "generate", "1")
	hash := e.accessHash(t, "root")
	secrets := []string{e.rootPass, bobPass, hash, "Wrong-Secret-1", "Wrong-Secret-2"}

	assertD5(t, e.do(t, request{port: p2087, path: version1 + "&password=Query-Secret-1", auth: basic("root", "Wrong-Secret-1")}))
	secrets = append(secrets, "Query-Secret-1")
	if r := e.do(t, request{port: p2087, path: version1, auth: e.authFor(t, "root")}); r.status != http.StatusOK {
		t.Fatalf("root by password: %d", r.status)
	}
	created := whmOK(t, e.do(t, request{port: p2087, path: "/json-api/api_token_create?api.version=1&token_name=ci", auth: e.authFor(t, "root")}))
	tok := str(dig(created, "data", "token"))
	secrets = append(secrets, tok)
	if r := e.do(t, request{port: p2087, path: version1, auth: "whm root:" + tok}); r.status != http.StatusOK {
		t.Fatalf("root by token: %d", r.status)
	}
	if r := e.do(t, request{port: p2087, path: version1, auth: "whm root:" + hash}); r.status != http.StatusOK {
		t.Fatalf("root by access hash: %d", r.status)
	}
	if r := e.do(t, request{port: p2082, path: "/execute/Variables/get_user_information", auth: basic("bob", bobPass)}); r.status != http.StatusOK {
		t.Fatalf("bob: %d", r.status)
	}
	e.postLogin(t, p2087, "/login/?login_only=1", loginForm("user", "root", "pass", "Wrong-Secret-2"), nil)
	s := e.login(t, p2087, "root", e.rootPass)
	raw, _ := url.QueryUnescape(s.value)
	secrets = append(secrets, s.value, raw)
	// The security token is stored as it is (it is no secret without the
	// cookie), but the logs mask it.
	logSecrets := []string{s.token, strings.TrimPrefix(s.token, "/cpsess")}
	if r := e.do(t, s.api(version1)); r.status != http.StatusOK {
		t.Fatalf("session API call: %d", r.status)
	}
	if r := e.do(t, s.req(s.token+"/")); r.status != http.StatusOK {
		t.Fatalf("session page: %d", r.status)
	}
	e.do(t, s.req("/logout/"))
	// Single sign-on: made by root for bob, redeemed by a browser.
	sso := e.mustCreateSession(t, "root", "user", "bob", "service", "cpaneld")
	secrets = append(secrets, sso.Session)
	if r := e.open(t, http.MethodGet, sso.URL, nil); r.status != http.StatusTemporaryRedirect {
		t.Fatalf("single sign-on URL: %d", r.status)
	} else {
		secrets = append(secrets, r.cookie.Value)
	}
	// A session ended by kill_session.
	killed := e.login(t, p2083, "bob", bobPass)
	secrets = append(secrets, killed.value)
	killedHandle := e.handleOf(t, killed)
	whmOK(t, e.do(t, request{port: p2087, path: "/json-api/kill_session?api.version=1&session=" + killedHandle, auth: e.authFor(t, "root")}))
	// Two-factor: bob sets it up, then sends one wrong code.
	f := e.enroll(t, "bob")
	secrets = append(secrets, f.secret)
	secrets = append(secrets, f.recovery...)
	if r := e.postLogin(t, p2083, "/login/?login_only=1", loginForm("user", "bob", "pass", bobPass, "tfa_token", "000000"), nil); r.status != http.StatusUnauthorized || !bytes.Contains(r.body, []byte("tfa_invalid")) {
		t.Fatalf("login with a wrong code: %d %s", r.status, r.body)
	}
	// A password change ends bob's other sessions.
	changed := e.login(t, p2083, "bob", bobPass)
	secrets = append(secrets, changed.value)
	changedHandle := e.handleOf(t, changed)
	e.whm1("passwd", "user", "bob", "password", "New-Bob-Secret-1")
	secrets = append(secrets, "New-Bob-Secret-1")
	// A session left idle is purged.
	idle := e.login(t, p2087, "root", e.rootPass)
	secrets = append(secrets, idle.value)
	idleHandle := e.handleOf(t, idle)
	e.clock.Advance(31 * time.Minute)
	if _, err := e.d.PurgeSessions(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Guessing until blocked.
	for i := range 5 {
		g := fmt.Sprintf("Guess-Secret-%d", i)
		secrets = append(secrets, g)
		e.do(t, request{port: p2087, path: version1, auth: basic("root", g)})
	}
	assertD5(t, e.do(t, request{port: p2087, path: version1, auth: e.authFor(t, "root")}))
	// The lines name the port each request came in on.
	_, cpanelPort, _ := net.SplitHostPort(e.d.Addr(core.ServiceCPanel, false))
	_, whmTLSPort, _ := net.SplitHostPort(e.d.Addr(core.ServiceWHM, true))
	e.stop(t) // everything written and closed

	dir := filepath.Join(e.dir, "logs")
	for _, name := range logs.Names {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || len(b) == 0 {
			t.Errorf("%s: %d bytes, %v", name, len(b), err)
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if err := logs.Check(name, sc.Text()); err != nil {
				t.Error(err)
			}
		}
	}
	logText := func(name string) string { b, _ := os.ReadFile(filepath.Join(dir, name)); return string(b) }
	for _, want := range []struct{ file, text string }{
		{logs.LoginLog, `] info [whostmgrd] 127.0.0.1 - root "GET /json-api/version HTTP/1.1" FAILED LOGIN whostmgrd: user password incorrect`},
		{logs.LoginLog, `"POST /login/ HTTP/1.1" FAILED LOGIN whostmgrd: user password incorrect`},
		{logs.LoginLog, `FAILED LOGIN whostmgrd: address blocked by cPHulk until `},
		{logs.SessionLog, "] info [whostmgrd] 127.0.0.1 NEW root:"},
		{logs.SessionLog, " PURGE root:"},
		{logs.SessionLog, "] info [cpaneld] 127.0.0.1 NEW bob:"},
		{logs.SessionLog, "creator=root,method=sso"},
		{logs.SessionLog, " redeemed\n"},
		{logs.SessionLog, " PURGE bob:" + killedHandle + " kill\n"},
		{logs.SessionLog, " PURGE bob:" + changedHandle + " password_change\n"},
		{logs.SessionLog, "] info [whostmgrd] - PURGE root:" + idleHandle + " expired\n"},
		{logs.AccessLog, `127.0.0.1 - bob [`},
		{logs.AccessLog, `"GET /execute/Variables/get_user_information HTTP/1.1" 200 `},
		{logs.AccessLog, `"s" "-" ` + whmTLSPort + "\n"},
		{logs.AccessLog, `"-" "-" ` + cpanelPort + "\n"},
		{logs.AuditLog, `"service":"whostmgrd","port":` + whmTLSPort + `,"tls":true,`},
		{logs.AccessLog, `"GET /cpsessXXXXXXXXXX/json-api/version HTTP/1.1" 200 `},
		{logs.APITokensLog, `Host: ['127.0.0.1'] HTTP Status: ['200'], User: ['root'], Token Name: ['ci'], Request: ['GET /json-api/version HTTP/1.1']`},
		{logs.CPHulkLog, `Login Blocked: IP reached maximum auth failures [Service]=[whostmgrd] [Remote IP Address]=[127.0.0.1] [Authentication Database]=[cpauth] [Username]=[root] (5/5 failures)`},
	} {
		if !strings.Contains(logText(want.file), want.text) {
			t.Errorf("%s lacks %q:\n%s", want.file, want.text, tail(logText(want.file), 10))
		}
	}
	// The audit stream: one decision per credential checked.
	results := map[string]int{}
	methods := map[string]bool{}
	for line := range strings.Lines(logText(logs.AuditLog)) {
		var d logs.Decision
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatal(err)
		}
		results[d.Result]++
		methods[d.Method] = true
		if d.Method == "token" && d.Result == "success" && d.TokenName != "ci" {
			t.Errorf("token decision without its name: %s", line)
		}
		if d.Method == "session" && d.Result == "success" && len(d.Session) != 16 {
			t.Errorf("session decision without its handle: %s", line)
		}
	}
	if results["blocked"] < 1 || results["failure"] < 5 || results["success"] < 6 {
		t.Errorf("audit results %v", results)
	}
	for _, m := range []string{"password", "token", "accesshash", "session", "sso", "2fa"} {
		if !methods[m] {
			t.Errorf("no %s decision in the audit stream", m)
		}
	}
	grepSecrets(t, e.dir, secrets)
	grepSecrets(t, dir, logSecrets)
}

// grepSecrets fails the test when any file under dir holds any secret.
func grepSecrets(t *testing.T, dir string, secrets []string) {
	t.Helper()
	files := 0
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if filepath.Base(path) == "initial-root-password" || filepath.Base(path) == ".accesshash" {
			return nil // the two files whose job is to hold one
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		files++
		for _, s := range secrets {
			if len(s) >= 8 && bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds a secret (%.6s…)", path, s)
			}
		}
		return nil
	})
	if files < len(logs.Names)-1 {
		t.Errorf("read only %d files", files)
	}
}

// A log that cannot be written: the outcome goes to stderr and the health
// endpoint says which log fails; the request is answered as ever.
func TestLogFailureReported(t *testing.T) {
	stderr := &testutil.LogBuffer{}
	e := startOpts(t, nil, func(o *daemon.Options) { o.Stderr = stderr })
	health := func() response {
		e.clock.Advance(time.Second) // past the shared results of the last probe
		return e.do(t, request{port: p2087, path: "/cpauth/health"})
	}
	if r := health(); r.status != http.StatusOK || !strings.Contains(string(r.body), `"status":"ok"`) || !strings.Contains(string(r.body), `"logs":{"status":"ok"}`) {
		t.Errorf("health: %d %s", r.status, r.body)
	}
	// A directory where login_log should be: no process can open it.
	if err := os.MkdirAll(filepath.Join(e.dir, "logs", logs.LoginLog), 0o700); err != nil {
		t.Fatal(err)
	}
	assertD5(t, e.do(t, request{port: p2087, path: version1, auth: basic("root", "Wrong-Secret-3")}))
	r := health()
	if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), `"status":"degraded"`) || !strings.Contains(string(r.body), `"reason":"not writable: login_log"`) {
		t.Errorf("health with login_log unwritable: %d %s", r.status, r.body)
	}
	if out := stderr.String(); !strings.Contains(out, "cannot write") || !strings.Contains(out, `127.0.0.1 - root "GET /json-api/version HTTP/1.1" FAILED LOGIN whostmgrd: user password incorrect`) {
		t.Errorf("stderr: %q", out)
	}
	if strings.Contains(stderr.String(), "Wrong-Secret-3") {
		t.Error("stderr holds the password")
	}
}

// api_tokens_log holds the requests an API token authenticated, and only
// them (README, Logs): a token that fails, for whatever reason, is a failed
// login, in login_log (and the audit stream), not in api_tokens_log.
func TestAPITokensLogOnlyAuthenticated(t *testing.T) {
	e := startWithFixtures(t)
	good := e.mkToken(t, store.TokenWHM, "root", "good")
	bobs := e.mkToken(t, store.TokenCPanel, "bob", "bobs")
	elsewhere := e.mkToken(t, store.TokenWHM, "root", "elsewhere", "whitelist_ip", "192.0.2.1")
	soon := e.mkToken(t, store.TokenWHM, "root", "soon", "expires_at", strconv.FormatInt(e.clock.Now().Unix()+60, 10))
	e.enroll(t, "root")
	needsOTP := e.mkToken(t, store.TokenWHM, "root", "needsotp", "require_otp", "1")
	dir := filepath.Join(e.dir, "logs")
	lines := func(name string) []string {
		t.Helper()
		e.d.Data.Logs.Flush() // what the queue holds
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if len(b) == 0 {
			return nil
		}
		return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}
	tests := []struct {
		name    string
		before  func()
		auth    string
		status  int
		success bool
	}{
		{name: "authenticated", auth: whmTok("root", good), status: http.StatusOK, success: true},
		{name: "unknown token", auth: whmTok("root", strings.Repeat("Z", 32)), status: http.StatusForbidden},
		{name: "another user's name", auth: whmTok("res", good), status: http.StatusForbidden},
		{name: "a cPanel token on WHM", auth: whmTok("bob", bobs), status: http.StatusForbidden},
		{name: "from an address not allowed", auth: whmTok("root", elsewhere), status: http.StatusForbidden},
		{name: "require_otp without the code", auth: whmTok("root", needsOTP), status: http.StatusUnauthorized},
		{name: "expired", before: func() { e.clock.Advance(2 * time.Minute) }, auth: whmTok("root", soon), status: http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			tokens0, logins0 := lines(logs.APITokensLog), lines(logs.LoginLog)
			if r := e.do(t, request{port: p2087, path: version1, auth: tc.auth}); r.status != tc.status {
				t.Fatalf("status %d, want %d; body %.200s", r.status, tc.status, r.body)
			}
			tokens, logins := lines(logs.APITokensLog), lines(logs.LoginLog)
			newTokens, newLogins := tokens[len(tokens0):], logins[len(logins0):]
			if tc.success {
				if len(newTokens) != 1 || !strings.Contains(newTokens[0], "HTTP Status: ['200'], User: ['root'], Token Name: ['good']") {
					t.Errorf("api_tokens_log got %q, want the request's line", newTokens)
				}
				if len(newLogins) != 0 {
					t.Errorf("login_log got %q", newLogins)
				}
				return
			}
			if len(newTokens) != 0 {
				t.Errorf("api_tokens_log got %q for a token that did not authenticate", newTokens)
			}
			if len(newLogins) != 1 || !strings.Contains(newLogins[0], `"GET /json-api/version HTTP/1.1" FAILED LOGIN whostmgrd: `) {
				t.Errorf("login_log got %q, want the failed login", newLogins)
			}
		})
	}
}
