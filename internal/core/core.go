// Package core holds the vocabulary every other package shares: services,
// roles, principals and the one error type that API encoders understand.
package core

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Service is one of the three cpsrvd applications a port belongs to.
type Service int

const (
	ServiceNone Service = iota
	ServiceCPanel
	ServiceWHM
	ServiceWebmail
)

// App is cpsrvd's name for the service, as it appears in logs and in
// create_user_session ("cpaneld", "whostmgrd", "webmaild").
func (s Service) App() string {
	switch s {
	case ServiceCPanel:
		return "cpaneld"
	case ServiceWHM:
		return "whostmgrd"
	case ServiceWebmail:
		return "webmaild"
	}
	return "unknown"
}

func (s Service) String() string {
	switch s {
	case ServiceCPanel:
		return "cpanel"
	case ServiceWHM:
		return "whm"
	case ServiceWebmail:
		return "webmail"
	}
	return "none"
}

// Ports names the plain and TLS ports a service is normally served on, for
// error messages that tell a caller where to go.
func (s Service) Ports() (plain, tls int) {
	switch s {
	case ServiceCPanel:
		return 2082, 2083
	case ServiceWHM:
		return 2086, 2087
	case ServiceWebmail:
		return 2095, 2096
	}
	return 0, 0
}

// Role is what kind of identity a principal is.
type Role int

const (
	RoleNone Role = iota
	RoleRoot
	RoleReseller // a cPanel account with reseller privileges
	RoleCPanel   // a plain cPanel account
	RoleWebmail  // an email account (local@domain)
)

func (r Role) String() string {
	switch r {
	case RoleRoot:
		return "root"
	case RoleReseller:
		return "reseller"
	case RoleCPanel:
		return "cpanel"
	case RoleWebmail:
		return "webmail"
	}
	return "none"
}

// Method names how a principal authenticated.
type Method string

const (
	MethodPassword   Method = "password"
	MethodAccessHash Method = "accesshash"
	MethodToken      Method = "token"
	MethodSession    Method = "session" // a browser session: cookie and security token
	MethodLocal      Method = "local"   // the command-line twins, running as root
	// MethodSSO is the redemption of a one-time session (single sign-on,
	// Webmail hand-off, secure remote login URLs).
	MethodSSO Method = "sso"
	// MethodTwoFactor is a two-factor code (or recovery code) checked after
	// the first factor.
	MethodTwoFactor Method = "2fa"
	// MethodWebAuthn is a passkey or security key (a WebAuthn assertion):
	// the second factor, or the only one of a passwordless login.
	MethodWebAuthn Method = "webauthn"
)

// Principal is an authenticated identity for the length of one request.
type Principal struct {
	User    string // login name: cPanel username, "root", or local@domain
	Role    Role
	Method  Method
	Service Service
	// Account is the cPanel account the principal acts in: the user itself
	// for cPanel accounts and resellers, the owning account for webmail users,
	// empty for root.
	Account string
	// ACLs holds the WHM privileges in force for this request (root: "all").
	// It is read-only: principals may share one set (every root principal
	// does), so a set that differs is a new one (see auth.EffectiveACLs).
	ACLs ACLSet
	// TokenName names the API token that authenticated the request.
	TokenName string
	// ReadOnly principals may call only read-only functions (read-only
	// cPanel API tokens).
	ReadOnly bool
	// Session is the IDHash of the session that authenticated the request
	// ("" for every other method), so that a password change made through
	// a session can keep that one session.
	Session string
	// Bounds are the limits of the API token that authenticated the
	// request (the zero value for every other method): whatever the
	// request makes is held within them (D24, D25).
	Bounds Bounds
}

// Bounds are what narrows an API token below its owner: an expiry, an
// address list, a two-factor requirement, and ACLs (WHM) or read-only
// (cPanel) that do not cover everything its owner may do. A principal
// acting inside an account for a WHM caller carries its caller's bounds.
type Bounds struct {
	// Expires is when the token stops working (zero: never).
	Expires time.Time
	// Addresses are the addresses and CIDR ranges the token works from
	// (nil: any). Shared with the token's record: read-only.
	Addresses []string
	// RequireOTP: the owner's two-factor code is needed with the token.
	RequireOTP bool
	// Narrowed: the token's ACLs lack one of its owner's privileges, or it
	// is a read-only cPanel token.
	Narrowed bool
}

// Limited reports whether anything bounds the credential.
func (b Bounds) Limited() bool {
	return !b.Expires.IsZero() || len(b.Addresses) > 0 || b.RequireOTP || b.Narrowed
}

// Lacks lists, in words for a refusal, the limits a credential has that
// one without any limit would not: "an expiry", "an address list", ...
func (b Bounds) Lacks() string {
	var parts []string
	if b.Narrowed {
		parts = append(parts, "does not carry every privilege of its owner")
	}
	if !b.Expires.IsZero() {
		parts = append(parts, "expires")
	}
	if len(b.Addresses) > 0 {
		parts = append(parts, "is limited to an address list")
	}
	if b.RequireOTP {
		parts = append(parts, "requires a two-factor code")
	}
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// Credential names, for a refusal, the credential that authenticated the
// request: its API token, or the session made through one.
func (p Principal) Credential() string {
	switch {
	case p.TokenName != "":
		return "The API token “" + p.TokenName + "”"
	case p.Method == MethodSession:
		return "This session, made through an API token,"
	}
	return "This credential"
}

// HasACL reports whether the principal holds a WHM privilege.
func (p Principal) HasACL(name string) bool { return p.ACLs.Has(name) }

// IsRootLike reports whether the principal holds every WHM privilege.
func (p Principal) IsRootLike() bool { return p.ACLs.Has(ACLAll) }

// Kind classifies errors for the API encoders and the HTTP layer.
type Kind int

const (
	KindOther Kind = iota
	KindInvalid
	KindNotFound
	KindExists
	KindPermission
	KindUnauthenticated
	KindInternal
)

func (k Kind) String() string {
	switch k {
	case KindInvalid:
		return "invalid"
	case KindNotFound:
		return "not found"
	case KindExists:
		return "exists"
	case KindPermission:
		return "permission"
	case KindUnauthenticated:
		return "unauthenticated"
	case KindInternal:
		return "internal"
	}
	return "other"
}

// Error is the error API functions return. Msg is shown to the caller; Err is
// for the log only and never reaches a client.
type Error struct {
	Kind Kind
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error shown to the caller.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Internal wraps an unexpected failure: the caller sees a generic message,
// the log sees err.
func Internal(err error) *Error {
	return &Error{Kind: KindInternal, Msg: "The system experienced an internal error.", Err: err}
}

// KindOf returns the Kind of err, KindInternal for foreign errors.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// Message returns what a caller may see of err.
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Msg
	}
	return "The system experienced an internal error."
}
