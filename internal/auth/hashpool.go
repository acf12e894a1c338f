package auth

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// HashPool admits password checks to the CPU: at most a fixed number hash
// at once, at most a fixed number wait for a turn, and none waits longer
// than a fixed time. A SHA-512-crypt check takes some 20 ms of one core,
// an API token call some 0.1 ms, so without a bound a flood of guesses
// from many addresses (each under the regulator's thresholds) would take
// every core and starve the token, access-hash and session calls; with
// it, the other calls keep the cores the pool does not use. A check that
// gets no turn is not made: it fails as a wrong password would (D5, D8),
// never with a server error.
//
// The waiting ones get their turns in the order they came (a buffered
// channel's blocked senders are served first in, first out), so a burst
// cannot starve a check that is already waiting.
//
// Its limits may change while it is in use (SetLimits). The channel of
// turns is made for the most workers a pool may have; the turns beyond the
// configured number are held by the pool itself (reserved), so that a
// change of the number is a few sends or receives on the same channel.
type HashPool struct {
	slots    chan struct{}
	queue    atomic.Int64
	wait     atomic.Int64 // a time.Duration
	waiting  atomic.Int64
	resize   sync.Mutex   // one change of the workers at a time
	reserved atomic.Int64 // turns the pool holds (cap(slots) - workers)
	// admitted and shed count turns given and refused: written only on
	// the path of a check that costs milliseconds anyway.
	admitted, shed atomic.Uint64
}

// ErrBusy is Verify's answer for a check that got no turn in the pool.
var ErrBusy = errors.New("too many password checks at once")

// DefaultHashWorkers is the pool's size when the configuration leaves it
// to the daemon: half the CPUs Go uses, at least one. The other half
// stays with the calls that need no password hash, whatever the load of
// guesses; the verified-password cache (D32) keeps a client's repeated
// Basic calls out of the pool.
func DefaultHashWorkers() int {
	return max(1, runtime.GOMAXPROCS(0)/2)
}

// MaxHashWorkers is the most checks a pool lets hash at once.
const MaxHashWorkers = 4096

// NewHashPool returns a pool in which workers checks hash at once and at
// most queue wait, each at most wait.
func NewHashPool(workers, queue int, wait time.Duration) *HashPool {
	p := &HashPool{slots: make(chan struct{}, max(workers, MaxHashWorkers))}
	p.SetLimits(workers, queue, wait)
	return p
}

// SetLimits changes the number of checks that hash at once (at least
// one, at most MaxHashWorkers), how many may wait and how long. A smaller
// number takes effect as the checks running now end: SetLimits returns
// once it has.
func (p *HashPool) SetLimits(workers, queue int, wait time.Duration) {
	if p == nil {
		return
	}
	p.queue.Store(int64(max(queue, 0)))
	p.wait.Store(int64(wait))
	p.resize.Lock()
	defer p.resize.Unlock()
	want := int64(cap(p.slots) - min(max(workers, 1), cap(p.slots)))
	for r := p.reserved.Load(); r < want; r++ {
		p.slots <- struct{}{} // waits its turn behind the checks waiting now
		p.reserved.Add(1)
	}
	for r := p.reserved.Load(); r > want; r-- {
		<-p.slots // never waits: the reserved turns are in the channel
		p.reserved.Add(-1)
	}
}

// Limits returns the pool's limits.
func (p *HashPool) Limits() (workers, queue int, wait time.Duration) {
	if p == nil {
		return 0, 0, 0
	}
	return cap(p.slots) - int(p.reserved.Load()), int(p.queue.Load()), time.Duration(p.wait.Load())
}

// Acquire waits for a turn: it reports true when the caller may hash (it
// must call Release afterwards), false when it may not (the queue was
// full, the wait ran out or ctx ended). A nil pool admits everything.
func (p *HashPool) Acquire(ctx context.Context) bool {
	if p == nil {
		return true
	}
	select {
	case p.slots <- struct{}{}:
		p.admitted.Add(1)
		return true
	default:
	}
	if p.waiting.Add(1) > p.queue.Load() {
		p.waiting.Add(-1)
		p.shed.Add(1)
		return false
	}
	defer p.waiting.Add(-1)
	t := time.NewTimer(time.Duration(p.wait.Load()))
	defer t.Stop()
	select {
	case p.slots <- struct{}{}:
		p.admitted.Add(1)
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	p.shed.Add(1)
	return false
}

// Run runs fn, a password check, in a turn of the pool: it reports false,
// without running fn, when no turn came (see Acquire). The check runs at a
// lower CPU priority than the rest of the daemon where the system allows
// it (Linux): under contention for the CPUs, the calls that need no
// password hash go first.
func (p *HashPool) Run(ctx context.Context, fn func()) bool {
	if !p.Acquire(ctx) {
		return false
	}
	defer p.Release()
	if p == nil {
		fn()
		return true
	}
	runLowPriority(fn)
	return true
}

// Release gives a turn back.
func (p *HashPool) Release() {
	if p != nil {
		<-p.slots
	}
}

// Stats reports the turns given and refused since the start, and how many
// checks hash (running) and wait now.
func (p *HashPool) Stats() (admitted, shed uint64, running, waiting int) {
	if p == nil {
		return 0, 0, 0, 0
	}
	return p.admitted.Load(), p.shed.Load(), max(len(p.slots)-int(p.reserved.Load()), 0), int(p.waiting.Load())
}
