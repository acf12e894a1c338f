package server_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/functions"
)

// The brute-force regulator's cost: authenticated calls with it in force
// against the same calls with it disabled (is_enabled=0), and a guessing
// load with and without it.

// hulkDaemon is a daemon whose regulator applies to loopback (nothing is
// allow-listed), enabled or not, with root's access hash and an API token.
type hulkDaemon struct {
	*benchDaemon
	token string
}

func startHulkDaemon(b *testing.B, rounds int, enabled bool) *hulkDaemon {
	b.Helper()
	ctx := context.Background()
	d := startRegulatedDaemon(b, func(c *config.Config) { c.HashRounds = rounds })
	if err := d.Data.Hulk.SetEnabled(ctx, enabled); err != nil {
		b.Fatal(err)
	}
	pass, err := os.ReadFile(d.Data.RootPasswordFile)
	if err != nil {
		b.Fatal(err)
	}
	hash, err := d.Data.Env.AccessHash(ctx, "root", true)
	if err != nil {
		b.Fatal(err)
	}
	rootAcct, err := d.Data.Store.GetAccount(ctx, "root")
	if err != nil {
		b.Fatal(err)
	}
	root := auth.PrincipalFor(rootAcct)
	root.Method, root.Service = core.MethodLocal, core.ServiceWHM
	res, err := functions.RunWHM1(ctx, d.Data.Registry, &api.Call{Flavour: api.WHM1, Func: "api_token_create",
		Args: api.NewArgs([2]string{"token_name", "bench"}), Principal: root, Remote: netip.IPv6Loopback(), Host: "localhost"})
	if err != nil {
		b.Fatal(err)
	}
	return &hulkDaemon{
		benchDaemon: &benchDaemon{
			d:          d,
			url:        "http://" + d.Addr(core.ServiceWHM, false),
			basic:      "Basic " + base64.StdEncoding.EncodeToString([]byte("root:"+strings.TrimSpace(string(pass)))),
			accessHash: "whm root:" + hash,
		},
		token: "whm root:" + res.Data.(map[string]any)["token"].(string),
	}
}

// BenchmarkHulk is authenticated throughput with the regulator off and on:
// serial (one call at a time) and parallel (GOMAXPROCS clients), by access
// hash and by API token (the cheap methods, where the regulator's share is
// largest), against the baseline of the same run. One daemon serves every
// case and the regulator is switched between them (is_enabled), because
// two daemons in one process do not measure alike (an A/A comparison of two
// identical daemons differed by a quarter).
func BenchmarkHulk(b *testing.B) {
	d := startHulkDaemon(b, 50000, true)
	body, err := call(newClient(), d.url+versionPath, d.accessHash, http.StatusOK)
	if err != nil {
		b.Fatal(err)
	}
	base := baselineServer(b, body)
	set := func(b *testing.B, on bool) {
		if err := d.d.Data.Hulk.SetEnabled(context.Background(), on); err != nil {
			b.Fatal(err)
		}
	}
	for _, mode := range []struct {
		name     string
		parallel bool
	}{{"serial", false}, {"parallel", true}} {
		b.Run(mode.name, func(b *testing.B) {
			var r ratio
			b.Run("baseline", func(b *testing.B) {
				loop(b, mode.parallel, base+versionPath, "", http.StatusOK)
				r.setBaseline(b)
			})
			// Off first, then on, then on first: neither side always runs
			// after the other (GC state, caches, the machine's other work).
			for _, c := range []struct {
				name string
				on   bool
				auth string
			}{
				{"accesshash/regulator-off", false, d.accessHash},
				{"accesshash/regulator-on", true, d.accessHash},
				{"token/regulator-on", true, d.token},
				{"token/regulator-off", false, d.token},
			} {
				b.Run(c.name, func(b *testing.B) {
					set(b, c.on)
					loop(b, mode.parallel, d.url+versionPath, c.auth, http.StatusOK)
					r.report(b)
				})
			}
		})
	}
}

// guessing is the load of BenchmarkHulkGuessing: guessesPerAddr wrong
// passwords for root from each of addrs loopback addresses, conc
// addresses at a time.
const (
	guessAddrs     = 1000
	guessesPerAddr = 10
	guessConc      = 8
)

// guessFrom is the i-th guessing address: 127.1.x.y, which Linux routes to
// the listener on 127.0.0.1.
func guessFrom(i int) net.IP { return net.IPv4(127, 1, byte(i/250), byte(i%250+1)) }

// BenchmarkHulkGuessing sends 10 000 wrong passwords from 1 000 addresses
// (each address its own connection) and reports the CPU the process spent
// (the daemon runs in it; the client's share is small next to the password
// hashes) and how the attempts were answered. Every answer is D5 either
// way; "hashed" counts the attempts that reached a password check. Run it
// with -benchtime=1x: one iteration is the whole load. The daemon's hash
// rounds are 5000 (not the default 50000), so that the run without the
// regulator takes seconds rather than minutes; the ratio is what matters.
func BenchmarkHulkGuessing(b *testing.B) {
	for _, c := range []struct {
		name    string
		enabled bool
		perUser string
	}{
		{"regulator-off", false, "1"},
		// The guesses come from loopback addresses: local-origin protection
		// is turned off with per-user protection.
		{"regulator-on/per-address-only", true, "0"},
		{"regulator-on", true, "1"},
	} {
		enabled := c.enabled
		b.Run(c.name, func(b *testing.B) {
			d := startHulkDaemon(b, 5000, enabled)
			if err := d.d.Data.Hulk.SetValues(context.Background(), map[string]string{"username_based_protection": c.perUser, "username_based_protection_local_origin": c.perUser}); err != nil {
				b.Fatal(err)
			}
			var forbidden, other atomic.Int64
			var cpu time.Duration
			for b.Loop() {
				if _, err := d.d.Data.Hulk.FlushHistory(context.Background()); err != nil {
					b.Fatal(err)
				}
				before := processCPU()
				var wg sync.WaitGroup
				next := atomic.Int64{}
				for range guessConc {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := int(next.Add(1) - 1)
							if i >= guessAddrs {
								return
							}
							dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: guessFrom(i)}}
							c := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
							for g := range guessesPerAddr {
								authz := "Basic " + base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "root:guess-%d-%d-xxxxxxxxxxxx", i, g))
								if _, err := call(c, d.url+versionPath, authz, http.StatusForbidden); err != nil {
									other.Add(1)
									continue
								}
								forbidden.Add(1)
							}
							c.CloseIdleConnections()
						}
					}()
				}
				wg.Wait()
				cpu += processCPU() - before
			}
			// Off, every attempt reaches the password check; on, those
			// the regulator admitted, each of which it counted.
			hashed := float64(forbidden.Load()) / float64(b.N)
			if enabled {
				fs, err := d.d.Data.Hulk.Failures(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				hashed = float64(len(fs))
			}
			n := float64(b.N)
			b.ReportMetric(cpu.Seconds()/n, "cpu-s/load")
			b.ReportMetric(float64(forbidden.Load())/n, "d5/load")
			b.ReportMetric(float64(other.Load())/n, "errors/load")
			b.ReportMetric(hashed, "hashed/load")
		})
	}
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
