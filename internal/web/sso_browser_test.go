package web_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/functions"
)

// TestBrowserSingleSignOn opens a create_user_session URL, as made, in
// Chromium: it lands logged in on the cPanel home page, under the URL's
// security token; the same URL a second time is a failed login.
func TestBrowserSingleSignOn(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the browser tests in -short mode")
	}
	exe := chromium(t)
	e := startDaemon(t)
	c := &api.Call{Flavour: api.WHM1, Func: "create_user_session", Args: args([]string{"user", "bob", "service", "cpaneld"}),
		Principal: rootLocal(), Remote: netip.MustParseAddr("127.0.0.1"), Host: "127.0.0.1"}
	res, err := functions.RunWHM1(context.Background(), e.d.Data.Registry, c)
	if err != nil {
		t.Fatal(err)
	}
	data := res.Data.(map[string]any)
	u, token := data["url"].(string), data["cp_security_token"].(string)
	if !strings.HasPrefix(u, "https://127.0.0.1:") {
		t.Fatalf("url %s", u)
	}
	// The daemon's certificate is self-signed.
	b := newBrowser(t, exe, filepath.Join(outputDir(t), "sso"), chromedp.Flag("ignore-certificate-errors", true))
	if st := b.navigate("opening the single sign-on URL", chromedp.Navigate(u)); st != 200 {
		t.Errorf("landing page: HTTP %d", st)
	}
	b.do("waiting for the home page", chromedp.WaitVisible(chromedp.ID("who")))
	if got := b.text("#who"); got != "bob" {
		t.Errorf("home page greets %q, want bob", got)
	}
	if !b.exists("header.top") || !b.exists("#link-tokens") {
		t.Errorf("not the cPanel home page")
	}
	loc := run(b, "reading the location", chromedp.Location())
	if !strings.Contains(loc, token+"/") || strings.Contains(loc, "session=") {
		t.Errorf("landed at %s; want under %s, without the session value", loc, token)
	}
	b.shot("sso-home")

	// Its session is this browser's: the sessions page shows it as current,
	// made by single sign-on.
	if st := b.navigate("opening the sessions page", chromedp.Click(chromedp.CSS(`nav a[href$="/sessions/"]`))); st != 200 {
		t.Errorf("sessions page: HTTP %d", st)
	}
	b.do("waiting for the current session", chromedp.WaitVisible(chromedp.ID("current-session")))
	if got := b.text("#current-session"); !strings.Contains(got, "this session") {
		t.Errorf("current session row: %q", got)
	}
	b.shot("sso-sessions")

	// Once only.
	if st := b.navigate("opening the URL again", chromedp.Navigate(u)); st != 401 {
		t.Errorf("second use: HTTP %d, want 401", st)
	}
	if got := b.text("#login-msg"); got != "The login is invalid." {
		t.Errorf("second use: message %q", got)
	}
	b.shot("sso-second-use")
}
