package daemon

import (
	"context"

	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/hulk"
)

// hulkGuard is the regulator as the server's auth.Guard (hulk sits below
// auth and has its own copy of the Attempt type).
type hulkGuard struct{ r *hulk.Regulator }

func (g hulkGuard) Admit(ctx context.Context, a auth.Attempt) (bool, string) {
	return g.r.Admit(ctx, hulk.Attempt(a))
}

func (g hulkGuard) Failed(ctx context.Context, a auth.Attempt, reason string) {
	g.r.Failed(ctx, hulk.Attempt(a), reason)
}

func (g hulkGuard) Succeeded(ctx context.Context, a auth.Attempt) {
	g.r.Succeeded(ctx, hulk.Attempt(a))
}
