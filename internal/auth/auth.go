// Package auth is the authentication chain: each method recognises its own
// credential and turns it into a core.Principal; no SQL and no routing here.
package auth

import (
	"context"
	"net/netip"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/store"
)

// Request is what the methods may look at. The server fills it once per
// request; methods never see the http.Request.
type Request struct {
	Service core.Service
	TLS     bool
	Remote  netip.Addr
	// Authorization is the raw header value ("" when absent).
	Authorization string
	// Cred and CredErr are the parsed Authorization header.
	Cred    Credential
	CredErr error
	// SessionCookie is the value of this service's session cookie (raw, as
	// sent) and HasSessionCookie whether the request carried one at all.
	SessionCookie    string
	HasSessionCookie bool
	// SecurityToken is the /cpsessNNNNNNNNNN prefix of the path ("" when
	// the path has none).
	SecurityToken string
}

// NewRequest parses the Authorization header once for every method.
func NewRequest(svc core.Service, tls bool, remote netip.Addr, authorization string) *Request {
	r := new(Request)
	r.Init(svc, tls, remote, authorization)
	return r
}

// Init sets *r to what NewRequest returns, for a Request that lives in
// something the caller has already allocated.
func (r *Request) Init(svc core.Service, tls bool, remote netip.Addr, authorization string) {
	*r = Request{Service: svc, TLS: tls, Remote: remote, Authorization: authorization}
	r.Cred, r.CredErr = ParseAuthorization(authorization)
}

// PresentedMethod is the method of the request's credential as far as it
// can be told before the chain runs, from the Authorization header's scheme
// (or a session cookie without one): what the Guard is asked about, since
// a name block refuses only guessable credentials (D28). A WHM secret as
// long as an access hash is taken for one, a shorter one for an API token
// (the chain decides which it is); "" when the header does not parse.
func (r *Request) PresentedMethod() core.Method {
	switch {
	case r.Authorization == "" && r.HasSessionCookie:
		return core.MethodSession
	case r.CredErr != nil:
		return ""
	case r.Cred.Scheme == SchemeBasic:
		return core.MethodPassword
	case r.Cred.Scheme == SchemeWHM && len(r.Cred.Secret) >= secret.AccessHashLen:
		return core.MethodAccessHash
	case r.Cred.Scheme == SchemeWHM, r.Cred.Scheme == SchemeCPanel:
		return core.MethodToken
	}
	return ""
}

// Result is one of a method's three answers.
type Result int

const (
	// NotMine: the request holds no credential of this method.
	NotMine Result = iota
	// Failed: the credential is this method's, and it is wrong. Stop.
	Failed
	// OK: authenticated.
	OK
)

// Outcome is a method's answer. Reason is for the log only: it says why a
// credential failed and never contains the secret.
type Outcome struct {
	Result    Result
	Principal core.Principal
	Method    core.Method
	User      string
	Reason    string
	// Code is a session failure's message code (PROTOCOL.md 6.2: the
	// Code* constants), which decides the HTTP status and the login
	// page's message; "" for the other methods.
	Code string
	// Session is the session that authenticated the request (session
	// method only).
	Session store.Session
	// RequireOTP is set for an API token created with require_otp: the
	// owner's two-factor code is needed as well (TwoFactor.Needed).
	RequireOTP bool
}

func fail(m core.Method, user, reason string) Outcome {
	return Outcome{Result: Failed, Method: m, User: user, Reason: reason}
}

// Method is one way to authenticate.
type Method interface {
	Authenticate(ctx context.Context, r *Request) Outcome
}

// Chain asks each method in turn; the first that recognises the credential
// decides. A presented credential that no method recognises fails.
type Chain []Method

// Authenticate runs the chain and then the service check: a principal that
// authenticated but is not allowed on this port's service fails (D6).
func (c Chain) Authenticate(ctx context.Context, r *Request) Outcome {
	for _, m := range c {
		out := m.Authenticate(ctx, r)
		if out.Result == NotMine {
			continue
		}
		if out.Result == OK {
			if reason := ServiceRefusal(out.Principal, r.Service); reason != "" {
				f := fail(out.Method, out.Principal.User, reason)
				if out.Method == core.MethodSession {
					f.Code = CodeInvalid
				}
				return f
			}
		}
		return out
	}
	if r.Authorization == "" {
		return Outcome{Result: NotMine, Reason: "no credentials"}
	}
	reason := "unrecognised credential"
	if r.CredErr != nil {
		reason = r.CredErr.Error()
	}
	return Outcome{Result: Failed, User: r.Cred.User, Reason: reason}
}

// ServiceRefusal says why p may not use svc, or "" when it may. WHM is for
// root and resellers; cPanel for cPanel accounts (resellers included);
// Webmail for cPanel accounts and their email accounts.
func ServiceRefusal(p core.Principal, svc core.Service) string {
	switch svc {
	case core.ServiceWHM:
		if p.Role == core.RoleRoot || p.Role == core.RoleReseller {
			return ""
		}
		return "login attempt to whm by a non-reseller/root"
	case core.ServiceCPanel:
		if p.Role == core.RoleCPanel || p.Role == core.RoleReseller {
			return ""
		}
		if p.Role == core.RoleRoot {
			return "root has no cPanel account"
		}
		return "login attempt to cpanel by a webmail account"
	case core.ServiceWebmail:
		if p.Role == core.RoleCPanel || p.Role == core.RoleReseller || p.Role == core.RoleWebmail {
			return ""
		}
		return "root has no webmail account"
	}
	return "unknown service"
}
