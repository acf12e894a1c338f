package hulk

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/testutil"
)

// small are limits a test can exceed in a few thousand failures.
var small = Limits{Keys: 64, Ranges: 16, Blocks: 32, Rows: 32}

func newLimited(t testing.TB, s store.Store, c *clock, lim Limits) *Regulator {
	t.Helper()
	r := &Regulator{Store: s, Now: c.Now, Limits: lim, Log: slog.New(slog.NewTextHandler(&testutil.LogBuffer{}, nil))}
	if err := r.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	return r
}

// flood sends n failures, each under a name of its own, from addresses of
// their own: IPv4 ones spread over many /16s and /24s, and IPv6 ones from
// the /64s of one /48 (one customer's allocation holds 65,536 of them).
func flood(r *Regulator, n int) {
	ctx := context.Background()
	for i := range n {
		var a netip.Addr
		if i%2 == 0 {
			a = netip.AddrFrom4([4]byte{10, byte(i % 200), byte(i / 200), 1})
		} else {
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, byte(i >> 8), byte(i), 15: 1})
		}
		r.Failed(ctx, Attempt{Service: core.ServiceWHM, Remote: a, User: fmt.Sprintf("flood-%d", i), Method: core.MethodPassword, Secret: "x"}, "user password incorrect")
	}
}

// guessUntilRefused fails as user from addr(i) for i = 0, 1, … and returns
// how many failures were counted before an attempt was refused, and why.
func guessUntilRefused(t *testing.T, r *Regulator, user string, addr func(int) string) (int, string) {
	t.Helper()
	for i := range 1000 {
		if ok, why := try(r, attempt(user, addr(i), fmt.Sprint("guess-", i)), false); !ok {
			return i, why
		}
	}
	t.Fatalf("%s: 1000 failures counted and never refused", user)
	return 0, ""
}

// checkBounded fails when a table outgrew its limit.
func checkBounded(t *testing.T, r *Regulator) Stats {
	t.Helper()
	st := r.Stats()
	lim := r.Limits
	for _, c := range []struct {
		what     string
		got, max int
	}{
		{"addresses", st.Addresses, lim.Keys},
		{"ranges (two coarse levels and the families)", st.Ranges, 2*lim.Ranges + 2},
		{"names", st.Names, lim.Keys},
		{"name groups", st.NameGroups, nameGroups + 1},
		{"pairs", st.Pairs, lim.Keys},
		{"known pairs", st.Known, lim.Keys},
		{"blocks", st.Blocks, lim.Blocks},
		{"pending failures", st.Pending, lim.Rows},
	} {
		if c.got > c.max {
			t.Errorf("%s: %d, above the limit %d", c.what, c.got, c.max)
		}
	}
	r.pmu.Lock()
	pileRowsNow := len(r.pile.rows(r.node))
	r.pmu.Unlock()
	if pileRowsNow > 2*pileRows {
		t.Errorf("%d groups piled up, above %d", pileRowsNow, 2*pileRows)
	}
	return st
}

// A flood of failures under new names from new addresses fills every
// table; the regulator then still counts, and blocks, a name and an
// address that keep failing, no later than at their thresholds. Memory and
// the store's history stay bounded, and a restart does not bring the
// flood's tables back.
func TestFloodKeepsCounting(t *testing.T) {
	c := start()
	s := newStore(t)
	r := newLimited(t, s, c, small)
	cfg := r.Config()
	n := 40 * small.Keys // far beyond every limit
	flood(r, n)
	st := checkBounded(t, r)
	if !st.Degraded || st.Ranges == 0 || st.NameGroups == 0 || !st.Grouped {
		t.Errorf("after the flood: %+v; want a degraded regulator counting coarser", st)
	}

	addrCases := []struct {
		name string
		addr func(int) string
	}{
		{"IPv4 address, flooded /16", func(int) string { return "10.7.200.9" }},
		{"IPv4 address, elsewhere", func(int) string { return "198.51.100.77" }},
		{"IPv6 /64 of the flooded /48", func(i int) string { return fmt.Sprintf("2001:db8:1:ffff::%x", i+1) }},
		{"IPv6 address, elsewhere", func(i int) string { return fmt.Sprintf("2001:db8:99::%x", i+1) }},
	}
	for _, tc := range addrCases {
		t.Run(tc.name, func(t *testing.T) {
			counted, why := guessUntilRefused(t, r, "u-"+tc.name, tc.addr)
			if counted > cfg.MaxFailuresByIP || !strings.Contains(why, "address blocked") {
				t.Errorf("refused after %d failures (%q); want an address block by %d", counted, why, cfg.MaxFailuresByIP)
			}
		})
	}
	t.Run("a name, from fresh addresses", func(t *testing.T) {
		// Each guess from an address of its own, as a distributed guesser
		// does: only per-user protection can stop it.
		counted, why := guessUntilRefused(t, r, "info@bob.test", func(i int) string {
			return fmt.Sprintf("172.16.%d.%d", i/200, i%200+1)
		})
		if counted > cfg.MaxFailures || !strings.Contains(why, "user blocked") {
			t.Errorf("refused after %d failures (%q); want a user block by %d", counted, why, cfg.MaxFailures)
		}
		if ok, why := r.Admit(t.Context(), attempt("info@bob.test", "192.0.2.200", "right")); ok {
			t.Error("the name's password admitted from another new address")
		} else if !strings.Contains(why, "user blocked") {
			t.Errorf("refused, but %q", why)
		}
	})
	t.Run("an address that does not fail is not refused", func(t *testing.T) {
		for _, a := range []string{"10.7.200.10", "203.0.113.5", "2001:db8:1:fffe::1"} {
			if ok, why := r.Admit(t.Context(), attempt("someone", a, "x")); !ok {
				t.Errorf("%s refused without a failure: %s", a, why)
			}
		}
	})
	checkBounded(t, r)

	// The history in the store: the rows written one by one, then groups.
	c.Add(cfg.window() / 256) // the groups' time has come
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListHulkFailures(t.Context(), 0, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	groups := 0
	for _, f := range all {
		if f.Method == aggregateMethod {
			groups++
		}
	}
	if max := small.Rows + 2*pileRows; len(all) > max || groups == 0 {
		t.Errorf("%d rows in the store (%d of groups) after %d failures; want at most %d, groups among them", len(all), groups, n, max)
	}

	// A restart reads that back: bounded, and the tables have room.
	r2 := newLimited(t, s, c, small)
	st2 := checkBounded(t, r2)
	if st2.Addresses > small.Rows || st2.Names > small.Rows {
		t.Errorf("after a restart: %d addresses, %d names tracked one by one; want at most the %d rows", st2.Addresses, st2.Names, small.Rows)
	}
	for _, tc := range addrCases {
		t.Run("after a restart: "+tc.name, func(t *testing.T) {
			counted, why := guessUntilRefused(t, r2, "v-"+tc.name, func(i int) string {
				return strings.Replace(tc.addr(i), "77", "78", 1)
			})
			if counted > cfg.MaxFailuresByIP || !strings.Contains(why, "blocked") {
				t.Errorf("refused after %d failures (%q); want a block by %d", counted, why, cfg.MaxFailuresByIP)
			}
		})
	}
	// The name's block was one of those the full block table left to the
	// filter, in memory: the restart forgot it, not the name's failures
	// (read back in groups), and its next failure blocks it again.
	if counted, why := guessUntilRefused(t, r2, "info@bob.test", func(i int) string {
		return fmt.Sprintf("172.17.%d.%d", i/200, i%200+1)
	}); counted > 1 || !strings.Contains(why, "user blocked") {
		t.Errorf("after a restart, the name was refused after %d more failures (%q); want at most 1", counted, why)
	}
	checkBounded(t, r2)

	// Once the flood is older than the lookback period, every key is
	// counted on its own again: exactly at the thresholds.
	c.Add(cfg.window() + time.Minute)
	r2.Prune()
	for i := range cfg.MaxFailuresByIP - 1 {
		try(r2, attempt("w", "198.51.100.90", fmt.Sprint("g", i)), false)
	}
	if ok, why := r2.Admit(t.Context(), attempt("w", "198.51.100.90", "x")); !ok {
		t.Errorf("refused below the threshold once the flood is over: %s", why)
	}
	try(r2, attempt("w", "198.51.100.90", "last"), false)
	if ok, _ := r2.Admit(t.Context(), attempt("w", "198.51.100.90", "x")); ok {
		t.Error("not blocked at the threshold once the flood is over")
	}
	if st := r2.Stats(); st.Ranges != 0 || st.NameGroups != 0 {
		t.Errorf("still counting coarser after the flood: %+v", st)
	}
}

// A flood of blocks fills the block table: the blocks beyond it are held
// in the filter, and still refuse.
func TestBlocksBeyondTheTable(t *testing.T) {
	c := start()
	r := newLimited(t, newStore(t), c, Limits{Keys: 1000, Ranges: 100, Blocks: 8, Rows: 1000})
	log := &testutil.LogBuffer{}
	r.Log = slog.New(slog.NewTextHandler(log, nil))
	cfg := r.Config()
	addr := func(i int) string { return fmt.Sprintf("198.51.%d.%d", i/200, i%200+1) }
	for i := range 20 {
		for j := range cfg.MaxFailuresByIP {
			try(r, attempt(fmt.Sprint("u", i), addr(i), fmt.Sprint("g", j)), false)
		}
	}
	st := r.Stats()
	if st.Blocks != 8 || !st.Filtered || !st.Degraded {
		t.Fatalf("stats %+v; want 8 blocks kept and the others filtered", st)
	}
	for i := range 20 {
		if ok, _ := r.Admit(t.Context(), attempt("u", addr(i), "x")); ok {
			t.Errorf("%s admitted: its block found the table full and was lost", addr(i))
		}
	}
	// Lifting a block forgets the filter; what it held is blocked again
	// at its next failure.
	if _, err := r.FlushAddresses(t.Context(), []netip.Addr{netip.MustParseAddr(addr(0))}); err != nil {
		t.Fatal(err)
	}
	if ok, why := r.Admit(t.Context(), attempt("u", addr(0), "x")); !ok {
		t.Errorf("a lifted address refused: %s", why)
	}
	last := addr(19)
	try(r, attempt("u19", last, "again"), false)
	if ok, _ := r.Admit(t.Context(), attempt("u", last, "x")); ok {
		t.Error("an address the filter held is not blocked again at its next failure")
	}
	c.Add(ExcessiveBlock)
	r.Prune()
	if st := r.Stats(); st.Filtered || st.Blocks != 0 || st.Degraded {
		t.Errorf("after the blocks ended: %+v", st)
	}
	// What an operator sees: the log says when it began and ended.
	if l := log.String(); strings.Count(l, "cphulk: degraded: the block table is full") != 1 || strings.Count(l, "cphulk: no longer degraded") != 1 {
		t.Errorf("the log:\n%s\nwant one line when the regulator became degraded, one when it no longer was", l)
	}
}

// A bucket keeps at most maxEventsPerKey failures, and its sum over any
// window is never below the true one.
func TestEventsNeverUnderCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := start().Now()
	for run := range 200 {
		var e events
		var at []time.Time
		var w []int
		n := rng.IntN(300)
		for range n {
			t := base.Add(time.Duration(rng.Int64N(int64(6 * time.Hour))))
			if run%3 == 0 {
				t = base.Add(time.Duration(len(at)) * time.Second) // in order
			}
			wt := 1 + rng.IntN(4)
			e.add(t, wt)
			at, w = append(at, t), append(w, wt)
		}
		if len(e.at) > maxEventsPerKey || len(e.at) != len(e.w) {
			t.Fatalf("run %d: %d failures kept", run, len(e.at))
		}
		for range 50 {
			since := base.Add(time.Duration(rng.Int64N(int64(7 * time.Hour))))
			want := 0
			for i := range at {
				if !at[i].Before(since) {
					want += w[i]
				}
			}
			if got := e.sum(since); got < want {
				t.Fatalf("run %d: sum since %v = %d, below the true %d", run, since, got, want)
			}
		}
		total := 0
		for _, x := range w {
			total += x
		}
		if got := e.sum(base); got != total {
			t.Fatalf("run %d: the whole sum is %d, want %d (merging loses nothing)", run, got, total)
		}
	}
}

// The groups of a write are bounded, and cover every failure piled up.
func TestPileBoundedAndCovering(t *testing.T) {
	tests := []struct {
		name  string
		addrs int // distinct addresses
		users int // distinct names
		wantL int // the address level the groups end at
		all   bool
	}{
		{"few", 10, 10, 1, false},
		{"many /24s of few /16s", 2000, 20, 2, false},
		{"many /16s", 20000, 20000, 3, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p pile
			base := start().Now()
			var fs []store.HulkFailure
			for i := range max(tc.addrs, tc.users) {
				a := netip.AddrFrom4([4]byte{byte(1 + i%200), byte(i / 200), byte(i), 1})
				if tc.addrs <= 2000 {
					a = netip.AddrFrom4([4]byte{10, byte(i / 256 % 4), byte(i % tc.addrs), 1})
				}
				f := store.HulkFailure{Time: base.Add(time.Duration(i) * time.Millisecond), Address: a.String(),
					User: fmt.Sprint("n", i%tc.users), Weight: 4, Method: "password", Service: "whostmgrd"}
				p.add(f)
				fs = append(fs, f)
			}
			rows := p.rows("node")
			var addrRows, nameRows int
			for _, r := range rows {
				if r.Address != "" {
					addrRows++
				} else {
					nameRows++
				}
			}
			if addrRows > pileRows || nameRows > pileRows || p.level != tc.wantL {
				t.Errorf("%d address groups at level %d, %d name groups; want at most %d each, level %d", addrRows, p.level, nameRows, pileRows, tc.wantL)
			}
			if _, ok := p.names[allNamesGroup]; ok != tc.all {
				t.Errorf("all names in one group: %v, want %v", ok, tc.all)
			}
			for _, f := range fs {
				a := netip.MustParseAddr(f.Address)
				var inAddr, inName bool
				for _, r := range rows {
					if pr, err := netip.ParsePrefix(r.Address); err == nil && pr.Contains(a) && !r.Time.Before(f.Time) {
						inAddr = true
					}
					if g, ok := parseGroup(r.User); ok && (g < 0 || g == nameGroup(f.User)) && !r.Time.Before(f.Time) {
						inName = true
					}
				}
				if !inAddr || !inName {
					t.Fatalf("failure %+v is in no group (address %v, name %v)", f, inAddr, inName)
				}
			}
		})
	}
}
