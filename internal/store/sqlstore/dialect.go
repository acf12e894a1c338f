package sqlstore

import (
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Placeholder is how a driver spells bind parameters.
type Placeholder int

const (
	// Question is SQLite's (and MySQL's) "?".
	Question Placeholder = iota
	// Dollar is PostgreSQL's "$1", "$2", ...
	Dollar
)

// Dialect is everything that differs between the databases sqlstore speaks.
// Queries in sqlstore are written once, with "?" placeholders and SQL that
// both SQLite and PostgreSQL accept; what cannot be written that way lives
// here, and schema lives in migrations/<Name>/.
type Dialect struct {
	// Name names the dialect and its migrations directory.
	Name string
	// Driver is the database/sql driver name.
	Driver string
	// Placeholder is the bind parameter style Rebind produces.
	Placeholder Placeholder
	// ForUpdate is appended verbatim (leading space included, e.g.
	// " FOR UPDATE") to the SELECT of a read-modify-write so that concurrent
	// updaters of one row serialise. SQLite needs nothing: its transactions
	// begin IMMEDIATE and so already hold the write lock.
	ForUpdate string
	// MigrationSetup, when not empty, runs first in each migration
	// transaction, before MigrationLock. PostgreSQL lifts the per-connection
	// statement_timeout there: waiting for another node's migration, or
	// running a long one, must not fail on it. The caller's context still
	// bounds the wait.
	MigrationSetup string
	// MigrationLock, when not empty, runs in each migration transaction
	// (after MigrationSetup, before anything else) to keep concurrent
	// migrators apart: PostgreSQL takes an advisory lock that the commit
	// releases. SQLite's IMMEDIATE transactions already exclude.
	MigrationLock string
	// Notify, when not empty, announces a change (its one argument, see
	// encodeChange) to the other nodes; it runs inside the writing
	// transaction. Empty: the database has no change feed.
	Notify string
	// IsUniqueViolation reports a primary key or unique constraint failure.
	IsUniqueViolation func(error) bool
	// IsForeignKeyViolation reports that a referenced row does not exist.
	IsForeignKeyViolation func(error) bool
	// IsRetryable reports a transient failure after which the whole
	// transaction may simply run again (lock contention, serialisation).
	IsRetryable func(error) bool
}

// Rebind rewrites the "?" placeholders of query into the dialect's style.
// Question marks inside quoted strings or identifiers are left alone.
func (d *Dialect) Rebind(query string) string {
	if d.Placeholder == Question || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	var quote byte // the quote we are inside, or 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// SQLite is the dialect of modernc.org/sqlite.
var SQLite = &Dialect{
	Name:        "sqlite",
	Driver:      "sqlite",
	Placeholder: Question,
	IsUniqueViolation: func(err error) bool {
		c, ok := sqliteCode(err)
		return ok && (c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
	},
	IsForeignKeyViolation: func(err error) bool {
		c, ok := sqliteCode(err)
		return ok && c == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	},
	IsRetryable: func(err error) bool {
		c, ok := sqliteCode(err)
		// Extended result codes are on: the primary code is the low byte.
		return ok && (c&0xff == sqlite3.SQLITE_BUSY || c&0xff == sqlite3.SQLITE_LOCKED)
	},
}

func sqliteCode(err error) (int, bool) {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code(), true
	}
	return 0, false
}

// sqliteDSN is the data source name for the database file at path. The
// pragmas go in the DSN, not in an Exec after Open, because database/sql
// opens connections as it pleases and every one of them needs them:
// busy_timeout first so that the others wait for a lock instead of failing.
// _txlock=immediate makes every transaction take the write lock at BEGIN, so
// that read-modify-write transactions queue up rather than deadlock when
// both try to upgrade a read lock.
func sqliteDSN(path string) string {
	// In a "file:" URI, '%', '?' and '#' in the path must be escaped.
	path = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + path +
		"?_pragma=busy_timeout(5000)" +
		"&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(1)" +
		"&_txlock=immediate"
}

// pgMigrationLockKey is the PostgreSQL advisory lock key every cpauth node
// takes while migrating, so that nodes starting at once migrate one after
// the other. Advisory locks are per database; the value is arbitrary but
// must never change (it is "cpauth" in ASCII, padded: 0x6370617574680001).
const pgMigrationLockKey int64 = 0x6370617574680001

// SQLSTATE codes of PostgreSQL errors the store acts on.
const (
	pgUniqueViolation      = "23505"
	pgForeignKeyViolation  = "23503"
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
)

// Postgres is the dialect of PostgreSQL through github.com/jackc/pgx/v5's
// database/sql driver. Transactions run at the default READ COMMITTED
// level; read-modify-write locks its row with SELECT ... FOR UPDATE.
var Postgres = &Dialect{
	Name:           "postgres",
	Driver:         "pgx",
	Placeholder:    Dollar,
	ForUpdate:      " FOR UPDATE",
	MigrationSetup: "SET LOCAL statement_timeout = 0",
	MigrationLock:  "SELECT pg_advisory_xact_lock(" + strconv.FormatInt(pgMigrationLockKey, 10) + ")",
	Notify:         "SELECT pg_notify('" + changeChannel + "', $1)",
	IsUniqueViolation: func(err error) bool {
		return pgCode(err) == pgUniqueViolation
	},
	IsForeignKeyViolation: func(err error) bool {
		return pgCode(err) == pgForeignKeyViolation
	},
	IsRetryable: func(err error) bool {
		c := pgCode(err)
		return c == pgSerializationFailure || c == pgDeadlockDetected
	},
}

// pgCode is the SQLSTATE of a PostgreSQL error, "" for other errors.
func pgCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
