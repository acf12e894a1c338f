// Package metrics is cpauth's Prometheus instrumentation: it owns the
// registry, defines every cpauth_* metric, and serves them. The packages
// it measures know nothing of it: they take small interfaces and func
// fields (server.Metrics, observed.Observer, HashPool.OnWait,
// Backend.Observe), which a Metrics satisfies with counters resolved
// once, and their state (table sizes, queues, sessions) is read when
// Prometheus scrapes, costing their hot paths nothing.
//
// No label holds anything a client chose: user and token names, addresses
// and function names never become label values. Every label's values come
// from a fixed list in this package or in the package it describes.
package metrics

import (
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/server"
	"github.com/cpauth/cpauth/internal/store/observed"
)

// Path is where the metrics are served.
const Path = "/metrics"

// Metrics holds the registry and the hot-path metrics. Make it with New;
// the Watch methods add what is read at scrape time.
type Metrics struct {
	// Registry holds every metric (its own, never the process-wide
	// default registry).
	Registry *prometheus.Registry
	log      *slog.Logger
	now      func() time.Time

	authVec *prometheus.CounterVec
	// auth holds the children of authVec, resolved on first use:
	// [service][method][result].
	auth [numServices][numMethods][numResults]atomic.Pointer[prometheus.Counter]

	reqVec   *prometheus.HistogramVec
	requests [server.NumRoutes][numClasses]atomic.Pointer[prometheus.Observer]

	storeVec    *prometheus.HistogramVec
	storeErrVec *prometheus.CounterVec
	storeCalls  [observed.NumOps]atomic.Pointer[prometheus.Observer]
	storeErrs   [observed.NumOps][observed.NumOutcomes]atomic.Pointer[prometheus.Counter]

	hulkBlocks *prometheus.CounterVec
	hashWait   prometheus.Histogram

	feedLive       prometheus.Gauge
	feedReconnects prometheus.Counter
	feedChanges    prometheus.Counter
	feedDown       prometheus.Counter
	feedWasLive    atomic.Bool
	feedEverLive   atomic.Bool
	feedDownSince  atomic.Int64 // unix nanoseconds; 0 while live

	backendVec    *prometheus.HistogramVec
	backendErrVec *prometheus.CounterVec
}

// Options are what New takes.
type Options struct {
	// Log receives the errors of a scrape (nil: discarded).
	Log *slog.Logger
	// Now is the clock of the cached counts (nil: time.Now).
	Now func() time.Time
}

// Buckets of the duration histograms, in seconds.
var (
	// requestBuckets span a token call on loopback (~100 µs) to a slow
	// password hash under load.
	requestBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10}
	// storeBuckets span a cached read to a slow database.
	storeBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1}
	// waitBuckets span no wait to password-check-wait's maximum.
	waitBuckets = []float64{0, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 5, 60}
	// backendBuckets span a backend on the same network to its timeout.
	backendBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
)

// New makes the registry, with the Go runtime's and the process's
// collectors and cpauth's hot-path metrics.
func New(o Options) *Metrics {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	reg := prometheus.NewRegistry()
	m := &Metrics{Registry: reg, log: o.Log, now: o.Now}
	m.authVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cpauth_auth_attempts_total",
		Help: "Authentication decisions, by service (cpanel, whm, webmail), method presented (password, accesshash, token, session, sso, 2fa; none when no credential was presented) and result (success, failure, blocked).",
	}, []string{"service", "method", "result"})
	m.reqVec = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "cpauth_http_request_duration_seconds",
		Help:    "Time to answer a request on the six service ports, by route (whmapi1, whmapi0, uapi, api2, login, logout, page, static, health, other) and status class (1xx to 5xx).",
		Buckets: requestBuckets,
	}, []string{"route", "code"})
	m.storeVec = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "cpauth_store_call_duration_seconds",
		Help:    "Time of a call to the database, by operation (the store method's name); reads answered by the in-memory cache are not calls.",
		Buckets: storeBuckets,
	}, []string{"op"})
	m.storeErrVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cpauth_store_call_errors_total",
		Help: "Calls to the database that did not succeed, by operation and outcome (not_found, exists, conflict: expected answers; error: a failure).",
	}, []string{"op", "outcome"})
	m.hulkBlocks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cpauth_hulk_blocks_total",
		Help: "Blocks the brute-force regulator of this node decided, by kind (ip, excessive, user).",
	}, []string{"kind"})
	m.hashWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "cpauth_password_check_wait_seconds",
		Help:    "Time a password check waited for a turn in the hashing pool (0: a turn was free), whether it got one or not.",
		Buckets: waitBuckets,
	})
	m.feedLive = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "cpauth_change_feed_live",
		Help: "1 while the store's change feed is live (caches may be trusted), 0 while it is down.",
	})
	m.feedReconnects = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cpauth_change_feed_reconnects_total",
		Help: "Times the change feed went live again after being down.",
	})
	m.feedChanges = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cpauth_change_feed_changes_total",
		Help: "Changes heard on the change feed (every node's writes, this one's included).",
	})
	m.feedDown = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cpauth_change_feed_down_seconds_total",
		Help: "Seconds the change feed was down (the caches were bypassed) since the start, counted when it comes back.",
	})
	m.backendVec = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "cpauth_gateway_backend_call_duration_seconds",
		Help:    "Gateway mode: time of a call to the backend until its answer's headers, by call (whmapi1, forward_whmapi1, forward_uapi, forward_api2, login, logout, password_check).",
		Buckets: backendBuckets,
	}, []string{"call"})
	m.backendErrVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cpauth_gateway_backend_call_errors_total",
		Help: "Gateway mode: backend calls that got no answer, by call and failure (backend_unreachable, backend_timeout, backend_refused, backend_bad_answer).",
	}, []string{"call", "failure"})
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.authVec, m.reqVec, m.storeVec, m.storeErrVec, m.hulkBlocks, m.hashWait,
	)
	for _, kind := range hulkKinds {
		m.hulkBlocks.WithLabelValues(kind) // every kind shows, at 0
	}
	return m
}

// Handler serves the registry's metrics in Prometheus's text (or
// OpenMetrics) format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{
		ErrorLog:          slogLogger{m.log},
		ErrorHandling:     promhttp.ContinueOnError,
		Registry:          m.Registry, // promhttp's own counts of scrapes
		EnableOpenMetrics: true,
		Timeout:           10 * time.Second,
	})
}

// Mux is a mux serving the metrics at Path: the metrics listener's, to
// which the daemon adds its other handlers (health answers).
func (m *Metrics) Mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET "+Path, m.Handler())
	return mux
}

// slogLogger is promhttp's error log on slog.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Println(v ...any) {
	msg := ""
	for i, x := range v {
		if i > 0 {
			msg += " "
		}
		if err, ok := x.(error); ok {
			msg += err.Error()
		} else if str, ok := x.(string); ok {
			msg += str
		}
	}
	s.l.Warn("metrics: scrape", "error", msg)
}

// Label values. Each list is fixed: a value not in it is counted under
// the list's catch-all.
const (
	numServices = int(core.ServiceWebmail) + 1
	numResults  = 3
	numClasses  = 6 // 0: none (never used), 1xx ... 5xx
)

var (
	serviceNames = [numServices]string{"none", "cpanel", "whm", "webmail"}
	methods      = []core.Method{"", core.MethodPassword, core.MethodAccessHash, core.MethodToken, core.MethodSession, core.MethodSSO, core.MethodTwoFactor, core.MethodLocal, core.MethodWebAuthn}
	methodNames  = [numMethods]string{"none", "password", "accesshash", "token", "session", "sso", "2fa", "local", "webauthn", "other"}
	resultNames  = [numResults]string{"success", "failure", "blocked"}
	classNames   = [numClasses]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}
	hulkKinds    = []string{"ip", "excessive", "user"}
)

const numMethods = 10 // methods, and "other"

func methodIndex(m core.Method) int {
	for i, x := range methods {
		if x == m {
			return i
		}
	}
	return numMethods - 1
}

func resultIndex(r string) (int, bool) {
	switch r {
	case "success":
		return 0, true
	case "failure":
		return 1, true
	case "blocked":
		return 2, true
	}
	return 0, false
}

// Auth counts an authentication decision (server.Metrics).
func (m *Metrics) Auth(svc core.Service, method core.Method, result string) {
	r, ok := resultIndex(result)
	if !ok || svc < 0 || int(svc) >= numServices {
		return
	}
	mi := methodIndex(method)
	slot := &m.auth[svc][mi][r]
	c := slot.Load()
	if c == nil {
		v := m.authVec.WithLabelValues(serviceNames[svc], methodNames[mi], resultNames[r])
		slot.CompareAndSwap(nil, &v)
		c = slot.Load()
	}
	(*c).Inc()
}

// Request observes an answered request (server.Metrics).
func (m *Metrics) Request(rt server.Route, status int, took time.Duration) {
	if rt >= server.NumRoutes {
		rt = server.RouteOther
	}
	class := status / 100
	if class < 1 || class >= numClasses {
		class = 0
	}
	slot := &m.requests[rt][class]
	o := slot.Load()
	if o == nil {
		v := m.reqVec.WithLabelValues(rt.String(), classNames[class])
		slot.CompareAndSwap(nil, &v)
		o = slot.Load()
	}
	(*o).Observe(took.Seconds())
}

// StoreCall observes a call to the database (observed.Observer).
func (m *Metrics) StoreCall(op observed.Op, took time.Duration, outcome observed.Outcome) {
	if op >= observed.NumOps {
		return
	}
	slot := &m.storeCalls[op]
	o := slot.Load()
	if o == nil {
		v := m.storeVec.WithLabelValues(op.String())
		slot.CompareAndSwap(nil, &v)
		o = slot.Load()
	}
	(*o).Observe(took.Seconds())
	if outcome == observed.OK || outcome >= observed.NumOutcomes {
		return
	}
	eslot := &m.storeErrs[op][outcome]
	c := eslot.Load()
	if c == nil {
		v := m.storeErrVec.WithLabelValues(op.String(), outcome.String())
		eslot.CompareAndSwap(nil, &v)
		c = eslot.Load()
	}
	(*c).Inc()
}

// HulkBlock counts a block the regulator decided, by its kind
// (store.HulkBlock.Kind; any other is not counted).
func (m *Metrics) HulkBlock(kind string) {
	for _, k := range hulkKinds {
		if k == kind {
			m.hulkBlocks.WithLabelValues(k).Inc()
			return
		}
	}
}

// HashWait observes a password check's wait for a turn (auth.HashPool's
// OnWait).
func (m *Metrics) HashWait(d time.Duration) { m.hashWait.Observe(d.Seconds()) }
