package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/store"
)

// Passwords are the backend's. The Verifier is the second implementation
// of auth.Verifier (the first is the local hash check): one stateless
// backend call with the password, HTTP Basic on a cheap function of the
// service, through the gateway's regulator first and its verified-password
// cache after (auth.Password asks them), so that a client sending Basic on
// every call costs the backend one check per cache lifetime.
//
// The backend's answer decides: 200 (the function ran), or a 401 that asks
// for the backend's own second factor (tfa_login_form), means the password
// is right; D5's 403 "Access denied" means it is wrong; anything else (a
// 5xx, a timeout, no answer) is neither, and the login fails without
// counting as a wrong password (auth.ErrNotChecked).

// Bounds of the backend checks in flight: a network call, not a hash, so
// more than the CPUs; bounded all the same, so that a flood of guesses
// the regulator has not yet stopped cannot queue without end.
const (
	backendChecks     = 16
	backendCheckQueue = 256
)

// checkPath is the call that checks a password on each service: something
// every login of the service may call, that costs the backend little
// beyond the check, and that answers a refused credential with D5's 403
// (as /json-api/ paths do on every port).
var checkPath = map[core.Service]struct{ path, query string }{
	core.ServiceWHM:     {"/json-api/version", "api.version=1"},
	core.ServiceCPanel:  {"/json-api/cpanel", "cpanel_jsonapi_apiversion=3&cpanel_jsonapi_module=Variables&cpanel_jsonapi_func=get_user_information"},
	core.ServiceWebmail: {"/json-api/cpanel", "cpanel_jsonapi_apiversion=3&cpanel_jsonapi_module=Variables&cpanel_jsonapi_func=get_user_information"},
}

// Verifier checks passwords at the backend. Concurrent checks of one
// (user, service, password) are one check: the clients that send Basic on
// many connections at once cost the backend one check, not one each,
// before the cache remembers it.
type Verifier struct {
	Backend   *Backend
	Directory *Directory
	Store     store.Store
	// Pool bounds the checks in flight (nil: none).
	Pool *auth.HashPool

	checks atomic.Uint64

	// key keys the in-flight table (made at random by NewVerifier; it
	// never leaves the process): the table holds no password.
	key     *secret.Key
	mu      sync.Mutex
	flights map[string]*flight
}

// flight is a check in flight, which other callers of the same check
// wait for.
type flight struct {
	done chan struct{}
	err  error
}

// NewVerifier returns a Verifier over b and d.
func NewVerifier(b *Backend, d *Directory, st store.Store, pool *auth.HashPool) (*Verifier, error) {
	key, err := secret.NewKey()
	if err != nil {
		return nil, err
	}
	return &Verifier{Backend: b, Directory: d, Store: st, Pool: pool, key: key, flights: map[string]*flight{}}, nil
}

// Checks is how many passwords were sent to the backend.
func (v *Verifier) Checks() uint64 { return v.checks.Load() }

// VerifyPassword implements auth.Verifier for an identity the directory
// knows.
func (v *Verifier) VerifyPassword(ctx context.Context, id auth.Identity, svc core.Service, password string) error {
	return v.check(ctx, id.Principal.User, svc, password)
}

// VerifyUnknown implements auth.Verifier for a name the directory does
// not know: the backend is asked all the same (an account made there a
// moment ago, a mailbox that never logged in at the gateway), and a name
// it accepts is mirrored before its identity is returned.
func (v *Verifier) VerifyUnknown(ctx context.Context, name string, svc core.Service, password string) (auth.Identity, error) {
	if err := v.check(ctx, name, svc, password); err != nil {
		return auth.Identity{}, err
	}
	if !v.Directory.Learn(ctx, name) {
		return auth.Identity{}, auth.ErrUnknownUser
	}
	return auth.Lookup(ctx, v.Store, name)
}

// check asks the backend whether password is user's on svc, or waits for
// the same question asked a moment before.
func (v *Verifier) check(ctx context.Context, user string, svc core.Service, password string) error {
	if v.key == nil {
		return v.checkOnce(ctx, user, svc, password)
	}
	k := v.key.MACStrings("gateway/password-check", user, "\x00", svc.App(), "\x00", password)
	v.mu.Lock()
	if f, ok := v.flights[k]; ok {
		v.mu.Unlock()
		select {
		case <-f.done:
			return f.err
		case <-ctx.Done():
			return fmt.Errorf("%w: %v", auth.ErrNotChecked, ctx.Err())
		}
	}
	f := &flight{done: make(chan struct{})}
	v.flights[k] = f
	v.mu.Unlock()
	f.err = v.checkOnce(ctx, user, svc, password)
	v.mu.Lock()
	delete(v.flights, k)
	v.mu.Unlock()
	close(f.done)
	return f.err
}

// checkOnce asks the backend.
func (v *Verifier) checkOnce(ctx context.Context, user string, svc core.Service, password string) error {
	// The pool's turns, not its Run: a network call needs no thread of
	// lower priority.
	if !v.Pool.Acquire(ctx) {
		return auth.ErrBusy
	}
	defer v.Pool.Release()
	return v.ask(ctx, user, svc, password)
}

func (v *Verifier) ask(ctx context.Context, user string, svc core.Service, password string) error {
	cp, ok := checkPath[svc]
	if !ok {
		return secret.ErrMismatch
	}
	v.checks.Add(1)
	authz := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	resp, cancel, err := v.Backend.send(ctx, outgoing{method: http.MethodGet, svc: svc, path: cp.path, query: cp.query, auth: authz, call: CallPassword})
	if err != nil {
		return fmt.Errorf("%w: %s", auth.ErrNotChecked, err.Error())
	}
	defer cancel()
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case rerr != nil:
		return fmt.Errorf("%w: %s", auth.ErrNotChecked, v.Backend.fail(ctx, rerr).Error())
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusUnauthorized && bytes.Contains(body, []byte("tfa_login_form")):
		return nil // right; the backend asks for its own second factor
	case resp.StatusCode == http.StatusForbidden && bytes.Contains(body, []byte("Access denied")):
		return secret.ErrMismatch
	}
	return fmt.Errorf("%w: %s", auth.ErrNotChecked, (&Error{Failure: FailBadAnswer, Host: v.Backend.host, Timeout: v.Backend.timeout,
		Err: errors.New("a password check answered HTTP " + http.StatusText(resp.StatusCode))}).Error())
}
