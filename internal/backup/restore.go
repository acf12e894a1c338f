package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/cpauth/cpauth/internal/datadir"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/store/sqlstore"
)

// KeyMismatchError is Restore's refusal of a backup sealed under another
// server key than the one the directory would have.
type KeyMismatchError struct {
	// KeyPath is the key compared: the --key file, or the directory's.
	KeyPath string
	// Given is whether it was given (--key).
	Given bool
}

func (e *KeyMismatchError) Error() string {
	if e.Given {
		return fmt.Sprintf("the backup's secrets were sealed with another server key than %s: give the key file it was made with (--key)", e.KeyPath)
	}
	return fmt.Sprintf("the backup's secrets were sealed with another server key than the data directory's %s "+
		"(its access hashes, API tokens, sessions and two-factor secrets would not work): give the key file it was made with (--key)", e.KeyPath)
}

// Restored is what Restore did.
type Restored struct {
	// DB is the installed database; Aside the one it replaced, kept
	// ("" when there was none).
	DB, Aside string
	// Key is the key file installed ("" without one); KeyAside the key
	// it replaced ("" when there was none or it was the same).
	Key, KeyAside string
	Info          sqlstore.Info
	// Warnings are for the operator (standard error).
	Warnings []string
}

// Restore installs the backup src as o's SQLite store, in a directory no
// daemon serves (it holds the serve lock meanwhile, so none can start),
// and with keyFile the server key beside it. It checks src first (a sound
// cpauth store, a schema this program knows, sealed under the key the
// directory will have) and changes nothing when a check fails. The store
// it replaces is kept as cpauth.db.before-restore-<time>, the key as
// <key>.before-restore-<time>.
func Restore(ctx context.Context, o Options, src, keyFile string, now time.Time) (Restored, error) {
	var r Restored
	if pg, err := o.postgres(); err != nil {
		return r, err
	} else if pg {
		return r, &PostgresError{Dir: o.Dir, KeyPath: o.KeyPath, Restore: true}
	}
	fi, err := os.Stat(src)
	if err != nil {
		return r, fmt.Errorf("backup: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return r, fmt.Errorf("backup %s is not a regular file", src)
	}
	var newKey *secret.Key
	if keyFile != "" {
		if newKey, err = readKey(keyFile); err != nil {
			return r, err
		}
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return r, err
	}
	lock, err := datadir.Acquire(o.Dir)
	if err != nil {
		var le *datadir.LockedError
		if errors.As(err, &le) {
			return r, fmt.Errorf("%w: stop it before restoring", err)
		}
		return r, err
	}
	defer lock.Release()

	db := filepath.Join(o.Dir, datadir.DBFile)
	tmp, err := copyIn(src, db)
	if err != nil {
		return r, err
	}
	defer removeDB(tmp) // a no-op once it is renamed into place
	if r.Info, err = sqlstore.InspectSQLite(ctx, tmp); err != nil {
		return r, err
	}
	// Inspect leaves no -wal or -shm behind it that holds anything: it
	// only read. They must not follow the file into place.
	for _, p := range []string{tmp + "-wal", tmp + "-shm"} {
		os.Remove(p)
	}

	// The key the directory will have, against the key the backup was
	// sealed with.
	key, keyPath, given := newKey, keyFile, true
	if key == nil {
		given, keyPath = false, o.KeyPath
		key, err = readKey(o.KeyPath)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return r, err
		}
	}
	switch {
	case r.Info.KeyCheck == "":
		r.Warnings = append(r.Warnings, "the backup carries no key check (made before cpauth kept one): "+
			"make sure the server key is the one it was made with, or its access hashes, API tokens, sessions and two-factor secrets will not work")
	case key == nil:
		return r, fmt.Errorf("the data directory has no server key (%s) and the backup's secrets need the one they were sealed with: give it (--key)", o.KeyPath)
	case key.Check() != r.Info.KeyCheck:
		return r, &KeyMismatchError{KeyPath: keyPath, Given: given}
	}

	// The new key is written beside its place before anything changes,
	// so that a key directory that cannot be written refuses the restore
	// rather than leave a restored store with the old key.
	var keyTmp string
	if newKey != nil {
		old, err := readKey(o.KeyPath)
		if err == nil && string(old.Bytes()) == string(newKey.Bytes()) {
			r.Key = o.KeyPath // already the directory's key
		} else {
			if keyTmp, err = tempBeside(o.KeyPath); err != nil {
				return r, fmt.Errorf("preparing the key: %w", err)
			}
			defer os.Remove(keyTmp) // a no-op once it is renamed into place
			if err := os.WriteFile(keyTmp, encodeKey(newKey), 0o600); err != nil {
				return r, fmt.Errorf("preparing the key: %w", err)
			}
			if err := syncFile(keyTmp); err != nil {
				return r, fmt.Errorf("preparing the key: %w", err)
			}
		}
	}

	// Every check passed: from here on the directory changes.
	ts := stamp(now)
	if _, err := os.Lstat(db); err == nil {
		// Whatever its -wal holds goes into the file first, so that the
		// file set aside is whole by itself.
		if err := sqlstore.CheckpointSQLite(ctx, db); err != nil {
			r.Warnings = append(r.Warnings, fmt.Sprintf("could not checkpoint the replaced database (%v): its -wal file is kept beside it", err))
		}
		r.Aside = db + ".before-restore-" + ts
		if err := os.Rename(db, r.Aside); err != nil {
			return r, err
		}
		if _, err := os.Lstat(db + "-wal"); err == nil {
			if err := os.Rename(db+"-wal", r.Aside+"-wal"); err != nil {
				os.Rename(r.Aside, db)
				return r, err
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return r, err
	}
	// A stale -wal or -shm would be read as the new file's.
	for _, p := range []string{db + "-wal", db + "-shm", db + "-journal"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return r, fmt.Errorf("removing the stale %s: %w", p, err)
		}
	}
	if err := os.Rename(tmp, db); err != nil {
		if r.Aside != "" {
			os.Rename(r.Aside, db)
			os.Rename(r.Aside+"-wal", db+"-wal")
		}
		return r, err
	}
	r.DB = db
	if keyTmp != "" {
		if _, err := os.Lstat(o.KeyPath); err == nil {
			r.KeyAside = o.KeyPath + ".before-restore-" + ts
			if err := os.Rename(o.KeyPath, r.KeyAside); err != nil {
				return r, fmt.Errorf("the database is restored, but setting the old key aside failed: %w", err)
			}
		}
		if err := os.Rename(keyTmp, o.KeyPath); err != nil {
			return r, fmt.Errorf("the database is restored, but installing the key failed: %w", err)
		}
		r.Key = o.KeyPath
		if err := datadir.SyncDir(filepath.Dir(o.KeyPath)); err != nil {
			return r, err
		}
	}
	// The directory is SQLite's now (a PostgreSQL mark was refused above).
	if _, err := datadir.ReadMark(o.Dir); errors.Is(err, datadir.ErrNoMark) {
		if err := datadir.WriteMark(o.Dir, datadir.Mark{Store: datadir.SQLite, SetBy: "restore", SetAt: now}); err != nil {
			r.Warnings = append(r.Warnings, fmt.Sprintf("could not write the store mark: %v", err))
		}
	}
	return r, datadir.SyncDir(o.Dir)
}

// copyIn copies src into a new 0600 file beside db, synced.
func copyIn(src, db string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	defer in.Close()
	tmp, err := tempBeside(db + ".restoring")
	if err != nil {
		return "", err
	}
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_TRUNC, 0)
	if err == nil {
		_, err = io.Copy(out, in)
		if err == nil {
			err = out.Sync()
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("copying the backup in: %w", err)
	}
	return tmp, nil
}
