package gateway

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/core"
)

// BenchmarkSessionsMemory measures what a live backend session costs the
// gateway's heap: b.N sessions as the pool keeps them (the cookie and
// security token of a cPanel & WHM session, the key, the map's entry).
// BENCHMARKS.md, "Gateway mode", has the figure for 1,000:
//
//	go test -run='^$' -bench=BenchmarkSessionsMemory -benchtime=1000x ./internal/gateway
func BenchmarkSessionsMemory(b *testing.B) {
	p := NewSessions(nil, nil)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	now := time.Now()
	for i := range b.N {
		user := fmt.Sprintf("gwu%05d", i)
		s := &backendSession{
			cookie: "cpsession=" + user + "%3aAbCdEfGhIjKlMnOp%2c0123456789abcdef0123456789abcdef",
			token:  fmt.Sprintf("/cpsess%010d", i), made: now,
		}
		s.used.Store(now.Unix())
		p.live.Store(sessionKey{user, core.ServiceCPanel}, s)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(b.N), "heap-bytes/session")
	if p.Len() != b.N {
		b.Fatal("sessions lost")
	}
}
