// Package sqlstore implements store.Store on database/sql, with one Dialect
// per database and embedded, numbered migrations.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cpauth/cpauth/internal/store"
)

// Conventions of the schema, the same in every dialect:
//   - times are BIGINT unix microseconds in UTC, the precision PostgreSQL
//     timestamps have; the zero time.Time is stored as its own (negative)
//     value and reads back as the zero time;
//   - Account.ACLs is a JSON array in a TEXT column, NULL when nil, so that
//     nil and empty stay apart;
//   - lists are sorted in Go, byte-wise, since database collations differ.

// Store is a store.Store on a SQL database.
type Store struct {
	db *sql.DB
	d  *Dialect
	// listen is how the change feed connects (PostgreSQL only).
	listen *pgx.ConnConfig
	// counter is the SQLite change counter shared by every process that
	// opens the database (nil elsewhere, or where it cannot be mapped).
	counter *changeCounter
}

var _ store.Store = (*Store)(nil)

// OpenSQLite opens (creating if need be) the SQLite database at path and
// brings its schema up to date.
func OpenSQLite(ctx context.Context, path string) (*Store, error) {
	// The database file is made here, 0600, before SQLite opens it: SQLite
	// would make it 0644 (less the umask), and makes the -wal and -shm
	// files with the database file's mode. An existing file keeps its own.
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		f.Close()
	case !errors.Is(err, fs.ErrExist):
		return nil, fmt.Errorf("sqlstore: creating %s: %w", path, err)
	}
	s, err := open(ctx, SQLite, sqliteDSN(path))
	if err != nil {
		return nil, err
	}
	// Without the counter the store works as before; only the daemon's
	// cache, which needs it, stays off.
	s.counter, _ = openChangeCounter(path + "-changes")
	return s, nil
}

func open(ctx context.Context, d *Dialect, dsn string) (*Store, error) {
	db, err := sql.Open(d.Driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open %s: %w", d.Name, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: open %s: %w", d.Name, err)
	}
	return start(ctx, d, db)
}

// start migrates the freshly opened db and wraps it; it closes db if that
// fails.
func start(ctx context.Context, d *Dialect, db *sql.DB) (*Store, error) {
	s := &Store{db: db, d: d}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// DB returns the underlying database, for tests and maintenance.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error {
	if s.counter != nil {
		s.counter.close()
	}
	return s.db.Close()
}

// changed tells the other processes on the same SQLite database that a
// change committed (PostgreSQL announces changes inside the transaction).
func (s *Store) changed() {
	if s.counter != nil {
		s.counter.bump()
	}
}

// q rebinds a query written with "?" placeholders for the dialect.
func (s *Store) q(query string) string { return s.d.Rebind(query) }

// maxAttempts bounds how often a transaction runs when the database reports
// transient contention. SQLite's busy_timeout already waits for locks, and
// PostgreSQL's row locks queue updaters, so retries are rare: a PostgreSQL
// deadlock victim or serialisation failure.
const maxAttempts = 5

// withTx runs fn in a transaction and commits it, running it again on
// transient failures; fn may therefore run more than once.
func (s *Store) withTx(ctx context.Context, fn func(*sql.Tx) error) error {
	return s.retry(ctx, func() error { return s.tryTx(ctx, fn) })
}

// retry runs try until it succeeds, fails for good or has run maxAttempts
// times. A lost connection is not retried here: a failed COMMIT may have
// committed, and running an updater twice would be wrong; database/sql
// itself replaces connections it knows to be dead.
func (s *Store) retry(ctx context.Context, try func() error) error {
	for attempt := 1; ; attempt++ {
		err := try()
		if err == nil || attempt == maxAttempts || !s.d.IsRetryable(err) {
			return err
		}
		t := time.NewTimer(time.Duration(attempt*attempt) * 5 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}

// exec runs one statement outside a transaction, running it again on
// transient failures (a deadlock victim's statement was rolled back whole,
// so it is safe to repeat).
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := s.retry(ctx, func() error {
		var err error
		res, err = s.db.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

// withChange is withTx for a write: on a dialect with a change feed, the
// change is announced inside the same transaction, so other nodes hear of it
// exactly when it commits.
func (s *Store) withChange(ctx context.Context, ch store.Change, fn func(*sql.Tx) error) error {
	if s.d.Notify == "" {
		return s.withTx(ctx, fn)
	}
	return s.withTx(ctx, func(tx *sql.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return s.announce(ctx, tx, ch)
	})
}

// announce announces ch inside tx on a dialect with a change feed, for the
// writes that learn the key of the change (a token's MAC) only from the row
// they change.
func (s *Store) announce(ctx context.Context, tx *sql.Tx, ch store.Change) error {
	if s.d.Notify == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, s.d.Notify, encodeChange(ch))
	return err
}

// execChange is exec for a write, announced as withChange does.
func (s *Store) execChange(ctx context.Context, ch store.Change, query string, args ...any) (sql.Result, error) {
	if s.d.Notify == "" {
		res, err := s.exec(ctx, query, args...)
		if err == nil {
			s.changed()
		}
		return res, err
	}
	var res sql.Result
	err := s.withChange(ctx, ch, func(tx *sql.Tx) error {
		var err error
		res, err = tx.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

func (s *Store) tryTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.changed() // every transaction here writes
	return nil
}

// dbErr wraps a database error, translating constraint violations into the
// store's sentinels. what names the record, e.g. `account "bob"`.
func (s *Store) dbErr(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case s.d.IsUniqueViolation(err):
		return fmt.Errorf("sqlstore: %s: %w", what, store.ErrExists)
	case s.d.IsForeignKeyViolation(err):
		return fmt.Errorf("sqlstore: %s: %w", what, store.ErrNotFound)
	}
	return fmt.Errorf("sqlstore: %s: %w", what, err)
}

func notFound(what string) error { return fmt.Errorf("sqlstore: %s: %w", what, store.ErrNotFound) }

func affected(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlstore: %s: %w", what, err)
	}
	if n == 0 {
		return notFound(what)
	}
	return nil
}

func toDBTime(t time.Time) int64   { return t.UnixMicro() }
func fromDBTime(v int64) time.Time { return time.UnixMicro(v).UTC() }

// roundTime is what a time reads back as.
func roundTime(t time.Time) time.Time { return fromDBTime(toDBTime(t)) }

func encodeACLs(acls []string) (sql.NullString, error) {
	if acls == nil {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(acls)
	if err != nil {
		return sql.NullString{}, err
	}
	return sql.NullString{String: string(b), Valid: true}, nil
}

func decodeACLs(v sql.NullString) ([]string, error) {
	if !v.Valid {
		return nil, nil
	}
	acls := []string{}
	if err := json.Unmarshal([]byte(v.String), &acls); err != nil {
		return nil, fmt.Errorf("acls: %w", err)
	}
	return acls, nil
}

type scanner interface{ Scan(dest ...any) error }

// Accounts.

const accountCols = `username, domain, owner, password_hash, suspended, suspend_reason, reseller, acls, contact_email, plan, created, password_changed`

func scanAccount(sc scanner) (store.Account, error) {
	var (
		a        store.Account
		acls     sql.NullString
		created  int64
		pwChange int64
	)
	err := sc.Scan(&a.Username, &a.Domain, &a.Owner, &a.PasswordHash, &a.Suspended, &a.SuspendReason,
		&a.Reseller, &acls, &a.ContactEmail, &a.Plan, &created, &pwChange)
	if err != nil {
		return store.Account{}, err
	}
	if a.ACLs, err = decodeACLs(acls); err != nil {
		return store.Account{}, err
	}
	a.Created = fromDBTime(created)
	a.PasswordChanged = fromDBTime(pwChange)
	return a, nil
}

// normAccount is a as it reads back from the database.
func normAccount(a store.Account) store.Account {
	a.ACLs = slices.Clone(a.ACLs) // keeps nil nil and empty empty
	a.Created = roundTime(a.Created)
	a.PasswordChanged = roundTime(a.PasswordChanged)
	return a
}

func accountWhat(username string) string { return fmt.Sprintf("account %q", username) }
func domainWhat(name string) string      { return fmt.Sprintf("domain %q", name) }

// CreateAccount implements store.Store.
func (s *Store) CreateAccount(ctx context.Context, a store.Account) error {
	acls, err := encodeACLs(a.ACLs)
	if err != nil {
		return fmt.Errorf("sqlstore: %s: %w", accountWhat(a.Username), err)
	}
	return s.withChange(ctx, store.Change{Kind: store.ChangeAccount, Key: a.Username}, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO accounts (`+accountCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			a.Username, a.Domain, a.Owner, a.PasswordHash, a.Suspended, a.SuspendReason,
			a.Reseller, acls, a.ContactEmail, a.Plan, toDBTime(a.Created), toDBTime(a.PasswordChanged))
		if err != nil {
			return s.dbErr(err, accountWhat(a.Username))
		}
		if a.Domain == "" {
			return nil
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO domains (name, account, is_primary) VALUES (?, ?, ?)`),
			a.Domain, a.Username, true)
		return s.dbErr(err, domainWhat(a.Domain))
	})
}

// GetAccount implements store.Store.
func (s *Store) GetAccount(ctx context.Context, username string) (store.Account, error) {
	a, err := scanAccount(s.db.QueryRowContext(ctx, s.q(`SELECT `+accountCols+` FROM accounts WHERE username = ?`), username))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Account{}, notFound(accountWhat(username))
	}
	if err != nil {
		return store.Account{}, s.dbErr(err, accountWhat(username))
	}
	return a, nil
}

// ListAccounts implements store.Store; the accounts are sorted by username.
func (s *Store) ListAccounts(ctx context.Context) ([]store.Account, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+accountCols+` FROM accounts`)
	if err != nil {
		return nil, s.dbErr(err, "list accounts")
	}
	defer rows.Close()
	var out []store.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, s.dbErr(err, "list accounts")
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbErr(err, "list accounts")
	}
	slices.SortFunc(out, func(a, b store.Account) int { return strings.Compare(a.Username, b.Username) })
	return out, nil
}

// UpdateAccount implements store.Store. The updater may not change the
// username. A changed Domain renames the account's primary domain record,
// and the mailboxes on it follow; ErrExists if the new domain is taken.
func (s *Store) UpdateAccount(ctx context.Context, username string, fn func(store.Account) (store.Account, error)) (store.Account, error) {
	var out store.Account
	err := s.withChange(ctx, store.Change{Kind: store.ChangeAccount, Key: username}, func(tx *sql.Tx) error {
		old, err := scanAccount(tx.QueryRowContext(ctx, s.q(`SELECT `+accountCols+` FROM accounts WHERE username = ?`+s.d.ForUpdate), username))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(accountWhat(username))
		}
		if err != nil {
			return s.dbErr(err, accountWhat(username))
		}
		a, err := fn(old)
		if err != nil {
			return err
		}
		if a.Username != old.Username {
			return fmt.Errorf("sqlstore: %s: the updater may not change the username (to %q)", accountWhat(username), a.Username)
		}
		acls, err := encodeACLs(a.ACLs)
		if err != nil {
			return fmt.Errorf("sqlstore: %s: %w", accountWhat(username), err)
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE accounts SET domain = ?, owner = ?, password_hash = ?, suspended = ?,
			suspend_reason = ?, reseller = ?, acls = ?, contact_email = ?, plan = ?, created = ?, password_changed = ?
			WHERE username = ?`),
			a.Domain, a.Owner, a.PasswordHash, a.Suspended, a.SuspendReason, a.Reseller, acls,
			a.ContactEmail, a.Plan, toDBTime(a.Created), toDBTime(a.PasswordChanged), username)
		if err != nil {
			return s.dbErr(err, accountWhat(username))
		}
		if a.Domain != old.Domain {
			if err := s.movePrimaryDomain(ctx, tx, username, old.Domain, a.Domain); err != nil {
				return err
			}
		}
		out = normAccount(a)
		return nil
	})
	if err != nil {
		return store.Account{}, err
	}
	return out, nil
}

// movePrimaryDomain follows a change of an account's primary domain. The
// domain row is renamed rather than replaced so that the mailboxes on it
// follow through ON UPDATE CASCADE.
func (s *Store) movePrimaryDomain(ctx context.Context, tx *sql.Tx, username, from, to string) error {
	if to == "" {
		// Dropping the record would silently drop every mailbox on it.
		return fmt.Errorf("sqlstore: %s: the primary domain %q cannot be removed", accountWhat(username), from)
	}
	if from != "" {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE domains SET name = ? WHERE name = ? AND account = ?`), to, from, username)
		if err != nil {
			return s.dbErr(err, domainWhat(to))
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return s.dbErr(err, domainWhat(to))
		}
	}
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO domains (name, account, is_primary) VALUES (?, ?, ?)`), to, username, true)
	return s.dbErr(err, domainWhat(to))
}

// DeleteAccount implements store.Store. Domains, mailboxes, the access hash,
// API tokens and sessions go with the account through ON DELETE CASCADE;
// only the account's change is announced, and a cache forgets the account's
// tokens and sessions on it.
func (s *Store) DeleteAccount(ctx context.Context, username string) error {
	res, err := s.execChange(ctx, store.Change{Kind: store.ChangeAccount, Key: username}, s.q(`DELETE FROM accounts WHERE username = ?`), username)
	if err != nil {
		return s.dbErr(err, accountWhat(username))
	}
	return affected(res, accountWhat(username))
}

// Domains.

// GetDomain implements store.Store.
func (s *Store) GetDomain(ctx context.Context, name string) (store.Domain, error) {
	var d store.Domain
	err := s.db.QueryRowContext(ctx, s.q(`SELECT name, account, is_primary FROM domains WHERE name = ?`), name).
		Scan(&d.Name, &d.Account, &d.Primary)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Domain{}, notFound(domainWhat(name))
	}
	if err != nil {
		return store.Domain{}, s.dbErr(err, domainWhat(name))
	}
	return d, nil
}

// ListDomains implements store.Store; the domains are sorted by name, and
// an unknown account has none.
func (s *Store) ListDomains(ctx context.Context, account string) ([]store.Domain, error) {
	what := "domains of " + accountWhat(account)
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT name, account, is_primary FROM domains WHERE account = ?`), account)
	if err != nil {
		return nil, s.dbErr(err, what)
	}
	defer rows.Close()
	var out []store.Domain
	for rows.Next() {
		var d store.Domain
		if err := rows.Scan(&d.Name, &d.Account, &d.Primary); err != nil {
			return nil, s.dbErr(err, what)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbErr(err, what)
	}
	slices.SortFunc(out, func(a, b store.Domain) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Mailboxes.

const mailboxCols = `account, local, domain, password_hash, quota_mb, suspended, created`

func scanMailbox(sc scanner) (store.Mailbox, error) {
	var (
		m       store.Mailbox
		created int64
	)
	if err := sc.Scan(&m.Account, &m.Local, &m.Domain, &m.PasswordHash, &m.QuotaMB, &m.Suspended, &created); err != nil {
		return store.Mailbox{}, err
	}
	m.Created = fromDBTime(created)
	return m, nil
}

func mailboxWhat(local, domain string) string { return fmt.Sprintf("mailbox %q", local+"@"+domain) }

// CreateMailbox implements store.Store.
func (s *Store) CreateMailbox(ctx context.Context, m store.Mailbox) error {
	what := mailboxWhat(m.Local, m.Domain)
	return s.withChange(ctx, store.Change{Kind: store.ChangeMailbox, Key: m.Local + "@" + m.Domain}, func(tx *sql.Tx) error {
		var owner string
		err := tx.QueryRowContext(ctx, s.q(`SELECT account FROM domains WHERE name = ?`), m.Domain).Scan(&owner)
		if errors.Is(err, sql.ErrNoRows) || err == nil && owner != m.Account {
			return fmt.Errorf("sqlstore: %s: %s is not a domain of %s: %w", what, domainWhat(m.Domain), accountWhat(m.Account), store.ErrNotFound)
		}
		if err != nil {
			return s.dbErr(err, what)
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO mailboxes (`+mailboxCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			m.Account, m.Local, m.Domain, m.PasswordHash, m.QuotaMB, m.Suspended, toDBTime(m.Created))
		return s.dbErr(err, what)
	})
}

// GetMailbox implements store.Store.
func (s *Store) GetMailbox(ctx context.Context, local, domain string) (store.Mailbox, error) {
	m, err := scanMailbox(s.db.QueryRowContext(ctx, s.q(`SELECT `+mailboxCols+` FROM mailboxes WHERE local = ? AND domain = ?`), local, domain))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Mailbox{}, notFound(mailboxWhat(local, domain))
	}
	if err != nil {
		return store.Mailbox{}, s.dbErr(err, mailboxWhat(local, domain))
	}
	return m, nil
}

// ListMailboxes implements store.Store; the mailboxes are sorted by
// address, and an unknown account has none.
func (s *Store) ListMailboxes(ctx context.Context, account string) ([]store.Mailbox, error) {
	what := "mailboxes of " + accountWhat(account)
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+mailboxCols+` FROM mailboxes WHERE account = ?`), account)
	if err != nil {
		return nil, s.dbErr(err, what)
	}
	defer rows.Close()
	var out []store.Mailbox
	for rows.Next() {
		m, err := scanMailbox(rows)
		if err != nil {
			return nil, s.dbErr(err, what)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbErr(err, what)
	}
	slices.SortFunc(out, func(a, b store.Mailbox) int { return strings.Compare(a.Address(), b.Address()) })
	return out, nil
}

// UpdateMailbox implements store.Store. The updater may not change Local,
// Domain or Account.
func (s *Store) UpdateMailbox(ctx context.Context, local, domain string, fn func(store.Mailbox) (store.Mailbox, error)) (store.Mailbox, error) {
	what := mailboxWhat(local, domain)
	var out store.Mailbox
	err := s.withChange(ctx, store.Change{Kind: store.ChangeMailbox, Key: local + "@" + domain}, func(tx *sql.Tx) error {
		old, err := scanMailbox(tx.QueryRowContext(ctx, s.q(`SELECT `+mailboxCols+` FROM mailboxes WHERE local = ? AND domain = ?`+s.d.ForUpdate), local, domain))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(what)
		}
		if err != nil {
			return s.dbErr(err, what)
		}
		m, err := fn(old)
		if err != nil {
			return err
		}
		if m.Local != old.Local || m.Domain != old.Domain || m.Account != old.Account {
			return fmt.Errorf("sqlstore: %s: the updater may not change the address or account (to %q of %q)", what, m.Address(), m.Account)
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE mailboxes SET password_hash = ?, quota_mb = ?, suspended = ?, created = ?
			WHERE local = ? AND domain = ?`),
			m.PasswordHash, m.QuotaMB, m.Suspended, toDBTime(m.Created), local, domain)
		if err != nil {
			return s.dbErr(err, what)
		}
		m.Created = roundTime(m.Created)
		out = m
		return nil
	})
	if err != nil {
		return store.Mailbox{}, err
	}
	return out, nil
}

// DeleteMailbox implements store.Store.
// The mailbox's two-factor configuration and passkeys go with it, in the
// same transaction.
func (s *Store) DeleteMailbox(ctx context.Context, local, domain string) error {
	what, address := mailboxWhat(local, domain), local+"@"+domain
	return s.withChange(ctx, store.Change{Kind: store.ChangeMailbox, Key: address}, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM mailboxes WHERE local = ? AND domain = ?`), local, domain)
		if err != nil {
			return s.dbErr(err, what)
		}
		if err := affected(res, what); err != nil {
			return err
		}
		if validKey(address) {
			res, err = tx.ExecContext(ctx, s.q(`DELETE FROM twofactor WHERE username = ?`), address)
			if err != nil {
				return s.dbErr(err, what)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				if err := s.announce(ctx, tx, store.Change{Kind: store.ChangeTwoFactor, Key: address}); err != nil {
					return err
				}
			}
			return s.deleteUserPasskeys(ctx, tx, address)
		}
		return nil
	})
}

// Access hashes.

func accessHashWhat(username string) string { return "access hash of " + accountWhat(username) }

// GetAccessHash implements store.Store.
func (s *Store) GetAccessHash(ctx context.Context, username string) (store.AccessHash, error) {
	var (
		h       store.AccessHash
		created int64
	)
	err := s.db.QueryRowContext(ctx, s.q(`SELECT username, mac, sealed, created FROM access_hashes WHERE username = ?`), username).
		Scan(&h.Username, &h.MAC, &h.Sealed, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return store.AccessHash{}, notFound(accessHashWhat(username))
	}
	if err != nil {
		return store.AccessHash{}, s.dbErr(err, accessHashWhat(username))
	}
	h.Created = fromDBTime(created)
	return h, nil
}

// SetAccessHash implements store.Store; ErrNotFound if the user does not
// exist.
func (s *Store) SetAccessHash(ctx context.Context, h store.AccessHash) error {
	sealed := h.Sealed
	if sealed == nil {
		sealed = []byte{} // the column is NOT NULL
	}
	_, err := s.execChange(ctx, store.Change{Kind: store.ChangeAccessHash, Key: h.Username}, s.q(`INSERT INTO access_hashes (username, mac, sealed, created) VALUES (?, ?, ?, ?)
		ON CONFLICT (username) DO UPDATE SET mac = excluded.mac, sealed = excluded.sealed, created = excluded.created`),
		h.Username, h.MAC, sealed, toDBTime(h.Created))
	return s.dbErr(err, accessHashWhat(h.Username))
}

// DeleteAccessHash implements store.Store; ErrNotFound if there is none.
func (s *Store) DeleteAccessHash(ctx context.Context, username string) error {
	res, err := s.execChange(ctx, store.Change{Kind: store.ChangeAccessHash, Key: username}, s.q(`DELETE FROM access_hashes WHERE username = ?`), username)
	if err != nil {
		return s.dbErr(err, accessHashWhat(username))
	}
	return affected(res, accessHashWhat(username))
}

// CountAccessHashes implements store.Store.
func (s *Store) CountAccessHashes(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM access_hashes`).Scan(&n); err != nil {
		return 0, s.dbErr(err, "count access hashes")
	}
	return n, nil
}

// Settings.

func settingWhat(key string) string { return fmt.Sprintf("setting %q", key) }

// GetSetting implements store.Store.
func (s *Store) GetSetting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT value FROM settings WHERE name = ?`), key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound(settingWhat(key))
	}
	if err != nil {
		return "", s.dbErr(err, settingWhat(key))
	}
	return v, nil
}

// SetSetting implements store.Store.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	_, err := s.execChange(ctx, store.Change{Kind: store.ChangeSetting, Key: key}, s.q(`INSERT INTO settings (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`), key, value)
	return s.dbErr(err, settingWhat(key))
}

// ListSettings implements store.Store.
func (s *Store) ListSettings(ctx context.Context) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, value FROM settings`)
	if err != nil {
		return nil, s.dbErr(err, "list settings")
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, s.dbErr(err, "list settings")
		}
		out[k] = v
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbErr(err, "list settings")
	}
	return out, nil
}

// Dialect is the store's database dialect (SQLite or Postgres).
func (s *Store) Dialect() *Dialect { return s.d }
