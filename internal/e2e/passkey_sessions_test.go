package e2e

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cpauth/cpauth/internal/logs"
	"github.com/cpauth/cpauth/internal/passkey/softkey"
	"github.com/cpauth/cpauth/internal/sessions"
	"github.com/cpauth/cpauth/internal/store"
)

// A removed passkey, or one marked as cloned, ends the sessions it made
// (passwordless sign-in) or verified (the code page), on the page and
// through the API; a session made without it stays.

// pkPasswordless signs in with cred alone (passwordless sign-in must be
// on) and returns the session.
func (e *testEnv) pkPasswordless(t testing.TB, cred *softkey.Credential) sess {
	t.Helper()
	r := e.pkPost(t, p2083, nil, "/login/passkey/begin", "", "")
	ch := challengeOf(t, r)
	ck := cookieNamed(r, "cpauth_passkey_cpaneld")
	if ck == nil {
		t.Fatal("no attempt cookie")
	}
	resp, err := cred.Assert(softkey.Options{Origin: e.origin(t, p2083), Challenge: ch, UserVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	r = e.pkPost(t, p2083, nil, "/login/passkey/finish", loginForm("response", string(resp)), ck.Name+"="+ck.Value)
	res := resultOf(t, r)
	c := cookieNamed(r, "cpsession")
	if r.status != http.StatusOK || res.Status != 1 || c == nil {
		t.Fatalf("passwordless sign-in: %d %+v", r.status, res)
	}
	return sess{port: p2083, name: "cpsession", token: res.SecurityToken, value: c.Value}
}

// pkSecondFactor logs in with the password and gives cred on the code
// page.
func (e *testEnv) pkSecondFactor(t testing.TB, cred *softkey.Credential) sess {
	t.Helper()
	s := e.pkLogin(t, p2083, "bob", bobPass, "")
	if r := e.assert(t, s, cred, nil); r.status != http.StatusOK {
		t.Fatalf("passkey on the code page: %d %s", r.status, r.body)
	}
	return s
}

// pkSessionsFixture: bob with a password session (which registers two
// passkeys, A and B, and turns passwordless sign-in on), a passwordless
// session and a password+passkey session with A, and a password+passkey
// session with B.
type pkSessionsFixture struct {
	pw, plA, mfaA, mfaB sess
	credA, credB        *softkey.Credential
	idA, idB            []byte
}

func newPKSessionsFixture(t *testing.T, e *testEnv) pkSessionsFixture {
	t.Helper()
	var f pkSessionsFixture
	f.pw = e.pkLogin(t, p2083, "bob", bobPass, "")
	f.credA = e.register(t, f.pw, "Phone", "pass", bobPass)
	f.credB = e.register(t, f.pw, "Laptop", "pass", bobPass)
	r := e.pkPost(t, p2083, &f.pw, f.pw.token+"/passkeys/passwordless", loginForm("passwordless", "1", "pass", bobPass), "")
	if r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), "passkey=passwordless_on") {
		t.Fatalf("enable passwordless: %d %s", r.status, r.header.Get("Location"))
	}
	f.plA = e.pkPasswordless(t, f.credA)
	f.mfaA = e.pkSecondFactor(t, f.credA)
	f.mfaB = e.pkSecondFactor(t, f.credB)
	list, err := e.d.Data.Store.ListPasskeys(context.Background(), "bob")
	if err != nil || len(list) != 2 {
		t.Fatalf("bob's passkeys: %+v, %v", list, err)
	}
	for _, p := range list {
		switch p.Name {
		case "Phone":
			f.idA = p.ID
		case "Laptop":
			f.idB = p.ID
		}
	}
	// Each session keeps the passkey that made or verified it.
	for _, tc := range []struct {
		name   string
		s      sess
		method string
		want   []byte
	}{
		{"password", f.pw, sessions.MethodPassword, nil},
		{"passwordless A", f.plA, sessions.MethodWebAuthn, f.idA},
		{"password+A", f.mfaA, sessions.MethodPasswordWebAuthn, f.idA},
		{"password+B", f.mfaB, sessions.MethodPasswordWebAuthn, f.idB},
	} {
		ss, err := e.storedSession(t, tc.s)
		if err != nil || ss.Method != tc.method || string(ss.Passkey) != string(tc.want) || !ss.TFAVerified {
			t.Fatalf("%s session: method %q passkey %x verified %v, %v; want %q %x", tc.name, ss.Method, ss.Passkey, ss.TFAVerified, err, tc.method, tc.want)
		}
	}
	return f
}

// wantEnded checks that each session is gone and no longer reaches a page.
func (e *testEnv) wantEnded(t *testing.T, what string, ss ...sess) {
	t.Helper()
	for _, s := range ss {
		if _, err := e.storedSession(t, s); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: a session of the passkey is still stored (%v)", what, err)
		}
		if r := e.pkGet(t, s, s.token+"/"); r.status == http.StatusOK {
			t.Errorf("%s: a session of the passkey still reaches its home page", what)
		}
	}
}

// wantLive checks that each session is stored and reaches its home page.
func (e *testEnv) wantLive(t *testing.T, what string, ss ...sess) {
	t.Helper()
	for _, s := range ss {
		if _, err := e.storedSession(t, s); err != nil {
			t.Errorf("%s: a session that should stay is gone (%v)", what, err)
		}
		if r := e.pkGet(t, s, s.token+"/"); r.status != http.StatusOK {
			t.Errorf("%s: a session that should stay gets %d", what, r.status)
		}
	}
}

// purgeLines returns session_log's PURGE lines with the reason word.
func purgeLines(t *testing.T, e *testEnv, reason string) string {
	t.Helper()
	e.d.Data.Logs.Flush()
	b, _ := os.ReadFile(filepath.Join(e.dir, "logs", logs.SessionLog))
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, " PURGE ") && strings.HasSuffix(l, " "+reason) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// wantPurged checks that session_log has a PURGE line with reason for
// each session, and for no other session of the list keep.
func (e *testEnv) wantPurged(t *testing.T, reason string, ended []sess, kept []sess) {
	t.Helper()
	lines := purgeLines(t, e, reason)
	handle := func(s sess) string {
		id, _, ok := sessions.ParseCookie(s.value)
		if !ok {
			t.Fatalf("cookie %q is not a session id", s.value)
		}
		return "bob:" + sessions.Handle(sessions.IDHash(e.d.Data.Key, id))
	}
	for _, s := range ended {
		if !strings.Contains(lines, " PURGE "+handle(s)+" "+reason) {
			t.Errorf("session_log has no PURGE line (%s) for an ended session:\n%s", reason, lines)
		}
	}
	for _, s := range kept {
		if strings.Contains(lines, handle(s)) {
			t.Errorf("session_log has a PURGE line (%s) for a session that stays:\n%s", reason, lines)
		}
	}
}

func TestPasskeyRemovalEndsSessionsPage(t *testing.T) {
	e := startPasskeys(t)
	f := newPKSessionsFixture(t, e)
	// The password session removes A: A's two sessions end, the password
	// session and B's stay.
	r := e.pkPost(t, p2083, &f.pw, f.pw.token+"/passkeys/remove", "id="+b64url(f.idA)+"&pass="+bobPass, "")
	if r.status != http.StatusSeeOther || !strings.HasSuffix(r.header.Get("Location"), "passkey=removed") {
		t.Fatalf("remove A: %d %s", r.status, r.header.Get("Location"))
	}
	e.wantEnded(t, "after removing A", f.plA, f.mfaA)
	e.wantLive(t, "after removing A", f.pw, f.mfaB)
	e.wantPurged(t, "passkey_removed", []sess{f.plA, f.mfaA}, []sess{f.pw, f.mfaB})

	// B's session removes B itself: it ends too, and the answer is the
	// login page, with the cookie cleared.
	r = e.pkPost(t, p2083, &f.mfaB, f.mfaB.token+"/passkeys/remove", "id="+b64url(f.idB)+"&pass="+bobPass, "")
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "The passkey you logged in with was removed") {
		t.Fatalf("remove B from its own session: %d %.400s", r.status, r.body)
	}
	if c := cookieNamed(r, "cpsession"); c == nil || c.MaxAge >= 0 {
		t.Fatalf("the session cookie is not cleared: %+v", c)
	}
	if _, err := e.d.Data.Store.GetPasskey(context.Background(), f.idB); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("B is still there: %v", err)
	}
	e.wantEnded(t, "after removing B", f.mfaB)
	e.wantLive(t, "after removing B", f.pw)
	e.wantPurged(t, "passkey_removed", []sess{f.plA, f.mfaA, f.mfaB}, []sess{f.pw})
	// The log names no credential ID.
	for _, id := range [][]byte{f.idA, f.idB} {
		if strings.Contains(purgeLines(t, e, "passkey_removed"), b64url(id)) {
			t.Error("session_log names a credential ID")
		}
	}
}

func TestPasskeyRemovalEndsSessionsAPI(t *testing.T) {
	e := startPasskeys(t)
	f := newPKSessionsFixture(t, e)
	// UAPI Passkeys::remove, bob's own, with the password: A's sessions.
	r := e.do(t, request{port: p2083, method: http.MethodPost, path: "/execute/Passkeys/remove", auth: e.authFor(t, "bob"),
		body: "id=" + pkID(f.idA) + "&password=" + bobPass, ctype: form})
	d := uapiOK(t, r)
	if got := str(dig(d, "data", "sessions_ended")); got != "2" {
		t.Fatalf("Passkeys::remove sessions_ended = %q; want 2 (%v)", got, d)
	}
	e.wantEnded(t, "after Passkeys::remove", f.plA, f.mfaA)
	e.wantLive(t, "after Passkeys::remove", f.pw, f.mfaB)
	e.wantPurged(t, "passkey_removed", []sess{f.plA, f.mfaA}, []sess{f.pw, f.mfaB})

	// WHM API 1 passkey_remove, root for bob: B's session.
	r = e.do(t, request{port: p2087, path: "/json-api/passkey_remove?api.version=1&user=bob&id=" + pkID(f.idB), auth: e.authFor(t, "root")})
	d = whmOK(t, r)
	if got := str(dig(d, "data", "sessions_ended")); got != "1" {
		t.Fatalf("passkey_remove sessions_ended = %q; want 1 (%v)", got, d)
	}
	e.wantEnded(t, "after passkey_remove", f.mfaB)
	e.wantLive(t, "after passkey_remove", f.pw)
	e.wantPurged(t, "passkey_removed", []sess{f.plA, f.mfaA, f.mfaB}, []sess{f.pw})
}

func TestPasskeyCloneEndsSessions(t *testing.T) {
	e := startPasskeys(t)
	f := newPKSessionsFixture(t, e)
	// A copy of A taken before its last uses: its counter is behind.
	clone := *f.credA
	clone.SignCount = 0
	s := e.pkLogin(t, p2083, "bob", bobPass, "")
	if r := e.assert(t, s, &clone, nil); r.status != http.StatusUnauthorized {
		t.Fatalf("the clone: %d %s", r.status, r.body)
	}
	if pk, err := e.d.Data.Store.GetPasskey(context.Background(), f.idA); err != nil || !pk.CloneWarning {
		t.Fatalf("A after the clone: %+v, %v", pk, err)
	}
	e.wantEnded(t, "after the clone mark", f.plA, f.mfaA)
	e.wantLive(t, "after the clone mark", f.pw, f.mfaB)
	e.wantPurged(t, "passkey_cloned", []sess{f.plA, f.mfaA}, []sess{f.pw, f.mfaB})
}
