package sessions

import (
	"context"
	"sync"
	"time"

	"github.com/cpauth/cpauth/internal/store"
)

// Toucher writes a session's LastSeen at most once an Interval per session
// and never on the request path: Use only notes the use in memory, and a
// background loop (Run) writes what is due through Store.TouchSession.
//
// The idle timeout still holds to within the Interval: a session in use has
// a stored LastSeen at most one Interval behind its last use, so it ends at
// most one Interval early and never late. Seen tells the authentication
// the latest use noted on this node, so that a use noted but not yet
// written (or not yet seen through a cache) counts.
//
// A use that is not due, the case of nearly every request, takes no lock
// and writes nothing shared: noted is a sync.Map read without a lock, and
// written (under mu) only when a use becomes due.
type Toucher struct {
	Store    store.SessionStore
	Interval time.Duration // default one minute

	flushMu sync.Mutex // held across a whole Flush, so that Flush returns only when every use noted before it is written
	mu      sync.Mutex
	noted   sync.Map // IDHash -> time.Time: the last use noted (written or pending)
	pending map[string]time.Time
	pruned  time.Time // the newest use when noted was last pruned
	wake    chan struct{}
}

// NewToucher returns a Toucher; Run must be started for writes to happen.
func NewToucher(st store.SessionStore) *Toucher {
	return &Toucher{Store: st, Interval: time.Minute, pending: map[string]time.Time{}, wake: make(chan struct{}, 1)}
}

// Use notes that the session idHash, whose stored LastSeen is lastSeen, was
// used at now. It writes nothing itself and never blocks on the store; it
// reports whether a write became due.
func (t *Toucher) Use(idHash string, lastSeen, now time.Time) bool {
	if !t.due(idHash, lastSeen, now) {
		return false // the common case: no lock
	}
	t.mu.Lock()
	due := t.due(idHash, lastSeen, now) // again: another use may have noted it meanwhile
	if due {
		t.noted.Store(idHash, now)
		t.pending[idHash] = now
		t.prune(now)
	}
	t.mu.Unlock()
	if due {
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
	return due
}

// due reports whether a use at now is an Interval past the latest of the
// stored LastSeen and the use noted here.
func (t *Toucher) due(idHash string, lastSeen, now time.Time) bool {
	last := lastSeen
	if n := t.Seen(idHash); n.After(last) {
		last = n
	}
	return now.Sub(last) >= t.Interval
}

// Seen returns the latest use of idHash noted on this node (the zero time
// when none is remembered).
func (t *Toucher) Seen(idHash string) time.Time {
	if v, ok := t.noted.Load(idHash); ok {
		return v.(time.Time)
	}
	return time.Time{}
}

// Forget drops what is noted of idHash (the session ended).
func (t *Toucher) Forget(idHash string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.noted.Delete(idHash)
	delete(t.pending, idHash)
}

// prune forgets uses older than two Intervals that are written: the stored
// LastSeen is at least as new by then, so Seen no longer adds anything. It
// runs at most once an Interval, so that noting stays O(1) on average.
// Called with t.mu held.
func (t *Toucher) prune(now time.Time) {
	if now.Sub(t.pruned) < t.Interval {
		return
	}
	t.pruned = now
	t.noted.Range(func(k, v any) bool {
		id := k.(string)
		if _, waiting := t.pending[id]; !waiting && now.Sub(v.(time.Time)) > 2*t.Interval {
			t.noted.Delete(id)
		}
		return true
	})
}

// Run writes pending uses until ctx ends, then writes what is left.
func (t *Toucher) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			t.Flush(context.Background())
			return
		case <-t.wake:
			t.Flush(context.WithoutCancel(ctx))
		}
	}
}

// Flush writes every pending use now and returns when every use noted
// before it was called is written, even one that a concurrent Flush (the Run
// loop's) took first. A session that is gone has nothing to record.
func (t *Toucher) Flush(ctx context.Context) {
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	t.mu.Lock()
	batch := t.pending
	t.pending = map[string]time.Time{}
	t.mu.Unlock()
	for id, when := range batch {
		_ = t.Store.TouchSession(ctx, id, when)
	}
}
