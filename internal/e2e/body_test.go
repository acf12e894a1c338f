package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/daemon"
	"github.com/cpauth/cpauth/internal/server"
)

// Request bodies and memory: an API call's body is read only once its
// credential has been checked and the regulator asked, so that what a
// caller without a valid credential sends costs nothing; a login reads a
// login form's worth at most.

// bodyProbe is a request body that records whether it was read.
type bodyProbe struct {
	r    io.Reader
	read atomic.Bool
}

func (b *bodyProbe) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.r.Read(p)
}

func (b *bodyProbe) Close() error { return nil }

// probeGuard is a regulator that admits every attempt unless told to
// refuse, and records whether the probe of the request in hand had been
// read when it was asked.
type probeGuard struct {
	auth.NoGuard
	probe     atomic.Pointer[bodyProbe]
	refuse    atomic.Bool
	asked     atomic.Int32
	readFirst atomic.Bool // a body was read before the regulator was asked
}

func (g *probeGuard) Admit(ctx context.Context, a auth.Attempt) (bool, string) {
	g.asked.Add(1)
	if p := g.probe.Load(); p != nil && p.read.Load() {
		g.readFirst.Store(true)
	}
	if g.refuse.Load() {
		return false, "refused by the test"
	}
	return true, ""
}

func TestBodyReadAfterAuthentication(t *testing.T) {
	g := &probeGuard{}
	e := startOpts(t, nil, func(o *daemon.Options) { o.Guard = g })
	e.whm1("createacct", "username", "bob", "domain", "bob.test", "password", bobPass)
	root := e.authFor(t, "root")
	s := e.login(t, p2087, "root", e.rootPass)
	cookie := s.name + "=" + s.value
	// A body of the largest size the API takes; its bytes do not matter
	// when it is not read.
	body := "api.version=1&pad=" + strings.Repeat("x", api.MaxBodyBytes-len("api.version=1&pad="))
	const version = "/json-api/version?api.version=1"
	const userInfo = "/execute/Variables/get_user_information"
	const proxy = "/json-api/cpanel?cpanel_jsonapi_user=bob&cpanel_jsonapi_apiversion=3&cpanel_jsonapi_module=Variables&cpanel_jsonapi_func=get_user_information"
	tests := []struct {
		name    string
		svc     core.Service
		path    string
		header  map[string]string
		refuse  bool // the regulator refuses
		status  int
		read    bool // the body is read
		attempt bool // the regulator is asked
	}{
		{"no credential", core.ServiceWHM, version, nil, false, http.StatusUnauthorized, false, false},
		{"no credential, UAPI", core.ServiceCPanel, userInfo, nil, false, http.StatusUnauthorized, false, false},
		{"no credential, cPanel proxy", core.ServiceWHM, proxy, nil, false, http.StatusUnauthorized, false, false},
		{"wrong password", core.ServiceWHM, version, map[string]string{"Authorization": basic("root", "wrong")}, false, http.StatusForbidden, false, true},
		{"unknown API token", core.ServiceWHM, version, map[string]string{"Authorization": "whm root:" + strings.Repeat("A", 32)}, false, http.StatusForbidden, false, true},
		{"malformed Authorization", core.ServiceWHM, version, map[string]string{"Authorization": "Basic !!"}, false, http.StatusForbidden, false, true},
		{"cPanel password on WHM (D6)", core.ServiceWHM, version, map[string]string{"Authorization": basic("bob", bobPass)}, false, http.StatusForbidden, false, true},
		{"refused by the regulator", core.ServiceWHM, version, map[string]string{"Authorization": root}, true, http.StatusForbidden, false, true},
		{"session cookie without its token (D12)", core.ServiceWHM, version, map[string]string{"Cookie": cookie}, false, http.StatusUnauthorized, false, false},
		{"session cookie with another token (D12)", core.ServiceWHM, "/cpsess0000000001" + version, map[string]string{"Cookie": cookie}, false, http.StatusUnauthorized, false, true},
		{"unknown session", core.ServiceWHM, s.token + version, map[string]string{"Cookie": s.name + "=nosuchsession"}, false, http.StatusForbidden, false, true},
		{"right password", core.ServiceWHM, version, map[string]string{"Authorization": root}, false, http.StatusOK, true, true},
		{"right password, cPanel proxy", core.ServiceWHM, proxy, map[string]string{"Authorization": root}, false, http.StatusOK, true, true},
		{"session cookie and its token", core.ServiceWHM, s.token + version, map[string]string{"Cookie": cookie}, false, http.StatusOK, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			probe := &bodyProbe{r: strings.NewReader(body)}
			g.probe.Store(probe)
			g.refuse.Store(tc.refuse)
			g.asked.Store(0)
			g.readFirst.Store(false)
			t.Cleanup(func() { g.probe.Store(nil); g.refuse.Store(false) })
			r := httptest.NewRequest(http.MethodPost, tc.path, nil)
			r.Body, r.ContentLength = probe, int64(len(body))
			r.RemoteAddr = "127.0.0.1:40000" // where the session was made (D14)
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			e.d.Handler(server.Port{Service: tc.svc, TLS: true}).ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d; body %.300s", w.Code, tc.status, w.Body)
			}
			if tc.status != http.StatusOK && w.Body.String() != d5Body {
				t.Errorf("body %.300s, want D5's", w.Body)
			}
			if got := probe.read.Load(); got != tc.read {
				t.Errorf("body read: %v, want %v", got, tc.read)
			}
			if g.readFirst.Load() {
				t.Error("the body was read before the regulator was asked")
			}
			if got := g.asked.Load() > 0; got != tc.attempt {
				t.Errorf("regulator asked: %v, want %v", got, tc.attempt)
			}
		})
	}
}

// A client without a valid credential is answered while it is still
// sending its body: the server does not wait for what it will not read.
func TestUnauthenticatedBodyNotAwaited(t *testing.T) {
	e := startWithFixtures(t)
	tests := []struct {
		name   string
		port   port
		path   string
		auth   string
		status int
	}{
		{"WHM API 1, no credential", p2087, "/json-api/version?api.version=1", "", http.StatusUnauthorized},
		{"UAPI, no credential", p2083, "/execute/Variables/get_user_information", "", http.StatusUnauthorized},
		{"cPanel proxy, no credential", p2086, "/json-api/cpanel", "", http.StatusUnauthorized},
		{"WHM API 1, wrong password", p2086, "/json-api/version?api.version=1", basic("root", "wrong"), http.StatusForbidden},
		{"session path, no cookie", p2087, "/cpsess0123456789/json-api/version?api.version=1", "", http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := e.d.Addr(tc.port.service(), tc.port.tls())
			var conn net.Conn
			var err error
			if tc.port.tls() {
				conn, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
			} else {
				conn, err = net.Dial("tcp", addr)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// The answer must come long before the daemon's 30 s read
			// timeout, which is what a server waiting for the body meets.
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n", tc.path, api.MaxBodyBytes)
			if tc.auth != "" {
				head += "Authorization: " + tc.auth + "\r\n"
			}
			if _, err := io.WriteString(conn, head+"\r\napi.version=1&pad=xxxx"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer while the body is being sent: %v", err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || string(b) != d5Body {
				t.Errorf("%d %.300s, want %d and D5's body", resp.StatusCode, b, tc.status)
			}
		})
	}
}

// A login, and a session hand-off, read a login form's worth (64 KiB) at
// most: one byte more is refused with 413, and a login at the limit works.
func TestLoginBodyLimit(t *testing.T) {
	e := startWithFixtures(t)
	const limit = 64 << 10
	pad := func(form string, size int) string {
		form += "&pad="
		return form + strings.Repeat("x", size-len(form))
	}
	tests := []struct {
		name   string
		body   string
		status int
	}{
		{"login at the limit", pad(loginForm("user", "bob", "pass", bobPass), limit), http.StatusFound},
		{"login one byte over", pad(loginForm("user", "bob", "pass", bobPass), limit+1), http.StatusRequestEntityTooLarge},
		{"hand-off one byte over", pad("session=bob%3aabc%3aCREATE_WEBMAIL_SESSION_FOR_MAIL_USER%2cdef", limit+1), http.StatusRequestEntityTooLarge},
		{"wrong password at the limit", pad(loginForm("user", "bob", "pass", "wrong"), limit), http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.postLogin(t, p2083, "/login", tc.body, nil)
			if r.status != tc.status {
				t.Errorf("status %d, want %d; body %.200s", r.status, tc.status, r.body)
			}
		})
	}
}

// With the budget of request bodies spent (body-memory-mb), a call with a
// body waits a moment and is answered 503 in its API's envelope; a login
// 503 in plain text; calls without a body are not held up; and once the
// budget is free again, bodies are read.
func TestBodyBudgetSpent(t *testing.T) {
	e := startFixturesWith(t, func(c *config.Config) { c.BodyMemoryMB = 1 })
	root, bob := e.authFor(t, "root"), e.authFor(t, "bob")
	// A call that takes the whole budget and sends its body slowly.
	conn, err := net.Dial("tcp", e.d.Addr(core.ServiceWHM, false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	rest := "api.version=1&pad=" + strings.Repeat("x", api.MaxBodyBytes-len("api.version=1&pad="))
	if _, err := fmt.Fprintf(conn, "POST /json-api/version HTTP/1.1\r\nHost: localhost\r\nAuthorization: %s\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", root, api.MaxBodyBytes); err != nil {
		t.Fatal(err)
	}
	// The server says 100 Continue at the body's first read, which comes
	// after the body has its share of the budget.
	br := bufio.NewReader(conn)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("waiting for 100 Continue: %q, %v", line, err)
	}
	if _, err := br.ReadString('\n'); err != nil { // the blank line after it
		t.Fatal(err)
	}
	t.Run("spent", func(t *testing.T) {
		tests := []struct {
			name  string
			req   request
			check func(t *testing.T, r response)
		}{
			{"WHM API 1", request{port: p2086, path: "/json-api/version", auth: root, body: "api.version=1", ctype: form}, func(t *testing.T, r response) {
				m := object(t, r)
				if str(dig(m, "metadata", "result")) != "0" || !strings.Contains(str(dig(m, "metadata", "reason")), "busy") {
					t.Errorf("envelope %s", r.body)
				}
			}},
			{"UAPI", request{port: p2082, path: "/execute/Variables/get_user_information", auth: bob, body: "name=user", ctype: form}, func(t *testing.T, r response) {
				if msg := uapiError(t, r, http.StatusServiceUnavailable); !strings.Contains(msg, "busy") {
					t.Errorf("UAPI error %q", msg)
				}
			}},
			{"cPanel proxy", request{port: p2086, path: "/json-api/cpanel", auth: root, body: "cpanel_jsonapi_user=bob&cpanel_jsonapi_apiversion=3&cpanel_jsonapi_module=Variables&cpanel_jsonapi_func=get_user_information", ctype: form}, func(t *testing.T, r response) {
				if !strings.Contains(str(dig(object(t, r), "cpanelresult", "error")), "busy") {
					t.Errorf("envelope %s", r.body)
				}
			}},
			{"login", request{port: p2083, path: "/login/?login_only=1", body: loginForm("user", "bob", "pass", bobPass), ctype: form}, func(t *testing.T, r response) {
				if !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
					t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
				}
			}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				start := time.Now()
				r := e.do(t, tc.req)
				if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
					t.Fatalf("%d (Retry-After %q) %.300s, want 503 and Retry-After", r.status, r.header.Get("Retry-After"), r.body)
				}
				if d := time.Since(start); d > 10*time.Second {
					t.Errorf("answered after %s", d)
				}
				tc.check(t, r)
			})
		}
	})
	// A call without a body does not wait for the budget.
	whmOK(t, e.do(t, request{port: p2086, path: "/json-api/version?api.version=1", auth: root}))
	// The slow body arrives; the budget is free again.
	if _, err := io.WriteString(conn, rest); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the slow call: %d", resp.StatusCode)
	}
	whmOK(t, e.do(t, request{port: p2086, path: "/json-api/version", auth: root, body: "api.version=1", ctype: form}))
}
