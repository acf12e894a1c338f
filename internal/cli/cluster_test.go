package cli_test

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cpauth/cpauth/internal/datadir"
	"github.com/cpauth/cpauth/internal/store/sqlstore"
	"github.com/cpauth/cpauth/internal/store/sqlstore/pgtest"
)

func TestKey(t *testing.T) {
	dir := t.TempDir()
	// export creates the key when there is none, and prints it again later.
	r := local(t, dir, "", "key", "export")
	mustCode(t, r, 0)
	k1 := strings.TrimSpace(r.stdout)
	if raw, err := hex.DecodeString(k1); err != nil || len(raw) != 32 {
		t.Fatalf("export printed %q", k1)
	}
	r = local(t, dir, "", "key", "export")
	mustCode(t, r, 0)
	if strings.TrimSpace(r.stdout) != k1 {
		t.Fatal("a second export printed another key")
	}

	other := t.TempDir()
	mustCode(t, local(t, other, k1+"\n", "key", "import"), 0)
	got, _ := os.ReadFile(filepath.Join(other, "server.key"))
	if strings.TrimSpace(string(got)) != k1 {
		t.Fatal("import did not write the key")
	}
	if fi, _ := os.Stat(filepath.Join(other, "server.key")); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %o", fi.Mode().Perm())
	}

	tests := []struct {
		name  string
		dir   string
		stdin string
		args  []string
		code  int
		msg   string
	}{
		{"refuses to replace", other, strings.Repeat("ab", 32), []string{"import"}, 1, "--force"},
		{"not hex", t.TempDir(), "not a key", []string{"import"}, 1, "64 hexadecimal"},
		{"short", t.TempDir(), "abcd", []string{"import"}, 1, "64 hexadecimal"},
		{"empty stdin", t.TempDir(), "", []string{"import"}, 1, "no key"},
		{"no verb", t.TempDir(), "", nil, 2, "Usage"},
		{"bad verb", t.TempDir(), "", []string{"rotate"}, 2, "Usage"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := local(t, tc.dir, tc.stdin, "key", tc.args...)
			mustCode(t, r, tc.code)
			if !strings.Contains(r.stderr, tc.msg) {
				t.Errorf("stderr %q does not mention %q", r.stderr, tc.msg)
			}
		})
	}
	t.Run("force replaces", func(t *testing.T) {
		k2 := strings.Repeat("ab", 32)
		mustCode(t, local(t, other, k2, "key", "--force", "import"), 0)
		r := local(t, other, "", "key", "export")
		if strings.TrimSpace(r.stdout) != k2 {
			t.Fatalf("after --force: %q", r.stdout)
		}
	})
	t.Run("key-file", func(t *testing.T) {
		kf := filepath.Join(t.TempDir(), "cluster.key")
		mustCode(t, local(t, t.TempDir(), k1, "key", "--key-file", kf, "import"), 0)
		r := local(t, t.TempDir(), "", "key", "--key-file", kf, "export")
		if strings.TrimSpace(r.stdout) != k1 {
			t.Fatal("--key-file was not used")
		}
	})
}

// A single node's data moves into an empty PostgreSQL database, and a node
// on that database then accepts the old credentials (with the same key).
func TestMigrateStore(t *testing.T) {
	dir := t.TempDir()
	mustCode(t, local(t, dir, "", "whmapi1", "createacct", "username=bob", "domain=bob.test", "password=Bob-Pass-1"), 0)
	mustCode(t, local(t, dir, "", "uapi", "--user=bob", "Email", "add_pop", "email=info", "password=Info-Pass-1"), 0)
	mustCode(t, local(t, dir, "", "accesshash", "--generate"), 0)
	src := "sqlite:" + filepath.Join(dir, "cpauth.db")

	bad := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no source", []string{"--to", "postgres:x"}, 2, "--from"},
		{"missing sqlite file", []string{"--from", "sqlite:" + filepath.Join(dir, "nope.db"), "--to", "sqlite:" + filepath.Join(dir, "cpauth.db")}, 2, "--from"},
		{"unknown kind", []string{"--from", src, "--to", "mysql:x"}, 2, "--to"},
		{"postgres without a DSN", []string{"--from", src, "--to", "postgres"}, 2, "no DSN"},
		{"non-empty target", []string{"--from", src, "--to", src}, 1, "not empty"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, nil, "", append([]string{"migrate-store"}, tc.args...)...)
			mustCode(t, r, tc.code)
			if !strings.Contains(r.stderr, tc.msg) {
				t.Errorf("stderr %q does not mention %q", r.stderr, tc.msg)
			}
		})
	}

	t.Run("refused while a daemon serves the source", func(t *testing.T) {
		served := t.TempDir()
		startDaemon(t, served)
		r := run(t, map[string]string{"CPAUTH_POSTGRES_DSN": "postgres://nobody@127.0.0.1:1/none"}, "",
			"migrate-store", "--from", "sqlite:"+filepath.Join(served, "cpauth.db"), "--to", "postgres")
		mustCode(t, r, 1)
		if !strings.Contains(r.stderr, "stop it first") {
			t.Errorf("stderr %q", r.stderr)
		}
	})

	t.Run("sqlite to postgres", func(t *testing.T) {
		dsn := pgtest.Schema(t)
		env := map[string]string{"CPAUTH_POSTGRES_DSN": dsn}
		r := run(t, env, "", "migrate-store", "--from", src, "--to", "postgres")
		mustCode(t, r, 0)
		if !strings.Contains(r.stdout, "accounts") {
			t.Errorf("no counts printed: %s", r.stdout)
		}
		if strings.Contains(r.stdout+r.stderr, dsn) {
			t.Error("the DSN was printed")
		}
		// A second run refuses: the target is no longer empty.
		mustCode(t, run(t, env, "", "migrate-store", "--from", src, "--to", "postgres"), 1)

		// A node on the cluster database with the single node's key
		// accepts the old password and access hash.
		pg, err := sqlstore.OpenPostgres(context.Background(), dsn, sqlstore.PoolOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer pg.Close()
		bob, err := pg.GetAccount(context.Background(), "bob")
		if err != nil || bob.Domain != "bob.test" {
			t.Fatalf("bob in PostgreSQL: %+v, %v", bob, err)
		}
		if _, err := pg.GetMailbox(context.Background(), "info", "bob.test"); err != nil {
			t.Fatalf("mailbox: %v", err)
		}
		if _, err := pg.GetAccessHash(context.Background(), "root"); err != nil {
			t.Fatalf("access hash: %v", err)
		}

		// The key check went along.
		lite, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(dir, "cpauth.db"))
		if err != nil {
			t.Fatal(err)
		}
		want, _, _ := lite.Meta(context.Background(), sqlstore.MetaKeyCheck)
		lite.Close()
		if got, ok, err := pg.Meta(context.Background(), sqlstore.MetaKeyCheck); err != nil || !ok || got != want || want == "" {
			t.Errorf("key check in PostgreSQL = %q, %v, %v; want %q", got, ok, err, want)
		}

		// The data directory now belongs to the cluster database: its
		// mark names the database, and its commands need the DSN.
		id, err := pg.StoreID(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		m, err := datadir.ReadMark(dir)
		if err != nil || m.Store != datadir.Postgres || m.StoreID != id || m.SetBy != "migrate-store" {
			t.Fatalf("mark after migrate-store: %+v, %v; want postgres, %s", m, err, id)
		}
		r = local(t, dir, "", "whmapi1", "listaccts")
		mustCode(t, r, 1)
		if !strings.Contains(r.stderr, "belongs to the PostgreSQL store (set by migrate-store") {
			t.Errorf("a SQLite command on the moved directory: %s", r.stderr)
		}
		r = run(t, env, "", "whmapi1", "--data-dir", dir, "--store", "postgres", "--output=json", "listaccts")
		mustCode(t, r, 0)
		if !strings.Contains(r.stdout, `"bob"`) {
			t.Errorf("listaccts on the cluster: %s", r.stdout)
		}
	})
}
