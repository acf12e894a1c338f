package gateway

import (
	"context"
	"log/slog"
	"time"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/store"
)

// Tokens are the backend tokens of narrow gateway WHM tokens.
type Tokens struct {
	Store    store.Store
	Key      *secret.Key
	Backend  *Backend
	Sessions *Sessions
	Log      *slog.Logger
	Now      func() time.Time
}

// credential is the backend credential of p, a principal of a narrow
// gateway WHM token.
func (t *Tokens) credential(ctx context.Context, p core.Principal) (credential, error) {
	return credential{}, core.Errorf(core.KindPermission, "%s does not carry every privilege of its owner: the gateway does not forward its calls.", p.Credential())
}

// Reconcile revokes the backend tokens whose gateway token is gone.
func (t *Tokens) Reconcile(ctx context.Context) error { return nil }
