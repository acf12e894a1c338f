package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/store"
)

// Gateway is gateway mode: what the server asks whether a call is its own
// (Serves), and to forward the others (Forward); and what keeps the
// account directory true (Run).
type Gateway struct {
	Backend   *Backend
	Sessions  *Sessions
	Directory *Directory
	// Verifier checks passwords at the backend (auth.Password's
	// Verifier in gateway mode).
	Verifier *Verifier
	// Tokens mints, keeps and revokes the backend tokens of narrow
	// gateway WHM tokens.
	Tokens *Tokens
	// ReadOnly are the forwarded functions a read-only cPanel API token
	// may call.
	ReadOnly ReadOnlyList

	store    store.Store
	log      *slog.Logger
	now      func() time.Time
	interval time.Duration

	stop    context.CancelFunc
	running sync.WaitGroup
}

// Options are what New needs.
type Options struct {
	Backend BackendOptions
	// Store holds the gateway's records: the mirrored directory and its
	// own credentials; Records the sealed backend tokens it minted (nil:
	// narrow WHM tokens cannot forward).
	Store   store.Store
	Records store.GatewayStore
	// Key seals the backend tokens at rest.
	Key *secret.Key
	Log *slog.Logger
	Now func() time.Time
	// SyncInterval is how often the directory is read again.
	SyncInterval time.Duration
	// ReadOnlyFunctions extend the shipped list of read-only functions.
	ReadOnlyFunctions []string
}

// New builds the gateway; Start begins its background work.
func New(o Options) (*Gateway, error) {
	b, err := NewBackend(o.Backend)
	if err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = time.Minute
	}
	g := &Gateway{Backend: b, store: o.Store, log: o.Log, now: o.Now, interval: o.SyncInterval}
	g.Sessions = NewSessions(b, o.Now)
	g.Directory = &Directory{Store: o.Store, Backend: b, Sessions: g.Sessions, Log: o.Log, Now: o.Now}
	if g.Verifier, err = NewVerifier(b, g.Directory, o.Store, auth.NewHashPool(backendChecks, backendCheckQueue, b.timeout)); err != nil {
		return nil, err
	}
	g.Tokens = &Tokens{Records: o.Records, Store: o.Store, Key: o.Key, Backend: b, Sessions: g.Sessions, Log: o.Log, Now: o.Now}
	g.ReadOnly = NewReadOnlyList(o.ReadOnlyFunctions)
	return g, nil
}

// Start reads the directory once (a backend that does not answer is
// logged, and read again at the next interval: the gateway serves what it
// serves meanwhile) and then keeps it true every interval, ends idle
// backend sessions and revokes the backend tokens whose gateway token is
// gone, until Close.
func (g *Gateway) Start(ctx context.Context) {
	if err := g.Directory.Sync(ctx); err != nil {
		g.log.Error("gateway: reading the account directory from the backend", "error", err.Error())
	}
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	g.stop = stop
	g.running.Add(1)
	go func() {
		defer g.running.Done()
		t := time.NewTicker(g.interval)
		defer t.Stop()
		for {
			select {
			case <-rctx.Done():
				return
			case <-t.C:
				g.tick(rctx)
			}
		}
	}()
}

// tick is one interval's work.
func (g *Gateway) tick(ctx context.Context) {
	if err := g.Directory.Sync(ctx); err != nil && ctx.Err() == nil {
		g.log.Error("gateway: reading the account directory from the backend", "error", err.Error())
	}
	if n := g.Sessions.Reap(ctx); n > 0 {
		g.log.Debug("gateway: ended idle backend sessions", "ended", n)
	}
	if err := g.Tokens.Reconcile(ctx, ""); err != nil && ctx.Err() == nil {
		g.log.Error("gateway: revoking backend tokens of gateway tokens that are gone", "error", err.Error())
	}
}

// Close stops the background work and logs the backend sessions out.
func (g *Gateway) Close() {
	if g.stop != nil {
		g.stop()
		g.running.Wait()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g.Sessions.EndAll(ctx)
	g.Backend.Close()
}

// ReadTokenFile reads the backend's root token from path: a regular file
// of the daemon's own, without permission bits for its group or others,
// holding one token (a line).
func ReadTokenFile(path string) (string, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return "", fmt.Errorf("upstream token-file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("upstream token-file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("upstream token-file %s has mode %04o: it must be readable by its owner only (chmod 600)", path, uint32(perm))
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("upstream token-file: %w", err)
	}
	tok := strings.TrimSpace(string(raw))
	if !auth.IsTokenText(tok, true) {
		// Neither the token nor any part of the file goes to the message.
		return "", fmt.Errorf("upstream token-file %s does not hold a WHM API token (32 characters of 0-9 and A-Z, alone on its line)", path)
	}
	return tok, nil
}

// LoggedOut ends user's backend session on svc when the session that just
// ended at the gateway was its last there on that service: the backend
// session was its state on the backend. (A client using Basic or a token
// meanwhile gets a new one at its next call.)
func (g *Gateway) LoggedOut(ctx context.Context, account, user string, svc core.Service) {
	all, err := g.store.ListSessions(ctx, account)
	if err != nil {
		return
	}
	for _, s := range all {
		if s.Username == user && s.Service == svc.App() && s.Kind == store.SessionNormal {
			return
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.Backend.timeout)
	defer cancel()
	g.Sessions.EndOn(ctx, user, svc)
}

// Served is told of a call the gateway served itself: one that changed a
// gateway WHM token (revoked, or its ACLs, expiry or name changed) has the
// backend token minted for it revoked now rather than at the next interval.
func (g *Gateway) Served(ctx context.Context, fl api.Flavour, fn, user string) {
	if fl != api.WHM1 || fn != "api_token_revoke" && fn != "api_token_update" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*g.Backend.timeout)
	defer cancel()
	if err := g.Tokens.Reconcile(ctx, user); err != nil {
		g.log.Error("gateway: revoking the backend tokens of changed gateway tokens", "user", user, "error", err.Error())
	}
}
