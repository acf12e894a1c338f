package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/metrics"
	"github.com/cpauth/cpauth/internal/store"
)

// scrape fetches the metrics over HTTP and parses them.
func scrape(t testing.TB, e *testEnv) map[string]*dto.MetricFamily {
	t.Helper()
	addr := e.d.MetricsAddr()
	if addr == "" {
		t.Fatal("the metrics listener is off")
	}
	resp, err := http.Get("http://" + addr + metrics.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", metrics.Path, resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing the metrics: %v", err)
	}
	return fams
}

// sample is the value of the series of family name whose labels include
// want (0 when there is none; a histogram's count).
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	mf := fams[name]
	if mf == nil {
		return 0
	}
	total := 0.0
	for _, m := range mf.Metric {
		ok := true
		for k, v := range want {
			found := false
			for _, l := range m.Label {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			ok = ok && found
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Histogram != nil:
			total += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			total += m.Untyped.GetValue()
		}
	}
	return total
}

// series counts the series of the cpauth_ families (a histogram is one).
func series(fams map[string]*dto.MetricFamily) int {
	n := 0
	for name, mf := range fams {
		if strings.HasPrefix(name, "cpauth_") {
			n += len(mf.Metric)
		}
	}
	return n
}

// clientFrom is a client whose connections come from the loopback
// address addr.
func clientFrom(addr string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(addr)}, Timeout: 10 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// metricsRound is what one round of calls did, to check the counters by.
type metricsRound struct {
	whmToken, cpanelToken, passwordFailures, tokenFailures, blocked, logins int
	// secrets are the strings no label may hold: the users' names, the
	// tokens' names and texts, the addresses and the function names.
	secrets []string
}

// TestMetrics calls the APIs as many users, tokens and addresses, with
// unknown function names and failed logins, then reads /metrics over
// HTTP: the counters moved by what was done, and no label holds anything
// the clients chose, however many of them there were.
func TestMetrics(t *testing.T) {
	e := startRegulated(t, func(c *config.Config) { c.MetricsListen = "127.0.0.1:0" })
	ctx := context.Background()
	// The callers' addresses (127.0.0.2 ...) are allowed; 127.0.0.99 is
	// refused, before any credential is looked at.
	if _, _, _, err := e.d.Data.Hulk.AddRecords(ctx, store.HulkAllow, []string{"127.0.0.0/26", "::1"}, "tests"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := e.d.Data.Hulk.AddRecords(ctx, store.HulkDeny, []string{"127.0.0.99"}, "tests"); err != nil {
		t.Fatal(err)
	}
	whm := "http://" + e.d.Addr(core.ServiceWHM, false)
	cpanel := "http://" + e.d.Addr(core.ServiceCPanel, false)
	call := func(c *http.Client, method, u, authz, form string, want int) {
		t.Helper()
		var rd io.Reader
		if form != "" {
			rd = strings.NewReader(form)
		}
		req, err := http.NewRequest(method, u, rd)
		if err != nil {
			t.Fatal(err)
		}
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		if form != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s: status %d, want %d; body %.200s", method, u, resp.StatusCode, want, b)
		}
	}
	blockedClient := clientFrom("127.0.0.99")
	round := func(r, n int) metricsRound {
		var out metricsRound
		for i := range n {
			user := fmt.Sprintf("mxr%du%02d", r, i)
			pass := "Pw-" + user + "-9"
			addr := fmt.Sprintf("127.0.0.%d", 2+(r*20+i)%60)
			e.whm1("createacct", "username", user, "domain", user+".test", "password", pass)
			whmName, cpName := "whmtok-"+user, "cptok-"+user
			wt := e.mkToken(t, store.TokenWHM, "root", whmName)
			ct := e.mkToken(t, store.TokenCPanel, user, cpName)
			fn := "nosuchfn_" + user
			out.secrets = append(out.secrets, user, pass, addr, whmName, cpName, wt, ct, fn, "ghost"+user)
			c := clientFrom(addr)
			call(c, "GET", whm+"/json-api/version?api.version=1", whmTok("root", wt), "", http.StatusOK)
			call(c, "GET", whm+"/json-api/"+fn+"?api.version=1", whmTok("root", wt), "", http.StatusOK)
			call(c, "GET", whm+"/json-api/"+fn, whmTok("root", wt), "", http.StatusOK) // WHM API 0
			out.whmToken += 3
			call(c, "GET", cpanel+"/execute/Variables/get_user_information", cpanelTok(user, ct), "", http.StatusOK)
			call(c, "GET", cpanel+"/execute/Mod_"+user+"/"+fn, cpanelTok(user, ct), "", http.StatusOK)
			call(c, "GET", cpanel+"/json-api/cpanel?cpanel_jsonapi_apiversion=2&cpanel_jsonapi_module=M"+user+"&cpanel_jsonapi_func="+fn, cpanelTok(user, ct), "", http.StatusOK)
			out.cpanelToken += 3
			call(c, "GET", whm+"/json-api/version?api.version=1", basic("ghost"+user, "wrong-"+user), "", http.StatusForbidden)
			out.passwordFailures++
			call(c, "GET", whm+"/json-api/version?api.version=1", whmTok("root", strings.Repeat("z", 32-len(user))+user), "", http.StatusForbidden)
			out.tokenFailures++
			call(c, "POST", cpanel+"/login", "", url.Values{"user": {user}, "pass": {pass}}.Encode(), http.StatusFound)
			out.logins++
			call(blockedClient, "GET", whm+"/json-api/version?api.version=1", basic(user, pass), "", http.StatusForbidden)
			out.blocked++
			call(c, "GET", whm+"/"+user+"/"+fn, "", "", http.StatusNotFound)
		}
		return out
	}
	// The counts of sessions and tokens are kept CountEvery: move the
	// daemon's clock past it before each scrape.
	before := scrape(t, e)
	r1 := round(1, 4)
	e.clock.Advance(metrics.CountEvery + time.Second)
	mid := scrape(t, e)
	r2 := round(2, 20)
	e.clock.Advance(metrics.CountEvery + time.Second)
	after := scrape(t, e)

	for _, step := range []struct {
		name      string
		from, to  map[string]*dto.MetricFamily
		r         metricsRound
		logins    int // sessions live at the end of the round
		whmTokens int // WHM tokens live at the end of the round
	}{
		{"first round", before, mid, r1, r1.logins, r1.logins},
		{"second round", mid, after, r2, r1.logins + r2.logins, r1.logins + r2.logins},
	} {
		t.Run(step.name, func(t *testing.T) {
			delta := func(name string, labels map[string]string) float64 {
				return sample(step.to, name, labels) - sample(step.from, name, labels)
			}
			attempts := "cpauth_auth_attempts_total"
			for _, c := range []struct {
				service, method, result string
				want                    int
			}{
				{"whm", "token", "success", step.r.whmToken},
				{"cpanel", "token", "success", step.r.cpanelToken},
				{"whm", "password", "failure", step.r.passwordFailures},
				{"whm", "token", "failure", step.r.tokenFailures},
				{"whm", "password", "blocked", step.r.blocked},
				{"cpanel", "password", "success", step.r.logins},
			} {
				if got := delta(attempts, map[string]string{"service": c.service, "method": c.method, "result": c.result}); got != float64(c.want) {
					t.Errorf("%s{service=%q,method=%q,result=%q} went up by %v, want %d", attempts, c.service, c.method, c.result, got, c.want)
				}
			}
			reqs := "cpauth_http_request_duration_seconds"
			for _, c := range []struct {
				route, code string
				want        int
			}{
				{"whmapi1", "2xx", 2 * step.r.whmToken / 3},
				{"whmapi0", "2xx", step.r.whmToken / 3},
				{"uapi", "2xx", 2 * step.r.cpanelToken / 3},
				{"api2", "2xx", step.r.cpanelToken / 3},
				{"whmapi1", "4xx", step.r.passwordFailures + step.r.tokenFailures + step.r.blocked},
				{"login", "3xx", step.r.logins},
				{"other", "4xx", step.r.logins},
			} {
				if got := delta(reqs, map[string]string{"route": c.route, "code": c.code}); got != float64(c.want) {
					t.Errorf("%s{route=%q,code=%q} counted %v requests, want %d", reqs, c.route, c.code, got, c.want)
				}
			}
			if got := sample(step.to, "cpauth_sessions", map[string]string{"service": "cpanel"}); got != float64(step.logins) {
				t.Errorf("cpauth_sessions{service=cpanel} = %v, want %d", got, step.logins)
			}
			if got := sample(step.to, "cpauth_api_tokens", map[string]string{"service": "whm"}); got != float64(step.whmTokens) {
				t.Errorf("cpauth_api_tokens{service=whm} = %v, want %d", got, step.whmTokens)
			}
			if got := delta("cpauth_password_check_wait_seconds", nil); got < float64(step.r.logins) {
				t.Errorf("cpauth_password_check_wait_seconds observed %v waits, want at least %d (one per login)", got, step.r.logins)
			}
			if got := delta("cpauth_store_call_duration_seconds", map[string]string{"op": "CreateAccount"}); got != float64(len(step.r.secrets)/9) {
				t.Errorf("cpauth_store_call_duration_seconds{op=CreateAccount} observed %v calls, want %d", got, len(step.r.secrets)/9)
			}
		})
	}

	for _, name := range []string{"cpauth_hulk_tracked", "cpauth_hulk_degraded", "cpauth_hulk_blocks_total", "cpauth_password_cache_hits_total",
		"cpauth_password_cache_misses_total", "cpauth_password_cache_entries", "cpauth_password_check_queue_length", "cpauth_log_queue_entries",
		"cpauth_log_lines_suppressed_total", "cpauth_log_write_failed_lines_total", "cpauth_store_call_errors_total",
		"cpauth_change_feed_live", "go_goroutines", "process_resident_memory_bytes"} {
		if after[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	if got := sample(after, "cpauth_hulk_degraded", nil); got != 0 {
		t.Errorf("cpauth_hulk_degraded = %v", got)
	}
	if got := sample(after, "cpauth_change_feed_live", nil); got != 1 {
		t.Errorf("cpauth_change_feed_live = %v, want 1", got)
	}
	if got := sample(after, "cpauth_store_call_errors_total", map[string]string{"op": "GetAccount", "outcome": "not_found"}); got < float64(r1.passwordFailures+r2.passwordFailures) {
		t.Errorf("cpauth_store_call_errors_total{op=GetAccount,outcome=not_found} = %v, want at least the %d unknown users", got, r1.passwordFailures+r2.passwordFailures)
	}

	// Bounded: nothing the clients chose is a label, and five times the
	// users, tokens, addresses and function names made no more series.
	secrets := append(r1.secrets, r2.secrets...)
	for name, mf := range after {
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				for _, s := range secrets {
					if strings.Contains(l.GetValue(), s) {
						t.Errorf("%s has label %s=%q, which holds %q, a client's", name, l.GetName(), l.GetValue(), s)
					}
				}
			}
		}
	}
	const maxSeries = 400
	s1, s2 := series(mid), series(after)
	t.Logf("cpauth series: %d after %d users, %d after %d", s1, 4, s2, 24)
	if s2 > maxSeries {
		t.Errorf("%d cpauth series, more than %d", s2, maxSeries)
	}
	if s2-s1 > 5 {
		t.Errorf("the series went from %d to %d with 20 more users: some label follows the clients", s1, s2)
	}
}

// In gateway mode the backend calls are observed, by call and never by
// function or account, and the backend sessions held are shown.
func TestMetricsGateway(t *testing.T) {
	g := startGateway(t, gwOptions{configure: func(c *config.Config) { c.MetricsListen = "127.0.0.1:0" }})
	root, bob := g.gw.authFor(t, "root"), g.gw.authFor(t, "bob")
	before := scrape(t, g.gw)
	whmOK(t, g.gw.do(t, request{port: p2087, auth: root, path: "/json-api/gw_test_echo?api.version=1&a=1"}))
	whmOK(t, g.gw.do(t, request{port: p2087, auth: root, path: "/json-api/gw_test_echo?api.version=1&a=2"}))
	object(t, g.gw.do(t, request{port: p2083, auth: bob, path: "/json-api/cpanel?cpanel_jsonapi_apiversion=2&cpanel_jsonapi_module=GwTest&cpanel_jsonapi_func=echo&k=v"}))
	after := scrape(t, g.gw)
	calls := "cpauth_gateway_backend_call_duration_seconds"
	for _, c := range []struct {
		call string
		want float64
	}{
		{"forward_whmapi1", 2},
		{"forward_api2", 1},
	} {
		if got := sample(after, calls, map[string]string{"call": c.call}) - sample(before, calls, map[string]string{"call": c.call}); got != c.want {
			t.Errorf("%s{call=%q} went up by %v, want %v", calls, c.call, got, c.want)
		}
	}
	if got := sample(after, "cpauth_gateway_backend_sessions", nil); got < 1 {
		t.Errorf("cpauth_gateway_backend_sessions = %v, want bob's session at least", got)
	}
	if got := sample(after, "cpauth_gateway_backend_call_errors_total", nil); got != 0 {
		t.Errorf("cpauth_gateway_backend_call_errors_total = %v, want none", got)
	}
	for name, mf := range after {
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				for _, s := range []string{"gw_test_echo", "GwTest", "bob", "echo"} {
					if strings.Contains(l.GetValue(), s) {
						t.Errorf("%s has label %s=%q, which holds %q", name, l.GetName(), l.GetValue(), s)
					}
				}
			}
		}
	}
}

// On PostgreSQL the change feed's metrics follow its connection: cut off
// the database, the feed is down; back, it is live again and counted as a
// reconnect. Needs CPAUTH_TEST_POSTGRES_DSN.
func TestMetricsPostgresChangeFeed(t *testing.T) {
	db := newClusterDB(t)
	key := filepath.Join(t.TempDir(), "cluster.key")
	e := startWith(t, func(c *config.Config) {
		c.Store = "postgres"
		c.PostgresDSN = db.dsn
		c.KeyFile = key
		c.MetricsListen = "127.0.0.1:0"
	})
	gaugeIs := func(name string, want float64) bool { return sample(scrape(t, e), name, nil) == want }
	if _, ok := within(10*time.Second, func() bool { return gaugeIs("cpauth_change_feed_live", 1) }); !ok {
		t.Fatal("the change feed did not go live")
	}
	e.whm1("createacct", "username", "pgbob", "domain", "pgbob.test", "password", bobPass)
	if _, ok := within(10*time.Second, func() bool { return sample(scrape(t, e), "cpauth_change_feed_changes_total", nil) > 0 }); !ok {
		t.Error("no change heard on the feed after an account was made")
	}
	ctx := context.Background()
	db.cut(ctx, t)
	if _, ok := within(10*time.Second, func() bool { return gaugeIs("cpauth_change_feed_live", 0) }); !ok {
		t.Fatal("the change feed is still live with the database cut off")
	}
	time.Sleep(100 * time.Millisecond)
	db.restore(ctx, t)
	if _, ok := within(20*time.Second, func() bool { return gaugeIs("cpauth_change_feed_live", 1) }); !ok {
		t.Fatal("the change feed did not come back")
	}
	after := scrape(t, e)
	if got := sample(after, "cpauth_change_feed_reconnects_total", nil); got < 1 {
		t.Errorf("cpauth_change_feed_reconnects_total = %v, want at least 1", got)
	}
	if got := sample(after, "cpauth_change_feed_down_seconds_total", nil); got <= 0 {
		t.Errorf("cpauth_change_feed_down_seconds_total = %v, want the time it was down", got)
	}
	if got := sample(after, "cpauth_store_call_duration_seconds", map[string]string{"op": "CreateAccount"}); got < 1 {
		t.Errorf("no CreateAccount call timed on PostgreSQL: %v", got)
	}
}
