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
// keyed hash of the user's access hash. Other WHM-scheme secrets are not its
// credential (API tokens claim those).
type AccessHash struct {
	Store store.Store
	Key   *secret.Key
}

func (m *AccessHash) Authenticate(ctx context.Context, r *Request) Outcome {
	if r.CredErr != nil || r.Cred.Scheme != SchemeWHM {
		return Outcome{}
	}
	h := secret.NormalizeAccessHash(r.Cred.Secret)
	if !secret.IsAccessHash(h) {
		return Outcome{}
	}
	user := r.Cred.User
	mac := AccessHashMAC(m.Key, user, h)
	if v, err := settings.Get(ctx, m.Store, settings.AllowAccessHash); err != nil || v == "0" {
		return fail(core.MethodAccessHash, user, "access hash authentication is disabled (allow_deprecated_accesshash=0)")
	}
	stored, err := m.Store.GetAccessHash(ctx, user)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fail(core.MethodAccessHash, user, "no access hash for user")
		}
		return fail(core.MethodAccessHash, user, "store error: "+err.Error())
	}
	if !secret.Equal(mac, stored.MAC) {
		return fail(core.MethodAccessHash, user, "access hash incorrect")
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

// AccessHashMAC is the stored keyed hash of a user's access hash.
func AccessHashMAC(k *secret.Key, user, hash string) string {
	return k.MAC(AccessHashPurpose, []byte(user+"\x00"+secret.NormalizeAccessHash(hash)))
}
