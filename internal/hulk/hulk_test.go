package hulk

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/store/sqlstore"
)

// clock is a test's clock, moved by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newStore(t testing.TB) store.Store {
	t.Helper()
	s, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "cpauth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newRegulator(t testing.TB, s store.Store, c *clock, values map[string]string) *Regulator {
	t.Helper()
	r := &Regulator{Store: s, Now: c.Now}
	if err := r.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if values != nil {
		if err := r.SetValues(t.Context(), values); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func attempt(user, addr, secret string) Attempt {
	return Attempt{Service: core.ServiceWHM, Remote: netip.MustParseAddr(addr), User: user, Method: core.MethodPassword, Secret: secret}
}

// try is what the server does: ask, and when admitted report the result.
func try(r *Regulator, a Attempt, right bool) (admitted bool, why string) {
	ctx := context.Background()
	ok, why := r.Admit(ctx, a)
	if !ok {
		return false, why
	}
	if right {
		r.Succeeded(ctx, a)
	} else {
		r.Failed(ctx, a, "user password incorrect")
	}
	return true, ""
}

func start() *clock { return &clock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)} }

func TestIPBlockedAfterThresholdForTheWindow(t *testing.T) {
	c := start()
	r := newRegulator(t, newStore(t), c, nil)
	cfg := r.Config()
	for i := range cfg.MaxFailuresByIP {
		if ok, why := try(r, attempt(fmt.Sprintf("u%d", i), "198.51.100.7", fmt.Sprintf("guess%d", i)), false); !ok {
			t.Fatalf("attempt %d refused before the threshold: %s", i+1, why)
		}
	}
	// Blocked: even the right password of another user is not checked.
	if ok, why := r.Admit(t.Context(), attempt("root", "198.51.100.7", "right")); ok || !strings.Contains(why, "address blocked") {
		t.Fatalf("after %d failures: admitted=%v %q; want a block", cfg.MaxFailuresByIP, ok, why)
	}
	// Other addresses are not affected.
	if ok, _ := r.Admit(t.Context(), attempt("root", "198.51.100.8", "x")); !ok {
		t.Error("another address was refused")
	}
	c.Add(cfg.IPBruteForcePeriod - time.Second)
	if ok, _ := r.Admit(t.Context(), attempt("root", "198.51.100.7", "x")); ok {
		t.Error("admitted before the window ended")
	}
	c.Add(time.Second)
	if ok, why := r.Admit(t.Context(), attempt("root", "198.51.100.7", "x")); !ok {
		t.Errorf("still refused when the window ended: %s", why)
	}
}

func TestEscalationToOneDay(t *testing.T) {
	c := start()
	r := newRegulator(t, newStore(t), c, map[string]string{"username_based_protection": "0"})
	cfg := r.Config()
	n := 0
	for n < cfg.MarkAsBrute {
		ok, _ := try(r, attempt("bob", "203.0.113.9", fmt.Sprintf("g%d", n)), false)
		if ok {
			n++
			continue
		}
		c.Add(cfg.IPBruteForcePeriod) // wait out the temporary block
	}
	blocks, err := r.Blocks(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var excessive *store.HulkBlock
	for i, b := range blocks {
		if b.Kind == store.HulkBlockExcessive {
			excessive = &blocks[i]
		}
	}
	if excessive == nil || excessive.Key != "203.0.113.9" || !excessive.Until.Equal(c.Now().Add(ExcessiveBlock)) {
		t.Fatalf("after %d failures: blocks %+v; want a one-day block", n, blocks)
	}
	c.Add(ExcessiveBlock - time.Minute)
	if ok, _ := r.Admit(t.Context(), attempt("bob", "203.0.113.9", "x")); ok {
		t.Error("admitted within the day")
	}
	c.Add(time.Minute)
	if ok, _ := r.Admit(t.Context(), attempt("bob", "203.0.113.9", "x")); !ok {
		t.Error("refused after the day")
	}
}

func TestPerUserProtectionAcrossAddresses(t *testing.T) {
	c := start()
	r := newRegulator(t, newStore(t), c, nil)
	// The owner logged in from its office before the attack.
	if ok, _ := try(r, attempt("alice", "192.0.2.10", "right"), true); !ok {
		t.Fatal("first login refused")
	}
	cfg := r.Config()
	for i := range cfg.MaxFailures {
		addr := fmt.Sprintf("10.%d.%d.1", i/200, i%200)
		if ok, why := try(r, attempt("alice", addr, fmt.Sprintf("g%d", i)), false); !ok {
			t.Fatalf("attempt %d from a fresh address refused: %s", i+1, why)
		}
	}
	if ok, why := r.Admit(t.Context(), attempt("alice", "10.9.9.9", "right")); ok || !strings.Contains(why, "user blocked") {
		t.Errorf("a new address after %d failures against alice: admitted=%v %q", cfg.MaxFailures, ok, why)
	}
	if ok, why := r.Admit(t.Context(), attempt("alice", "192.0.2.10", "right")); !ok {
		t.Errorf("alice's own address refused: %s (a guesser must not lock the owner out)", why)
	}
	if ok, _ := r.Admit(t.Context(), attempt("carol", "10.9.9.9", "x")); !ok {
		t.Error("another user was refused")
	}
	c.Add(cfg.BruteForcePeriod)
	if ok, _ := r.Admit(t.Context(), attempt("alice", "10.9.9.9", "x")); !ok {
		t.Error("still refused after brute_force_period_mins")
	}

	// Off: no per-user block (except from loopback, local origin).
	r2 := newRegulator(t, newStore(t), start(), map[string]string{"username_based_protection": "0"})
	for i := range cfg.MaxFailures {
		try(r2, attempt("alice", fmt.Sprintf("10.0.%d.1", i), "g"+fmt.Sprint(i)), false)
	}
	if ok, _ := r2.Admit(t.Context(), attempt("alice", "10.9.9.9", "x")); !ok {
		t.Error("username_based_protection=0 still blocked the user")
	}
}

func TestRepeatedSecretCountsLess(t *testing.T) {
	c := start()
	r := newRegulator(t, newStore(t), c, nil)
	cfg := r.Config()
	// The same stale password retried: one failure, then a quarter each.
	for i := range 1 + (cfg.MaxFailuresByIP-1)*weightNew - 1 {
		if ok, why := try(r, attempt("bob", "198.51.100.20", "old-password"), false); !ok {
			t.Fatalf("retry %d refused: %s", i+1, why)
		}
	}
	if ok, _ := r.Admit(t.Context(), attempt("bob", "198.51.100.20", "old-password")); !ok {
		t.Fatal("retries of one password blocked as fast as distinct ones")
	}
	try(r, attempt("bob", "198.51.100.20", "old-password"), false)
	if ok, _ := r.Admit(t.Context(), attempt("bob", "198.51.100.20", "old-password")); ok {
		t.Error("retries never block")
	}
}

func TestLists(t *testing.T) {
	c := start()
	r := newRegulator(t, newStore(t), c, nil)
	ctx := t.Context()
	added, failed, _, err := r.AddRecords(ctx, store.HulkAllow, []string{"192.0.2.0/24", "2001:db8::1", "::ffff:198.51.100.1", "nonsense", "10.0.0.0/33"}, "office")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(added, ",") != "192.0.2.0/24,2001:db8::1,198.51.100.1" || len(failed) != 2 {
		t.Errorf("added %q, failed %q", added, failed)
	}
	if _, _, _, err := r.AddRecords(ctx, store.HulkDeny, []string{"192.0.2.5", "203.0.113.0/24", "::1"}, ""); err != nil {
		t.Fatal(err)
	}
	cfg := r.Config()
	tests := []struct {
		name string
		addr string
		want bool
	}{
		{"allow-list wins over the deny-list", "192.0.2.5", true},
		{"allow-list wins over the counters", "192.0.2.77", true},
		{"deny-list", "203.0.113.200", false},
		{"IPv4-mapped IPv6 is IPv4", "::ffff:203.0.113.1", false},
		{"loopback is not exempt", "::1", false},
		{"allowed IPv6 address", "2001:db8::1", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i := range cfg.MaxFailuresByIP + 1 {
				try(r, attempt("u", tc.addr, fmt.Sprint("g", i)), false)
			}
			if ok, why := r.Admit(ctx, attempt("u", tc.addr, "x")); ok != tc.want {
				t.Errorf("Admit(%s) = %v %q, want %v", tc.addr, ok, why, tc.want)
			}
		})
	}
	// 127.0.0.1 is not listed: counted and blocked like anyone.
	for i := range cfg.MaxFailuresByIP {
		try(r, attempt("u", "127.0.0.1", fmt.Sprint("g", i)), false)
	}
	if ok, _ := r.Admit(ctx, attempt("u", "127.0.0.1", "x")); ok {
		t.Error("loopback exempt without being listed")
	}
	// Allow-listing a blocked address lifts its block.
	_, _, lifted, err := r.AddRecords(ctx, store.HulkAllow, []string{"127.0.0.1"}, "")
	if err != nil || lifted != 1 {
		t.Errorf("allow-listing a blocked address lifted %d blocks, %v; want 1", lifted, err)
	}
	removed, failed, err := r.DeleteRecords(ctx, store.HulkAllow, []string{"127.0.0.1", "192.0.2.99"})
	if err != nil || strings.Join(removed, ",") != "127.0.0.1" || len(failed) != 1 {
		t.Errorf("DeleteRecords: %q %q %v", removed, failed, err)
	}
}

func TestIPv6CountedByPrefix(t *testing.T) {
	r := newRegulator(t, newStore(t), start(), map[string]string{"username_based_protection": "0"})
	for i := range r.Config().MaxFailuresByIP {
		try(r, attempt("u", fmt.Sprintf("2001:db8:1:2::%x", i+1), fmt.Sprint("g", i)), false)
	}
	if ok, _ := r.Admit(t.Context(), attempt("u", "2001:db8:1:2:ffff::1", "x")); ok {
		t.Error("an address of the same /64 was admitted")
	}
	if ok, _ := r.Admit(t.Context(), attempt("u", "2001:db8:1:3::1", "x")); !ok {
		t.Error("another /64 was refused")
	}
}

func TestCountersSurviveRestart(t *testing.T) {
	c := start()
	s := newStore(t)
	r := newRegulator(t, s, c, nil)
	cfg := r.Config()
	for i := range cfg.MaxFailuresByIP - 1 {
		try(r, attempt("u", "198.51.100.30", fmt.Sprint("g", i)), false)
	}
	for i := range cfg.MaxFailuresByIP {
		try(r, attempt("u", "198.51.100.31", fmt.Sprint("g", i)), false)
	}
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	// A new process on the same store.
	r2 := newRegulator(t, s, c, nil)
	if ok, _ := r2.Admit(t.Context(), attempt("u", "198.51.100.31", "x")); ok {
		t.Error("a block did not survive the restart")
	}
	if ok, _ := try(r2, attempt("u", "198.51.100.30", "one more"), false); !ok {
		t.Fatal("refused one failure early")
	}
	if ok, _ := r2.Admit(t.Context(), attempt("u", "198.51.100.30", "x")); ok {
		t.Error("the failures counted before the restart were forgotten")
	}
}

func TestNodesShareCounts(t *testing.T) {
	c := start()
	s := newStore(t)
	a := newRegulator(t, s, c, nil)
	b := newRegulator(t, s, c, nil)
	n := a.Config().MaxFailuresByIP
	for i := range n - 1 {
		try(a, attempt("u", "198.51.100.40", fmt.Sprint("a", i)), false)
	}
	if err := a.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	try(b, attempt("u", "198.51.100.40", "b"), false)
	if ok, _ := b.Admit(t.Context(), attempt("u", "198.51.100.40", "x")); ok {
		t.Error("node b did not count node a's failures")
	}
	// b's block reaches a through the store (the feed, here by hand).
	if err := b.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	a.Changed(store.Change{Kind: store.ChangeHulk, Key: "blocks"})
	if err := a.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.Admit(t.Context(), attempt("u", "198.51.100.40", "x")); ok {
		t.Error("node a did not learn node b's block")
	}
}

func TestFlushAndUnblock(t *testing.T) {
	c := start()
	r := newRegulator(t, newStore(t), c, nil)
	ctx := t.Context()
	cfg := r.Config()
	for _, addr := range []string{"198.51.100.50", "198.51.100.51"} {
		for i := range cfg.MaxFailuresByIP {
			try(r, attempt("u"+addr, addr, fmt.Sprint("g", i)), false)
		}
	}
	n, err := r.FlushAddresses(ctx, []netip.Addr{netip.MustParseAddr("198.51.100.50")})
	if err != nil || n != cfg.MaxFailuresByIP+1 {
		t.Errorf("FlushAddresses = %d, %v; want %d failures and 1 block", n, err, cfg.MaxFailuresByIP+1)
	}
	if ok, _ := r.Admit(ctx, attempt("x", "198.51.100.50", "x")); !ok {
		t.Error("flushed address still refused")
	}
	if ok, _ := r.Admit(ctx, attempt("x", "198.51.100.51", "x")); ok {
		t.Error("the other address was flushed too")
	}
	// One failure after the flush does not block again.
	try(r, attempt("x", "198.51.100.50", "again"), false)
	if ok, _ := r.Admit(ctx, attempt("x", "198.51.100.50", "x")); !ok {
		t.Error("counts survived the flush")
	}
	if _, err := r.Unblock(ctx, store.HulkBlockIP, "198.51.100.51"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := r.Admit(ctx, attempt("x", "198.51.100.51", "x")); !ok {
		t.Error("unblocked address still refused")
	}
	for i := range cfg.MaxFailuresByIP {
		try(r, attempt("u", "198.51.100.52", fmt.Sprint("g", i)), false)
	}
	if n, err := r.FlushHistory(ctx); err != nil || n == 0 {
		t.Errorf("FlushHistory = %d, %v", n, err)
	}
	if bs, _ := r.Blocks(ctx); len(bs) != 0 {
		t.Errorf("blocks after FlushHistory: %+v", bs)
	}
	if fs, _ := r.Failures(ctx); len(fs) != 0 {
		t.Errorf("failures after FlushHistory: %d", len(fs))
	}
}

func TestDisabled(t *testing.T) {
	r := newRegulator(t, newStore(t), start(), nil)
	if _, _, _, err := r.AddRecords(t.Context(), store.HulkDeny, []string{"198.51.100.60"}, ""); err != nil {
		t.Fatal(err)
	}
	if err := r.SetEnabled(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		try(r, attempt("u", "198.51.100.61", fmt.Sprint("g", i)), false)
	}
	for _, addr := range []string{"198.51.100.60", "198.51.100.61"} {
		if ok, _ := r.Admit(t.Context(), attempt("u", addr, "x")); !ok {
			t.Errorf("disabled, %s refused", addr)
		}
	}
	if fs, _ := r.Failures(t.Context()); len(fs) != 0 {
		t.Errorf("disabled, %d failures recorded", len(fs))
	}
}

func TestConfig(t *testing.T) {
	r := newRegulator(t, newStore(t), start(), nil)
	ctx := t.Context()
	tests := []struct {
		name    string
		changes map[string]string
		wantErr string
	}{
		{"unknown key", map[string]string{"max_fail": "3"}, "not a valid cPHulk configuration key"},
		{"not a number", map[string]string{"max_failures": "many"}, "whole number"},
		{"zero", map[string]string{"max_failures_byip": "0"}, "whole number"},
		{"boolean", map[string]string{"is_enabled": "yes"}, "must be 0 or 1"},
		{"command", map[string]string{"command_to_run_on_brute_force": "rm -rf /"}, "does not run commands"},
		{"mark_as_brute below max_failures_byip", map[string]string{"mark_as_brute": "3"}, "mark_as_brute"},
		{"fine", map[string]string{"max_failures_byip": " 7 ", "block_brute_force_with_firewall": "1"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := r.SetValues(ctx, tc.changes)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("SetValues(%v) = %v, want %q", tc.changes, err, tc.wantErr)
			}
		})
	}
	if r.Config().MaxFailuresByIP != 7 || r.Values()["max_failures_byip"] != "7" || r.Values()["block_brute_force_with_firewall"] != "1" {
		t.Errorf("values after the changes: %v", r.Values())
	}
	if v := r.Values(); v["max_failures"] != "15" || v["lookback_period_min"] != "360" || v["ip_brute_force_period_sec"] != "900" {
		t.Errorf("defaults: %v", v)
	}
}

func TestAddrKeyAndRanges(t *testing.T) {
	tests := []struct{ in, key string }{
		{"192.0.2.1", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
	}
	for _, tc := range tests {
		if got := keyString(AddrKey(netip.MustParseAddr(tc.in))); got != tc.key {
			t.Errorf("key(%s) = %s, want %s", tc.in, got, tc.key)
		}
	}
	ranges := []struct{ in, want string }{
		{"192.0.2.77/24", "192.0.2.0/24"},
		{"192.0.2.7", "192.0.2.7/32"},
		{"2001:DB8::1/32", "2001:db8::/32"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
	}
	for _, tc := range ranges {
		p, err := ParseRange(tc.in)
		if err != nil || p.String() != tc.want {
			t.Errorf("ParseRange(%s) = %v, %v; want %s", tc.in, p, err, tc.want)
		}
	}
	for _, bad := range []string{"", "x", "192.0.2.1/33", "fe80::1%eth0", "1.2.3.4-1.2.3.5", strings.Repeat("1", 100)} {
		if _, err := ParseRange(bad); err == nil {
			t.Errorf("ParseRange(%q) accepted", bad)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "10.0.0.0/8", "2001:db8::/32", "::ffff:1.2.3.4/120", "x/1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseRange(s)
		if err != nil {
			return
		}
		again, err := ParseRange(p.String())
		if err != nil || again != p {
			t.Fatalf("ParseRange(%q) = %v, which reads back as %v, %v", s, p, again, err)
		}
		if p.Addr().Is4In6() || p != p.Masked() {
			t.Fatalf("ParseRange(%q) = %v, not normalised", s, p)
		}
	})
}

// Concurrent attempts from many goroutines: -race checks the locking, and
// no attempt is lost.
func TestConcurrent(t *testing.T) {
	r := newRegulator(t, newStore(t), start(), map[string]string{"max_failures_byip": "100000", "mark_as_brute": "100000", "max_failures": "100000"})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				a := attempt(fmt.Sprint("u", i%5), fmt.Sprintf("10.0.%d.%d", g, i%7), fmt.Sprint("s", i))
				try(r, a, i%3 == 0)
			}
		}()
	}
	wg.Wait()
	fs, err := r.Failures(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := 8 * (200 - 67)
	if len(fs) != want {
		t.Errorf("%d failures recorded, want %d", len(fs), want)
	}
}

// Reading the history back (a restart, a resync) re-blocks nothing that is
// over, and tells OnBlock (cphulkd.log) of nothing it was told before.
func TestResyncDoesNotRepeatBlocks(t *testing.T) {
	c := start()
	r := newRegulator(t, newStore(t), c, nil)
	var told []string
	r.OnBlock = func(b store.HulkBlock) { told = append(told, b.Kind+" "+b.Key) }
	for i := range r.Config().MaxFailuresByIP {
		try(r, attempt("u", "198.51.100.70", fmt.Sprint("g", i)), false)
	}
	if len(told) != 1 {
		t.Fatalf("OnBlock told %q, want one block", told)
	}
	r.Resync()
	if err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	c.Add(r.Config().IPBruteForcePeriod + time.Minute)
	r.Resync()
	if err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(told) != 1 {
		t.Errorf("after resyncs OnBlock was told %q", told)
	}
	if ok, why := r.Admit(t.Context(), attempt("u", "198.51.100.70", "x")); !ok {
		t.Errorf("refused after the block ended and a resync: %s", why)
	}
}

// unwritable refuses to record failures, so that they stay queued.
type unwritable struct {
	store.Store
	refuse bool
}

func (u *unwritable) AddHulkFailures(ctx context.Context, fs []store.HulkFailure) error {
	if u.refuse && len(fs) > 0 {
		return errors.New("the database is away")
	}
	return u.Store.AddHulkFailures(ctx, fs)
}

// A rebuild of the counters (Resync) keeps the failures counted here and
// not written yet: a guesser gains nothing from a store that cannot write,
// nor from a rebuild that falls between two guesses.
func TestRebuildKeepsQueuedFailures(t *testing.T) {
	c := start()
	st := &unwritable{Store: newStore(t)}
	r := newRegulator(t, st, c, nil)
	cfg := r.Config()
	st.refuse = true
	for i := range cfg.MaxFailures - 1 {
		try(r, attempt("alice", fmt.Sprintf("10.1.%d.1", i), fmt.Sprint("g", i)), false)
	}
	r.Resync()
	if err := r.Sync(t.Context()); err == nil {
		t.Fatal("Sync wrote failures to a store that refuses them")
	}
	try(r, attempt("alice", "10.2.0.1", "last"), false)
	if ok, why := r.Admit(t.Context(), attempt("alice", "10.9.9.9", "right")); ok || !strings.Contains(why, "user blocked") {
		t.Errorf("after %d failures, a rebuild between them: admitted=%v %q", cfg.MaxFailures, ok, why)
	}
	// Written at last, they are not counted twice by the next rebuild.
	st.refuse = false
	r.Resync()
	if err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	fs, err := r.Failures(t.Context())
	if err != nil || len(fs) != cfg.MaxFailures {
		t.Errorf("%d failures in the history (%v), want %d", len(fs), err, cfg.MaxFailures)
	}
}

// D28: a name block refuses the credentials that can be guessed; an
// address block refuses everything.
func TestNameBlockRefusesGuessableOnly(t *testing.T) {
	c := start()
	r := newRegulator(t, newStore(t), c, nil)
	cfg := r.Config()
	// root's name blocked by guesses from addresses each under their own
	// threshold; one more address blocked on its own.
	for i := range cfg.MaxFailures {
		try(r, attempt("root", fmt.Sprintf("10.3.%d.1", i), fmt.Sprint("g", i)), false)
	}
	for i := range cfg.MaxFailuresByIP {
		try(r, attempt("nobody", "10.4.0.1", fmt.Sprint("g", i)), false)
	}
	tests := []struct {
		name   string
		addr   string
		method core.Method
		want   bool
	}{
		{"password, blocked name", "10.9.0.1", core.MethodPassword, false},
		{"two-factor code, blocked name", "10.9.0.1", core.MethodTwoFactor, false},
		{"method not told yet, blocked name", "10.9.0.1", "", false},
		{"API token, blocked name", "10.9.0.1", core.MethodToken, true},
		{"access hash, blocked name", "10.9.0.1", core.MethodAccessHash, true},
		{"session cookie, blocked name", "10.9.0.1", core.MethodSession, true},
		{"one-time session, blocked name", "10.9.0.1", core.MethodSSO, true},
		{"passkey, blocked name", "10.9.0.1", core.MethodWebAuthn, true},
		{"passkey, blocked address", "10.4.0.1", core.MethodWebAuthn, false},
		{"API token, blocked address", "10.4.0.1", core.MethodToken, false},
		{"access hash, blocked address", "10.4.0.1", core.MethodAccessHash, false},
		{"session cookie, blocked address", "10.4.0.1", core.MethodSession, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := attempt("root", tc.addr, "x")
			a.Method = tc.method
			if ok, why := r.Admit(t.Context(), a); ok != tc.want {
				t.Errorf("Admit(root, %s, %q) = %v %q, want %v", tc.addr, tc.method, ok, why, tc.want)
			}
		})
	}
}
