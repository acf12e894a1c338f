package cached

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// cmap is a sync.Map of string keys and V values: a lookup of a key it has
// held a while takes no lock and writes nothing (sync.Map's read-only
// part), which is what a cache read on every request on many cores needs.
// The zero value is empty and ready.
type cmap[V any] struct{ m sync.Map }

func (c *cmap[V]) load(k string) (V, bool) {
	v, ok := c.m.Load(k)
	if !ok {
		var zero V
		return zero, false
	}
	return v.(V), true
}

func (c *cmap[V]) store(k string, v V) { c.m.Store(k, v) }

// delete forgets k and reports whether it was there.
func (c *cmap[V]) delete(k string) bool {
	_, ok := c.m.LoadAndDelete(k)
	return ok
}

func (c *cmap[V]) clear() { c.m.Clear() }

// each calls f for every entry (those stored or deleted meanwhile may or
// may not be seen; callers hold Store.mu, so there are none).
func (c *cmap[V]) each(f func(k string, v V)) {
	c.m.Range(func(k, v any) bool {
		f(k.(string), v.(V))
		return true
	})
}

// stripes is a counter spread over cache lines: each add goes to a line
// picked at random (math/rand/v2's generator is per thread), so that cores
// counting at once seldom write the same line. Reading sums them.
type stripes [16]struct {
	n atomic.Uint64
	_ [56]byte // one 64-byte cache line each
}

func (s *stripes) add() { s[rand.Uint32()%uint32(len(s))].n.Add(1) }

func (s *stripes) load() uint64 {
	var sum uint64
	for i := range s {
		sum += s[i].n.Load()
	}
	return sum
}
