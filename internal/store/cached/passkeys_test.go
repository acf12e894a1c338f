package cached_test

import (
	"context"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/store"
)

// TestPasskeys: a single passkey is never answered from memory, so that a
// sign counter another node wrote is what the next ceremony reads; a
// login name's list is remembered until a passkey change of that name
// (or of its account) is announced, and such a change forgets nothing
// else.
func TestPasskeys(t *testing.T) {
	ctx := context.Background()
	c, inner := live(t)
	now := time.Now()
	mustCreateBob(t, c)
	if err := c.SetSetting(ctx, "k", "a"); err != nil {
		t.Fatal(err)
	}
	id := []byte{1, 2, 3}
	if err := c.CreatePasskey(ctx, store.Passkey{ID: id, Username: "bob", Account: "bob", Name: "Phone", PublicKey: []byte{9}, SignCount: 1, Created: now}); err != nil {
		t.Fatal(err)
	}
	count := func() uint32 {
		t.Helper()
		l, err := c.ListPasskeys(ctx, "bob")
		if err != nil || len(l) != 1 {
			t.Fatalf("ListPasskeys = %+v, %v", l, err)
		}
		return l[0].SignCount
	}
	if got := count(); got != 1 {
		t.Fatalf("listed counter %d", got)
	}
	if v, _ := c.GetSetting(ctx, "k"); v != "a" {
		t.Fatalf("setting %q", v)
	}
	// Another node's writes, not announced yet.
	if _, err := inner.UpdatePasskey(ctx, id, func(p store.Passkey) (store.Passkey, error) { p.SignCount = 2; return p, nil }); err != nil {
		t.Fatal(err)
	}
	if err := inner.SetSetting(ctx, "k", "b"); err != nil {
		t.Fatal(err)
	}
	if p, err := c.GetPasskey(ctx, id); err != nil || p.SignCount != 2 {
		t.Fatalf("GetPasskey after another node's update = %+v, %v; want SignCount 2", p, err)
	}
	if got := count(); got != 1 {
		t.Fatalf("the list was not remembered: counter %d", got)
	}
	c.Invalidate(store.Change{Kind: store.ChangePasskey, Key: "bob"})
	if got := count(); got != 2 {
		t.Fatalf("after the announcement: counter %d, want 2", got)
	}
	if v, _ := c.GetSetting(ctx, "k"); v != "a" {
		t.Fatalf("a passkey's change made the cache forget a setting: %q", v)
	}
	// The records returned are the caller's.
	l, _ := c.ListPasskeys(ctx, "bob")
	l[0].ID[0], l[0].Name = 0xff, "changed"
	if l2, _ := c.ListPasskeys(ctx, "bob"); l2[0].ID[0] != 1 || l2[0].Name != "Phone" {
		t.Fatalf("a caller changed the remembered list: %+v", l2[0])
	}
	// Writes through the cache forget the list at once.
	if _, err := c.UpdatePasskey(ctx, id, func(p store.Passkey) (store.Passkey, error) { p.SignCount = 3; return p, nil }); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != 3 {
		t.Fatalf("after an update through the cache: counter %d", got)
	}
	if err := c.DeletePasskey(ctx, id); err != nil {
		t.Fatal(err)
	}
	if l, err := c.ListPasskeys(ctx, "bob"); err != nil || len(l) != 0 {
		t.Fatalf("after a deletion: %+v, %v", l, err)
	}
}
