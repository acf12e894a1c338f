package functions

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/store"
)

func (e *Env) registerDomains(r *api.Registry) {
	// DomainInfo is not webmail-safe: an email user has no business with
	// the account's other domains or its home directory.
	info := func(name string, h api.Handler) *api.Func {
		return &api.Func{Flavour: api.UAPI, Module: "DomainInfo", Name: name, Access: api.Account, ReadOnly: true, Mints: api.MintNothing, Handler: h}
	}
	r.Register(
		// Any WHM user: the answer, the server's address, is no secret.
		// What needs guarding is which domains the server holds, and a
		// reseller resolves only its own accounts' (the handler's check).
		&api.Func{Flavour: api.WHM1, Name: "resolvedomainname", Access: api.AnyWHM, ReadOnly: true, Mints: api.MintNothing, Handler: e.resolvedomainname},
		info("list_domains", e.listDomains),
		info("domains_data", e.domainsData),
		info("single_domain_data", e.singleDomainData),
	)
}

// errUnresolvable is resolvedomainname's failure, in cPanel's words, for
// every domain the caller may not resolve: unknown, malformed, or an
// account's the caller does not manage, alike.
var errUnresolvable = core.Errorf(core.KindNotFound, "Unable to resolve domain name.")

func (e *Env) resolvedomainname(ctx context.Context, c *api.Call) (*api.Result, error) {
	name := strings.ToLower(strings.TrimSpace(c.Args.Get("domain")))
	if name == "" {
		return nil, required("domain")
	}
	if ValidateDomain(name) != nil {
		return nil, errUnresolvable // nothing to look up
	}
	d, err := e.Store.GetDomain(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errUnresolvable
	}
	if err != nil {
		return nil, core.Internal(err)
	}
	a, err := e.Store.GetAccount(ctx, d.Account)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !manages(c.Principal, a)) {
		return nil, errUnresolvable
	}
	if err != nil {
		return nil, core.Internal(err)
	}
	ip, err := e.ServerIP(ctx)
	if err != nil {
		return nil, err
	}
	return &api.Result{Data: map[string]any{"ip": ip}}, nil
}

// domainSet is an account's domains as DomainInfo lists them.
//
// cpauth keeps, for each domain, its account and whether it is the
// account's primary domain: no document root, no parent domain. So the
// primary is the main domain, and any other domain can only be served as
// an alias of it, which is what cPanel calls a parked domain. cpauth keeps
// no addon domains and no subdomains: those lists are empty.
type domainSet struct {
	account store.Account
	main    string
	parked  []string // sorted
	home    string
	ip      string
}

// accountDomains reads the calling account's domainSet.
func (e *Env) accountDomains(ctx context.Context, c *api.Call) (*domainSet, error) {
	a, err := e.account(ctx, c.Principal.Account)
	if err != nil {
		return nil, err
	}
	doms, err := e.Store.ListDomains(ctx, a.Username)
	if err != nil {
		return nil, core.Internal(err)
	}
	ip, err := e.ServerIP(ctx)
	if err != nil {
		return nil, err
	}
	out := &domainSet{account: a, main: a.Domain, parked: []string{}, home: e.homeDir(a.Username), ip: ip}
	for _, d := range doms { // sorted by name
		if d.Primary {
			out.main = d.Name
		} else {
			out.parked = append(out.parked, d.Name)
		}
	}
	return out, nil
}

// data is one domain's object: what cpauth keeps (the name, the account,
// its owner), the server's address, and the values cPanel gives a domain
// by convention, derived from them (the document root
// <home>/public_html, the www. alias, webmaster@ as the server admin).
// Both kinds are served from the main domain's document root.
func (ds *domainSet) data(name, kind string) map[string]any {
	alias := "www." + name
	servername := name
	if kind == "main_domain" {
		for _, p := range ds.parked {
			alias += " " + p + " www." + p
		}
	} else {
		alias = name + " " + alias
		servername = ds.main
	}
	return map[string]any{
		"domain":       name,
		"documentroot": ds.home + "/public_html",
		"group":        ds.account.Username,
		"homedir":      ds.home,
		"ip":           ds.ip,
		"ipv6":         nil,
		"owner":        ds.account.Owner,
		"serveradmin":  "webmaster@" + ds.main,
		"serveralias":  alias,
		"servername":   servername,
		"type":         kind,
		"user":         ds.account.Username,
	}
}

func (e *Env) listDomains(ctx context.Context, c *api.Call) (*api.Result, error) {
	ds, err := e.accountDomains(ctx, c)
	if err != nil {
		return nil, err
	}
	return &api.Result{Data: map[string]any{
		"main_domain":    ds.main,
		"addon_domains":  []string{},
		"sub_domains":    []string{},
		"parked_domains": ds.parked,
	}}, nil
}

func (e *Env) domainsData(ctx context.Context, c *api.Call) (*api.Result, error) {
	format := c.Args.Get("format")
	if format != "" && format != "hash" && format != "list" {
		return nil, core.Errorf(core.KindInvalid, "The “format” parameter must be “hash” or “list”.")
	}
	ds, err := e.accountDomains(ctx, c)
	if err != nil {
		return nil, err
	}
	if format == "list" {
		// Every domain as an object, the main domain first, then
		// cPanel's order of kinds (addon, sub, parked).
		list := []map[string]any{ds.data(ds.main, "main_domain")}
		for _, p := range ds.parked {
			list = append(list, ds.data(p, "parked_domain"))
		}
		return &api.Result{Data: list}, nil
	}
	return &api.Result{Data: map[string]any{
		"main_domain":    ds.data(ds.main, "main_domain"),
		"addon_domains":  []map[string]any{},
		"sub_domains":    []map[string]any{},
		"parked_domains": ds.parked,
	}}, nil
}

func (e *Env) singleDomainData(ctx context.Context, c *api.Call) (*api.Result, error) {
	name := strings.ToLower(strings.TrimSpace(c.Args.Get("domain")))
	if name == "" {
		return nil, required("domain")
	}
	ds, err := e.accountDomains(ctx, c)
	if err != nil {
		return nil, err
	}
	switch {
	case name == ds.main:
		return &api.Result{Data: ds.data(name, "main_domain")}, nil
	case slices.Contains(ds.parked, name):
		return &api.Result{Data: ds.data(name, "parked_domain")}, nil
	}
	// Another account's domain answers as one that does not exist.
	return nil, notYourDomain(name)
}

// notYourDomain is the answer about a domain the calling account does not
// own (or that does not exist: the two look the same).
func notYourDomain(domain string) error {
	return core.Errorf(core.KindPermission, "The domain “%s” does not belong to your account.", clip(domain))
}
