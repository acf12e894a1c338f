// Command cpauth is an authentication server for the cPanel & WHM API.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/cpauth/cpauth/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
