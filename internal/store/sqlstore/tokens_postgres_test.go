package sqlstore

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/store"
)

// TestPostgresTokenChanges checks what the token writes announce: the
// token's MAC for each write that commits, nothing for a touch or a failed
// write, the account for DeleteAccount, and ChangeAll for a large purge.
func TestPostgresTokenChanges(t *testing.T) {
	ctx := t.Context()
	s := newPostgres(t)

	collect := recordChanges(t, s, "")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	tokenChange := func(mac string) store.Change { return store.Change{Kind: store.ChangeToken, Key: mac} }
	expect := func(what string, want ...store.Change) {
		t.Helper()
		if got := collect(); !slices.Equal(got, want) {
			t.Errorf("%s announced %v, want %v", what, got, want)
		}
	}

	must(s.CreateAccount(ctx, store.Account{Username: "bob"}))
	expect("CreateAccount", store.Change{Kind: store.ChangeAccount, Key: "bob"})

	tok := store.Token{Service: store.TokenCPanel, Username: "bob", Name: "t", MAC: "mac1", ExpiresAt: time.Unix(1000, 0)}
	must(s.CreateToken(ctx, tok))
	expect("CreateToken", tokenChange("mac1"))

	if s.CreateToken(ctx, tok) == nil || s.CreateToken(ctx, store.Token{Service: store.TokenCPanel, Username: "nobody", Name: "t", MAC: "mac2"}) == nil {
		t.Fatal("a conflicting create succeeded")
	}
	expect("failed CreateTokens")

	_, err := s.UpdateToken(ctx, store.TokenCPanel, "bob", "t", func(x store.Token) (store.Token, error) {
		x.Name = "renamed"
		return x, nil
	})
	must(err)
	expect("UpdateToken", tokenChange("mac1"))
	_, err = s.UpdateToken(ctx, store.TokenCPanel, "bob", "renamed", func(x store.Token) (store.Token, error) {
		return x, fmt.Errorf("no")
	})
	if err == nil {
		t.Fatal("a failing updater succeeded")
	}
	expect("failed UpdateToken")

	must(s.TouchToken(ctx, "mac1", time.Now(), "192.0.2.1"))
	expect("TouchToken")

	must(s.DeleteToken(ctx, store.TokenCPanel, "bob", "renamed"))
	if s.DeleteToken(ctx, store.TokenCPanel, "bob", "renamed") == nil {
		t.Fatal("a second delete succeeded")
	}
	expect("DeleteToken", tokenChange("mac1"))

	for i := range 3 {
		must(s.CreateToken(ctx, store.Token{Service: store.TokenWHM, Username: "bob", Name: fmt.Sprint(i), MAC: fmt.Sprint("e", i), ExpiresAt: time.Unix(int64(1000+i), 0)}))
	}
	must(s.CreateToken(ctx, store.Token{Service: store.TokenWHM, Username: "bob", Name: "never", MAC: "never"}))
	collect()
	if n, err := s.PurgeExpiredTokens(ctx, time.Unix(1002, 0)); err != nil || n != 2 {
		t.Fatalf("PurgeExpiredTokens = %d, %v", n, err)
	}
	got := collect()
	slices.SortFunc(got, func(a, b store.Change) int { return strings.Compare(a.Key, b.Key) })
	if want := []store.Change{tokenChange("e0"), tokenChange("e1")}; !slices.Equal(got, want) {
		t.Errorf("PurgeExpiredTokens announced %v, want %v", got, want)
	}

	must(s.DeleteAccount(ctx, "bob"))
	expect("DeleteAccount", store.Change{Kind: store.ChangeAccount, Key: "bob"})

	// A large purge announces one ChangeAll.
	must(s.CreateAccount(ctx, store.Account{Username: "carol"}))
	tx, err := s.DB().BeginTx(ctx, nil)
	must(err)
	for i := range purgeAnnounceEach + 1 {
		_, err := tx.ExecContext(ctx, `INSERT INTO api_tokens (`+tokenCols+`) VALUES ('cpanel', 'carol', $1, $1, NULL, 5, '[]', false, false, 0, NULL, '')`, fmt.Sprint("bulk", i))
		must(err)
	}
	must(tx.Commit())
	collect()
	if n, err := s.PurgeExpiredTokens(ctx, time.Unix(10, 0)); err != nil || n != purgeAnnounceEach+1 {
		t.Fatalf("large PurgeExpiredTokens = %d, %v", n, err)
	}
	expect("a large purge", store.Change{Kind: store.ChangeAll})
}

func TestDecodeChangeToken(t *testing.T) {
	for _, c := range []store.Change{
		{Kind: store.ChangeToken, Key: "0123abcdef"},
		{Kind: store.ChangeAccount, Key: "bob"},
		{Kind: store.ChangeAll},
	} {
		if got := decodeChange(encodeChange(c)); got != c {
			t.Errorf("decodeChange(encodeChange(%v)) = %v", c, got)
		}
	}
}
