package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/daemon"
	"github.com/cpauth/cpauth/internal/functions"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ with the current output")

// d5Body is D5: the exact bytes of every authentication failure on an API
// path. Written out here rather than imported so that a change to the
// server's constant breaks this test.
const (
	d5Body        = `{"cpanelresult":{"apiversion":"2","error":"Access denied","data":{"reason":"Access denied","result":"0"},"type":"text"}}`
	d5ContentType = `text/plain; charset="utf-8"`
	jsonType      = `application/json; charset="utf-8"`
)

// Passwords of the fixture accounts.
const (
	resPass   = "Res-Pass-1"
	bobPass   = "Bob-Pass-1"
	carolPass = "Carol-Pass-1"
	susPass   = "Sus-Pass-1"
	infoPass  = "Info-Pass-1"
	davePass  = "Dave-Pass-2" // dave's password after the passwd golden step
)

// port names a listener by the port cPanel normally serves it on.
type port int

const (
	p2082 port = iota
	p2083
	p2086
	p2087
	p2095
	p2096
)

var allPorts = []port{p2082, p2083, p2086, p2087, p2095, p2096}

func (p port) String() string {
	return [...]string{"2082", "2083", "2086", "2087", "2095", "2096"}[p]
}

func (p port) service() core.Service {
	switch p {
	case p2082, p2083:
		return core.ServiceCPanel
	case p2086, p2087:
		return core.ServiceWHM
	}
	return core.ServiceWebmail
}

func (p port) tls() bool { return p == p2083 || p == p2087 || p == p2096 }

// nativePath is the API call that belongs on the port: WHM API 1 on WHM
// ports, a webmail-safe UAPI function on cPanel and Webmail ports.
func (p port) nativePath() string {
	if p.service() == core.ServiceWHM {
		return "/json-api/version?api.version=1"
	}
	return "/execute/Variables/get_user_information"
}

// testEnv is a running daemon on six ephemeral ports plus the clients and
// fixtures to talk to it.
type testEnv struct {
	t        testing.TB
	d        *daemon.Daemon
	dir      string
	log      *testutil.LogBuffer
	client   *http.Client
	rootPass string
	started  time.Time
	pass     map[string]string // login name -> password
	clock    *testClock        // the daemon's clock: real time plus an offset
	stopped  bool              // stop was called: the cleanup has nothing to stop
}

// stop shuts the daemon down before the test ends (a restart).
func (e *testEnv) stop(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e.stopped = true
	if err := e.d.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// testClock is the daemon's clock in tests: real time moved by Advance,
// or a fixed instant while frozen.
type testClock struct {
	offset atomic.Int64 // nanoseconds
	frozen atomic.Int64 // unix nanoseconds of the fixed instant; 0: not frozen
}

func (c *testClock) Now() time.Time {
	if f := c.frozen.Load(); f != 0 {
		return time.Unix(0, f).Add(time.Duration(c.offset.Load()))
	}
	return time.Now().Add(time.Duration(c.offset.Load()))
}

// Freeze stops the clock at t (Advance still moves it); Unfreeze lets it
// run again from real time plus the offset.
func (c *testClock) Freeze(t time.Time) {
	c.offset.Store(0)
	c.frozen.Store(t.UnixNano())
}

func (c *testClock) Unfreeze() { c.frozen.Store(0) }

// Advance moves the daemon's clock forward.
func (c *testClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// start runs a daemon on 127.0.0.1 with all six ports free, a temporary
// data directory and cheap password hashes; it stops with the test.
func start(t testing.TB) *testEnv {
	t.Helper()
	return startWith(t, nil)
}

// startWith is start with a chance to change the configuration first (a
// shared store, a shared key).
func startWith(t testing.TB, configure func(*config.Config)) *testEnv {
	t.Helper()
	return startOpts(t, configure, nil)
}

// startOpts is startWith with a chance to inject what daemon.Options
// holds (the clock is always the test's). Loopback is on the brute-force
// regulator's allow-list, so that the many wrong credentials the tests send
// block nothing; startRegulated leaves it off.
func startOpts(t testing.TB, configure func(*config.Config), options func(*daemon.Options)) *testEnv {
	t.Helper()
	e := startDaemon(t, configure, options)
	if _, _, _, err := e.d.Data.Hulk.AddRecords(context.Background(), store.HulkAllow, []string{"127.0.0.0/8", "::1"}, "tests"); err != nil {
		t.Fatal(err)
	}
	return e
}

// startRegulated is start with the brute-force regulator in force for
// loopback, as for anyone.
func startRegulated(t testing.TB, configure func(*config.Config)) *testEnv {
	t.Helper()
	return startDaemon(t, configure, nil)
}

func startDaemon(t testing.TB, configure func(*config.Config), options func(*daemon.Options)) *testEnv {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1"
	cfg.PortCPanel, cfg.PortCPanelTLS, cfg.PortWHM, cfg.PortWHMTLS, cfg.PortWebmail, cfg.PortWebmailTLS = 0, 0, 0, 0, 0, 0
	cfg.DataDir = t.TempDir()
	cfg.HashRounds = 1000
	if configure != nil {
		configure(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logBuf := &testutil.LogBuffer{}
	level := slog.LevelDebug // every test reads the access lines
	switch cfg.LogLevel {
	case "warn":
		level = slog.LevelWarn // a benchmark: no line per request
	case "error":
		level = slog.LevelError
	}
	logger := slog.New(slog.NewTextHandler(logBuf, &slog.HandlerOptions{Level: level}))
	e := &testEnv{t: t, dir: cfg.DataDir, log: logBuf, started: time.Now().Add(-time.Second), clock: &testClock{}}
	opts := daemon.Options{Now: e.clock.Now}
	if options != nil {
		options(&opts)
	}
	d, err := daemon.StartWith(context.Background(), cfg, logger, opts)
	if err != nil {
		t.Fatalf("daemon.Start: %v", err)
	}
	e.d = d
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, // self-signed; TestTLSCertificate checks it properly
		MaxIdleConnsPerHost: 32,
	}
	e.client = &http.Client{
		Transport: tr,
		Timeout:   30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		if e.stopped {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", tail(logBuf.String(), 60))
		}
	})
	raw, err := os.ReadFile(filepath.Join(e.dir, "initial-root-password"))
	if err != nil && d.Data.RootPasswordFile != "" {
		t.Fatalf("reading the initial root password: %v", err)
	}
	e.rootPass = strings.TrimSpace(string(raw)) // "" when another node created root
	e.pass = map[string]string{
		"root": e.rootPass, "res": resPass, "bob": bobPass, "carol": carolPass, "sus": susPass,
		"info@bob.test": infoPass, "info@sus.test": infoPass, "dave": davePass,
	}
	return e
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// startWithFixtures is start plus the standard fixtures:
//
//	res    reseller (owner root) with list-accts, create-acct, kill-acct,
//	       passwd, suspend-acct, acct-summary; has an access hash
//	bob    cPanel account of root (bob.test), mailbox info@bob.test
//	carol  cPanel account of res (carol.test)
//	sus    suspended cPanel account (sus.test), mailbox info@sus.test
//	root   has an access hash (<data-dir>/home/root/.accesshash)
func startWithFixtures(t testing.TB) *testEnv {
	t.Helper()
	return startFixturesWith(t, nil)
}

// startFixturesWith is startWithFixtures with a changed configuration.
func startFixturesWith(t testing.TB, configure func(*config.Config)) *testEnv {
	t.Helper()
	e := startWith(t, configure)
	e.whm1("createacct", "username", "res", "domain", "res.test", "password", resPass, "contactemail", "admin@res.test")
	e.whm1("setupreseller", "user", "res")
	e.whm1("setacls", "reseller", "res", "acl-list-accts", "1", "acl-create-acct", "1", "acl-kill-acct", "1",
		"acl-passwd", "1", "acl-suspend-acct", "1", "acl-acct-summary", "1")
	e.whm1("createacct", "username", "bob", "domain", "bob.test", "password", bobPass, "contactemail", "admin@bob.test")
	e.whm1("createacct", "username", "carol", "domain", "carol.test", "password", carolPass, "owner", "res")
	e.whm1("createacct", "username", "sus", "domain", "sus.test", "password", susPass)
	e.uapi("bob", "Email", "add_pop", "email", "info", "password", infoPass)
	e.uapi("sus", "Email", "add_pop", "email", "info@sus.test", "password", infoPass)
	e.whm1("suspendacct", "user", "sus", "reason", "Unpaid invoice")
	e.whm1("accesshash", "generate", "1")
	e.whm1("accesshash", "user", "res", "generate", "1")
	return e
}

// rootPrincipal is root as the local command-line tools act (cli/local.go).
func rootPrincipal() core.Principal {
	p := auth.PrincipalFor(store.Account{Username: "root"})
	p.Method, p.Service = core.MethodLocal, core.ServiceWHM
	return p
}

func pairs(kv []string) api.Args {
	if len(kv)%2 != 0 {
		panic("odd number of key/value strings")
	}
	var a api.Args
	for i := 0; i < len(kv); i += 2 {
		a.Add(kv[i], kv[i+1])
	}
	return a
}

// whm1 runs a WHM API 1 function in-process as root and fails the test if
// it does not succeed.
func (e *testEnv) whm1(fn string, kv ...string) *api.Result {
	e.t.Helper()
	c := &api.Call{Flavour: api.WHM1, Func: fn, Args: pairs(kv), Principal: rootPrincipal(), Remote: netip.IPv6Loopback(), Host: "localhost"}
	res, err := functions.RunWHM1(context.Background(), e.d.Data.Registry, c)
	if err != nil {
		e.t.Fatalf("fixture whmapi1 %s %q: %v", fn, kv, err)
	}
	return res
}

// uapi runs a UAPI function in-process as a cPanel account (impersonated by
// root) and fails the test if it does not succeed.
func (e *testEnv) uapi(user, module, fn string, kv ...string) *api.Result {
	e.t.Helper()
	ctx := context.Background()
	root := rootPrincipal()
	target, err := e.d.Data.Env.Impersonate(ctx, root, user)
	if err != nil {
		e.t.Fatalf("fixture: impersonating %s: %v", user, err)
	}
	c := &api.Call{Flavour: api.UAPI, Module: module, Func: fn, Args: pairs(kv), Principal: target, Caller: &root, Remote: netip.IPv6Loopback(), Host: "localhost"}
	res, err := functions.RunUAPI(ctx, e.d.Data.Registry, c)
	if err != nil {
		e.t.Fatalf("fixture uapi %s %s::%s %q: %v", user, module, fn, kv, err)
	}
	return res
}

// account reads an account straight from the store.
func (e *testEnv) account(user string) (store.Account, error) {
	return e.d.Data.Store.GetAccount(context.Background(), user)
}

// checkPassword reports whether user/pass authenticates (as the Basic
// method does), without going through HTTP.
func (e *testEnv) checkPassword(user, pass string, svc core.Service) bool {
	m := &auth.Password{Store: e.d.Data.Store, Hasher: e.d.Data.Hasher}
	return m.Check(context.Background(), user, pass, svc).Result == auth.OK
}

// accessHashFile is the content of user's .accesshash file.
func (e *testEnv) accessHashFile(t testing.TB, user string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(e.dir, "home", user, ".accesshash"))
	if err != nil {
		t.Fatalf("reading %s's .accesshash: %v", user, err)
	}
	return string(raw)
}

// accessHash is user's access hash as a single line.
func (e *testEnv) accessHash(t testing.TB, user string) string {
	return strings.ReplaceAll(e.accessHashFile(t, user), "\n", "")
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// authFor builds the Authorization header of a named identity:
// "root-hash"/"res-hash" are access hashes (read from the .accesshash file
// each time, so they follow regeneration), "none" sends nothing, anything
// else is Basic with the fixture password.
func (e *testEnv) authFor(t testing.TB, who string) string {
	t.Helper()
	switch {
	case who == "none" || who == "":
		return ""
	case strings.HasSuffix(who, "-hash"):
		user := strings.TrimSuffix(who, "-hash")
		return "WHM " + user + ":" + e.accessHash(t, user)
	}
	p, ok := e.pass[who]
	if !ok {
		t.Fatalf("no password for %q", who)
	}
	return basic(who, p)
}

// request is one HTTP call to the daemon.
type request struct {
	port   port
	method string // default GET, or POST when body is set
	path   string
	auth   string // Authorization header; "" sends none
	body   string
	ctype  string // Content-Type; "" sends none
	header map[string]string
	host   string // connect to this address instead of the listener's own (e.g. "::1")
	vhost  string // the Host header to send instead of the address's (a forged one)
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (e *testEnv) url(p port, path string) (string, error) {
	return e.urlVia(p, "", path)
}

// urlVia is url through a given host address ("" for the listener's).
func (e *testEnv) urlVia(p port, host, path string) (string, error) {
	scheme := "http"
	if p.tls() {
		scheme = "https"
	}
	addr := e.d.Addr(p.service(), p.tls())
	if addr == "" {
		return "", fmt.Errorf("no listener for port %s", p)
	}
	if host != "" {
		_, portNum, err := net.SplitHostPort(addr)
		if err != nil {
			return "", err
		}
		addr = net.JoinHostPort(host, portNum)
	}
	return scheme + "://" + addr + path, nil
}

func (e *testEnv) do(t testing.TB, r request) response {
	t.Helper()
	resp, err := e.try(r)
	if err != nil {
		t.Fatalf("%s %s on %s: %v", r.method, r.path, r.port, err)
	}
	return resp
}

// try is do without failing the test (safe to call from any goroutine).
func (e *testEnv) try(r request) (response, error) {
	method := r.method
	if method == "" {
		method = http.MethodGet
		if r.body != "" {
			method = http.MethodPost
		}
	}
	var body io.Reader
	if r.body != "" || method == http.MethodPost {
		body = strings.NewReader(r.body)
	}
	u, err := e.urlVia(r.port, r.host, r.path)
	if err != nil {
		return response{}, err
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return response{}, err
	}
	if r.vhost != "" {
		req.Host = r.vhost
	}
	if r.auth != "" {
		req.Header.Set("Authorization", r.auth)
	}
	if r.ctype != "" {
		req.Header.Set("Content-Type", r.ctype)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// assertD5 checks the one answer of every authentication failure.
func assertD5(t testing.TB, r response) {
	t.Helper()
	if r.status != http.StatusForbidden {
		t.Errorf("status = %d, want 403 (D5); body %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != d5ContentType {
		t.Errorf("Content-Type = %q, want %q (D5)", ct, d5ContentType)
	}
	if string(r.body) != d5Body {
		t.Errorf("body = %s\nwant   %s (D5)", r.body, d5Body)
	}
}

// object decodes a JSON object body, keeping numbers as json.Number.
func object(t testing.TB, r response) map[string]any {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != jsonType {
		t.Errorf("Content-Type = %q, want %q (D19)", ct, jsonType)
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func dig(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// whmOK checks a WHM API 1 success envelope and returns it.
func whmOK(t testing.TB, r response) map[string]any {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", r.status, r.body)
	}
	m := object(t, r)
	if got := str(dig(m, "metadata", "result")); got != "1" {
		t.Fatalf("metadata.result = %q, want 1; body %s", got, r.body)
	}
	return m
}

// whmFailed checks a WHM API 1 failure envelope (HTTP 200, result 0) and
// returns its reason.
func whmFailed(t testing.TB, r response) string {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", r.status, r.body)
	}
	m := object(t, r)
	if got := str(dig(m, "metadata", "result")); got != "0" {
		t.Fatalf("metadata.result = %q, want 0; body %s", got, r.body)
	}
	return str(dig(m, "metadata", "reason"))
}

// uapiOK checks a UAPI success result and returns it.
func uapiOK(t testing.TB, r response) map[string]any {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", r.status, r.body)
	}
	m := object(t, r)
	if got := str(m["status"]); got != "1" {
		t.Fatalf("status = %q, want 1; body %s", got, r.body)
	}
	return m
}

// uapiError checks a UAPI failure result and returns its first error.
func uapiError(t testing.TB, r response, wantHTTP int) string {
	t.Helper()
	if r.status != wantHTTP {
		t.Fatalf("HTTP status = %d, want %d; body %s", r.status, wantHTTP, r.body)
	}
	m := object(t, r)
	if got := str(m["status"]); got != "0" {
		t.Fatalf("status = %q, want 0; body %s", got, r.body)
	}
	errs, _ := m["errors"].([]any)
	if len(errs) != 1 {
		t.Fatalf("errors = %v, want exactly one; body %s", m["errors"], r.body)
	}
	return str(errs[0])
}

// Normalising volatile values for golden files.
var (
	reUnixTime   = regexp.MustCompile(`"(unix_startdate|created|create_time|last_used)":(\d+)`)
	reStartDate  = regexp.MustCompile(`"startdate":"([^"]*)"`)
	reAccessHash = regexp.MustCompile(`[0-9a-f]{960}`)
)

// normalise replaces what changes from run to run (times, generated access
// hashes, the data directory) with placeholders, after checking each value
// is plausible; an implausible one is left marked so the comparison fails.
func (e *testEnv) normalise(b []byte) []byte {
	s := string(b)
	now := time.Now().Add(time.Second)
	s = reUnixTime.ReplaceAllStringFunc(s, func(m string) string {
		sub := reUnixTime.FindStringSubmatch(m)
		n, err := strconv.ParseInt(sub[2], 10, 64)
		if err != nil || n < e.started.Unix() || n > now.Unix() {
			return m + `<IMPLAUSIBLE TIME>`
		}
		return `"` + sub[1] + `":"<UNIX_TIME>"`
	})
	s = reStartDate.ReplaceAllStringFunc(s, func(m string) string {
		sub := reStartDate.FindStringSubmatch(m)
		if _, err := time.Parse("06 Jan 02 15:04", sub[1]); err != nil {
			return m + `<IMPLAUSIBLE DATE>`
		}
		return `"startdate":"<STARTDATE>"`
	})
	s = reAccessHash.ReplaceAllString(s, "<ACCESSHASH>")
	s = strings.ReplaceAll(s, e.dir, "<DATADIR>")
	return []byte(s)
}

// checkGolden compares got with testdata/<name>.golden, or rewrites the file
// under -update.
func checkGolden(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/e2e -run TestGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file\n--- got:\n%s\n--- want:\n%s", path, got, want)
	}
}

// raw sends a hand-written HTTP/1.1 request over its own TCP (or TLS)
// connection, for what Go's client refuses to send (folded header lines,
// bare line feeds).
func (e *testEnv) raw(t testing.TB, p port, req string) (int, []byte) {
	t.Helper()
	addr := e.d.Addr(p.service(), p.tls())
	var conn net.Conn
	var err error
	if p.tls() {
		conn, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	} else {
		conn, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatalf("dialling %s: %v", p, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatalf("writing to %s: %v", p, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response from %s: %v", p, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
