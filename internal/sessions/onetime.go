package sessions

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/store"
)

// One-time sessions (PROTOCOL.md 8, D13): a session made for a user by
// someone else (single sign-on) or handed from one service to another
// (Webmail hand-off), which a browser redeems once, within OneTimeLifetime,
// for a normal session. Their ids carry a tag after the random part, as
// cPanel's do (user:RAND:create_user_session,HEX), so that a one-time id is
// never a cookie (ParseCookie refuses tagged ids) and a cookie is never
// mistaken for a one-time id.

// Tags of one-time session ids, as cPanel writes them.
const (
	TagSSO            = "create_user_session"
	TagWebmailSelf    = "CREATE_WEBMAIL_SESSION_FOR_SELF"
	TagWebmailMailbox = "CREATE_WEBMAIL_SESSION_FOR_MAIL_USER"
)

// Methods (store.Session.Method) of one-time sessions and of the sessions
// their redemption makes.
const (
	// MethodSSO: create_user_session (and its CLI twin).
	MethodSSO = "sso"
	// MethodHandoff: a Webmail session made by a cPanel account.
	MethodHandoff = "handoff"
	// MethodTransfer: a normal session handed to a browser by URL (secure
	// remote login, Cpanel::LogMeIn).
	MethodTransfer = "transfer"
)

// OneTimeLifetime is how long an unredeemed one-time session lasts (D13;
// cPanel's PREAUTH_SESSION_DURATION). A normal session may be handed to a
// browser by URL within the same time after its creation.
const OneTimeLifetime = 300 * time.Second

// DefaultSSOIdleTimeout is the idle timeout of a session made by a
// redemption (D13: "15 minutes of inactivity" for SSO sessions).
const DefaultSSOIdleTimeout = 15 * time.Minute

// MaxRedemptionLen bounds a session= value looked at: the longest id with
// the longest tag, every character percent-encoded.
const MaxRedemptionLen = 3 * (maxUserLen + 1 + randLen + 1 + len(TagWebmailMailbox) + 1 + obLen)

func knownTag(t string) bool {
	return t == TagSSO || t == TagWebmailSelf || t == TagWebmailMailbox
}

// NewOneTimeID returns a fresh one-time session id for user with tag.
func NewOneTimeID(user, tag string) (string, error) {
	if !knownTag(tag) {
		return "", fmt.Errorf("sessions: unknown one-time tag %q", tag)
	}
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
	return user + ":" + r + ":" + tag + "," + hex.EncodeToString(ob[:]), nil
}

// Redemption is a parsed session= value: the id to look up, the user it
// names, and its tag ("" for a normal session's id, handed over by a
// secure remote login URL).
type Redemption struct {
	ID   string
	User string
	Tag  string
}

// ParseRedemption decodes the session= value of a redemption (already
// form-decoded by the caller; a value still percent-encoded, as a cookie
// value is, is accepted too). It accepts exactly the ids NewOneTimeID and
// NewID make; anything else, or anything longer than MaxRedemptionLen, is
// refused (ok=false) and never looked up.
func ParseRedemption(v string) (Redemption, bool) {
	if v == "" || len(v) > MaxRedemptionLen {
		return Redemption{}, false
	}
	id, ok := unescape(v)
	if !ok {
		return Redemption{}, false
	}
	head, ob, found := cutLast(id, ',')
	if !found || len(ob) != obLen || !isLowerHex(ob) {
		return Redemption{}, false
	}
	rest, last, found := cutLast(head, ':')
	if !found {
		return Redemption{}, false
	}
	tag := ""
	if knownTag(last) {
		tag = last
		if rest, last, found = cutLast(rest, ':'); !found {
			return Redemption{}, false
		}
	}
	user, r := rest, last
	if len(r) != randLen || !isRandPart(r) || !validUser(user) {
		return Redemption{}, false
	}
	return Redemption{ID: id, User: user, Tag: tag}, true
}

// OneTime describes a one-time session to make.
type OneTime struct {
	// User is the login name the session is for, Account the accounts row
	// it belongs to ("root" for root, the owning account of a mailbox).
	User    string
	Account string
	Service core.Service
	Tag     string // TagSSO, TagWebmailSelf or TagWebmailMailbox
	Method  string // MethodSSO or MethodHandoff
	Creator string
	// Bind, when valid, is the only address that may redeem the session.
	Bind    netip.Addr
	Locale  string
	GotoURI string
	// Bounds are those of the API token the session was made through
	// (D24): the session, and the one its redemption makes, is used only
	// from the token's addresses, ends by its expiry, and asks for the
	// user's second factor when the token did. Narrowed is not kept: a
	// narrowed token makes no session (api.MayMint).
	Bounds core.Bounds
}

// CreateOneTime makes and stores a one-time session: its id goes into the
// URL (never into a log), its record into the store with Kind
// store.SessionOneTime, TFAVerified set (as cPanel's create_user_session
// does: the creator vouches for the user), and Expires OneTimeLifetime
// from now. Origin holds the bound address ("" when any may redeem it).
func (m *Manager) CreateOneTime(ctx context.Context, o OneTime) (New, error) {
	now := m.now()
	n, err := m.insert(ctx, store.Session{
		Kind:        store.SessionOneTime,
		Username:    o.User,
		Account:     o.Account,
		Service:     o.Service.App(),
		Creator:     o.Creator,
		Origin:      addrText(o.Bind),
		Method:      o.Method,
		TFAVerified: !o.Bounds.RequireOTP,
		Locale:      o.Locale,
		GotoURI:     o.GotoURI,
		Created:     now,
		LastSeen:    now,
		Expires:     capAt(now.Add(OneTimeLifetime), o.Bounds.Expires),
		AllowedIPs:  o.Bounds.Addresses,
		NotAfter:    o.Bounds.Expires,
		RequireOTP:  o.Bounds.RequireOTP,
	}, func() (string, error) { return NewOneTimeID(o.User, o.Tag) })
	if errors.Is(err, store.ErrExists) {
		return New{}, fmt.Errorf("sessions: no free one-time session id or security token after %d tries: %w", createTries, err)
	}
	return n, err
}

// Successor describes the normal session a redemption makes.
type Successor struct {
	Principal core.Principal
	Service   core.Service
	// Origin is the redeeming browser's address.
	Origin netip.Addr
	// SecurityToken is kept from the redeemed session, so that the
	// token its URL showed stays the session's (clients call
	// <token>/execute/... after redeeming).
	SecurityToken string
	Method        string
	Creator       string
	TFAVerified   bool
	Locale        string
	// The redeemed session's bounds, which the new one keeps (see
	// store.Session).
	AllowedIPs []string
	NotAfter   time.Time
	RequireOTP bool
}

// capAt is t, or limit when limit is set and earlier.
func capAt(t, limit time.Time) time.Time {
	if !limit.IsZero() && limit.Before(t) {
		return limit
	}
	return t
}

// CreateSuccessor makes and stores the normal session that replaces a
// redeemed one. Its id is new; its security token is the redeemed one's
// (the caller has consumed that session, so the token is free).
func (m *Manager) CreateSuccessor(ctx context.Context, s Successor) (New, error) {
	if !IsToken(s.SecurityToken) {
		return New{}, fmt.Errorf("sessions: %q is not a security token", s.SecurityToken)
	}
	now := m.now()
	l := m.Lifetimes()
	idle, life := l.SSOIdleTimeout, l.Lifetime
	p := s.Principal
	n, err := m.insert(ctx, store.Session{
		Kind:          store.SessionNormal,
		Username:      p.User,
		Account:       AccountOf(p),
		Service:       s.Service.App(),
		SecurityToken: s.SecurityToken,
		Creator:       s.Creator,
		Origin:        addrText(s.Origin),
		Method:        s.Method,
		TFAVerified:   s.TFAVerified,
		Locale:        s.Locale,
		Created:       now,
		LastSeen:      now,
		IdleTimeout:   idle,
		Expires:       capAt(now.Add(life), s.NotAfter),
		AllowedIPs:    s.AllowedIPs,
		NotAfter:      s.NotAfter,
		RequireOTP:    s.RequireOTP,
	}, func() (string, error) { return NewID(p.User) })
	if errors.Is(err, store.ErrExists) {
		return New{}, fmt.Errorf("sessions: creating the redeemed session: %w", err)
	}
	return n, err
}
