// Package config is cpauth's typed configuration: defaults, loading from a
// file, the environment and flags, and validation that reports every problem.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
)

// Config is everything `cpauth serve` (and the local CLI twins) need.
type Config struct {
	DataDir string `yaml:"data-dir"`
	// Hostname is this server's name: the absolute URLs cpauth builds
	// (the requiressl redirect, single sign-on URLs, the Webmail hand-off)
	// point at it when the request's Host does not name this server (D29),
	// and the self-signed certificate is made for it.
	Hostname   string `yaml:"hostname"`
	Listen     string `yaml:"listen"`
	PortOffset int    `yaml:"port-offset"`
	// The six ports; 0 means any free port.
	PortCPanel     int    `yaml:"port-cpanel"`
	PortCPanelTLS  int    `yaml:"port-cpanel-tls"`
	PortWHM        int    `yaml:"port-whm"`
	PortWHMTLS     int    `yaml:"port-whm-tls"`
	PortWebmail    int    `yaml:"port-webmail"`
	PortWebmailTLS int    `yaml:"port-webmail-tls"`
	TLSCert        string `yaml:"tls-cert"`
	TLSKey         string `yaml:"tls-key"`
	// Store is "sqlite" (one node) or "postgres" (a cluster).
	Store string `yaml:"store"`
	// PostgresDSN and PostgresDSNFile name the cluster database; the DSN
	// may also come from $CPAUTH_POSTGRES_DSN, so that it need not appear
	// in a command line that ps shows.
	PostgresDSN      string `yaml:"postgres-dsn"`
	PostgresDSNFile  string `yaml:"postgres-dsn-file"`
	PostgresMaxConns int    `yaml:"postgres-max-conns"`
	// KeyFile is the server key; nodes of one cluster share it. Default:
	// <data-dir>/server.key.
	KeyFile string `yaml:"key-file"`
	// HashRounds is the SHA-512-crypt cost of new password hashes.
	HashRounds int `yaml:"hash-rounds"`
	// PasswordCacheTTL is how long a successful password check is
	// remembered (D32), PasswordCacheSize how many are at most; either 0
	// turns the cache off.
	PasswordCacheTTL  time.Duration `yaml:"password-cache-ttl"`
	PasswordCacheSize int           `yaml:"password-cache-size"`
	// PasswordCheckWorkers password checks hash at once (0: half the
	// CPUs, at least one); PasswordCheckQueue more wait for a turn, each
	// at most PasswordCheckWait. A check that gets no turn fails as a
	// wrong password.
	PasswordCheckWorkers int           `yaml:"password-check-workers"`
	PasswordCheckQueue   int           `yaml:"password-check-queue"`
	PasswordCheckWait    time.Duration `yaml:"password-check-wait"`
	// TokenPurgeAfter is how long an expired API token stays listed before
	// the daemon's purge deletes it.
	TokenPurgeAfter time.Duration `yaml:"token-purge-after"`
	// SessionIdleTimeout ends a password login's session after that long
	// without use; SessionLifetime ends it regardless of use (D13).
	SessionIdleTimeout time.Duration `yaml:"session-idle-timeout"`
	SessionLifetime    time.Duration `yaml:"session-lifetime"`
	// SSOIdleTimeout ends a session made by redeeming a single sign-on or
	// hand-off URL after that long without use (D13).
	SSOIdleTimeout time.Duration `yaml:"sso-idle-timeout"`
	LogLevel       string        `yaml:"log-level"`
	LogFormat      string        `yaml:"log-format"`
	// LogMaxSizeMB is the size in MiB at which a file of <data-dir>/logs
	// is rotated; LogKeep how many rotated files of each are kept.
	LogMaxSizeMB int `yaml:"log-max-size-mb"`
	LogKeep      int `yaml:"log-keep"`
	// BodyMemoryMB is the MiB that request bodies may hold at once, in the
	// whole daemon: a request waits for its body's share, and is answered
	// 503 when it cannot have it soon.
	BodyMemoryMB int `yaml:"body-memory-mb"`
	// ShutdownTimeout bounds a graceful stop's wait for the requests in
	// flight; what they and the daemon noted is written after it either way.
	ShutdownTimeout time.Duration `yaml:"shutdown-timeout"`
	// Upstream, when its URL is set, puts cpauth in front of a cPanel &
	// WHM server (gateway mode, docs/gateway.md); without it cpauth is the
	// standalone server.
	Upstream Upstream `yaml:"upstream"`
}

// Upstream is the backend of gateway mode: the cPanel & WHM server whose
// API calls the gateway forwards once it has authenticated them.
type Upstream struct {
	// URL is the backend's scheme and host (https://backend.example.com):
	// https reaches its TLS ports, http its plain ones. No port, path or
	// user: the ports are the service's standard ones, or the three below.
	URL string `yaml:"url"`
	// WHMPort, CPanelPort and WebmailPort replace the standard ports of
	// the URL's scheme (0: 2087, 2083, 2096 for https; 2086, 2082, 2095
	// for http).
	WHMPort     int `yaml:"whm-port"`
	CPanelPort  int `yaml:"cpanel-port"`
	WebmailPort int `yaml:"webmail-port"`
	// TokenFile holds a WHM API token of root on the backend (and nothing
	// else). It is read at start, must be the daemon's own (no group or
	// other permission bits), and is never a flag: a flag shows in ps.
	TokenFile string `yaml:"token-file"`
	// CAFile is a PEM bundle the backend's certificate must chain to
	// (empty: the system's roots); InsecureSkipVerify checks nothing (a
	// backend with a self-signed certificate on a private network).
	CAFile             string `yaml:"ca-file"`
	InsecureSkipVerify bool   `yaml:"insecure-skip-verify"`
	// Timeout bounds one backend call, its answer included: a forwarded
	// call that takes longer is answered 504.
	Timeout time.Duration `yaml:"timeout"`
	// SyncInterval is how often the account directory is read again from
	// the backend: a suspension or a removal there stops the user at the
	// gateway within one interval.
	SyncInterval time.Duration `yaml:"sync-interval"`
	// ReadOnlyFunctions are forwarded functions a read-only cPanel API
	// token may call besides the shipped list ("Module::function" for
	// UAPI, "api2:Module::function" for cPanel API 2).
	ReadOnlyFunctions []string `yaml:"read-only-functions"`
}

// Enabled reports whether gateway mode is configured.
func (u Upstream) Enabled() bool { return u.URL != "" }

// Bounds of the upstream block's durations.
const (
	MinUpstreamTimeout = time.Second
	MaxUpstreamTimeout = 10 * time.Minute
	MinSyncInterval    = time.Second
	MaxSyncInterval    = 24 * time.Hour
)

// Bounds of session-idle-timeout and session-lifetime. A session's last use
// is written at most once a minute, so an idle timeout under two minutes
// would end sessions in use.
const (
	MinSessionTime = 2 * time.Minute
	MaxSessionTime = 366 * 24 * time.Hour
)

// Bounds of password-cache-ttl and password-cache-size. A remembered check
// outlives nothing that matters (a password change, a suspension or a
// removal ends it at once), but the keyed hash of a password stays in
// memory while it lasts: a day at most. An entry costs some 300 bytes.
const (
	MaxPasswordCacheTTL  = 24 * time.Hour
	MaxPasswordCacheSize = 10_000_000
)

// Bounds of the pool of password checks. A wait longer than a minute
// outlasts the clients' own timeouts; each waiting check holds a
// connection and a goroutine.
const (
	MaxPasswordCheckWorkers = 4096
	MaxPasswordCheckQueue   = 100_000
	MaxPasswordCheckWait    = time.Minute
)

// Bounds of shutdown-timeout: a stop that waits longer than an hour is a
// stop that hangs.
const (
	MinShutdownTimeout time.Duration = 0
	MaxShutdownTimeout               = time.Hour
)

// Default returns the built-in configuration.
func Default() Config {
	return Config{
		DataDir: "./cpauth-data", Hostname: defaultHostname(), PortCPanel: 2082, PortCPanelTLS: 2083, PortWHM: 2086, PortWHMTLS: 2087,
		PortWebmail: 2095, PortWebmailTLS: 2096, HashRounds: 50000, LogLevel: "info", LogFormat: "text",
		Store: "sqlite", PostgresMaxConns: 20, TokenPurgeAfter: 720 * time.Hour,
		SessionIdleTimeout: 30 * time.Minute, SessionLifetime: 12 * time.Hour, SSOIdleTimeout: 15 * time.Minute,
		LogMaxSizeMB: 10, LogKeep: 5, BodyMemoryMB: 64, ShutdownTimeout: 15 * time.Second,
		PasswordCacheTTL: 5 * time.Minute, PasswordCacheSize: 10000,
		PasswordCheckQueue: 64, PasswordCheckWait: time.Second,
		Upstream: Upstream{Timeout: 30 * time.Second, SyncInterval: 60 * time.Second},
	}
}

// defaultHostname is the system's host name, or localhost when it has
// none that Validate would accept (so that the default never stops the
// daemon from starting).
func defaultHostname() string {
	h, err := os.Hostname()
	h = strings.ToLower(h)
	if err != nil || !validHostname(h) {
		return "localhost"
	}
	return h
}

// validHostname: a host name (RFC 1123, a single label included) or an IP
// address without a zone.
func validHostname(h string) bool {
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Zone() == ""
	}
	return core.ValidHostname(h)
}

// Flags registers every key on fs, writing into c.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "data directory (also $CPAUTH_DATA_DIR)")
	fs.StringVar(&c.Hostname, "hostname", c.Hostname, "this server's host name: absolute URLs point at it unless the request's Host names this server (default: the system's host name)")
	fs.StringVar(&c.Listen, "listen", c.Listen, "address to listen on (default all interfaces)")
	fs.IntVar(&c.PortOffset, "port-offset", c.PortOffset, "add N to all six ports")
	fs.IntVar(&c.PortCPanel, "port-cpanel", c.PortCPanel, "cPanel plain-HTTP port (0: any free port)")
	fs.IntVar(&c.PortCPanelTLS, "port-cpanel-tls", c.PortCPanelTLS, "cPanel TLS port")
	fs.IntVar(&c.PortWHM, "port-whm", c.PortWHM, "WHM plain-HTTP port")
	fs.IntVar(&c.PortWHMTLS, "port-whm-tls", c.PortWHMTLS, "WHM TLS port")
	fs.IntVar(&c.PortWebmail, "port-webmail", c.PortWebmail, "Webmail plain-HTTP port")
	fs.IntVar(&c.PortWebmailTLS, "port-webmail-tls", c.PortWebmailTLS, "Webmail TLS port")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "TLS certificate (PEM); default: a self-signed one in the data directory")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "TLS private key (PEM)")
	fs.StringVar(&c.Store, "store", c.Store, "sqlite (one node) or postgres (several nodes sharing one database)")
	fs.StringVar(&c.PostgresDSN, "postgres-dsn", c.PostgresDSN, "PostgreSQL DSN (prefer $CPAUTH_POSTGRES_DSN or --postgres-dsn-file: flags show in ps)")
	fs.StringVar(&c.PostgresDSNFile, "postgres-dsn-file", c.PostgresDSNFile, "file holding the PostgreSQL DSN")
	fs.IntVar(&c.PostgresMaxConns, "postgres-max-conns", c.PostgresMaxConns, "most connections this node opens to PostgreSQL")
	fs.StringVar(&c.KeyFile, "key-file", c.KeyFile, "server key file (default <data-dir>/server.key); share it between the nodes of a cluster")
	fs.IntVar(&c.HashRounds, "hash-rounds", c.HashRounds, "SHA-512-crypt rounds of new password hashes")
	fs.DurationVar(&c.PasswordCacheTTL, "password-cache-ttl", c.PasswordCacheTTL, "remember a successful password check this long, bound to the account's current password hash (0: off)")
	fs.IntVar(&c.PasswordCacheSize, "password-cache-size", c.PasswordCacheSize, "successful password checks remembered at most; the least recently used go first (0: off)")
	fs.IntVar(&c.PasswordCheckWorkers, "password-check-workers", c.PasswordCheckWorkers, "password checks that hash at once (0: half the CPUs, at least one)")
	fs.IntVar(&c.PasswordCheckQueue, "password-check-queue", c.PasswordCheckQueue, "password checks that wait for a turn at most; more fail as a wrong password")
	fs.DurationVar(&c.PasswordCheckWait, "password-check-wait", c.PasswordCheckWait, "longest wait of a password check for a turn; then it fails as a wrong password")
	fs.DurationVar(&c.TokenPurgeAfter, "token-purge-after", c.TokenPurgeAfter, "delete API tokens that expired longer ago than this (e.g. 720h)")
	fs.DurationVar(&c.SessionIdleTimeout, "session-idle-timeout", c.SessionIdleTimeout, "end a browser session after this long without use (password logins)")
	fs.DurationVar(&c.SessionLifetime, "session-lifetime", c.SessionLifetime, "end a browser session this long after login, in use or not")
	fs.DurationVar(&c.SSOIdleTimeout, "sso-idle-timeout", c.SSOIdleTimeout, "end a browser session made by a single sign-on or hand-off URL after this long without use")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json")
	fs.IntVar(&c.LogMaxSizeMB, "log-max-size-mb", c.LogMaxSizeMB, "rotate a file of <data-dir>/logs when it would pass this many MiB")
	fs.IntVar(&c.LogKeep, "log-keep", c.LogKeep, "rotated files kept of each log file")
	fs.IntVar(&c.BodyMemoryMB, "body-memory-mb", c.BodyMemoryMB, "MiB that request bodies may hold at once, all ports together (an API body takes up to 1 MiB)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "on SIGTERM or SIGINT, wait at most this long for the requests in flight")
	u := &c.Upstream
	fs.StringVar(&u.URL, "upstream", u.URL, "gateway mode: the cPanel & WHM server behind cpauth, as https://host (or http://host); see docs/gateway.md")
	fs.IntVar(&u.WHMPort, "upstream-whm-port", u.WHMPort, "the backend's WHM port (0: 2087 for https, 2086 for http)")
	fs.IntVar(&u.CPanelPort, "upstream-cpanel-port", u.CPanelPort, "the backend's cPanel port (0: 2083 for https, 2082 for http)")
	fs.IntVar(&u.WebmailPort, "upstream-webmail-port", u.WebmailPort, "the backend's Webmail port (0: 2096 for https, 2095 for http)")
	fs.StringVar(&u.TokenFile, "upstream-token-file", u.TokenFile, "file holding a WHM API token of root on the backend (mode 0600; never the token itself on the command line)")
	fs.StringVar(&u.CAFile, "upstream-ca-file", u.CAFile, "PEM certificates the backend's certificate must chain to (default: the system's)")
	fs.BoolVar(&u.InsecureSkipVerify, "upstream-insecure-skip-verify", u.InsecureSkipVerify, "do not verify the backend's TLS certificate")
	fs.DurationVar(&u.Timeout, "upstream-timeout", u.Timeout, "longest a backend call may take; a forwarded call that takes longer is answered 504")
	fs.DurationVar(&u.SyncInterval, "upstream-sync-interval", u.SyncInterval, "how often the account directory is read again from the backend")
}

// Load builds the configuration from defaults, the config file (if path is
// not empty), $CPAUTH_DATA_DIR, and the flags the user set explicitly, in
// that order of increasing precedence.
func Load(path string, getenv func(string) string, fs *flag.FlagSet) (Config, error) {
	c := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(data)))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	if v := getenv("CPAUTH_DATA_DIR"); v != "" {
		c.DataDir = v
	}
	if v := getenv("CPAUTH_POSTGRES_DSN"); v != "" {
		c.PostgresDSN = v
	}
	// Flags given on the command line win: replay them onto c.
	onto := flag.NewFlagSet("", flag.ContinueOnError)
	c.Flags(onto)
	fs.Visit(func(f *flag.Flag) {
		if onto.Lookup(f.Name) != nil {
			onto.Set(f.Name, f.Value.String())
		}
	})
	if err := c.Validate(); err != nil {
		return c, err
	}
	if c.Store == "postgres" && c.PostgresDSN == "" {
		data, err := os.ReadFile(c.PostgresDSNFile)
		if err != nil {
			return c, fmt.Errorf("config: postgres-dsn-file: %w", err)
		}
		c.PostgresDSN = strings.TrimSpace(string(data))
		if c.PostgresDSN == "" {
			return c, fmt.Errorf("config: postgres-dsn-file %s is empty", c.PostgresDSNFile)
		}
	}
	return c, nil
}

// KeyPath is where the server key lives.
func (c Config) KeyPath() string {
	if c.KeyFile != "" {
		return c.KeyFile
	}
	return filepath.Join(c.DataDir, "server.key")
}

// Ports returns the six effective ports, in the order cPanel, cPanel TLS,
// WHM, WHM TLS, Webmail, Webmail TLS, with the offset applied to non-zero
// ports.
func (c Config) Ports() [6]int {
	ps := [6]int{c.PortCPanel, c.PortCPanelTLS, c.PortWHM, c.PortWHMTLS, c.PortWebmail, c.PortWebmailTLS}
	for i, p := range ps {
		if p != 0 {
			ps[i] = p + c.PortOffset
		}
	}
	return ps
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data-dir must not be empty"))
	}
	if !validHostname(c.Hostname) {
		errs = append(errs, fmt.Errorf("hostname must be a host name (letters, digits, hyphens and dots) or an IP address, got %q", c.Hostname))
	}
	names := []string{"port-cpanel", "port-cpanel-tls", "port-whm", "port-whm-tls", "port-webmail", "port-webmail-tls"}
	seen := map[int]string{}
	for i, p := range c.Ports() {
		if p < 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("%s: port %d (with offset %d) is outside 0-65535", names[i], p, c.PortOffset))
		}
		if p != 0 {
			if other, dup := seen[p]; dup {
				errs = append(errs, fmt.Errorf("%s and %s both use port %d", other, names[i], p))
			}
			seen[p] = names[i]
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls-cert and tls-key go together"))
	}
	if c.HashRounds < secret.MinRounds || c.HashRounds > secret.MaxRounds {
		errs = append(errs, fmt.Errorf("hash-rounds must be between %d and %d, got %d", secret.MinRounds, secret.MaxRounds, c.HashRounds))
	}
	if c.PasswordCacheTTL < 0 || c.PasswordCacheTTL > MaxPasswordCacheTTL {
		errs = append(errs, fmt.Errorf("password-cache-ttl must be between 0 (off) and %s, got %s", MaxPasswordCacheTTL, c.PasswordCacheTTL))
	}
	if c.PasswordCacheSize < 0 || c.PasswordCacheSize > MaxPasswordCacheSize {
		errs = append(errs, fmt.Errorf("password-cache-size must be between 0 (off) and %d, got %d", MaxPasswordCacheSize, c.PasswordCacheSize))
	}
	if c.PasswordCheckWorkers < 0 || c.PasswordCheckWorkers > MaxPasswordCheckWorkers {
		errs = append(errs, fmt.Errorf("password-check-workers must be between 0 (half the CPUs) and %d, got %d", MaxPasswordCheckWorkers, c.PasswordCheckWorkers))
	}
	if c.PasswordCheckQueue < 0 || c.PasswordCheckQueue > MaxPasswordCheckQueue {
		errs = append(errs, fmt.Errorf("password-check-queue must be between 0 and %d, got %d", MaxPasswordCheckQueue, c.PasswordCheckQueue))
	}
	if c.PasswordCheckWait < 0 || c.PasswordCheckWait > MaxPasswordCheckWait {
		errs = append(errs, fmt.Errorf("password-check-wait must be between 0 and %s, got %s", MaxPasswordCheckWait, c.PasswordCheckWait))
	}
	if c.TokenPurgeAfter < 0 {
		errs = append(errs, fmt.Errorf("token-purge-after must not be negative, got %s", c.TokenPurgeAfter))
	}
	if c.SessionIdleTimeout < MinSessionTime || c.SessionIdleTimeout > MaxSessionTime {
		errs = append(errs, fmt.Errorf("session-idle-timeout must be between %s and %s, got %s", MinSessionTime, MaxSessionTime, c.SessionIdleTimeout))
	}
	if c.SessionLifetime < MinSessionTime || c.SessionLifetime > MaxSessionTime {
		errs = append(errs, fmt.Errorf("session-lifetime must be between %s and %s, got %s", MinSessionTime, MaxSessionTime, c.SessionLifetime))
	}
	if c.SSOIdleTimeout < MinSessionTime || c.SSOIdleTimeout > MaxSessionTime {
		errs = append(errs, fmt.Errorf("sso-idle-timeout must be between %s and %s, got %s", MinSessionTime, MaxSessionTime, c.SSOIdleTimeout))
	}
	switch c.Store {
	case "sqlite":
	case "postgres":
		if c.PostgresDSN == "" && c.PostgresDSNFile == "" {
			errs = append(errs, errors.New("store postgres needs a DSN: $CPAUTH_POSTGRES_DSN, postgres-dsn-file or postgres-dsn"))
		}
		if c.PostgresMaxConns < 1 {
			errs = append(errs, fmt.Errorf("postgres-max-conns must be at least 1, got %d", c.PostgresMaxConns))
		}
	default:
		errs = append(errs, fmt.Errorf("store must be sqlite or postgres, got %q", c.Store))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log-level must be debug, info, warn or error, got %q", c.LogLevel))
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log-format must be text or json, got %q", c.LogFormat))
	}
	if c.LogMaxSizeMB < 1 || c.LogMaxSizeMB > 1<<20 {
		errs = append(errs, fmt.Errorf("log-max-size-mb must be between 1 and %d, got %d", 1<<20, c.LogMaxSizeMB))
	}
	if c.LogKeep < 1 || c.LogKeep > 1000 {
		errs = append(errs, fmt.Errorf("log-keep must be between 1 and 1000, got %d", c.LogKeep))
	}
	// At least one API body of the largest size (1 MiB).
	if c.BodyMemoryMB < 1 || c.BodyMemoryMB > 1<<20 {
		errs = append(errs, fmt.Errorf("body-memory-mb must be between 1 and %d, got %d", 1<<20, c.BodyMemoryMB))
	}
	if c.ShutdownTimeout < MinShutdownTimeout || c.ShutdownTimeout > MaxShutdownTimeout {
		errs = append(errs, fmt.Errorf("shutdown-timeout must be between %s and %s, got %s", MinShutdownTimeout, MaxShutdownTimeout, c.ShutdownTimeout))
	}
	errs = append(errs, c.Upstream.validate()...)
	return errors.Join(errs...)
}

// validate reports the upstream block's problems; a block without a URL
// has none to report but keys that need one.
func (u Upstream) validate() []error {
	if !u.Enabled() {
		if u.TokenFile != "" || u.CAFile != "" || u.InsecureSkipVerify || u.WHMPort != 0 || u.CPanelPort != 0 || u.WebmailPort != 0 || len(u.ReadOnlyFunctions) > 0 {
			return []error{errors.New("upstream: url (--upstream) is missing: the other upstream keys need it")}
		}
		return nil
	}
	var errs []error
	if err := checkUpstreamURL(u.URL); err != nil {
		errs = append(errs, err)
	}
	for _, p := range []struct {
		name string
		port int
	}{{"whm-port", u.WHMPort}, {"cpanel-port", u.CPanelPort}, {"webmail-port", u.WebmailPort}} {
		if p.port < 0 || p.port > 65535 {
			errs = append(errs, fmt.Errorf("upstream: %s must be between 1 and 65535 (0: the standard port), got %d", p.name, p.port))
		}
	}
	if u.TokenFile == "" {
		errs = append(errs, errors.New("upstream: token-file is missing: the gateway needs a WHM API token of root on the backend, read from a file"))
	}
	if u.CAFile != "" && u.InsecureSkipVerify {
		errs = append(errs, errors.New("upstream: ca-file and insecure-skip-verify exclude each other"))
	}
	if u.Timeout < MinUpstreamTimeout || u.Timeout > MaxUpstreamTimeout {
		errs = append(errs, fmt.Errorf("upstream: timeout must be between %s and %s, got %s", MinUpstreamTimeout, MaxUpstreamTimeout, u.Timeout))
	}
	if u.SyncInterval < MinSyncInterval || u.SyncInterval > MaxSyncInterval {
		errs = append(errs, fmt.Errorf("upstream: sync-interval must be between %s and %s, got %s", MinSyncInterval, MaxSyncInterval, u.SyncInterval))
	}
	for _, f := range u.ReadOnlyFunctions {
		if !validFunctionName(f) {
			errs = append(errs, fmt.Errorf("upstream: read-only-functions: %q is not Module::function (UAPI) or api2:Module::function (cPanel API 2)", f))
		}
	}
	return errs
}

// checkUpstreamURL accepts http:// or https:// and a host, nothing more.
func checkUpstreamURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("upstream: url %q does not parse: %v", raw, err)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("upstream: url %q must begin with https:// (or http://)", raw)
	case u.Hostname() == "":
		return fmt.Errorf("upstream: url %q names no host", raw)
	case u.Port() != "":
		return fmt.Errorf("upstream: url %q names a port: give whm-port, cpanel-port and webmail-port instead (one backend has three)", raw)
	case u.User != nil:
		return fmt.Errorf("upstream: url %q holds a user: the credential goes in token-file", raw)
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("upstream: url %q must be a scheme and a host only", raw)
	}
	return nil
}

// validFunctionName: Module::function, optionally prefixed api2:, each
// part a name UAPI would accept.
func validFunctionName(s string) bool {
	s = strings.TrimPrefix(s, "api2:")
	m, f, ok := strings.Cut(s, "::")
	return ok && validIdent(m) && validIdent(f)
}

func validIdent(s string) bool {
	if s == "" || len(s) > 64 || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
