package daemon

import (
	"errors"
	"fmt"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"

	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/health"
	"github.com/cpauth/cpauth/internal/metrics"
)

// newMetrics makes the metrics when the configuration asks for their
// listener (nil otherwise: nothing is counted).
func newMetrics(cfg config.Config, log *slog.Logger, opts Options) *metrics.Metrics {
	if cfg.MetricsListen == "" {
		return nil
	}
	return metrics.New(metrics.Options{Log: log, Now: opts.Now})
}

// metricsMux is the metrics listener's mux: /metrics, and the health
// answers every port serves (liveness and readiness), so that a monitor
// needs this one port.
func metricsMux(m *metrics.Metrics, hh http.Handler) *http.ServeMux {
	mux := m.Mux()
	for _, p := range []string{health.PathCompat, health.PathLive, health.PathReady} {
		mux.Handle(p, hh)
	}
	return mux
}

// listenMetrics binds the metrics listener (cfg.MetricsListen) and serves
// mux on it, with the timeouts of every cpauth port, until Shutdown.
func (d *Daemon) listenMetrics(cfg config.Config, mux *http.ServeMux, errLog *stdlog.Logger) error {
	ln, err := net.Listen("tcp", cfg.MetricsListen)
	if err != nil {
		return fmt.Errorf("listening for metrics on %s: %w", cfg.MetricsListen, err)
	}
	hs := NewHTTPServer(mux, errLog)
	d.servers = append(d.servers, hs)
	d.metricsAddr, d.metricsMux = ln.Addr(), mux
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("metrics server stopped", "addr", ln.Addr().String(), "error", err)
		}
	}()
	d.log.Info("listening", "service", "metrics", "addr", ln.Addr().String(), "path", metrics.Path)
	return nil
}

// MetricsAddr is the bound address of the metrics listener ("" when it
// is off).
func (d *Daemon) MetricsAddr() string {
	if d.metricsAddr == nil {
		return ""
	}
	return d.metricsAddr.String()
}

// MetricsMux is the metrics listener's mux (nil when it is off): a
// handler added to it is served on that listener at once.
func (d *Daemon) MetricsMux() *http.ServeMux { return d.metricsMux }

// Metrics are the daemon's metrics (nil when they are off).
func (d *Daemon) Metrics() *metrics.Metrics { return d.Data.metrics }
