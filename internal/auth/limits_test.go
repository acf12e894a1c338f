package auth

import (
	"context"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/core"
)

// The pool's limits change while it is in use: more workers admit more at
// once at once; fewer take effect as the running checks end.
func TestHashPoolSetLimits(t *testing.T) {
	p := NewHashPool(2, 0, 0)
	ctx := context.Background()
	for i := range 2 {
		if !p.Acquire(ctx) {
			t.Fatalf("turn %d refused", i)
		}
	}
	if p.Acquire(ctx) {
		t.Fatal("a third turn of two workers")
	}
	p.SetLimits(3, 0, 0)
	if !p.Acquire(ctx) {
		t.Fatal("the third turn of three workers was refused")
	}
	if w, _, _ := p.Limits(); w != 3 {
		t.Errorf("workers %d, want 3", w)
	}
	shrunk := make(chan struct{})
	go func() {
		p.SetLimits(1, 0, 0)
		close(shrunk)
	}()
	p.Release()
	p.Release()
	<-shrunk // the two that ended made room for the smaller number
	if w, _, _ := p.Limits(); w != 1 {
		t.Errorf("workers %d, want 1", w)
	}
	if _, _, running, _ := p.Stats(); running != 1 {
		t.Errorf("running %d, want 1", running)
	}
	if p.Acquire(ctx) {
		t.Fatal("a second turn of one worker")
	}
	p.Release()
	if !p.Acquire(ctx) {
		t.Fatal("the one turn was refused")
	}
	p.Release()
	p.SetLimits(0, 5, time.Second)
	if w, q, wait := p.Limits(); w != 1 || q != 5 || wait != time.Second {
		t.Errorf("limits %d %d %s", w, q, wait)
	}
	p.SetLimits(MaxHashWorkers+10, 0, 0)
	if w, _, _ := p.Limits(); w != MaxHashWorkers {
		t.Errorf("workers %d, want the most, %d", w, MaxHashWorkers)
	}
}

func TestPasswordCacheSetLimits(t *testing.T) {
	clock := newFakeClock()
	c, err := NewAdjustablePasswordCache(0, time.Minute, clock.Now)
	if err != nil || c == nil {
		t.Fatalf("%v %v", c, err)
	}
	remember := func() bool {
		c.Remember("bob", core.ServiceCPanel, "pw", cacheHash)
		return c.Verified("bob", core.ServiceCPanel, "pw", cacheHash)
	}
	tests := []struct {
		name    string
		size    int
		ttl     time.Duration
		enabled bool
		kept    bool // the entry made before the change still answers
	}{
		{name: "made off", size: 0, ttl: time.Minute, enabled: false},
		{name: "turned on", size: 10, ttl: time.Minute, enabled: true},
		{name: "unchanged", size: 10, ttl: time.Minute, enabled: true, kept: true},
		{name: "smaller", size: 5, ttl: time.Minute, enabled: true},
		{name: "shorter", size: 5, ttl: time.Second, enabled: true},
		{name: "ttl 0 turns it off", size: 5, ttl: 0, enabled: false},
		{name: "on again", size: 5, ttl: time.Hour, enabled: true},
		{name: "size 0 turns it off", size: 0, ttl: time.Hour, enabled: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c.SetLimits(tc.size, tc.ttl)
			if got := c.Verified("bob", core.ServiceCPanel, "pw", cacheHash); got != tc.kept {
				t.Errorf("an entry from before answers: %v, want %v", got, tc.kept)
			}
			if c.Enabled() != tc.enabled {
				t.Errorf("Enabled %v", c.Enabled())
			}
			if got := remember(); got != tc.enabled {
				t.Errorf("remembered: %v, want %v", got, tc.enabled)
			}
			if !tc.enabled && c.Len() != 0 {
				t.Errorf("off, yet %d entries", c.Len())
			}
		})
	}
}
