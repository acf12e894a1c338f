package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/hulk"
	"github.com/cpauth/cpauth/internal/logs"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/testutil"
)

func testConfig(dir string) config.Config {
	c := config.Default()
	c.DataDir = dir
	c.Listen = "127.0.0.1"
	c.PortCPanel, c.PortCPanelTLS, c.PortWHM, c.PortWHMTLS, c.PortWebmail, c.PortWebmailTLS = 0, 0, 0, 0, 0, 0
	c.HashRounds = 1000
	return c
}

func start(t *testing.T, cfg config.Config, logs io.Writer) *Daemon {
	t.Helper()
	d, err := Start(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func client() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
}

func TestFirstStartAndRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	logs := &testutil.LogBuffer{}
	d := start(t, testConfig(dir), logs)
	if d.Data.RootPasswordFile == "" {
		t.Fatal("first start did not report the root password file")
	}
	if len(d.Listeners) != 6 {
		t.Fatalf("%d listeners, want 6", len(d.Listeners))
	}
	for _, f := range []struct {
		path string
		want os.FileMode
	}{
		{dir, 0o700}, {filepath.Join(dir, "server.key"), 0o600}, {filepath.Join(dir, "initial-root-password"), 0o600},
		{filepath.Join(dir, "tls", "key.pem"), 0o600},
	} {
		if got := mode(t, f.path); got != f.want {
			t.Errorf("%s: mode %o, want %o", f.path, got, f.want)
		}
	}
	pwBytes, err := os.ReadFile(filepath.Join(dir, "initial-root-password"))
	if err != nil {
		t.Fatal(err)
	}
	pw := strings.TrimSpace(string(pwBytes))
	key, _ := os.ReadFile(filepath.Join(dir, "server.key"))

	call := func(d *Daemon, pass string) int {
		req, _ := http.NewRequest("GET", "https://"+d.Addr(core.ServiceWHM, true)+"/json-api/version?api.version=1", nil)
		req.SetBasicAuth("root", pass)
		resp, err := client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := call(d, pw); got != 200 {
		t.Fatalf("root login: status %d", got)
	}
	if err := d.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A second start reuses everything: same key, same root password, no
	// new password file announced.
	d2 := start(t, testConfig(dir), logs)
	defer d2.Shutdown(context.Background())
	if d2.Data.RootPasswordFile != "" {
		t.Error("restart created a new root password")
	}
	key2, _ := os.ReadFile(filepath.Join(dir, "server.key"))
	if !bytes.Equal(key, key2) {
		t.Error("restart changed the server key")
	}
	if got := call(d2, pw); got != 200 {
		t.Errorf("root login after restart: status %d", got)
	}
	if got := call(d2, pw+"x"); got != 403 {
		t.Errorf("wrong password: status %d, want 403", got)
	}
	// Nothing secret reaches the log.
	out := logs.String()
	for name, s := range map[string]string{"root password": pw, "server key": strings.TrimSpace(string(key))} {
		if strings.Contains(out, s) {
			t.Errorf("the log contains the %s", name)
		}
	}
	if !strings.Contains(out, "listening") {
		t.Error("the log does not say which ports were bound")
	}
}

func TestPortInUse(t *testing.T) {
	a := start(t, testConfig(t.TempDir()), io.Discard)
	defer a.Shutdown(context.Background())
	cfg := testConfig(t.TempDir())
	_, port, _ := strings.Cut(a.Addr(core.ServiceWHM, true), ":")
	cfg.PortWHMTLS = atoi(t, port)
	if _, err := Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Fatal("Start on a port in use succeeded")
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A request in flight when shutdown begins still gets its answer.
func TestGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.HashRounds = 500000 // make the request slow enough to overlap shutdown
	d := start(t, cfg, io.Discard)
	pw, _ := os.ReadFile(filepath.Join(dir, "initial-root-password"))
	done := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("GET", "http://"+d.Addr(core.ServiceWHM, false)+"/json-api/version?api.version=1", nil)
		req.SetBasicAuth("root", strings.TrimSpace(string(pw)))
		resp, err := client().Do(req)
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := <-done; got != 200 {
		t.Fatalf("request in flight during shutdown: status %d, want 200", got)
	}
}

// TestCloseFlushesTokenUses: a token use noted in memory is written when
// the data directory closes, so a shutdown loses no last-use time.
func TestCloseFlushesTokenUses(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	d, err := Open(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	root, err := d.Store.GetAccount(ctx, "root")
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := d.Env.CreateToken(ctx, "root", auth.PrincipalFor(root), auth.PrincipalFor(root), store.TokenWHM, "t", api.Args{})
	if err != nil {
		t.Fatal(err)
	}
	when := time.Unix(1_900_000_000, 0)
	d.Uses.Record(tok.MAC, when, netip.MustParseAddr("192.0.2.9"))
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = Open(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got, err := d.Store.GetToken(ctx, store.TokenWHM, "root", "t")
	if err != nil || !got.LastUsed.Equal(when) || got.LastUsedIP != "192.0.2.9" {
		t.Fatalf("after close: %v %q %v", got.LastUsed, got.LastUsedIP, err)
	}
}

// TestOptionsClock: the injected clock is the one of token expiry, the
// functions and the purge.
func TestOptionsClock(t *testing.T) {
	fixed := time.Unix(2_000_000_000, 0)
	d, err := StartWith(context.Background(), testConfig(t.TempDir()), slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Now: func() time.Time { return fixed }})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown(context.Background())
	if !d.Data.Now().Equal(fixed) || !d.Data.Env.Now().Equal(fixed) {
		t.Fatal("the injected clock is not the daemon's")
	}
	ctx := context.Background()
	root, _ := d.Data.Store.GetAccount(ctx, "root")
	tok, _, err := d.Data.Env.CreateToken(ctx, "root", auth.PrincipalFor(root), auth.PrincipalFor(root), store.TokenWHM, "t", api.Args{})
	if err != nil || !tok.Created.Equal(fixed) {
		t.Fatalf("created %v, %v; want the injected time", tok.Created, err)
	}
}

// log-max-size-mb and log-keep reach the log files: a file rotates at the
// configured size and only log-keep rotated files stay.
func TestLogRotationSettings(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.LogMaxSizeMB, cfg.LogKeep = 1, 1
	d := start(t, cfg, io.Discard)
	line := logs.Login{App: "whostmgrd", Address: "192.0.2.1", User: "root", Request: "GET / HTTP/1.1", Status: "FAILED LOGIN", Reason: strings.Repeat("x", 900)}
	for range 12000 { // about 3 MiB (the reason is clipped to 128 bytes): two rotations
		d.Data.Logs.Login(line)
	}
	dir := filepath.Join(cfg.DataDir, "logs")
	for name, want := range map[string]bool{logs.LoginLog: true, logs.LoginLog + ".1": true, logs.LoginLog + ".2": false} {
		st, err := os.Stat(filepath.Join(dir, name))
		switch {
		case want && err != nil:
			t.Errorf("%s: %v", name, err)
		case want && st.Size() > 1<<20:
			t.Errorf("%s: %d bytes, over the 1 MiB limit", name, st.Size())
		case !want && err == nil:
			t.Errorf("%s kept, but log-keep is 1", name)
		}
	}
}

// Closing the data directory writes everything noted in memory before the
// store closes: a token's last use, a session's last use, the regulator's
// pending failure and the log lines waiting in the queue are all there
// when the directory is opened again.
func TestCloseWritesWhatWaits(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	log := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	start := time.Now().Truncate(time.Second)
	d, err := open(ctx, cfg, log, true, Options{Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	root, err := d.Store.GetAccount(ctx, "root")
	if err != nil {
		t.Fatal(err)
	}
	p := auth.PrincipalFor(root)
	tok, _, err := d.Env.CreateToken(ctx, "root", p, p, store.TokenWHM, "t", api.Args{})
	if err != nil {
		t.Fatal(err)
	}
	used := start.Add(time.Minute)
	d.Uses.Record(tok.MAC, used, netip.MustParseAddr("192.0.2.9"))
	sess, err := d.Sessions.Create(ctx, p, core.ServiceWHM, netip.MustParseAddr("192.0.2.9"), "password")
	if err != nil {
		t.Fatal(err)
	}
	seen := sess.Session.LastSeen.Add(5 * time.Minute)
	if !d.Touches.Use(sess.Session.IDHash, sess.Session.LastSeen, seen) {
		t.Fatal("the session's use is not due")
	}
	d.Hulk.Failed(ctx, hulk.Attempt{Service: core.ServiceWHM, Remote: netip.MustParseAddr("192.0.2.77"), User: "root", Method: core.MethodPassword, Secret: "x"}, "user password incorrect")
	d.Logs.Request(&logs.Request{Time: start, Address: netip.MustParseAddr("192.0.2.9"), App: "whostmgrd", Method: "GET", Path: "/json-api/last-words", Proto: "HTTP/1.1", Status: 200})
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d, err = Open(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got, err := d.Store.GetToken(ctx, store.TokenWHM, "root", "t")
	if err != nil || !got.LastUsed.Equal(used) {
		t.Errorf("token's last use after close: %v %v, want %v", got.LastUsed, err, used)
	}
	s, err := d.Store.GetSession(ctx, sess.Session.IDHash)
	if err != nil || !s.LastSeen.Equal(seen.Truncate(time.Microsecond)) {
		t.Errorf("session's last use after close: %v %v, want %v", s.LastSeen, err, seen)
	}
	fs, err := d.Store.ListHulkFailures(ctx, 0, time.Time{}, 100)
	found := false
	for _, f := range fs {
		found = found || f.Address == "192.0.2.77"
	}
	if err != nil || !found {
		t.Errorf("the regulator's failure after close: %v %v", fs, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "logs", logs.AccessLog))
	if err != nil || !strings.Contains(string(b), "/json-api/last-words") {
		t.Errorf("access_log after close: %q %v", b, err)
	}
}
