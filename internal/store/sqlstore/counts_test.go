package sqlstore

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/store"
)

func testCountLive(t *testing.T, s *Store) {
	ctx := context.Background()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for _, u := range []string{"root", "bob"} {
		if err := s.CreateAccount(ctx, store.Account{Username: u, PasswordHash: "x", Created: now, PasswordChanged: now}); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	session := func(user, svc, kind string, lastSeen, expires time.Time, idle time.Duration) {
		n++
		err := s.CreateSession(ctx, store.Session{IDHash: fmt.Sprintf("%064x", n), Kind: kind, Username: user, Account: user, Service: svc,
			SecurityToken: fmt.Sprintf("/cpsess%010d", n), Creator: user, Origin: "192.0.2.1", Method: "password", Locale: "en",
			Created: now.Add(-time.Hour), LastSeen: lastSeen, IdleTimeout: idle, Expires: expires})
		if err != nil {
			t.Fatal(err)
		}
	}
	later, earlier := now.Add(time.Hour), now.Add(-time.Minute)
	session("root", "whostmgrd", store.SessionNormal, now, later, 30*time.Minute)           // live
	session("root", "whostmgrd", store.SessionNormal, now, later, 0)                        // live, no idle limit
	session("bob", "cpaneld", store.SessionNormal, now, later, 30*time.Minute)              // live
	session("bob", "cpaneld", store.SessionNormal, now, earlier, 30*time.Minute)            // expired
	session("bob", "cpaneld", store.SessionNormal, now.Add(-time.Hour), later, time.Minute) // idle past its timeout
	session("bob", "webmaild", store.SessionOneTime, now, later, 0)                         // one-time: not a login
	tok := func(svc, user, name string, expires time.Time) {
		if err := s.CreateToken(ctx, store.Token{Service: svc, Username: user, Name: name, MAC: fmt.Sprintf("%064x", 1000+len(name)+len(user)*100), ExpiresAt: expires, Created: now}); err != nil {
			t.Fatal(err)
		}
	}
	tok(store.TokenWHM, "root", "a", time.Time{}) // never expires
	tok(store.TokenWHM, "root", "bb", later)
	tok(store.TokenWHM, "root", "ccc", earlier) // expired
	tok(store.TokenCPanel, "bob", "dddd", time.Time{})
	got, err := s.CountLive(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	wantSessions := map[string]int{"whostmgrd": 2, "cpaneld": 1}
	wantTokens := map[string]int{store.TokenWHM: 2, store.TokenCPanel: 1}
	if !maps.Equal(got.Sessions, wantSessions) || !maps.Equal(got.Tokens, wantTokens) {
		t.Errorf("CountLive = %+v, want sessions %v, tokens %v", got, wantSessions, wantTokens)
	}
	if _, err := s.CountLive(ctx, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)); err == nil {
		t.Error("CountLive accepted a time past the year 9999")
	}
}

func TestCountLiveSQLite(t *testing.T) {
	testCountLive(t, openSQLite(t, filepath.Join(t.TempDir(), "cpauth.db")))
}

func TestCountLivePostgres(t *testing.T) {
	testCountLive(t, newPostgres(t))
}
