package auth

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/core"
)

// fakeClock is a clock the test moves.
type fakeClock struct{ t atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.t.Store(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.t.Add(int64(d)) }

func newTestCache(t *testing.T, size int, ttl time.Duration, clock *fakeClock) *PasswordCache {
	t.Helper()
	c, err := NewPasswordCache(size, ttl, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	if c == nil {
		t.Fatal("NewPasswordCache returned no cache")
	}
	return c
}

const (
	cacheHash  = "$6$rounds=1000$saltsaltsaltsalt$stored-hash"
	cacheHash2 = "$6$rounds=1000$othersaltsaltsal$new-hash"
)

func TestPasswordCacheLookups(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, 100, 5*time.Minute, clock)
	c.Remember("bob", core.ServiceCPanel, "pw", cacheHash)
	tests := []struct {
		name     string
		user     string
		svc      core.Service
		password string
		hash     string
		want     bool
	}{
		{"hit", "bob", core.ServiceCPanel, "pw", cacheHash, true},
		{"other password", "bob", core.ServiceCPanel, "pw2", cacheHash, false},
		{"password prefix", "bob", core.ServiceCPanel, "p", cacheHash, false},
		{"other user", "bobby", core.ServiceCPanel, "pw", cacheHash, false},
		{"user and password shifted", "bob\x00cpaneld\x00p", core.ServiceCPanel, "w", cacheHash, false},
		{"other service", "bob", core.ServiceWebmail, "pw", cacheHash, false},
		{"hit again", "bob", core.ServiceCPanel, "pw", cacheHash, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.Verified(tc.user, tc.svc, tc.password, tc.hash); got != tc.want {
				t.Fatalf("Verified = %v, want %v", got, tc.want)
			}
		})
	}
}

// An entry answers only for the stored hash it was verified against: a
// password change (a new hash) makes it useless at once, for good.
func TestPasswordCacheBoundToHash(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, 100, 5*time.Minute, clock)
	c.Remember("bob", core.ServiceCPanel, "pw", cacheHash)
	if c.Verified("bob", core.ServiceCPanel, "pw", cacheHash2) {
		t.Fatal("hit against another stored hash")
	}
	if c.Verified("bob", core.ServiceCPanel, "pw", "") {
		t.Fatal("hit against an empty stored hash")
	}
	if c.Len() != 0 {
		t.Fatalf("Len = %d after the mismatch, want 0: the entry can never answer again", c.Len())
	}
	c.Remember("bob", core.ServiceCPanel, "pw", cacheHash2)
	if !c.Verified("bob", core.ServiceCPanel, "pw", cacheHash2) {
		t.Fatal("no hit for the entry of the new hash")
	}
}

func TestPasswordCacheTTL(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, 100, 5*time.Minute, clock)
	c.Remember("bob", core.ServiceCPanel, "pw", cacheHash)
	clock.Advance(5*time.Minute - time.Nanosecond)
	if !c.Verified("bob", core.ServiceCPanel, "pw", cacheHash) {
		t.Fatal("expired before the TTL")
	}
	clock.Advance(time.Nanosecond)
	if c.Verified("bob", core.ServiceCPanel, "pw", cacheHash) {
		t.Fatal("hit at the TTL")
	}
	if c.Len() != 0 {
		t.Fatalf("Len = %d after expiry, want 0", c.Len())
	}
	// A hit does not extend the TTL: the entry counts from its check.
	c.Remember("bob", core.ServiceCPanel, "pw", cacheHash)
	for range 10 {
		clock.Advance(time.Minute)
		c.Verified("bob", core.ServiceCPanel, "pw", cacheHash)
	}
	if c.Verified("bob", core.ServiceCPanel, "pw", cacheHash) {
		t.Fatal("hits kept an entry alive past its TTL")
	}
}

// The cache holds at most size entries; the ones not used since the last
// sweep go first, and expired ones before any.
func TestPasswordCacheBound(t *testing.T) {
	user := func(i int) string { return fmt.Sprintf("user%d", i) }
	tests := []struct {
		name    string
		size    int
		fill    int   // users remembered, in order
		use     []int // then used, in order
		add     int   // then remembered besides
		expire  bool  // the clock passes the TTL of the first fill before the additions
		gone    []int // must have gone
		present []int // must be there
	}{
		{"oldest unused goes first", 3, 3, nil, 1, false, []int{0}, []int{1, 2, 3}},
		{"a used entry is spared", 3, 3, []int{0}, 1, false, []int{1}, []int{0, 2, 3}},
		{"the used ones outlast the unused", 4, 4, []int{0, 2}, 2, false, []int{1, 3}, []int{0, 2, 4, 5}},
		{"all used: the sweep still finds one", 3, 3, []int{0, 1, 2}, 1, false, []int{0}, []int{1, 2, 3}},
		{"many more than the size", 5, 5, nil, 20, false, []int{0, 1, 2, 3, 4, 5, 10, 19}, []int{20, 21, 22, 23, 24}},
		{"size one", 1, 1, []int{0}, 1, false, []int{0}, []int{1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			c := newTestCache(t, tc.size, time.Hour, clock)
			for i := range tc.fill {
				c.Remember(user(i), core.ServiceCPanel, "pw", cacheHash)
			}
			for _, i := range tc.use {
				if !c.Verified(user(i), core.ServiceCPanel, "pw", cacheHash) {
					t.Fatalf("%s missing before the additions", user(i))
				}
			}
			for i := tc.fill; i < tc.fill+tc.add; i++ {
				c.Remember(user(i), core.ServiceCPanel, "pw", cacheHash)
			}
			if n := c.Len(); n > tc.size {
				t.Fatalf("Len = %d, above the size %d", n, tc.size)
			}
			present := map[int]bool{}
			for _, i := range tc.present {
				present[i] = true
			}
			for _, i := range tc.gone {
				if c.Verified(user(i), core.ServiceCPanel, "pw", cacheHash) {
					t.Errorf("%s is still there", user(i))
				}
			}
			for i := range tc.fill + tc.add {
				if present[i] && !c.Verified(user(i), core.ServiceCPanel, "pw", cacheHash) {
					t.Errorf("%s is gone", user(i))
				}
			}
		})
	}
}

// Expired entries go before unexpired ones, used or not.
func TestPasswordCacheEvictsExpiredFirst(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, 3, time.Minute, clock)
	c.Remember("old", core.ServiceCPanel, "pw", cacheHash)
	clock.Advance(30 * time.Second)
	c.Remember("a", core.ServiceCPanel, "pw", cacheHash)
	c.Remember("b", core.ServiceCPanel, "pw", cacheHash)
	c.Verified("old", core.ServiceCPanel, "pw", cacheHash) // used, then expired
	clock.Advance(31 * time.Second)
	c.Remember("c", core.ServiceCPanel, "pw", cacheHash)
	for _, u := range []string{"a", "b", "c"} {
		if !c.Verified(u, core.ServiceCPanel, "pw", cacheHash) {
			t.Errorf("%s is gone; the expired entry should have gone instead", u)
		}
	}
}

// Remembering the same check again replaces its entry rather than taking a
// second slot.
func TestPasswordCacheRememberAgain(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, 2, time.Minute, clock)
	for range 5 {
		c.Remember("bob", core.ServiceCPanel, "pw", cacheHash)
	}
	c.Remember("carol", core.ServiceCPanel, "pw", cacheHash)
	if !c.Verified("bob", core.ServiceCPanel, "pw", cacheHash) || !c.Verified("carol", core.ServiceCPanel, "pw", cacheHash) {
		t.Fatal("a repeated Remember pushed an entry out")
	}
	if n := c.Len(); n != 2 {
		t.Fatalf("Len = %d, want 2", n)
	}
}

// What the cache holds are keyed hashes: neither the password nor the
// stored hash appears in it.
func TestPasswordCacheHoldsNoSecret(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, 10, time.Minute, clock)
	const pw = "correct horse battery staple"
	c.Remember("bob", core.ServiceCPanel, pw, cacheHash)
	c.entries.Range(func(k, v any) bool {
		e := v.(*cacheEntry)
		for _, s := range []string{k.(string), e.key, e.hash} {
			if strings.Contains(s, pw) || strings.Contains(s, "horse") || strings.Contains(s, cacheHash) || strings.Contains(s, "stored-hash") {
				t.Errorf("the cache holds %q", s)
			}
		}
		return true
	})
	// Two caches (two processes) key the same check differently.
	other := newTestCache(t, 10, time.Minute, clock)
	if c.keyOf("bob", core.ServiceCPanel, pw) == other.keyOf("bob", core.ServiceCPanel, pw) {
		t.Error("two caches share a key")
	}
}

func TestPasswordCacheOff(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		ttl  time.Duration
	}{{"size 0", 0, time.Minute}, {"ttl 0", 10, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewPasswordCache(tc.size, tc.ttl, nil)
			if err != nil || c != nil {
				t.Fatalf("NewPasswordCache = %v, %v; want nil, nil", c, err)
			}
			c.Remember("bob", core.ServiceCPanel, "pw", cacheHash)
			if c.Verified("bob", core.ServiceCPanel, "pw", cacheHash) || c.Len() != 0 {
				t.Fatal("a nil cache remembered something")
			}
		})
	}
}

// Lookups, insertions, evictions and mismatches at once (run with -race):
// the bound holds and a hit is only ever for what was remembered.
func TestPasswordCacheConcurrent(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, 16, time.Minute, clock)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				u := fmt.Sprintf("user%d", (g*7+i)%40)
				switch i % 4 {
				case 0:
					c.Remember(u, core.ServiceCPanel, "pw-"+u, cacheHash)
				case 1:
					if c.Verified(u, core.ServiceCPanel, "wrong", cacheHash) {
						t.Error("hit for a password never remembered")
					}
				case 2:
					c.Verified(u, core.ServiceCPanel, "pw-"+u, cacheHash2)
				default:
					c.Verified(u, core.ServiceCPanel, "pw-"+u, cacheHash)
				}
				if i%100 == 0 {
					clock.Advance(time.Second)
				}
			}
		})
	}
	wg.Wait()
	if n := c.Len(); n > 16 {
		t.Fatalf("Len = %d, above the size 16", n)
	}
}

func TestPasswordCacheStats(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, 2, time.Minute, clock)
	steps := []struct {
		name string
		do   func()
		want CacheStats
	}{
		{"empty", func() {}, CacheStats{Capacity: 2}},
		{"miss", func() { c.Verified("bob", core.ServiceCPanel, "pw", cacheHash) }, CacheStats{Misses: 1, Capacity: 2}},
		{"remember", func() { c.Remember("bob", core.ServiceCPanel, "pw", cacheHash) }, CacheStats{Misses: 1, Size: 1, Capacity: 2}},
		{"hit", func() { c.Verified("bob", core.ServiceCPanel, "pw", cacheHash) }, CacheStats{Hits: 1, Misses: 1, Size: 1, Capacity: 2}},
		{"remember again keeps the size", func() { c.Remember("bob", core.ServiceCPanel, "pw", cacheHash) }, CacheStats{Hits: 1, Misses: 1, Size: 1, Capacity: 2}},
		{"three entries in two slots", func() {
			c.Remember("amy", core.ServiceCPanel, "pw", cacheHash)
			c.Remember("cat", core.ServiceCPanel, "pw", cacheHash)
		}, CacheStats{Hits: 1, Misses: 1, Size: 2, Capacity: 2}},
		{"expired is a miss and leaves", func() {
			clock.Advance(2 * time.Minute)
			c.Verified("cat", core.ServiceCPanel, "pw", cacheHash)
		}, CacheStats{Hits: 1, Misses: 2, Size: 1, Capacity: 2}},
	}
	for _, s := range steps {
		s.do()
		got := c.Stats()
		if got != s.want {
			t.Fatalf("%s: Stats() = %+v, want %+v", s.name, got, s.want)
		}
		if got.Size != c.Len() {
			t.Fatalf("%s: Stats().Size = %d, Len() = %d", s.name, got.Size, c.Len())
		}
	}
	var off *PasswordCache
	if got := off.Stats(); got != (CacheStats{}) {
		t.Errorf("nil cache Stats() = %+v", got)
	}
}
