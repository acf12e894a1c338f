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
	return g.r.Admit(ctx, attempt(a))
}

func (g hulkGuard) Failed(ctx context.Context, a auth.Attempt, reason string) {
	g.r.Failed(ctx, attempt(a), reason)
}

func (g hulkGuard) Succeeded(ctx context.Context, a auth.Attempt) {
	g.r.Succeeded(ctx, attempt(a))
}

// attempt is every attempt as the regulator counts it: by the canonical
// login name (D27). Every credential check reaches the regulator through
// here (the server's, the functions' and the two-factor checks alike), so
// no caller can count a spelling of its own: 40 case variants of
// info@bob.test are 40 failures of one name, not one failure of 40.
func attempt(a auth.Attempt) hulk.Attempt {
	a.User = auth.LoginName(a.User)
	return hulk.Attempt(a)
}
