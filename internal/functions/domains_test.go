package functions

import (
	"context"
	"testing"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/store"
)

// accountsStore holds a few accounts and their domains.
type accountsStore struct {
	settingStore
	accounts map[string]store.Account
	domains  []store.Domain // sorted by name, as stores list them
}

func (s accountsStore) GetAccount(_ context.Context, user string) (store.Account, error) {
	a, ok := s.accounts[user]
	if !ok {
		return a, store.ErrNotFound
	}
	return a, nil
}

func (s accountsStore) GetDomain(_ context.Context, name string) (store.Domain, error) {
	for _, d := range s.domains {
		if d.Name == name {
			return d, nil
		}
	}
	return store.Domain{}, store.ErrNotFound
}

func (s accountsStore) ListDomains(_ context.Context, account string) ([]store.Domain, error) {
	var out []store.Domain
	for _, d := range s.domains {
		if d.Account == account {
			out = append(out, d)
		}
	}
	return out, nil
}

// testDomainEnv: bob (root's) with bob.test and a non-primary domain,
// which no function makes today but the store can hold; carol (res's);
// res, a reseller; the server's address is 192.0.2.10.
func testDomainEnv() *Env {
	return &Env{DataDir: "/data", Store: accountsStore{
		settingStore: settingStore{value: "192.0.2.10"},
		accounts: map[string]store.Account{
			"bob":   {Username: "bob", Domain: "bob.test", Owner: "root", ContactEmail: "admin@bob.test"},
			"carol": {Username: "carol", Domain: "carol.test", Owner: "res"},
			"res":   {Username: "res", Domain: "res.test", Owner: "root", Reseller: true},
		},
		domains: []store.Domain{
			{Name: "bob-alias.test", Account: "bob"},
			{Name: "bob.test", Account: "bob", Primary: true},
			{Name: "carol.test", Account: "carol", Primary: true},
			{Name: "res.test", Account: "res", Primary: true},
		},
	}}
}

func bobCall(args ...string) *api.Call {
	return &api.Call{Flavour: api.UAPI, Module: "DomainInfo", Args: pairsOf(args), Principal: core.Principal{User: "bob", Account: "bob", Role: core.RoleCPanel}}
}

func pairsOf(kv []string) api.Args {
	var a api.Args
	for i := 0; i+1 < len(kv); i += 2 {
		a.Add(kv[i], kv[i+1])
	}
	return a
}

// A domain that is not the primary is listed as parked, an alias served
// from the main domain's document root.
func TestDomainInfoParked(t *testing.T) {
	e := testDomainEnv()
	ctx := context.Background()
	main := `{"documentroot":"/data/home/bob/public_html","domain":"bob.test","group":"bob","homedir":"/data/home/bob","ip":"192.0.2.10","ipv6":null,"owner":"root",` +
		`"serveradmin":"webmaster@bob.test","serveralias":"www.bob.test bob-alias.test www.bob-alias.test","servername":"bob.test","type":"main_domain","user":"bob"}`
	parked := `{"documentroot":"/data/home/bob/public_html","domain":"bob-alias.test","group":"bob","homedir":"/data/home/bob","ip":"192.0.2.10","ipv6":null,"owner":"root",` +
		`"serveradmin":"webmaster@bob.test","serveralias":"bob-alias.test www.bob-alias.test","servername":"bob.test","type":"parked_domain","user":"bob"}`
	for _, tc := range []struct {
		name string
		run  api.Handler
		args []string
		want string
	}{
		{"list_domains", e.listDomains, nil, `{"addon_domains":[],"main_domain":"bob.test","parked_domains":["bob-alias.test"],"sub_domains":[]}`},
		{"domains_data", e.domainsData, nil, `{"addon_domains":[],"main_domain":` + main + `,"parked_domains":["bob-alias.test"],"sub_domains":[]}`},
		{"domains_data hash", e.domainsData, []string{"format", "hash"}, `{"addon_domains":[],"main_domain":` + main + `,"parked_domains":["bob-alias.test"],"sub_domains":[]}`},
		{"domains_data list", e.domainsData, []string{"format", "list"}, `[` + main + `,` + parked + `]`},
		{"single_domain_data main", e.singleDomainData, []string{"domain", "BOB.test"}, main},
		{"single_domain_data parked", e.singleDomainData, []string{"domain", "bob-alias.test"}, parked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tc.run(ctx, bobCall(tc.args...))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(api.JSON(res.Data)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestDomainInfoRefusals(t *testing.T) {
	e := testDomainEnv()
	for _, tc := range []struct {
		name string
		run  api.Handler
		args []string
		want string
	}{
		{"another account's domain", e.singleDomainData, []string{"domain", "carol.test"}, "The domain “carol.test” does not belong to your account."},
		{"an unknown domain", e.singleDomainData, []string{"domain", "nowhere.test"}, "The domain “nowhere.test” does not belong to your account."},
		{"no domain", e.singleDomainData, nil, "The “domain” parameter is required."},
		{"bad format", e.domainsData, []string{"format", "xml"}, "The “format” parameter must be “hash” or “list”."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.run(context.Background(), bobCall(tc.args...))
			if got := core.Message(err); got != tc.want {
				t.Errorf("error %q, want %q", got, tc.want)
			}
		})
	}
}

// A reseller resolves its own accounts' domains and its own; any other
// answers as an unknown domain.
func TestResolveDomainName(t *testing.T) {
	e := testDomainEnv()
	root := core.Principal{User: "root", Role: core.RoleRoot, ACLs: core.NewACLSet(core.ACLAll)}
	res := core.Principal{User: "res", Account: "res", Role: core.RoleReseller, ACLs: core.NewACLSet("list-accts")}
	allRes := core.Principal{User: "res", Account: "res", Role: core.RoleReseller, ACLs: core.NewACLSet(core.ACLAll)}
	for _, tc := range []struct {
		name   string
		p      core.Principal
		domain string
		want   string // the ip, or the error
	}{
		{"root, any account", root, "bob.test", "192.0.2.10"},
		{"root, a parked domain", root, "bob-alias.test", "192.0.2.10"},
		{"root, upper case and spaces", root, " Bob.TEST ", "192.0.2.10"},
		{"reseller, its account", res, "carol.test", "192.0.2.10"},
		{"reseller, itself", res, "res.test", "192.0.2.10"},
		{"reseller, root's account", res, "bob.test", "Unable to resolve domain name."},
		{"reseller with all", allRes, "bob.test", "192.0.2.10"},
		{"unknown", root, "nowhere.test", "Unable to resolve domain name."},
		{"malformed", root, "not a domain", "Unable to resolve domain name."},
		{"missing", root, "", "The “domain” parameter is required."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := e.resolvedomainname(context.Background(), &api.Call{Flavour: api.WHM1, Args: pairsOf([]string{"domain", tc.domain}), Principal: tc.p})
			got := core.Message(err)
			if err == nil {
				got = r.Data.(map[string]any)["ip"].(string)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDisplayContactInfo(t *testing.T) {
	e := testDomainEnv()
	res, err := e.displaycontactinfo(context.Background(), bobCall())
	if err != nil {
		t.Fatal(err)
	}
	list := res.Data.([]map[string]any)
	if len(list) == 0 || list[0]["name"] != "email" || list[0]["value"] != "admin@bob.test" || list[0]["type"] != "string" {
		t.Errorf("the contact address is not first: %v", list)
	}
	for _, x := range list {
		ok := len(x) == 5
		for _, k := range []string{"type", "name", "descp", "enabled", "value"} {
			_, has := x[k]
			ok = ok && has
		}
		if !ok {
			t.Errorf("entry %v: want exactly type, name, descp, enabled and value", x)
		}
	}
}
