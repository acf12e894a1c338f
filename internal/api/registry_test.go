package api_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

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
			add:       []*api.Func{{Flavour: api.WHM1, Name: "version", Access: api.AnyWHM, Handler: okHandler}, {Flavour: api.WHM1, Name: "version", Access: api.RootOnly, Handler: okHandler}},
			wantInMsg: "version registered twice",
		},
		{
			name:      "duplicate across calls",
			existing:  []*api.Func{{Flavour: api.UAPI, Module: "Tokens", Name: "list", Access: api.Account, Handler: okHandler}},
			add:       []*api.Func{{Flavour: api.UAPI, Module: "Tokens", Name: "list", Access: api.Account, Handler: okHandler}},
			wantInMsg: "Tokens::list registered twice",
		},
		{
			name:      "NeedACL without ACL",
			add:       []*api.Func{{Flavour: api.WHM1, Name: "listaccts", Access: api.NeedACL, Handler: okHandler}},
			wantInMsg: "listaccts needs an ACL name",
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
		{Flavour: api.WHM1, Name: "list", Access: api.AnyWHM, Handler: okHandler},
		{Flavour: api.UAPI, Module: "Tokens", Name: "list", Access: api.Account, Handler: okHandler},
		{Flavour: api.UAPI, Module: "Email", Name: "list", Access: api.Account, Handler: okHandler},
		{Flavour: api.API2, Module: "Email", Name: "list", Access: api.Account, Handler: okHandler},
		{Flavour: api.WHM1, Name: "listaccts", Access: api.NeedACL, ACL: "list-accts", Handler: okHandler},
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
