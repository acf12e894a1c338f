package cli_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/daemon"
	"github.com/cpauth/cpauth/internal/datadir"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/store/sqlstore"
	"github.com/cpauth/cpauth/internal/store/sqlstore/pgtest"
)

// startPostgresDaemon serves dir on the PostgreSQL database dsn.
func startPostgresDaemon(t *testing.T, dir, dsn string) *daemon.Daemon {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir, cfg.HashRounds, cfg.Listen = dir, 1000, "127.0.0.1"
	cfg.Store, cfg.PostgresDSN = "postgres", dsn
	cfg.PortCPanel, cfg.PortCPanelTLS, cfg.PortWHM, cfg.PortWHMTLS, cfg.PortWebmail, cfg.PortWebmailTLS = 0, 0, 0, 0, 0, 0
	d, err := daemon.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Shutdown(context.Background()) })
	return d
}

func readMark(t *testing.T, dir string) datadir.Mark {
	t.Helper()
	m, err := datadir.ReadMark(dir)
	if err != nil {
		t.Fatalf("store mark of %s: %v", dir, err)
	}
	return m
}

func TestStoreMarkSQLite(t *testing.T) {
	t.Run("first serve writes the mark", func(t *testing.T) {
		dir := t.TempDir()
		startDaemon(t, dir)
		if m := readMark(t, dir); m.Store != datadir.SQLite || m.SetBy != "serve" || m.SetAt.IsZero() {
			t.Errorf("mark %+v", m)
		}
	})
	t.Run("old directory without a mark is SQLite", func(t *testing.T) {
		dir := t.TempDir()
		mustCode(t, local(t, dir, "", "whmapi1", "createacct", "username=bob", "domain=bob.test", "password=Bob-Pass-1"), 0)
		os.Remove(filepath.Join(dir, datadir.MarkFile)) // as a version before marks left it
		r := local(t, dir, "", "whmapi1", "--output=json", "listaccts")
		mustCode(t, r, 0)
		if !strings.Contains(r.stdout, `"bob"`) {
			t.Errorf("listaccts: %s", r.stdout)
		}
		r = run(t, map[string]string{"CPAUTH_POSTGRES_DSN": "postgres://nobody@127.0.0.1:1/none"}, "",
			"whmapi1", "--data-dir", dir, "--store", "postgres", "listaccts")
		mustCode(t, r, 1)
		if !strings.Contains(r.stderr, "belongs to the SQLite store (it holds cpauth.db and no store.mark)") {
			t.Errorf("postgres on an old SQLite directory: %s", r.stderr)
		}
	})
}

// TestStoreMarkPostgres: whichever command opens a data directory uses the
// store it belongs to, or refuses and says which.
func TestStoreMarkPostgres(t *testing.T) {
	dsn := pgtest.Schema(t)
	pgDir := t.TempDir()
	d := startPostgresDaemon(t, pgDir, dsn)
	sq, err := sqlstore.OpenPostgres(context.Background(), dsn, sqlstore.PoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	id, err := sq.StoreID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(pgDir, "server.key")

	t.Run("first serve writes the mark with the database's id", func(t *testing.T) {
		m := readMark(t, pgDir)
		if m.Store != datadir.Postgres || m.StoreID != id || m.SetBy != "serve" {
			t.Errorf("mark %+v; want postgres with id %s", m, id)
		}
		b, _ := os.ReadFile(filepath.Join(pgDir, datadir.MarkFile))
		if strings.Contains(string(b), "postgres://") || strings.Contains(string(b), "search_path") {
			t.Errorf("the mark holds the DSN:\n%s", b)
		}
	})

	sqliteDir := t.TempDir()
	mustCode(t, local(t, sqliteDir, "", "whmapi1", "listaccts"), 0)
	otherDSN := pgtest.Schema(t)
	withDSN := map[string]string{"CPAUTH_POSTGRES_DSN": dsn}

	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		msg  string
	}{
		{"command without --store on a postgres directory refuses", nil,
			[]string{"whmapi1", "--data-dir", pgDir, "api_token_create", "token_name=lost"}, 1,
			"belongs to the PostgreSQL store (set by serve on"},
		{"token without --store refuses", nil,
			[]string{"token", "create", "--data-dir", pgDir, "--user", "root", "--name", "lost2"}, 1, "--store postgres"},
		{"backup refuses, naming pg_dump", withDSN,
			[]string{"backup", "--data-dir", pgDir, "--store", "postgres", filepath.Join(t.TempDir(), "b")}, 1, "pg_dump"},
		{"backup without --store refuses, naming pg_dump", nil,
			[]string{"backup", "--data-dir", pgDir, filepath.Join(t.TempDir(), "b")}, 1, "pg_dump"},
		{"restore refuses, naming pg_restore", nil,
			[]string{"restore", "--data-dir", pgDir, filepath.Join(sqliteDir, "cpauth.db")}, 1, "pg_restore"},
		{"postgres command on a SQLite directory refuses", withDSN,
			[]string{"whmapi1", "--data-dir", sqliteDir, "--store", "postgres", "listaccts"}, 1, "belongs to the SQLite store"},
		{"DSN to another database refuses", map[string]string{"CPAUTH_POSTGRES_DSN": otherDSN},
			[]string{"whmapi1", "--data-dir", pgDir, "--store", "postgres", "--key-file", key, "listaccts"}, 1,
			"is not the store of the data directory"},
		{"the command with --store postgres and the DSN works", withDSN,
			[]string{"whmapi1", "--data-dir", pgDir, "--store", "postgres", "--hash-rounds", "1000", "api_token_create", "token_name=found"}, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.env, "", tc.args...)
			mustCode(t, r, tc.code)
			if !strings.Contains(r.stderr, tc.msg) {
				t.Errorf("stderr %q does not mention %q", r.stderr, tc.msg)
			}
			for _, secret := range []string{dsn, otherDSN} {
				if strings.Contains(r.stdout+r.stderr, secret) {
					t.Error("the DSN was printed")
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(pgDir, "cpauth.db")); err == nil {
		t.Error("a command made a SQLite database in the PostgreSQL directory")
	}
	if m := readMark(t, sqliteDir); m.Store != datadir.SQLite {
		t.Errorf("the refused command changed the SQLite directory's mark: %+v", m)
	}
	// The token made by the command is the cluster's: the daemon sees it.
	toks, err := d.Data.Store.ListTokens(context.Background(), store.TokenWHM, "root")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tk := range toks {
		names = append(names, tk.Name)
	}
	if got := strings.Join(names, ","); got != "found" {
		t.Errorf("the daemon's tokens: %q; want the one made by the command alone", got)
	}
}

// A server key other than the one the store's secrets were sealed with is
// reported by every command that opens the directory.
func TestKeyCheck(t *testing.T) {
	dir := t.TempDir()
	r := local(t, dir, "", "whmapi1", "listaccts")
	mustCode(t, r, 0)
	if strings.Contains(r.stderr, "server key is not the one") {
		t.Fatalf("a warning with the right key: %s", r.stderr)
	}
	mustCode(t, local(t, dir, strings.Repeat("cd", 32), "key", "--force", "import"), 0)
	r = local(t, dir, "", "whmapi1", "listaccts")
	if !strings.Contains(r.stderr, "server key is not the one this store's secrets were sealed with") {
		t.Errorf("no warning with another key: %s", r.stderr)
	}
}
