package health

import (
	"context"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkReadyFlood: probes of readiness from many goroutines against a
// check that costs a millisecond (a store's round trip). checks/op is the
// share of probes that ran the check: results are shared for MaxAge, so a
// flood costs the store one check a second, whatever its rate.
func BenchmarkReadyFlood(b *testing.B) {
	var runs atomic.Int64
	c := &Checker{Checks: []Check{{"store", func(ctx context.Context) error {
		runs.Add(1)
		time.Sleep(time.Millisecond)
		return nil
	}}, {"logs", ok}}}
	h := c.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest("GET", PathReady, nil)
		r.RemoteAddr = "192.0.2.1:1"
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
	b.ReportMetric(float64(runs.Load())/float64(b.N), "checks/op")
}
