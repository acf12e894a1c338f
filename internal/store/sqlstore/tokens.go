package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cpauth/cpauth/internal/store"
)

// API tokens live in api_tokens (migrations/<dialect>/0002_tokens.sql).
// Besides the schema's general conventions:
//   - ExpiresAt and LastUsed are NULL for the zero time ("never"), so that
//     the purge and its index skip tokens that never expire;
//   - WhitelistIPs is a JSON array, never NULL: nil and empty both mean
//     "any address", are stored as [] and read back as nil;
//   - every write announces store.ChangeToken with the token's MAC, except
//     TouchToken (see there).

const tokenCols = `service, username, name, mac, acls, expires_at, whitelist_ips, readonly, require_otp, created, last_used, last_used_ip`

func tokenWhat(service, username, name string) string {
	return fmt.Sprintf("%s token %q of %s", service, name, accountWhat(username))
}

// tokenByMACWhat names a token looked up by its MAC. The MAC is not secret,
// but there is no need to spread it through logs either.
const tokenByMACWhat = "token by MAC"

func toNullTime(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: toDBTime(t), Valid: true}
}

func fromNullTime(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromDBTime(v.Int64)
}

// roundNullTime is what a time stored as toNullTime reads back as.
func roundNullTime(t time.Time) time.Time { return fromNullTime(toNullTime(t)) }

func encodeIPs(ips []string) (string, error) {
	if len(ips) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(ips)
	return string(b), err
}

func decodeIPs(v string) ([]string, error) {
	var ips []string
	if err := json.Unmarshal([]byte(v), &ips); err != nil {
		return nil, fmt.Errorf("whitelist_ips: %w", err)
	}
	if len(ips) == 0 {
		return nil, nil
	}
	return ips, nil
}

// tokenRow is a Token's columns in their database form.
type tokenRow struct {
	acls     sql.NullString
	expires  sql.NullInt64
	ips      string
	lastUsed sql.NullInt64
}

func encodeToken(t store.Token) (tokenRow, error) {
	acls, err := encodeACLs(t.ACLs)
	if err != nil {
		return tokenRow{}, err
	}
	ips, err := encodeIPs(t.WhitelistIPs)
	if err != nil {
		return tokenRow{}, err
	}
	return tokenRow{acls: acls, expires: toNullTime(t.ExpiresAt), ips: ips, lastUsed: toNullTime(t.LastUsed)}, nil
}

func scanToken(sc scanner) (store.Token, error) {
	var (
		t       store.Token
		r       tokenRow
		created int64
	)
	err := sc.Scan(&t.Service, &t.Username, &t.Name, &t.MAC, &r.acls, &r.expires, &r.ips,
		&t.ReadOnly, &t.RequireOTP, &created, &r.lastUsed, &t.LastUsedIP)
	if err != nil {
		return store.Token{}, err
	}
	if t.ACLs, err = decodeACLs(r.acls); err != nil {
		return store.Token{}, err
	}
	if t.WhitelistIPs, err = decodeIPs(r.ips); err != nil {
		return store.Token{}, err
	}
	t.ExpiresAt = fromNullTime(r.expires)
	t.Created = fromDBTime(created)
	t.LastUsed = fromNullTime(r.lastUsed)
	return t, nil
}

// normToken is t as it reads back from the database.
func normToken(t store.Token) store.Token {
	t.ACLs = slices.Clone(t.ACLs) // keeps nil nil and empty empty
	if len(t.WhitelistIPs) == 0 {
		t.WhitelistIPs = nil
	} else {
		t.WhitelistIPs = slices.Clone(t.WhitelistIPs)
	}
	t.ExpiresAt = roundNullTime(t.ExpiresAt)
	t.Created = roundTime(t.Created)
	t.LastUsed = roundNullTime(t.LastUsed)
	return t
}

// checkTokenKey refuses what no token may be: of an unknown service, or
// without a MAC (GetTokenByMAC("") would find it).
func checkTokenKey(t store.Token) error {
	if t.Service != store.TokenWHM && t.Service != store.TokenCPanel {
		return fmt.Errorf("sqlstore: %s: unknown service", tokenWhat(t.Service, t.Username, t.Name))
	}
	if t.MAC == "" {
		return fmt.Errorf("sqlstore: %s: no MAC", tokenWhat(t.Service, t.Username, t.Name))
	}
	return nil
}

// CreateToken implements store.Store.
func (s *Store) CreateToken(ctx context.Context, t store.Token) error {
	what := tokenWhat(t.Service, t.Username, t.Name)
	if err := checkTokenKey(t); err != nil {
		return err
	}
	r, err := encodeToken(t)
	if err != nil {
		return fmt.Errorf("sqlstore: %s: %w", what, err)
	}
	// A missing account is a foreign key violation (ErrNotFound), a taken
	// name or MAC a unique one (ErrExists).
	_, err = s.execChange(ctx, store.Change{Kind: store.ChangeToken, Key: t.MAC},
		s.q(`INSERT INTO api_tokens (`+tokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		t.Service, t.Username, t.Name, t.MAC, r.acls, r.expires, r.ips,
		t.ReadOnly, t.RequireOTP, toDBTime(t.Created), r.lastUsed, t.LastUsedIP)
	return s.dbErr(err, what)
}

// GetTokenByMAC implements store.Store.
func (s *Store) GetTokenByMAC(ctx context.Context, mac string) (store.Token, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, s.q(`SELECT `+tokenCols+` FROM api_tokens WHERE mac = ?`), mac))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Token{}, notFound(tokenByMACWhat)
	}
	if err != nil {
		return store.Token{}, s.dbErr(err, tokenByMACWhat)
	}
	return t, nil
}

// GetToken implements store.Store.
func (s *Store) GetToken(ctx context.Context, service, username, name string) (store.Token, error) {
	what := tokenWhat(service, username, name)
	t, err := scanToken(s.db.QueryRowContext(ctx,
		s.q(`SELECT `+tokenCols+` FROM api_tokens WHERE service = ? AND username = ? AND name = ?`),
		service, username, name))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Token{}, notFound(what)
	}
	if err != nil {
		return store.Token{}, s.dbErr(err, what)
	}
	return t, nil
}

// ListTokens implements store.Store; an unknown user (or service) has no
// tokens.
func (s *Store) ListTokens(ctx context.Context, service, username string) ([]store.Token, error) {
	what := fmt.Sprintf("%s tokens of %s", service, accountWhat(username))
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+tokenCols+` FROM api_tokens WHERE service = ? AND username = ?`), service, username)
	if err != nil {
		return nil, s.dbErr(err, what)
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, s.dbErr(err, what)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbErr(err, what)
	}
	slices.SortFunc(out, func(a, b store.Token) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// UpdateToken implements store.Store. The row is locked (FOR UPDATE) while
// fn runs; the change is announced under the token's MAC, read from the row.
func (s *Store) UpdateToken(ctx context.Context, service, username, name string, fn func(store.Token) (store.Token, error)) (store.Token, error) {
	what := tokenWhat(service, username, name)
	var out store.Token
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		old, err := scanToken(tx.QueryRowContext(ctx,
			s.q(`SELECT `+tokenCols+` FROM api_tokens WHERE service = ? AND username = ? AND name = ?`+s.d.ForUpdate),
			service, username, name))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(what)
		}
		if err != nil {
			return s.dbErr(err, what)
		}
		t, err := fn(old)
		if err != nil {
			return err
		}
		if t.Service != old.Service || t.Username != old.Username || t.MAC != old.MAC {
			return fmt.Errorf("sqlstore: %s: the updater may not change the service, user or MAC (to %s of %q)",
				what, t.Service, t.Username)
		}
		r, err := encodeToken(t)
		if err != nil {
			return fmt.Errorf("sqlstore: %s: %w", what, err)
		}
		// A rename onto a taken name is a unique violation: ErrExists.
		_, err = tx.ExecContext(ctx, s.q(`UPDATE api_tokens SET name = ?, acls = ?, expires_at = ?, whitelist_ips = ?,
			readonly = ?, require_otp = ?, created = ?, last_used = ?, last_used_ip = ?
			WHERE service = ? AND username = ? AND name = ?`),
			t.Name, r.acls, r.expires, r.ips, t.ReadOnly, t.RequireOTP, toDBTime(t.Created), r.lastUsed, t.LastUsedIP,
			service, username, name)
		if err != nil {
			return s.dbErr(err, tokenWhat(service, username, t.Name))
		}
		if err := s.announce(ctx, tx, store.Change{Kind: store.ChangeToken, Key: old.MAC}); err != nil {
			return err
		}
		out = normToken(t)
		return nil
	})
	if err != nil {
		return store.Token{}, err
	}
	return out, nil
}

// DeleteToken implements store.Store; ErrNotFound if there is no such
// token.
func (s *Store) DeleteToken(ctx context.Context, service, username, name string) error {
	what := tokenWhat(service, username, name)
	return s.withTx(ctx, func(tx *sql.Tx) error {
		var mac string
		err := tx.QueryRowContext(ctx, s.q(`DELETE FROM api_tokens WHERE service = ? AND username = ? AND name = ? RETURNING mac`),
			service, username, name).Scan(&mac)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(what)
		}
		if err != nil {
			return s.dbErr(err, what)
		}
		return s.announce(ctx, tx, store.Change{Kind: store.ChangeToken, Key: mac})
	})
}

// TouchToken implements store.Store: one UPDATE, outside any updater.
//
// It announces nothing. The last use is bookkeeping for the token lists, not
// authentication state: no node decides differently for a stale LastUsed,
// and announcing it would make every use (once a minute per token and node)
// flush that token from every node's cache, each of which would then read
// it again. A cache in front of this store updates its own copy instead.
func (s *Store) TouchToken(ctx context.Context, mac string, when time.Time, ip string) error {
	res, err := s.exec(ctx, s.q(`UPDATE api_tokens SET last_used = ?, last_used_ip = ? WHERE mac = ?`),
		toNullTime(when), ip, mac)
	if err != nil {
		return s.dbErr(err, tokenByMACWhat)
	}
	return affected(res, tokenByMACWhat)
}

// purgeAnnounceEach bounds how many purged tokens are announced one by one;
// a larger purge announces store.ChangeAll instead (the caches forget
// everything once, rather than hear thousands of notifications).
const purgeAnnounceEach = 1000

// PurgeExpiredTokens implements store.Store: it deletes the tokens whose
// expiry is before the given time; tokens that never expire stay.
func (s *Store) PurgeExpiredTokens(ctx context.Context, before time.Time) (int, error) {
	var macs []string
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		macs = macs[:0]
		rows, err := tx.QueryContext(ctx, s.q(`DELETE FROM api_tokens WHERE expires_at IS NOT NULL AND expires_at < ? RETURNING mac`),
			toDBTime(before))
		if err != nil {
			return err
		}
		for rows.Next() {
			var mac string
			if err := rows.Scan(&mac); err != nil {
				rows.Close()
				return err
			}
			macs = append(macs, mac)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(macs) > purgeAnnounceEach {
			return s.announce(ctx, tx, store.Change{Kind: store.ChangeAll})
		}
		for _, mac := range macs {
			if err := s.announce(ctx, tx, store.Change{Kind: store.ChangeToken, Key: mac}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, s.dbErr(err, "purge expired tokens")
	}
	return len(macs), nil
}
