package cached_test

import (
	"context"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/store"
)

// TestPasskeysReadThrough: passkeys are never answered from memory, so a
// sign counter another node wrote is what the next ceremony checks
// against; and a passkey's change does not make the cache forget what it
// holds of other records.
func TestPasskeysReadThrough(t *testing.T) {
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
	if p, err := c.GetPasskey(ctx, id); err != nil || p.SignCount != 1 {
		t.Fatalf("GetPasskey = %+v, %v", p, err)
	}
	if v, _ := c.GetSetting(ctx, "k"); v != "a" {
		t.Fatalf("setting %q", v)
	}
	// Another node's writes, unannounced here.
	if _, err := inner.UpdatePasskey(ctx, id, func(p store.Passkey) (store.Passkey, error) { p.SignCount = 2; return p, nil }); err != nil {
		t.Fatal(err)
	}
	if err := inner.SetSetting(ctx, "k", "b"); err != nil {
		t.Fatal(err)
	}
	if p, err := c.GetPasskey(ctx, id); err != nil || p.SignCount != 2 {
		t.Fatalf("GetPasskey after another node's update = %+v, %v; want SignCount 2", p, err)
	}
	c.Invalidate(store.Change{Kind: store.ChangePasskey, Key: "bob"})
	if v, _ := c.GetSetting(ctx, "k"); v != "a" {
		t.Fatalf("a passkey's change made the cache forget a setting: %q", v)
	}
}
