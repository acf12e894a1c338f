package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/daemon"
	"github.com/cpauth/cpauth/internal/functions"
	"github.com/cpauth/cpauth/internal/hulk"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/testutil"
)

// The browser tests drive headless Chromium (Debian's chromium package)
// against a full daemon: log in to each service, use the token and session
// pages, log out, press Back. They skip, saying why, when no Chromium is
// found, except under CI=true where they fail. $CPAUTH_CHROMIUM names the
// browser; screenshots go to $CPAUTH_TEST_OUTPUT/browser/ when it is set.

// chromium finds the browser or skips (fails under CI).
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CPAUTH_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
		noBrowser(t, fmt.Sprintf("CPAUTH_CHROMIUM=%s does not exist", p))
	}
	for _, p := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if found, err := exec.LookPath(p); err == nil {
			return found
		}
	}
	noBrowser(t, "no Chromium found (install Debian's chromium, or set CPAUTH_CHROMIUM)")
	return ""
}

func noBrowser(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("browser tests cannot run under CI: %s", why)
	}
	t.Skipf("skipping the browser tests: %s", why)
}

// outputDir is where the screenshots go.
func outputDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if base := os.Getenv("CPAUTH_TEST_OUTPUT"); base != "" {
		// A folder per test, so that one test's pictures do not replace
		// another's; only this run's: an earlier run's are dropped.
		name, _, _ := strings.Cut(t.Name(), "/")
		dir = filepath.Join(base, "browser", name)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browserEnv is a running daemon with fixture accounts.
type browserEnv struct {
	d        *daemon.Daemon
	rootPass string
}

const (
	bobPass  = "Bob-Browser-1"
	infoPass = "Info-Browser-1"
)

func startDaemon(t *testing.T) *browserEnv {
	t.Helper()
	return startDaemonWith(t, nil)
}

// startDaemonWith is startDaemon with a chance to change the configuration
// first (a host name, a shared store).
func startDaemonWith(t *testing.T, configure func(*config.Config)) *browserEnv {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1"
	cfg.PortCPanel, cfg.PortCPanelTLS, cfg.PortWHM, cfg.PortWHMTLS, cfg.PortWebmail, cfg.PortWebmailTLS = 0, 0, 0, 0, 0, 0
	cfg.DataDir = t.TempDir()
	cfg.HashRounds = 1000
	if configure != nil {
		configure(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logBuf := &testutil.LogBuffer{}
	log := slog.New(slog.NewTextHandler(logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := daemon.Start(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("daemon.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d.Shutdown(ctx)
		if t.Failed() {
			t.Logf("daemon log (tail):\n%s", tailLines(logBuf.String(), 40))
		}
	})
	raw, err := os.ReadFile(filepath.Join(cfg.DataDir, "initial-root-password"))
	if err != nil && d.Data.RootPasswordFile != "" {
		t.Fatal(err)
	}
	e := &browserEnv{d: d, rootPass: strings.TrimSpace(string(raw))}
	ctx := context.Background()
	if e.rootPass == "" {
		return e // another node of a cluster made root and the fixtures
	}
	// Loopback is on the brute-force regulator's allow-list: the browser
	// tests send wrong passwords and codes on purpose, from one address,
	// across many steps.
	if _, _, _, err := d.Data.Hulk.AddRecords(ctx, store.HulkAllow, []string{"127.0.0.0/8", "::1"}, "tests"); err != nil {
		t.Fatal(err)
	}
	root := rootLocal()
	run := func(c *api.Call, f func(context.Context, *api.Registry, *api.Call) (*api.Result, error)) {
		t.Helper()
		if _, err := f(ctx, d.Data.Registry, c); err != nil {
			t.Fatalf("fixture %s: %v", c.Func, err)
		}
	}
	run(&api.Call{Flavour: api.WHM1, Func: "createacct", Args: args([]string{"username", "bob", "domain", "bob.test", "password", bobPass}),
		Principal: root, Remote: netip.IPv6Loopback()}, functions.RunWHM1)
	bob, err := d.Data.Env.Impersonate(ctx, root, "bob")
	if err != nil {
		t.Fatal(err)
	}
	run(&api.Call{Flavour: api.UAPI, Module: "Email", Func: "add_pop", Args: args([]string{"email", "info", "password", infoPass}),
		Principal: bob, Caller: &root, Remote: netip.IPv6Loopback()}, functions.RunUAPI)
	// An address the brute-force regulator blocks, for WHM's page.
	for i := range d.Data.Hulk.Config().MaxFailuresByIP {
		d.Data.Hulk.Failed(ctx, hulk.Attempt{Service: core.ServiceWHM, Remote: netip.MustParseAddr("198.51.100.7"), User: "admin",
			Method: core.MethodPassword, Secret: fmt.Sprint("guess-", i)}, "user password incorrect")
	}
	return e
}

// hulkSteps opens WHM's brute-force protection page from the navigation,
// sees the blocked address and unblocks it.
func (b *browser) hulkSteps() {
	t := b.t
	if st := b.navigate("opening the brute force page", chromedp.Click(chromedp.CSS(`nav a[href$="/cphulk/"]`))); st != 200 {
		t.Errorf("brute force page: HTTP %d", st)
	}
	b.do("waiting for the blocks", chromedp.WaitVisible(chromedp.ID("block-list")))
	if got := b.text("#block-list tbody th"); got != "198.51.100.7" {
		t.Errorf("blocked address %q, want 198.51.100.7", got)
	}
	b.shot("cphulk")
	b.phone("cphulk")
	if st := b.navigate("unblocking", chromedp.Click(chromedp.CSS(`#block-list button[type="submit"]`))); st != 200 {
		t.Errorf("after unblocking: HTTP %d", st)
	}
	b.do("waiting for the notice", chromedp.WaitVisible(chromedp.ID("page-notice")))
	if !b.exists("#no-blocks") {
		t.Error("the block is still listed")
	}
	b.shot("cphulk-unblocked")
}

func tailLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the browser tests in -short mode")
	}
	exe := chromium(t)
	e := startDaemon(t)
	out := outputDir(t)
	t.Logf("browser screenshots: %s", out)
	for _, tc := range []struct {
		name, user, pass string
		svc              core.Service
		tokens           bool
	}{
		{"cpanel", "bob", bobPass, core.ServiceCPanel, true},
		{"whm", "root", e.rootPass, core.ServiceWHM, true},
		{"webmail", "info@bob.test", infoPass, core.ServiceWebmail, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBrowser(t, exe, filepath.Join(out, tc.name))
			base := "http://" + e.d.Addr(tc.svc, false)
			b.scenario(base, tc.user, tc.pass, tc.svc, tc.tokens)
		})
	}
}

// browser is one headless Chromium with a fresh profile.
type browser struct {
	t    *testing.T
	ctx  context.Context
	dir  string
	step int

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

func newBrowser(t *testing.T, exe, dir string, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx, dir: dir}
	// Start the browser with no deadline (the first action binds its life
	// to the context it gets), then listen to the console.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	b.desktop()
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	return b
}

// do runs actions with a deadline.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v", what, err)
	}
}

// navigate runs actions that load a page and returns its HTTP status.
func (b *browser) navigate(what string, actions ...chromedp.Action[chromedp.Void]) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	res, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		b.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v", what, err)
	}
	return res.Status
}

func run[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(run(b, "reading "+sel, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible)))
}

func (b *browser) exists(sel string) bool {
	b.t.Helper()
	return run(b, "looking for "+sel, chromedp.Evaluate[bool](fmt.Sprintf("document.querySelector(%q) !== null", sel)))
}

// shot saves a full-page PNG of the current page.
func (b *browser) shot(name string) {
	b.t.Helper()
	b.step++
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.step, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Errorf("writing %s: %v", path, err)
	}
}

// phone shoots the current page at a phone's width, then goes back to the
// desktop size.
func (b *browser) phone(name string) {
	b.t.Helper()
	b.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch))
	b.shot(name + "-phone")
	b.desktop()
}

// desktop sets a laptop-sized viewport.
func (b *browser) desktop() {
	b.t.Helper()
	b.do("desktop viewport", chromedp.EmulateViewport(1280, 800))
}

func (b *browser) scenario(base, user, pass string, svc core.Service, tokens bool) {
	t := b.t
	// Login page.
	if st := b.navigate("opening the login page", chromedp.Navigate(base+"/")); st != 200 {
		t.Errorf("login page: HTTP %d", st)
	}
	b.do("waiting for the login form", chromedp.WaitVisible(chromedp.ID("login-form")))
	if got := b.text(".brand-name"); got != brandName(svc) {
		t.Errorf("login page brand %q, want %q", got, brandName(svc))
	}
	if !b.exists(`link[rel="stylesheet"]`) || b.cssColor(".login .card", "border-top-color") == "rgb(0, 0, 0)" {
		t.Errorf("login page without its style sheet")
	}
	b.shot("login")
	b.phone("login")

	// A wrong password: the login page again, 401, with the message.
	b.do("typing a wrong password", chromedp.SendKeys(chromedp.ID("user"), user), chromedp.SendKeys(chromedp.ID("pass"), "wrong-"+pass))
	if st := b.navigate("submitting a wrong password", chromedp.Click(chromedp.ID("login_submit"))); st != 401 {
		t.Errorf("failed login: HTTP %d, want 401", st)
	}
	if got := b.text("#login-msg"); got != "The login is invalid." {
		t.Errorf("failed login message %q", got)
	}
	b.shot("login-failed")

	// Log in.
	b.do("typing the password", chromedp.Clear(chromedp.ID("user")), chromedp.SendKeys(chromedp.ID("user"), user), chromedp.SendKeys(chromedp.ID("pass"), pass))
	if st := b.navigate("logging in", chromedp.Click(chromedp.ID("login_submit"))); st != 200 {
		t.Errorf("home page after login: HTTP %d", st)
	}
	b.do("waiting for the home page", chromedp.WaitVisible(chromedp.ID("who")))
	if got := b.text("#who"); got != user {
		t.Errorf("home page greets %q, want %q", got, user)
	}
	loc := run(b, "reading the location", chromedp.Location())
	if !strings.Contains(loc, "/cpsess") {
		t.Errorf("home page at %s: no security token", loc)
	}
	if got := b.exists("#link-tokens"); got != tokens {
		t.Errorf("home page links to tokens: %v, want %v", got, tokens)
	}
	b.shot("home")
	b.phone("home")

	if tokens {
		b.tokenSteps(svc)
	}

	// Active sessions: the current one is there.
	if st := b.navigate("opening the sessions page", chromedp.Click(chromedp.CSS(`nav a[href$="/sessions/"]`))); st != 200 {
		t.Errorf("sessions page: HTTP %d", st)
	}
	b.do("waiting for the current session", chromedp.WaitVisible(chromedp.ID("current-session")))
	if got := b.text("#current-session"); !strings.Contains(got, "this session") || !strings.Contains(got, "127.0.0.1") {
		t.Errorf("current session row: %q", got)
	}
	b.shot("sessions")
	b.phone("sessions")

	if svc == core.ServiceWHM {
		b.hulkSteps()
	}

	// Log out.
	b.navigate("logging out", chromedp.Click(chromedp.ID("nav-logout")))
	b.do("waiting for the logged-out page", chromedp.WaitVisible(chromedp.ID("login-form")))
	if got := b.text("#login-msg"); got != "You have logged out." {
		t.Errorf("after logout: message %q", got)
	}
	b.shot("logged-out")

	// Back, through the whole history: every private page must be fetched
	// again (no-store; the logged-out page also clears the back/forward
	// cache) and show no private content. The token's POST result cannot
	// be fetched again without resubmitting: Chromium shows an error page.
	for i := 1; i <= 12; i++ {
		st, err := b.back()
		loc := run(b, "reading the location", chromedp.Location())
		b.shot(fmt.Sprintf("back-%d", i))
		if err != nil {
			t.Logf("Back #%d (%s): %v", i, loc, err)
		}
		if b.exists("header.top") || b.exists("#who") || b.exists("#current-session") || b.exists("#token-list") || b.exists("#new-token-value") {
			t.Errorf("Back #%d (%s, HTTP %d) shows a private page", i, loc, st)
		}
		if st == 200 && !b.exists("#login-form") {
			t.Errorf("Back #%d (%s): HTTP 200 without the login form", i, loc)
		}
		if err != nil && strings.Contains(err.Error(), "no page loaded") {
			t.Errorf("Back #%d (%s): %v", i, loc, err)
			break
		}
		if !strings.Contains(loc, "/cpsess") && !strings.HasPrefix(loc, "chrome-error:") && i > 1 {
			break // back at the login page itself
		}
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.console {
		switch {
		case m.IsException(), strings.Contains(m.Text, "Content Security Policy"), strings.Contains(m.Text, "Content-Security-Policy"):
			t.Errorf("browser console: %s", m)
		default:
			t.Logf("browser console: %s", m)
		}
	}
}

func (b *browser) tokenSteps(svc core.Service) {
	t := b.t
	if st := b.navigate("opening the tokens page", chromedp.Click(chromedp.ID("link-tokens"))); st != 200 {
		t.Errorf("tokens page: HTTP %d", st)
	}
	b.do("waiting for the token form", chromedp.WaitVisible(chromedp.ID("create-token")))
	b.shot("tokens")

	// Create a token with a few options.
	b.do("filling in the token form", chromedp.SendKeys(chromedp.ID("tok-name"), "browser-test"),
		chromedp.SendKeys(chromedp.ID("tok-ips"), "127.0.0.1 192.0.2.0/24"))
	if svc == core.ServiceWHM {
		b.do("ticking privileges", chromedp.Click(chromedp.CSS(`input[name="acl"][value="list-accts"]`)),
			chromedp.Click(chromedp.CSS(`input[name="acl"][value="create-acct"]`)))
	} else {
		b.do("ticking read-only", chromedp.Click(chromedp.ID("tok-readonly")))
	}
	if st := b.navigate("creating a token", chromedp.Click(chromedp.ID("create-submit"))); st != 200 {
		t.Errorf("token created: HTTP %d", st)
	}
	b.do("waiting for the new token", chromedp.WaitVisible(chromedp.ID("new-token-value")))
	token := b.text("#new-token-value")
	if len(token) != 32 || strings.Trim(token, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		t.Errorf("new token %q is not 32 characters of [0-9A-Z]", token)
	}
	// The copy button appears only with JavaScript: the script loaded.
	b.do("copying the token", chromedp.Click(chromedp.ID("copy-token"), chromedp.NodeVisible))
	b.do("waiting for the copy status", chromedp.Poll[chromedp.Void](`document.getElementById("copy-status").textContent !== ""`))
	row := b.text(`tr[data-token="browser-test"]`)
	want := "read-only"
	if svc == core.ServiceWHM {
		want = "list-accts, create-acct"
	}
	if !strings.Contains(row, want) || !strings.Contains(row, "192.0.2.0/24") {
		t.Errorf("token row %q lacks %q or the address range", row, want)
	}
	b.shot("token-created")
	b.phone("token-created")

	// Shown once: the list page again does not show it.
	b.navigate("reloading the tokens page", chromedp.Click(chromedp.CSS(`nav a[href$="/tokens/"]`)))
	b.do("waiting for the token list", chromedp.WaitVisible(chromedp.ID("token-list")))
	if b.exists("#new-token-value") {
		t.Error("the token is shown a second time")
	}
	html := run(b, "reading the page", chromedp.OuterHTML(chromedp.CSS("html")))
	if strings.Contains(html, token) {
		t.Error("the token is in the list page")
	}

	// Revoke it.
	if st := b.navigate("revoking the token", chromedp.Click(chromedp.CSS(`tr[data-token="browser-test"] button`))); st != 200 {
		t.Errorf("after revoke: HTTP %d", st)
	}
	b.do("waiting for the notice", chromedp.WaitVisible(chromedp.ID("page-notice")))
	if got := b.text("#page-notice"); got != "The API token “browser-test” was revoked." {
		t.Errorf("revoke notice %q", got)
	}
	if !b.exists("#no-tokens") {
		t.Error("the token is still listed after revoking it")
	}
	b.shot("token-revoked")
}

// back presses Back and returns the status of the page it loads (0 when it
// loads none: an error page, or no navigation at all).
func (b *browser) back() (int64, error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	res, err := chromedp.RunResponse(ctx, chromedp.NavigateBack())
	if err != nil {
		if ctx.Err() != nil {
			// No load: the page came from the back/forward cache (the
			// caller sees what it shows), or Back did nothing.
			return 0, fmt.Errorf("no page loaded (restored from the back/forward cache?): %w", err)
		}
		return 0, err
	}
	return res.Status, nil
}

func (b *browser) cssColor(sel, prop string) string {
	b.t.Helper()
	return run(b, "reading a style", chromedp.Evaluate[string](fmt.Sprintf(
		`(function(){var e=document.querySelector(%q);return e?getComputedStyle(e).getPropertyValue(%q):"rgb(0, 0, 0)"})()`, sel, prop)))
}

func brandName(svc core.Service) string {
	switch svc {
	case core.ServiceWHM:
		return "WHM"
	case core.ServiceWebmail:
		return "Webmail"
	}
	return "cPanel"
}
