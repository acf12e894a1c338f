package auth

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync/atomic"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/store"
)

// Password authenticates HTTP Basic credentials against stored password
// hashes; browser logins and the mailbox check of single sign-on use it
// too. Unknown users are verified against a dummy hash so that they cost
// what known users cost.
type Password struct {
	Store  store.Store
	Hasher *secret.Hasher
	// Log hears of re-hashed passwords (D31) and of re-hashes that failed
	// (nil: nothing is logged).
	Log *slog.Logger
	// Cache remembers successful checks (D32; nil: every check hashes).
	Cache *PasswordCache
	// Pool admits the checks that hash (nil: all, at once). Unknown users'
	// dummy checks go through it too, at the same cost.
	Pool *HashPool
	// Verifier checks the passwords in place of the stored hashes (nil:
	// the hash check here, in Pool): in gateway mode, the backend's check.
	// The regulator (asked by the caller) and Cache stay in front of it.
	Verifier Verifier

	// hashed counts the checks that hashed (cache misses and unknown
	// users): written only where a hash of some milliseconds follows.
	hashed atomic.Uint64
}

// Verifier is one way to check a password: the local hash check (the
// Password method's own, when its Verifier is nil) or the backend's, in
// gateway mode. A Verifier answers nil (right), secret.ErrMismatch
// (wrong), ErrBusy or an error wrapping ErrNotChecked (not checked: the
// login fails, and is not counted as a wrong password).
type Verifier interface {
	// VerifyPassword checks password for id, which Lookup found, on svc.
	VerifyPassword(ctx context.Context, id Identity, svc core.Service, password string) error
	// VerifyUnknown checks password for a name Lookup does not know, and
	// returns its identity when the name is right after all (one the
	// verifier could add: an account just made at a gateway's backend);
	// ErrUnknownUser otherwise.
	VerifyUnknown(ctx context.Context, name string, svc core.Service, password string) (Identity, error)
}

// ErrNotChecked is wrapped by a Verifier's error when the password was
// found neither right nor wrong (a gateway's backend did not answer); the
// error's text (which names no secret) is the log's reason.
var ErrNotChecked = errors.New("password not checked")

// Hashed returns how many checks computed a password hash (the cache's
// misses, wrong passwords and unknown users); for tests and statistics.
func (m *Password) Hashed() uint64 { return m.hashed.Load() }

func (m *Password) Authenticate(ctx context.Context, r *Request) Outcome {
	if r.CredErr != nil || r.Cred.Scheme != SchemeBasic {
		return Outcome{} // an unparseable header fails in the chain
	}
	return m.Check(ctx, r.Cred.User, r.Cred.Secret, r.Service)
}

// reasonTooLong is the log's reason for a password over MaxPasswordLen.
var reasonTooLong = "password longer than " + strconv.Itoa(secret.MaxPasswordLen) + " bytes"

// Check verifies a user name and password for a service. It is also what
// browser logins use.
func (m *Password) Check(ctx context.Context, user, password string, svc core.Service) Outcome {
	if HasControl(user) || HasControl(password) {
		return fail(core.MethodPassword, "", "control bytes in credential")
	}
	if len(password) > secret.MaxPasswordLen {
		// D31: refused before anything is looked up or hashed (SHA-crypt's
		// cost grows with the length), as a wrong password.
		return fail(core.MethodPassword, user, reasonTooLong)
	}
	id, err := Lookup(ctx, m.Store, user)
	if errors.Is(err, ErrUnknownUser) && m.Verifier != nil {
		// A name the verifier may know better (a gateway's backend).
		id, err = m.Verifier.VerifyUnknown(ctx, user, svc, password)
		switch {
		case errors.Is(err, ErrBusy):
			return fail(core.MethodPassword, user, ReasonBusy)
		case errors.Is(err, ErrNotChecked):
			return fail(core.MethodPassword, user, err.Error())
		case err != nil && !errors.Is(err, ErrUnknownUser) && !errors.Is(err, secret.ErrMismatch):
			return fail(core.MethodPassword, user, "store error: "+err.Error())
		case err != nil:
			return fail(core.MethodPassword, user, "invalid user")
		}
		if id.Disabled != "" {
			return fail(core.MethodPassword, user, id.Disabled)
		}
		m.Cache.Remember(id.Principal.User, svc, password, id.PasswordHash)
		return m.ok(id, svc)
	}
	if err != nil {
		if m.Verifier == nil {
			if !m.Pool.Run(ctx, func() { _ = m.Hasher.VerifyDummy(password) }) {
				return fail(core.MethodPassword, user, ReasonBusy)
			}
			m.hashed.Add(1)
		}
		if errors.Is(err, ErrUnknownUser) {
			return fail(core.MethodPassword, user, "invalid user")
		}
		return fail(core.MethodPassword, user, "store error: "+err.Error())
	}
	switch err := m.Verify(ctx, id, svc, password); {
	case errors.Is(err, ErrBusy):
		return fail(core.MethodPassword, user, ReasonBusy)
	case errors.Is(err, ErrNotChecked):
		return fail(core.MethodPassword, user, err.Error())
	case err != nil:
		return fail(core.MethodPassword, user, "user password incorrect")
	}
	if id.Disabled != "" {
		return fail(core.MethodPassword, user, id.Disabled)
	}
	return m.ok(id, svc)
}

// ok is the outcome of id's right password on svc.
func (m *Password) ok(id Identity, svc core.Service) Outcome {
	p := id.Principal
	p.Method = core.MethodPassword
	p.Service = svc
	return Outcome{Result: OK, Principal: p, Method: core.MethodPassword, User: p.User}
}

// Verify checks password against the hash of id, which the caller looked
// up (Lookup), for a login on svc; it returns nil, secret.ErrMismatch, or
// ErrBusy when the check got no turn in the pool (it was not made). It
// leaves id's Disabled to the caller.
//
// A check that succeeded within the cache's TTL against the same stored
// hash is not made again (D32). A right password whose hash has another
// cost or format than new hashes get is hashed again at the configured
// rounds and stored (D31): otherwise a user made with other rounds takes
// another time to check than an unknown user, and timing tells them apart.
func (m *Password) Verify(ctx context.Context, id Identity, svc core.Service, password string) error {
	if len(password) > secret.MaxPasswordLen {
		return secret.ErrMismatch
	}
	user := id.Principal.User
	if m.Cache.Verified(user, svc, password, id.PasswordHash) {
		return nil
	}
	if m.Verifier != nil {
		err := m.Verifier.VerifyPassword(ctx, id, svc, password)
		if err == nil && id.Disabled == "" {
			// Bound to what the store holds in place of a hash: a new
			// value there (a password changed) ends the entry.
			m.Cache.Remember(user, svc, password, id.PasswordHash)
		}
		return err
	}
	var err, hashErr error
	rehashed := ""
	if !m.Pool.Run(ctx, func() {
		err = m.Hasher.Verify(id.PasswordHash, password)
		if err == nil && m.Hasher.NeedsRehash(id.PasswordHash) && (id.account != "" || id.local != "") {
			// In the same turn: the new hash costs what a check costs.
			rehashed, hashErr = m.Hasher.Hash(password)
		}
	}) {
		return ErrBusy
	}
	m.hashed.Add(1)
	if err != nil {
		return secret.ErrMismatch // never remembered
	}
	if hashErr != nil {
		m.logRehash(ctx, slog.LevelWarn, id, "password re-hash failed", hashErr)
		rehashed = ""
	}
	stored := id.PasswordHash
	if rehashed != "" && m.storeRehash(ctx, id, rehashed) {
		stored = rehashed
	}
	if id.Disabled == "" {
		// Bound to the hash the store now holds: the next request reads
		// it, and the entry answers for as long as it stays.
		m.Cache.Remember(user, svc, password, stored)
	}
	return nil
}

// errHashChanged stops a re-hash whose stored hash is no longer the one
// that was verified.
var errHashChanged = errors.New("the password hash changed meanwhile")

// storeRehash stores hash, a new hash of id's password at the configured
// rounds, in place of id's, through the store's updater: only if the
// stored hash is still the one verified, so that a password changed
// meanwhile (or a re-hash by another request or another node) is never
// overwritten. Nothing else changes: not PasswordChanged, not the
// sessions, since the password itself did not change. The change is
// announced like any other (the nodes of a cluster read the account
// again). A failure is logged and changes nothing for the request: the old
// hash still verifies. It reports whether the hash was stored.
func (m *Password) storeRehash(ctx context.Context, id Identity, hash string) bool {
	var err error
	old := id.PasswordHash
	if id.account != "" {
		_, err = m.Store.UpdateAccount(ctx, id.account, func(a store.Account) (store.Account, error) {
			if !secret.Equal(a.PasswordHash, old) {
				return a, errHashChanged
			}
			a.PasswordHash = hash
			return a, nil
		})
	} else {
		_, err = m.Store.UpdateMailbox(ctx, id.local, id.domain, func(mb store.Mailbox) (store.Mailbox, error) {
			if !secret.Equal(mb.PasswordHash, old) {
				return mb, errHashChanged
			}
			mb.PasswordHash = hash
			return mb, nil
		})
	}
	switch {
	case errors.Is(err, errHashChanged), errors.Is(err, store.ErrNotFound):
		m.logRehash(ctx, slog.LevelDebug, id, "password re-hash not stored", err)
	case err != nil:
		m.logRehash(ctx, slog.LevelWarn, id, "password re-hash failed", err)
	default:
		m.logRehash(ctx, slog.LevelInfo, id, "password re-hashed at the configured rounds", nil)
		return true
	}
	return false
}

func (m *Password) logRehash(ctx context.Context, level slog.Level, id Identity, msg string, err error) {
	if m.Log == nil {
		return
	}
	attrs := []slog.Attr{slog.String("user", id.Principal.User), slog.Int("rounds", m.Hasher.Rounds)}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	m.Log.LogAttrs(ctx, level, msg, attrs...)
}
