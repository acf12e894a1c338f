package sqlstore

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/store"
)

// TestPostgresPasskeyChanges checks what the passkey writes announce: the
// login name for each write of a credential or a user handle that commits,
// nothing for a failed write, and nothing for challenges (read once, from
// the database, by whichever node redeems them).
func TestPostgresPasskeyChanges(t *testing.T) {
	ctx := t.Context()
	s := newPostgres(t)
	collect := recordChanges(t, s, "")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	expect := func(what string, want ...store.Change) {
		t.Helper()
		if got := collect(); !slices.Equal(got, want) {
			t.Errorf("%s announced %v, want %v", what, got, want)
		}
	}
	bob := store.Change{Kind: store.ChangePasskey, Key: "bob"}

	must(s.CreateAccount(ctx, store.Account{Username: "bob"}))
	expect("CreateAccount", store.Change{Kind: store.ChangeAccount, Key: "bob"})
	must(s.CreatePasskeyUser(ctx, store.PasskeyUser{Username: "bob", Account: "bob", Handle: []byte{1}}))
	expect("CreatePasskeyUser", bob)
	_, err := s.UpdatePasskeyUser(ctx, "bob", func(u store.PasskeyUser) (store.PasskeyUser, error) { u.Passwordless = true; return u, nil })
	must(err)
	expect("UpdatePasskeyUser", bob)

	p := store.Passkey{ID: []byte{7}, Username: "bob", Account: "bob", Name: "Phone", PublicKey: []byte{1}}
	must(s.CreatePasskey(ctx, p))
	expect("CreatePasskey", bob)
	if s.CreatePasskey(ctx, p) == nil {
		t.Fatal("a duplicate CreatePasskey succeeded")
	}
	expect("failed CreatePasskey")
	_, err = s.UpdatePasskey(ctx, p.ID, func(q store.Passkey) (store.Passkey, error) { q.SignCount = 5; return q, nil })
	must(err)
	expect("UpdatePasskey", bob)
	_, err = s.UpdatePasskey(ctx, p.ID, func(q store.Passkey) (store.Passkey, error) { return q, errors.New("no") })
	if err == nil {
		t.Fatal("a failing updater succeeded")
	}
	expect("failed UpdatePasskey")

	now := time.Now()
	must(s.PutPasskeyChallenge(ctx, store.PasskeyChallenge{Key: "bob-c", Purpose: store.PasskeyRegister, Username: "bob", Session: []byte("{}"), Created: now, Expires: now.Add(time.Minute)}))
	_, err = s.TakePasskeyChallenge(ctx, "bob-c", now)
	must(err)
	_, err = s.PurgePasskeyChallenges(ctx, now)
	must(err)
	expect("challenges")

	must(s.DeletePasskey(ctx, p.ID))
	expect("DeletePasskey", bob)
}
