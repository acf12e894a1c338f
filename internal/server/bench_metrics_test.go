package server_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/core"
)

// BenchmarkPairedMetrics measures what the metrics cost a token call: two
// daemons on copies of one token store, one with the metrics listener on
// (every request observed, every authentication counted, every database
// call timed) and one without, measured call by call as BenchmarkPaired
// does (each iteration calls both, in alternating order). The daemon
// without metrics is the baseline: %-of-baseline is the metrics daemon's
// throughput as a share of it (the target: at least 98).
//
// "http" cases are round trips over loopback; "handler" cases call each
// daemon's port handler in process (no connection, no net/http server),
// where the handler's own work is the whole time and a cost of the
// metrics would weigh most.
//
//	go test -run='^$' -bench=BenchmarkPairedMetrics -benchtime=3s -count=3 ./internal/server -args -token-counts=10
func BenchmarkPairedMetrics(b *testing.B) {
	off := startTokenDaemon(b, 10)
	on := startTokenDaemonWith(b, 10, func(c *config.Config) { c.MetricsListen = "127.0.0.1:0" })
	if on.d.MetricsAddr() == "" || off.d.MetricsAddr() != "" {
		b.Fatal("the metrics listener is not on only where it should be")
	}
	for _, tc := range []struct {
		name, path, authz string
		svc               core.Service
		offURL, onURL     string
	}{
		{"whm-token", versionPath, off.tpl.whm, core.ServiceWHM, off.whm, on.whm},
		{"cpanel-token", uapiPath, off.tpl.cpanel, core.ServiceCPanel, off.cpanel, on.cpanel},
	} {
		header := map[string]string{"Authorization": tc.authz}
		b.Run("http/"+tc.name, func(b *testing.B) {
			pairLoopWith(b, tc.offURL+tc.path, header, tc.onURL+tc.path, header)
		})
		b.Run("handler/"+tc.name, func(b *testing.B) {
			hs := [2]http.Handler{handlerOf(off.d, tc.svc), handlerOf(on.d, tc.svc)}
			r := httptest.NewRequest(http.MethodGet, tc.path, nil)
			r.RemoteAddr = "127.0.0.1:40000"
			r.Header.Set("Authorization", tc.authz)
			w := &discardWriter{h: http.Header{}}
			serve := func(h http.Handler) time.Duration {
				clear(w.h)
				w.status = 0
				start := time.Now()
				h.ServeHTTP(w, r)
				d := time.Since(start)
				if w.status != http.StatusOK {
					b.Fatalf("status %d", w.status)
				}
				return d
			}
			for range 1000 { // warm up both
				serve(hs[0])
				serve(hs[1])
			}
			var t [2]time.Duration
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				for k := range 2 {
					which := (i + k) % 2
					t[which] += serve(hs[which])
				}
				i++
			}
			if i > 0 && t[0] > 0 {
				b.ReportMetric(float64(t[0].Nanoseconds())/float64(i), "base-ns/call")
				b.ReportMetric(float64(t[1].Nanoseconds())/float64(i), "auth-ns/call")
				b.ReportMetric(float64(t[1])/float64(t[0]), "x-baseline")
				b.ReportMetric(100*float64(t[0])/float64(t[1]), "%-of-baseline")
			}
		})
	}
}
