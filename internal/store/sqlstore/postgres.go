package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// PoolOptions tunes the connections OpenPostgres keeps. A zero field takes
// its default; a negative one means "no limit" (or, for StatementTimeout,
// no timeout set by cpauth).
type PoolOptions struct {
	// MaxOpenConns bounds the connections of one node (default 20); the
	// server's max_connections must cover every node's.
	MaxOpenConns int
	// MaxIdleConns is how many connections stay open when idle (default 10).
	MaxIdleConns int
	// ConnMaxLifetime retires connections (default 30m), so that a pool
	// follows a fail-over or a DNS change.
	ConnMaxLifetime time.Duration
	// ConnMaxIdleTime closes connections idle for that long (default 5m).
	ConnMaxIdleTime time.Duration
	// StatementTimeout is each connection's statement_timeout (default 5s):
	// a query stuck on a lock fails instead of holding a request for ever.
	// A statement_timeout already in the DSN (as a parameter, or as
	// "-c statement_timeout=..." in options) wins over it.
	StatementTimeout time.Duration
	// ConnectTimeout bounds establishing a connection and the ping on open
	// (default 5s); connect_timeout in the DSN wins over it.
	ConnectTimeout time.Duration
}

// Defaults of PoolOptions.
const (
	DefaultMaxOpenConns     = 20
	DefaultMaxIdleConns     = 10
	DefaultConnMaxLifetime  = 30 * time.Minute
	DefaultConnMaxIdleTime  = 5 * time.Minute
	DefaultStatementTimeout = 5 * time.Second
	DefaultConnectTimeout   = 5 * time.Second
)

func (o PoolOptions) withDefaults() PoolOptions {
	def := func(v, d int) int {
		switch {
		case v == 0:
			return d
		case v < 0:
			return 0 // database/sql: unlimited (MaxIdleConns: none kept)
		}
		return v
	}
	defDur := func(v, d time.Duration) time.Duration {
		switch {
		case v == 0:
			return d
		case v < 0:
			return 0
		}
		return v
	}
	o.MaxOpenConns = def(o.MaxOpenConns, DefaultMaxOpenConns)
	o.MaxIdleConns = def(o.MaxIdleConns, DefaultMaxIdleConns)
	o.ConnMaxLifetime = defDur(o.ConnMaxLifetime, DefaultConnMaxLifetime)
	o.ConnMaxIdleTime = defDur(o.ConnMaxIdleTime, DefaultConnMaxIdleTime)
	o.StatementTimeout = defDur(o.StatementTimeout, DefaultStatementTimeout)
	o.ConnectTimeout = defDur(o.ConnectTimeout, DefaultConnectTimeout)
	return o
}

// errBadDSN is all that is said about a DSN that does not parse: the parser's
// own message quotes the DSN, and its password redaction is best effort.
var errBadDSN = errors.New("sqlstore: open postgres: the DSN cannot be parsed (not shown: it may hold a password)")

// OpenPostgres connects to the PostgreSQL database dsn names (a URL or
// key=value string as libpq takes it, or empty for the PG* environment
// variables) and brings its schema up to date. Several nodes may call it at
// once: migrations run one at a time under an advisory lock.
//
// Errors never contain the DSN; they may name the user, database and host.
func OpenPostgres(ctx context.Context, dsn string, opts PoolOptions) (*Store, error) {
	opts = opts.withDefaults()
	cfg, err := postgresConfig(dsn, opts)
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(opts.MaxOpenConns)
	db.SetMaxIdleConns(opts.MaxIdleConns)
	db.SetConnMaxLifetime(opts.ConnMaxLifetime)
	db.SetConnMaxIdleTime(opts.ConnMaxIdleTime)

	pingCtx := ctx
	if opts.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		pingCtx, cancel = context.WithTimeout(ctx, opts.ConnectTimeout)
		defer cancel()
	}
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: open postgres: %w", err)
	}
	st, err := start(ctx, Postgres, db)
	if err != nil {
		return nil, err
	}
	st.listen = cfg.Copy()
	return st, nil
}

// postgresConfig parses dsn and adds what opts asks for without overriding
// what the DSN says.
func postgresConfig(dsn string, opts PoolOptions) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, errBadDSN
	}
	if cfg.ConnectTimeout == 0 && opts.ConnectTimeout > 0 {
		cfg.ConnectTimeout = opts.ConnectTimeout
	}
	if cfg.RuntimeParams["application_name"] == "" {
		// So that an operator can tell cpauth's sessions in pg_stat_activity.
		cfg.RuntimeParams["application_name"] = "cpauth"
	}
	if opts.StatementTimeout > 0 && !setsStatementTimeout(cfg.RuntimeParams) {
		ms := max(opts.StatementTimeout.Milliseconds(), 1) // 0 would mean none
		cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(ms, 10)
	}
	return cfg, nil
}

// setsStatementTimeout reports whether the DSN's run-time parameters set
// statement_timeout, directly or through options (-c statement_timeout=...
// or --statement-timeout=...). The server applies a startup parameter after
// options, so adding ours would silently override the latter.
func setsStatementTimeout(params map[string]string) bool {
	if _, ok := params["statement_timeout"]; ok {
		return true
	}
	o := strings.ReplaceAll(strings.ToLower(params["options"]), "-", "_")
	return strings.Contains(o, "statement_timeout")
}
