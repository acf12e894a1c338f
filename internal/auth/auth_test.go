package auth_test

import (
	"context"
	"encoding/base64"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/store/sqlstore"
)

// readOnly fails the test on any write: a successful (or failed)
// authentication must not write to the store.
type readOnly struct {
	store.Store
	t *testing.T
}

func (r readOnly) write(name string) {
	r.t.Helper()
	r.t.Errorf("authentication wrote to the store: %s", name)
}
func (r readOnly) CreateAccount(ctx context.Context, a store.Account) error {
	r.write("CreateAccount")
	return nil
}
func (r readOnly) UpdateAccount(ctx context.Context, u string, fn func(store.Account) (store.Account, error)) (store.Account, error) {
	r.write("UpdateAccount")
	return store.Account{}, nil
}
func (r readOnly) DeleteAccount(ctx context.Context, u string) error {
	r.write("DeleteAccount")
	return nil
}
func (r readOnly) CreateMailbox(ctx context.Context, m store.Mailbox) error {
	r.write("CreateMailbox")
	return nil
}
func (r readOnly) UpdateMailbox(ctx context.Context, l, d string, fn func(store.Mailbox) (store.Mailbox, error)) (store.Mailbox, error) {
	r.write("UpdateMailbox")
	return store.Mailbox{}, nil
}
func (r readOnly) DeleteMailbox(ctx context.Context, l, d string) error {
	r.write("DeleteMailbox")
	return nil
}
func (r readOnly) SetAccessHash(ctx context.Context, h store.AccessHash) error {
	r.write("SetAccessHash")
	return nil
}
func (r readOnly) DeleteAccessHash(ctx context.Context, u string) error {
	r.write("DeleteAccessHash")
	return nil
}
func (r readOnly) SetSetting(ctx context.Context, k, v string) error {
	r.write("SetSetting")
	return nil
}
func (r readOnly) CreateToken(ctx context.Context, tok store.Token) error {
	r.write("CreateToken")
	return nil
}
func (r readOnly) UpdateToken(ctx context.Context, s, u, n string, fn func(store.Token) (store.Token, error)) (store.Token, error) {
	r.write("UpdateToken")
	return store.Token{}, nil
}
func (r readOnly) DeleteToken(ctx context.Context, s, u, n string) error {
	r.write("DeleteToken")
	return nil
}
func (r readOnly) TouchToken(ctx context.Context, mac string, when time.Time, ip string) error {
	r.write("TouchToken")
	return nil
}
func (r readOnly) PurgeExpiredTokens(ctx context.Context, before time.Time) (int, error) {
	r.write("PurgeExpiredTokens")
	return 0, nil
}

type fixture struct {
	chain  auth.Chain
	st     store.Store
	hash   string // root's access hash
	rhash  string // the reseller's access hash
	hasher *secret.Hasher
	key    *secret.Key
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "cpauth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	hasher, err := secret.NewHasher(1000)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := secret.NewKey()
	pw := func(p string) string {
		h, err := hasher.Hash(p)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	now := time.Now()
	for _, a := range []store.Account{
		{Username: "root", PasswordHash: pw("rootpw"), Created: now},
		{Username: "res", Domain: "res.test", Owner: "root", PasswordHash: pw("respw"), Reseller: true, ACLs: []string{"list-accts"}, Created: now},
		{Username: "bob", Domain: "bob.test", Owner: "res", PasswordHash: pw("bobpw"), Created: now},
		{Username: "sus", Domain: "sus.test", Owner: "root", PasswordHash: pw("suspw"), Suspended: true, Created: now},
	} {
		if err := st.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []store.Mailbox{
		{Account: "bob", Local: "info", Domain: "bob.test", PasswordHash: pw("infopw"), Created: now},
		{Account: "sus", Local: "info", Domain: "sus.test", PasswordHash: pw("infopw"), Created: now},
	} {
		if err := st.CreateMailbox(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	f := &fixture{st: st, hasher: hasher, key: key}
	for user, dst := range map[string]*string{"root": &f.hash, "res": &f.rhash} {
		h, _ := secret.NewAccessHash()
		*dst = h
		if err := st.SetAccessHash(ctx, store.AccessHash{Username: user, MAC: auth.AccessHashMAC(key, user, h), Created: now}); err != nil {
			t.Fatal(err)
		}
	}
	ro := readOnly{Store: st, t: t}
	// The token method without a use recorder: authenticating writes nothing.
	f.chain = auth.Chain{&auth.Password{Store: ro, Hasher: hasher}, &auth.AccessHash{Store: ro, Key: key}, &auth.Token{Store: ro, Key: key}}
	return f
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestChain(t *testing.T) {
	f := newFixture(t)
	whm, cp, wm := core.ServiceWHM, core.ServiceCPanel, core.ServiceWebmail
	tests := []struct {
		name   string
		svc    core.Service
		header string
		want   auth.Result
		role   core.Role
		method core.Method
	}{
		{"root basic on WHM", whm, basic("root", "rootpw"), auth.OK, core.RoleRoot, core.MethodPassword},
		{"reseller basic on WHM", whm, basic("res", "respw"), auth.OK, core.RoleReseller, core.MethodPassword},
		{"reseller basic on cPanel", cp, basic("res", "respw"), auth.OK, core.RoleReseller, core.MethodPassword},
		{"cpanel basic on cPanel", cp, basic("bob", "bobpw"), auth.OK, core.RoleCPanel, core.MethodPassword},
		{"cpanel basic on Webmail", wm, basic("bob", "bobpw"), auth.OK, core.RoleCPanel, core.MethodPassword},
		{"webmail basic on Webmail", wm, basic("info@bob.test", "infopw"), auth.OK, core.RoleWebmail, core.MethodPassword},
		{"webmail address case-insensitive domain", wm, basic("info@BOB.test", "infopw"), auth.OK, core.RoleWebmail, core.MethodPassword},
		{"root access hash on WHM", whm, "WHM root:" + f.hash, auth.OK, core.RoleRoot, core.MethodAccessHash},
		{"lowercase scheme", whm, "whm root:" + f.hash, auth.OK, core.RoleRoot, core.MethodAccessHash},
		{"reseller access hash", whm, "WHM res:" + f.rhash, auth.OK, core.RoleReseller, core.MethodAccessHash},

		{"no credentials", whm, "", auth.NotMine, 0, ""},
		{"cpanel user on WHM", whm, basic("bob", "bobpw"), auth.Failed, 0, core.MethodPassword},
		{"webmail user on cPanel", cp, basic("info@bob.test", "infopw"), auth.Failed, 0, core.MethodPassword},
		{"webmail user on WHM", whm, basic("info@bob.test", "infopw"), auth.Failed, 0, core.MethodPassword},
		{"root on cPanel", cp, basic("root", "rootpw"), auth.Failed, 0, core.MethodPassword},
		{"root on Webmail", wm, basic("root", "rootpw"), auth.Failed, 0, core.MethodPassword},
		{"wrong password", whm, basic("root", "nope"), auth.Failed, 0, core.MethodPassword},
		{"unknown user", whm, basic("ghost", "x"), auth.Failed, 0, core.MethodPassword},
		{"suspended account", cp, basic("sus", "suspw"), auth.Failed, 0, core.MethodPassword},
		{"mailbox of suspended account", wm, basic("info@sus.test", "infopw"), auth.Failed, 0, core.MethodPassword},
		{"unknown mailbox", wm, basic("nobody@bob.test", "infopw"), auth.Failed, 0, core.MethodPassword},
		// A WHM secret that is not the user's access hash is the token
		// method's to decide (it may be an access hash imported as a token).
		{"root's hash for another user", whm, "WHM res:" + f.hash, auth.Failed, 0, core.MethodToken},
		{"wrong hash", whm, "WHM root:" + f.rhash, auth.Failed, 0, core.MethodToken},
		{"access hash on cPanel", cp, "WHM root:" + f.hash, auth.Failed, 0, core.MethodAccessHash},
		{"unknown user's hash", whm, "WHM ghost:" + f.hash, auth.Failed, 0, core.MethodToken},
		{"unknown 32-char whm token", whm, "whm root:ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", auth.Failed, 0, core.MethodToken},
		{"unknown cpanel token", cp, "cpanel bob:ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", auth.Failed, 0, core.MethodToken},
		{"bad base64", whm, "Basic ***", auth.Failed, 0, ""},
		{"control byte", whm, basic("root", "rootpw\x00"), auth.Failed, 0, ""},
		{"CR/LF injection", whm, basic("root", "x\r\nhasroot=1"), auth.Failed, 0, ""},
		{"bearer", whm, "Bearer abc", auth.Failed, 0, ""},
		{"webmail scheme (D7)", wm, "webmail info@bob.test:ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", auth.Failed, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := auth.NewRequest(tc.svc, true, netip.MustParseAddr("127.0.0.1"), tc.header)
			out := f.chain.Authenticate(context.Background(), r)
			if out.Result != tc.want {
				t.Fatalf("result %v (reason %q), want %v", out.Result, out.Reason, tc.want)
			}
			if out.Method != tc.method {
				t.Errorf("method %q, want %q", out.Method, tc.method)
			}
			if tc.want == auth.OK {
				if out.Principal.Role != tc.role || out.Principal.Service != tc.svc {
					t.Errorf("principal %+v, want role %v on %v", out.Principal, tc.role, tc.svc)
				}
				if tc.role == core.RoleRoot && !out.Principal.HasACL("anything") {
					t.Error("root does not hold every ACL")
				}
				if tc.role == core.RoleReseller && (out.Principal.HasACL("create-acct") || !out.Principal.HasACL("list-accts")) {
					t.Errorf("reseller ACLs %v", out.Principal.ACLs.Names())
				}
			} else if tc.want == auth.Failed && out.Reason == "" {
				t.Error("a failure without a reason for the log")
			}
		})
	}
}

func TestAccessHashSetting(t *testing.T) {
	f := newFixture(t)
	if err := f.st.SetSetting(context.Background(), "allow_deprecated_accesshash", "0"); err != nil {
		t.Fatal(err)
	}
	out := f.chain.Authenticate(context.Background(), auth.NewRequest(core.ServiceWHM, true, netip.Addr{}, "WHM root:"+f.hash))
	if out.Result != auth.Failed {
		t.Fatalf("access hash with allow_deprecated_accesshash=0: %v", out.Result)
	}
}

// A reseller that lost its privileges, or an account that was suspended, no
// longer authenticates by access hash.
func TestAccessHashFollowsAccount(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.st.UpdateAccount(ctx, "res", func(a store.Account) (store.Account, error) {
		a.Suspended = true
		return a, nil
	}); err != nil {
		t.Fatal(err)
	}
	out := f.chain.Authenticate(ctx, auth.NewRequest(core.ServiceWHM, true, netip.Addr{}, "WHM res:"+f.rhash))
	if out.Result != auth.Failed {
		t.Fatalf("suspended reseller's access hash: %v", out.Result)
	}
	if _, err := f.st.UpdateAccount(ctx, "res", func(a store.Account) (store.Account, error) {
		a.Suspended, a.Reseller, a.ACLs = false, false, nil
		return a, nil
	}); err != nil {
		t.Fatal(err)
	}
	out = f.chain.Authenticate(ctx, auth.NewRequest(core.ServiceWHM, true, netip.Addr{}, "WHM res:"+f.rhash))
	if out.Result != auth.Failed {
		t.Fatalf("former reseller's access hash: %v", out.Result)
	}
}

func TestStoreFailure(t *testing.T) {
	tests := []struct {
		name string
		out  auth.Outcome
		want bool
	}{
		{"store error", auth.Outcome{Result: auth.Failed, Reason: "store error: connection refused"}, true},
		{"wrong password", auth.Outcome{Result: auth.Failed, Reason: "user password incorrect"}, false},
		{"success", auth.Outcome{Result: auth.OK, Reason: "store error"}, false},
	}
	for _, tc := range tests {
		if got := auth.StoreFailure(tc.out); got != tc.want {
			t.Errorf("%s: StoreFailure = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestPresentedMethod(t *testing.T) {
	long := strings.Repeat("0", secret.AccessHashLen)
	tests := []struct {
		name          string
		authorization string
		cookie        bool
		want          core.Method
	}{
		{"Basic", "Basic " + base64.StdEncoding.EncodeToString([]byte("root:pw")), false, core.MethodPassword},
		{"WHM token", "whm root:" + strings.Repeat("A", 32), false, core.MethodToken},
		{"cPanel token", "cpanel bob:" + strings.Repeat("A", 32), false, core.MethodToken},
		{"access hash", "WHM root:" + long, false, core.MethodAccessHash},
		{"session cookie alone", "", true, core.MethodSession},
		{"a header wins over a cookie", "whm root:" + strings.Repeat("A", 32), true, core.MethodToken},
		{"unparseable header", "Bearer x", false, ""},
		{"nothing", "", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := auth.NewRequest(core.ServiceWHM, true, netip.MustParseAddr("192.0.2.1"), tc.authorization)
			r.HasSessionCookie = tc.cookie
			if got := r.PresentedMethod(); got != tc.want {
				t.Errorf("PresentedMethod() = %q, want %q", got, tc.want)
			}
		})
	}
}
