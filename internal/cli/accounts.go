package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/store"
)

func rootAccount() store.Account { return store.Account{Username: "root"} }

// localRoot is root calling WHM's functions from this machine's command
// line.
func localRoot() core.Principal {
	root := auth.PrincipalFor(rootAccount())
	root.Method, root.Service = core.MethodLocal, core.ServiceWHM
	return root
}

func runAccessHash(ctx context.Context, env *Env, args []string) int {
	fs, _, cfgPath := flagSet(env, "accesshash", "accesshash [--user USER] [--generate | --import FILE] [--import-as-token]")
	user := fs.String("user", "root", "root or a reseller")
	generate := fs.Bool("generate", false, "replace the access hash with a new one")
	importFile := fs.String("import", "", "import an access hash from a file in ~/.accesshash format")
	asToken := fs.Bool("import-as-token", false, "make the access hash (from --import FILE, or the user's own, which then stops being an access hash) a WHM API token named accesshash-<time>")
	cfg, code, ok := parse(env, fs, cfgPath, args)
	if !ok {
		return code
	}
	if *generate && (*importFile != "" || *asToken) {
		fmt.Fprintln(env.Stderr, "cpauth: --generate excludes --import and --import-as-token")
		return 2
	}
	d, ok := openData(ctx, env, cfg)
	if !ok {
		return 1
	}
	defer d.Close()
	var err error
	var hash string
	if *asToken {
		if *importFile != "" {
			raw, err := os.ReadFile(*importFile)
			if err != nil {
				fmt.Fprintf(env.Stderr, "cpauth: %v\n", err)
				return 1
			}
			return importAccessHashAsToken(ctx, env, d, *user, string(raw), false)
		}
		if hash, err = d.Env.AccessHash(ctx, *user, false); err != nil {
			fmt.Fprintf(env.Stderr, "cpauth: %s\n", core.Message(err))
			return 1
		}
		return importAccessHashAsToken(ctx, env, d, *user, hash, true)
	}
	switch {
	case *importFile != "":
		var raw []byte
		raw, err = os.ReadFile(*importFile)
		if err == nil {
			if a, aerr := d.Store.GetAccount(ctx, *user); aerr != nil || (!a.IsRoot() && !a.Reseller) {
				err = core.Errorf(core.KindInvalid, "User %s is not a reseller.", *user)
			} else {
				hash = secret.NormalizeAccessHash(string(raw))
				err = d.Env.SetAccessHash(ctx, *user, hash)
			}
		}
	default:
		hash, err = d.Env.AccessHash(ctx, *user, *generate)
		if err == nil {
			// Keep the file in step with the store (cPanel's tools read it).
			if _, statErr := os.Stat(d.Env.AccessHashFile(*user)); statErr != nil {
				err = d.Env.SetAccessHash(ctx, *user, hash)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "cpauth: %s\n", core.Message(err))
		return 1
	}
	fmt.Fprintf(env.Stderr, "cpauth: %s's access hash is in %s\n", *user, d.Env.AccessHashFile(*user))
	fmt.Fprint(env.Stdout, secret.AccessHashFile(hash))
	return 0
}

func runPasswd(ctx context.Context, env *Env, args []string) int {
	fs, _, cfgPath := flagSet(env, "passwd", "passwd [flags] USER   (the new password is read from standard input)")
	cfg, code, ok := parse(env, fs, cfgPath, args)
	if !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(env.Stderr, "cpauth: no password on standard input")
		return 1
	}
	pass := strings.TrimRight(line, "\r\n")
	d, ok := openData(ctx, env, cfg)
	if !ok {
		return 1
	}
	defer d.Close()
	if err := d.Env.SetPassword(ctx, fs.Arg(0), pass); err != nil {
		fmt.Fprintf(env.Stderr, "cpauth: %s\n", core.Message(err))
		return 1
	}
	fmt.Fprintf(env.Stdout, "Password changed for user “%s”.\n", fs.Arg(0))
	return 0
}
