package functions

import (
	"context"
	"errors"
	"testing"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/api/whmapi1"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/store"
)

func TestRequestHost(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"host.example.com:2087", "host.example.com"},
		{"HOST.Example.com", "host.example.com"},
		{"127.0.0.1:2087", "127.0.0.1"},
		{"[::1]:2087", "::1"},
		{"[::1]", "::1"},
		{"[::ffff:192.0.2.1]:2087", "192.0.2.1"},
		{"localhost:2087", "localhost"},
		{"", ""},
		{"evil.com/path", ""},
		{"a b", ""},
		{"user@evil.example", ""},
		{"[fe80::1%eth0]:2087", ""},
		{"single-label", "single-label"}, // a host name like os.Hostname's; NamesServer decides
		{"host_name.example", ""},
	} {
		if got := requestHost(tc.in); got != tc.want {
			t.Errorf("requestHost(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// domainStore knows the domains of its map, and fails for "broken.example".
type domainStore struct {
	store.Store
	domains map[string]string
}

var errBroken = errors.New("database is down")

func (s domainStore) GetDomain(_ context.Context, name string) (store.Domain, error) {
	if name == "broken.example" {
		return store.Domain{}, errBroken
	}
	if acct, ok := s.domains[name]; ok {
		return store.Domain{Name: name, Account: acct}, nil
	}
	return store.Domain{}, store.ErrNotFound
}

// D29: a Host header is used only when it names this server; anything
// else gets the configured host name.
func TestServerHost(t *testing.T) {
	e := &Env{Store: domainStore{domains: map[string]string{"bob.test": "bob"}}, Hostname: "host.example.com"}
	tests := []struct {
		name, host, want string
	}{
		{"configured name", "host.example.com", "host.example.com"},
		{"configured name, port dropped", "host.example.com:2087", "host.example.com"},
		{"configured name, upper case", "HOST.EXAMPLE.COM:2083", "host.example.com"},
		{"an account's domain", "bob.test:2082", "bob.test"},
		{"IPv4 loopback", "127.0.0.1:2086", "127.0.0.1"},
		{"IPv6 loopback", "[::1]:2086", "::1"},
		{"localhost", "localhost", "localhost"},
		{"another site", "evil.example", "host.example.com"},
		{"another site with a port", "evil.example:2083", "host.example.com"},
		{"a subdomain of a domain", "x.bob.test", "host.example.com"},
		{"an address of another machine", "192.0.2.99:2087", "host.example.com"},
		{"a single label not ours", "intranet", "host.example.com"},
		{"malformed", "evil.example/x", "host.example.com"},
		{"empty", "", "host.example.com"},
		{"store failure", "broken.example", "host.example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.ServerHost(context.Background(), tc.host); got != tc.want {
				t.Errorf("ServerHost(%q) = %q, want %q", tc.host, got, tc.want)
			}
		})
	}
	if _, err := e.NamesServer(context.Background(), "broken.example"); !errors.Is(err, errBroken) {
		t.Errorf("NamesServer with a failing store: %v, want its error", err)
	}
}

// gethostname answers the configured name to every WHM caller, whatever
// Host the request came with.
func TestGethostname(t *testing.T) {
	r := (&Env{Hostname: "host.example.com"}).Registry()
	for _, tc := range []struct {
		name string
		p    core.Principal
		want string
	}{
		{"root", core.Principal{User: "root", Role: core.RoleRoot, ACLs: core.NewACLSet(core.ACLAll)},
			`{"data":{"hostname":"host.example.com"},"metadata":{"command":"gethostname","reason":"OK","result":1,"version":1}}`},
		{"reseller without ACLs", core.Principal{User: "res", Role: core.RoleReseller, ACLs: core.ACLSet{}},
			`{"data":{"hostname":"host.example.com"},"metadata":{"command":"gethostname","reason":"OK","result":1,"version":1}}`},
		{"read-only token", core.Principal{User: "res", Role: core.RoleReseller, ACLs: core.ACLSet{}, ReadOnly: true},
			`{"data":{"hostname":"host.example.com"},"metadata":{"command":"gethostname","reason":"OK","result":1,"version":1}}`},
		{"cPanel account", core.Principal{User: "bob", Role: core.RoleCPanel, Account: "bob"},
			`{"metadata":{"command":"gethostname","reason":"Permission denied","result":0,"version":1}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := RunWHM1(context.Background(), r, &api.Call{Flavour: api.WHM1, Func: "gethostname", Principal: tc.p, Host: "evil.example:2087"})
			if got := string(whmapi1.Encode("gethostname", res, err)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
