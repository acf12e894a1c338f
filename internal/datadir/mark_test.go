package datadir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const id = "0123456789abcdef0123456789abcdef"

func TestParseMark(t *testing.T) {
	at := time.Date(2026, 12, 4, 22, 40, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   string
		want Mark
		err  string
	}{
		{"postgres", "store: postgres\nstore-id: " + id + "\nset-by: serve\nset-at: 2026-12-04T22:40:00Z\n",
			Mark{Store: Postgres, StoreID: id, SetBy: "serve", SetAt: at}, ""},
		{"sqlite", "# comment\n\nstore: sqlite\n", Mark{Store: SQLite}, ""},
		{"crlf and spaces", "  store :  sqlite  \r\n", Mark{Store: SQLite}, ""},
		{"unknown key ignored", "store: sqlite\nfuture: 1\n", Mark{Store: SQLite}, ""},
		{"empty", "", Mark{}, "no store line"},
		{"unknown store", "store: mysql\n", Mark{}, "store must be"},
		{"postgres without id", "store: postgres\n", Mark{}, "without its store-id"},
		{"sqlite with id", "store: sqlite\nstore-id: " + id + "\n", Mark{}, "SQLite mark with a store-id"},
		{"short id", "store: postgres\nstore-id: abc\n", Mark{}, "32 lowercase"},
		{"upper id", "store: postgres\nstore-id: " + strings.ToUpper(id) + "\n", Mark{}, "32 lowercase"},
		{"twice", "store: sqlite\nstore: postgres\n", Mark{}, "given twice"},
		{"no colon", "store sqlite\n", Mark{}, "not key: value"},
		{"control byte", "store: sqlite\nset-by: a\x00b\n", Mark{}, "control character"},
		{"bad time", "store: sqlite\nset-at: yesterday\n", Mark{}, "RFC 3339"},
		{"too long", "store: sqlite\n#" + strings.Repeat("x", maxMarkSize), Mark{}, "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMark([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseMark = %+v, %v; want an error with %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseMark = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestMarkRoundTrip(t *testing.T) {
	dir := t.TempDir()
	m := Mark{Store: Postgres, StoreID: id, SetBy: "migrate-store", SetAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	if err := WriteMark(dir, m); err != nil {
		t.Fatal(err)
	}
	got, err := ReadMark(dir)
	if err != nil || got != m {
		t.Fatalf("ReadMark = %+v, %v; want %+v", got, err, m)
	}
	fi, err := os.Stat(filepath.Join(dir, MarkFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mark file: %v, %v", fi, err)
	}
	if err := WriteMark(dir, Mark{Store: "mysql"}); err == nil {
		t.Error("WriteMark wrote an unknown store")
	}
	if err := WriteMark(dir, Mark{Store: Postgres}); err == nil {
		t.Error("WriteMark wrote a PostgreSQL mark without a store id")
	}
	if got, _ := ReadMark(dir); got != m {
		t.Errorf("a refused write changed the mark: %+v", got)
	}
}

func TestCheck(t *testing.T) {
	sqliteDir := t.TempDir()
	os.WriteFile(filepath.Join(sqliteDir, DBFile), nil, 0o600)
	pgDir := t.TempDir()
	WriteMark(pgDir, Mark{Store: Postgres, StoreID: id, SetBy: "serve", SetAt: time.Now()})
	markedSQLite := t.TempDir()
	WriteMark(markedSQLite, Mark{Store: SQLite, SetBy: "serve", SetAt: time.Now()})
	movedDir := t.TempDir() // migrate-store moved it: cpauth.db stays, the mark wins
	os.WriteFile(filepath.Join(movedDir, DBFile), nil, 0o600)
	WriteMark(movedDir, Mark{Store: Postgres, StoreID: id, SetBy: "migrate-store"})
	badDir := t.TempDir()
	os.WriteFile(filepath.Join(badDir, MarkFile), []byte("store: oracle\n"), 0o600)

	tests := []struct {
		name    string
		dir     string
		want    string
		claimed bool
		err     string
	}{
		{"empty directory, sqlite", t.TempDir(), SQLite, false, ""},
		{"empty directory, postgres", t.TempDir(), Postgres, false, ""},
		{"old directory without a mark is sqlite", sqliteDir, SQLite, true, ""},
		{"old directory refuses postgres", sqliteDir, Postgres, true, "belongs to the SQLite store (it holds cpauth.db and no store.mark)"},
		{"postgres directory refuses sqlite", pgDir, SQLite, true, "belongs to the PostgreSQL store (set by serve on"},
		{"postgres directory", pgDir, Postgres, true, ""},
		{"marked sqlite refuses postgres", markedSQLite, Postgres, true, "migrate-store"},
		{"moved directory refuses sqlite", movedDir, SQLite, true, "--store postgres"},
		{"unreadable mark", badDir, SQLite, false, "store must be"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, claimed, err := Check(tc.dir, tc.want)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Check = %v; want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil || claimed != tc.claimed {
				t.Fatalf("Check = %v, %v; want %v, nil", claimed, err, tc.claimed)
			}
		})
	}
	var me *MismatchError
	if _, _, err := Check(pgDir, SQLite); !errors.As(err, &me) {
		t.Errorf("not a *MismatchError: %v", err)
	}
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir)
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("second Acquire = %v; want a *LockedError", err)
	}
	if le.PID != os.Getpid() || !strings.Contains(err.Error(), "in use by a running cpauth serve") {
		t.Errorf("LockedError = %+v (%v)", le, err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l2.Release()
	var none *Lock
	if err := none.Release(); err != nil {
		t.Errorf("nil Release: %v", err)
	}
}

func FuzzParseMark(f *testing.F) {
	f.Add([]byte("store: postgres\nstore-id: " + id + "\nset-by: serve\nset-at: 2026-12-04T22:40:00Z\n"))
	f.Add([]byte("store: sqlite\n"))
	f.Add([]byte("store: postgres\n"))
	f.Add([]byte("#\n\r\n:"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMark(b)
		if err != nil {
			return
		}
		// What parses, written again, parses to the same mark.
		again, err := ParseMark(m.Encode())
		if err != nil {
			t.Fatalf("re-encoded mark does not parse: %v\n%s", err, m.Encode())
		}
		if again.Store != m.Store || again.StoreID != m.StoreID || !again.SetAt.Equal(m.SetAt) {
			t.Fatalf("round trip: %+v, then %+v", m, again)
		}
	})
}

func TestClaim(t *testing.T) {
	first := Mark{Store: Postgres, StoreID: id, SetBy: "serve"}
	tests := []struct {
		name string
		m    Mark
		err  string
	}{
		{"the same store again", Mark{Store: Postgres, StoreID: id, SetBy: "a local command"}, ""},
		{"another store", Mark{Store: SQLite, SetBy: "a local command"}, "belongs to the PostgreSQL store"},
		{"another database", Mark{Store: Postgres, StoreID: strings.Repeat("f", 32)}, "another PostgreSQL database"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := Claim(dir, first); err != nil {
				t.Fatal(err)
			}
			err := Claim(dir, tc.m)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("second Claim = %v; want %q", err, tc.err)
			}
			if got, _ := ReadMark(dir); got != first {
				t.Errorf("the first claim's mark was replaced: %+v", got)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}
