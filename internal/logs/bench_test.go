package logs

import (
	"net/netip"
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
