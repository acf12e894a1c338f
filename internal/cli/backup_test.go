package cli_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/daemon"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/store/sqlstore"
)

// TestBackupUnderLoad backs up a serving daemon's store while writers
// create accounts and API tokens through it, and restores the backup into
// a fresh directory: everything acknowledged before the backup began is
// there, and the restored store opens and passes its integrity check.
func TestBackupUnderLoad(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir)
	st := d.Data.Store

	var (
		mu     sync.Mutex
		acked  []string
		tokens []string
		stop   atomic.Bool
		wg     sync.WaitGroup
		count  atomic.Int64
	)
	for w := range 3 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				name := fmt.Sprintf("w%du%d", w, i)
				now := time.Now()
				if err := st.CreateAccount(context.Background(), store.Account{Username: name, PasswordHash: "x", Created: now, PasswordChanged: now}); err != nil {
					t.Errorf("CreateAccount: %v", err)
					return
				}
				tok := store.Token{Username: name, Name: "t", Service: store.TokenWHM, MAC: "mac-" + name, Created: now}
				if err := st.CreateToken(context.Background(), tok); err != nil {
					t.Errorf("CreateToken: %v", err)
					return
				}
				mu.Lock()
				acked = append(acked, name)
				tokens = append(tokens, tok.MAC)
				mu.Unlock()
				count.Add(1)
			}
		})
	}
	for count.Load() < 100 {
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	names, macs := append([]string(nil), acked...), append([]string(nil), tokens...)
	mu.Unlock()
	file := filepath.Join(t.TempDir(), "cpauth.backup")
	r := local(t, dir, "", "backup", "--with-key", file)
	stop.Store(true)
	wg.Wait()
	mustCode(t, r, 0)
	if !strings.Contains(r.stderr, "whoever holds both files holds every sealed secret") {
		t.Errorf("no warning about the key: %s", r.stderr)
	}

	// The daemon still serves dir: restoring into it is refused.
	r = local(t, dir, "", "restore", "--key", file+".key", file)
	mustCode(t, r, 1)
	if !strings.Contains(r.stderr, "in use by a running cpauth serve") {
		t.Errorf("restore into a served directory: %s", r.stderr)
	}

	fresh := filepath.Join(t.TempDir(), "restored")
	r = local(t, fresh, "", "restore", "--key", file+".key", file)
	mustCode(t, r, 0)
	ctx := context.Background()
	if _, err := sqlstore.InspectSQLite(ctx, filepath.Join(fresh, "cpauth.db")); err != nil {
		t.Fatalf("the restored store fails its check: %v", err)
	}
	cfg := config.Default()
	cfg.DataDir, cfg.HashRounds = fresh, 1000
	var logs strings.Builder
	rd, err := daemon.Open(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if strings.Contains(logs.String(), "server key is not the one") {
		t.Errorf("the restored key does not match the store: %s", logs.String())
	}
	for i, name := range names {
		if _, err := rd.Store.GetAccount(ctx, name); err != nil {
			t.Fatalf("account %s, acknowledged before the backup, is missing: %v", name, err)
		}
		if _, err := rd.Store.GetTokenByMAC(ctx, macs[i]); err != nil {
			t.Fatalf("token of %s, acknowledged before the backup, is missing: %v", name, err)
		}
	}
}

func TestBackupCommand(t *testing.T) {
	dir := t.TempDir()
	mustCode(t, local(t, dir, "", "whmapi1", "createacct", "username=bob", "domain=bob.test", "password=Bob-Pass-1"), 0)
	file := filepath.Join(t.TempDir(), "b")
	r := local(t, dir, "", "backup", file)
	mustCode(t, r, 0)
	if !strings.Contains(r.stderr, "keep "+filepath.Join(dir, "server.key")+" separately") {
		t.Errorf("no word of where the key is: %s", r.stderr)
	}
	if _, err := os.Stat(file + ".key"); err == nil {
		t.Error("the key was written without --with-key")
	}
	r = local(t, dir, "", "backup", file)
	mustCode(t, r, 1)
	if !strings.Contains(r.stderr, "exists") {
		t.Errorf("second backup: %s", r.stderr)
	}
	mustCode(t, local(t, dir, "", "backup", "--force", file), 0)
	mustCode(t, local(t, dir, "", "backup"), 2)
	mustCode(t, local(t, dir, "", "restore"), 2)

	// Back into the same (stopped) directory, with its own key.
	mustCode(t, local(t, dir, "", "whmapi1", "createacct", "username=carol", "domain=carol.test", "password=Carol-Pass-1"), 0)
	r = local(t, dir, "", "restore", file)
	mustCode(t, r, 0)
	if !strings.Contains(r.stdout, "cpauth.db.before-restore-") {
		t.Errorf("restore does not say where the old store is: %s", r.stdout)
	}
	r = local(t, dir, "", "whmapi1", "--output=json", "listaccts")
	mustCode(t, r, 0)
	if !strings.Contains(r.stdout, `"bob"`) || strings.Contains(r.stdout, `"carol"`) {
		t.Errorf("after the restore: %s", r.stdout)
	}
}

// A second daemon on a data directory a daemon serves is refused, by
// daemon.Start and by cpauth serve; the first goes on serving.
func TestServeTwiceRefused(t *testing.T) {
	dir := t.TempDir()
	startDaemon(t, dir)
	cfg := config.Default()
	cfg.DataDir, cfg.HashRounds, cfg.Listen = dir, 1000, "127.0.0.1"
	cfg.PortCPanel, cfg.PortCPanelTLS, cfg.PortWHM, cfg.PortWHMTLS, cfg.PortWebmail, cfg.PortWebmailTLS = 0, 0, 0, 0, 0, 0
	if d, err := daemon.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		d.Shutdown(context.Background())
		t.Fatal("a second daemon started on the same data directory")
	} else if !strings.Contains(err.Error(), "in use by a running cpauth serve") || !strings.Contains(err.Error(), fmt.Sprint(os.Getpid())) {
		t.Errorf("error %q", err)
	}
	ports := []string{"--listen", "127.0.0.1"}
	for _, p := range []string{"cpanel", "cpanel-tls", "whm", "whm-tls", "webmail", "webmail-tls"} {
		ports = append(ports, "--port-"+p, "0")
	}
	r := local(t, dir, "", "serve", ports...)
	mustCode(t, r, 1)
	if !strings.Contains(r.stderr, "in use by a running cpauth serve") {
		t.Errorf("cpauth serve: %s", r.stderr)
	}
	// The local commands work beside the daemon.
	mustCode(t, local(t, dir, "", "whmapi1", "listaccts"), 0)
}
