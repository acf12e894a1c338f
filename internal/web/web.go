// Package web is the browser side of cpauth: the login pages of the three
// services and the small UI behind them, server-rendered with html/template
// from embedded files.
package web

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/functions"
	"github.com/cpauth/cpauth/internal/passkey"
	"github.com/cpauth/cpauth/internal/store"
)

// Server renders pages. The server package owns routing, cookies and
// authentication; it calls LoginPage for every page that asks for a login
// and Private for every page behind a valid session.
type Server struct {
	Store    store.Store
	Registry *api.Registry
	Env      *functions.Env
	Log      *slog.Logger
	Now      func() time.Time
	// Passkeys, when set, adds passkeys to the login, code and two-factor
	// pages.
	Passkeys *passkey.Service
}

// Message codes of the login page (PROTOCOL.md 6.2), and the text shown.
var Messages = map[string]string{
	"invalid_login":   "The login is invalid.",
	"token_missing":   "The security token is missing from your request.",
	"token_incorrect": "The security token in your request is invalid.",
	"changed_ip":      "Your IP address has changed. Please log in again.",
	"expired_session": "Your session has expired. Please log in again.",
	"invalid_session": "Your session cookie is invalid. Please log in again.",
	"logged_out":      "You have logged out.",
	"internal_error":  "The system experienced an internal error. Please try again.",
	// A login form posted by another site (D30).
	"cross_site_login": "The login was sent from another site, so it was refused. Log in on this page.",
	// Two-factor codes (D10): the page then asks for the security code
	// too, in a form named tfa_login_form.
	"tfa_required": "Enter the security code from your authenticator app.",
	"tfa_invalid":  "The security code is invalid.",
	"tfa_missing":  "No security code specified.",
	// The phishing-resistant policy.
	"passkey_required": "WHM requires a passkey for this account: a security code is not enough. Use your passkey.",
	"passkey_missing":  "WHM requires a passkey for this account, and it has none. Add one on the Two-Factor Authentication page of cPanel (root: turn the policy off on the command line), then log in again.",
	// The passkey that made (or verified) the session was removed, which
	// ended the session.
	"passkey_removed": "The passkey you logged in with was removed, which ended this session. Log in again.",
}

// Visit is a request behind a valid session, as the server hands it over.
type Visit struct {
	Principal core.Principal
	Session   store.Session
	// Rest is the path after the security token, e.g. "/" or "/tokens/".
	Rest string
	TLS  bool
}

// LoginPage writes the login page of svc with the given HTTP status and
// message code ("" for none; see Messages).
func (s *Server) LoginPage(w http.ResponseWriter, r *http.Request, svc core.Service, status int, msgCode string) {
	s.loginPage(w, r, svc, status, msgCode)
}

// TwoFactorPage writes the code page of a session that still needs the
// user's second factor (D10): its form, named tfa_login_form, posts the
// field tfatoken to token + "/".
func (s *Server) TwoFactorPage(w http.ResponseWriter, r *http.Request, svc core.Service, status int, msgCode, token string) {
	s.CodePage(w, r, svc, status, msgCode, token, CodePage{Code: true})
}

type tfaData struct {
	Title   string
	Brand   Brand
	Message string
	Token   string
	Options CodePage
}

// Private serves a page behind a valid session (home, API tokens,
// sessions, ...), or a 404 page.
func (s *Server) Private(w http.ResponseWriter, r *http.Request, v Visit) {
	s.private(w, r, v)
}
