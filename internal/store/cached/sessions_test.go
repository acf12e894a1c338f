package cached_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/store/cached"
)

// clock is a settable clock for the sessions' time to live.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// sessionStores is a live cache with a settable clock over a store that
// holds bob (with a Webmail user) and carol.
func sessionStores(t *testing.T) (c *cached.Store, inner store.Store, clk *clock) {
	t.Helper()
	ctx := context.Background()
	inner = open(t)
	c = cached.New(inner)
	c.CountHits(true) // the tests count hits
	clk = &clock{t: time.Unix(1_800_000_000, 0)}
	c.SetNow(clk.now)
	c.SetLive(true)
	for _, u := range []string{"bob", "carol"} {
		if err := c.CreateAccount(ctx, store.Account{Username: u, Domain: u + ".test", Owner: "root"}); err != nil {
			t.Fatal(err)
		}
	}
	return c, inner, clk
}

func testSession(id, username, account string) store.Session {
	created := time.Unix(1_800_000_000, 0).UTC()
	return store.Session{
		IDHash: id, Kind: store.SessionNormal, Username: username, Account: account, Service: "cpaneld",
		SecurityToken: "/cpsess" + id, Creator: username, Origin: "192.0.2.1", Method: "password", Locale: "a",
		Created: created, LastSeen: created, IdleTimeout: 30 * time.Minute, Expires: created.Add(12 * time.Hour),
	}
}

func mustSession(t *testing.T, s store.Store, id string) store.Session {
	t.Helper()
	ss, err := s.GetSession(context.Background(), id)
	if err != nil {
		t.Fatalf("GetSession(%s): %v", id, err)
	}
	return ss
}

func wantNoSession(t *testing.T, s store.Store, id string) {
	t.Helper()
	if ss, err := s.GetSession(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetSession(%s) = %+v, %v; want ErrNotFound", id, ss, err)
	}
}

func mustCreateSession(t *testing.T, s store.Store, ss store.Session) {
	t.Helper()
	if err := s.CreateSession(context.Background(), ss); err != nil {
		t.Fatal(err)
	}
}

// remember creates ss through the cache and reads it, so that the cache
// holds it.
func remember(t *testing.T, c *cached.Store, ss store.Session) {
	t.Helper()
	mustCreateSession(t, c, ss)
	_ = mustSession(t, c, ss.IDHash)
}

// setLocale changes the session's locale in s.
func setLocale(t *testing.T, s store.Store, id, locale string) {
	t.Helper()
	if _, err := s.UpdateSession(context.Background(), id, func(ss store.Session) (store.Session, error) {
		ss.Locale = locale
		return ss, nil
	}); err != nil {
		t.Fatal(err)
	}
}

// wantHit runs read and reports what unless the cache answered it from
// memory.
func wantHit(t *testing.T, c *cached.Store, what string, read func()) {
	t.Helper()
	hits, _ := c.Stats()
	read()
	if h, _ := c.Stats(); h != hits+1 {
		t.Errorf("%s: %d hits, then %d", what, hits, h)
	}
}

// Each kind of change forgets what it names: the session, the account's
// sessions (a deleted account's go without an announcement of their own),
// everything.
func TestSessionChangeKinds(t *testing.T) {
	c, inner, _ := sessionStores(t)
	for _, ss := range []store.Session{
		testSession("s1", "bob", "bob"),
		testSession("s2", "info@bob.test", "bob"),
		testSession("s3", "carol", "carol"),
	} {
		mustCreateSession(t, c, ss)
	}
	for _, tc := range []struct {
		name   string
		change store.Change
		id     string
	}{
		{"session", store.Change{Kind: store.ChangeSession, Key: "s1"}, "s1"},
		{"account's Webmail session", store.Change{Kind: store.ChangeAccount, Key: "bob"}, "s2"},
		{"all", store.Change{Kind: store.ChangeAll}, "s3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustSession(t, c, tc.id).Locale; got != "a" {
				t.Fatalf("first read %q", got)
			}
			setLocale(t, inner, tc.id, "b")
			if got := mustSession(t, c, tc.id).Locale; got != "a" {
				t.Fatalf("cached read %q, want the remembered a", got)
			}
			c.Invalidate(tc.change)
			if got := mustSession(t, c, tc.id).Locale; got != "b" {
				t.Fatalf("after %v: %q, want b", tc.change, got)
			}
		})
	}
	// Another account's change leaves carol's session cached.
	_ = mustSession(t, c, "s3")
	setLocale(t, inner, "s3", "c")
	c.Invalidate(store.Change{Kind: store.ChangeAccount, Key: "bob"})
	c.Invalidate(store.Change{Kind: store.ChangeSession, Key: "s1"})
	if got := mustSession(t, c, "s3").Locale; got != "b" {
		t.Errorf("carol's session after bob's changes: %q, want the cached b", got)
	}
}

// Absent sessions are remembered, within a bound, and found sessions
// survive the flush of the absent ones.
func TestSessionAbsence(t *testing.T) {
	c, inner, _ := sessionStores(t)
	remember(t, c, testSession("known", "bob", "bob"))

	wantNoSession(t, c, "late")
	mustCreateSession(t, inner, testSession("late", "bob", "bob"))
	wantHit(t, c, "a remembered absence was not a hit", func() { wantNoSession(t, c, "late") })
	c.Invalidate(store.Change{Kind: store.ChangeSession, Key: "late"})
	_ = mustSession(t, c, "late")

	for i := range cached.MaxAbsentSessions {
		wantNoSession(t, c, fmt.Sprintf("garbage%d", i))
	}
	if n := c.AbsentSessions(); n != cached.MaxAbsentSessions {
		t.Fatalf("%d absent sessions remembered, want %d", n, cached.MaxAbsentSessions)
	}
	wantNoSession(t, c, "one more")
	if n := c.AbsentSessions(); n != 1 {
		t.Errorf("%d absent sessions remembered past the bound, want 1 (flushed, then the new one)", n)
	}
	wantHit(t, c, "a found session was forgotten with the absent ones", func() { _ = mustSession(t, c, "known") })
}

// Another node's touch is not announced: a node sees it once its copy is
// older than the time to live, and never serves a copy older than that.
func TestSessionTTL(t *testing.T) {
	ctx := context.Background()
	c, inner, clk := sessionStores(t)
	ss := testSession("s", "bob", "bob")
	remember(t, c, ss)
	touched := ss.LastSeen.Add(time.Minute)
	if err := inner.TouchSession(ctx, "s", touched); err != nil { // another node
		t.Fatal(err)
	}
	clk.add(cached.SessionTTL - time.Nanosecond)
	if got := mustSession(t, c, "s").LastSeen; !got.Equal(ss.LastSeen) {
		t.Fatalf("within the time to live: LastSeen %v, want the cached %v", got, ss.LastSeen)
	}
	clk.add(time.Nanosecond)
	if got := mustSession(t, c, "s").LastSeen; !got.Equal(touched) {
		t.Fatalf("after the time to live: LastSeen %v, want the store's %v", got, touched)
	}
	// Read again, it is remembered again.
	wantHit(t, c, "the re-read session was not remembered", func() { _ = mustSession(t, c, "s") })
	// Absence needs no time to live: only an announced create ends it.
	wantNoSession(t, c, "absent")
	clk.add(10 * cached.SessionTTL)
	wantHit(t, c, "a remembered absence expired", func() { wantNoSession(t, c, "absent") })
}

// A touch updates the toucher's copy as the store keeps it: microseconds,
// UTC, never moving back.
func TestSessionTouch(t *testing.T) {
	ctx := context.Background()
	c, inner, _ := sessionStores(t)
	ss := testSession("s", "bob", "bob")
	remember(t, c, ss)
	when := time.Date(2027, 3, 4, 5, 6, 7, 891234567, time.FixedZone("X", 3600))
	for i, touch := range []time.Time{when, when.Add(-time.Hour)} {
		if err := c.TouchSession(ctx, "s", touch); err != nil {
			t.Fatal(err)
		}
		got, want := mustSession(t, c, "s"), mustSession(t, inner, "s")
		if got.LastSeen != want.LastSeen || !want.LastSeen.Equal(when.Truncate(time.Microsecond)) {
			t.Errorf("touch %d: the cache has %v, the store %v; want %v", i, got.LastSeen, want.LastSeen, when)
		}
	}
	// A failed touch (the session is gone) forgets the session.
	if err := inner.DeleteSession(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if err := c.TouchSession(ctx, "s", when.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("touch of a deleted session: %v", err)
	}
	wantNoSession(t, c, "s")
}

// ConsumeSession is answered by the store, never from memory, whatever the
// cache remembers; afterwards the cache does not hold the session.
func TestSessionConsume(t *testing.T) {
	ctx := context.Background()
	c, inner, _ := sessionStores(t)
	ss := testSession("s", "bob", "bob")
	remember(t, c, ss)
	// Consumed by another node: this node's copy does not make it twice.
	if _, err := inner.ConsumeSession(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ConsumeSession(ctx, "s"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ConsumeSession of a session consumed elsewhere: %v, want ErrNotFound", err)
	}
	wantNoSession(t, c, "s")

	// A remembered absence does not hide a session created elsewhere.
	wantNoSession(t, c, "s2")
	mustCreateSession(t, inner, testSession("s2", "bob", "bob"))
	got, err := c.ConsumeSession(ctx, "s2")
	if err != nil || got.IDHash != "s2" {
		t.Fatalf("ConsumeSession past a remembered absence = %+v, %v", got, err)
	}
	wantNoSession(t, c, "s2")
	if _, err := inner.GetSession(ctx, "s2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the store still holds the consumed session: %v", err)
	}
}

// The bulk deletes forget what they may have deleted, and nothing else.
func TestSessionBulkForget(t *testing.T) {
	ctx := context.Background()
	c, _, _ := sessionStores(t)
	base := testSession("", "", "")
	mk := func(id, username, account string, change func(*store.Session)) {
		ss := testSession(id, username, account)
		if change != nil {
			change(&ss)
		}
		remember(t, c, ss)
	}
	mk("bob1", "bob", "bob", nil)
	mk("bob2", "bob", "bob", nil)
	mk("mail", "info@bob.test", "bob", nil)
	mk("carol", "carol", "carol", nil)
	mk("old", "carol", "carol", func(ss *store.Session) { ss.Expires = ss.Created.Add(time.Minute) })

	if n, err := c.DeleteUserSessions(ctx, "bob", "bob2"); err != nil || n != 1 {
		t.Fatalf("DeleteUserSessions = %d, %v", n, err)
	}
	wantNoSession(t, c, "bob1")
	_ = mustSession(t, c, "bob2")
	if ended, err := c.PurgeSessions(ctx, base.Created.Add(10*time.Minute)); err != nil || len(ended) != 1 {
		t.Fatalf("PurgeSessions = %d, %v", len(ended), err)
	}
	wantNoSession(t, c, "old")
	_ = mustSession(t, c, "carol")
	if n, err := c.DeleteAccountSessions(ctx, "bob"); err != nil || n != 2 {
		t.Fatalf("DeleteAccountSessions = %d, %v", n, err)
	}
	wantNoSession(t, c, "bob2")
	wantNoSession(t, c, "mail")
	_ = mustSession(t, c, "carol")
}
