package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Request bodies: how much of one a request may read, and when.
//
// A body costs memory once it is read, and anyone can send one, so nothing
// of it is read before the credential has been checked where a credential
// can be checked without it: an API call authenticates by its headers (the
// Authorization header, or the session cookie and its /cpsess token; the
// second factor is the X-CPANEL-OTP header) and reads its body only once
// authenticated (admit). A request that is not such a call, or not yet,
// may read no more than a login form needs (maxLoginBody): the login and
// its hand-off, whose credentials are in the body, the pages' forms, and
// the login page that a refused page request shows.
//
// Bytes alone do not bound memory when many requests send bodies at once,
// so the bodies in flight share one budget (Server.BodyMemory): a request
// takes its body's share before reading it, and one that cannot have it
// within defaultBodyWait is answered 503 (HTTP), in its API's envelope.

// bodyReader is a request's body as the handlers see it: an
// http.MaxBytesReader of limit bytes, made at the first read, so that the
// limit can be raised (allowBody) until then. Before that first read it
// takes from the process's budget (bodyBudget) the most the body can
// hold: its declared length, or the limit when it declares none. At the
// end of the body it gives back what was not read, and the rest when the
// request is over (release), when its arguments are no longer needed.
type bodyReader struct {
	s     *Server
	ctx   context.Context
	w     http.ResponseWriter // the connection's own: MaxBytesReader tells it to close after a body too large
	body  io.ReadCloser
	size  int64 // the declared length, -1 when unknown
	limit int64
	rd    io.ReadCloser
	held  int64 // taken from the budget
	read  int64
	err   error // the budget was not to be had
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.rd == nil {
		if b.err != nil {
			return 0, b.err
		}
		n := b.limit
		if b.size >= 0 && b.size < n {
			n = b.size
		}
		if !b.s.bodies.acquire(b.ctx, n, b.s.bodyMemory(), b.s.bodyWaitTime()) {
			b.err = errBodyBusy
			return 0, b.err
		}
		b.held = n
		b.rd = http.MaxBytesReader(b.w, b.body, b.limit)
	}
	n, err := b.rd.Read(p)
	b.read += int64(n)
	if err != nil && b.held > b.read {
		b.s.bodies.release(b.held-b.read, b.s.bodyMemory())
		b.held = b.read
	}
	return n, err
}

func (b *bodyReader) Close() error { return b.body.Close() }

// release gives back what the body holds of the budget.
func (b *bodyReader) release() {
	if b.held > 0 {
		b.s.bodies.release(b.held, b.s.bodyMemory())
		b.held = 0
	}
}

// allowBody lets r's body hold up to n bytes, if nothing of it has been
// read yet: an authenticated API call may send more than a login form.
func allowBody(r *http.Request, n int64) {
	if b, ok := r.Body.(*bodyReader); ok && b.rd == nil {
		b.limit = n
	}
}

// DefaultBodyMemory is the budget of request bodies when
// Server.BodyMemory is 0: 64 API bodies of the largest size, or a
// thousand login forms, at once.
const DefaultBodyMemory = 64 << 20

// defaultBodyWait is how long a body waits for its share of the budget
// before its request is answered 503: long enough for a burst of large
// bodies to drain, short enough that a client is told to retry rather
// than left hanging.
const defaultBodyWait = 2 * time.Second

// errBodyBusy is a body's read when the budget could not be had in time.
var errBodyBusy = errors.New("too many request bodies are being read at once")

func (s *Server) bodyMemory() int64 {
	if s.BodyMemory > 0 {
		return s.BodyMemory
	}
	return DefaultBodyMemory
}

func (s *Server) bodyWaitTime() time.Duration {
	if s.bodyWait > 0 {
		return s.bodyWait
	}
	return defaultBodyWait
}

// bodyBudget is the bytes that request bodies may hold at once, in the
// whole process (every port shares it): a semaphore weighted in bytes,
// whose waiters are served in order, so that a large body is not passed
// over for ever by small ones.
type bodyBudget struct {
	mu      sync.Mutex
	used    int64
	waiters []*bodyWaiter
}

type bodyWaiter struct {
	n     int64
	ready chan struct{} // closed when the bytes are granted
}

// acquire takes n bytes of a budget of size, waiting up to wait (or until
// ctx ends) for them; it reports whether it got them. A body larger than
// the whole budget takes the whole budget.
func (b *bodyBudget) acquire(ctx context.Context, n, size int64, wait time.Duration) bool {
	n = min(n, size)
	b.mu.Lock()
	if len(b.waiters) == 0 && b.used+n <= size {
		b.used += n
		b.mu.Unlock()
		return true
	}
	w := &bodyWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-w.ready:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready:
		return true // granted meanwhile: the caller has it, and releases it
	default:
	}
	i := slices.Index(b.waiters, w)
	b.waiters = slices.Delete(b.waiters, i, i+1)
	if i == 0 {
		b.grant(size) // those behind may fit where this one did not
	}
	return false
}

// release gives back n bytes of a budget of size.
func (b *bodyBudget) release(n, size int64) {
	b.mu.Lock()
	b.used -= n
	b.grant(size)
	b.mu.Unlock()
}

// grant gives the waiters at the front of the queue their bytes while
// they fit; b.mu is held.
func (b *bodyBudget) grant(size int64) {
	for len(b.waiters) > 0 {
		w := b.waiters[0]
		if b.used+w.n > size {
			return
		}
		b.used += w.n
		b.waiters = slices.Delete(b.waiters, 0, 1)
		close(w.ready)
	}
}
