package auth

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/sessions"
	"github.com/cpauth/cpauth/internal/settings"
	"github.com/cpauth/cpauth/internal/store"
)

// Session failure codes: the login page's message codes (PROTOCOL.md 6.2).
// CodeTokenMissing and CodeTokenIncorrect are D12 (HTTP 401 everywhere);
// the others are a bad session (D5 on API paths, the login page on pages).
const (
	CodeTokenMissing   = "token_missing"
	CodeTokenIncorrect = "token_incorrect"
	CodeExpired        = "expired_session"
	CodeInvalid        = "invalid_session"
	CodeChangedIP      = "changed_ip"
)

// Session authenticates a request by its browser session: this port's
// session cookie plus the /cpsessNNNNNNNNNN security token as the first
// path segment. It answers only requests without an Authorization header
// (a header decides by itself) that carry the cookie.
//
// What it checks, in order: the cookie's form; the session, found by the
// keyed hash of the cookie's id; its service (a session of one service is
// no use on another's ports) and kind; its lifetime and idle time; the
// client address (cookieipvalidation, D14); the security token (constant
// time); and that the user still exists and may log in. The address is
// checked before the token so that a stolen cookie used from elsewhere
// learns nothing of the token.
type Session struct {
	Store store.Store
	Key   *secret.Key
	Now   func() time.Time
	// Touches records uses (LastSeen) off the request path; nil records
	// nothing.
	Touches *sessions.Toucher
}

func sessionFail(user, code, reason string) Outcome {
	return Outcome{Result: Failed, Method: core.MethodSession, User: user, Code: code, Reason: reason}
}

// errReadOnly ends the updater of a locking read without writing.
var errReadOnly = errors.New("read only")

func (m *Session) Authenticate(ctx context.Context, r *Request) Outcome {
	if r.Authorization != "" || !r.HasSessionCookie {
		return Outcome{}
	}
	if r.SecurityToken == "" {
		return sessionFail("", CodeTokenMissing, "security token missing")
	}
	id, user, ok := sessions.ParseCookie(r.SessionCookie)
	if !ok {
		return sessionFail("", CodeInvalid, "malformed session cookie")
	}
	idHash := sessions.IDHash(m.Key, id)
	s, err := m.Store.GetSession(ctx, idHash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return sessionFail(user, CodeExpired, "no such session (ended, expired or never made)")
	case err != nil:
		return sessionFail(user, CodeInvalid, "store error: "+err.Error())
	case s.Service != r.Service.App():
		return sessionFail(user, CodeInvalid, "session of another service ("+s.Service+")")
	case s.Kind != store.SessionNormal:
		return sessionFail(user, CodeInvalid, "session of kind "+s.Kind)
	case s.Username != user:
		return sessionFail(user, CodeInvalid, "session of another user")
	}
	now := m.now()
	seen := s.LastSeen
	if m.Touches != nil {
		if n := m.Touches.Seen(idHash); n.After(seen) {
			seen = n
		}
	}
	if why := sessions.Expired(s, seen, now); why != "" {
		if !now.Before(s.Expires) {
			return sessionFail(user, CodeExpired, why)
		}
		// Idle by what this node knows; another node may have seen it in
		// use since. Ask the store itself, under the row's lock.
		var cur store.Session
		_, err := m.Store.UpdateSession(ctx, idHash, func(x store.Session) (store.Session, error) {
			cur = x
			return x, errReadOnly
		})
		switch {
		case errors.Is(err, store.ErrNotFound):
			return sessionFail(user, CodeExpired, "no such session (ended, expired or never made)")
		case !errors.Is(err, errReadOnly):
			return sessionFail(user, CodeInvalid, "store error: "+err.Error())
		}
		if cur.LastSeen.After(seen) {
			seen = cur.LastSeen
		}
		if why := sessions.Expired(cur, seen, now); why != "" {
			return sessionFail(user, CodeExpired, why)
		}
		s = cur
	}
	mode, err := settings.Get(ctx, m.Store, settings.CookieIPValidation)
	if err != nil {
		return sessionFail(user, CodeInvalid, "store error: "+err.Error())
	}
	if !OriginMatches(mode, s.Origin, r.Remote) {
		return sessionFail(user, CodeChangedIP, "session made from "+s.Origin+", used from "+r.Remote.String()+" (cookieipvalidation="+mode+")")
	}
	if !AddressAllowed(s.AllowedIPs, r.Remote) {
		// Made through an API token with an address list (D24), whatever
		// cookieipvalidation says.
		return sessionFail(user, CodeChangedIP, "session made through an API token that works only from "+strings.Join(s.AllowedIPs, ", ")+", used from "+r.Remote.String())
	}
	if !secret.Equal(r.SecurityToken, s.SecurityToken) {
		return sessionFail(user, CodeTokenIncorrect, "security token incorrect")
	}
	ident, err := Lookup(ctx, m.Store, s.Username)
	switch {
	case err != nil:
		return sessionFail(user, CodeInvalid, "session user: "+err.Error())
	case ident.Disabled != "":
		return sessionFail(user, CodeInvalid, ident.Disabled)
	}
	p := ident.Principal
	if account := sessions.AccountOf(p); s.Account != account {
		return sessionFail(user, CodeInvalid, "session of another account ("+s.Account+")")
	}
	p.Method, p.Service, p.Session = core.MethodSession, r.Service, idHash
	if !s.NotAfter.IsZero() || len(s.AllowedIPs) > 0 || s.RequireOTP {
		// What the session makes is held within the token it came from.
		p.Bounds = core.Bounds{Expires: s.NotAfter, Addresses: s.AllowedIPs, RequireOTP: s.RequireOTP}
	}
	if m.Touches != nil {
		m.Touches.Use(idHash, s.LastSeen, now)
	}
	return Outcome{Result: OK, Principal: p, Method: core.MethodSession, User: p.User, Session: s}
}

func (m *Session) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// OriginMatches applies cookieipvalidation (D14): "strict" wants the
// session's origin address exactly, "loose" the same /24 (IPv4) or /64
// (IPv6), "disabled" anything. An origin that is not an address matches
// only when disabled; so does an unknown mode (the setting is validated
// when set, so that means a damaged store: refuse).
func OriginMatches(mode, origin string, remote netip.Addr) bool {
	if mode == "disabled" {
		return true
	}
	o, err := netip.ParseAddr(origin)
	if err != nil || !remote.IsValid() {
		return false
	}
	o, remote = o.Unmap(), remote.Unmap()
	switch mode {
	case "strict":
		return o == remote
	case "loose":
		if o.Is4() != remote.Is4() {
			return false
		}
		bits := 64
		if o.Is4() {
			bits = 24
		}
		po, err1 := o.WithZone("").Prefix(bits)
		pr, err2 := remote.WithZone("").Prefix(bits)
		return err1 == nil && err2 == nil && po == pr
	}
	return false
}
