package metrics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/server"
	"github.com/cpauth/cpauth/internal/store/observed"
	"github.com/cpauth/cpauth/internal/store/sqlstore"
)

// clock is a settable clock.
type clock struct{ t atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.t.Store(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *clock) Advance(d time.Duration) { c.t.Add(int64(d)) }

// gather returns the series of family name as "label=value,..." -> value
// (a histogram's count).
func gather(t *testing.T, m *Metrics, name string) map[string]float64 {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range fams {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.Metric {
			var parts []string
			for _, l := range s.Label {
				parts = append(parts, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(parts)
			out[strings.Join(parts, ",")] = value(s)
		}
	}
	return out
}

func value(s *dto.Metric) float64 {
	switch {
	case s.Counter != nil:
		return s.Counter.GetValue()
	case s.Gauge != nil:
		return s.Gauge.GetValue()
	case s.Histogram != nil:
		return float64(s.Histogram.GetSampleCount())
	}
	return 0
}

func TestAuth(t *testing.T) {
	tests := []struct {
		name   string
		svc    core.Service
		method core.Method
		result string
		want   string // the series that counts it; "" for none
	}{
		{"whm token success", core.ServiceWHM, core.MethodToken, "success", "method=token,result=success,service=whm"},
		{"cpanel password failure", core.ServiceCPanel, core.MethodPassword, "failure", "method=password,result=failure,service=cpanel"},
		{"webmail session blocked", core.ServiceWebmail, core.MethodSession, "blocked", "method=session,result=blocked,service=webmail"},
		{"no credential", core.ServiceWHM, "", "failure", "method=none,result=failure,service=whm"},
		{"two factor", core.ServiceCPanel, core.MethodTwoFactor, "failure", "method=2fa,result=failure,service=cpanel"},
		{"a method not in the list", core.ServiceWHM, core.Method("bob's-own"), "success", "method=other,result=success,service=whm"},
		{"a result not in the list", core.ServiceWHM, core.MethodToken, "maybe", ""},
		{"a service out of range", core.Service(9), core.MethodToken, "success", ""},
		{"a negative service", core.Service(-1), core.MethodToken, "success", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := New(Options{})
			m.Auth(tc.svc, tc.method, tc.result)
			m.Auth(tc.svc, tc.method, tc.result)
			got := gather(t, m, "cpauth_auth_attempts_total")
			if tc.want == "" {
				if len(got) != 0 {
					t.Errorf("counted: %v", got)
				}
				return
			}
			if len(got) != 1 || got[tc.want] != 2 {
				t.Errorf("series %v, want %s = 2", got, tc.want)
			}
		})
	}
}

func TestRequest(t *testing.T) {
	tests := []struct {
		name   string
		route  server.Route
		status int
		want   string
	}{
		{"whmapi1 ok", server.RouteWHMAPI1, 200, "code=2xx,route=whmapi1"},
		{"uapi not found", server.RouteUAPI, 404, "code=4xx,route=uapi"},
		{"login redirect", server.RouteLogin, 302, "code=3xx,route=login"},
		{"server error", server.RoutePage, 503, "code=5xx,route=page"},
		{"informational", server.RouteOther, 101, "code=1xx,route=other"},
		{"a status out of range", server.RouteAPI2, 999, "code=other,route=api2"},
		{"a route out of range", server.Route(200), 200, "code=2xx,route=other"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := New(Options{})
			m.Request(tc.route, tc.status, 3*time.Millisecond)
			got := gather(t, m, "cpauth_http_request_duration_seconds")
			if len(got) != 1 || got[tc.want] != 1 {
				t.Errorf("series %v, want %s with one observation", got, tc.want)
			}
		})
	}
}

func TestStoreCall(t *testing.T) {
	m := New(Options{})
	m.StoreCall(observed.OpGetAccount, time.Millisecond, observed.OK)
	m.StoreCall(observed.OpGetAccount, time.Millisecond, observed.NotFound)
	m.StoreCall(observed.OpCreateToken, time.Millisecond, observed.Failed)
	m.StoreCall(observed.NumOps, time.Millisecond, observed.Failed) // out of range: not counted
	calls := gather(t, m, "cpauth_store_call_duration_seconds")
	if len(calls) != 2 || calls["op=GetAccount"] != 2 || calls["op=CreateToken"] != 1 {
		t.Errorf("calls %v", calls)
	}
	errs := gather(t, m, "cpauth_store_call_errors_total")
	if len(errs) != 2 || errs["op=GetAccount,outcome=not_found"] != 1 || errs["op=CreateToken,outcome=error"] != 1 {
		t.Errorf("errors %v", errs)
	}
}

func TestHulkBlock(t *testing.T) {
	m := New(Options{})
	m.HulkBlock("ip")
	m.HulkBlock("user")
	m.HulkBlock("user")
	m.HulkBlock("192.0.2.1") // not a kind: not counted
	got := gather(t, m, "cpauth_hulk_blocks_total")
	want := map[string]float64{"kind=ip": 1, "kind=excessive": 0, "kind=user": 2}
	if len(got) != len(want) {
		t.Fatalf("series %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestChangeFeed(t *testing.T) {
	c := newClock()
	m := New(Options{Now: c.Now})
	m.WatchChangeFeed()
	steps := []struct {
		name                 string
		do                   func()
		live, reconnects, dn float64
	}{
		{"first live", func() { m.FeedLive(true) }, 1, 0, 0},
		{"down", func() { m.FeedLive(false) }, 0, 0, 0},
		{"down again", func() { c.Advance(time.Second); m.FeedLive(false) }, 0, 0, 0},
		{"back", func() { c.Advance(2 * time.Second); m.FeedLive(true) }, 1, 1, 3},
		{"live again: no reconnect", func() { m.FeedLive(true) }, 1, 1, 3},
		{"a change", func() { m.FeedChange(); m.FeedChange() }, 1, 1, 3},
	}
	for _, s := range steps {
		s.do()
		for name, want := range map[string]float64{"cpauth_change_feed_live": s.live, "cpauth_change_feed_reconnects_total": s.reconnects, "cpauth_change_feed_down_seconds_total": s.dn} {
			if got := gather(t, m, name)[""]; got != want {
				t.Errorf("%s: %s = %v, want %v", s.name, name, got, want)
			}
		}
	}
	if got := gather(t, m, "cpauth_change_feed_changes_total")[""]; got != 2 {
		t.Errorf("changes = %v, want 2", got)
	}
}

// fakeCounter counts how often it was asked.
type fakeCounter struct {
	mu    sync.Mutex
	calls int
	err   error
	c     sqlstore.Counts
}

func (f *fakeCounter) CountLive(context.Context, time.Time) (sqlstore.Counts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.c, f.err
}

func TestWatchCredentials(t *testing.T) {
	c := newClock()
	var logged strings.Builder
	m := New(Options{Now: c.Now, Log: slog.New(slog.NewTextHandler(&logged, nil))})
	f := &fakeCounter{c: sqlstore.Counts{
		Sessions: map[string]int{"cpaneld": 3, "whostmgrd": 1, "somethingelse": 7},
		Tokens:   map[string]int{"whostmgr": 2},
	}}
	m.WatchCredentials(f)
	sessions := func() map[string]float64 { return gather(t, m, "cpauth_sessions") }
	got := sessions()
	want := map[string]float64{"service=cpanel": 3, "service=whm": 1, "service=webmail": 0}
	if len(got) != len(want) {
		t.Fatalf("sessions %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if tok := gather(t, m, "cpauth_api_tokens"); tok["service=whm"] != 2 || tok["service=cpanel"] != 0 || len(tok) != 2 {
		t.Errorf("tokens %v", tok)
	}
	// A flood of scrapes: one count per period.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { m.Registry.Gather() })
	}
	wg.Wait()
	if f.calls != 1 { // 22 scrapes, all within one period
		t.Errorf("%d counts within one period, want 1", f.calls)
	}
	c.Advance(CountEvery)
	f.c.Sessions = map[string]int{"cpaneld": 5}
	if got := sessions()["service=cpanel"]; got != 5 {
		t.Errorf("after the period: cpanel sessions %v, want 5", got)
	}
	// A count that fails: the last good one is served, the error logged.
	c.Advance(CountEvery)
	f.err = errors.New("database unreachable")
	if got := sessions()["service=cpanel"]; got != 5 {
		t.Errorf("after a failed count: cpanel sessions %v, want the last good 5", got)
	}
	if !strings.Contains(logged.String(), "database unreachable") {
		t.Errorf("the failed count was not logged: %q", logged.String())
	}
}

func TestWatchCredentialsFirstCountFails(t *testing.T) {
	m := New(Options{})
	m.WatchCredentials(&fakeCounter{err: errors.New("no database")})
	if got := gather(t, m, "cpauth_sessions"); len(got) != 0 {
		t.Errorf("sessions shown without any count: %v", got)
	}
}

func TestBackendCall(t *testing.T) {
	m := New(Options{})
	m.Registry.MustRegister(m.backendVec, m.backendErrVec)
	m.BackendCall("forward_uapi", time.Millisecond, "")
	m.BackendCall("forward_uapi", time.Millisecond, "backend_timeout")
	m.BackendCall("Email::add_pop", time.Millisecond, "a message with bob's name") // neither is in the lists
	calls := gather(t, m, "cpauth_gateway_backend_call_duration_seconds")
	if len(calls) != 2 || calls["call=forward_uapi"] != 2 || calls["call=other"] != 1 {
		t.Errorf("calls %v", calls)
	}
	errs := gather(t, m, "cpauth_gateway_backend_call_errors_total")
	if len(errs) != 2 || errs["call=forward_uapi,failure=backend_timeout"] != 1 || errs["call=other,failure=backend_failure"] != 1 {
		t.Errorf("errors %v", errs)
	}
}

func TestHandler(t *testing.T) {
	m := New(Options{})
	m.Auth(core.ServiceWHM, core.MethodToken, "success")
	srv := httptest.NewServer(m.Mux())
	defer srv.Close()
	tests := []struct {
		name, method, path string
		status             int
		body               string
	}{
		{"metrics", http.MethodGet, Path, http.StatusOK, `cpauth_auth_attempts_total{method="token",result="success",service="whm"} 1`},
		{"the runtime's", http.MethodGet, Path, http.StatusOK, "go_goroutines"},
		{"not a GET", http.MethodPost, Path, http.StatusMethodNotAllowed, ""},
		{"another path", http.MethodGet, "/", http.StatusNotFound, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.body) {
				t.Errorf("%s %s: %d %.300s; want %d with %q", tc.method, tc.path, resp.StatusCode, b, tc.status, tc.body)
			}
		})
	}
}

// The hot path: what a request pays for being counted.
func BenchmarkAuth(b *testing.B) {
	m := New(Options{})
	b.ReportAllocs()
	for b.Loop() {
		m.Auth(core.ServiceWHM, core.MethodToken, "success")
	}
}

func BenchmarkRequest(b *testing.B) {
	m := New(Options{})
	b.ReportAllocs()
	for b.Loop() {
		m.Request(server.RouteWHMAPI1, 200, 50*time.Microsecond)
	}
}

func BenchmarkStoreCall(b *testing.B) {
	m := New(Options{})
	b.ReportAllocs()
	for b.Loop() {
		m.StoreCall(observed.OpGetTokenByMAC, 20*time.Microsecond, observed.OK)
	}
}
