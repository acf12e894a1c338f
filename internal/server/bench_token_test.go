package server_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/daemon"
	"github.com/cpauth/cpauth/internal/functions"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/store/sqlstore"
)

// --- API tokens -------------------------------------------------------------
//
// BenchmarkToken, BenchmarkTokenParallel and BenchmarkTokenFailure measure
// token-authenticated calls with 10, 10 000 and 1 000 000 tokens in the
// store. Each store size is built once per test binary, as a template data
// directory (server key, SQLite database with the accounts and tokens) that
// every daemon gets a copy of; TestMain removes the templates at the end.

const uapiPath = "/execute/Variables/get_user_information"

// tokenCountsFlag are the store sizes BenchmarkToken and
// BenchmarkTokenParallel measure. Fewer sizes make a CPU profile of one
// size without the set-up of the others, e.g.
//
//	go test -run='^$' -bench='BenchmarkTokenParallel/whm' -cpuprofile=cpu.out ./internal/server -args -token-counts=10
var tokenCountsFlag = flag.String("token-counts", "10,10000,1000000", "store sizes of the API token benchmarks, comma-separated")

func tokenCounts(b *testing.B) []int {
	var out []int
	for _, f := range strings.Split(*tokenCountsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 {
			b.Fatalf("-token-counts: %q is not a count of at least 2", f)
		}
		out = append(out, n)
	}
	return out
}

// tokenUsers own the tokens, round robin: root has WHM tokens, the others
// (cPanel accounts) cPanel tokens. bob's token is the one measured on the
// cPanel port, root's on the WHM port.
var tokenUsers = []string{"root", "bob", "fill1", "fill2", "fill3", "fill4", "fill5", "fill6", "fill7", "fill8"}

// tokenTemplate is a data directory holding n tokens.
type tokenTemplate struct {
	dir    string
	whm    string // Authorization header: a token of root's
	cpanel string // Authorization header: a token of bob's
	// rootPool holds Authorization headers of root's other WHM tokens
	// (every tenth token), for calls that each use a token the daemon has
	// not seen yet.
	rootPool []string
}

var templates struct {
	mu   sync.Mutex
	root string // parent of every template, removed by TestMain
	byN  map[int]*tokenTemplate
}

func TestMain(m *testing.M) {
	code := m.Run()
	if templates.root != "" {
		os.RemoveAll(templates.root)
	}
	os.Exit(code)
}

// tokenStore returns the template with n tokens, building it on first use
// (and printing how long that took).
func tokenStore(b *testing.B, n int) *tokenTemplate {
	b.Helper()
	templates.mu.Lock()
	defer templates.mu.Unlock()
	if t := templates.byN[n]; t != nil {
		return t
	}
	if templates.root == "" {
		dir, err := os.MkdirTemp("", "cpauth-bench-tokens-")
		if err != nil {
			b.Fatal(err)
		}
		templates.root = dir
		templates.byN = map[int]*tokenTemplate{}
	}
	start := time.Now()
	t, err := buildTokenTemplate(filepath.Join(templates.root, strconv.Itoa(n)), n)
	if err != nil {
		b.Fatalf("building the store with %d tokens: %v", n, err)
	}
	var size int64
	if fi, err := os.Stat(filepath.Join(t.dir, "cpauth.db")); err == nil {
		size = fi.Size()
	}
	// Printed rather than logged: a parent benchmark's log shows only
	// with -v.
	fmt.Printf("set-up: store with %d tokens built in %s (database %.1f MB)\n", n, time.Since(start).Round(time.Millisecond), float64(size)/1e6)
	templates.byN[n] = t
	return t
}

// buildTokenTemplate creates a data directory with root, bob and the filler
// accounts and n tokens spread over them. root's and bob's measured tokens
// go through the store's CreateToken; the others are inserted in bulk, in
// one transaction, with the same column encoding (checked on a sample read
// back through the store).
func buildTokenTemplate(dir string, n int) (*tokenTemplate, error) {
	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.HashRounds = 1000 // only the accounts' creation hashes; never verified here
	d, err := daemon.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	rootAcct, err := d.Store.GetAccount(ctx, "root")
	if err != nil {
		return nil, err
	}
	root := auth.PrincipalFor(rootAcct)
	root.Method, root.Service = core.MethodLocal, core.ServiceWHM
	for _, u := range tokenUsers[1:] {
		args := api.NewArgs([2]string{"username", u}, [2]string{"domain", u + ".test"}, [2]string{"password", "Bench-Pass-" + u + "-1"})
		c := &api.Call{Flavour: api.WHM1, Func: "createacct", Args: args, Principal: root, Remote: netip.IPv6Loopback(), Host: "localhost"}
		if _, err := functions.RunWHM1(ctx, d.Registry, c); err != nil {
			return nil, fmt.Errorf("createacct %s: %w", u, err)
		}
	}
	service := func(user string) string {
		if user == "root" {
			return store.TokenWHM
		}
		return store.TokenCPanel
	}
	created := time.Now().UTC().Truncate(time.Microsecond)
	t := &tokenTemplate{dir: dir}
	// Token i belongs to tokenUsers[i%len], named t<i>; 0 and 1 are the
	// measured ones.
	for i, u := range tokenUsers[:2] {
		tok, err := secret.RandomString(32, secret.UpperAlnum)
		if err != nil {
			return nil, err
		}
		err = d.Store.CreateToken(ctx, store.Token{Service: service(u), Username: u, Name: fmt.Sprintf("t%07d", i),
			MAC: auth.TokenMAC(d.Key, u, tok), Created: created})
		if err != nil {
			return nil, err
		}
		if u == "root" {
			t.whm = "whm root:" + tok
		} else {
			t.cpanel = "cpanel bob:" + tok
		}
	}
	if n <= 2 {
		return t, nil
	}
	sq, ok := d.Store.(*sqlstore.Store)
	if !ok {
		return nil, fmt.Errorf("the data directory's store is a %T, not SQLite", d.Store)
	}
	if t.rootPool, err = bulkTokens(ctx, sq, d.Key, n, service, created); err != nil {
		return nil, err
	}
	// The bulk rows must read back as the store writes them.
	mac := ""
	sample := store.Token{Service: service(tokenUsers[2]), Username: tokenUsers[2], Name: "t0000002", Created: created}
	row := sq.DB().QueryRowContext(ctx, `SELECT mac FROM api_tokens WHERE username = ? AND name = ?`, sample.Username, sample.Name)
	if err := row.Scan(&mac); err != nil {
		return nil, err
	}
	sample.MAC = mac
	got, err := d.Store.GetTokenByMAC(ctx, mac)
	if err != nil {
		return nil, err
	}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", sample) {
		return nil, fmt.Errorf("bulk token reads back as %+v, want %+v", got, sample)
	}
	var count int
	if err := sq.DB().QueryRowContext(ctx, `SELECT count(*) FROM api_tokens`).Scan(&count); err != nil {
		return nil, err
	}
	if count != n {
		return nil, fmt.Errorf("%d tokens in the store, want %d", count, n)
	}
	return t, nil
}

// bulkTokens inserts tokens 2..n-1 (random values, MACs by auth.TokenMAC):
// GOMAXPROCS goroutines make them in batches, one transaction writes them.
// It returns the Authorization headers of root's tokens among them.
func bulkTokens(ctx context.Context, sq *sqlstore.Store, key *secret.Key, n int, service func(string) string, created time.Time) (pool []string, _ error) {
	type row struct{ service, user, name, mac, tok string }
	const batch = 1000
	jobs := make(chan int)     // first index of a batch
	out := make(chan []row, 4) // bounded: memory stays at a few batches
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var genErr error
	var errOnce sync.Once
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for first := range jobs {
				rows := make([]row, 0, batch)
				for i := first; i < min(first+batch, n); i++ {
					u := tokenUsers[i%len(tokenUsers)]
					tok, err := secret.RandomString(32, secret.UpperAlnum)
					if err != nil {
						errOnce.Do(func() { genErr = err })
						cancel()
						return
					}
					rows = append(rows, row{service(u), u, fmt.Sprintf("t%07d", i), auth.TokenMAC(key, u, tok), tok})
				}
				select {
				case out <- rows:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for first := 2; first < n; first += batch {
			select {
			case jobs <- first:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(out) }()

	// One connection, with a page cache large enough for the random MAC
	// index, and one transaction.
	conn, err := sq.DB().Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA cache_size = -262144`); err != nil {
		return nil, err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO api_tokens (service, username, name, mac, acls, expires_at,
		whitelist_ips, readonly, require_otp, created, last_used, last_used_ip)
		VALUES (?, ?, ?, ?, NULL, NULL, '[]', 0, 0, ?, NULL, '')`)
	if err != nil {
		return nil, err
	}
	defer ins.Close()
	for rows := range out {
		for _, r := range rows {
			if _, err := ins.ExecContext(ctx, r.service, r.user, r.name, r.mac, created.UnixMicro()); err != nil {
				return nil, err
			}
			if r.user == "root" {
				pool = append(pool, "whm root:"+r.tok)
			}
		}
	}
	if genErr != nil {
		return nil, genErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA cache_size = -2000`); err != nil {
		return nil, err
	}
	return pool, tx.Commit()
}

// copyDir copies the regular files of src (a data directory) to dst.
func copyDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		o, err := os.OpenFile(filepath.Join(dst, e.Name()), os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
		if err == nil {
			_, err = io.Copy(o, in)
			if cerr := o.Close(); err == nil {
				err = cerr
			}
		}
		in.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// tokenDaemon is a daemon on a copy of a template.
type tokenDaemon struct {
	whm, cpanel string // base URLs of the plain WHM and cPanel ports
	tpl         *tokenTemplate
	d           *daemon.Daemon
}

func startTokenDaemon(b *testing.B, n int) *tokenDaemon {
	return startTokenDaemonWith(b, n, nil)
}

// startTokenDaemonWith is startTokenDaemon after hook (if any) has changed
// the configuration.
func startTokenDaemonWith(b *testing.B, n int, hook func(*config.Config)) *tokenDaemon {
	b.Helper()
	tpl := tokenStore(b, n)
	dir := filepath.Join(b.TempDir(), "data")
	if err := copyDir(tpl.dir, dir); err != nil {
		b.Fatal(err)
	}
	d := startDaemon(b, func(cfg *config.Config) {
		cfg.DataDir = dir
		if hook != nil {
			hook(cfg)
		}
	})
	// Measure the daemon as it runs: with its cache live.
	for deadline := time.Now().Add(10 * time.Second); d.Data.Cache != nil && !d.Data.Cache.Live(); {
		if time.Now().After(deadline) {
			b.Fatal("the store cache did not go live")
		}
		time.Sleep(time.Millisecond)
	}
	return &tokenDaemon{whm: "http://" + d.Addr(core.ServiceWHM, false), cpanel: "http://" + d.Addr(core.ServiceCPanel, false), tpl: tpl, d: d}
}

// tokenBaselines returns the baselines' URLs: servers answering with the
// bytes of a real version call and of a real get_user_information call.
func tokenBaselines(b *testing.B, d *tokenDaemon) (version, uapi string) {
	b.Helper()
	vbody, ubody := tokenBodies(b, d)
	return baselineServer(b, vbody) + versionPath, baselineServer(b, ubody) + uapiPath
}

// tokenBodies are d's answers to version by root's WHM token and to
// get_user_information by bob's cPanel token.
func tokenBodies(b *testing.B, d *tokenDaemon) (version, uapi []byte) {
	b.Helper()
	c := newClient()
	defer c.CloseIdleConnections()
	vbody, err := call(c, d.whm+versionPath, d.tpl.whm, http.StatusOK)
	if err != nil {
		b.Fatal(err)
	}
	ubody, err := call(c, d.cpanel+uapiPath, d.tpl.cpanel, http.StatusOK)
	if err != nil {
		b.Fatal(err)
	}
	if !strings.Contains(string(ubody), `"user":"bob"`) {
		b.Fatalf("get_user_information answered %.300s", ubody)
	}
	return vbody, ubody
}

// reportRate adds requests/s (1e9 / ns/op) to a parallel benchmark.
func reportRate(b *testing.B) {
	if b.N > 0 {
		b.ReportMetric(1e9*float64(b.N)/float64(b.Elapsed().Nanoseconds()), "requests/s")
	}
}

// runTokenGroup benchmarks both baselines, then version by root's WHM token
// and get_user_information by bob's cPanel token for every store size.
// Every daemon is started before any timing.
func runTokenGroup(b *testing.B, parallel bool) {
	counts := tokenCounts(b)
	daemons := map[int]*tokenDaemon{}
	for _, n := range counts {
		daemons[n] = startTokenDaemon(b, n)
	}
	versionBase, uapiBase := tokenBaselines(b, daemons[counts[0]])
	var rv, ru ratio
	b.Run("baseline/version", func(b *testing.B) {
		loop(b, parallel, versionBase, "", http.StatusOK)
		rv.setBaseline(b)
		if parallel {
			reportRate(b)
		}
	})
	b.Run("baseline/uapi", func(b *testing.B) {
		loop(b, parallel, uapiBase, "", http.StatusOK)
		ru.setBaseline(b)
		if parallel {
			reportRate(b)
		}
	})
	for _, kind := range []string{"whm", "cpanel"} {
		for _, n := range counts {
			d := daemons[n]
			url, authz, r := d.whm+versionPath, d.tpl.whm, &rv
			if kind == "cpanel" {
				url, authz, r = d.cpanel+uapiPath, d.tpl.cpanel, &ru
			}
			b.Run(fmt.Sprintf("%s/tokens=%d", kind, n), func(b *testing.B) {
				loop(b, parallel, url, authz, http.StatusOK)
				r.report(b)
				if parallel {
					reportRate(b)
				}
			})
		}
	}
}

// BenchmarkToken is the latency of one token-authenticated call at a time:
// version on the WHM port by a WHM token, get_user_information on the
// cPanel port by a cPanel token.
func BenchmarkToken(b *testing.B) { runTokenGroup(b, false) }

// BenchmarkTokenParallel is their throughput with GOMAXPROCS concurrent
// clients; requests/s is 1e9 / (ns/op).
func BenchmarkTokenParallel(b *testing.B) { runTokenGroup(b, true) }

// BenchmarkTokenFailure is the D5 path with 1 000 000 tokens in the store,
// one call at a time: a valid WHM token, then unknown ones, either the same
// one again and again (as a client with a revoked token) or a different one
// on every call (as someone guessing), so that the daemon's memory of
// absent tokens never answers; and, to compare with the latter, a different
// valid token on every call. With -benchtime=2s the 100 000 tokens of
// each pool are enough.
func BenchmarkTokenFailure(b *testing.B) {
	const n = 1_000_000
	d := startTokenDaemon(b, n)
	versionBase, _ := tokenBaselines(b, d)
	// A different unknown token on every call (none is used twice).
	unknown := make([]string, 100_000)
	for i := range unknown {
		tok, err := secret.RandomString(32, secret.UpperAlnum)
		if err != nil {
			b.Fatal(err)
		}
		unknown[i] = "whm root:" + tok
	}
	// The D5 answer (its bytes differ from version's).
	denied, err := call(newClient(), d.whm+versionPath, unknown[0], http.StatusForbidden)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Printf("D5 answer: %d bytes: %.120s\n", len(denied), denied)
	var r ratio
	b.Run("baseline/version", func(b *testing.B) {
		loop(b, false, versionBase, "", http.StatusOK)
		r.setBaseline(b)
	})
	b.Run(fmt.Sprintf("valid/tokens=%d", n), func(b *testing.B) {
		loop(b, false, d.whm+versionPath, d.tpl.whm, http.StatusOK)
		r.report(b)
	})
	b.Run(fmt.Sprintf("unknown-same/tokens=%d", n), func(b *testing.B) {
		loop(b, false, d.whm+versionPath, unknown[1], http.StatusForbidden)
		r.report(b)
	})
	// Each call with a token the daemon has not seen since it started:
	// unknown ones, and for comparison valid ones (root's other tokens),
	// both answered by the database rather than the daemon's memory.
	fresh := func(name string, pool []string, want int) {
		b.Run(fmt.Sprintf("%s/tokens=%d", name, n), func(b *testing.B) {
			c := newClient()
			defer c.CloseIdleConnections()
			url := d.whm + versionPath
			if _, err := call(c, url, pool[0], want); err != nil { // warm up
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 1
			for b.Loop() {
				if i == len(pool) {
					b.Fatalf("all %d tokens used: a shorter -benchtime, please", len(pool))
				}
				if _, err := call(c, url, pool[i], want); err != nil {
					b.Fatal(err)
				}
				i++
			}
			r.report(b)
		})
	}
	fresh("unknown-fresh", unknown[2:], http.StatusForbidden)
	fresh("valid-fresh", d.tpl.rootPool, http.StatusOK)
}
