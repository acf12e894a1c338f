package server

import (
	"encoding/json"
	"net"
	"net/http"
	"time"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/logs"
	"github.com/cpauth/cpauth/internal/sessions"
)

// What the server writes to cPanel's log files and the audit stream
// (internal/logs), next to its slog output.

// localPort is the port number the request came in on.
func localPort(r *http.Request) int {
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

// maskedToken replaces a path's security token in the logs: with the
// session cookie it is all a session request carries.
const maskedToken = "/cpsessXXXXXXXXXX"

// logPath is a request path as the logs show it.
func logPath(path string) string {
	if _, rest, ok := sessions.SplitPath(path); ok {
		return maskedToken + rest
	}
	return path
}

// decision writes one authentication decision: the audit stream always,
// login_log for a failure or a refusal (not for a request that presented
// nothing). p carries a success's token name and session.
func (s *Server) decision(r *http.Request, p Port, result, user string, method core.Method, reason string, pr core.Principal) {
	if s.Logs == nil {
		return
	}
	remote := remoteString(r)
	d := logs.Decision{
		RequestID: requestID(r.Context()), Service: p.Service.App(), Port: localPort(r), TLS: p.TLS,
		Address: remote, User: user, Method: string(method), Result: result,
		Reason: logs.ReasonCode(result, reason), Detail: reason, TokenName: pr.TokenName, Path: logPath(r.URL.Path),
	}
	if pr.Session != "" {
		d.Session = sessions.Handle(pr.Session)
	}
	s.Logs.Audit(d)
	if result == "success" || d.Reason == "no_credentials" {
		return
	}
	s.Logs.Login(logs.Login{App: p.Service.App(), Address: remote, User: user, Request: requestLine(r),
		Status: "FAILED LOGIN", Reason: reason})
}

// fileAccess writes the request's access_log line, and its api_tokens_log
// line when an API token authenticated it.
func (s *Server) fileAccess(r *http.Request, p Port, rec *record, sw *statusWriter, start time.Time) {
	if s.Logs == nil {
		return
	}
	remote := remoteString(r)
	line := requestLine(r)
	s.Logs.Access(logs.Access{Address: remote, User: rec.user, Time: start, Request: line, Status: sw.status,
		Bytes: sw.bytes, Referer: r.Referer(), UserAgent: r.UserAgent(), TLS: p.TLS, Port: localPort(r)})
	if rec.method == core.MethodToken {
		s.Logs.APIToken(p.Service.App(), remote, sw.status, rec.user, rec.tokenName, line)
	}
}

// healthPath is the health endpoint, on every port.
const healthPath = "/cpauth/health"

// serveHealth answers 200 {"status":"ok"} while every log file is being
// written, else 503 {"status":"degraded"}, with which files fail and why
// for clients on loopback (the error names paths).
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	h := s.Logs.Health()
	body := map[string]any{"status": "ok"}
	status := http.StatusOK
	if len(h) > 0 {
		status = http.StatusServiceUnavailable
		body["status"] = "degraded"
		if remoteAddr(r).IsLoopback() {
			body["logs"] = h
		} else {
			names := []string{}
			for n := range h {
				names = append(names, n)
			}
			body["logs"] = names
		}
	}
	b, _ := json.Marshal(body)
	writeJSONBody(w, status, b)
}
