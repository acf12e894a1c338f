package whmapi0_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/api/whmapi0"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/functions"
)

// api0Functions are the functions of PROTOCOL.md section 16's table that
// cpauth has: written out here, so that adding one to (or removing one
// from) API 0 is a change of this test too.
var api0Functions = []string{
	"accountsummary", "applist", "createacct", "gethostname", "listaccts", "listresellers", "myprivs", "passwd",
	"removeacct", "setacls", "setupreseller", "suspendacct", "unsetupreseller", "unsuspendacct", "version",
}

// Every WHM function cpauth registers is in the table, served by API 0 or
// deliberately not; the table names nothing that is not registered.
func TestTableCoversRegistry(t *testing.T) {
	r := (&functions.Env{}).Registry()
	var whm []string
	for _, f := range r.All() {
		if f.Flavour != api.WHM1 {
			continue
		}
		whm = append(whm, f.Name)
		if !whmapi0.Classified(f.Name) {
			t.Errorf("WHM function %s is not in whmapi0's table: add it, with its API 0 form or nil (API 1 only)", f.Name)
		}
	}
	for _, name := range whmapi0.Functions() {
		if !slices.Contains(whm, name) {
			t.Errorf("whmapi0 serves %s, which is not a registered WHM function", name)
		}
	}
	if got := whmapi0.Functions(); !slices.Equal(got, api0Functions) {
		t.Errorf("API 0 functions:\n got %q\nwant %q", got, api0Functions)
	}
}

var (
	root     = core.Principal{User: "root", Role: core.RoleRoot, Method: core.MethodPassword, Service: core.ServiceWHM, ACLs: core.NewACLSet(core.ACLAll)}
	reseller = core.Principal{User: "res", Role: core.RoleReseller, Account: "res", Method: core.MethodPassword, Service: core.ServiceWHM, ACLs: core.NewACLSet("list-accts")}
	narrow   = core.Principal{User: "root", Role: core.RoleRoot, Method: core.MethodToken, Service: core.ServiceWHM, TokenName: "ci",
		ACLs: core.NewACLSet("passwd", "list-accts"), Bounds: core.Bounds{Narrowed: true}}
	cpanel = core.Principal{User: "bob", Role: core.RoleCPanel, Account: "bob", Method: core.MethodPassword, Service: core.ServiceWHM}
)

// fakeRegistry is cpauth's registry with every WHM function's declaration
// as it is, and its handler replaced: it records the arguments it was
// called with and answers what the case says.
func fakeRegistry(res *api.Result, err error, called *[]api.Args) *api.Registry {
	r := api.NewRegistry()
	for _, f := range (&functions.Env{}).Registry().All() {
		if f.Flavour != api.WHM1 {
			continue
		}
		fake := *f
		fake.Handler = func(ctx context.Context, c *api.Call) (*api.Result, error) {
			*called = append(*called, c.Args)
			return res, err
		}
		r.Register(&fake)
	}
	return r
}

func query(t testing.TB, q string) api.Args {
	t.Helper()
	var a api.Args
	if err := api.ParseQuery(&a, q); err != nil {
		t.Fatal(err)
	}
	return a
}

var (
	boom = core.Errorf(core.KindInvalid, "The “user” parameter is required.")
	// listacctsData is API 1 listaccts' data: a []map[string]any.
	listacctsData = map[string]any{"acct": []map[string]any{{
		"domain": "bob.test", "email": "admin@bob.test", "is_locked": 0, "maxpop": "unlimited", "owner": "root", "plan": "default", "reseller": 0,
		"startdate": "26 Dec 01 12:00", "suspended": 0, "suspendreason": "not suspended", "suspendtime": nil, "theme": "jupiter", "unix_startdate": 1796040000, "user": "bob",
	}}}
	recordJSON = `{"disklimit":"unlimited","diskused":"0M","domain":"bob.test","email":"admin@bob.test","ip":"","is_locked":0,"maxpop":"unlimited","owner":"root","plan":"default","reseller":0,` +
		`"shell":"/usr/local/cpanel/bin/noshell","startdate":"26 Dec 01 12:00","suspended":0,"suspendreason":"not suspended","suspendtime":null,"theme":"jupiter","unix_startdate":1796040000,"user":"bob"}`
)

func raw(s string) map[string]any { return map[string]any{"output": map[string]any{"raw": s}} }

func TestRun(t *testing.T) {
	tests := []struct {
		name string
		fn   string
		args string
		who  core.Principal
		res  *api.Result // the API 1 function's answer
		err  error
		want string
		// sent is the query the API 1 function got ("-": not called).
		sent string
	}{
		{name: "version", fn: "version", res: &api.Result{Data: map[string]any{"version": "11.134.0.0"}}, want: `{"version":"11.134.0.0"}`},
		{name: "version refused to a cPanel account", fn: "version", who: cpanel, want: `{"error":"Permission denied"}`, sent: "-"},
		{name: "gethostname", fn: "gethostname", res: &api.Result{Data: map[string]any{"hostname": "host.example.com"}}, want: `{"hostname":"host.example.com"}`},
		{name: "gethostname failing", fn: "gethostname", err: boom, want: `{"error":"The “user” parameter is required."}`},
		{name: "applist keeps API 0's functions", fn: "applist",
			res:  &api.Result{Data: map[string]any{"app": []string{"accesshash", "applist", "createacct", "gethostname", "listaccts", "twofactorauth_get_issuer", "version"}}},
			want: `{"app":["applist","createacct","gethostname","listaccts","version"]}`},
		{name: "applist of none", fn: "applist", res: &api.Result{Data: map[string]any{"app": []string(nil)}}, want: `{"app":[]}`},
		{name: "myprivs", fn: "myprivs", res: &api.Result{Data: map[string]any{"privileges": []any{map[string]int{"all": 0, "list-accts": 1}}}},
			want: `{"privs":{"all":0,"list-accts":1}}`},
		{name: "listresellers", fn: "listresellers", res: &api.Result{Data: map[string]any{"reseller": []string{"res"}}}, want: `{"reseller":["res"]}`},
		{name: "listresellers refused", fn: "listresellers", who: reseller, want: `{"error":"Permission denied"}`, sent: "-"},

		{name: "listaccts", fn: "listaccts", args: "search=bob&searchtype=user", res: &api.Result{Data: listacctsData},
			want: `{"acct":[` + recordJSON + `],"status":1,"statusmsg":"Ok"}`, sent: "search=bob&searchtype=user"},
		{name: "listaccts want keeps user and domain", fn: "listaccts", args: "want=suspended",
			res:  &api.Result{Data: map[string]any{"acct": []map[string]any{{"domain": "bob.test", "suspended": 0, "user": "bob"}}}},
			want: `{"acct":[{"domain":"bob.test","suspended":0,"user":"bob"}],"status":1,"statusmsg":"Ok"}`, sent: "want=suspended,user,domain"},
		{name: "listaccts want of a field API 1 lacks", fn: "listaccts", args: "want=user,shell,diskused",
			res:  &api.Result{Data: map[string]any{"acct": []map[string]any{{"domain": "bob.test", "user": "bob"}}}},
			want: `{"acct":[{"diskused":"0M","domain":"bob.test","shell":"/usr/local/cpanel/bin/noshell","user":"bob"}],"status":1,"statusmsg":"Ok"}`,
			sent: "want=user,shell,diskused,domain"},
		{name: "listaccts keeps API 1's value", fn: "listaccts",
			res:  &api.Result{Data: map[string]any{"acct": []map[string]any{{"domain": "bob.test", "user": "bob", "ip": "192.0.2.1", "shell": "/bin/bash"}}}},
			want: `{"acct":[{"disklimit":"unlimited","diskused":"0M","domain":"bob.test","ip":"192.0.2.1","shell":"/bin/bash","user":"bob"}],"status":1,"statusmsg":"Ok"}`},
		{name: "listaccts of none", fn: "listaccts", res: &api.Result{Data: map[string]any{"acct": []map[string]any{}}}, want: `{"acct":[],"status":1,"statusmsg":"Ok"}`},
		{name: "listaccts failing", fn: "listaccts", args: "search=x&searchtype=color", err: core.Errorf(core.KindInvalid, "bad searchtype"),
			want: `{"acct":[],"status":0,"statusmsg":"bad searchtype"}`, sent: "search=x&searchtype=color"},
		{name: "accountsummary", fn: "accountsummary", args: "user=bob", res: &api.Result{Data: map[string]any{"acct": []any{listacctsData["acct"].([]map[string]any)[0]}}},
			want: `{"acct":[` + recordJSON + `],"status":1,"statusmsg":"Ok"}`, sent: "user=bob"},
		{name: "accountsummary has no want", fn: "accountsummary", args: "user=bob&want=user", res: &api.Result{Data: map[string]any{"acct": []any{listacctsData["acct"].([]map[string]any)[0]}}},
			want: `{"acct":[` + recordJSON + `],"status":1,"statusmsg":"Ok"}`, sent: "user=bob&want=user"},
		{name: "accountsummary failing", fn: "accountsummary", args: "user=nosuch", err: core.Errorf(core.KindNotFound, "Account does not exist."),
			want: `{"acct":[],"status":0,"statusmsg":"Account does not exist."}`, sent: "user=nosuch"},
		{name: "accountsummary refused", fn: "accountsummary", args: "user=bob", who: reseller,
			want: `{"acct":[],"status":0,"statusmsg":"Permission denied"}`, sent: "-"},

		{name: "createacct", fn: "createacct", args: "username=dave&domain=dave.test&password=x",
			res:  &api.Result{Reason: "Account Creation Ok", Data: map[string]any{"package": "default"}, Metadata: raw("Account Creation Ok\n")},
			want: `{"result":[{"options":{"ip":"","nameserver":"","package":"default"},"rawout":"Account Creation Ok\n","status":1,"statusmsg":"Account Creation Ok"}]}`,
			sent: "username=dave&domain=dave.test&password=x"},
		{name: "createacct failing", fn: "createacct", err: boom,
			want: `{"result":[{"options":null,"rawout":null,"status":0,"statusmsg":"The “user” parameter is required."}]}`},
		{name: "removeacct by user", fn: "removeacct", args: "user=dave&keepdns=1",
			res:  &api.Result{Reason: "dave account removed", Metadata: raw("dave account removed\n")},
			want: `{"result":[{"rawout":"dave account removed\n","status":1,"statusmsg":"dave account removed"}]}`, sent: "user=dave&keepdns=1"},
		{name: "removeacct by username", fn: "removeacct", args: "username=dave",
			res:  &api.Result{Reason: "dave account removed", Metadata: raw("dave account removed\n")},
			want: `{"result":[{"rawout":"dave account removed\n","status":1,"statusmsg":"dave account removed"}]}`, sent: "username=dave"},
		{name: "removeacct failing", fn: "removeacct", args: "user=dave", err: boom,
			want: `{"result":[{"rawout":null,"status":0,"statusmsg":"The “user” parameter is required."}]}`, sent: "user=dave"},
		{name: "suspendacct", fn: "suspendacct", args: "user=dave&reason=Unpaid", res: &api.Result{Metadata: raw("dave's account has been suspended\n")},
			want: `{"result":[{"status":1,"statusmsg":"dave's account has been suspended"}]}`, sent: "user=dave&reason=Unpaid"},
		{name: "unsuspendacct", fn: "unsuspendacct", args: "user=dave", res: &api.Result{Metadata: raw("dave's account has been unsuspended\n")},
			want: `{"result":[{"status":1,"statusmsg":"dave's account has been unsuspended"}]}`, sent: "user=dave"},
		{name: "suspendacct failing", fn: "suspendacct", err: boom, want: `{"result":[{"status":0,"statusmsg":"The “user” parameter is required."}]}`},

		{name: "passwd takes pass", fn: "passwd", args: "user=dave&pass=New-Pass-1",
			res:  &api.Result{Reason: "Password changed for user “dave”.", Data: map[string]any{"app": []string{"system"}}},
			want: `{"passwd":[{"rawout":"","services":[{"app":"system"}],"status":1,"statusmsg":"Password changed for user “dave”."}]}`,
			sent: "user=dave&pass=New-Pass-1&password=New-Pass-1"},
		{name: "passwd takes password too", fn: "passwd", args: "user=dave&password=New-Pass-1",
			res:  &api.Result{Reason: "Password changed for user “dave”.", Data: map[string]any{"app": []string{"system"}}},
			want: `{"passwd":[{"rawout":"","services":[{"app":"system"}],"status":1,"statusmsg":"Password changed for user “dave”."}]}`,
			sent: "user=dave&password=New-Pass-1"},
		{name: "passwd without pass", fn: "passwd", args: "user=dave",
			want: `{"passwd":[{"rawout":null,"services":null,"status":0,"statusmsg":"The “pass” parameter is required."}]}`, sent: "-"},
		{name: "passwd with pass and password", fn: "passwd", args: "user=dave&pass=a&password=b",
			want: `{"passwd":[{"rawout":null,"services":null,"status":0,"statusmsg":"Specify either “pass” or “password”, not both."}]}`, sent: "-"},
		{name: "passwd failing", fn: "passwd", args: "user=nosuch&pass=New-Pass-1", err: core.Errorf(core.KindNotFound, "The user “nosuch” does not exist."),
			want: `{"passwd":[{"rawout":null,"services":null,"status":0,"statusmsg":"The user “nosuch” does not exist."}]}`,
			sent: "user=nosuch&pass=New-Pass-1&password=New-Pass-1"},
		// The authorization comes first: a caller it refuses learns
		// nothing of the arguments.
		{name: "passwd refused before its arguments are read", fn: "passwd", args: "user=dave", who: reseller,
			want: `{"passwd":[{"rawout":null,"services":null,"status":0,"statusmsg":"Permission denied"}]}`, sent: "-"},
		{name: "passwd through a narrowed token", fn: "passwd", args: "user=dave&pass=New-Pass-1", who: narrow,
			want: `{"passwd":[{"rawout":null,"services":null,"status":0,"statusmsg":"The API token “ci” does not carry every privilege of its owner: it cannot call passwd, which makes or changes a password."}]}`,
			sent: "-"},

		{name: "setupreseller", fn: "setupreseller", args: "user=dave&makeowner=1", res: &api.Result{},
			want: `{"result":[{"status":1,"statusmsg":null}]}`, sent: "user=dave&makeowner=1"},
		{name: "unsetupreseller failing", fn: "unsetupreseller", args: "user=bob", err: core.Errorf(core.KindInvalid, "The user “bob” is not a reseller."),
			want: `{"result":[{"status":0,"statusmsg":"The user “bob” is not a reseller."}]}`, sent: "user=bob"},
		{name: "setupreseller refused", fn: "setupreseller", args: "user=dave", who: reseller,
			want: `{"result":[{"status":0,"statusmsg":"Permission denied"}]}`, sent: "-"},
		{name: "setacls", fn: "setacls", args: "reseller=dave&acl-list-accts=1&acl-passwd=0&acl-acct-summary=1&acl-list-accts=1", res: &api.Result{},
			want: `{"result":[{"acls":["acct-summary","list-accts"],"status":1,"statusmsg":"Reseller Acls Saved"}]}`,
			sent: "reseller=dave&acl-list-accts=1&acl-passwd=0&acl-acct-summary=1&acl-list-accts=1"},
		{name: "setacls of none", fn: "setacls", args: "reseller=dave", res: &api.Result{},
			want: `{"result":[{"acls":[],"status":1,"statusmsg":"Reseller Acls Saved"}]}`, sent: "reseller=dave"},
		{name: "setacls with acllist", fn: "setacls", args: "reseller=dave&acllist=standard",
			want: `{"result":[{"acls":[],"status":0,"statusmsg":"cpauth keeps no saved ACL lists: give each privilege as acl-<name>=1 instead of “acllist”."}]}`, sent: "-"},
		{name: "setacls with an empty acllist", fn: "setacls", args: "reseller=dave&acllist=&acl-list-accts=1", res: &api.Result{},
			want: `{"result":[{"acls":["list-accts"],"status":1,"statusmsg":"Reseller Acls Saved"}]}`, sent: "reseller=dave&acllist=&acl-list-accts=1"},
		{name: "setacls failing", fn: "setacls", args: "reseller=bob&acl-list-accts=1", err: core.Errorf(core.KindInvalid, "The user “bob” is not a reseller."),
			want: `{"result":[{"acls":[],"status":0,"statusmsg":"The user “bob” is not a reseller."}]}`, sent: "reseller=bob&acl-list-accts=1"},
		{name: "setacls refused", fn: "setacls", args: "reseller=res&acl-all=1", who: reseller,
			want: `{"result":[{"acls":[],"status":0,"statusmsg":"Permission denied"}]}`, sent: "-"},

		{name: "a function of API 1 only", fn: "create_user_session", args: "user=bob&service=cpaneld",
			want: `{"error":"Unknown app (create_user_session) requested for this version (0) of the API."}`, sent: "-"},
		{name: "an API 1 only function the caller may not call", fn: "set_tweaksetting", who: reseller,
			want: `{"error":"Unknown app (set_tweaksetting) requested for this version (0) of the API."}`, sent: "-"},
		{name: "an unknown function", fn: "no_such_function",
			want: `{"error":"Unknown app (no_such_function) requested for this version (0) of the API."}`, sent: "-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var called []api.Args
			r := fakeRegistry(tc.res, tc.err, &called)
			who := tc.who
			if who.User == "" {
				who = root
			}
			in := query(t, tc.args)
			out, err := whmapi0.Run(context.Background(), r, &api.Call{Flavour: api.WHM1, Func: tc.fn, Args: in, Principal: who})
			if got := string(api.JSON(out)); got != tc.want {
				t.Errorf("answer\n got %s\nwant %s", got, tc.want)
			}
			wantErr := strings.Contains(tc.want, `"status":0`) || strings.HasPrefix(tc.want, `{"error"`)
			if (err != nil) != wantErr {
				t.Errorf("error %v, want one: %v", err, wantErr)
			}
			sent := tc.sent
			if sent == "" {
				sent = tc.args
			}
			switch {
			case sent == "-" && len(called) > 0:
				t.Errorf("the API 1 function was called with %v", called[0].Pairs())
			case sent == "-":
			case len(called) != 1:
				t.Errorf("the API 1 function was called %d times", len(called))
			case !slices.Equal(called[0].Pairs(), query(t, sent).Pairs()):
				t.Errorf("the API 1 function got %v, want %v", called[0].Pairs(), query(t, sent).Pairs())
			}
			if got := in.Pairs(); !slices.Equal(got, query(t, tc.args).Pairs()) {
				t.Errorf("the call's arguments changed: %v", got)
			}
		})
	}
}

// The answers do not change the API 1 result they are made from: results
// may be shared (version's is).
func TestRunLeavesResultAlone(t *testing.T) {
	rec := map[string]any{"user": "bob", "domain": "bob.test"}
	res := &api.Result{Data: map[string]any{"acct": []map[string]any{rec}}}
	var called []api.Args
	r := fakeRegistry(res, nil, &called)
	for _, fn := range []string{"listaccts", "accountsummary"} {
		out, _ := whmapi0.Run(context.Background(), r, &api.Call{Flavour: api.WHM1, Func: fn, Principal: root})
		if !strings.Contains(string(api.JSON(out)), `"shell"`) {
			t.Fatalf("%s: %s", fn, api.JSON(out))
		}
	}
	if len(rec) != 2 {
		t.Errorf("the API 1 record changed: %v", rec)
	}
	res = &api.Result{Data: map[string]any{"package": "default"}}
	r = fakeRegistry(res, nil, &called)
	whmapi0.Run(context.Background(), r, &api.Call{Flavour: api.WHM1, Func: "createacct", Principal: root})
	if m := res.Data.(map[string]any); len(m) != 1 {
		t.Errorf("createacct's data changed: %v", m)
	}
}

func TestUnknownVersion(t *testing.T) {
	for _, tc := range []struct{ name, fn, version, want string }{
		{"a number", "version", "2", `{"error":"Unknown app (version) requested for this version (2) of the API."}`},
		{"not a number", "listaccts", "1.0", `{"error":"Unknown app (listaccts) requested for this version (1.0) of the API."}`},
		{"long", "version", strings.Repeat("9", 40), `{"error":"Unknown app (version) requested for this version (` + strings.Repeat("9", 32) + `…) of the API."}`},
		{"cut between characters", "version", strings.Repeat("9", 31) + "éé", `{"error":"Unknown app (version) requested for this version (` + strings.Repeat("9", 31) + `…) of the API."}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(api.JSON(whmapi0.UnknownVersion(tc.fn, tc.version))); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// topKeys are the keys each API 0 function answers with, success or
// failure, whatever its arguments.
var topKeys = map[string][]string{
	"version": {"version"}, "gethostname": {"hostname"}, "applist": {"app"}, "myprivs": {"privs"}, "listresellers": {"reseller"},
	"listaccts": {"acct", "status", "statusmsg"}, "accountsummary": {"acct", "status", "statusmsg"},
	"createacct": {"result"}, "removeacct": {"result"}, "suspendacct": {"result"}, "unsuspendacct": {"result"},
	"setupreseller": {"result"}, "unsetupreseller": {"result"}, "setacls": {"result"}, "passwd": {"passwd"},
}

// FuzzRun: whatever arguments a caller sends, every API 0 function answers
// a JSON object of its own keys (or a top-level "error"), and never panics.
func FuzzRun(f *testing.F) {
	for _, s := range []string{"", "want=suspended", "want=,,,", "pass=x&password=y", "acllist=a", "acl-=1&acl-all=0", "user=a&username=b", "search=(&searchtype=ip"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, q string, fail bool) {
		var in api.Args
		if api.ParseQuery(&in, q) != nil {
			return
		}
		var err error
		if fail {
			err = core.Errorf(core.KindInvalid, "no")
		}
		for fn, keys := range topKeys {
			// What the API 1 function answers: its data as it writes it.
			data := map[string]any{
				"version": map[string]any{"version": "11.134.0.0"}, "gethostname": map[string]any{"hostname": "h"},
				"listresellers": map[string]any{"reseller": []string{"res"}}, "applist": map[string]any{"app": []string{"version", "accesshash"}},
				"myprivs": map[string]any{"privileges": []any{map[string]int{"all": 1}}}, "createacct": map[string]any{"package": "default"},
				"listaccts":      map[string]any{"acct": []map[string]any{{"user": "bob", "domain": "bob.test"}}},
				"accountsummary": map[string]any{"acct": []any{map[string]any{"user": "bob", "domain": "bob.test"}}},
				"passwd":         map[string]any{"app": []string{"system"}},
			}[fn]
			res := &api.Result{Reason: "OK", Data: data, Metadata: raw("x\n")}
			var called []api.Args
			r := fakeRegistry(res, err, &called)
			out, _ := whmapi0.Run(context.Background(), r, &api.Call{Flavour: api.WHM1, Func: fn, Args: in, Principal: root})
			if fn == "listaccts" && in.Get("want") != "" && len(called) == 1 {
				// API 0 keeps user and domain whatever want names.
				want := strings.Split(called[0].Get("want"), ",")
				if !slices.Contains(want, "user") || !slices.Contains(want, "domain") {
					t.Errorf("listaccts %q: API 1 got want=%q", q, called[0].Get("want"))
				}
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(api.JSON(out), &m); err != nil {
				t.Fatalf("%s: %v: %s", fn, err, api.JSON(out))
			}
			var got []string
			for k := range m {
				got = append(got, k)
			}
			slices.Sort(got)
			if !slices.Equal(got, keys) && !slices.Equal(got, []string{"error"}) {
				t.Errorf("%s %q: keys %q, want %q", fn, q, got, keys)
			}
		}
	})
}
