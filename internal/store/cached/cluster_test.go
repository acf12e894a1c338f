package cached_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/store/cached"
	"github.com/cpauth/cpauth/internal/store/sqlstore"
	"github.com/cpauth/cpauth/internal/store/sqlstore/pgtest"
)

// node is one cpauth node's cached store on a shared PostgreSQL schema,
// following the change feed.
func node(t *testing.T, dsn string) *cached.Store {
	t.Helper()
	st, err := sqlstore.OpenPostgres(t.Context(), dsn, sqlstore.PoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := cached.New(st)
	c.CountHits(true) // the tests count hits
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { c.Run(ctx, st.ChangeFeed()) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	if !eventually(c.Live) {
		t.Fatal("the change feed did not come up")
	}
	return c
}

func eventually(cond func() bool) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// TestTokensAcrossNodes: what one node writes about a token, the other
// node's cache forgets once the feed tells it, remembered absence included.
func TestTokensAcrossNodes(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	a, b := node(t, dsn), node(t, dsn)
	if err := a.CreateAccount(ctx, store.Account{Username: "bob", Domain: "bob.test", Owner: "root"}); err != nil {
		t.Fatal(err)
	}
	tok := store.Token{Service: store.TokenCPanel, Username: "bob", Name: "t", MAC: "mac1", ExpiresAt: time.Unix(2_000_000_000, 0)}
	seen := func(want func(store.Token, error) bool) func() bool {
		return func() bool { return want(b.GetTokenByMAC(ctx, tok.MAC)) }
	}
	absent := seen(func(_ store.Token, err error) bool { return errors.Is(err, store.ErrNotFound) })

	if !absent() || !absent() { // remembered
		t.Fatal("the token exists before its creation")
	}
	if err := a.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if !eventually(seen(func(x store.Token, err error) bool { return err == nil && x.Name == "t" })) {
		t.Fatal("the other node never saw the created token")
	}
	if _, err := a.UpdateToken(ctx, tok.Service, "bob", "t", func(x store.Token) (store.Token, error) {
		x.Name, x.ReadOnly = "renamed", true
		return x, nil
	}); err != nil {
		t.Fatal(err)
	}
	if !eventually(seen(func(x store.Token, err error) bool { return err == nil && x.Name == "renamed" && x.ReadOnly })) {
		t.Fatal("the other node never saw the update")
	}
	if err := a.DeleteToken(ctx, tok.Service, "bob", "renamed"); err != nil {
		t.Fatal(err)
	}
	if !eventually(absent) {
		t.Fatal("the other node never saw the revocation")
	}

	// An account's deletion takes its tokens with it.
	if err := a.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if !eventually(seen(func(_ store.Token, err error) bool { return err == nil })) {
		t.Fatal("the other node never saw the token again")
	}
	if err := a.DeleteAccount(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if !eventually(absent) {
		t.Fatal("the other node never saw the account's deletion reach its token")
	}

	// So does a purge.
	if err := a.CreateAccount(ctx, store.Account{Username: "bob", Domain: "bob.test", Owner: "root"}); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if !eventually(seen(func(_ store.Token, err error) bool { return err == nil })) {
		t.Fatal("the other node never saw the token a third time")
	}
	if n, err := a.PurgeExpiredTokens(ctx, tok.ExpiresAt.Add(time.Second)); err != nil || n != 1 {
		t.Fatalf("PurgeExpiredTokens = %d, %v", n, err)
	}
	if !eventually(absent) {
		t.Fatal("the other node never saw the purge")
	}
}

// TestSessionsAcrossNodes: what one node writes about a session, the other
// node's cache forgets once the feed tells it, remembered absence included;
// a consumed session cannot be consumed again on the other node.
func TestSessionsAcrossNodes(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	a, b := node(t, dsn), node(t, dsn)
	if err := a.CreateAccount(ctx, store.Account{Username: "bob", Domain: "bob.test", Owner: "root"}); err != nil {
		t.Fatal(err)
	}
	ss := testSession("s1", "info@bob.test", "bob")
	ss.Passkey = []byte{7, 7, 7}
	seen := func(want func(store.Session, error) bool) func() bool {
		return func() bool { return want(b.GetSession(ctx, ss.IDHash)) }
	}
	absent := seen(func(_ store.Session, err error) bool { return errors.Is(err, store.ErrNotFound) })
	present := seen(func(_ store.Session, err error) bool { return err == nil })

	if !absent() || !absent() { // remembered
		t.Fatal("the session exists before its creation")
	}
	if err := a.CreateSession(ctx, ss); err != nil {
		t.Fatal(err)
	}
	if !eventually(present) {
		t.Fatal("the other node never saw the created session")
	}
	if _, err := a.UpdateSession(ctx, ss.IDHash, func(x store.Session) (store.Session, error) {
		x.TFAVerified = true
		return x, nil
	}); err != nil {
		t.Fatal(err)
	}
	if !eventually(seen(func(x store.Session, err error) bool { return err == nil && x.TFAVerified })) {
		t.Fatal("the other node never saw the update")
	}
	if _, err := a.ConsumeSession(ctx, ss.IDHash); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ConsumeSession(ctx, ss.IDHash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the other node consumed the session again: %v", err)
	}
	if !eventually(absent) {
		t.Fatal("the other node never saw the consumption")
	}

	// Each way of ending sessions reaches the other node.
	for _, end := range []struct {
		name string
		do   func() error
	}{
		{"DeleteSession", func() error { return a.DeleteSession(ctx, ss.IDHash) }},
		{"DeleteUserSessions", func() error { _, err := a.DeleteUserSessions(ctx, ss.Username, ""); return err }},
		{"DeleteAccountSessions", func() error { _, err := a.DeleteAccountSessions(ctx, "bob"); return err }},
		{"DeletePasskeySessions", func() error { _, err := a.DeletePasskeySessions(ctx, ss.Passkey); return err }},
		{"PurgeSessions", func() error { _, err := a.PurgeSessions(ctx, ss.Expires.Add(time.Second)); return err }},
		{"DeleteAccount", func() error { return a.DeleteAccount(ctx, "bob") }},
	} {
		if err := a.CreateSession(ctx, ss); err != nil {
			t.Fatalf("%s: %v", end.name, err)
		}
		if !eventually(present) {
			t.Fatalf("%s: the other node never saw the session", end.name)
		}
		if err := end.do(); err != nil {
			t.Fatalf("%s: %v", end.name, err)
		}
		if !eventually(absent) {
			t.Fatalf("the other node never saw %s", end.name)
		}
	}
}

// TestDomainsAcrossNodes: an account's domains, as the other node's cache
// answers them, follow the account's creation, domain change and deletion
// once the feed tells it.
func TestDomainsAcrossNodes(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	a, b := node(t, dsn), node(t, dsn)
	domains := func(want ...string) func() bool {
		return func() bool {
			ds, err := b.ListDomains(ctx, "bob")
			return err == nil && slices.Equal(domainNames(ds), want)
		}
	}
	// fromMemory is domains(want) answered by b's cache. A read is not
	// remembered when a change came in meanwhile (the feed's own catch-up
	// right after it goes live, say), so the first reads may miss: what
	// must hold is that reads come to be answered from memory.
	fromMemory := func(want ...string) func() bool {
		return func() bool {
			h0, _ := b.Stats()
			ok := domains(want...)()
			h1, _ := b.Stats()
			return ok && h1 > h0
		}
	}
	if !domains()() {
		t.Fatal("bob has domains before his account exists")
	}
	if !eventually(fromMemory()) {
		t.Fatal("the other node never answered bob's (absent) domains from memory")
	}
	if err := a.CreateAccount(ctx, store.Account{Username: "bob", Domain: "bob.test", Owner: "root"}); err != nil {
		t.Fatal(err)
	}
	if !eventually(domains("bob.test")) {
		t.Fatal("the other node never saw the account's domain")
	}
	if !domains("bob.test")() {
		t.Fatal("the other node lost the domain")
	}
	if !eventually(fromMemory("bob.test")) {
		t.Error("the other node answered no read of the new domain from memory")
	}
	if _, err := a.UpdateAccount(ctx, "bob", func(x store.Account) (store.Account, error) {
		x.Domain = "bob.example"
		return x, nil
	}); err != nil {
		t.Fatal(err)
	}
	if !eventually(domains("bob.example")) {
		t.Fatal("the other node never saw the domain change")
	}
	if err := a.DeleteAccount(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if !eventually(domains()) {
		t.Fatal("the other node never saw the account's deletion reach its domains")
	}
}
