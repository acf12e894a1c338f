package sqlstore

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/store/storetest"
)

func openSQLite(t *testing.T, path string) *Store {
	t.Helper()
	s, err := OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestSQLite(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) store.Store {
		return openSQLite(t, filepath.Join(t.TempDir(), "cpauth.db"))
	})
}

func TestSQLiteGateway(t *testing.T) {
	storetest.RunGatewayTests(t, func(t *testing.T) storetest.GatewayStore {
		return openSQLite(t, filepath.Join(t.TempDir(), "cpauth.db"))
	})
}

func migrationFiles(t *testing.T, dialect string) []string {
	t.Helper()
	files, err := fs.Glob(migrationFS, "migrations/"+dialect+"/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no %s migrations: %v", dialect, err)
	}
	return files
}

func TestMigrations(t *testing.T) {
	ctx := t.Context()
	files := migrationFiles(t, SQLite.Name)
	path := filepath.Join(t.TempDir(), "cpauth.db")

	s, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v != len(files) {
		t.Fatalf("SchemaVersion = %d, %v; want %d (the number of migration files)", v, err, len(files))
	}
	if err := s.CreateAccount(ctx, store.Account{Username: "root"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSetting(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	var applied int
	if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&applied); err != nil || applied != len(files) {
		t.Fatalf("schema_migrations has %d rows, %v; want %d", applied, err, len(files))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopening applies nothing and keeps the data.
	s = openSQLite(t, path)
	if v, err := s.SchemaVersion(ctx); err != nil || v != len(files) {
		t.Errorf("SchemaVersion after reopen = %d, %v; want %d", v, err, len(files))
	}
	if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&applied); err != nil || applied != len(files) {
		t.Errorf("schema_migrations has %d rows after reopen, %v; want %d", applied, err, len(files))
	}
	if _, err := s.GetAccount(ctx, "root"); err != nil {
		t.Errorf("GetAccount after reopen: %v", err)
	}
	if v, err := s.GetSetting(ctx, "k"); err != nil || v != "v" {
		t.Errorf("GetSetting after reopen = %q, %v", v, err)
	}

	// A database from a newer program is refused rather than used.
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied) VALUES (?, 'future.sql', 0)`, len(files)+1); err != nil {
		t.Fatal(err)
	}
	if s2, err := OpenSQLite(ctx, path); err == nil {
		s2.Close()
		t.Error("OpenSQLite accepted a database with a newer schema")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Errorf("OpenSQLite of a newer schema: %v", err)
	}
}

func TestLoadMigrations(t *testing.T) {
	ms, err := loadMigrations(SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != len(migrationFiles(t, SQLite.Name)) {
		t.Errorf("loadMigrations found %d, want every file", len(ms))
	}
	for i, m := range ms {
		if m.version != i+1 || strings.TrimSpace(m.sql) == "" {
			t.Errorf("migration %d: version %d, %d bytes", i, m.version, len(m.sql))
		}
	}
	if _, err := loadMigrations(&Dialect{Name: "nosuch"}); err == nil {
		t.Error("loadMigrations of an unknown dialect succeeded")
	}
}

// TestSQLitePragmas checks that every pooled connection, not just the first,
// has the settings from the DSN.
func TestSQLitePragmas(t *testing.T) {
	ctx := t.Context()
	s := openSQLite(t, filepath.Join(t.TempDir(), "cpauth.db"))
	var conns []interface{ Close() error }
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 4 {
		c, err := s.DB().Conn(ctx) // held open, so each is a distinct connection
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		for pragma, want := range map[string]string{
			"foreign_keys": "1",
			"journal_mode": "wal",
			"busy_timeout": "5000",
		} {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatalf("conn %d: PRAGMA %s: %v", i, pragma, err)
			}
			if got != want {
				t.Errorf("conn %d: PRAGMA %s = %s, want %s", i, pragma, got, want)
			}
		}
	}
}

// TestForeignKeyCascade checks the schema itself: deleting an account row
// directly removes what belongs to it.
func TestForeignKeyCascade(t *testing.T) {
	checkCascade(t, openSQLite(t, filepath.Join(t.TempDir(), "cpauth.db")))
}

func checkCascade(t *testing.T, s *Store) {
	ctx := t.Context()
	if err := s.CreateAccount(ctx, store.Account{Username: "bob", Domain: "bob.example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateMailbox(ctx, store.Mailbox{Account: "bob", Local: "info", Domain: "bob.example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAccessHash(ctx, store.AccessHash{Username: "bob", MAC: "m", Sealed: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, store.Token{Service: store.TokenCPanel, Username: "bob", Name: "t", MAC: "m"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, store.Session{IDHash: "s", Kind: store.SessionNormal, Username: "info@bob.example.com",
		Account: "bob", Service: "webmaild", SecurityToken: "/cpsess0123456789"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `DELETE FROM accounts`); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"domains", "mailboxes", "access_hashes", "api_tokens", "sessions"} {
		var n int
		if err := s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s has %d rows after deleting the account, %v", table, n, err)
		}
	}
}

func TestRebind(t *testing.T) {
	pg := &Dialect{Placeholder: Dollar}
	for in, want := range map[string]string{
		"SELECT 1":                                "SELECT 1",
		"SELECT a FROM t WHERE b = ? AND c = ?":   "SELECT a FROM t WHERE b = $1 AND c = $2",
		"INSERT INTO t VALUES (?, '?', \"?\", ?)": "INSERT INTO t VALUES ($1, '?', \"?\", $2)",
		"UPDATE t SET a = 'it''s?' WHERE b = ?":   "UPDATE t SET a = 'it''s?' WHERE b = $1",
		"?????????????":                           "$1$2$3$4$5$6$7$8$9$10$11$12$13",
	} {
		if got := pg.Rebind(in); got != want {
			t.Errorf("Rebind(%q) = %q, want %q", in, got, want)
		}
		if got := SQLite.Rebind(in); got != in {
			t.Errorf("SQLite.Rebind(%q) = %q, want it unchanged", in, got)
		}
	}
}

func TestSQLiteDSN(t *testing.T) {
	// Characters that mean something in a URI must not cut the path short.
	dir := t.TempDir()
	path := filepath.Join(dir, "odd ?name#%20.db")
	s := openSQLite(t, path)
	if err := s.SetSetting(t.Context(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	matches, err := filepath.Glob(filepath.Join(dir, "*.db"))
	if err != nil || len(matches) != 1 || matches[0] != path {
		t.Errorf("database files = %q, %v; want %q", matches, err, path)
	}
}

func TestErrorsWrap(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t, filepath.Join(t.TempDir(), "cpauth.db"))
	_, err := s.GetAccount(ctx, "nobody")
	if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "nobody") {
		t.Errorf("GetAccount error %v: want ErrNotFound naming the account", err)
	}
}

// TestSQLiteSessionPlans checks that the lookups and both parts of the purge
// use their indexes, not a scan of every session.
func TestSQLiteSessionPlans(t *testing.T) {
	ctx := t.Context()
	s := openSQLite(t, filepath.Join(t.TempDir(), "cpauth.db"))
	for query, index := range map[string]string{
		`SELECT id_hash FROM sessions WHERE id_hash = ?`:                                                 "sqlite_autoindex_sessions_1",
		`DELETE FROM sessions WHERE expires < ? RETURNING id_hash`:                                       "sessions_expires",
		`DELETE FROM sessions WHERE idle_timeout > 0 AND last_seen + idle_timeout < ? RETURNING id_hash`: "sessions_idle_deadline",
		`DELETE FROM sessions WHERE username = ? AND id_hash <> ? RETURNING id_hash`:                     "sessions_username",
		`DELETE FROM sessions WHERE account = ? RETURNING id_hash`:                                       "sessions_account",
	} {
		rows, err := s.DB().QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, 1, 2)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if p := strings.Join(plan, "; "); !strings.Contains(p, index) {
			t.Errorf("%s: plan %q does not use %s", query, p, index)
		}
	}
}

// The database and the -wal and -shm files SQLite makes beside it are
// 0600: the database is made 0600 before SQLite opens it, and SQLite gives
// the other two the database's mode. Checked on the real files, after a
// write.
func TestSQLiteFileModes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpauth.db")
	s := openSQLite(t, path)
	if err := s.SetSetting(t.Context(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm", path + "-changes"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(name), err)
			continue
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s: mode %04o, want 0600", filepath.Base(name), m)
		}
	}
}

// An existing database keeps its mode: opening it changes nothing.
func TestSQLiteExistingFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpauth.db")
	s, err := OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	openSQLite(t, path)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode after a second open: %v, %v; want 0640 as it was", fi.Mode().Perm(), err)
	}
}
