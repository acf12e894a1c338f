package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
)

// BackupSQLite writes a consistent copy of the SQLite database at src into
// dst, an empty file the caller made (mode and all): VACUUM INTO reads the
// whole database in one read transaction, so the copy holds exactly what
// was committed when it began, while other connections (a serving daemon)
// go on writing. The source is neither created nor migrated.
func BackupSQLite(ctx context.Context, src, dst string) error {
	db, err := sql.Open(SQLite.Driver, sqliteDSNExisting(src))
	if err != nil {
		return fmt.Errorf("sqlstore: backup: %w", err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlstore: backup: opening %s: %w", src, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return fmt.Errorf("sqlstore: backup of %s: %w", src, err)
	}
	return nil
}

// sqliteDSNExisting is sqliteDSN for a database that must exist already
// (mode=rw: SQLite does not create it).
func sqliteDSNExisting(path string) string {
	return sqliteDSN(path) + "&mode=rw"
}

// Info is what InspectSQLite learnt of a database file.
type Info struct {
	// SchemaVersion is the file's last migration; Known this program's.
	SchemaVersion, Known int
	// KeyCheck is the key check of the key its secrets were sealed with
	// ("" when the file has none: made before the metadata table, or never
	// opened by a daemon or a command).
	KeyCheck string
	// Accounts is how many accounts it holds.
	Accounts int
}

// ErrNotStore is InspectSQLite's answer for a file that is not a cpauth
// SQLite store: not SQLite, damaged, another program's database, or one
// newer than this program.
var ErrNotStore = errors.New("not a cpauth SQLite store")

// InspectSQLite checks that the file at path is a sound cpauth SQLite
// store this program can open (PRAGMA integrity_check, the tables, a schema
// no newer than its migrations) and reports what it found. It changes
// nothing in the file but may leave -wal and -shm files beside it.
func InspectSQLite(ctx context.Context, path string) (Info, error) {
	var info Info
	ms, err := loadMigrations(SQLite)
	if err != nil {
		return info, err
	}
	info.Known = len(ms)
	db, err := sql.Open(SQLite.Driver, "file:"+strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)+
		"?mode=rw&_pragma=busy_timeout(5000)")
	if err != nil {
		return info, fmt.Errorf("sqlstore: %s: %w", path, err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check(20)`)
	if err != nil {
		return info, fmt.Errorf("%w: %s: %v", ErrNotStore, path, err)
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return info, fmt.Errorf("%w: %s: %v", ErrNotStore, path, err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return info, fmt.Errorf("%w: %s: %v", ErrNotStore, path, err)
	}
	if len(problems) > 0 {
		return info, fmt.Errorf("%w: %s fails the integrity check: %s", ErrNotStore, path, strings.Join(problems, "; "))
	}
	tables := map[string]bool{}
	rows, err = db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		return info, fmt.Errorf("%w: %s: %v", ErrNotStore, path, err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err == nil {
			tables[name] = true
		}
	}
	rows.Close()
	if !tables["schema_migrations"] || !tables["accounts"] {
		return info, fmt.Errorf("%w: %s has no cpauth tables (schema_migrations, accounts)", ErrNotStore, path)
	}
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&info.SchemaVersion); err != nil {
		return info, fmt.Errorf("%w: %s: schema version: %v", ErrNotStore, path, err)
	}
	if info.SchemaVersion > info.Known {
		return info, fmt.Errorf("%w: %s has schema version %d, newer than this program's %d: restore it with a newer cpauth",
			ErrNotStore, path, info.SchemaVersion, info.Known)
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts`).Scan(&info.Accounts); err != nil {
		return info, fmt.Errorf("%w: %s: accounts: %v", ErrNotStore, path, err)
	}
	if tables["metadata"] {
		err := db.QueryRowContext(ctx, `SELECT value FROM metadata WHERE name = ?`, MetaKeyCheck).Scan(&info.KeyCheck)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return info, fmt.Errorf("%w: %s: metadata: %v", ErrNotStore, path, err)
		}
	}
	return info, nil
}

// CheckpointSQLite folds the database's write-ahead log into the database
// file and leaves none behind, so that the file alone holds everything
// (used on a stopped data directory, before its file is moved aside).
func CheckpointSQLite(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	db, err := sql.Open(SQLite.Driver, sqliteDSNExisting(path))
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}
