package daemon

import (
	"context"
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/sessions"
	"github.com/cpauth/cpauth/internal/testutil"
)

// certFiles writes a self-signed certificate for host into a directory of
// its own and returns its files.
func certFiles(t *testing.T, host string) (cert, key string) {
	t.Helper()
	dir := t.TempDir()
	if _, err := loadOrCreateCert(dir, "", "", host); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "tls", "cert.pem"), filepath.Join(dir, "tls", "key.pem")
}

// servedName is the common name of the certificate the WHM TLS port
// serves.
func servedName(t *testing.T, d *Daemon) string {
	t.Helper()
	c, err := tls.Dial("tcp", d.Addr(core.ServiceWHM, true), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// settings is what the live keys set in a running daemon.
type settings struct {
	level          slog.Level
	lifetimes      sessions.Lifetimes
	purgeAfter     time.Duration
	cacheSize      int
	cacheTTL       time.Duration
	workers, queue int
	wait           time.Duration
	logSize        int64
	logKeep        int
	shutdown       time.Duration
}

func current(d *Daemon) settings {
	var s settings
	s.level = d.level.Level()
	s.lifetimes = d.Data.Sessions.Lifetimes()
	s.purgeAfter = time.Duration(d.purgeAfter.Load())
	s.cacheSize, s.cacheTTL = d.Data.PasswordCache.Limits()
	s.workers, s.queue, s.wait = d.Data.HashPool.Limits()
	s.logSize, s.logKeep = d.Data.Logs.Rotation()
	s.shutdown = d.ShutdownTimeout()
	return s
}

func TestReload(t *testing.T) {
	certA, keyA := certFiles(t, "a.example.com")
	certB, keyB := certFiles(t, "b.example.com")
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		change  func(c *config.Config)
		applied []string
		restart []string
		want    func(s *settings) // the settings after, from those before
		cert    string            // the name served after ("": a.example.com)
		tlsErr  bool
	}{
		{name: "log-level", change: func(c *config.Config) { c.LogLevel = "debug" }, applied: []string{"log-level"},
			want: func(s *settings) { s.level = slog.LevelDebug }},
		{name: "session lifetimes", change: func(c *config.Config) {
			c.SessionIdleTimeout, c.SessionLifetime, c.SSOIdleTimeout = 3*time.Minute, time.Hour, 4*time.Minute
		}, applied: []string{"session-idle-timeout", "session-lifetime", "sso-idle-timeout"},
			want: func(s *settings) {
				s.lifetimes = sessions.Lifetimes{IdleTimeout: 3 * time.Minute, Lifetime: time.Hour, SSOIdleTimeout: 4 * time.Minute}
			}},
		{name: "token-purge-after", change: func(c *config.Config) { c.TokenPurgeAfter = time.Hour }, applied: []string{"token-purge-after"},
			want: func(s *settings) { s.purgeAfter = time.Hour }},
		{name: "password cache", change: func(c *config.Config) { c.PasswordCacheSize, c.PasswordCacheTTL = 7, time.Minute },
			applied: []string{"password-cache-size", "password-cache-ttl"},
			want:    func(s *settings) { s.cacheSize, s.cacheTTL = 7, time.Minute }},
		{name: "password cache off", change: func(c *config.Config) { c.PasswordCacheTTL = 0 }, applied: []string{"password-cache-ttl"},
			want: func(s *settings) { s.cacheSize, s.cacheTTL = 0, 0 }},
		{name: "password check pool", change: func(c *config.Config) {
			c.PasswordCheckWorkers, c.PasswordCheckQueue, c.PasswordCheckWait = 3, 9, 2*time.Second
		}, applied: []string{"password-check-queue", "password-check-wait", "password-check-workers"},
			want: func(s *settings) { s.workers, s.queue, s.wait = 3, 9, 2*time.Second }},
		{name: "log rotation", change: func(c *config.Config) { c.LogMaxSizeMB, c.LogKeep = 2, 9 }, applied: []string{"log-keep", "log-max-size-mb"},
			want: func(s *settings) { s.logSize, s.logKeep = 2<<20, 9 }},
		{name: "shutdown-timeout", change: func(c *config.Config) { c.ShutdownTimeout = time.Minute }, applied: []string{"shutdown-timeout"},
			want: func(s *settings) { s.shutdown = time.Minute }},
		{name: "TLS certificate", change: func(c *config.Config) { c.TLSCert, c.TLSKey = certB, keyB }, applied: []string{"tls-cert", "tls-key"},
			cert: "b.example.com"},
		{name: "a bad certificate keeps the one in use", change: func(c *config.Config) { c.TLSCert, c.TLSKey = garbage, keyB },
			tlsErr: true},
		{name: "restart keys", change: func(c *config.Config) {
			c.Listen = "127.0.0.2"
			c.PortWHM = 12345
			c.PortOffset = 1
			c.DataDir = "/elsewhere"
			c.Hostname = "other.example.com"
			c.Store = "postgres"
			c.PostgresDSN = "postgres://cpauth:Hunter2@db/cpauth"
			c.PostgresMaxConns = 3
			c.KeyFile = "/elsewhere/server.key"
			c.HashRounds = 2000
			c.LogFormat = "json"
			c.BodyMemoryMB = 3
			c.Upstream = config.Upstream{URL: "https://backend.example.com", TokenFile: "/t", Timeout: time.Second, SyncInterval: time.Second}
		}, restart: []string{"body-memory-mb", "data-dir", "hash-rounds", "hostname", "key-file", "listen", "log-format",
			"port-offset", "port-whm", "postgres-dsn", "postgres-max-conns", "store", "upstream.timeout", "upstream.token-file",
			"upstream.sync-interval", "upstream.url"}},
		{name: "live and restart keys together", change: func(c *config.Config) { c.LogLevel = "warn"; c.HashRounds = 3000 },
			applied: []string{"log-level"}, restart: []string{"hash-rounds"},
			want: func(s *settings) { s.level = slog.LevelWarn }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(filepath.Join(t.TempDir(), "data"))
			cfg.TLSCert, cfg.TLSKey = certA, keyA
			var level slog.LevelVar
			d, err := StartWith(context.Background(), cfg, slog.New(slog.NewTextHandler(&testutil.LogBuffer{}, nil)), Options{Level: &level})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Shutdown(context.Background())
			want := current(d)
			next := cfg
			tc.change(&next)
			rep, err := d.Reload(next)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != nil {
				tc.want(&want)
			}
			if got := current(d); got != want {
				t.Errorf("settings\n got %+v\nwant %+v", got, want)
			}
			slices.Sort(tc.applied)
			slices.Sort(tc.restart)
			if !slices.Equal(rep.Applied, tc.applied) {
				t.Errorf("applied %v, want %v", rep.Applied, tc.applied)
			}
			if !slices.Equal(rep.Restart, tc.restart) {
				t.Errorf("restart %v, want %v", rep.Restart, tc.restart)
			}
			if (rep.TLS != nil) != tc.tlsErr {
				t.Errorf("TLS error %v, want one: %v", rep.TLS, tc.tlsErr)
			}
			wantCert := tc.cert
			if wantCert == "" {
				wantCert = "a.example.com"
			}
			if got := servedName(t, d); got != wantCert {
				t.Errorf("serves %q, want %q", got, wantCert)
			}
			// What needs a restart is named again by the next reload.
			if len(tc.restart) > 0 {
				rep, err := d.Reload(next)
				if err != nil || !slices.Equal(rep.Restart, tc.restart) || len(rep.Applied) != 0 {
					t.Errorf("second reload: %+v %v", rep, err)
				}
			}
		})
	}
}

// A configuration that is not valid changes nothing.
func TestReloadInvalid(t *testing.T) {
	cfg := testConfig(filepath.Join(t.TempDir(), "data"))
	var level slog.LevelVar
	logs := &testutil.LogBuffer{}
	d, err := StartWith(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)), Options{Level: &level})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown(context.Background())
	before := current(d)
	bad := cfg
	bad.LogLevel = "debug"
	bad.SessionLifetime = time.Second // below the least
	if _, err := d.Reload(bad); err == nil {
		t.Fatal("an invalid configuration was taken")
	}
	if got := current(d); got != before {
		t.Errorf("settings changed\n got %+v\nwant %+v", got, before)
	}
	if d.cfg.LogLevel != cfg.LogLevel {
		t.Errorf("the configuration in force changed")
	}
}
