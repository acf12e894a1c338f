package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cpauth/cpauth/internal/store"
)

// Sessions live in sessions (migrations/<dialect>/0003_sessions.sql).
// Besides the schema's general conventions:
//   - a session is stored exactly as given or refused whole (ErrInvalid,
//     see store.SessionStore): PostgreSQL TEXT cannot hold a NUL byte or
//     invalid UTF-8, and rather than let one backend store what the other
//     refuses (or mangle it), both refuse it before any SQL runs;
//   - IdleTimeout is BIGINT microseconds, 0 for no idle limit;
//   - every write announces store.ChangeSession with the IDHash, except
//     TouchSession (see there); a bulk delete announces each session, or
//     store.ChangeAll past purgeAnnounceEach.

const sessionCols = `id_hash, kind, username, account, service, security_token, creator, origin, method, tfa_verified, locale, goto_uri, created, last_seen, idle_timeout, expires, allowed_ips, not_after, require_otp, passkey`

// sessionWhat names a session in errors. The IDHash is not secret, but
// there is no need to spread it through logs either.
const sessionWhat = "session"

var (
	sessionKinds    = []string{store.SessionNormal, store.SessionOneTime}
	sessionServices = []string{"cpaneld", "whostmgrd", "webmaild"}
)

// validText reports whether every backend keeps v exactly: PostgreSQL
// refuses NUL bytes and invalid UTF-8 in TEXT.
func validText(v string) bool { return utf8.ValidString(v) && !strings.ContainsRune(v, 0) }

// validKey reports whether v can be an indexed session field (IDHash,
// Username, SecurityToken). A lookup by any other key finds nothing.
func validKey(v string) bool {
	return v != "" && len(v) <= store.MaxSessionKeyLen && validText(v)
}

// validTime reports whether t lies in the years 1 to 9999 (UTC): its unix
// microseconds fit an int64 with room to spare, so that last_seen +
// idle_timeout cannot overflow in either database.
func validTime(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 1 && y <= 9999
}

func invalid(what, format string, args ...any) error {
	return fmt.Errorf("sqlstore: %s: %s: %w", what, fmt.Sprintf(format, args...), store.ErrInvalid)
}

// checkSession refuses what the store cannot keep exactly as given. The
// message names the field, never its value.
func checkSession(s store.Session) error {
	for _, f := range []struct {
		name, v string
	}{
		{"IDHash", s.IDHash}, {"Kind", s.Kind}, {"Username", s.Username}, {"Account", s.Account},
		{"Service", s.Service}, {"SecurityToken", s.SecurityToken}, {"Creator", s.Creator},
		{"Origin", s.Origin}, {"Method", s.Method}, {"Locale", s.Locale}, {"GotoURI", s.GotoURI},
	} {
		if !validText(f.v) {
			return invalid(sessionWhat, "%s is not valid UTF-8 or holds a NUL byte", f.name)
		}
	}
	for _, f := range []struct {
		name, v string
	}{
		{"IDHash", s.IDHash}, {"Username", s.Username}, {"SecurityToken", s.SecurityToken},
	} {
		if f.v == "" || len(f.v) > store.MaxSessionKeyLen {
			return invalid(sessionWhat, "%s is empty or longer than %d bytes", f.name, store.MaxSessionKeyLen)
		}
	}
	if !slices.Contains(sessionKinds, s.Kind) {
		return invalid(sessionWhat, "unknown kind %q", s.Kind)
	}
	if !slices.Contains(sessionServices, s.Service) {
		return invalid(sessionWhat, "unknown service %q", s.Service)
	}
	if s.IdleTimeout < 0 || s.IdleTimeout > 0 && s.IdleTimeout < time.Microsecond {
		// Under a microsecond it would read back as 0: no idle limit.
		return invalid(sessionWhat, "IdleTimeout %v is negative or under a microsecond", s.IdleTimeout)
	}
	for _, f := range []struct {
		name string
		t    time.Time
	}{{"Created", s.Created}, {"LastSeen", s.LastSeen}, {"Expires", s.Expires}, {"NotAfter", s.NotAfter}} {
		if !validTime(f.t) {
			return invalid(sessionWhat, "%s is outside the years 1 to 9999", f.name)
		}
	}
	if !s.NotAfter.IsZero() && s.NotAfter.UnixMicro() == 0 {
		return invalid(sessionWhat, "NotAfter is the Unix epoch, which the store keeps as none")
	}
	for _, a := range s.AllowedIPs {
		if a == "" || !validText(a) {
			return invalid(sessionWhat, "AllowedIPs holds an empty or invalid entry")
		}
	}
	if len(s.Passkey) > store.MaxPasskeyIDLen {
		return invalid(sessionWhat, "Passkey is longer than %d bytes", store.MaxPasskeyIDLen)
	}
	return nil
}

// passkeyDB is Session.Passkey as stored: NULL for none.
func passkeyDB(id []byte) any {
	if len(id) == 0 {
		return nil
	}
	return id
}

// notAfterDB is NotAfter as stored: unix microseconds, 0 for none.
func notAfterDB(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return toDBTime(t)
}

func notAfterFromDB(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return fromDBTime(v)
}

func toDBDuration(d time.Duration) int64   { return d.Microseconds() }
func fromDBDuration(v int64) time.Duration { return time.Duration(v) * time.Microsecond }

func sessionArgs(s store.Session) []any {
	ips, _ := encodeIPs(s.AllowedIPs) // plain strings: encoding cannot fail
	return []any{s.IDHash, s.Kind, s.Username, s.Account, s.Service, s.SecurityToken, s.Creator, s.Origin,
		s.Method, s.TFAVerified, s.Locale, s.GotoURI, toDBTime(s.Created), toDBTime(s.LastSeen),
		toDBDuration(s.IdleTimeout), toDBTime(s.Expires), ips, notAfterDB(s.NotAfter), s.RequireOTP, passkeyDB(s.Passkey)}
}

func scanSession(sc scanner) (store.Session, error) {
	var (
		s                       store.Session
		created, lastSeen, idle int64
		expires, notAfter       int64
		ips                     string
	)
	err := sc.Scan(&s.IDHash, &s.Kind, &s.Username, &s.Account, &s.Service, &s.SecurityToken, &s.Creator,
		&s.Origin, &s.Method, &s.TFAVerified, &s.Locale, &s.GotoURI, &created, &lastSeen, &idle, &expires,
		&ips, &notAfter, &s.RequireOTP, &s.Passkey)
	if err != nil {
		return store.Session{}, err
	}
	if len(s.Passkey) == 0 {
		s.Passkey = nil
	}
	if s.AllowedIPs, err = decodeIPs(ips); err != nil {
		return store.Session{}, err
	}
	s.NotAfter = notAfterFromDB(notAfter)
	s.Created = fromDBTime(created)
	s.LastSeen = fromDBTime(lastSeen)
	s.IdleTimeout = fromDBDuration(idle)
	s.Expires = fromDBTime(expires)
	return s, nil
}

// normSession is s as it reads back from the database.
func normSession(s store.Session) store.Session {
	s.Created = roundTime(s.Created)
	s.LastSeen = roundTime(s.LastSeen)
	s.IdleTimeout = fromDBDuration(toDBDuration(s.IdleTimeout))
	s.Expires = roundTime(s.Expires)
	s.NotAfter = notAfterFromDB(notAfterDB(s.NotAfter))
	if len(s.AllowedIPs) == 0 {
		s.AllowedIPs = nil
	}
	if len(s.Passkey) == 0 {
		s.Passkey = nil
	} else {
		s.Passkey = slices.Clone(s.Passkey)
	}
	return s
}

func sortSessions(ss []store.Session) {
	slices.SortFunc(ss, func(a, b store.Session) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.IDHash, b.IDHash))
	})
}

func sessionChange(idHash string) store.Change {
	return store.Change{Kind: store.ChangeSession, Key: idHash}
}

// CreateSession implements store.Store.
func (s *Store) CreateSession(ctx context.Context, ss store.Session) error {
	if err := checkSession(ss); err != nil {
		return err
	}
	// A missing account is a foreign key violation (ErrNotFound), a taken
	// IDHash or security token a unique one (ErrExists).
	_, err := s.execChange(ctx, sessionChange(ss.IDHash),
		s.q(`INSERT INTO sessions (`+sessionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		sessionArgs(ss)...)
	return s.dbErr(err, sessionWhat)
}

// GetSession implements store.Store.
func (s *Store) GetSession(ctx context.Context, idHash string) (store.Session, error) {
	if !validKey(idHash) {
		return store.Session{}, notFound(sessionWhat)
	}
	ss, err := scanSession(s.db.QueryRowContext(ctx, s.q(`SELECT `+sessionCols+` FROM sessions WHERE id_hash = ?`), idHash))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Session{}, notFound(sessionWhat)
	}
	if err != nil {
		return store.Session{}, s.dbErr(err, sessionWhat)
	}
	return ss, nil
}

// ListSessions implements store.Store; an unknown account has no sessions.
func (s *Store) ListSessions(ctx context.Context, account string) ([]store.Session, error) {
	what := "sessions of " + accountWhat(account)
	query, args := `SELECT `+sessionCols+` FROM sessions WHERE account = ?`, []any{account}
	switch {
	case account == "":
		what, query, args = "list sessions", `SELECT `+sessionCols+` FROM sessions`, nil
	case !validText(account):
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, s.dbErr(err, what)
	}
	defer rows.Close()
	var out []store.Session
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return nil, s.dbErr(err, what)
		}
		out = append(out, ss)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbErr(err, what)
	}
	sortSessions(out)
	return out, nil
}

// UpdateSession implements store.Store. The row is locked (FOR UPDATE)
// while fn runs. A changed SecurityToken that is taken is ErrExists; a
// result the store cannot keep, or a changed key, is ErrInvalid.
func (s *Store) UpdateSession(ctx context.Context, idHash string, fn func(store.Session) (store.Session, error)) (store.Session, error) {
	if !validKey(idHash) {
		return store.Session{}, notFound(sessionWhat)
	}
	var out store.Session
	err := s.withChange(ctx, sessionChange(idHash), func(tx *sql.Tx) error {
		old, err := scanSession(tx.QueryRowContext(ctx,
			s.q(`SELECT `+sessionCols+` FROM sessions WHERE id_hash = ?`+s.d.ForUpdate), idHash))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(sessionWhat)
		}
		if err != nil {
			return s.dbErr(err, sessionWhat)
		}
		ss, err := fn(old)
		if err != nil {
			return err
		}
		if ss.IDHash != old.IDHash || ss.Username != old.Username || ss.Account != old.Account || ss.Service != old.Service {
			return invalid(sessionWhat, "the updater may not change the IDHash, Username, Account or Service")
		}
		if !slices.Equal(ss.AllowedIPs, old.AllowedIPs) || !ss.NotAfter.Equal(old.NotAfter) || ss.RequireOTP != old.RequireOTP {
			// What a token bounded a session by stays with it (D24).
			return invalid(sessionWhat, "the updater may not change the bounds (AllowedIPs, NotAfter, RequireOTP)")
		}
		if err := checkSession(ss); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE sessions SET kind = ?, security_token = ?, creator = ?, origin = ?,
			method = ?, tfa_verified = ?, locale = ?, goto_uri = ?, created = ?, last_seen = ?, idle_timeout = ?, expires = ?,
			passkey = ? WHERE id_hash = ?`),
			ss.Kind, ss.SecurityToken, ss.Creator, ss.Origin, ss.Method, ss.TFAVerified, ss.Locale, ss.GotoURI,
			toDBTime(ss.Created), toDBTime(ss.LastSeen), toDBDuration(ss.IdleTimeout), toDBTime(ss.Expires),
			passkeyDB(ss.Passkey), idHash)
		if err != nil {
			return s.dbErr(err, sessionWhat)
		}
		out = normSession(ss)
		return nil
	})
	if err != nil {
		return store.Session{}, err
	}
	return out, nil
}

// TouchSession implements store.Store: one UPDATE, outside any updater;
// LastSeen only moves forward, so that two nodes' touches cannot put it
// back (nor can a node whose clock is behind).
//
// It announces nothing, as TouchToken does not. Callers touch at most once a
// minute per session, on every node that serves it: announcing each touch
// would make every node forget that session and read it again after every
// touch anywhere, a notification and a read per active session and minute
// on every node, for a field that only ever moves forward. A cache in front
// of this store updates its own copy instead, and bounds how long it keeps
// another node's older LastSeen (see package cached): a LastSeen that lags
// can only make a session look idle sooner, never let an idle one in.
func (s *Store) TouchSession(ctx context.Context, idHash string, lastSeen time.Time) error {
	if !validKey(idHash) {
		return notFound(sessionWhat)
	}
	if !validTime(lastSeen) {
		return invalid(sessionWhat, "LastSeen is outside the years 1 to 9999")
	}
	v := toDBTime(lastSeen)
	res, err := s.exec(ctx, s.q(`UPDATE sessions SET last_seen = CASE WHEN last_seen < ? THEN CAST(? AS BIGINT) ELSE last_seen END
		WHERE id_hash = ?`), v, v, idHash)
	if err != nil {
		return s.dbErr(err, sessionWhat)
	}
	return affected(res, sessionWhat)
}

// DeleteSession implements store.Store; ErrNotFound if there is no such
// session.
func (s *Store) DeleteSession(ctx context.Context, idHash string) error {
	if !validKey(idHash) {
		return notFound(sessionWhat)
	}
	// Not execChange: a delete that finds nothing announces nothing.
	return s.withChange(ctx, sessionChange(idHash), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM sessions WHERE id_hash = ?`), idHash)
		if err != nil {
			return s.dbErr(err, sessionWhat)
		}
		return affected(res, sessionWhat)
	})
}

// ConsumeSession implements store.Store with one DELETE ... RETURNING: the
// row is deleted by exactly one statement, so of concurrent callers exactly
// one gets it and the others find nothing (ErrNotFound). PostgreSQL makes
// the others wait for the row lock and then see it gone; SQLite runs one
// writer at a time.
func (s *Store) ConsumeSession(ctx context.Context, idHash string) (store.Session, error) {
	if !validKey(idHash) {
		return store.Session{}, notFound(sessionWhat)
	}
	var out store.Session
	err := s.withChange(ctx, sessionChange(idHash), func(tx *sql.Tx) error {
		ss, err := scanSession(tx.QueryRowContext(ctx,
			s.q(`DELETE FROM sessions WHERE id_hash = ? RETURNING `+sessionCols), idHash))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(sessionWhat)
		}
		if err != nil {
			return s.dbErr(err, sessionWhat)
		}
		out = ss
		return nil
	})
	if err != nil {
		return store.Session{}, err
	}
	return out, nil
}

// DeleteUserSessions implements store.Store.
func (s *Store) DeleteUserSessions(ctx context.Context, username, keep string) (int, error) {
	if !validKey(username) {
		return 0, nil // no session has that username
	}
	if !validKey(keep) {
		keep = "" // no session has that IDHash: keep none
	}
	ended, err := s.deleteSessions(ctx, fmt.Sprintf("sessions of %q", username),
		stmt{`DELETE FROM sessions WHERE username = ? AND id_hash <> ? RETURNING id_hash, username, account, service`, []any{username, keep}})
	return len(ended), err
}

// DeleteAccountSessions implements store.Store: the account's own sessions
// and its Webmail users', which all name it as their Account.
func (s *Store) DeleteAccountSessions(ctx context.Context, account string) (int, error) {
	if account == "" || !validText(account) {
		return 0, nil
	}
	ended, err := s.deleteSessions(ctx, "sessions of "+accountWhat(account),
		stmt{`DELETE FROM sessions WHERE account = ? RETURNING id_hash, username, account, service`, []any{account}})
	return len(ended), err
}

// DeletePasskeySessions implements store.Store.
func (s *Store) DeletePasskeySessions(ctx context.Context, id []byte) ([]store.Session, error) {
	if len(id) == 0 || len(id) > store.MaxPasskeyIDLen {
		return nil, nil // no session has that passkey
	}
	return s.deleteSessions(ctx, "sessions of a passkey",
		stmt{`DELETE FROM sessions WHERE passkey = ? RETURNING id_hash, username, account, service`, []any{id}})
}

// PurgeSessions implements store.Store. The cut-off is exclusive: a session
// whose Expires (or LastSeen + IdleTimeout) is now exactly stays. It runs
// as two DELETEs in one transaction so that each uses its index.
func (s *Store) PurgeSessions(ctx context.Context, now time.Time) ([]store.Session, error) {
	if !validTime(now) {
		return nil, invalid("purge sessions", "the time is outside the years 1 to 9999")
	}
	v := toDBTime(now)
	return s.deleteSessions(ctx, "purge sessions",
		stmt{`DELETE FROM sessions WHERE expires < ? RETURNING id_hash, username, account, service`, []any{v}},
		// Written exactly as the index sessions_idle_deadline is.
		stmt{`DELETE FROM sessions WHERE idle_timeout > 0 AND last_seen + idle_timeout < ? RETURNING id_hash, username, account, service`, []any{v}})
}

type stmt struct {
	query string
	args  []any
}

// deleteSessions runs DELETE ... RETURNING id_hash, username, account,
// service statements in one transaction and announces what they deleted:
// each session, or one store.ChangeAll for more than purgeAnnounceEach. It
// returns the deleted sessions with those four fields set.
func (s *Store) deleteSessions(ctx context.Context, what string, stmts ...stmt) ([]store.Session, error) {
	var ended []store.Session
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		ended = ended[:0]
		for _, st := range stmts {
			rows, err := tx.QueryContext(ctx, s.q(st.query), st.args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var e store.Session
				if err := rows.Scan(&e.IDHash, &e.Username, &e.Account, &e.Service); err != nil {
					rows.Close()
					return err
				}
				ended = append(ended, e)
			}
			if err := rows.Close(); err != nil {
				return err
			}
			if err := rows.Err(); err != nil {
				return err
			}
		}
		if len(ended) > purgeAnnounceEach {
			return s.announce(ctx, tx, store.Change{Kind: store.ChangeAll})
		}
		for _, e := range ended {
			if err := s.announce(ctx, tx, sessionChange(e.IDHash)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.dbErr(err, what)
	}
	return ended, nil
}
