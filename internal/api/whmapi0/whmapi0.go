// Package whmapi0 serves WHM API 0, the legacy form of WHM's API: a call
// to /json-api/<function> without api.version (D23, PROTOCOL.md section
// 16). API 0 has no data/metadata envelope: each function answers under
// keys of its own, and some take arguments of other names. Every API 0
// function is the WHM API 1 function of the same name, found in the same
// registry and run after the same authorization check; this package only
// translates its arguments in and its answer (or error) out.
package whmapi0

import (
	"context"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/core"
)

// function is how one API 0 function maps onto its API 1 twin.
type function struct {
	// args turns the API 0 arguments into the API 1 function's (nil:
	// the same). Its error is answered in the function's shape, and the
	// function does not run.
	args func(in api.Args) (api.Args, error)
	// shape is the API 0 answer of the API 1 function's result or error;
	// in are the call's API 0 arguments.
	shape func(in api.Args, res *api.Result, err error) any
}

// table lists every WHM API 1 function cpauth has, each with its API 0
// form, or nil where cPanel's API 0 has no such function (a call to it is
// answered as an unknown app). A new WHM function is added here one way or
// the other, deliberately: TestTableCoversRegistry fails until it is.
//
// It is filled by init, not by its declaration, because applist's shape
// reads it (Go refuses a variable whose initial value refers to itself).
var table map[string]*function

func init() {
	table = map[string]*function{
		// API 0 functions (PROTOCOL.md section 16).
		"version":         {shape: plain},
		"gethostname":     {shape: plain},
		"applist":         {shape: applist},
		"myprivs":         {shape: myprivs},
		"listaccts":       {args: listacctsArgs, shape: accounts},
		"accountsummary":  {shape: summary},
		"createacct":      {shape: createacct},
		"removeacct":      {shape: removeacct}, // API 1's removeacct takes user and username already
		"suspendacct":     {shape: suspension},
		"unsuspendacct":   {shape: suspension},
		"passwd":          {args: passwdArgs, shape: passwd},
		"setupreseller":   {shape: resellerResult},
		"unsetupreseller": {shape: resellerResult},
		"setacls":         {args: setaclsArgs, shape: setacls},
		"listresellers":   {shape: plain},

		// API 1 only: functions cPanel added after API 0 was frozen.
		"accesshash":       nil,
		"get_tweaksetting": nil,
		"set_tweaksetting": nil,
		"uapi_cpanel":      nil,
		// Not in section 16's API 0 table (only API 1's is documented).
		"resolvedomainname": nil,
		// API tokens.
		"api_token_create":      nil,
		"api_token_get_details": nil,
		"api_token_introspect":  nil,
		"api_token_list":        nil,
		"api_token_revoke":      nil,
		"api_token_update":      nil,
		// Sessions and single sign-on.
		"create_user_session": nil,
		"kill_session":        nil,
		"list_sessions":       nil,
		// Two-factor authentication.
		"twofactorauth_disable_policy":      nil,
		"twofactorauth_enable_policy":       nil,
		"twofactorauth_generate_tfa_config": nil,
		"twofactorauth_get_issuer":          nil,
		"twofactorauth_get_user_configs":    nil,
		"twofactorauth_policy_status":       nil,
		"twofactorauth_remove_user_config":  nil,
		"twofactorauth_set_issuer":          nil,
		"twofactorauth_set_tfa_config":      nil,
		// Passkeys (cpauth's own).
		"passkey_list":             nil,
		"passkey_remove":           nil,
		"passkey_rename":           nil,
		"passkey_set_passwordless": nil,
		// cPHulk.
		"cphulk_status":                      nil,
		"create_cphulk_record":               nil,
		"delete_cphulk_record":               nil,
		"disable_cphulk":                     nil,
		"enable_cphulk":                      nil,
		"flush_cphulk_login_history":         nil,
		"flush_cphulk_login_history_for_ips": nil,
		"get_cphulk_brutes":                  nil,
		"get_cphulk_excessive_brutes":        nil,
		"get_cphulk_failed_logins":           nil,
		"get_cphulk_user_brutes":             nil,
		"load_cphulk_config":                 nil,
		"read_cphulk_records":                nil,
		"save_cphulk_config":                 nil,
		"set_cphulk_config_key":              nil,
	}
}

// Functions lists the functions API 0 serves, sorted.
func Functions() []string {
	var out []string
	for name, f := range table {
		if f != nil {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Classified reports whether the table says what API 0 does with the WHM
// API 1 function name: serve it, or answer it as unknown.
func Classified(name string) bool {
	_, ok := table[name]
	return ok
}

// Run answers the API 0 call c (c.Func the function's name, c.Args its API
// 0 arguments): the value to write as JSON with HTTP 200, and the error the
// call failed with (for the log; the answer already says it). The function
// is r's WHM API 1 function of the same name. Its authorization is checked
// before the arguments are translated, so that a caller it refuses is told
// so whatever it sent, as in API 1; the refusal comes in the function's
// shape.
func Run(ctx context.Context, r *api.Registry, c *api.Call) (any, error) {
	fn := table[c.Func]
	f, ok := r.Lookup(api.WHM1, "", c.Func)
	if fn == nil || !ok {
		err := UnknownFunction(c.Func)
		return failure(err), err
	}
	if err := f.Permitted(c.Principal); err != nil {
		return fn.shape(c.Args, nil, err), err
	}
	call := *c
	call.Flavour = api.WHM1
	if fn.args != nil {
		args, err := fn.args(c.Args)
		if err != nil {
			return fn.shape(c.Args, nil, err), err
		}
		call.Args = args
	}
	res, err := f.Call(ctx, &call)
	return fn.shape(c.Args, res, err), err
}

// UnknownFunction is cPanel's reason for a function API 0 does not have
// (PROTOCOL.md section 16, the 11.120 source's words).
func UnknownFunction(name string) error {
	return core.Errorf(core.KindNotFound, "Unknown app (%s) requested for this version (0) of the API.", name)
}

// UnknownVersion is the answer to a WHM call whose api.version is neither
// 1 nor 0 (nor empty): the unknown-app answer, naming the version asked
// for. The version is the caller's text, so it is cut short.
func UnknownVersion(name, version string) any {
	return failure(core.Errorf(core.KindNotFound, "Unknown app (%s) requested for this version (%s) of the API.", name, clip(version, 32)))
}

// clip cuts s to at most n bytes, between characters, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// failure is the answer of a call that has no shape of its own to fail in:
// a top-level "error", the key API 0 clients test.
func failure(err error) map[string]any {
	return map[string]any{"error": core.Message(err)}
}

// plain: the API 1 function's data is the whole API 0 answer
// ({"version":…}, {"hostname":…}, {"reseller":[…]}); a failure is
// {"error":why}.
func plain(_ api.Args, res *api.Result, err error) any {
	if err != nil {
		return failure(err)
	}
	if res.Data == nil {
		return map[string]any{}
	}
	return res.Data
}

// applist is {"app":[…]}: the functions the caller may call that API 0
// has (API 1's list, less the functions API 0 answers as unknown).
func applist(_ api.Args, res *api.Result, err error) any {
	if err != nil {
		return failure(err)
	}
	out := []string{}
	for _, name := range stringsOf(field(res.Data, "app")) {
		if table[name] != nil {
			out = append(out, name)
		}
	}
	return map[string]any{"app": out}
}

// myprivs is {"privs":{acl:0|1,…}}: API 1's data.privileges[0].
func myprivs(_ api.Args, res *api.Result, err error) any {
	if err != nil {
		return failure(err)
	}
	var privs any = map[string]any{}
	switch p := field(res.Data, "privileges").(type) {
	case []any:
		if len(p) > 0 {
			privs = p[0]
		}
	case []map[string]int:
		if len(p) > 0 {
			privs = p[0]
		}
	}
	return map[string]any{"privs": privs}
}

// recordDefaults are the fields of cPanel's account records (section 16)
// that cpauth does not keep, with what cPanel shows for an account that
// has none: cpauth gives no account a shell, a disk quota or measured disk
// use, and knows no address of its own. A field the API 1 record has is
// never replaced: the two versions show one account alike.
var recordDefaults = map[string]string{
	"shell":     "/usr/local/cpanel/bin/noshell",
	"disklimit": "unlimited",
	"diskused":  "0M",
	"ip":        "",
}

// accounts is listaccts' and accountsummary's shape:
// {"status":1,"statusmsg":"Ok","acct":[…]}, each record API 1's with the
// fields API 1 leaves out filled in (recordDefaults: those that want, when
// given, names); a failure is status 0 with the reason and no records.
func accounts(in api.Args, res *api.Result, err error) any {
	if err != nil {
		return map[string]any{"status": 0, "statusmsg": core.Message(err), "acct": []any{}}
	}
	want := wantFields(in)
	out := []map[string]any{}
	for _, rec := range records(field(res.Data, "acct")) {
		acct := make(map[string]any, len(rec)+len(recordDefaults))
		for k, v := range rec {
			acct[k] = v
		}
		for k, v := range recordDefaults {
			if _, ok := acct[k]; !ok && (want == nil || slices.Contains(want, k)) {
				acct[k] = v
			}
		}
		out = append(out, acct)
	}
	return map[string]any{"status": 1, "statusmsg": "Ok", "acct": out}
}

// summary is accountsummary's shape: listaccts', for a function that has
// no want (its record is always whole).
func summary(_ api.Args, res *api.Result, err error) any {
	return accounts(api.Args{}, res, err)
}

// records reads API 1's list of account records (listaccts builds a
// []map[string]any, accountsummary a []any).
func records(v any) []map[string]any {
	switch list := v.(type) {
	case []map[string]any:
		return list
	case []any:
		out := make([]map[string]any, 0, len(list))
		for _, x := range list {
			if m, ok := x.(map[string]any); ok {
				out = append(out, m)
			}
		}
		return out
	}
	return nil
}

// wantFields is listaccts' want, split (nil when not given).
func wantFields(in api.Args) []string {
	w := in.Get("want")
	if w == "" {
		return nil
	}
	return strings.Split(w, ",")
}

// listacctsArgs adds user and domain to want: API 0 keeps them in every
// record, API 1 only when named.
func listacctsArgs(in api.Args) (api.Args, error) {
	want := wantFields(in)
	if want == nil {
		return in, nil
	}
	w := in.Get("want")
	for _, k := range []string{"user", "domain"} {
		if !slices.Contains(want, k) {
			w += "," + k
		}
	}
	return with(in, "want", w), nil
}

// result is the list most API 0 functions answer in: {"result":[entry]}.
func result(entry map[string]any) map[string]any {
	return map[string]any{"result": []any{entry}}
}

// createacct is {"result":[{"status":1,"statusmsg":…,"options":{…},
// "rawout":…}]}; a failure has "options" and "rawout" null, as cPanel's.
func createacct(_ api.Args, res *api.Result, err error) any {
	if err != nil {
		return result(map[string]any{"status": 0, "statusmsg": core.Message(err), "options": nil, "rawout": nil})
	}
	options := map[string]any{}
	if m, ok := res.Data.(map[string]any); ok {
		for k, v := range m {
			options[k] = v
		}
	}
	// What cPanel reports of the account's address and name servers,
	// which cpauth does not keep.
	for _, k := range []string{"ip", "nameserver"} {
		if _, ok := options[k]; !ok {
			options[k] = ""
		}
	}
	return result(map[string]any{"status": 1, "statusmsg": reason(res, "Account Creation Ok"), "options": options, "rawout": rawOutput(res)})
}

// removeacct is {"result":[{"status":1,"statusmsg":"<user> account
// removed","rawout":…}]}; a failure has "rawout" null.
func removeacct(_ api.Args, res *api.Result, err error) any {
	if err != nil {
		return result(map[string]any{"status": 0, "statusmsg": core.Message(err), "rawout": nil})
	}
	return result(map[string]any{"status": 1, "statusmsg": reason(res, ""), "rawout": rawOutput(res)})
}

// suspension is suspendacct's and unsuspendacct's
// {"result":[{"status":1,"statusmsg":…}]}: the message is API 1's raw
// output ("<user>'s account has been suspended").
func suspension(_ api.Args, res *api.Result, err error) any {
	if err != nil {
		return result(map[string]any{"status": 0, "statusmsg": core.Message(err)})
	}
	return result(map[string]any{"status": 1, "statusmsg": strings.TrimSpace(rawOutput(res))})
}

// resellerResult is setupreseller's and unsetupreseller's
// {"result":[{"status":1,"statusmsg":null}]}.
func resellerResult(_ api.Args, res *api.Result, err error) any {
	if err != nil {
		return result(map[string]any{"status": 0, "statusmsg": core.Message(err)})
	}
	return result(map[string]any{"status": 1, "statusmsg": nil})
}

// passwdArgs: API 0's passwd takes the new password as "pass" (API 1:
// "password"). "password" is taken too, as createacct takes both; both at
// once is ambiguous.
func passwdArgs(in api.Args) (api.Args, error) {
	pass, hasPass := in.Lookup("pass")
	_, hasPassword := in.Lookup("password")
	switch {
	case hasPass && hasPassword:
		return in, core.Errorf(core.KindInvalid, "Specify either “pass” or “password”, not both.")
	case hasPassword:
		return in, nil
	case !hasPass:
		return in, core.Errorf(core.KindInvalid, "The “pass” parameter is required.")
	}
	return with(in, "password", pass), nil
}

// passwd answers under its own key, "passwd":
// {"passwd":[{"status":1,"statusmsg":…,"services":[{"app":"system"}],
// "rawout":""}]}; a failure has "services" and "rawout" null.
func passwd(_ api.Args, res *api.Result, err error) any {
	if err != nil {
		return map[string]any{"passwd": []any{map[string]any{"status": 0, "statusmsg": core.Message(err), "services": nil, "rawout": nil}}}
	}
	services := []any{}
	for _, app := range stringsOf(field(res.Data, "app")) {
		services = append(services, map[string]any{"app": app})
	}
	return map[string]any{"passwd": []any{map[string]any{"status": 1, "statusmsg": reason(res, ""), "services": services, "rawout": rawOutput(res)}}}
}

// setaclsArgs refuses acllist, the name of a saved ACL list: cpauth keeps
// no saved lists, so the privileges come as acl-<name>=1 only.
func setaclsArgs(in api.Args) (api.Args, error) {
	if in.Get("acllist") != "" {
		return in, core.Errorf(core.KindInvalid, "cpauth keeps no saved ACL lists: give each privilege as acl-<name>=1 instead of “acllist”.")
	}
	return in, nil
}

// setacls is {"result":[{"status":1,"statusmsg":"Reseller Acls Saved",
// "acls":[…]}]}, the privileges now saved (the acl-<name> arguments not
// 0: API 1's setacls replaces the reseller's set with exactly those, or
// fails); a failure has "acls" empty.
func setacls(in api.Args, res *api.Result, err error) any {
	if err != nil {
		return result(map[string]any{"status": 0, "statusmsg": core.Message(err), "acls": []string{}})
	}
	acls := []string{}
	for _, kv := range in.Pairs() {
		if name, ok := strings.CutPrefix(kv[0], "acl-"); ok && kv[1] != "0" && !slices.Contains(acls, name) {
			acls = append(acls, name)
		}
	}
	slices.Sort(acls)
	return result(map[string]any{"status": 1, "statusmsg": "Reseller Acls Saved", "acls": acls})
}

// reason is API 1's reason of a success, or def where it says only "OK".
func reason(res *api.Result, def string) string {
	if res.Reason != "" && res.Reason != "OK" {
		return res.Reason
	}
	return def
}

// rawOutput is API 1's metadata.output.raw ("" when it has none).
func rawOutput(res *api.Result) string {
	out, _ := res.Metadata["output"].(map[string]any)
	raw, _ := out["raw"].(string)
	return raw
}

// field is data[key] of an API 1 function's map data (nil otherwise).
func field(data any, key string) any {
	m, _ := data.(map[string]any)
	return m[key]
}

// stringsOf reads a list of strings.
func stringsOf(v any) []string {
	switch list := v.(type) {
	case []string:
		return list
	case []any:
		var out []string
		for _, x := range list {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// with returns a copy of in where key has the value v: its first value
// replaced (the one Args.Get reads), or added.
func with(in api.Args, key, v string) api.Args {
	var out api.Args
	done := false
	for _, kv := range in.Pairs() {
		if kv[0] == key && !done {
			kv[1], done = v, true
		}
		out.Add(kv[0], kv[1])
	}
	if !done {
		out.Add(key, v)
	}
	return out
}
