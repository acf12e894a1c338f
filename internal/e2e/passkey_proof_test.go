package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/cpauth/cpauth/internal/passkey/softkey"
	"github.com/cpauth/cpauth/internal/store"
)

// TestPasskeyChangesNeedProof: the session alone (a stolen cookie) can
// neither add a passkey nor turn passwordless sign-in on; the password
// again, a current code or a passkey assertion can, and a wrong one is
// counted by the brute-force regulator.
func TestPasskeyChangesNeedProof(t *testing.T) {
	e := startPasskeys(t)
	ctx := context.Background()
	// The regulator in force for loopback, so that wrong proofs count.
	if _, _, err := e.d.Data.Hulk.DeleteRecords(ctx, store.HulkAllow, []string{"127.0.0.0/8", "::1"}); err != nil {
		t.Fatal(err)
	}
	bob := e.pkLogin(t, p2083, "bob", bobPass, "")
	failures := func() int {
		t.Helper()
		fs, err := e.d.Data.Hulk.Failures(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, f := range fs {
			if f.User == "bob" {
				n++
			}
		}
		return n
	}
	begin := func(form string) response {
		return e.pkPost(t, p2083, &bob, bob.token+"/passkeys/register/begin", form, "")
	}
	for _, tc := range []struct {
		name    string
		form    string
		status  int
		message string
		counted bool
	}{
		{"no proof", "", http.StatusUnauthorized, "takes your password again", false},
		{"empty password", loginForm("pass", ""), http.StatusUnauthorized, "takes your password again", false},
		{"wrong password", loginForm("pass", "not-the-password"), http.StatusUnauthorized, "incorrect", true},
		{"wrong code", loginForm("tfa_token", "123456"), http.StatusUnauthorized, "incorrect", false},
		{"a stale assertion", loginForm("assertion", `{"id":"AAAA"}`), http.StatusUnauthorized, "incorrect", false},
		{"another user's password", loginForm("pass", carolPass), http.StatusUnauthorized, "incorrect", true},
	} {
		t.Run("register/"+tc.name, func(t *testing.T) {
			before := failures()
			r := begin(tc.form)
			res := resultOf(t, r)
			if r.status != tc.status || res.Status != 0 || !strings.Contains(res.Message, tc.message) {
				t.Fatalf("status %d %+v, want %d and %q", r.status, res, tc.status, tc.message)
			}
			if ch, err := softkey.Challenge(r.body); err == nil && ch != "" {
				t.Fatal("a challenge was issued without proof")
			}
			if got := failures() - before; tc.counted && got == 0 {
				t.Fatal("the wrong proof was not counted by the regulator")
			}
		})
	}
	if left, _ := e.d.Data.Store.ListPasskeys(ctx, "bob"); len(left) != 0 {
		t.Fatalf("passkeys after refused proofs: %+v", left)
	}
	// The password proves it.
	cred := e.register(t, bob, "Phone", "pass", bobPass)

	// A further passkey: an assertion of the one bob has proves it too.
	ch := challengeOf(t, e.pkPost(t, p2083, &bob, bob.token+"/passkeys/confirm/begin", "", ""))
	assertion, err := cred.Assert(softkey.Options{Origin: e.origin(t, p2083), Challenge: ch, UserVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	r := begin(loginForm("assertion", string(assertion)))
	ch = challengeOf(t, r)
	handle, _ := softkey.UserID(r.body)
	_, resp, err := softkey.New(pkHost, handle, softkey.Options{Origin: e.origin(t, p2083), Challenge: ch, UserVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	r = e.pkPost(t, p2083, &bob, bob.token+"/passkeys/register/finish", loginForm("name", "Key", "response", string(resp)), "")
	if res := resultOf(t, r); res.Status != 1 {
		t.Fatalf("registration proven by a passkey: %d %s", r.status, r.body)
	}
	// The assertion was single-use: replayed, it proves nothing.
	if r := begin(loginForm("assertion", string(assertion))); r.status != http.StatusUnauthorized {
		t.Fatalf("a replayed assertion: %d %s", r.status, r.body)
	}

	// Passwordless sign-in on.
	passwordless := func() bool {
		t.Helper()
		out := whmOK(t, e.do(t, request{port: p2087, path: "/json-api/passkey_list?api.version=1&user=bob", auth: e.authFor(t, "root")}))
		return strings.Contains(mustJSON(out), `"passwordless":1`)
	}
	for _, tc := range []struct {
		name    string
		form    string
		want    string
		counted bool
	}{
		{"no proof", loginForm("passwordless", "1"), "passwordless_denied", false},
		{"wrong password", loginForm("passwordless", "1", "pass", "not-the-password"), "passwordless_denied", true},
		{"wrong code", loginForm("passwordless", "1", "tfa_token", "000000"), "passwordless_denied", false},
		{"right password", loginForm("passwordless", "1", "pass", bobPass), "passwordless_on", false},
		{"off needs none", loginForm("passwordless", "0"), "passwordless_off", false},
	} {
		t.Run("passwordless/"+tc.name, func(t *testing.T) {
			before := failures()
			r := e.pkPost(t, p2083, &bob, bob.token+"/passkeys/passwordless", tc.form, "")
			if loc := r.header.Get("Location"); r.status != http.StatusSeeOther || !strings.HasSuffix(loc, "passkey="+tc.want) {
				t.Fatalf("status %d, Location %q, want passkey=%s", r.status, loc, tc.want)
			}
			if on := passwordless(); on != (tc.want == "passwordless_on") {
				t.Fatalf("passwordless %v after %s", on, tc.want)
			}
			if got := failures() - before; tc.counted && got == 0 {
				t.Fatal("the wrong password was not counted by the regulator")
			}
		})
	}
	// A passkey assertion turns it on as well.
	ch = challengeOf(t, e.pkPost(t, p2083, &bob, bob.token+"/passkeys/confirm/begin", "", ""))
	assertion, _ = cred.Assert(softkey.Options{Origin: e.origin(t, p2083), Challenge: ch, UserVerified: true})
	r = e.pkPost(t, p2083, &bob, bob.token+"/passkeys/passwordless", loginForm("passwordless", "1", "assertion", string(assertion)), "")
	if loc := r.header.Get("Location"); !strings.HasSuffix(loc, "passkey=passwordless_on") || !passwordless() {
		t.Fatalf("passwordless proven by a passkey: %d %q", r.status, loc)
	}
	// The refusals were logged, no password with them.
	if log := e.log.String(); !strings.Contains(log, "adding a passkey refused") || strings.Contains(log, "not-the-password") {
		t.Fatal("the refused proofs were not logged, or a password was")
	}
}
