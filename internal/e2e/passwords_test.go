package e2e

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cpauth/cpauth/internal/store"
)

// Hashes of "secret" made by openssl:
//
//	openssl passwd -6 -salt saltsalt secret                      (5000 rounds, named by none)
//	openssl passwd -6 -salt 'rounds=5000000$saltsalt' secret     (above D31's bound)
const (
	hashSecret5000    = "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1"
	hashSecret5000000 = "$6$rounds=5000000$saltsalt$L.A0/uSS.wqLsJHWNVnD8bIjxI.mE0T8DBe48K6.JgEqKNAxAEBuxHOo/dp8YeUlkqrGGiOq029z/zs.pI8YP."
)

// D31: an imported hash must cost what a login may cost. Email::add_pop
// password_hash, over HTTP and through the command-line twin, refuses one
// outside the bounds with a reason, and creates nothing.
func TestImportedHashCost(t *testing.T) {
	e := startWithFixtures(t)
	tests := []struct {
		name, hash, must string
	}{
		{"5,000,000 rounds", hashSecret5000000, "must have 1000 to 1000000 rounds"},
		{"1,000,001 rounds", "$6$rounds=1000001$saltsalt$E4ZWl4Og.COmtRYGOfjB79vIV7qYCN0abQdsjjJA./ZoyJow6ZU5R1fUGJMeya5pvhD72HKHWsdhldu/ux/EY/", "must have 1000 to 1000000 rounds"},
		{"bcrypt cost 14", "$2y$14$Ybw7jl3Q.No..evjgr8o0.sGm4YQYnQhssaMLj1DY0VQgbd4T2hJW", "a bcrypt hash a cost of at most 13"},
		{"md5-crypt", "$1$saltsalt$zkYyS.NDVh/9dUGHDdP4Q/", "must be a SHA-512-crypt, SHA-256-crypt or bcrypt hash"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			local := "imp" + string(rune('a'+i))
			r := e.do(t, request{port: p2083, auth: basic("bob", bobPass), path: "/execute/Email/add_pop",
				ctype: "application/x-www-form-urlencoded", body: "email=" + local + "&password_hash=" + url.QueryEscape(tc.hash)})
			if got := uapiError(t, r, http.StatusOK); !strings.Contains(got, tc.must) {
				t.Errorf("add_pop over HTTP: %q, want it to say %q", got, tc.must)
			}
			code, out, errOut := runCLIIn(t, e, "", "uapi", "--user", "bob", "Email", "add_pop", "email="+local, "password_hash="+tc.hash)
			if code == 0 || !strings.Contains(out+errOut, tc.must) {
				t.Errorf("add_pop by the command line: exit %d, %q %q; want a failure saying %q", code, out, errOut, tc.must)
			}
			if _, err := e.d.Data.Store.GetMailbox(context.Background(), local, "bob.test"); err == nil {
				t.Error("the mailbox was created")
			}
		})
	}
	// At the bounds' inside: imported, and it logs in.
	r := e.do(t, request{port: p2083, auth: basic("bob", bobPass), path: "/execute/Email/add_pop",
		ctype: "application/x-www-form-urlencoded", body: "email=imported&password_hash=" + url.QueryEscape(hashSecret5000)})
	uapiOK(t, r)
	if got := e.do(t, request{port: p2096, auth: basic("imported@bob.test", "secret"), path: p2096.nativePath()}); got.status != 200 {
		t.Fatalf("the imported mailbox's login: %d", got.status)
	}
}

// D31: a right password whose hash has other rounds than the daemon's is
// re-hashed at the daemon's rounds, by every way a password is checked
// (Basic, /login, the mailbox check of single sign-on); the sessions stay
// and PasswordChanged does not move.
func TestRehashOnLogin(t *testing.T) {
	e := startWithFixtures(t)
	ctx := context.Background()
	st := e.d.Data.Store
	setAccount := func(t *testing.T, user, hash string) store.Account {
		t.Helper()
		a, err := st.UpdateAccount(ctx, user, func(a store.Account) (store.Account, error) {
			a.PasswordHash = hash
			return a, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	setMailbox := func(t *testing.T, local, domain, hash string) {
		t.Helper()
		if _, err := st.UpdateMailbox(ctx, local, domain, func(m store.Mailbox) (store.Mailbox, error) {
			m.PasswordHash = hash
			return m, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	accountHash := func(t *testing.T, user string) store.Account {
		t.Helper()
		a, err := st.GetAccount(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	mailboxHash := func(t *testing.T, local, domain string) string {
		t.Helper()
		m, err := st.GetMailbox(ctx, local, domain)
		if err != nil {
			t.Fatal(err)
		}
		return m.PasswordHash
	}
	rehashed := func(t *testing.T, hash string) {
		t.Helper()
		if !strings.HasPrefix(hash, "$6$rounds=1000$") {
			t.Fatalf("hash after a right password = %q, want the daemon's 1000 rounds", hash)
		}
	}

	t.Run("Basic, sessions kept", func(t *testing.T) {
		s := e.login(t, p2083, "bob", bobPass) // before the hash is replaced
		before := setAccount(t, "bob", hashSecret5000)
		if r := e.do(t, request{port: p2083, auth: basic("bob", "secret"), path: p2083.nativePath()}); r.status != 200 {
			t.Fatalf("Basic with the imported password: %d", r.status)
		}
		after := accountHash(t, "bob")
		rehashed(t, after.PasswordHash)
		if !after.PasswordChanged.Equal(before.PasswordChanged) {
			t.Errorf("PasswordChanged moved from %v to %v", before.PasswordChanged, after.PasswordChanged)
		}
		if !e.alive(t, s) {
			t.Error("the re-hash ended bob's session")
		}
		if r := e.do(t, request{port: p2083, auth: basic("bob", "secret"), path: p2083.nativePath()}); r.status != 200 {
			t.Fatalf("Basic after the re-hash: %d", r.status)
		}
	})
	t.Run("/login", func(t *testing.T) {
		setAccount(t, "carol", hashSecret5000)
		e.login(t, p2083, "carol", "secret")
		rehashed(t, accountHash(t, "carol").PasswordHash)
	})
	t.Run("wrong password changes nothing", func(t *testing.T) {
		setAccount(t, "res", hashSecret5000)
		if r := e.do(t, request{port: p2087, auth: basic("res", "Secret"), path: p2087.nativePath()}); r.status != 403 {
			t.Fatalf("wrong password: %d", r.status)
		}
		if got := accountHash(t, "res").PasswordHash; got != hashSecret5000 {
			t.Fatalf("a wrong password replaced the hash: %q", got)
		}
	})
	t.Run("mailbox by Basic", func(t *testing.T) {
		setMailbox(t, "info", "bob.test", hashSecret5000)
		if r := e.do(t, request{port: p2096, auth: basic("info@bob.test", "secret"), path: p2096.nativePath()}); r.status != 200 {
			t.Fatalf("mailbox Basic: %d", r.status)
		}
		rehashed(t, mailboxHash(t, "info", "bob.test"))
	})
	t.Run("mailbox check of single sign-on", func(t *testing.T) {
		uapiOK(t, e.do(t, request{port: p2083, auth: basic("bob", "secret"), path: "/execute/Email/add_pop",
			ctype: "application/x-www-form-urlencoded", body: "email=sso&password_hash=" + url.QueryEscape(hashSecret5000)}))
		uapiOK(t, e.do(t, request{port: p2083, auth: basic("bob", "secret"),
			path: "/execute/Session/create_webmail_session_for_mail_user_check_password?login=sso&domain=bob.test&password=secret"}))
		rehashed(t, mailboxHash(t, "sso", "bob.test"))
	})
}
