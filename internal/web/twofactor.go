package web

import (
	"encoding/base64"
	"net/http"
	"strings"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/totp"
)

// The Two-Factor Authentication page: set up (a QR code of the otpauth://
// URI, rendered here as a PNG, and the secret as text; confirm with a
// code), see the recovery codes once, remove (with a current code).
//
// Nothing is stored until a code confirms the secret. Between the page
// and its form the secret travels sealed with the server key and bound to
// the session (setupPurpose), so it never appears in a URL in plain text
// and is no use to any other session.

const setupPurpose = "tfa-setup"

type twoFactorData struct {
	pageData
	Enabled bool
	Issuer  string
	// Setup: the sealed secret for the form and the QR code's URL, the
	// secret as text and the URI.
	Setup  string
	Secret string
	URI    string
	// RecoveryCodes are shown once, right after setup.
	RecoveryCodes []string
	Error         string
	Notice        string
	// Passkeys is the "Passkeys and security keys" part.
	Passkeys passkeyPart
}

func (s *Server) sealSetup(v Visit, secret string) (string, error) {
	b, err := s.Env.Key.Seal(setupPurpose, []byte(secret), []byte(v.Session.IDHash))
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func (s *Server) openSetup(v Visit, setup string) (string, bool) {
	if setup == "" || len(setup) > 512 {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(setup)
	if err != nil {
		return "", false
	}
	p, err := s.Env.Key.Open(setupPurpose, b, []byte(v.Session.IDHash))
	if err != nil {
		return "", false
	}
	sec, err := totp.NormalizeSecret(string(p))
	return sec, err == nil
}

// twoFactorData fills in the status and, when not set up, a setup offer
// (a fresh secret, or the one of setup when the form is shown again).
func (s *Server) newTwoFactorData(r *http.Request, v Visit, setup string) (twoFactorData, int) {
	d := twoFactorData{pageData: s.base(v, "twofactor", "Two-Factor Authentication")}
	on, iss, err := s.Env.TwoFactorStatus(r.Context(), v.Principal)
	if err != nil {
		s.logError(r, "web: reading two-factor status", err)
		d.Error = core.Message(err)
		return d, http.StatusInternalServerError
	}
	d.Enabled, d.Issuer = on, iss
	if d.Passkeys, err = s.newPasskeyPart(r, v, on); err != nil {
		s.logError(r, "web: reading passkeys", err)
		d.Error = core.Message(core.Internal(err))
		return d, http.StatusInternalServerError
	}
	if on {
		return d, http.StatusOK
	}
	sec, ok := s.openSetup(v, setup)
	if !ok {
		gen, err := s.Env.GenerateOwnTwoFactor(r.Context(), v.Principal)
		if err != nil {
			s.logError(r, "web: generating a two-factor secret", err)
			d.Error = core.Message(err)
			return d, http.StatusInternalServerError
		}
		sec = gen.Secret
	}
	d.Secret, d.URI = sec, totp.URI(iss, v.Principal.User, sec)
	if d.Setup, err = s.sealSetup(v, sec); err != nil {
		s.logError(r, "web: sealing a two-factor secret", err)
		d.Error = core.Message(core.Internal(err))
		return d, http.StatusInternalServerError
	}
	return d, http.StatusOK
}

func (s *Server) twoFactorPage(w http.ResponseWriter, r *http.Request, v Visit) {
	d, status := s.newTwoFactorData(r, v, "")
	s.render(w, r, status, "twofactor", d)
}

// twoFactorQR is the QR code of the setup's otpauth:// URI, as a PNG.
func (s *Server) twoFactorQR(w http.ResponseWriter, r *http.Request, v Visit) {
	sec, ok := s.openSetup(v, r.URL.Query().Get("setup"))
	if !ok {
		notFoundPlain(w)
		return
	}
	_, iss, err := s.Env.TwoFactorStatus(r.Context(), v.Principal)
	if err != nil {
		s.logError(r, "web: reading two-factor status", err)
		http.Error(w, "The system experienced an internal error.", http.StatusInternalServerError)
		return
	}
	png, err := qrcode.Encode(totp.URI(iss, v.Principal.User, sec), qrcode.Medium, 256)
	if err != nil {
		s.logError(r, "web: drawing a QR code", err)
		http.Error(w, "The system experienced an internal error.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	SetPageHeaders(h)
	h.Set("Content-Type", "image/png")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(png)
	}
}

func (s *Server) twoFactorEnable(w http.ResponseWriter, r *http.Request, v Visit) {
	setup := r.PostForm.Get("setup")
	code := strings.TrimSpace(r.PostForm.Get("tfa_token"))
	sec, ok := s.openSetup(v, setup)
	if !ok {
		d, status := s.newTwoFactorData(r, v, "")
		if status == http.StatusOK {
			d.Error, status = "The setup expired or was damaged: scan this new code and try again.", http.StatusBadRequest
		}
		s.render(w, r, status, "twofactor", d)
		return
	}
	c := callFor(r, v, api.UAPI, "TwoFactorAuth", "set_user_configuration", api.Args{})
	codes, err := s.Env.SetOwnTwoFactor(r.Context(), c, sec, code)
	d, status := s.newTwoFactorData(r, v, setup)
	if err != nil {
		if core.KindOf(err) == core.KindInternal {
			s.logError(r, "web: setting up two-factor authentication", err)
		}
		d.Error, status = core.Message(err), statusOf(err)
		s.render(w, r, status, "twofactor", d)
		return
	}
	d.RecoveryCodes = codes
	d.Notice = "Two-factor authentication is on. From now on, logging in asks for a code from your app."
	s.render(w, r, status, "twofactor", d)
}

func (s *Server) twoFactorRemove(w http.ResponseWriter, r *http.Request, v Visit) {
	code := strings.TrimSpace(r.PostForm.Get("tfa_token"))
	c := callFor(r, v, api.UAPI, "TwoFactorAuth", "remove_user_configuration", api.Args{})
	err := s.Env.RemoveOwnTwoFactor(r.Context(), c, code)
	d, status := s.newTwoFactorData(r, v, "")
	if err != nil {
		if core.KindOf(err) == core.KindInternal {
			s.logError(r, "web: removing two-factor authentication", err)
		}
		d.Error = core.Message(err)
		if status == http.StatusOK {
			status = statusOf(err)
		}
	} else if status == http.StatusOK {
		d.Notice = "Two-factor authentication is off."
	}
	s.render(w, r, status, "twofactor", d)
}
