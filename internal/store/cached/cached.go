// Package cached keeps the records read on every authentication in memory,
// in front of a shared store, and forgets them when any node changes them.
package cached

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cpauth/cpauth/internal/store"
)

// Store is a store.Store whose point reads (accounts, mailboxes, access
// hashes, settings) are answered from memory while the change feed of the
// underlying store is live. Writes go through and forget what they touch.
// A read that raced with a change is not remembered (generation check), so
// the cache never holds a record older than the last change it was told of.
type Store struct {
	store.Store
	live atomic.Bool

	mu       sync.RWMutex
	gen      uint64
	accounts map[string]entry[store.Account]
	boxes    map[string]entry[store.Mailbox]
	hashes   map[string]entry[store.AccessHash]
	settings map[string]entry[string]

	hits, misses atomic.Uint64
}

type entry[T any] struct {
	v   T
	err error // nil or store.ErrNotFound: absence is remembered too
}

// New wraps inner. It caches nothing until Run reports the feed live.
func New(inner store.Store) *Store {
	s := &Store{Store: inner}
	s.reset()
	return s
}

func (s *Store) reset() {
	s.accounts = map[string]entry[store.Account]{}
	s.boxes = map[string]entry[store.Mailbox]{}
	s.hashes = map[string]entry[store.AccessHash]{}
	s.settings = map[string]entry[string]{}
}

// Run follows w's change feed until ctx ends.
func (s *Store) Run(ctx context.Context, w store.Watcher) error {
	return w.Watch(ctx, s.Invalidate, s.SetLive)
}

// SetLive turns caching on or off; either way everything is forgotten.
func (s *Store) SetLive(live bool) {
	s.mu.Lock()
	s.gen++
	s.reset()
	s.live.Store(live)
	s.mu.Unlock()
}

// Live reports whether the cache is in use.
func (s *Store) Live() bool { return s.live.Load() }

// Stats reports cache hits and misses since start.
func (s *Store) Stats() (hits, misses uint64) { return s.hits.Load(), s.misses.Load() }

// Invalidate forgets what a change touched.
func (s *Store) Invalidate(c store.Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	switch c.Kind {
	case store.ChangeAccount:
		// An account's change (deletion, suspension, domain) reaches its
		// mailboxes and access hash too.
		delete(s.accounts, c.Key)
		delete(s.hashes, c.Key)
		s.boxes = map[string]entry[store.Mailbox]{}
	case store.ChangeMailbox:
		delete(s.boxes, c.Key)
	case store.ChangeAccessHash:
		delete(s.hashes, c.Key)
	case store.ChangeSetting:
		delete(s.settings, c.Key)
	default:
		s.reset()
	}
}

// read answers from m or loads and remembers the record.
func read[T any](s *Store, m func() map[string]entry[T], key string, load func() (T, error)) (T, error) {
	if s.live.Load() {
		s.mu.RLock()
		e, ok := m()[key]
		gen := s.gen
		s.mu.RUnlock()
		if ok {
			s.hits.Add(1)
			return e.v, e.err
		}
		s.misses.Add(1)
		v, err := load()
		if err == nil || errors.Is(err, store.ErrNotFound) {
			s.mu.Lock()
			if s.gen == gen && s.live.Load() {
				m()[key] = entry[T]{v, err}
			}
			s.mu.Unlock()
		}
		return v, err
	}
	return load()
}

func (s *Store) GetAccount(ctx context.Context, username string) (store.Account, error) {
	a, err := read(s, func() map[string]entry[store.Account] { return s.accounts }, username, func() (store.Account, error) {
		return s.Store.GetAccount(ctx, username)
	})
	a.ACLs = slices.Clone(a.ACLs) // callers may not mutate the cached slice
	return a, err
}

func (s *Store) GetMailbox(ctx context.Context, local, domain string) (store.Mailbox, error) {
	return read(s, func() map[string]entry[store.Mailbox] { return s.boxes }, local+"@"+domain, func() (store.Mailbox, error) {
		return s.Store.GetMailbox(ctx, local, domain)
	})
}

func (s *Store) GetAccessHash(ctx context.Context, username string) (store.AccessHash, error) {
	h, err := read(s, func() map[string]entry[store.AccessHash] { return s.hashes }, username, func() (store.AccessHash, error) {
		return s.Store.GetAccessHash(ctx, username)
	})
	h.Sealed = slices.Clone(h.Sealed)
	return h, err
}

func (s *Store) GetSetting(ctx context.Context, key string) (string, error) {
	return read(s, func() map[string]entry[string] { return s.settings }, key, func() (string, error) {
		return s.Store.GetSetting(ctx, key)
	})
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
