package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/config"
)

// BenchmarkGatewayPaired measures a forwarded call through the gateway
// against the same call made to the backend directly, with the same kind
// of credential, call by call: every iteration makes one direct call and
// one through the gateway (in alternating order) and times each, so that a
// change of the machine's load weighs on both alike. Both daemons run in
// the test process, on loopback (plain ports); the gateway reaches the
// backend on its plain ports too.
//
// Metrics: direct-ns/call and gateway-ns/call, the mean round trip of
// each; %-of-direct, the gateway's throughput as a share of direct
// (direct-ns over gateway-ns). ns/op is the pair's.
//
//	go test -run='^$' -bench=BenchmarkGatewayPaired -benchtime=3s ./internal/e2e
func BenchmarkGatewayPaired(b *testing.B) {
	quiet := func(c *config.Config) { c.LogLevel = "warn" } // no debug line per request
	g := startGateway(b, gwOptions{plain: true, configure: quiet, backendConfigure: quiet})
	gwRoot := g.gwToken(b, "root", "bench")
	gwBob := g.gwToken(b, "bob", "bench")
	bBob := str(g.backend.uapi("bob", "Tokens", "create_full_access", "name", "bench").Data.(map[string]any)["token"])
	cases := []struct {
		name          string
		port          port
		path          string
		direct, viaGW string
	}{
		{"whm-token", p2086, "/json-api/gethostname?api.version=1", whmTok("root", g.rootToken), whmTok("root", gwRoot)},
		{"cpanel-token-uapi", p2082, "/execute/Variables/get_user_information", cpanelTok("bob", bBob), cpanelTok("bob", gwBob)},
		{"basic-cached", p2086, "/json-api/gethostname?api.version=1", basic("root", g.backend.rootPass), basic("root", g.backend.rootPass)},
		{"basic-cached-uapi", p2082, "/execute/Variables/get_user_information", basic("bob", bobPass), basic("bob", bobPass)},
		// A call that costs the backend a millisecond of work, as a real
		// cPanel & WHM function does at least (it spawns a process).
		{"whm-token-1ms-function", p2086, "/json-api/gw_test_work?api.version=1", whmTok("root", g.rootToken), whmTok("root", gwRoot)},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			call := func(e *testEnv, auth string) time.Duration {
				start := time.Now()
				r, err := e.try(request{port: tc.port, path: tc.path, auth: auth})
				d := time.Since(start)
				if err != nil || r.status != http.StatusOK {
					b.Fatalf("%v %d %s", err, r.status, r.body)
				}
				return d
			}
			call(g.backend, tc.direct) // warm: connections, sessions, caches
			call(g.gw, tc.viaGW)
			var direct, via time.Duration
			b.ResetTimer()
			for i := range b.N {
				if i%2 == 0 {
					direct += call(g.backend, tc.direct)
					via += call(g.gw, tc.viaGW)
				} else {
					via += call(g.gw, tc.viaGW)
					direct += call(g.backend, tc.direct)
				}
			}
			b.ReportMetric(float64(direct.Nanoseconds())/float64(b.N), "direct-ns/call")
			b.ReportMetric(float64(via.Nanoseconds())/float64(b.N), "gateway-ns/call")
			b.ReportMetric(100*float64(direct)/float64(via), "%-of-direct")
		})
	}
}
