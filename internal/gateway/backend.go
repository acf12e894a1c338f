// Package gateway puts cpauth in front of a cPanel & WHM server (gateway
// mode, docs/gateway.md): the client of that backend, the split between
// the calls the gateway serves and those it forwards, the forwarding as
// the authenticated principal (backend sessions, backend tokens minted for
// narrow gateway tokens), the account directory mirrored from the backend,
// and the backend's password check. The server asks it; the functions know
// nothing of it.
package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cpauth/cpauth/internal/core"
)

// BackendOptions describe the backend (config.Upstream, with the token
// already read from its file).
type BackendOptions struct {
	// URL is the backend's scheme and host.
	URL string
	// WHMPort, CPanelPort and WebmailPort replace the scheme's standard
	// ports when not 0.
	WHMPort, CPanelPort, WebmailPort int
	// Token is a WHM API token of root on the backend.
	Token string
	// CAFile and InsecureSkipVerify say how the backend's certificate is
	// checked.
	CAFile             string
	InsecureSkipVerify bool
	// Timeout bounds every call, its answer included.
	Timeout time.Duration
}

// Backend is the client of the cPanel & WHM server behind the gateway. It
// never sends a call twice once any of it may have reached the backend:
// Go's transport does not retry its requests (they are made
// non-replayable), and the client sends one again only when not a byte of
// it was written (a kept-alive connection the backend had closed).
type Backend struct {
	host    string                          // for messages: the backend's host name
	base    [core.ServiceWebmail + 1]string // scheme://host:port of each service
	token   string                          // root's WHM API token: never logged, never stored
	client  *http.Client
	timeout time.Duration

	// Observe, when set, is told of every call sent to the backend: what
	// it was (a bounded name: see outgoing.call), how long it took to
	// the answer's headers, and why it failed ("" when an answer came;
	// else a Failure's name). Set it before the gateway starts.
	Observe func(call string, took time.Duration, failure string)
}

// The calls the gateway sends, as Observe names them.
const (
	CallWHMAPI1   = "whmapi1"        // the gateway's own WHM API 1 calls (directory, sessions, tokens)
	CallForward   = "forward_"       // prefix of a forwarded call: forward_whmapi1, forward_uapi, forward_api2
	CallLogin     = "login"          // opening a backend session
	CallLogout    = "logout"         // ending one
	CallPassword  = "password_check" // a password checked at the backend
	callUnlabeled = "other"
)

// idleConnTimeout is how long a connection to the backend is kept unused:
// under the keep-alive timeouts of common servers (5 s and more).
const idleConnTimeout = 4 * time.Second

// Standard ports of the backend's services, TLS and plain.
var (
	tlsPorts   = [core.ServiceWebmail + 1]int{core.ServiceCPanel: 2083, core.ServiceWHM: 2087, core.ServiceWebmail: 2096}
	plainPorts = [core.ServiceWebmail + 1]int{core.ServiceCPanel: 2082, core.ServiceWHM: 2086, core.ServiceWebmail: 2095}
)

// NewBackend makes the client of the backend o describes.
func NewBackend(o BackendOptions) (*Backend, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" {
		return nil, fmt.Errorf("gateway: the upstream URL %q is not https://host or http://host", o.URL)
	}
	if o.Token == "" {
		return nil, errors.New("gateway: no backend token")
	}
	ports := plainPorts
	if u.Scheme == "https" {
		ports = tlsPorts
	}
	for svc, p := range map[core.Service]int{core.ServiceWHM: o.WHMPort, core.ServiceCPanel: o.CPanelPort, core.ServiceWebmail: o.WebmailPort} {
		if p != 0 {
			ports[svc] = p
		}
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.InsecureSkipVerify}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("gateway: ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("gateway: ca-file %s holds no PEM certificate", o.CAFile)
		}
		tlsConf.RootCAs = pool
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	dialer := &net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		// Every connection counts what is written on it, so that a call
		// that failed can be told apart from one that may have run.
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &countingConn{Conn: c}, nil
		},
		TLSClientConfig:     tlsConf,
		TLSHandshakeTimeout: o.Timeout,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		// Shorter than the backend keeps an idle connection, so that the
		// gateway closes one before the backend does. A call written on a
		// connection the backend has just closed cannot be told from one
		// the backend read and then died on: it is answered 502, never
		// sent again (a GET may create an account in this API), so the
		// gateway must not be the one to find a closed connection.
		IdleConnTimeout: idleConnTimeout,
		// The body is passed on as the backend sent it; the client did
		// not ask the gateway for a compressed one.
		DisableCompression: true,
	}
	b := &Backend{
		host:    u.Hostname(),
		token:   o.Token,
		timeout: o.Timeout,
		client: &http.Client{
			Transport: tr,
			// Redirects are answers to pass on (or, for a session's
			// redemption, to read the cookie from), never to follow.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	for svc := core.ServiceCPanel; svc <= core.ServiceWebmail; svc++ {
		b.base[svc] = u.Scheme + "://" + net.JoinHostPort(u.Hostname(), strconv.Itoa(ports[svc]))
	}
	return b, nil
}

// Host is the backend's host name, as messages name it.
func (b *Backend) Host() string { return b.host }

// Timeout is the bound of one backend call.
func (b *Backend) Timeout() time.Duration { return b.timeout }

// Close closes the idle connections.
func (b *Backend) Close() { b.client.CloseIdleConnections() }

// Failure says why a backend call gave no answer to pass on.
type Failure int

const (
	// FailUnreachable: no answer (refused, reset, TLS, name), or the
	// connection broke before the answer was read.
	FailUnreachable Failure = iota + 1
	// FailTimeout: no answer within the timeout.
	FailTimeout
	// FailRefused: the backend refused the gateway's own credential (its
	// root token, a backend session or token it had just made).
	FailRefused
	// FailBadAnswer: an answer to one of the gateway's own calls that it
	// could not read.
	FailBadAnswer
)

func (f Failure) String() string {
	switch f {
	case FailUnreachable:
		return "backend_unreachable"
	case FailTimeout:
		return "backend_timeout"
	case FailRefused:
		return "backend_refused"
	case FailBadAnswer:
		return "backend_bad_answer"
	}
	return "backend_failure"
}

// Error is a backend call that failed. Its Message names the backend and
// never a credential; Err is for the log, and holds no URL (a URL carries
// a session's security token, and a query may carry a password).
type Error struct {
	Failure Failure
	Host    string
	Timeout time.Duration
	Err     error
}

func (e *Error) Error() string {
	msg := "backend " + e.Host + ": " + e.Failure.String()
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Message is what a client is told.
func (e *Error) Message() string {
	server := "The cPanel & WHM server behind this gateway (" + e.Host + ")"
	switch e.Failure {
	case FailTimeout:
		return server + " did not answer within " + e.Timeout.String() + "."
	case FailRefused:
		return server + " refused the gateway's credential."
	case FailBadAnswer:
		return server + " gave an answer the gateway could not read."
	}
	return server + " could not be reached."
}

// Status is the HTTP status of the answer to a forwarded call that failed
// so: 504 for a timeout, 502 for anything else.
func (e *Error) Status() int {
	if e.Failure == FailTimeout {
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// fail makes the Error of a failed exchange.
func (b *Backend) fail(ctx context.Context, err error) *Error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its text holds the URL
	}
	var ne net.Error
	f := FailUnreachable
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		f = FailTimeout
	}
	return &Error{Failure: f, Host: b.host, Timeout: b.timeout, Err: err}
}

// outgoing is one request to the backend, as the gateway builds it.
type outgoing struct {
	method  string
	svc     core.Service
	path    string // escaped, with any security token
	query   string // raw
	body    []byte
	ctype   string
	auth    string // the Authorization header ("" for none)
	cookie  string // the Cookie header ("" for none)
	agent   string
	timeout time.Duration // 0: the backend's
	// call names the call for Observe: one of the Call constants (a
	// bounded set, never anything a client chose).
	call string
}

// send makes one request and returns the backend's answer, its body not
// yet read (the caller closes it; its context ends with cancel, which
// the caller calls once the body is read). It sends the request a second
// time only when not a byte of the first reached the connection.
func (b *Backend) send(ctx context.Context, o outgoing) (resp *http.Response, cancel context.CancelFunc, err error) {
	if b.Observe != nil {
		start := time.Now()
		defer func() {
			failure := ""
			if err != nil {
				failure = FailUnreachable.String()
				var e *Error
				if errors.As(err, &e) {
					failure = e.Failure.String()
				}
			}
			call := o.call
			if call == "" {
				call = callUnlabeled
			}
			b.Observe(call, time.Since(start), failure)
		}()
	}
	timeout := o.timeout
	if timeout == 0 {
		timeout = b.timeout
	}
	ctx, cancel = context.WithTimeout(ctx, timeout)
	for attempt := 0; ; attempt++ {
		req, w := b.request(ctx, o)
		resp, err = b.client.Do(req)
		if err == nil {
			return resp, cancel, nil
		}
		if attempt > 0 || w.wrote() || ctx.Err() != nil {
			cancel()
			return nil, func() {}, b.fail(ctx, err)
		}
	}
}

// request builds o's http.Request and the record of what it wrote.
func (b *Backend) request(ctx context.Context, o outgoing) (*http.Request, *writes) {
	w := &writes{}
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: w.gotConn})
	u := b.base[o.svc] + o.path
	if o.query != "" {
		u += "?" + o.query
	}
	req, err := http.NewRequestWithContext(ctx, o.method, u, nil)
	if err != nil {
		// The path and query came from a request this server parsed, and
		// the base from a checked URL: a request that does not build is
		// sent as an invalid one, which the transport refuses.
		req = &http.Request{Method: o.method, URL: &url.URL{}, Header: http.Header{}}
		req = req.WithContext(ctx)
	}
	// Go's transport sends a request again on its own when it counts it
	// replayable: a GET or HEAD without a body, or one whose body it can
	// make again (GetBody). In this API a GET may create an account, so
	// every request has a body it cannot make again: a GET's an empty
	// one, which the transport finds empty and does not send. Another
	// method's empty body is http.NoBody, which is not replayable either
	// (and the transport sends that one again only when nothing of it
	// was written).
	switch {
	case len(o.body) > 0:
		req.Body, req.ContentLength = io.NopCloser(&onceReader{b: o.body}), int64(len(o.body))
	case o.method == http.MethodGet || o.method == http.MethodHead:
		req.Body, req.ContentLength = io.NopCloser(&onceReader{}), 0
	default:
		req.Body, req.ContentLength = http.NoBody, 0
	}
	req.GetBody = nil
	h := req.Header
	if o.ctype != "" {
		h.Set("Content-Type", o.ctype)
	}
	if o.auth != "" {
		h.Set("Authorization", o.auth)
	}
	if o.cookie != "" {
		h.Set("Cookie", o.cookie)
	}
	agent := o.agent
	if agent == "" {
		agent = "cpauth-gateway"
	}
	h.Set("User-Agent", agent)
	return req, w
}

// onceReader is a body that can be read once, and is not one of the
// in-memory readers for which net/http would make the request replayable.
type onceReader struct {
	b []byte
	i int
}

func (r *onceReader) Read(p []byte) (int, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.i:])
	r.i += n
	return n, nil
}

// countingConn counts the bytes written on a connection.
type countingConn struct {
	net.Conn
	written atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	return n, err
}

// writes records the connection a request got and how much had been
// written on it before.
type writes struct {
	conn   *countingConn
	before int64
}

func (w *writes) gotConn(info httptrace.GotConnInfo) {
	c := info.Conn
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if cc, ok := c.(*countingConn); ok {
		w.conn, w.before = cc, cc.written.Load()
	}
}

// wrote reports whether any byte of the request may have reached the
// backend. Without a connection of its own it did not; on a connection
// of another kind nothing can be told, so it may have.
func (w *writes) wrote() bool {
	if w.conn == nil {
		return false
	}
	return w.conn.written.Load() != w.before
}

// maxOwnAnswer bounds the answer to one of the gateway's own calls (a
// listaccts of many accounts is some megabytes).
const maxOwnAnswer = 256 << 20

// envelope is the part of a WHM API 1 answer the gateway reads.
type envelope struct {
	Data     json.RawMessage `json:"data"`
	Metadata struct {
		Result json.RawMessage `json:"result"` // 1 or "1" (PROTOCOL.md 9.1)
		Reason string          `json:"reason"`
	} `json:"metadata"`
}

// APIError is a backend function that answered with result 0.
type APIError struct {
	Func   string
	Reason string
}

func (e *APIError) Error() string { return "backend " + e.Func + ": " + e.Reason }

// whm1 calls a WHM API 1 function as root (the gateway's token) and
// decodes its data into out.
func (b *Backend) whm1(ctx context.Context, fn string, args url.Values, out any) error {
	return b.whm1With(ctx, fn, args, "whm root:"+b.token, "", "", out)
}

// whm1With calls a WHM API 1 function with a credential of its own: an
// Authorization header, or a session's cookie under its security token.
func (b *Backend) whm1With(ctx context.Context, fn string, args url.Values, authz, cookie, token string, out any) error {
	q := url.Values{"api.version": {"1"}}
	for k, v := range args {
		q[k] = v
	}
	resp, cancel, err := b.send(ctx, outgoing{method: http.MethodGet, svc: core.ServiceWHM, path: token + "/json-api/" + fn, query: q.Encode(), auth: authz, cookie: cookie, call: CallWHMAPI1})
	if err != nil {
		return err
	}
	defer cancel()
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxOwnAnswer))
	if err != nil {
		return b.fail(ctx, err)
	}
	if authRefused(resp.StatusCode, resp.Header, raw) {
		return &Error{Failure: FailRefused, Host: b.host, Timeout: b.timeout, Err: fmt.Errorf("%s answered HTTP %d", fn, resp.StatusCode)}
	}
	var env envelope
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &env) != nil {
		return &Error{Failure: FailBadAnswer, Host: b.host, Timeout: b.timeout, Err: fmt.Errorf("%s answered HTTP %d, %d bytes", fn, resp.StatusCode, len(raw))}
	}
	if r := strings.Trim(string(env.Metadata.Result), `"`); r != "1" {
		return &APIError{Func: fn, Reason: env.Metadata.Reason}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return &Error{Failure: FailBadAnswer, Host: b.host, Timeout: b.timeout, Err: fmt.Errorf("%s: data: %v", fn, err)}
	}
	return nil
}

// authRefused reports whether an answer refuses the credential of the
// request: what cpsrvd answers before any function runs (D5's 403
// "Access denied" in plain text, or a 401), so that the call certainly
// did not run.
func authRefused(status int, h http.Header, body []byte) bool {
	switch status {
	case http.StatusUnauthorized:
		return true
	case http.StatusForbidden:
		return strings.HasPrefix(h.Get("Content-Type"), "text/plain") && strings.Contains(string(body), "Access denied")
	}
	return false
}
