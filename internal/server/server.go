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
	"sync"
	"sync/atomic"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/api/api2"
	"github.com/cpauth/cpauth/internal/api/uapi"
	"github.com/cpauth/cpauth/internal/api/whmapi1"
	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/functions"
	"github.com/cpauth/cpauth/internal/gateway"
	"github.com/cpauth/cpauth/internal/health"
	"github.com/cpauth/cpauth/internal/logs"
	"github.com/cpauth/cpauth/internal/passkey"
	"github.com/cpauth/cpauth/internal/sessions"
	"github.com/cpauth/cpauth/internal/settings"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/throttle"
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
	// Guard is the brute-force regulator, asked before every credential
	// check and told of every result (nil: auth.NoGuard).
	Guard auth.Guard
	// TwoFactor checks second factors and says which requests need one
	// (nil: none is ever asked for).
	TwoFactor *auth.TwoFactor
	// Passkeys runs the WebAuthn ceremonies of passkeys and security keys
	// (nil: none are offered; passkeys.go).
	Passkeys *passkey.Service
	// Logs are cPanel's log files and the audit stream (nil: none; the
	// slog output stays either way).
	Logs *logs.Logs
	// BodyMemory is the bytes that request bodies may hold at once, all
	// ports together (0: DefaultBodyMemory; body.go).
	BodyMemory int64
	// Gateway, in gateway mode, is asked whether each API call is the
	// gateway's own, and forwards the others to the backend (nil: the
	// standalone server, which serves every call itself).
	Gateway *gateway.Gateway
	// Health answers readiness on every port (nil: the log files alone
	// are checked).
	Health *health.Checker
	// Metrics counts authentication decisions and observes every
	// request (nil: nothing is counted; metrics.go).
	Metrics Metrics
	// PasswordlessBegins bounds the login page's passwordless begin step,
	// which anyone may call and which stores a challenge (nil:
	// throttle.PasswordlessBegin on the real clock; passkeys.go).
	PasswordlessBegins *throttle.Limiter

	healthOnce    sync.Once
	beginsOnce    sync.Once
	beginRefusals refusalLog
	defaultHealth *health.Checker
	bodies        bodyBudget
	bodyWait      time.Duration // how long a body waits for the budget (0: defaultBodyWait)
}

func (s *Server) guard() auth.Guard {
	if s.Guard == nil {
		return auth.NoGuard{}
	}
	return s.Guard
}

// Port is one listener's identity.
type Port struct {
	Service core.Service
	TLS     bool
	// Number is the port number the listener accepts on, for the logs;
	// 0: each request's local address says.
	Number int
}

// Handler returns the handler of one port, wrapped in the middleware.
func (s *Server) Handler(p Port) http.Handler {
	return s.middleware(p, s.routes(p))
}

type ctxKey int

const keyRecord ctxKey = iota

// record collects what the access log line reports about a request; it is
// the one context value the middleware adds, and it carries the request id.
type record struct {
	user   string
	method core.Method
	// seq and nano make the request id, formatted on first use (the access
	// log at a disabled level never needs it).
	seq  uint64
	nano int64
	id   string
	// remote is the client address once remoteAddr has parsed it, and
	// remoteText its text once remoteString has made it (the access log,
	// the audit stream and the file logs all write it).
	remote     netip.Addr
	remoteSet  bool
	remoteText string
	// token is set when an API token authenticated the request (its
	// second factor included), and tokenName names it: api_tokens_log has
	// those requests only. A token that failed is a failed login, in
	// login_log and the audit stream.
	token     bool
	tokenName string
	// decision is the request's authentication decision, written with
	// its other log lines when it ends (hasDecision).
	decision    logs.Decision
	hasDecision bool
	// route, when not zero, is the request's Route plus one, as a handler
	// decided it (metrics.go); zero: the path says.
	route Route
}

// requestID is the request's id: a sequence number and the start time's
// nanoseconds, both in base 36.
func (rec *record) requestID() string {
	if rec.id == "" {
		var buf [32]byte
		rec.id = string(logs.AppendRequestID(buf[:0], rec.seq, rec.nano))
	}
	return rec.id
}

func recordOf(r *http.Request) *record {
	rec, _ := r.Context().Value(keyRecord).(*record)
	if rec == nil {
		return &record{}
	}
	return rec
}

// requestID is the id of the request ctx belongs to ("" outside one).
func requestID(ctx context.Context) string {
	rec, _ := ctx.Value(keyRecord).(*record)
	if rec == nil {
		return ""
	}
	return rec.requestID()
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

// requestState is what the middleware keeps per request, in one allocation.
type requestState struct {
	rec record
	sw  statusWriter
	ctx recordContext
}

// recordContext is a request's context with its record: what
// context.WithValue(parent, keyRecord, rec) would be, without an
// allocation of its own.
type recordContext struct {
	context.Context
	rec *record
}

func (c *recordContext) Value(key any) any {
	if k, ok := key.(ctxKey); ok && k == keyRecord {
		return c.rec
	}
	return c.Context.Value(key)
}

var requestSeq atomic.Uint64

// middleware: recover, request id, body limit, the log files' lines and
// the access line (at debug level).
func (s *Server) middleware(p Port, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		st := &requestState{rec: record{seq: requestSeq.Add(1), nano: start.UnixNano() % 1e9}, sw: statusWriter{ResponseWriter: w}}
		rec, sw := &st.rec, &st.sw
		st.ctx = recordContext{Context: r.Context(), rec: rec}
		r = r.WithContext(&st.ctx)
		if r.Body != http.NoBody { // nothing to limit (and nothing to allocate) without a body
			// A login form's worth until the request proves to be an
			// authenticated API call, within the budget (body.go).
			br := &bodyReader{s: s, ctx: &st.ctx, w: w, body: r.Body, size: r.ContentLength, limit: maxLoginBody}
			r.Body = br
			defer br.release() // after the recovery below, even past a panic
		}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Log.Error("panic in handler", "request_id", rec.requestID(), "panic", fmt.Sprint(v), "path", r.URL.Path)
				if sw.status == 0 {
					http.Error(sw, "Internal Server Error", http.StatusInternalServerError)
				}
			}
			ctx := r.Context()
			s.fileAccess(r, p, rec, sw, start)
			if s.Metrics != nil {
				s.observe(r.URL.Path, rec, sw.status, start)
			}
			// access_log has every request; the slog line is for
			// debugging (at info it would cost every request a
			// formatted line and a write to stderr).
			if !s.Log.Enabled(ctx, slog.LevelDebug) {
				return
			}
			s.Log.LogAttrs(ctx, slog.LevelDebug, "access",
				slog.String("request_id", rec.requestID()), slog.String("service", p.Service.App()), slog.Bool("tls", p.TLS),
				slog.String("remote", remoteString(r)), slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", sw.status), slog.Int("bytes", sw.bytes), slog.String("user", rec.user), slog.String("auth", string(rec.method)),
				slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000))
		}()
		next.ServeHTTP(sw, r)
	})
}

// remoteAddr is the client address of the TCP connection (no proxy headers
// are trusted).
func remoteAddr(r *http.Request) netip.Addr {
	rec, _ := r.Context().Value(keyRecord).(*record)
	if rec == nil {
		return parseRemote(r)
	}
	if !rec.remoteSet {
		rec.remote, rec.remoteSet = parseRemote(r), true
	}
	return rec.remote
}

// remoteString is remoteAddr's text, made once per request.
func remoteString(r *http.Request) string {
	rec, _ := r.Context().Value(keyRecord).(*record)
	if rec == nil {
		return parseRemote(r).String()
	}
	if rec.remoteText == "" {
		rec.remoteText = remoteAddr(r).String()
	}
	return rec.remoteText
}

// parseRemote parses the request's RemoteAddr (remoteAddr caches it).
func parseRemote(r *http.Request) netip.Addr {
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
	writeJSONBody(w, status, api.JSON(v))
}

// writeJSONBody writes an envelope already encoded.
func writeJSONBody(w http.ResponseWriter, status int, body []byte) {
	// The keys are canonical. Every value slice is capped, so that an Add
	// elsewhere copies it rather than writing past it; nothing writes into
	// a header's values (Set replaces the slice, net/http clones the map
	// before it changes anything), so the constant ones are shared.
	h := w.Header()
	h["Content-Type"] = jsonContentType[:1:1]
	h["Content-Length"] = contentLength(len(body))
	h["Cache-Control"] = noStore[:1:1]
	w.WriteHeader(status)
	w.Write(body)
}

// The values of writeJSONBody's constant headers, shared by every response.
var (
	jsonContentType = []string{api.JSONContentType}
	noStore         = []string{"no-store"}
)

// contentLengths holds the Content-Length values of the body sizes below
// its length, each made on first use and shared from then on (envelopes
// are mostly small, and of few sizes).
var contentLengths [4096]atomic.Pointer[[]string]

// contentLength returns the (capped) header value of a body of n bytes.
func contentLength(n int) []string {
	if n < 0 || n >= len(contentLengths) {
		return []string{strconv.Itoa(n)}
	}
	if v := contentLengths[n].Load(); v != nil {
		return *v
	}
	v := []string{strconv.Itoa(n)}
	contentLengths[n].Store(&v) // a race stores an equal value
	return v
}

// bodies are the buffers API envelopes are encoded into: the body is
// written (net/http copies it into its own buffer) and the buffer comes
// back, cleared, for the next response.
var bodies = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledBody bounds the buffers bodies keeps.
const maxPooledBody = 64 << 10

// writeEncoded writes the envelope that encode appends to a pooled buffer.
func writeEncoded(w http.ResponseWriter, status int, encode func(dst []byte) []byte) {
	bp := bodies.Get().(*[]byte)
	b := encode((*bp)[:0])
	writeJSONBody(w, status, b)
	if cap(b) > maxPooledBody {
		return
	}
	clear(b) // responses carry secrets (new tokens): none stays in the pool
	*bp = b[:0]
	bodies.Put(bp)
}

// writeWHM1 writes a WHM API 1 envelope.
func writeWHM1(w http.ResponseWriter, status int, command string, res *api.Result, err error) {
	writeEncoded(w, status, func(dst []byte) []byte { return whmapi1.AppendEncode(dst, command, res, err) })
}

// writeUAPI writes a UAPI envelope.
func writeUAPI(w http.ResponseWriter, status int, res *api.Result, err error) {
	writeEncoded(w, status, func(dst []byte) []byte { return uapi.AppendEncode(dst, res, err) })
}

// headerValue is h.Get(key) for a key already in canonical form, without
// canonicalising it again.
func headerValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
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
// session request. req is where the methods' request is made.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, p Port, token string, req *auth.Request) (core.Principal, bool) {
	ctx := r.Context()
	s.sessionRequest(req, r, p, headerValue(r.Header, "Authorization"), token)
	rec := recordOf(r)
	g := s.guard()
	// The method is told before the chain runs: a blocked name still has
	// its tokens and access hashes checked (D28).
	att := auth.Attempt{Service: p.Service, Remote: req.Remote, User: req.Cred.User, Method: req.PresentedMethod(), Secret: req.Cred.Secret}
	if req.Authorization == "" && req.HasSessionCookie {
		att.Secret = req.SessionCookie // a session's secret is its cookie
	}
	// An attempt is a credential that will be checked: a session cookie
	// without its security token is refused (D12) before anything is
	// looked up or compared, so it is neither asked about nor counted.
	attempt := req.Authorization != "" || (req.HasSessionCookie && token != "")
	if attempt {
		if ok, why := g.Admit(ctx, att); !ok {
			// Refused before anything is checked, and answered like a
			// wrong credential (D5): a guesser learns nothing.
			rec.user, rec.method = att.User, att.Method
			if s.decision(r, p, "blocked", att.User, "", why, core.Principal{}) {
				s.Log.Warn("authentication refused",
					"request_id", requestID(ctx), "service", p.Service.App(),
					"remote", req.Remote.String(), "user", clipUser(att.User), "reason", why)
			}
			accessDenied(w, http.StatusForbidden)
			return core.Principal{}, false
		}
	}
	out := s.Chain.Authenticate(ctx, req)
	rec.method = out.Method
	att.Method = out.Method
	if att.User == "" {
		att.User = out.User
	}
	if out.Result == auth.OK {
		rec.user = out.Principal.User
		g.Succeeded(ctx, att)
		if !s.secondFactor(w, r, p, req, out) {
			return core.Principal{}, false
		}
		rec.token, rec.tokenName = out.Method == core.MethodToken, out.Principal.TokenName
		s.decision(r, p, "success", out.Principal.User, out.Method, "", out.Principal)
		return out.Principal, true
	}
	rec.user = out.User
	if attempt && out.Result == auth.Failed && !auth.StoreFailure(out) {
		g.Failed(ctx, att, out.Reason)
	}
	if s.decision(r, p, "failure", out.User, out.Method, out.Reason, core.Principal{}) {
		s.Log.Warn("authentication failed",
			"request_id", requestID(ctx), "service", p.Service.App(),
			"remote", req.Remote.String(), "user", clipUser(out.User), "method", string(out.Method), "reason", out.Reason)
	}
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
// requiressl is on (D15); it reports whether it did. The target's host is
// the request's only when it names this server (D29): a redirect must not
// send a browser, with what it meant to post, to a host a forged Host
// header chose.
func (s *Server) redirectTLS(w http.ResponseWriter, r *http.Request, p Port) bool {
	if p.TLS || s.TLSPort == nil {
		return false
	}
	v, err := settings.Get(r.Context(), s.Store, settings.RequireSSL)
	if err != nil || v != "1" {
		return false
	}
	host := s.Env.ServerHost(r.Context(), r.Host)
	target := "https://" + net.JoinHostPort(host, strconv.Itoa(s.TLSPort(p.Service))) + r.URL.RequestURI()
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
		s.Log.Error("api function failed", "request_id", requestID(r.Context()), "func", c.Module+"::"+c.Func, "error", err.Error())
	}
}
