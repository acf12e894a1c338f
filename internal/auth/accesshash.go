package auth

import (
	"context"
	"errors"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/settings"
	"github.com/cpauth/cpauth/internal/store"
)

// AccessHashPurpose is the keyed-hash purpose of access hashes.
const AccessHashPurpose = "accesshash"

// AccessHash authenticates "Authorization: WHM user:<960 hex>" against the
// keyed hash of the user's access hash. A WHM secret that is not the user's
// access hash is not its credential: the token method (which also knows
// access hashes imported as API tokens) decides it.
type AccessHash struct {
	Store store.Store
	Key   *secret.Key
}

func (m *AccessHash) Authenticate(ctx context.Context, r *Request) Outcome {
	if r.CredErr != nil || r.Cred.Scheme != SchemeWHM {
		return Outcome{}
	}
	// Too short (an API token, say) costs nothing more than a length.
	h, ok := secret.ParseAccessHash(r.Cred.Secret)
	if !ok {
		return Outcome{}
	}
	user := r.Cred.User
	mac := normalizedAccessHashMAC(m.Key, user, h)
	storedMAC, err := m.storedMAC(ctx, user)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fail(core.MethodAccessHash, user, "store error: "+err.Error())
	}
	if err != nil || !secret.Equal(mac, storedMAC) {
		// Not this user's access hash: it may be one imported as an API
		// token, which the token method decides.
		return Outcome{}
	}
	if v, err := settings.Get(ctx, m.Store, settings.AllowAccessHash); err != nil || v == "0" {
		return fail(core.MethodAccessHash, user, "access hash authentication is disabled (allow_deprecated_accesshash=0)")
	}
	a, err := m.Store.GetAccount(ctx, user)
	if err != nil {
		return fail(core.MethodAccessHash, user, "account missing")
	}
	if a.Suspended {
		return fail(core.MethodAccessHash, user, "account suspended")
	}
	if !a.IsRoot() && !a.Reseller {
		return fail(core.MethodAccessHash, user, "access hash of a non-reseller")
	}
	if r.Service != core.ServiceWHM {
		// An access hash is a WHM credential (a WHM API token on current
		// cPanel): refused on cPanel and Webmail ports (D6).
		return fail(core.MethodAccessHash, user, "access hash used outside WHM")
	}
	p := PrincipalFor(a)
	p.Method = core.MethodAccessHash
	p.Service = r.Service
	return Outcome{Result: OK, Principal: p, Method: core.MethodAccessHash, User: user}
}

// macReader is a store that reads an access hash's keyed hash alone (the
// cached store: without copying the sealed hash on every request).
type macReader interface {
	AccessHashMAC(ctx context.Context, username string) (string, error)
}

// storedMAC is the keyed hash stored for user's access hash.
func (m *AccessHash) storedMAC(ctx context.Context, user string) (string, error) {
	if r, ok := m.Store.(macReader); ok {
		return r.AccessHashMAC(ctx, user)
	}
	h, err := m.Store.GetAccessHash(ctx, user)
	return h.MAC, err
}

// AccessHashMAC is the stored keyed hash of a user's access hash.
func AccessHashMAC(k *secret.Key, user, hash string) string {
	return normalizedAccessHashMAC(k, user, secret.NormalizeAccessHash(hash))
}

// normalizedAccessHashMAC is AccessHashMAC of a hash already normalised.
func normalizedAccessHashMAC(k *secret.Key, user, hash string) string {
	return k.MACStrings(AccessHashPurpose, user, "\x00", hash)
}
