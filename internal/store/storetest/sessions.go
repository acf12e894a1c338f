package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/store"
)

// Sessions. As with tokens, many tests read a session before writing it, so
// that a caching backend must forget what it remembered (absence included).

// Session services, as the store names them.
const (
	svcCPanel  = "cpaneld"
	svcWHM     = "whostmgrd"
	svcWebmail = "webmaild"
)

// webmailUser is a Webmail login of bob's.
const webmailUser = "info@bob.example.com"

// sessionID is a realistic IDHash (64 hex digits) for the given parts.
func sessionID(parts ...string) string { return macOf(append([]string{"session"}, parts...)...) }

// cpsess is the security token number n.
func cpsess(n int) string { return fmt.Sprintf("/cpsess%010d", n) }

// newSession is a password-login session with every field set.
func newSession(id string, n int, username, account, service string) store.Session {
	return store.Session{
		IDHash:        id,
		Kind:          store.SessionNormal,
		Username:      username,
		Account:       account,
		Service:       service,
		SecurityToken: cpsess(n),
		Creator:       username,
		Origin:        "192.0.2.1",
		Method:        "password",
		Locale:        "en",
		Created:       atMicro(100, 123456),
		LastSeen:      atMicro(160, 1),
		IdleTimeout:   30 * time.Minute,
		Expires:       atMicro(100+12*3600, 123456),
	}
}

// oneTimeSession is a single sign-on session, as create_user_session makes.
func oneTimeSession(id string, n int, username, account, service string) store.Session {
	ss := newSession(id, n, username, account, service)
	ss.Kind = store.SessionOneTime
	ss.Creator = "root"
	ss.Method = "create_user_session"
	ss.TFAVerified = true
	ss.Locale = "fr"
	ss.GotoURI = "/frontend/jupiter/filemanager/index.html?dir=%2F"
	ss.IdleTimeout = 15 * time.Minute
	ss.Expires = ss.Created.Add(300 * time.Second)
	// Made through an API token with every bound (D24).
	ss.AllowedIPs = []string{"192.0.2.0/24", "2001:0db8:0000:0000:0000:0000:0000:0001"}
	ss.NotAfter = atMicro(100+3600, 654321)
	ss.RequireOTP = true
	return ss
}

// sessionAccounts creates root, the reseller res1, bob (owned by res1, with
// the mailbox info@bob.example.com) and carol.
func sessionAccounts(t *testing.T, s store.Store) {
	t.Helper()
	tokenAccounts(t, s)
	mustCreateMailbox(t, s, newMailbox("bob", "info", "bob.example.com"))
}

func mustCreateSession(t *testing.T, s store.Store, ss store.Session) {
	t.Helper()
	if err := s.CreateSession(t.Context(), ss); err != nil {
		t.Fatalf("CreateSession(%q of %q): %v", ss.SecurityToken, ss.Username, err)
	}
}

// wantNoSession checks that id finds nothing (and leaves that absence in a
// caching backend's memory).
func wantNoSession(t *testing.T, s store.Store, what, id string) {
	t.Helper()
	got, err := s.GetSession(t.Context(), id)
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s: GetSession = %+v, %v; want ErrNotFound", what, got, err)
	}
}

func checkSession(t *testing.T, what string, got, want store.Session) {
	t.Helper()
	reportDiffs(t, what,
		diffField("IDHash", got.IDHash, want.IDHash),
		diffField("Kind", got.Kind, want.Kind),
		diffField("Username", got.Username, want.Username),
		diffField("Account", got.Account, want.Account),
		diffField("Service", got.Service, want.Service),
		diffField("SecurityToken", got.SecurityToken, want.SecurityToken),
		diffField("Creator", got.Creator, want.Creator),
		diffField("Origin", got.Origin, want.Origin),
		diffField("Method", got.Method, want.Method),
		diffField("TFAVerified", got.TFAVerified, want.TFAVerified),
		diffField("Locale", got.Locale, want.Locale),
		diffField("GotoURI", got.GotoURI, want.GotoURI),
		diffTime("Created", got.Created, want.Created),
		diffTime("LastSeen", got.LastSeen, want.LastSeen),
		diffField("IdleTimeout", got.IdleTimeout, want.IdleTimeout),
		diffTime("Expires", got.Expires, want.Expires),
		diffField("AllowedIPs", fmt.Sprint(got.AllowedIPs), fmt.Sprint(want.AllowedIPs)),
		diffField("AllowedIPs nil", got.AllowedIPs == nil, want.AllowedIPs == nil),
		diffTime("NotAfter", got.NotAfter, want.NotAfter),
		diffField("NotAfter zero", got.NotAfter.IsZero(), want.NotAfter.IsZero()),
		diffField("RequireOTP", got.RequireOTP, want.RequireOTP),
		diffField("Passkey", fmt.Sprintf("%x", got.Passkey), fmt.Sprintf("%x", want.Passkey)),
		diffField("Passkey nil", got.Passkey == nil, len(want.Passkey) == 0),
	)
}

// checkStoredSession reads want back by IDHash and from its account's list.
func checkStoredSession(t *testing.T, s store.Store, what string, want store.Session) {
	t.Helper()
	got, err := s.GetSession(t.Context(), want.IDHash)
	if err != nil {
		t.Errorf("%s: GetSession: %v", what, err)
	} else {
		checkSession(t, what+" (by IDHash)", got, want)
	}
	ss, err := s.ListSessions(t.Context(), want.Account)
	if err != nil {
		t.Errorf("%s: ListSessions(%q): %v", what, want.Account, err)
		return
	}
	i := slices.IndexFunc(ss, func(x store.Session) bool { return x.IDHash == want.IDHash })
	if i < 0 {
		t.Errorf("%s: not in ListSessions(%q)", what, want.Account)
		return
	}
	checkSession(t, what+" (listed)", ss[i], want)
}

func sessionIDs(ss []store.Session) []string {
	return project(ss, func(x store.Session) string { return x.IDHash })
}

func listSessionIDs(t *testing.T, s store.Store, account string) []string {
	t.Helper()
	ss, err := s.ListSessions(t.Context(), account)
	if err != nil {
		t.Fatalf("ListSessions(%q): %v", account, err)
	}
	return sessionIDs(ss)
}

// injections are what a line-based session file would have taken for more
// lines or fields (CVE-2026-41940): a typed store keeps them as text.
var injections = []string{
	"x\r\nhasroot=1",
	"tfa_verified=1",
	"\r\ntfa_verified=1\r\n",
	"root\nhasroot=1\nuser=root",
	"pass\rhasroot=1",
	"\n",
	"\r\n\r\n",
	"a=b,c=d;e=f:g",
	"%0d%0ahasroot=1",
	"origin{app,method,creator,address}",
	"\x1b[2J\x7f\x01\x02\x1f",
	"\u2028line\u2029para\u0085nel",
	"\ufeffbom",
	"\U0010ffff\ufffd",
}

// unstorable is text no backend can keep exactly (PostgreSQL's TEXT holds
// neither NUL nor invalid UTF-8): a session holding it is refused whole.
var unstorable = []struct{ name, v string }{
	{"NUL", "a\x00b"},
	{"only NUL", "\x00"},
	{"NUL in an injection", "x\r\n\x00hasroot=1"},
	{"invalid byte", "\xff\xfe"},
	{"truncated sequence", "caf\xc3"},
	{"surrogate half", "\xed\xa0\x80"},
	{"overlong encoding", "\xc0\xaf"},
	{"latin-1", "Zo\xeb"},
}

// sessionTextFields are the session's string fields, each with a setter.
var sessionTextFields = []struct {
	name string
	set  func(*store.Session, string)
	// client reports a field whose value comes from the client (or from
	// what it typed), which must keep any valid text.
	client bool
	// key reports an indexed field (non-empty, at most MaxSessionKeyLen).
	key bool
}{
	{"IDHash", func(s *store.Session, v string) { s.IDHash = v }, false, true},
	{"Kind", func(s *store.Session, v string) { s.Kind = v }, false, false},
	{"Username", func(s *store.Session, v string) { s.Username = v }, true, true},
	{"Account", func(s *store.Session, v string) { s.Account = v }, false, false},
	{"Service", func(s *store.Session, v string) { s.Service = v }, false, false},
	{"SecurityToken", func(s *store.Session, v string) { s.SecurityToken = v }, false, true},
	{"Creator", func(s *store.Session, v string) { s.Creator = v }, true, false},
	{"Origin", func(s *store.Session, v string) { s.Origin = v }, true, false},
	{"Method", func(s *store.Session, v string) { s.Method = v }, true, false},
	{"Locale", func(s *store.Session, v string) { s.Locale = v }, true, false},
	{"GotoURI", func(s *store.Session, v string) { s.GotoURI = v }, true, false},
	{"AllowedIPs", func(s *store.Session, v string) { s.AllowedIPs = []string{"192.0.2.1", v} }, false, false},
}

func testSessionCreateGet(t *testing.T, s store.Store) {
	sessionAccounts(t, s)
	all := []store.Session{
		newSession(sessionID("root"), 1, "root", "root", svcWHM),
		newSession(sessionID("res1"), 2, "res1", "res1", svcWHM),
		newSession(sessionID("res1", "cpanel"), 3, "res1", "res1", svcCPanel),
		newSession(sessionID("bob"), 4, "bob", "bob", svcCPanel),
		newSession(sessionID("webmail"), 5, webmailUser, "bob", svcWebmail),
		oneTimeSession(sessionID("sso"), 6, "bob", "bob", svcCPanel),
		oneTimeSession(sessionID("handoff"), 7, webmailUser, "bob", svcWebmail),
	}
	for _, ss := range all {
		wantNoSession(t, s, "before create", ss.IDHash)
		mustCreateSession(t, s, ss)
	}
	for _, ss := range all {
		checkStoredSession(t, s, ss.Username+" "+ss.Service+" "+ss.Kind, ss)
	}
}

func testSessionRoundTrip(t *testing.T, s store.Store) {
	sessionAccounts(t, s)
	values := append(slices.Clone(awkward), injections...)
	n := 0
	for _, f := range sessionTextFields {
		if !f.client {
			continue
		}
		for i, v := range values {
			if f.key && (v == "" || len(v) > store.MaxSessionKeyLen) {
				continue // refused: see testSessionInvalid
			}
			n++
			ss := newSession(sessionID(f.name, strconv.Itoa(i)), n, "bob", "bob", svcCPanel)
			f.set(&ss, v)
			wantNoSession(t, s, "before create", ss.IDHash)
			mustCreateSession(t, s, ss)
			checkStoredSession(t, s, fmt.Sprintf("%s = %q", f.name, v), ss)
		}
	}
	// Every client-supplied field at once, with every kind, service and
	// two-factor state.
	for i, v := range injections {
		n++
		ss := newSession(sessionID("all", strconv.Itoa(i)), n, v, []string{"root", "res1", "bob"}[i%3],
			[]string{svcCPanel, svcWHM, svcWebmail}[i%3])
		ss.Kind = []string{store.SessionNormal, store.SessionOneTime}[i%2]
		ss.TFAVerified = i%4 < 2
		ss.Creator, ss.Origin, ss.Method, ss.Locale, ss.GotoURI = v, v+"o", v+"m", v+"l", v+"g"
		wantNoSession(t, s, "before create", ss.IDHash)
		mustCreateSession(t, s, ss)
		checkStoredSession(t, s, fmt.Sprintf("all fields %q", v), ss)
	}
	// And through an update.
	id := sessionID("updated")
	n++
	mustCreateSession(t, s, newSession(id, n, "carol", "carol", svcCPanel))
	for i, v := range values {
		got, err := s.UpdateSession(t.Context(), id, func(x store.Session) (store.Session, error) {
			x.Creator, x.Origin, x.Method, x.Locale, x.GotoURI = v, v, v, v, v
			x.TFAVerified = i%2 == 0
			return x, nil
		})
		if err != nil {
			t.Fatalf("UpdateSession to %q: %v", v, err)
		}
		want := newSession(id, n, "carol", "carol", svcCPanel)
		want.Creator, want.Origin, want.Method, want.Locale, want.GotoURI = v, v, v, v, v
		want.TFAVerified = i%2 == 0
		checkSession(t, fmt.Sprintf("UpdateSession result for %q", v), got, want)
		checkStoredSession(t, s, fmt.Sprintf("updated to %q", v), want)
	}
}

// testSessionUnstorable: text no backend can keep is refused whole, with
// ErrInvalid, on create and on update, in every field; nothing is stored.
func testSessionUnstorable(t *testing.T, s store.Store) {
	ctx := t.Context()
	sessionAccounts(t, s)
	n := 100
	for _, f := range sessionTextFields {
		for _, u := range unstorable {
			n++
			ss := newSession(sessionID("unstorable", f.name, u.name), n, "bob", "bob", svcCPanel)
			id := ss.IDHash
			f.set(&ss, u.v)
			wantNoSession(t, s, "before create", id)
			err := s.CreateSession(ctx, ss)
			wantErr(t, fmt.Sprintf("CreateSession with %s in %s", u.name, f.name), err, store.ErrInvalid)
			if err != nil && strings.Contains(err.Error(), u.v) {
				t.Errorf("the refusal quotes the value: %v", err)
			}
			wantNoSession(t, s, "a refused session", id)
			wantNoSession(t, s, "a refused session by its bad IDHash", ss.IDHash)
		}
	}
	if ids := listSessionIDs(t, s, ""); len(ids) != 0 {
		t.Fatalf("refused sessions were stored: %d", len(ids))
	}
	// The token numbers of refused sessions are free.
	mustCreateSession(t, s, newSession(sessionID("free"), 101, "bob", "bob", svcCPanel))

	// Through an update: refused, the session is unchanged.
	orig := newSession(sessionID("orig"), 1, "bob", "bob", svcCPanel)
	mustCreateSession(t, s, orig)
	for _, f := range sessionTextFields {
		for _, u := range unstorable {
			_, err := s.UpdateSession(ctx, orig.IDHash, func(x store.Session) (store.Session, error) {
				f.set(&x, u.v)
				x.TFAVerified = true
				return x, nil
			})
			wantErr(t, fmt.Sprintf("UpdateSession with %s in %s", u.name, f.name), err, store.ErrInvalid)
		}
	}
	checkStoredSession(t, s, "after refused updates", orig)

	// A key that no session can have finds nothing.
	for _, u := range unstorable {
		what := "lookup by " + u.name
		wantNoSession(t, s, what, u.v)
		wantNoSession(t, s, what, orig.IDHash+u.v)
		called := false
		_, err := s.UpdateSession(ctx, u.v, func(x store.Session) (store.Session, error) {
			called = true
			return x, nil
		})
		wantErr(t, what+": UpdateSession", err, store.ErrNotFound)
		if called {
			t.Errorf("%s: UpdateSession called the updater", what)
		}
		wantErr(t, what+": TouchSession", s.TouchSession(ctx, u.v, at(1000)), store.ErrNotFound)
		wantErr(t, what+": DeleteSession", s.DeleteSession(ctx, u.v), store.ErrNotFound)
		_, err = s.ConsumeSession(ctx, u.v)
		wantErr(t, what+": ConsumeSession", err, store.ErrNotFound)
		if n, err := s.DeleteUserSessions(ctx, u.v, ""); n != 0 || err != nil {
			t.Errorf("%s: DeleteUserSessions = %d, %v; want 0, nil", what, n, err)
		}
		if n, err := s.DeleteAccountSessions(ctx, u.v); n != 0 || err != nil {
			t.Errorf("%s: DeleteAccountSessions = %d, %v; want 0, nil", what, n, err)
		}
		if ss, err := s.ListSessions(ctx, u.v); len(ss) != 0 || err != nil {
			t.Errorf("%s: ListSessions = %d sessions, %v; want none, nil", what, len(ss), err)
		}
	}
	checkStoredSession(t, s, "after lookups by unstorable keys", orig)
	// keep, unstorable, keeps nothing.
	if n, err := s.DeleteUserSessions(ctx, "bob", orig.IDHash+"\x00"); n != 2 || err != nil {
		t.Errorf("DeleteUserSessions(bob, unstorable keep) = %d, %v; want 2, nil", n, err)
	}
	wantNoSession(t, s, "after DeleteUserSessions with an unstorable keep", orig.IDHash)
}

func testSessionInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	sessionAccounts(t, s)
	long := strings.Repeat("k", store.MaxSessionKeyLen+1)
	cases := map[string]func(*store.Session){
		"no kind":               func(x *store.Session) { x.Kind = "" },
		"unknown kind":          func(x *store.Session) { x.Kind = "preauth" },
		"kind case":             func(x *store.Session) { x.Kind = "Normal" },
		"no service":            func(x *store.Session) { x.Service = "" },
		"token service":         func(x *store.Session) { x.Service = store.TokenCPanel },
		"service case":          func(x *store.Session) { x.Service = "CPANELD" },
		"unknown service":       func(x *store.Session) { x.Service = "cpdavd" },
		"no IDHash":             func(x *store.Session) { x.IDHash = "" },
		"no Username":           func(x *store.Session) { x.Username = "" },
		"no SecurityToken":      func(x *store.Session) { x.SecurityToken = "" },
		"long IDHash":           func(x *store.Session) { x.IDHash = long },
		"long Username":         func(x *store.Session) { x.Username = long },
		"long SecurityToken":    func(x *store.Session) { x.SecurityToken = long },
		"negative IdleTimeout":  func(x *store.Session) { x.IdleTimeout = -time.Minute },
		"nanosecond idle":       func(x *store.Session) { x.IdleTimeout = time.Nanosecond },
		"sub-microsecond idle":  func(x *store.Session) { x.IdleTimeout = 999 * time.Nanosecond },
		"Created in year 10000": func(x *store.Session) { x.Created = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"LastSeen before year 1": func(x *store.Session) {
			x.LastSeen = time.Date(0, 12, 31, 23, 59, 59, 0, time.UTC)
		},
		"Expires far away": func(x *store.Session) { x.Expires = time.Unix(1<<60, 0) },
		"NotAfter in year 10000": func(x *store.Session) {
			x.NotAfter = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		},
		"NotAfter at the epoch":     func(x *store.Session) { x.NotAfter = time.Unix(0, 0) },
		"an empty AllowedIPs entry": func(x *store.Session) { x.AllowedIPs = []string{"192.0.2.1", ""} },
		"long Passkey":              func(x *store.Session) { x.Passkey = make([]byte, store.MaxPasskeyIDLen+1) },
	}
	n := 0
	for name, change := range cases {
		n++
		ss := newSession(sessionID("invalid", name), n, "bob", "bob", svcCPanel)
		id := ss.IDHash
		change(&ss)
		wantNoSession(t, s, "before create", id)
		wantErr(t, "CreateSession with "+name, s.CreateSession(ctx, ss), store.ErrInvalid)
		wantNoSession(t, s, "CreateSession with "+name, id)
	}
	if ids := listSessionIDs(t, s, "bob"); len(ids) != 0 {
		t.Errorf("refused sessions were stored: %d", len(ids))
	}

	// At the bounds: accepted.
	edge := strings.Repeat("k", store.MaxSessionKeyLen)
	for name, change := range map[string]func(*store.Session){
		"longest IDHash":        func(x *store.Session) { x.IDHash = edge },
		"longest Username":      func(x *store.Session) { x.Username = edge },
		"longest SecurityToken": func(x *store.Session) { x.SecurityToken = edge },
		"microsecond idle":      func(x *store.Session) { x.IdleTimeout = time.Microsecond },
		"year 9999": func(x *store.Session) {
			x.Expires = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
		},
		"year 1": func(x *store.Session) { x.Created = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC) },
	} {
		n++
		ss := newSession(sessionID("edge", name), n, "bob", "bob", svcCPanel)
		change(&ss)
		wantNoSession(t, s, "before create", ss.IDHash)
		if err := s.CreateSession(ctx, ss); err != nil {
			t.Errorf("CreateSession with the %s: %v", name, err)
			continue
		}
		checkStoredSession(t, s, name, ss)
	}

	// Times the store cannot keep are refused by a touch and a purge too.
	orig := newSession(sessionID("orig"), 1000, "carol", "carol", svcCPanel)
	mustCreateSession(t, s, orig)
	wantErr(t, "TouchSession in year 10000", s.TouchSession(ctx, orig.IDHash, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)), store.ErrInvalid)
	_, err := s.PurgeSessions(ctx, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))
	wantErr(t, "PurgeSessions in year 10000", err, store.ErrInvalid)
	checkStoredSession(t, s, "after refused touch and purge", orig)
}

func testSessionTimes(t *testing.T, s store.Store) {
	sessionAccounts(t, s)
	cases := []struct {
		name                      string
		created, lastSeen, expire time.Time
		idle                      time.Duration
		exact                     bool
	}{
		{"zero", time.Time{}, time.Time{}, time.Time{}, 0, true},
		{"micro", atMicro(1, 1), atMicro(2, 999999), atMicro(3, 500000), time.Microsecond, true},
		{"utc", time.Date(2024, 2, 29, 23, 59, 59, 123456000, time.UTC), time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2038, 1, 19, 3, 14, 8, 1000, time.UTC), 12 * time.Hour, true},
		{"local", time.Date(2025, 6, 1, 12, 0, 0, 7000, time.Local), time.Date(1999, 12, 31, 23, 59, 59, 0, time.Local), time.Date(2099, 12, 31, 23, 59, 59, 999999000, time.Local), 15 * time.Minute, true},
		{"epoch", time.Unix(0, 0), time.Unix(0, 0), time.Unix(0, 0), time.Hour, true},
		{"beforeepoch", time.Unix(-86400, 1000), time.Unix(-1, 0), time.Unix(-1, 999999000), 24 * time.Hour, true},
		{"longidle", atMicro(0, 0), atMicro(0, 0), atMicro(0, 0), 100 * 365 * 24 * time.Hour, true},
		{"nanoseconds", time.Date(2025, 1, 2, 3, 4, 5, 123456789, zone), time.Date(2025, 1, 2, 3, 4, 5, 1, zone), time.Date(2030, 1, 2, 3, 4, 5, 999999999, time.UTC), 30*time.Minute + 999*time.Nanosecond, false},
	}
	for i, c := range cases {
		ss := newSession(sessionID("times", c.name), i, "bob", "bob", svcCPanel)
		ss.Created, ss.LastSeen, ss.Expires, ss.IdleTimeout = c.created, c.lastSeen, c.expire, c.idle
		mustCreateSession(t, s, ss)
		if c.exact {
			checkStoredSession(t, s, c.name, ss)
			if c.name == "zero" {
				got, _ := s.GetSession(t.Context(), ss.IDHash)
				if !got.Created.IsZero() || !got.LastSeen.IsZero() || !got.Expires.IsZero() {
					t.Errorf("zero times read back as %v, %v, %v", got.Created, got.LastSeen, got.Expires)
				}
			}
			continue
		}
		got, err := s.GetSession(t.Context(), ss.IDHash)
		if err != nil {
			t.Fatalf("GetSession(%s): %v", c.name, err)
		}
		for _, p := range [][2]time.Time{{got.Created, ss.Created}, {got.LastSeen, ss.LastSeen}, {got.Expires, ss.Expires}} {
			if d := p[0].Sub(p[1]); d <= -time.Microsecond || d >= time.Microsecond {
				t.Errorf("%s: got %v, want %v within a microsecond", c.name, p[0], p[1])
			}
		}
		if got.IdleTimeout != 30*time.Minute {
			t.Errorf("%s: IdleTimeout %v, want 30m (kept to the microsecond)", c.name, got.IdleTimeout)
		}
	}
}

func testSessionDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	sessionAccounts(t, s)
	orig := newSession(sessionID("orig"), 1, "bob", "bob", svcCPanel)
	mustCreateSession(t, s, orig)

	// The same IDHash, for another user, token and service.
	dup := newSession(orig.IDHash, 2, "carol", "carol", svcWebmail)
	wantErr(t, "duplicate IDHash", s.CreateSession(ctx, dup), store.ErrExists)
	// The same security token under another IDHash.
	sameToken := newSession(sessionID("same token"), 1, "carol", "carol", svcCPanel)
	wantNoSession(t, s, "before the duplicate token", sameToken.IDHash)
	wantErr(t, "duplicate security token", s.CreateSession(ctx, sameToken), store.ErrExists)
	wantNoSession(t, s, "a refused duplicate token", sameToken.IDHash)
	if ids := listSessionIDs(t, s, "carol"); len(ids) != 0 {
		t.Errorf("refused duplicates were stored for carol: %d", len(ids))
	}
	checkStoredSession(t, s, "the original", orig)

	// What the refused sessions did not take is free.
	free := newSession(sessionID("free"), 2, "carol", "carol", svcWebmail)
	wantNoSession(t, s, "before create", free.IDHash)
	mustCreateSession(t, s, free)
	checkStoredSession(t, s, "the refused duplicate's token", free)
	// Security tokens are compared exactly.
	similar := newSession(sessionID("similar"), 3, "bob", "bob", svcCPanel)
	similar.SecurityToken = strings.ToUpper(orig.SecurityToken)
	mustCreateSession(t, s, similar)
	checkStoredSession(t, s, "a token in another case", similar)
}

func testSessionUnknownAccount(t *testing.T, s store.Store) {
	ctx := t.Context()
	sessionAccounts(t, s)
	for i, account := range []string{"nobody", "BOB", "", "bob "} {
		ss := newSession(sessionID("unknown", account), i, "bob", account, svcCPanel)
		wantNoSession(t, s, "before create", ss.IDHash)
		wantErr(t, fmt.Sprintf("CreateSession for account %q", account), s.CreateSession(ctx, ss), store.ErrNotFound)
		wantNoSession(t, s, "a session of an unknown account", ss.IDHash)
	}
	if ids := listSessionIDs(t, s, ""); len(ids) != 0 {
		t.Errorf("sessions of unknown accounts were stored: %d", len(ids))
	}
	// Once the account exists, the same session can be created.
	mustCreateAccount(t, s, newAccount("nobody", "nobody.example.com"))
	ss := newSession(sessionID("unknown", "nobody"), 0, "nobody", "nobody", svcCPanel)
	mustCreateSession(t, s, ss)
	checkStoredSession(t, s, "after the account was created", ss)
}

func testSessionNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	sessionAccounts(t, s)
	ss := newSession(sessionID("known"), 1, "bob", "bob", svcCPanel)
	mustCreateSession(t, s, ss)
	for _, id := range []string{sessionID("unknown"), "", strings.ToUpper(ss.IDHash), ss.IDHash[1:], ss.SecurityToken} {
		wantNoSession(t, s, "unknown IDHash", id)
		called := false
		_, err := s.UpdateSession(ctx, id, func(x store.Session) (store.Session, error) {
			called = true
			return x, nil
		})
		wantErr(t, "UpdateSession", err, store.ErrNotFound)
		if called {
			t.Error("UpdateSession called the updater for an unknown session")
		}
		wantErr(t, "TouchSession", s.TouchSession(ctx, id, at(1000)), store.ErrNotFound)
		wantErr(t, "DeleteSession", s.DeleteSession(ctx, id), store.ErrNotFound)
		_, err = s.ConsumeSession(ctx, id)
		wantErr(t, "ConsumeSession", err, store.ErrNotFound)
		wantNoSession(t, s, "after the attempts", id)
	}
	checkStoredSession(t, s, "the known session", ss)
	if n, err := s.DeleteUserSessions(ctx, "nobody", ""); n != 0 || err != nil {
		t.Errorf("DeleteUserSessions of an unknown user = %d, %v", n, err)
	}
	if n, err := s.DeleteAccountSessions(ctx, "nobody"); n != 0 || err != nil {
		t.Errorf("DeleteAccountSessions of an unknown account = %d, %v", n, err)
	}
	if n, err := s.DeleteAccountSessions(ctx, ""); n != 0 || err != nil {
		t.Errorf("DeleteAccountSessions(\"\") = %d, %v", n, err)
	}
	checkStoredSession(t, s, "the known session at the end", ss)
}

func testSessionList(t *testing.T, s store.Store) {
	ctx := t.Context()
	sessionAccounts(t, s)
	if ss, err := s.ListSessions(ctx, ""); err != nil || len(ss) != 0 {
		t.Fatalf("ListSessions on no sessions = %v, %v", ss, err)
	}
	if ss, err := s.ListSessions(ctx, "nobody"); err != nil || len(ss) != 0 {
		t.Errorf("ListSessions of an unknown account = %v, %v", ss, err)
	}
	// Created, then IDHash byte-wise (upper case first), whatever the zone.
	mk := func(id string, n int, username, account, service string, created time.Time) store.Session {
		ss := newSession(id, n, username, account, service)
		ss.Created = created
		return ss
	}
	all := []store.Session{
		mk("id-b", 1, "bob", "bob", svcCPanel, atMicro(10, 0)),
		mk("id-a", 2, webmailUser, "bob", svcWebmail, atMicro(10, 0).In(time.UTC)),
		mk("id-B", 3, "bob", "bob", svcCPanel, atMicro(10, 0)),
		mk("id-z", 4, "bob", "bob", svcCPanel, atMicro(9, 999999)),
		mk("id-0", 5, webmailUser, "bob", svcWebmail, atMicro(10, 1)),
		mk("id-c", 6, "carol", "carol", svcCPanel, atMicro(5, 0)),
		mk("id-r", 7, "root", "root", svcWHM, atMicro(20, 0)),
		mk("id-e", 8, "bob", "bob", svcCPanel, time.Time{}),
	}
	byID := map[string]store.Session{}
	for _, ss := range all {
		mustCreateSession(t, s, ss)
		byID[ss.IDHash] = ss
	}
	for _, c := range []struct {
		account string
		want    []string
	}{
		{"bob", []string{"id-e", "id-z", "id-B", "id-a", "id-b", "id-0"}},
		{"carol", []string{"id-c"}},
		{"root", []string{"id-r"}},
		{"res1", nil},
		{"", []string{"id-e", "id-c", "id-z", "id-B", "id-a", "id-b", "id-0", "id-r"}},
	} {
		ss, err := s.ListSessions(ctx, c.account)
		if err != nil {
			t.Fatalf("ListSessions(%q): %v", c.account, err)
		}
		if got := sessionIDs(ss); !slices.Equal(got, c.want) {
			t.Errorf("ListSessions(%q) = %q, want %q", c.account, got, c.want)
		}
		for _, x := range ss {
			checkSession(t, "listed "+x.IDHash, x, byID[x.IDHash])
		}
	}
}

func testSessionUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	sessionAccounts(t, s)
	orig := oneTimeSession(sessionID("orig"), 1, webmailUser, "bob", svcWebmail)
	other := newSession(sessionID("other"), 2, webmailUser, "bob", svcWebmail)
	for _, ss := range []store.Session{orig, other} {
		mustCreateSession(t, s, ss)
		checkStoredSession(t, s, "before", ss)
	}

	want := orig
	want.Kind = store.SessionNormal
	want.SecurityToken = cpsess(3)
	want.Creator = "bob"
	want.Origin = "2001:db8::1"
	want.Method = "handle_form_login"
	want.TFAVerified = false
	want.Locale = "de"
	want.GotoURI = ""
	want.Created = atMicro(1000, 1)
	want.LastSeen = atMicro(1001, 2)
	want.IdleTimeout = 0
	want.Expires = atMicro(1002, 3)
	got, err := s.UpdateSession(ctx, orig.IDHash, func(x store.Session) (store.Session, error) {
		checkSession(t, "updater input", x, orig)
		id, user, account, service := x.IDHash, x.Username, x.Account, x.Service
		x = want
		x.IDHash, x.Username, x.Account, x.Service = id, user, account, service
		return x, nil
	})
	if err != nil {
		t.Fatalf("UpdateSession: %v", err)
	}
	checkSession(t, "UpdateSession result", got, want)
	checkStoredSession(t, s, "after UpdateSession", want)
	checkStoredSession(t, s, "the other session", other)
	// The old security token is free again.
	reuse := newSession(sessionID("reuse"), 1, "bob", "bob", svcCPanel)
	mustCreateSession(t, s, reuse)

	// A failing updater stores nothing.
	_, err = s.UpdateSession(ctx, orig.IDHash, func(x store.Session) (store.Session, error) {
		x.TFAVerified = true
		return x, errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Errorf("UpdateSession with a failing updater: error %v, want %v", err, errBoom)
	}
	checkStoredSession(t, s, "after an aborted update", want)

	// Onto a taken security token: ErrExists, nothing changes.
	_, err = s.UpdateSession(ctx, orig.IDHash, func(x store.Session) (store.Session, error) {
		x.SecurityToken = other.SecurityToken
		x.TFAVerified = true
		return x, nil
	})
	wantErr(t, "UpdateSession onto a taken token", err, store.ErrExists)
	checkStoredSession(t, s, "after the refused token change", want)

	// The key may not change.
	newID := sessionID("new id")
	wantNoSession(t, s, "the new IDHash before", newID)
	for name, change := range map[string]func(*store.Session){
		"IDHash":   func(x *store.Session) { x.IDHash = newID },
		"Username": func(x *store.Session) { x.Username = "bob" },
		"Account":  func(x *store.Session) { x.Account = "carol" },
		"Service":  func(x *store.Session) { x.Service = svcCPanel },
		// What a token bounded a session by stays with it (D24).
		"AllowedIPs":         func(x *store.Session) { x.AllowedIPs = nil },
		"AllowedIPs entries": func(x *store.Session) { x.AllowedIPs = []string{"0.0.0.0/0"} },
		"NotAfter":           func(x *store.Session) { x.NotAfter = time.Time{} },
		"RequireOTP":         func(x *store.Session) { x.RequireOTP = false },
	} {
		_, err := s.UpdateSession(ctx, orig.IDHash, func(x store.Session) (store.Session, error) {
			change(&x)
			x.TFAVerified = true
			return x, nil
		})
		wantErr(t, "UpdateSession changing the "+name, err, store.ErrInvalid)
	}
	checkStoredSession(t, s, "after refused key changes", want)
	wantNoSession(t, s, "the refused new IDHash", newID)
	if ids := listSessionIDs(t, s, "carol"); len(ids) != 0 {
		t.Errorf("a refused account change moved a session to carol")
	}
}

func testSessionTouch(t *testing.T, s store.Store) {
	ctx := t.Context()
	sessionAccounts(t, s)
	ss := newSession(sessionID("touched"), 1, "bob", "bob", svcCPanel)
	other := newSession(sessionID("other"), 2, "bob", "bob", svcCPanel)
	for _, x := range []store.Session{ss, other} {
		mustCreateSession(t, s, x)
		checkStoredSession(t, s, "before", x)
	}
	want := ss
	for i, use := range []struct {
		when, want time.Time
	}{
		{atMicro(500, 654321), atMicro(500, 654321)},
		{atMicro(560, 1).In(time.UTC), atMicro(560, 1)},
		{atMicro(560, 1), atMicro(560, 1)}, // the same time again
		{atMicro(400, 0), atMicro(560, 1)}, // older: LastSeen stays
		{time.Time{}, atMicro(560, 1)},     // far older
		{atMicro(620, 999999), atMicro(620, 999999)},
	} {
		if err := s.TouchSession(ctx, ss.IDHash, use.when); err != nil {
			t.Fatalf("TouchSession %d: %v", i, err)
		}
		want.LastSeen = use.want
		checkStoredSession(t, s, fmt.Sprintf("after touch %d", i), want)
		checkStoredSession(t, s, fmt.Sprintf("the other session after touch %d", i), other)
	}
	// An update after a touch keeps the touch unless the updater changes
	// it, and the updater may set LastSeen back.
	want.Locale = "pt_br"
	if _, err := s.UpdateSession(ctx, ss.IDHash, func(x store.Session) (store.Session, error) {
		x.Locale = "pt_br"
		return x, nil
	}); err != nil {
		t.Fatalf("UpdateSession: %v", err)
	}
	checkStoredSession(t, s, "after touch and update", want)
	want.LastSeen = at(0)
	if _, err := s.UpdateSession(ctx, ss.IDHash, func(x store.Session) (store.Session, error) {
		x.LastSeen = at(0)
		return x, nil
	}); err != nil {
		t.Fatalf("UpdateSession: %v", err)
	}
	checkStoredSession(t, s, "after an update set LastSeen back", want)

	if err := s.DeleteSession(ctx, ss.IDHash); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "TouchSession of a deleted session", s.TouchSession(ctx, ss.IDHash, at(9999)), store.ErrNotFound)
	wantNoSession(t, s, "after the touch of a deleted session", ss.IDHash)
}

func testSessionDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	sessionAccounts(t, s)
	gone := newSession(sessionID("gone"), 1, "bob", "bob", svcCPanel)
	kept := newSession(sessionID("kept"), 2, "bob", "bob", svcCPanel)
	for _, ss := range []store.Session{gone, kept} {
		mustCreateSession(t, s, ss)
		checkStoredSession(t, s, "before", ss)
	}
	if err := s.DeleteSession(ctx, gone.IDHash); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	wantNoSession(t, s, "after delete", gone.IDHash)
	wantErr(t, "DeleteSession twice", s.DeleteSession(ctx, gone.IDHash), store.ErrNotFound)
	_, err := s.ConsumeSession(ctx, gone.IDHash)
	wantErr(t, "ConsumeSession of a deleted session", err, store.ErrNotFound)
	checkStoredSession(t, s, "the other session", kept)
	if ids := listSessionIDs(t, s, "bob"); !slices.Equal(ids, []string{kept.IDHash}) {
		t.Errorf("ListSessions after delete = %q", ids)
	}
	if _, err := s.GetAccount(ctx, "bob"); err != nil {
		t.Errorf("GetAccount after DeleteSession: %v", err)
	}
	// The IDHash and the token can be used again.
	mustCreateSession(t, s, gone)
	checkStoredSession(t, s, "created again", gone)
}

func testSessionConsume(t *testing.T, s store.Store) {
	ctx := t.Context()
	sessionAccounts(t, s)
	for i, ss := range []store.Session{
		oneTimeSession(sessionID("sso"), 1, "bob", "bob", svcCPanel),
		newSession(sessionID("normal"), 2, "root", "root", svcWHM),
	} {
		kept := newSession(sessionID("kept", strconv.Itoa(i)), 10+i, ss.Username, ss.Account, ss.Service)
		for _, x := range []store.Session{ss, kept} {
			mustCreateSession(t, s, x)
			checkStoredSession(t, s, "before", x)
		}
		got, err := s.ConsumeSession(ctx, ss.IDHash)
		if err != nil {
			t.Fatalf("ConsumeSession(%s): %v", ss.Kind, err)
		}
		checkSession(t, "ConsumeSession result", got, ss)
		wantNoSession(t, s, "after consume", ss.IDHash)
		_, err = s.ConsumeSession(ctx, ss.IDHash)
		wantErr(t, "ConsumeSession twice", err, store.ErrNotFound)
		wantErr(t, "DeleteSession after consume", s.DeleteSession(ctx, ss.IDHash), store.ErrNotFound)
		wantErr(t, "TouchSession after consume", s.TouchSession(ctx, ss.IDHash, at(5000)), store.ErrNotFound)
		checkStoredSession(t, s, "the other session", kept)
		// The token is free for the normal session that replaces it.
		next := newSession(sessionID("next", strconv.Itoa(i)), 0, ss.Username, ss.Account, ss.Service)
		next.SecurityToken = ss.SecurityToken
		mustCreateSession(t, s, next)
		checkStoredSession(t, s, "the replacing session", next)
	}
}

func testSessionDeleteUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	sessionAccounts(t, s)
	var (
		bob1    = newSession(sessionID("bob1"), 1, "bob", "bob", svcCPanel)
		bob2    = newSession(sessionID("bob2"), 2, "bob", "bob", svcCPanel)
		bob3    = oneTimeSession(sessionID("bob3"), 3, "bob", "bob", svcCPanel)
		mail1   = newSession(sessionID("mail1"), 4, webmailUser, "bob", svcWebmail)
		mail2   = newSession(sessionID("mail2"), 5, webmailUser, "bob", svcWebmail)
		carol   = newSession(sessionID("carol"), 6, "carol", "carol", svcCPanel)
		res1    = newSession(sessionID("res1"), 7, "res1", "res1", svcWHM)
		upper   = newSession(sessionID("BOB"), 8, "BOB", "bob", svcCPanel)
		all     = []store.Session{bob1, bob2, bob3, mail1, mail2, carol, res1, upper}
		deleted = map[string]bool{}
	)
	for _, ss := range all {
		mustCreateSession(t, s, ss)
		checkStoredSession(t, s, "before", ss)
	}
	check := func(step string) {
		t.Helper()
		for _, ss := range all {
			if deleted[ss.IDHash] {
				wantNoSession(t, s, step+": deleted "+ss.Username, ss.IDHash)
			} else {
				checkStoredSession(t, s, step+": kept "+ss.Username, ss)
			}
		}
	}
	del := func(step, username, keep string, want int, gone ...store.Session) {
		t.Helper()
		n, err := s.DeleteUserSessions(ctx, username, keep)
		if err != nil || n != want {
			t.Errorf("%s: DeleteUserSessions(%q) = %d, %v; want %d", step, username, n, err, want)
		}
		for _, ss := range gone {
			deleted[ss.IDHash] = true
		}
		check(step)
	}
	del("keep one", "bob", bob2.IDHash, 2, bob1, bob3)
	del("keep one again", "bob", bob2.IDHash, 0)
	del("keep another user's", "carol", res1.IDHash, 1, carol)
	del("keep none", "bob", "", 1, bob2)
	del("a Webmail user", webmailUser, "", 2, mail1, mail2)
	del("an unknown user", "nobody", "", 0)
	del("the account's name", "BOB", "", 1, upper)
	if _, err := s.GetAccount(ctx, "bob"); err != nil {
		t.Errorf("GetAccount after DeleteUserSessions: %v", err)
	}
}

func testSessionDeleteAccount(t *testing.T, s store.Store) {
	ctx := t.Context()
	sessionAccounts(t, s)
	bobs := []store.Session{
		newSession(sessionID("bob1"), 1, "bob", "bob", svcCPanel),
		oneTimeSession(sessionID("bob2"), 2, "bob", "bob", svcCPanel),
		newSession(sessionID("mail1"), 3, webmailUser, "bob", svcWebmail),
		oneTimeSession(sessionID("mail2"), 4, "sales@bob.example.com", "bob", svcWebmail),
	}
	others := []store.Session{
		newSession(sessionID("carol"), 5, "carol", "carol", svcCPanel),
		// Another account's session whose username happens to be bob's.
		newSession(sessionID("res1"), 6, "bob", "res1", svcWHM),
	}
	for _, ss := range append(slices.Clone(bobs), others...) {
		mustCreateSession(t, s, ss)
		checkStoredSession(t, s, "before", ss)
	}
	if n, err := s.DeleteAccountSessions(ctx, "bob"); err != nil || n != len(bobs) {
		t.Errorf("DeleteAccountSessions(bob) = %d, %v; want %d", n, err, len(bobs))
	}
	for _, ss := range bobs {
		wantNoSession(t, s, "after DeleteAccountSessions", ss.IDHash)
	}
	for _, ss := range others {
		checkStoredSession(t, s, "another account's session", ss)
	}
	if ids := listSessionIDs(t, s, "bob"); len(ids) != 0 {
		t.Errorf("ListSessions(bob) after DeleteAccountSessions = %q", ids)
	}
	if n, err := s.DeleteAccountSessions(ctx, "bob"); err != nil || n != 0 {
		t.Errorf("DeleteAccountSessions(bob) again = %d, %v; want 0", n, err)
	}
	if _, err := s.GetAccount(ctx, "bob"); err != nil {
		t.Errorf("GetAccount after DeleteAccountSessions: %v", err)
	}
	if _, err := s.GetMailbox(ctx, "info", "bob.example.com"); err != nil {
		t.Errorf("GetMailbox after DeleteAccountSessions: %v", err)
	}
}

func testSessionDeleteAccountCascade(t *testing.T, s store.Store) {
	ctx := t.Context()
	sessionAccounts(t, s)
	bobs := []store.Session{
		newSession(sessionID("bob1"), 1, "bob", "bob", svcCPanel),
		newSession(sessionID("mail1"), 2, webmailUser, "bob", svcWebmail),
		oneTimeSession(sessionID("sso"), 3, "bob", "bob", svcCPanel),
	}
	carols := newSession(sessionID("carol"), 4, "carol", "carol", svcCPanel)
	for _, ss := range append(slices.Clone(bobs), carols) {
		mustCreateSession(t, s, ss)
		checkStoredSession(t, s, "before", ss)
	}
	if err := s.DeleteAccount(ctx, "bob"); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	for _, ss := range bobs {
		wantNoSession(t, s, "after DeleteAccount", ss.IDHash)
		wantErr(t, "TouchSession after DeleteAccount", s.TouchSession(ctx, ss.IDHash, at(5000)), store.ErrNotFound)
	}
	if ids := listSessionIDs(t, s, "bob"); len(ids) != 0 {
		t.Errorf("ListSessions(bob) after DeleteAccount = %q", ids)
	}
	checkStoredSession(t, s, "carol's session", carols)

	// A new account of the same name starts without sessions.
	mustCreateAccount(t, s, newAccount("bob", "bob.example.com"))
	if ids := listSessionIDs(t, s, "bob"); len(ids) != 0 {
		t.Errorf("ListSessions of the new bob = %q", ids)
	}
	wantNoSession(t, s, "the old bob's session", bobs[0].IDHash)
	mustCreateSession(t, s, bobs[0])
	checkStoredSession(t, s, "the new bob's session", bobs[0])
}

func testSessionPurge(t *testing.T, s store.Store) {
	ctx := t.Context()
	sessionAccounts(t, s)
	if ended, err := s.PurgeSessions(ctx, at(0)); err != nil || len(ended) != 0 {
		t.Errorf("PurgeSessions on no sessions = %d, %v", len(ended), err)
	}
	now := atMicro(100000, 0)
	future := now.Add(time.Hour)
	type c struct {
		expires, lastSeen time.Time
		idle              time.Duration
		purged            bool
	}
	cases := map[string]c{
		"expired":      {now.Add(-time.Microsecond), now, 0, true},
		"expiresatcut": {now, now, 0, false},
		"noidlelimit":  {future, at(-100000), 0, false},
		"idle":         {future, now.Add(-30*time.Minute - time.Microsecond), 30 * time.Minute, true},
		"idleatcut":    {future, now.Add(-30 * time.Minute), 30 * time.Minute, false},
		"active":       {future, now.Add(-29 * time.Minute), 30 * time.Minute, false},
		"both":         {now.Add(-time.Hour), now.Add(-time.Hour), time.Minute, true},
		"zerolastseen": {future, time.Time{}, time.Hour, true},
		"zeroexpires":  {time.Time{}, now, time.Hour, true},
		"seenlater":    {future, now.Add(time.Hour), time.Microsecond, false},
	}
	var all []store.Session
	n := 0
	for name, x := range cases {
		// Spread over accounts, users and services: the purge is store-wide.
		n++
		ss := newSession(sessionID("purge", name), n, []string{"root", "res1", "bob", webmailUser}[n%4],
			[]string{"root", "res1", "bob", "bob"}[n%4], []string{svcWHM, svcWHM, svcCPanel, svcWebmail}[n%4])
		ss.Expires, ss.LastSeen, ss.IdleTimeout = x.expires, x.lastSeen, x.idle
		ss.Creator = name
		mustCreateSession(t, s, ss)
		checkStoredSession(t, s, "before the purge", ss)
		all = append(all, ss)
	}
	// What the purge returns: each purged session, with the fields a log
	// line names.
	wantEnded := map[string]store.Session{}
	for _, ss := range all {
		if cases[ss.Creator].purged {
			wantEnded[ss.IDHash] = store.Session{IDHash: ss.IDHash, Username: ss.Username, Account: ss.Account, Service: ss.Service}
		}
	}
	want := len(wantEnded)
	ended, err := s.PurgeSessions(ctx, now)
	if err != nil || len(ended) != want {
		t.Errorf("PurgeSessions(now) = %d, %v; want %d", len(ended), err, want)
	}
	for _, e := range ended {
		if w, ok := wantEnded[e.IDHash]; !ok || !reflect.DeepEqual(e, w) {
			t.Errorf("PurgeSessions(now) returned %+v; want %+v", e, w)
		}
		delete(wantEnded, e.IDHash)
	}
	for _, ss := range all {
		if cases[ss.Creator].purged {
			wantNoSession(t, s, "purged "+ss.Creator, ss.IDHash)
		} else {
			checkStoredSession(t, s, "kept "+ss.Creator, ss)
		}
	}
	if again, err := s.PurgeSessions(ctx, now); err != nil || len(again) != 0 {
		t.Errorf("PurgeSessions(now) again = %d, %v; want 0", len(again), err)
	}
	// A far cut-off takes every session (every one expires).
	if far, err := s.PurgeSessions(ctx, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil || len(far) != len(all)-want {
		t.Errorf("PurgeSessions(far) = %d, %v; want %d", len(far), err, len(all)-want)
	}
	if ids := listSessionIDs(t, s, ""); len(ids) != 0 {
		t.Errorf("sessions left after the far purge: %d", len(ids))
	}
	for _, a := range []string{"root", "res1", "bob"} {
		if _, err := s.GetAccount(ctx, a); err != nil {
			t.Errorf("GetAccount(%s) after the purge: %v", a, err)
		}
	}
}

// Concurrency.

func testConcurrentConsumeSession(t *testing.T, s store.Store) {
	ctx := t.Context()
	sessionAccounts(t, s)
	for round := range 5 {
		ss := oneTimeSession(sessionID("once", strconv.Itoa(round)), round, "bob", "bob", svcCPanel)
		mustCreateSession(t, s, ss)
		checkStoredSession(t, s, "before", ss)
		got := make([]store.Session, workers)
		errs := parallel(func(i int) error {
			var err error
			got[i], err = s.ConsumeSession(ctx, ss.IDHash)
			return err
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("round %d: workers %d and %d both consumed the session", round, winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, store.ErrNotFound):
				t.Errorf("round %d: worker %d: error %v, want %v", round, i, err, store.ErrNotFound)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no worker consumed the session", round)
		}
		checkSession(t, fmt.Sprintf("round %d: what the winner got", round), got[winner], ss)
		wantNoSession(t, s, "after the race", ss.IDHash)
	}
}

func testConcurrentCreateSession(t *testing.T, s store.Store) {
	ctx := t.Context()
	sessionAccounts(t, s)

	// Distinct sessions: all succeed.
	distinct := func(i int) store.Session {
		return newSession(sessionID("distinct", strconv.Itoa(i)), i, []string{"bob", webmailUser}[i%2], "bob",
			[]string{svcCPanel, svcWebmail}[i%2])
	}
	for i := range workers {
		wantNoSession(t, s, "before create", distinct(i).IDHash)
	}
	errs := parallel(func(i int) error { return s.CreateSession(ctx, distinct(i)) })
	for i, err := range errs {
		if err != nil {
			t.Errorf("worker %d: %v", i, err)
		}
	}
	if ids := listSessionIDs(t, s, "bob"); len(ids) != workers {
		t.Errorf("ListSessions = %d sessions, want %d", len(ids), workers)
	}
	for i := range workers {
		checkStoredSession(t, s, "created concurrently", distinct(i))
	}

	// One IDHash, distinct tokens: exactly one wins.
	sameID := func(i int) store.Session {
		return newSession(sessionID("same id"), 100+i, "carol", "carol", svcCPanel)
	}
	errs = parallel(func(i int) error { return s.CreateSession(ctx, sameID(i)) })
	checkStoredSession(t, s, "the IDHash's winner", sameID(oneWinner(t, "the IDHash", errs)))

	// One token, distinct IDHashes: exactly one wins.
	sameToken := func(i int) store.Session {
		return newSession(sessionID("same token", strconv.Itoa(i)), 200, "root", "root", svcWHM)
	}
	errs = parallel(func(i int) error { return s.CreateSession(ctx, sameToken(i)) })
	winner := oneWinner(t, "the token", errs)
	for i := range workers {
		if i == winner {
			checkStoredSession(t, s, "the token's winner", sameToken(i))
		} else {
			wantNoSession(t, s, fmt.Sprintf("loser %d", i), sameToken(i).IDHash)
		}
	}
}

func testConcurrentUpdateSession(t *testing.T, s store.Store) {
	ctx := t.Context()
	sessionAccounts(t, s)
	ss := newSession(sessionID("counter"), 1, "bob", "bob", svcCPanel)
	ss.Locale = "0"
	mustCreateSession(t, s, ss)
	checkStoredSession(t, s, "before", ss)
	errs := parallel(func(int) error {
		_, err := s.UpdateSession(ctx, ss.IDHash, func(x store.Session) (store.Session, error) {
			n, err := strconv.Atoi(x.Locale)
			if err != nil {
				return x, err
			}
			x.Locale = strconv.Itoa(n + 1)
			return x, nil
		})
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("worker %d: %v", i, err)
		}
	}
	got, err := s.GetSession(ctx, ss.IDHash)
	if err != nil || got.Locale != strconv.Itoa(workers) {
		t.Errorf("counter = %q, %v after %d concurrent increments: updates were lost", got.Locale, err, workers)
	}

	// Concurrent touches leave the latest time, whatever their order.
	errs = parallel(func(i int) error { return s.TouchSession(ctx, ss.IDHash, atMicro(1000, int64(i))) })
	for i, err := range errs {
		if err != nil {
			t.Errorf("touch %d: %v", i, err)
		}
	}
	if got, err := s.GetSession(ctx, ss.IDHash); err != nil || !got.LastSeen.Equal(atMicro(1000, workers-1)) {
		t.Errorf("LastSeen after concurrent touches = %v, %v; want %v", got.LastSeen, err, atMicro(1000, workers-1))
	}
}

// testConcurrentSessionLifecycle creates, reads, touches, updates and ends
// sessions from many goroutines at once.
func testConcurrentSessionLifecycle(t *testing.T, s store.Store) {
	ctx := t.Context()
	sessionAccounts(t, s)
	errs := parallel(func(i int) error {
		for round := range 3 {
			ss := newSession(sessionID("life", strconv.Itoa(i), strconv.Itoa(round)), i*10+round, "bob", "bob", svcCPanel)
			if _, err := s.GetSession(ctx, ss.IDHash); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("round %d: before create: %v", round, err)
			}
			if err := s.CreateSession(ctx, ss); err != nil {
				return fmt.Errorf("round %d: create: %w", round, err)
			}
			if got, err := s.GetSession(ctx, ss.IDHash); err != nil || got.SecurityToken != ss.SecurityToken {
				return fmt.Errorf("round %d: after create: %+v, %v", round, got, err)
			}
			if err := s.TouchSession(ctx, ss.IDHash, at(int64(1000+round))); err != nil {
				return fmt.Errorf("round %d: touch: %w", round, err)
			}
			if _, err := s.UpdateSession(ctx, ss.IDHash, func(x store.Session) (store.Session, error) {
				x.TFAVerified = true
				return x, nil
			}); err != nil {
				return fmt.Errorf("round %d: update: %w", round, err)
			}
			if got, err := s.GetSession(ctx, ss.IDHash); err != nil || !got.TFAVerified || !got.LastSeen.Equal(at(int64(1000+round))) {
				return fmt.Errorf("round %d: after update: %+v, %v", round, got, err)
			}
			var err error
			if round%2 == 0 {
				_, err = s.ConsumeSession(ctx, ss.IDHash)
			} else {
				err = s.DeleteSession(ctx, ss.IDHash)
			}
			if err != nil {
				return fmt.Errorf("round %d: end: %w", round, err)
			}
			if _, err := s.GetSession(ctx, ss.IDHash); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("round %d: after the end: %v", round, err)
			}
		}
		return nil
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("worker %d: %v", i, err)
		}
	}
	if ids := listSessionIDs(t, s, "bob"); len(ids) != 0 {
		t.Errorf("sessions left after the lifecycles: %d", len(ids))
	}
}

// testSessionPasskey: the passkey that made or verified a session reads
// back exactly (nil for none, an empty one as nil), an updater sets it,
// and DeletePasskeySessions ends exactly the sessions of that passkey.
func testSessionPasskey(t *testing.T, s store.Store) {
	ctx := t.Context()
	sessionAccounts(t, s)
	pkA := []byte{0x00, 0x01, 0xfe, 0xff}
	pkB := []byte{0x00, 0x01, 0xfe} // a prefix of pkA: another passkey
	long := make([]byte, store.MaxPasskeyIDLen)
	for i := range long {
		long[i] = byte(i)
	}
	n := 0
	mk := func(name, user, account, svc string, pk []byte) store.Session {
		n++
		ss := newSession(sessionID("passkey", name), n, user, account, svc)
		ss.Passkey = pk
		wantNoSession(t, s, name+" before create", ss.IDHash)
		mustCreateSession(t, s, ss)
		return ss
	}
	for _, tc := range []struct {
		name string
		pk   []byte
	}{
		{"none", nil},
		{"empty", []byte{}},
		{"one byte", []byte{0}},
		{"longest", long},
	} {
		ss := mk("roundtrip "+tc.name, "bob", "bob", svcCPanel, tc.pk)
		checkStoredSession(t, s, "Passkey "+tc.name, ss)
	}

	bobA := mk("bob A", "bob", "bob", svcCPanel, pkA)
	mailA := mk("mail A", webmailUser, "bob", svcWebmail, pkA)
	rootA := mk("root A", "root", "root", svcWHM, pkA)
	bobB := mk("bob B", "bob", "bob", svcCPanel, pkB)
	bobNone := mk("bob none", "bob", "bob", svcCPanel, nil)
	// The code page sets it through an updater.
	verified := mk("verified", "carol", "carol", svcCPanel, nil)
	up, err := s.UpdateSession(ctx, verified.IDHash, func(x store.Session) (store.Session, error) {
		x.TFAVerified, x.Method, x.Passkey = true, "password+webauthn", pkA
		return x, nil
	})
	if err != nil {
		t.Fatalf("UpdateSession setting Passkey: %v", err)
	}
	verified.TFAVerified, verified.Method, verified.Passkey = true, "password+webauthn", pkA
	checkSession(t, "UpdateSession's result", up, verified)
	checkStoredSession(t, s, "after UpdateSession", verified)

	for _, id := range [][]byte{nil, {}, make([]byte, store.MaxPasskeyIDLen+1), {0x42}} {
		if got, err := s.DeletePasskeySessions(ctx, id); len(got) != 0 || err != nil {
			t.Errorf("DeletePasskeySessions(%x) = %+v, %v; want none", id, got, err)
		}
	}
	got, err := s.DeletePasskeySessions(ctx, pkA)
	if err != nil {
		t.Fatalf("DeletePasskeySessions: %v", err)
	}
	want := []store.Session{bobA, mailA, rootA, verified}
	slices.SortFunc(got, func(a, b store.Session) int { return strings.Compare(a.IDHash, b.IDHash) })
	slices.SortFunc(want, func(a, b store.Session) int { return strings.Compare(a.IDHash, b.IDHash) })
	if len(got) != len(want) {
		t.Fatalf("DeletePasskeySessions ended %d sessions; want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.IDHash != w.IDHash || g.Username != w.Username || g.Account != w.Account || g.Service != w.Service {
			t.Errorf("ended session %d = %q %q %q %q; want %q %q %q %q", i, g.IDHash, g.Username, g.Account, g.Service,
				w.IDHash, w.Username, w.Account, w.Service)
		}
		wantNoSession(t, s, "after DeletePasskeySessions", w.IDHash)
	}
	checkStoredSession(t, s, "another passkey's session", bobB)
	checkStoredSession(t, s, "a session without a passkey", bobNone)
	if got, err := s.DeletePasskeySessions(ctx, pkA); len(got) != 0 || err != nil {
		t.Errorf("DeletePasskeySessions again = %+v, %v; want none", got, err)
	}
}
