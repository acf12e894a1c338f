package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/store/sqlstore/pgtest"
	"github.com/cpauth/cpauth/internal/store/storetest"
)

// openPostgres opens a store on dsn, closed in Cleanup.
func openPostgres(t *testing.T, dsn string, opts PoolOptions) *Store {
	t.Helper()
	s, err := OpenPostgres(t.Context(), dsn, opts)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// newPostgres is a store on a fresh, empty schema.
func newPostgres(t *testing.T) *Store {
	t.Helper()
	return openPostgres(t, pgtest.Schema(t), PoolOptions{})
}

func TestPostgres(t *testing.T) {
	pgtest.DSN(t)
	storetest.RunTests(t, func(t *testing.T) store.Store { return newPostgres(t) })
}

func TestPostgresGateway(t *testing.T) {
	pgtest.DSN(t)
	storetest.RunGatewayTests(t, func(t *testing.T) storetest.GatewayStore { return newPostgres(t) })
}

// TestMigrationVersionsAgree keeps the dialects in step: every migration
// exists in each, under the same number and name.
func TestMigrationVersionsAgree(t *testing.T) {
	names := func(dialect string) []string {
		var out []string
		for _, f := range migrationFiles(t, dialect) {
			out = append(out, path.Base(f))
		}
		return out
	}
	lite, pg := names(SQLite.Name), names(Postgres.Name)
	if !slices.Equal(lite, pg) {
		t.Errorf("migrations differ between the dialects:\nsqlite:   %q\npostgres: %q", lite, pg)
	}
	for _, d := range []*Dialect{SQLite, Postgres} {
		ms, err := loadMigrations(d)
		if err != nil || len(ms) != len(lite) {
			t.Errorf("loadMigrations(%s) = %d migrations, %v; want %d", d.Name, len(ms), err, len(lite))
		}
	}
}

// TestPostgresSchemaVersion opens both dialects and compares what they
// report.
func TestPostgresSchemaVersion(t *testing.T) {
	ctx := t.Context()
	pg := newPostgres(t)
	lite := openSQLite(t, filepath.Join(t.TempDir(), "cpauth.db"))
	vp, errp := pg.SchemaVersion(ctx)
	vl, errl := lite.SchemaVersion(ctx)
	if errp != nil || errl != nil || vp != vl || vp != len(migrationFiles(t, Postgres.Name)) {
		t.Errorf("SchemaVersion: postgres %d, %v; sqlite %d, %v; want both %d",
			vp, errp, vl, errl, len(migrationFiles(t, Postgres.Name)))
	}
}

// TestPostgresConcurrentMigrations starts several nodes on one empty schema
// at once: every one must come up, and each migration must run once.
func TestPostgresConcurrentMigrations(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.Schema(t)
	files := migrationFiles(t, Postgres.Name)

	const nodes = 8
	stores := make([]*Store, nodes)
	errs := make([]error, nodes)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range nodes {
		done.Go(func() {
			start.Wait()
			stores[i], errs[i] = OpenPostgres(ctx, dsn, PoolOptions{})
		})
	}
	start.Done()
	done.Wait()
	for i, s := range stores {
		if s != nil {
			t.Cleanup(func() { s.Close() })
		}
		if errs[i] != nil {
			t.Errorf("node %d: OpenPostgres: %v", i, errs[i])
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	for i, s := range stores {
		if v, err := s.SchemaVersion(ctx); err != nil || v != len(files) {
			t.Errorf("node %d: SchemaVersion = %d, %v; want %d", i, v, err, len(files))
		}
	}
	s := stores[0]
	var rows, versions int
	err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations`).Scan(&rows, &versions)
	if err != nil || rows != len(files) || versions != len(files) {
		t.Errorf("schema_migrations has %d rows (%d versions), %v; want %d", rows, versions, err, len(files))
	}
	// The schema works, from every node.
	if err := stores[1].CreateAccount(ctx, store.Account{Username: "root"}); err != nil {
		t.Fatal(err)
	}
	if _, err := stores[nodes-1].GetAccount(ctx, "root"); err != nil {
		t.Errorf("GetAccount on another node: %v", err)
	}

	// A later start applies nothing; a schema from a newer program is
	// refused.
	again := openPostgres(t, dsn, PoolOptions{})
	if err := again.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&rows); err != nil || rows != len(files) {
		t.Errorf("schema_migrations has %d rows after reopening, %v", rows, err)
	}
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied) VALUES ($1, 'future.sql', 0)`, len(files)+1); err != nil {
		t.Fatal(err)
	}
	if s2, err := OpenPostgres(ctx, dsn, PoolOptions{}); err == nil {
		s2.Close()
		t.Error("OpenPostgres accepted a database with a newer schema")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Errorf("OpenPostgres of a newer schema: %v", err)
	}
}

func TestPostgresForeignKeyCascade(t *testing.T) {
	checkCascade(t, newPostgres(t))
}

// TestPostgresStatementTimeout checks that every pooled connection gets the
// timeout, and that one given in the DSN is kept.
func TestPostgresStatementTimeout(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.Schema(t)
	show := func(s *Store, conns int) []string {
		t.Helper()
		var out []string
		var held []interface{ Close() error }
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for range conns {
			c, err := s.DB().Conn(ctx) // held, so each is a distinct connection
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
			var v string
			if err := c.QueryRowContext(ctx, `SHOW statement_timeout`).Scan(&v); err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		return out
	}
	for _, c := range []struct {
		name string
		dsn  string
		opts PoolOptions
		want string
	}{
		{"default", dsn, PoolOptions{}, "5s"},
		{"option", dsn, PoolOptions{StatementTimeout: 1500 * time.Millisecond}, "1500ms"},
		{"none", dsn, PoolOptions{StatementTimeout: -1}, "0"},
		{"dsn parameter", pgtest.WithParam(t, dsn, "statement_timeout", "7000"), PoolOptions{StatementTimeout: time.Second}, "7s"},
		{"dsn options", pgtest.WithParam(t, dsn, "options", "-c statement_timeout=8s"), PoolOptions{}, "8s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := openPostgres(t, c.dsn, c.opts)
			for i, got := range show(s, 3) {
				if got != c.want {
					t.Errorf("connection %d: statement_timeout = %s, want %s", i, got, c.want)
				}
			}
		})
	}

	s := openPostgres(t, dsn, PoolOptions{StatementTimeout: 100 * time.Millisecond})
	_, err := s.DB().ExecContext(ctx, `SELECT pg_sleep(2)`)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
		t.Errorf("a statement running past the timeout: error %v, want query_canceled", err)
	}
}

// TestPostgresPoolOptions checks the defaults reach database/sql.
func TestPostgresPoolOptions(t *testing.T) {
	s := openPostgres(t, pgtest.Schema(t), PoolOptions{MaxOpenConns: 3})
	if got := s.DB().Stats().MaxOpenConnections; got != 3 {
		t.Errorf("MaxOpenConnections = %d, want 3", got)
	}
	s = openPostgres(t, pgtest.Schema(t), PoolOptions{})
	if got := s.DB().Stats().MaxOpenConnections; got != DefaultMaxOpenConns {
		t.Errorf("MaxOpenConnections = %d, want the default %d", got, DefaultMaxOpenConns)
	}
}

// TestPostgresDSNNotInErrors needs no server: it opens DSNs that cannot work
// and looks for their password in the errors.
func TestPostgresDSNNotInErrors(t *testing.T) {
	const pw = "Sup3rS3cretPw"
	ctx := t.Context()
	for _, dsn := range []string{
		// Nothing listens on port 1.
		"postgres://cpauth:" + pw + "@127.0.0.1:1/cpauth?sslmode=disable",
		"host=127.0.0.1 port=1 user=cpauth password=" + pw + " dbname=cpauth sslmode=disable",
		// Does not parse.
		"postgres://cpauth:" + pw + "@127.0.0.1:notaport/cpauth",
		"postgres://cpauth:" + pw + "@[::1/cpauth",
		"host=127.0.0.1 port=1 user=cpauth password='" + pw,
		"host=127.0.0.1 connect_timeout=x password=" + pw,
	} {
		s, err := OpenPostgres(ctx, dsn, PoolOptions{ConnectTimeout: 2 * time.Second})
		if err == nil {
			s.Close()
			t.Errorf("OpenPostgres of a DSN that cannot work succeeded")
			continue
		}
		if strings.Contains(err.Error(), pw) || strings.Contains(fmt.Sprintf("%+v", err), pw) {
			t.Errorf("the error shows the password: %v", err)
		}
		if !strings.HasPrefix(err.Error(), "sqlstore: open postgres") {
			t.Errorf("error %q does not say what failed", err)
		}
	}
}

func TestPostgresDialect(t *testing.T) {
	pgErr := func(code string) error {
		return fmt.Errorf("sqlstore: account %q: %w", "bob", &pgconn.PgError{Code: code})
	}
	d := Postgres
	for _, c := range []struct {
		err                  error
		unique, fk, retrying bool
	}{
		{pgErr("23505"), true, false, false},
		{pgErr("23503"), false, true, false},
		{pgErr("40001"), false, false, true},
		{pgErr("40P01"), false, false, true},
		{pgErr("57P01"), false, false, false}, // admin_shutdown: the connection is gone
		{pgErr("23502"), false, false, false},
		{errors.New("23505"), false, false, false},
		{nil, false, false, false},
	} {
		if got := d.IsUniqueViolation(c.err); got != c.unique {
			t.Errorf("IsUniqueViolation(%v) = %v", c.err, got)
		}
		if got := d.IsForeignKeyViolation(c.err); got != c.fk {
			t.Errorf("IsForeignKeyViolation(%v) = %v", c.err, got)
		}
		if got := d.IsRetryable(c.err); got != c.retrying {
			t.Errorf("IsRetryable(%v) = %v", c.err, got)
		}
	}
	if got := d.Rebind(`SELECT a FROM t WHERE b = ? AND c = ?` + d.ForUpdate); got != `SELECT a FROM t WHERE b = $1 AND c = $2 FOR UPDATE` {
		t.Errorf("Rebind = %q", got)
	}
	if !strings.Contains(d.MigrationLock, strconv.FormatInt(pgMigrationLockKey, 10)) {
		t.Errorf("MigrationLock %q does not take the fixed key", d.MigrationLock)
	}
}

func TestPoolOptionsDefaults(t *testing.T) {
	got := PoolOptions{}.withDefaults()
	want := PoolOptions{
		MaxOpenConns:     DefaultMaxOpenConns,
		MaxIdleConns:     DefaultMaxIdleConns,
		ConnMaxLifetime:  DefaultConnMaxLifetime,
		ConnMaxIdleTime:  DefaultConnMaxIdleTime,
		StatementTimeout: DefaultStatementTimeout,
		ConnectTimeout:   DefaultConnectTimeout,
	}
	if got != want {
		t.Errorf("defaults = %+v, want %+v", got, want)
	}
	if got := (PoolOptions{MaxOpenConns: -1, StatementTimeout: -1}).withDefaults(); got.MaxOpenConns != 0 || got.StatementTimeout != 0 {
		t.Errorf("negative options = %+v, want 0 (no limit)", got)
	}
	for _, c := range []struct {
		dsn  string
		opts PoolOptions
		want string // "" for not set
	}{
		{"postgres://u@h/db", PoolOptions{StatementTimeout: 5 * time.Second}, "5000"},
		{"postgres://u@h/db", PoolOptions{StatementTimeout: time.Microsecond}, "1"},
		{"postgres://u@h/db", PoolOptions{}, ""},
		{"postgres://u@h/db?statement_timeout=2s", PoolOptions{StatementTimeout: time.Second}, "2s"},
		{"host=h statement_timeout=3000", PoolOptions{StatementTimeout: time.Second}, "3000"},
		{"host=h options='-c statement_timeout=9s'", PoolOptions{StatementTimeout: time.Second}, ""},
		{"host=h options='--statement-timeout=9s'", PoolOptions{StatementTimeout: time.Second}, ""},
	} {
		cfg, err := postgresConfig(c.dsn, c.opts)
		if err != nil {
			t.Errorf("postgresConfig(%q): %v", c.dsn, err)
			continue
		}
		if got := cfg.RuntimeParams["statement_timeout"]; got != c.want {
			t.Errorf("postgresConfig(%q, %v): statement_timeout %q, want %q", c.dsn, c.opts.StatementTimeout, got, c.want)
		}
		if got := cfg.RuntimeParams["application_name"]; got != "cpauth" {
			t.Errorf("postgresConfig(%q): application_name %q, want cpauth", c.dsn, got)
		}
	}
	cfg, err := postgresConfig("postgres://u@h/db?application_name=node2&connect_timeout=9", PoolOptions{ConnectTimeout: time.Second})
	if err != nil || cfg.RuntimeParams["application_name"] != "node2" || cfg.ConnectTimeout != 9*time.Second {
		t.Errorf("postgresConfig overrode the DSN: %v, %v", cfg.RuntimeParams, err)
	}
}

// TestRetry checks which PostgreSQL errors run a transaction again.
func TestRetry(t *testing.T) {
	s := &Store{d: Postgres}
	for _, c := range []struct {
		code string
		runs int
	}{
		{"40001", 2}, {"40P01", 2}, {"23505", 1}, {"57P01", 1},
	} {
		runs := 0
		err := s.retry(t.Context(), func() error {
			runs++
			if runs == 1 {
				return fmt.Errorf("sqlstore: x: %w", &pgconn.PgError{Code: c.code})
			}
			return nil
		})
		if runs != c.runs || (c.runs == 2) != (err == nil) {
			t.Errorf("SQLSTATE %s: ran %d times, error %v; want %d runs", c.code, runs, err, c.runs)
		}
	}
	runs := 0
	err := s.retry(t.Context(), func() error {
		runs++
		return &pgconn.PgError{Code: "40001"}
	})
	if runs != maxAttempts || err == nil {
		t.Errorf("always failing: ran %d times, error %v; want %d runs and the error", runs, err, maxAttempts)
	}
}

// terminate ends every backend whose application_name is app, from a
// connection of its own, and reports how many it ended. It is narrower than
// ending every backend of the database, which would hit other packages'
// tests running at the same time on the same database.
func terminate(t *testing.T, app string) int {
	t.Helper()
	var n int
	err := pgtest.Admin(t).QueryRowContext(t.Context(), `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = $1`, app).Scan(&n)
	if err != nil {
		t.Fatalf("terminate backends: %v", err)
	}
	return n
}

// TestPostgresConnectionLoss kills the store's connections between calls:
// the calls after must fail or succeed with the right data, never succeed
// with wrong data, and the store must recover by itself.
func TestPostgresConnectionLoss(t *testing.T) {
	ctx := t.Context()
	app := pgtest.RandomName("cpauth_test_")
	s := openPostgres(t, pgtest.WithParam(t, pgtest.Schema(t), "application_name", app), PoolOptions{})
	want := store.Account{Username: "alice", Domain: "alice.example.com", Owner: "root", PasswordHash: "h", Plan: "0"}
	if err := s.CreateAccount(ctx, want); err != nil {
		t.Fatal(err)
	}
	// Several pooled connections, so that more than one dies.
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { s.ListAccounts(ctx) })
	}
	wg.Wait()

	increments := 0
	for round := range 3 {
		if n := terminate(t, app); n == 0 {
			t.Fatalf("round %d: no backend of the store to terminate", round)
		}
		failures, recovered := 0, false
		for i := 0; i < 30 && !recovered; i++ {
			got, err := s.GetAccount(ctx, "alice")
			if err != nil {
				failures++
				continue
			}
			if got.Username != want.Username || got.Domain != want.Domain || got.PasswordHash != want.PasswordHash {
				t.Fatalf("round %d: GetAccount after connection loss = %+v", round, got)
			}
			if got.Plan != strconv.Itoa(increments) {
				t.Fatalf("round %d: plan %s, want %d", round, got.Plan, increments)
			}
			_, err = s.UpdateAccount(ctx, "alice", func(a store.Account) (store.Account, error) {
				n, _ := strconv.Atoi(a.Plan)
				a.Plan = strconv.Itoa(n + 1)
				return a, nil
			})
			if err != nil {
				// The connection died between the calls, so nothing was
				// committed: the next read must show the old count.
				failures++
				continue
			}
			increments++
			recovered = true
		}
		if !recovered {
			t.Fatalf("round %d: the store did not recover after %d failed calls", round, failures)
		}
		t.Logf("round %d: %d calls failed before recovery", round, failures)
	}
	if got, err := s.GetAccount(ctx, "alice"); err != nil || got.Plan != strconv.Itoa(increments) {
		t.Errorf("after the rounds: plan %q, %v; want %d", got.Plan, err, increments)
	}
}

// TestPostgresConnectionLossUnderLoad kills connections while updaters run.
// A COMMIT cut off may or may not have committed, so a failed increment may
// have counted; a successful one must have.
func TestPostgresConnectionLossUnderLoad(t *testing.T) {
	ctx := t.Context()
	app := pgtest.RandomName("cpauth_test_")
	s := openPostgres(t, pgtest.WithParam(t, pgtest.Schema(t), "application_name", app), PoolOptions{})
	if err := s.CreateAccount(ctx, store.Account{Username: "counter", Plan: "0"}); err != nil {
		t.Fatal(err)
	}
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := s.UpdateAccount(ctx, "counter", func(a store.Account) (store.Account, error) {
					n, err := strconv.Atoi(a.Plan)
					if err != nil {
						return a, err
					}
					a.Plan = strconv.Itoa(n + 1)
					return a, nil
				})
				if err != nil {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			}
		})
	}
	for range 5 {
		time.Sleep(60 * time.Millisecond)
		terminate(t, app)
	}
	time.Sleep(60 * time.Millisecond)
	close(stop)
	wg.Wait()

	var got store.Account
	var err error
	for range 30 { // the first calls may meet dead connections
		if got, err = s.GetAccount(ctx, "counter"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("the store did not recover: %v", err)
	}
	n, _ := strconv.Atoi(got.Plan)
	if int64(n) < ok.Load() || int64(n) > ok.Load()+failed.Load() {
		t.Errorf("counter = %d after %d successful and %d failed increments", n, ok.Load(), failed.Load())
	}
	if failed.Load() == 0 {
		t.Log("no update failed: every termination fell between calls")
	}
	t.Logf("%d increments succeeded, %d failed, counter %d", ok.Load(), failed.Load(), n)
}

// TestPostgresOpenCanceled checks OpenPostgres gives up with its context.
func TestPostgresOpenCanceled(t *testing.T) {
	dsn := pgtest.Schema(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if s, err := OpenPostgres(ctx, dsn, PoolOptions{}); err == nil {
		s.Close()
		t.Error("OpenPostgres with a canceled context succeeded")
	}
}

// TestPostgresMigrationWaitsForLock holds the migration lock as another node
// migrating would: OpenPostgres must wait for it, past its own short
// statement timeout, and then come up.
func TestPostgresMigrationWaitsForLock(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.Schema(t)
	tx, err := pgtest.Admin(t).BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, Postgres.MigrationLock); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		s, err := OpenPostgres(ctx, dsn, PoolOptions{StatementTimeout: 50 * time.Millisecond})
		if err == nil {
			s.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("OpenPostgres finished while another held the migration lock: %v", err)
	case <-time.After(400 * time.Millisecond):
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("OpenPostgres after the lock was released: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OpenPostgres did not finish after the lock was released")
	}
}
