package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/gateway"
	"github.com/cpauth/cpauth/internal/health"
	"github.com/cpauth/cpauth/internal/passkey"
	"github.com/cpauth/cpauth/internal/server"
	"github.com/cpauth/cpauth/internal/sessions"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/throttle"
	"github.com/cpauth/cpauth/internal/web"
)

// Listener is one of the six ports as bound.
type Listener struct {
	Port server.Port
	Addr net.Addr
}

// Daemon is a running cpauth.
type Daemon struct {
	Data      *Data
	Listeners []Listener
	servers   []*http.Server
	srv       *server.Server
	wg        sync.WaitGroup
	log       *slog.Logger

	purgeAfter      atomic.Int64 // a time.Duration: token-purge-after
	shutdownTimeout atomic.Int64 // a time.Duration
	// cert is the TLS certificate every TLS port serves (Reload replaces it).
	cert atomic.Pointer[tls.Certificate]
	// cfg is the configuration in force (Reload), level the log level it set.
	reloadMu sync.Mutex
	cfg      config.Config
	level    *slog.LevelVar
	// tlsPorts are the bound TLS ports by core.Service.
	tlsPorts [core.ServiceWebmail + 1]atomic.Int32
	// plainPorts are the bound plain-HTTP ports (passkeys' origins on
	// localhost).
	plainPorts [core.ServiceWebmail + 1]atomic.Int32
	stopPurge  context.CancelFunc
	purging    sync.WaitGroup
	// gateway is gateway mode's (nil: the standalone server).
	gateway *gateway.Gateway
	// health is readiness, which every port serves.
	health *health.Checker
	// metricsAddr and metricsMux are the metrics listener's (nil: off).
	metricsAddr net.Addr
	metricsMux  *http.ServeMux
}

// Gateway is the daemon's gateway (nil unless in gateway mode).
func (d *Daemon) Gateway() *gateway.Gateway { return d.gateway }

// startGateway builds gateway mode over data: the backend's client with
// its root token, the backend's password check behind the password
// method's regulator and cache, and the account directory, read once now.
func startGateway(ctx context.Context, cfg config.Config, data *Data, log *slog.Logger) (*gateway.Gateway, error) {
	u := cfg.Upstream
	tok, err := gateway.ReadTokenFile(u.TokenFile)
	if err != nil {
		return nil, err
	}
	gw, err := gateway.New(gateway.Options{
		Backend: gateway.BackendOptions{URL: u.URL, WHMPort: u.WHMPort, CPanelPort: u.CPanelPort, WebmailPort: u.WebmailPort,
			Token: tok, CAFile: u.CAFile, InsecureSkipVerify: u.InsecureSkipVerify, Timeout: u.Timeout},
		Store: data.Store, Records: data.Records, Key: data.Key, Log: log, Now: data.Now,
		SyncInterval: u.SyncInterval, ReadOnlyFunctions: u.ReadOnlyFunctions,
	})
	if err != nil {
		return nil, err
	}
	if pw := passwordMethod(data.Chain); pw != nil {
		pw.Verifier = gw.Verifier
	}
	if data.metrics != nil {
		data.metrics.WatchGateway(gw) // before it starts calling the backend
	}
	log.Info("gateway mode: forwarding to the backend", "backend", gw.Backend.Host(), "sync_interval", u.SyncInterval.String())
	gw.Start(ctx)
	return gw, nil
}

func (d *Daemon) closeGateway() {
	if d.gateway != nil {
		d.gateway.Close()
	}
}

// tokenPurgeEvery is how often the daemon deletes long-expired API tokens,
// sessionPurgeEvery how often it deletes expired sessions.
const (
	tokenPurgeEvery   = time.Hour
	sessionPurgeEvery = 5 * time.Minute
)

// passwordMethod finds the password method of the chain (browser logins
// check passwords with it).
func passwordMethod(c auth.Chain) *auth.Password {
	for _, m := range c {
		if p, ok := m.(*auth.Password); ok {
			return p
		}
	}
	return nil
}

var order = []server.Port{
	{Service: core.ServiceCPanel}, {Service: core.ServiceCPanel, TLS: true},
	{Service: core.ServiceWHM}, {Service: core.ServiceWHM, TLS: true},
	{Service: core.ServiceWebmail}, {Service: core.ServiceWebmail, TLS: true},
}

// Start opens the data directory and binds the six ports. It returns once
// they are listening; Shutdown stops it.
func Start(ctx context.Context, cfg config.Config, log *slog.Logger) (*Daemon, error) {
	return StartWith(ctx, cfg, log, Options{})
}

// StartWith is Start with injected options (a test's clock).
func StartWith(ctx context.Context, cfg config.Config, log *slog.Logger, opts Options) (*Daemon, error) {
	opts.metrics = newMetrics(cfg, log, opts)
	data, err := open(ctx, cfg, log, true, opts)
	if err != nil {
		return nil, err
	}
	cert, err := loadOrCreateCert(data.Dir, cfg.TLSCert, cfg.TLSKey, data.Env.Hostname)
	if err != nil {
		data.Close()
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	d := &Daemon{Data: data, log: log, cfg: cfg, level: opts.Level}
	d.purgeAfter.Store(int64(cfg.TokenPurgeAfter))
	d.shutdownTimeout.Store(int64(cfg.ShutdownTimeout))
	d.cert.Store(&cert)
	data.Env.TLSPort = d.tlsPort // before any port serves: no request sees it change
	var guard auth.Guard = hulkGuard{data.Hulk}
	if opts.Guard != nil {
		guard = opts.Guard
	}
	data.Env.Guard = guard // functions that check a credential (a mailbox password, a two-factor code)
	srv := &server.Server{
		Store: data.Store, Chain: data.Chain, Registry: data.Registry, Env: data.Env, Log: log, TLSPort: d.tlsPort,
		Sessions: data.Sessions, SessionAuth: data.SessionAuth, Password: passwordMethod(data.Chain),
		Web:   &web.Server{Store: data.Store, Registry: data.Registry, Env: data.Env, Log: log, Now: data.Now},
		Guard: guard, TwoFactor: data.TwoFactor, Logs: data.Logs,
		PasswordlessBegins: throttle.New(throttle.PasswordlessBegin, data.Now),
		BodyMemory:         int64(cfg.BodyMemoryMB) << 20,
	}
	if data.metrics != nil {
		srv.Metrics = data.metrics
	}
	if pk := d.passkeys(log); pk != nil && !cfg.Upstream.Enabled() {
		srv.Passkeys, srv.Web.Passkeys = pk, pk
	}
	if cfg.Upstream.Enabled() {
		gw, err := startGateway(ctx, cfg, data, log)
		if err != nil {
			data.Close()
			return nil, err
		}
		d.gateway = gw
		srv.Gateway = gw
	}
	d.health = newChecker(cfg, data, d.gateway, log)
	srv.Health = d.health
	d.srv = srv
	tlsConf := &tls.Config{GetCertificate: d.getCertificate, MinVersion: tls.VersionTLS12}
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	ports := cfg.Ports()
	for i, p := range order {
		ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Listen, strconv.Itoa(ports[i])))
		if err != nil {
			d.closeListeners()
			d.closeGateway()
			data.Close()
			return nil, fmt.Errorf("listening for %s (tls=%v): %w", p.Service.App(), p.TLS, err)
		}
		hp := p // the handler's copy knows its port number; p names the listener
		hp.Number = ln.Addr().(*net.TCPAddr).Port
		hs := NewHTTPServer(srv.Handler(hp), errLog)
		if p.TLS {
			hs.TLSConfig = tlsConf.Clone()
			ln = tls.NewListener(ln, hs.TLSConfig)
		}
		if p.TLS {
			d.tlsPorts[p.Service].Store(int32(ln.Addr().(*net.TCPAddr).Port))
		} else {
			d.plainPorts[p.Service].Store(int32(ln.Addr().(*net.TCPAddr).Port))
		}
		d.servers = append(d.servers, hs)
		d.Listeners = append(d.Listeners, Listener{Port: p, Addr: ln.Addr()})
		d.wg.Add(1)
		go func(hs *http.Server, ln net.Listener) {
			defer d.wg.Done()
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("server stopped", "addr", ln.Addr().String(), "error", err)
			}
		}(hs, ln)
		log.Info("listening", "service", p.Service.App(), "tls", p.TLS, "addr", ln.Addr().String())
	}
	if data.metrics != nil {
		if err := d.listenMetrics(cfg, metricsMux(data.metrics, d.health.Handler()), errLog); err != nil {
			d.closeListeners()
			d.wg.Wait()
			d.closeGateway()
			data.Close()
			return nil, err
		}
	}
	d.startPurge()
	return d, nil
}

// NewHTTPServer is the http.Server of one port serving h: its timeouts
// and header limit are those of every cpauth port.
func NewHTTPServer(h http.Handler, errLog *stdlog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          errLog,
	}
}

// startPurge deletes long-expired API tokens and expired sessions now,
// and then every hour (tokens) and every five minutes (sessions) until
// Shutdown.
func (d *Daemon) startPurge() {
	pctx, stop := context.WithCancel(context.Background())
	d.stopPurge = stop
	_, _ = d.PurgeExpiredTokens(pctx) // at start, before the first request
	_, _ = d.PurgeSessions(pctx)
	d.purgePasskeyChallenges(pctx)
	d.purging.Add(1)
	go func() {
		defer d.purging.Done()
		tokens := time.NewTicker(tokenPurgeEvery)
		defer tokens.Stop()
		sess := time.NewTicker(sessionPurgeEvery)
		defer sess.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-tokens.C:
				_, _ = d.PurgeExpiredTokens(pctx)
			case <-sess.C:
				_, _ = d.PurgeSessions(pctx)
				d.purgePasskeyChallenges(pctx)
			}
		}
	}()
}

// PurgeSessions deletes the sessions that are over (past their lifetime,
// or idle longer than their idle timeout), logs how many, when any, and
// writes each to session_log (PURGE … expired).
func (d *Daemon) PurgeSessions(ctx context.Context) (int, error) {
	// Uses noted on this node but not yet written count: without this a
	// session in use could be purged as idle in the moment before its touch
	// is written.
	d.Data.Touches.Flush(ctx)
	ended, err := d.Data.Store.PurgeSessions(ctx, d.Data.Now())
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("purging expired sessions", "error", err.Error())
		}
		return 0, err
	}
	for _, s := range ended {
		d.Data.Logs.SessionPurge(s.Service, "", s.Username+":"+sessions.Handle(s.IDHash), "expired")
	}
	n := len(ended)
	if n > 0 {
		d.log.Info("purged expired sessions", "purged", n)
	}
	return n, nil
}

// PurgeExpiredTokens deletes the API tokens that expired longer ago than
// the token-purge-after setting (expired tokens stay listed until then, as
// in cPanel, but never authenticate) and logs how many.
func (d *Daemon) PurgeExpiredTokens(ctx context.Context) (int, error) {
	purgeAfter := time.Duration(d.purgeAfter.Load())
	before := d.Data.Now().Add(-purgeAfter)
	n, err := d.Data.Store.PurgeExpiredTokens(ctx, before)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("purging expired API tokens", "error", err.Error())
		}
		return 0, err
	}
	d.log.Info("purged expired API tokens", "purged", n, "expired_before", before.UTC().Format(time.RFC3339), "purge_after", purgeAfter.String())
	return n, nil
}

func (d *Daemon) closeListeners() {
	for _, s := range d.servers {
		s.Close()
	}
}

// tlsPort is the bound TLS port of a service (0 until it is bound). It
// reads tlsPorts, not Listeners, so that a request served while later
// ports are still being bound reads no slice being appended to.
func (d *Daemon) tlsPort(svc core.Service) int {
	if svc < 0 || int(svc) >= len(d.tlsPorts) {
		return 0
	}
	return int(d.tlsPorts[svc].Load())
}

// Handler is the handler of the port p, as its listener serves it: for
// measuring the daemon's own work per request without a connection.
func (d *Daemon) Handler(p server.Port) http.Handler { return d.srv.Handler(p) }

// Addr returns the bound address of a service's plain or TLS port.
func (d *Daemon) Addr(svc core.Service, tls bool) string {
	for _, l := range d.Listeners {
		if l.Port.Service == svc && l.Port.TLS == tls {
			return l.Addr.String()
		}
	}
	return ""
}

// ShutdownTimeout is how long a graceful stop waits for the requests in
// flight (the shutdown-timeout setting, as last loaded).
func (d *Daemon) ShutdownTimeout() time.Duration { return time.Duration(d.shutdownTimeout.Load()) }

// Shutdown stops the daemon without losing what it acknowledged, in this
// order: every port stops accepting at once; the requests in flight
// finish (until ctx ends; then their connections are closed); the
// background work stops (the purges, gateway mode's); then what was noted
// in memory is written: the API tokens' and sessions' last uses, the
// brute-force regulator's failures and blocks, and the log lines that
// wait in the queue; and the store is closed last.
func (d *Daemon) Shutdown(ctx context.Context) error {
	if d.health != nil {
		d.health.Stopping() // a listener elsewhere that serves Health says so
	}
	var errs []error
	var mu sync.Mutex
	var stopping sync.WaitGroup
	for _, s := range d.servers {
		stopping.Add(1)
		go func(s *http.Server) {
			defer stopping.Done()
			if err := s.Shutdown(ctx); err != nil {
				// The wait ran out: what is still in flight is cut off,
				// unanswered.
				s.Close()
				mu.Lock()
				errs = append(errs, fmt.Errorf("requests still in flight were cut off: %w", err))
				mu.Unlock()
			}
		}(s)
	}
	stopping.Wait()
	d.wg.Wait()
	if d.stopPurge != nil {
		d.stopPurge()
		d.purging.Wait()
	}
	d.closeGateway()
	errs = append(errs, d.Data.Close())
	return errors.Join(errs...)
}

// passkeys is the WebAuthn relying party of the configured host name, or
// nil when that is an IP address (browsers refuse one as a relying party
// ID). Its origins are the TLS ports as bound (and the plain ones when the
// host is localhost), read at each ceremony.
func (d *Daemon) passkeys(log *slog.Logger) *passkey.Service {
	host := d.Data.Env.Hostname
	if host == "" || net.ParseIP(host) != nil {
		log.Info("passkeys are off: the host name is an IP address, which cannot be a WebAuthn relying party", "hostname", host)
		return nil
	}
	return &passkey.Service{
		Store: d.Data.Store, Key: d.Data.Env.Key, Log: log, Now: d.Data.Now,
		Ended: func(ended []store.Session, reason string) {
			for _, e := range ended {
				d.Data.Logs.SessionPurge(e.Service, "", e.Username+":"+sessions.Handle(e.IDHash), reason)
			}
		},
		RP: func() passkey.RelyingParty {
			var tls, plain []int
			for _, svc := range []core.Service{core.ServiceCPanel, core.ServiceWHM, core.ServiceWebmail} {
				tls = append(tls, int(d.tlsPorts[svc].Load()))
				plain = append(plain, int(d.plainPorts[svc].Load()))
			}
			return passkey.RelyingParty{ID: host, Name: host, Origins: passkey.Origins(host, tls, plain)}
		},
	}
}

// purgePasskeyChallenges deletes the passkey ceremonies that expired
// unfinished.
func (d *Daemon) purgePasskeyChallenges(ctx context.Context) {
	n, err := d.Data.Store.PurgePasskeyChallenges(ctx, d.Data.Now())
	switch {
	case err != nil && ctx.Err() == nil:
		d.log.Error("purging expired passkey challenges", "error", err.Error())
	case n > 0:
		d.log.Info("purged expired passkey challenges", "purged", n)
	}
}
