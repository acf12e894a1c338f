package server_test

// Benchmarks of a whole API call over real loopback HTTP (plain WHM port,
// keep-alive client), against a baseline that makes the same round trip to a
// handler that only writes the same bytes. The difference is what cpauth
// adds: middleware, authentication, dispatch and encoding. BENCHMARKS.md has
// the numbers and how to reproduce them:
//
//	go test -run='^$' -bench=. -benchtime=2s ./internal/server
//
// Each group reports x-baseline, ns/op divided by the baseline's ns/op in the
// same run (present only when the baseline ran in the same invocation).

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/daemon"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/store/sqlstore/pgtest"
)

const versionPath = "/json-api/version?api.version=1"

// benchDaemon is a daemon with known root credentials.
type benchDaemon struct {
	d          *daemon.Daemon
	url        string // base URL of the plain WHM port
	basic      string // Authorization header: root's password
	accessHash string // Authorization header: root's access hash
}

// startDaemon starts a daemon on 127.0.0.1 with free ports and a fresh data
// directory, after hook (if any) has changed its configuration; it stops
// when b's benchmark ends.
//
// Loopback is on the brute-force regulator's allow-list, so that failure
// benchmarks measure the failure path rather than blocks;
// startRegulatedDaemon leaves it off.
func startDaemon(b *testing.B, hook func(*config.Config)) *daemon.Daemon {
	b.Helper()
	d := startRegulatedDaemon(b, hook)
	if _, _, _, err := d.Data.Hulk.AddRecords(context.Background(), store.HulkAllow, []string{"127.0.0.0/8", "::1"}, "benchmarks"); err != nil {
		b.Fatal(err)
	}
	return d
}

// startRegulatedDaemon is startDaemon with the regulator in force for
// loopback.
func startRegulatedDaemon(b *testing.B, hook func(*config.Config)) *daemon.Daemon {
	b.Helper()
	cfg := config.Default()
	cfg.DataDir = filepath.Join(b.TempDir(), "data")
	cfg.Listen = "127.0.0.1"
	cfg.PortCPanel, cfg.PortCPanelTLS, cfg.PortWHM, cfg.PortWHMTLS, cfg.PortWebmail, cfg.PortWebmailTLS = 0, 0, 0, 0, 0, 0
	if hook != nil {
		hook(&cfg)
	}
	// The access log is discarded: the benchmark measures the server, not
	// the log sink.
	d, err := daemon.Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatalf("daemon.Start: %v", err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Shutdown(ctx); err != nil {
			b.Errorf("Shutdown: %v", err)
		}
	})
	return d
}

// startBenchDaemon starts a daemon on 127.0.0.1 with free ports whose
// password hashes use rounds rounds; it stops when b's benchmark ends.
func startBenchDaemon(b *testing.B, rounds int) *benchDaemon {
	return startBenchDaemonWith(b, rounds, nil)
}

// startBenchDaemonWith is startBenchDaemon with a chance to change the
// configuration first (the store).
func startBenchDaemonWith(b *testing.B, rounds int, configure func(*config.Config)) *benchDaemon {
	b.Helper()
	ctx := context.Background()
	d := startDaemon(b, func(cfg *config.Config) {
		cfg.HashRounds = rounds
		if configure != nil {
			configure(cfg)
		}
	})
	if d.Data.RootPasswordFile == "" {
		b.Fatal("daemon did not create root")
	}
	pass, err := os.ReadFile(d.Data.RootPasswordFile)
	if err != nil {
		b.Fatal(err)
	}
	hash, err := d.Data.Env.AccessHash(ctx, "root", true)
	if err != nil {
		b.Fatalf("AccessHash: %v", err)
	}
	return &benchDaemon{
		d:          d,
		url:        "http://" + d.Addr(core.ServiceWHM, false),
		basic:      "Basic " + base64.StdEncoding.EncodeToString([]byte("root:"+strings.TrimSpace(string(pass)))),
		accessHash: "whm root:" + hash,
	}
}

// newClient is a keep-alive client with enough idle connections for every
// parallel goroutine.
func newClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// call makes one request, drains the body (so the connection is reused) and
// checks the status. It returns an error rather than failing so that
// RunParallel's goroutines may use it.
func call(c *http.Client, url, authorization string, want int) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("GET %s: status %d, want %d: %.200s", url, resp.StatusCode, want, body)
	}
	return body, nil
}

// baselineServer serves body with the headers of a JSON envelope over a
// plain httptest server, for any path.
func baselineServer(b *testing.B, body []byte) string {
	b.Helper()
	srv := httptest.NewServer(fixedBytes(body))
	b.Cleanup(srv.Close)
	return srv.URL
}

// ratio reports ns/op relative to the baseline of the same group.
type ratio struct{ base float64 }

func (r *ratio) setBaseline(b *testing.B) {
	r.base = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
}

func (r *ratio) report(b *testing.B) {
	if r.base > 0 && b.N > 0 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/r.base, "x-baseline")
	}
}

// benchCase is one authenticated (or failing) call.
type benchCase struct {
	name   string
	rounds int // the daemon's hash rounds
	auth   func(d *benchDaemon) string
	want   int
	// uncached runs the case on a daemon without the verified-password
	// cache (D32), so that every call pays the password check.
	uncached bool
}

// daemonKey names the daemon a case runs on.
type daemonKey struct {
	rounds   int
	uncached bool
}

func versionCases() []benchCase {
	basic := func(d *benchDaemon) string { return d.basic }
	return []benchCase{
		{"password/rounds=50000", 50000, basic, http.StatusOK, true},
		{"password/rounds=5000", 5000, basic, http.StatusOK, true},
		{"password-cached", 50000, basic, http.StatusOK, false},
		{"accesshash", 50000, func(d *benchDaemon) string { return d.accessHash }, http.StatusOK, false},
	}
}

// wrongPassword has the length of root's generated password: SHA-crypt's
// cost grows with the password's length, so equal lengths make the failure
// cases comparable with the successful ones.
const wrongPassword = "wrong-password-24-chars!"

// failureCases are the D5 path: both must cost a full hash verification,
// so an unknown user is indistinguishable by time from a wrong password.
func failureCases() []benchCase {
	basic := func(user, pass string) func(*benchDaemon) string {
		return func(*benchDaemon) string {
			return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
		}
	}
	return []benchCase{
		{"wrong-password/rounds=50000", 50000, basic("root", wrongPassword), http.StatusForbidden, false},
		{"unknown-user/rounds=50000", 50000, basic("nosuchuser", wrongPassword), http.StatusForbidden, false},
		{"wrong-password/rounds=5000", 5000, basic("root", wrongPassword), http.StatusForbidden, false},
		{"unknown-user/rounds=5000", 5000, basic("nosuchuser", wrongPassword), http.StatusForbidden, false},
	}
}

// runGroup benchmarks the baseline, then each case, serially or in
// parallel. The daemons are started before any timing and stop when the
// group ends.
func runGroup(b *testing.B, parallel bool, cases []benchCase) {
	daemons := map[daemonKey]*benchDaemon{}
	for _, tc := range append([]benchCase{{rounds: 50000}}, cases...) {
		k := daemonKey{tc.rounds, tc.uncached}
		if daemons[k] == nil {
			daemons[k] = startBenchDaemonWith(b, tc.rounds, func(c *config.Config) {
				if tc.uncached {
					c.PasswordCacheTTL = 0
				}
			})
		}
	}
	// The baseline serves exactly what the daemon answers to version.
	d := daemons[daemonKey{rounds: 50000}]
	body, err := call(newClient(), d.url+versionPath, d.accessHash, http.StatusOK)
	if err != nil {
		b.Fatal(err)
	}
	base := baselineServer(b, body)
	var r ratio
	b.Run("baseline", func(b *testing.B) {
		loop(b, parallel, base+versionPath, "", http.StatusOK)
		r.setBaseline(b)
	})
	for _, tc := range cases {
		d := daemons[daemonKey{tc.rounds, tc.uncached}]
		b.Run(tc.name, func(b *testing.B) {
			loop(b, parallel, d.url+versionPath, tc.auth(d), tc.want)
			r.report(b)
		})
	}
}

func loop(b *testing.B, parallel bool, url, authorization string, want int) {
	c := newClient()
	defer c.CloseIdleConnections()
	if _, err := call(c, url, authorization, want); err != nil { // warm up
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		for b.Loop() {
			if _, err := call(c, url, authorization, want); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := call(c, url, authorization, want); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkVersion is the latency of one call at a time.
func BenchmarkVersion(b *testing.B) { runGroup(b, false, versionCases()) }

// BenchmarkVersionParallel is throughput with GOMAXPROCS concurrent
// clients: ns/op is wall time divided by all calls made.
func BenchmarkVersionParallel(b *testing.B) { runGroup(b, true, versionCases()) }

// BenchmarkAuthFailure is the D5 path, one call at a time.
func BenchmarkAuthFailure(b *testing.B) { runGroup(b, false, failureCases()) }

// BenchmarkStore is the authenticated version call, one call at a time, on
// the SQLite store (one node) against the PostgreSQL store (a cluster
// node), with the baseline in the same run. It needs
// CPAUTH_TEST_POSTGRES_DSN (each daemon gets a schema of its own) and
// skips without it.
//
// On PostgreSQL the daemon keeps an in-memory cache in front of the store,
// on while its LISTEN/NOTIFY change feed is connected, so repeated calls
// are answered from memory: postgres/* is that cached steady state.
// postgres-nocache/accesshash is a daemon of its own whose cache is turned
// off (SetLive(false)) once the feed is live; the feed only turns it on
// again when it reconnects, and the benchmark fails if that happened (the
// cache counted a hit) or if the cached cases were not answered from
// memory, so each number measures what its name says.
func BenchmarkStore(b *testing.B) {
	const rounds = 5000
	usePostgres := func(b *testing.B) func(*config.Config) {
		dsn := pgtest.Schema(b)
		return func(c *config.Config) {
			c.Store = "postgres"
			c.PostgresDSN = dsn
		}
	}
	sqlite := startBenchDaemon(b, rounds)
	postgres := startBenchDaemonWith(b, rounds, usePostgres(b))
	nocache := startBenchDaemonWith(b, rounds, usePostgres(b))
	for _, d := range []*benchDaemon{postgres, nocache} {
		if d.d.Data.Cache == nil {
			b.Fatal("the PostgreSQL daemon has no cache")
		}
		deadline := time.Now().Add(10 * time.Second)
		for !d.d.Data.Cache.Live() {
			if time.Now().After(deadline) {
				b.Fatal("the change feed did not come up")
			}
			time.Sleep(time.Millisecond)
		}
	}
	nocache.d.Data.Cache.SetLive(false)

	body, err := call(newClient(), sqlite.url+versionPath, sqlite.accessHash, http.StatusOK)
	if err != nil {
		b.Fatal(err)
	}
	base := baselineServer(b, body)
	var r ratio
	b.Run("baseline", func(b *testing.B) {
		loop(b, false, base+versionPath, "", http.StatusOK)
		r.setBaseline(b)
	})
	cases := []struct {
		name  string
		d     *benchDaemon
		auth  string
		cache string // "on": answered from memory; "off": never
	}{
		{"sqlite/accesshash", sqlite, sqlite.accessHash, ""},
		{"postgres/accesshash", postgres, postgres.accessHash, "on"},
		{"postgres-nocache/accesshash", nocache, nocache.accessHash, "off"},
		{"sqlite/password-5000", sqlite, sqlite.basic, ""},
		{"postgres/password-5000", postgres, postgres.basic, "on"},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			c := tc.d.d.Data.Cache
			var hits0, misses0 uint64
			if c != nil {
				c.CountHits(true) // what the checks below read
				hits0, misses0 = c.Stats()
			}
			loop(b, false, tc.d.url+versionPath, tc.auth, http.StatusOK)
			r.report(b)
			if c == nil {
				return
			}
			hits, misses := c.Stats()
			switch tc.cache {
			case "on":
				// Every call reads the store at least once; after the
				// warm-up call all of them must be hits.
				if !c.Live() || hits-hits0 < uint64(b.N) {
					b.Fatalf("cache live=%v, %d hits in %d calls: not answered from memory", c.Live(), hits-hits0, b.N)
				}
				b.ReportMetric(float64(misses-misses0)/float64(b.N), "misses/op")
			case "off":
				if c.Live() || hits != hits0 || misses != misses0 {
					b.Fatalf("the cache came back on (live=%v, %d hits, %d misses): the nocache number is not uncached", c.Live(), hits-hits0, misses-misses0)
				}
			}
		})
	}
}

// loginSession logs root in on the daemon's plain WHM port (login_only=1)
// and returns the Cookie header and the security token.
func loginSession(b *testing.B, d *benchDaemon) (cookie, token string) {
	b.Helper()
	pass, err := os.ReadFile(d.d.Data.RootPasswordFile)
	if err != nil {
		b.Fatal(err)
	}
	body := "user=root&pass=" + url.QueryEscape(strings.TrimSpace(string(pass)))
	resp, err := newClient().Post(d.url+"/login/?login_only=1", "application/x-www-form-urlencoded", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Status        int    `json:"status"`
		SecurityToken string `json:"security_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Status != 1 {
		b.Fatalf("login: %d %v %+v", resp.StatusCode, err, out)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "whostmgrsession" {
			return c.Name + "=" + c.Value, out.SecurityToken
		}
	}
	b.Fatal("login set no whostmgrsession cookie")
	return "", ""
}

// do makes one request with the given headers and body, drains the body and
// checks the status.
func do(c *http.Client, method, url string, header map[string]string, body string, want int) error {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d: %.200s", method, url, resp.StatusCode, want, b)
	}
	return nil
}

// BenchmarkSession is the session-authenticated version call (cookie and
// /cpsess token, no Authorization header) against the unauthenticated
// baseline in the same run, with the access hash for comparison, one call
// at a time and in parallel; and the login rate (POST /login/?login_only=1,
// one password check and one session written per login) at 50000 and 5000
// SHA-512-crypt rounds.
func BenchmarkSession(b *testing.B) {
	d := startBenchDaemon(b, 50000)
	d5000 := startBenchDaemon(b, 5000)
	cookie, token := loginSession(b, d)
	body, err := call(newClient(), d.url+versionPath, d.accessHash, http.StatusOK)
	if err != nil {
		b.Fatal(err)
	}
	base := baselineServer(b, body)
	run := func(b *testing.B, parallel bool, url string, header map[string]string) {
		c := newClient()
		defer c.CloseIdleConnections()
		if err := do(c, http.MethodGet, url, header, "", http.StatusOK); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		if !parallel {
			for b.Loop() {
				if err := do(c, http.MethodGet, url, header, "", http.StatusOK); err != nil {
					b.Fatal(err)
				}
			}
			return
		}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := do(c, http.MethodGet, url, header, "", http.StatusOK); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	for _, parallel := range []bool{false, true} {
		mode := "serial"
		if parallel {
			mode = "parallel"
		}
		var r ratio
		b.Run(mode+"/baseline", func(b *testing.B) {
			run(b, parallel, base+versionPath, nil)
			r.setBaseline(b)
		})
		b.Run(mode+"/session", func(b *testing.B) {
			run(b, parallel, d.url+token+versionPath, map[string]string{"Cookie": cookie})
			r.report(b)
		})
		b.Run(mode+"/accesshash", func(b *testing.B) {
			run(b, parallel, d.url+versionPath, map[string]string{"Authorization": d.accessHash})
			r.report(b)
		})
	}
	for _, tc := range []struct {
		rounds int
		d      *benchDaemon
	}{{50000, d}, {5000, d5000}} {
		pass, err := os.ReadFile(tc.d.d.Data.RootPasswordFile)
		if err != nil {
			b.Fatal(err)
		}
		form := "user=root&pass=" + url.QueryEscape(strings.TrimSpace(string(pass)))
		hdr := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
		b.Run(fmt.Sprintf("login/rounds=%d", tc.rounds), func(b *testing.B) {
			c := newClient()
			defer c.CloseIdleConnections()
			b.ReportAllocs()
			for b.Loop() {
				if err := do(c, http.MethodPost, tc.d.url+"/login/?login_only=1", hdr, form, http.StatusOK); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
