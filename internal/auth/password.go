package auth

import (
	"context"
	"errors"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/store"
)

// Password authenticates HTTP Basic credentials against stored password
// hashes. Unknown users are verified against a dummy hash so that they cost
// what known users cost.
type Password struct {
	Store  store.Store
	Hasher *secret.Hasher
}

func (m *Password) Authenticate(ctx context.Context, r *Request) Outcome {
	if r.CredErr != nil || r.Cred.Scheme != SchemeBasic {
		return Outcome{} // an unparseable header fails in the chain
	}
	return m.Check(ctx, r.Cred.User, r.Cred.Secret, r.Service)
}

// Check verifies a user name and password for a service. It is also what
// browser logins will use.
func (m *Password) Check(ctx context.Context, user, password string, svc core.Service) Outcome {
	if HasControl(user) || HasControl(password) {
		return fail(core.MethodPassword, "", "control bytes in credential")
	}
	id, err := Lookup(ctx, m.Store, user)
	if err != nil {
		_ = m.Hasher.VerifyDummy(password)
		if errors.Is(err, ErrUnknownUser) {
			return fail(core.MethodPassword, user, "invalid user")
		}
		return fail(core.MethodPassword, user, "store error: "+err.Error())
	}
	if m.Hasher.Verify(id.PasswordHash, password) != nil {
		return fail(core.MethodPassword, user, "user password incorrect")
	}
	if id.Disabled != "" {
		return fail(core.MethodPassword, user, id.Disabled)
	}
	p := id.Principal
	p.Method = core.MethodPassword
	p.Service = svc
	return Outcome{Result: OK, Principal: p, Method: core.MethodPassword, User: p.User}
}
