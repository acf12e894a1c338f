package api_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/core"
)

func okHandler(context.Context, *api.Call) (*api.Result, error) {
	return &api.Result{Data: "ran"}, nil
}

// mustPanic runs f and returns the panic message, failing if f returns.
func mustPanic(t *testing.T, f func()) (msg string) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("no panic")
		}
		msg = fmt.Sprint(r)
	}()
	f()
	return ""
}

func TestRegisterPanics(t *testing.T) {
	tests := []struct {
		name      string
		existing  []*api.Func
		add       []*api.Func
		wantInMsg string
	}{
		{
			name:      "duplicate in one call",
			add:       []*api.Func{{Flavour: api.WHM1, Name: "version", Access: api.AnyWHM, Mints: api.MintNothing, Handler: okHandler}, {Flavour: api.WHM1, Name: "version", Access: api.RootOnly, Mints: api.MintNothing, Handler: okHandler}},
			wantInMsg: "version registered twice",
		},
		{
			name:      "duplicate across calls",
			existing:  []*api.Func{{Flavour: api.UAPI, Module: "Tokens", Name: "list", Access: api.Account, Mints: api.MintNothing, Handler: okHandler}},
			add:       []*api.Func{{Flavour: api.UAPI, Module: "Tokens", Name: "list", Access: api.Account, Mints: api.MintNothing, Handler: okHandler}},
			wantInMsg: "Tokens::list registered twice",
		},
		{
			name:      "NeedACL without ACL",
			add:       []*api.Func{{Flavour: api.WHM1, Name: "listaccts", Access: api.NeedACL, Mints: api.MintNothing, Handler: okHandler}},
			wantInMsg: "listaccts: needs an ACL name",
		},
		{
			name:      "no Access",
			add:       []*api.Func{{Flavour: api.WHM1, Name: "version", Mints: api.MintNothing, Handler: okHandler}},
			wantInMsg: "version: declares no Access",
		},
		{
			name:      "no Mints",
			add:       []*api.Func{{Flavour: api.WHM1, Name: "version", Access: api.AnyWHM, Handler: okHandler}},
			wantInMsg: "version: declares no Mints",
		},
		{
			name:      "a Mints kind past the last",
			add:       []*api.Func{{Flavour: api.WHM1, Name: "version", Access: api.AnyWHM, Mints: api.MintPasskey + 1, Handler: okHandler}},
			wantInMsg: "version: declares no Mints",
		},
		{
			name:      "a passkey function declared read-only",
			add:       []*api.Func{{Flavour: api.UAPI, Module: "Passkeys", Name: "remove", Access: api.Account, ReadOnly: true, Mints: api.MintPasskey, Handler: okHandler}},
			wantInMsg: "not read-only",
		},
		{
			name:      "no handler",
			add:       []*api.Func{{Flavour: api.WHM1, Name: "version", Access: api.AnyWHM, Mints: api.MintNothing}},
			wantInMsg: "version: no handler",
		},
		{
			name:      "an ACL it does not need",
			add:       []*api.Func{{Flavour: api.WHM1, Name: "version", Access: api.AnyWHM, ACL: "list-accts", Mints: api.MintNothing, Handler: okHandler}},
			wantInMsg: "names an ACL",
		},
		{
			name:      "cPanel access on a WHM function",
			add:       []*api.Func{{Flavour: api.WHM1, Name: "x", Access: api.Account, Mints: api.MintNothing, Handler: okHandler}},
			wantInMsg: "does not fit its API",
		},
		{
			name:      "WHM access on a UAPI function",
			add:       []*api.Func{{Flavour: api.UAPI, Module: "M", Name: "x", Access: api.RootOnly, Mints: api.MintNothing, Handler: okHandler}},
			wantInMsg: "does not fit its API",
		},
		{
			name:      "InAccount on a UAPI function",
			add:       []*api.Func{{Flavour: api.UAPI, Module: "M", Name: "x", Access: api.Account, InAccount: true, Mints: api.MintNothing, Handler: okHandler}},
			wantInMsg: "InAccount is for WHM functions",
		},
		{
			name:      "webmail-safe WHM function",
			add:       []*api.Func{{Flavour: api.WHM1, Name: "x", Access: api.AnyWHM, WebmailSafe: true, Mints: api.MintNothing, Handler: okHandler}},
			wantInMsg: "never run inside Webmail",
		},
		{
			name:      "read-only function that mints",
			add:       []*api.Func{{Flavour: api.WHM1, Name: "accesshash", Access: api.AnyWHM, ReadOnly: true, Mints: api.MintAccessHash, Handler: okHandler}},
			wantInMsg: "not read-only",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := api.NewRegistry()
			r.Register(tc.existing...)
			msg := mustPanic(t, func() { r.Register(tc.add...) })
			if !strings.Contains(msg, tc.wantInMsg) {
				t.Fatalf("panic %q does not mention %q", msg, tc.wantInMsg)
			}
		})
	}
}

func TestRegisterDistinctKeys(t *testing.T) {
	// Same name in different flavours or modules is not a duplicate.
	r := api.NewRegistry()
	fs := []*api.Func{
		{Flavour: api.WHM1, Name: "list", Access: api.AnyWHM, Mints: api.MintNothing, Handler: okHandler},
		{Flavour: api.UAPI, Module: "Tokens", Name: "list", Access: api.Account, Mints: api.MintNothing, Handler: okHandler},
		{Flavour: api.UAPI, Module: "Email", Name: "list", Access: api.Account, Mints: api.MintNothing, Handler: okHandler},
		{Flavour: api.API2, Module: "Email", Name: "list", Access: api.Account, Mints: api.MintNothing, Handler: okHandler},
		{Flavour: api.WHM1, Name: "listaccts", Access: api.NeedACL, ACL: "list-accts", Mints: api.MintNothing, Handler: okHandler},
	}
	r.Register(fs...)

	for _, f := range fs {
		got, ok := r.Lookup(f.Flavour, f.Module, f.Name)
		if !ok || got != f {
			t.Errorf("Lookup(%v, %q, %q) = %v, %v", f.Flavour, f.Module, f.Name, got, ok)
		}
	}
	if _, ok := r.Lookup(api.WHM1, "", "nosuch"); ok {
		t.Error("Lookup found an unregistered function")
	}
	if _, ok := r.Lookup(api.API2, "Tokens", "list"); ok {
		t.Error("Lookup crossed flavours")
	}
	if !r.HasModule(api.UAPI, "Tokens") || r.HasModule(api.API2, "Tokens") || r.HasModule(api.UAPI, "Nosuch") {
		t.Error("HasModule is wrong")
	}

	var names []string
	for _, f := range r.All() {
		names = append(names, f.Flavour.String()+" "+f.FullName())
	}
	want := []string{"whmapi1 list", "whmapi1 listaccts", "uapi Email::list", "uapi Tokens::list", "api2 Email::list"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("All() = %q, want %q", names, want)
	}
}

func principal(role core.Role, acls ...string) core.Principal {
	p := core.Principal{User: "u", Role: role}
	if acls != nil {
		p.ACLs = core.NewACLSet(acls...)
	}
	return p
}

func TestPermitted(t *testing.T) {
	var (
		anyWHM      = &api.Func{Flavour: api.WHM1, Name: "version", Access: api.AnyWHM}
		needACL     = &api.Func{Flavour: api.WHM1, Name: "listaccts", Access: api.NeedACL, ACL: "list-accts"}
		rootOnly    = &api.Func{Flavour: api.WHM1, Name: "set_tweaksetting", Access: api.RootOnly}
		account     = &api.Func{Flavour: api.UAPI, Module: "Tokens", Name: "create_full_access", Access: api.Account}
		webmailSafe = &api.Func{Flavour: api.UAPI, Module: "Email", Name: "get_client_settings", Access: api.Account, WebmailSafe: true}
		unset       = &api.Func{Flavour: api.WHM1, Name: "broken"} // Access zero: nobody
	)
	var (
		root            = principal(core.RoleRoot, core.ACLAll)
		rootNoACLs      = principal(core.RoleRoot)
		rootLimited     = principal(core.RoleRoot, "list-accts") // root API token with limited ACLs
		resellerWith    = principal(core.RoleReseller, "list-accts", "create-acct")
		resellerWithout = principal(core.RoleReseller, "create-acct")
		resellerAll     = principal(core.RoleReseller, core.ACLAll)
		resellerNone    = principal(core.RoleReseller)
		cpanel          = principal(core.RoleCPanel)
		cpanelWithACLs  = principal(core.RoleCPanel, core.ACLAll) // ACLs mean nothing to a cPanel user
		webmail         = principal(core.RoleWebmail)
		webmailWithACLs = principal(core.RoleWebmail, core.ACLAll)
		nobody          = principal(core.RoleNone, core.ACLAll)
	)
	tests := []struct {
		name string
		f    *api.Func
		p    core.Principal
		ok   bool
	}{
		{"AnyWHM root", anyWHM, root, true},
		{"AnyWHM root without ACLs", anyWHM, rootNoACLs, true},
		{"AnyWHM reseller with ACL", anyWHM, resellerWith, true},
		{"AnyWHM reseller without ACL", anyWHM, resellerWithout, true},
		{"AnyWHM reseller with no ACLs at all", anyWHM, resellerNone, true},
		{"AnyWHM reseller all", anyWHM, resellerAll, true},
		{"AnyWHM cpanel", anyWHM, cpanel, false},
		{"AnyWHM cpanel holding all", anyWHM, cpanelWithACLs, false},
		{"AnyWHM webmail", anyWHM, webmail, false},
		{"AnyWHM webmail holding all", anyWHM, webmailWithACLs, false},
		{"AnyWHM no role", anyWHM, nobody, false},

		{"NeedACL root", needACL, root, true},
		{"NeedACL root without ACLs", needACL, rootNoACLs, false},
		{"NeedACL root token with the ACL", needACL, rootLimited, true},
		{"NeedACL reseller with ACL", needACL, resellerWith, true},
		{"NeedACL reseller without ACL", needACL, resellerWithout, false},
		{"NeedACL reseller with no ACLs at all", needACL, resellerNone, false},
		{"NeedACL reseller all", needACL, resellerAll, true},
		{"NeedACL cpanel", needACL, cpanel, false},
		{"NeedACL cpanel holding all", needACL, cpanelWithACLs, false},
		{"NeedACL webmail", needACL, webmail, false},
		{"NeedACL webmail holding all", needACL, webmailWithACLs, false},
		{"NeedACL no role", needACL, nobody, false},

		{"RootOnly root", rootOnly, root, true},
		{"RootOnly root without ACLs", rootOnly, rootNoACLs, false},
		{"RootOnly root token with limited ACLs", rootOnly, rootLimited, false},
		{"RootOnly reseller with ACL", rootOnly, resellerWith, false},
		{"RootOnly reseller without ACL", rootOnly, resellerWithout, false},
		{"RootOnly reseller all", rootOnly, resellerAll, true},
		{"RootOnly cpanel", rootOnly, cpanel, false},
		{"RootOnly cpanel holding all", rootOnly, cpanelWithACLs, false},
		{"RootOnly webmail", rootOnly, webmail, false},
		{"RootOnly webmail holding all", rootOnly, webmailWithACLs, false},
		{"RootOnly no role", rootOnly, nobody, false},

		{"Account root", account, root, false},
		{"Account reseller with ACL", account, resellerWith, true},
		{"Account reseller without ACL", account, resellerWithout, true},
		{"Account reseller all", account, resellerAll, true},
		{"Account cpanel", account, cpanel, true},
		{"Account webmail, not webmail-safe", account, webmail, false},
		{"Account webmail holding all, not webmail-safe", account, webmailWithACLs, false},
		{"Account no role", account, nobody, false},

		{"Account webmail-safe root", webmailSafe, root, false},
		{"Account webmail-safe reseller", webmailSafe, resellerWith, true},
		{"Account webmail-safe cpanel", webmailSafe, cpanel, true},
		{"Account webmail-safe webmail", webmailSafe, webmail, true},
		{"Account webmail-safe no role", webmailSafe, nobody, false},

		{"unset access root", unset, root, false},
		{"unset access cpanel", unset, cpanel, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.f.Permitted(tc.p)
			if tc.ok {
				if err != nil {
					t.Fatalf("Permitted(%s %v) = %v, want nil", tc.p.Role, tc.p.ACLs.Names(), err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Permitted(%s %v) = nil, want a permission error", tc.p.Role, tc.p.ACLs.Names())
			}
			if k := core.KindOf(err); k != core.KindPermission {
				t.Fatalf("error kind = %v, want permission", k)
			}
		})
	}
}

// token is a WHM API token principal of role with the given effective
// ACLs and bounds.
func token(role core.Role, b core.Bounds, acls ...string) core.Principal {
	p := principal(role, acls...)
	p.Method, p.TokenName, p.Bounds = core.MethodToken, "t", b
	return p
}

// TestPermittedBounds: what a call through an API token may reach (D24,
// D25), whatever its role and ACLs allow.
func TestPermittedBounds(t *testing.T) {
	fn := func(m api.Mint, inAccount bool) *api.Func {
		return &api.Func{Flavour: api.WHM1, Name: "f", Access: api.AnyWHM, InAccount: inAccount, Mints: m}
	}
	uapiFn := func(m api.Mint) *api.Func {
		return &api.Func{Flavour: api.UAPI, Module: "M", Name: "f", Access: api.Account, Mints: m}
	}
	var (
		soon       = core.Bounds{Expires: time.Unix(2e9, 0)}
		listed     = core.Bounds{Addresses: []string{"192.0.2.1"}}
		otp        = core.Bounds{RequireOTP: true}
		narrowed   = core.Bounds{Narrowed: true}
		rootPass   = principal(core.RoleRoot, core.ACLAll)
		rootAll    = token(core.RoleRoot, core.Bounds{}, core.ACLAll)
		rootSoon   = token(core.RoleRoot, soon, core.ACLAll)
		rootListed = token(core.RoleRoot, listed, core.ACLAll)
		rootOTP    = token(core.RoleRoot, otp, core.ACLAll)
		rootNarrow = token(core.RoleRoot, narrowed, "list-accts", "passwd", "create-user-session")
		resFull    = token(core.RoleReseller, core.Bounds{}, "list-accts", "passwd")
		resNarrow  = token(core.RoleReseller, narrowed, "list-accts")
		cpToken    = token(core.RoleCPanel, soon)
	)
	tests := []struct {
		name string
		f    *api.Func
		p    core.Principal
		ok   bool
	}{
		{"access hash: root by password", fn(api.MintAccessHash, false), rootPass, true},
		{"access hash: root token without limits", fn(api.MintAccessHash, false), rootAll, true},
		{"access hash: root token that expires", fn(api.MintAccessHash, false), rootSoon, false},
		{"access hash: root token with an address list", fn(api.MintAccessHash, false), rootListed, false},
		{"access hash: root token that needs OTP", fn(api.MintAccessHash, false), rootOTP, false},
		{"access hash: narrowed root token", fn(api.MintAccessHash, false), rootNarrow, false},
		{"access hash: full reseller token without all", fn(api.MintAccessHash, false), resFull, false},

		{"two-factor: root token that expires", fn(api.MintTwoFactor, false), rootSoon, true},
		{"two-factor: narrowed root token", fn(api.MintTwoFactor, false), rootNarrow, false},
		{"two-factor: full reseller token", fn(api.MintTwoFactor, false), resFull, true},
		{"two-factor: narrowed reseller token", fn(api.MintTwoFactor, false), resNarrow, false},
		{"password: narrowed root token", fn(api.MintPassword, false), rootNarrow, false},
		{"password: root token with an address list", fn(api.MintPassword, false), rootListed, true},
		{"session: narrowed root token", fn(api.MintSession, false), rootNarrow, false},
		{"session: root token that expires", fn(api.MintSession, false), rootSoon, true},
		{"token: narrowed root token (bounded by the function)", fn(api.MintToken, false), rootNarrow, true},
		{"new account: narrowed root token", fn(api.MintAccount, false), rootNarrow, true},
		{"passkey: narrowed root token", fn(api.MintPasskey, false), rootNarrow, false},
		{"passkey: narrowed reseller token", fn(api.MintPasskey, false), resNarrow, false},
		{"passkey: root token with an address list", fn(api.MintPasskey, false), rootListed, true},
		{"passkey: root token that needs OTP", fn(api.MintPasskey, false), rootOTP, true},
		{"passkey: full reseller token", fn(api.MintPasskey, false), resFull, true},
		{"passkey: root by password", fn(api.MintPasskey, false), rootPass, true},
		{"nothing: narrowed root token", fn(api.MintNothing, false), rootNarrow, true},

		{"inside an account: root by password", fn(api.MintNothing, true), rootPass, true},
		{"inside an account: root token with limits but all", fn(api.MintNothing, true), rootSoon, true},
		{"inside an account: narrowed root token", fn(api.MintNothing, true), rootNarrow, false},
		{"inside an account: full reseller token", fn(api.MintNothing, true), resFull, true},
		{"inside an account: narrowed reseller token", fn(api.MintNothing, true), resNarrow, false},

		{"cPanel token that expires: password", uapiFn(api.MintPassword), cpToken, true},
		{"cPanel token that expires: session", uapiFn(api.MintSession), cpToken, true},
		{"cPanel token that expires: passkey", uapiFn(api.MintPasskey), cpToken, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.f.Permitted(tc.p)
			if tc.ok != (err == nil) {
				t.Fatalf("Permitted = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && core.KindOf(err) != core.KindPermission {
				t.Fatalf("error kind = %v, want permission", core.KindOf(err))
			}
			if err != nil && tc.p.Method == core.MethodToken && !strings.Contains(err.Error(), "“t”") {
				t.Fatalf("refusal %q does not name the token", err)
			}
		})
	}
}

// TestPermittedWebmail: D4's words, per API, for a function that is not
// webmail-safe, for a webmail user and for a cPanel account on a Webmail
// port.
func TestPermittedWebmail(t *testing.T) {
	u := &api.Func{Flavour: api.UAPI, Module: "Email", Name: "add_pop", Access: api.Account, Mints: api.MintAccount}
	a2 := &api.Func{Flavour: api.API2, Module: "Email", Name: "listpops", Access: api.Account, ReadOnly: true, Mints: api.MintNothing}
	cpOnWebmail := principal(core.RoleCPanel)
	cpOnWebmail.Service = core.ServiceWebmail
	for _, tc := range []struct {
		name string
		f    *api.Func
		p    core.Principal
		want string
	}{
		{"UAPI, cPanel account on Webmail", u, cpOnWebmail, "Execution of Email::add_pop (api version:3) is not permitted inside of webmail"},
		{"API 2, cPanel account on Webmail", a2, cpOnWebmail, "Execution of Email::listpops (api version:2) is not permitted inside of webmail"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.f.Permitted(tc.p)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Permitted = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCall(t *testing.T) {
	ran := false
	boom := errors.New("boom")
	tests := []struct {
		name     string
		f        *api.Func
		p        core.Principal
		wantRun  bool
		wantErr  error
		wantKind core.Kind
		wantData any
	}{
		{
			name: "permitted runs handler",
			f: &api.Func{Name: "version", Access: api.AnyWHM, Handler: func(context.Context, *api.Call) (*api.Result, error) {
				ran = true
				return &api.Result{Data: "ran"}, nil
			}},
			p: principal(core.RoleRoot, core.ACLAll), wantRun: true, wantData: "ran",
		},
		{
			name: "denied never runs handler",
			f: &api.Func{Name: "version", Access: api.RootOnly, Handler: func(context.Context, *api.Call) (*api.Result, error) {
				ran = true
				return nil, nil
			}},
			p: principal(core.RoleCPanel), wantKind: core.KindPermission,
		},
		{
			name: "nil result becomes empty result",
			f: &api.Func{Name: "x", Access: api.Account, Handler: func(context.Context, *api.Call) (*api.Result, error) {
				ran = true
				return nil, nil
			}},
			p: principal(core.RoleCPanel), wantRun: true,
		},
		{
			name: "handler error passed through",
			f: &api.Func{Name: "x", Access: api.Account, Handler: func(context.Context, *api.Call) (*api.Result, error) {
				ran = true
				return nil, boom
			}},
			p: principal(core.RoleCPanel), wantRun: true, wantErr: boom,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ran = false
			res, err := tc.f.Call(context.Background(), &api.Call{Principal: tc.p})
			if ran != tc.wantRun {
				t.Fatalf("handler ran = %v, want %v", ran, tc.wantRun)
			}
			switch {
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			case tc.wantKind != 0:
				if err == nil || core.KindOf(err) != tc.wantKind {
					t.Fatalf("err = %v, want kind %v", err, tc.wantKind)
				}
				if res != nil {
					t.Fatalf("result %+v returned with a denial", res)
				}
				return
			case err != nil:
				t.Fatalf("err = %v", err)
			}
			if res == nil {
				t.Fatal("nil result without error")
			}
			if res.Data != tc.wantData {
				t.Fatalf("Data = %v, want %v", res.Data, tc.wantData)
			}
		})
	}
}

func TestFuncFullName(t *testing.T) {
	tests := []struct {
		name string
		f    api.Func
		want string
	}{
		{"whm", api.Func{Name: "listaccts"}, "listaccts"},
		{"uapi", api.Func{Module: "Tokens", Name: "list"}, "Tokens::list"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.FullName(); got != tc.want {
				t.Fatalf("FullName = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFlavourString(t *testing.T) {
	for f, want := range map[api.Flavour]string{api.WHM1: "whmapi1", api.UAPI: "uapi", api.API2: "api2", 0: "unknown", 99: "unknown"} {
		if got := f.String(); got != want {
			t.Errorf("Flavour(%d).String() = %q, want %q", int(f), got, want)
		}
	}
}
