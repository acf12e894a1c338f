package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/hulk"
)

// The brute-force regulator against a real daemon, loopback not
// allow-listed (startRegulated). The daemon's clock is the test's.

const version1 = "/json-api/version?api.version=1"

// sameAnswer checks that two answers are the same on the wire: status,
// the headers a client could tell apart, and the body.
func sameAnswer(t testing.TB, what string, got, want response) {
	t.Helper()
	if got.status != want.status || !bytes.Equal(got.body, want.body) {
		t.Errorf("%s: %d %q, want what a wrong credential gets: %d %q", what, got.status, got.body, want.status, want.body)
	}
	for _, h := range []string{"Content-Type", "Content-Length", "Cache-Control", "Set-Cookie", "Location", "Www-Authenticate"} {
		if g, w := got.header.Values(h), want.header.Values(h); !slices.Equal(g, w) {
			t.Errorf("%s: header %s %q, want %q", what, h, g, w)
		}
	}
}

// doFrom sends a request from a given loopback address (127.0.0.0/8 all
// reaches the listener on 127.0.0.1), on a plain port.
func (e *testEnv) doFrom(t testing.TB, local string, r request) response {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	tr := &http.Transport{DialContext: d.DialContext, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	u, err := e.url(r.port, r.path)
	if err != nil {
		t.Fatal(err)
	}
	method := r.method
	var body io.Reader
	if r.body != "" {
		method, body = http.MethodPost, strings.NewReader(r.body)
	}
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.auth != "" {
		req.Header.Set("Authorization", r.auth)
	}
	if r.ctype != "" {
		req.Header.Set("Content-Type", r.ctype)
	}
	if r.vhost != "" {
		req.Host = r.vhost
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("from %s: %v", local, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func TestHulkGuessingIsBlocked(t *testing.T) {
	e := startRegulated(t, nil)
	cfg := e.d.Data.Hulk.Config()
	right := e.authFor(t, "root")
	// A browser session and a token made before the attack.
	s := e.login(t, p2087, "root", e.rootPass)
	tok := e.whm1("api_token_create", "token_name", "ci").Data.(map[string]any)["token"].(string)

	// What wrong credentials get, taken before the block (each counts as
	// a failure): a login form, the login page, a forged session cookie,
	// and wrong passwords until the threshold.
	wrongLogin := e.postLogin(t, p2087, "/login/?login_only=1", loginForm("user", "nobody", "pass", "x"), nil)
	wrongPage := e.postLogin(t, p2087, "/login/", loginForm("user", "root", "pass", "wrong-too"), nil)
	forged := e.do(t, request{port: p2087, path: s.token + "/", header: map[string]string{"Cookie": s.name + "=" + strings.Replace(s.value, s.value[len(s.value)-4:], "0000", 1)}})
	var wrong response
	for i := range cfg.MaxFailuresByIP - 3 {
		wrong = e.do(t, request{port: p2087, path: version1, auth: basic("root", fmt.Sprintf("guess-%d", i))})
		assertD5(t, wrong)
	}
	if ok, _ := e.d.Data.Hulk.Admit(context.Background(), hulk.Attempt{Remote: netip.MustParseAddr("127.0.0.1")}); ok {
		t.Fatal("not blocked after the threshold")
	}

	// Blocked: the right password, a valid token, a live session and a
	// right login form all get exactly a wrong credential's answer.
	sameAnswer(t, "right password while blocked", e.do(t, request{port: p2087, path: version1, auth: right}), wrong)
	sameAnswer(t, "valid token while blocked", e.do(t, request{port: p2087, path: version1, auth: "whm root:" + tok}), wrong)
	sameAnswer(t, "right login while blocked", e.postLogin(t, p2087, "/login/?login_only=1", loginForm("user", "root", "pass", e.rootPass), nil), wrongLogin)
	sameAnswer(t, "right login (the page) while blocked", e.postLogin(t, p2087, "/login/", loginForm("user", "root", "pass", e.rootPass), nil), wrongPage)
	sameAnswer(t, "live session's page while blocked", e.do(t, request{port: p2087, path: s.token + "/", header: map[string]string{"Cookie": s.cookie()}}), forged)
	if !strings.Contains(e.log.String(), "address blocked by cPHulk") {
		t.Error("the daemon's log does not say the refusals were blocks")
	}

	// The block holds for the window, then lifts.
	e.clock.Advance(cfg.IPBruteForcePeriod - time.Minute)
	sameAnswer(t, "right password within the window", e.do(t, request{port: p2087, path: version1, auth: right}), wrong)
	e.clock.Advance(time.Minute)
	if r := e.do(t, request{port: p2087, path: version1, auth: right}); r.status != http.StatusOK {
		t.Errorf("after the window: %d %s", r.status, r.body)
	}
}

func TestHulkEveryMethodCounts(t *testing.T) {
	e := startRegulated(t, nil)
	e.whm1("accesshash", "generate", "1")
	s := e.login(t, p2087, "root", e.rootPass)
	bad := []request{
		{port: p2087, path: version1, auth: basic("root", "wrong")},
		{port: p2087, path: version1, auth: "whm root:" + strings.Repeat("A", 32)},
		{port: p2087, path: version1, auth: "whm root:" + strings.Repeat("0", 960)},
		{port: p2087, path: s.token + version1, header: map[string]string{"Cookie": s.name + "=root%3aAAAAAAAAAAAAAAAA%2c" + strings.Repeat("0", 32)}},
		{port: p2087, method: http.MethodPost, path: "/login/?login_only=1", body: loginForm("user", "root", "pass", "wrong-too"), ctype: "application/x-www-form-urlencoded"},
	}
	for _, r := range bad {
		if got := e.do(t, r); got.status < 400 {
			t.Fatalf("%s: %d", r.path, got.status)
		}
	}
	if r := e.do(t, request{port: p2087, path: version1, auth: e.authFor(t, "root")}); r.status != http.StatusForbidden {
		t.Errorf("after %d failures by five methods: %d, want a block", len(bad), r.status)
	}
	methods := map[string]bool{}
	for _, f := range e.whm1("get_cphulk_failed_logins").Data.(map[string]any)["failed_logins"].([]map[string]any) {
		methods[f["authservice"].(string)] = true
	}
	for _, m := range []string{"password", "token", "session"} {
		if !methods[m] {
			t.Errorf("no %s failure counted: %v", m, methods)
		}
	}
}

func TestHulkPerUserProtection(t *testing.T) {
	e := startRegulated(t, nil)
	e.whm1("createacct", "username", "bob", "domain", "bob.test", "password", bobPass)
	cfg := e.d.Data.Hulk.Config()
	ok := request{port: p2082, path: "/execute/Variables/get_user_information", auth: basic("bob", bobPass)}
	// bob's own address, before the attack.
	if r := e.doFrom(t, "127.0.0.1", ok); r.status != http.StatusOK {
		t.Fatalf("bob's first call: %d", r.status)
	}
	// Guesses from many addresses, each below the per-address threshold.
	for i := range cfg.MaxFailures {
		from := fmt.Sprintf("127.0.1.%d", i+1)
		assertD5(t, e.doFrom(t, from, request{port: p2082, path: ok.path, auth: basic("bob", fmt.Sprint("guess-", i))}))
	}
	assertD5(t, e.doFrom(t, "127.0.2.1", ok)) // a new address, the right password: refused
	if r := e.doFrom(t, "127.0.0.1", ok); r.status != http.StatusOK {
		t.Errorf("bob's own address after the attack: %d (the owner must not be locked out)", r.status)
	}
	e.clock.Advance(cfg.BruteForcePeriod)
	if r := e.doFrom(t, "127.0.2.1", ok); r.status != http.StatusOK {
		t.Errorf("a new address after brute_force_period_mins: %d", r.status)
	}
}

func TestHulkLists(t *testing.T) {
	e := startRegulated(t, nil)
	cfg := e.d.Data.Hulk.Config()
	right := e.authFor(t, "root")
	guess := func(n int) {
		for i := range n {
			e.do(t, request{port: p2087, path: version1, auth: basic("root", fmt.Sprint("g", i))})
		}
	}
	guess(cfg.MaxFailuresByIP)
	assertD5(t, e.do(t, request{port: p2087, path: version1, auth: right}))

	// Allow-listing lifts the block and wins over the counters.
	d := e.whm1("create_cphulk_record", "list_name", "white", "ip", "127.0.0.1", "comment", "admin").Data.(map[string]any)
	if d["ip_blocks_removed"] != 1 || fmt.Sprint(d["ips_added"]) != "[127.0.0.1]" {
		t.Errorf("create_cphulk_record: %v", d)
	}
	guess(3 * cfg.MaxFailuresByIP)
	if r := e.do(t, request{port: p2087, path: version1, auth: right}); r.status != http.StatusOK {
		t.Errorf("allow-listed: %d", r.status)
	}
	// Off the list, loopback is counted like anyone.
	e.whm1("delete_cphulk_record", "list_name", "white", "ip", "127.0.0.1")
	guess(cfg.MaxFailuresByIP)
	assertD5(t, e.do(t, request{port: p2087, path: version1, auth: right}))

	// The deny-list refuses the right password at once.
	e.whm1("create_cphulk_record", "list_name", "black", "ip", "127.0.3.0/24")
	assertD5(t, e.doFrom(t, "127.0.3.9", request{port: p2086, path: version1, auth: right}))
	if r := e.doFrom(t, "127.0.4.9", request{port: p2086, path: version1, auth: right}); r.status != http.StatusOK {
		t.Errorf("an address off the deny-list: %d", r.status)
	}
}

func TestHulkSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	at := func(c *config.Config) { c.DataDir = dir }
	e := startRegulated(t, at)
	cfg := e.d.Data.Hulk.Config()
	for i := range cfg.MaxFailuresByIP - 1 {
		assertD5(t, e.do(t, request{port: p2087, path: version1, auth: basic("root", fmt.Sprint("g", i))}))
	}
	pass := e.rootPass
	e.stop(t)

	e2 := startRegulated(t, at)
	ok := request{port: p2087, path: version1, auth: basic("root", pass)}
	if r := e2.do(t, ok); r.status != http.StatusOK {
		t.Fatalf("after the restart, below the threshold: %d", r.status)
	}
	assertD5(t, e2.do(t, request{port: p2087, path: version1, auth: basic("root", "one more")}))
	assertD5(t, e2.do(t, ok))
	// And the block itself survives the next restart.
	e2.stop(t)
	e3 := startRegulated(t, at)
	assertD5(t, e3.do(t, ok))
}

func TestHulkFunctions(t *testing.T) {
	e := startRegulated(t, nil)
	if d := e.whm1("cphulk_status").Data.(map[string]any); d["is_enabled"] != 1 || d["service"] != "cPHulk" || d["degraded"] != 0 {
		t.Errorf("cphulk_status: %v", d)
	}
	conf := e.whm1("load_cphulk_config").Data.(map[string]any)["cphulk_config"].(map[string]any)
	for k, want := range map[string]any{"max_failures": 15, "max_failures_byip": 5, "mark_as_brute": 30, "brute_force_period_mins": 5,
		"ip_brute_force_period_mins": 15, "lookback_period_min": 360, "ip_based_protection": 1, "is_enabled": 1} {
		if conf[k] != want {
			t.Errorf("load_cphulk_config %s = %v, want %v", k, conf[k], want)
		}
	}
	e.whm1("set_cphulk_config_key", "key", "max_failures_byip", "value", "2")
	root := e.authFor(t, "root")
	api := func(fn string, kv ...string) map[string]any {
		q := "/json-api/" + fn + "?api.version=1"
		for i := 0; i+1 < len(kv); i += 2 {
			q += "&" + kv[i] + "=" + kv[i+1]
		}
		return object(t, e.doFrom(t, "127.0.5.1", request{port: p2086, path: q, auth: root}))
	}
	if r := api("save_cphulk_config", "max_failures", "many"); str(dig(r, "metadata", "result")) != "0" ||
		!strings.Contains(str(dig(r, "metadata", "reason")), "whole number") {
		t.Errorf("save_cphulk_config with a bad value: %v", r)
	}
	if r := api("save_cphulk_config", "max_failures", "9"); str(dig(r, "data", "cphulk_config", "max_failures")) != "9" {
		t.Errorf("save_cphulk_config: %v", r)
	}
	for i := range 2 {
		e.do(t, request{port: p2087, path: version1, auth: basic("root", fmt.Sprint("g", i))})
	}
	brutes := api("get_cphulk_brutes")
	list, _ := dig(brutes, "data", "brutes").([]any)
	if len(list) != 1 || dig(list[0].(map[string]any), "ip") != "127.0.0.1" || str(dig(list[0].(map[string]any), "timeleft")) != "15" {
		t.Errorf("get_cphulk_brutes: %v", brutes)
	}
	fails := api("get_cphulk_failed_logins")
	if fl, _ := dig(fails, "data", "failed_logins").([]any); len(fl) != 2 || dig(fl[0].(map[string]any), "user") != "root" {
		t.Errorf("get_cphulk_failed_logins: %v", fails)
	}
	if r := api("flush_cphulk_login_history_for_ips", "ip", "127.0.0.1"); str(dig(r, "data", "records_removed")) != "3" {
		t.Errorf("flush_cphulk_login_history_for_ips: %v", r)
	}
	if r := e.do(t, request{port: p2087, path: version1, auth: root}); r.status != http.StatusOK {
		t.Errorf("after the flush: %d", r.status)
	}
	if r := api("create_cphulk_record", "list_name", "grey", "ip", "1.2.3.4"); str(dig(r, "metadata", "result")) != "0" {
		t.Errorf("create_cphulk_record list_name=grey: %v", r)
	}
	if r := api("create_cphulk_record", "list_name", "white", "ip", "nonsense"); str(dig(r, "metadata", "result")) != "0" {
		t.Errorf("create_cphulk_record ip=nonsense: %v", r)
	}
	if r := api("read_cphulk_records", "list_name", "white"); dig(r, "data", "requester_ip") != "127.0.5.1" {
		t.Errorf("read_cphulk_records: %v", r)
	}
	api("disable_cphulk")
	for i := range 5 {
		e.do(t, request{port: p2087, path: version1, auth: basic("root", fmt.Sprint("g", i))})
	}
	if r := e.do(t, request{port: p2087, path: version1, auth: root}); r.status != http.StatusOK {
		t.Errorf("disabled: %d", r.status)
	}
	if r := api("cphulk_status"); str(dig(r, "data", "is_enabled")) != "0" {
		t.Errorf("cphulk_status after disable_cphulk: %v", r)
	}
	if r := api("flush_cphulk_login_history"); str(dig(r, "metadata", "result")) != "1" {
		t.Errorf("flush_cphulk_login_history: %v", r)
	}
}

// Two nodes on one PostgreSQL database share counts, blocks and lists.
func TestClusterHulk(t *testing.T) {
	db := newClusterDB(t)
	key := t.TempDir() + "/cluster.key"
	node := func() *testEnv {
		return startRegulated(t, func(c *config.Config) {
			c.Store, c.PostgresDSN, c.KeyFile = "postgres", db.dsn, key
		})
	}
	a, b := node(), node()
	b.rootPass = a.rootPass
	if !waitLive(a) || !waitLive(b) {
		t.Fatal("the nodes' change feeds did not come up")
	}
	ctx := context.Background()
	right := basic("root", a.rootPass)
	n := a.d.Data.Hulk.Config().MaxFailuresByIP
	for i := range n - 1 {
		assertD5(t, a.do(t, request{port: p2087, path: version1, auth: basic("root", fmt.Sprint("a", i))}))
	}
	// What A counted reaches B (each node's loop does this every second).
	if err := a.d.Data.Hulk.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.d.Data.Hulk.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	assertD5(t, b.do(t, request{port: p2087, path: version1, auth: basic("root", "b")}))
	assertD5(t, b.do(t, request{port: p2087, path: version1, auth: right}))
	// B's block reaches A through the change feed.
	if d, ok := within(5*time.Second, func() bool {
		r, err := a.try(request{port: p2087, path: version1, auth: right})
		return err == nil && r.status == http.StatusForbidden
	}); !ok {
		t.Errorf("A still admits the address B blocked after %v", d)
	}
	// Lifted on A, lifted on B.
	a.whm1("flush_cphulk_login_history_for_ips", "ip", "127.0.0.1")
	if d, ok := within(5*time.Second, func() bool {
		r, err := b.try(request{port: p2087, path: version1, auth: right})
		return err == nil && r.status == http.StatusOK
	}); !ok {
		t.Errorf("B still refuses the address A unblocked after %v", d)
	}
	// A deny-list entry made on B holds on A.
	b.whm1("create_cphulk_record", "list_name", "black", "ip", "127.0.0.0/8")
	if d, ok := within(5*time.Second, func() bool {
		r, err := a.try(request{port: p2087, path: version1, auth: right})
		return err == nil && r.status == http.StatusForbidden
	}); !ok {
		t.Errorf("A ignores B's deny-list entry after %v", d)
	}
}

// caseVariants returns n spellings of s other than s itself, each with a
// different set of letters in upper case.
func caseVariants(s string, n int) []string {
	var out []string
	for mask := 1; len(out) < n; mask++ {
		b, bit := []byte(s), 0
		for i, c := range b {
			if c >= 'a' && c <= 'z' {
				if mask&(1<<bit) != 0 {
					b[i] = c - 'a' + 'A'
				}
				bit++
			}
		}
		out = append(out, string(b))
	}
	return out
}

// D27: the regulator counts the canonical login name, the form the lookup
// resolves, so that case variants of an email address are one name to
// per-user protection (they were each a name of their own: 40 wrong
// passwords under 40 spellings, then the right one, got in).
func TestHulkCaseVariantsAreOneName(t *testing.T) {
	e := startRegulated(t, nil)
	e.whm1("createacct", "username", "bob", "domain", "bob.test", "password", bobPass)
	e.uapi("bob", "Email", "add_pop", "email", "info", "password", infoPass)
	cfg := e.d.Data.Hulk.Config()
	path := "/execute/Variables/get_user_information"
	right := func(name string) request {
		return request{port: p2096, path: path, auth: basic(name, infoPass)}
	}
	// The owner logs in from its own address before the attack, under a
	// spelling of its own: the address is known to the canonical name.
	if r := e.doFrom(t, "127.0.0.1", right("Info@Bob.Test")); r.status != http.StatusOK {
		t.Fatalf("the mailbox's first call: %d %s", r.status, r.body)
	}
	variants := caseVariants("info@bob.test", 40)
	for i, v := range variants {
		// One guess from each address: no address nears its threshold.
		assertD5(t, e.doFrom(t, fmt.Sprintf("127.0.7.%d", i+1), request{port: p2096, path: path, auth: basic(v, fmt.Sprint("guess-", i))}))
	}
	for i, name := range []string{"info@bob.test", "INFO@BOB.TEST", variants[len(variants)-1]} {
		assertD5(t, e.doFrom(t, fmt.Sprintf("127.0.8.%d", i+1), right(name)))
	}
	if r := e.doFrom(t, "127.0.8.9", request{port: p2096, method: http.MethodPost, path: "/login/?login_only=1",
		body: loginForm("user", "Info@bob.test", "pass", infoPass), ctype: "application/x-www-form-urlencoded"}); r.status != http.StatusUnauthorized || !bytes.Contains(r.body, []byte("invalid_login")) {
		t.Errorf("the right login form under another spelling from a new address: %d %s, want 401 invalid_login", r.status, r.body)
	}
	if r := e.doFrom(t, "127.0.0.1", right("info@bob.test")); r.status != http.StatusOK {
		t.Errorf("the mailbox's own address after the attack: %d (the owner must not be locked out)", r.status)
	}
	var users []string
	for _, b := range e.whm1("get_cphulk_user_brutes").Data.(map[string]any)["user_brutes"].([]map[string]any) {
		users = append(users, str(b["user"]))
	}
	if !slices.Equal(users, []string{"info@bob.test"}) {
		t.Errorf("user blocks %q, want one, of the canonical name", users)
	}
	e.clock.Advance(cfg.BruteForcePeriod)
	if r := e.doFrom(t, "127.0.8.1", right("INFO@bob.test")); r.status != http.StatusOK {
		t.Errorf("a new address after brute_force_period_mins: %d", r.status)
	}
}

// D28: a name block refuses guessable credentials (passwords, two-factor
// codes) and nothing else: root's API token and access hash still work
// from every address, so nobody who can type root's name can lock root's
// automation out. An address block still refuses everything.
func TestHulkNameBlockSparesTokens(t *testing.T) {
	e := startRegulated(t, nil)
	cfg := e.d.Data.Hulk.Config()
	e.whm1("accesshash", "generate", "1")
	hash := e.authFor(t, "root-hash")
	tok := "whm root:" + e.whm1("api_token_create", "token_name", "ci").Data.(map[string]any)["token"].(string)
	// 16 wrong passwords for root from 4 addresses, each under its own
	// threshold: root's name is blocked.
	for a := range 4 {
		for i := range 4 {
			assertD5(t, e.doFrom(t, fmt.Sprintf("127.0.9.%d", a+1), request{port: p2087, path: version1, auth: basic("root", fmt.Sprintf("guess-%d-%d", a, i))}))
		}
	}
	if !e.d.Data.Hulk.Config().UserForRoot || cfg.MaxFailures > 16 || cfg.MaxFailuresByIP <= 4 {
		t.Fatalf("the defaults changed: %+v", cfg)
	}
	from := "127.0.10.1" // root never logged in from here
	assertD5(t, e.doFrom(t, from, request{port: p2087, path: version1, auth: e.authFor(t, "root")}))
	if r := e.doFrom(t, from, request{port: p2087, method: http.MethodPost, path: "/login/?login_only=1",
		body: loginForm("user", "root", "pass", e.rootPass), ctype: "application/x-www-form-urlencoded"}); r.status != http.StatusUnauthorized {
		t.Errorf("root's right login form while its name is blocked: %d %s, want 401", r.status, r.body)
	}
	for _, c := range []struct{ name, auth string }{{"API token", tok}, {"access hash", hash}} {
		if r := e.doFrom(t, from, request{port: p2087, path: version1, auth: c.auth}); r.status != http.StatusOK {
			t.Errorf("root's %s from a new address while root's name is blocked: %d %s, want 200", c.name, r.status, r.body)
		}
	}
	// The block is real: it is listed, and the token's success did not
	// lift it (root's password is refused from yet another address; the
	// address the token authenticated from is now one root logged in from).
	if bs := e.whm1("get_cphulk_user_brutes").Data.(map[string]any)["user_brutes"].([]map[string]any); len(bs) != 1 || bs[0]["user"] != "root" {
		t.Errorf("get_cphulk_user_brutes: %v", bs)
	}
	assertD5(t, e.doFrom(t, "127.0.10.2", request{port: p2087, path: version1, auth: e.authFor(t, "root")}))

	// An address block refuses the token and the access hash too.
	blocked := "127.0.11.1"
	for i := range cfg.MaxFailuresByIP {
		assertD5(t, e.doFrom(t, blocked, request{port: p2087, path: version1, auth: basic("nobody", fmt.Sprint("g", i))}))
	}
	for _, c := range []struct{ name, auth string }{{"API token", tok}, {"access hash", hash}} {
		assertD5(t, e.doFrom(t, blocked, request{port: p2087, path: version1, auth: c.auth}))
	}
}
