package health

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)} }

func ok(context.Context) error { return nil }

// serve asks h for path as a client at remote.
func serve(h http.Handler, method, path, remote string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	r.RemoteAddr = remote
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func decode(t *testing.T, b []byte) answer {
	t.Helper()
	var a answer
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("answer %q: %v", b, err)
	}
	return a
}

func TestReadiness(t *testing.T) {
	secretErr := errors.New("dial postgres://cpauth:Hunter2-secret@db/cpauth: refused")
	tests := []struct {
		name       string
		checks     []Check
		remote     string
		wantStatus int
		want       map[string]checkAnswer
	}{
		{
			name:       "every check passes",
			checks:     []Check{{"store", ok}, {"logs", ok}},
			wantStatus: http.StatusOK,
			want:       map[string]checkAnswer{"store": {Status: "ok"}, "logs": {Status: "ok"}},
		},
		{
			name: "one fails with a reason",
			checks: []Check{{"store", func(context.Context) error { return Fail("ping failed", secretErr) }},
				{"logs", ok}},
			wantStatus: http.StatusServiceUnavailable,
			want:       map[string]checkAnswer{"store": {Status: "fail", Reason: "ping failed"}, "logs": {Status: "ok"}},
		},
		{
			name:       "an error that is no Failure shows as failed",
			checks:     []Check{{"store", func(context.Context) error { return secretErr }}},
			wantStatus: http.StatusServiceUnavailable,
			want:       map[string]checkAnswer{"store": {Status: "fail", Reason: "failed"}},
		},
		{
			name:       "a panic is a failure",
			checks:     []Check{{"store", func(context.Context) error { panic("boom") }}},
			wantStatus: http.StatusServiceUnavailable,
			want:       map[string]checkAnswer{"store": {Status: "fail", Reason: "failed"}},
		},
		{
			name:       "detail to a loopback client",
			checks:     []Check{{"logs", func(context.Context) error { return &Failure{Reason: "not writable", Detail: "/data/logs/login_log"} }}},
			remote:     "127.0.0.1:4000",
			wantStatus: http.StatusServiceUnavailable,
			want:       map[string]checkAnswer{"logs": {Status: "fail", Reason: "not writable", Detail: "/data/logs/login_log"}},
		},
		{
			name:       "no detail to another client",
			checks:     []Check{{"logs", func(context.Context) error { return &Failure{Reason: "not writable", Detail: "/data/logs/login_log"} }}},
			wantStatus: http.StatusServiceUnavailable,
			want:       map[string]checkAnswer{"logs": {Status: "fail", Reason: "not writable"}},
		},
		{
			name:       "no checks",
			wantStatus: http.StatusOK,
			want:       map[string]checkAnswer{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &Checker{Checks: tc.checks}
			remote := tc.remote
			if remote == "" {
				remote = "192.0.2.1:4000"
			}
			for _, path := range []string{PathReady, PathCompat} {
				w := serve(c.Handler(), "GET", path, remote)
				if w.Code != tc.wantStatus {
					t.Errorf("%s: status %d, want %d (%s)", path, w.Code, tc.wantStatus, w.Body)
				}
				a := decode(t, w.Body.Bytes())
				wantOverall := "ok"
				if tc.wantStatus != http.StatusOK {
					wantOverall = "degraded"
				}
				if a.Status != wantOverall {
					t.Errorf("%s: status %q, want %q", path, a.Status, wantOverall)
				}
				if len(a.Checks) != len(tc.want) {
					t.Errorf("%s: checks %v, want %v", path, a.Checks, tc.want)
				}
				for name, want := range tc.want {
					if got := a.Checks[name]; got != want {
						t.Errorf("%s: check %s = %+v, want %+v", path, name, got, want)
					}
				}
				if strings.Contains(w.Body.String(), "Hunter2") || strings.Contains(w.Body.String(), "postgres://") {
					t.Errorf("%s: the answer leaks the error: %s", path, w.Body)
				}
				if ct := w.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
			}
		})
	}
}

func TestLivenessAndMethods(t *testing.T) {
	failing := &Checker{Checks: []Check{{"store", func(context.Context) error { return Fail("down", nil) }}}}
	tests := []struct {
		name, method, path string
		status             int
		body               string
	}{
		{"live answers while not ready", "GET", PathLive, http.StatusOK, `{"status":"ok"}`},
		{"HEAD live", "HEAD", PathLive, http.StatusOK, `{"status":"ok"}`},
		{"HEAD ready", "HEAD", PathReady, http.StatusServiceUnavailable, ""},
		{"POST ready", "POST", PathReady, http.StatusMethodNotAllowed, ""},
		{"PUT live", "PUT", PathLive, http.StatusMethodNotAllowed, ""},
		{"DELETE compat", "DELETE", PathCompat, http.StatusMethodNotAllowed, ""},
		{"unknown path", "GET", "/cpauth/health/other", http.StatusNotFound, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(failing.Handler(), tc.method, tc.path, "192.0.2.1:1")
			if w.Code != tc.status {
				t.Errorf("status %d, want %d", w.Code, tc.status)
			}
			if tc.body != "" && w.Body.String() != tc.body {
				t.Errorf("body %q, want %q", w.Body, tc.body)
			}
		})
	}
}

// A probe sends no body, and none is read: a client sending one gets
// the answer without the server waiting for it.
func TestReadinessReadsNoBody(t *testing.T) {
	c := &Checker{Checks: []Check{{"store", ok}}}
	r := httptest.NewRequest("GET", PathReady, readerFunc(func([]byte) (int, error) {
		t.Error("the body was read")
		return 0, errors.New("no")
	}))
	w := httptest.NewRecorder()
	c.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Errorf("status %d", w.Code)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// A flood of probes runs one round of checks, and results are shared for
// MaxAge: the checks run again only once it has passed.
func TestReadinessSharesResults(t *testing.T) {
	clk := newClock()
	var runs atomic.Int32
	release := make(chan struct{})
	c := &Checker{Now: clk.Now, MaxAge: time.Second, Checks: []Check{{"store", func(ctx context.Context) error {
		runs.Add(1)
		<-release
		return nil
	}}}}
	var wg sync.WaitGroup
	codes := make(chan int, 100)
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- serve(c.Handler(), "GET", PathReady, "192.0.2.1:1").Code
		}()
	}
	// Every probe waits on the one round; let it finish.
	for runs.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusOK {
			t.Errorf("status %d", code)
		}
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("100 concurrent probes ran the check %d times, want 1", n)
	}
	serve(c.Handler(), "GET", PathReady, "192.0.2.1:1")
	if n := runs.Load(); n != 1 {
		t.Errorf("a probe within MaxAge ran the check again (%d runs)", n)
	}
	clk.Advance(time.Second)
	serve(c.Handler(), "GET", PathReady, "192.0.2.1:1")
	if n := runs.Load(); n != 2 {
		t.Errorf("a probe after MaxAge: %d runs, want 2", n)
	}
}

// A check that hangs, even one that ignores its context, does not hang
// the probe: it is reported as timed out, and is not started again while
// it still runs.
func TestReadinessHungCheck(t *testing.T) {
	clk := newClock()
	var runs atomic.Int32
	hang := make(chan struct{})
	defer close(hang)
	c := &Checker{Now: clk.Now, Timeout: 20 * time.Millisecond, Checks: []Check{
		{"store", func(ctx context.Context) error { runs.Add(1); <-hang; return nil }},
		{"logs", ok},
	}}
	for i := range 3 {
		w := serve(c.Handler(), "GET", PathReady, "192.0.2.1:1")
		if w.Code != http.StatusServiceUnavailable {
			t.Fatalf("round %d: status %d", i, w.Code)
		}
		a := decode(t, w.Body.Bytes())
		if got := a.Checks["store"]; got.Status != "fail" || !strings.HasPrefix(got.Reason, "timed out after 20ms") {
			t.Errorf("round %d: store = %+v", i, got)
		}
		if got := a.Checks["logs"]; got.Status != "ok" {
			t.Errorf("round %d: logs = %+v", i, got)
		}
		clk.Advance(time.Second)
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("a hung check was started %d times, want 1", n)
	}
}

// A check that respects its context ends with it.
func TestReadinessCheckContext(t *testing.T) {
	c := &Checker{Timeout: 10 * time.Millisecond, Checks: []Check{{"store", func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}}}}
	rep, err := c.Report(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Results[0].Reason == "" {
		t.Errorf("report %+v", rep.Results)
	}
}

// A probe whose client goes away gets the last results there are, or an
// error before there are any.
func TestReportCallerContext(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	c := &Checker{Timeout: time.Hour, Checks: []Check{{"store", func(ctx context.Context) error { <-hang; return nil }}}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Report(ctx); err == nil {
		t.Error("no error without results")
	}
}

// A stopping server is not ready, whatever its checks say; it is still
// live.
func TestStopping(t *testing.T) {
	var runs atomic.Int32
	c := &Checker{Checks: []Check{{"store", func(context.Context) error { runs.Add(1); return nil }}}}
	if w := serve(c.Handler(), "GET", PathReady, "192.0.2.1:1"); w.Code != http.StatusOK {
		t.Fatalf("before: %d", w.Code)
	}
	c.Stopping()
	for _, path := range []string{PathReady, PathCompat} {
		w := serve(c.Handler(), "GET", path, "192.0.2.1:1")
		if a := decode(t, w.Body.Bytes()); w.Code != http.StatusServiceUnavailable || a.Status != "stopping" {
			t.Errorf("%s while stopping: %d %s", path, w.Code, w.Body)
		}
	}
	if w := serve(c.Handler(), "GET", PathLive, "192.0.2.1:1"); w.Code != http.StatusOK {
		t.Errorf("live while stopping: %d", w.Code)
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("checks ran %d times, want 1 (none while stopping)", n)
	}
}
