// Package throttle bounds how often an unauthenticated request that
// stores something may be made: a token bucket for the whole node and a
// fixed-window count per client address, both in memory and of bounded
// size, asked before anything is written.
package throttle

import (
	"container/list"
	"net/netip"
	"sync"
	"time"
)

// Limits are a Limiter's settings.
type Limits struct {
	// Rate and Burst are the node's bucket: Burst requests at once, then
	// Rate a second.
	Rate  float64
	Burst int
	// PerAddress requests per Window from one address (an IPv6 address's
	// /64, which one client holds whole).
	PerAddress int
	Window     time.Duration
	// Addresses is how many addresses the table holds; past it, the
	// address whose window began first is forgotten.
	Addresses int
}

// PasswordlessBegin are the limits of the login page's passwordless
// begin step (/login/passkey/begin), which stores a challenge for five
// minutes at every call: 20 a second per node after a burst of 100, and
// 10 a minute per address, in a table of 4,096 addresses (under a megabyte).
// A person signs in with a handful of begins; a flood stores at most
// 100 + 20 × 300 = 6,100 live challenges per node.
var PasswordlessBegin = Limits{Rate: 20, Burst: 100, PerAddress: 10, Window: time.Minute, Addresses: 4096}

// Verdict is a Limiter's answer.
type Verdict uint8

const (
	// Allowed: the request may go on (and was counted).
	Allowed Verdict = iota
	// AddressLimited: its address made PerAddress requests this window.
	AddressLimited
	// NodeLimited: the node's bucket is empty.
	NodeLimited
)

func (v Verdict) String() string {
	switch v {
	case Allowed:
		return "allowed"
	case AddressLimited:
		return "over the limit of its address"
	case NodeLimited:
		return "over the limit of this node"
	}
	return "unknown"
}

// Limiter applies Limits. It is safe for concurrent use; its memory is
// bounded by Limits.Addresses whatever the number of addresses seen.
type Limiter struct {
	limits Limits
	now    func() time.Time

	mu     sync.Mutex
	tokens float64
	filled time.Time // when tokens was last brought up to date
	// byKey finds an address's entry; order holds the entries by the
	// start of their window, oldest first, so that the oldest is evicted
	// in constant time.
	byKey map[netip.Prefix]*list.Element
	order *list.List
}

type entry struct {
	key   netip.Prefix
	start time.Time
	n     int
}

// New returns a Limiter of l on the clock now (nil: time.Now). Limits
// that are zero or negative are replaced by PasswordlessBegin's.
func New(l Limits, now func() time.Time) *Limiter {
	d := PasswordlessBegin
	if l.Rate <= 0 {
		l.Rate = d.Rate
	}
	if l.Burst <= 0 {
		l.Burst = d.Burst
	}
	if l.PerAddress <= 0 {
		l.PerAddress = d.PerAddress
	}
	if l.Window <= 0 {
		l.Window = d.Window
	}
	if l.Addresses <= 0 {
		l.Addresses = d.Addresses
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{limits: l, now: now, tokens: float64(l.Burst), byKey: make(map[netip.Prefix]*list.Element), order: list.New()}
}

// Now is the limiter's clock.
func (l *Limiter) Now() time.Time { return l.now() }

// Limits returns the limiter's settings.
func (l *Limiter) Limits() Limits { return l.limits }

// Key is the table's key of addr: the address itself for IPv4, its /64
// for IPv6 (an IPv4-mapped IPv6 address is its IPv4 address).
func Key(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap().WithZone("")
	if !addr.IsValid() {
		return netip.Prefix{}
	}
	if addr.Is4() {
		return netip.PrefixFrom(addr, 32)
	}
	p, _ := addr.Prefix(64)
	return p
}

// Allow counts one request from addr and says whether it may go on. A
// refused request costs nothing: it takes no token and does not count
// toward its address's limit.
func (l *Limiter) Allow(addr netip.Addr) Verdict {
	now := l.now()
	key := Key(addr)
	l.mu.Lock()
	defer l.mu.Unlock()

	var e *entry
	if el, ok := l.byKey[key]; ok {
		e = el.Value.(*entry)
		if !now.Before(e.start.Add(l.limits.Window)) || now.Before(e.start) {
			// A new window (or a clock that went back): it starts now,
			// so the entry is the newest.
			e.start, e.n = now, 0
			l.order.MoveToBack(el)
		}
		if e.n >= l.limits.PerAddress {
			return AddressLimited
		}
	}

	l.refill(now)
	if l.tokens < 1 {
		return NodeLimited
	}
	l.tokens--

	if e == nil {
		for l.order.Len() >= l.limits.Addresses {
			oldest := l.order.Front()
			delete(l.byKey, oldest.Value.(*entry).key)
			l.order.Remove(oldest)
		}
		e = &entry{key: key, start: now}
		l.byKey[key] = l.order.PushBack(e)
	}
	e.n++
	return Allowed
}

// refill brings the bucket up to now.
func (l *Limiter) refill(now time.Time) {
	if l.filled.IsZero() || now.Before(l.filled) {
		l.filled = now
		return
	}
	l.tokens += now.Sub(l.filled).Seconds() * l.limits.Rate
	if full := float64(l.limits.Burst); l.tokens > full {
		l.tokens = full
	}
	l.filled = now
}

// Tracked is how many addresses the table holds.
func (l *Limiter) Tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.order.Len()
}
