package cached_test

import (
	"context"
	"errors"
	"path/filepath"
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
	inner := open(t)
	c := cached.New(inner)
	c.SetLive(true)
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
