package e2e

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/cpauth/cpauth/client/logmein"
	"github.com/cpauth/cpauth/internal/core"
)

// Single sign-on and secure remote logins for a user with two-factor
// authentication: a create_user_session URL lands in a session that is
// already verified (as cPanel's), and a secure remote login needs the code
// at its login step and hands over a verified session.
func TestSSOWithTwoFactor(t *testing.T) {
	e := startWithFixtures(t)
	ctx := context.Background()
	f := e.enroll(t, "bob")
	port := e.tlsPort(t, core.ServiceCPanel)

	t.Run("create_user_session: verified", func(t *testing.T) {
		d := e.mustCreateSession(t, "root", "user", "bob", "service", "cpaneld")
		r := e.open(t, http.MethodGet, d.URL, nil)
		if r.status != http.StatusTemporaryRedirect {
			t.Fatalf("GET url: %d", r.status)
		}
		if who, err := e.whoAmI(t, core.ServiceCPanel, redeemedSession(t, core.ServiceCPanel, r)); err != nil || who != "bob" {
			t.Errorf("the SSO session of a two-factor user: %q, %v (want a verified session of bob)", who, err)
		}
	})
	t.Run("secure remote login: the code is required", func(t *testing.T) {
		_, _, err := logmein.GetLoggedInURL(ctx, logmein.Options{User: "bob", Pass: bobPass, Host: "127.0.0.1", Port: port,
			Service: "cpanel", InsecureSkipVerify: true})
		if !errors.Is(err, logmein.ErrTwoFactorRequired) {
			t.Fatalf("without a code: err = %v, want ErrTwoFactorRequired", err)
		}
	})
	t.Run("secure remote login with the code: verified", func(t *testing.T) {
		u, _, err := logmein.GetLoggedInURL(ctx, logmein.Options{User: "bob", Pass: bobPass, Host: "127.0.0.1", Port: port,
			Service: "cpanel", TFAToken: e.code(t, f), InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		r := e.open(t, http.MethodGet, u, nil)
		if r.status != http.StatusTemporaryRedirect {
			t.Fatalf("GET url: %d", r.status)
		}
		if who, err := e.whoAmI(t, core.ServiceCPanel, redeemedSession(t, core.ServiceCPanel, r)); err != nil || who != "bob" {
			t.Errorf("the handed-over session: %q, %v (want a verified session of bob)", who, err)
		}
	})
}
