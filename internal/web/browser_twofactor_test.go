package web_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/totp"
)

// TestBrowserTwoFactor sets two-factor authentication up in the UI (QR
// code, secret, confirming code, recovery codes shown once), logs out,
// logs in with the password and a code computed from the secret, fails
// with that code replayed, and logs in with a recovery code.
func TestBrowserTwoFactor(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the browser tests in -short mode")
	}
	exe := chromium(t)
	e := startDaemon(t)
	out := outputDir(t)
	for _, tc := range []struct {
		name, user, pass string
		svc              core.Service
	}{
		{"cpanel", "bob", bobPass, core.ServiceCPanel},
		{"whm", "root", e.rootPass, core.ServiceWHM},
		{"webmail", "info@bob.test", infoPass, core.ServiceWebmail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBrowser(t, exe, filepath.Join(out, "twofactor-"+tc.name))
			b.twoFactorScenario("http://"+e.d.Addr(tc.svc, false), tc.user, tc.pass)
		})
	}
}

// loginAs fills in the login form and submits it; it returns the status
// of the page it lands on.
func (b *browser) loginAs(base, user, pass string) int64 {
	b.t.Helper()
	b.navigate("opening the login page", chromedp.Navigate(base+"/"))
	b.do("typing the password", chromedp.WaitVisible(chromedp.ID("login-form")),
		chromedp.SendKeys(chromedp.ID("user"), user), chromedp.SendKeys(chromedp.ID("pass"), pass))
	return b.navigate("logging in", chromedp.Click(chromedp.ID("login_submit")))
}

// enterCode submits the code page; it returns the status of the page it
// lands on.
func (b *browser) enterCode(code string) int64 {
	b.t.Helper()
	b.do("typing the code", chromedp.WaitVisible(chromedp.ID("tfa_login_form")), chromedp.SendKeys(chromedp.ID("tfatoken"), code))
	return b.navigate("sending the code", chromedp.Click(chromedp.ID("tfa_submit")))
}

func (b *browser) logout() {
	b.t.Helper()
	b.navigate("logging out", chromedp.Click(chromedp.ID("nav-logout")))
	b.do("waiting for the logged-out page", chromedp.WaitVisible(chromedp.ID("login-form")))
}

func (b *browser) twoFactorScenario(base, user, pass string) {
	t := b.t
	if st := b.loginAs(base, user, pass); st != 200 {
		t.Fatalf("home page after login: HTTP %d", st)
	}
	if st := b.navigate("opening the two-factor page", chromedp.Click(chromedp.ID("link-twofactor"))); st != 200 {
		t.Errorf("two-factor page: HTTP %d", st)
	}
	b.do("waiting for the QR code", chromedp.WaitVisible(chromedp.ID("tfa-qr")))
	b.do("waiting for the QR code to load", chromedp.Poll[chromedp.Void](`(function(){var i=document.getElementById("tfa-qr");return i.complete && i.naturalWidth > 0})()`))
	if w := run(b, "reading the QR code's size", chromedp.Evaluate[int](`document.getElementById("tfa-qr").naturalWidth`)); w < 100 {
		t.Errorf("QR code %d pixels wide", w)
	}
	secret := b.text("#tfa-secret")
	if _, err := totp.NormalizeSecret(secret); err != nil {
		t.Fatalf("secret on the page %q: %v", secret, err)
	}
	b.shot("twofactor-setup")
	b.phone("twofactor-setup")

	// A wrong code first: the same secret is offered again, with the error.
	b.do("typing a wrong code", chromedp.SendKeys(chromedp.ID("enable-code"), "000000"))
	if st := b.navigate("confirming a wrong code", chromedp.Click(chromedp.ID("tfa-enable"))); st != 400 {
		t.Errorf("wrong setup code: HTTP %d, want 400", st)
	}
	if got := b.text("#page-error"); !strings.Contains(got, "The security code is invalid.") {
		t.Errorf("wrong setup code: %q", got)
	}
	if got := b.text("#tfa-secret"); got != secret {
		t.Errorf("the secret changed after a wrong code: %q, was %q", got, secret)
	}

	now := time.Now()
	setupCode, _ := totp.Code(secret, now)
	b.do("typing the code", chromedp.SendKeys(chromedp.ID("enable-code"), setupCode))
	if st := b.navigate("confirming the code", chromedp.Click(chromedp.ID("tfa-enable"))); st != 200 {
		t.Errorf("setup: HTTP %d", st)
	}
	b.do("waiting for the recovery codes", chromedp.WaitVisible(chromedp.ID("recovery-codes")))
	codes := run(b, "reading the recovery codes", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#recovery-codes code")).map(function(e){return e.textContent})`))
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown", len(codes))
	}
	if got := b.text("#tfa-status"); !strings.Contains(got, "on") {
		t.Errorf("status after setup: %q", got)
	}
	b.shot("twofactor-on")
	// Shown once.
	b.navigate("reloading the two-factor page", chromedp.Click(chromedp.CSS(`nav a[href$="/twofactor/"]`)))
	b.do("waiting for the status", chromedp.WaitVisible(chromedp.ID("tfa-status")))
	if b.exists("#recovery-codes") {
		t.Error("the recovery codes are shown a second time")
	}
	b.logout()

	// Password, then the code page: a code of the next step (the setup's
	// step is burnt).
	if st := b.loginAs(base, user, pass); st != 401 {
		t.Errorf("code page after the password: HTTP %d, want 401", st)
	}
	b.do("waiting for the code page", chromedp.WaitVisible(chromedp.ID("tfa_login_form")))
	if b.exists("header.top") || b.exists("#who") {
		t.Error("the code page shows a private page")
	}
	b.shot("code-page")
	b.phone("code-page")
	code, _ := totp.CodeAt(secret, totp.Step(time.Now())+1)
	if st := b.enterCode(code); st != 200 {
		t.Errorf("home after the code: HTTP %d", st)
	}
	b.do("waiting for the home page", chromedp.WaitVisible(chromedp.ID("who")))
	if got := b.text("#who"); got != user {
		t.Errorf("home greets %q", got)
	}
	b.logout()

	// The same code again: refused.
	if st := b.loginAs(base, user, pass); st != 401 {
		t.Errorf("code page: HTTP %d, want 401", st)
	}
	if st := b.enterCode(code); st != 401 {
		t.Errorf("replayed code: HTTP %d, want 401", st)
	}
	if got := b.text("#tfa-msg"); got != "The security code is invalid." {
		t.Errorf("replayed code message %q", got)
	}
	if b.exists("#who") {
		t.Error("a replayed code logged in")
	}
	b.shot("code-replayed")

	// A recovery code, on the same code page.
	if st := b.enterCode(codes[3]); st != 200 {
		t.Errorf("home after a recovery code: HTTP %d", st)
	}
	b.do("waiting for the home page", chromedp.WaitVisible(chromedp.ID("who")))

	// Remove it again, with a code (a recovery code: the code of the
	// next step may be the one just used).
	b.navigate("opening the two-factor page", chromedp.Click(chromedp.ID("link-twofactor")))
	b.do("typing a code to remove", chromedp.WaitVisible(chromedp.ID("remove-code")), chromedp.SendKeys(chromedp.ID("remove-code"), codes[4]))
	if st := b.navigate("removing two-factor authentication", chromedp.Click(chromedp.ID("tfa-remove"))); st != 200 {
		t.Errorf("remove: HTTP %d (%s)", st, b.text("main"))
	}
	if got := b.text("#page-notice"); got != "Two-factor authentication is off." {
		t.Errorf("after removing: %q", got)
	}
	b.shot("twofactor-off")
	b.logout()
	if st := b.loginAs(base, user, pass); st != 200 {
		t.Errorf("login after removing: HTTP %d", st)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.console {
		if m.IsException() || strings.Contains(m.Text, "Content Security Policy") || strings.Contains(m.Text, "Content-Security-Policy") {
			t.Errorf("browser console: %s", m)
		}
	}
}
