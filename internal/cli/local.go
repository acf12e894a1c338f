package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/api/api2"
	"github.com/cpauth/cpauth/internal/api/uapi"
	"github.com/cpauth/cpauth/internal/api/whmapi1"
	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/daemon"
	"github.com/cpauth/cpauth/internal/functions"

	"go.yaml.in/yaml/v3"
)

// openData opens the data directory for a local command; its log goes to
// stderr at warning level so that output stays clean.
func openData(ctx context.Context, env *Env, cfg config.Config) (*daemon.Data, bool) {
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := daemon.Open(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(env.Stderr, "cpauth: %v\n", err)
		return nil, false
	}
	if d.RootPasswordFile != "" {
		fmt.Fprintf(env.Stderr, "cpauth: created the data directory; root's password is in %s\n", d.RootPasswordFile)
	}
	return d, true
}

// keyValues turns key=value words into Args.
func keyValues(words []string) (api.Args, error) {
	var a api.Args
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return a, fmt.Errorf("argument %q is not key=value", w)
		}
		a.Add(k, v)
	}
	return a, nil
}

// printEnvelope writes the envelope as YAML (cPanel's CLI default) or JSON.
func printEnvelope(w io.Writer, format string, env map[string]any) error {
	body := api.JSON(env)
	if format == "json" {
		_, err := fmt.Fprintf(w, "%s\n", body)
		return err
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return err
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(numbersToPlain(v)); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "---\n%s", out.Bytes())
	return err
}

// numbersToPlain turns json.Number into int64 or float64 so YAML prints
// them as numbers.
func numbersToPlain(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = numbersToPlain(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbersToPlain(e)
		}
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

func outputFormat(s string) (string, error) {
	switch s {
	case "yaml", "json":
		return s, nil
	}
	return "", fmt.Errorf("--output must be yaml or json, got %q", s)
}

func runWHMAPI1(ctx context.Context, env *Env, args []string) int {
	fs, _, cfgPath := flagSet(env, "whmapi1", "whmapi1 [flags] FUNCTION [key=value ...]")
	output := fs.String("output", "yaml", "output format: yaml or json")
	cfg, code, ok := parse(env, fs, cfgPath, args)
	if !ok {
		return code
	}
	format, err := outputFormat(*output)
	if err != nil || fs.NArg() == 0 {
		if err != nil {
			fmt.Fprintf(env.Stderr, "cpauth: %v\n", err)
		}
		fs.Usage()
		return 2
	}
	name := fs.Arg(0)
	kv, err := keyValues(fs.Args()[1:])
	if err != nil {
		fmt.Fprintf(env.Stderr, "cpauth: %v\n", err)
		return 2
	}
	d, ok := openData(ctx, env, cfg)
	if !ok {
		return 1
	}
	defer d.Close()
	root := localRoot()
	c := &api.Call{Flavour: api.WHM1, Func: name, Args: kv, Principal: root, Remote: netip.IPv6Loopback(), Host: "localhost"}
	res, callErr := functions.RunWHM1(ctx, d.Registry, c)
	return report(env, format, whmapi1.Envelope(name, res, callErr), callErr)
}

func runUAPI(ctx context.Context, env *Env, args []string) int {
	return runAsAccount(ctx, env, args, api.UAPI)
}

// runCPAPI2 is cPanel's cpapi2: an API 2 function as a cPanel account.
func runCPAPI2(ctx context.Context, env *Env, args []string) int {
	return runAsAccount(ctx, env, args, api.API2)
}

// runAsAccount runs a UAPI or API 2 function as a cPanel account, acted
// in by root as WHM's calls to cPanel are, and prints its envelope.
func runAsAccount(ctx context.Context, env *Env, args []string, fl api.Flavour) int {
	name := "uapi"
	if fl == api.API2 {
		name = "cpapi2"
	}
	fs, _, cfgPath := flagSet(env, name, name+" --user=USER [flags] Module function [key=value ...]")
	output := fs.String("output", "yaml", "output format: yaml or json")
	user := fs.String("user", "", "the cPanel account to run as (required)")
	cfg, code, ok := parse(env, fs, cfgPath, args)
	if !ok {
		return code
	}
	format, err := outputFormat(*output)
	if err != nil || fs.NArg() < 2 || *user == "" {
		if err != nil {
			fmt.Fprintf(env.Stderr, "cpauth: %v\n", err)
		}
		fs.Usage()
		return 2
	}
	kv, err := keyValues(fs.Args()[2:])
	if err != nil {
		fmt.Fprintf(env.Stderr, "cpauth: %v\n", err)
		return 2
	}
	d, ok := openData(ctx, env, cfg)
	if !ok {
		return 1
	}
	defer d.Close()
	root := auth.PrincipalFor(rootAccount())
	root.Method = core.MethodLocal
	module, fn := fs.Arg(0), fs.Arg(1)
	target, callErr := d.Env.Impersonate(ctx, root, *user)
	var res *api.Result
	if callErr == nil {
		c := &api.Call{Flavour: fl, Module: module, Func: fn, Args: kv, Principal: target, Caller: &root, Remote: netip.IPv6Loopback(), Host: "localhost"}
		if fl == api.API2 {
			res, callErr = functions.RunAPI2(ctx, d.Registry, c)
		} else {
			res, callErr = functions.RunUAPI(ctx, d.Registry, c)
		}
	}
	if fl == api.API2 {
		return report(env, format, api2.Envelope(module, fn, res, callErr), callErr)
	}
	return report(env, format, uapi.Envelope(res, callErr), callErr)
}

// report prints a local call's envelope and returns the exit status: 0 when
// the call succeeded, 1 otherwise (as cPanel's whmapi1, uapi and cpapi2).
func report(env *Env, format string, envelope map[string]any, callErr error) int {
	if err := printEnvelope(env.Stdout, format, envelope); err != nil {
		fmt.Fprintf(env.Stderr, "cpauth: %v\n", err)
		return 1
	}
	if callErr != nil {
		return 1
	}
	return 0
}
