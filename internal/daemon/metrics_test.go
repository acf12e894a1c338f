package daemon

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/testutil"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := client().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMetricsListener(t *testing.T) {
	t.Run("off by default", func(t *testing.T) {
		d := start(t, testConfig(filepath.Join(t.TempDir(), "data")), io.Discard)
		defer d.Shutdown(context.Background())
		if d.MetricsAddr() != "" || d.MetricsMux() != nil || d.Metrics() != nil {
			t.Errorf("metrics on without metrics-listen: addr %q", d.MetricsAddr())
		}
		if status, _ := get(t, "http://"+d.Addr(core.ServiceWHM, false)+"/metrics"); status != http.StatusNotFound {
			t.Errorf("GET /metrics on the WHM port: %d, want 404", status)
		}
	})
	t.Run("on its own listener", func(t *testing.T) {
		cfg := testConfig(filepath.Join(t.TempDir(), "data"))
		cfg.MetricsListen = "127.0.0.1:0"
		logs := &testutil.LogBuffer{}
		d := start(t, cfg, logs)
		base := "http://" + d.MetricsAddr()
		if d.MetricsAddr() == "" {
			t.Fatal("no metrics listener")
		}
		status, body := get(t, base+"/metrics")
		if status != http.StatusOK || !strings.Contains(body, "cpauth_hulk_degraded 0") || !strings.Contains(body, "cpauth_password_cache_capacity") {
			t.Errorf("GET /metrics: %d %.500s", status, body)
		}
		if status, _ := get(t, "http://"+d.Addr(core.ServiceWHM, false)+"/metrics"); status != http.StatusNotFound {
			t.Errorf("GET /metrics on the WHM port: %d, want 404: the metrics are on their own listener only", status)
		}
		// The health answers are on the metrics listener too, so that a
		// monitor needs this one port.
		for _, path := range []string{"/cpauth/health/live", "/cpauth/health/ready", "/cpauth/health"} {
			if status, body := get(t, base+path); status != http.StatusOK || !strings.Contains(body, `"status":"ok"`) {
				t.Errorf("GET %s on the metrics listener: %d %q", path, status, body)
			}
		}
		// Another handler joins the listener at once.
		d.MetricsMux().HandleFunc("GET /added", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "added") })
		if status, body := get(t, base+"/added"); status != http.StatusOK || body != "added" {
			t.Errorf("GET /added: %d %q", status, body)
		}
		if !strings.Contains(logs.String(), "service=metrics") {
			t.Errorf("the listener was not logged:\n%s", logs.String())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if conn, err := net.DialTimeout("tcp", d.MetricsAddr(), time.Second); err == nil {
			conn.Close()
			t.Error("the metrics listener still accepts after Shutdown")
		}
	})
	t.Run("an address in use stops the start", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		cfg := testConfig(filepath.Join(t.TempDir(), "data"))
		cfg.MetricsListen = ln.Addr().String()
		d, err := Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
		if err == nil {
			d.Shutdown(context.Background())
			t.Fatal("Start succeeded on a metrics address in use")
		}
		if !strings.Contains(err.Error(), "listening for metrics on "+ln.Addr().String()) {
			t.Errorf("error %q does not name the metrics address", err)
		}
		// The data directory was released: a second start works.
		cfg.MetricsListen = "127.0.0.1:0"
		d = start(t, cfg, io.Discard)
		d.Shutdown(context.Background())
	})
}
