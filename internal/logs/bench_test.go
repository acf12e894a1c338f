package logs

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkRequest is what a request pays to hand its lines over (Request)
// and what the flush loop pays, per request, to format and write them
// (Flush of a queue of kickEntries): an API-token request with its
// access_log, api_tokens_log and audit lines.
func BenchmarkRequest(b *testing.B) {
	r := &Request{Time: fixed, Address: netip.MustParseAddr("192.0.2.1"), App: "whostmgrd", Port: 2086, Method: "GET", Path: "/json-api/version", Proto: "HTTP/1.1",
		Status: 200, Bytes: 103, User: "root", UserAgent: "Go-http-client/1.1", Token: true, TokenName: "bench", IDSeq: 12345, IDNano: 987654321,
		Audit: true, Decision: Decision{Service: "whostmgrd", Port: 2086, User: "root", Method: "token", Result: "success", Reason: "ok", TokenName: "bench"}}
	b.Run("hand-over", func(b *testing.B) {
		l := newLogs(b.TempDir(), Options{Now: time.Now}) // no loop: flushed below, untimed
		defer l.Close()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			l.Request(r)
			if i++; i%(kickEntries-1) == 0 {
				b.StopTimer()
				l.Flush()
				b.StartTimer()
			}
		}
	})
	b.Run("format-and-write", func(b *testing.B) {
		l := newLogs(b.TempDir(), Options{Now: time.Now})
		defer l.Close()
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			b.StopTimer()
			for range kickEntries {
				l.Request(r)
			}
			b.StartTimer()
			l.Flush()
			n += kickEntries
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/request")
	})
}

// BenchmarkFlood is a flood of refusals from blocked addresses through the
// log path, per refusal: Limit's decision, login_log's line when the
// refusal is written, the hand-over of the request's lines (its access
// line, and its audit line when written) and its share of the flushes
// (one per kickEntries, as the loop is woken), summaries included.
// "every line" is what a refusal cost before refusals were summed up, the
// baseline; bytes/refusal is what the flood adds to the files. "Limit
// alone" is what a refusal now adds to the request path.
func BenchmarkFlood(b *testing.B) {
	const reason = "address blocked by cPHulk until 2026-11-29T12:15:00Z"
	d := Decision{Service: "whostmgrd", Port: 2087, TLS: true, User: "root", Result: "blocked", Reason: "blocked_address", Detail: reason}
	line := RequestLine("GET", "/json-api/version", "HTTP/1.1")
	addrs := make([]netip.Addr, 100_000)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	}
	for _, tc := range []struct {
		name  string
		limit bool
		addrs int
	}{
		{"every line (before)", false, 1},
		{"summarised, one address", true, 1},
		{"summarised, 100000 addresses", true, len(addrs)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			l := newLogs(b.TempDir(), Options{MaxSize: 1 << 40, Now: time.Now}) // no rotation: every byte is counted
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				a := addrs[n%tc.addrs]
				r := Request{Time: fixed, Address: a, App: "whostmgrd", TLS: true, Port: 2087, Method: "GET", Path: "/json-api/version", Proto: "HTTP/1.1",
					Status: 403, Bytes: 13, User: "root", UserAgent: "Go-http-client/1.1", IDSeq: uint64(n), IDNano: 987654321}
				if !tc.limit || l.Limit(Refusal, a, "whostmgrd") {
					l.Login(Login{App: "whostmgrd", Address: a.String(), User: "root", Request: line, Status: "FAILED LOGIN", Reason: reason})
					r.Audit, r.Decision = true, d
				}
				l.Request(&r)
				if n++; n%kickEntries == 0 {
					l.Flush()
				}
			}
			l.Close()
			size := int64(0)
			for _, name := range Names {
				if st, err := os.Stat(filepath.Join(l.Dir(), name)); err == nil {
					size += st.Size()
				}
			}
			b.ReportMetric(float64(size)/float64(n), "bytes/refusal")
		})
	}
	b.Run("Limit alone", func(b *testing.B) {
		l := newLogs(b.TempDir(), Options{Now: time.Now})
		defer l.Close()
		b.ReportAllocs()
		a := addrs[0]
		for b.Loop() {
			l.Limit(Refusal, a, "whostmgrd")
		}
	})
	b.Run("Limit alone, parallel", func(b *testing.B) {
		l := newLogs(b.TempDir(), Options{Now: time.Now})
		defer l.Close()
		b.ReportAllocs()
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			a := addrs[next.Add(1)]
			for pb.Next() {
				l.Limit(Refusal, a, "whostmgrd")
			}
		})
	})
}

// BenchmarkFloodVolume is the worst flood for the files' growth: 2,000
// refusals a second from 20,000 addresses in turn (so that the table is
// full, the global bucket spent and the summaries capped), for 10 minutes
// of an injected clock, with short user names and paths and with 128-byte
// ones. It reports what login_log and the audit stream grow by a minute
// after the first; run it with -benchtime=1x.
func BenchmarkFloodVolume(b *testing.B) {
	long := strings.Repeat("x", 128)
	for _, tc := range []struct{ name, user string }{{"short names", "root"}, {"128-byte names", long}} {
		b.Run(tc.name, func(b *testing.B) {
			const minutes, perSecond, addresses = 10, 2000, 20_000
			const reason = "address blocked by cPHulk until 2026-11-29T12:15:00Z"
			path := "/json-api/" + tc.user
			var grown [2]int64
			for b.Loop() {
				now := fixed
				l := newLogs(b.TempDir(), Options{MaxSize: 1 << 40, Now: func() time.Time { return now }})
				size := func(name string) int64 {
					st, err := os.Stat(filepath.Join(l.Dir(), name))
					if err != nil {
						return 0
					}
					return st.Size()
				}
				var first [2]int64
				k := 0
				for s := range minutes * 60 {
					if s == 60 {
						first = [2]int64{size(LoginLog), size(AuditLog)}
					}
					for range perSecond {
						k = (k + 1) % addresses
						a := netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)})
						if l.Limit(Refusal, a, "whostmgrd") {
							l.Login(Login{App: "whostmgrd", Address: a.String(), User: tc.user, Request: RequestLine("GET", path, "HTTP/1.1"), Status: "FAILED LOGIN", Reason: reason})
							l.Audit(Decision{Time: now, RequestID: "2n9c-br7ntp", Service: "whostmgrd", Port: 2087, TLS: true, Address: a.String(), User: tc.user,
								Result: "blocked", Reason: "blocked_address", Detail: reason, Path: path})
						}
					}
					now = now.Add(time.Second)
					l.Flush()
				}
				grown = [2]int64{size(LoginLog) - first[0], size(AuditLog) - first[1]}
				l.Close()
			}
			b.ReportMetric(float64(grown[0])/(minutes-1), "login_log-B/min")
			b.ReportMetric(float64(grown[1])/(minutes-1), "audit-B/min")
		})
	}
}
