package config

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, file string, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	path := ""
	if file != "" {
		path = filepath.Join(t.TempDir(), "cpauth.yaml")
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c := Default()
	c.Flags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return Load(path, func(k string) string { return env[k] }, fs)
}

func TestLoadPrecedence(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		env     map[string]string
		args    []string
		dataDir string
		port    int
		listen  string
	}{
		{name: "defaults", dataDir: "./cpauth-data", port: 2087},
		{name: "file", file: "data-dir: /srv/a\nport-whm-tls: 3087\nlisten: 127.0.0.1\n", dataDir: "/srv/a", port: 3087, listen: "127.0.0.1"},
		{name: "env beats file", file: "data-dir: /srv/a\n", env: map[string]string{"CPAUTH_DATA_DIR": "/srv/env"}, dataDir: "/srv/env", port: 2087},
		{name: "flag beats env and file", file: "data-dir: /srv/a\nport-whm-tls: 3087\n", env: map[string]string{"CPAUTH_DATA_DIR": "/srv/env"},
			args: []string{"--data-dir", "/srv/flag", "--port-whm-tls", "4087"}, dataDir: "/srv/flag", port: 4087},
		{name: "unset flag does not beat file", file: "port-whm-tls: 3087\n", args: []string{"--listen", "::1"}, dataDir: "./cpauth-data", port: 3087, listen: "::1"},
		{name: "offset", args: []string{"--port-offset", "10000"}, dataDir: "./cpauth-data", port: 12087},
		{name: "port zero stays zero with offset", args: []string{"--port-offset", "10", "--port-whm-tls", "0"}, dataDir: "./cpauth-data", port: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.file, tc.env, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if c.DataDir != tc.dataDir || c.Ports()[3] != tc.port || c.Listen != tc.listen {
				t.Errorf("got data-dir %q, WHM TLS port %d, listen %q; want %q, %d, %q", c.DataDir, c.Ports()[3], c.Listen, tc.dataDir, tc.port, tc.listen)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		args []string
		want []string // every one must appear: all problems at once
	}{
		{name: "unknown key", file: "data-dri: x\n", want: []string{"data-dri"}},
		{name: "bad yaml", file: "data-dir: [\n", want: []string{"config"}},
		{name: "many problems", args: []string{"--port-whm", "70000", "--hash-rounds", "5", "--log-level", "loud", "--tls-cert", "c.pem"},
			want: []string{"port-whm", "hash-rounds", "log-level", "tls-cert"}},
		{name: "duplicate ports", args: []string{"--port-whm", "2082"}, want: []string{"port-cpanel and port-whm both use port 2082"}},
		{name: "empty data dir", args: []string{"--data-dir", ""}, want: []string{"data-dir"}},
		{name: "bad log format", args: []string{"--log-format", "xml"}, want: []string{"log-format"}},
		{name: "negative token purge", args: []string{"--token-purge-after", "-1h"}, want: []string{"token-purge-after"}},
		{name: "token purge not a duration", file: "token-purge-after: soon\n", want: []string{"config"}},
		{name: "session times out of bounds", args: []string{"--session-idle-timeout", "1m", "--session-lifetime", "9000h"},
			want: []string{"session-idle-timeout", "session-lifetime"}},
		{name: "session lifetime zero", file: "session-lifetime: 0s\n", want: []string{"session-lifetime"}},
		{name: "log rotation out of bounds", args: []string{"--log-max-size-mb", "0", "--log-keep", "0"}, want: []string{"log-max-size-mb", "log-keep"}},
		{name: "log keep too many", file: "log-keep: 5000\n", want: []string{"log-keep"}},
		{name: "body memory under one API body", args: []string{"--body-memory-mb", "0"}, want: []string{"body-memory-mb must be between 1 and 1048576, got 0"}},
		{name: "body memory too large", file: "body-memory-mb: 2000000\n", want: []string{"body-memory-mb"}},
		{name: "negative shutdown timeout", args: []string{"--shutdown-timeout", "-1s"}, want: []string{"shutdown-timeout must be between 0s and 1h0m0s, got -1s"}},
		{name: "shutdown timeout too long", file: "shutdown-timeout: 2h\n", want: []string{"shutdown-timeout"}},
		{name: "password cache out of bounds", args: []string{"--password-cache-ttl", "-1s", "--password-cache-size", "-1"},
			want: []string{"password-cache-ttl", "password-cache-size"}},
		{name: "password cache ttl too long", file: "password-cache-ttl: 25h\n", want: []string{"password-cache-ttl must be between 0 (off) and 24h0m0s"}},
		{name: "password check pool out of bounds", args: []string{"--password-check-workers", "-1", "--password-check-queue", "-1", "--password-check-wait", "2m"},
			want: []string{"password-check-workers", "password-check-queue", "password-check-wait"}},
		{name: "hash rounds above D31's bound", args: []string{"--hash-rounds", "5000000"}, want: []string{"hash-rounds must be between 1000 and 1000000"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.file, nil, tc.args...)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestBodyMemory(t *testing.T) {
	tests := []struct {
		name string
		file string
		args []string
		want int
	}{
		{name: "default 64 MiB", want: 64},
		{name: "file", file: "body-memory-mb: 256\n", want: 256},
		{name: "flag beats file", file: "body-memory-mb: 256\n", args: []string{"--body-memory-mb", "1"}, want: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.file, nil, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if c.BodyMemoryMB != tc.want {
				t.Errorf("BodyMemoryMB = %d, want %d", c.BodyMemoryMB, tc.want)
			}
		})
	}
}

func TestShutdownTimeout(t *testing.T) {
	tests := []struct {
		name string
		file string
		args []string
		want time.Duration
	}{
		{name: "default 15 s", want: 15 * time.Second},
		{name: "file", file: "shutdown-timeout: 1m\n", want: time.Minute},
		{name: "zero waits for nothing", file: "shutdown-timeout: 0s\n", want: 0},
		{name: "flag beats file", file: "shutdown-timeout: 1m\n", args: []string{"--shutdown-timeout", "5s"}, want: 5 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.file, nil, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if c.ShutdownTimeout != tc.want {
				t.Errorf("ShutdownTimeout = %s, want %s", c.ShutdownTimeout, tc.want)
			}
		})
	}
}

func TestTokenPurgeAfter(t *testing.T) {
	tests := []struct {
		name string
		file string
		args []string
		want time.Duration
	}{
		{name: "default 30 days", want: 720 * time.Hour},
		{name: "file", file: "token-purge-after: 48h\n", want: 48 * time.Hour},
		{name: "flag beats file", file: "token-purge-after: 48h\n", args: []string{"--token-purge-after", "90m"}, want: 90 * time.Minute},
		{name: "zero purges at expiry", args: []string{"--token-purge-after", "0s"}, want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.file, nil, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if c.TokenPurgeAfter != tc.want {
				t.Errorf("TokenPurgeAfter = %s, want %s", c.TokenPurgeAfter, tc.want)
			}
		})
	}
}

func TestSessionTimes(t *testing.T) {
	tests := []struct {
		name       string
		file       string
		args       []string
		idle, life time.Duration
	}{
		{name: "defaults (D13)", idle: 30 * time.Minute, life: 12 * time.Hour},
		{name: "file", file: "session-idle-timeout: 15m\nsession-lifetime: 24h\n", idle: 15 * time.Minute, life: 24 * time.Hour},
		{name: "flag beats file", file: "session-idle-timeout: 15m\n", args: []string{"--session-idle-timeout", "2h", "--session-lifetime", "2m"}, idle: 2 * time.Hour, life: 2 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.file, nil, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if c.SessionIdleTimeout != tc.idle || c.SessionLifetime != tc.life {
				t.Errorf("idle %s, lifetime %s; want %s, %s", c.SessionIdleTimeout, c.SessionLifetime, tc.idle, tc.life)
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	if _, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), func(string) string { return "" }, fs); err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
}

func TestPostgresDSNSources(t *testing.T) {
	dir := t.TempDir()
	dsnFile := filepath.Join(dir, "dsn")
	if err := os.WriteFile(dsnFile, []byte("postgres://u@db/cpauth\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	tests := []struct {
		name    string
		file    string
		env     map[string]string
		args    []string
		want    string
		wantErr string
	}{
		{name: "sqlite needs none", want: ""},
		{name: "from the environment", env: map[string]string{"CPAUTH_POSTGRES_DSN": "postgres://env@db/x"}, args: []string{"--store", "postgres"}, want: "postgres://env@db/x"},
		{name: "from a file", args: []string{"--store", "postgres", "--postgres-dsn-file", dsnFile}, want: "postgres://u@db/cpauth"},
		{name: "from the config file", file: "store: postgres\npostgres-dsn-file: " + dsnFile + "\n", want: "postgres://u@db/cpauth"},
		{name: "flag wins over file", args: []string{"--store", "postgres", "--postgres-dsn", "postgres://flag@db/x", "--postgres-dsn-file", dsnFile}, want: "postgres://flag@db/x"},
		{name: "none given", args: []string{"--store", "postgres"}, wantErr: "needs a DSN"},
		{name: "missing file", args: []string{"--store", "postgres", "--postgres-dsn-file", filepath.Join(dir, "nope")}, wantErr: "postgres-dsn-file"},
		{name: "empty file", args: []string{"--store", "postgres", "--postgres-dsn-file", empty}, wantErr: "is empty"},
		{name: "unknown store", args: []string{"--store", "mysql"}, wantErr: "store must be sqlite or postgres"},
		{name: "bad pool size", args: []string{"--store", "postgres", "--postgres-dsn", "x", "--postgres-max-conns", "0"}, wantErr: "postgres-max-conns"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.file, tc.env, tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.PostgresDSN != tc.want {
				t.Fatalf("DSN %q, want %q", c.PostgresDSN, tc.want)
			}
		})
	}
}

func TestKeyPath(t *testing.T) {
	c := Default()
	c.DataDir = "/srv/cpauth"
	if got := c.KeyPath(); got != "/srv/cpauth/server.key" {
		t.Errorf("default key path %q", got)
	}
	c.KeyFile = "/etc/cpauth/cluster.key"
	if got := c.KeyPath(); got != "/etc/cpauth/cluster.key" {
		t.Errorf("key-file %q", got)
	}
}

func TestHostname(t *testing.T) {
	system, err := os.Hostname()
	if err != nil || !validHostname(strings.ToLower(system)) {
		system = "localhost"
	}
	tests := []struct {
		name    string
		file    string
		args    []string
		want    string
		wantErr bool
	}{
		{name: "default: the system's host name", want: strings.ToLower(system)},
		{name: "file", file: "hostname: host.example.com\n", want: "host.example.com"},
		{name: "flag beats file", file: "hostname: a.example\n", args: []string{"--hostname", "b.example"}, want: "b.example"},
		{name: "single label", args: []string{"--hostname", "myhost"}, want: "myhost"},
		{name: "IPv4 address", args: []string{"--hostname", "192.0.2.1"}, want: "192.0.2.1"},
		{name: "IPv6 address", args: []string{"--hostname", "2001:db8::1"}, want: "2001:db8::1"},
		{name: "empty", args: []string{"--hostname", ""}, wantErr: true},
		{name: "with a port", args: []string{"--hostname", "host.example.com:2087"}, wantErr: true},
		{name: "with a path", file: "hostname: evil.example/x\n", wantErr: true},
		{name: "underscore", args: []string{"--hostname", "my_host"}, wantErr: true},
		{name: "bracketed address", args: []string{"--hostname", "[::1]"}, wantErr: true},
		{name: "zoned address", args: []string{"--hostname", "fe80::1%eth0"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.file, nil, tc.args...)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "hostname") {
					t.Fatalf("error %v, want one mentioning hostname", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Hostname != tc.want {
				t.Errorf("Hostname = %q, want %q", c.Hostname, tc.want)
			}
		})
	}
}

func TestPasswordCache(t *testing.T) {
	tests := []struct {
		name string
		file string
		args []string
		ttl  time.Duration
		size int
	}{
		{name: "defaults", ttl: 5 * time.Minute, size: 10000},
		{name: "file", file: "password-cache-ttl: 1m\npassword-cache-size: 50\n", ttl: time.Minute, size: 50},
		{name: "flags beat file", file: "password-cache-ttl: 1m\n", args: []string{"--password-cache-ttl", "30s", "--password-cache-size", "7"}, ttl: 30 * time.Second, size: 7},
		{name: "ttl 0 turns it off", args: []string{"--password-cache-ttl", "0s"}, ttl: 0, size: 10000},
		{name: "size 0 turns it off", args: []string{"--password-cache-size", "0"}, ttl: 5 * time.Minute, size: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.file, nil, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if c.PasswordCacheTTL != tc.ttl || c.PasswordCacheSize != tc.size {
				t.Errorf("password cache %s, %d; want %s, %d", c.PasswordCacheTTL, c.PasswordCacheSize, tc.ttl, tc.size)
			}
		})
	}
}

func TestPasswordCheckPool(t *testing.T) {
	tests := []struct {
		name           string
		file           string
		args           []string
		workers, queue int
		wait           time.Duration
	}{
		{name: "defaults", workers: 0, queue: 64, wait: time.Second},
		{name: "file", file: "password-check-workers: 3\npassword-check-queue: 10\npassword-check-wait: 250ms\n", workers: 3, queue: 10, wait: 250 * time.Millisecond},
		{name: "flags beat file", file: "password-check-queue: 10\n", args: []string{"--password-check-queue", "0", "--password-check-wait", "0s"}, workers: 0, queue: 0, wait: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.file, nil, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if c.PasswordCheckWorkers != tc.workers || c.PasswordCheckQueue != tc.queue || c.PasswordCheckWait != tc.wait {
				t.Errorf("pool %d, %d, %s; want %d, %d, %s", c.PasswordCheckWorkers, c.PasswordCheckQueue, c.PasswordCheckWait, tc.workers, tc.queue, tc.wait)
			}
		})
	}
}

func TestUpstream(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		args    []string
		want    Upstream
		wantErr []string
	}{
		{name: "off by default", want: Upstream{Timeout: 30 * time.Second, SyncInterval: time.Minute}},
		{name: "flags", args: []string{"--upstream", "https://backend.example.com", "--upstream-token-file", "/etc/cpauth/root.token"},
			want: Upstream{URL: "https://backend.example.com", TokenFile: "/etc/cpauth/root.token", Timeout: 30 * time.Second, SyncInterval: time.Minute}},
		{name: "the block", file: "upstream:\n  url: http://10.0.0.2\n  whm-port: 12086\n  cpanel-port: 12082\n  webmail-port: 12095\n  token-file: t\n  ca-file: ca.pem\n  timeout: 5s\n  sync-interval: 10s\n  read-only-functions: [Mysql::list_databases, api2:ZoneEdit::fetchzone_records]\n",
			want: Upstream{URL: "http://10.0.0.2", WHMPort: 12086, CPanelPort: 12082, WebmailPort: 12095, TokenFile: "t", CAFile: "ca.pem",
				Timeout: 5 * time.Second, SyncInterval: 10 * time.Second, ReadOnlyFunctions: []string{"Mysql::list_databases", "api2:ZoneEdit::fetchzone_records"}}},
		{name: "flag beats the block", file: "upstream:\n  url: https://a.example\n  token-file: t\n", args: []string{"--upstream", "https://b.example", "--upstream-insecure-skip-verify"},
			want: Upstream{URL: "https://b.example", TokenFile: "t", InsecureSkipVerify: true, Timeout: 30 * time.Second, SyncInterval: time.Minute}},
		{name: "no token file", args: []string{"--upstream", "https://backend.example.com"}, wantErr: []string{"upstream: token-file is missing"}},
		{name: "keys without a URL", args: []string{"--upstream-token-file", "t"}, wantErr: []string{"upstream: url (--upstream) is missing"}},
		{name: "a port in the URL", args: []string{"--upstream", "https://b.example:2087", "--upstream-token-file", "t"}, wantErr: []string{"names a port"}},
		{name: "not http", args: []string{"--upstream", "ftp://b.example", "--upstream-token-file", "t"}, wantErr: []string{"must begin with https://"}},
		{name: "a path", args: []string{"--upstream", "https://b.example/whm", "--upstream-token-file", "t"}, wantErr: []string{"a scheme and a host only"}},
		{name: "a user", args: []string{"--upstream", "https://root:secret@b.example", "--upstream-token-file", "t"}, wantErr: []string{"holds a user"}},
		{name: "no host", args: []string{"--upstream", "https://", "--upstream-token-file", "t"}, wantErr: []string{"names no host"}},
		{name: "many problems", file: "upstream:\n  url: https://b.example\n  token-file: t\n  ca-file: ca.pem\n  insecure-skip-verify: true\n  timeout: 0s\n  sync-interval: 100ms\n  whm-port: 70000\n  read-only-functions: [Mysql]\n",
			wantErr: []string{"exclude each other", "timeout must be between", "sync-interval must be between", "whm-port", "read-only-functions: \"Mysql\""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.file, nil, tc.args...)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatal("Load succeeded, want an error")
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Upstream, tc.want) {
				t.Errorf("Upstream = %+v\nwant       %+v", c.Upstream, tc.want)
			}
			if c.Upstream.Enabled() != (tc.want.URL != "") {
				t.Errorf("Enabled() = %v", c.Upstream.Enabled())
			}
		})
	}
}
