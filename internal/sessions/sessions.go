// Package sessions is the wire format of browser sessions and their making:
// session ids (the cookie value), security tokens (the /cpsessNNNNNNNNNN
// path prefix), the keyed hash a session is stored under, and a session's
// creation at login. It knows no HTTP.
package sessions

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/store"
)

// Purpose is the keyed-hash purpose of session ids: a session's IDHash is
// the server key's MAC of its id under this purpose, so that it can never
// be mistaken for another record's keyed hash.
const Purpose = "session"

// Default lifetimes of a password login (D13).
const (
	DefaultIdleTimeout = 30 * time.Minute
	DefaultLifetime    = 12 * time.Hour
)

// Methods: how a session was made.
const (
	MethodPassword = "password"
	// MethodPasswordWebAuthn is a password login whose second factor was
	// a passkey (or security key).
	MethodPasswordWebAuthn = "password+webauthn"
	// MethodWebAuthn is a passwordless login: a passkey alone, with user
	// verification.
	MethodWebAuthn = "webauthn"
)

// session_log's PURGE reasons for the sessions a passkey made or verified
// (store.Session.Passkey): ended because the passkey was removed, or
// because it was marked as cloned.
const (
	PurgePasskeyRemoved = "passkey_removed"
	PurgePasskeyCloned  = "passkey_cloned"
)

// CookieName is the session cookie of a service, as cpsrvd names it.
func CookieName(svc core.Service) string {
	switch svc {
	case core.ServiceCPanel:
		return "cpsession"
	case core.ServiceWHM:
		return "whostmgrsession"
	case core.ServiceWebmail:
		return "webmailsession"
	}
	return ""
}

// ServiceOf is the core.Service of a stored session's Service ("cpaneld",
// ...), ServiceNone for anything else.
func ServiceOf(app string) core.Service {
	for _, s := range []core.Service{core.ServiceCPanel, core.ServiceWHM, core.ServiceWebmail} {
		if s.App() == app {
			return s
		}
	}
	return core.ServiceNone
}

// Session id format, as cPanel's: <user> ":" <16 of [A-Za-z0-9_]> ","
// <32 lowercase hex>. Both random parts come from crypto/rand (16 * ~5.95
// + 128 bits); only the keyed hash of the whole id is stored.
const (
	randLen = 16
	obLen   = 32
	// maxUserLen bounds the user part: the longest login name is a mailbox
	// address (64 + 1 + 253).
	maxUserLen = 320
	// MaxCookieLen bounds the cookie value looked at: every character of
	// the longest id percent-encoded.
	MaxCookieLen = 3 * (maxUserLen + 1 + randLen + 1 + obLen)
)

// randChars is the alphabet of the id's random part.
const randChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"

// NewID returns a fresh session id for user (the login name).
func NewID(user string) (string, error) {
	if !validUser(user) {
		return "", fmt.Errorf("sessions: user name %q cannot be part of a session id", user)
	}
	r, err := secret.RandomString(randLen, randChars)
	if err != nil {
		return "", err
	}
	var ob [obLen / 2]byte
	if _, err := rand.Read(ob[:]); err != nil {
		return "", err
	}
	return user + ":" + r + "," + hex.EncodeToString(ob[:]), nil
}

// validUser reports whether a login name may stand in a session id: not
// empty, bounded, valid UTF-8 without control bytes, ',' or ':' (which
// delimit the id's parts).
func validUser(u string) bool {
	if u == "" || len(u) > maxUserLen || strings.ContainsAny(u, ",:") {
		return false
	}
	for _, c := range u {
		if c < 0x20 || c == 0x7f || c == 0xfffd {
			return false
		}
	}
	return true
}

// EncodeCookie is the cookie value of an id: every byte outside
// [A-Za-z0-9_.-] percent-encoded in lower case, as cpsrvd writes it
// (root%3agRJ5lhG0d1eyZ1Ud%2c4987...).
func EncodeCookie(id string) string {
	const hexDigits = "0123456789abcdef"
	var b strings.Builder
	b.Grow(len(id) + 8)
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// ParseCookie decodes a cookie value into a session id and its user part.
// It accepts exactly the ids NewID makes (percent-encoding of any case, or
// none); anything else, or anything longer than MaxCookieLen, is not a
// session id (ok=false) and is never looked up.
func ParseCookie(v string) (id, user string, ok bool) {
	if v == "" || len(v) > MaxCookieLen {
		return "", "", false
	}
	id, ok = unescape(v)
	if !ok {
		return "", "", false
	}
	head, ob, found := cutLast(id, ',')
	if !found || len(ob) != obLen || !isLowerHex(ob) {
		return "", "", false
	}
	user, r, found := cutLast(head, ':')
	if !found || len(r) != randLen || !isRandPart(r) || !validUser(user) {
		return "", "", false
	}
	return id, user, true
}

// unescape undoes percent-encoding ('+' stays '+').
func unescape(s string) (string, bool) {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		return s, true
	}
	var out strings.Builder // one allocation: String does not copy
	out.Grow(len(s))
	for i >= 0 {
		out.WriteString(s[:i]) // the run before the escape
		if i+2 >= len(s) {
			return "", false
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", false
		}
		out.WriteByte(hi<<4 | lo)
		s = s[i+3:]
		i = strings.IndexByte(s, '%')
	}
	out.WriteString(s)
	return out.String(), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func cutLast(s string, sep byte) (before, after string, found bool) {
	i := strings.LastIndexByte(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// isRandPart reports whether every byte of s is one of randChars.
func isRandPart(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// IDHash is the stored keyed hash of a session id.
func IDHash(k *secret.Key, id string) string {
	return k.MACStrings(Purpose, id)
}

// Handle is a session's short public name (WHM API 1 list_sessions and
// kill_session, the CLI, the sessions page): 16 hex digits of a hash of
// the IDHash. It names a session to those allowed to see it and is no use
// for anything else: neither a cookie nor a store key can be made from it.
func Handle(idHash string) string {
	const prefix = "cpauth session handle\x00"
	var in [len(prefix) + 2*32]byte // an IDHash fits: the input is not allocated
	sum := sha256.Sum256(append(append(in[:0], prefix...), idHash...))
	var out [16]byte
	hex.Encode(out[:], sum[:8])
	return string(out[:])
}

// IsHandle reports whether s has the form of a Handle.
func IsHandle(s string) bool { return len(s) == 16 && isLowerHex(s) }

// Security tokens: "/cpsess" and exactly ten decimal digits.
const (
	tokenPrefix = "/cpsess"
	tokenDigits = 10
	// TokenLen is the length of a security token.
	TokenLen = len(tokenPrefix) + tokenDigits
)

// NewToken returns a fresh security token (ten digits from crypto/rand).
func NewToken() (string, error) {
	d, err := secret.RandomString(tokenDigits, secret.Digits)
	if err != nil {
		return "", err
	}
	return tokenPrefix + d, nil
}

// IsToken reports whether s is a security token.
func IsToken(s string) bool {
	if len(s) != TokenLen || !strings.HasPrefix(s, tokenPrefix) {
		return false
	}
	for i := len(tokenPrefix); i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// SplitPath splits a request path that begins with a security token into
// the token and the rest ("" or beginning with "/"). A first segment that is
// not exactly /cpsess and ten digits is no token (ok=false).
func SplitPath(path string) (token, rest string, ok bool) {
	if len(path) < TokenLen || !IsToken(path[:TokenLen]) {
		return "", "", false
	}
	rest = path[TokenLen:]
	if rest != "" && rest[0] != '/' {
		return "", "", false
	}
	return path[:TokenLen], rest, true
}

// Manager makes sessions at login. Its lifetimes are the fields it was
// made with until SetLifetimes replaces them, which is safe while
// sessions are being made.
type Manager struct {
	Store store.Store
	Key   *secret.Key
	Now   func() time.Time
	// IdleTimeout and Lifetime of password logins (D13; zero: the
	// defaults).
	IdleTimeout time.Duration
	Lifetime    time.Duration
	// SSOIdleTimeout is the idle timeout of sessions made by redeeming a
	// one-time session or a hand-off URL (zero: DefaultSSOIdleTimeout).
	SSOIdleTimeout time.Duration

	set atomic.Pointer[Lifetimes]
}

// Lifetimes are a Manager's session lifetimes (zero: the defaults).
type Lifetimes struct {
	IdleTimeout, Lifetime, SSOIdleTimeout time.Duration
}

// SetLifetimes replaces the lifetimes of the sessions made from now on;
// the sessions made before keep theirs.
func (m *Manager) SetLifetimes(l Lifetimes) { m.set.Store(&l) }

// Lifetimes returns the lifetimes in force, the defaults filled in.
func (m *Manager) Lifetimes() Lifetimes {
	l := Lifetimes{IdleTimeout: m.IdleTimeout, Lifetime: m.Lifetime, SSOIdleTimeout: m.SSOIdleTimeout}
	if p := m.set.Load(); p != nil {
		l = *p
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if l.Lifetime <= 0 {
		l.Lifetime = DefaultLifetime
	}
	if l.SSOIdleTimeout <= 0 {
		l.SSOIdleTimeout = DefaultSSOIdleTimeout
	}
	return l
}

// New is a session about to be created: the id goes into the cookie, the
// record into the store.
type New struct {
	ID      string
	Session store.Session
}

// createTries bounds the retries when a fresh IDHash or security token is
// taken (one in 10^10 per existing session, for the token).
const createTries = 5

// Create makes and stores a normal session for an authenticated principal
// on svc, made by method from origin. Every call makes a new id and a new
// security token; nothing of the client's is reused (no fixation).
func (m *Manager) Create(ctx context.Context, p core.Principal, svc core.Service, origin netip.Addr, method string) (New, error) {
	return m.CreateTFA(ctx, p, svc, origin, method, false)
}

// CreateTFA is Create with the session's TFAVerified given: set it when
// the login gave the user's second factor (see store.Session).
func (m *Manager) CreateTFA(ctx context.Context, p core.Principal, svc core.Service, origin netip.Addr, method string, tfaVerified bool) (New, error) {
	return m.create(ctx, p, svc, origin, method, tfaVerified, nil)
}

// CreatePasskey is Create for a login made with a passkey alone: the
// session has given the second factor, and keeps the passkey's credential
// ID (store.Session.Passkey), so that removing the passkey ends it.
func (m *Manager) CreatePasskey(ctx context.Context, p core.Principal, svc core.Service, origin netip.Addr, method string, passkey []byte) (New, error) {
	if len(passkey) == 0 {
		return New{}, errors.New("sessions: a passkey session without the passkey's credential ID")
	}
	return m.create(ctx, p, svc, origin, method, true, passkey)
}

func (m *Manager) create(ctx context.Context, p core.Principal, svc core.Service, origin netip.Addr, method string, tfaVerified bool, passkey []byte) (New, error) {
	now := m.now()
	l := m.Lifetimes()
	idle, life := l.IdleTimeout, l.Lifetime
	n, err := m.insert(ctx, store.Session{
		Kind:        store.SessionNormal,
		Username:    p.User,
		Account:     AccountOf(p),
		Service:     svc.App(),
		Creator:     p.User,
		Origin:      addrText(origin),
		Method:      method,
		TFAVerified: tfaVerified,
		Created:     now,
		LastSeen:    now,
		IdleTimeout: idle,
		Expires:     now.Add(life),
		Passkey:     passkey,
	}, func() (string, error) { return NewID(p.User) })
	if errors.Is(err, store.ErrExists) {
		return New{}, fmt.Errorf("sessions: no free session id or security token after %d tries: %w", createTries, err)
	}
	return n, err
}

// insert stores s under a fresh id from newID, trying again (createTries
// times in all) while the store finds the IDHash or the security token
// taken. A security token already in s is kept, and only a taken IDHash
// is then tried again; otherwise each try takes a fresh one. After the
// last try the error is the store's ErrExists. The New returned holds the
// session as the store keeps it (times in microseconds, UTC).
func (m *Manager) insert(ctx context.Context, s store.Session, newID func() (string, error)) (New, error) {
	fixedToken := s.SecurityToken != ""
	var err error
	for range createTries {
		n := New{Session: s}
		if n.ID, err = newID(); err != nil {
			return New{}, err
		}
		n.Session.IDHash = IDHash(m.Key, n.ID)
		if !fixedToken {
			if n.Session.SecurityToken, err = NewToken(); err != nil {
				return New{}, err
			}
		}
		err = m.Store.CreateSession(ctx, n.Session)
		if err == nil {
			n.Session.Created, n.Session.LastSeen, n.Session.Expires = micro(s.Created), micro(s.LastSeen), micro(s.Expires)
			return n, nil
		}
		if !errors.Is(err, store.ErrExists) {
			return New{}, err
		}
		// With a fixed token, only a taken IDHash can be retried.
		if fixedToken {
			if _, gerr := m.Store.GetSession(ctx, n.Session.IDHash); gerr != nil {
				break
			}
		}
	}
	return New{}, err
}

// AccountOf is the Account a session of p holds: the accounts row the
// principal belongs to (root's own for root, whose Principal.Account is
// empty).
func AccountOf(p core.Principal) string {
	if p.Role == core.RoleRoot {
		return p.User
	}
	return p.Account
}

// addrText is an address as a session keeps it ("" for none).
func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.Unmap().String()
}

func micro(t time.Time) time.Time { return time.UnixMicro(t.UnixMicro()).UTC() }

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Expired says why a session is over at now ("" when it is not): past its
// Expires, or idle since lastSeen for longer than its IdleTimeout.
func Expired(s store.Session, lastSeen, now time.Time) string {
	if !now.Before(s.Expires) {
		return "session expired (lifetime)"
	}
	if s.IdleTimeout > 0 && now.Sub(lastSeen) > s.IdleTimeout {
		return "session expired (idle)"
	}
	return ""
}
