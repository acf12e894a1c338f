// Package backup copies a data directory's SQLite store out while the
// daemon serves, and puts such a copy back into a stopped data directory.
package backup

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cpauth/cpauth/internal/datadir"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/store/sqlstore"
)

// KeySuffix is added to a backup's name for the server key that
// --with-key writes beside it.
const KeySuffix = ".key"

// Options name the data directory and its store as the configuration does.
type Options struct {
	// Dir is the data directory, KeyPath its server key file.
	Dir, KeyPath string
	// Store is the configured store: "sqlite" or "postgres".
	Store string
}

// PostgresError is the answer of Backup and Restore for a data directory
// on PostgreSQL, whose store the database server's own tools copy.
type PostgresError struct {
	Dir, KeyPath string
	Restore      bool
}

func (e *PostgresError) Error() string {
	tool := "pg_dump (e.g. pg_dump --format=custom --file=cpauth.dump DBNAME)"
	verb := "back it up"
	if e.Restore {
		tool = "pg_restore (into an empty database, with every node stopped)"
		verb = "restore it"
	}
	return fmt.Sprintf("the data directory %s belongs to the PostgreSQL store, which cpauth does not copy: %s with %s, "+
		"and keep the server key %s and the store mark %s with it; see docs/deployment.md",
		e.Dir, verb, tool, e.KeyPath, filepath.Join(e.Dir, datadir.MarkFile))
}

// postgres reports whether o's directory is on PostgreSQL: configured so,
// or marked so.
func (o Options) postgres() (bool, error) {
	if o.Store == datadir.Postgres {
		return true, nil
	}
	m, ok, err := datadir.Belongs(o.Dir)
	if err != nil {
		return false, err
	}
	return ok && m.Store == datadir.Postgres, nil
}

// ExistsError is a file Backup would overwrite without Force.
type ExistsError struct{ Path string }

func (e *ExistsError) Error() string {
	return fmt.Sprintf("%s exists: refusing to overwrite it (--force replaces it)", e.Path)
}

// Made is what Backup wrote.
type Made struct {
	// From is the database copied, To the backup, Key the key file written
	// beside it ("" without WithKey).
	From, To, Key string
	Info          sqlstore.Info
}

// Backup writes a consistent copy of o's SQLite store to dest (0600) while
// a daemon may be serving it; with withKey it copies the server key to
// dest+KeySuffix (0600) too. It overwrites nothing unless force.
func Backup(ctx context.Context, o Options, dest string, force, withKey bool) (Made, error) {
	made := Made{From: filepath.Join(o.Dir, datadir.DBFile), To: dest}
	if pg, err := o.postgres(); err != nil {
		return made, err
	} else if pg {
		return made, &PostgresError{Dir: o.Dir, KeyPath: o.KeyPath}
	}
	if _, err := os.Stat(made.From); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return made, fmt.Errorf("there is no SQLite store in %s (%s not found)", o.Dir, datadir.DBFile)
		}
		return made, err
	}
	// Not even --force may put the copy over the store itself (or its
	// key): the daemon has them open.
	for _, live := range []string{made.From, made.From + "-wal", made.From + "-shm", o.KeyPath} {
		for _, p := range []string{dest, dest + KeySuffix} {
			if sameFile(live, p) {
				return made, fmt.Errorf("%s is the data directory's own %s: write the backup elsewhere", p, filepath.Base(live))
			}
		}
	}
	var key []byte
	if withKey {
		made.Key = dest + KeySuffix
		k, err := readKey(o.KeyPath)
		if err != nil {
			return made, err
		}
		key = encodeKey(k)
	}
	if !force {
		for _, p := range []string{made.To, made.Key} {
			if p == "" {
				continue
			}
			if _, err := os.Lstat(p); err == nil {
				return made, &ExistsError{Path: p}
			}
		}
	}
	tmp, err := tempBeside(dest)
	if err != nil {
		return made, err
	}
	defer removeDB(tmp)
	if err := sqlstore.BackupSQLite(ctx, made.From, tmp); err != nil {
		return made, err
	}
	// The copy is checked as a restore would check it.
	if made.Info, err = sqlstore.InspectSQLite(ctx, tmp); err != nil {
		return made, fmt.Errorf("the copy fails its check: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return made, err
	}
	if err := install(tmp, made.To, force); err != nil {
		return made, err
	}
	if withKey {
		ktmp, err := tempBeside(made.Key)
		if err != nil {
			return made, err
		}
		defer os.Remove(ktmp)
		if err := os.WriteFile(ktmp, key, 0o600); err != nil {
			return made, err
		}
		if err := syncFile(ktmp); err != nil {
			return made, err
		}
		if err := install(ktmp, made.Key, force); err != nil {
			return made, err
		}
	}
	return made, datadir.SyncDir(filepath.Dir(dest))
}

// tempBeside makes an empty 0600 file in path's directory for what will
// be renamed to path.
func tempBeside(path string) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	err = f.Chmod(0o600)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// install moves tmp to path: a rename when replacing is allowed, else a
// hard link, which fails rather than replace a file made meanwhile.
func install(tmp, path string, replace bool) error {
	if replace {
		return os.Rename(tmp, path)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return &ExistsError{Path: path}
		}
		return err
	}
	return os.Remove(tmp)
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeDB removes a database file and what SQLite may have left beside it.
func removeDB(path string) {
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		os.Remove(p)
	}
}

// readKey reads a server key file (hex, as the data directory's
// server.key and `cpauth key export`), creating nothing.
func readKey(path string) (*secret.Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("server key: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return nil, fmt.Errorf("server key %s: %w", path, err)
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("server key %s: not 64 hexadecimal characters", path)
	}
	k, err := secret.KeyFromBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("server key %s: %w", path, err)
	}
	return k, nil
}

// stamp names a file set aside at t.
func stamp(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

// encodeKey is a key as its file holds it.
func encodeKey(k *secret.Key) []byte { return []byte(hex.EncodeToString(k.Bytes()) + "\n") }

// sameFile reports whether a and b name one existing file.
func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}
