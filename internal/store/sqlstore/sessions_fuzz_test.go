package sqlstore

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cpauth/cpauth/internal/store"
)

// FuzzSessionRoundTrip writes a session whose client-supplied fields are the
// fuzzer's, reads it back every way the store offers, and requires exactly
// what was written, or a refusal of the whole session (ErrInvalid) that
// leaves nothing behind; never something else stored. Which inputs are
// refused is spelled out here independently of the store's own check.
//
//	go test -fuzz=FuzzSessionRoundTrip -fuzztime=30s ./internal/store/sqlstore
func FuzzSessionRoundTrip(f *testing.F) {
	for _, seed := range []struct {
		username, origin, locale, gotoURI, creator, method string
		tfa                                                bool
		lastSeen                                           int64
		idle                                               int64
	}{
		{"bob", "192.0.2.1", "en", "/", "bob", "password", false, 1_700_000_000_000_000_000, int64(30 * time.Minute)},
		{"x\r\nhasroot=1", "x\r\nhasroot=1", "x\r\nhasroot=1", "x\r\nhasroot=1", "x\r\nhasroot=1", "x\r\nhasroot=1", false, 0, 0},
		{"root", "203.0.113.9\r\ntfa_verified=1", "tfa_verified=1", "/\nhasroot=1", "root\r\n", "handle_form_login\rpossessed=1", false, 1, 1},
		{"tfa_verified=1", "\n", "\r", "\r\n\r\n", "=", ",", true, -1, int64(time.Microsecond)},
		{"info@bob.example.com", "2001:db8::1", "pt_br", "/frontend/jupiter/?a=1&b=%0d%0a", "root", "create_user_session", true, -62135596800000000, int64(15 * time.Minute)},
		{"a\x00b", "origin", "en", "/", "root", "sso", false, 0, 0},
		{"bob", "\xff\xfe", "en", "/", "root", "sso", false, 0, 0},
		{"bob", "ok", "caf\xc3", "\xed\xa0\x80", "\xc0\xaf", "Zo\xeb", false, 0, 0},
		{"Zoë «Ünïcødé» 日本語 🙂", "\u2028\u2029\u0085", "\ufeff", "\U0010ffff", "'; DROP TABLE sessions; --", "?, $1, %s", true, 1 << 62, 1 << 62},
		{strings.Repeat("u", store.MaxSessionKeyLen+1), "o", "l", "g", "c", "m", false, 0, 0},
		{"", "o", "l", "g", "c", "m", false, 0, -1},
		{"bob", "o", "l", "g", "c", "m", false, 0, 999},
	} {
		f.Add(seed.username, seed.origin, seed.locale, seed.gotoURI, seed.creator, seed.method, seed.tfa, seed.lastSeen, seed.idle)
	}

	s, err := OpenSQLite(f.Context(), filepath.Join(f.TempDir(), "cpauth.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	for _, a := range []string{"root", "bob"} {
		if err := s.CreateAccount(f.Context(), store.Account{Username: a}); err != nil {
			f.Fatal(err)
		}
	}

	n := 0
	f.Fuzz(func(t *testing.T, username, origin, locale, gotoURI, creator, method string, tfa bool, lastSeen, idle int64) {
		ctx := t.Context()
		n++
		created := time.Unix(1_700_000_000, 123_456_789)
		in := store.Session{
			IDHash:        fmt.Sprintf("fuzz-%d", n),
			Kind:          []string{store.SessionNormal, store.SessionOneTime}[n%2],
			Username:      username,
			Account:       []string{"root", "bob"}[n%2],
			Service:       []string{"cpaneld", "whostmgrd", "webmaild"}[n%3],
			SecurityToken: fmt.Sprintf("/cpsess%010d", n),
			Creator:       creator,
			Origin:        origin,
			Method:        method,
			TFAVerified:   tfa,
			Locale:        locale,
			GotoURI:       gotoURI,
			Created:       created,
			LastSeen:      time.Unix(0, lastSeen),
			IdleTimeout:   time.Duration(idle),
			Expires:       created.Add(12 * time.Hour),
		}
		storable := func(v string) bool { return utf8.ValidString(v) && !strings.Contains(v, "\x00") }
		wantOK := storable(username) && username != "" && len(username) <= store.MaxSessionKeyLen &&
			storable(origin) && storable(locale) && storable(gotoURI) && storable(creator) && storable(method) &&
			(idle == 0 || idle >= int64(time.Microsecond)) // time.Unix(0, n) always lies in 1677..2262

		// The store as the database keeps it: microseconds, UTC.
		want := in
		want.Created = time.UnixMicro(in.Created.UnixMicro())
		want.LastSeen = time.UnixMicro(in.LastSeen.UnixMicro())
		want.IdleTimeout = in.IdleTimeout.Truncate(time.Microsecond)
		want.Expires = time.UnixMicro(in.Expires.UnixMicro())
		same := func(what string, got store.Session) {
			t.Helper()
			if got.IDHash != want.IDHash || got.Kind != want.Kind || got.Username != want.Username ||
				got.Account != want.Account || got.Service != want.Service || got.SecurityToken != want.SecurityToken ||
				got.Creator != want.Creator || got.Origin != want.Origin || got.Method != want.Method ||
				got.TFAVerified != want.TFAVerified || got.Locale != want.Locale || got.GotoURI != want.GotoURI ||
				!got.Created.Equal(want.Created) || !got.LastSeen.Equal(want.LastSeen) ||
				got.IdleTimeout != want.IdleTimeout || !got.Expires.Equal(want.Expires) {
				t.Fatalf("%s: read back\n%#v\nwrote\n%#v", what, got, want)
			}
		}
		absent := func(what string) {
			t.Helper()
			if got, err := s.GetSession(ctx, in.IDHash); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("%s: GetSession = %#v, %v; want nothing", what, got, err)
			}
			ss, err := s.ListSessions(ctx, in.Account)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range ss {
				if x.IDHash == in.IDHash {
					t.Fatalf("%s: listed %#v", what, x)
				}
			}
		}

		err := s.CreateSession(ctx, in)
		if !wantOK {
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("CreateSession of an unstorable session: error %v, want ErrInvalid", err)
			}
			absent("after the refusal")
			return
		}
		if err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		got, err := s.GetSession(ctx, in.IDHash)
		if err != nil {
			t.Fatal(err)
		}
		same("GetSession", got)
		ss, err := s.ListSessions(ctx, in.Account)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, x := range ss {
			if x.IDHash == in.IDHash {
				same("ListSessions", x)
				found = true
			}
		}
		if !found {
			t.Fatal("not listed")
		}

		// The same values through an updater, in other fields.
		upd, err := s.UpdateSession(ctx, in.IDHash, func(x store.Session) (store.Session, error) {
			x.Creator, x.Origin, x.Method, x.Locale, x.GotoURI = method, gotoURI, locale, creator, origin
			x.TFAVerified = !x.TFAVerified
			return x, nil
		})
		if err != nil {
			t.Fatalf("UpdateSession: %v", err)
		}
		want.Creator, want.Origin, want.Method, want.Locale, want.GotoURI = method, gotoURI, locale, creator, origin
		want.TFAVerified = !want.TFAVerified
		same("UpdateSession's result", upd)
		if got, err = s.GetSession(ctx, in.IDHash); err != nil {
			t.Fatal(err)
		}
		same("GetSession after the update", got)

		// And one step more: what is consumed is what was stored.
		if got, err = s.ConsumeSession(ctx, in.IDHash); err != nil {
			t.Fatal(err)
		}
		same("ConsumeSession", got)
		absent("after ConsumeSession")
	})
}
