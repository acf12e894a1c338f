package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/cpauth/cpauth/internal/store"
)

// GatewayStore is a store that keeps a gateway's records too.
type GatewayStore interface {
	store.Store
	store.GatewayStore
}

// RunGatewayTests runs the conformance suite of store.GatewayStore against
// the backend newStore makes (each subtest on a fresh, empty store).
//
// Beyond the interface's comments: every field comes back as written
// (times Equal at microsecond precision, ACLs in order, nil as empty);
// a record without a sealed token or a backend name is refused with
// ErrInvalid; of concurrent creations for one gateway token exactly one
// succeeds and the others get ErrExists.
func RunGatewayTests(t *testing.T, newStore func(t *testing.T) GatewayStore) {
	tests := []struct {
		name string
		run  func(t *testing.T, s GatewayStore)
	}{
		{"BackendTokenCreateGet", testBackendTokenCreateGet},
		{"BackendTokenInvalid", testBackendTokenInvalid},
		{"BackendTokenDelete", testBackendTokenDelete},
		{"BackendTokenList", testBackendTokenList},
		{"BackendTokenDeleteAccountCascade", testBackendTokenCascade},
		{"ConcurrentCreateBackendToken", testConcurrentCreateBackendToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newStore(t))
		})
	}
}

func newBackendToken(user, name, backendName string) store.BackendToken {
	return store.BackendToken{
		Username: user, TokenName: name, TokenCreated: at(40).Add(123456 * 1000),
		ACLs: []string{"list-accts", "suspend-acct"}, BackendName: backendName,
		Sealed: []byte{0, 1, 2, 0xff, 'x'}, Created: at(50),
	}
}

func checkBackendToken(t *testing.T, what string, got, want store.BackendToken) {
	t.Helper()
	wantACLs := want.ACLs
	if wantACLs == nil {
		wantACLs = []string{}
	}
	if got.Username != want.Username || got.TokenName != want.TokenName || !got.TokenCreated.Equal(want.TokenCreated) ||
		!slices.Equal(got.ACLs, wantACLs) || got.ACLs == nil || got.BackendName != want.BackendName ||
		!bytes.Equal(got.Sealed, want.Sealed) || !got.Created.Equal(want.Created) {
		t.Errorf("%s = %+v\nwant %+v", what, got, want)
	}
}

func testBackendTokenCreateGet(t *testing.T, s GatewayStore) {
	ctx := t.Context()
	mustCreateAccount(t, s, rootAccount())
	mustCreateAccount(t, s, newReseller("res1", "res1.example.com"))
	a := newBackendToken("root", "ci", "cpauth-gw-a")
	b := newBackendToken("res1", "ci", "cpauth-gw-b")
	b.ACLs = nil
	for _, tok := range []store.BackendToken{a, b} {
		if err := s.CreateBackendToken(ctx, tok); err != nil {
			t.Fatalf("CreateBackendToken(%s): %v", tok.Username, err)
		}
	}
	for _, want := range []store.BackendToken{a, b} {
		got, err := s.GetBackendToken(ctx, want.Username, want.TokenName)
		if err != nil {
			t.Fatal(err)
		}
		checkBackendToken(t, "GetBackendToken("+want.Username+")", got, want)
	}
	if _, err := s.GetBackendToken(ctx, "root", "other"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown one: %v, want ErrNotFound", err)
	}
	dup := newBackendToken("root", "ci", "cpauth-gw-c")
	if err := s.CreateBackendToken(ctx, dup); !errors.Is(err, store.ErrExists) {
		t.Errorf("a second for one gateway token: %v, want ErrExists", err)
	}
	if got, _ := s.GetBackendToken(ctx, "root", "ci"); got.BackendName != "cpauth-gw-a" {
		t.Errorf("the refused second replaced the first: %+v", got)
	}
	if err := s.CreateBackendToken(ctx, newBackendToken("nobody", "ci", "cpauth-gw-d")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("one for an unknown account: %v, want ErrNotFound", err)
	}
}

func testBackendTokenInvalid(t *testing.T, s GatewayStore) {
	ctx := t.Context()
	mustCreateAccount(t, s, rootAccount())
	noSeal := newBackendToken("root", "a", "cpauth-gw-a")
	noSeal.Sealed = nil
	noName := newBackendToken("root", "b", "")
	for _, tok := range []store.BackendToken{noSeal, noName} {
		if err := s.CreateBackendToken(ctx, tok); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("CreateBackendToken(%s): %v, want ErrInvalid", tok.TokenName, err)
		}
	}
	if list, err := s.ListBackendTokens(ctx); err != nil || len(list) != 0 {
		t.Errorf("after the refusals: %v %v", list, err)
	}
}

func testBackendTokenDelete(t *testing.T, s GatewayStore) {
	ctx := t.Context()
	mustCreateAccount(t, s, rootAccount())
	if err := s.CreateBackendToken(ctx, newBackendToken("root", "ci", "cpauth-gw-a")); err != nil {
		t.Fatal(err)
	}
	// Another node's newer one is not deleted by a node revoking the old.
	if err := s.DeleteBackendToken(ctx, "root", "ci", "cpauth-gw-old"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting under another backend name: %v, want ErrNotFound", err)
	}
	if _, err := s.GetBackendToken(ctx, "root", "ci"); err != nil {
		t.Errorf("gone after a delete under another name: %v", err)
	}
	if err := s.DeleteBackendToken(ctx, "root", "ci", "cpauth-gw-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetBackendToken(ctx, "root", "ci"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after the delete: %v", err)
	}
	if err := s.DeleteBackendToken(ctx, "root", "ci", "cpauth-gw-a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a second delete: %v, want ErrNotFound", err)
	}
}

func testBackendTokenList(t *testing.T, s GatewayStore) {
	ctx := t.Context()
	if list, err := s.ListBackendTokens(ctx); err != nil || len(list) != 0 {
		t.Fatalf("empty store: %v %v", list, err)
	}
	mustCreateAccount(t, s, rootAccount())
	mustCreateAccount(t, s, newReseller("Res", "res.example.com"))
	mustCreateAccount(t, s, newReseller("bres", "bres.example.com"))
	var want []string
	for _, k := range [][2]string{{"root", "z"}, {"bres", "a"}, {"Res", "b"}, {"root", "a"}, {"root", "B"}} {
		if err := s.CreateBackendToken(ctx, newBackendToken(k[0], k[1], "cpauth-gw-"+k[0]+k[1])); err != nil {
			t.Fatal(err)
		}
		want = append(want, k[0]+"/"+k[1])
	}
	slices.Sort(want) // byte-wise: upper case first
	list, err := s.ListBackendTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tok := range list {
		got = append(got, tok.Username+"/"+tok.TokenName)
		checkBackendToken(t, "listed", tok, newBackendToken(tok.Username, tok.TokenName, "cpauth-gw-"+tok.Username+tok.TokenName))
	}
	if !slices.Equal(got, want) {
		t.Errorf("ListBackendTokens = %v, want %v", got, want)
	}
}

func testBackendTokenCascade(t *testing.T, s GatewayStore) {
	ctx := t.Context()
	mustCreateAccount(t, s, rootAccount())
	mustCreateAccount(t, s, newReseller("res1", "res1.example.com"))
	for _, u := range []string{"root", "res1"} {
		if err := s.CreateBackendToken(ctx, newBackendToken(u, "ci", "cpauth-gw-"+u)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteAccount(ctx, "res1"); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListBackendTokens(ctx)
	if err != nil || len(list) != 1 || list[0].Username != "root" {
		t.Errorf("after deleting res1: %v %v, want root's alone", list, err)
	}
}

func testConcurrentCreateBackendToken(t *testing.T, s GatewayStore) {
	ctx := t.Context()
	mustCreateAccount(t, s, rootAccount())
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.CreateBackendToken(ctx, newBackendToken("root", "ci", fmt.Sprintf("cpauth-gw-%d", i)))
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrExists):
			t.Errorf("a concurrent creation: %v, want nil or ErrExists", err)
		}
	}
	if won != 1 {
		t.Errorf("%d concurrent creations succeeded, want exactly 1", won)
	}
}
