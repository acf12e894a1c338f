package server

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/health"
	"github.com/cpauth/cpauth/internal/logs"
	"github.com/cpauth/cpauth/internal/sessions"
)

// What the server writes to cPanel's log files and the audit stream
// (internal/logs), next to its slog output.

// localPort is the port number the request came in on.
func localPort(r *http.Request, p Port) int {
	if p.Number != 0 {
		return p.Number
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// requestLine is the request as the logs show it: without the query
// string, and with any security token masked.
func requestLine(r *http.Request) string {
	return logs.RequestLine(r.Method, logPath(r.URL.Path), r.Proto)
}

// logPath is a request path as the logs show it.
func logPath(path string) string {
	if _, rest, ok := sessions.SplitPath(path); ok {
		return logs.MaskedToken + rest
	}
	return path
}

// decision writes one authentication decision: the audit stream always,
// login_log for a failure or a refusal (not for a request that presented
// nothing). p carries a success's token name and session. Within a request
// the audit line is written with the request's other lines when it ends
// (fileAccess); a second decision of the same request writes the first.
//
// A refusal, and a request that presented nothing, cost a client nothing
// and may come by the hundred thousand: past a burst per address their
// lines are counted into a summary instead (logs.Limit), so that a flood
// cannot rotate away what was written before it. decision reports whether
// the lines were written; a caller writes its slog line only then, for the
// same reason.
func (s *Server) decision(r *http.Request, p Port, result, user string, method core.Method, reason string, pr core.Principal) bool {
	if s.Logs == nil {
		return true
	}
	if result == "blocked" && !s.Logs.Limit(logs.Refusal, remoteAddr(r), p.Service.App()) {
		return false
	}
	d := logs.Decision{
		Service: p.Service.App(), Port: localPort(r, p), TLS: p.TLS,
		User: user, Method: string(method), Result: result,
		Reason: logs.ReasonCode(result, reason), Detail: reason, TokenName: pr.TokenName,
	}
	if d.Reason == "no_credentials" && !s.Logs.Limit(logs.NoCredentials, remoteAddr(r), d.Service) {
		return false
	}
	if pr.Session != "" {
		d.Session = sessions.Handle(pr.Session)
	}
	if rec, _ := r.Context().Value(keyRecord).(*record); rec != nil {
		if rec.hasDecision {
			s.Logs.Audit(filledDecision(r, rec.decision))
		}
		rec.decision, rec.hasDecision = d, true
	} else {
		s.Logs.Audit(filledDecision(r, d))
	}
	if result == "success" || d.Reason == "no_credentials" {
		return true
	}
	s.Logs.Login(logs.Login{App: p.Service.App(), Address: remoteString(r), User: user, Request: requestLine(r),
		Status: "FAILED LOGIN", Reason: reason})
	return true
}

// filledDecision is d with the request's id, address and path, for a
// decision written on its own.
func filledDecision(r *http.Request, d logs.Decision) logs.Decision {
	d.RequestID, d.Address, d.Path = requestID(r.Context()), remoteString(r), logPath(r.URL.Path)
	return d
}

// fileAccess hands the request's lines to the log files: access_log,
// api_tokens_log when an API token authenticated it, and the audit line of
// its decision. They are formatted and written off the request path.
func (s *Server) fileAccess(r *http.Request, p Port, rec *record, sw *statusWriter, start time.Time) {
	if s.Logs == nil {
		return
	}
	e := logs.Request{
		Time: start, Address: remoteAddr(r), App: p.Service.App(), TLS: p.TLS, Port: localPort(r, p),
		Method: r.Method, Path: r.URL.Path, Proto: r.Proto, Status: sw.status, Bytes: sw.bytes,
		User: rec.user, Referer: r.Referer(), UserAgent: r.UserAgent(),
		Token: rec.token, TokenName: rec.tokenName,
		IDSeq: rec.seq, IDNano: rec.nano,
		Audit: rec.hasDecision, Decision: rec.decision,
	}
	if _, rest, ok := sessions.SplitPath(e.Path); ok {
		e.Path, e.Masked = rest, true
	}
	s.Logs.Request(&e)
}

// LogsCheck is the readiness check of the log files: it fails while a
// file's last write failed, naming the files (their errors, which name
// paths, go to loopback clients only). It writes what waits in the queue
// first, so that the answer is current.
func LogsCheck(l *logs.Logs) health.Check {
	return health.Check{Name: "logs", Run: func(context.Context) error {
		h := l.Health()
		if len(h) == 0 {
			return nil
		}
		names := make([]string, 0, len(h))
		for n := range h {
			names = append(names, n)
		}
		slices.Sort(names)
		return &health.Failure{Reason: "not writable: " + strings.Join(names, ", "), Detail: h}
	}}
}

// health is the readiness checker of the health paths: s.Health, or one
// that checks the log files alone.
func (s *Server) health() *health.Checker {
	if s.Health != nil {
		return s.Health
	}
	s.healthOnce.Do(func() {
		s.defaultHealth = &health.Checker{Checks: []health.Check{LogsCheck(s.Logs)}, Log: s.Log}
	})
	return s.defaultHealth
}
