package core

import (
	"slices"
	"sort"
)

// ACLAll is the root privilege: every other ACL is implied.
const ACLAll = "all"

// KnownACLs lists every WHM privilege name cpauth understands, in cPanel's
// grouping order (PROTOCOL.md section 12).
var KnownACLs = []string{
	"all",
	"list-accts", "show-bandwidth",
	"create-acct", "kill-acct", "suspend-acct", "upgrade-account", "ssl", "ssl-buy", "ssl-gencrt", "edit-mx", "passwd", "file-restore",
	"create-dns", "kill-dns", "park-dns", "edit-dns",
	"add-pkg", "edit-pkg",
	"thirdparty", "mailcheck", "news", "assign-root-account-enhancements",
	"allow-shell", "viewglobalpackages", "allow-addoncreate", "allow-parkedcreate", "add-pkg-ip", "add-pkg-shell", "allow-unlimited-pkgs", "allow-emaillimits-pkgs", "allow-unlimited-disk-pkgs", "allow-unlimited-bw-pkgs",
	"status", "stats", "restart", "resftp",
	"edit-account", "limit-bandwidth", "quota", "demo-setup", "rearrange-accts", "clustering", "locale-edit",
	"acct-summary", "basic-whm-functions", "basic-system-info", "connected-applications", "cors-proxy-get", "cpanel-api", "cpanel-integration", "create-user-session", "digest-auth", "generate-email-config", "list-pkgs", "manage-api-tokens", "manage-dns-records", "manage-oidc", "manage-styles", "mysql-info", "ns-config", "public-contact", "ssl-info", "track-email",
}

// IsKnownACL reports whether name is a WHM privilege cpauth knows.
func IsKnownACL(name string) bool { return slices.Contains(KnownACLs, name) }

// ACLSet is a set of WHM privilege names. The zero value holds nothing.
type ACLSet map[string]bool

// NewACLSet builds a set from names.
func NewACLSet(names ...string) ACLSet {
	s := make(ACLSet, len(names))
	for _, n := range names {
		s[n] = true
	}
	return s
}

// Has reports whether the set grants name; "all" grants everything.
func (s ACLSet) Has(name string) bool { return s[ACLAll] || s[name] }

// Names lists the set's members sorted.
func (s ACLSet) Names() []string {
	out := make([]string, 0, len(s))
	for n, ok := range s {
		if ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
