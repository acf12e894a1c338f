package sqlstore

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/store/sqlstore/pgtest"
)

// TestPostgresSessionChanges checks what the session writes announce: the
// IDHash for each write that commits, nothing for a touch or a failed
// write, each deleted session for the bulk deletes (ChangeAll for a large
// one), and only the account for DeleteAccount.
//
// Notifications are per database, not per schema: tests of other packages
// running at the same time announce on the same channel. Every key here
// starts with a prefix of this run's, and only those are looked at.
func TestPostgresSessionChanges(t *testing.T) {
	ctx := t.Context()
	s := newPostgres(t)
	p := pgtest.RandomName("x")

	recorded := recordChanges(t, s, p)
	// Bulk deletes announce in no set order: compare sorted.
	collect := func() []store.Change {
		t.Helper()
		got := recorded()
		slices.SortFunc(got, func(a, b store.Change) int { return strings.Compare(a.Key, b.Key) })
		return got
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ch := func(ids ...string) []store.Change {
		var out []store.Change
		for _, id := range ids {
			out = append(out, store.Change{Kind: store.ChangeSession, Key: p + id})
		}
		return out
	}
	expect := func(what string, want []store.Change) {
		t.Helper()
		if got := collect(); !slices.Equal(got, want) {
			t.Errorf("%s announced %v, want %v", what, got, want)
		}
	}
	sess := func(id, username, account string) store.Session {
		return store.Session{IDHash: p + id, Kind: store.SessionNormal, Username: username, Account: p + account,
			Service: "cpaneld", SecurityToken: "/cpsess" + id, Expires: time.Unix(1000, 0)}
	}
	bob, carol := p+"bob", p+"carol"

	must(s.CreateAccount(ctx, store.Account{Username: bob}))
	collect()

	must(s.CreateSession(ctx, sess("s1", "bob", "bob")))
	expect("CreateSession", ch("s1"))

	if s.CreateSession(ctx, sess("s1", "bob", "bob")) == nil ||
		s.CreateSession(ctx, sess("s2", "bob", "nobody")) == nil ||
		s.CreateSession(ctx, sess("s3", "bob\x00", "bob")) == nil {
		t.Fatal("a refused create succeeded")
	}
	expect("failed CreateSessions", nil)

	_, err := s.UpdateSession(ctx, p+"s1", func(x store.Session) (store.Session, error) {
		x.TFAVerified = true
		return x, nil
	})
	must(err)
	expect("UpdateSession", ch("s1"))
	_, err = s.UpdateSession(ctx, p+"s1", func(x store.Session) (store.Session, error) { return x, fmt.Errorf("no") })
	if err == nil {
		t.Fatal("a failing updater succeeded")
	}
	expect("failed UpdateSession", nil)

	must(s.TouchSession(ctx, p+"s1", time.Now()))
	expect("TouchSession", nil)

	_, err = s.ConsumeSession(ctx, p+"s1")
	must(err)
	if _, err := s.ConsumeSession(ctx, p+"s1"); err == nil {
		t.Fatal("a second consume succeeded")
	}
	expect("ConsumeSession", ch("s1"))

	must(s.CreateSession(ctx, sess("s1", "bob", "bob")))
	collect()
	must(s.DeleteSession(ctx, p+"s1"))
	if s.DeleteSession(ctx, p+"s1") == nil {
		t.Fatal("a second delete succeeded")
	}
	expect("DeleteSession", ch("s1"))

	pk1, pk2 := sess("k1", "bob", "bob"), sess("k2", "info@bob.test", "bob")
	pk1.Passkey, pk2.Passkey = []byte{1, 2, 3}, []byte{1, 2, 3}
	must(s.CreateSession(ctx, pk1))
	must(s.CreateSession(ctx, pk2))
	collect()
	if ended, err := s.DeletePasskeySessions(ctx, []byte{1, 2, 3}); err != nil || len(ended) != 2 {
		t.Fatalf("DeletePasskeySessions = %d, %v", len(ended), err)
	}
	expect("DeletePasskeySessions", ch("k1", "k2"))

	for _, x := range []store.Session{
		sess("u1", "bob", "bob"), sess("u2", "bob", "bob"), sess("u3", "bob", "bob"),
		sess("m1", "info@bob.test", "bob"),
	} {
		must(s.CreateSession(ctx, x))
	}
	collect()
	if n, err := s.DeleteUserSessions(ctx, "bob", p+"u2"); err != nil || n != 2 {
		t.Fatalf("DeleteUserSessions = %d, %v", n, err)
	}
	expect("DeleteUserSessions", ch("u1", "u3"))
	if n, err := s.DeleteAccountSessions(ctx, bob); err != nil || n != 2 {
		t.Fatalf("DeleteAccountSessions = %d, %v", n, err)
	}
	expect("DeleteAccountSessions", ch("m1", "u2"))

	expired := sess("e1", "bob", "bob")
	idle := sess("i1", "bob", "bob")
	idle.Expires, idle.IdleTimeout = time.Unix(5000, 0), time.Second
	must(s.CreateSession(ctx, expired))
	must(s.CreateSession(ctx, idle))
	must(s.CreateSession(ctx, func() store.Session { x := sess("k1", "bob", "bob"); x.Expires = time.Unix(5000, 0); return x }()))
	collect()
	if ended, err := s.PurgeSessions(ctx, time.Unix(2000, 0)); err != nil || len(ended) != 2 {
		t.Fatalf("PurgeSessions = %d, %v", len(ended), err)
	}
	expect("PurgeSessions", ch("e1", "i1"))
	if ended, err := s.PurgeSessions(ctx, time.Unix(2000, 0)); err != nil || len(ended) != 0 {
		t.Fatalf("PurgeSessions again = %d, %v", len(ended), err)
	}
	expect("an empty purge", nil)

	must(s.DeleteAccount(ctx, bob))
	expect("DeleteAccount", []store.Change{{Kind: store.ChangeAccount, Key: bob}})

	// A large bulk delete announces one ChangeAll.
	must(s.CreateAccount(ctx, store.Account{Username: carol}))
	tx, err := s.DB().BeginTx(ctx, nil)
	must(err)
	for i := range purgeAnnounceEach + 1 {
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (`+sessionCols+`)
			VALUES ($1, 'normal', $2, $2, 'cpaneld', $1, '', '', '', false, '', '', 0, 0, 0, 5, '[]', 0, false, NULL)`, fmt.Sprint(p, "bulk", i), carol)
		must(err)
	}
	must(tx.Commit())
	collect()
	if n, err := s.DeleteAccountSessions(ctx, carol); err != nil || n != purgeAnnounceEach+1 {
		t.Fatalf("large DeleteAccountSessions = %d, %v", n, err)
	}
	expect("a large bulk delete", []store.Change{{Kind: store.ChangeAll}})
}

func TestDecodeChangeSession(t *testing.T) {
	for _, c := range []store.Change{
		{Kind: store.ChangeSession, Key: "0123abcdef"},
		{Kind: store.ChangeSession, Key: "with:colon"},
	} {
		if got := decodeChange(encodeChange(c)); got != c {
			t.Errorf("decodeChange(encodeChange(%v)) = %v", c, got)
		}
	}
}
