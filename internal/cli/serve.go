package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/daemon"
)

func runServe(ctx context.Context, env *Env, args []string) int {
	fs, _, cfgPath := flagSet(env, "serve", "serve [flags]")
	cfg, code, ok := parse(env, fs, cfgPath, args)
	if !ok {
		return code
	}
	var level slog.LevelVar
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	log := newLoggerLevel(env.Stderr, cfg, &level)
	hangup := env.Hangup
	if hangup == nil {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGHUP)
		defer signal.Stop(ch)
		hangup = ch
	}
	d, err := daemon.StartWith(ctx, cfg, log, daemon.Options{Level: &level})
	if err != nil {
		fmt.Fprintf(env.Stderr, "cpauth: %v\n", err)
		return 1
	}
	if gw := d.Gateway(); gw != nil {
		fmt.Fprintf(env.Stdout, "cpauth: gateway mode in front of %s: log in with the backend's credentials (docs/gateway.md)\n", gw.Backend.Host())
	}
	if f := d.Data.RootPasswordFile; f != "" {
		fmt.Fprintf(env.Stdout, "cpauth: first start: created the data directory %s\n", cfg.DataDir)
		fmt.Fprintf(env.Stdout, "cpauth: log in as root with the password in %s\n", f)
		fmt.Fprintf(env.Stdout, "cpauth:   curl -sk -u root:\"$(cat %s)\" 'https://127.0.0.1:%s/json-api/version?api.version=1'\n", f, portOf(d.Addr(core.ServiceWHM, true)))
	}
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-hangup:
			reload(env, fs, *cfgPath, d, log)
		}
	}
	log.Info("shutting down", "timeout", d.ShutdownTimeout().String())
	sctx, cancel := context.WithTimeout(context.Background(), d.ShutdownTimeout())
	defer cancel()
	if err := d.Shutdown(sctx); err != nil {
		log.Error("shutdown", "error", err)
		return 1
	}
	return 0
}

func portOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[i+1:]
		}
	}
	return addr
}

// reload reads the configuration again as at start (the file, the
// environment, then the flags of the command line, which still win) and
// puts it in force; a file that does not load or is not valid changes
// nothing.
func reload(env *Env, fs *flag.FlagSet, path string, d *daemon.Daemon, log *slog.Logger) {
	if path == "" {
		log.Info("reload: no configuration file (--config); reading the TLS certificate files again")
	}
	cfg, err := config.Load(path, env.Getenv, fs)
	if err != nil {
		log.Error("configuration not reloaded: the running configuration stays", "error", err.Error())
		return
	}
	_, _ = d.Reload(cfg) // it logs what it did
}
