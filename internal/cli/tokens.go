package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/daemon"
	"github.com/cpauth/cpauth/internal/functions"
	"github.com/cpauth/cpauth/internal/store"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

const tokenSynopsis = "token create|list|revoke --user USER [flags]"

// runToken is the friendly face of the token functions: root and resellers
// get WHM API tokens, cPanel accounts cPanel API tokens (--service chooses
// for a reseller). The token is printed once, alone on standard output.
func runToken(ctx context.Context, env *Env, args []string) int {
	verbs := map[string]func(context.Context, *Env, *daemon.Data, tokenFlags) int{
		"create": tokenCreate, "list": tokenList, "revoke": tokenRevoke,
	}
	if len(args) == 0 || verbs[args[0]] == nil {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintf(env.Stdout, "Usage: cpauth %s\n\nRun 'cpauth token create --help' for the flags.\n", tokenSynopsis)
			return 0
		}
		fmt.Fprintf(env.Stderr, "Usage: cpauth %s\n", tokenSynopsis)
		return 2
	}
	verb := args[0]
	fs, _, cfgPath := flagSet(env, "token "+verb, tokenSynopsis)
	var f tokenFlags
	fs.StringVar(&f.user, "user", "", "the token owner: root, a reseller or a cPanel account (required)")
	fs.StringVar(&f.service, "service", "", "whm or cpanel (default: whm for root and resellers, cpanel otherwise)")
	fs.Var(&f.names, "name", "the token's name (create: default cli-<time>; revoke: required, repeatable)")
	fs.Var(&f.acls, "acl", "create: a WHM privilege the token holds (repeatable; default: all of the owner's)")
	fs.StringVar(&f.expiresAt, "expires-at", "", "create: Unix time the token expires (default: never)")
	fs.Var(&f.whitelist, "whitelist-ip", "create: an IP address or CIDR range the token may be used from (repeatable; default: any)")
	fs.BoolVar(&f.readOnly, "readonly", false, "create: a cPanel token that may call only read-only functions")
	fs.BoolVar(&f.requireOTP, "require-otp", false, "create: the token also needs its owner's two-factor code (takes effect with two-factor authentication)")
	cfg, code, ok := parse(env, fs, cfgPath, args[1:])
	if !ok {
		return code
	}
	if f.user == "" || fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	d, ok := openData(ctx, env, cfg)
	if !ok {
		return 1
	}
	defer d.Close()
	a, err := d.Store.GetAccount(ctx, f.user)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			fmt.Fprintf(env.Stderr, "cpauth: the user “%s” does not exist\n", f.user)
		} else {
			fmt.Fprintf(env.Stderr, "cpauth: %v\n", err)
		}
		return 1
	}
	switch f.service {
	case "":
		f.service = store.TokenCPanel
		if a.IsRoot() || a.Reseller {
			f.service = store.TokenWHM
		}
	case "whm":
		f.service = store.TokenWHM
	case "cpanel":
		f.service = store.TokenCPanel
	default:
		fmt.Fprintf(env.Stderr, "cpauth: --service must be whm or cpanel, got %q\n", f.service)
		return 2
	}
	f.owner = a
	return verbs[verb](ctx, env, d, f)
}

type tokenFlags struct {
	user, service, expiresAt string
	names, acls, whitelist   stringList
	readOnly, requireOTP     bool
	owner                    store.Account
}

// serviceName is how the CLI names a token service.
func serviceName(s string) string {
	if s == store.TokenWHM {
		return "WHM"
	}
	return "cPanel"
}

func tokenCreate(ctx context.Context, env *Env, d *daemon.Data, f tokenFlags) int {
	if len(f.names) > 1 {
		fmt.Fprintln(env.Stderr, "cpauth: token create takes one --name")
		return 2
	}
	if f.service == store.TokenCPanel && len(f.acls) > 0 {
		fmt.Fprintln(env.Stderr, "cpauth: cPanel API tokens have no ACLs: they reach every feature of the account (--readonly limits them to read-only functions)")
		return 2
	}
	if f.service == store.TokenWHM && f.readOnly {
		fmt.Fprintln(env.Stderr, "cpauth: --readonly is for cPanel API tokens; limit a WHM token with --acl")
		return 2
	}
	name := fmt.Sprintf("cli-%d", d.Now().Unix())
	if len(f.names) == 1 {
		name = f.names[0]
	}
	var args api.Args
	for _, acl := range f.acls {
		args.Add("acl", acl)
	}
	for _, ip := range f.whitelist {
		args.Add("whitelist_ip", ip)
	}
	if f.expiresAt != "" {
		args.Add("expires_at", f.expiresAt)
	}
	if f.readOnly {
		args.Add("readonly", "1")
	}
	if f.requireOTP {
		args.Add("require_otp", "1")
	}
	t, raw, err := d.Env.CreateToken(ctx, "root", core.Principal{User: "root", Role: core.RoleRoot, Method: core.MethodLocal}, auth.PrincipalFor(f.owner), f.service, name, args)
	if err != nil {
		fmt.Fprintf(env.Stderr, "cpauth: %s\n", core.Message(err))
		return 1
	}
	fmt.Fprintf(env.Stderr, "cpauth: created the %s API token “%s” of %s (%s). It is shown only this once:\n",
		serviceName(t.Service), t.Name, t.Username, tokenSummary(t))
	fmt.Fprintln(env.Stdout, raw)
	scheme := "whm"
	if t.Service == store.TokenCPanel {
		scheme = "cpanel"
	}
	fmt.Fprintf(env.Stderr, "cpauth: send it as the header: Authorization: %s %s:<token>\n", scheme, t.Username)
	return 0
}

// tokenSummary describes a token's limits in one line.
func tokenSummary(t store.Token) string {
	var parts []string
	if t.Service == store.TokenWHM {
		parts = append(parts, "ACLs: "+strings.Join(functions.TokenACLs(t), ","))
	} else if t.ReadOnly {
		parts = append(parts, "read-only")
	} else {
		parts = append(parts, "full access")
	}
	parts = append(parts, "expires: "+timeOrNever(t.ExpiresAt))
	ips := "any"
	if len(t.WhitelistIPs) > 0 {
		ips = strings.Join(t.WhitelistIPs, ",")
	}
	parts = append(parts, "from: "+ips)
	if t.RequireOTP {
		parts = append(parts, "two-factor code required")
	}
	return strings.Join(parts, "; ")
}

func timeOrNever(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

func tokenList(ctx context.Context, env *Env, d *daemon.Data, f tokenFlags) int {
	ts, err := d.Store.ListTokens(ctx, f.service, f.user)
	if err != nil {
		fmt.Fprintf(env.Stderr, "cpauth: %v\n", err)
		return 1
	}
	fmt.Fprintf(env.Stderr, "cpauth: %d %s API token(s) of %s\n", len(ts), serviceName(f.service), f.user)
	if len(ts) == 0 {
		return 0
	}
	now := d.Now()
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCREATED\tEXPIRES\tLIMITS\tALLOWED FROM\tLAST USED\tLAST USED FROM")
	for _, t := range ts {
		expires := timeOrNever(t.ExpiresAt)
		if !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
			expires += " (expired)"
		}
		limits := "full access"
		switch {
		case t.Service == store.TokenWHM:
			limits = strings.Join(functions.TokenACLs(t), ",")
		case t.ReadOnly:
			limits = "read-only"
		}
		if t.RequireOTP {
			limits += " +otp"
		}
		from := "any"
		if len(t.WhitelistIPs) > 0 {
			from = strings.Join(t.WhitelistIPs, ",")
		}
		lastUsed, lastFrom := "never", "-"
		if !t.LastUsed.IsZero() {
			lastUsed = t.LastUsed.UTC().Format(time.RFC3339)
		}
		if t.LastUsedIP != "" {
			lastFrom = t.LastUsedIP
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Created.UTC().Format(time.RFC3339), expires, limits, from, lastUsed, lastFrom)
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(env.Stderr, "cpauth: %v\n", err)
		return 1
	}
	return 0
}

func tokenRevoke(ctx context.Context, env *Env, d *daemon.Data, f tokenFlags) int {
	if len(f.names) == 0 {
		fmt.Fprintln(env.Stderr, "cpauth: token revoke needs --name (repeatable)")
		return 2
	}
	if err := d.Env.RevokeTokens(ctx, "root", f.service, f.user, f.names); err != nil {
		fmt.Fprintf(env.Stderr, "cpauth: %s\n", core.Message(err))
		return 1
	}
	for _, n := range f.names {
		fmt.Fprintf(env.Stdout, "Revoked the %s API token “%s” of %s.\n", serviceName(f.service), n, f.user)
	}
	return 0
}

// importAccessHashAsToken makes user's access hash (from a file, or the one
// stored) a WHM API token named accesshash-<epoch>, as cPanel's
// convert_accesshash_to_token does. A stored access hash so converted is
// removed from the access-hash method, so that the token alone decides it
// (its expiry, allow-list and revocation apply; the .accesshash file stays
// for the clients that read it).
func importAccessHashAsToken(ctx context.Context, env *Env, d *daemon.Data, user, hash string, fromStore bool) int {
	t, err := d.Env.ImportAccessHashToken(ctx, "root", user, hash)
	if err != nil {
		fmt.Fprintf(env.Stderr, "cpauth: %s\n", core.Message(err))
		return 1
	}
	if fromStore {
		if err := d.Store.DeleteAccessHash(ctx, user); err != nil && !errors.Is(err, store.ErrNotFound) {
			fmt.Fprintf(env.Stderr, "cpauth: the token was created, but removing the access hash failed: %v\n", err)
			return 1
		}
	}
	fmt.Fprintf(env.Stdout, "%s's access hash is now the WHM API token “%s” (%s); send it as before: Authorization: whm %s:<hash>\n",
		user, t.Name, tokenSummary(t), user)
	return 0
}
