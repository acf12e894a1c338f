package auth

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/store"
)

// TokenPurpose is the keyed-hash purpose of API tokens.
const TokenPurpose = "apitoken"

// TokenMAC is the stored keyed hash of a user's token. The user is part of
// it, so one token value can only ever name one user's token.
func TokenMAC(k *secret.Key, user, token string) string {
	return k.MACStrings(TokenPurpose, user, "\x00", token)
}

// IsTokenText reports whether s has the form of an API token: 32 characters
// of [0-9A-Z], or (WHM only) a 960-hex legacy access hash imported as one.
func IsTokenText(s string, whm bool) bool {
	if len(s) == 32 {
		for i := 0; i < len(s); i++ {
			if c := s[i]; !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
				return false
			}
		}
		return true
	}
	return whm && secret.IsAccessHash(s)
}

// Token authenticates "Authorization: whm user:TOKEN" (root and resellers)
// and "Authorization: cpanel user:TOKEN" (cPanel accounts). Every refusal
// (malformed, unknown, revoked, expired, wrong address, wrong service)
// takes the same path: one keyed hash and one indexed lookup.
type Token struct {
	Store store.Store
	Key   *secret.Key
	Now   func() time.Time
	// Uses records last use; nil records nothing.
	Uses *UseRecorder
}

func (m *Token) Authenticate(ctx context.Context, r *Request) Outcome {
	if r.CredErr != nil || (r.Cred.Scheme != SchemeWHM && r.Cred.Scheme != SchemeCPanel) {
		return Outcome{}
	}
	whm := r.Cred.Scheme == SchemeWHM
	user, tok := r.Cred.User, r.Cred.Secret
	// Normalising only removes bytes, so a shorter secret (a 32-character
	// token) cannot be an access hash: skip the cost of normalising it.
	if whm {
		if h, ok := secret.ParseAccessHash(tok); ok {
			tok = h
		}
	}
	mac := TokenMAC(m.Key, user, tok)
	t, err := m.Store.GetTokenByMAC(ctx, mac)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fail(core.MethodToken, user, "unknown or revoked API token")
	case err != nil:
		return fail(core.MethodToken, user, "store error: "+err.Error())
	case !IsTokenText(tok, whm):
		return fail(core.MethodToken, user, "malformed API token")
	}
	want := store.TokenCPanel
	if whm {
		want = store.TokenWHM
	}
	now := m.now()
	switch {
	case t.Service != want:
		return fail(core.MethodToken, user, "API token of another service ("+t.Service+")")
	case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
		return fail(core.MethodToken, user, "expired API token "+t.Name)
	case !AddressAllowed(t.WhitelistIPs, r.Remote):
		return fail(core.MethodToken, user, "API token "+t.Name+" not allowed from "+r.Remote.String())
	case whm && r.Service != core.ServiceWHM, !whm && r.Service != core.ServiceCPanel:
		// WHM tokens on the WHM ports, cPanel tokens on the cPanel ports
		// (D6); Webmail has no token scheme (D7).
		return fail(core.MethodToken, user, "API token "+t.Name+" used on the "+r.Service.String()+" ports")
	}
	a, err := m.Store.GetAccount(ctx, user)
	if err != nil {
		return fail(core.MethodToken, user, "account of API token missing")
	}
	if a.Suspended {
		return fail(core.MethodToken, user, "account suspended")
	}
	p := PrincipalFor(a)
	if whm && p.Role != core.RoleRoot && p.Role != core.RoleReseller {
		return fail(core.MethodToken, user, "WHM API token of a non-reseller")
	}
	if !whm && p.Role != core.RoleCPanel && p.Role != core.RoleReseller {
		return fail(core.MethodToken, user, "cPanel API token of an account without cPanel")
	}
	narrowed := t.ReadOnly
	if whm {
		narrowed = Narrows(p.ACLs, t.ACLs)
		p.ACLs = EffectiveACLs(p.ACLs, t.ACLs)
	}
	p.Method, p.Service, p.TokenName, p.ReadOnly = core.MethodToken, r.Service, t.Name, t.ReadOnly
	p.Bounds = core.Bounds{Expires: t.ExpiresAt, Addresses: t.WhitelistIPs, RequireOTP: t.RequireOTP, Narrowed: narrowed}
	if m.Uses != nil {
		m.Uses.Record(mac, now, r.Remote)
	}
	return Outcome{Result: OK, Principal: p, Method: core.MethodToken, User: user, RequireOTP: t.RequireOTP}
}

func (m *Token) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// EffectiveACLs intersects a user's privileges with a token's (nil: the
// token is not limited). A token holding "all" is limited only by the user;
// a user holding "all" gets exactly the token's.
func EffectiveACLs(user core.ACLSet, token []string) core.ACLSet {
	if token == nil {
		return user
	}
	out := core.ACLSet{}
	for _, n := range token {
		if n == core.ACLAll {
			return user
		}
		if user.Has(n) {
			out[n] = true
		}
	}
	return out
}

// Narrows reports whether a token's ACL list (nil: not limited) leaves out
// one of its owner's privileges: a root token without "all", a reseller
// token missing one of the reseller's ACLs (D25).
func Narrows(user core.ACLSet, token []string) bool {
	if token == nil || slices.Contains(token, core.ACLAll) {
		return false
	}
	if user[core.ACLAll] {
		return true
	}
	// Both lists are short (at most every known ACL): no set is built on
	// the request path.
	for n, ok := range user {
		if ok && !slices.Contains(token, n) {
			return true
		}
	}
	return false
}

// AddressAllowed reports whether addr lies in one of the allow-list's
// addresses or CIDRs; an empty list allows every address.
func AddressAllowed(list []string, addr netip.Addr) bool {
	if len(list) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, e := range list {
		if p, err := netip.ParsePrefix(e); err == nil {
			if p.Contains(addr) {
				return true
			}
			continue
		}
		if a, err := netip.ParseAddr(e); err == nil && a.Unmap() == addr {
			return true
		}
	}
	return false
}

// UseRecorder writes a token's last use (time and address) at most once a
// minute per token, off the request path: Record only notes the use in
// memory, and a background loop writes what is due. A use that is not due,
// nearly every one, takes no lock and writes nothing shared.
type UseRecorder struct {
	Store    store.Store
	Interval time.Duration // default one minute

	mu      sync.Mutex
	written sync.Map // mac -> time.Time: when last noted for writing (stored under mu)
	pending map[string]use
	wake    chan struct{}
}

type use struct {
	when time.Time
	ip   netip.Addr
}

// NewUseRecorder returns a recorder; Run must be started for writes to
// happen.
func NewUseRecorder(st store.Store) *UseRecorder {
	return &UseRecorder{Store: st, Interval: time.Minute, pending: map[string]use{}, wake: make(chan struct{}, 1)}
}

// due reports whether a use of mac at when is an Interval past the last
// one noted for writing.
func (u *UseRecorder) due(mac string, when time.Time) bool {
	last, seen := u.written.Load(mac)
	return !seen || when.Sub(last.(time.Time)) >= u.Interval
}

// Record notes a use; it never blocks on the store.
func (u *UseRecorder) Record(mac string, when time.Time, ip netip.Addr) {
	if !u.due(mac, when) {
		return // the common case: no lock
	}
	u.mu.Lock()
	due := u.due(mac, when) // again: another use may have noted it meanwhile
	if due {
		u.written.Store(mac, when)
		u.pending[mac] = use{when, ip}
	}
	u.mu.Unlock()
	if due {
		select {
		case u.wake <- struct{}{}:
		default:
		}
	}
}

// Run writes pending uses until ctx ends, then writes what is left. A
// write under way when ctx ends is finished, not abandoned: its batch has
// already left the pending set.
func (u *UseRecorder) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			u.Flush(context.Background())
			return
		case <-u.wake:
			u.Flush(context.WithoutCancel(ctx))
		}
	}
}

// Flush writes every pending use now.
func (u *UseRecorder) Flush(ctx context.Context) {
	u.mu.Lock()
	batch := u.pending
	u.pending = map[string]use{}
	u.mu.Unlock()
	for mac, x := range batch {
		ip := ""
		if x.ip.IsValid() {
			ip = x.ip.String()
		}
		_ = u.Store.TouchToken(ctx, mac, x.when, ip) // a revoked token has no row: nothing to record
	}
}
