package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/gateway"
	"github.com/cpauth/cpauth/internal/health"
	"github.com/cpauth/cpauth/internal/logs"
	"github.com/cpauth/cpauth/internal/testutil"
)

// readiness is the JSON of a readiness answer.
type readiness struct {
	Status string `json:"status"`
	Checks map[string]struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	} `json:"checks"`
}

// closedPort is a TCP port on loopback that nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// testGateway is a gateway whose backend is at url and port (WHM's).
func testGateway(t *testing.T, data *Data, url string, port int, timeout time.Duration) *gateway.Gateway {
	t.Helper()
	gw, err := gateway.New(gateway.Options{
		Backend: gateway.BackendOptions{URL: url, WHMPort: port, CPanelPort: port, WebmailPort: port, Token: "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", Timeout: timeout},
		Store:   data.Store, Key: data.Key, Log: slog.New(slog.DiscardHandler), Now: data.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return gw
}

// Each part of readiness, failing alone: the answer is 503 and names it
// with its reason, the others pass, and no secret is in the answer.
func TestReadinessChecks(t *testing.T) {
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hung.Close()
	hungPort, _ := strconv.Atoi(hung.URL[strings.LastIndexByte(hung.URL, ':')+1:])
	version := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"data":{"version":"11.134.0.0"},"metadata":{"command":"version","reason":"OK","result":1,"version":1}}`)
	}))
	defer version.Close()
	versionPort, _ := strconv.Atoi(version.URL[strings.LastIndexByte(version.URL, ':')+1:])
	tests := []struct {
		name     string
		postgres bool // the store is counted as a cluster's (the change feed is checked)
		setup    func(t *testing.T, data *Data) *gateway.Gateway
		failing  string // the check that fails ("": none)
		reason   string // the start of its reason
	}{
		{name: "all pass", setup: func(*testing.T, *Data) *gateway.Gateway { return nil }},
		{name: "all pass, cluster and gateway", postgres: true, setup: func(t *testing.T, data *Data) *gateway.Gateway {
			return testGateway(t, data, "http://127.0.0.1", versionPort, 2*time.Second)
		}},
		{name: "store down", failing: "store", reason: "unreachable", setup: func(t *testing.T, data *Data) *gateway.Gateway {
			data.ping = func(context.Context) error { return errors.New("dial tcp: password=Hunter2-secret refused") }
			return nil
		}},
		{name: "store hung", failing: "store", reason: "timed out", setup: func(t *testing.T, data *Data) *gateway.Gateway {
			data.ping = func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
			return nil
		}},
		{name: "change feed not live", postgres: true, failing: "change_feed", reason: "not live", setup: func(t *testing.T, data *Data) *gateway.Gateway {
			data.Cache.SetLive(false)
			return nil
		}},
		{name: "logs not writable", failing: "logs", reason: "not writable: login_log", setup: func(t *testing.T, data *Data) *gateway.Gateway {
			if err := os.MkdirAll(filepath.Join(data.Dir, "logs", logs.LoginLog), 0o700); err != nil {
				t.Fatal(err)
			}
			data.Logs.Login(logs.Login{App: "whostmgrd", Address: "192.0.2.1", User: "root", Request: "GET / HTTP/1.1", Status: "FAILED LOGIN", Reason: "test"})
			return nil
		}},
		{name: "backend unreachable", failing: "backend", reason: "backend_unreachable", setup: func(t *testing.T, data *Data) *gateway.Gateway {
			return testGateway(t, data, "http://127.0.0.1", closedPort(t), 2*time.Second)
		}},
		{name: "backend hung", failing: "backend", reason: "backend_timeout", setup: func(t *testing.T, data *Data) *gateway.Gateway {
			return testGateway(t, data, "http://127.0.0.1", hungPort, 200*time.Millisecond)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t.TempDir())
			data, err := open(context.Background(), cfg, slog.New(slog.DiscardHandler), true, Options{Stderr: io.Discard})
			if err != nil {
				t.Fatal(err)
			}
			defer data.Close()
			gw := tc.setup(t, data)
			if gw != nil {
				defer gw.Close()
			}
			if tc.postgres {
				cfg.Store = "postgres" // the checks of a cluster's store, over this one
			}
			c := newChecker(cfg, data, gw, slog.New(slog.DiscardHandler))
			c.Timeout = 500 * time.Millisecond
			w := httptest.NewRecorder()
			r := httptest.NewRequest("GET", health.PathReady, nil)
			r.RemoteAddr = "192.0.2.1:1234"
			c.Handler().ServeHTTP(w, r)
			var got readiness
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("%s: %v", w.Body, err)
			}
			wantChecks := []string{"store", "logs"}
			if tc.postgres {
				wantChecks = append(wantChecks, "change_feed")
			}
			if gw != nil {
				wantChecks = append(wantChecks, "backend")
			}
			if len(got.Checks) != len(wantChecks) {
				t.Errorf("checks %v, want %v", got.Checks, wantChecks)
			}
			for _, name := range wantChecks {
				c, ok := got.Checks[name]
				switch {
				case !ok:
					t.Errorf("no check %s in %s", name, w.Body)
				case name == tc.failing && (c.Status != "fail" || !strings.HasPrefix(c.Reason, tc.reason)):
					t.Errorf("%s: %+v, want fail with %q", name, c, tc.reason)
				case name != tc.failing && c.Status != "ok":
					t.Errorf("%s: %+v, want ok", name, c)
				}
			}
			wantCode, wantStatus := http.StatusOK, "ok"
			if tc.failing != "" {
				wantCode, wantStatus = http.StatusServiceUnavailable, "degraded"
			}
			if w.Code != wantCode || got.Status != wantStatus {
				t.Errorf("%d %q, want %d %q", w.Code, got.Status, wantCode, wantStatus)
			}
			if s := w.Body.String(); strings.Contains(s, "Hunter2") || strings.Contains(s, "ABCDEFGHIJ") || strings.Contains(s, data.Dir) {
				t.Errorf("the answer leaks: %s", s)
			}
		})
	}
}

// Every port serves liveness and readiness, to GET and HEAD without
// credentials; Daemon.Health serves the same on another listener.
func TestHealthOnEveryPort(t *testing.T) {
	d := start(t, testConfig(filepath.Join(t.TempDir(), "data")), &testutil.LogBuffer{})
	stopped := false
	defer func() {
		if !stopped {
			d.Shutdown(context.Background())
		}
	}()
	other := httptest.NewServer(d.Health())
	defer other.Close()
	bases := []string{other.URL}
	for _, l := range d.Listeners {
		scheme := "http://"
		if l.Port.TLS {
			scheme = "https://"
		}
		bases = append(bases, scheme+l.Addr.String())
	}
	for _, base := range bases {
		for _, tc := range []struct {
			method, path string
			status       int
		}{
			{"GET", health.PathLive, http.StatusOK},
			{"GET", health.PathReady, http.StatusOK},
			{"GET", health.PathCompat, http.StatusOK},
			{"HEAD", health.PathReady, http.StatusOK},
			{"POST", health.PathReady, http.StatusMethodNotAllowed},
		} {
			req, _ := http.NewRequest(tc.method, base+tc.path, nil)
			resp, err := client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("%s %s%s: %d %s, want %d", tc.method, base, tc.path, resp.StatusCode, b, tc.status)
			}
			if tc.status == http.StatusOK && tc.method == "GET" && tc.path != health.PathLive && !strings.Contains(string(b), `"store":{"status":"ok"}`) {
				t.Errorf("%s%s: %s", base, tc.path, b)
			}
		}
	}
	// Once the daemon stops, the listener that outlives it says so.
	stopped = true
	if err := d.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp, err := client().Get(other.URL + health.PathReady)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), `"status":"stopping"`) {
		t.Errorf("readiness after Shutdown: %d %s", resp.StatusCode, b)
	}
}
