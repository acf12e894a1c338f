package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/cpauth/cpauth/internal/store"
)

// Two-factor configurations live in twofactor and issuers in
// twofactor_issuers (migrations/<dialect>/0004_twofactor.sql). Every write
// announces store.ChangeTwoFactor with the login name. Text that a backend
// cannot keep exactly (NUL bytes, invalid UTF-8) is refused with
// ErrInvalid before any SQL runs, and a lookup by such a key finds nothing.

const twoFactorCols = `username, account, sealed, last_step, recovery, failures, failures_since, created`

func twoFactorWhat(username string) string {
	return fmt.Sprintf("two-factor configuration of %q", username)
}

func scanTwoFactor(sc scanner) (store.TwoFactor, error) {
	var (
		tf                     store.TwoFactor
		recovery               string
		failuresSince, created int64
	)
	if err := sc.Scan(&tf.Username, &tf.Account, &tf.Sealed, &tf.LastStep, &recovery, &tf.Failures, &failuresSince, &created); err != nil {
		return store.TwoFactor{}, err
	}
	if err := json.Unmarshal([]byte(recovery), &tf.RecoveryMACs); err != nil {
		return store.TwoFactor{}, fmt.Errorf("recovery codes column: %w", err)
	}
	if len(tf.RecoveryMACs) == 0 {
		tf.RecoveryMACs = nil
	}
	if len(tf.Sealed) == 0 {
		tf.Sealed = nil
	}
	if failuresSince != 0 {
		tf.FailuresSince = fromDBTime(failuresSince)
	}
	tf.Created = fromDBTime(created)
	return tf, nil
}

// twoFactorRow is the columns of a record, checked.
type twoFactorRow struct {
	recovery      string
	failuresSince int64
	sealed        []byte
}

func twoFactorRowOf(tf store.TwoFactor) (twoFactorRow, error) {
	what := twoFactorWhat(tf.Username)
	if !validKey(tf.Username) || !validKey(tf.Account) {
		return twoFactorRow{}, invalid(what, "username and account must be valid UTF-8 without NUL bytes, 1 to %d bytes", store.MaxSessionKeyLen)
	}
	if tf.Failures < 0 {
		return twoFactorRow{}, invalid(what, "negative failure count")
	}
	for _, m := range tf.RecoveryMACs {
		if !validText(m) {
			return twoFactorRow{}, invalid(what, "recovery code hash is not valid text")
		}
	}
	macs := tf.RecoveryMACs
	if macs == nil {
		macs = []string{}
	}
	b, err := json.Marshal(macs)
	if err != nil {
		return twoFactorRow{}, err
	}
	r := twoFactorRow{recovery: string(b), sealed: tf.Sealed}
	if r.sealed == nil {
		r.sealed = []byte{} // the column is NOT NULL
	}
	if !tf.FailuresSince.IsZero() {
		r.failuresSince = toDBTime(tf.FailuresSince)
	}
	return r, nil
}

// readBack is a record as the store keeps it.
func twoFactorReadBack(tf store.TwoFactor) store.TwoFactor {
	tf.RecoveryMACs = slices.Clone(tf.RecoveryMACs)
	if len(tf.RecoveryMACs) == 0 {
		tf.RecoveryMACs = nil
	}
	tf.Sealed = slices.Clone(tf.Sealed)
	if len(tf.Sealed) == 0 {
		tf.Sealed = nil
	}
	if !tf.FailuresSince.IsZero() {
		tf.FailuresSince = roundTime(tf.FailuresSince)
	}
	tf.Created = roundTime(tf.Created)
	return tf
}

// SetTwoFactor implements store.Store.
func (s *Store) SetTwoFactor(ctx context.Context, tf store.TwoFactor) error {
	r, err := twoFactorRowOf(tf)
	if err != nil {
		return err
	}
	_, err = s.execChange(ctx, store.Change{Kind: store.ChangeTwoFactor, Key: tf.Username}, s.q(`INSERT INTO twofactor (`+twoFactorCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (username) DO UPDATE SET account = excluded.account, sealed = excluded.sealed, last_step = excluded.last_step,
			recovery = excluded.recovery, failures = excluded.failures, failures_since = excluded.failures_since, created = excluded.created`),
		tf.Username, tf.Account, r.sealed, tf.LastStep, r.recovery, tf.Failures, r.failuresSince, toDBTime(tf.Created))
	return s.dbErr(err, twoFactorWhat(tf.Username))
}

// GetTwoFactor implements store.Store.
func (s *Store) GetTwoFactor(ctx context.Context, username string) (store.TwoFactor, error) {
	if !validKey(username) {
		return store.TwoFactor{}, notFound(twoFactorWhat(username))
	}
	tf, err := scanTwoFactor(s.db.QueryRowContext(ctx, s.q(`SELECT `+twoFactorCols+` FROM twofactor WHERE username = ?`), username))
	if errors.Is(err, sql.ErrNoRows) {
		return store.TwoFactor{}, notFound(twoFactorWhat(username))
	}
	if err != nil {
		return store.TwoFactor{}, s.dbErr(err, twoFactorWhat(username))
	}
	return tf, nil
}

// ListTwoFactor implements store.Store.
func (s *Store) ListTwoFactor(ctx context.Context, account string) ([]store.TwoFactor, error) {
	query, args := `SELECT `+twoFactorCols+` FROM twofactor ORDER BY username`, []any(nil)
	if account != "" {
		if !validKey(account) {
			return nil, nil
		}
		query, args = `SELECT `+twoFactorCols+` FROM twofactor WHERE account = ? ORDER BY username`, []any{account}
	}
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, s.dbErr(err, "list two-factor configurations")
	}
	defer rows.Close()
	var out []store.TwoFactor
	for rows.Next() {
		tf, err := scanTwoFactor(rows)
		if err != nil {
			return nil, s.dbErr(err, "list two-factor configurations")
		}
		out = append(out, tf)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbErr(err, "list two-factor configurations")
	}
	// Byte-wise, whatever the database's collation.
	slices.SortFunc(out, func(a, b store.TwoFactor) int {
		switch {
		case a.Username < b.Username:
			return -1
		case a.Username > b.Username:
			return 1
		}
		return 0
	})
	return out, nil
}

// UpdateTwoFactor implements store.Store: the row is read FOR UPDATE
// (PostgreSQL) or inside SQLite's IMMEDIATE transaction, so concurrent
// updaters of one user run one after the other, each seeing what the one
// before wrote.
func (s *Store) UpdateTwoFactor(ctx context.Context, username string, fn func(store.TwoFactor) (store.TwoFactor, error)) (store.TwoFactor, error) {
	what := twoFactorWhat(username)
	if !validKey(username) {
		return store.TwoFactor{}, notFound(what)
	}
	var out store.TwoFactor
	err := s.withChange(ctx, store.Change{Kind: store.ChangeTwoFactor, Key: username}, func(tx *sql.Tx) error {
		old, err := scanTwoFactor(tx.QueryRowContext(ctx, s.q(`SELECT `+twoFactorCols+` FROM twofactor WHERE username = ?`+s.d.ForUpdate), username))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(what)
		}
		if err != nil {
			return s.dbErr(err, what)
		}
		tf, err := fn(old)
		if err != nil {
			return err
		}
		if tf.Username != old.Username || tf.Account != old.Account {
			return fmt.Errorf("sqlstore: %s: the updater may not change the username or account", what)
		}
		r, err := twoFactorRowOf(tf)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE twofactor SET sealed = ?, last_step = ?, recovery = ?, failures = ?, failures_since = ?, created = ?
			WHERE username = ?`), r.sealed, tf.LastStep, r.recovery, tf.Failures, r.failuresSince, toDBTime(tf.Created), username)
		if err != nil {
			return s.dbErr(err, what)
		}
		out = twoFactorReadBack(tf)
		return nil
	})
	if err != nil {
		return store.TwoFactor{}, err
	}
	return out, nil
}

// DeleteTwoFactor implements store.Store.
func (s *Store) DeleteTwoFactor(ctx context.Context, username string) error {
	if !validKey(username) {
		return notFound(twoFactorWhat(username))
	}
	res, err := s.execChange(ctx, store.Change{Kind: store.ChangeTwoFactor, Key: username}, s.q(`DELETE FROM twofactor WHERE username = ?`), username)
	if err != nil {
		return s.dbErr(err, twoFactorWhat(username))
	}
	return affected(res, twoFactorWhat(username))
}

func issuerWhat(username string) string { return fmt.Sprintf("two-factor issuer of %q", username) }

// GetTwoFactorIssuer implements store.Store.
func (s *Store) GetTwoFactorIssuer(ctx context.Context, username string) (string, error) {
	if !validKey(username) {
		return "", notFound(issuerWhat(username))
	}
	var v string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT issuer FROM twofactor_issuers WHERE username = ?`), username).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound(issuerWhat(username))
	}
	if err != nil {
		return "", s.dbErr(err, issuerWhat(username))
	}
	return v, nil
}

// SetTwoFactorIssuer implements store.Store.
func (s *Store) SetTwoFactorIssuer(ctx context.Context, username, issuer string) error {
	what := issuerWhat(username)
	if !validKey(username) || !validText(issuer) {
		return invalid(what, "not valid UTF-8 without NUL bytes")
	}
	ch := store.Change{Kind: store.ChangeTwoFactor, Key: username}
	if issuer == "" {
		_, err := s.execChange(ctx, ch, s.q(`DELETE FROM twofactor_issuers WHERE username = ?`), username)
		return s.dbErr(err, what)
	}
	_, err := s.execChange(ctx, ch, s.q(`INSERT INTO twofactor_issuers (username, issuer) VALUES (?, ?)
		ON CONFLICT (username) DO UPDATE SET issuer = excluded.issuer`), username, issuer)
	return s.dbErr(err, what)
}
