package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/store"
)

func TestMetadata(t *testing.T) {
	ctx := t.Context()
	s := openSQLite(t, filepath.Join(t.TempDir(), "cpauth.db"))
	if _, ok, err := s.Meta(ctx, MetaKeyCheck); ok || err != nil {
		t.Fatalf("Meta on a new store = %v, %v", ok, err)
	}
	if v, err := s.InitMeta(ctx, MetaKeyCheck, "first"); err != nil || v != "first" {
		t.Fatalf("InitMeta = %q, %v", v, err)
	}
	if v, err := s.InitMeta(ctx, MetaKeyCheck, "second"); err != nil || v != "first" {
		t.Fatalf("second InitMeta = %q, %v; want the first value kept", v, err)
	}
	id, err := s.StoreID(ctx)
	if err != nil || len(id) != 32 {
		t.Fatalf("StoreID = %q, %v", id, err)
	}
	if again, _ := s.StoreID(ctx); again != id {
		t.Fatalf("StoreID changed: %q, then %q", id, again)
	}
	other := openSQLite(t, filepath.Join(t.TempDir(), "cpauth.db"))
	if oid, _ := other.StoreID(ctx); oid == id {
		t.Fatal("two stores got the same id")
	}
}

// TestBackupUnderLoad backs up while writers create accounts: every
// account whose creation returned before the backup began is in the copy,
// and the copy passes InspectSQLite.
func TestBackupUnderLoad(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	src := filepath.Join(dir, "cpauth.db")
	s := openSQLite(t, src)

	var (
		mu    sync.Mutex
		acked []string
		stop  atomic.Bool
		wg    sync.WaitGroup
		n     atomic.Int64
	)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				name := fmt.Sprintf("w%du%d", w, i)
				now := time.Now()
				err := s.CreateAccount(context.Background(), store.Account{Username: name, PasswordHash: "x", Created: now, PasswordChanged: now})
				if err != nil {
					t.Errorf("CreateAccount: %v", err)
					return
				}
				mu.Lock()
				acked = append(acked, name)
				mu.Unlock()
				n.Add(1)
			}
		})
	}
	for n.Load() < 200 {
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()
	dst := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(dst, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := BackupSQLite(ctx, src, dst)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatalf("BackupSQLite: %v", err)
	}
	info, err := InspectSQLite(ctx, dst)
	if err != nil {
		t.Fatalf("InspectSQLite of the backup: %v", err)
	}
	if info.SchemaVersion != info.Known || info.Accounts < len(before) {
		t.Fatalf("backup info %+v; want schema %d and at least %d accounts", info, info.Known, len(before))
	}
	b, err := OpenSQLite(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, name := range before {
		if _, err := b.GetAccount(ctx, name); err != nil {
			t.Fatalf("account %s, acknowledged before the backup, is not in it: %v", name, err)
		}
	}
	if fi, _ := os.Stat(dst); fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %o", fi.Mode().Perm())
	}
}

func TestBackupRefuses(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	src := filepath.Join(dir, "cpauth.db")
	openSQLite(t, src)
	full := filepath.Join(dir, "full.db")
	os.WriteFile(full, []byte("something"), 0o600)
	tests := []struct {
		name     string
		src, dst string
	}{
		{"missing source", filepath.Join(dir, "nope.db"), filepath.Join(dir, "out1.db")},
		{"non-empty target", src, full},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := BackupSQLite(ctx, tc.src, tc.dst); err == nil {
				t.Fatal("BackupSQLite succeeded")
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "nope.db")); err == nil {
		t.Error("a backup of a missing database created it")
	}
	if b, _ := os.ReadFile(full); string(b) != "something" {
		t.Error("a refused backup changed the target")
	}
}

func TestInspectSQLite(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	s := openSQLite(t, good)
	s.InitMeta(ctx, MetaKeyCheck, "kc")

	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sqliteFile := func(name string, stmts ...string) string {
		p := filepath.Join(dir, name)
		db, err := sql.Open(SQLite.Driver, sqliteDSN(p))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, q := range stmts {
			if _, err := db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	newer := filepath.Join(dir, "newer.db")
	{
		n := openSQLite(t, newer)
		if _, err := n.DB().Exec(`INSERT INTO schema_migrations (version, name, applied) VALUES (999, '0999_future.sql', 0)`); err != nil {
			t.Fatal(err)
		}
	}
	torn := write("torn.db", func() []byte {
		b, _ := os.ReadFile(good)
		return b[:len(b)/2+100]
	}())

	tests := []struct {
		name string
		path string
		err  string
	}{
		{"text file", write("text.db", []byte(strings.Repeat("not a database\n", 200))), "not a cpauth SQLite store"},
		{"empty file", write("empty.db", nil), "no cpauth tables"},
		{"another program's database", sqliteFile("other.db", `CREATE TABLE notes (body TEXT)`), "no cpauth tables"},
		{"newer schema", newer, "newer than this program"},
		{"torn file", torn, "not a cpauth SQLite store"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := InspectSQLite(ctx, tc.path)
			if err == nil || !errors.Is(err, ErrNotStore) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("InspectSQLite = %v; want ErrNotStore with %q", err, tc.err)
			}
		})
	}
	t.Run("good", func(t *testing.T) {
		info, err := InspectSQLite(ctx, good)
		if err != nil || info.KeyCheck != "kc" || info.SchemaVersion != info.Known {
			t.Fatalf("InspectSQLite = %+v, %v", info, err)
		}
	})
}
