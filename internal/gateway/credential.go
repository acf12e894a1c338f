package gateway

import (
	"context"
	"fmt"

	"github.com/cpauth/cpauth/internal/core"
)

// credential is what a forwarded call carries to the backend: root's
// token, a backend token minted for a narrow gateway token, or a backend
// session (its cookie, under its security token).
type credential struct {
	kind   string // "root token", "backend token", "backend session"
	auth   string
	cookie string
	token  string // the session's security token, prefixed to the path
	// renew makes the credential again after the backend refused it
	// (nil: it cannot be made again: root's token).
	renew func(context.Context) (credential, error)
}

// credential chooses how r's principal acts on the backend. Root (not
// through a narrow token) calls WHM with the gateway's root token, as
// root. A narrow WHM token calls through the backend token minted for it,
// with the same ACLs, so that the backend's ACL check is the real one. Any
// other principal calls through its backend session on the service of
// the port: a reseller's WHM session, a cPanel account's cPanel or
// Webmail session, a mailbox's Webmail session. None of them ever falls
// back to another: a call that cannot have its own credential fails.
func (g *Gateway) credential(ctx context.Context, r *Request) (credential, error) {
	p := r.Principal
	if r.Service == core.ServiceWHM && p.Bounds.Narrowed {
		return g.Tokens.credential(ctx, p)
	}
	if r.Service == core.ServiceWHM && p.Role == core.RoleRoot {
		return credential{kind: "root token", auth: "whm root:" + g.Backend.token}, nil
	}
	return g.sessionCredential(ctx, p.User, r.Service)
}

// sessionCredential is user's backend session on svc.
func (g *Gateway) sessionCredential(ctx context.Context, user string, svc core.Service) (credential, error) {
	s, err := g.Sessions.get(ctx, user, svc)
	if err != nil {
		return credential{}, err
	}
	return g.fromSession(user, svc, s), nil
}

func (g *Gateway) fromSession(user string, svc core.Service, s *backendSession) credential {
	return credential{kind: "backend session", cookie: s.cookie, token: s.token,
		renew: func(ctx context.Context) (credential, error) {
			n, err := g.Sessions.renew(ctx, user, svc, s)
			if err != nil {
				return credential{}, err
			}
			c := g.fromSession(user, svc, n)
			c.renew = nil // once
			return c, nil
		}}
}

func errRefused(kind string, status int) error {
	return fmt.Errorf("the backend refused the gateway's %s (HTTP %d)", kind, status)
}
