package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/gateway"
	"github.com/cpauth/cpauth/internal/hulk"
	"github.com/cpauth/cpauth/internal/logs"
	"github.com/cpauth/cpauth/internal/store/sqlstore"
)

// What is read at scrape time: each Watch method registers a collector
// that asks its source once per scrape. The sources take their own locks
// briefly (or none); nothing here runs on a request's path.

// collector is a prometheus.Collector made of a list of descriptions and
// a function that sends their values.
type collector struct {
	descs   []*prometheus.Desc
	collect func(ch chan<- prometheus.Metric)
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// WatchHulk adds the brute-force regulator's table sizes, limits and
// degraded state, from stats (hulk.Regulator.Stats).
func (m *Metrics) WatchHulk(stats func() hulk.Stats) {
	tracked := desc("cpauth_hulk_tracked", "Entries of the brute-force regulator's tables, by table (addresses, ranges, names, name_groups, pairs, known_pairs, blocks, pending_failures, rows).", "table")
	limit := desc("cpauth_hulk_limit", "Bounds of the brute-force regulator's tables, by limit (keys: addresses, names and pairs each; ranges; blocks; rows).", "limit")
	degraded := desc("cpauth_hulk_degraded", "1 while the brute-force regulator is degraded (a table is full: what does not fit is counted coarser), else 0.")
	m.Registry.MustRegister(&collector{descs: []*prometheus.Desc{tracked, limit, degraded}, collect: func(ch chan<- prometheus.Metric) {
		s := stats()
		for _, t := range []struct {
			name string
			v    int
		}{{"addresses", s.Addresses}, {"ranges", s.Ranges}, {"names", s.Names}, {"name_groups", s.NameGroups}, {"pairs", s.Pairs},
			{"known_pairs", s.Known}, {"blocks", s.Blocks}, {"pending_failures", s.Pending}, {"rows", s.Rows}} {
			gauge(ch, tracked, float64(t.v), t.name)
		}
		gauge(ch, limit, float64(s.Limits.Keys), "keys")
		gauge(ch, limit, float64(s.Limits.Ranges), "ranges")
		gauge(ch, limit, float64(s.Limits.Blocks), "blocks")
		gauge(ch, limit, float64(s.Limits.Rows), "rows")
		gauge(ch, degraded, bool01(s.Degraded))
	}})
}

// WatchPasswordCache adds the verified-password cache's hits, misses and
// size (a nil cache, turned off, shows zeros).
func (m *Metrics) WatchPasswordCache(c *auth.PasswordCache) {
	hits := desc("cpauth_password_cache_hits_total", "Password checks answered by the verified-password cache (no hash computed).")
	misses := desc("cpauth_password_cache_misses_total", "Password checks the verified-password cache could not answer.")
	entries := desc("cpauth_password_cache_entries", "Successful password checks the cache holds now.")
	capacity := desc("cpauth_password_cache_capacity", "The most entries the cache holds (password-cache-size; 0: off).")
	m.Registry.MustRegister(&collector{descs: []*prometheus.Desc{hits, misses, entries, capacity}, collect: func(ch chan<- prometheus.Metric) {
		s := c.Stats()
		counter(ch, hits, float64(s.Hits))
		counter(ch, misses, float64(s.Misses))
		gauge(ch, entries, float64(s.Size))
		gauge(ch, capacity, float64(s.Capacity))
	}})
}

// WatchHashPool adds the password-hashing pool's queue, and observes its
// waits (it sets p.OnWait: call it before the pool is used).
func (m *Metrics) WatchHashPool(p *auth.HashPool) {
	if p != nil {
		p.OnWait = m.HashWait
	}
	waiting := desc("cpauth_password_check_queue_length", "Password checks waiting for a turn in the hashing pool now.")
	running := desc("cpauth_password_check_running", "Password checks hashing now.")
	admitted := desc("cpauth_password_check_admitted_total", "Password checks given a turn.")
	shed := desc("cpauth_password_check_shed_total", "Password checks refused a turn (the queue was full or the wait ran out): each failed as a wrong password.")
	m.Registry.MustRegister(&collector{descs: []*prometheus.Desc{waiting, running, admitted, shed}, collect: func(ch chan<- prometheus.Metric) {
		a, s, r, w := p.Stats()
		gauge(ch, waiting, float64(w))
		gauge(ch, running, float64(r))
		counter(ch, admitted, float64(a))
		counter(ch, shed, float64(s))
	}})
}

// WatchLogs adds the log files' queue depth, the lines held back by the
// flood limiter, and the lines that could not be written.
func (m *Metrics) WatchLogs(l *logs.Logs) {
	queued := desc("cpauth_log_queue_entries", "Requests whose log lines wait in memory for the next write.")
	held := desc("cpauth_log_lines_suppressed_total", "Log lines held back by the flood limiter and counted into a summary line instead, by class (refusal, no_credentials).", "class")
	failed := desc("cpauth_log_write_failed_lines_total", "Log lines whose write failed (they went to stderr instead), by file.", "file")
	classes := [...]string{logs.Refusal: "refusal", logs.NoCredentials: "no_credentials"}
	m.Registry.MustRegister(&collector{descs: []*prometheus.Desc{queued, held, failed}, collect: func(ch chan<- prometheus.Metric) {
		s := l.Stats()
		gauge(ch, queued, float64(s.Queued))
		for c, name := range classes {
			counter(ch, held, float64(s.Held[c]), name)
		}
		for _, f := range logs.Names {
			counter(ch, failed, float64(s.FailedLines[f]), f)
		}
	}})
}

// Counter is what WatchCredentials counts with (sqlstore.Store's
// CountLive).
type Counter interface {
	CountLive(ctx context.Context, now time.Time) (sqlstore.Counts, error)
}

// CountEvery is how long WatchCredentials keeps a count: a flood of
// scrapes costs the database at most one count per period.
const CountEvery = 15 * time.Second

// countTimeout bounds one count.
const countTimeout = 5 * time.Second

// WatchCredentials adds the live sessions and API tokens by service,
// counted by c at most once per CountEvery (concurrent scrapes share
// one count). A count that fails is logged, and the last good one
// served meanwhile.
func (m *Metrics) WatchCredentials(c Counter) {
	sessions := desc("cpauth_sessions", "Logged-in browser sessions neither expired nor idle past their timeout, by service (cpanel, whm, webmail); counted at most every 15 s.", "service")
	tokens := desc("cpauth_api_tokens", "API tokens not expired, by service (whm, cpanel); counted at most every 15 s.", "service")
	var (
		mu   sync.Mutex
		last sqlstore.Counts
		at   time.Time
		good bool
	)
	sessionServices := map[string]string{"cpaneld": "cpanel", "whostmgrd": "whm", "webmaild": "webmail"}
	tokenServices := map[string]string{"whostmgr": "whm", "cpanel": "cpanel"}
	m.Registry.MustRegister(&collector{descs: []*prometheus.Desc{sessions, tokens}, collect: func(ch chan<- prometheus.Metric) {
		mu.Lock()
		now := m.now()
		if !good || now.Sub(at) >= CountEvery || now.Before(at) {
			ctx, cancel := context.WithTimeout(context.Background(), countTimeout)
			counts, err := c.CountLive(ctx, now)
			cancel()
			if err != nil {
				m.log.Warn("metrics: counting sessions and API tokens", "error", err.Error())
			} else {
				last, at, good = counts, now, true
			}
		}
		counts, ok := last, good
		mu.Unlock()
		if !ok {
			return
		}
		// Every service shows, at 0 when it has none; a value the
		// database holds outside the list is not shown.
		for raw, label := range sessionServices {
			gauge(ch, sessions, float64(counts.Sessions[raw]), label)
		}
		for raw, label := range tokenServices {
			gauge(ch, tokens, float64(counts.Tokens[raw]), label)
		}
	}})
}

// The change feed (a shared store's: PostgreSQL's LISTEN/NOTIFY, or
// SQLite's change counter). Its notifications carry no time, so the lag
// of one change is not known; the time the feed was down (when caches are
// bypassed and nothing can be missed) is.

// WatchChangeFeed registers the change feed's metrics; FeedChange and
// FeedLive feed them.
func (m *Metrics) WatchChangeFeed() {
	m.Registry.MustRegister(m.feedLive, m.feedReconnects, m.feedChanges, m.feedDown)
}

// FeedChange counts a change heard on the feed.
func (m *Metrics) FeedChange() { m.feedChanges.Inc() }

// FeedLive records the feed going live or down.
func (m *Metrics) FeedLive(live bool) {
	now := m.now().UnixNano()
	was := m.feedWasLive.Swap(live)
	if live {
		m.feedLive.Set(1)
		if !was {
			if m.feedEverLive.Swap(true) {
				m.feedReconnects.Inc()
			}
			if since := m.feedDownSince.Swap(0); since != 0 && now > since {
				m.feedDown.Add(time.Duration(now - since).Seconds())
			}
		}
		return
	}
	m.feedLive.Set(0)
	if was {
		m.feedDownSince.CompareAndSwap(0, now)
	}
}

// Backend calls of gateway mode, as gateway.Backend.Observe names them.
var (
	backendCalls    = []string{gateway.CallWHMAPI1, gateway.CallForward + "whmapi1", gateway.CallForward + "uapi", gateway.CallForward + "api2", gateway.CallLogin, gateway.CallLogout, gateway.CallPassword}
	backendFailures = []string{gateway.FailUnreachable.String(), gateway.FailTimeout.String(), gateway.FailRefused.String(), gateway.FailBadAnswer.String()}
)

func oneOf(v string, list []string, other string) string {
	for _, x := range list {
		if x == v {
			return x
		}
	}
	return other
}

// BackendCall observes one call to the backend (gateway.Backend's
// Observe). A backend call costs a network round trip: resolving the
// labels here costs nothing in comparison.
func (m *Metrics) BackendCall(call string, took time.Duration, failure string) {
	call = oneOf(call, backendCalls, "other")
	m.backendVec.WithLabelValues(call).Observe(took.Seconds())
	if failure != "" {
		m.backendErrVec.WithLabelValues(call, oneOf(failure, backendFailures, "backend_failure")).Inc()
	}
}

// WatchGateway adds gateway mode's metrics: the backend calls (it sets
// g.Backend.Observe: call it before the gateway starts) and the backend
// sessions held.
func (m *Metrics) WatchGateway(g *gateway.Gateway) {
	g.Backend.Observe = m.BackendCall
	held := desc("cpauth_gateway_backend_sessions", "Gateway mode: backend sessions held now.")
	made := desc("cpauth_gateway_backend_sessions_made_total", "Gateway mode: backend sessions made.")
	ended := desc("cpauth_gateway_backend_sessions_ended_total", "Gateway mode: backend sessions ended.")
	m.Registry.MustRegister(m.backendVec, m.backendErrVec, &collector{descs: []*prometheus.Desc{held, made, ended}, collect: func(ch chan<- prometheus.Metric) {
		mk, en := g.Sessions.Stats()
		gauge(ch, held, float64(g.Sessions.Len()))
		counter(ch, made, float64(mk))
		counter(ch, ended, float64(en))
	}})
}
