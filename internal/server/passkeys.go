package server

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/passkey"
	"github.com/cpauth/cpauth/internal/sessions"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/throttle"
	"github.com/cpauth/cpauth/internal/web"
)

// Passkeys and security keys on the wire. Every route is a POST; the
// begin steps answer the options of navigator.credentials.create or get
// as JSON, the finish steps take the browser's answer in the form field
// "response" (its JSON) and answer {"status": 1, "redirect": ...} or
// {"status": 0, "message": ...}. The static script (passkey.js) drives
// them; pages work without it, passkeys excepted.
//
//	<token>/passkeys/login/begin, /finish       the code page: a passkey as the second factor
//	<token>/passkeys/register/begin, /finish    the two-factor page: add one (with a name)
//	<token>/passkeys/confirm/begin              the two-factor page: an assertion that confirms a removal
//	<token>/passkeys/rename, /remove, /passwordless
//	                                            the two-factor page's forms (303 back to it)
//	/login/passkey/begin, /finish               the login page: passwordless sign-in
//
// Every ceremony goes through the brute-force regulator (a refused
// response counts as a failed credential, method webauthn) and the audit
// stream. A challenge is bound to the session (by its keyed hash) or, for
// a passwordless login, to a login attempt id held in a cookie; it is
// taken once and expires in five minutes.

// maxPasskeyBody bounds a passkey form: a response and a name.
const maxPasskeyBody = 2*passkey.MaxResponseBytes + 4<<10

// passkeyAttemptCookie is the cookie of a passwordless login attempt on a
// service (cookies are per host, not per port).
func passkeyAttemptCookie(p Port) string { return "cpauth_passkey_" + p.Service.App() }

// passkeyResult is a finish step's JSON.
type passkeyResult struct {
	Status        int    `json:"status"`
	Message       string `json:"message,omitempty"`
	Redirect      string `json:"redirect,omitempty"`
	SecurityToken string `json:"security_token,omitempty"`
}

func passkeyJSON(w http.ResponseWriter, status int, v any) {
	web.SetPageHeaders(w.Header())
	writeJSON(w, status, v)
}

func passkeyFail(w http.ResponseWriter, status int, msg string) {
	passkeyJSON(w, status, passkeyResult{Status: 0, Message: msg})
}

// passkeyOptions writes a begin step's options (JSON made by the library).
func passkeyOptions(w http.ResponseWriter, options []byte) {
	web.SetPageHeaders(w.Header())
	writeJSONBody(w, http.StatusOK, options)
}

// Messages of the finish steps.
const (
	msgPasskeyRefused    = "The passkey was not accepted."
	msgPasskeyExpired    = "The passkey request expired or was already used: try again."
	msgPasskeyInternal   = "The system experienced an internal error. Please try again."
	msgPasskeyCrossSite  = "This request was sent from another site, so it was refused."
	msgPasskeyUnreadable = "The request could not be read."
	msgPasskeyNone       = "This account has no passkey."
	msgPasskeyBlocked    = "Too many failed attempts: try again later."
	msgPasskeyOrigin     = "Passkeys work only on this server's secure address."
)

// passkeyUser names a principal as the passkey package does.
func passkeyUser(p core.Principal) passkey.User {
	return passkey.User{Username: p.User, Account: sessions.AccountOf(p)}
}

// requestOrigin is the origin the browser sees for r on p.
func requestOrigin(r *http.Request, p Port) string {
	scheme := "http"
	if p.TLS {
		scheme = "https"
	}
	return scheme + "://" + strings.ToLower(r.Host)
}

// passkeysOffered reports whether passkeys may be used on this request's
// origin: one of the relying party's origins (the configured host name's
// TLS ports; plain ports only for localhost).
func (s *Server) passkeysOffered(r *http.Request, p Port) bool {
	return s.Passkeys != nil && s.Passkeys.RP().Offered(requestOrigin(r, p))
}

// passkeyPost checks what every passkey route needs: a POST, from this
// site, with a readable form. It has answered when it returns false.
func (s *Server) passkeyPost(w http.ResponseWriter, r *http.Request, p Port, loginRoute bool) bool {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		passkeyFail(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return false
	}
	if loginRoute {
		if why := crossSite(r, p); why != "" {
			s.Log.Warn("passkey login refused: sent from another site", "request_id", requestID(r.Context()), "service", p.Service.App(),
				"remote", remoteString(r), "why", why)
			passkeyFail(w, http.StatusForbidden, msgPasskeyCrossSite)
			return false
		}
	} else if err := crossOrigin.Check(r); err != nil {
		passkeyFail(w, http.StatusForbidden, msgPasskeyCrossSite)
		return false
	}
	if !s.passkeysOffered(r, p) {
		passkeyFail(w, http.StatusBadRequest, msgPasskeyOrigin)
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxPasskeyBody)
	if err := r.ParseForm(); err != nil {
		passkeyFail(w, http.StatusBadRequest, msgPasskeyUnreadable)
		return false
	}
	return true
}

// passkeyAttempt is a ceremony's attempt as the regulator sees it: the
// response is the presented secret (a replayed one counts as retried).
func passkeyAttempt(p Port, remote netip.Addr, user, response string) auth.Attempt {
	return auth.Attempt{Service: p.Service, Remote: remote, User: user, Method: core.MethodWebAuthn, Secret: response}
}

// finishCeremony runs a finish step through the guard: Admit before,
// Failed after a refused response, Succeeded after a good one, and the
// audit stream's decision. It answers the failures itself and returns the
// credential and true on success.
func (s *Server) finishCeremony(w http.ResponseWriter, r *http.Request, p Port, att auth.Attempt, what string,
	finish func() (store.Passkey, error)) (store.Passkey, bool) {
	ctx := r.Context()
	g := s.guard()
	if ok, why := g.Admit(ctx, att); !ok {
		s.decision(r, p, "blocked", att.User, core.MethodWebAuthn, "refused by the brute-force regulator: "+why, core.Principal{})
		passkeyFail(w, http.StatusUnauthorized, msgPasskeyBlocked)
		return store.Passkey{}, false
	}
	cred, err := finish()
	switch {
	case err == nil:
		if att.User == "" {
			att.User = cred.Username
		}
		g.Succeeded(ctx, att)
		s.decision(r, p, "success", att.User, core.MethodWebAuthn, "", core.Principal{})
		return cred, true
	case errors.Is(err, passkey.ErrNoCeremony):
		// No guess at anything: a stale page, or a replay of a finished
		// ceremony.
		s.Log.Warn("passkey "+what+" refused: no such ceremony in progress", "request_id", requestID(ctx), "service", p.Service.App(),
			"remote", att.Remote.String(), "user", clipUser(att.User))
		passkeyFail(w, http.StatusBadRequest, msgPasskeyExpired)
	case errors.Is(err, passkey.ErrNameTaken):
		passkeyFail(w, http.StatusBadRequest, "A passkey of that name exists: choose another name.")
	case errors.Is(err, passkey.ErrRefused):
		g.Failed(ctx, att, err.Error())
		s.decision(r, p, "failure", att.User, core.MethodWebAuthn, err.Error(), core.Principal{})
		s.Log.Warn("passkey "+what+" refused", "request_id", requestID(ctx), "service", p.Service.App(),
			"remote", att.Remote.String(), "user", clipUser(att.User), "reason", err.Error())
		passkeyFail(w, http.StatusUnauthorized, msgPasskeyRefused)
	default:
		s.Log.Error("passkey "+what, "request_id", requestID(ctx), "service", p.Service.App(), "user", clipUser(att.User), "error", err.Error())
		passkeyFail(w, http.StatusInternalServerError, msgPasskeyInternal)
	}
	return store.Passkey{}, false
}

// admitBegin asks the regulator whether a ceremony may begin (a blocked
// address or user may not); it has answered when it returns false.
func (s *Server) admitBegin(w http.ResponseWriter, r *http.Request, p Port, att auth.Attempt) bool {
	if ok, why := s.guard().Admit(r.Context(), att); !ok {
		s.decision(r, p, "blocked", att.User, core.MethodWebAuthn, "refused by the brute-force regulator: "+why, core.Principal{})
		passkeyFail(w, http.StatusUnauthorized, msgPasskeyBlocked)
		return false
	}
	return true
}

// ---------------------------------------------------------------------------
// The code page: a passkey as the second factor.

// servePendingPasskey serves the passkey routes of a session that still
// needs its second factor; it returns false for any other path.
func (s *Server) servePendingPasskey(w http.ResponseWriter, r *http.Request, p Port, out auth.Outcome, remote netip.Addr, rest string) bool {
	if rest != "/passkeys/login/begin" && rest != "/passkeys/login/finish" {
		return false
	}
	if s.Passkeys == nil {
		return false
	}
	if !s.passkeyPost(w, r, p, false) {
		return true
	}
	ctx := r.Context()
	user := out.Principal.User
	binding := passkey.SessionBinding(out.Session.IDHash)
	if rest == "/passkeys/login/begin" {
		if !s.admitBegin(w, r, p, passkeyAttempt(p, remote, user, "")) {
			return true
		}
		opts, err := s.Passkeys.BeginLogin(ctx, store.PasskeySecondFactor, binding, passkeyUser(out.Principal))
		switch {
		case errors.Is(err, passkey.ErrNoPasskey):
			passkeyFail(w, http.StatusBadRequest, msgPasskeyNone)
		case err != nil:
			s.Log.Error("passkey: beginning a login", "request_id", requestID(ctx), "user", user, "error", err.Error())
			passkeyFail(w, http.StatusInternalServerError, msgPasskeyInternal)
		default:
			passkeyOptions(w, opts)
		}
		return true
	}
	resp := r.PostForm.Get("response")
	cred, ok := s.finishCeremony(w, r, p, passkeyAttempt(p, remote, user, resp), "second factor", func() (store.Passkey, error) {
		return s.Passkeys.FinishLogin(ctx, store.PasskeySecondFactor, binding, passkeyUser(out.Principal), []byte(resp), remote.String())
	})
	if !ok {
		return true
	}
	_, err := s.Store.UpdateSession(ctx, out.Session.IDHash, func(ss store.Session) (store.Session, error) {
		ss.TFAVerified = true
		if ss.Method == sessions.MethodPassword {
			ss.Method = sessions.MethodPasswordWebAuthn
		}
		// Removing this passkey, or marking it as cloned, ends the session.
		ss.Passkey = cred.ID
		return ss, nil
	})
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.Log.Error("passkey: verifying the session", "request_id", requestID(ctx), "user", user, "error", err.Error())
		}
		passkeyFail(w, http.StatusUnauthorized, web.Messages[auth.CodeExpired])
		return true
	}
	if s.passkeyRemovedMeanwhile(ctx, cred, out.Session) {
		passkeyFail(w, http.StatusUnauthorized, web.Messages[auth.CodeExpired])
		return true
	}
	s.Log.Info("session two-factor verified", "request_id", requestID(ctx), "service", p.Service.App(),
		"remote", remote.String(), "user", user, "method", string(core.MethodWebAuthn), "passkey", cred.Name)
	passkeyJSON(w, http.StatusOK, passkeyResult{Status: 1, Redirect: out.Session.SecurityToken + "/"})
	return true
}

// codePageOptions says what the code page offers out's user.
func (s *Server) codePageOptions(r *http.Request, p Port, out auth.Outcome) (web.CodePage, error) {
	ctx := r.Context()
	user := out.Principal.User
	o := web.CodePage{Code: true}
	if s.TwoFactor != nil {
		on, err := s.TwoFactor.Configured(ctx, user)
		if err != nil {
			return o, err
		}
		o.Code = on
	}
	if s.Passkeys != nil {
		has, err := auth.HasPasskey(ctx, s.Store, user)
		if err != nil {
			return o, err
		}
		o.Passkey = has
		o.PasskeyUsable = has && s.passkeysOffered(r, p)
	}
	req, err := auth.PasskeyRequired(ctx, s.Store, user, p.Service)
	if err != nil {
		return o, err
	}
	if req {
		o.PasskeyRequired, o.Code = true, false
	}
	if !o.Code && !o.Passkey {
		o.Code = true // nothing else to offer: the form says what is wrong
	}
	return o, nil
}

// codePage writes the code page of a session that still needs its second
// factor, offering what its user has.
func (s *Server) codePage(w http.ResponseWriter, r *http.Request, p Port, out auth.Outcome, status int, msgCode string) {
	o, err := s.codePageOptions(r, p, out)
	if err != nil {
		s.Log.Error("two-factor: reading the user's second factors", "request_id", requestID(r.Context()), "user", out.Principal.User, "error", err.Error())
		s.Web.LoginPage(w, r, p.Service, http.StatusInternalServerError, "internal_error")
		return
	}
	if o.PasskeyRequired && msgCode == codeTFARequired {
		msgCode = codePasskeyRequired
	}
	s.Web.CodePage(w, r, p.Service, status, msgCode, out.Session.SecurityToken, o)
}

// Message codes of the phishing-resistant policy.
const (
	codePasskeyRequired = "passkey_required"
	codePasskeyMissing  = "passkey_missing"
)

// ---------------------------------------------------------------------------
// The two-factor page: add, rename, remove, passwordless.

// servePasskeys serves <token>/passkeys/... for a verified session.
func (s *Server) servePasskeys(w http.ResponseWriter, r *http.Request, p Port, out auth.Outcome, remote netip.Addr, rest string) {
	if s.Passkeys == nil {
		s.Web.Private(w, r, web.Visit{Principal: out.Principal, Session: out.Session, Rest: rest, TLS: p.TLS})
		return
	}
	ctx := r.Context()
	user := out.Principal.User
	u := passkeyUser(out.Principal)
	binding := passkey.SessionBinding(out.Session.IDHash)
	back := func(code string) {
		web.SetPageHeaders(w.Header())
		w.Header().Set("Location", out.Session.SecurityToken+"/twofactor/?"+url.Values{"passkey": {code}}.Encode())
		w.WriteHeader(http.StatusSeeOther)
	}
	switch rest {
	case "/passkeys/register/begin", "/passkeys/confirm/begin":
		if !s.passkeyPost(w, r, p, false) {
			return
		}
		// A new passkey is a lasting credential: whoever holds only the
		// session (a stolen cookie) must not add one. The proof is asked
		// before the challenge is issued; the challenge is bound to the
		// session, so the finish step needs nothing more.
		if rest == "/passkeys/register/begin" && !s.proveForPasskey(w, r, p, out, remote, "adding a passkey") {
			return
		}
		if !s.admitBegin(w, r, p, passkeyAttempt(p, remote, user, "")) {
			return
		}
		var (
			opts []byte
			err  error
		)
		if rest == "/passkeys/register/begin" {
			opts, err = s.Passkeys.BeginRegistration(ctx, binding, u)
		} else {
			opts, err = s.Passkeys.BeginLogin(ctx, store.PasskeyConfirm, binding, u)
		}
		switch {
		case errors.Is(err, passkey.ErrNoPasskey):
			passkeyFail(w, http.StatusBadRequest, msgPasskeyNone)
		case err != nil:
			s.Log.Error("passkey: beginning a ceremony", "request_id", requestID(ctx), "user", user, "path", rest, "error", err.Error())
			passkeyFail(w, http.StatusInternalServerError, msgPasskeyInternal)
		default:
			passkeyOptions(w, opts)
		}
	case "/passkeys/register/finish":
		if !s.passkeyPost(w, r, p, false) {
			return
		}
		name, err := passkey.CheckName(r.PostForm.Get("name"))
		if err != nil {
			passkeyFail(w, http.StatusBadRequest, "Give the passkey a name of 1 to 64 characters.")
			return
		}
		resp := r.PostForm.Get("response")
		cred, ok := s.finishCeremony(w, r, p, passkeyAttempt(p, remote, user, resp), "registration", func() (store.Passkey, error) {
			return s.Passkeys.FinishRegistration(ctx, binding, u, name, []byte(resp), remote.String())
		})
		if !ok {
			return
		}
		// As when setting up two-factor authentication: the session
		// that added the second factor has given it.
		if !out.Session.TFAVerified {
			if _, err := s.Store.UpdateSession(ctx, out.Session.IDHash, func(ss store.Session) (store.Session, error) {
				ss.TFAVerified = true
				return ss, nil
			}); err != nil && !errors.Is(err, store.ErrNotFound) {
				s.Log.Error("passkey: verifying the session", "request_id", requestID(ctx), "user", user, "error", err.Error())
			}
		}
		s.Log.Info("passkey added", "request_id", requestID(ctx), "service", p.Service.App(), "remote", remote.String(),
			"user", user, "name", cred.Name, "kind", cred.Kind, "session", sessions.Handle(out.Session.IDHash))
		passkeyJSON(w, http.StatusOK, passkeyResult{Status: 1, Redirect: out.Session.SecurityToken + "/twofactor/?passkey=added"})
	case "/passkeys/rename":
		if !s.passkeyForm(w, r, p) {
			return
		}
		id, ok := passkeyID(r.PostForm.Get("id"))
		if !ok {
			back("not_found")
			return
		}
		_, err := s.Passkeys.Rename(ctx, user, id, r.PostForm.Get("name"))
		switch {
		case err == nil:
			back("renamed")
		case errors.Is(err, passkey.ErrName):
			back("bad_name")
		case errors.Is(err, passkey.ErrNameTaken):
			back("name_taken")
		case errors.Is(err, passkey.ErrNotFound):
			back("not_found")
		default:
			s.Log.Error("passkey: renaming", "request_id", requestID(ctx), "user", user, "error", err.Error())
			back("error")
		}
	case "/passkeys/remove":
		if !s.passkeyForm(w, r, p) {
			return
		}
		s.passkeyRemove(w, r, p, out, remote, back)
	case "/passkeys/passwordless":
		if !s.passkeyForm(w, r, p) {
			return
		}
		on := r.PostForm.Get("passwordless") == "1"
		if on {
			has, err := auth.HasPasskey(ctx, s.Store, user)
			if err != nil {
				s.Log.Error("passkey: reading passkeys", "request_id", requestID(ctx), "user", user, "error", err.Error())
				back("error")
				return
			}
			if !has {
				back("no_passkey")
				return
			}
			// Passwordless sign-in makes a passkey a way in on its own:
			// as for the API twin, the session alone is not enough.
			if pr := s.proof(r, p, out, remote); pr != proofOK {
				s.Log.Warn("passwordless sign-in refused: "+pr.String(), "request_id", requestID(ctx), "service", p.Service.App(),
					"remote", remote.String(), "user", user, "session", sessions.Handle(out.Session.IDHash))
				back("passwordless_denied")
				return
			}
		}
		if err := s.Passkeys.SetPasswordless(ctx, u, on); err != nil {
			s.Log.Error("passkey: passwordless sign-in", "request_id", requestID(ctx), "user", user, "error", err.Error())
			back("error")
			return
		}
		s.Log.Info("passwordless sign-in changed", "request_id", requestID(ctx), "service", p.Service.App(), "remote", remote.String(),
			"user", user, "on", on)
		if on {
			back("passwordless_on")
		} else {
			back("passwordless_off")
		}
	default:
		s.Web.Private(w, r, web.Visit{Principal: out.Principal, Session: out.Session, Rest: rest, TLS: p.TLS})
	}
}

// passkeyForm checks a plain form of the two-factor page: a POST from
// this site, readable. It has answered when it returns false.
func (s *Server) passkeyForm(w http.ResponseWriter, r *http.Request, p Port) bool {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		web.SetPageHeaders(w.Header())
		http.Error(w, "This page does not accept that request method.", http.StatusMethodNotAllowed)
		return false
	}
	if err := crossOrigin.Check(r); err != nil {
		web.SetPageHeaders(w.Header())
		http.Error(w, msgPasskeyCrossSite, http.StatusForbidden)
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxPasskeyBody)
	if err := r.ParseForm(); err != nil {
		web.SetPageHeaders(w.Header())
		http.Error(w, msgPasskeyUnreadable, http.StatusBadRequest)
		return false
	}
	return true
}

// passkeyID decodes a credential ID as the page writes it (base64url).
func passkeyID(v string) ([]byte, bool) {
	if v == "" || len(v) > 2*store.MaxPasskeyIDLen {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	return b, err == nil && len(b) > 0
}

// passkeyRemove removes a passkey once the user confirmed it: with a
// passkey assertion, the password, or a current two-factor code, each
// checked through the regulator. Under the phishing-resistant policy the
// user's last passkey stays (they could no longer log in to WHM).
func (s *Server) passkeyRemove(w http.ResponseWriter, r *http.Request, p Port, out auth.Outcome, remote netip.Addr, back func(string)) {
	ctx := r.Context()
	user := out.Principal.User
	id, ok := passkeyID(r.PostForm.Get("id"))
	if !ok {
		back("not_found")
		return
	}
	target, err := s.Store.GetPasskey(ctx, id)
	if err != nil || target.Username != user {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.Log.Error("passkey: reading a passkey", "request_id", requestID(ctx), "user", user, "error", err.Error())
			back("error")
			return
		}
		back("not_found")
		return
	}
	if !s.confirmed(w, r, p, out, remote) {
		back("remove_denied")
		return
	}
	if req, err := auth.PasskeyRequired(ctx, s.Store, user, core.ServiceWHM); err != nil || req {
		if err != nil {
			s.Log.Error("passkey: reading the policy", "request_id", requestID(ctx), "user", user, "error", err.Error())
			back("error")
			return
		}
		list, err := s.Store.ListPasskeys(ctx, user)
		if err != nil {
			back("error")
			return
		}
		others := 0
		for _, pk := range list {
			if !pk.CloneWarning && string(pk.ID) != string(id) {
				others++
			}
		}
		if others == 0 {
			back("last_required")
			return
		}
	}
	removed, err := s.Passkeys.Remove(ctx, user, id)
	switch {
	case errors.Is(err, passkey.ErrNotFound):
		back("not_found")
		return
	case err != nil:
		s.Log.Error("passkey: removing", "request_id", requestID(ctx), "user", user, "error", err.Error())
		back("error")
		return
	}
	s.Log.Info("passkey removed", "request_id", requestID(ctx), "service", p.Service.App(), "remote", remote.String(),
		"user", user, "name", removed.Name, "session", sessions.Handle(out.Session.IDHash))
	// Every session the passkey made or verified ends with it, this one
	// too when it is one of them; one made with another factor stays.
	ended, err := s.endPasskeySessions(ctx, user, removed, passkey.PurgeRemoved)
	if err != nil {
		s.Log.Error("passkey: ending its sessions", "request_id", requestID(ctx), "user", user, "error", err.Error())
		back("error")
		return
	}
	if slices.ContainsFunc(ended, func(e store.Session) bool { return e.IDHash == out.Session.IDHash }) {
		clearCookie(w, p)
		s.Web.LoginPage(w, r, p.Service, http.StatusOK, "passkey_removed")
		return
	}
	back("removed")
}

// passkeyRemovedMeanwhile closes the window between a passkey's check and
// the session it made or verified: when the passkey was removed (or marked
// as cloned) in between, its DeletePasskeySessions may have run before the
// session was written, so the session is ended here and true returned.
func (s *Server) passkeyRemovedMeanwhile(ctx context.Context, cred store.Passkey, ss store.Session) bool {
	pk, err := s.Store.GetPasskey(ctx, cred.ID)
	if err == nil && !pk.CloneWarning {
		return false
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.Log.Error("passkey: reading it back", "request_id", requestID(ctx), "user", ss.Username, "error", err.Error())
	}
	reason := passkey.PurgeRemoved
	if err == nil {
		reason = passkey.PurgeCloned
	}
	if err := s.Store.DeleteSession(ctx, ss.IDHash); err == nil {
		s.Logs.SessionPurge(ss.Service, "", ss.Username+":"+sessions.Handle(ss.IDHash), reason)
	}
	s.Log.Warn("passkey removed while it was in use: the session it made ended", "request_id", requestID(ctx),
		"user", ss.Username, "passkey_name", cred.Name, "reason", reason)
	return true
}

// endPasskeySessions ends every session (on every node) that the passkey
// made or verified, writing each one's PURGE line to session_log with the
// reason word (passkey.PurgeRemoved); it returns the sessions ended.
func (s *Server) endPasskeySessions(ctx context.Context, user string, pk store.Passkey, reason string) ([]store.Session, error) {
	ended, err := s.Store.DeletePasskeySessions(ctx, pk.ID)
	if err != nil {
		return nil, err
	}
	for _, e := range ended {
		s.Logs.SessionPurge(e.Service, "", e.Username+":"+sessions.Handle(e.IDHash), reason)
	}
	if len(ended) > 0 {
		s.Log.Info("sessions ended", "request_id", requestID(ctx), "user", user, "sessions", len(ended),
			"reason", reason, "passkey_name", pk.Name)
	}
	return ended, nil
}

// proofResult is what proof found in a form.
type proofResult int

const (
	proofNone    proofResult = iota // no proof in the form
	proofRefused                    // a wrong proof (counted), or one the regulator turned away
	proofOK
)

func (pr proofResult) String() string {
	switch pr {
	case proofNone:
		return "no proof given"
	case proofRefused:
		return "the proof was refused"
	}
	return "proven"
}

// Messages of a refused proof at register/begin.
const (
	msgProofNeeded  = "Adding a passkey takes your password again, or a current two-factor code (or recovery code), or a passkey you already have."
	msgProofRefused = "The password or code is incorrect: the passkey was not added."
)

// proveForPasskey asks the register step's proof (proof); it has answered
// (HTTP 401, the passkey envelope) when it returns false.
func (s *Server) proveForPasskey(w http.ResponseWriter, r *http.Request, p Port, out auth.Outcome, remote netip.Addr, what string) bool {
	pr := s.proof(r, p, out, remote)
	if pr == proofOK {
		return true
	}
	s.Log.Warn(what+" refused: "+pr.String(), "request_id", requestID(r.Context()), "service", p.Service.App(),
		"remote", remote.String(), "user", out.Principal.User, "session", sessions.Handle(out.Session.IDHash))
	if pr == proofNone {
		passkeyFail(w, http.StatusUnauthorized, msgProofNeeded)
	} else {
		passkeyFail(w, http.StatusUnauthorized, msgProofRefused)
	}
	return false
}

// confirmed checks the removal's confirmation (proof).
func (s *Server) confirmed(w http.ResponseWriter, r *http.Request, p Port, out auth.Outcome, remote netip.Addr) bool {
	return s.proof(r, p, out, remote) == proofOK
}

// proof checks that the person at the session is the user, for a change
// the session alone may not make (removing a passkey, adding one, turning
// passwordless sign-in on): a passkey assertion (field "assertion", for
// the ceremony begun at confirm/begin), else the password (field "pass"),
// else a two-factor code or recovery code (field "tfa_token"). Each goes
// through the brute-force regulator and the audit stream.
func (s *Server) proof(r *http.Request, p Port, out auth.Outcome, remote netip.Addr) proofResult {
	ctx := r.Context()
	user := out.Principal.User
	g := s.guard()
	if a := r.PostForm.Get("assertion"); a != "" {
		att := passkeyAttempt(p, remote, user, a)
		if ok, why := g.Admit(ctx, att); !ok {
			s.decision(r, p, "blocked", user, core.MethodWebAuthn, "refused by the brute-force regulator: "+why, core.Principal{})
			return proofRefused
		}
		_, err := s.Passkeys.FinishLogin(ctx, store.PasskeyConfirm, passkey.SessionBinding(out.Session.IDHash), passkeyUser(out.Principal), []byte(a), remote.String())
		switch {
		case err == nil:
			g.Succeeded(ctx, att)
			s.decision(r, p, "success", user, core.MethodWebAuthn, "", core.Principal{})
			return proofOK
		case errors.Is(err, passkey.ErrRefused):
			g.Failed(ctx, att, err.Error())
			s.decision(r, p, "failure", user, core.MethodWebAuthn, err.Error(), core.Principal{})
		case !errors.Is(err, passkey.ErrNoCeremony):
			s.Log.Error("passkey: checking a proof", "request_id", requestID(ctx), "user", user, "error", err.Error())
		}
		return proofRefused
	}
	if pass := r.PostForm.Get("pass"); pass != "" && s.Password != nil {
		att := auth.Attempt{Service: p.Service, Remote: remote, User: user, Method: core.MethodPassword, Secret: pass}
		if ok, why := g.Admit(ctx, att); !ok {
			s.decision(r, p, "blocked", user, core.MethodPassword, "refused by the brute-force regulator: "+why, core.Principal{})
			return proofRefused
		}
		res := s.Password.Check(ctx, user, pass, p.Service)
		if res.Result == auth.OK && res.Principal.User == user {
			g.Succeeded(ctx, att)
			s.decision(r, p, "success", user, core.MethodPassword, "", core.Principal{})
			return proofOK
		}
		if !auth.StoreFailure(res) {
			g.Failed(ctx, att, res.Reason)
		}
		s.decision(r, p, "failure", user, core.MethodPassword, res.Reason, core.Principal{})
		return proofRefused
	}
	if code := strings.TrimSpace(r.PostForm.Get("tfa_token")); code != "" && s.TwoFactor != nil {
		if auth.HasControl(code) || len(code) > 64 {
			code = "invalid"
		}
		v, err := s.verifyCode(r, p, remote, user, code, false)
		if err != nil {
			s.Log.Error("two-factor: checking a code", "request_id", requestID(ctx), "user", user, "error", err.Error())
		}
		if v.OK() {
			return proofOK
		}
		return proofRefused
	}
	return proofNone
}

// ---------------------------------------------------------------------------
// The login page: passwordless sign-in.

// msgPasskeyBusy answers a passwordless begin over its limits.
const msgPasskeyBusy = "Too many passkey sign-ins were started: wait a minute and try again."

// passwordlessBegins is the limiter of passwordless begins.
func (s *Server) passwordlessBegins() *throttle.Limiter {
	s.beginsOnce.Do(func() {
		if s.PasswordlessBegins == nil {
			s.PasswordlessBegins = throttle.New(throttle.PasswordlessBegin, nil)
		}
	})
	return s.PasswordlessBegins
}

// admitPasswordlessBegin applies the limits of passwordless begins (a
// bucket for the node, a count per address: throttle.PasswordlessBegin).
// Over them, it answers HTTP 429 in the passkey envelope, logs at most a
// line a second (with the count of refusals since the last one), and
// returns false.
func (s *Server) admitPasswordlessBegin(w http.ResponseWriter, r *http.Request, p Port, remote netip.Addr) bool {
	l := s.passwordlessBegins()
	v := l.Allow(remote)
	if v == throttle.Allowed {
		return true
	}
	if held, ok := s.beginRefusals.note(l.Now()); ok {
		s.Log.Warn("passwordless sign-in begin refused: "+v.String(), "request_id", requestID(r.Context()), "service", p.Service.App(),
			"remote", remote.String(), "refused_since_last_line", held)
	}
	retry := time.Second
	if v == throttle.AddressLimited {
		retry = l.Limits().Window
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(retry.Seconds())))
	passkeyFail(w, http.StatusTooManyRequests, msgPasskeyBusy)
	return false
}

// refusalLog lets one line a second through, and counts the others.
type refusalLog struct {
	mu   sync.Mutex
	last time.Time
	held int
}

// note counts a refusal at now; it says whether to log it, and how many
// refusals before it were not logged.
func (l *refusalLog) note(now time.Time) (held int, log bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < time.Second && !now.Before(l.last) {
		l.held++
		return 0, false
	}
	held, l.held, l.last = l.held, 0, now
	return held, true
}

// servePasskeyLogin serves /login/passkey/begin and /login/passkey/finish.
func (s *Server) servePasskeyLogin(w http.ResponseWriter, r *http.Request, p Port, finish bool) {
	if s.redirectTLS(w, r, p) {
		return
	}
	if s.Passkeys == nil || s.Web == nil {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		http.Error(w, "Not Found", http.StatusNotFound)
		return
	}
	if !s.passkeyPost(w, r, p, true) {
		return
	}
	ctx := r.Context()
	remote := remoteAddr(r)
	rec := recordOf(r)
	rec.method = core.MethodWebAuthn
	if !finish {
		// Each begin stores a challenge for five minutes, and anyone may
		// ask for one: a flood is turned away before anything is written.
		if !s.admitPasswordlessBegin(w, r, p, remote) {
			return
		}
		if !s.admitBegin(w, r, p, passkeyAttempt(p, remote, "", "")) {
			return
		}
		attempt, err := passkey.NewAttemptID()
		if err != nil {
			s.Log.Error("passkey: making a login attempt id", "request_id", requestID(ctx), "error", err.Error())
			passkeyFail(w, http.StatusInternalServerError, msgPasskeyInternal)
			return
		}
		opts, err := s.Passkeys.BeginPasswordless(ctx, s.Passkeys.AttemptBinding(attempt))
		if err != nil {
			s.Log.Error("passkey: beginning a passwordless login", "request_id", requestID(ctx), "error", err.Error())
			passkeyFail(w, http.StatusInternalServerError, msgPasskeyInternal)
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name: passkeyAttemptCookie(p), Value: attempt, Path: "/login/passkey/", MaxAge: int(store.PasskeyChallengeTTL.Seconds()),
			HttpOnly: true, Secure: p.TLS, SameSite: http.SameSiteStrictMode,
		})
		passkeyOptions(w, opts)
		return
	}
	// The attempt cookie is spent whatever happens.
	http.SetCookie(w, &http.Cookie{Name: passkeyAttemptCookie(p), Value: "", Path: "/login/passkey/", MaxAge: -1,
		HttpOnly: true, Secure: p.TLS, SameSite: http.SameSiteStrictMode})
	c, err := r.Cookie(passkeyAttemptCookie(p))
	if err != nil || c.Value == "" || len(c.Value) > 64 {
		passkeyFail(w, http.StatusBadRequest, msgPasskeyExpired)
		return
	}
	resp := r.PostForm.Get("response")
	cred, ok := s.finishCeremony(w, r, p, passkeyAttempt(p, remote, "", resp), "passwordless login", func() (store.Passkey, error) {
		return s.Passkeys.FinishPasswordless(ctx, s.Passkeys.AttemptBinding(c.Value), []byte(resp), remote.String())
	})
	if !ok {
		return
	}
	user := cred.Username
	rec.user = user
	id, err := auth.Lookup(ctx, s.Store, user)
	reason := ""
	switch {
	case err != nil:
		reason = "the passkey's user is gone"
	case id.Disabled != "":
		reason = id.Disabled
	default:
		id.Principal.Method, id.Principal.Service = core.MethodWebAuthn, p.Service
		reason = auth.ServiceRefusal(id.Principal, p.Service)
	}
	if reason != "" {
		s.decision(r, p, "failure", user, core.MethodWebAuthn, reason, core.Principal{})
		s.Log.Warn("passkey login refused", "request_id", requestID(ctx), "service", p.Service.App(), "remote", remote.String(),
			"user", user, "reason", reason)
		passkeyFail(w, http.StatusUnauthorized, web.Messages["invalid_login"])
		return
	}
	if old, ok := s.cookieSession(r, p); ok {
		_ = s.Store.DeleteSession(ctx, old.IDHash)
	}
	n, err := s.Sessions.CreatePasskey(ctx, id.Principal, p.Service, remote, sessions.MethodWebAuthn, cred.ID)
	if err != nil {
		s.Log.Error("passkey login: creating the session", "request_id", requestID(ctx), "service", p.Service.App(), "user", user, "error", err.Error())
		passkeyFail(w, http.StatusInternalServerError, msgPasskeyInternal)
		return
	}
	if s.passkeyRemovedMeanwhile(ctx, cred, n.Session) {
		passkeyFail(w, http.StatusUnauthorized, web.Messages["invalid_login"])
		return
	}
	handle := sessions.Handle(n.Session.IDHash)
	s.Logs.SessionNew(p.Service.App(), remote.String(), user+":"+handle, map[string]string{
		"address": remote.String(), "app": p.Service.App(), "creator": user,
		"method": sessions.MethodWebAuthn, "path": "form", "possessed": "0",
	})
	location := n.Session.SecurityToken + landing(r.PostForm.Get("goto_uri"))
	s.Log.Info("login", "request_id", requestID(ctx), "service", p.Service.App(), "remote", remote.String(),
		"user", user, "method", sessions.MethodWebAuthn, "session", handle, "tfa_verified", true, "passkey", cred.Name,
		"expires", n.Session.Expires.Format("2006-01-02T15:04:05Z"))
	http.SetCookie(w, sessionCookie(p, sessions.EncodeCookie(n.ID)))
	passkeyJSON(w, http.StatusOK, passkeyResult{Status: 1, SecurityToken: n.Session.SecurityToken, Redirect: location})
}
