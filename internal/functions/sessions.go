package functions

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/sessions"
	"github.com/cpauth/cpauth/internal/store"
)

// Browser sessions: WHM API 1 list_sessions and kill_session (cpauth's own
// names: cPanel documents none), the CLI twins, and the ends of sessions
// that other functions cause (a password change, a suspension, a removed
// mailbox).
//
// Who sees (and may end) which sessions:
//   - root, and resellers holding "all": every session;
//   - a reseller: the sessions of its own account (itself and its email
//     users) and, when it holds list-accts, those of the accounts it owns;
//   - anyone else (the UI on cPanel and Webmail): its own login name's.
//
// A session is named by sessions.Handle, never by anything a cookie or a
// store lookup could use.

func (e *Env) registerSessions(r *api.Registry) {
	r.Register(
		&api.Func{Flavour: api.WHM1, Name: "list_sessions", Access: api.AnyWHM, ReadOnly: true, Mints: api.MintNothing, Handler: e.listSessions},
		&api.Func{Flavour: api.WHM1, Name: "kill_session", Access: api.AnyWHM, Mints: api.MintNothing, Handler: e.killSession},
	)
}

// sessionSlack is how far a session's stored LastSeen may lag its last use
// (it is written at most once a minute).
const sessionSlack = time.Minute

// SessionOver reports whether a listed session has surely ended though the
// purge has not removed it yet.
func SessionOver(s store.Session, now time.Time) bool {
	if !now.Before(s.Expires) {
		return true
	}
	return s.IdleTimeout > 0 && now.Sub(s.LastSeen) > s.IdleTimeout+sessionSlack
}

// VisibleSessions lists the live sessions p may see and end, sorted by
// creation.
func (e *Env) VisibleSessions(ctx context.Context, p core.Principal) ([]store.Session, error) {
	var all []store.Session
	switch {
	case p.IsRootLike():
		ss, err := e.Store.ListSessions(ctx, "")
		if err != nil {
			return nil, core.Internal(err)
		}
		all = ss
	case p.Role == core.RoleReseller && p.Service == core.ServiceWHM:
		accounts := []string{p.User}
		if p.HasACL("list-accts") {
			as, err := e.Store.ListAccounts(ctx)
			if err != nil {
				return nil, core.Internal(err)
			}
			for _, a := range as {
				if a.Owner == p.User && a.Username != p.User {
					accounts = append(accounts, a.Username)
				}
			}
		}
		for _, a := range accounts {
			ss, err := e.Store.ListSessions(ctx, a)
			if err != nil {
				return nil, core.Internal(err)
			}
			all = append(all, ss...)
		}
	default:
		account := p.Account
		if account == "" {
			account = p.User
		}
		ss, err := e.Store.ListSessions(ctx, account)
		if err != nil {
			return nil, core.Internal(err)
		}
		for _, s := range ss {
			if s.Username == p.User {
				all = append(all, s)
			}
		}
	}
	now := e.now()
	out := all[:0]
	for _, s := range all {
		if !SessionOver(s, now) {
			out = append(out, s)
		}
	}
	sortSessions(out)
	return out, nil
}

func sortSessions(ss []store.Session) {
	slices.SortFunc(ss, func(a, b store.Session) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.IDHash, b.IDHash))
	})
}

// SessionInfo is one session as list_sessions shows it.
func SessionInfo(s store.Session, current string) map[string]any {
	return map[string]any{
		"session":      sessions.Handle(s.IDHash),
		"user":         s.Username,
		"account":      s.Account,
		"service":      s.Service,
		"kind":         s.Kind,
		"method":       s.Method,
		"creator":      s.Creator,
		"origin":       s.Origin,
		"created":      s.Created.Unix(),
		"last_seen":    s.LastSeen.Unix(),
		"expires":      s.Expires.Unix(),
		"idle_timeout": int64(s.IdleTimeout / time.Second),
		"current":      fmtBool(current != "" && s.IDHash == current),
		"tfa_verified": fmtBool(s.TFAVerified),
	}
}

func (e *Env) listSessions(ctx context.Context, c *api.Call) (*api.Result, error) {
	ss, err := e.VisibleSessions(ctx, c.Principal)
	if err != nil {
		return nil, err
	}
	user := c.Args.Get("user")
	out := []map[string]any{}
	for _, s := range ss {
		if user == "" || s.Username == user {
			out = append(out, SessionInfo(s, c.Principal.Session))
		}
	}
	return &api.Result{Data: map[string]any{"sessions": out}}, nil
}

func (e *Env) killSession(ctx context.Context, c *api.Call) (*api.Result, error) {
	handle, hasHandle := c.Args.Lookup("session")
	user, hasUser := c.Args.Lookup("user")
	var n int
	var err error
	switch {
	case hasHandle && hasUser:
		return nil, core.Errorf(core.KindInvalid, "Specify either “session” or “user”, not both.")
	case hasHandle:
		var s store.Session
		if s, err = e.EndSession(ctx, c.Principal, handle); err == nil {
			n = 1
			e.Log.Info("session ended", "user", s.Username, "service", s.Service, "session", sessions.Handle(s.IDHash), "by", c.Principal.User)
			e.Logs.SessionPurge(s.Service, c.Remote.String(), s.Username+":"+sessions.Handle(s.IDHash), "kill")
		}
	case hasUser:
		n, err = e.EndUserSessions(ctx, c.Principal, user)
	default:
		return nil, core.Errorf(core.KindInvalid, "Specify the “session” to end (see list_sessions), or the “user” whose sessions to end.")
	}
	if err != nil {
		return nil, err
	}
	return &api.Result{Data: map[string]any{"killed": n}}, nil
}

// EndSession ends the session named by handle, if p may see it.
func (e *Env) EndSession(ctx context.Context, p core.Principal, handle string) (store.Session, error) {
	notFound := core.Errorf(core.KindNotFound, "The session “%s” does not exist or has already ended.", clip(handle))
	if !sessions.IsHandle(handle) {
		return store.Session{}, notFound
	}
	ss, err := e.VisibleSessions(ctx, p)
	if err != nil {
		return store.Session{}, err
	}
	for _, s := range ss {
		if sessions.Handle(s.IDHash) != handle {
			continue
		}
		if err := e.Store.DeleteSession(ctx, s.IDHash); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return store.Session{}, notFound
			}
			return store.Session{}, core.Internal(err)
		}
		return s, nil
	}
	return store.Session{}, notFound
}

// EndUserSessions ends every session of the login name user (an account,
// root, or local@domain), if p may see that user's sessions, and returns
// how many there were.
func (e *Env) EndUserSessions(ctx context.Context, p core.Principal, user string) (int, error) {
	if user == "" {
		return 0, required("user")
	}
	id, err := auth.Lookup(ctx, e.Store, user)
	switch {
	case errors.Is(err, auth.ErrUnknownUser):
		return 0, noSuchUser(clip(user))
	case err != nil:
		return 0, core.Internal(err)
	}
	login := id.Principal.User
	if !e.seesUser(ctx, p, id.Principal) {
		return 0, noSuchUser(clip(user))
	}
	ending := e.sessionsOf(ctx, "", login, "")
	n, err := e.Store.DeleteUserSessions(ctx, login, "")
	if err != nil {
		return 0, core.Internal(err)
	}
	e.logEnded(ending, "kill")
	e.Log.Info("sessions ended", "user", login, "sessions", n, "by", p.User)
	return n, nil
}

// sessionsOf lists the sessions a deletion is about to end (of account,
// or of the login name login but keep when login is set), for
// session_log; nil when there is no log to write.
func (e *Env) sessionsOf(ctx context.Context, account, login, keep string) []store.Session {
	if e.Logs == nil {
		return nil
	}
	all, err := e.Store.ListSessions(ctx, account)
	if err != nil {
		return nil // the log is best effort; the deletion reports its own error
	}
	var out []store.Session
	for _, s := range all {
		if (login == "" || s.Username == login) && s.IDHash != keep {
			out = append(out, s)
		}
	}
	return out
}

// logEnded writes session_log's PURGE line of each ended session, with
// cPanel's reason word (kill, password_change).
func (e *Env) logEnded(ss []store.Session, reason string) {
	for _, s := range ss {
		e.Logs.SessionPurge(s.Service, "", s.Username+":"+sessions.Handle(s.IDHash), reason)
	}
}

// seesUser reports whether p sees the sessions of the identity u (the rule
// of VisibleSessions).
func (e *Env) seesUser(ctx context.Context, p core.Principal, u core.Principal) bool {
	switch {
	case p.IsRootLike():
		return true
	case p.Role == core.RoleReseller && p.Service == core.ServiceWHM:
		account := u.Account
		if u.Role == core.RoleRoot || account == "" {
			return false
		}
		if account == p.User {
			return true
		}
		if !p.HasACL("list-accts") {
			return false
		}
		a, err := e.Store.GetAccount(ctx, account)
		return err == nil && a.Owner == p.User
	}
	return u.User == p.User
}

// endSessions ends the sessions of a login name but keep (a password
// change), logging how many, and each in session_log with the reason word
// purge.
func (e *Env) endSessions(ctx context.Context, login, keep, why, purge string) error {
	ending := e.sessionsOf(ctx, "", login, keep)
	n, err := e.Store.DeleteUserSessions(ctx, login, keep)
	if err != nil {
		return core.Internal(err)
	}
	e.logEnded(ending, purge)
	if n > 0 {
		e.Log.Info("sessions ended", "user", login, "sessions", n, "reason", why)
	}
	return nil
}

// endAccountSessions ends every session of an account and of its email
// users (a suspension).
func (e *Env) endAccountSessions(ctx context.Context, account, why string) error {
	ending := e.sessionsOf(ctx, account, "", "")
	n, err := e.Store.DeleteAccountSessions(ctx, account)
	if err != nil {
		return core.Internal(err)
	}
	e.logEnded(ending, "kill")
	if n > 0 {
		e.Log.Info("sessions ended", "account", account, "sessions", n, "reason", why)
	}
	return nil
}

// keepSession is the session a change made through must survive: the
// caller's own, when the change is to the caller's own login name.
func keepSession(p core.Principal, login string) string {
	if p.Session != "" && p.User == login {
		return p.Session
	}
	return ""
}
