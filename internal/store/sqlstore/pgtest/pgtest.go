// Package pgtest gives tests a PostgreSQL database of their own: a fresh
// schema in the database CPAUTH_TEST_POSTGRES_DSN names, dropped afterwards.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

// EnvDSN is the variable that switches the PostgreSQL tests on.
const EnvDSN = "CPAUTH_TEST_POSTGRES_DSN"

// DSN returns the DSN of the test database. When the variable is not set it
// skips the test, except under CI (CI=true), where the tests must not skip
// and it fails instead.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(EnvDSN + " is not set, and under CI the PostgreSQL store tests must not skip")
		}
		t.Skip(EnvDSN + " is not set: PostgreSQL store tests need a server")
	}
	return dsn
}

// Admin opens a connection pool on the test database itself (the public
// schema), for setting up and inspecting; it is closed in Cleanup.
func Admin(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", DSN(t))
	if err != nil {
		t.Fatalf("pgtest: open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// RandomName is a fresh lowercase identifier starting with prefix.
func RandomName(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Schema creates an empty schema and returns a DSN whose connections use it
// (search_path), so that every test gets an empty database without creating
// databases. The schema is dropped in Cleanup: register the Close of
// anything using it after calling Schema, so that it runs first.
func Schema(t testing.TB) string {
	t.Helper()
	dsn := DSN(t)
	admin := Admin(t)
	name := RandomName("t_")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+name); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+name+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", name, err)
		}
	})
	return WithParam(t, dsn, "search_path", name)
}

// WithParam returns dsn (a URL or a key=value string) with the parameter
// key set to value, replacing an earlier one.
func WithParam(t testing.TB, dsn, key, value string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("pgtest: %s is not a valid URL", EnvDSN) // not err: it quotes the DSN
		}
		q := u.Query()
		q.Set(key, value)
		// pgx decodes the query without turning '+' into a space.
		u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
		return u.String()
	}
	// In key=value form a later setting wins.
	v := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(value)
	return dsn + " " + key + "='" + v + "'"
}
