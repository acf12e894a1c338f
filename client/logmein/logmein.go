// Package logmein makes secure remote login URLs, as cPanel's
// Cpanel::LogMeIn does: it logs in to a cPanel & WHM (or cpauth) server
// with a user name and password and returns a URL that, opened in a
// browser, lands there logged in, without the browser ever seeing the
// password.
//
// On the wire: POST https://host:<2083|2087|2096>/login/?login_only=1 with
// user, pass, goto_uri and active_token_for_reuse; the session cookie and
// the security token of the answer make
// https://host:port/cpsessNNNNNNNNNN/login/?session=<cookie>[&goto_uri=...].
//
// The URL is a bearer credential: whoever opens it first is logged in.
// cpauth accepts it once, within five minutes of the login; hand it to the
// browser at once and over a secure channel only.
package logmein

import (
	"context"
	"net/http"
	"net/url"

	"github.com/cpauth/cpauth/client/cpapi"
)

// Options of GetLoggedInURL.
type Options struct {
	// User is the login name (Webmail: the email address), Pass its
	// password.
	User, Pass string
	// Host is the server's name or address; Port its TLS port (0: the
	// service's standard port, 2083, 2087 or 2096).
	Host string
	Port int
	// Service is "cpanel", "whm" or "webmail" (anything else: cpanel).
	Service string
	// GotoURI is the page to land on (default "/").
	GotoURI string
	// ActiveTokenForReuse is passed on as active_token_for_reuse.
	ActiveTokenForReuse string
	// TFAToken is the current two-factor code, for accounts that have
	// two-factor authentication.
	TFAToken string
	// HTTPClient makes the request (nil: TLS verification on).
	HTTPClient *http.Client
	// InsecureSkipVerify turns TLS verification off, for servers with a
	// self-signed certificate; ignored when HTTPClient is set.
	InsecureSkipVerify bool
}

// Errors, for errors.Is and errors.As.
var (
	// ErrBadLogin: the user name or password was refused.
	ErrBadLogin = cpapi.ErrBadLogin
	// ErrTwoFactorRequired: the account needs a two-factor code
	// (Options.TFAToken) and none, or a wrong one, was given.
	ErrTwoFactorRequired = cpapi.ErrTwoFactorRequired
)

// UnreachableError is a host that did not answer (no such host, connection
// refused, timeout).
type UnreachableError = cpapi.UnreachableError

// GetLoggedInURL logs in and returns the URL that logs a browser in, and
// the session's security token.
func GetLoggedInURL(ctx context.Context, o Options) (loginURL, securityToken string, err error) {
	svc := cpapi.Service(o.Service)
	switch svc {
	case cpapi.CPanel, cpapi.WHM, cpapi.Webmail:
	default:
		svc = cpapi.CPanel
	}
	c := &cpapi.Client{Host: o.Host, Port: o.Port, Service: svc, HTTPClient: o.HTTPClient, InsecureSkipVerify: o.InsecureSkipVerify}
	s, err := c.Login(ctx, cpapi.LoginOptions{User: o.User, Pass: o.Pass, TFAToken: o.TFAToken, GotoURI: o.GotoURI, ActiveTokenForReuse: o.ActiveTokenForReuse})
	if err != nil {
		return "", "", err
	}
	u := c.BaseURL() + s.Token + "/login/?session=" + s.Cookie
	if o.GotoURI != "" && o.GotoURI != "/" {
		u += "&goto_uri=" + url.QueryEscape(o.GotoURI)
	}
	return u, s.Token, nil
}
