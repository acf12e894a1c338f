package server

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/gateway"
	"github.com/cpauth/cpauth/internal/logs"
)

// Gateway mode (docs/gateway.md): an API call the gateway does not serve
// itself (gateway.Serves, asked once by the flavour's handler, after the
// caller has authenticated and the call's arguments are read) is sent to
// the backend as its principal, and the backend's answer is passed on
// unchanged. When the backend gives none, the answer is the called API's
// own envelope with HTTP 502 (504 on the timeout) and a reason that names
// the backend. Every forwarded call is a line of the audit stream.

// forward sends the call st holds to the backend and writes its answer.
// fw names the function; fail writes a failure in the API's envelope;
// token is the client's security token ("" for none), which the backend
// never sees.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, p Port, token string, st *apiRequest, fw *gateway.Request, fail func(int, error)) {
	ctx := r.Context()
	fw.Principal, fw.Service = st.call.Principal, p.Service
	fw.Method, fw.Path, fw.RawQuery = r.Method, backendPath(r, token), r.URL.RawQuery
	fw.Body, fw.ContentType = st.body, headerValue(r.Header, "Content-Type")
	fw.Args, fw.Session = st.call.Args, st.call.Principal.Session
	resp, err := s.Gateway.Forward(ctx, fw)
	var ge *gateway.Error
	switch {
	case errors.As(err, &ge):
		s.Log.Warn("forwarded call failed", "request_id", requestID(ctx), "user", fw.Principal.User, "func", function(fw), "error", ge.Error())
		s.audit(r, p, fw, ge.Failure.String(), 0, 0)
		fail(ge.Status(), core.Errorf(core.KindOther, "%s", ge.Message()))
		return
	case err != nil:
		// Refused by the gateway itself (a read-only token): answered as
		// the local functions answer it, and not forwarded.
		fail(http.StatusOK, err)
		return
	}
	defer resp.Body.Close()
	h := w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	if resp.Length >= 0 {
		h["Content-Length"] = contentLength(int(resp.Length))
	}
	s.audit(r, p, fw, "ok", resp.Status, resp.Took.Microseconds())
	w.WriteHeader(resp.Status)
	if r.Method != http.MethodHead {
		bp := copyBuffers.Get().(*[]byte)
		io.CopyBuffer(w, resp.Body, *bp)
		copyBuffers.Put(bp)
	}
}

// copyBuffers are the buffers forwarded answers are copied through (io.Copy
// would make one of 32 KiB per call: the response writer takes no reader).
// An answer's bytes pass through them to the connection's own buffer, and
// the next answer overwrites them.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// backendPath is the request's path, escaped as the client sent it,
// without the client's security token.
func backendPath(r *http.Request, token string) string {
	ep := r.URL.EscapedPath()
	if token == "" {
		return ep
	}
	if strings.HasPrefix(ep, token+"/") {
		return ep[len(token):]
	}
	_, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return (&url.URL{Path: "/" + rest}).EscapedPath()
}

// function names a forwarded function for the logs: "whmapi1 listaccts",
// "uapi Email::add_pop", "api2 Email::addpop"; a call made on WHM for a
// cPanel account is "whm→uapi …".
func function(fw *gateway.Request) string {
	name := fw.Func
	if fw.Module != "" {
		name = fw.Module + "::" + fw.Func
	}
	fl := fw.Flavour.String()
	if fw.Flavour == api.WHM1 && fw.Args.Get("api.version") != "1" {
		fl = "whmapi0"
	}
	if fw.WHM {
		fl = "whm→" + fl
	}
	return fl + " " + name
}

// audit writes the forwarded call's line of the audit stream.
func (s *Server) audit(r *http.Request, p Port, fw *gateway.Request, reason string, status int, micros int64) {
	if s.Logs == nil {
		return
	}
	pr := fw.Principal
	d := logs.Decision{
		Service: p.Service.App(), Port: localPort(r, p), TLS: p.TLS,
		User: pr.User, Method: string(pr.Method), Result: "forwarded", Reason: reason, TokenName: pr.TokenName,
		Function: function(fw), BackendStatus: status, BackendMicros: micros,
	}
	if reason != "ok" {
		d.Detail = "the backend gave no answer (" + reason + ")"
	}
	s.Logs.Audit(filledDecision(r, d))
}
