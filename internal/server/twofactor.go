package server

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"

	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/web"
)

// Two-factor authentication on the wire (PROTOCOL.md 10.4, D10, D11):
//   - an API call whose credential needs the second factor (a password
//     while the API requests policy is on, a require_otp token) carries the
//     current code in X-CPANEL-OTP; without a right one the answer is HTTP
//     401 and the login page with the code field (its form is named
//     tfa_login_form, which cPanel's clients look for). One code serves
//     every call of its window (D22: auth.TwoFactor.VerifyHeader); under
//     the phishing-resistant policy a covered user's password is refused
//     on the WHM ports whatever code it carries (passwordAllowed);
//   - a session that is not two-factor verified reaches the code page and
//     logout only: every page (and every API call under its token) answers
//     HTTP 401 with the code form (tfa_login_form, field tfatoken), which
//     posts to <token>/; a right code (or recovery code) verifies the
//     session.
// Every code check goes through the guard (auth.TwoFactor.Verify and
// VerifyHeader).

// OTPHeader carries the current two-factor code of an API call.
const OTPHeader = "X-CPANEL-OTP"

// Message codes of the code page and the login JSON (D10).
const (
	codeTFARequired = "tfa_required"
	codeTFAInvalid  = "tfa_invalid"
	codeTFAMissing  = "tfa_missing"
)

// secondFactor decides whether an authenticated API request may go on: it
// writes the answer and returns false when the request still needs the
// user's second factor and does not carry a right one.
func (s *Server) secondFactor(w http.ResponseWriter, r *http.Request, p Port, req *auth.Request, out auth.Outcome) bool {
	if out.Method == core.MethodPassword && !s.passwordAllowed(w, r, p, req, out) {
		return false
	}
	if s.TwoFactor == nil {
		return true
	}
	ctx := r.Context()
	user := out.Principal.User
	needed, err := s.TwoFactor.Needed(ctx, out)
	if err != nil {
		// Fail closed: the request is refused like a wrong credential.
		s.Log.Error("two-factor: deciding whether a code is needed", "request_id", requestID(ctx), "user", user, "error", err.Error())
		accessDenied(w, http.StatusForbidden)
		return false
	}
	if !needed {
		return true
	}
	if out.Method == core.MethodSession {
		s.decision(r, p, "failure", user, out.Method, "session not two-factor verified", core.Principal{Session: out.Principal.Session})
		s.Log.Warn("session not two-factor verified", "request_id", requestID(ctx), "service", p.Service.App(),
			"remote", req.Remote.String(), "user", user)
		s.codePage(w, r, p, out, http.StatusUnauthorized, codeTFARequired)
		return false
	}
	code := r.Header.Get(OTPHeader)
	msg := codeTFARequired
	if code != "" {
		v, err := s.verifyCode(r, p, req.Remote, user, code, true)
		if err != nil {
			s.Log.Error("two-factor: checking a code", "request_id", requestID(ctx), "user", user, "error", err.Error())
		}
		if v.OK() {
			return true
		}
		msg = codeTFAInvalid
		s.Log.Warn("two-factor code refused", "request_id", requestID(ctx), "service", p.Service.App(),
			"remote", req.Remote.String(), "user", user, "method", string(out.Method), "reason", v.String())
	} else {
		s.decision(r, p, "failure", user, out.Method, "two-factor code required", core.Principal{TokenName: out.Principal.TokenName})
		s.Log.Warn("two-factor code required", "request_id", requestID(ctx), "service", p.Service.App(),
			"remote", req.Remote.String(), "user", user, "method", string(out.Method))
	}
	s.apiTwoFactorPage(w, r, p, msg)
	return false
}

// passwordAllowed refuses a password-authenticated API call of a user the
// phishing-resistant policy covers on this port (auth.PasskeyRequired:
// root's, and under require_passkey_resellers resellers', WHM calls),
// whatever code it carries: a password and a code are what a phishing
// page captures, and relayed at once to the API they would do what the
// policy forbids them at the login page. API tokens and access hashes,
// which are not typed into login pages, are not asked. It writes D11's
// answer (HTTP 401 and the login page) with the message code
// passkey_required, and returns false, when it refuses.
func (s *Server) passwordAllowed(w http.ResponseWriter, r *http.Request, p Port, req *auth.Request, out auth.Outcome) bool {
	ctx := r.Context()
	user := out.Principal.User
	required, err := auth.PasskeyRequired(ctx, s.Store, user, p.Service)
	if err != nil {
		// Fail closed: the request is refused like a wrong credential.
		s.Log.Error("two-factor: reading the passkey policy", "request_id", requestID(ctx), "user", user, "error", err.Error())
		accessDenied(w, http.StatusForbidden)
		return false
	}
	if !required {
		return true
	}
	const why = "the phishing-resistant policy requires a passkey: a password cannot call the API"
	s.decision(r, p, "failure", user, out.Method, why, core.Principal{})
	s.Log.Warn("password API call refused: the phishing-resistant policy requires a passkey", "request_id", requestID(ctx),
		"service", p.Service.App(), "remote", req.Remote.String(), "user", user, "with_code", r.Header.Get(OTPHeader) != "")
	s.apiTwoFactorPage(w, r, p, codePasskeyRequired)
	return false
}

// apiTwoFactorPage is D11's answer: HTTP 401 and the login page asking
// for the code.
func (s *Server) apiTwoFactorPage(w http.ResponseWriter, r *http.Request, p Port, msgCode string) {
	// The page is rendered as for a plain GET: nothing of the API call's
	// arguments goes into it.
	r2 := r.Clone(r.Context())
	r2.Method, r2.URL.RawQuery, r2.PostForm, r2.Body = http.MethodGet, "", nil, http.NoBody
	s.Web.LoginPage(w, r2, p.Service, http.StatusUnauthorized, msgCode)
}

// verifyCode checks a code of user through the guard, and writes the
// decision to the audit stream (and a refusal to login_log). A header's
// code (X-CPANEL-OTP) serves its whole window and is never a recovery
// code (D22); any other was typed at a login and passes once.
func (s *Server) verifyCode(r *http.Request, p Port, remote netip.Addr, user, code string, header bool) (auth.Verdict, error) {
	ctx := r.Context()
	att := auth.Attempt{Service: p.Service, Remote: remote, User: user}
	var (
		v         auth.Verdict
		remaining int
		err       error
	)
	if header {
		v, err = s.TwoFactor.VerifyHeader(ctx, s.guard(), att, code)
	} else {
		v, remaining, err = s.TwoFactor.Verify(ctx, s.guard(), att, code, true)
	}
	if v == auth.RecoveryOK {
		s.Log.Warn("two-factor recovery code used", "request_id", requestID(ctx), "service", p.Service.App(),
			"remote", remote.String(), "user", user, "recovery_codes_left", remaining)
	}
	switch {
	case v.OK():
		s.decision(r, p, "success", user, core.MethodTwoFactor, "", core.Principal{})
	case v == auth.CodeRefused:
		s.decision(r, p, "blocked", user, core.MethodTwoFactor, v.String(), core.Principal{})
	default:
		s.decision(r, p, "failure", user, core.MethodTwoFactor, v.String(), core.Principal{})
	}
	return v, err
}

// crossOrigin refuses a code form posted by another site.
var crossOrigin = http.NewCrossOriginProtection()

// servePending serves a page request of a session that still needs the
// second factor: the code page, its passkey routes (passkeys.go), or (a
// POST with tfatoken) the code check, which the phishing-resistant policy
// turns away unchecked.
func (s *Server) servePending(w http.ResponseWriter, r *http.Request, p Port, out auth.Outcome, remote netip.Addr, rest string) {
	ctx := r.Context()
	token := out.Session.SecurityToken
	user := out.Principal.User
	if s.servePendingPasskey(w, r, p, out, remote, rest) {
		return
	}
	if r.Method != http.MethodPost {
		s.codePage(w, r, p, out, http.StatusUnauthorized, codeTFARequired)
		return
	}
	if err := crossOrigin.Check(r); err != nil {
		web.SetPageHeaders(w.Header())
		http.Error(w, "This form was sent from another site, so it was refused.", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil {
		s.codePage(w, r, p, out, http.StatusBadRequest, codeTFAMissing)
		return
	}
	code := strings.TrimSpace(r.PostForm.Get("tfatoken"))
	if code == "" {
		s.codePage(w, r, p, out, http.StatusUnauthorized, codeTFAMissing)
		return
	}
	// Under the phishing-resistant policy a code never completes the
	// login: it is not even checked (nor counted).
	if req, err := auth.PasskeyRequired(ctx, s.Store, user, p.Service); err != nil || req {
		if err != nil {
			s.Log.Error("two-factor: reading the passkey policy", "request_id", requestID(ctx), "user", user, "error", err.Error())
			s.Web.LoginPage(w, r, p.Service, http.StatusInternalServerError, "internal_error")
			return
		}
		s.decision(r, p, "failure", user, core.MethodTwoFactor, "the phishing-resistant policy requires a passkey", core.Principal{})
		s.Log.Warn("two-factor code refused: the phishing-resistant policy requires a passkey", "request_id", requestID(ctx),
			"service", p.Service.App(), "remote", remote.String(), "user", user)
		s.codePage(w, r, p, out, http.StatusUnauthorized, codePasskeyRequired)
		return
	}
	if auth.HasControl(code) || len(code) > 64 {
		code = "invalid" // checked (and counted) as the wrong code it is
	}
	v, err := s.verifyCode(r, p, remote, user, code, false)
	if err != nil {
		s.Log.Error("two-factor: checking a code", "request_id", requestID(ctx), "user", user, "error", err.Error())
	}
	if !v.OK() {
		s.Log.Warn("two-factor code refused", "request_id", requestID(ctx), "service", p.Service.App(),
			"remote", remote.String(), "user", user, "method", string(core.MethodSession), "reason", v.String())
		s.codePage(w, r, p, out, http.StatusUnauthorized, codeTFAInvalid)
		return
	}
	_, err = s.Store.UpdateSession(ctx, out.Session.IDHash, func(ss store.Session) (store.Session, error) {
		ss.TFAVerified = true
		return ss, nil
	})
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.Log.Error("two-factor: verifying the session", "request_id", requestID(ctx), "user", user, "error", err.Error())
		}
		s.Web.LoginPage(w, r, p.Service, http.StatusUnauthorized, auth.CodeExpired)
		return
	}
	s.Log.Info("session two-factor verified", "request_id", requestID(ctx), "service", p.Service.App(),
		"remote", remote.String(), "user", user)
	// 303, not D21's 302: this is no POST /login but a browser's second
	// step, under a token the client already has; a script that posts
	// the code here is best served by landing on the page.
	web.SetPageHeaders(w.Header())
	w.Header().Set("Location", token+"/")
	w.WriteHeader(http.StatusSeeOther)
}
