package server_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
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
	fixed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", `application/json; charset="utf-8"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		w.Write(body)
	})
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

// handlerOf is the handler of the daemon's plain port of svc, made as the
// daemon makes it (without the pages, which API calls do not reach).
func handlerOf(d *daemon.Daemon, svc core.Service) http.Handler {
	data := d.Data
	s := &server.Server{
		Store: data.Store, Chain: data.Chain, Registry: data.Registry, Env: data.Env, Log: slog.New(slog.DiscardHandler),
		Sessions: data.Sessions, SessionAuth: data.SessionAuth,
	}
	return s.Handler(server.Port{Service: svc})
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
