package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/sessions"
	"github.com/cpauth/cpauth/internal/store"
)

// The sessions page lists the visitor's own sessions (root on WHM: every
// session) and ends them. A session is named on the page by its public
// handle (sessions.Handle), so that the page shows nothing a cookie or a
// store lookup could use.

type sessionRow struct {
	Handle   string
	User     string
	Service  string
	Kind     string
	Method   string
	Origin   string
	Created  time.Time
	LastSeen time.Time
	Expires  time.Time
	Idle     time.Duration
	Current  bool
	// TFA: its holder gave the second factor (a code at login, or a
	// single sign-on).
	TFA bool
}

type sessionsData struct {
	pageData
	All      bool // root's view: every user's sessions
	Sessions []sessionRow
	Error    string
	Notice   string
}

// sessionHandle is the session's public name, the same one that WHM API 1
// list_sessions/kill_session, the CLI and the logs use.
func sessionHandle(idHash string) string { return sessions.Handle(idHash) }

// seesAll reports whether the visitor sees and ends every session: root,
// on WHM.
func seesAll(v Visit) bool {
	return v.Principal.Role == core.RoleRoot && v.Principal.Service == core.ServiceWHM
}

// visibleSessions lists the sessions the visitor may see and end.
func (s *Server) visibleSessions(r *http.Request, v Visit) ([]store.Session, error) {
	if seesAll(v) {
		return s.Store.ListSessions(r.Context(), "")
	}
	account := v.Session.Account
	if account == "" {
		account = v.Principal.Account
	}
	all, err := s.Store.ListSessions(r.Context(), account)
	if err != nil {
		return nil, err
	}
	own := all[:0:0]
	for _, x := range all {
		if x.Username == v.Session.Username {
			own = append(own, x)
		}
	}
	return own, nil
}

func (s *Server) sessionsPage(w http.ResponseWriter, r *http.Request, v Visit) {
	s.showSessions(w, r, v, http.StatusOK, "")
}

// showSessions renders the sessions page, with an error message when
// status is not 200.
func (s *Server) showSessions(w http.ResponseWriter, r *http.Request, v Visit, status int, errMsg string) {
	d := sessionsData{pageData: s.base(v, "sessions", "Active sessions"), All: seesAll(v), Error: errMsg}
	list, err := s.visibleSessions(r, v)
	if err != nil {
		s.logError(r, "web: listing sessions", err)
		d.Error = core.Message(core.Internal(err))
		status = http.StatusInternalServerError
	}
	now := s.now()
	for _, x := range list {
		if expired(x, now) {
			continue
		}
		d.Sessions = append(d.Sessions, sessionRow{
			Handle:   sessionHandle(x.IDHash),
			User:     x.Username,
			Service:  serviceName(x.Service),
			Kind:     x.Kind,
			Method:   x.Method,
			Origin:   x.Origin,
			Created:  x.Created,
			LastSeen: x.LastSeen,
			Expires:  x.Expires,
			Idle:     x.IdleTimeout,
			Current:  x.IDHash == v.Session.IDHash,
			TFA:      x.TFAVerified,
		})
	}
	if r.URL.Query().Get("ended") == "1" && status == http.StatusOK {
		d.Notice = "The session was ended."
	}
	s.render(w, r, status, "sessions", d)
}

// expired reports whether a session is over though not purged yet.
func expired(x store.Session, now time.Time) bool {
	if !x.Expires.IsZero() && !now.Before(x.Expires) {
		return true
	}
	if x.IdleTimeout > 0 {
		seen := x.LastSeen
		if seen.IsZero() {
			seen = x.Created
		}
		// LastSeen is written at most once a minute: allow for that.
		return now.Sub(seen) > x.IdleTimeout+time.Minute
	}
	return false
}

func (s *Server) sessionsEnd(w http.ResponseWriter, r *http.Request, v Visit) {
	handle := r.PostForm.Get("session")
	list, err := s.visibleSessions(r, v)
	if err != nil {
		s.logError(r, "web: listing sessions", err)
		s.refuse(w, r, v, http.StatusInternalServerError, core.Message(core.Internal(err)))
		return
	}
	for _, x := range list {
		if handle == "" || sessionHandle(x.IDHash) != handle {
			continue
		}
		if x.IDHash == v.Session.IDHash {
			// Ending the current session is logging out: the logout page
			// ends it, clears the cookie and says so.
			seeOther(w, r, v.Session.SecurityToken+"/logout/")
			return
		}
		if err := s.Store.DeleteSession(r.Context(), x.IDHash); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.logError(r, "web: ending a session", err)
			s.refuse(w, r, v, http.StatusInternalServerError, core.Message(core.Internal(err)))
			return
		}
		if s.Log != nil {
			s.Log.Info("session ended from the sessions page", "by", v.Principal.User, "user", x.Username, "service", x.Service)
		}
		if s.Env != nil {
			s.Env.Logs.SessionPurge(x.Service, remoteAddr(r).String(), x.Username+":"+sessionHandle(x.IDHash), "kill")
		}
		seeOther(w, r, v.Session.SecurityToken+"/sessions/?ended=1")
		return
	}
	// Unknown, already gone, or not the visitor's: the same answer.
	s.showSessions(w, r, v, http.StatusNotFound, "That session does not exist or has already ended.")
}
