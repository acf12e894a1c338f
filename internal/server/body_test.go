package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/core"
)

// Until a request proves to be an authenticated API call, its body holds a
// login form's worth at most, whichever handler reads it.
func TestBodyLimit(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		allow   int64 // allowBody's limit before reading; 0: none
		tooBig  bool
		chunked bool
	}{
		{"a login form's worth", maxLoginBody, 0, false, false},
		{"one byte more", maxLoginBody + 1, 0, true, false},
		{"one byte more, chunked", maxLoginBody + 1, 0, true, true},
		{"an API body, allowed", api.MaxBodyBytes + 1, api.MaxBodyBytes + 1, false, false},
		{"over what was allowed", api.MaxBodyBytes + 2, api.MaxBodyBytes + 1, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{Log: slog.New(slog.DiscardHandler)}
			var n int64
			var err error
			h := s.middleware(Port{Service: core.ServiceWHM}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.allow != 0 {
					allowBody(r, tc.allow)
				}
				n, err = io.Copy(io.Discard, r.Body)
			}))
			var body io.Reader = strings.NewReader(strings.Repeat("x", tc.size))
			if tc.chunked {
				body = io.MultiReader(body) // no length known
			}
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/login", body))
			var tooBig *http.MaxBytesError
			if got := errors.As(err, &tooBig); got != tc.tooBig {
				t.Fatalf("read %d bytes, error %v; want too large: %v", n, err, tc.tooBig)
			}
			if !tc.tooBig && n != int64(tc.size) {
				t.Errorf("read %d bytes, want %d", n, tc.size)
			}
		})
	}
}

// allowBody changes nothing once the body has been read from.
func TestAllowBodyAfterRead(t *testing.T) {
	s := &Server{Log: slog.New(slog.DiscardHandler)}
	var err error
	h := s.middleware(Port{Service: core.ServiceWHM}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [1]byte
		_, _ = r.Body.Read(b[:])
		allowBody(r, api.MaxBodyBytes+1)
		_, err = io.Copy(io.Discard, r.Body)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Repeat("x", 2*maxLoginBody))))
	var tooBig *http.MaxBytesError
	if !errors.As(err, &tooBig) {
		t.Fatalf("error %v, want the login form's limit", err)
	}
}

func TestBodyBudgetAcquire(t *testing.T) {
	const size = 100
	long := 10 * time.Second
	tests := []struct {
		name string
		run  func(t *testing.T, b *bodyBudget)
	}{
		{"fits at once", func(t *testing.T, b *bodyBudget) {
			if !b.acquire(context.Background(), 60, size, 0) || !b.acquire(context.Background(), 40, size, 0) {
				t.Fatal("refused within the budget")
			}
			b.release(100, size)
		}},
		{"refused after the wait", func(t *testing.T, b *bodyBudget) {
			b.acquire(context.Background(), 90, size, long)
			start := time.Now()
			if b.acquire(context.Background(), 20, size, 50*time.Millisecond) {
				t.Fatal("granted past the budget")
			}
			if d := time.Since(start); d < 50*time.Millisecond || d > 5*time.Second {
				t.Errorf("refused after %s, want after the 50ms wait", d)
			}
			b.release(90, size)
		}},
		{"granted on release", func(t *testing.T, b *bodyBudget) {
			b.acquire(context.Background(), 90, size, long)
			got := make(chan bool)
			go func() { got <- b.acquire(context.Background(), 20, size, long) }()
			waitFor(t, func() bool { return b.waiting() == 1 })
			b.release(90, size)
			if !<-got {
				t.Fatal("refused after the release")
			}
			b.release(20, size)
		}},
		{"waiters served in order", func(t *testing.T, b *bodyBudget) {
			b.acquire(context.Background(), 90, size, long)
			big := make(chan bool)
			go func() { big <- b.acquire(context.Background(), 80, size, long) }()
			waitFor(t, func() bool { return b.waiting() == 1 })
			small := make(chan bool)
			go func() { small <- b.acquire(context.Background(), 5, size, long) }()
			waitFor(t, func() bool { return b.waiting() == 2 })
			// 5 would fit now, but the large one came first.
			b.release(10, size)
			select {
			case <-small:
				t.Fatal("a later, smaller body passed the one before it")
			case <-time.After(50 * time.Millisecond):
			}
			b.release(80, size)
			if !<-big || !<-small {
				t.Fatal("not granted in order")
			}
			b.release(85, size)
		}},
		{"a waiter that gives up lets the next one in", func(t *testing.T, b *bodyBudget) {
			b.acquire(context.Background(), 50, size, long)
			big := make(chan bool)
			go func() { big <- b.acquire(context.Background(), 80, size, 100*time.Millisecond) }()
			waitFor(t, func() bool { return b.waiting() == 1 })
			small := make(chan bool)
			go func() { small <- b.acquire(context.Background(), 30, size, long) }()
			if <-big {
				t.Fatal("granted past the budget")
			}
			if !<-small {
				t.Fatal("the next waiter was not let in")
			}
			b.release(80, size)
		}},
		{"larger than the budget takes all of it", func(t *testing.T, b *bodyBudget) {
			if !b.acquire(context.Background(), 5*size, size, 0) {
				t.Fatal("refused")
			}
			if b.used != size {
				t.Errorf("used %d, want %d", b.used, size)
			}
			b.release(size, size)
		}},
		{"the request ends while waiting", func(t *testing.T, b *bodyBudget) {
			b.acquire(context.Background(), size, size, long)
			ctx, cancel := context.WithCancel(context.Background())
			got := make(chan bool)
			go func() { got <- b.acquire(ctx, 1, size, long) }()
			waitFor(t, func() bool { return b.waiting() == 1 })
			cancel()
			if <-got {
				t.Fatal("granted past the budget")
			}
			b.release(size, size)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bodyBudget
			tc.run(t, &b)
			if b.used != 0 || len(b.waiters) != 0 {
				t.Errorf("left %d bytes used and %d waiters", b.used, len(b.waiters))
			}
		})
	}
}

// waiting is the number of waiters (for tests).
func (b *bodyBudget) waiting() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.waiters)
}

// usedBytes is the bytes granted (for tests).
func (b *bodyBudget) usedBytes() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// waitFor waits for cond, failing the test after a while.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}

// Bodies that do not fit in the budget wait, and are refused when they
// cannot have their share in time; what a body holds goes back when its
// request ends, and what it did not read at once at its end.
func TestBodyBudgetRequests(t *testing.T) {
	const mib = 1 << 20
	s := &Server{Log: slog.New(slog.DiscardHandler), BodyMemory: 2 * mib, bodyWait: 200 * time.Millisecond}
	type result struct {
		n   int64
		err error
	}
	results := make(chan result, 8)
	h := s.middleware(Port{Service: core.ServiceWHM}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		allowBody(r, api.MaxBodyBytes+1)
		n, err := io.Copy(io.Discard, r.Body)
		results <- result{n, err}
	}))
	// send serves a request whose body comes through a pipe, of length
	// size (-1: unknown).
	send := func(size int64) *io.PipeWriter {
		pr, pw := io.Pipe()
		r := httptest.NewRequest(http.MethodPost, "/json-api/version", nil)
		r.Body, r.ContentLength = pr, size
		go h.ServeHTTP(httptest.NewRecorder(), r)
		return pw
	}
	a, b := send(mib), send(mib)
	waitFor(t, func() bool { return s.bodies.usedBytes() == 2*mib })
	// A third waits, and is refused: none of its body is read.
	c := send(mib)
	if got := <-results; !errors.Is(got.err, errBodyBusy) || got.n != 0 {
		t.Fatalf("over the budget: read %d bytes, error %v; want errBodyBusy", got.n, got.err)
	}
	c.Close()
	// A fourth waits, and gets the share the first gives back.
	d := send(100)
	waitFor(t, func() bool { return s.bodies.waiting() == 1 })
	go func() { a.Write(make([]byte, mib)); a.Close() }()
	if got := <-results; got.err != nil || got.n != mib {
		t.Fatalf("first body: %d bytes, %v", got.n, got.err)
	}
	go func() { d.Write(make([]byte, 100)); d.Close() }()
	if got := <-results; got.err != nil || got.n != 100 {
		t.Fatalf("the body that waited: %d bytes, %v", got.n, got.err)
	}
	// A body of unknown length takes the limit, and at its end keeps what
	// it read.
	b.Close()
	<-results
	waitFor(t, func() bool { return s.bodies.usedBytes() == 0 })
	e := send(-1)
	waitFor(t, func() bool { return s.bodies.usedBytes() == api.MaxBodyBytes+1 })
	e.Write(make([]byte, 10))
	e.Close()
	if got := <-results; got.err != nil || got.n != 10 {
		t.Fatalf("body of unknown length: %d bytes, %v", got.n, got.err)
	}
	waitFor(t, func() bool { return s.bodies.usedBytes() == 0 && s.bodies.waiting() == 0 })
}

// Many bodies at once: those beyond the budget wait their turn, and the
// bytes held never pass the budget.
func TestBodyBudgetConcurrent(t *testing.T) {
	const (
		mib    = 1 << 20
		budget = 4 * mib
	)
	s := &Server{Log: slog.New(slog.DiscardHandler), BodyMemory: budget, bodyWait: time.Minute}
	var over atomic.Bool
	h := s.middleware(Port{Service: core.ServiceWHM}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		allowBody(r, api.MaxBodyBytes+1)
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			t.Errorf("reading: %v", err)
		}
		if s.bodies.usedBytes() > budget {
			over.Store(true)
		}
		time.Sleep(time.Millisecond) // hold it a while, as a call would
	}))
	body := make([]byte, mib)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			r := httptest.NewRequest(http.MethodPost, "/json-api/version", bytes.NewReader(body))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
		})
	}
	wg.Wait()
	if over.Load() {
		t.Error("the bytes held passed the budget")
	}
	if used, waiting := s.bodies.usedBytes(), s.bodies.waiting(); used != 0 || waiting != 0 {
		t.Errorf("left %d bytes used and %d waiters", used, waiting)
	}
}
