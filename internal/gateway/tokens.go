package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/store"
)

// Narrow gateway WHM tokens (GATEWAY.md): a gateway token whose effective
// ACLs are narrower than its owner's cannot run forwarded WHM functions
// through the owner's full backend session. The gateway mints, as the
// owner on the backend (root's token for root, the owner's backend
// session for a reseller), a backend API token with the same ACLs
// (api_token_create), keeps it sealed with the server key, uses it for
// that gateway token's forwarded calls, and revokes it when the gateway
// token is revoked, expires or changes (its ACLs, or its owner's). The
// backend's ACL check is then the real one.
//
// The backend token is a bearer credential of the backend: it is kept
// only sealed in the store (store.GatewayStore), in plain text only in
// this process's memory while in use, and never logged.

// sealPurpose is the sealing purpose of backend tokens.
const sealPurpose = "gateway-backend-token"

// backendTokenPrefix begins the name of every backend token a gateway
// mints: an operator listing root's tokens at the backend knows them.
const backendTokenPrefix = "cpauth-gateway-"

// Tokens mints, keeps and revokes the backend tokens of narrow gateway
// WHM tokens.
type Tokens struct {
	// Records keeps the sealed backend tokens.
	Records store.GatewayStore
	// Store is the gateway's own store: its tokens and accounts.
	Store    store.Store
	Key      *secret.Key
	Backend  *Backend
	Sessions *Sessions
	Log      *slog.Logger
	Now      func() time.Time

	mem   sync.Map // tokenKey -> *minted
	locks sync.Map // tokenKey -> *sync.Mutex: one minting per gateway token
}

type tokenKey struct{ user, name string }

// minted is a backend token in use.
type minted struct {
	rec   store.BackendToken
	token string
}

// credential is the backend credential of p, a principal of a narrow
// gateway WHM token: its backend token, minted when it has none that fits.
func (t *Tokens) credential(ctx context.Context, p core.Principal) (credential, error) {
	if t.Records == nil {
		return credential{}, core.Errorf(core.KindPermission, "%s does not carry every privilege of its owner: this gateway cannot forward its calls.", p.Credential())
	}
	if len(p.ACLs.Names()) == 0 {
		// A token left with no privilege (its owner lost the ones it
		// had) has nothing to forward with: api_token_create without an
		// ACL would make a token of every privilege of its owner. The
		// answer is the backend's own for a call without the ACL.
		return credential{}, core.Errorf(core.KindPermission, "Permission denied")
	}
	m, err := t.get(ctx, p, nil)
	if err != nil {
		return credential{}, err
	}
	return t.fromMinted(p, m), nil
}

func (t *Tokens) fromMinted(p core.Principal, m *minted) credential {
	return credential{kind: "backend token", auth: "whm " + p.User + ":" + m.token,
		renew: func(ctx context.Context) (credential, error) {
			// The backend refused it (revoked or expired there): a new one.
			n, err := t.get(ctx, p, m)
			if err != nil {
				return credential{}, err
			}
			c := t.fromMinted(p, n)
			c.renew = nil
			return c, nil
		}}
}

// get returns the backend token of p's gateway token, minting one when
// there is none for this token with p's effective ACLs, or when the one
// there is stale (refused by the backend).
func (t *Tokens) get(ctx context.Context, p core.Principal, stale *minted) (*minted, error) {
	k := tokenKey{p.User, p.TokenName}
	gt, err := t.Store.GetToken(ctx, store.TokenWHM, p.User, p.TokenName)
	if err != nil {
		return nil, core.Internal(err)
	}
	acls := p.ACLs.Names()
	fits := func(m *minted) bool {
		return m != nil && (stale == nil || m.rec.BackendName != stale.rec.BackendName) &&
			m.rec.TokenCreated.Equal(gt.Created) && slices.Equal(m.rec.ACLs, acls)
	}
	if v, ok := t.mem.Load(k); ok && fits(v.(*minted)) {
		return v.(*minted), nil
	}
	lock, _ := t.locks.LoadOrStore(k, &sync.Mutex{})
	lock.(*sync.Mutex).Lock()
	defer lock.(*sync.Mutex).Unlock()
	if v, ok := t.mem.Load(k); ok && fits(v.(*minted)) {
		return v.(*minted), nil
	}
	// The store's, minted by this node before a restart or by another.
	if rec, err := t.Records.GetBackendToken(ctx, p.User, p.TokenName); err == nil {
		m, err := t.open(rec)
		if err == nil && fits(m) {
			t.mem.Store(k, m)
			return m, nil
		}
		// Stale, or of another token or other ACLs: revoked first.
		t.revoke(ctx, rec)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, core.Internal(err)
	}
	m, err := t.mint(ctx, p, gt, acls)
	if err != nil {
		return nil, err
	}
	t.mem.Store(k, m)
	return m, nil
}

// open unseals a stored backend token.
func (t *Tokens) open(rec store.BackendToken) (*minted, error) {
	raw, err := t.Key.Open(sealPurpose, rec.Sealed, aadOf(rec.Username, rec.TokenName))
	if err != nil {
		return nil, err
	}
	return &minted{rec: rec, token: string(raw)}, nil
}

func aadOf(user, name string) []byte { return []byte(user + "\x00" + name) }

// tokenData is api_token_create's data.
type tokenData struct {
	Token string `json:"token"`
}

// mint makes the backend token of gt with acls, as gt's owner.
func (t *Tokens) mint(ctx context.Context, p core.Principal, gt store.Token, acls []string) (*minted, error) {
	suffix, err := secret.RandomString(16, "abcdefghijklmnopqrstuvwxyz0123456789")
	if err != nil {
		return nil, core.Internal(err)
	}
	if len(acls) == 0 {
		return nil, core.Errorf(core.KindPermission, "Permission denied") // see credential
	}
	name := backendTokenPrefix + suffix
	args := url.Values{"token_name": {name}}
	for i, a := range acls {
		args.Set("acl-"+strconv.Itoa(i), a)
	}
	if !gt.ExpiresAt.IsZero() {
		// It ends no later than the gateway token, should the gateway
		// not be there to revoke it.
		args.Set("expires_at", strconv.FormatInt(gt.ExpiresAt.Unix(), 10))
	}
	var d tokenData
	if err := t.asOwner(ctx, p.User, "api_token_create", args, &d); err != nil {
		return nil, err
	}
	if !auth.IsTokenText(d.Token, true) {
		return nil, &Error{Failure: FailBadAnswer, Host: t.Backend.host, Timeout: t.Backend.timeout, Err: errors.New("api_token_create: no token")}
	}
	sealed, err := t.Key.Seal(sealPurpose, []byte(d.Token), aadOf(p.User, p.TokenName))
	if err != nil {
		return nil, core.Internal(err)
	}
	rec := store.BackendToken{Username: p.User, TokenName: p.TokenName, TokenCreated: gt.Created, ACLs: acls, BackendName: name, Sealed: sealed, Created: t.now()}
	m := &minted{rec: rec, token: d.Token}
	switch err := t.Records.CreateBackendToken(ctx, rec); {
	case errors.Is(err, store.ErrExists):
		// Another node minted one meanwhile: ours goes, and the next
		// call finds theirs.
		t.revoke(ctx, rec)
		if other, gerr := t.Records.GetBackendToken(ctx, p.User, p.TokenName); gerr == nil {
			if om, oerr := t.open(other); oerr == nil {
				return om, nil
			}
		}
		return m, nil // used once, then replaced
	case err != nil:
		t.revoke(ctx, rec)
		return nil, core.Internal(err)
	}
	t.log().Info("gateway: backend token minted for a narrow gateway token", "user", p.User, "token_name", p.TokenName,
		"backend_token_name", name, "acls", acls)
	return m, nil
}

// asOwner calls a WHM API 1 function on the backend as user: root with
// the gateway's root token, anyone else in its backend session.
func (t *Tokens) asOwner(ctx context.Context, user, fn string, args url.Values, out any) error {
	if user == "root" {
		return t.Backend.whm1(ctx, fn, args, out)
	}
	s, err := t.Sessions.get(ctx, user, core.ServiceWHM)
	if err != nil {
		return err
	}
	err = t.Backend.whm1With(ctx, fn, args, "", s.cookie, s.token, out)
	var be *Error
	if errors.As(err, &be) && be.Failure == FailRefused {
		if s, err = t.Sessions.renew(ctx, user, core.ServiceWHM, s); err != nil {
			return err
		}
		err = t.Backend.whm1With(ctx, fn, args, "", s.cookie, s.token, out)
	}
	return err
}

// revoke revokes rec's backend token at the backend and deletes its
// record; a revocation the backend could not make leaves the record, for
// the next Reconcile.
func (t *Tokens) revoke(ctx context.Context, rec store.BackendToken) {
	k := tokenKey{rec.Username, rec.TokenName}
	if v, ok := t.mem.Load(k); ok && v.(*minted).rec.BackendName == rec.BackendName {
		t.mem.CompareAndDelete(k, v)
	}
	err := t.asOwner(ctx, rec.Username, "api_token_revoke", url.Values{"token_name": {rec.BackendName}}, nil)
	var ae *APIError
	if err != nil && !errors.As(err, &ae) {
		t.log().Warn("gateway: revoking a backend token", "user", rec.Username, "token_name", rec.TokenName, "backend_token_name", rec.BackendName, "error", err.Error())
		return
	}
	if err := t.Records.DeleteBackendToken(ctx, rec.Username, rec.TokenName, rec.BackendName); err != nil && !errors.Is(err, store.ErrNotFound) {
		t.log().Error("gateway: deleting a revoked backend token", "user", rec.Username, "token_name", rec.TokenName, "error", err.Error())
		return
	}
	t.log().Info("gateway: backend token revoked", "user", rec.Username, "token_name", rec.TokenName, "backend_token_name", rec.BackendName)
}

// Reconcile revokes the backend tokens that no longer serve a narrow
// gateway token as minted: the gateway token revoked, expired, replaced,
// no longer narrow, or with other effective ACLs now. user limits it to
// one user's ("": every one).
func (t *Tokens) Reconcile(ctx context.Context, user string) error {
	if t.Records == nil {
		return nil
	}
	recs, err := t.Records.ListBackendTokens(ctx)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		if user != "" && rec.Username != user {
			continue
		}
		if !t.serves(ctx, rec) {
			t.revoke(ctx, rec)
		}
	}
	return nil
}

// serves reports whether rec still serves its gateway token.
func (t *Tokens) serves(ctx context.Context, rec store.BackendToken) bool {
	gt, err := t.Store.GetToken(ctx, store.TokenWHM, rec.Username, rec.TokenName)
	if err != nil || !gt.Created.Equal(rec.TokenCreated) {
		return false
	}
	if !gt.ExpiresAt.IsZero() && !t.now().Before(gt.ExpiresAt) {
		return false
	}
	// A suspended owner's tokens work nowhere while it is suspended; its
	// backend session, through which a reseller's are revoked, cannot be
	// made either: they wait.
	a, err := t.Store.GetAccount(ctx, rec.Username)
	if err != nil {
		return false
	}
	owner := auth.PrincipalFor(a).ACLs
	return auth.Narrows(owner, gt.ACLs) && slices.Equal(auth.EffectiveACLs(owner, gt.ACLs).Names(), rec.ACLs)
}

func (t *Tokens) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Tokens) log() *slog.Logger {
	if t.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return t.Log
}
