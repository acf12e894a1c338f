package functions

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/store"
)

func TestValidateTokenName(t *testing.T) {
	tests := []struct {
		name, token string
		ok          bool
	}{
		{"letters", "deploy", true},
		{"all classes", "Deploy_2-x", true},
		{"50 chars", strings.Repeat("a", 50), true},
		{"51 chars", strings.Repeat("a", 51), false},
		{"empty", "", false},
		{"space", "de ploy", false},
		{"dot", "de.ploy", false},
		{"colon (would break the accounting log)", "a:b", false},
		{"newline", "a\nb", false},
		{"unicode", "böb", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := ValidateTokenName(tc.token); (err == nil) != tc.ok {
				t.Fatalf("ValidateTokenName(%q) = %v, want ok=%v", tc.token, err, tc.ok)
			}
		})
	}
}

func TestNormalizeWhitelistEntry(t *testing.T) {
	tests := []struct {
		name, in, want string // want "" = refused
	}{
		{"v4", "192.0.2.1", "192.0.2.1"},
		{"v4 with spaces", " 192.0.2.1 ", "192.0.2.1"},
		{"v4 CIDR", "1.1.1.8/29", "1.1.1.8/29"},
		{"v4 CIDR host bits cleared", "1.1.1.9/29", "1.1.1.8/29"},
		{"v4 /32", "192.0.2.1/32", "192.0.2.1/32"},
		{"v6 expanded", "fc00:abcd::f", "fc00:abcd:0000:0000:0000:0000:0000:000f"},
		{"v6 upper case", "FC00:ABCD::F", "fc00:abcd:0000:0000:0000:0000:0000:000f"},
		{"v6 loopback", "::1", "0000:0000:0000:0000:0000:0000:0000:0001"},
		{"v6 CIDR", "fc00::1/7", "fc00:0000:0000:0000:0000:0000:0000:0000/7"},
		{"v4-mapped", "::ffff:192.0.2.1", "192.0.2.1"},
		{"v4-mapped CIDR", "::ffff:192.0.2.0/120", "192.0.2.0/24"},
		{"v4-mapped CIDR too wide", "::ffff:0.0.0.0/95", ""},
		{"already expanded", "fc00:abcd:0000:0000:0000:0000:0000:000f", "fc00:abcd:0000:0000:0000:0000:0000:000f"},
		{"zone", "fe80::1%eth0", ""},
		{"host name", "example.com", ""},
		{"v4 out of range", "256.1.1.1", ""},
		{"prefix too long", "10.0.0.0/33", ""},
		{"empty", "", ""},
		{"any is not an address", "any", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalizeWhitelistEntry(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("NormalizeWhitelistEntry(%q) = %q, want an error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("NormalizeWhitelistEntry(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseTokenACLs(t *testing.T) {
	reseller := core.Principal{User: "res", Role: core.RoleReseller, ACLs: core.NewACLSet("list-accts", "create-acct")}
	root := core.Principal{User: "root", Role: core.RoleRoot, ACLs: core.NewACLSet(core.ACLAll)}
	tests := []struct {
		name    string
		owner   core.Principal
		args    [][2]string
		want    []string
		given   bool
		errPart string
	}{
		{"none given", reseller, nil, nil, false, ""},
		{"subset, sorted and deduplicated", reseller, [][2]string{{"acl-1", "list-accts"}, {"acl", "create-acct"}, {"acl-0", "create-acct"}}, []string{"create-acct", "list-accts"}, true, ""},
		{"above the owner", reseller, [][2]string{{"acl", "kill-acct"}}, nil, true, "Invalid or unauthorized ACL(s) specified: kill-acct"},
		{"all for a reseller", reseller, [][2]string{{"acl", "all"}}, nil, true, "unauthorized ACL(s) specified: all"},
		{"unknown", root, [][2]string{{"acl", "bogus"}, {"acl", "x"}}, nil, true, "specified: bogus, x"},
		{"all for root folds the rest", root, [][2]string{{"acl", "list-accts"}, {"acl", "all"}}, []string{"all"}, true, ""},
		{"only empty values", root, [][2]string{{"acl", ""}}, nil, true, "at least one ACL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, given, err := parseTokenACLs(api.NewArgs(tc.args...), tc.owner)
			if given != tc.given {
				t.Errorf("given = %v, want %v", given, tc.given)
			}
			if tc.errPart != "" {
				if err == nil || !strings.Contains(core.Message(err), tc.errPart) {
					t.Fatalf("err = %v, want %q", err, tc.errPart)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestDefaultTokenACLs(t *testing.T) {
	tests := []struct {
		name  string
		owner core.Principal
		want  []string
	}{
		{"root", core.Principal{User: "root", ACLs: core.NewACLSet(core.ACLAll)}, []string{"all"}},
		{"reseller with all", core.Principal{User: "r", ACLs: core.NewACLSet(core.ACLAll, "list-accts")}, []string{"all"}},
		{"reseller", core.Principal{User: "r", ACLs: core.NewACLSet("passwd", "list-accts")}, []string{"list-accts", "passwd"}},
		{"reseller without privileges", core.Principal{User: "r", ACLs: core.ACLSet{}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := defaultTokenACLs(tc.owner)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("got %v, want an error (a token must never be stored without ACLs by accident)", got)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestParseTokenExpiry(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name    string
		value   *string
		want    int64 // 0: never
		given   bool
		errPart string
	}{
		{name: "absent"},
		{name: "empty", value: ptr("")},
		{name: "zero is never", value: ptr("0"), given: true},
		{name: "future", value: ptr("1800000060"), want: 1_800_000_060, given: true},
		{name: "now is not the future", value: ptr("1800000000"), given: true, errPart: "The “1800000000” value must be a future date."},
		{name: "past", value: ptr("1"), given: true, errPart: "must be a future date"},
		{name: "negative", value: ptr("-5"), given: true, errPart: "Unix time"},
		{name: "not a number", value: ptr("soon"), given: true, errPart: "Unix time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var a api.Args
			if tc.value != nil {
				a.Add("expires_at", *tc.value)
			}
			got, given, err := parseTokenExpiry(a, now)
			if given != tc.given {
				t.Errorf("given = %v, want %v", given, tc.given)
			}
			if tc.errPart != "" {
				if err == nil || !strings.Contains(core.Message(err), tc.errPart) {
					t.Fatalf("err = %v, want %q", err, tc.errPart)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (tc.want == 0) != got.IsZero() || (tc.want != 0 && got.Unix() != tc.want) {
				t.Fatalf("got %v, want %d", got, tc.want)
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestTokenListEntries(t *testing.T) {
	created := time.Unix(1_700_000_000, 0)
	whm := store.Token{Service: store.TokenWHM, Name: "w", ACLs: []string{"passwd", "list-accts"}, Created: created}
	m := whmTokenListEntry(whm)
	acls := m["acls"].(map[string]int)
	if len(acls) != len(core.KnownACLs) || acls["passwd"] != 1 || acls["list-accts"] != 1 || acls["all"] != 0 || acls["kill-acct"] != 0 {
		t.Errorf("acls object %v", acls)
	}
	if m["expires_at"] != nil || m["whitelist_ips"] != nil || m["last_used"] != nil || m["last_used_ip"] != nil || m["create_time"] != int64(1_700_000_000) {
		t.Errorf("entry %v", m)
	}
	legacy := store.Token{Service: store.TokenWHM, Name: "old"} // nil ACLs: the owner's every privilege
	if got := whmTokenDetails(legacy)["acls"]; !slices.Equal(got.([]string), []string{"all"}) {
		t.Errorf("nil ACLs shown as %v", got)
	}
	cp := cpanelTokenListEntry(store.Token{Service: store.TokenCPanel, Name: "c", Created: created, LastUsed: created.Add(time.Hour), LastUsedIP: "192.0.2.1"})
	if _, ok := cp["readonly"]; ok {
		t.Errorf("readonly present on a full-access token: %v", cp)
	}
	if cp["last_used"] != int64(1_700_003_600) || cp["last_used_ip"] != "192.0.2.1" || cp["has_full_access"] != 1 {
		t.Errorf("cPanel entry %v", cp)
	}
}

// TestTokenFunctionsRegistered: every token function with its privilege and
// read-only marking, as documented.
func TestTokenFunctionsRegistered(t *testing.T) {
	r := (&Env{}).Registry()
	tests := []struct {
		flavour  api.Flavour
		module   string
		name     string
		access   api.Access
		readOnly bool
	}{
		{api.WHM1, "", "api_token_create", api.NeedACL, false},
		{api.WHM1, "", "api_token_list", api.NeedACL, true},
		{api.WHM1, "", "api_token_update", api.NeedACL, false},
		{api.WHM1, "", "api_token_revoke", api.NeedACL, false},
		{api.WHM1, "", "api_token_get_details", api.NeedACL, true},
		{api.WHM1, "", "api_token_introspect", api.NeedACL, true},
		{api.UAPI, "Tokens", "create_full_access", api.Account, false},
		{api.UAPI, "Tokens", "list", api.Account, true},
		{api.UAPI, "Tokens", "rename", api.Account, false},
		{api.UAPI, "Tokens", "revoke", api.Account, false},
	}
	for _, tc := range tests {
		t.Run(tc.module+tc.name, func(t *testing.T) {
			f, ok := r.Lookup(tc.flavour, tc.module, tc.name)
			if !ok {
				t.Fatal("not registered")
			}
			if f.Access != tc.access || f.ReadOnly != tc.readOnly || f.WebmailSafe {
				t.Errorf("access %v read-only %v webmail-safe %v", f.Access, f.ReadOnly, f.WebmailSafe)
			}
			if tc.flavour == api.WHM1 && f.ACL != ACLManageTokens {
				t.Errorf("ACL %q, want %q", f.ACL, ACLManageTokens)
			}
		})
	}
	// Read-only markings of the other functions.
	for _, name := range []string{"version", "applist", "myprivs", "listaccts", "accountsummary", "listresellers", "get_tweaksetting"} {
		if f, _ := r.Lookup(api.WHM1, "", name); f == nil || !f.ReadOnly {
			t.Errorf("%s is not marked read-only", name)
		}
	}
	for _, name := range []string{"accesshash", "createacct", "passwd", "setacls", "set_tweaksetting", "uapi_cpanel"} {
		if f, _ := r.Lookup(api.WHM1, "", name); f == nil || f.ReadOnly {
			t.Errorf("%s is marked read-only", name)
		}
	}
}
