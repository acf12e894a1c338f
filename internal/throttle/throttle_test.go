package throttle

import (
	"net/netip"
	"sync"
	"testing"
	"time"
)

// clock is a test's clock: it moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)} }

func addr4(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

func TestKey(t *testing.T) {
	for _, tc := range []struct{ name, addr, want string }{
		{"IPv4", "192.0.2.7", "192.0.2.7/32"},
		{"IPv6 /64", "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"IPv4-mapped", "::ffff:192.0.2.7", "192.0.2.7/32"},
		{"zone dropped", "fe80::1%eth0", "fe80::/64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Key(netip.MustParseAddr(tc.addr)).String(); got != tc.want {
				t.Fatalf("Key(%s) = %s, want %s", tc.addr, got, tc.want)
			}
		})
	}
	if Key(netip.Addr{}).IsValid() {
		t.Fatal("the zero address has a key")
	}
}

func TestAllow(t *testing.T) {
	small := Limits{Rate: 2, Burst: 5, PerAddress: 3, Window: time.Minute, Addresses: 4}
	tests := []struct {
		name string
		run  func(t *testing.T, l *Limiter, c *clock)
	}{
		{"one address: its limit, then refused", func(t *testing.T, l *Limiter, c *clock) {
			a := addr4(1)
			for i := range 3 {
				if v := l.Allow(a); v != Allowed {
					t.Fatalf("request %d: %v", i, v)
				}
			}
			for i := range 10 {
				if v := l.Allow(a); v != AddressLimited {
					t.Fatalf("request %d past the limit: %v", i+3, v)
				}
			}
		}},
		{"one address: again after its window", func(t *testing.T, l *Limiter, c *clock) {
			a := addr4(1)
			for range 3 {
				l.Allow(a)
			}
			c.Advance(time.Minute - time.Nanosecond)
			if v := l.Allow(a); v != AddressLimited {
				t.Fatalf("just before the window's end: %v", v)
			}
			c.Advance(time.Nanosecond)
			if v := l.Allow(a); v != Allowed {
				t.Fatalf("after the window: %v", v)
			}
		}},
		{"an IPv6 /64 is one address", func(t *testing.T, l *Limiter, c *clock) {
			for i := range 3 {
				a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)})
				if v := l.Allow(a); v != Allowed {
					t.Fatalf("request %d: %v", i, v)
				}
			}
			if v := l.Allow(netip.MustParseAddr("2001:db8::ffff")); v != AddressLimited {
				t.Fatalf("another address of the /64: %v", v)
			}
			if v := l.Allow(netip.MustParseAddr("2001:db8:0:1::1")); v != Allowed {
				t.Fatalf("another /64: %v", v)
			}
		}},
		{"many addresses: the node's burst, then its rate", func(t *testing.T, l *Limiter, c *clock) {
			allowed := 0
			for i := range 100 {
				if l.Allow(addr4(i)) == Allowed {
					allowed++
				}
			}
			if allowed != 5 {
				t.Fatalf("%d allowed at once, want the burst 5", allowed)
			}
			if v := l.Allow(addr4(1000)); v != NodeLimited {
				t.Fatalf("past the burst: %v", v)
			}
			c.Advance(time.Second) // 2 tokens
			allowed = 0
			for i := range 100 {
				if l.Allow(addr4(200+i)) == Allowed {
					allowed++
				}
			}
			if allowed != 2 {
				t.Fatalf("%d allowed a second later, want the rate 2", allowed)
			}
			c.Advance(time.Hour) // the bucket fills up to its burst, no more
			allowed = 0
			for i := range 100 {
				if l.Allow(addr4(400+i)) == Allowed {
					allowed++
				}
			}
			if allowed != 5 {
				t.Fatalf("%d allowed after an hour, want the burst 5", allowed)
			}
		}},
		{"a refusal by the node does not count for the address", func(t *testing.T, l *Limiter, c *clock) {
			for i := range 5 {
				l.Allow(addr4(i))
			}
			a := addr4(99)
			for range 20 {
				if v := l.Allow(a); v != NodeLimited {
					t.Fatalf("empty bucket: %v", v)
				}
			}
			c.Advance(10 * time.Second)
			for i := range 3 {
				if v := l.Allow(a); v != Allowed {
					t.Fatalf("request %d once tokens are back: %v", i, v)
				}
			}
		}},
		{"the table stays bounded, the oldest forgotten", func(t *testing.T, l *Limiter, c *clock) {
			for i := range 50 {
				c.Advance(time.Second)
				l.Allow(addr4(i))
				if n := l.Tracked(); n > 4 {
					t.Fatalf("%d addresses tracked, more than 4", n)
				}
			}
			for range 3 {
				c.Advance(time.Second)
				l.Allow(addr4(49))
			}
			// addr4(49) is at its limit and still tracked (the newest).
			c.Advance(time.Second)
			if v := l.Allow(addr4(49)); v != AddressLimited {
				t.Fatalf("the newest address: %v", v)
			}
		}},
		{"a clock that goes back starts a new window", func(t *testing.T, l *Limiter, c *clock) {
			a := addr4(1)
			for range 3 {
				l.Allow(a)
			}
			c.Advance(-time.Hour)
			if v := l.Allow(a); v != Allowed {
				t.Fatalf("after the clock went back: %v", v)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			tc.run(t, New(small, c.Now), c)
		})
	}
}

func TestNewDefaults(t *testing.T) {
	l := New(Limits{}, nil)
	if l.Limits() != PasswordlessBegin {
		t.Fatalf("zero limits became %+v", l.Limits())
	}
}

func TestConcurrent(t *testing.T) {
	c := newClock()
	l := New(Limits{Rate: 1, Burst: 50, PerAddress: 1000, Window: time.Minute, Addresses: 8}, c.Now)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		allowed int
	)
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				if l.Allow(addr4(g*1000+i%16)) == Allowed {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if allowed != 50 {
		t.Fatalf("%d allowed by 8 goroutines, want the burst 50", allowed)
	}
	if n := l.Tracked(); n > 8 {
		t.Fatalf("%d addresses tracked", n)
	}
}

// BenchmarkAllow: a new address at every call, the table full (the
// oldest address evicted each time); admitted (a bucket that never runs
// out), and refused by the node's bucket.
func BenchmarkAllow(b *testing.B) {
	for _, bc := range []struct {
		name   string
		limits Limits
	}{
		{"admitted", Limits{Rate: 1e12, Burst: 1 << 30, PerAddress: 10, Window: time.Minute, Addresses: 4096}},
		{"node-limited", PasswordlessBegin},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := newClock()
			l := New(bc.limits, c.Now)
			for i := range 2 * bc.limits.Addresses {
				l.Allow(addr4(i))
			}
			i := 1 << 20
			b.ReportAllocs()
			for b.Loop() {
				l.Allow(addr4(i))
				i++
			}
		})
	}
}
