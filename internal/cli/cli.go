// Package cli is cpauth's command line: one file per subcommand.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/cpauth/cpauth/internal/config"
)

// Version is cpauth's release, set at build time with -ldflags.
var Version = "0.1.0-dev"

// Env is what a subcommand may touch: no globals.
type Env struct {
	Getenv func(string) string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Hangup delivers the requests to reload the configuration to
	// `cpauth serve` (nil: it listens for SIGHUP itself).
	Hangup <-chan os.Signal
}

type command struct {
	name  string
	usage string
	run   func(ctx context.Context, env *Env, args []string) int
}

func commands() []command {
	return []command{
		{"serve", "run the daemon on the six ports", runServe},
		{"whmapi1", "call a WHM API 1 function locally, as root", runWHMAPI1},
		{"uapi", "call a UAPI function locally, as a cPanel user", runUAPI},
		{"cpapi2", "call a cPanel API 2 function locally, as a cPanel user", runCPAPI2},
		{"accesshash", "show, generate or import a WHM access hash", runAccessHash},
		{"token", "create, list or revoke API tokens (a new token is shown once)", runToken},
		{"session", "list or end browser sessions, or make a single sign-on URL", runSession},
		{"logmein", "log in to a server and print a URL that logs a browser in (secure remote login)", runLogmein},
		{"passwd", "set an account's password (read from standard input; ends the account's sessions)", runPasswd},
		{"key", "export or import the server key a cluster's nodes share", runKey},
		{"backup", "copy the SQLite store (and with --with-key the server key) while the daemon serves", runBackup},
		{"restore", "put a backup back into a stopped data directory", runRestore},
		{"migrate-store", "copy a single node's SQLite data into a PostgreSQL cluster database", runMigrateStore},
		{"version", "print cpauth's version", runVersion},
	}
}

// Main runs the command line and returns the exit status.
func Main(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	return Run(ctx, &Env{Getenv: getenv, Stdin: stdin, Stdout: stdout, Stderr: stderr}, args)
}

// Run is Main with the environment given whole.
func Run(ctx context.Context, env *Env, args []string) int {
	stdout, stderr := env.Stdout, env.Stderr
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	fmt.Fprintf(stderr, "cpauth: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: cpauth <command> [flags] [arguments]")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.usage)
	}
	fmt.Fprintln(w, "\nRun 'cpauth <command> --help' for a command's flags.")
}

// flagSet makes a subcommand's flag set with the configuration flags every
// command that opens the data directory shares.
func flagSet(env *Env, name, synopsis string) (*flag.FlagSet, *config.Config, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	cfg := config.Default()
	cfg.Flags(fs)
	cfgPath := fs.String("config", "", "configuration file (YAML, same keys as the flags)")
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: cpauth %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs, &cfg, cfgPath
}

// parse parses flags and loads the configuration. It returns ok=false with
// the exit status when the command should stop.
func parse(env *Env, fs *flag.FlagSet, cfgPath *string, args []string) (config.Config, int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config.Config{}, 0, false
		}
		return config.Config{}, 2, false
	}
	cfg, err := config.Load(*cfgPath, env.Getenv, fs)
	if err != nil {
		fmt.Fprintf(env.Stderr, "cpauth: %v\n", strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return cfg, 2, false
	}
	return cfg, 0, true
}

// newLogger builds the structured logger.
func newLogger(w io.Writer, cfg config.Config) *slog.Logger {
	var lvl slog.LevelVar
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	return newLoggerLevel(w, cfg, &lvl)
}

// newLoggerLevel is newLogger at a level that may change.
func newLoggerLevel(w io.Writer, cfg config.Config, lvl *slog.LevelVar) *slog.Logger {
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func runVersion(ctx context.Context, env *Env, args []string) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fmt.Fprintf(env.Stdout, "cpauth %s\n", Version)
	return 0
}
