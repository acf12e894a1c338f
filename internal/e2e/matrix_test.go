package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/api/whmapi0"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/functions"
	"github.com/cpauth/cpauth/internal/store"
)

// The authorization matrix. Generated from the registry, it calls every
// registered function (WHM API 1 on the WHM port, and WHM API 0 for the
// functions API 0 has; UAPI and API 2 on the caller's own port and, for WHM
// callers, through WHM → cPanel both ways) as each kind of caller, and checks each outcome against what the
// function declares. A function with no entry in matrixArgs fails the
// test: a new function cannot land without joining it. The outcomes are
// also kept in testdata/authz_matrix.golden, for review.

// matrixArg is how the matrix calls a function: its arguments ({user} is
// the account the caller acts on, {id} a number unique to the caller,
// {passkey} a passkey of the user the caller acts on, made for that caller,
// {doomedpasskey} another, made for that caller and that way in), and
// whether it acts on that account (which a reseller may do only on the
// accounts it owns: on any other, it must not succeed).
type matrixArg struct {
	args string
	acts bool
}

// matrixArgs has an entry for every registered function. Arguments are
// chosen so that an allowed call can succeed without spoiling the callers
// after it (accounts of their own, harmless names), or fails on its own
// terms after the authorization check.
var matrixArgs = map[string]matrixArg{
	"whmapi1 accesshash":                         {"user={user}", true},
	"whmapi1 accountsummary":                     {"user={user}", true},
	"whmapi1 api_token_create":                   {"token_name=matrix{id}", false},
	"whmapi1 api_token_get_details":              {"token=ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", false},
	"whmapi1 api_token_introspect":               {"token=ABCDEFGHIJKLMNOPQRSTUVWXYZ012345&user={user}", true},
	"whmapi1 api_token_list":                     {"", false},
	"whmapi1 api_token_revoke":                   {"token_name=nosuch", false},
	"whmapi1 api_token_update":                   {"token_name=nosuch&new_name=other", false},
	"whmapi1 applist":                            {"", false},
	"whmapi1 cphulk_status":                      {"", false},
	"whmapi1 create_cphulk_record":               {"list_name=white&ip=192.0.2.250", false},
	"whmapi1 create_user_session":                {"user={user}&service=cpaneld", true},
	"whmapi1 createacct":                         {"username=mnew{id}&domain=mnew{id}.test&password=New-Pass-123", false},
	"whmapi1 delete_cphulk_record":               {"list_name=white&ip=192.0.2.250", false},
	"whmapi1 disable_cphulk":                     {"", false},
	"whmapi1 enable_cphulk":                      {"", false},
	"whmapi1 flush_cphulk_login_history":         {"", false},
	"whmapi1 flush_cphulk_login_history_for_ips": {"ip=192.0.2.250", false},
	"whmapi1 get_cphulk_brutes":                  {"", false},
	"whmapi1 get_cphulk_excessive_brutes":        {"", false},
	"whmapi1 get_cphulk_failed_logins":           {"", false},
	"whmapi1 get_cphulk_user_brutes":             {"", false},
	"whmapi1 get_tweaksetting":                   {"key=requiressl", false},
	"whmapi1 gethostname":                        {"", false},
	"whmapi1 kill_session":                       {"user={user}", true},
	"whmapi1 list_sessions":                      {"", false},
	"whmapi1 listaccts":                          {"", false},
	"whmapi1 listresellers":                      {"", false},
	"whmapi1 load_cphulk_config":                 {"", false},
	"whmapi1 myprivs":                            {"", false},
	"whmapi1 passkey_list":                       {"user={user}", true},
	"whmapi1 passkey_remove":                     {"user={user}&id={doomedpasskey}", true},
	"whmapi1 passkey_rename":                     {"user={user}&id={passkey}&name=renamed{id}", true},
	"whmapi1 passkey_set_passwordless":           {"user={user}&enabled=1", true},
	"whmapi1 passwd":                             {"user={user}&password=Changed-Pass-123", true},
	"whmapi1 read_cphulk_records":                {"list_name=white", false},
	"whmapi1 removeacct":                         {"user={doomed}", true},
	"whmapi1 resolvedomainname":                  {"domain={user}.test", true},
	"whmapi1 save_cphulk_config":                 {"", false},
	"whmapi1 set_cphulk_config_key":              {"key=nosuch&value=1", false},
	"whmapi1 set_tweaksetting":                   {"key=nosuch&value=1", false},
	"whmapi1 setacls":                            {"reseller=nosuch", false},
	"whmapi1 setupreseller":                      {"user=nosuch", false},
	"whmapi1 suspendacct":                        {"user={user}&reason=matrix", true},
	"whmapi1 twofactorauth_disable_policy":       {"", false},
	"whmapi1 twofactorauth_enable_policy":        {"", false},
	"whmapi1 twofactorauth_generate_tfa_config":  {"user={user}", true},
	"whmapi1 twofactorauth_get_issuer":           {"", false},
	"whmapi1 twofactorauth_get_user_configs":     {"user={user}", true},
	"whmapi1 twofactorauth_policy_status":        {"", false},
	"whmapi1 twofactorauth_remove_user_config":   {"user={user}", true},
	"whmapi1 twofactorauth_set_issuer":           {"issuer=", false},
	"whmapi1 twofactorauth_set_tfa_config":       {"user={user}&secret=JBSWY3DPEHPK3PXP&tfa_token=000000", true},
	"whmapi1 uapi_cpanel":                        {"cpanel.user={user}&cpanel.module=Variables&cpanel.function=get_user_information", true},
	"whmapi1 unsetupreseller":                    {"user=nosuch", false},
	"whmapi1 unsuspendacct":                      {"user={user}", true},
	"whmapi1 version":                            {"", false},

	"uapi DomainInfo::domains_data":                                     {"", false},
	"uapi DomainInfo::list_domains":                                     {"", false},
	"uapi DomainInfo::single_domain_data":                               {"domain={user}.test", false},
	"uapi Email::add_pop":                                               {"email=m{id}&password=Mail-Pass-123", false},
	"uapi Email::delete_pop":                                            {"email=nosuch", false},
	"uapi Email::list_pops":                                             {"", false},
	"uapi Email::passwd_pop":                                            {"email=nosuch&password=Mail-Pass-123", false},
	"uapi Passkeys::list":                                               {"", false},
	"uapi Passkeys::remove":                                             {"id={doomedpasskey}", false},
	"uapi Passkeys::rename":                                             {"id={passkey}&name=renamed{id}", false},
	"uapi Passkeys::set_passwordless":                                   {"enabled=1", false},
	"uapi Session::create_webmail_session_for_mail_user":                {"login=nosuch&domain=bob.test", false},
	"uapi Session::create_webmail_session_for_mail_user_check_password": {"login=nosuch&domain=bob.test&password=x", false},
	"uapi Session::create_webmail_session_for_self":                     {"", false},
	"uapi Tokens::create_full_access":                                   {"name=matrix{id}", false},
	"uapi Tokens::list":                                                 {"", false},
	"uapi Tokens::rename":                                               {"name=nosuch&new_name=other", false},
	"uapi Tokens::revoke":                                               {"name=nosuch", false},
	"uapi TwoFactorAuth::generate_user_configuration":                   {"", false},
	"uapi TwoFactorAuth::get_user_configuration":                        {"", false},
	"uapi TwoFactorAuth::remove_user_configuration":                     {"", false},
	"uapi TwoFactorAuth::set_user_configuration":                        {"secret=JBSWY3DPEHPK3PXP&tfa_token=000000", false},
	"uapi Variables::get_user_information":                              {"", false},

	"api2 CustInfo::displaycontactinfo": {"", false},
	"api2 Email::addpop":                {"email=a{id}&password=Mail-Pass-123", false},
	"api2 Email::delpop":                {"email=nosuch", false},
	"api2 Email::listpops":              {"", false},
}

// matrixArgs0 are the arguments of the API 0 calls whose names differ
// from API 1's (the rest take matrixArgs').
// An API 0 call comes after its API 1 twin, so it makes and removes
// accounts of its own.
var matrixArgs0 = map[string]string{
	"createacct": "username=mzero{id}&domain=mzero{id}.test&password=New-Pass-123",
	"passwd":     "user={user}&pass=Changed-Pass-123",
	"removeacct": "user={doomed}0",
}

// matrixCaller is one kind of caller. p is what the expectations know of
// it (role, ACLs in force, method, bounds, read-only, service); prep puts
// its credential on a request.
type matrixCaller struct {
	name string
	p    core.Principal
	// whm callers call WHM API 1 on 2087 and account functions inside
	// user (through WHM → cPanel); the others call account functions on
	// their own port.
	whm bool
	own port
	// user is the account the caller acts on, doomed one it may remove;
	// owns says whether it may act inside user.
	user, doomed string
	owns         bool
	// pending: a session still waiting for its second factor.
	pending bool
	prep    func(t testing.TB, r *request)
}

// matrixWay is one way a function is reached.
type matrixWay string

const (
	wayDirect     matrixWay = "direct"      // its own API on the caller's port
	wayUAPICPanel matrixWay = "uapi_cpanel" // WHM API 1 uapi_cpanel
	wayCPanel     matrixWay = "json-cpanel" // /json-api/cpanel on the WHM port
	wayAPI0       matrixWay = "api0"        // WHM API 0: without api.version
)

func waysOf(f *api.Func) []matrixWay {
	switch f.Flavour {
	case api.WHM1:
		if slices.Contains(whmapi0.Functions(), f.Name) {
			return []matrixWay{wayDirect, wayAPI0}
		}
	case api.UAPI:
		return []matrixWay{wayDirect, wayUAPICPanel, wayCPanel}
	case api.API2:
		return []matrixWay{wayDirect, wayCPanel}
	}
	return []matrixWay{wayDirect}
}

// applies says whether a caller reaches a function that way: WHM callers
// reach account functions only through WHM → cPanel, account callers only
// directly.
func (c matrixCaller) applies(f *api.Func, w matrixWay) bool {
	if f.Flavour == api.WHM1 {
		return true
	}
	return c.whm == (w != wayDirect)
}

// expectAllowed is the declaration read as a rule: whether c may call f
// that way. It is written from the rules (PROTOCOL.md D4, D6, D24, D25,
// section 12), not from the code that enforces them.
func expectAllowed(f *api.Func, c matrixCaller, w matrixWay) bool {
	if c.pending {
		return false // nothing but the code page until the second factor
	}
	p := c.p
	if f.Flavour == api.WHM1 {
		return c.whm && declaredFor(f, p)
	}
	if !c.whm {
		return declaredFor(f, p)
	}
	// Inside an account for a WHM caller: an account it may enter, with a
	// credential that is not narrowed; uapi_cpanel must itself be allowed.
	if !c.owns || p.Bounds.Narrowed {
		return false
	}
	inside := core.Principal{User: c.user, Role: core.RoleCPanel, Account: c.user, Service: core.ServiceCPanel, Method: p.Method, Bounds: p.Bounds}
	return declaredFor(f, inside)
}

// declaredFor is what the declaration allows a principal.
func declaredFor(f *api.Func, p core.Principal) bool {
	whmRole := p.Role == core.RoleRoot || p.Role == core.RoleReseller
	inWebmail := p.Role == core.RoleWebmail || p.Service == core.ServiceWebmail
	token := p.Method == core.MethodToken
	switch {
	case p.ReadOnly && !f.ReadOnly:
		return false
	case f.Flavour != api.WHM1 && inWebmail && !f.WebmailSafe:
		return false
	case f.Access == api.AnyWHM && !whmRole,
		f.Access == api.NeedACL && !(whmRole && p.ACLs.Has(f.ACL)),
		f.Access == api.RootOnly && !(whmRole && p.ACLs.Has(core.ACLAll)),
		f.Access == api.Account && !(p.Role == core.RoleCPanel || p.Role == core.RoleReseller || p.Role == core.RoleWebmail && f.WebmailSafe):
		return false
	case f.InAccount && p.Bounds.Narrowed:
		return false
	case f.Mints == api.MintAccessHash && (token && !p.ACLs.Has(core.ACLAll) || p.Bounds.Limited()):
		return false
	case (f.Mints == api.MintSession || f.Mints == api.MintTwoFactor || f.Mints == api.MintPassword || f.Mints == api.MintPasskey) && p.Bounds.Narrowed:
		return false
	}
	return true
}

// Outcomes of one call.
const (
	outOK   = "ok"   // it succeeded
	outFail = "fail" // it ran, or was checked past its authorization, and failed on its own terms
	outDeny = "deny" // refused by its authorization, in its API's envelope
)

// denials are the words of authorization refusals: the registry's, D4's,
// the impersonation checks', and the object checks' of the functions that
// act on another account.
var denials = []string{
	"Permission denied",
	"is read-only: it cannot call",
	"is not permitted inside of webmail",
	"does not carry every privilege of its owner",
	"does not hold “all”",
	": it cannot call",
	"Access Denied to",
}

func classifyMessage(msg string) string {
	for _, d := range denials {
		if strings.Contains(msg, d) {
			return outDeny
		}
	}
	return outFail
}

// classify reads a response: its HTTP status when that is the answer (an
// authentication or service refusal), else the envelope's result.
func classify(r response, w matrixWay, f *api.Func) string {
	if r.status != http.StatusOK {
		return strconv.Itoa(r.status)
	}
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		return "unreadable"
	}
	if w == wayAPI0 {
		return classifyAPI0(m)
	}
	uapiEnv := func(env any) string {
		e, _ := env.(map[string]any)
		if str(e["status"]) == "1" {
			return outOK
		}
		errs, _ := e["errors"].([]any)
		if len(errs) == 0 {
			return outFail
		}
		return classifyMessage(str(errs[0]))
	}
	_, hasStatus := m["status"]
	_, hasErrors := m["errors"]
	switch {
	case hasStatus && hasErrors: // UAPI
		return uapiEnv(m)
	case m["metadata"] != nil: // WHM API 1
		if str(dig(m, "metadata", "result")) != "1" {
			return classifyMessage(str(dig(m, "metadata", "reason")))
		}
		if w == wayUAPICPanel && f.Flavour == api.UAPI {
			return uapiEnv(dig(m, "data", "uapi"))
		}
		// Functions that act on several users answer 1 and list
		// each user's failure.
		if failed, _ := dig(m, "data", "failed").(map[string]any); len(failed) > 0 {
			for _, msg := range failed {
				return classifyMessage(str(msg))
			}
		}
		return outOK
	case m["cpanelresult"] != nil: // API 2, or /json-api/cpanel's own refusal
		cr, _ := m["cpanelresult"].(map[string]any)
		if msg := str(cr["error"]); msg != "" {
			return classifyMessage(msg)
		}
		if str(dig(cr, "event", "result")) == "1" {
			return outOK
		}
		return outFail
	case m["result"] != nil: // UAPI through /json-api/cpanel
		return uapiEnv(m["result"])
	case m["error"] != nil: // /json-api/cpanel's refusal outside API 2
		return classifyMessage(str(m["error"]))
	}
	return "unreadable"
}

// classifyAPI0 reads a WHM API 0 answer (PROTOCOL.md section 16): a
// top-level "error"; a status of its own (listaccts, accountsummary) or of
// the first entry of "result" or "passwd"; or else data alone, a success.
func classifyAPI0(m map[string]any) string {
	if msg, ok := m["error"]; ok {
		return classifyMessage(str(msg))
	}
	entry := m
	for _, k := range []string{"result", "passwd"} {
		if list, ok := m[k].([]any); ok && len(list) > 0 {
			entry, _ = list[0].(map[string]any)
		}
	}
	status, ok := entry["status"]
	switch {
	case !ok:
		return outOK
	case str(status) == "1":
		return outOK
	}
	return classifyMessage(str(entry["statusmsg"]))
}

// matrixRequest builds the request of one call.
func matrixRequest(f *api.Func, c matrixCaller, w matrixWay, args string) request {
	q := args
	join := func(a, b string) string {
		if b == "" {
			return a
		}
		return a + "&" + b
	}
	switch {
	case w == wayUAPICPanel:
		return request{port: p2087, path: "/json-api/uapi_cpanel?" + join("api.version=1&cpanel.user="+c.user+"&cpanel.module="+f.Module+"&cpanel.function="+f.Name, q)}
	case w == wayCPanel:
		v := "3"
		if f.Flavour == api.API2 {
			v = "2"
		}
		return request{port: p2087, path: "/json-api/cpanel?" + join("cpanel_jsonapi_user="+c.user+"&cpanel_jsonapi_apiversion="+v+"&cpanel_jsonapi_module="+f.Module+"&cpanel_jsonapi_func="+f.Name, q)}
	case f.Flavour == api.WHM1:
		p := p2087
		if c.pending {
			p = c.own // a session lives on its own service
		}
		if w == wayAPI0 {
			return request{port: p, path: "/json-api/" + f.Name + "?" + q}
		}
		return request{port: p, path: "/json-api/" + f.Name + "?" + join("api.version=1", q)}
	case f.Flavour == api.UAPI:
		return request{port: c.own, path: "/execute/" + f.Module + "/" + f.Name + "?" + q}
	}
	return request{port: c.own, path: "/json-api/cpanel?" + join("cpanel_jsonapi_apiversion=2&cpanel_jsonapi_module="+f.Module+"&cpanel_jsonapi_func="+f.Name, q)}
}

func TestAuthorizationMatrix(t *testing.T) {
	e := startWithFixtures(t)
	ctx := context.Background()
	// Accounts for the callers to act on and to remove (by API 1, and by
	// API 0: <doomed>0).
	for _, a := range [][2]string{{"vroot", "root"}, {"droot", "root"}, {"vroot2", "root"}, {"droot2", "root"}, {"vres", "res"}, {"dres", "res"}, {"vres2", "res"}, {"dres2", "res"},
		{"droot0", "root"}, {"droot20", "root"}, {"dres0", "res"}, {"dres20", "res"}} {
		e.whm1("createacct", "username", a[0], "domain", a[0]+".test", "password", "Victim-Pass-1", "owner", a[1])
	}
	rootTFA := e.enroll(t, "root")
	e.enroll(t, "bob")

	expires := e.clock.Now().Add(48 * time.Hour)
	rootTok := e.createTokenHTTP(t, e.authFor(t, "root"), "token_name=matrix&acl=list-accts&acl=manage-api-tokens&acl=create-user-session&acl=passwd&acl=kill-acct&whitelist_ip=127.0.0.1&require_otp=1&expires_at="+strconv.FormatInt(expires.Unix(), 10))
	resTok := e.mkToken(t, store.TokenWHM, "res", "matrix", "acl", "list-accts")
	roTok := e.mkToken(t, store.TokenCPanel, "bob", "matrix-ro", "readonly", "1")
	// A browser login of bob, who has two-factor authentication: its
	// session reaches only the code page until the code is given.
	pend := e.login(t, p2083, "bob", bobPass)

	resACLs := core.NewACLSet("list-accts", "create-acct", "kill-acct", "passwd", "suspend-acct", "acct-summary")
	basicAuth := func(user string) func(testing.TB, *request) {
		return func(t testing.TB, r *request) { r.auth = e.authFor(t, user) }
	}
	callers := []matrixCaller{
		{
			name: "pending-2fa", p: core.Principal{User: "bob", Role: core.RoleCPanel, Method: core.MethodSession, Service: core.ServiceCPanel},
			own: p2083, user: "bob", pending: true,
			prep: func(t testing.TB, r *request) {
				r.path = pend.token + r.path
				r.header = map[string]string{"Cookie": pend.cookie()}
			},
		},
		{
			name: "root", p: core.Principal{User: "root", Role: core.RoleRoot, Method: core.MethodPassword, Service: core.ServiceWHM, ACLs: core.NewACLSet(core.ACLAll)},
			whm: true, user: "vroot", doomed: "droot", owns: true, prep: basicAuth("root"),
		},
		{
			name: "root-token", p: core.Principal{User: "root", Role: core.RoleRoot, Method: core.MethodToken, Service: core.ServiceWHM, TokenName: "matrix",
				ACLs:   core.NewACLSet("list-accts", "manage-api-tokens", "create-user-session", "passwd", "kill-acct"),
				Bounds: core.Bounds{Expires: expires, Addresses: []string{"127.0.0.1"}, RequireOTP: true, Narrowed: true}},
			whm: true, user: "vroot2", doomed: "droot2", owns: true,
			prep: func(t testing.TB, r *request) {
				r.auth = whmTok("root", rootTok)
				r.header = map[string]string{"X-CPANEL-OTP": e.code(t, rootTFA)}
			},
		},
		{
			name: "reseller", p: core.Principal{User: "res", Role: core.RoleReseller, Account: "res", Method: core.MethodPassword, Service: core.ServiceWHM, ACLs: resACLs},
			whm: true, user: "vres", doomed: "dres", owns: true, prep: basicAuth("res"),
		},
		{
			name: "reseller-token", p: core.Principal{User: "res", Role: core.RoleReseller, Account: "res", Method: core.MethodToken, Service: core.ServiceWHM, TokenName: "matrix",
				ACLs: core.NewACLSet("list-accts"), Bounds: core.Bounds{Narrowed: true}},
			whm: true, user: "vres2", doomed: "dres2", owns: true,
			prep: func(t testing.TB, r *request) { r.auth = whmTok("res", resTok) },
		},
		{
			name: "reseller-foreign", p: core.Principal{User: "res", Role: core.RoleReseller, Account: "res", Method: core.MethodPassword, Service: core.ServiceWHM, ACLs: resACLs},
			whm: true, user: "bob", doomed: "bob", owns: false, prep: basicAuth("res"),
		},
		{
			name: "cpanel", p: core.Principal{User: "bob", Role: core.RoleCPanel, Account: "bob", Method: core.MethodPassword, Service: core.ServiceCPanel},
			own: p2083, user: "bob", prep: basicAuth("bob"),
		},
		{
			name: "cpanel-readonly", p: core.Principal{User: "bob", Role: core.RoleCPanel, Account: "bob", Method: core.MethodToken, Service: core.ServiceCPanel, TokenName: "matrix-ro", ReadOnly: true, Bounds: core.Bounds{Narrowed: true}},
			own: p2083, user: "bob",
			prep: func(t testing.TB, r *request) { r.auth = cpanelTok("bob", roTok) },
		},
		{
			name: "webmail", p: core.Principal{User: "info@bob.test", Role: core.RoleWebmail, Account: "bob", Method: core.MethodPassword, Service: core.ServiceWebmail},
			own: p2096, user: "bob", prep: basicAuth("info@bob.test"),
		},
	}

	// Passkeys per caller, of the user it acts on: one to rename and turn
	// passwordless sign-in on with, and one to remove for each way in.
	matrixPasskey := func(kind string, ci int) []byte { return []byte("matrix-" + kind + "-" + strconv.Itoa(ci)) }
	for ci, c := range callers {
		user := c.user
		if c.p.Role == core.RoleWebmail {
			user = c.p.User
		}
		for _, kind := range []string{"keep", "doomed-whmapi1-direct", "doomed-uapi-direct", "doomed-uapi-uapi_cpanel", "doomed-uapi-json-cpanel"} {
			if err := e.d.Data.Store.CreatePasskey(ctx, store.Passkey{ID: matrixPasskey(kind, ci), Username: user, Account: c.user, Name: kind + "-" + strconv.Itoa(ci),
				PublicKey: []byte("cose-key"), AttestationType: "none", Created: e.clock.Now()}); err != nil {
				t.Fatal(err)
			}
		}
	}

	funcs := e.d.Data.Registry.All()
	for _, f := range funcs {
		if _, ok := matrixArgs[f.Flavour.String()+" "+f.FullName()]; !ok {
			t.Errorf("%s %s has no expectation in the authorization matrix: add it to matrixArgs (and update the golden file)", f.Flavour, f.FullName())
		}
	}
	for k := range matrixArgs {
		fl, name, _ := strings.Cut(k, " ")
		if !slices.ContainsFunc(funcs, func(f *api.Func) bool { return f.Flavour.String() == fl && f.FullName() == name }) {
			t.Errorf("matrixArgs names %q, which is not registered", k)
		}
	}

	// cells[function and way][caller] = outcome
	type row struct {
		f   *api.Func
		way matrixWay
	}
	var rows []row
	for _, f := range funcs {
		for _, w := range waysOf(f) {
			rows = append(rows, row{f, w})
		}
	}
	cells := make([][]string, len(rows))
	for i := range cells {
		cells[i] = make([]string, len(callers))
	}
	for ci, c := range callers {
		for ri, rw := range rows {
			f, w := rw.f, rw.way
			if !c.applies(f, w) {
				cells[ri][ci] = "-"
				continue
			}
			spec := matrixArgs[f.Flavour.String()+" "+f.FullName()]
			if a, ok := matrixArgs0[f.Name]; ok && w == wayAPI0 {
				spec.args = a
			}
			args := strings.NewReplacer("{user}", url.QueryEscape(c.user), "{doomed}", url.QueryEscape(c.doomed),
				"{passkey}", functions.PasskeyID(matrixPasskey("keep", ci)), "{doomedpasskey}", functions.PasskeyID(matrixPasskey("doomed-"+f.Flavour.String()+"-"+string(w), ci)),
				"{id}", strconv.Itoa(ci)).Replace(spec.args)
			req := matrixRequest(f, c, w, args)
			c.prep(t, &req)
			r := e.do(t, req)
			got := classify(r, w, f)
			cells[ri][ci] = got
			want := expectAllowed(f, c, w)
			ran := got == outOK || got == outFail
			foreign := c.name == "reseller-foreign" && spec.acts
			switch {
			case foreign && got == outOK:
				t.Errorf("%s %s as a reseller on an account it does not own succeeded: %.300s", f.Flavour, f.FullName(), r.body)
			case foreign:
				// Refused by the declaration or by the function's
				// own check of the account: either is right.
			case want && !ran:
				t.Errorf("%s %s (%s) as %s: %s, but its declaration allows it; body %.300s", f.Flavour, f.FullName(), w, c.name, got, r.body)
			case !want && ran:
				t.Errorf("%s %s (%s) as %s: %s, but its declaration refuses it; body %.300s", f.Flavour, f.FullName(), w, c.name, got, r.body)
			}
		}
	}
	// The reseller's calls on bob changed nothing of bob's.
	if a, err := e.account("bob"); err != nil || a.Suspended {
		t.Errorf("bob after the foreign reseller's calls: %+v, %v", a, err)
	}
	if !e.checkPassword("bob", bobPass, core.ServiceCPanel) {
		t.Error("bob's password was changed by a reseller that does not own bob")
	}
	for _, local := range []string{"m5", "a5"} {
		if _, err := e.d.Data.Store.GetMailbox(ctx, local, "bob.test"); err == nil {
			t.Errorf("a mailbox (%s) was added to bob by a reseller that does not own bob", local)
		}
	}

	var b strings.Builder
	b.WriteString("# The authorization matrix: each function, each way in, as each caller.\n")
	b.WriteString("# ok: succeeded; fail: passed its authorization and failed on its own terms;\n")
	b.WriteString("# deny: refused by its authorization; 401/403: refused before it (authentication, service, port);\n")
	b.WriteString("# -: not a way this caller reaches it. Declarations: access, ACL, in-account, mints, read-only, webmail-safe.\n")
	fmt.Fprintf(&b, "%-70s", "function (way) / declaration")
	for _, c := range callers {
		fmt.Fprintf(&b, " %-16s", c.name)
	}
	b.WriteString("\n")
	for ri, rw := range rows {
		f := rw.f
		fmt.Fprintf(&b, "%-70s", fmt.Sprintf("%s %s (%s)", f.Flavour, f.FullName(), rw.way))
		for ci := range callers {
			fmt.Fprintf(&b, " %-16s", cells[ri][ci])
		}
		b.WriteString("\n")
		if rw.way == wayDirect {
			fmt.Fprintf(&b, "    %s\n", declaration(f))
		}
	}
	checkGolden(t, "authz_matrix", []byte(b.String()))
}

// declaration is a function's authorization in words, for the golden file.
func declaration(f *api.Func) string {
	parts := []string{"access=" + f.Access.String()}
	if f.ACL != "" {
		parts = append(parts, "acl="+f.ACL)
	}
	if f.InAccount {
		parts = append(parts, "in-account")
	}
	parts = append(parts, "mints="+f.Mints.String())
	if f.ReadOnly {
		parts = append(parts, "read-only")
	}
	if f.WebmailSafe {
		parts = append(parts, "webmail-safe")
	}
	return strings.Join(parts, ", ")
}
