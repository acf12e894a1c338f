// Package datadir knows what a data directory is bound to: the store mark
// (which store the directory belongs to) and the serve lock (at most one
// daemon, and no restore under a running one).
package datadir

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Store kinds, as the configuration's store key spells them.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Names of the files in a data directory this package and its callers
// care about.
const (
	MarkFile = "store.mark"
	LockFile = "serve.lock"
	DBFile   = "cpauth.db"
)

// maxMarkSize bounds what is read of a mark: a real one is some 200 bytes.
const maxMarkSize = 4096

// Mark is what a data directory remembers of its store. It never holds a
// DSN: a DSN may carry a password.
type Mark struct {
	// Store is SQLite or Postgres.
	Store string
	// StoreID is the PostgreSQL database's store id (its metadata row):
	// a command reaching a database with another id is refused. Empty for
	// SQLite, whose database is the directory's own cpauth.db.
	StoreID string
	// SetBy names what wrote the mark (serve, migrate-store, a local
	// command) and SetAt when.
	SetBy string
	SetAt time.Time
}

// ErrNoMark is returned by ReadMark when the directory has no mark.
var ErrNoMark = errors.New("datadir: no store mark")

// ReadMark reads dir's mark.
func ReadMark(dir string) (Mark, error) {
	path := filepath.Join(dir, MarkFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Mark{}, ErrNoMark
	}
	if err != nil {
		return Mark{}, fmt.Errorf("datadir: store mark: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMarkSize+1))
	if err != nil {
		return Mark{}, fmt.Errorf("datadir: store mark %s: %w", path, err)
	}
	m, err := ParseMark(b)
	if err != nil {
		return Mark{}, fmt.Errorf("datadir: store mark %s: %w", path, err)
	}
	return m, nil
}

// ParseMark decodes a mark: "key: value" lines, '#' comments and blank
// lines. Unknown keys are ignored (a later version may add some); store is
// required, and a PostgreSQL mark needs its store id.
func ParseMark(b []byte) (Mark, error) {
	if len(b) > maxMarkSize {
		return Mark{}, fmt.Errorf("longer than %d bytes", maxMarkSize)
	}
	var m Mark
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(strings.TrimSuffix(sc.Text(), "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for _, r := range line {
			if r < 0x20 || r == 0x7f {
				return Mark{}, fmt.Errorf("line %d: a control character", n)
			}
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return Mark{}, fmt.Errorf("line %d: not key: value", n)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if seen[k] {
			return Mark{}, fmt.Errorf("line %d: %s given twice", n, k)
		}
		seen[k] = true
		switch k {
		case "store":
			if v != SQLite && v != Postgres {
				return Mark{}, fmt.Errorf("line %d: store must be %s or %s", n, SQLite, Postgres)
			}
			m.Store = v
		case "store-id":
			if !validStoreID(v) {
				return Mark{}, fmt.Errorf("line %d: store-id must be 32 lowercase hexadecimal characters", n)
			}
			m.StoreID = v
		case "set-by":
			m.SetBy = v
		case "set-at":
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return Mark{}, fmt.Errorf("line %d: set-at is not an RFC 3339 time", n)
			}
			m.SetAt = t
		}
	}
	if err := sc.Err(); err != nil {
		return Mark{}, err
	}
	switch {
	case m.Store == "":
		return Mark{}, errors.New("no store line")
	case m.Store == Postgres && m.StoreID == "":
		return Mark{}, errors.New("a PostgreSQL mark without its store-id")
	case m.Store == SQLite && m.StoreID != "":
		return Mark{}, errors.New("a SQLite mark with a store-id")
	}
	return m, nil
}

// validStoreID reports whether s has the shape of a store id (sqlstore's
// StoreID: 16 random bytes in lowercase hex).
func validStoreID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Encode is the mark as written to its file.
func (m Mark) Encode() []byte {
	var b bytes.Buffer
	b.WriteString("# cpauth: the store this data directory belongs to. Commands that open the\n")
	b.WriteString("# directory use this store or refuse. Do not edit; see docs/deployment.md.\n")
	fmt.Fprintf(&b, "store: %s\n", m.Store)
	if m.StoreID != "" {
		fmt.Fprintf(&b, "store-id: %s\n", m.StoreID)
	}
	if m.SetBy != "" {
		fmt.Fprintf(&b, "set-by: %s\n", strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return ' '
			}
			return r
		}, m.SetBy))
	}
	if !m.SetAt.IsZero() {
		fmt.Fprintf(&b, "set-at: %s\n", m.SetAt.UTC().Format(time.RFC3339Nano))
	}
	return b.Bytes()
}

// Describe says where the mark came from, for messages: "set by serve on
// 2026-12-04 22:40:00 UTC".
func (m Mark) Describe() string {
	var parts []string
	if m.SetBy != "" {
		parts = append(parts, "by "+m.SetBy)
	}
	if !m.SetAt.IsZero() {
		parts = append(parts, "on "+m.SetAt.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	if len(parts) == 0 {
		return "store mark " + MarkFile
	}
	return "set " + strings.Join(parts, " ") + " in " + MarkFile
}

// WriteMark writes dir's mark (0600), replacing an earlier one atomically.
func WriteMark(dir string, m Mark) error {
	if m.Store != SQLite && m.Store != Postgres {
		return fmt.Errorf("datadir: store mark: unknown store %q", m.Store)
	}
	if _, err := ParseMark(m.Encode()); err != nil {
		return fmt.Errorf("datadir: store mark: %w", err)
	}
	return WriteFileAtomic(filepath.Join(dir, MarkFile), m.Encode())
}

// Claim writes dir's mark unless the directory has one already: of two
// commands that found the directory unclaimed at once, the one that
// claims it second gets the first one's mark checked against its own
// (a *MismatchError, or an error when the PostgreSQL store ids differ).
func Claim(dir string, m Mark) error {
	if _, err := ParseMark(m.Encode()); err != nil {
		return fmt.Errorf("datadir: store mark: %w", err)
	}
	path := filepath.Join(dir, MarkFile)
	f, err := os.CreateTemp(dir, "."+MarkFile+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(m.Encode())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	err = os.Link(tmp, path) // fails, rather than replace, when one exists
	if errors.Is(err, fs.ErrExist) {
		won, rerr := ReadMark(dir)
		if rerr != nil {
			return rerr
		}
		if won.Store != m.Store {
			return &MismatchError{Dir: dir, Mark: won, Want: m.Store}
		}
		if won.StoreID != m.StoreID {
			return fmt.Errorf("the data directory %s was just claimed for another PostgreSQL database (store id %s, %s)", dir, won.StoreID, won.Describe())
		}
		return nil
	}
	if err != nil {
		return err
	}
	return SyncDir(dir)
}

// WriteFileAtomic writes data to path (0600) through a temporary file in
// the same directory and a rename, so that a reader sees the old file or
// the new one, never half of one.
func WriteFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir makes a rename in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, fs.ErrInvalid) {
		return err
	}
	return nil
}

// Belongs reports the store dir belongs to: its mark; or, without one, a
// SQLite mark (zero SetBy) when the directory holds a cpauth.db (a
// directory of a version before marks); ok is false for a directory that
// belongs to no store yet.
func Belongs(dir string) (m Mark, ok bool, err error) {
	m, err = ReadMark(dir)
	if err == nil {
		return m, true, nil
	}
	if !errors.Is(err, ErrNoMark) {
		return Mark{}, false, err
	}
	_, err = os.Lstat(filepath.Join(dir, DBFile))
	switch {
	case err == nil:
		return Mark{Store: SQLite}, true, nil
	case errors.Is(err, fs.ErrNotExist):
		return Mark{}, false, nil
	}
	return Mark{}, false, err
}

// MismatchError is a command's store against the directory's.
type MismatchError struct {
	Dir  string
	Mark Mark
	// Want is the store the command was given.
	Want string
}

func (e *MismatchError) Error() string {
	switch e.Mark.Store {
	case Postgres:
		return fmt.Sprintf("the data directory %s belongs to the PostgreSQL store (%s); run with --store postgres and the DSN "+
			"($CPAUTH_POSTGRES_DSN or --postgres-dsn-file), or with the daemon's --config", e.Dir, e.Mark.Describe())
	default:
		db := filepath.Join(e.Dir, DBFile)
		if e.Mark.SetBy == "" {
			// No mark: a directory of a version before marks. On a node
			// that served PostgreSQL, the cpauth.db is likely one a command
			// run without --store postgres made by mistake.
			return fmt.Sprintf("the data directory %s belongs to the SQLite store (it holds %s and no %s), not %s; to move it into "+
				"PostgreSQL run cpauth migrate-store --from sqlite:%s --to postgres; if this directory served PostgreSQL before and %s "+
				"was made by a command run without --store postgres, look at what it holds and move it (with its -wal and -shm) "+
				"out of the directory; see docs/deployment.md", e.Dir, DBFile, MarkFile, e.Want, db, DBFile)
		}
		return fmt.Sprintf("the data directory %s belongs to the SQLite store (%s), not %s; to move it into PostgreSQL run "+
			"cpauth migrate-store --from sqlite:%s --to postgres, or give the PostgreSQL node a data directory of its own",
			e.Dir, e.Mark.Describe(), e.Want, db)
	}
}

// Check says whether a command on the store want (SQLite or Postgres) may
// open dir: the mark it found (ok false: none yet, the command claims the
// directory), or a *MismatchError.
func Check(dir, want string) (m Mark, ok bool, err error) {
	m, ok, err = Belongs(dir)
	if err != nil || !ok {
		return m, ok, err
	}
	if m.Store != want {
		return m, ok, &MismatchError{Dir: dir, Mark: m, Want: want}
	}
	return m, ok, nil
}
