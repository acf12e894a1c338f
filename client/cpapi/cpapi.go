// Package cpapi is a small client of the cPanel & WHM APIs as cPanel and
// cpauth serve them: WHM API 1, UAPI and cPanel API 2, authenticated by any
// of the methods they accept (password, WHM or cPanel API token, WHM access
// hash, browser session), with a two-factor code when one is needed. It
// decodes each API's envelope and turns failures into errors.
//
// It imports nothing of cpauth: it speaks only the wire, so it works
// against cPanel & WHM itself as well.
package cpapi

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Service is one of the three services of a cPanel & WHM server.
type Service string

const (
	CPanel  Service = "cpanel"
	WHM     Service = "whm"
	Webmail Service = "webmail"
)

// TLSPort is the standard TLS port of the service (2083, 2087, 2096); an
// unknown service gets cPanel's, as Cpanel::LogMeIn does.
func (s Service) TLSPort() int {
	switch s {
	case WHM:
		return 2087
	case Webmail:
		return 2096
	}
	return 2083
}

// CookieName is the session cookie of the service.
func (s Service) CookieName() string {
	switch s {
	case WHM:
		return "whostmgrsession"
	case Webmail:
		return "webmailsession"
	}
	return "cpsession"
}

// Auth is a way to authenticate: Password, WHMToken, CPanelToken,
// AccessHash or *Session.
type Auth interface {
	apply(r *http.Request)
}

// Password is HTTP Basic authentication with a login name (Webmail: the
// email address) and its password.
type Password struct{ User, Pass string }

// WHMToken is a WHM API token (Authorization: whm user:token).
type WHMToken struct{ User, Token string }

// CPanelToken is a cPanel API token (Authorization: cpanel user:token).
type CPanelToken struct{ User, Token string }

// AccessHash is a WHM remote access key (Authorization: WHM user:hash); the
// line breaks of the ~/.accesshash file form may be left in.
type AccessHash struct{ User, Hash string }

func (a Password) apply(r *http.Request) {
	r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(a.User+":"+a.Pass)))
}
func (a WHMToken) apply(r *http.Request) { r.Header.Set("Authorization", "whm "+a.User+":"+a.Token) }
func (a CPanelToken) apply(r *http.Request) {
	r.Header.Set("Authorization", "cpanel "+a.User+":"+a.Token)
}
func (a AccessHash) apply(r *http.Request) {
	r.Header.Set("Authorization", "WHM "+a.User+":"+strings.NewReplacer("\r", "", "\n", "").Replace(a.Hash))
}

// Session is a logged-in browser session: the session cookie's value (as
// the server set it) and the security token (/cpsessNNNNNNNNNN) every
// request's path starts with. Client.Login makes one.
type Session struct {
	Service Service
	Cookie  string
	Token   string
}

func (s *Session) apply(r *http.Request) {
	r.AddCookie(&http.Cookie{Name: s.Service.CookieName(), Value: s.Cookie, Quoted: false})
}

// Client calls one service of one server. The zero value is not usable:
// set Host and Service at least.
type Client struct {
	// Host is the server's name or address; Port its TLS port (0: the
	// service's standard port).
	Host    string
	Port    int
	Service Service
	// Auth authenticates every call (nil: none).
	Auth Auth
	// OTP, when set, is sent as X-CPANEL-OTP (the current two-factor
	// code).
	OTP string
	// HTTPClient makes the requests (nil: one with TLS verification on,
	// redirects not followed and a 60 s timeout).
	HTTPClient *http.Client
	// InsecureSkipVerify turns TLS verification off, for servers with a
	// self-signed certificate. It is ignored when HTTPClient is set.
	InsecureSkipVerify bool
}

// BaseURL is https://host:port of the client's service.
func (c *Client) BaseURL() string {
	port := c.Port
	if port == 0 {
		port = c.Service.TLSPort()
	}
	return "https://" + net.JoinHostPort(strings.Trim(c.Host, "[]"), strconv.Itoa(port))
}

func (c *Client) httpClient() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return NewHTTPClient(c.InsecureSkipVerify)
}

// NewHTTPClient is the HTTP client the package uses by default: TLS
// verification on unless insecure, no redirects followed (the answers of
// a login are read, not followed), a 60 s timeout.
func NewHTTPClient(insecure bool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	return &http.Client{
		Transport: tr,
		Timeout:   60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Errors. A call that the server refuses to authenticate returns an error
// that matches ErrAccessDenied (errors.Is); one whose API function fails
// returns an *APIError; one that cannot reach the server an
// *UnreachableError.
var (
	// ErrAccessDenied: the credential was refused (HTTP 401 or 403).
	ErrAccessDenied = errors.New("cpapi: access denied")
	// ErrBadLogin: a login's user name or password was refused.
	ErrBadLogin = errors.New("cpapi: the login is invalid")
	// ErrTwoFactorRequired: the account has two-factor authentication
	// and no code, or a wrong one, was given.
	ErrTwoFactorRequired = errors.New("cpapi: a two-factor authentication code is required")
)

// APIError is a function's failure, as its envelope reports it.
type APIError struct {
	// Reason is WHM API 1's metadata.reason, UAPI's first error, or cPanel
	// API 2's error.
	Reason string
	// Errors are every error UAPI reported.
	Errors []string
}

func (e *APIError) Error() string { return "cpapi: " + e.Reason }

// UnreachableError is a request that got no HTTP answer: the host did not
// resolve, refused the connection, or timed out.
type UnreachableError struct {
	Host string
	Err  error
}

func (e *UnreachableError) Error() string {
	return "cpapi: cannot reach " + e.Host + ": " + e.Err.Error()
}
func (e *UnreachableError) Unwrap() error { return e.Err }

// HTTPError is an answer that was neither a refusal nor an envelope.
type HTTPError struct {
	Status int
	Body   string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("cpapi: HTTP %d: %s", e.Status, e.Body)
}

// Is makes a 401 or 403 match ErrAccessDenied.
func (e *HTTPError) Is(target error) bool {
	return target == ErrAccessDenied && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden)
}

// transportError classifies an error of http.Client.Do: certificate
// problems are returned as they are (the server answered, but is not who
// it claims), everything else is unreachable.
func transportError(host string, err error) error {
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		return fmt.Errorf("cpapi: %w", err)
	}
	return &UnreachableError{Host: host, Err: err}
}

// maxBody bounds what is read of an answer.
const maxBody = 32 << 20

// do sends a form POST to path (after the session's security token, if
// the client authenticates by session) and returns the status and body.
func (c *Client) do(ctx context.Context, path string, form url.Values) (int, []byte, error) {
	if s, ok := c.Auth.(*Session); ok {
		path = s.Token + path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL()+path, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, fmt.Errorf("cpapi: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.Auth != nil {
		c.Auth.apply(req)
	}
	if c.OTP != "" {
		req.Header.Set("X-CPANEL-OTP", c.OTP)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return 0, nil, transportError(c.Host, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, &UnreachableError{Host: c.Host, Err: err}
	}
	return resp.StatusCode, body, nil
}

// decode reads an envelope into v; any answer that is not JSON, or a
// refusal, is an error.
func decode(status int, body []byte, v any) error {
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		return &HTTPError{Status: status, Body: clip(string(body))}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &HTTPError{Status: status, Body: clip(string(body))}
	}
	return nil
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// flexInt is a number that servers send as 1, "1" or true (a plain int to
// its users).
type flexInt = Flag

// Flag is a 1/0 value that servers send as 1, "1", true or "true".
type Flag int

func (f *Flag) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	switch s {
	case "true":
		*f = 1
		return nil
	case "false", "", "null":
		*f = 0
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("cpapi: %q is not a number", s)
	}
	*f = Flag(n)
	return nil
}
