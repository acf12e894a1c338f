package server_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/daemon"
	"github.com/cpauth/cpauth/internal/server"
)

// BenchmarkHandler is the daemon's own work per call: a port's handler
// (middleware, routing, authentication, the function and its envelope)
// called in process, without a connection, net/http's server or a client.
// "fixed" is the baselines' handler, which writes the same bytes without
// doing anything else. The difference is what cpauth adds to a round trip,
// which the HTTP benchmarks measure whole.
func BenchmarkHandler(b *testing.B) {
	td := startTokenDaemon(b, 10)
	sd := startBenchDaemon(b, 5000)
	cookie, token := loginSession(b, sd)
	body, err := call(newClient(), td.whm+versionPath, td.tpl.whm, http.StatusOK)
	if err != nil {
		b.Fatal(err)
	}
	fixed := fixedBytes(body)
	whm, cpanel := core.ServiceWHM, core.ServiceCPanel
	for _, tc := range []struct {
		name, target string
		h            http.Handler
		header       string
		value        string
	}{
		{"fixed", versionPath, fixed, "", ""},
		{"whm-token", versionPath, handlerOf(td.d, whm), "Authorization", td.tpl.whm},
		{"cpanel-token", uapiPath, handlerOf(td.d, cpanel), "Authorization", td.tpl.cpanel},
		{"session", token + versionPath, handlerOf(sd.d, whm), "Cookie", cookie},
		{"accesshash", versionPath, handlerOf(sd.d, whm), "Authorization", sd.accessHash},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, tc.target, nil)
			r.RemoteAddr = "127.0.0.1:40000"
			if tc.header != "" {
				r.Header.Set(tc.header, tc.value)
			}
			w := &discardWriter{h: http.Header{}}
			tc.h.ServeHTTP(w, r)
			if w.status != http.StatusOK {
				b.Fatalf("%s: status %d", tc.name, w.status)
			}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				tc.h.ServeHTTP(w, r)
			}
		})
	}
}

// BenchmarkHandlerParallel is BenchmarkHandler from every core at once: the
// daemon's own work per call, with no network in the way, so that what
// calls on different cores share shows:
//
//	go test -run '^$' -bench BenchmarkHandlerParallel -cpu 1,2 -mutexprofile mutex.out ./internal/server
func BenchmarkHandlerParallel(b *testing.B) {
	td := startTokenDaemon(b, 10)
	sd := startBenchDaemon(b, 5000)
	cookie, token := loginSession(b, sd)
	whm, cpanel := core.ServiceWHM, core.ServiceCPanel
	for _, tc := range []struct {
		name, target string
		h            http.Handler
		header       string
		value        string
	}{
		{"whm-token", versionPath, handlerOf(td.d, whm), "Authorization", td.tpl.whm},
		{"cpanel-token", uapiPath, handlerOf(td.d, cpanel), "Authorization", td.tpl.cpanel},
		{"session", token + versionPath, handlerOf(sd.d, whm), "Cookie", cookie},
		{"accesshash", versionPath, handlerOf(sd.d, whm), "Authorization", sd.accessHash},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				r := httptest.NewRequest(http.MethodGet, tc.target, nil)
				r.RemoteAddr = "127.0.0.1:40000"
				r.Header.Set(tc.header, tc.value)
				w := &discardWriter{h: http.Header{}}
				for pb.Next() {
					clear(w.h)
					w.status = 0
					tc.h.ServeHTTP(w, r)
					if w.status != http.StatusOK {
						b.Errorf("%s: status %d", tc.name, w.status)
						return
					}
				}
			})
		})
	}
}

// handlerOf is the handler of the daemon's plain port of svc.
func handlerOf(d *daemon.Daemon, svc core.Service) http.Handler {
	return d.Handler(server.Port{Service: svc})
}

// discardWriter is a ResponseWriter that keeps the status and drops the
// body.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkBaselineExtras is the baseline round trip (fixed bytes, no
// authentication) with, one at a time, what a token call's round trip
// carries besides cpauth's handler: the credential header (a WHM token's
// Authorization line, which the client writes and the server parses) and
// the read, write and idle deadlines the daemon's servers set. Each case is
// reported against the plain baseline of the same run.
func BenchmarkBaselineExtras(b *testing.B) {
	body := []byte(`{"data":{"version":"11.120.0.5"},"metadata":{"command":"version","reason":"OK","result":1,"version":1}}`)
	plain := baselineServer(b, body)
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = daemon.NewHTTPServer(fixedBytes(body), nil) // the daemon's settings
	srv.Start()
	b.Cleanup(srv.Close)
	const token = "whm root:0123456789ABCDEFGHIJKLMNOPQRSTUV"
	var r ratio
	b.Run("baseline", func(b *testing.B) {
		loop(b, false, plain+versionPath, "", http.StatusOK)
		r.setBaseline(b)
	})
	b.Run("header", func(b *testing.B) {
		loop(b, false, plain+versionPath, token, http.StatusOK)
		r.report(b)
	})
	b.Run("deadlines", func(b *testing.B) {
		loop(b, false, srv.URL+versionPath, "", http.StatusOK)
		r.report(b)
	})
	b.Run("header+deadlines", func(b *testing.B) {
		loop(b, false, srv.URL+versionPath, token, http.StatusOK)
		r.report(b)
	})
}
