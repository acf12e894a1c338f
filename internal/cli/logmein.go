package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/cpauth/cpauth/client/logmein"
)

const logmeinSynopsis = "logmein --host HOST --user USER [--service cpanel|whm|webmail] [--goto /path] [--port N] [--insecure] [--tfa-code CODE]"

// runLogmein is a secure remote login (Cpanel::LogMeIn): it logs in to a
// cPanel & WHM or cpauth server and prints a URL that logs a browser in.
// The password comes from $CPAUTH_PASSWORD or the first line of standard
// input, never from a flag (flags show in ps).
func runLogmein(ctx context.Context, env *Env, args []string) int {
	fs := flag.NewFlagSet("logmein", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	host := fs.String("host", "", "the server's host name or address")
	user := fs.String("user", "", "login name (Webmail: the email address)")
	service := fs.String("service", "cpanel", "cpanel, whm or webmail")
	gotoURI := fs.String("goto", "/", "page to land on")
	port := fs.Int("port", 0, "the service's TLS port (default 2083, 2087 or 2096)")
	insecure := fs.Bool("insecure", false, "do not verify the server's TLS certificate (self-signed servers)")
	tfa := fs.String("tfa-code", "", "the current two-factor code, for accounts that have two-factor authentication")
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: cpauth %s\n\nThe password is read from $CPAUTH_PASSWORD, else from the first line of standard input.\n\nFlags:\n", logmeinSynopsis)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	switch *service {
	case "cpanel", "whm", "webmail":
	default:
		fmt.Fprintf(env.Stderr, "cpauth: --service must be cpanel, whm or webmail, not %q\n", *service)
		return 2
	}
	if fs.NArg() != 0 || *host == "" || *user == "" {
		fs.Usage()
		return 2
	}
	pass := env.Getenv("CPAUTH_PASSWORD")
	if pass == "" {
		line, err := bufio.NewReader(env.Stdin).ReadString('\n')
		if err != nil && line == "" {
			fmt.Fprintln(env.Stderr, "cpauth: no password: set CPAUTH_PASSWORD or write it to standard input")
			return 2
		}
		pass = strings.TrimRight(line, "\r\n")
	}
	u, _, err := logmein.GetLoggedInURL(ctx, logmein.Options{
		User: *user, Pass: pass, Host: *host, Port: *port, Service: *service, GotoURI: *gotoURI,
		TFAToken: *tfa, InsecureSkipVerify: *insecure,
	})
	switch {
	case err == nil:
		fmt.Fprintln(env.Stdout, u)
		fmt.Fprintln(env.Stderr, "cpauth: the URL logs in whoever opens it first; open it within five minutes")
		return 0
	case errors.Is(err, logmein.ErrBadLogin):
		fmt.Fprintf(env.Stderr, "cpauth: the login is invalid (user %s on %s)\n", *user, *host)
	case errors.Is(err, logmein.ErrTwoFactorRequired):
		fmt.Fprintln(env.Stderr, "cpauth: the account needs a two-factor code: pass the current one with --tfa-code")
	default: // *logmein.UnreachableError and the rest say what they are

		fmt.Fprintf(env.Stderr, "cpauth: %v\n", err)
	}
	return 1
}
