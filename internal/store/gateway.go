package store

import (
	"context"
	"time"
)

// BackendToken is an API token a gateway minted at its backend for one of
// its own narrow WHM tokens (gateway mode, docs/gateway.md): the backend
// token has the same ACLs as the gateway token's effective ones, and the
// gateway token's forwarded calls go through it. The token itself is kept
// only sealed with the server key; BackendName is its name at the
// backend, by which it is revoked.
type BackendToken struct {
	// Username and TokenName name the gateway's WHM token it serves, and
	// TokenCreated tells that token from one made later under the same
	// name.
	Username     string
	TokenName    string
	TokenCreated time.Time
	// ACLs are the privileges it was minted with (sorted).
	ACLs        []string
	BackendName string
	// Sealed is the backend token sealed with the server key (AES-GCM,
	// bound to Username and TokenName).
	Sealed  []byte
	Created time.Time
}

// GatewayStore is what a gateway keeps besides the Store: the backend
// tokens it minted. A backend token goes with the account it serves (and
// the store deletes it with the account).
type GatewayStore interface {
	// CreateBackendToken: ErrExists when the gateway token has one
	// already (another node minted it first); ErrNotFound when its
	// account does not exist.
	CreateBackendToken(ctx context.Context, t BackendToken) error
	GetBackendToken(ctx context.Context, username, tokenName string) (BackendToken, error)
	// ListBackendTokens lists every backend token, sorted by Username
	// then TokenName.
	ListBackendTokens(ctx context.Context) ([]BackendToken, error)
	// DeleteBackendToken deletes the backend token of the gateway token
	// when it is still the one named backendName (a node that revokes one
	// never deletes the one another node minted since): ErrNotFound
	// otherwise.
	DeleteBackendToken(ctx context.Context, username, tokenName, backendName string) error
}
