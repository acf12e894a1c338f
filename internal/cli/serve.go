package cli

import (
	"context"
	"fmt"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/daemon"
)

func runServe(ctx context.Context, env *Env, args []string) int {
	fs, _, cfgPath := flagSet(env, "serve", "serve [flags]")
	cfg, code, ok := parse(env, fs, cfgPath, args)
	if !ok {
		return code
	}
	log := newLogger(env.Stderr, cfg)
	d, err := daemon.Start(ctx, cfg, log)
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
	<-ctx.Done()
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
