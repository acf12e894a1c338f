package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cpauth/cpauth/internal/store"
)

// Passkeys live in passkeys, user handles in passkey_users and ceremonies in
// progress in passkey_challenges (migrations/<dialect>/0009_passkeys.sql).
// Every write of a credential or a user handle announces store.ChangePasskey
// with the login name; challenges are not announced.

const passkeyCols = `id, username, account, name, public_key, attestation_type, sign_count, transports, aaguid, kind,
	backup_eligible, backup_state, user_verified, clone_warning, created, last_used, last_used_ip`

// passkeyWhat names a credential by a short prefix of its ID, which is not
// a secret.
func passkeyWhat(id []byte) string {
	h := hex.EncodeToString(id)
	if len(h) > 16 {
		h = h[:16] + "..."
	}
	return fmt.Sprintf("passkey %s", h)
}

func validPasskeyID(id []byte) bool { return len(id) > 0 && len(id) <= store.MaxPasskeyIDLen }

func scanPasskey(sc scanner) (store.Passkey, error) {
	var (
		p                 store.Passkey
		count             int64
		transports        string
		created, lastUsed int64
	)
	if err := sc.Scan(&p.ID, &p.Username, &p.Account, &p.Name, &p.PublicKey, &p.AttestationType, &count, &transports,
		&p.AAGUID, &p.Kind, &p.BackupEligible, &p.BackupState, &p.UserVerified, &p.CloneWarning, &created, &lastUsed, &p.LastUsedIP); err != nil {
		return store.Passkey{}, err
	}
	p.SignCount = uint32(count)
	if err := json.Unmarshal([]byte(transports), &p.Transports); err != nil {
		return store.Passkey{}, fmt.Errorf("transports column: %w", err)
	}
	return passkeyReadBack(p, created, lastUsed), nil
}

func passkeyReadBack(p store.Passkey, created, lastUsed int64) store.Passkey {
	p.ID = slices.Clone(p.ID)
	p.PublicKey = slices.Clone(p.PublicKey)
	p.Transports = slices.Clone(p.Transports)
	if len(p.Transports) == 0 {
		p.Transports = nil
	}
	p.AAGUID = slices.Clone(p.AAGUID)
	if len(p.AAGUID) == 0 {
		p.AAGUID = nil
	}
	p.Created = fromDBTime(created)
	p.LastUsed = time.Time{}
	if lastUsed != 0 {
		p.LastUsed = fromDBTime(lastUsed)
	}
	return p
}

// passkeyRow is the columns of a credential, checked.
type passkeyRow struct {
	transports        string
	aaguid            []byte
	created, lastUsed int64
}

func passkeyRowOf(p store.Passkey) (passkeyRow, error) {
	what := passkeyWhat(p.ID)
	if !validPasskeyID(p.ID) {
		return passkeyRow{}, invalid(what, "the credential ID must be 1 to %d bytes", store.MaxPasskeyIDLen)
	}
	if !validKey(p.Username) || !validKey(p.Account) {
		return passkeyRow{}, invalid(what, "username and account must be valid UTF-8 without NUL bytes, 1 to %d bytes", store.MaxSessionKeyLen)
	}
	if !validKey(p.Name) {
		return passkeyRow{}, invalid(what, "the name must be valid UTF-8 without NUL bytes, 1 to %d bytes", store.MaxSessionKeyLen)
	}
	if len(p.PublicKey) == 0 {
		return passkeyRow{}, invalid(what, "no public key")
	}
	if !validText(p.AttestationType) || !validText(p.Kind) || !validText(p.LastUsedIP) {
		return passkeyRow{}, invalid(what, "attestation type, kind or address is not valid text")
	}
	for _, tr := range p.Transports {
		if tr == "" || !validText(tr) {
			return passkeyRow{}, invalid(what, "a transport is empty or not valid text")
		}
	}
	if !validTime(p.Created) || !validTime(p.LastUsed) && !p.LastUsed.IsZero() {
		return passkeyRow{}, invalid(what, "a time lies outside the years 1 to 9999")
	}
	trs := p.Transports
	if trs == nil {
		trs = []string{}
	}
	b, err := json.Marshal(trs)
	if err != nil {
		return passkeyRow{}, err
	}
	r := passkeyRow{transports: string(b), aaguid: p.AAGUID, created: toDBTime(p.Created)}
	if r.aaguid == nil {
		r.aaguid = []byte{} // the column is NOT NULL
	}
	if !p.LastUsed.IsZero() {
		r.lastUsed = toDBTime(p.LastUsed)
	}
	return r, nil
}

func passkeyChange(username string) store.Change {
	return store.Change{Kind: store.ChangePasskey, Key: username}
}

// CreatePasskey implements store.Store.
func (s *Store) CreatePasskey(ctx context.Context, p store.Passkey) error {
	r, err := passkeyRowOf(p)
	if err != nil {
		return err
	}
	_, err = s.execChange(ctx, passkeyChange(p.Username), s.q(`INSERT INTO passkeys (`+passkeyCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		p.ID, p.Username, p.Account, p.Name, p.PublicKey, p.AttestationType, int64(p.SignCount), r.transports, r.aaguid, p.Kind,
		p.BackupEligible, p.BackupState, p.UserVerified, p.CloneWarning, r.created, r.lastUsed, p.LastUsedIP)
	return s.dbErr(err, passkeyWhat(p.ID))
}

// GetPasskey implements store.Store.
func (s *Store) GetPasskey(ctx context.Context, id []byte) (store.Passkey, error) {
	what := passkeyWhat(id)
	if !validPasskeyID(id) {
		return store.Passkey{}, notFound(what)
	}
	p, err := scanPasskey(s.db.QueryRowContext(ctx, s.q(`SELECT `+passkeyCols+` FROM passkeys WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Passkey{}, notFound(what)
	}
	if err != nil {
		return store.Passkey{}, s.dbErr(err, what)
	}
	return p, nil
}

// ListPasskeys implements store.Store.
func (s *Store) ListPasskeys(ctx context.Context, username string) ([]store.Passkey, error) {
	query, args := `SELECT `+passkeyCols+` FROM passkeys`, []any(nil)
	if username != "" {
		if !validKey(username) {
			return nil, nil
		}
		query, args = query+` WHERE username = ?`, []any{username}
	}
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, s.dbErr(err, "list passkeys")
	}
	defer rows.Close()
	var out []store.Passkey
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, s.dbErr(err, "list passkeys")
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbErr(err, "list passkeys")
	}
	// Byte-wise, whatever the database's collation.
	slices.SortFunc(out, func(a, b store.Passkey) int {
		if c := strings.Compare(a.Username, b.Username); c != 0 {
			return c
		}
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return bytes.Compare(a.ID, b.ID)
	})
	return out, nil
}

// UpdatePasskey implements store.Store: the row is read FOR UPDATE
// (PostgreSQL) or inside SQLite's IMMEDIATE transaction, so concurrent
// updaters of one credential run one after the other.
func (s *Store) UpdatePasskey(ctx context.Context, id []byte, fn func(store.Passkey) (store.Passkey, error)) (store.Passkey, error) {
	what := passkeyWhat(id)
	if !validPasskeyID(id) {
		return store.Passkey{}, notFound(what)
	}
	var out store.Passkey
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		old, err := scanPasskey(tx.QueryRowContext(ctx, s.q(`SELECT `+passkeyCols+` FROM passkeys WHERE id = ?`+s.d.ForUpdate), id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(what)
		}
		if err != nil {
			return s.dbErr(err, what)
		}
		p, err := fn(old)
		if err != nil {
			return err
		}
		if !bytes.Equal(p.ID, old.ID) || p.Username != old.Username || p.Account != old.Account || !bytes.Equal(p.PublicKey, old.PublicKey) {
			return fmt.Errorf("sqlstore: %s: the updater may not change the ID, username, account or public key", what)
		}
		r, err := passkeyRowOf(p)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE passkeys SET name = ?, attestation_type = ?, sign_count = ?, transports = ?, aaguid = ?, kind = ?,
			backup_eligible = ?, backup_state = ?, user_verified = ?, clone_warning = ?, created = ?, last_used = ?, last_used_ip = ?
			WHERE id = ?`),
			p.Name, p.AttestationType, int64(p.SignCount), r.transports, r.aaguid, p.Kind,
			p.BackupEligible, p.BackupState, p.UserVerified, p.CloneWarning, r.created, r.lastUsed, p.LastUsedIP, id)
		if err != nil {
			return s.dbErr(err, what)
		}
		out = passkeyReadBack(p, r.created, r.lastUsed)
		return s.announce(ctx, tx, passkeyChange(old.Username))
	})
	if err != nil {
		return store.Passkey{}, err
	}
	return out, nil
}

// DeletePasskey implements store.Store.
func (s *Store) DeletePasskey(ctx context.Context, id []byte) error {
	what := passkeyWhat(id)
	if !validPasskeyID(id) {
		return notFound(what)
	}
	return s.withTx(ctx, func(tx *sql.Tx) error {
		var username string
		err := tx.QueryRowContext(ctx, s.q(`DELETE FROM passkeys WHERE id = ? RETURNING username`), id).Scan(&username)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(what)
		}
		if err != nil {
			return s.dbErr(err, what)
		}
		return s.announce(ctx, tx, passkeyChange(username))
	})
}

// Passkey users.

const passkeyUserCols = `username, account, handle, passwordless, created`

func passkeyUserWhat(username string) string { return fmt.Sprintf("passkey user %q", username) }

func scanPasskeyUser(sc scanner) (store.PasskeyUser, error) {
	var (
		u       store.PasskeyUser
		created int64
	)
	if err := sc.Scan(&u.Username, &u.Account, &u.Handle, &u.Passwordless, &created); err != nil {
		return store.PasskeyUser{}, err
	}
	u.Created = fromDBTime(created)
	return u, nil
}

// CreatePasskeyUser implements store.Store.
func (s *Store) CreatePasskeyUser(ctx context.Context, u store.PasskeyUser) error {
	what := passkeyUserWhat(u.Username)
	if !validKey(u.Username) || !validKey(u.Account) {
		return invalid(what, "username and account must be valid UTF-8 without NUL bytes, 1 to %d bytes", store.MaxSessionKeyLen)
	}
	if len(u.Handle) == 0 || len(u.Handle) > 64 {
		return invalid(what, "the user handle must be 1 to 64 bytes")
	}
	if !validTime(u.Created) {
		return invalid(what, "the creation time lies outside the years 1 to 9999")
	}
	_, err := s.execChange(ctx, passkeyChange(u.Username), s.q(`INSERT INTO passkey_users (`+passkeyUserCols+`) VALUES (?, ?, ?, ?, ?)`),
		u.Username, u.Account, u.Handle, u.Passwordless, toDBTime(u.Created))
	return s.dbErr(err, what)
}

// GetPasskeyUser implements store.Store.
func (s *Store) GetPasskeyUser(ctx context.Context, username string) (store.PasskeyUser, error) {
	what := passkeyUserWhat(username)
	if !validKey(username) {
		return store.PasskeyUser{}, notFound(what)
	}
	u, err := scanPasskeyUser(s.db.QueryRowContext(ctx, s.q(`SELECT `+passkeyUserCols+` FROM passkey_users WHERE username = ?`), username))
	if errors.Is(err, sql.ErrNoRows) {
		return store.PasskeyUser{}, notFound(what)
	}
	if err != nil {
		return store.PasskeyUser{}, s.dbErr(err, what)
	}
	return u, nil
}

// GetPasskeyUserByHandle implements store.Store.
func (s *Store) GetPasskeyUserByHandle(ctx context.Context, handle []byte) (store.PasskeyUser, error) {
	const what = "passkey user handle"
	if len(handle) == 0 || len(handle) > 64 {
		return store.PasskeyUser{}, notFound(what)
	}
	u, err := scanPasskeyUser(s.db.QueryRowContext(ctx, s.q(`SELECT `+passkeyUserCols+` FROM passkey_users WHERE handle = ?`), handle))
	if errors.Is(err, sql.ErrNoRows) {
		return store.PasskeyUser{}, notFound(what)
	}
	if err != nil {
		return store.PasskeyUser{}, s.dbErr(err, what)
	}
	return u, nil
}

// ListPasskeyUsers implements store.Store.
func (s *Store) ListPasskeyUsers(ctx context.Context) ([]store.PasskeyUser, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+passkeyUserCols+` FROM passkey_users`)
	if err != nil {
		return nil, s.dbErr(err, "list passkey users")
	}
	defer rows.Close()
	var out []store.PasskeyUser
	for rows.Next() {
		u, err := scanPasskeyUser(rows)
		if err != nil {
			return nil, s.dbErr(err, "list passkey users")
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbErr(err, "list passkey users")
	}
	slices.SortFunc(out, func(a, b store.PasskeyUser) int { return strings.Compare(a.Username, b.Username) })
	return out, nil
}

// UpdatePasskeyUser implements store.Store.
func (s *Store) UpdatePasskeyUser(ctx context.Context, username string, fn func(store.PasskeyUser) (store.PasskeyUser, error)) (store.PasskeyUser, error) {
	what := passkeyUserWhat(username)
	if !validKey(username) {
		return store.PasskeyUser{}, notFound(what)
	}
	var out store.PasskeyUser
	err := s.withChange(ctx, passkeyChange(username), func(tx *sql.Tx) error {
		old, err := scanPasskeyUser(tx.QueryRowContext(ctx, s.q(`SELECT `+passkeyUserCols+` FROM passkey_users WHERE username = ?`+s.d.ForUpdate), username))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(what)
		}
		if err != nil {
			return s.dbErr(err, what)
		}
		u, err := fn(old)
		if err != nil {
			return err
		}
		if u.Username != old.Username || u.Account != old.Account || !bytes.Equal(u.Handle, old.Handle) || !u.Created.Equal(old.Created) {
			return fmt.Errorf("sqlstore: %s: the updater may change only Passwordless", what)
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE passkey_users SET passwordless = ? WHERE username = ?`), u.Passwordless, username); err != nil {
			return s.dbErr(err, what)
		}
		out = old
		out.Passwordless = u.Passwordless
		return nil
	})
	if err != nil {
		return store.PasskeyUser{}, err
	}
	return out, nil
}

// Challenges.

const passkeyChallengeCols = `binding, purpose, username, session, created, expires`

const passkeyChallengeWhat = "passkey challenge" // never names the key

func validPasskeyPurpose(p string) bool {
	switch p {
	case store.PasskeyRegister, store.PasskeySecondFactor, store.PasskeyPasswordless, store.PasskeyConfirm:
		return true
	}
	return false
}

// PutPasskeyChallenge implements store.Store.
func (s *Store) PutPasskeyChallenge(ctx context.Context, c store.PasskeyChallenge) error {
	if !validKey(c.Key) {
		return invalid(passkeyChallengeWhat, "the key must be valid UTF-8 without NUL bytes, 1 to %d bytes", store.MaxSessionKeyLen)
	}
	if !validPasskeyPurpose(c.Purpose) {
		return invalid(passkeyChallengeWhat, "unknown purpose")
	}
	if !validText(c.Username) || len(c.Username) > store.MaxSessionKeyLen {
		return invalid(passkeyChallengeWhat, "the username is not valid text")
	}
	if len(c.Session) == 0 {
		return invalid(passkeyChallengeWhat, "no ceremony state")
	}
	if !validTime(c.Created) || !validTime(c.Expires) {
		return invalid(passkeyChallengeWhat, "a time lies outside the years 1 to 9999")
	}
	_, err := s.exec(ctx, s.q(`INSERT INTO passkey_challenges (`+passkeyChallengeCols+`) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (binding) DO UPDATE SET purpose = excluded.purpose, username = excluded.username, session = excluded.session,
			created = excluded.created, expires = excluded.expires`),
		c.Key, c.Purpose, c.Username, c.Session, toDBTime(c.Created), toDBTime(c.Expires))
	return s.dbErr(err, passkeyChallengeWhat)
}

// TakePasskeyChallenge implements store.Store: DELETE ... RETURNING takes
// the row in one statement, so that of two concurrent takers (on one node
// or two) exactly one sees it.
func (s *Store) TakePasskeyChallenge(ctx context.Context, key string, now time.Time) (store.PasskeyChallenge, error) {
	if !validKey(key) {
		return store.PasskeyChallenge{}, notFound(passkeyChallengeWhat)
	}
	var (
		c                store.PasskeyChallenge
		created, expires int64
	)
	// One statement, outside withTx: nothing cached depends on challenges,
	// so SQLite's shared change counter is not bumped.
	err := s.retry(ctx, func() error {
		return s.db.QueryRowContext(ctx, s.q(`DELETE FROM passkey_challenges WHERE binding = ? RETURNING `+passkeyChallengeCols), key).
			Scan(&c.Key, &c.Purpose, &c.Username, &c.Session, &created, &expires)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return store.PasskeyChallenge{}, notFound(passkeyChallengeWhat)
	}
	if err != nil {
		return store.PasskeyChallenge{}, s.dbErr(err, passkeyChallengeWhat)
	}
	c.Created, c.Expires = fromDBTime(created), fromDBTime(expires)
	if !c.Expires.After(now) {
		return store.PasskeyChallenge{}, fmt.Errorf("sqlstore: %s: expired: %w", passkeyChallengeWhat, store.ErrNotFound)
	}
	return c, nil
}

// PurgePasskeyChallenges implements store.Store.
func (s *Store) PurgePasskeyChallenges(ctx context.Context, now time.Time) (int, error) {
	res, err := s.exec(ctx, s.q(`DELETE FROM passkey_challenges WHERE expires <= ?`), toDBTime(now))
	if err != nil {
		return 0, s.dbErr(err, "purge passkey challenges")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.dbErr(err, "purge passkey challenges")
	}
	return int(n), nil
}

// deleteUserPasskeys deletes a login name's credentials and user handle
// inside tx (a Webmail user's, whose rows the account's cascade does not
// reach when only the mailbox goes).
func (s *Store) deleteUserPasskeys(ctx context.Context, tx *sql.Tx, username string) error {
	var n int64
	for _, q := range []string{`DELETE FROM passkeys WHERE username = ?`, `DELETE FROM passkey_users WHERE username = ?`} {
		res, err := tx.ExecContext(ctx, s.q(q), username)
		if err != nil {
			return s.dbErr(err, passkeyUserWhat(username))
		}
		m, _ := res.RowsAffected()
		n += m
	}
	if n == 0 {
		return nil
	}
	return s.announce(ctx, tx, passkeyChange(username))
}
