package cached_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/store/cached"
	"github.com/cpauth/cpauth/internal/store/sqlstore"
	"github.com/cpauth/cpauth/internal/store/storetest"
)

func open(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "cpauth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// The cache is a Store like any other: it passes the conformance suite while
// live.
func TestConformance(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) store.Store {
		c := cached.New(open(t))
		c.CountHits(true) // the tests count hits
		c.SetLive(true)
		return c
	})
}

// A write behind the cache's back (another node) is seen only once the feed
// says so; while the feed is down nothing is cached.
func TestInvalidation(t *testing.T) {
	ctx := context.Background()
	inner := open(t)
	c := cached.New(inner)
	c.CountHits(true) // the tests count hits
	now := time.Now()
	if err := c.CreateAccount(ctx, store.Account{Username: "bob", Domain: "bob.test", Owner: "root", Created: now}); err != nil {
		t.Fatal(err)
	}
	suspend := func(v bool) {
		if _, err := inner.UpdateAccount(ctx, "bob", func(a store.Account) (store.Account, error) {
			a.Suspended = v
			return a, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	suspended := func() bool {
		a, err := c.GetAccount(ctx, "bob")
		if err != nil {
			t.Fatal(err)
		}
		return a.Suspended
	}

	// Not live: every read goes to the store.
	suspend(true)
	if !suspended() {
		t.Fatal("a cache that is not live served an old record")
	}

	c.SetLive(true)
	_ = suspended() // remember it
	suspend(false)  // behind the cache's back
	if !suspended() {
		t.Fatal("the cache did not serve the remembered record")
	}
	c.Invalidate(store.Change{Kind: store.ChangeAccount, Key: "bob"})
	if suspended() {
		t.Fatal("an invalidated record was still served")
	}

	// Absence is remembered, and forgotten on change.
	if _, err := c.GetAccount(ctx, "carol"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("carol: %v", err)
	}
	if err := inner.CreateAccount(ctx, store.Account{Username: "carol", Domain: "carol.test", Owner: "root", Created: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetAccount(ctx, "carol"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("remembered absence not served")
	}
	c.Invalidate(store.Change{Kind: store.ChangeAll})
	if _, err := c.GetAccount(ctx, "carol"); err != nil {
		t.Fatalf("after a flush: %v", err)
	}

	// Going down forgets everything and stops caching.
	_ = suspended()
	suspend(true)
	c.SetLive(false)
	if !suspended() {
		t.Fatal("a cache that went down served an old record")
	}
	hits, misses := c.Stats()
	if hits == 0 || misses == 0 {
		t.Errorf("stats: %d hits, %d misses", hits, misses)
	}
}

// Each kind of change forgets what it names.
func TestChangeKinds(t *testing.T) {
	ctx := context.Background()
	c, inner := live(t)
	now := time.Now()
	if err := c.CreateAccount(ctx, store.Account{Username: "bob", Domain: "bob.test", Owner: "root", Created: now}); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateMailbox(ctx, store.Mailbox{Account: "bob", Local: "info", Domain: "bob.test", PasswordHash: "a", Created: now}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetAccessHash(ctx, store.AccessHash{Username: "bob", MAC: "a", Created: now}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetSetting(ctx, "k", "a"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"t1", "t2"} {
		if err := c.CreateToken(ctx, store.Token{Service: store.TokenCPanel, Username: "bob", Name: name, MAC: "mac-" + name, LastUsedIP: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []string{"bob", "info@bob.test"} {
		if err := c.SetTwoFactor(ctx, store.TwoFactor{Username: u, Account: "bob", Sealed: []byte("s"), LastStep: 1, Created: now}); err != nil {
			t.Fatal(err)
		}
	}
	burn := func(user string) {
		if _, err := inner.UpdateTwoFactor(ctx, user, func(tf store.TwoFactor) (store.TwoFactor, error) { tf.LastStep = 2; return tf, nil }); err != nil {
			t.Fatal(err)
		}
	}
	lastStep := func(user string) string {
		tf, err := c.GetTwoFactor(ctx, user)
		if err != nil {
			return err.Error()
		}
		return map[int64]string{1: "a", 2: "b"}[tf.LastStep]
	}
	setIP := func(name string) {
		if _, err := inner.UpdateToken(ctx, store.TokenCPanel, "bob", name, func(t store.Token) (store.Token, error) {
			t.LastUsedIP = "b"
			return t, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	tokenIP := func(mac string) string {
		tok, err := c.GetTokenByMAC(ctx, mac)
		if err != nil {
			t.Fatal(err)
		}
		return tok.LastUsedIP
	}
	tests := []struct {
		name   string
		change store.Change
		write  func()
		read   func() string
	}{
		{"mailbox", store.Change{Kind: store.ChangeMailbox, Key: "info@bob.test"},
			func() {
				inner.UpdateMailbox(ctx, "info", "bob.test", func(m store.Mailbox) (store.Mailbox, error) { m.PasswordHash = "b"; return m, nil })
			},
			func() string { m, _ := c.GetMailbox(ctx, "info", "bob.test"); return m.PasswordHash }},
		{"access hash", store.Change{Kind: store.ChangeAccessHash, Key: "bob"},
			func() { inner.SetAccessHash(ctx, store.AccessHash{Username: "bob", MAC: "b", Created: now}) },
			func() string { h, _ := c.GetAccessHash(ctx, "bob"); return h.MAC }},
		{"setting", store.Change{Kind: store.ChangeSetting, Key: "k"},
			func() { inner.SetSetting(ctx, "k", "b") },
			func() string { v, _ := c.GetSetting(ctx, "k"); return v }},
		{"two-factor", store.Change{Kind: store.ChangeTwoFactor, Key: "bob"},
			func() { burn("bob") },
			func() string { return lastStep("bob") }},
		{"account's webmail user's two-factor", store.Change{Kind: store.ChangeAccount, Key: "bob"},
			func() { burn("info@bob.test") },
			func() string { return lastStep("info@bob.test") }},
		{"token", store.Change{Kind: store.ChangeToken, Key: "mac-t1"},
			func() { setIP("t1") },
			func() string { return tokenIP("mac-t1") }},
		// A deleted account's tokens go without an announcement of their
		// own: the account's change forgets them.
		{"account's tokens", store.Change{Kind: store.ChangeAccount, Key: "bob"},
			func() { setIP("t2") },
			func() string { return tokenIP("mac-t2") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.read(); got != "a" {
				t.Fatalf("first read %q", got)
			}
			tc.write()
			if got := tc.read(); got != "a" {
				t.Fatalf("cached read %q, want the remembered a", got)
			}
			c.Invalidate(tc.change)
			if got := tc.read(); got != "b" {
				t.Fatalf("after %v: %q, want b", tc.change, got)
			}
		})
	}
}

// live is a cache over a new store, live (its change feed is assumed up).
func live(t *testing.T) (c *cached.Store, inner store.Store) {
	t.Helper()
	inner = open(t)
	c = cached.New(inner)
	c.CountHits(true) // the tests count hits
	c.SetLive(true)
	return c, inner
}

// mustCreateBob creates the cPanel account bob through s.
func mustCreateBob(t *testing.T, s store.Store) {
	t.Helper()
	if err := s.CreateAccount(context.Background(), store.Account{Username: "bob", Domain: "bob.test", Owner: "root"}); err != nil {
		t.Fatal(err)
	}
}

func domainNames(ds []store.Domain) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return out
}

// An account's domains are remembered, and forgotten on the account's
// change: the one its domain writes announce, from this node or another.
func TestDomains(t *testing.T) {
	ctx := context.Background()
	c, inner := live(t)
	domains := func() []string {
		t.Helper()
		ds, err := c.ListDomains(ctx, "bob")
		if err != nil {
			t.Fatal(err)
		}
		return domainNames(ds)
	}
	setDomain := func(st store.Store, d string) {
		t.Helper()
		if _, err := st.UpdateAccount(ctx, "bob", func(a store.Account) (store.Account, error) {
			a.Domain = d
			return a, nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	// None, remembered; forgotten when the account is made elsewhere.
	if got := domains(); got != nil {
		t.Fatalf("bob's domains before his account: %q", got)
	}
	if err := inner.CreateAccount(ctx, store.Account{Username: "bob", Domain: "bob.test", Owner: "root"}); err != nil {
		t.Fatal(err)
	}
	if got := domains(); got != nil {
		t.Fatalf("remembered absence not served: %q", got)
	}
	c.Invalidate(store.Change{Kind: store.ChangeAccount, Key: "bob"})
	if got := domains(); !slices.Equal(got, []string{"bob.test"}) {
		t.Fatalf("after the account's change: %q", got)
	}

	// A change behind the cache's back is served stale until announced.
	hits, _ := c.Stats()
	setDomain(inner, "bob.example")
	if got := domains(); !slices.Equal(got, []string{"bob.test"}) {
		t.Fatalf("cached read %q, want the remembered bob.test", got)
	}
	if h, _ := c.Stats(); h != hits+1 {
		t.Errorf("a remembered read was not a hit: %d hits, then %d", hits, h)
	}
	c.Invalidate(store.Change{Kind: store.ChangeMailbox, Key: "info@bob.test"})
	if got := domains(); !slices.Equal(got, []string{"bob.test"}) {
		t.Fatalf("a mailbox's change forgot the account's domains: %q", got)
	}
	c.Invalidate(store.Change{Kind: store.ChangeAccount, Key: "bob"})
	if got := domains(); !slices.Equal(got, []string{"bob.example"}) {
		t.Fatalf("after the account's change: %q", got)
	}

	// Writes through the cache are seen at once.
	setDomain(c, "bob.net")
	if got := domains(); !slices.Equal(got, []string{"bob.net"}) {
		t.Fatalf("after UpdateAccount through the cache: %q", got)
	}
	if err := c.DeleteAccount(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if got := domains(); got != nil {
		t.Fatalf("after DeleteAccount through the cache: %q", got)
	}

	// A flush forgets them too, and a cache that is not live reads the
	// store.
	if err := inner.CreateAccount(ctx, store.Account{Username: "bob", Domain: "bob.org", Owner: "root"}); err != nil {
		t.Fatal(err)
	}
	c.Invalidate(store.Change{Kind: store.ChangeAll})
	if got := domains(); !slices.Equal(got, []string{"bob.org"}) {
		t.Fatalf("after a flush: %q", got)
	}
	c.SetLive(false)
	setDomain(inner, "bob.info")
	if got := domains(); !slices.Equal(got, []string{"bob.info"}) {
		t.Fatalf("a cache that is not live served %q", got)
	}
}

func mustToken(t *testing.T, s store.Store, mac string) store.Token {
	t.Helper()
	tok, err := s.GetTokenByMAC(context.Background(), mac)
	if err != nil {
		t.Fatalf("GetTokenByMAC(%s): %v", mac, err)
	}
	return tok
}

// Absent tokens are remembered, within a bound, and found tokens survive the
// flush of the absent ones.
func TestTokenAbsence(t *testing.T) {
	ctx := context.Background()
	c, inner := live(t)
	mustCreateBob(t, c)
	if err := c.CreateToken(ctx, store.Token{Service: store.TokenCPanel, Username: "bob", Name: "known", MAC: "known"}); err != nil {
		t.Fatal(err)
	}
	_ = mustToken(t, c, "known") // remember it
	if _, err := inner.UpdateToken(ctx, store.TokenCPanel, "bob", "known", func(t store.Token) (store.Token, error) {
		t.ReadOnly = true // behind the cache's back
		return t, nil
	}); err != nil {
		t.Fatal(err)
	}

	// Absence is remembered, and forgotten on the token's change.
	if _, err := c.GetTokenByMAC(ctx, "late"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("late: %v", err)
	}
	if err := inner.CreateToken(ctx, store.Token{Service: store.TokenCPanel, Username: "bob", Name: "late", MAC: "late"}); err != nil {
		t.Fatal(err)
	}
	hits, _ := c.Stats()
	if _, err := c.GetTokenByMAC(ctx, "late"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("remembered absence not served: %v", err)
	}
	if h, _ := c.Stats(); h != hits+1 {
		t.Errorf("a remembered absence was not a hit: %d hits, then %d", hits, h)
	}
	c.Invalidate(store.Change{Kind: store.ChangeToken, Key: "late"})
	if tok := mustToken(t, c, "late"); tok.Name != "late" {
		t.Fatalf("after the change: %+v", tok)
	}

	// Random tokens cannot grow the cache without bound.
	for i := range cached.MaxAbsentTokens {
		if _, err := c.GetTokenByMAC(ctx, fmt.Sprintf("garbage%d", i)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("garbage %d: %v", i, err)
		}
	}
	if n := c.AbsentTokens(); n != cached.MaxAbsentTokens {
		t.Fatalf("%d absent tokens remembered, want %d", n, cached.MaxAbsentTokens)
	}
	if _, err := c.GetTokenByMAC(ctx, "one more"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	if n := c.AbsentTokens(); n != 1 {
		t.Errorf("%d absent tokens remembered past the bound, want 1 (flushed, then the new one)", n)
	}
	if mustToken(t, c, "known").ReadOnly {
		t.Error("a found token was forgotten with the absent ones")
	}
}

// A touch updates the toucher's copy as the database keeps it; a touch by
// another node is not announced, so the copy keeps what it read.
func TestTokenTouch(t *testing.T) {
	ctx := context.Background()
	c, inner := live(t)
	mustCreateBob(t, c)
	if err := c.CreateToken(ctx, store.Token{Service: store.TokenCPanel, Username: "bob", Name: "t", MAC: "m", ACLs: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	_ = mustToken(t, c, "m")
	when := time.Date(2025, 3, 4, 5, 6, 7, 891234567, time.FixedZone("X", 3600))
	if err := c.TouchToken(ctx, "m", when, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	got, want := mustToken(t, c, "m"), mustToken(t, inner, "m")
	if got.LastUsed != want.LastUsed || got.LastUsedIP != want.LastUsedIP || got.LastUsedIP != "192.0.2.1" {
		t.Errorf("after a touch the cache has %v %q, the store %v %q", got.LastUsed, got.LastUsedIP, want.LastUsed, want.LastUsedIP)
	}
	// What a caller gets is its own.
	got.ACLs[0] = "changed"
	if mustToken(t, c, "m").ACLs[0] != "x" {
		t.Error("a caller changed the cached token")
	}
	if err := inner.TouchToken(ctx, "m", when.Add(time.Hour), "192.0.2.2"); err != nil {
		t.Fatal(err)
	}
	if got := mustToken(t, c, "m"); got.LastUsedIP != "192.0.2.1" {
		t.Errorf("another node's touch reached the cache: %q", got.LastUsedIP)
	}
	// A failed touch (the token is gone) forgets the token.
	if err := inner.DeleteToken(ctx, store.TokenCPanel, "bob", "t"); err != nil {
		t.Fatal(err)
	}
	if err := c.TouchToken(ctx, "m", when, "192.0.2.3"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("touch of a deleted token: %v", err)
	}
	if _, err := c.GetTokenByMAC(ctx, "m"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the cache kept a token its touch did not find: %v", err)
	}
}

// With a shared change counter (SQLite's), a write by another process is
// seen by the next read, without any feed message.
func TestSharedCounter(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cpauth.db")
	daemonSide, err := sqlstore.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer daemonSide.Close()
	version := daemonSide.ChangeVersion()
	if version == nil {
		t.Skip("no shared change counter on this system")
	}
	c := cached.New(daemonSide)
	c.CountHits(true) // the tests count hits
	c.SetVersion(version)
	c.SetLive(true)
	cliSide, err := sqlstore.OpenSQLite(ctx, path) // another process, as far as the cache knows
	if err != nil {
		t.Fatal(err)
	}
	defer cliSide.Close()
	if err := cliSide.CreateAccount(ctx, store.Account{Username: "bob", Domain: "bob.test", Owner: "root", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	suspended := func() bool {
		a, err := c.GetAccount(ctx, "bob")
		if err != nil {
			t.Fatal(err)
		}
		return a.Suspended
	}
	for i, want := range []bool{false, true, false} {
		if i > 0 {
			if _, err := cliSide.UpdateAccount(ctx, "bob", func(a store.Account) (store.Account, error) {
				a.Suspended = want
				return a, nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		if got := suspended(); got != want {
			t.Fatalf("step %d: suspended=%v, want %v", i, got, want)
		}
		if got := suspended(); got != want { // now from memory
			t.Fatalf("step %d, cached: suspended=%v, want %v", i, got, want)
		}
	}
	// Settings are read from a copy without the lock: another process's
	// change reaches it too.
	for _, v := range []string{"1", "0", "1"} {
		if err := cliSide.SetSetting(ctx, "requiressl", v); err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second from memory
			if got, err := c.GetSetting(ctx, "requiressl"); err != nil || got != v {
				t.Fatalf("requiressl = %q, %v after another process set %q", got, err, v)
			}
		}
	}
	if hits, _ := c.Stats(); hits < 6 {
		t.Errorf("%d cache hits: the cache was not used", hits)
	}
}
