// Package cached keeps the records read on every authentication in memory,
// in front of a shared store, and forgets them when any node changes them.
package cached

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cpauth/cpauth/internal/store"
)

// Store is a store.Store whose point reads (accounts, an account's domains,
// mailboxes, access hashes, settings, API tokens by MAC, sessions by IDHash)
// are answered from memory while the change feed of the underlying store is
// live. Writes go through and forget what they touch. A read that raced with a change is not
// remembered (generation check), so the cache never holds a record older
// than the last change it was told of (sessions' LastSeen, which is not
// announced, excepted: see sessionCache).
//
// A read that finds its record writes nothing shared: no lock, and no
// counter on a cache line of its own (the tables are sync.Maps, the hit
// counter is striped), so that authentications on many cores do not queue
// on one another. Remembering, forgetting and touching are serialised by
// mu.
type Store struct {
	store.Store
	live atomic.Bool

	// mu serialises every write to the tables, and gen's moves.
	mu sync.Mutex
	// gen counts the changes the cache was told of (moved under mu, read
	// without it).
	gen atomic.Uint64
	// tab is what the cache remembers; reset replaces it whole.
	tab atomic.Pointer[tables]
	// view is a copy of the settings and the generation it was taken at:
	// every plain-port request reads a setting.
	view atomic.Pointer[settingsView]

	// hits are counted only while countHits is on (tests, and whoever
	// wants the figure): on the read path even a striped counter costs
	// cores a shared write. misses go to the store anyway.
	countHits atomic.Bool
	hits      stripes
	misses    atomic.Uint64

	// now is the clock of sessionTTL (time.Now; tests set another).
	now func() time.Time

	// version, when set, is a change counter shared with other processes
	// (SQLite's); seen is the value the cache last agreed with.
	version func() uint64
	seen    atomic.Uint64
}

// tables are the records the cache remembers, each by its key. Their
// maps are read without a lock and written under Store.mu.
type tables struct {
	accounts cmap[entry[store.Account]]
	// domains are ListDomains' answers by account. Domain rows change only
	// with their account (CreateAccount, UpdateAccount, DeleteAccount), and
	// those writes announce the account: its change forgets its domains.
	domains  cmap[entry[[]store.Domain]]
	boxes    cmap[entry[store.Mailbox]]
	hashes   cmap[entry[store.AccessHash]]
	settings cmap[entry[string]]
	tokens   tokenCache
	sessions sessionCache
	// twoFactor holds two-factor configurations by login name, found or
	// absent. It is looked up only for principals that authenticated, so
	// it holds at most one entry per user and needs no bound.
	twoFactor cmap[entry[store.TwoFactor]]
	// passkeys are ListPasskeys' answers by login name: whether a user
	// has a passkey is asked for every request of a session not yet
	// two-factor verified. Single passkeys (GetPasskey) are not
	// remembered, and a sign counter is checked in the store's own update
	// (UpdatePasskey), never against this copy.
	passkeys cmap[entry[[]store.Passkey]]
}

// tokenCache holds the tokens read by MAC: those found, indexed by owner as
// well so that an account's change (or a write that names a token rather
// than its MAC) can forget them, and the MACs found to be absent. byMAC and
// absent are read without a lock; everything is written under Store.mu,
// and byUser and nAbsent are only ever used under it.
//
// Absence is remembered so that an unknown token costs what a known one
// does (no database round trip for a revoked token a client keeps sending).
// But anyone can send fresh random tokens, so the absent set is bounded: at
// maxAbsentTokens entries it is emptied and starts again. Found tokens need
// no bound: there are only as many as the database holds.
type tokenCache struct {
	byMAC   cmap[store.Token]
	byUser  map[string]map[string]struct{} // username -> MACs in byMAC
	absent  cmap[struct{}]
	nAbsent int
}

// maxAbsentTokens bounds the remembered absent MACs (some 100 bytes each).
const maxAbsentTokens = 4096

// errNoToken is the answer for a remembered absent MAC.
var errNoToken = fmt.Errorf("cached: token by MAC: %w", store.ErrNotFound)

func newTokenCache() tokenCache {
	return tokenCache{byUser: map[string]map[string]struct{}{}}
}

func (c *tokenCache) put(t store.Token) {
	c.drop(t.MAC)
	c.byMAC.store(t.MAC, t)
	macs := c.byUser[t.Username]
	if macs == nil {
		macs = map[string]struct{}{}
		c.byUser[t.Username] = macs
	}
	macs[t.MAC] = struct{}{}
}

func (c *tokenCache) putAbsent(mac string) {
	c.drop(mac)
	if c.nAbsent >= maxAbsentTokens {
		c.absent.clear()
		c.nAbsent = 0
	}
	c.absent.store(mac, struct{}{})
	c.nAbsent++
}

// drop forgets whatever is known of mac.
func (c *tokenCache) drop(mac string) {
	if c.absent.delete(mac) {
		c.nAbsent--
	}
	t, ok := c.byMAC.load(mac)
	if !ok {
		return
	}
	c.byMAC.delete(mac)
	if macs := c.byUser[t.Username]; macs != nil {
		delete(macs, mac)
		if len(macs) == 0 {
			delete(c.byUser, t.Username)
		}
	}
}

// dropUser forgets the tokens of username.
func (c *tokenCache) dropUser(username string) {
	for mac := range c.byUser[username] {
		c.byMAC.delete(mac)
	}
	delete(c.byUser, username)
}

// dropNamed forgets the token (service, username, name).
func (c *tokenCache) dropNamed(service, username, name string) {
	for mac := range c.byUser[username] {
		if t, _ := c.byMAC.load(mac); t.Service == service && t.Name == name {
			c.drop(mac)
		}
	}
}

// dropExpired forgets the tokens that expired before the given time.
func (c *tokenCache) dropExpired(before time.Time) {
	c.byMAC.each(func(mac string, t store.Token) {
		if !t.ExpiresAt.IsZero() && t.ExpiresAt.Before(before) {
			c.drop(mac)
		}
	})
}

// cloneToken is t with slices of its own, so that callers cannot change
// what the cache holds.
func cloneToken(t store.Token) store.Token {
	t.ACLs = slices.Clone(t.ACLs)
	t.WhitelistIPs = slices.Clone(t.WhitelistIPs)
	return t
}

type entry[T any] struct {
	v   T
	err error // nil or store.ErrNotFound: absence is remembered too
}

// New wraps inner. It caches nothing until Run reports the feed live.
func New(inner store.Store) *Store {
	s := &Store{Store: inner, now: time.Now}
	s.reset()
	return s
}

// reset forgets everything: new, empty tables. Called with mu held (or
// before the store is shared).
func (s *Store) reset() {
	s.tab.Store(&tables{tokens: newTokenCache(), sessions: newSessionCache()})
}

// SetVersion gives the cache a change counter to compare on every read (as
// SQLite's shared counter): when it moved, everything is forgotten first.
// Call it before Run.
func (s *Store) SetVersion(version func() uint64) {
	s.version = version
	s.seen.Store(version())
}

// sync forgets everything when the shared change counter moved.
func (s *Store) sync() {
	if s.version == nil {
		return
	}
	v := s.version()
	if v == s.seen.Load() {
		return
	}
	s.mu.Lock()
	if v != s.seen.Load() {
		s.gen.Add(1)
		s.reset()
		s.seen.Store(v)
	}
	s.mu.Unlock()
}

// Run follows w's change feed until ctx ends.
func (s *Store) Run(ctx context.Context, w store.Watcher) error {
	return w.Watch(ctx, s.Invalidate, s.SetLive)
}

// SetLive turns caching on or off; either way everything is forgotten.
func (s *Store) SetLive(live bool) {
	s.mu.Lock()
	s.gen.Add(1)
	s.reset()
	s.live.Store(live)
	s.mu.Unlock()
}

// Live reports whether the cache is in use.
func (s *Store) Live() bool { return s.live.Load() }

// Stats reports cache hits (those counted while CountHits was on) and
// misses since start.
func (s *Store) Stats() (hits, misses uint64) { return s.hits.load(), s.misses.Load() }

// CountHits turns the counting of hits on or off (off at start).
func (s *Store) CountHits(on bool) { s.countHits.Store(on) }

// hit counts a read answered from memory, when asked to.
func (s *Store) hit() {
	if s.countHits.Load() {
		s.hits.add()
	}
}

// Invalidate forgets what a change touched.
func (s *Store) Invalidate(c store.Change) {
	if c.Kind == store.ChangeHulk {
		return // the regulator's state is not cached here
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen.Add(1)
	t := s.tab.Load()
	switch c.Kind {
	case store.ChangeAccount:
		// An account's change (deletion, suspension, domain) reaches its
		// mailboxes, access hash, API tokens and sessions too. A deleted
		// account's tokens and sessions are deleted without an
		// announcement of their own.
		t.accounts.delete(c.Key)
		t.domains.delete(c.Key)
		t.hashes.delete(c.Key)
		t.boxes.clear()
		t.tokens.dropUser(c.Key)
		t.sessions.dropAccount(c.Key)
		// Its Webmail users' configurations are keyed by address: forget
		// them all (accounts change seldom).
		t.twoFactor.clear()
		t.passkeys.clear()
	case store.ChangeTwoFactor:
		t.twoFactor.delete(c.Key)
	case store.ChangePasskey:
		t.passkeys.delete(c.Key)
	case store.ChangeToken:
		t.tokens.drop(c.Key)
	case store.ChangeSession:
		t.sessions.drop(c.Key)
	case store.ChangeMailbox:
		t.boxes.delete(c.Key)
		t.twoFactor.delete(c.Key) // a deleted mailbox's configuration goes with it
		t.passkeys.delete(c.Key)  // and its passkeys
	case store.ChangeAccessHash:
		t.hashes.delete(c.Key)
	case store.ChangeSetting:
		t.settings.delete(c.Key)
	default:
		s.reset()
	}
}

// read answers from the table pick chooses, or loads and remembers the
// record. A hit takes no lock and writes nothing shared.
func read[T any](s *Store, pick func(*tables) *cmap[entry[T]], key string, load func() (T, error)) (T, error) {
	if !s.live.Load() {
		return load()
	}
	s.sync()
	gen := s.gen.Load()
	if e, ok := pick(s.tab.Load()).load(key); ok {
		s.hit()
		return e.v, e.err
	}
	s.misses.Add(1)
	v, err := load()
	if err == nil || errors.Is(err, store.ErrNotFound) {
		s.remember(gen, func(t *tables) { pick(t).store(key, entry[T]{v, err}) })
	}
	return v, err
}

// remember runs put on the current tables, unless a change came after gen
// was read (the record loaded since may predate it) or the cache went off.
func (s *Store) remember(gen uint64, put func(*tables)) {
	s.mu.Lock()
	if s.gen.Load() == gen && s.live.Load() {
		put(s.tab.Load())
	}
	s.mu.Unlock()
}

func (s *Store) GetAccount(ctx context.Context, username string) (store.Account, error) {
	a, err := read(s, func(t *tables) *cmap[entry[store.Account]] { return &t.accounts }, username, func() (store.Account, error) {
		return s.Store.GetAccount(ctx, username)
	})
	a.ACLs = slices.Clone(a.ACLs) // callers may not mutate the cached slice
	return a, err
}

// ListDomains is read by every get_user_information call; an account
// without domains (or unknown) is remembered as having none.
func (s *Store) ListDomains(ctx context.Context, account string) ([]store.Domain, error) {
	ds, err := read(s, func(t *tables) *cmap[entry[[]store.Domain]] { return &t.domains }, account, func() ([]store.Domain, error) {
		return s.Store.ListDomains(ctx, account)
	})
	return slices.Clone(ds), err // callers may not mutate the cached slice
}

func (s *Store) GetMailbox(ctx context.Context, local, domain string) (store.Mailbox, error) {
	return read(s, func(t *tables) *cmap[entry[store.Mailbox]] { return &t.boxes }, local+"@"+domain, func() (store.Mailbox, error) {
		return s.Store.GetMailbox(ctx, local, domain)
	})
}

func (s *Store) GetAccessHash(ctx context.Context, username string) (store.AccessHash, error) {
	h, err := s.getAccessHash(ctx, username)
	h.Sealed = slices.Clone(h.Sealed)
	return h, err
}

func (s *Store) getAccessHash(ctx context.Context, username string) (store.AccessHash, error) {
	return read(s, func(t *tables) *cmap[entry[store.AccessHash]] { return &t.hashes }, username, func() (store.AccessHash, error) {
		return s.Store.GetAccessHash(ctx, username)
	})
}

// AccessHashMAC is the keyed hash of username's access hash, without the
// copy of its sealed form that GetAccessHash makes: all that authenticating
// by access hash reads (auth.AccessHash asks for it when the store has it).
func (s *Store) AccessHashMAC(ctx context.Context, username string) (string, error) {
	h, err := s.getAccessHash(ctx, username)
	return h.MAC, err
}

func (s *Store) GetSetting(ctx context.Context, key string) (string, error) {
	if s.live.Load() {
		s.sync()
		if v := s.view.Load(); v != nil && v.gen == s.gen.Load() {
			if e, ok := v.m[key]; ok {
				s.hit()
				return e.v, e.err
			}
		}
	}
	v, err := read(s, func(t *tables) *cmap[entry[string]] { return &t.settings }, key, func() (string, error) {
		return s.Store.GetSetting(ctx, key)
	})
	if s.live.Load() {
		s.mu.Lock()
		view := &settingsView{gen: s.gen.Load(), m: map[string]entry[string]{}}
		s.tab.Load().settings.each(func(k string, e entry[string]) { view.m[k] = e })
		s.mu.Unlock()
		s.view.Store(view)
	}
	return v, err
}

// settingsView is the settings remembered at generation gen. A view of an
// older generation is never read: every change the cache is told of moves
// the generation.
type settingsView struct {
	gen uint64
	m   map[string]entry[string]
}

// GetTokenByMAC is read for every token-authenticated request; absence is
// remembered too (see tokenCache).
func (s *Store) GetTokenByMAC(ctx context.Context, mac string) (store.Token, error) {
	if !s.live.Load() {
		return s.Store.GetTokenByMAC(ctx, mac)
	}
	s.sync()
	gen := s.gen.Load()
	tab := s.tab.Load()
	if t, found := tab.tokens.byMAC.load(mac); found {
		s.hit()
		return cloneToken(t), nil
	}
	if _, absent := tab.tokens.absent.load(mac); absent {
		s.hit()
		return store.Token{}, errNoToken
	}
	s.misses.Add(1)
	t, err := s.Store.GetTokenByMAC(ctx, mac)
	if err == nil || errors.Is(err, store.ErrNotFound) {
		s.remember(gen, func(tab *tables) {
			if err == nil {
				tab.tokens.put(cloneToken(t))
			} else {
				tab.tokens.putAbsent(mac)
			}
		})
	}
	return t, err
}

// Writes go through, then forget locally at once (the feed will say so
// again, which is harmless).

func (s *Store) CreateAccount(ctx context.Context, a store.Account) error {
	err := s.Store.CreateAccount(ctx, a)
	s.Invalidate(store.Change{Kind: store.ChangeAccount, Key: a.Username})
	return err
}

func (s *Store) UpdateAccount(ctx context.Context, username string, fn func(store.Account) (store.Account, error)) (store.Account, error) {
	a, err := s.Store.UpdateAccount(ctx, username, fn)
	s.Invalidate(store.Change{Kind: store.ChangeAccount, Key: username})
	return a, err
}

func (s *Store) DeleteAccount(ctx context.Context, username string) error {
	err := s.Store.DeleteAccount(ctx, username)
	s.Invalidate(store.Change{Kind: store.ChangeAccount, Key: username})
	return err
}

func (s *Store) CreateMailbox(ctx context.Context, m store.Mailbox) error {
	err := s.Store.CreateMailbox(ctx, m)
	s.Invalidate(store.Change{Kind: store.ChangeMailbox, Key: m.Local + "@" + m.Domain})
	return err
}

func (s *Store) UpdateMailbox(ctx context.Context, local, domain string, fn func(store.Mailbox) (store.Mailbox, error)) (store.Mailbox, error) {
	m, err := s.Store.UpdateMailbox(ctx, local, domain, fn)
	s.Invalidate(store.Change{Kind: store.ChangeMailbox, Key: local + "@" + domain})
	return m, err
}

func (s *Store) DeleteMailbox(ctx context.Context, local, domain string) error {
	err := s.Store.DeleteMailbox(ctx, local, domain)
	s.Invalidate(store.Change{Kind: store.ChangeMailbox, Key: local + "@" + domain})
	return err
}

func (s *Store) SetAccessHash(ctx context.Context, h store.AccessHash) error {
	err := s.Store.SetAccessHash(ctx, h)
	s.Invalidate(store.Change{Kind: store.ChangeAccessHash, Key: h.Username})
	return err
}

func (s *Store) DeleteAccessHash(ctx context.Context, username string) error {
	err := s.Store.DeleteAccessHash(ctx, username)
	s.Invalidate(store.Change{Kind: store.ChangeAccessHash, Key: username})
	return err
}

func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	err := s.Store.SetSetting(ctx, key, value)
	s.Invalidate(store.Change{Kind: store.ChangeSetting, Key: key})
	return err
}

func (s *Store) CreateToken(ctx context.Context, t store.Token) error {
	err := s.Store.CreateToken(ctx, t)
	s.Invalidate(store.Change{Kind: store.ChangeToken, Key: t.MAC})
	return err
}

// UpdateToken and DeleteToken name the token, not its MAC: the cache
// forgets it by name (and by MAC, once known).
func (s *Store) UpdateToken(ctx context.Context, service, username, name string, fn func(store.Token) (store.Token, error)) (store.Token, error) {
	t, err := s.Store.UpdateToken(ctx, service, username, name, fn)
	s.forgetToken(service, username, name, t.MAC)
	return t, err
}

func (s *Store) DeleteToken(ctx context.Context, service, username, name string) error {
	err := s.Store.DeleteToken(ctx, service, username, name)
	s.forgetToken(service, username, name, "")
	return err
}

func (s *Store) forgetToken(service, username, name, mac string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen.Add(1)
	tokens := &s.tab.Load().tokens
	tokens.dropNamed(service, username, name)
	if mac != "" {
		tokens.drop(mac)
	}
}

// TouchToken is not announced to other nodes (see sqlstore): a node keeps
// the LastUsed it read until the token changes otherwise. The node that
// touches updates its own copy, so that it sees its own writes and a
// caller that writes at most once a minute, judging by LastUsed, does so.
func (s *Store) TouchToken(ctx context.Context, mac string, when time.Time, ip string) error {
	err := s.Store.TouchToken(ctx, mac, when, ip)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen.Add(1) // a read racing with the touch is not remembered
	tokens := &s.tab.Load().tokens
	if t, ok := tokens.byMAC.load(mac); ok {
		if err != nil {
			tokens.drop(mac)
		} else {
			// As the database keeps it: microseconds, UTC, zero for never.
			if when.IsZero() {
				t.LastUsed = time.Time{}
			} else {
				t.LastUsed = time.UnixMicro(when.UnixMicro()).UTC()
			}
			t.LastUsedIP = ip
			tokens.byMAC.store(mac, t)
		}
	}
	return err
}

// PurgeExpiredTokens does not learn which tokens it deleted: the cache
// forgets every token it holds that expired before the cut-off.
func (s *Store) PurgeExpiredTokens(ctx context.Context, before time.Time) (int, error) {
	n, err := s.Store.PurgeExpiredTokens(ctx, before)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen.Add(1)
	s.tab.Load().tokens.dropExpired(before)
	return n, err
}

// GetTwoFactor is read for every password-authenticated request while the
// API policy is on, and for sessions not yet two-factor verified.
func (s *Store) GetTwoFactor(ctx context.Context, username string) (store.TwoFactor, error) {
	tf, err := read(s, func(t *tables) *cmap[entry[store.TwoFactor]] { return &t.twoFactor }, username, func() (store.TwoFactor, error) {
		return s.Store.GetTwoFactor(ctx, username)
	})
	tf.Sealed = slices.Clone(tf.Sealed)
	tf.RecoveryMACs = slices.Clone(tf.RecoveryMACs)
	return tf, err
}

func (s *Store) SetTwoFactor(ctx context.Context, tf store.TwoFactor) error {
	err := s.Store.SetTwoFactor(ctx, tf)
	s.Invalidate(store.Change{Kind: store.ChangeTwoFactor, Key: tf.Username})
	return err
}

func (s *Store) UpdateTwoFactor(ctx context.Context, username string, fn func(store.TwoFactor) (store.TwoFactor, error)) (store.TwoFactor, error) {
	tf, err := s.Store.UpdateTwoFactor(ctx, username, fn)
	s.Invalidate(store.Change{Kind: store.ChangeTwoFactor, Key: username})
	return tf, err
}

func (s *Store) DeleteTwoFactor(ctx context.Context, username string) error {
	err := s.Store.DeleteTwoFactor(ctx, username)
	s.Invalidate(store.Change{Kind: store.ChangeTwoFactor, Key: username})
	return err
}

func (s *Store) SetTwoFactorIssuer(ctx context.Context, username, issuer string) error {
	err := s.Store.SetTwoFactorIssuer(ctx, username, issuer)
	s.Invalidate(store.Change{Kind: store.ChangeTwoFactor, Key: username})
	return err
}

// ListPasskeys of one login name is remembered (see tables.passkeys); the
// list of every passkey is not.
func (s *Store) ListPasskeys(ctx context.Context, username string) ([]store.Passkey, error) {
	if username == "" {
		return s.Store.ListPasskeys(ctx, username)
	}
	list, err := read(s, func(t *tables) *cmap[entry[[]store.Passkey]] { return &t.passkeys }, username, func() ([]store.Passkey, error) {
		return s.Store.ListPasskeys(ctx, username)
	})
	return clonePasskeys(list), err // callers may not mutate the cached records
}

func clonePasskeys(list []store.Passkey) []store.Passkey {
	if list == nil {
		return nil
	}
	out := make([]store.Passkey, len(list))
	for i, p := range list {
		p.ID, p.PublicKey, p.AAGUID = slices.Clone(p.ID), slices.Clone(p.PublicKey), slices.Clone(p.AAGUID)
		p.Transports = slices.Clone(p.Transports)
		out[i] = p
	}
	return out
}

func (s *Store) CreatePasskey(ctx context.Context, p store.Passkey) error {
	err := s.Store.CreatePasskey(ctx, p)
	s.Invalidate(store.Change{Kind: store.ChangePasskey, Key: p.Username})
	return err
}

func (s *Store) UpdatePasskey(ctx context.Context, id []byte, fn func(store.Passkey) (store.Passkey, error)) (store.Passkey, error) {
	p, err := s.Store.UpdatePasskey(ctx, id, fn)
	if err == nil {
		s.Invalidate(store.Change{Kind: store.ChangePasskey, Key: p.Username})
	}
	return p, err
}

// DeletePasskey learns the owner only from the row: every login name's
// list is forgotten (deletions are rare).
func (s *Store) DeletePasskey(ctx context.Context, id []byte) error {
	err := s.Store.DeletePasskey(ctx, id)
	s.mu.Lock()
	s.gen.Add(1)
	s.tab.Load().passkeys.clear()
	s.mu.Unlock()
	return err
}
