package api

import (
	"context"
	"fmt"
	"sort"

	"github.com/cpauth/cpauth/internal/core"
)

// Access says who may call a function.
type Access int

const (
	// AnyWHM: any root or reseller principal (version, applist, myprivs).
	AnyWHM Access = iota + 1
	// NeedACL: root, or a reseller holding Func.ACL.
	NeedACL
	// RootOnly: principals holding "all".
	RootOnly
	// Account: a cPanel account (and, if WebmailSafe, a webmail user).
	Account
)

func (a Access) String() string {
	switch a {
	case AnyWHM:
		return "any WHM user"
	case NeedACL:
		return "WHM user with the ACL"
	case RootOnly:
		return "root (all)"
	case Account:
		return "cPanel account"
	}
	return "undeclared"
}

// Mint says which credential a function makes, changes or hands out: what
// a call through an API token must not make stronger than the token (D24).
type Mint int

const (
	// MintNothing: the function makes or changes no credential.
	MintNothing Mint = iota + 1
	// MintToken: an API token, bounded by the calling token's expiry,
	// address list, OTP requirement and ACLs (checked by the function on
	// the token it makes: CreateToken and updateToken).
	MintToken
	// MintAccessHash: an access hash, made or read: a credential without
	// any limit, so only a token that has none may reach it.
	MintAccessHash
	// MintSession: a session or a one-time login URL. A narrowed token
	// may not make one; the others' limits travel with the session.
	MintSession
	// MintTwoFactor: a two-factor configuration or policy. A narrowed
	// token may not change one.
	MintTwoFactor
	// MintPassword: the password of an existing login. A narrowed token
	// may not change one.
	MintPassword
	// MintAccount: a new account with its first password; nothing in it
	// predates the call, so the ACL that allows it is enough.
	MintAccount
	// MintPasskey: a passkey or security key removed, or passwordless
	// sign-in turned on or off (which makes a passkey a credential on its
	// own). No API function registers a passkey: that takes a browser. A
	// narrowed token may not change one.
	MintPasskey
)

func (m Mint) String() string {
	switch m {
	case MintNothing:
		return "nothing"
	case MintToken:
		return "API token"
	case MintAccessHash:
		return "access hash"
	case MintSession:
		return "session"
	case MintTwoFactor:
		return "two-factor settings"
	case MintPassword:
		return "password"
	case MintAccount:
		return "new account"
	case MintPasskey:
		return "passkey"
	}
	return "undeclared"
}

// Func is one registered API function and its authorization: who may call
// it (Access, ACL), whether it runs inside another account (InAccount),
// which credential it makes (Mints), whether it changes anything
// (ReadOnly) and whether Webmail may call it (WebmailSafe). Authorize
// enforces all of it, in one place, before the handler runs; Register
// refuses a function that does not declare it.
type Func struct {
	Flavour Flavour
	Module  string
	Name    string
	Access  Access
	ACL     string
	// InAccount functions act inside a cPanel account for a WHM caller
	// (uapi_cpanel, create_user_session): every power over that account,
	// so a narrowed token may not call them (D25).
	InAccount bool
	// Mints is the credential the function makes or changes (D24).
	Mints Mint
	// WebmailSafe functions may run inside a Webmail session (D4).
	WebmailSafe bool
	// ReadOnly functions change nothing (read-only tokens may call them).
	ReadOnly bool
	Handler  Handler
}

// FullName is "Module::func" or "func".
func (f *Func) FullName() string {
	if f.Module == "" {
		return f.Name
	}
	return f.Module + "::" + f.Name
}

type key struct {
	f      Flavour
	module string
	name   string
}

// Registry is the table of every function by flavour, module and name.
type Registry struct {
	m map[key]*Func
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{m: map[key]*Func{}} }

// Register adds functions; it panics on a duplicate (a programming error
// found at start-up by every test).
func (r *Registry) Register(fs ...*Func) {
	for _, f := range fs {
		k := key{f.Flavour, f.Module, f.Name}
		if _, dup := r.m[k]; dup {
			panic(fmt.Sprintf("api: %s %s registered twice", f.Flavour, f.FullName()))
		}
		if err := f.declared(); err != nil {
			panic(fmt.Sprintf("api: %s %s: %v", f.Flavour, f.FullName(), err))
		}
		r.m[k] = f
	}
}

// Lookup finds a function.
func (r *Registry) Lookup(fl Flavour, module, name string) (*Func, bool) {
	f, ok := r.m[key{fl, module, name}]
	return f, ok
}

// HasModule reports whether any function of the flavour lives in module.
func (r *Registry) HasModule(fl Flavour, module string) bool {
	for k := range r.m {
		if k.f == fl && k.module == module {
			return true
		}
	}
	return false
}

// All lists every function sorted by flavour, module and name.
func (r *Registry) All() []*Func {
	out := make([]*Func, 0, len(r.m))
	for _, f := range r.m {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Flavour != b.Flavour {
			return a.Flavour < b.Flavour
		}
		if a.Module != b.Module {
			return a.Module < b.Module
		}
		return a.Name < b.Name
	})
	return out
}

// declared says what is missing from a function's authorization.
func (f *Func) declared() error {
	switch {
	case f.Handler == nil:
		return fmt.Errorf("no handler")
	case f.Access < AnyWHM || f.Access > Account:
		return fmt.Errorf("declares no Access (who may call it)")
	case f.Access == NeedACL && f.ACL == "":
		return fmt.Errorf("needs an ACL name")
	case f.Access != NeedACL && f.ACL != "":
		return fmt.Errorf("names an ACL but does not need one")
	case f.Mints < MintNothing || f.Mints > MintPasskey:
		return fmt.Errorf("declares no Mints (which credential it makes: MintNothing when none)")
	case f.Flavour == WHM1 && f.Access == Account, f.Flavour != WHM1 && f.Access != Account:
		return fmt.Errorf("Access %v does not fit its API", f.Access)
	case f.InAccount && f.Flavour != WHM1:
		return fmt.Errorf("InAccount is for WHM functions that act inside a cPanel account")
	case f.WebmailSafe && f.Flavour == WHM1:
		return fmt.Errorf("WHM functions never run inside Webmail")
	case f.ReadOnly && f.Mints != MintNothing:
		return fmt.Errorf("a function that makes a credential is not read-only")
	}
	return nil
}

// Permitted checks the function's declared authorization against the
// principal: role and ACL, read-only tokens, Webmail, and the rules for
// credentials a call through an API token may reach (D24, D25). It
// returns nil or a KindPermission error whose message says why.
func (f *Func) Permitted(p core.Principal) error {
	if p.ReadOnly && !f.ReadOnly {
		return core.Errorf(core.KindPermission, "The API token “%s” is read-only: it cannot call %s, which changes data.", p.TokenName, f.FullName())
	}
	if f.Flavour != WHM1 && inWebmail(p) && !f.WebmailSafe {
		return core.Errorf(core.KindPermission, "Execution of %s::%s (api version:%d) is not permitted inside of webmail", f.Module, f.Name, f.Flavour.apiVersion())
	}
	if !f.roleFits(p) {
		return core.Errorf(core.KindPermission, "Permission denied")
	}
	if f.InAccount && p.Bounds.Narrowed {
		return core.Errorf(core.KindPermission, "%s does not carry every privilege of its owner: it cannot call %s, which acts inside a cPanel account.", p.Credential(), f.FullName())
	}
	return MayMint(p, f.Mints, f.FullName())
}

// MayMint applies D24's coarse rules to a principal about to make a
// credential of kind m through what: an access hash only through a
// credential without limits holding "all"; sessions, two-factor settings,
// passwords and passkeys only through a token that is not narrowed. The finer
// bounds of tokens made through tokens are the token functions' own.
//
// The bounds are those of the API token behind the request: the token
// itself, a cPanel account acted in for it, or a session made through it.
func MayMint(p core.Principal, m Mint, what string) error {
	switch m {
	case MintAccessHash:
		if p.Method == core.MethodToken && !p.IsRootLike() {
			return core.Errorf(core.KindPermission, "%s does not hold “all”: it cannot call %s, which makes or reads an access hash (a credential without limits).", p.Credential(), what)
		}
		if p.Bounds.Limited() {
			return core.Errorf(core.KindPermission, "%s %s: it cannot call %s, which makes or reads an access hash (a credential without limits).", p.Credential(), p.Bounds.Lacks(), what)
		}
	case MintSession, MintTwoFactor, MintPassword, MintPasskey:
		if p.Bounds.Narrowed {
			return core.Errorf(core.KindPermission, "%s does not carry every privilege of its owner: it cannot call %s, which makes or changes a %s.", p.Credential(), what, m)
		}
	}
	return nil
}

// ActInside checks that p may act inside a cPanel account for a WHM
// caller (D25): every power over the account, so not through a narrowed
// token.
func ActInside(p core.Principal, user string) error {
	if p.Bounds.Narrowed {
		return core.Errorf(core.KindPermission, "%s does not carry every privilege of its owner: it cannot act inside the account “%s”.", p.Credential(), user)
	}
	return nil
}

// inWebmail reports whether a call runs inside Webmail: a webmail user
// anywhere, or a cPanel account that logged in on a Webmail port (D4).
func inWebmail(p core.Principal) bool {
	return p.Role == core.RoleWebmail || p.Service == core.ServiceWebmail
}

func (f Flavour) apiVersion() int {
	if f == API2 {
		return 2
	}
	return 3
}

// roleFits checks Access and ACL.
func (f *Func) roleFits(p core.Principal) bool {
	switch f.Access {
	case AnyWHM:
		return p.Role == core.RoleRoot || p.Role == core.RoleReseller
	case NeedACL:
		return (p.Role == core.RoleRoot || p.Role == core.RoleReseller) && p.HasACL(f.ACL)
	case RootOnly:
		return (p.Role == core.RoleRoot || p.Role == core.RoleReseller) && p.HasACL(core.ACLAll)
	case Account:
		return p.Role == core.RoleCPanel || p.Role == core.RoleReseller || p.Role == core.RoleWebmail && f.WebmailSafe
	}
	return false
}

// Call runs the function after the authorization check.
func (f *Func) Call(ctx context.Context, c *Call) (*Result, error) {
	if err := f.Permitted(c.Principal); err != nil {
		return nil, err
	}
	res, err := f.Handler(ctx, c)
	if err == nil && res == nil {
		res = &Result{}
	}
	return res, err
}
