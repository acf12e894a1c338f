package backup_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/backup"
	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/daemon"
	"github.com/cpauth/cpauth/internal/datadir"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/store/sqlstore"
)

var now = time.Date(2026, 12, 4, 23, 0, 0, 0, time.UTC)

func cfgFor(dir string) config.Config {
	c := config.Default()
	c.DataDir, c.HashRounds = dir, 1000
	return c
}

func opts(dir string) backup.Options {
	c := cfgFor(dir)
	return backup.Options{Dir: dir, KeyPath: c.KeyPath(), Store: c.Store}
}

// newDir makes a data directory (daemon.Open, as the local commands do)
// holding the account names given.
func newDir(t *testing.T, names ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	d, err := daemon.Open(context.Background(), cfgFor(dir), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, n := range names {
		if err := d.Store.CreateAccount(context.Background(), store.Account{Username: n, PasswordHash: "x", Created: now, PasswordChanged: now}); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func accounts(t *testing.T, dir string) []string {
	t.Helper()
	d, err := daemon.Open(context.Background(), cfgFor(dir), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("opening the restored directory: %v", err)
	}
	defer d.Close()
	as, err := d.Store.ListAccounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		out = append(out, a.Username)
	}
	return out
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestBackupAndRestore(t *testing.T) {
	ctx := context.Background()
	src := newDir(t, "alice", "bob")
	file := filepath.Join(t.TempDir(), "cpauth.backup")
	made, err := backup.Backup(ctx, opts(src), file, false, true)
	if err != nil {
		t.Fatal(err)
	}
	if made.Info.Accounts != 3 || made.Key != file+".key" {
		t.Fatalf("Backup = %+v", made)
	}
	for _, p := range []string{file, made.Key} {
		if m := mode(t, p); m != 0o600 {
			t.Errorf("%s: mode %o", p, m)
		}
	}
	key, _ := os.ReadFile(filepath.Join(src, "server.key"))
	if got, _ := os.ReadFile(made.Key); string(got) != string(key) {
		t.Error("the key written beside the backup is not the directory's")
	}

	t.Run("into a fresh directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "fresh")
		r, err := backup.Restore(ctx, opts(dir), file, made.Key, now)
		if err != nil {
			t.Fatal(err)
		}
		if r.Aside != "" || r.KeyAside != "" || len(r.Warnings) != 0 {
			t.Errorf("Restore into a fresh directory = %+v", r)
		}
		if m := mode(t, filepath.Join(dir, "cpauth.db")); m != 0o600 {
			t.Errorf("restored database mode %o", m)
		}
		if m := mode(t, filepath.Join(dir, "server.key")); m != 0o600 {
			t.Errorf("restored key mode %o", m)
		}
		if got := strings.Join(accounts(t, dir), ","); got != "alice,bob,root" {
			t.Errorf("restored accounts %s", got)
		}
		if m, err := datadir.ReadMark(dir); err != nil || m.Store != datadir.SQLite {
			t.Errorf("mark after restore: %+v, %v", m, err)
		}
	})

	t.Run("over a directory, keeping the old store and key aside", func(t *testing.T) {
		dir := newDir(t, "carol")
		oldKey, _ := os.ReadFile(filepath.Join(dir, "server.key"))
		r, err := backup.Restore(ctx, opts(dir), file, made.Key, now)
		if err != nil {
			t.Fatal(err)
		}
		wantAside := filepath.Join(dir, "cpauth.db.before-restore-20261204T230000Z")
		if r.Aside != wantAside || r.KeyAside != filepath.Join(dir, "server.key.before-restore-20261204T230000Z") {
			t.Fatalf("Restore = %+v", r)
		}
		if got, _ := os.ReadFile(r.KeyAside); string(got) != string(oldKey) {
			t.Error("the old key was not kept")
		}
		if got := strings.Join(accounts(t, dir), ","); got != "alice,bob,root" {
			t.Errorf("restored accounts %s", got)
		}
		// The store set aside is whole by itself: carol is in it.
		old, err := sqlstore.OpenSQLite(ctx, wantAside)
		if err != nil {
			t.Fatal(err)
		}
		defer old.Close()
		if _, err := old.GetAccount(ctx, "carol"); err != nil {
			t.Errorf("the store set aside lost carol: %v", err)
		}
		for _, p := range []string{"cpauth.db-wal", "cpauth.db-shm"} {
			if fi, err := os.Stat(filepath.Join(dir, p)); err == nil && fi.Size() > 0 && p == "cpauth.db-wal" {
				t.Errorf("%s left with %d bytes", p, fi.Size())
			}
		}
	})
}

func TestBackupRefusals(t *testing.T) {
	ctx := context.Background()
	src := newDir(t)
	exists := filepath.Join(t.TempDir(), "exists")
	os.WriteFile(exists, []byte("keep me"), 0o600)
	keyExists := filepath.Join(t.TempDir(), "b")
	os.WriteFile(keyExists+".key", []byte("keep me"), 0o600)
	pgDir := t.TempDir()
	datadir.WriteMark(pgDir, datadir.Mark{Store: datadir.Postgres, StoreID: strings.Repeat("ab", 16), SetBy: "serve"})
	pgConfigured := opts(src)
	pgConfigured.Store = "postgres"

	tests := []struct {
		name    string
		o       backup.Options
		dest    string
		withKey bool
		err     string
	}{
		{"file exists", opts(src), exists, false, "exists: refusing to overwrite"},
		{"key file exists", opts(src), keyExists, true, ".key exists"},
		{"no store", opts(t.TempDir()), filepath.Join(t.TempDir(), "x"), false, "no SQLite store"},
		{"postgres directory", opts(pgDir), filepath.Join(t.TempDir(), "x"), false, "pg_dump"},
		{"postgres configured", pgConfigured, filepath.Join(t.TempDir(), "x"), false, "pg_dump"},
		{"no key for --with-key", backup.Options{Dir: src, KeyPath: filepath.Join(t.TempDir(), "none.key")}, filepath.Join(t.TempDir(), "x"), true, "server key"},
	}
	forced := []struct {
		name    string
		dest    string
		withKey bool
	}{
		{"the store itself", filepath.Join(src, "cpauth.db"), false},
		{"the key itself", filepath.Join(src, "server"), true},
	}
	os.WriteFile(filepath.Join(src, "server"), nil, 0o600)
	for _, tc := range forced {
		t.Run(tc.name+", even with --force", func(t *testing.T) {
			before, _ := os.ReadFile(filepath.Join(src, "server.key"))
			_, err := backup.Backup(ctx, opts(src), tc.dest, true, tc.withKey)
			if err == nil || !strings.Contains(err.Error(), "write the backup elsewhere") {
				t.Fatalf("Backup = %v", err)
			}
			if after, _ := os.ReadFile(filepath.Join(src, "server.key")); string(after) != string(before) {
				t.Error("the key changed")
			}
			if _, err := sqlstore.InspectSQLite(ctx, filepath.Join(src, "cpauth.db")); err != nil {
				t.Error(err)
			}
		})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := backup.Backup(ctx, tc.o, tc.dest, false, tc.withKey)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Backup = %v; want an error with %q", err, tc.err)
			}
		})
	}
	if b, _ := os.ReadFile(exists); string(b) != "keep me" {
		t.Error("a refused backup changed the existing file")
	}
	if _, err := os.Stat(keyExists); err == nil {
		t.Error("a refused backup wrote the database beside an existing key file")
	}
	t.Run("force replaces", func(t *testing.T) {
		if _, err := backup.Backup(ctx, opts(src), exists, true, false); err != nil {
			t.Fatal(err)
		}
		if _, err := sqlstore.InspectSQLite(ctx, exists); err != nil {
			t.Fatal(err)
		}
		if m := mode(t, exists); m != 0o600 {
			t.Errorf("mode %o", m)
		}
	})
}

func TestRestoreRefusals(t *testing.T) {
	ctx := context.Background()
	src := newDir(t, "alice")
	file := filepath.Join(t.TempDir(), "b.db")
	made, err := backup.Backup(ctx, opts(src), file, false, true)
	if err != nil {
		t.Fatal(err)
	}
	otherKey := filepath.Join(newDir(t), "server.key")
	text := filepath.Join(t.TempDir(), "text")
	os.WriteFile(text, []byte(strings.Repeat("hello\n", 500)), 0o600)
	pgDir := t.TempDir()
	datadir.WriteMark(pgDir, datadir.Mark{Store: datadir.Postgres, StoreID: strings.Repeat("ab", 16), SetBy: "serve"})
	locked := newDir(t, "carol")
	lock, err := datadir.Acquire(locked) // as a serving daemon holds it
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	badKey := filepath.Join(t.TempDir(), "bad.key")
	os.WriteFile(badKey, []byte("not hex"), 0o600)

	tests := []struct {
		name string
		dir  string
		file string
		key  string
		err  string
	}{
		{"daemon running", locked, file, made.Key, "in use by a running cpauth serve"},
		{"not a cpauth store", newDir(t, "carol"), text, "", "not a cpauth SQLite store"},
		{"missing file", newDir(t, "carol"), filepath.Join(t.TempDir(), "none"), "", "no such file"},
		{"postgres directory", pgDir, file, made.Key, "pg_restore"},
		{"key given does not match", newDir(t, "carol"), file, otherKey, "another server key than " + otherKey},
		{"directory's key does not match", newDir(t, "carol"), file, "", "the data directory's"},
		{"no key anywhere", filepath.Join(t.TempDir(), "fresh"), file, "", "has no server key"},
		{"key file not a key", newDir(t, "carol"), file, badKey, "not 64 hexadecimal"},
		{"a directory as the file", newDir(t, "carol"), t.TempDir(), "", "not a regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := os.ReadFile(filepath.Join(tc.dir, "cpauth.db"))
			keyBefore, _ := os.ReadFile(filepath.Join(tc.dir, "server.key"))
			_, err := backup.Restore(ctx, opts(tc.dir), tc.file, tc.key, now)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Restore = %v; want an error with %q", err, tc.err)
			}
			// Nothing changed: the same database, the same key, nothing
			// left behind.
			after, _ := os.ReadFile(filepath.Join(tc.dir, "cpauth.db"))
			keyAfter, _ := os.ReadFile(filepath.Join(tc.dir, "server.key"))
			if string(before) != string(after) || string(keyBefore) != string(keyAfter) {
				t.Error("a refused restore changed the directory")
			}
			leftovers, _ := filepath.Glob(filepath.Join(tc.dir, "*restor*"))
			if len(leftovers) > 0 {
				t.Errorf("left behind: %v", leftovers)
			}
		})
	}
	t.Run("key's place cannot be written", func(t *testing.T) {
		dir := newDir(t, "carol")
		o := opts(dir)
		o.KeyPath = filepath.Join(t.TempDir(), "missing", "server.key")
		before, _ := os.ReadFile(filepath.Join(dir, "cpauth.db"))
		_, err := backup.Restore(ctx, o, file, made.Key, now)
		if err == nil || !strings.Contains(err.Error(), "preparing the key") {
			t.Fatalf("Restore = %v", err)
		}
		if after, _ := os.ReadFile(filepath.Join(dir, "cpauth.db")); string(after) != string(before) {
			t.Error("the store was replaced although its key could not be")
		}
	})
	var ke *backup.KeyMismatchError
	if _, err := backup.Restore(ctx, opts(newDir(t)), file, otherKey, now); !errors.As(err, &ke) {
		t.Errorf("not a *KeyMismatchError: %v", err)
	}
}
