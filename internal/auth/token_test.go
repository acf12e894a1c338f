package auth_test

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/store"
)

// Token texts of the fixture tokens.
const (
	tokRoot    = "ROOTTOKEN0000000000000000000000A"
	tokRes     = "RESTOKEN00000000000000000000000B"
	tokBob     = "BOBTOKEN00000000000000000000000C"
	tokBobRO   = "BOBREADONLY000000000000000000000"
	tokExpired = "EXPIREDTOKEN00000000000000000000"
	tokIPv4    = "IPV4TOKEN00000000000000000000000"
	tokIPv6    = "IPV6TOKEN00000000000000000000000"
	tokBobWHM  = "BOBWHMTOKEN000000000000000000000"
)

// importedHash is a 960-hex access hash imported as root's token.
var importedHash = strings.Repeat("00112233445566778899aabbccddeeff", 30)

func addTokens(t *testing.T, f *fixture, now time.Time) {
	t.Helper()
	ctx := context.Background()
	for _, tok := range []struct {
		text string
		rec  store.Token
	}{
		{tokRoot, store.Token{Service: store.TokenWHM, Username: "root", Name: "root-all", ACLs: []string{"all"}}},
		{tokRes, store.Token{Service: store.TokenWHM, Username: "res", Name: "res-narrow", ACLs: []string{"list-accts", "create-acct"}}},
		{tokBob, store.Token{Service: store.TokenCPanel, Username: "bob", Name: "bob-full"}},
		{tokBobRO, store.Token{Service: store.TokenCPanel, Username: "bob", Name: "bob-ro", ReadOnly: true}},
		{tokExpired, store.Token{Service: store.TokenWHM, Username: "root", Name: "old", ExpiresAt: now.Add(-time.Second)}},
		{tokIPv4, store.Token{Service: store.TokenWHM, Username: "root", Name: "v4", WhitelistIPs: []string{"127.0.0.1", "10.0.0.0/8"}}},
		{tokIPv6, store.Token{Service: store.TokenWHM, Username: "root", Name: "v6", WhitelistIPs: []string{"fc00:abcd:0000:0000:0000:0000:0000:0000/32"}}},
		{tokBobWHM, store.Token{Service: store.TokenWHM, Username: "bob", Name: "stale"}}, // bob is no reseller
		{importedHash, store.Token{Service: store.TokenWHM, Username: "root", Name: "accesshash-1"}},
	} {
		rec := tok.rec
		rec.MAC = auth.TokenMAC(f.key, rec.Username, tok.text)
		rec.Created = now
		if err := f.st.CreateToken(ctx, rec); err != nil {
			t.Fatalf("creating %s: %v", rec.Name, err)
		}
	}
}

func TestTokenMethod(t *testing.T) {
	f := newFixture(t)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	addTokens(t, f, now)
	ro := readOnly{Store: f.st, t: t}
	chain := auth.Chain{&auth.Password{Store: ro, Hasher: f.hasher}, &auth.AccessHash{Store: ro, Key: f.key},
		&auth.Token{Store: ro, Key: f.key, Now: func() time.Time { return now }}}
	whm, cp, wm := core.ServiceWHM, core.ServiceCPanel, core.ServiceWebmail
	local := netip.MustParseAddr("127.0.0.1")
	tests := []struct {
		name     string
		svc      core.Service
		remote   string
		header   string
		want     auth.Result
		role     core.Role
		acls     []string // effective ACLs of a WHM token (nil: not checked)
		readOnly bool
		reason   string // part of the log reason of a failure
	}{
		{name: "root WHM token", svc: whm, header: "whm root:" + tokRoot, want: auth.OK, role: core.RoleRoot, acls: []string{"all"}},
		{name: "scheme is case-insensitive", svc: whm, header: "WHM root:" + tokRoot, want: auth.OK, role: core.RoleRoot},
		{name: "reseller token is narrowed to the reseller", svc: whm, header: "whm res:" + tokRes, want: auth.OK, role: core.RoleReseller, acls: []string{"list-accts"}},
		{name: "cPanel token", svc: cp, header: "cpanel bob:" + tokBob, want: auth.OK, role: core.RoleCPanel},
		{name: "read-only cPanel token", svc: cp, header: "cpanel bob:" + tokBobRO, want: auth.OK, role: core.RoleCPanel, readOnly: true},
		{name: "imported access hash", svc: whm, header: "whm root:" + importedHash, want: auth.OK, role: core.RoleRoot, acls: []string{"all"}},
		{name: "imported access hash upper case and folded", svc: whm, header: "WHM root:" + strings.ToUpper(importedHash[:480]) + "\r\n" + importedHash[480:], want: auth.OK, role: core.RoleRoot},
		{name: "IPv4 allow-list match", svc: whm, remote: "10.1.2.3", header: "whm root:" + tokIPv4, want: auth.OK, role: core.RoleRoot},
		{name: "IPv4-mapped remote", svc: whm, remote: "::ffff:127.0.0.1", header: "whm root:" + tokIPv4, want: auth.OK, role: core.RoleRoot},
		{name: "IPv6 allow-list match", svc: whm, remote: "fc00:abcd::f", header: "whm root:" + tokIPv6, want: auth.OK, role: core.RoleRoot},

		{name: "IPv4 allow-list miss", svc: whm, remote: "192.0.2.1", header: "whm root:" + tokIPv4, want: auth.Failed, reason: "not allowed from"},
		{name: "IPv4 token from ::1", svc: whm, remote: "::1", header: "whm root:" + tokIPv4, want: auth.Failed, reason: "not allowed from"},
		{name: "IPv6 allow-list miss", svc: whm, remote: "fc00:abce::1", header: "whm root:" + tokIPv6, want: auth.Failed, reason: "not allowed from"},
		{name: "expired", svc: whm, header: "whm root:" + tokExpired, want: auth.Failed, reason: "expired"},
		{name: "another user's token", svc: whm, header: "whm res:" + tokRoot, want: auth.Failed, reason: "unknown"},
		{name: "unknown token", svc: whm, header: "whm root:ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ", want: auth.Failed, reason: "unknown"},
		{name: "lower-case token", svc: whm, header: "whm root:" + strings.ToLower(tokRoot), want: auth.Failed, reason: "unknown"},
		{name: "WHM token on cPanel", svc: cp, header: "whm root:" + tokRoot, want: auth.Failed, reason: "used on the cpanel ports"},
		{name: "WHM token on Webmail", svc: wm, header: "whm root:" + tokRoot, want: auth.Failed, reason: "used on the webmail ports"},
		{name: "cPanel token on WHM", svc: whm, header: "cpanel bob:" + tokBob, want: auth.Failed, reason: "used on the whm ports"},
		{name: "cPanel token on Webmail", svc: wm, header: "cpanel bob:" + tokBob, want: auth.Failed, reason: "used on the webmail ports"},
		{name: "cPanel token in the WHM scheme", svc: whm, header: "whm bob:" + tokBob, want: auth.Failed, reason: "another service"},
		{name: "WHM token in the cPanel scheme", svc: cp, header: "cpanel root:" + tokRoot, want: auth.Failed, reason: "another service"},
		{name: "WHM token of a non-reseller", svc: whm, header: "whm bob:" + tokBobWHM, want: auth.Failed, reason: "non-reseller"},
		{name: "webmail scheme (D7)", svc: wm, header: "webmail bob:" + tokBob, want: auth.Failed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			remote := local
			if tc.remote != "" {
				remote = netip.MustParseAddr(tc.remote)
			}
			out := chain.Authenticate(context.Background(), auth.NewRequest(tc.svc, true, remote, tc.header))
			if out.Result != tc.want {
				t.Fatalf("result %v (reason %q), want %v", out.Result, out.Reason, tc.want)
			}
			if tc.want != auth.OK {
				if !strings.Contains(out.Reason, tc.reason) {
					t.Errorf("reason %q does not say %q", out.Reason, tc.reason)
				}
				for _, secret := range []string{tokRoot, tokBob, tokExpired, tokIPv4, tokIPv6, importedHash} {
					if strings.Contains(out.Reason, secret) {
						t.Errorf("the log reason holds a token")
					}
				}
				return
			}
			p := out.Principal
			if out.Method != core.MethodToken || p.Method != core.MethodToken || p.Service != tc.svc || p.Role != tc.role || p.TokenName == "" {
				t.Errorf("principal %+v, want token method, role %v on %v", p, tc.role, tc.svc)
			}
			if p.ReadOnly != tc.readOnly {
				t.Errorf("ReadOnly = %v, want %v", p.ReadOnly, tc.readOnly)
			}
			if tc.acls != nil && !slices.Equal(p.ACLs.Names(), tc.acls) {
				t.Errorf("effective ACLs %v, want %v", p.ACLs.Names(), tc.acls)
			}
		})
	}

	t.Run("suspension and reseller changes act at once", func(t *testing.T) {
		ctx := context.Background()
		req := func() auth.Outcome {
			return chain.Authenticate(ctx, auth.NewRequest(whm, true, local, "whm res:"+tokRes))
		}
		if _, err := f.st.UpdateAccount(ctx, "res", func(a store.Account) (store.Account, error) {
			a.ACLs = []string{"create-acct"}
			return a, nil
		}); err != nil {
			t.Fatal(err)
		}
		if out := req(); out.Result != auth.OK || !slices.Equal(out.Principal.ACLs.Names(), []string{"create-acct"}) {
			t.Errorf("after setacls: %v %v", out.Result, out.Principal.ACLs.Names())
		}
		if _, err := f.st.UpdateAccount(ctx, "res", func(a store.Account) (store.Account, error) {
			a.Suspended = true
			return a, nil
		}); err != nil {
			t.Fatal(err)
		}
		if out := req(); out.Result != auth.Failed {
			t.Errorf("suspended reseller's token: %v", out.Result)
		}
	})
}

func TestEffectiveACLs(t *testing.T) {
	tests := []struct {
		name  string
		user  []string
		token []string
		want  []string
	}{
		{"unlimited token", []string{"list-accts", "passwd"}, nil, []string{"list-accts", "passwd"}},
		{"token with all", []string{"list-accts"}, []string{"all"}, []string{"list-accts"}},
		{"intersection", []string{"list-accts", "passwd"}, []string{"passwd", "kill-acct"}, []string{"passwd"}},
		{"root user, limited token", []string{"all"}, []string{"kill-acct"}, []string{"kill-acct"}},
		{"empty token list", []string{"all"}, []string{}, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := auth.EffectiveACLs(core.NewACLSet(tc.user...), tc.token).Names()
			if !slices.Equal(got, tc.want) {
				t.Errorf("EffectiveACLs = %v, want %v", got, tc.want)
			}
		})
	}
}

// Root principals share one privilege set: narrowing one (a limited
// token) makes a new set and leaves every other root principal whole.
func TestPrincipalForRootShared(t *testing.T) {
	root := store.Account{Username: "root"}
	p := auth.PrincipalFor(root)
	if got := p.ACLs.Names(); !slices.Equal(got, []string{"all"}) {
		t.Fatalf("root's privileges: %v", got)
	}
	narrowed := auth.EffectiveACLs(p.ACLs, []string{"list-accts"})
	if got := narrowed.Names(); !slices.Equal(got, []string{"list-accts"}) {
		t.Fatalf("narrowed: %v", got)
	}
	for _, q := range []core.Principal{p, auth.PrincipalFor(root)} {
		if got := q.ACLs.Names(); !slices.Equal(got, []string{"all"}) || !q.IsRootLike() {
			t.Errorf("root's privileges after a token narrowed one principal's: %v", got)
		}
	}
	// A cPanel account holds none, a reseller its own.
	if p := auth.PrincipalFor(store.Account{Username: "bob"}); p.HasACL("list-accts") || p.IsRootLike() || len(p.ACLs.Names()) != 0 {
		t.Errorf("a cPanel account's privileges: %v", p.ACLs.Names())
	}
	if p := auth.PrincipalFor(store.Account{Username: "res", Reseller: true, ACLs: []string{"list-accts"}}); !p.HasACL("list-accts") || p.HasACL("passwd") {
		t.Errorf("a reseller's privileges: %v", p.ACLs.Names())
	}
}

func TestAddressAllowed(t *testing.T) {
	tests := []struct {
		name string
		list []string
		addr string
		want bool
	}{
		{"empty list", nil, "192.0.2.1", true},
		{"exact v4", []string{"192.0.2.1"}, "192.0.2.1", true},
		{"v4 miss", []string{"192.0.2.1"}, "192.0.2.2", false},
		{"v4 CIDR", []string{"1.1.1.8/29"}, "1.1.1.15", true},
		{"v4 CIDR miss", []string{"1.1.1.8/29"}, "1.1.1.16", false},
		{"mapped remote", []string{"192.0.2.1"}, "::ffff:192.0.2.1", true},
		{"expanded v6", []string{"fc00:abcd:0000:0000:0000:0000:0000:000f"}, "fc00:abcd::f", true},
		{"expanded v6 CIDR", []string{"fc00:abcd:0000:0000:0000:0000:0000:0000/64"}, "fc00:abcd::1234", true},
		{"v4 entry, v6 loopback", []string{"127.0.0.1"}, "::1", false},
		{"garbage entry", []string{"not-an-ip"}, "192.0.2.1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := auth.AddressAllowed(tc.list, netip.MustParseAddr(tc.addr)); got != tc.want {
				t.Errorf("AddressAllowed(%v, %s) = %v, want %v", tc.list, tc.addr, got, tc.want)
			}
		})
	}
}

// countingStore counts TouchToken calls.
type countingStore struct {
	store.Store
	touches chan string
}

func (c countingStore) TouchToken(ctx context.Context, mac string, when time.Time, ip string) error {
	c.touches <- mac + "@" + when.UTC().Format(time.RFC3339) + "@" + ip
	return nil
}

// TestUseRecorder: at most one write a minute per token.
func TestUseRecorder(t *testing.T) {
	cs := countingStore{touches: make(chan string, 100)}
	u := auth.NewUseRecorder(cs)
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	ip := netip.MustParseAddr("192.0.2.7")
	u.Record("a", t0, ip)
	u.Record("a", t0.Add(10*time.Second), ip) // within the minute: not written
	u.Record("b", t0.Add(20*time.Second), ip)
	u.Record("a", t0.Add(59*time.Second), ip)
	u.Flush(context.Background())
	u.Record("a", t0.Add(61*time.Second), ip)
	u.Flush(context.Background())
	close(cs.touches)
	var got []string
	for s := range cs.touches {
		got = append(got, s)
	}
	slices.Sort(got)
	want := []string{"a@2026-06-01T12:00:00Z@192.0.2.7", "a@2026-06-01T12:01:01Z@192.0.2.7", "b@2026-06-01T12:00:20Z@192.0.2.7"}
	if !slices.Equal(got, want) {
		t.Errorf("writes %v, want %v", got, want)
	}
}
