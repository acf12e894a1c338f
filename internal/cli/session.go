package cli

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/sessions"
)

const sessionSynopsis = "session list [--user USER] | session kill (--session HANDLE | --user USER)"

// runSession lists and ends browser sessions as root: the twin of WHM API 1
// list_sessions and kill_session. A session is named by its handle (the
// first column of list), never by anything a cookie could be made from.
func runSession(ctx context.Context, env *Env, args []string) int {
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
	root := auth.PrincipalFor(rootAccount())
	root.Method, root.Service = core.MethodLocal, core.ServiceWHM
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
