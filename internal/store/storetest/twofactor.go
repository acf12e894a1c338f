package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/store"
)

// Two-factor configurations: every field comes back as written (times at
// microsecond precision, Sealed byte for byte, RecoveryMACs nil when
// stored nil or empty); lists are sorted by Username; an account's
// deletion removes its configurations and issuer, a mailbox's deletion the
// mailbox's; and UpdateTwoFactor serialises concurrent updaters, so that a
// step burnt by one is seen by the next (exactly one of several concurrent
// uses of one code passes).

var twoFactorTests = []struct {
	name string
	run  func(t *testing.T, s store.Store)
}{
	{"TwoFactorSetGet", testTwoFactorSetGet},
	{"TwoFactorReplace", testTwoFactorReplace},
	{"TwoFactorUnknownAccount", testTwoFactorUnknownAccount},
	{"TwoFactorNotFound", testTwoFactorNotFound},
	{"TwoFactorInvalid", testTwoFactorInvalid},
	{"TwoFactorList", testTwoFactorList},
	{"TwoFactorUpdate", testTwoFactorUpdate},
	{"TwoFactorDelete", testTwoFactorDelete},
	{"TwoFactorCascade", testTwoFactorCascade},
	{"TwoFactorIssuer", testTwoFactorIssuer},
	{"ConcurrentTwoFactorBurn", testConcurrentTwoFactorBurn},
}

func newTwoFactor(username, account string) store.TwoFactor {
	return store.TwoFactor{
		Username:     username,
		Account:      account,
		Sealed:       []byte{0, 1, 2, 0xff, '\n', 0},
		LastStep:     56_666_666,
		RecoveryMACs: []string{"aa01", "bb02", "cc03"},
		Created:      at(40),
	}
}

func diffTwoFactor(got, want store.TwoFactor) string {
	var d []string
	if got.Username != want.Username || got.Account != want.Account {
		d = append(d, fmt.Sprintf("key %q/%q, want %q/%q", got.Username, got.Account, want.Username, want.Account))
	}
	if !bytes.Equal(got.Sealed, want.Sealed) {
		d = append(d, fmt.Sprintf("Sealed %x, want %x", got.Sealed, want.Sealed))
	}
	if got.LastStep != want.LastStep {
		d = append(d, fmt.Sprintf("LastStep %d, want %d", got.LastStep, want.LastStep))
	}
	wantMACs := want.RecoveryMACs
	if len(wantMACs) == 0 {
		wantMACs = nil
	}
	if !slices.Equal(got.RecoveryMACs, wantMACs) || (got.RecoveryMACs == nil) != (wantMACs == nil) {
		d = append(d, fmt.Sprintf("RecoveryMACs %#v, want %#v", got.RecoveryMACs, wantMACs))
	}
	if got.Failures != want.Failures {
		d = append(d, fmt.Sprintf("Failures %d, want %d", got.Failures, want.Failures))
	}
	if !got.FailuresSince.Equal(want.FailuresSince) {
		d = append(d, fmt.Sprintf("FailuresSince %v, want %v", got.FailuresSince, want.FailuresSince))
	}
	if !got.Created.Equal(want.Created) {
		d = append(d, fmt.Sprintf("Created %v, want %v", got.Created, want.Created))
	}
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprint(d)
}

func mustGetTwoFactor(t *testing.T, s store.Store, username string) store.TwoFactor {
	t.Helper()
	tf, err := s.GetTwoFactor(t.Context(), username)
	if err != nil {
		t.Fatalf("GetTwoFactor(%q): %v", username, err)
	}
	return tf
}

func twoFactorFixture(t *testing.T, s store.Store) {
	t.Helper()
	mustCreateAccount(t, s, rootAccount())
	mustCreateAccount(t, s, newAccount("bob", "bob.example"))
	mustCreateAccount(t, s, newAccount("carol", "carol.example"))
	mustCreateMailbox(t, s, newMailbox("bob", "info", "bob.example"))
}

func testTwoFactorSetGet(t *testing.T, s store.Store) {
	twoFactorFixture(t, s)
	ctx := t.Context()
	micro := newTwoFactor("bob", "bob")
	micro.Created = at(0).Add(123456 * 1000) // microseconds survive
	micro.Failures, micro.FailuresSince = 3, at(50).Add(7000)
	empty := newTwoFactor("carol", "carol")
	empty.RecoveryMACs, empty.LastStep, empty.Sealed = []string{}, -1, []byte("x")
	webmail := newTwoFactor("info@bob.example", "bob")
	webmail.RecoveryMACs = nil
	rootTF := newTwoFactor("root", "root")
	for _, tf := range []store.TwoFactor{micro, empty, webmail, rootTF} {
		if err := s.SetTwoFactor(ctx, tf); err != nil {
			t.Fatalf("SetTwoFactor(%q): %v", tf.Username, err)
		}
		got := mustGetTwoFactor(t, s, tf.Username)
		if d := diffTwoFactor(got, tf); d != "" {
			t.Errorf("%s: %s", tf.Username, d)
		}
		// The record returned is the caller's.
		if len(got.Sealed) > 0 {
			got.Sealed[0] ^= 0xff
		}
		if len(got.RecoveryMACs) > 0 {
			got.RecoveryMACs[0] = "changed"
		}
		if d := diffTwoFactor(mustGetTwoFactor(t, s, tf.Username), tf); d != "" {
			t.Errorf("%s after changing a returned record: %s", tf.Username, d)
		}
	}
}

func testTwoFactorReplace(t *testing.T, s store.Store) {
	twoFactorFixture(t, s)
	ctx := t.Context()
	if err := s.SetTwoFactor(ctx, newTwoFactor("bob", "bob")); err != nil {
		t.Fatal(err)
	}
	repl := newTwoFactor("bob", "bob")
	repl.Sealed, repl.LastStep, repl.RecoveryMACs, repl.Created = []byte("new"), 0, []string{"dd04"}, at(60)
	if err := s.SetTwoFactor(ctx, repl); err != nil {
		t.Fatal(err)
	}
	if d := diffTwoFactor(mustGetTwoFactor(t, s, "bob"), repl); d != "" {
		t.Fatal(d)
	}
}

func testTwoFactorUnknownAccount(t *testing.T, s store.Store) {
	twoFactorFixture(t, s)
	err := s.SetTwoFactor(t.Context(), newTwoFactor("dave", "dave"))
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SetTwoFactor for an unknown account: %v, want ErrNotFound", err)
	}
	if _, err := s.GetTwoFactor(t.Context(), "dave"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("stored anyway: %v", err)
	}
}

func testTwoFactorNotFound(t *testing.T, s store.Store) {
	twoFactorFixture(t, s)
	ctx := t.Context()
	for _, u := range []string{"bob", "nobody", "", "a\x00b", "\xff"} {
		if _, err := s.GetTwoFactor(ctx, u); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetTwoFactor(%q): %v", u, err)
		}
		if _, err := s.UpdateTwoFactor(ctx, u, func(tf store.TwoFactor) (store.TwoFactor, error) { return tf, nil }); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateTwoFactor(%q): %v", u, err)
		}
		if err := s.DeleteTwoFactor(ctx, u); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteTwoFactor(%q): %v", u, err)
		}
	}
}

func testTwoFactorInvalid(t *testing.T, s store.Store) {
	twoFactorFixture(t, s)
	ctx := t.Context()
	nul := newTwoFactor("bob\x00x", "bob")
	badUTF8 := newTwoFactor("bob\xff", "bob")
	badMAC := newTwoFactor("bob", "bob")
	badMAC.RecoveryMACs = []string{"a\x00"}
	negative := newTwoFactor("bob", "bob")
	negative.Failures = -1
	for _, tf := range []store.TwoFactor{nul, badUTF8, badMAC, negative} {
		if err := s.SetTwoFactor(ctx, tf); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("SetTwoFactor(%q, %v): %v, want ErrInvalid", tf.Username, tf.RecoveryMACs, err)
		}
	}
	if _, err := s.GetTwoFactor(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an invalid record was stored: %v", err)
	}
}

func testTwoFactorList(t *testing.T, s store.Store) {
	twoFactorFixture(t, s)
	ctx := t.Context()
	for _, tf := range []store.TwoFactor{newTwoFactor("info@bob.example", "bob"), newTwoFactor("carol", "carol"), newTwoFactor("bob", "bob"), newTwoFactor("root", "root")} {
		if err := s.SetTwoFactor(ctx, tf); err != nil {
			t.Fatal(err)
		}
	}
	names := func(account string) []string {
		list, err := s.ListTwoFactor(ctx, account)
		if err != nil {
			t.Fatalf("ListTwoFactor(%q): %v", account, err)
		}
		var out []string
		for _, tf := range list {
			if d := diffTwoFactor(tf, newTwoFactor(tf.Username, tf.Account)); d != "" {
				t.Errorf("listed %s: %s", tf.Username, d)
			}
			out = append(out, tf.Username)
		}
		return out
	}
	if got, want := names(""), []string{"bob", "carol", "info@bob.example", "root"}; !slices.Equal(got, want) {
		t.Errorf("all: %v, want %v", got, want)
	}
	if got, want := names("bob"), []string{"bob", "info@bob.example"}; !slices.Equal(got, want) {
		t.Errorf("bob: %v, want %v", got, want)
	}
	if got := names("nobody"); len(got) != 0 {
		t.Errorf("unknown account: %v", got)
	}
}

func testTwoFactorUpdate(t *testing.T, s store.Store) {
	twoFactorFixture(t, s)
	ctx := t.Context()
	orig := newTwoFactor("bob", "bob")
	if err := s.SetTwoFactor(ctx, orig); err != nil {
		t.Fatal(err)
	}
	want := orig
	want.LastStep, want.RecoveryMACs, want.Failures, want.FailuresSince = orig.LastStep+1, []string{"aa01", "cc03"}, 2, at(70)
	got, err := s.UpdateTwoFactor(ctx, "bob", func(tf store.TwoFactor) (store.TwoFactor, error) {
		if d := diffTwoFactor(tf, orig); d != "" {
			t.Errorf("updater saw %s", d)
		}
		tf.LastStep++
		tf.RecoveryMACs = slices.Delete(tf.RecoveryMACs, 1, 2)
		tf.Failures, tf.FailuresSince = 2, at(70)
		return tf, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := diffTwoFactor(got, want); d != "" {
		t.Errorf("returned: %s", d)
	}
	if d := diffTwoFactor(mustGetTwoFactor(t, s, "bob"), want); d != "" {
		t.Errorf("stored: %s", d)
	}
	// Every recovery code used reads back nil; failures reset to none.
	want.RecoveryMACs, want.Failures, want.FailuresSince = nil, 0, time.Time{}
	if _, err := s.UpdateTwoFactor(ctx, "bob", func(tf store.TwoFactor) (store.TwoFactor, error) {
		tf.RecoveryMACs, tf.Failures, tf.FailuresSince = []string{}, 0, time.Time{}
		return tf, nil
	}); err != nil {
		t.Fatal(err)
	}
	if d := diffTwoFactor(mustGetTwoFactor(t, s, "bob"), want); d != "" {
		t.Errorf("stored: %s", d)
	}
	// An updater's error aborts, and comes back.
	errStop := errors.New("stop")
	if _, err := s.UpdateTwoFactor(ctx, "bob", func(tf store.TwoFactor) (store.TwoFactor, error) {
		tf.LastStep = 1
		return tf, errStop
	}); !errors.Is(err, errStop) {
		t.Fatalf("updater error: %v", err)
	}
	// The key may not change.
	for _, change := range []func(*store.TwoFactor){
		func(tf *store.TwoFactor) { tf.Username = "carol" },
		func(tf *store.TwoFactor) { tf.Account = "carol" },
	} {
		if _, err := s.UpdateTwoFactor(ctx, "bob", func(tf store.TwoFactor) (store.TwoFactor, error) {
			change(&tf)
			tf.LastStep = 1
			return tf, nil
		}); err == nil {
			t.Fatal("an updater changed the key")
		}
	}
	if d := diffTwoFactor(mustGetTwoFactor(t, s, "bob"), want); d != "" {
		t.Errorf("after refused updates: %s", d)
	}
}

func testTwoFactorDelete(t *testing.T, s store.Store) {
	twoFactorFixture(t, s)
	ctx := t.Context()
	for _, u := range []string{"bob", "carol"} {
		if err := s.SetTwoFactor(ctx, newTwoFactor(u, u)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteTwoFactor(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTwoFactor(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := s.DeleteTwoFactor(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	mustGetTwoFactor(t, s, "carol")
}

func testTwoFactorCascade(t *testing.T, s store.Store) {
	twoFactorFixture(t, s)
	ctx := t.Context()
	mustCreateMailbox(t, s, newMailbox("bob", "sales", "bob.example"))
	for _, tf := range []store.TwoFactor{newTwoFactor("bob", "bob"), newTwoFactor("info@bob.example", "bob"), newTwoFactor("sales@bob.example", "bob"), newTwoFactor("carol", "carol")} {
		if err := s.SetTwoFactor(ctx, tf); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetTwoFactorIssuer(ctx, "bob", "Bob Hosting"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMailbox(ctx, "sales", "bob.example"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTwoFactor(ctx, "sales@bob.example"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a deleted mailbox's configuration: %v", err)
	}
	mustGetTwoFactor(t, s, "info@bob.example")
	if err := s.DeleteAccount(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"bob", "info@bob.example"} {
		if _, err := s.GetTwoFactor(ctx, u); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a deleted account's configuration %q: %v", u, err)
		}
	}
	if _, err := s.GetTwoFactorIssuer(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a deleted account's issuer: %v", err)
	}
	mustGetTwoFactor(t, s, "carol")
	// A new account of the same name starts without either.
	mustCreateAccount(t, s, newAccount("bob", "bob.example"))
	if list, err := s.ListTwoFactor(ctx, "bob"); err != nil || len(list) != 0 {
		t.Fatalf("new bob: %v, %v", list, err)
	}
}

func testTwoFactorIssuer(t *testing.T, s store.Store) {
	twoFactorFixture(t, s)
	ctx := t.Context()
	if _, err := s.GetTwoFactorIssuer(ctx, "root"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unset issuer: %v", err)
	}
	for _, v := range []string{"Example Hosting", "host.example.com", "Ünïcode  spaces"} {
		if err := s.SetTwoFactorIssuer(ctx, "root", v); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetTwoFactorIssuer(ctx, "root"); err != nil || got != v {
			t.Fatalf("issuer = %q, %v; want %q", got, err, v)
		}
	}
	if err := s.SetTwoFactorIssuer(ctx, "bob", "Bob"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTwoFactorIssuer(ctx, "root", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTwoFactorIssuer(ctx, "root"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("removed issuer: %v", err)
	}
	if err := s.SetTwoFactorIssuer(ctx, "root", ""); err != nil {
		t.Fatalf("removing no issuer: %v", err)
	}
	if got, _ := s.GetTwoFactorIssuer(ctx, "bob"); got != "Bob" {
		t.Fatalf("bob's issuer = %q", got)
	}
	if err := s.SetTwoFactorIssuer(ctx, "nobody", "X"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("issuer of an unknown account: %v", err)
	}
	if err := s.SetTwoFactorIssuer(ctx, "bob", "a\x00b"); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("issuer with NUL: %v", err)
	}
}

// testConcurrentTwoFactorBurn is the store's half of "a code is accepted
// once": many updaters try to burn the same step at once, as concurrent
// requests with one code do; exactly one may see it unburnt.
func testConcurrentTwoFactorBurn(t *testing.T, s store.Store) {
	twoFactorFixture(t, s)
	ctx := t.Context()
	if err := s.SetTwoFactor(ctx, newTwoFactor("bob", "bob")); err != nil {
		t.Fatal(err)
	}
	const workers, rounds = 8, 5
	step := newTwoFactor("bob", "bob").LastStep
	for round := range rounds {
		step++
		var passed atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				var ok bool
				_, err := s.UpdateTwoFactor(ctx, "bob", func(tf store.TwoFactor) (store.TwoFactor, error) {
					ok = false // the updater may run more than once
					if tf.LastStep >= step {
						return tf, nil
					}
					tf.LastStep, ok = step, true
					return tf, nil
				})
				if err != nil {
					t.Errorf("UpdateTwoFactor: %v", err)
					return
				}
				if ok {
					passed.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		if n := passed.Load(); n != 1 {
			t.Fatalf("round %d: %d updaters burnt step %d, want exactly 1", round, n, step)
		}
		if got := mustGetTwoFactor(t, s, "bob").LastStep; got != step {
			t.Fatalf("round %d: LastStep %d, want %d", round, got, step)
		}
	}
}
