package web

import (
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/cpauth/cpauth/internal/core"
)

// Passkeys on the pages: the code page offers one as the second factor,
// the login page offers passwordless sign-in, and the two-factor page has
// a "Passkeys and security keys" part to add, rename and remove them and
// to turn passwordless sign-in on or off. The ceremonies are the server's
// routes (server/passkeys.go), driven by static/passkey.js; without
// JavaScript the pages say that passkeys need it, and everything else
// works.

// CodePage says what the code page offers.
type CodePage struct {
	// Code: the form for a two-factor code.
	Code bool
	// Passkey: the user has a passkey; PasskeyUsable: and this page's
	// address may use it (the server's host name, a TLS port).
	Passkey, PasskeyUsable bool
	// PasskeyRequired: the phishing-resistant policy asks for a passkey
	// and a code is not enough.
	PasskeyRequired bool
}

// passkeyNotices are the two-factor page's passkey messages, by the code
// the server's forms redirect with (?passkey=...): the text, and whether
// it is good news.
var passkeyNotices = map[string]struct {
	text string
	ok   bool
}{
	"added":               {"The passkey was added.", true},
	"renamed":             {"The passkey was renamed.", true},
	"removed":             {"The passkey was removed.", true},
	"passwordless_on":     {"Passwordless sign-in is on: “Sign in with a passkey” on the login page logs you in with a passkey alone.", true},
	"passwordless_off":    {"Passwordless sign-in is off.", true},
	"remove_denied":       {"The passkey was kept: confirm the removal with your password, a current code or a passkey.", false},
	"passwordless_denied": {"Passwordless sign-in stays off: confirm with your password, a current code or a passkey.", false},
	"bad_name":            {"Give the passkey a name of 1 to 64 characters.", false},
	"name_taken":          {"A passkey of that name exists: choose another name.", false},
	"not_found":           {"That passkey no longer exists.", false},
	"no_passkey":          {"Add a passkey first.", false},
	"last_required":       {"WHM requires a passkey for this account: add another one before removing this one.", false},
	"error":               {"The system experienced an internal error. Please try again.", false},
}

// passkeyRow is a passkey as the page lists it.
type passkeyRow struct {
	ID       string // base64url, for the forms
	Name     string
	Kind     string
	Synced   bool
	Cloned   bool
	Created  time.Time
	LastUsed time.Time
	LastIP   string
}

// passkeyPart is the two-factor page's passkey part.
type passkeyPart struct {
	Enabled      bool // the server runs passkeys at all
	Usable       bool // this page's address may use them
	Host         string
	Rows         []passkeyRow
	Passwordless bool
	HasCode      bool // a two-factor code can confirm a removal
	AnyUsable    bool // a passkey not marked as cloned can confirm one
	Notice       string
	Error        string
}

// requestOrigin is the origin the browser sees.
func requestOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + strings.ToLower(r.Host)
}

// passkeysUsable reports whether this page's address may use passkeys.
func (s *Server) passkeysUsable(r *http.Request) bool {
	return s.Passkeys != nil && s.Passkeys.RP().Offered(requestOrigin(r))
}

func (s *Server) newPasskeyPart(r *http.Request, v Visit, hasCode bool) (passkeyPart, error) {
	if s.Passkeys == nil {
		return passkeyPart{}, nil
	}
	ctx := r.Context()
	pp := passkeyPart{Enabled: true, Usable: s.passkeysUsable(r), Host: s.Passkeys.RP().ID, HasCode: hasCode}
	list, err := s.Store.ListPasskeys(ctx, v.Principal.User)
	if err != nil {
		return pp, err
	}
	for _, p := range list {
		pp.AnyUsable = pp.AnyUsable || !p.CloneWarning
		pp.Rows = append(pp.Rows, passkeyRow{
			ID: base64.RawURLEncoding.EncodeToString(p.ID), Name: p.Name, Kind: p.Kind, Synced: p.BackupState,
			Cloned: p.CloneWarning, Created: p.Created, LastUsed: p.LastUsed, LastIP: p.LastUsedIP,
		})
	}
	if pp.Passwordless, err = s.Passkeys.Passwordless(ctx, v.Principal.User); err != nil {
		return pp, err
	}
	if n, ok := passkeyNotices[r.URL.Query().Get("passkey")]; ok {
		if n.ok {
			pp.Notice = n.text
		} else {
			pp.Error = n.text
		}
	}
	return pp, nil
}

// CodePage writes the code page of a session that still needs the user's
// second factor, offering what o says.
func (s *Server) CodePage(w http.ResponseWriter, r *http.Request, svc core.Service, status int, msgCode, token string, o CodePage) {
	d := tfaData{Title: "Two-Factor Authentication", Brand: brandOf(svc), Token: token, Options: o}
	if msgCode != "tfa_required" {
		d.Message = Messages[msgCode]
	}
	s.render(w, r, status, "tfa", d)
}
