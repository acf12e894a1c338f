package cached

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cpauth/cpauth/internal/store"
)

// sessionCache holds the sessions read by IDHash (every cookie-authenticated
// request reads one): those found, indexed by account as well so that an
// account's change can forget them, and the IDHashes found to be absent.
//
// Absence is bounded as for tokens (anyone can send fresh random cookies):
// at maxAbsentSessions entries the set is emptied and starts again.
//
// A found session is kept at most sessionTTL. Every write to a session is
// announced, except TouchSession: another node's touches move LastSeen in
// the store without this node hearing of it, and LastSeen decides the idle
// timeout. Without a bound, a node that last read a session long ago would
// judge it by a LastSeen as old as that read, and end a session that is in
// use on another node. With it, this node's LastSeen lags the store's by at
// most sessionTTL. A lag only ever makes a session look idle sooner (the
// store's LastSeen never moves back through TouchSession), never lets an
// idle one in.
//
// byID and absent are read without a lock; everything is written under
// Store.mu, and byAccount and nAbsent are only ever used under it.
type sessionCache struct {
	byID      cmap[cachedSession]
	byAccount map[string]map[string]struct{} // account -> IDHashes in byID
	absent    cmap[struct{}]
	nAbsent   int
}

type cachedSession struct {
	s      store.Session
	loaded time.Time // when the read that found it began
}

// maxAbsentSessions bounds the remembered absent IDHashes (some 100 bytes
// each).
const maxAbsentSessions = 4096

// sessionTTL bounds how long a found session is answered from memory: one
// read of each session in use per node and sessionTTL, against one per
// request without a cache.
const sessionTTL = 30 * time.Second

// errNoSession is the answer for a remembered absent IDHash.
var errNoSession = fmt.Errorf("cached: session: %w", store.ErrNotFound)

func newSessionCache() sessionCache {
	return sessionCache{byAccount: map[string]map[string]struct{}{}}
}

func (c *sessionCache) put(ss store.Session, loaded time.Time) {
	c.drop(ss.IDHash)
	c.byID.store(ss.IDHash, cachedSession{ss, loaded})
	ids := c.byAccount[ss.Account]
	if ids == nil {
		ids = map[string]struct{}{}
		c.byAccount[ss.Account] = ids
	}
	ids[ss.IDHash] = struct{}{}
}

func (c *sessionCache) putAbsent(id string) {
	c.drop(id)
	if c.nAbsent >= maxAbsentSessions {
		c.absent.clear()
		c.nAbsent = 0
	}
	c.absent.store(id, struct{}{})
	c.nAbsent++
}

// drop forgets whatever is known of id.
func (c *sessionCache) drop(id string) {
	if c.absent.delete(id) {
		c.nAbsent--
	}
	e, ok := c.byID.load(id)
	if !ok {
		return
	}
	c.byID.delete(id)
	if ids := c.byAccount[e.s.Account]; ids != nil {
		delete(ids, id)
		if len(ids) == 0 {
			delete(c.byAccount, e.s.Account)
		}
	}
}

// dropAccount forgets the sessions of account (its own and its Webmail
// users').
func (c *sessionCache) dropAccount(account string) {
	for id := range c.byAccount[account] {
		c.byID.delete(id)
	}
	delete(c.byAccount, account)
}

// dropIf forgets the sessions for which cond holds.
func (c *sessionCache) dropIf(cond func(store.Session) bool) {
	c.byID.each(func(id string, e cachedSession) {
		if cond(e.s) {
			c.drop(id)
		}
	})
}

// GetSession is read for every cookie-authenticated request; absence is
// remembered too, and a found session kept at most sessionTTL (see
// sessionCache).
func (s *Store) GetSession(ctx context.Context, idHash string) (store.Session, error) {
	if !s.live.Load() {
		return s.Store.GetSession(ctx, idHash)
	}
	s.sync()
	now := s.now()
	gen := s.gen.Load()
	tab := s.tab.Load()
	if e, found := tab.sessions.byID.load(idHash); found && now.Sub(e.loaded) < sessionTTL {
		s.hit()
		return e.s, nil
	}
	if _, absent := tab.sessions.absent.load(idHash); absent {
		s.hit()
		return store.Session{}, errNoSession
	}
	s.misses.Add(1)
	ss, err := s.Store.GetSession(ctx, idHash)
	if err == nil || errors.Is(err, store.ErrNotFound) {
		s.remember(gen, func(tab *tables) {
			if err == nil {
				tab.sessions.put(ss, now)
			} else {
				tab.sessions.putAbsent(idHash)
			}
		})
	}
	return ss, err
}

// forgetSessions forgets what drop names, and makes a read that raced with
// the write not remembered.
func (s *Store) forgetSessions(drop func(*sessionCache)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen.Add(1)
	drop(&s.tab.Load().sessions)
}

func (s *Store) forgetSession(idHash string) {
	s.forgetSessions(func(c *sessionCache) { c.drop(idHash) })
}

func (s *Store) CreateSession(ctx context.Context, ss store.Session) error {
	err := s.Store.CreateSession(ctx, ss)
	s.forgetSession(ss.IDHash)
	return err
}

func (s *Store) UpdateSession(ctx context.Context, idHash string, fn func(store.Session) (store.Session, error)) (store.Session, error) {
	ss, err := s.Store.UpdateSession(ctx, idHash, fn)
	s.forgetSession(idHash)
	return ss, err
}

func (s *Store) DeleteSession(ctx context.Context, idHash string) error {
	err := s.Store.DeleteSession(ctx, idHash)
	s.forgetSession(idHash)
	return err
}

// ConsumeSession always goes to the store, whatever the cache holds: only
// the store's delete decides which of concurrent consumers gets the session.
func (s *Store) ConsumeSession(ctx context.Context, idHash string) (store.Session, error) {
	ss, err := s.Store.ConsumeSession(ctx, idHash)
	s.forgetSession(idHash)
	return ss, err
}

// TouchSession is not announced to other nodes (see sqlstore): the node
// that touches updates its own copy, as the store keeps it (microseconds,
// UTC, never moving back), so that it sees its own writes and a caller that
// touches at most once a minute, judging by LastSeen, does so.
func (s *Store) TouchSession(ctx context.Context, idHash string, lastSeen time.Time) error {
	err := s.Store.TouchSession(ctx, idHash, lastSeen)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen.Add(1) // a read racing with the touch is not remembered
	sessions := &s.tab.Load().sessions
	if e, ok := sessions.byID.load(idHash); ok {
		if err != nil {
			sessions.drop(idHash)
		} else if t := time.UnixMicro(lastSeen.UnixMicro()).UTC(); e.s.LastSeen.Before(t) {
			e.s.LastSeen = t
			sessions.byID.store(idHash, e)
		}
	}
	return err
}

// DeleteUserSessions does not learn which sessions it deleted: the cache
// forgets every session of username it holds but keep.
func (s *Store) DeleteUserSessions(ctx context.Context, username, keep string) (int, error) {
	n, err := s.Store.DeleteUserSessions(ctx, username, keep)
	s.forgetSessions(func(c *sessionCache) {
		c.dropIf(func(ss store.Session) bool { return ss.Username == username && ss.IDHash != keep })
	})
	return n, err
}

func (s *Store) DeleteAccountSessions(ctx context.Context, account string) (int, error) {
	n, err := s.Store.DeleteAccountSessions(ctx, account)
	s.forgetSessions(func(c *sessionCache) { c.dropAccount(account) })
	return n, err
}

// DeletePasskeySessions: the cache forgets every session it holds that
// the passkey made or verified (the store announces each one it ended, for
// the other nodes).
func (s *Store) DeletePasskeySessions(ctx context.Context, id []byte) ([]store.Session, error) {
	ended, err := s.Store.DeletePasskeySessions(ctx, id)
	s.forgetSessions(func(c *sessionCache) {
		c.dropIf(func(ss store.Session) bool { return len(id) > 0 && bytes.Equal(ss.Passkey, id) })
		for _, e := range ended {
			c.drop(e.IDHash)
		}
	})
	return ended, err
}

// PurgeSessions: the cache forgets every session it holds that the purge
// may have taken (its copy's LastSeen is never later than the store's, so
// that is at least what the purge returns).
func (s *Store) PurgeSessions(ctx context.Context, now time.Time) ([]store.Session, error) {
	ended, err := s.Store.PurgeSessions(ctx, now)
	s.forgetSessions(func(c *sessionCache) {
		c.dropIf(func(ss store.Session) bool {
			return !ss.Expires.After(now) || ss.IdleTimeout > 0 && !ss.LastSeen.Add(ss.IdleTimeout).After(now)
		})
	})
	return ended, err
}
