package functions

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/sessions"
	"github.com/cpauth/cpauth/internal/settings"
	"github.com/cpauth/cpauth/internal/store"
)

// Passkeys and security keys (WebAuthn): cpauth's own WHM API 1 passkey_*
// functions and UAPI Passkeys module. They list, rename and remove a
// user's credentials and turn passwordless sign-in on or off; none
// registers one, since that takes a browser (the two-factor page). A
// passkey is named by its credential ID in base64url, the id a browser's
// PublicKeyCredential reports: opaque, URL-safe, never the public key.
//
// Removing a passkey, or turning passwordless sign-in on, takes the
// account password again or a current second factor (D26), except for
// root (or a holder of "all") acting on another user, and the command line. Removal and the passwordless switch
// change what signs a user in, so a narrowed token may call neither
// (api.MintPasskey, D24); renaming changes a label only (MintNothing).

func (e *Env) registerPasskeys(r *api.Registry) {
	r.Register(
		&api.Func{Flavour: api.WHM1, Name: "passkey_list", Access: api.AnyWHM, ReadOnly: true, Mints: api.MintNothing, Handler: e.passkeyListWHM},
		&api.Func{Flavour: api.WHM1, Name: "passkey_remove", Access: api.AnyWHM, Mints: api.MintPasskey, Handler: e.passkeyRemoveWHM},
		// A new name changes nothing a passkey can do.
		&api.Func{Flavour: api.WHM1, Name: "passkey_rename", Access: api.AnyWHM, Mints: api.MintNothing, Handler: e.passkeyRenameWHM},
		&api.Func{Flavour: api.WHM1, Name: "passkey_set_passwordless", Access: api.AnyWHM, Mints: api.MintPasskey, Handler: e.passkeyPasswordlessWHM},

		&api.Func{Flavour: api.UAPI, Module: "Passkeys", Name: "list", Access: api.Account, WebmailSafe: true, ReadOnly: true, Mints: api.MintNothing, Handler: e.passkeyListUAPI},
		&api.Func{Flavour: api.UAPI, Module: "Passkeys", Name: "remove", Access: api.Account, WebmailSafe: true, Mints: api.MintPasskey, Handler: e.passkeyRemoveUAPI},
		&api.Func{Flavour: api.UAPI, Module: "Passkeys", Name: "rename", Access: api.Account, WebmailSafe: true, Mints: api.MintNothing, Handler: e.passkeyRenameUAPI},
		&api.Func{Flavour: api.UAPI, Module: "Passkeys", Name: "set_passwordless", Access: api.Account, WebmailSafe: true, Mints: api.MintPasskey, Handler: e.passkeyPasswordlessUAPI},
	)
}

// MaxPasskeyNameLen bounds a passkey's name, in characters (as the pages
// do).
const MaxPasskeyNameLen = store.MaxPasskeyNameLen

// maxPasskeyIDText bounds the id argument before it is decoded: the
// base64url form of store.MaxPasskeyIDLen bytes, with padding.
var maxPasskeyIDText = base64.URLEncoding.EncodedLen(store.MaxPasskeyIDLen)

// passkeyHandleLen is the length of a random WebAuthn user handle made
// when passwordless sign-in is first turned on through the API.
const passkeyHandleLen = 32

// PasskeyID is how the functions show a credential ID.
func PasskeyID(raw []byte) string { return base64.RawURLEncoding.EncodeToString(raw) }

// ParsePasskeyID reads an id as the functions show it (base64url; padding
// is tolerated, as some clients add it).
func ParsePasskeyID(s string) ([]byte, error) {
	if s == "" {
		return nil, required("id")
	}
	bad := core.Errorf(core.KindInvalid, "The “id” parameter is not a passkey id: give the id that passkey_list (or Passkeys::list) shows.")
	if len(s) > maxPasskeyIDText {
		return nil, bad
	}
	trimmed := strings.TrimRight(s, "=")
	// The decoder skips CR and LF: only the alphabet itself is an id.
	if len(s)-len(trimmed) > 2 || strings.ContainsFunc(trimmed, func(r rune) bool {
		return !('A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '_')
	}) {
		return nil, bad
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(trimmed)
	if err != nil || len(raw) == 0 || len(raw) > store.MaxPasskeyIDLen {
		return nil, bad
	}
	return raw, nil
}

// CheckPasskeyName normalises a passkey's name (store.PasskeyName), or
// says what a name may be.
func CheckPasskeyName(name string) (string, error) {
	if n, ok := store.PasskeyName(name); ok {
		return n, nil
	}
	return "", core.Errorf(core.KindInvalid, "A passkey's name has 1 to %d characters, without control characters.", MaxPasskeyNameLen)
}

// passkeyView is one passkey as the functions list it.
func passkeyView(p store.Passkey) map[string]any {
	kind := p.Kind
	if kind == "" {
		kind = "unknown"
	}
	return map[string]any{
		"id":              PasskeyID(p.ID),
		"name":            p.Name,
		"created":         p.Created.Unix(),
		"last_used":       epochOrNil(p.LastUsed),
		"last_used_ip":    stringOrNil(p.LastUsedIP),
		"kind":            kind,
		"backup_eligible": fmtBool(p.BackupEligible),
		"backed_up":       fmtBool(p.BackupState),
		"clone_warning":   fmtBool(p.CloneWarning),
	}
}

// passkeyTarget is whose passkeys a WHM call is about: the "user"
// argument (default the caller) — an account, or a mailbox as
// local@domain — which the caller must manage (root any; a reseller its
// own accounts, their mailboxes and itself). Unknown and not-yours look
// the same, so a reseller cannot probe for names.
func (e *Env) passkeyTarget(ctx context.Context, c *api.Call) (tfaUser, error) {
	name := c.Args.Get("user")
	if name == "" || name == c.Principal.User {
		return ownTFAUser(c.Principal), nil
	}
	local, domain, ok := strings.Cut(name, "@")
	if !ok {
		a, err := e.managedAccount(ctx, c.Principal, name)
		if err != nil {
			return tfaUser{}, err
		}
		return tfaUser{User: a.Username, Account: a.Username}, nil
	}
	// Addresses are kept in lower case (D27): Info@Bob.TEST is info@bob.test.
	m, err := e.Store.GetMailbox(ctx, strings.ToLower(local), strings.ToLower(domain))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return tfaUser{}, noSuchUser(name)
	case err != nil:
		return tfaUser{}, core.Internal(err)
	}
	if _, err := e.managedAccount(ctx, c.Principal, m.Account); err != nil {
		return tfaUser{}, noSuchUser(name)
	}
	return tfaUser{User: m.Address(), Account: m.Account}, nil
}

// passkeyRemover is passkeyTarget for passkey_remove: another user's
// passkeys are only root's to remove without that user's proof, as with
// two-factor settings (twofactorauth_remove_user_config). A reseller
// removes its accounts' through Passkeys::remove inside the account, with
// the account's proof.
func (e *Env) passkeyRemover(ctx context.Context, c *api.Call) (tfaUser, error) {
	u, err := e.passkeyTarget(ctx, c)
	if err != nil {
		return u, err
	}
	if u.User != c.Principal.User && !c.Principal.IsRootLike() {
		return tfaUser{}, core.Errorf(core.KindPermission, "Only root may remove the passkeys of another user: “%s” can do it on their own two-factor page.", clip(u.User))
	}
	return u, nil
}

// listPasskeys is the data of passkey_list and Passkeys::list.
func (e *Env) listPasskeys(ctx context.Context, u tfaUser) (map[string]any, error) {
	list, err := e.Store.ListPasskeys(ctx, u.User)
	if err != nil {
		return nil, core.Internal(err)
	}
	pl, err := e.passwordless(ctx, u.User)
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(list))
	for _, p := range list {
		out = append(out, passkeyView(p))
	}
	return map[string]any{"user": u.User, "passwordless": fmtBool(pl), "passkeys": out}, nil
}

func (e *Env) passwordless(ctx context.Context, user string) (bool, error) {
	pu, err := e.Store.GetPasskeyUser(ctx, user)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, core.Internal(err)
	}
	return pu.Passwordless, nil
}

// ownedPasskey returns u's passkey of the id argument. Another user's
// passkey is answered as an unknown id.
func (e *Env) ownedPasskey(ctx context.Context, u tfaUser, arg string) (store.Passkey, error) {
	id, err := ParsePasskeyID(arg)
	if err != nil {
		return store.Passkey{}, err
	}
	p, err := e.Store.GetPasskey(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound), err == nil && p.Username != u.User:
		return store.Passkey{}, noSuchPasskey(u.User, arg)
	case err != nil:
		return store.Passkey{}, core.Internal(err)
	}
	return p, nil
}

func noSuchPasskey(user, id string) error {
	return core.Errorf(core.KindNotFound, "“%s” has no passkey with the id “%s”.", clip(user), clip(id))
}

// renamePasskey gives u's passkey of id a new name.
func (e *Env) renamePasskey(ctx context.Context, c *api.Call, u tfaUser) (map[string]any, error) {
	name, ok := c.Args.Lookup("name")
	if !ok {
		return nil, required("name")
	}
	name, err := CheckPasskeyName(name)
	if err != nil {
		return nil, err
	}
	p, err := e.ownedPasskey(ctx, u, c.Args.Get("id"))
	if err != nil {
		return nil, err
	}
	previous := ""
	q, err := e.Store.UpdatePasskey(ctx, p.ID, func(p store.Passkey) (store.Passkey, error) {
		if p.Username != u.User {
			return p, store.ErrNotFound
		}
		previous, p.Name = p.Name, name
		return p, nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, noSuchPasskey(u.User, c.Args.Get("id"))
	case errors.Is(err, store.ErrExists):
		return nil, core.Errorf(core.KindExists, "“%s” has a passkey named “%s” already.", clip(u.User), clip(name))
	case err != nil:
		return nil, core.Internal(err)
	}
	e.Log.Info("passkey renamed", "user", u.User, "name", q.Name, "previous_name", previous, "passkey", PasskeyID(q.ID), "actor", actorOf(c))
	return map[string]any{"user": u.User, "id": PasskeyID(q.ID), "name": q.Name, "previous_name": previous}, nil
}

// removePasskey removes u's passkey of id, once the caller has proved it
// may (provePasskeyChange).
func (e *Env) removePasskey(ctx context.Context, c *api.Call, u tfaUser) (map[string]any, error) {
	p, err := e.ownedPasskey(ctx, u, c.Args.Get("id"))
	if err != nil {
		return nil, err
	}
	// The policy first: a refused removal must not spend a recovery code.
	if err := e.keepsRequiredPasskey(ctx, c, u, p); err != nil {
		return nil, err
	}
	if err := e.provePasskeyChange(ctx, c, u, "Removing a passkey"); err != nil {
		return nil, err
	}
	switch err := e.Store.DeletePasskey(ctx, p.ID); {
	case errors.Is(err, store.ErrNotFound):
		return nil, noSuchPasskey(u.User, c.Args.Get("id"))
	case err != nil:
		return nil, core.Internal(err)
	}
	e.Log.Info("passkey removed", "user", u.User, "name", p.Name, "passkey", PasskeyID(p.ID), "actor", actorOf(c))
	// Every session the passkey made or verified ends with it, on every
	// node (the caller's own too, when it is one of them).
	ended, err := e.Store.DeletePasskeySessions(ctx, p.ID)
	if err != nil {
		return nil, core.Internal(err)
	}
	e.logEnded(ended, sessions.PurgePasskeyRemoved)
	if len(ended) > 0 {
		e.Log.Info("sessions ended", "user", u.User, "sessions", len(ended), "reason", sessions.PurgePasskeyRemoved, "passkey_name", p.Name)
	}
	left, err := e.Store.ListPasskeys(ctx, u.User)
	if err != nil {
		return nil, core.Internal(err)
	}
	pl, err := e.passwordless(ctx, u.User)
	if err != nil {
		return nil, err
	}
	return map[string]any{"user": u.User, "removed": passkeyView(p), "remaining": len(left), "passwordless": fmtBool(pl),
		"sessions_ended": len(ended)}, nil
}

// provePasskeyChange checks what removing a passkey, or turning
// passwordless sign-in on, takes (D26's rule): a current two-factor code
// or recovery code (current_tfa_token), or the password of the user again;
// root (or a holder of "all") acting on another user and the command line
// skip it. what names the change in the refusal ("Removing a passkey"). A
// passkey cannot prove a change through the API: an assertion needs a
// browser.
func (e *Env) provePasskeyChange(ctx context.Context, c *api.Call, u tfaUser, what string) error {
	if overridesTwoFactor(c, u) {
		return nil
	}
	switch code, password := c.Args.Get("current_tfa_token"), c.Args.Get("password"); {
	case code != "":
		none, err := e.checkCurrentCode(ctx, c, u, code)
		if none {
			return core.Errorf(core.KindInvalid, "“%s” has no two-factor authentication set up: give the password (password) instead of current_tfa_token.", clip(u.User))
		}
		return err
	case password != "":
		if !e.checkOwnPassword(ctx, c, u, password) {
			return core.Errorf(core.KindPermission, "The password of “%s” is incorrect.", clip(u.User))
		}
		return nil
	}
	return core.Errorf(core.KindPermission, "%s takes the password of “%s” again (password), or a current security code or recovery code of its two-factor authentication (current_tfa_token).", what, clip(u.User))
}

// keepsRequiredPasskey refuses to remove the last usable passkey of a user
// whose WHM logins the phishing-resistant policy makes need one (root
// under require_passkey_root, a reseller under require_passkey_resellers),
// as the two-factor page does: root could no longer log in to WHM. The
// command line may (it can turn the policy off as well).
func (e *Env) keepsRequiredPasskey(ctx context.Context, c *api.Call, u tfaUser, p store.Passkey) error {
	caller := c.Principal
	if c.Caller != nil {
		caller = *c.Caller
	}
	if caller.Method == core.MethodLocal {
		return nil
	}
	req, err := auth.PasskeyRequired(ctx, e.Store, u.User, core.ServiceWHM)
	if err != nil {
		return core.Internal(err)
	}
	if !req {
		return nil
	}
	list, err := e.Store.ListPasskeys(ctx, u.User)
	if err != nil {
		return core.Internal(err)
	}
	for _, o := range list {
		if !o.CloneWarning && !bytes.Equal(o.ID, p.ID) {
			return nil
		}
	}
	key := settings.RequirePasskeyResellers
	if u.User == "root" {
		key = settings.RequirePasskeyRoot
	}
	return core.Errorf(core.KindPermission, "“%s” must keep a passkey while the phishing-resistant policy (%s) is on: this is the last one. Add another passkey first, or turn the policy off.", clip(u.User), key)
}

// checkOwnPassword checks u's password through the brute-force regulator,
// as a login would: a wrong one counts.
func (e *Env) checkOwnPassword(ctx context.Context, c *api.Call, u tfaUser, password string) bool {
	g := e.guard()
	svc := c.Principal.Service
	att := auth.Attempt{Service: svc, Remote: c.Remote, User: u.User, Method: core.MethodPassword, Secret: password}
	if ok, why := g.Admit(ctx, att); !ok {
		e.Log.Warn("password check refused", "user", u.User, "remote", c.Remote.String(), "reason", why)
		return false
	}
	const reason = "password incorrect (a passkey change)"
	if auth.HasControl(password) || len(password) > secret.MaxPasswordLen {
		g.Failed(ctx, att, reason)
		return false
	}
	pw := e.Passwords
	if pw == nil {
		pw = &auth.Password{Store: e.Store, Hasher: e.Hasher, Log: e.Log}
	}
	id, err := auth.Lookup(ctx, e.Store, u.User)
	if err != nil {
		g.Failed(ctx, att, reason)
		return false
	}
	switch err := pw.Verify(ctx, id, svc, password); {
	case errors.Is(err, auth.ErrBusy), errors.Is(err, auth.ErrNotChecked):
		// Not checked, so not counted (auth.StoreFailure says why).
		e.Log.Warn("password check refused", "user", u.User, "remote", c.Remote.String(), "reason", "password not checked")
		return false
	case err != nil:
		g.Failed(ctx, att, reason)
		return false
	}
	g.Succeeded(ctx, att)
	return true
}

// setPasswordless turns passwordless sign-in on or off for u. Turning it
// on takes a passkey that may be used (one without a clone warning), and
// the proof of provePasskeyChange.
func (e *Env) setPasswordless(ctx context.Context, c *api.Call, u tfaUser) (map[string]any, error) {
	v, ok := c.Args.Lookup("enabled")
	if !ok {
		return nil, required("enabled")
	}
	var on bool
	switch strings.TrimSpace(v) {
	case "1":
		on = true
	case "0":
	default:
		return nil, core.Errorf(core.KindInvalid, "The “enabled” parameter must be 1 (on) or 0 (off), not “%s”.", clip(v))
	}
	if on {
		usable, err := auth.HasPasskey(ctx, e.Store, u.User)
		if err != nil {
			return nil, core.Internal(err)
		}
		if !usable {
			return nil, core.Errorf(core.KindInvalid, "“%s” has no passkey to sign in with: register one on the two-factor page first.", clip(u.User))
		}
		// Turning it on makes a passkey a way in on its own: one that
		// someone with a stolen session or token may have added. It
		// takes the proof a removal takes (turning it off does not).
		already, err := e.passwordless(ctx, u.User)
		if err != nil {
			return nil, err
		}
		if !already {
			if err := e.provePasskeyChange(ctx, c, u, "Turning passwordless sign-in on"); err != nil {
				return nil, err
			}
		}
	}
	if _, err := e.passkeyUser(ctx, u); err != nil {
		return nil, err
	}
	var before bool
	_, err := e.Store.UpdatePasskeyUser(ctx, u.User, func(pu store.PasskeyUser) (store.PasskeyUser, error) {
		before, pu.Passwordless = pu.Passwordless, on
		return pu, nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, noSuchUser(u.User)
	case err != nil:
		return nil, core.Internal(err)
	}
	if before != on {
		e.Log.Info("passwordless sign-in changed", "user", u.User, "on", on, "actor", actorOf(c))
	}
	return map[string]any{"user": u.User, "passwordless": fmtBool(on), "previous": fmtBool(before)}, nil
}

// passkeyUser returns u's WebAuthn user record, making it (with a random
// user handle, never the login name) when it has none.
func (e *Env) passkeyUser(ctx context.Context, u tfaUser) (store.PasskeyUser, error) {
	pu, err := e.Store.GetPasskeyUser(ctx, u.User)
	switch {
	case err == nil:
		return pu, nil
	case !errors.Is(err, store.ErrNotFound):
		return pu, core.Internal(err)
	}
	h := make([]byte, passkeyHandleLen)
	if _, err := rand.Read(h); err != nil {
		return pu, core.Internal(err)
	}
	pu = store.PasskeyUser{Username: u.User, Account: u.Account, Handle: h, Created: e.now()}
	switch err := e.Store.CreatePasskeyUser(ctx, pu); {
	case err == nil:
		return pu, nil
	case errors.Is(err, store.ErrExists):
		// Made meanwhile by another request: use what is stored.
		pu, err = e.Store.GetPasskeyUser(ctx, u.User)
		if err != nil {
			return pu, core.Internal(err)
		}
		return pu, nil
	case errors.Is(err, store.ErrNotFound):
		return pu, noSuchUser(u.User)
	default:
		return pu, core.Internal(err)
	}
}

// ---------------------------------------------------------------------------
// WHM API 1.

func (e *Env) passkeyListWHM(ctx context.Context, c *api.Call) (*api.Result, error) {
	u, err := e.passkeyTarget(ctx, c)
	if err != nil {
		return nil, err
	}
	d, err := e.listPasskeys(ctx, u)
	if err != nil {
		return nil, err
	}
	return &api.Result{Data: d}, nil
}

func (e *Env) passkeyRemoveWHM(ctx context.Context, c *api.Call) (*api.Result, error) {
	u, err := e.passkeyRemover(ctx, c)
	if err != nil {
		return nil, err
	}
	d, err := e.removePasskey(ctx, c, u)
	if err != nil {
		return nil, err
	}
	return &api.Result{Data: d}, nil
}

func (e *Env) passkeyRenameWHM(ctx context.Context, c *api.Call) (*api.Result, error) {
	u, err := e.passkeyTarget(ctx, c)
	if err != nil {
		return nil, err
	}
	d, err := e.renamePasskey(ctx, c, u)
	if err != nil {
		return nil, err
	}
	return &api.Result{Data: d}, nil
}

// passkeyPasswordlessWHM: whoever manages the user may switch (root, or a
// reseller for its own accounts, as inside the account through
// uapi_cpanel, D25), with a credential that is not narrowed; turning it on
// takes the user's proof unless root does it for another user.
func (e *Env) passkeyPasswordlessWHM(ctx context.Context, c *api.Call) (*api.Result, error) {
	u, err := e.passkeyTarget(ctx, c)
	if err != nil {
		return nil, err
	}
	d, err := e.setPasswordless(ctx, c, u)
	if err != nil {
		return nil, err
	}
	return &api.Result{Data: d}, nil
}

// ---------------------------------------------------------------------------
// UAPI Passkeys: the account's (or the Webmail user's) own.

func (e *Env) passkeyListUAPI(ctx context.Context, c *api.Call) (*api.Result, error) {
	d, err := e.listPasskeys(ctx, ownTFAUser(c.Principal))
	if err != nil {
		return nil, err
	}
	return &api.Result{Data: d}, nil
}

func (e *Env) passkeyRemoveUAPI(ctx context.Context, c *api.Call) (*api.Result, error) {
	d, err := e.removePasskey(ctx, c, ownTFAUser(c.Principal))
	if err != nil {
		return nil, err
	}
	return &api.Result{Data: d}, nil
}

func (e *Env) passkeyRenameUAPI(ctx context.Context, c *api.Call) (*api.Result, error) {
	d, err := e.renamePasskey(ctx, c, ownTFAUser(c.Principal))
	if err != nil {
		return nil, err
	}
	return &api.Result{Data: d}, nil
}

func (e *Env) passkeyPasswordlessUAPI(ctx context.Context, c *api.Call) (*api.Result, error) {
	d, err := e.setPasswordless(ctx, c, ownTFAUser(c.Principal))
	if err != nil {
		return nil, err
	}
	return &api.Result{Data: d}, nil
}
