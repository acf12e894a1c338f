package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
)

const rootToken = "ROOTTOKEN0123456789ABCDEFGHIJKLM"

// standIn is an httptest backend that records what it was sent and plays
// the parts of cPanel & WHM the gateway uses: create_user_session and its
// redemption, sessions under a security token, and API calls.
type standIn struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []*http.Request // what it received, bodies read into bodies
	bod []string
	// sessions made; accepted is the cookie value the API calls must
	// carry (sessions before it are refused, as the backend ends them).
	made     atomic.Int64
	accepted atomic.Value // string
	// api answers the API calls that authenticated.
	api func(w http.ResponseWriter, r *http.Request)
}

func newStandIn(t *testing.T) *standIn {
	s := &standIn{}
	s.accepted.Store("")
	s.api = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", `application/json; charset="utf-8"`)
		w.Header().Set("Set-Cookie", "cpsession=secret-of-the-backend; path=/")
		w.Header().Set("X-Backend-Internal", "1")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"metadata":{"result":1,"reason":"OK"},"data":{"path":"`+r.URL.Path+`"}}`)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *standIn) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.got = append(s.got, r)
	s.bod = append(s.bod, string(body))
	s.mu.Unlock()
	denied := func() {
		w.Header().Set("Content-Type", `text/plain; charset="utf-8"`)
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"cpanelresult":{"apiversion":"2","error":"Access denied","data":{"reason":"Access denied","result":"0"},"type":"text"}}`)
	}
	switch {
	case r.URL.Path == "/json-api/create_user_session":
		if r.Header.Get("Authorization") != "whm root:"+rootToken {
			denied()
			return
		}
		n := s.made.Add(1)
		tok := fmt.Sprintf("/cpsess%010d", n)
		user, svc := r.URL.Query().Get("user"), r.URL.Query().Get("service")
		fmt.Fprintf(w, `{"metadata":{"result":1,"reason":"Created session"},"data":{"cp_security_token":%q,"service":%q,"url":"https://elsewhere.example:2083%s/login/?session=%s%%3aone%d"}}`, tok, svc, tok, user, n)
	case strings.HasSuffix(r.URL.Path, "/login/"):
		n := strings.TrimPrefix(r.URL.Query().Get("session"), "bob:one")
		cookie := "bob%3asession" + n
		s.accepted.Store(cookie)
		http.SetCookie(w, &http.Cookie{Name: "cpsession", Value: cookie, Path: "/"})
		w.Header().Set("Location", "/")
		w.WriteHeader(http.StatusTemporaryRedirect)
	case strings.HasSuffix(r.URL.Path, "/logout/"):
		w.WriteHeader(http.StatusOK)
	case r.Header.Get("Authorization") == "whm root:"+rootToken:
		s.api(w, r)
	default:
		c, err := r.Cookie("cpsession")
		if err != nil || c.Value != s.accepted.Load().(string) || !strings.HasPrefix(r.URL.Path, "/cpsess") {
			denied()
			return
		}
		s.api(w, r)
	}
}

// requests returns what the stand-in received for paths containing sub.
func (s *standIn) requests(sub string) (rs []*http.Request, bodies []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range s.got {
		if strings.Contains(r.URL.EscapedPath(), sub) {
			rs, bodies = append(rs, r), append(bodies, s.bod[i])
		}
	}
	return rs, bodies
}

// newGateway is a gateway in front of the server at addr (every service
// on its one port).
func newGateway(t *testing.T, addr string, timeout time.Duration) *Gateway {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	key, err := secret.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Options{Backend: BackendOptions{URL: "http://127.0.0.1", WHMPort: p, CPanelPort: p, WebmailPort: p, Token: rootToken, Timeout: timeout}, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Backend.Close)
	return g
}

func rootPrincipal() core.Principal {
	return core.Principal{User: "root", Role: core.RoleRoot, Method: core.MethodPassword, Service: core.ServiceWHM, ACLs: core.NewACLSet("all")}
}

func bobPrincipal() core.Principal {
	return core.Principal{User: "bob", Role: core.RoleCPanel, Account: "bob", Method: core.MethodToken, TokenName: "ci", Service: core.ServiceCPanel}
}

// A forwarded call is the client's method, path, query, body and
// Content-Type, with the principal's backend credential and none of the
// client's; the answer's status, body and headers that matter come back,
// its cookies and its other headers do not.
func TestForwardPassesTheCallOn(t *testing.T) {
	s := newStandIn(t)
	g := newGateway(t, s.srv.Listener.Addr().String(), 5*time.Second)
	ctx := context.Background()
	cases := []struct {
		name     string
		req      Request
		wantAuth string
		wantPath string
	}{
		{"root's WHM call, by the root token", Request{Principal: rootPrincipal(), Service: core.ServiceWHM, Method: http.MethodPost,
			Path: "/json-api/createacct", RawQuery: "api.version=1&username=nina", Body: []byte(`domain=nina.test&password=p%26ss`), ContentType: "application/x-www-form-urlencoded",
			Flavour: api.WHM1, Func: "gw_other"}, "whm root:" + rootToken, "/json-api/createacct"},
		{"an account's UAPI call, in its backend session", Request{Principal: bobPrincipal(), Service: core.ServiceCPanel, Method: http.MethodGet,
			Path: "/execute/Email/list_pops", RawQuery: "regex=x%2By", Flavour: api.UAPI, Module: "Email", Func: "list_pops", Account: "bob"}, "", "/cpsess0000000001/execute/Email/list_pops"},
		{"an escaped path stays escaped", Request{Principal: bobPrincipal(), Service: core.ServiceCPanel, Method: http.MethodGet,
			Path: "/execute/Mod%2Fx/f", Flavour: api.UAPI, Module: "Mod/x", Func: "f", Account: "bob"}, "", "/cpsess0000000001/execute/Mod%2Fx/f"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := g.Forward(ctx, &tc.req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.Status != http.StatusOK || !strings.Contains(string(body), `"result":1`) {
				t.Errorf("answer %d %s", resp.Status, body)
			}
			if resp.Header.Get("Set-Cookie") != "" || resp.Header.Get("X-Backend-Internal") != "" || resp.Header.Get("Content-Type") != `application/json; charset="utf-8"` {
				t.Errorf("headers passed on: %v", resp.Header)
			}
			rs, bodies := s.requests(tc.req.Path[len(tc.req.Path)-4:])
			if len(rs) != 1 {
				t.Fatalf("the backend received %d requests, want 1", len(rs))
			}
			r := rs[0]
			if r.Method != tc.req.Method || r.URL.EscapedPath() != tc.wantPath || r.URL.RawQuery != tc.req.RawQuery || bodies[0] != string(tc.req.Body) {
				t.Errorf("received %s %s ? %s body %q", r.Method, r.URL.EscapedPath(), r.URL.RawQuery, bodies[0])
			}
			if got := r.Header.Get("Authorization"); got != tc.wantAuth {
				t.Errorf("Authorization %q, want %q", got, tc.wantAuth)
			}
			if tc.req.ContentType != "" && r.Header.Get("Content-Type") != tc.req.ContentType {
				t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
			}
			if tc.req.Principal.Role != core.RoleRoot && !strings.HasPrefix(r.Header.Get("Cookie"), "cpsession=bob%3asession") {
				t.Errorf("Cookie %q: want bob's backend session", r.Header.Get("Cookie"))
			}
			if r.Header.Get("X-Cpanel-Otp") != "" {
				t.Error("a second factor reached the backend")
			}
		})
	}
	if n := s.made.Load(); n != 1 {
		t.Errorf("%d backend sessions made for bob's two calls, want 1", n)
	}
}

// A session the backend no longer accepts is made again, and the call sent
// once more; a backend that refuses the new one too gets no third try.
func TestForwardRenewsASessionOnce(t *testing.T) {
	s := newStandIn(t)
	g := newGateway(t, s.srv.Listener.Addr().String(), 5*time.Second)
	ctx := context.Background()
	call := func() (*Response, error) {
		return g.Forward(ctx, &Request{Principal: bobPrincipal(), Service: core.ServiceCPanel, Method: http.MethodGet, Path: "/execute/Email/add_pop",
			RawQuery: "email=x", Flavour: api.UAPI, Module: "Email", Func: "add_pop", Account: "bob"})
	}
	if _, err := call(); err != nil {
		t.Fatal(err)
	}
	s.accepted.Store("ended-at-the-backend")
	resp, err := call()
	if err != nil {
		t.Fatalf("after the backend ended the session: %v", err)
	}
	resp.Body.Close()
	rs, _ := s.requests("/execute/Email/add_pop")
	if len(rs) != 3 || s.made.Load() != 2 {
		t.Errorf("%d calls and %d sessions, want 3 calls (one refused) and 2 sessions", len(rs), s.made.Load())
	}
	// Now every session is refused.
	s.api = func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) }
	_, err = call()
	var ge *Error
	if !errors.As(err, &ge) || ge.Failure != FailRefused || ge.Status() != http.StatusBadGateway {
		t.Fatalf("a backend that refuses every session: %v", err)
	}
	if rs, _ := s.requests("/execute/Email/add_pop"); len(rs) != 5 {
		t.Errorf("%d calls, want 5 (two more: the first and the one after the new session)", len(rs))
	}
}

// A call the backend may have run is never sent again: a connection that
// breaks after the request was written, whatever the method, or a
// timeout, is a 502 or 504 after one request.
func TestNoDoubleSend(t *testing.T) {
	var hits atomic.Int64
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.ReadAll(r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close() // read the call, answer nothing
		}
	}))
	defer broken.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		time.Sleep(1500 * time.Millisecond)
	}))
	defer slow.Close()
	cases := []struct {
		name   string
		srv    *httptest.Server
		method string
		body   string
		status int
	}{
		{"GET, connection broken after the request", broken, http.MethodGet, "", http.StatusBadGateway},
		{"POST, connection broken after the request", broken, http.MethodPost, "username=nina", http.StatusBadGateway},
		{"POST without a body", broken, http.MethodPost, "", http.StatusBadGateway},
		{"GET, no answer within the timeout", slow, http.MethodGet, "", http.StatusGatewayTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateway(t, tc.srv.Listener.Addr().String(), time.Second)
			// Warm a kept-alive connection first: a retry on a reused one
			// is what the transport would otherwise do.
			hits.Store(0)
			_, err := g.Forward(context.Background(), &Request{Principal: rootPrincipal(), Service: core.ServiceWHM, Method: tc.method,
				Path: "/json-api/createacct", RawQuery: "api.version=1", Body: []byte(tc.body), Flavour: api.WHM1, Func: "gw_other"})
			var ge *Error
			if !errors.As(err, &ge) || ge.Status() != tc.status {
				t.Fatalf("error %v, want a %d", err, tc.status)
			}
			if strings.Contains(ge.Error(), "createacct") || strings.Contains(ge.Error(), rootToken) {
				t.Errorf("the error names the call or the token: %s", ge.Error())
			}
			if n := hits.Load(); n != 1 {
				t.Errorf("the backend received the call %d times, want once", n)
			}
		})
	}
}

// Connections the backend closed while they were kept are not used again
// once the gateway has seen them close: every call is received once.
func TestBackendClosesKeptConnections(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, `{"metadata":{"result":1}}`)
	}))
	defer srv.Close()
	g := newGateway(t, srv.Listener.Addr().String(), time.Second)
	if (&writes{}).wrote() {
		t.Error("a request that got no connection wrote something")
	}
	for range 3 {
		resp, err := g.Forward(context.Background(), &Request{Principal: rootPrincipal(), Service: core.ServiceWHM, Method: http.MethodGet, Path: "/json-api/version", Flavour: api.WHM1, Func: "version"})
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		srv.CloseClientConnections()
		time.Sleep(50 * time.Millisecond) // the transport sees the end of the kept connection
	}
	if hits.Load() != 3 {
		t.Errorf("%d calls received, want 3", hits.Load())
	}
}

// A read-only token reaches the forwarded functions of the list only, and
// is refused the others before the backend is asked.
func TestForwardReadOnly(t *testing.T) {
	s := newStandIn(t)
	g := newGateway(t, s.srv.Listener.Addr().String(), 5*time.Second)
	p := bobPrincipal()
	p.ReadOnly, p.Bounds.Narrowed = true, true
	for _, tc := range []struct {
		fl     api.Flavour
		module string
		fn     string
		ok     bool
	}{
		{api.UAPI, "Email", "list_pops", true},
		{api.UAPI, "DomainInfo", "list_domains", true},
		{api.API2, "ZoneEdit", "fetchzone_records", true},
		{api.UAPI, "Email", "add_pop", false},
		{api.API2, "Email", "addpop", false},
		{api.UAPI, "Mysql", "create_database", false},
	} {
		_, err := g.Forward(context.Background(), &Request{Principal: p, Service: core.ServiceCPanel, Method: http.MethodGet, Path: "/execute/" + tc.module + "/" + tc.fn,
			Flavour: tc.fl, Module: tc.module, Func: tc.fn, Account: "bob"})
		if tc.ok != (err == nil) {
			t.Errorf("%s %s::%s through a read-only token: %v, want allowed %v", tc.fl, tc.module, tc.fn, err, tc.ok)
		}
		if !tc.ok && core.Message(err) != "The API token “ci” is read-only: it cannot call "+tc.module+"::"+tc.fn+", which changes data." {
			t.Errorf("refusal %q", core.Message(err))
		}
	}
	if rs, _ := s.requests("add_pop"); len(rs) != 0 {
		t.Error("a refused call reached the backend")
	}
	l := NewReadOnlyList([]string{"Mysql::list_routines", "api2:Mine::read"})
	if !l.Allows(api.UAPI, "Mysql", "list_routines") || !l.Allows(api.API2, "Mine", "read") || l.Allows(api.UAPI, "Mine", "read") || l.Allows(api.WHM1, "", "listaccts") {
		t.Error("the configured list does not extend the shipped one as written")
	}
}

// The split: the gateway serves what is about credentials, and forwards
// everything else.
func TestServes(t *testing.T) {
	args := func(kv ...string) api.Args {
		var a api.Args
		for i := 0; i < len(kv); i += 2 {
			a.Add(kv[i], kv[i+1])
		}
		return a
	}
	tests := []struct {
		name   string
		fl     api.Flavour
		module string
		fn     string
		args   api.Args
		local  bool
	}{
		{"version", api.WHM1, "", "version", args(), true},
		{"a token function", api.WHM1, "", "api_token_create", args(), true},
		{"single sign-on", api.WHM1, "", "create_user_session", args(), true},
		{"cPHulk", api.WHM1, "", "get_cphulk_brutes", args(), true},
		{"two-factor", api.WHM1, "", "twofactorauth_set_tfa_config", args(), true},
		{"sessions", api.WHM1, "", "kill_session", args(), true},
		{"passkeys", api.WHM1, "", "passkey_remove", args(), true},
		{"uapi_cpanel of a passkey function", api.WHM1, "", "uapi_cpanel", args("cpanel.module", "Passkeys"), true},
		{"UAPI Passkeys", api.UAPI, "Passkeys", "remove", args(), true},
		{"access hash", api.WHM1, "", "accesshash", args(), true},
		{"an account function", api.WHM1, "", "createacct", args(), false},
		{"listaccts", api.WHM1, "", "listaccts", args(), false},
		{"passwd", api.WHM1, "", "passwd", args(), false},
		{"applist (the backend's functions)", api.WHM1, "", "applist", args(), false},
		{"a function cpauth has no code for", api.WHM1, "", "addzonerecord", args(), false},
		{"a gateway setting", api.WHM1, "", "set_tweaksetting", args("key", "requiressl"), true},
		{"a backend setting", api.WHM1, "", "get_tweaksetting", args("key", "server-ip"), false},
		{"an unknown setting", api.WHM1, "", "get_tweaksetting", args("key", "maxemailsperhour"), false},
		{"uapi_cpanel of a token function", api.WHM1, "", "uapi_cpanel", args("cpanel.module", "Tokens"), true},
		{"uapi_cpanel of a mail function", api.WHM1, "", "uapi_cpanel", args("cpanel.module", "Email"), false},
		{"UAPI Tokens", api.UAPI, "Tokens", "create_full_access", args(), true},
		{"UAPI Session", api.UAPI, "Session", "create_webmail_session_for_self", args(), true},
		{"UAPI TwoFactorAuth", api.UAPI, "TwoFactorAuth", "get_user_configuration", args(), true},
		{"UAPI Email", api.UAPI, "Email", "add_pop", args(), false},
		{"UAPI unknown module", api.UAPI, "Mysql", "create_database", args(), false},
		{"API 2", api.API2, "Email", "listpops", args(), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Serves(tc.fl, tc.module, tc.fn, tc.args); got != tc.local {
				t.Errorf("Serves = %v, want %v", got, tc.local)
			}
		})
	}
}

// The backend's answer to a password check decides, and only its answer:
// an answer that is neither yes nor no is no check.
func TestVerifierReadsTheBackend(t *testing.T) {
	var status atomic.Int64
	var body atomic.Value
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Authorization") + " " + r.URL.Path)
		if status.Load() == 0 {
			time.Sleep(1500 * time.Millisecond)
			return
		}
		w.WriteHeader(int(status.Load()))
		io.WriteString(w, body.Load().(string))
	}))
	defer srv.Close()
	g := newGateway(t, srv.Listener.Addr().String(), time.Second)
	tests := []struct {
		name   string
		status int
		body   string
		want   error
	}{
		{"200: right", 200, `{"metadata":{"result":1}}`, nil},
		{"the backend's second factor: right", 401, `<form name="tfa_login_form">`, nil},
		{"D5: wrong", 403, `{"cpanelresult":{"apiversion":"2","error":"Access denied","data":{"reason":"Access denied","result":"0"},"type":"text"}}`, secret.ErrMismatch},
		{"a 401 of another kind: not checked", 401, `login page`, auth.ErrNotChecked},
		{"500: not checked", 500, `oops`, auth.ErrNotChecked},
		{"no answer in time: not checked", 0, ``, auth.ErrNotChecked},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status.Store(int64(tc.status))
			body.Store(tc.body)
			err := g.Verifier.VerifyPassword(context.Background(), auth.Identity{Principal: core.Principal{User: "bob"}}, core.ServiceCPanel, "pa:ss")
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("%v, want %v", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "pa:ss") {
				t.Error("the error holds the password")
			}
			if g := got.Load().(string); g != "Basic Ym9iOnBhOnNz /json-api/cpanel" {
				t.Errorf("the backend got %q", g)
			}
		})
	}
}

// The backend's token is read from a file of the daemon's own, and its
// content never shows in an error.
func TestReadTokenFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", rootToken+"\n", 0o600)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{"0600", good, ""},
		{"0400", write("ro", rootToken, 0o400), ""},
		{"readable by the group", write("group", rootToken, 0o640), "mode 0640"},
		{"readable by anyone", write("world", rootToken, 0o644), "mode 0644"},
		{"not a token", write("bad", "root:hunter2-not-a-token\n", 0o600), "does not hold a WHM API token"},
		{"a symbolic link", link, "not a regular file"},
		{"missing", filepath.Join(dir, "nope"), "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := ReadTokenFile(tc.path)
			if tc.want == "" {
				if err != nil || tok != rootToken {
					t.Fatalf("%q %v", tok, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), rootToken) {
				t.Errorf("the error shows the file's content: %v", err)
			}
		})
	}
}

// Concurrent checks of one password are one check at the backend; checks
// of other passwords are their own.
func TestVerifierOneCheckAtOnce(t *testing.T) {
	var hits atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		<-release
		io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	g := newGateway(t, srv.Listener.Addr().String(), 5*time.Second)
	id := auth.Identity{Principal: core.Principal{User: "bob"}}
	var wg sync.WaitGroup
	errs := make([]error, 12)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pass := "same"
			if i >= 10 {
				pass = fmt.Sprint("other-", i)
			}
			errs[i] = g.Verifier.VerifyPassword(context.Background(), id, core.ServiceCPanel, pass)
		}()
	}
	for hits.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the late ones join the check in flight
	close(release)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("check %d: %v", i, err)
		}
	}
	if n := hits.Load(); n != 3 {
		t.Errorf("the backend checked %d times, want 3 (one per password)", n)
	}
}
