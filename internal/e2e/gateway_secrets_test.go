package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/core"
)

// recorder is a proxy between the gateway and the backend's plain ports
// that keeps every secret the backend hands the gateway: its session
// cookies, the one-time session values and security tokens of
// create_user_session, the tokens api_token_create mints.
type recorder struct {
	mu      sync.Mutex
	secrets []string
	servers [core.ServiceWebmail + 1]*httptest.Server
}

func newRecorder(t *testing.T, backend *testEnv) *recorder {
	rec := &recorder{}
	for svc := core.ServiceCPanel; svc <= core.ServiceWebmail; svc++ {
		target, _ := url.Parse("http://" + backend.d.Addr(svc, false))
		p := httputil.NewSingleHostReverseProxy(target)
		p.ModifyResponse = rec.keep
		rec.servers[svc] = httptest.NewServer(p)
		t.Cleanup(rec.servers[svc].Close)
	}
	return rec
}

func (rec *recorder) add(s ...string) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, v := range s {
		if len(v) >= 8 {
			rec.secrets = append(rec.secrets, v)
		}
	}
}

func (rec *recorder) keep(resp *http.Response) error {
	for _, c := range resp.Cookies() {
		dec, _ := url.QueryUnescape(c.Value)
		rec.add(c.Value, dec)
		// The session id alone, between the user's name and the handle.
		if _, rest, ok := strings.Cut(dec, ":"); ok {
			id, _, _ := strings.Cut(rest, ",")
			rec.add(id)
		}
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var env struct {
		Data map[string]any `json:"data"`
	}
	if json.Unmarshal(body, &env) == nil {
		for _, k := range []string{"token", "session", "cp_security_token", "url"} {
			if v, ok := env.Data[k].(string); ok {
				rec.add(v)
				if k == "session" {
					_, rest, _ := strings.Cut(v, ":")
					id, _, _ := strings.Cut(rest, ":")
					rec.add(id)
				}
			}
		}
	}
	return nil
}

func (rec *recorder) all() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]string(nil), rec.secrets...)
}

func (rec *recorder) port(t testing.TB, svc core.Service) int {
	return atoiPort(t, rec.servers[svc].Listener.Addr().String())
}

// No gateway credential, backend session cookie or id, backend token or
// password appears in any file of the gateway's data directory (its
// database, its logs) or in its log: what the gateway must keep of them
// it keeps as keyed hashes or sealed.
func TestGatewaySecrets(t *testing.T) {
	backend := startWithFixtures(t)
	registerExtra(backend)
	rec := newRecorder(t, backend)
	g := startGateway(t, gwOptions{backend: backend, configure: func(c *config.Config) {
		c.Upstream.URL, c.Upstream.InsecureSkipVerify = "http://127.0.0.1", false
		c.Upstream.WHMPort, c.Upstream.CPanelPort, c.Upstream.WebmailPort = rec.port(t, core.ServiceWHM), rec.port(t, core.ServiceCPanel), rec.port(t, core.ServiceWebmail)
	}})
	secrets := []string{g.rootToken, g.backend.rootPass, bobPass, infoPass, resPass, "Nina-Pass-1", "Bob-New-Pass-9"}
	root, bob := g.gw.authFor(t, "root"), g.gw.authFor(t, "bob")

	// Credentials of every kind, and calls through each.
	rootTok := g.gwToken(t, "root", "ci")
	narrow := g.gwToken(t, "root", "lister", "acl", "list-accts")
	bobTok := g.gwToken(t, "bob", "ci")
	secrets = append(secrets, rootTok, narrow, bobTok)
	whmOK(t, g.gw.do(t, request{port: p2087, auth: whmTok("root", rootTok), path: "/json-api/createacct?api.version=1&username=nina&domain=nina.test&password=Nina-Pass-1"}))
	whmOK(t, g.gw.do(t, request{port: p2087, auth: whmTok("root", narrow), path: "/json-api/listaccts?api.version=1"}))
	uapiOK(t, g.gw.do(t, request{port: p2083, auth: cpanelTok("bob", bobTok), path: "/execute/Email/list_pops"}))
	uapiOK(t, g.gw.do(t, request{port: p2083, auth: bob, path: "/execute/GwTest/echo"}))
	uapiOK(t, g.gw.do(t, request{port: p2096, auth: g.gw.authFor(t, "info@bob.test"), path: "/execute/GwTest/echo"}))
	whmOK(t, g.gw.do(t, request{port: p2087, auth: g.gw.authFor(t, "res"), path: "/json-api/listaccts?api.version=1"}))
	s := g.gw.login(t, p2083, "bob", bobPass)
	secrets = append(secrets, s.value)
	uapiOK(t, g.gw.do(t, s.api("/execute/GwTest/echo")))
	whmOK(t, g.gw.do(t, request{port: p2087, auth: root, path: "/json-api/passwd?api.version=1&user=bob&password=Bob-New-Pass-9"}))
	sso := whmOK(t, g.gw.do(t, request{port: p2087, auth: root, path: "/json-api/create_user_session?api.version=1&user=bob&service=cpaneld"}))
	secrets = append(secrets, str(dig(sso, "data", "session")))

	backendSecrets := rec.all()
	if len(backendSecrets) < 10 {
		t.Fatalf("the recorder kept only %d of the backend's secrets: %q", len(backendSecrets), backendSecrets)
	}
	secrets = append(secrets, backendSecrets...)
	time.Sleep(1200 * time.Millisecond) // a sync and its writes
	g.gw.stop(t)

	files := 0
	err := filepath.WalkDir(g.gw.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		lower := bytes.ToLower(raw)
		for _, sec := range secrets {
			if bytes.Contains(raw, []byte(sec)) || bytes.Contains(lower, []byte(strings.ToLower(sec))) {
				t.Errorf("%s holds a secret (%.6s…)", path, sec)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 5 {
		t.Errorf("walked only %d files", files)
	}
	log := g.gw.log.String()
	for _, sec := range secrets {
		if strings.Contains(log, sec) {
			t.Errorf("the gateway's log holds a secret (%.6s…)", sec)
		}
	}
}
