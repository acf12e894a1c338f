// Package server turns HTTP requests on the six cPanel & WHM ports into
// authenticated API calls: listeners' handlers, middleware and the URL map.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/api/api2"
	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/functions"
	"github.com/cpauth/cpauth/internal/sessions"
	"github.com/cpauth/cpauth/internal/settings"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/web"
)

// Server holds what every port's handler shares.
type Server struct {
	Store    store.Store
	Chain    auth.Chain
	Registry *api.Registry
	Env      *functions.Env
	Log      *slog.Logger
	// TLSPort returns the TLS port serving svc, for requiressl redirects.
	TLSPort func(svc core.Service) int
	// Sessions makes sessions at login; SessionAuth is the chain's session
	// method, which pages use alone; Password checks login forms.
	Sessions    *sessions.Manager
	SessionAuth *auth.Session
	Password    *auth.Password
	// Web renders the login page and the pages behind a session.
	Web *web.Server
}

// Port is one listener's identity.
type Port struct {
	Service core.Service
	TLS     bool
}

// Handler returns the handler of one port, wrapped in the middleware.
func (s *Server) Handler(p Port) http.Handler {
	return s.middleware(p, s.routes(p))
}

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyRecord
)

// record collects what the access log line reports about a request.
type record struct {
	user   string
	method core.Method
}

func recordOf(r *http.Request) *record {
	rec, _ := r.Context().Value(keyRecord).(*record)
	if rec == nil {
		return &record{}
	}
	return rec
}

// statusWriter remembers the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

var requestSeq atomic.Uint64

// middleware: recover, request id, body limit, access log.
func (s *Server) middleware(p Port, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := strconv.FormatUint(requestSeq.Add(1), 36) + "-" + strconv.FormatInt(start.UnixNano()%1e9, 36)
		rec := &record{}
		ctx := context.WithValue(context.WithValue(r.Context(), keyRequestID, id), keyRecord, rec)
		r = r.WithContext(ctx)
		r.Body = http.MaxBytesReader(w, r.Body, api.MaxBodyBytes+1)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Log.Error("panic in handler", "request_id", id, "panic", fmt.Sprint(v), "path", r.URL.Path)
				if sw.status == 0 {
					http.Error(sw, "Internal Server Error", http.StatusInternalServerError)
				}
			}
			s.Log.Info("access",
				"request_id", id, "service", p.Service.App(), "tls", p.TLS,
				"remote", remoteAddr(r).String(), "method", r.Method, "path", r.URL.Path,
				"status", sw.status, "bytes", sw.bytes, "user", rec.user, "auth", string(rec.method),
				"duration_ms", float64(time.Since(start).Microseconds())/1000)
		}()
		next.ServeHTTP(sw, r)
	})
}

// remoteAddr is the client address of the TCP connection (no proxy headers
// are trusted).
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		a, _ := netip.ParseAddr(host)
		return a
	}
	return ap.Addr().Unmap()
}

// writeJSON writes an envelope.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body := api.JSON(v)
	w.Header().Set("Content-Type", api.JSONContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(body)
}

// accessDenied writes D5: the same bytes for every authentication failure.
func accessDenied(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", `text/plain; charset="utf-8"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(api2.AccessDenied)))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write([]byte(api2.AccessDenied))
}

// forbiddenText writes HTTP 403 with a plain-text body (cpsrvd::Forbidden).
func forbiddenText(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", `text/plain; charset="utf-8"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(msg)))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusForbidden)
	w.Write([]byte(msg))
}

// authenticate runs the chain; on failure it writes D5 and returns false.
// token is the request's security token ("" when the path has none): with
// this service's session cookie and no Authorization header, it is a
// session request.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, p Port, token string) (core.Principal, bool) {
	req := s.sessionRequest(r, p, r.Header.Get("Authorization"), token)
	out := s.Chain.Authenticate(r.Context(), req)
	rec := recordOf(r)
	rec.method = out.Method
	if out.Result == auth.OK {
		rec.user = out.Principal.User
		return out.Principal, true
	}
	rec.user = out.User
	s.Log.Warn("authentication failed",
		"request_id", r.Context().Value(keyRequestID), "service", p.Service.App(),
		"remote", req.Remote.String(), "user", clipUser(out.User), "method", string(out.Method), "reason", out.Reason)
	status := http.StatusForbidden
	switch {
	case out.Result == auth.NotMine:
		status = http.StatusUnauthorized // no credentials at all (a security token alone included)
	case out.Code == auth.CodeTokenMissing, out.Code == auth.CodeTokenIncorrect:
		status = http.StatusUnauthorized // D12: a session cookie without the right security token
	}
	accessDenied(w, status)
	return core.Principal{}, false
}

// clipUser keeps an attacker-chosen user name from flooding the log.
func clipUser(u string) string {
	if len(u) > 64 {
		return u[:64] + "…"
	}
	return u
}

// redirectTLS answers plain-port requests with 301 to the TLS port when
// requiressl is on (D15); it reports whether it did.
func (s *Server) redirectTLS(w http.ResponseWriter, r *http.Request, p Port) bool {
	if p.TLS || s.TLSPort == nil {
		return false
	}
	v, err := settings.Get(r.Context(), s.Store, settings.RequireSSL)
	if err != nil || v != "1" {
		return false
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "" || strings.ContainsAny(host, "/\\@") {
		host = "localhost"
	}
	target := "https://" + net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(s.TLSPort(p.Service))) + r.URL.RequestURI()
	http.Redirect(w, r, target, http.StatusMovedPermanently)
	return true
}

// callError maps a function error's kind to nothing: logical failures are
// HTTP 200 with result=0 as in cPanel; internal errors are logged here.
func (s *Server) logCallError(r *http.Request, c *api.Call, err error) {
	if err == nil {
		return
	}
	var ce *core.Error
	if !errors.As(err, &ce) || ce.Kind == core.KindInternal {
		s.Log.Error("api function failed", "request_id", r.Context().Value(keyRequestID), "func", c.Module+"::"+c.Func, "error", err.Error())
	}
}
