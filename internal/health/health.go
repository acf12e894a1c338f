// Package health answers the two questions a load balancer or an
// orchestrator asks of a server: is the process serving (liveness), and
// can it do its work now (readiness: each named check passes). Readiness
// is cheap to ask however often it is asked: results are shared for a
// moment, one round of checks runs at a time, and a check that hangs is
// reported as timed out instead of holding the probe.
package health

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Check is one named part of readiness. Run reports nil when the part
// works. Its error is shown to clients only through a *Failure (the
// Reason, and the Detail to loopback clients); any other error is shown
// as "failed" and goes to the log alone, so that a check cannot leak what
// an error of a lower layer holds.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
}

// Failure is a check's failure as clients see it.
type Failure struct {
	// Reason is short and safe to show anyone: no secret, no path.
	Reason string
	// Detail is shown to clients on loopback only (it may name paths).
	Detail any
	// Err is for the log.
	Err error
}

func (f *Failure) Error() string {
	if f.Err != nil {
		return f.Reason + ": " + f.Err.Error()
	}
	return f.Reason
}

func (f *Failure) Unwrap() error { return f.Err }

// Fail is a Failure with reason, err for the log.
func Fail(reason string, err error) error { return &Failure{Reason: reason, Err: err} }

// Defaults of Checker.
const (
	DefaultTimeout = 2 * time.Second
	DefaultMaxAge  = time.Second
)

// Checker runs the checks of readiness and shares their results.
type Checker struct {
	Checks []Check
	// Timeout bounds one round of checks (DefaultTimeout when 0): a check
	// still running then is reported as timed out.
	Timeout time.Duration
	// MaxAge is how long a round's results answer every probe
	// (DefaultMaxAge when 0).
	MaxAge time.Duration
	Now    func() time.Time // time.Now when nil
	Log    *slog.Logger     // nil: no log

	stopping atomic.Bool

	mu      sync.Mutex
	last    *Report
	round   chan struct{} // closed when the running round ends; nil when none runs
	busy    map[string]bool
	failing map[string]bool // checks that failed last round, for logging changes only
}

// Status of a check, and of a report.
const (
	StatusOK       = "ok"
	StatusFail     = "fail"
	StatusDegraded = "degraded"
	StatusStopping = "stopping"
)

// Stopping makes readiness answer 503 {"status":"stopping"} from now on,
// without running a check: the server is going away, and a load balancer
// that still asks (through a listener that stops later, or a connection
// kept open) should send nothing more.
func (c *Checker) Stopping() { c.stopping.Store(true) }

// Result is one check's outcome.
type Result struct {
	Name   string
	OK     bool
	Reason string
	Detail any
}

// Report is one round's outcome.
type Report struct {
	At      time.Time
	Results []Result
	// bodies are the answers made of it, to other clients ([0]) and to
	// clients on loopback ([1]), made once for every probe that shares it.
	bodies [2][]byte
}

// OK reports whether every check passed.
func (r *Report) OK() bool {
	for _, x := range r.Results {
		if !x.OK {
			return false
		}
	}
	return true
}

func (c *Checker) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Checker) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

func (c *Checker) maxAge() time.Duration {
	if c.MaxAge > 0 {
		return c.MaxAge
	}
	return DefaultMaxAge
}

// Report returns the results of a round no older than MaxAge: the last
// one, the one running now (waited for), or a new one. A caller whose ctx
// ends first gets the last results there are, or an error when there are
// none.
func (c *Checker) Report(ctx context.Context) (*Report, error) {
	c.mu.Lock()
	if c.last != nil && c.now().Sub(c.last.At) < c.maxAge() {
		r := c.last
		c.mu.Unlock()
		return r, nil
	}
	done := c.round
	if done == nil {
		done = make(chan struct{})
		c.round = done
		go c.run(done)
	}
	c.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		c.mu.Lock()
		r := c.last
		c.mu.Unlock()
		if r == nil {
			return nil, ctx.Err()
		}
		return r, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last, nil
}

// outcome is one check's result as its goroutine hands it over.
type outcome struct {
	i   int
	err error
}

// run runs one round of checks, each in a goroutine of its own, and
// publishes the results when every check has answered or the timeout has
// passed. A check that is still running from an earlier round is not
// started again: it is reported as still running, so that a check that
// ignores its context never has more than one goroutine.
func (c *Checker) run(done chan struct{}) {
	timeout := c.timeout()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	results := make([]Result, len(c.Checks))
	answered := make([]bool, len(c.Checks))
	ch := make(chan outcome, len(c.Checks))
	started := 0
	c.mu.Lock()
	if c.busy == nil {
		c.busy = map[string]bool{}
	}
	for i, chk := range c.Checks {
		results[i].Name = chk.Name
		if c.busy[chk.Name] {
			results[i].Reason = "timed out after " + timeout.String() + " (an earlier check is still running)"
			answered[i] = true
			continue
		}
		c.busy[chk.Name] = true
		started++
		go func(i int, chk Check) {
			err := runCheck(ctx, chk)
			c.mu.Lock()
			delete(c.busy, chk.Name)
			c.mu.Unlock()
			ch <- outcome{i, err}
		}(i, chk)
	}
	c.mu.Unlock()
	errs := make([]error, len(c.Checks))
wait:
	for started > 0 {
		select {
		case o := <-ch:
			started--
			answered[o.i] = true
			errs[o.i] = o.err
			results[o.i].OK = o.err == nil
			if o.err != nil {
				results[o.i].Reason, results[o.i].Detail = public(o.err)
			}
		case <-ctx.Done():
			break wait
		}
	}
	for i := range results {
		if !answered[i] {
			results[i].Reason = "timed out after " + timeout.String()
			errs[i] = context.DeadlineExceeded
		}
	}
	r := &Report{At: c.now(), Results: results}
	r.bodies[0], r.bodies[1] = r.answer(false), r.answer(true)
	c.mu.Lock()
	c.logChanges(r, errs)
	c.last, c.round = r, nil
	c.mu.Unlock()
	close(done)
}

// runCheck runs chk, a panic becoming its failure.
func runCheck(ctx context.Context, chk Check) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = Fail("failed", errors.New("panic in check"))
		}
	}()
	return chk.Run(ctx)
}

// public is what clients are shown of a check's error.
func public(err error) (string, any) {
	var f *Failure
	if errors.As(err, &f) && f.Reason != "" {
		return f.Reason, f.Detail
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out", nil
	}
	return "failed", nil
}

// logChanges logs a check that starts or stops failing, once. c.mu is
// held.
func (c *Checker) logChanges(r *Report, errs []error) {
	if c.failing == nil {
		c.failing = map[string]bool{}
	}
	for i, x := range r.Results {
		switch {
		case !x.OK && !c.failing[x.Name]:
			c.failing[x.Name] = true
			if c.Log != nil {
				attrs := []any{"check", x.Name, "reason", x.Reason}
				if errs[i] != nil {
					attrs = append(attrs, "error", errs[i].Error())
				}
				c.Log.Warn("readiness check failing", attrs...)
			}
		case x.OK && c.failing[x.Name]:
			delete(c.failing, x.Name)
			if c.Log != nil {
				c.Log.Info("readiness check passing again", "check", x.Name)
			}
		}
	}
}

// Paths served by Handler.
const (
	PathCompat = "/cpauth/health"
	PathLive   = "/cpauth/health/live"
	PathReady  = "/cpauth/health/ready"
)

// Handler serves liveness at PathLive and readiness at PathReady and at
// PathCompat, to GET and HEAD only, without authentication and without
// reading a body. Any other path is 404.
func (c *Checker) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case PathLive, PathReady, PathCompat:
		default:
			w.Header().Set("X-Content-Type-Options", "nosniff")
			http.Error(w, "Not Found", http.StatusNotFound)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
			return
		}
		if r.URL.Path == PathLive {
			writeJSON(w, http.StatusOK, liveBody)
			return
		}
		c.serveReady(w, r)
	})
}

var liveBody = []byte(`{"status":"ok"}`)

// answer is the JSON of a readiness answer.
type answer struct {
	Status string                 `json:"status"`
	Checks map[string]checkAnswer `json:"checks"`
}

type checkAnswer struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	Detail any    `json:"detail,omitempty"`
}

var stoppingBody = []byte(`{"checks":{},"status":"stopping"}`)

func (c *Checker) serveReady(w http.ResponseWriter, r *http.Request) {
	if c.stopping.Load() {
		writeJSON(w, http.StatusServiceUnavailable, stoppingBody)
		return
	}
	rep, err := c.Report(r.Context())
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, []byte(`{"status":"degraded","checks":{}}`))
		return
	}
	status := http.StatusOK
	if !rep.OK() {
		status = http.StatusServiceUnavailable
	}
	body := rep.bodies[0]
	if loopback(r) {
		body = rep.bodies[1]
	}
	writeJSON(w, status, body)
}

// answer is the JSON of the readiness answer of r; local adds the details
// of failures.
func (r *Report) answer(local bool) []byte {
	a := answer{Status: StatusOK, Checks: make(map[string]checkAnswer, len(r.Results))}
	for _, x := range r.Results {
		ca := checkAnswer{Status: StatusOK}
		if !x.OK {
			a.Status = StatusDegraded
			ca.Status, ca.Reason = StatusFail, x.Reason
			if local {
				ca.Detail = x.Detail
			}
		}
		a.Checks[x.Name] = ca
	}
	b, err := json.Marshal(a)
	if err != nil {
		// A detail that does not marshal: the answer without details.
		if local {
			return r.answer(false)
		}
		return []byte(`{"status":"degraded","checks":{}}`)
	}
	return b
}

// loopback reports whether the client is on this machine.
func loopback(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		host := r.RemoteAddr
		if i := strings.LastIndexByte(host, ':'); i >= 0 {
			host = host[:i]
		}
		a, err := netip.ParseAddr(strings.Trim(host, "[]"))
		return err == nil && a.Unmap().IsLoopback()
	}
	return ap.Addr().Unmap().IsLoopback()
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(body)
}
