package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

// Each dialect has its own directory of migrations, named NNNN_what.sql and
// numbered from 1 without gaps. A migration is applied once, in its own
// transaction together with its row in schema_migrations; files are never
// edited once released, only added.
//
//go:embed migrations
var migrationFS embed.FS

type migration struct {
	version int
	name    string // the file name
	sql     string
}

// createMigrationsTable is the one piece of schema outside the migration
// files, written so that every dialect accepts it.
const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version BIGINT NOT NULL PRIMARY KEY,
	name    TEXT   NOT NULL,
	applied BIGINT NOT NULL
)`

// loadMigrations reads the dialect's migrations in order.
func loadMigrations(d *Dialect) ([]migration, error) {
	dir := path.Join("migrations", d.Name)
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrations for %s: %w", d.Name, err)
	}
	var ms []migration
	for _, e := range entries { // ReadDir sorts by name
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("sqlstore: migration %s/%s: name is not NNNN_what.sql", dir, name)
		}
		if v != len(ms)+1 {
			return nil, fmt.Errorf("sqlstore: migration %s/%s: expected number %d", dir, name, len(ms)+1)
		}
		b, err := fs.ReadFile(migrationFS, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("sqlstore: migration %s/%s: %w", dir, name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	return ms, nil
}

// migrate brings the schema up to date.
func (s *Store) migrate(ctx context.Context) error {
	// Under the migration lock too: PostgreSQL's CREATE TABLE IF NOT EXISTS
	// is not safe against a concurrent one (it can fail on pg_type's unique
	// index) when several nodes start at once.
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockMigrations(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, createMigrationsTable)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: create schema_migrations: %w", err)
	}
	ms, err := loadMigrations(s.d)
	if err != nil {
		return err
	}
	cur, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if cur > len(ms) {
		return fmt.Errorf("sqlstore: database schema version %d is newer than this program's %d", cur, len(ms))
	}
	for _, m := range ms[cur:] {
		err := s.withTx(ctx, func(tx *sql.Tx) error {
			if err := s.lockMigrations(ctx, tx); err != nil {
				return err
			}
			// Another process may have got here first.
			var n int
			err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), m.version).Scan(&n)
			if err != nil || n > 0 {
				return err
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)`),
				m.version, m.name, time.Now().UTC().UnixMicro())
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlstore: migration %s/%s: %w", s.d.Name, m.name, err)
		}
	}
	return nil
}

// lockMigrations starts a migration transaction: it keeps other migrators
// out until tx ends.
func (s *Store) lockMigrations(ctx context.Context, tx *sql.Tx) error {
	for _, stmt := range []string{s.d.MigrationSetup, s.d.MigrationLock} {
		if stmt == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

// SchemaVersion reports the number of the last migration applied, 0 for an
// empty database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: schema version: %w", err)
	}
	return v, nil
}
