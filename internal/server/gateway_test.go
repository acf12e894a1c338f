package server

import (
	"slices"
	"testing"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/functions"
	"github.com/cpauth/cpauth/internal/gateway"
)

// Every function cpauth has is placed on one side of gateway mode's split:
// a new function cannot land without someone deciding whether the gateway
// serves it (it is about credentials) or forwards it (it is about
// accounts, mail, domains: the backend's). A misspelt name in the
// gateway's table shows as a credential function forwarded.
func TestGatewaySplitCoversRegistry(t *testing.T) {
	forwarded := []string{
		// WHM API 1: accounts, resellers and the server are the backend's.
		"whmapi1 accountsummary", "whmapi1 applist", "whmapi1 createacct", "whmapi1 gethostname", "whmapi1 get_tweaksetting",
		"whmapi1 listaccts", "whmapi1 listresellers", "whmapi1 myprivs", "whmapi1 passwd", "whmapi1 removeacct",
		"whmapi1 resolvedomainname", "whmapi1 set_tweaksetting", "whmapi1 setacls", "whmapi1 setupreseller",
		"whmapi1 suspendacct", "whmapi1 uapi_cpanel", "whmapi1 unsetupreseller", "whmapi1 unsuspendacct",
		// UAPI: mail, domains and the account's variables.
		"uapi DomainInfo::domains_data", "uapi DomainInfo::list_domains", "uapi DomainInfo::single_domain_data",
		"uapi Email::add_pop", "uapi Email::delete_pop", "uapi Email::list_pops", "uapi Email::passwd_pop",
		"uapi Variables::get_user_information",
		// cPanel API 2: all of it.
		"api2 CustInfo::displaycontactinfo", "api2 Email::addpop", "api2 Email::delpop", "api2 Email::listpops",
	}
	var got []string
	for _, f := range (&functions.Env{}).Registry().All() {
		// The tweak settings and uapi_cpanel are decided by their
		// arguments (TestServes in internal/gateway): without any, they
		// are the backend's.
		if !gateway.Serves(f.Flavour, f.Module, f.Name, api.Args{}) {
			got = append(got, f.Flavour.String()+" "+f.FullName())
		}
	}
	slices.Sort(got)
	slices.Sort(forwarded)
	if !slices.Equal(got, forwarded) {
		t.Errorf("forwarded in gateway mode:\n%q\nwant\n%q", got, forwarded)
	}
}
