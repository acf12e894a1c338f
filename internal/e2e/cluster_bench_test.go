package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkPropagation measures how long a change made through node A takes
// to show on node B, two nodes sharing one PostgreSQL schema (it needs
// CPAUTH_TEST_POSTGRES_DSN and skips without it). BENCHMARKS.md has the
// numbers:
//
//	go test -run='^$' -bench=BenchmarkPropagation -benchtime=100x ./internal/e2e
//
// Each iteration makes one change with a WHM API 1 call over HTTP on A,
// then polls B until B shows the change. The sample is the time from A's
// response (body read) to the end of B's first changed answer, so it
// includes that poll's own duration.
//
//   - http/*: B is polled over HTTP, back to back without sleeping, with a
//     call whose answer the change decides (nina's new password, nina's
//     password while suspended or not, root's new access hash).
//   - cache/*: B's store (the cache its authentication reads) is polled in
//     process, with a 20 µs pause between reads, until it returns the
//     changed record: the change feed's part without B's HTTP round trip.
//
// ns/op is the whole iteration (A's call plus the polling) and means
// little. The metrics are ms-median and ms-max of the b.N samples,
// ms-poll-median (the duration of the poll that saw the change: the
// resolution), stale-polls/op (B's answers per change that still showed
// the old state) and first-poll/op (the fraction of changes that B's very
// first poll already showed).
//
// B holds in memory what it last read (it answered the previous
// iteration's polls), and without the change feed it would go on
// answering that old state: the benchmark fails unless B's cache was live
// and answered reads, so what is measured is the LISTEN/NOTIFY path that
// makes B forget, not just a database read.
func BenchmarkPropagation(b *testing.B) {
	db := newClusterDB(b)
	key := filepath.Join(b.TempDir(), "cluster.key")
	na := startNode(b, db, key)
	nb := startNode(b, db, key)
	nb.d.Data.Cache.CountHits(true) // checked: calls answered from its cache
	if na.rootPass == "" {
		b.Fatal("node A did not create root")
	}
	if !waitLive(na) || !waitLive(nb) {
		b.Fatal("the nodes' change feeds did not come up")
	}
	ctx := context.Background()
	root := basic("root", na.rootPass)
	version := "/json-api/version?api.version=1"
	info := "/execute/Variables/get_user_information"
	passwords := [2]string{"Nina-Pass-1", "Nina-Pass-2"}
	whmOK(b, na.do(b, request{port: p2086, auth: root,
		path: "/json-api/createacct?api.version=1&username=nina&domain=nina.test&password=" + passwords[0]}))
	h := whmOK(b, na.do(b, request{port: p2086, auth: root, path: "/json-api/accesshash?api.version=1&generate=1"}))
	hash := str(dig(h, "data", "accesshash"))

	// The changes on A. Their state carries over from one sub-benchmark
	// to the next.
	pass, suspended := 0, false
	passwd := func(b *testing.B) {
		pass = 1 - pass
		whmOK(b, na.do(b, request{port: p2086, auth: root,
			path: "/json-api/passwd?api.version=1&user=nina&password=" + passwords[pass]}))
	}
	suspend := func(b *testing.B) {
		suspended = !suspended
		fn := "unsuspendacct"
		if suspended {
			fn = "suspendacct"
		}
		whmOK(b, na.do(b, request{port: p2086, auth: root, path: "/json-api/" + fn + "?api.version=1&user=nina"}))
	}
	newHash := func(b *testing.B) {
		h := whmOK(b, na.do(b, request{port: p2086, auth: root, path: "/json-api/accesshash?api.version=1&generate=1"}))
		hash = str(dig(h, "data", "accesshash"))
	}
	// httpIs polls B over HTTP: the change shows when B answers want.
	httpIs := func(p port, path string, auth func() string, want func() int) func() bool {
		return func() bool {
			r, err := nb.try(request{port: p, path: path, auth: auth()})
			return err == nil && r.status == want()
		}
	}
	ninaPass := func() string { return basic("nina", passwords[pass]) }
	ok := func() int { return http.StatusOK }
	// B's cached store, read in process.
	ninaHash := func(b *testing.B) string {
		a, err := nb.d.Data.Store.GetAccount(ctx, "nina")
		if err != nil {
			b.Fatal(err)
		}
		return a.PasswordHash
	}
	rootMAC := func(b *testing.B) string {
		h, err := nb.d.Data.Store.GetAccessHash(ctx, "root")
		if err != nil {
			b.Fatal(err)
		}
		return h.MAC
	}

	cases := []struct {
		name   string
		change func(b *testing.B)
		// prepare runs before each change (B reads the current state,
		// which B's cache then holds) and returns the check that the
		// change has shown on B.
		prepare func(b *testing.B) func() bool
		pause   time.Duration // between polls
	}{
		{"http/passwd", passwd, func(*testing.B) func() bool {
			return httpIs(p2082, info, ninaPass, ok)
		}, 0},
		{"http/suspend-unsuspend", suspend, func(*testing.B) func() bool {
			return httpIs(p2082, info, ninaPass, func() int {
				if suspended {
					return http.StatusForbidden
				}
				return http.StatusOK
			})
		}, 0},
		{"http/accesshash", newHash, func(*testing.B) func() bool {
			return httpIs(p2086, version, func() string { return "WHM root:" + hash }, ok)
		}, 0},
		{"cache/passwd", passwd, func(b *testing.B) func() bool {
			old := ninaHash(b)
			return func() bool { return ninaHash(b) != old }
		}, 20 * time.Microsecond},
		{"cache/accesshash", newHash, func(b *testing.B) func() bool {
			old := rootMAC(b)
			return func() bool { return rootMAC(b) != old }
		}, 20 * time.Microsecond},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			// B answers with the current state before the first change, so
			// that its cache holds it.
			if !httpIs(p2082, info, ninaPass, func() int {
				if suspended {
					return http.StatusForbidden
				}
				return http.StatusOK
			})() || !httpIs(p2086, version, func() string { return "WHM root:" + hash }, ok)() {
				b.Fatal("B does not answer with the current state before the first change")
			}
			hits0, _ := nb.d.Data.Cache.Stats()
			samples := make([]time.Duration, 0, b.N)
			polls := make([]time.Duration, 0, b.N)
			stale, first := 0, 0
			for b.Loop() {
				changed := tc.prepare(b)
				tc.change(b)
				t0 := time.Now() // A has answered
				n := 0
				for {
					ps := time.Now()
					if changed() {
						polls = append(polls, time.Since(ps))
						break
					}
					n++
					if time.Since(t0) > 5*time.Second {
						b.Fatalf("B still shows the old state %v after A's change", time.Since(t0))
					}
					if tc.pause > 0 {
						time.Sleep(tc.pause)
					}
				}
				samples = append(samples, time.Since(t0))
				stale += n
				if n == 0 {
					first++
				}
			}
			if hits, _ := nb.d.Data.Cache.Stats(); hits == hits0 || !nb.d.Data.Cache.Live() {
				b.Fatal("B did not answer from its cache: the samples measured no propagation")
			}
			n := len(samples)
			if n == 0 {
				return
			}
			slices.Sort(samples)
			slices.Sort(polls)
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(ms(median(samples)), "ms-median")
			b.ReportMetric(ms(samples[n-1]), "ms-max")
			b.ReportMetric(ms(median(polls)), "ms-poll-median")
			b.ReportMetric(float64(stale)/float64(n), "stale-polls/op")
			b.ReportMetric(float64(first)/float64(n), "first-poll/op")
		})
	}
}

// median of sorted durations.
func median(s []time.Duration) time.Duration {
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
