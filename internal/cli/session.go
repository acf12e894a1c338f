package cli

import (
	"context"
	"fmt"
	"net/netip"
	"text/tabwriter"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/functions"
	"github.com/cpauth/cpauth/internal/sessions"
)

const sessionSynopsis = "session list [--user USER] | session kill (--session HANDLE | --user USER) | session create --user USER --service cpanel|whm|webmail [--host HOST] [--app APP] [--locale LOCALE] [--bind-ip 1|ADDRESS]"

// runSession lists and ends browser sessions as root: the twin of WHM API 1
// list_sessions and kill_session. A session is named by its handle (the
// first column of list), never by anything a cookie could be made from.
func runSession(ctx context.Context, env *Env, args []string) int {
	if len(args) > 0 && args[0] == "create" {
		return runSessionCreate(ctx, env, args[1:])
	}
	if len(args) == 0 || (args[0] != "list" && args[0] != "kill") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintf(env.Stdout, "Usage: cpauth %s\n\nRun 'cpauth session list --help' for the flags.\n", sessionSynopsis)
			return 0
		}
		fmt.Fprintf(env.Stderr, "Usage: cpauth %s\n", sessionSynopsis)
		return 2
	}
	verb := args[0]
	fs, _, cfgPath := flagSet(env, "session "+verb, sessionSynopsis)
	user := fs.String("user", "", "list: only this login name's sessions; kill: end all of this login name's sessions")
	handle := fs.String("session", "", "kill: the session to end (its handle, from session list)")
	cfg, code, ok := parse(env, fs, cfgPath, args[1:])
	if !ok {
		return code
	}
	if fs.NArg() != 0 || verb == "list" && *handle != "" || verb == "kill" && (*handle == "") == (*user == "") {
		fs.Usage()
		return 2
	}
	d, ok := openData(ctx, env, cfg)
	if !ok {
		return 1
	}
	defer d.Close()
	root := localRoot()
	if verb == "kill" {
		if *handle != "" {
			s, err := d.Env.EndSession(ctx, root, *handle)
			if err != nil {
				fmt.Fprintf(env.Stderr, "cpauth: %s\n", core.Message(err))
				return 1
			}
			fmt.Fprintf(env.Stdout, "Ended the %s session %s of %s.\n", appName(s.Service), *handle, s.Username)
			return 0
		}
		n, err := d.Env.EndUserSessions(ctx, root, *user)
		if err != nil {
			fmt.Fprintf(env.Stderr, "cpauth: %s\n", core.Message(err))
			return 1
		}
		fmt.Fprintf(env.Stdout, "Ended %d session(s) of %s.\n", n, *user)
		return 0
	}
	ss, err := d.Env.VisibleSessions(ctx, root)
	if err != nil {
		fmt.Fprintf(env.Stderr, "cpauth: %s\n", core.Message(err))
		return 1
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	n := 0
	for _, s := range ss {
		if *user != "" && s.Username != *user {
			continue
		}
		if n == 0 {
			fmt.Fprintln(tw, "SESSION\tUSER\tSERVICE\tMETHOD\tFROM\tCREATED\tLAST SEEN\tIDLE TIMEOUT\tEXPIRES")
		}
		n++
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", sessions.Handle(s.IDHash), s.Username, appName(s.Service), s.Method, s.Origin,
			s.Created.UTC().Format(time.RFC3339), s.LastSeen.UTC().Format(time.RFC3339), s.IdleTimeout, s.Expires.UTC().Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(env.Stderr, "cpauth: %v\n", err)
		return 1
	}
	fmt.Fprintf(env.Stderr, "cpauth: %d session(s)\n", n)
	return 0
}

// appName is how people call a session's service.
func appName(app string) string {
	switch sessions.ServiceOf(app) {
	case core.ServiceCPanel:
		return "cPanel"
	case core.ServiceWHM:
		return "WHM"
	case core.ServiceWebmail:
		return "Webmail"
	}
	return app
}

// serviceApps maps the CLI's service names to create_user_session's.
var serviceApps = map[string]string{
	"cpanel": "cpaneld", "whm": "whostmgrd", "webmail": "webmaild",
	"cpaneld": "cpaneld", "whostmgrd": "whostmgrd", "webmaild": "webmaild",
}

// runSessionCreate is root's twin of WHM API 1 create_user_session: it
// prints a one-time login URL (single sign-on) for a user.
func runSessionCreate(ctx context.Context, env *Env, args []string) int {
	fs, _, cfgPath := flagSet(env, "session create", sessionSynopsis)
	user := fs.String("user", "", "the login name the session is for: root, a cPanel account, or an email address (webmail)")
	service := fs.String("service", "", "cpanel, whm or webmail")
	host := fs.String("host", "localhost", "host name or address the URL points at: the host name, a domain of an account, or an address of this machine")
	app := fs.String("app", "", "page to land on (api_tokens, sessions)")
	locale := fs.String("locale", "", "locale of the session")
	bind := fs.String("bind-ip", "", "only this address may open the URL")
	cfg, code, ok := parse(env, fs, cfgPath, args)
	if !ok {
		return code
	}
	svc, known := serviceApps[*service]
	if fs.NArg() != 0 || *user == "" || !known {
		fs.Usage()
		return 2
	}
	d, ok := openData(ctx, env, cfg)
	if !ok {
		return 1
	}
	defer d.Close()
	root := localRoot()
	var a api.Args
	a.Add("user", *user)
	a.Add("service", svc)
	if *app != "" {
		a.Add("app", *app)
	}
	if *locale != "" {
		a.Add("locale", *locale)
	}
	if *bind != "" {
		if *bind == "1" {
			fmt.Fprintln(env.Stderr, "cpauth: --bind-ip needs the address that will open the URL")
			return 2
		}
		a.Add("bind_ip", *bind)
	}
	if _, err := netip.ParseAddr(*host); err != nil && *host != "localhost" && functions.ValidateDomain(*host) != nil {
		fmt.Fprintf(env.Stderr, "cpauth: --host %q is neither a host name nor an IP address\n", *host)
		return 2
	}
	// The host is root's choice, and checked like one: as preferred_domain,
	// it must name this server (D29), or the URL is refused, not pointed
	// elsewhere.
	a.Add("preferred_domain", *host)
	c := &api.Call{Flavour: api.WHM1, Func: "create_user_session", Args: a, Principal: root, Host: *host}
	res, err := functions.RunWHM1(ctx, d.Registry, c)
	if err != nil {
		fmt.Fprintf(env.Stderr, "cpauth: %s\n", core.Message(err))
		return 1
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(env.Stderr, "cpauth: warning: %s\n", w)
	}
	data, _ := res.Data.(map[string]any)
	fmt.Fprintln(env.Stdout, data["url"])
	if exp, ok := data["expires"].(int64); ok {
		fmt.Fprintf(env.Stderr, "cpauth: the URL works once, until %s\n", time.Unix(exp, 0).UTC().Format(time.RFC3339))
	}
	return 0
}
