package daemon

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"time"

	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/sessions"
)

// ReloadReport says what a reload did.
type ReloadReport struct {
	// Applied are the keys whose new values are in force.
	Applied []string
	// Restart are the keys whose values changed but stay as they were
	// until the daemon is started again.
	Restart []string
	// TLS is the trouble with the certificate files, when they could not
	// be loaded: the certificate in use stays (nil: the files were loaded
	// and are served from now on).
	TLS error
}

// liveKey reports whether a configuration key can change while the daemon
// runs. The others (ports, addresses, the data directory, the store, the
// server key, the hash cost, gateway mode's, ...) are read once at start.
func liveKey(key string) bool {
	switch key {
	case "log-level",
		"session-idle-timeout", "session-lifetime", "sso-idle-timeout",
		"token-purge-after",
		"password-cache-ttl", "password-cache-size",
		"password-check-workers", "password-check-queue", "password-check-wait",
		"log-max-size-mb", "log-keep",
		"tls-cert", "tls-key",
		"shutdown-timeout":
		return true
	}
	return false
}

// Reload puts the configuration cfg in force as far as a running daemon
// can: the keys that can change live take their new values; the others
// keep theirs and are named in one warning; the TLS certificate and key are
// read again from their files (a certificate that does not load leaves the
// one in use in place, and says why). A cfg that is not valid changes
// nothing and is the error.
func (d *Daemon) Reload(cfg config.Config) (ReloadReport, error) {
	if err := cfg.Validate(); err != nil {
		d.log.Error("configuration not reloaded: it is not valid; the running configuration stays", "error", err.Error())
		return ReloadReport{}, fmt.Errorf("the configuration is not valid, nothing changed: %w", err)
	}
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	old := d.cfg
	var rep ReloadReport
	for _, k := range changedKeys(old, cfg) {
		if liveKey(k) {
			rep.Applied = append(rep.Applied, k)
		} else {
			rep.Restart = append(rep.Restart, k)
		}
	}
	// What needs a restart keeps its running value, so that the next
	// reload names it again until the daemon is restarted.
	next := cfg
	copyKeys(&next, old, rep.Restart)

	// The certificate files are read again whether or not their names
	// changed: a renewal writes new files under the same names.
	if cert, err := loadOrCreateCert(d.Data.Dir, next.TLSCert, next.TLSKey, d.Data.Env.Hostname); err != nil {
		rep.TLS = err
		next.TLSCert, next.TLSKey = old.TLSCert, old.TLSKey
		rep.Applied = slices.DeleteFunc(rep.Applied, func(k string) bool { return k == "tls-cert" || k == "tls-key" })
		d.log.Error("TLS certificate not reloaded: the certificate in use stays", "error", err.Error())
	} else {
		d.cert.Store(&cert)
	}

	d.apply(next)
	d.cfg = next
	if len(rep.Restart) > 0 {
		d.log.Warn("configuration changed that needs a restart to take effect", "keys", rep.Restart)
	}
	d.log.Info("configuration reloaded", "applied", rep.Applied, "tls_certificate_reloaded", rep.TLS == nil)
	return rep, nil
}

// apply sets the live settings of cfg.
func (d *Daemon) apply(cfg config.Config) {
	if d.level != nil {
		var lvl slog.Level
		if err := lvl.UnmarshalText([]byte(cfg.LogLevel)); err == nil {
			d.level.Set(lvl)
		}
	}
	d.Data.Sessions.SetLifetimes(sessions.Lifetimes{IdleTimeout: cfg.SessionIdleTimeout, Lifetime: cfg.SessionLifetime, SSOIdleTimeout: cfg.SSOIdleTimeout})
	d.purgeAfter.Store(int64(cfg.TokenPurgeAfter))
	d.Data.PasswordCache.SetLimits(cfg.PasswordCacheSize, cfg.PasswordCacheTTL)
	workers := cfg.PasswordCheckWorkers
	if workers == 0 {
		workers = auth.DefaultHashWorkers()
	}
	d.Data.HashPool.SetLimits(workers, cfg.PasswordCheckQueue, cfg.PasswordCheckWait)
	d.Data.Logs.SetRotation(int64(cfg.LogMaxSizeMB)<<20, cfg.LogKeep)
	d.shutdownTimeout.Store(int64(cfg.ShutdownTimeout))
}

// getCertificate serves the certificate in force.
func (d *Daemon) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return d.cert.Load(), nil
}

// configFields returns every key of c by its name in the file ("upstream."
// before the keys of the upstream block), as settable values.
func configFields(c *config.Config) map[string]reflect.Value {
	out := map[string]reflect.Value{}
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			name := f.Tag.Get("yaml")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			fv := v.Field(i)
			if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(time.Time{}) {
				walk(fv, prefix+name+".")
				continue
			}
			out[prefix+name] = fv
		}
	}
	walk(reflect.ValueOf(c).Elem(), "")
	return out
}

// changedKeys names the keys whose values differ between a and b, sorted.
func changedKeys(a, b config.Config) []string {
	fa, fb := configFields(&a), configFields(&b)
	var keys []string
	for k, va := range fa {
		if !reflect.DeepEqual(va.Interface(), fb[k].Interface()) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// copyKeys sets the keys of dst to their values in src.
func copyKeys(dst *config.Config, src config.Config, keys []string) {
	fd, fs := configFields(dst), configFields(&src)
	for _, k := range keys {
		fd[k].Set(fs[k])
	}
}
