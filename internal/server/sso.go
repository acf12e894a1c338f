package server

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/sessions"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/web"
)

// Redemptions (PROTOCOL.md 7, 8.2, 8.3): GET or POST of
// /cpsessNNNNNNNNNN/login/?session=<id> (or POST /cpsessNNNNNNNNNN/login
// with session= in the body) trades a one-time session (single sign-on,
// Webmail hand-off), or a freshly made normal session (a secure remote
// login URL), for a new normal session of this browser: new id, the same
// security token, the cookie set, and a redirect into the service.
//
// A redemption is a credential check: the Guard admits it first and hears
// its result, and a refused or bad redemption is answered as a bad login
// (D8) whatever the reason, which goes to the log only.

// localeCookieAge is how long the session_locale cookie of a session made
// with a locale lasts (one year, as cPanel's).
const localeCookieAge = 365 * 24 * 60 * 60

// storeErrorReason starts the reason of a redemption the store could not
// answer: not the client's fault, so not counted against it.
const storeErrorReason = "store error: "

// redeemed is a successful redemption.
type redeemed struct {
	old  store.Session // the session the URL named (consumed)
	next sessions.New  // the browser's new session
}

// serveRedeem answers a login request that carries session=.
func (s *Server) serveRedeem(w http.ResponseWriter, r *http.Request, p Port, args api.Args) {
	ctx := r.Context()
	remote := remoteAddr(r)
	loginOnly := args.Bool("login_only")
	value := args.Get("session")
	red, parsed := sessions.ParseRedemption(value)
	att := auth.Attempt{Service: p.Service, Remote: remote, User: red.User, Method: core.MethodSSO, Secret: value}
	g := s.guard()
	rec := recordOf(r)
	rec.method = core.MethodSSO
	var (
		res    redeemed
		reason string
	)
	admitted, why := g.Admit(ctx, att)
	switch {
	case !admitted:
		reason = "refused by the brute-force regulator: " + why
	case !parsed:
		reason = "malformed session value"
	default:
		token, _, hasToken := sessions.SplitPath(r.URL.Path)
		if !hasToken {
			reason = "no security token in the path"
			break
		}
		res, reason = s.redeem(ctx, p, remote, token, red)
	}
	if admitted {
		switch {
		case reason == "":
			g.Succeeded(ctx, att)
		case !strings.HasPrefix(reason, storeErrorReason):
			// A store that cannot answer blocks nobody afterwards.
			g.Failed(ctx, att, reason)
		}
	}
	if reason != "" {
		rec.user = clipUser(red.User)
		result := "failure"
		if !admitted {
			result = "blocked"
		}
		if s.decision(r, p, result, red.User, core.MethodSSO, reason, core.Principal{}) {
			s.Log.Warn("session redemption refused",
				"request_id", requestID(ctx), "service", p.Service.App(), "remote", remote.String(),
				"user", clipUser(red.User), "reason", reason, "login_only", loginOnly)
		}
		if loginOnly {
			writeJSON(w, http.StatusUnauthorized, loginFailure{Status: 0, Message: "invalid_login"}) // D8
			return
		}
		if r.Method == http.MethodPost {
			r.PostForm = url.Values{}
		}
		s.Web.LoginPage(w, r, p.Service, http.StatusUnauthorized, "invalid_login")
		return
	}
	old, n := res.old, res.next
	rec.user = n.Session.Username
	// A session the browser had on this service is replaced, as at login.
	if prev, ok := s.cookieSession(r, p); ok {
		_ = s.Store.DeleteSession(ctx, prev.IDHash)
	}
	to := "/"
	if old.Kind == store.SessionOneTime {
		if old.GotoURI != "" {
			to = landing(old.GotoURI)
		}
	} else {
		to = landing(args.Get("goto_uri"))
	}
	location := n.Session.SecurityToken + to
	s.decision(r, p, "success", n.Session.Username, core.MethodSSO, "", core.Principal{Session: n.Session.IDHash})
	s.Logs.SessionPurge(p.Service.App(), remote.String(), old.Username+":"+sessions.Handle(old.IDHash), "redeemed")
	s.Logs.SessionNew(p.Service.App(), remote.String(), n.Session.Username+":"+sessions.Handle(n.Session.IDHash), map[string]string{
		"address": remote.String(), "app": p.Service.App(), "creator": old.Creator, "method": n.Session.Method,
		"redeemed": sessions.Handle(old.IDHash), "possessed": "0",
	})
	s.Log.Info("session redeemed",
		"request_id", requestID(ctx), "service", p.Service.App(), "remote", remote.String(),
		"user", n.Session.Username, "creator", old.Creator, "method", n.Session.Method,
		"redeemed", sessions.Handle(old.IDHash), "session", sessions.Handle(n.Session.IDHash),
		"expires", n.Session.Expires.Format("2006-01-02T15:04:05Z"))
	http.SetCookie(w, sessionCookie(p, sessions.EncodeCookie(n.ID)))
	if old.Locale != "" {
		http.SetCookie(w, &http.Cookie{Name: "session_locale", Value: old.Locale, Path: "/", MaxAge: localeCookieAge,
			Secure: p.TLS, SameSite: http.SameSiteLaxMode})
	}
	w.Header().Set("Location", location)
	if loginOnly {
		writeJSON(w, http.StatusOK, loginResult{Status: 1, SecurityToken: n.Session.SecurityToken, Redirect: location})
		return
	}
	web.SetPageHeaders(w.Header())
	if r.Method == http.MethodPost {
		w.WriteHeader(http.StatusSeeOther) // the landing page is fetched with GET
		return
	}
	w.WriteHeader(http.StatusTemporaryRedirect) // what cpsrvd answers the GET
}

// redeem checks and consumes the session a redemption names and makes the
// browser's new one; reason says why it failed ("" on success).
//
// A one-time session is consumed first (ConsumeSession: of two concurrent
// redemptions one wins) and then checked: a URL presented wrongly is spent.
// A normal session (a secure remote login URL) is checked first and
// consumed only when it may be handed over: within
// sessions.OneTimeLifetime of its creation, once.
func (s *Server) redeem(ctx context.Context, p Port, remote netip.Addr, token string, red sessions.Redemption) (redeemed, string) {
	idHash := sessions.IDHash(s.Sessions.Key, red.ID)
	oneTime := red.Tag != ""
	var (
		ss  store.Session
		err error
	)
	if oneTime {
		ss, err = s.Store.ConsumeSession(ctx, idHash)
	} else {
		ss, err = s.Store.GetSession(ctx, idHash)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return redeemed{}, "no such session (used, expired or never made)"
	case err != nil:
		return redeemed{}, storeErrorReason + err.Error()
	}
	now := s.clock()
	wantKind := store.SessionNormal
	if oneTime {
		wantKind = store.SessionOneTime
	}
	switch {
	case ss.Kind != wantKind:
		return redeemed{}, "session of kind " + ss.Kind
	case ss.Service != p.Service.App():
		return redeemed{}, "session of another service (" + ss.Service + ")"
	case ss.Username != red.User:
		return redeemed{}, "session of another user"
	case !secret.Equal(token, ss.SecurityToken):
		return redeemed{}, "security token does not match the session's"
	case !now.Before(ss.Expires):
		return redeemed{}, "session expired"
	}
	if !auth.AddressAllowed(ss.AllowedIPs, remote) {
		return redeemed{}, "session made through an API token that works only from " + strings.Join(ss.AllowedIPs, ", ") + ", redeemed from " + remote.String()
	}
	if oneTime {
		if ss.Origin != "" && ss.Origin != remote.Unmap().String() {
			return redeemed{}, "session bound to " + ss.Origin + ", redeemed from " + remote.String()
		}
	} else {
		if now.Sub(ss.Created) > sessions.OneTimeLifetime {
			return redeemed{}, "session too old to be handed over by URL"
		}
		if why := sessions.Expired(ss, ss.LastSeen, now); why != "" {
			return redeemed{}, why
		}
	}
	ident, err := auth.Lookup(ctx, s.Store, ss.Username)
	switch {
	case err != nil:
		return redeemed{}, "session user: " + err.Error()
	case ident.Disabled != "":
		return redeemed{}, ident.Disabled
	}
	pr := ident.Principal
	if ss.Account != sessions.AccountOf(pr) {
		return redeemed{}, "session of another account (" + ss.Account + ")"
	}
	if why := auth.ServiceRefusal(pr, p.Service); why != "" {
		return redeemed{}, why
	}
	next := sessions.Successor{
		Principal: pr, Service: p.Service, Origin: remote, SecurityToken: ss.SecurityToken,
		Method: ss.Method, Creator: ss.Creator, TFAVerified: !ss.RequireOTP, Locale: ss.Locale,
		AllowedIPs: ss.AllowedIPs, NotAfter: ss.NotAfter, RequireOTP: ss.RequireOTP,
	}
	if !oneTime {
		// Handed over, not redeemed: the session is as verified as it was.
		next.Method, next.TFAVerified = sessions.MethodTransfer, ss.TFAVerified
		if _, err := s.Store.ConsumeSession(ctx, idHash); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return redeemed{}, "session handed over already"
			}
			return redeemed{}, storeErrorReason + err.Error()
		}
	}
	n, err := s.Sessions.CreateSuccessor(ctx, next)
	if err != nil {
		s.Log.Error("redemption: creating the session", "request_id", requestID(ctx), "user", ss.Username, "error", err.Error())
		return redeemed{}, "creating the session failed"
	}
	return redeemed{old: ss, next: n}, ""
}

// hasQueryKey reports whether a raw query names key, even when its value
// cannot be decoded (a damaged session= is a failed redemption, not a
// visit to the login page).
func hasQueryKey(raw, key string) bool {
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		k, _, _ := strings.Cut(part, "=")
		if k == key {
			return true
		}
	}
	return false
}
