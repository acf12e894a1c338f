package auth

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
)

// PasswordCache remembers successful password checks (D32), so that a
// client sending HTTP Basic on every call pays one SHA-512-crypt check per
// TTL instead of one per call.
//
// An entry is keyed by a keyed hash of (user, service, password) and holds
// a keyed hash of the stored password hash it was verified against; a
// lookup is given the hash read from the store for this very request (the
// account record is read on every authentication anyway, from the store
// the cluster's change feed keeps true) and answers only when the two
// agree. So a password change makes every entry of the old password
// useless at once, on every node, without the cache being told; a
// suspension or a removal is seen in the record before the cache is asked.
// Failures are never remembered. The cache holds no password and no
// password hash, only keyed hashes under a key made at random for this
// process, which never leaves it.
//
// It is bounded: when it is full, an entry not used since the last sweep
// goes first (the clock algorithm, an approximation of least recently
// used that needs no list to move an entry in on every hit). A lookup
// takes no lock and writes to shared memory at most once per entry
// between two sweeps (the entry's used mark); only an insertion, which
// follows a full password check, takes the lock.
//
// Its size and TTL may change while it is in use (SetLimits).
type PasswordCache struct {
	key *secret.Key
	ttl atomic.Int64 // a time.Duration; 0: off
	now func() time.Time

	entries sync.Map // keyed hash of (user, service, password) -> *cacheEntry

	mu   sync.Mutex // guards ring, hand and size: insertions and evictions
	ring []*cacheEntry
	hand int
	size int // 0: off
}

// cacheEntry is one remembered success. Its fields are set before it is
// published and never change, but for the two marks.
type cacheEntry struct {
	key     string
	hash    string // keyed hash of the stored password hash
	expires int64  // unix nanoseconds, on the cache's clock
	// used is set by a hit and cleared by the sweep that spares the
	// entry; gone is set once the entry has left the map.
	used atomic.Bool
	gone atomic.Bool
}

// NewPasswordCache returns a cache of at most size entries, each good for
// ttl on the clock now (nil: time.Now). A zero ttl or size turns caching
// off: the result is nil, which every method accepts.
func NewPasswordCache(size int, ttl time.Duration, now func() time.Time) (*PasswordCache, error) {
	if size <= 0 || ttl <= 0 {
		return nil, nil
	}
	key, err := secret.NewKey()
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	c := &PasswordCache{key: key, now: now, size: size}
	c.ttl.Store(int64(ttl))
	return c, nil
}

// NewAdjustablePasswordCache is NewPasswordCache for a cache whose limits
// may change later (SetLimits): it returns a cache even when size or ttl
// turns caching off.
func NewAdjustablePasswordCache(size int, ttl time.Duration, now func() time.Time) (*PasswordCache, error) {
	key, err := secret.NewKey()
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	c := &PasswordCache{key: key, now: now}
	c.SetLimits(size, ttl)
	return c, nil
}

// SetLimits changes the size and TTL; a zero size or ttl turns caching
// off. Any change forgets every entry, so that no entry outlives the new
// TTL and the cache holds no more than the new size.
func (c *PasswordCache) SetLimits(size int, ttl time.Duration) {
	if c == nil {
		return
	}
	if size <= 0 || ttl <= 0 {
		size, ttl = 0, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.size == size && time.Duration(c.ttl.Load()) == ttl {
		return
	}
	c.size = size
	c.ttl.Store(int64(ttl))
	for _, e := range c.ring {
		if e != nil {
			c.drop(e)
		}
	}
	c.ring, c.hand = nil, 0
}

// Limits returns the size and TTL (both 0 when off).
func (c *PasswordCache) Limits() (size int, ttl time.Duration) {
	if c == nil {
		return 0, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size, time.Duration(c.ttl.Load())
}

// Enabled reports whether the cache remembers anything.
func (c *PasswordCache) Enabled() bool {
	size, ttl := c.Limits()
	return size > 0 && ttl > 0
}

// keyOf is the entry key of (user, service, password). The NULs keep the
// parts apart (neither a user name nor a password holds a control byte
// once the method has refused those).
func (c *PasswordCache) keyOf(user string, svc core.Service, password string) string {
	return c.key.MACStrings("password-cache/entry", user, "\x00", svc.App(), "\x00", password)
}

func (c *PasswordCache) hashOf(storedHash string) string {
	return c.key.MACStrings("password-cache/hash", storedHash)
}

// Verified reports whether password was found right for user on svc,
// within the TTL, against the stored hash storedHash.
func (c *PasswordCache) Verified(user string, svc core.Service, password, storedHash string) bool {
	if c == nil {
		return false
	}
	v, ok := c.entries.Load(c.keyOf(user, svc, password))
	if !ok {
		return false
	}
	e := v.(*cacheEntry)
	if c.now().UnixNano() >= e.expires || !secret.Equal(e.hash, c.hashOf(storedHash)) {
		// Expired, or made for a hash the account no longer has: it can
		// never answer again.
		c.drop(e)
		return false
	}
	if !e.used.Load() { // write only when the mark changes
		e.used.Store(true)
	}
	return true
}

// Remember notes that password was found right for user on svc against
// storedHash (the hash now stored: a re-hashed password's new one).
func (c *PasswordCache) Remember(user string, svc core.Service, password, storedHash string) {
	if c == nil {
		return
	}
	ttl := time.Duration(c.ttl.Load())
	if ttl <= 0 {
		return
	}
	e := &cacheEntry{key: c.keyOf(user, svc, password), hash: c.hashOf(storedHash), expires: c.now().Add(ttl).UnixNano()}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.size <= 0 || time.Duration(c.ttl.Load()) != ttl {
		return // turned off, or changed, meanwhile
	}
	slot := c.freeSlot()
	c.ring[slot] = e
	if old, loaded := c.entries.Swap(e.key, e); loaded {
		old.(*cacheEntry).gone.Store(true) // its slot is free from now on
	}
}

// freeSlot returns the index of a ring slot that may be overwritten,
// evicting the entry in it if need be. c.mu is held.
func (c *PasswordCache) freeSlot() int {
	if len(c.ring) < c.size {
		c.ring = append(c.ring, nil)
		return len(c.ring) - 1
	}
	now := c.now().UnixNano()
	// Two turns at most: the first clears every used mark it passes.
	for range 2 * len(c.ring) {
		i := c.hand
		c.hand = (c.hand + 1) % len(c.ring)
		e := c.ring[i]
		switch {
		case e == nil || e.gone.Load():
			return i
		case now >= e.expires || !e.used.Load():
			c.drop(e)
			return i
		}
		e.used.Store(false) // spared once
	}
	i := c.hand // unreachable: the second turn finds every mark cleared
	c.drop(c.ring[i])
	return i
}

// drop takes e out of the map (unless another entry replaced it there).
func (c *PasswordCache) drop(e *cacheEntry) {
	c.entries.CompareAndDelete(e.key, e)
	e.gone.Store(true)
}

// Len returns the number of entries held (expired ones not yet swept
// included); for tests and statistics.
func (c *PasswordCache) Len() int {
	if c == nil {
		return 0
	}
	n := 0
	c.entries.Range(func(any, any) bool { n++; return true })
	return n
}
