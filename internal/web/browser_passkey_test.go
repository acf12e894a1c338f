package web_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/settings"
	"github.com/cpauth/cpauth/internal/store/sqlstore/pgtest"
	"github.com/cpauth/cpauth/internal/totp"
)

// Passkeys in a real browser: Chromium's virtual authenticator (the
// DevTools WebAuthn domain) stands in for a phone or a security key. The
// daemon's host name is cpauth.test, which Chromium resolves to loopback
// (--host-resolver-rules), as it does other.test, a name the passkeys are
// not for; Chromium trusts the daemon's self-signed certificate by its key
// (--ignore-certificate-errors-spki-list), so that the pages are a secure
// context without certificate errors, which WebAuthn requires.

const (
	pkHost    = "cpauth.test"
	pkOther   = "other.test"
	pkLaptop  = "Laptop"
	pkTimeout = 20 * time.Second
)

func startPasskeyDaemon(t *testing.T, configure func(*config.Config)) *browserEnv {
	t.Helper()
	return startDaemonWith(t, func(c *config.Config) {
		c.Hostname = pkHost
		if configure != nil {
			configure(c)
		}
	})
}

// spki is the base64 SHA-256 of the daemon's certificate's public key.
func spki(t *testing.T, addr string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, ServerName: pkHost})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sum := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// passkeyBrowser is Chromium with a virtual authenticator: CTAP2, built
// in, resident keys, user verification that succeeds.
type passkeyBrowser struct {
	*browser
	auth webauthn.AuthenticatorID
}

func newPasskeyBrowser(t *testing.T, exe, dir string, spkis ...string) *passkeyBrowser {
	t.Helper()
	b := newBrowser(t, exe, dir,
		chromedp.Flag("host-resolver-rules", "MAP "+pkHost+" 127.0.0.1, MAP "+pkOther+" 127.0.0.1"),
		chromedp.Flag("ignore-certificate-errors-spki-list", strings.Join(spkis, ",")),
	)
	ctx, cancel := context.WithTimeout(b.ctx, pkTimeout)
	defer cancel()
	off := false
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{EnableUI: &off}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportInternal,
		HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
	}})
	if err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return &passkeyBrowser{browser: b, auth: res.AuthenticatorID}
}

func (b *passkeyBrowser) credentials() []*webauthn.Credential {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, pkTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: b.auth})
	if err != nil {
		b.t.Fatalf("WebAuthn.getCredentials: %v", err)
	}
	return res.Credentials
}

// replace puts cred in the authenticator in place of what it holds: a
// clone of an earlier copy.
func (b *passkeyBrowser) replace(cred *webauthn.Credential) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, pkTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, webauthn.ClearCredentials, webauthn.ClearCredentialsParams{AuthenticatorID: b.auth}); err != nil {
		b.t.Fatalf("WebAuthn.clearCredentials: %v", err)
	}
	// cdproto's Credential always sends generateCmtgKeyOnNextOperation,
	// which Chromium refuses for an authenticator without that extension:
	// the command is sent with the fields a copied credential has.
	type clone struct {
		CredentialID         []byte  `json:"credentialId"`
		IsResidentCredential bool    `json:"isResidentCredential"`
		RpID                 string  `json:"rpId"`
		PrivateKey           []byte  `json:"privateKey"`
		UserHandle           []byte  `json:"userHandle,omitempty"`
		SignCount            float64 `json:"signCount"`
	}
	type params struct {
		AuthenticatorID webauthn.AuthenticatorID `json:"authenticatorId"`
		Credential      clone                    `json:"credential"`
	}
	addCredential := cdp.Command[params, cdp.Empty]{Method: webauthn.CommandAddCredential}
	if _, err := chromedp.Call(ctx, addCredential, params{AuthenticatorID: b.auth, Credential: clone{
		CredentialID: cred.CredentialID, IsResidentCredential: cred.IsResidentCredential, RpID: cred.RpID,
		PrivateKey: cred.PrivateKey, UserHandle: cred.UserHandle, SignCount: cred.SignCount,
	}}); err != nil {
		b.t.Fatalf("WebAuthn.addCredential: %v", err)
	}
}

// waitStatus waits for the passkey status line to say something other
// than the waiting message, and returns it.
func (b *passkeyBrowser) waitStatus() string {
	b.t.Helper()
	b.do("waiting for the passkey's answer", chromedp.Poll[chromedp.Void](`(function(){var s=document.getElementById("passkey-status");return s && s.textContent && s.textContent.indexOf("Waiting")<0})()`))
	return b.text("#passkey-status")
}

// waitPath waits until the page's path ends with suffix.
func (b *passkeyBrowser) waitPath(what, suffix string) {
	b.t.Helper()
	b.do(what, chromedp.Poll[chromedp.Void](fmt.Sprintf(`location.pathname.endsWith(%q) && document.readyState === "complete"`, suffix)))
}

func (b *passkeyBrowser) loginWithPassword(base, user, pass string) {
	b.t.Helper()
	if st := b.loginAs(base, user, pass); st != 401 && st != 200 {
		b.t.Fatalf("after the password: HTTP %d", st)
	}
}

// usePasskey clicks the code page's passkey button and waits for home.
func (b *passkeyBrowser) usePasskey() {
	b.t.Helper()
	b.do("waiting for the passkey button", chromedp.WaitVisible(chromedp.ID("passkey-login-button")))
	b.do("using the passkey", chromedp.Click(chromedp.ID("passkey-login-button")))
	b.waitPath("landing on the home page", "/")
	b.do("waiting for the home page", chromedp.WaitVisible(chromedp.CSS("header.top")))
}

// addPasskey adds a passkey on the two-factor page, proven by the
// password typed next to its name.
func (b *passkeyBrowser) addPasskey(name, pass string) {
	b.t.Helper()
	if st := b.navigate("opening the two-factor page", chromedp.Click(chromedp.ID("link-twofactor"))); st != 200 {
		b.t.Fatalf("two-factor page: HTTP %d", st)
	}
	b.do("naming the passkey", chromedp.WaitVisible(chromedp.ID("passkey-add")), chromedp.SendKeys(chromedp.ID("passkey-name"), name))
	b.do("typing the password", chromedp.SendKeys(chromedp.ID("passkey-add-pass"), pass))
	b.do("adding the passkey", chromedp.Click(chromedp.ID("passkey-add")))
	b.do("waiting for the notice", chromedp.WaitVisible(chromedp.ID("passkey-notice")))
}

func TestBrowserPasskey(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the browser tests in -short mode")
	}
	exe := chromium(t)
	e := startPasskeyDaemon(t, nil)
	out := outputDir(t)
	addr := e.d.Addr(core.ServiceCPanel, true)
	_, port, _ := net.SplitHostPort(addr)
	base, other := "https://"+pkHost+":"+port, "https://"+pkOther+":"+port
	b := newPasskeyBrowser(t, exe, filepath.Join(out, "passkey-cpanel"), spki(t, addr))
	ctx := context.Background()

	// Register on cPanel.
	if st := b.loginAs(base, "bob", bobPass); st != 200 {
		t.Fatalf("login: HTTP %d", st)
	}
	// Without the password the server refuses to begin, and the page
	// says why.
	if st := b.navigate("opening the two-factor page", chromedp.Click(chromedp.ID("link-twofactor"))); st != 200 {
		t.Fatalf("two-factor page: HTTP %d", st)
	}
	b.do("naming the passkey", chromedp.WaitVisible(chromedp.ID("passkey-add")), chromedp.SendKeys(chromedp.ID("passkey-name"), pkLaptop))
	b.do("adding without the password", chromedp.Click(chromedp.ID("passkey-add")))
	if msg := b.waitStatus(); !strings.Contains(msg, "takes your password") {
		t.Fatalf("adding without proof: status %q", msg)
	}
	if n := len(b.credentials()); n != 0 {
		t.Fatalf("the authenticator made %d credentials without proof", n)
	}
	b.shot("passkey-add-refused")
	b.navigate("going home", chromedp.Evaluate[chromedp.Void](`location.assign(location.pathname.replace(/twofactor\/?$/, ""))`))
	b.addPasskey(pkLaptop, bobPass)
	if got := b.text("#passkey-list tbody th"); got != pkLaptop {
		t.Fatalf("listed %q", got)
	}
	b.shot("passkey-added")
	b.phone("passkey-added")
	first := b.credentials()
	if len(first) != 1 || first[0].RpID != pkHost || !first[0].IsResidentCredential {
		t.Fatalf("authenticator holds %+v", first)
	}
	// A further passkey may be proven by the one bob has: the script gets
	// an assertion first and sends it with the begin step, which the
	// server accepts. (This authenticator then declines to make a second
	// credential for a user whose credential it holds: excluded.)
	b.do("naming another passkey", chromedp.SendKeys(chromedp.ID("passkey-name"), "Second"))
	b.do("adding, confirming with the passkey", chromedp.WaitVisible(chromedp.ID("passkey-add-confirm")), chromedp.Click(chromedp.ID("passkey-add-confirm")))
	if msg := b.waitStatus(); !strings.Contains(msg, "already registered") {
		t.Fatalf("after the passkey's proof: %q, want the authenticator's refusal of an excluded credential", msg)
	}
	stored, err := e.d.Data.Store.ListPasskeys(ctx, "bob")
	if err != nil || len(stored) != 1 || stored[0].Name != pkLaptop || !stored[0].UserVerified {
		t.Fatalf("stored %+v, %v", stored, err)
	}

	// Log out; the password and the passkey log in.
	b.logout()
	b.loginWithPassword(base, "bob", bobPass)
	b.do("waiting for the code page", chromedp.WaitVisible(chromedp.ID("passkey-login-button")))
	if b.exists("#tfa_login_form") {
		t.Error("the code page asks for a code bob does not have")
	}
	b.shot("passkey-code-page")
	b.usePasskey()
	b.shot("passkey-home")

	// Passwordless.
	if st := b.navigate("opening the two-factor page", chromedp.Click(chromedp.ID("link-twofactor"))); st != 200 {
		t.Fatalf("two-factor page: HTTP %d", st)
	}
	// The session alone does not turn it on.
	if st := b.navigate("turning passwordless on without the password", chromedp.Click(chromedp.ID("passwordless-toggle"))); st != 200 {
		t.Fatalf("passwordless: HTTP %d", st)
	}
	if msg := b.text("#passkey-error"); !strings.Contains(msg, "stays off") {
		t.Fatalf("passwordless without proof: %q", msg)
	}
	// The passkey proves it (the script asks the authenticator, then
	// posts the form with the assertion).
	b.do("turning passwordless on, confirming with the passkey", chromedp.WaitVisible(chromedp.ID("passwordless-confirm")),
		chromedp.Click(chromedp.ID("passwordless-confirm")))
	b.do("waiting for the notice", chromedp.WaitVisible(chromedp.ID("passkey-notice")))
	if msg := b.text("#passkey-notice"); !strings.Contains(msg, "Passwordless sign-in is on") {
		t.Fatalf("passwordless confirmed by the passkey: %q", msg)
	}
	b.logout()
	b.do("waiting for the passkey sign-in", chromedp.WaitVisible(chromedp.ID("passkey-signin-button")))
	b.shot("passkey-login-page")
	b.do("signing in with the passkey", chromedp.Click(chromedp.ID("passkey-signin-button")))
	b.waitPath("landing on the home page", "/")
	b.do("waiting for the home page", chromedp.WaitVisible(chromedp.CSS("header.top")))
	all, _ := e.d.Data.Store.ListSessions(ctx, "bob")
	methods := map[string]bool{}
	for _, s := range all {
		methods[s.Method] = true
	}
	if !methods["webauthn"] {
		t.Errorf("no passwordless session among %v", methods)
	}

	// Another host name of the same server: no passkey is offered, the
	// browser refuses a ceremony for cpauth.test there, and so does the
	// server.
	b.logout()
	b.navigate("opening the other host's login page", chromedp.Navigate(other+"/"))
	if b.exists("#passkey-signin-button") {
		t.Error("the login page on another host name offers passkeys")
	}
	got := run(b.browser, "a ceremony for cpauth.test on other.test", chromedp.Evaluate[string](`(async function(){
		try {
			await navigator.credentials.get({publicKey:{challenge:new Uint8Array(32), rpId:"`+pkHost+`", userVerification:"required"}});
			return "allowed";
		} catch (e) { return e.name; }
	})()`, chromedp.EvalAwaitPromise))
	if got != "SecurityError" {
		t.Errorf("the browser answered %q for a foreign relying party", got)
	}
	st := run(b.browser, "the server's begin on other.test", chromedp.Evaluate[int](`fetch("/login/passkey/begin",{method:"POST"}).then(r=>r.status)`, chromedp.EvalAwaitPromise))
	if st != 400 {
		t.Errorf("begin on another host name: HTTP %d", st)
	}
	b.loginWithPassword(other, "bob", bobPass)
	b.do("waiting for the code page", chromedp.WaitVisible(chromedp.ID("passkey-elsewhere")))
	b.shot("passkey-other-host")

	// A cloned credential: the copy taken before the later uses replays
	// an old sign counter, and is refused.
	b.loginWithPassword(base, "bob", bobPass)
	b.usePasskey()
	b.logout()
	b.replace(first[0])
	b.loginWithPassword(base, "bob", bobPass)
	b.do("waiting for the passkey button", chromedp.WaitVisible(chromedp.ID("passkey-login-button")))
	b.do("using the cloned passkey", chromedp.Click(chromedp.ID("passkey-login-button")))
	if msg := b.waitStatus(); !strings.Contains(msg, "not accepted") {
		t.Errorf("cloned passkey: %q", msg)
	}
	b.shot("passkey-cloned")
	if stored, _ := e.d.Data.Store.ListPasskeys(ctx, "bob"); len(stored) != 1 || !stored[0].CloneWarning {
		t.Errorf("after the clone: %+v", stored)
	}

	// Remove it (with the password), in a session the password verifies
	// (bob has no other second factor now: the marked passkey is refused).
	if b.exists("header.top") {
		t.Fatal("the cloned passkey opened the session")
	}
	b.navigate("logging out", chromedp.Click(chromedp.ID("tfa-logout")))
	if st := b.loginAs(base, "bob", bobPass); st != 200 {
		t.Fatalf("login with a marked passkey only: HTTP %d", st)
	}
	if st := b.navigate("opening the two-factor page", chromedp.Click(chromedp.ID("link-twofactor"))); st != 200 {
		t.Fatalf("two-factor page: HTTP %d", st)
	}
	b.shot("passkey-marked")
	b.do("typing the password", chromedp.SendKeys(chromedp.CSS(".passkey-remove input[name=pass]"), bobPass))
	b.navigate("removing the passkey", chromedp.Click(chromedp.CSS(".passkey-remove button.danger")))
	b.do("waiting for the notice", chromedp.WaitVisible(chromedp.ID("passkey-notice")))
	if !b.exists("#passkey-none") {
		t.Error("the passkey is still listed")
	}
	b.shot("passkey-removed")
}

// TestBrowserPasskeyPolicy: with the phishing-resistant policy on, root's
// WHM login cannot be finished with a two-factor code, and can with a
// passkey.
func TestBrowserPasskeyPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the browser tests in -short mode")
	}
	exe := chromium(t)
	e := startPasskeyDaemon(t, nil)
	out := outputDir(t)
	addr := e.d.Addr(core.ServiceWHM, true)
	_, port, _ := net.SplitHostPort(addr)
	base := "https://" + pkHost + ":" + port
	b := newPasskeyBrowser(t, exe, filepath.Join(out, "passkey-policy"), spki(t, addr))
	ctx := context.Background()

	// Root's code and passkey.
	root := rootLocal()
	gen, err := e.d.Data.Env.GenerateOwnTwoFactor(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	code, _ := totp.Code(gen.Secret, now)
	if _, err := e.d.Data.Env.SetOwnTwoFactor(ctx, &api.Call{Flavour: api.UAPI, Principal: root, Remote: netip.IPv6Loopback()}, gen.Secret, code); err != nil {
		t.Fatal(err)
	}
	b.loginWithPassword(base, "root", e.rootPass)
	next, _ := totp.Code(gen.Secret, now.Add(totp.Period))
	if st := b.enterCode(next); st != 200 {
		t.Fatalf("code: HTTP %d", st)
	}
	b.addPasskey("YubiKey", e.rootPass)
	if err := e.d.Data.Store.SetSetting(ctx, settings.RequirePasskeyRoot, "1"); err != nil {
		t.Fatal(err)
	}
	b.logout()

	b.loginWithPassword(base, "root", e.rootPass)
	b.do("waiting for the code page", chromedp.WaitVisible(chromedp.ID("passkey-login-button")))
	if b.exists("#tfa_login_form") {
		t.Error("the code page offers a code under the policy")
	}
	if msg := b.text("#tfa-msg"); !strings.Contains(msg, "security code is not enough") {
		t.Errorf("code page message %q", msg)
	}
	b.shot("policy-code-page")
	// A right code, posted as the old form would, does not finish it.
	later, _ := totp.Code(gen.Secret, now.Add(2*totp.Period))
	b.navigate("posting a code", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(function(){
		var f=document.createElement("form"); f.method="post"; f.action=location.pathname;
		var i=document.createElement("input"); i.name="tfatoken"; i.value=%q; f.appendChild(i);
		document.body.appendChild(f); f.submit();
	})()`, later)))
	b.do("waiting for the code page", chromedp.WaitVisible(chromedp.ID("passkey-login-button")))
	if b.exists("header.top") {
		t.Fatal("a code finished root's login under the policy")
	}
	b.shot("policy-code-refused")
	b.usePasskey()
	b.shot("policy-home")
	all, _ := e.d.Data.Store.ListSessions(ctx, "root")
	verified := 0
	for _, s := range all {
		if s.TFAVerified && s.Method == "password+webauthn" {
			verified++
		}
	}
	if verified == 0 {
		t.Error("no session verified by the passkey")
	}
}

// TestBrowserPasskeyCluster: a passkey made on one node of a PostgreSQL
// cluster works on the other.
func TestBrowserPasskeyCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the browser tests in -short mode")
	}
	exe := chromium(t)
	dsn := pgtest.Schema(t)
	key := filepath.Join(t.TempDir(), "cluster.key")
	cluster := func(c *config.Config) {
		c.Store, c.PostgresDSN, c.KeyFile = "postgres", dsn, key
	}
	a := startPasskeyDaemon(t, cluster)
	bNode := startPasskeyDaemon(t, cluster)
	out := outputDir(t)
	addrA, addrB := a.d.Addr(core.ServiceCPanel, true), bNode.d.Addr(core.ServiceCPanel, true)
	_, portA, _ := net.SplitHostPort(addrA)
	_, portB, _ := net.SplitHostPort(addrB)
	b := newPasskeyBrowser(t, exe, filepath.Join(out, "passkey-cluster"), spki(t, addrA), spki(t, addrB))

	if st := b.loginAs("https://"+pkHost+":"+portA, "bob", bobPass); st != 200 {
		t.Fatalf("login on node A: HTTP %d", st)
	}
	b.addPasskey(pkLaptop, bobPass)
	b.shot("cluster-added-on-a")
	b.logout()
	b.loginWithPassword("https://"+pkHost+":"+portB, "bob", bobPass)
	b.usePasskey()
	b.shot("cluster-home-on-b")
	list, err := bNode.d.Data.Store.ListPasskeys(context.Background(), "bob")
	if err != nil || len(list) != 1 || list[0].LastUsed.IsZero() {
		t.Fatalf("node B's view: %+v, %v", list, err)
	}
}
