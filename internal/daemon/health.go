package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/gateway"
	"github.com/cpauth/cpauth/internal/health"
	"github.com/cpauth/cpauth/internal/server"
)

// Health is the handler of the health paths (liveness at
// /cpauth/health/live, readiness at /cpauth/health/ready and
// /cpauth/health), the one every port serves: for mounting on another
// listener.
func (d *Daemon) Health() http.Handler { return d.health.Handler() }

// newChecker is the daemon's readiness: the store answers a query, the
// change feed is live (a store the nodes of a cluster share), the log
// files are written, and the backend answers (gateway mode).
func newChecker(cfg config.Config, data *Data, gw *gateway.Gateway, log *slog.Logger) *health.Checker {
	checks := []health.Check{{Name: "store", Run: data.pingStore}}
	if cfg.Store == "postgres" && data.Cache != nil {
		cache := data.Cache
		checks = append(checks, health.Check{Name: "change_feed", Run: func(context.Context) error {
			if !cache.Live() {
				return health.Fail("not live: this node caches nothing and reads every record from the database until it is back", nil)
			}
			return nil
		}})
	}
	checks = append(checks, server.LogsCheck(data.Logs))
	if gw != nil {
		checks = append(checks, health.Check{Name: "backend", Run: func(ctx context.Context) error {
			return backendHealth(gw.Backend.Ping(ctx))
		}})
	}
	return &health.Checker{Checks: checks, Log: log, Now: data.Now}
}

// backendHealth is what a probe is told of the backend's answer to a
// ping: the kind of failure, never its error (for the log).
func backendHealth(err error) error {
	if err == nil {
		return nil
	}
	var ge *gateway.Error
	if errors.As(err, &ge) {
		return health.Fail(ge.Failure.String(), err)
	}
	return health.Fail("backend_bad_answer", err)
}

// pingStore runs the smallest query there is on the store.
func (d *Data) pingStore(ctx context.Context) error {
	if d.ping == nil {
		return nil
	}
	if err := d.ping(ctx); err != nil {
		if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
			return health.Fail("timed out", err)
		}
		return health.Fail("unreachable", err)
	}
	return nil
}
