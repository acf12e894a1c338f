package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/cli"
	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/store"
)

// API tokens end to end (PROTOCOL.md section 4, D5-D7, D16).

// cpanelTokenForbidden is the exact 403 body of a cPanel token used beyond
// UAPI and API 2 (PROTOCOL.md 4.1), written out so a change breaks tests.
const cpanelTokenForbidden = "Token authentication allows access to UAPI or API 2 calls only."

// reToken finds a raw API token (32 of [0-9A-Z]) in text.
var reToken = regexp.MustCompile(`\b[0-9A-Z]{32}\b`)

// farFuture is an expiry far enough away to be stable in golden files
// (2100-01-01T00:00:00Z).
const farFuture = "4102444800"

// mkToken creates a token in-process for a fixture (bounded by the owner's
// privileges) and returns its text.
func (e *testEnv) mkToken(t testing.TB, service, user, name string, kv ...string) string {
	t.Helper()
	ctx := context.Background()
	a, err := e.d.Data.Store.GetAccount(ctx, user)
	if err != nil {
		t.Fatalf("fixture token %s of %s: %v", name, user, err)
	}
	_, raw, err := e.d.Data.Env.CreateToken(ctx, "root", auth.PrincipalFor(a), auth.PrincipalFor(a), service, name, pairs(kv))
	if err != nil {
		t.Fatalf("fixture token %s of %s: %v", name, user, err)
	}
	return raw
}

// createTokenHTTP calls api_token_create on 2087 and returns the token.
func (e *testEnv) createTokenHTTP(t testing.TB, authz, query string) string {
	t.Helper()
	m := whmOK(t, e.do(t, request{port: p2087, path: "/json-api/api_token_create?api.version=1&" + query, auth: authz}))
	tok := str(dig(m, "data", "token"))
	if !reToken.MatchString(tok) || len(tok) != 32 {
		t.Fatalf("api_token_create gave token %q", tok)
	}
	return tok
}

func whmTok(user, tok string) string    { return "whm " + user + ":" + tok }
func cpanelTok(user, tok string) string { return "cpanel " + user + ":" + tok }

// storedToken reads a token from the store by its text.
func (e *testEnv) storedToken(t testing.TB, user, tok string) (store.Token, error) {
	t.Helper()
	return e.d.Data.Store.GetTokenByMAC(context.Background(), auth.TokenMAC(e.d.Data.Key, user, tok))
}

// privs returns myprivs' privileges object.
func privs(t testing.TB, r response) map[string]any {
	t.Helper()
	m := whmOK(t, r)
	list, _ := dig(m, "data", "privileges").([]any)
	if len(list) != 1 {
		t.Fatalf("myprivs: %s", r.body)
	}
	p, _ := list[0].(map[string]any)
	return p
}

// assertForbiddenText checks the cPanel-token path refusal.
func assertForbiddenText(t testing.TB, r response) {
	t.Helper()
	if r.status != http.StatusForbidden || string(r.body) != cpanelTokenForbidden {
		t.Errorf("got %d %q, want 403 %q", r.status, r.body, cpanelTokenForbidden)
	}
	if ct := r.header.Get("Content-Type"); ct != `text/plain; charset="utf-8"` {
		t.Errorf("Content-Type = %q, want text/plain", ct)
	}
}

// ---------------------------------------------------------------------------
// Which token works on which port.

func TestTokensByPort(t *testing.T) {
	e := startWithFixtures(t)
	rootTok := e.mkToken(t, store.TokenWHM, "root", "root-ports")
	resTok := e.mkToken(t, store.TokenWHM, "res", "res-ports")
	bobTok := e.mkToken(t, store.TokenCPanel, "bob", "bob-ports")
	resCP := e.mkToken(t, store.TokenCPanel, "res", "res-cpanel")
	whm := []core.Service{core.ServiceWHM}
	cp := []core.Service{core.ServiceCPanel}
	tests := []struct {
		name    string
		auth    string
		allowed []core.Service
		account string
	}{
		{"root WHM token", whmTok("root", rootTok), whm, ""},
		{"reseller WHM token", whmTok("res", resTok), whm, ""},
		{"WHM scheme in capitals", "WHM root:" + rootTok, whm, ""},
		{"cPanel token", cpanelTok("bob", bobTok), cp, "bob"},
		{"reseller's cPanel token", cpanelTok("res", resCP), cp, "res"},
		{"cPanel scheme mixed case", "CPanel bob:" + bobTok, cp, "bob"},
		{"cPanel token in the webmail scheme (D7)", "webmail bob:" + bobTok, nil, ""},
		{"cPanel token in the WHM scheme", whmTok("bob", bobTok), nil, ""},
		{"WHM token in the cPanel scheme", cpanelTok("root", rootTok), nil, ""},
		{"reseller's WHM token in the cPanel scheme", cpanelTok("res", resTok), nil, ""},
		{"reseller's cPanel token in the WHM scheme", whmTok("res", resCP), nil, ""},
		{"another user's token", whmTok("res", rootTok), nil, ""},
	}
	for _, tc := range tests {
		for _, p := range allPorts {
			for _, prefix := range []string{"", "/cpsess0123456789"} {
				name := tc.name + "/" + p.String()
				if prefix != "" {
					name += "/cpsess"
				}
				t.Run(name, func(t *testing.T) {
					r := e.do(t, request{port: p, path: prefix + p.nativePath(), auth: tc.auth})
					if !slices.Contains(tc.allowed, p.service()) {
						assertD5(t, r)
						return
					}
					if p.service() == core.ServiceWHM {
						whmOK(t, r)
						return
					}
					if got := str(dig(uapiOK(t, r), "data", "user")); got != tc.account {
						t.Errorf("user = %q, want %q", got, tc.account)
					}
				})
			}
		}
	}
}

// TestCPanelTokenReachesUAPIAndAPI2Only: elsewhere, 403 and cpsrvd's text;
// WHM API 1 on a cPanel port is still D2 (port checks come first).
func TestCPanelTokenReachesUAPIAndAPI2Only(t *testing.T) {
	e := startWithFixtures(t)
	tok := cpanelTok("bob", e.mkToken(t, store.TokenCPanel, "bob", "paths"))
	for _, p := range []port{p2082, p2083} {
		t.Run(p.String(), func(t *testing.T) {
			uapiOK(t, e.do(t, request{port: p, path: "/execute/Email/list_pops", auth: tok}))
			uapiOK(t, e.do(t, request{port: p, path: "/cpsess0123456789/execute/Email/list_pops", auth: tok}))
			if r := e.do(t, request{port: p, path: proxy("", "2", "Email", "listpops", ""), auth: tok}); r.status != 200 || !bytes.Contains(r.body, []byte(`"event":{"result":1}`)) {
				t.Errorf("API 2 by cPanel token: %d %s", r.status, r.body)
			}
			if r := e.do(t, request{port: p, path: proxy("bob", "3", "Email", "list_pops", ""), auth: tok}); r.status != 200 || !bytes.Contains(r.body, []byte(`"status":1`)) {
				t.Errorf("UAPI through /json-api/cpanel by cPanel token: %d %s", r.status, r.body)
			}
			assertForbiddenText(t, e.do(t, request{port: p, path: proxy("", "1", "Email", "listpops", ""), auth: tok}))
			assertForbiddenText(t, e.do(t, request{port: p, path: "/cpsess0123456789" + proxy("", "1", "Email", "listpops", ""), auth: tok}))
			assertForbiddenText(t, e.do(t, request{port: p, method: "POST", path: "/json-api/cpanel", ctype: form,
				body: "cpanel_jsonapi_apiversion=1&cpanel_jsonapi_module=Email&cpanel_jsonapi_func=listpops", auth: tok}))
			// WHM API 1 on a cPanel port: D2 before any credential is looked at.
			r := e.do(t, request{port: p, path: "/json-api/listaccts?api.version=1", auth: tok})
			if r.status != http.StatusForbidden || !strings.Contains(whmFailedAny(t, r), "Permission denied") {
				t.Errorf("WHM API 1 by cPanel token on %s: %d %s", p, r.status, r.body)
			}
			// A password is not limited to UAPI and API 2.
			if r := e.do(t, request{port: p, path: proxy("", "1", "Email", "listpops", ""), auth: e.authFor(t, "bob")}); r.status == http.StatusForbidden {
				t.Errorf("API 1 by password got 403 %s", r.body)
			}
		})
	}
}

// whmFailedAny returns a WHM envelope's reason whatever the HTTP status.
func whmFailedAny(t testing.TB, r response) string {
	t.Helper()
	return str(dig(object(t, r), "metadata", "reason"))
}

// ---------------------------------------------------------------------------
// Expiry, purge and allow-lists.

func TestTokenExpiry(t *testing.T) {
	e := startWithFixtures(t)
	root := e.authFor(t, "root")
	version := "/json-api/version?api.version=1"
	now := e.clock.Now()
	soon := now.Add(time.Hour).Unix()
	tok := e.createTokenHTTP(t, root, "token_name=soon&expires_at="+strconv.FormatInt(soon, 10))
	never := e.createTokenHTTP(t, root, "token_name=never&expires_at=0")
	whmOK(t, e.do(t, request{port: p2087, path: version, auth: whmTok("root", tok)}))

	// Past and present expiries are refused at creation.
	for _, at := range []int64{now.Add(-time.Minute).Unix(), 1} {
		reason := whmFailed(t, e.do(t, request{port: p2087, auth: root, path: fmt.Sprintf("/json-api/api_token_create?api.version=1&token_name=past&expires_at=%d", at)}))
		if want := fmt.Sprintf("The system failed to create the API token: The “%d” value must be a future date.", at); reason != want {
			t.Errorf("reason %q, want %q", reason, want)
		}
	}

	e.clock.Advance(time.Hour) // the daemon's clock reaches the expiry
	assertD5(t, e.do(t, request{port: p2087, path: version, auth: whmTok("root", tok)}))
	whmOK(t, e.do(t, request{port: p2087, path: version, auth: whmTok("root", never)}))
	if !strings.Contains(e.log.String(), "expired API token soon") {
		t.Error("the log does not say the token expired")
	}
	// Expired tokens stay listed (as cPanel) and introspection says why.
	list := whmOK(t, e.do(t, request{port: p2087, path: "/json-api/api_token_list?api.version=1", auth: root}))
	if got := str(dig(list, "data", "tokens", "soon", "expires_at")); got != strconv.FormatInt(soon, 10) {
		t.Errorf("expired token listed with expires_at %q", got)
	}
	in := whmOK(t, e.do(t, request{port: p2087, path: "/json-api/api_token_introspect?api.version=1&token=" + tok, auth: root}))
	if str(dig(in, "data", "expired")) != "1" || str(dig(in, "data", "usable")) != "0" {
		t.Errorf("introspect of an expired token: %v", in["data"])
	}
	// An expired token cannot be brought back with an expiry in the past.
	whmFailed(t, e.do(t, request{port: p2087, auth: root, path: fmt.Sprintf("/json-api/api_token_update?api.version=1&token_name=soon&expires_at=%d", soon)}))

	// The purge leaves it for token-purge-after (default 30 days) ...
	ctx := context.Background()
	if n, err := e.d.PurgeExpiredTokens(ctx); err != nil || n != 0 {
		t.Fatalf("purge right after expiry: %d, %v", n, err)
	}
	e.clock.Advance(720*time.Hour + time.Minute)
	if n, err := e.d.PurgeExpiredTokens(ctx); err != nil || n != 1 {
		t.Fatalf("purge 30 days after expiry: %d, %v; want 1", n, err)
	}
	list = whmOK(t, e.do(t, request{port: p2087, path: "/json-api/api_token_list?api.version=1", auth: root}))
	if dig(list, "data", "tokens", "soon") != nil || dig(list, "data", "tokens", "never") == nil {
		t.Errorf("after the purge: %s", e.do(t, request{port: p2087, path: "/json-api/api_token_list?api.version=1", auth: root}).body)
	}
	if !strings.Contains(e.log.String(), "purged expired API tokens") {
		t.Error("the purge is not logged")
	}
}

// TestTokenPurgeAtStart: the daemon purges when it starts, with the
// configured period.
func TestTokenPurgeAtStart(t *testing.T) {
	dir := t.TempDir()
	e := startWith(t, func(c *config.Config) { c.DataDir = dir; c.TokenPurgeAfter = 0 })
	e.mkToken(t, store.TokenWHM, "root", "short", "expires_at", strconv.FormatInt(time.Now().Add(2*time.Second).Unix(), 10))
	e.mkToken(t, store.TokenWHM, "root", "forever")
	if !strings.Contains(e.log.String(), "purged expired API tokens") {
		t.Error("no purge at start")
	}
	ctx := context.Background()
	if n, _ := e.d.PurgeExpiredTokens(ctx); n != 0 {
		t.Fatalf("purged %d tokens that had not expired", n)
	}
	e.clock.Advance(3 * time.Second)
	if n, _ := e.d.PurgeExpiredTokens(ctx); n != 1 {
		t.Fatalf("token-purge-after 0: purged %d, want 1", n)
	}
	ts, err := e.d.Data.Store.ListTokens(ctx, store.TokenWHM, "root")
	if err != nil || len(ts) != 1 || ts[0].Name != "forever" {
		t.Fatalf("left after the purge: %v %v", ts, err)
	}
}

// TestTokenAllowLists: IPv4 and IPv6 allow-lists on a daemon listening on
// both families; a token bound to 127.0.0.1 is refused from ::1.
func TestTokenAllowLists(t *testing.T) {
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skipf("IPv6 loopback unavailable: %v", err)
	} else {
		ln.Close()
	}
	e := startFixturesWith(t, func(c *config.Config) { c.Listen = "" }) // every address, both families
	if host, _, _ := net.SplitHostPort(e.d.Addr(core.ServiceWHM, true)); host != "::" {
		t.Skipf("the daemon did not listen on both families (%s)", e.d.Addr(core.ServiceWHM, true))
	}
	root := e.authFor(t, "root")
	tokens := map[string]string{}
	for name, ips := range map[string]string{
		"v4-only":    "whitelist_ip=127.0.0.1",
		"v6-only":    "whitelist_ip=::1",
		"both":       "whitelist_ip-0=127.0.0.0/8&whitelist_ip-1=::1/128",
		"neither":    "whitelist_ip=10.0.0.0/8&whitelist_ip=fc00::/7",
		"mapped":     "whitelist_ip=::ffff:127.0.0.1",
		"v6-network": "whitelist_ip=0:0:0:0:0:0:0:0/0",
	} {
		tokens[name] = e.createTokenHTTP(t, root, "token_name="+name+"&"+ips)
	}
	tests := []struct {
		token      string
		v4, v6     bool
		whitelist  []string
		introspect bool
	}{
		{"v4-only", true, false, []string{"127.0.0.1"}, true},
		{"v6-only", false, true, []string{"0000:0000:0000:0000:0000:0000:0000:0001"}, true},
		{"both", true, true, []string{"127.0.0.0/8", "0000:0000:0000:0000:0000:0000:0000:0001/128"}, false},
		{"neither", false, false, []string{"10.0.0.0/8", "fc00:0000:0000:0000:0000:0000:0000:0000/7"}, false},
		{"mapped", true, false, []string{"127.0.0.1"}, false},
		{"v6-network", false, true, []string{"0000:0000:0000:0000:0000:0000:0000:0000/0"}, false},
	}
	list := whmOK(t, e.do(t, request{port: p2087, path: "/json-api/api_token_list?api.version=1", auth: root, host: "127.0.0.1"}))
	for _, tc := range tests {
		for _, p := range []port{p2086, p2087} {
			for _, from := range []struct {
				host string
				ok   bool
			}{{"127.0.0.1", tc.v4}, {"::1", tc.v6}} {
				t.Run(tc.token+"/"+p.String()+"/from "+from.host, func(t *testing.T) {
					r := e.do(t, request{port: p, host: from.host, path: "/json-api/version?api.version=1", auth: whmTok("root", tokens[tc.token])})
					if from.ok {
						whmOK(t, r)
					} else {
						assertD5(t, r)
					}
					if !tc.introspect || p != p2087 {
						return
					}
					in := whmOK(t, e.do(t, request{port: p, host: from.host, auth: root, path: "/json-api/api_token_introspect?api.version=1&token=" + tokens[tc.token]}))
					if str(dig(in, "data", "address")) != from.host || str(dig(in, "data", "address_allowed")) != strconv.Itoa(fmtInt(from.ok)) {
						t.Errorf("introspect from %s: %v", from.host, in["data"])
					}
				})
			}
		}
		var got []string
		for _, v := range dig(list, "data", "tokens", tc.token, "whitelist_ips").([]any) {
			got = append(got, str(v))
		}
		if !slices.Equal(got, tc.whitelist) {
			t.Errorf("%s: whitelist_ips %v, want %v", tc.token, got, tc.whitelist)
		}
	}
	// The log says which address was refused, never the token.
	if !strings.Contains(e.log.String(), "not allowed from ::1") {
		t.Error("the log does not name the refused address")
	}
}

func fmtInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestTokenWhitelistValidation(t *testing.T) {
	e := startWithFixtures(t)
	root := e.authFor(t, "root")
	var many []string
	for i := 0; i < 101; i++ {
		many = append(many, fmt.Sprintf("whitelist_ip-%d=10.0.0.%d", i, i%250))
	}
	tests := []struct {
		name, query, want string
	}{
		{"not an address", "whitelist_ip=example.com", "“example.com” is not a valid IP address or CIDR range."},
		{"v4 out of range", "whitelist_ip=300.1.1.1", "“300.1.1.1” is not a valid IP address or CIDR range."},
		{"bad prefix length", "whitelist_ip=10.0.0.0/33", "“10.0.0.0/33” is not a valid IP address or CIDR range."},
		{"zone", "whitelist_ip=fe80::1%25eth0", "“fe80::1%eth0” is not a valid IP address or CIDR range."},
		{"any with addresses", "whitelist_ip=any&whitelist_ip=10.0.0.1", "cannot be combined"},
		{"101 entries", strings.Join(many, "&"), "at most 100"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reason := whmFailed(t, e.do(t, request{port: p2087, auth: root, path: "/json-api/api_token_create?api.version=1&token_name=x&" + tc.query}))
			if !strings.HasPrefix(reason, "The system failed to create the API token: ") || !strings.Contains(reason, tc.want) {
				t.Errorf("reason %q, want the prefix and %q", reason, tc.want)
			}
		})
	}
	// 100 entries are fine; duplicates fold; host bits are cleared.
	var hundred []string
	for i := 0; i < 100; i++ {
		hundred = append(hundred, fmt.Sprintf("whitelist_ip-%d=10.0.%d.1", i, i))
	}
	whmOK(t, e.do(t, request{port: p2087, auth: root, path: "/json-api/api_token_create?api.version=1&token_name=hundred&" + strings.Join(hundred, "&")}))
	m := whmOK(t, e.do(t, request{port: p2087, auth: root, path: "/json-api/api_token_create?api.version=1&token_name=fold&whitelist_ip=1.1.1.9/29&whitelist_ip=1.1.1.8/29&whitelist_ip=FC00:ABCD::F"}))
	if got := fmt.Sprint(dig(m, "data", "whitelist_ips")); got != "[1.1.1.8/29 fc00:abcd:0000:0000:0000:0000:0000:000f]" {
		t.Errorf("whitelist_ips %s", got)
	}
}

// ---------------------------------------------------------------------------
// ACLs: subset at creation, intersection at use.

func TestTokenACLs(t *testing.T) {
	e := startWithFixtures(t)
	root := e.authFor(t, "root")
	res := e.authFor(t, "res")
	create := "/json-api/api_token_create?api.version=1&"

	// Without manage-api-tokens a reseller cannot manage tokens at all.
	if reason := whmFailed(t, e.do(t, request{port: p2087, auth: res, path: create + "token_name=x"})); reason != "Permission denied" {
		t.Errorf("reseller without manage-api-tokens: %q", reason)
	}
	whmOK(t, e.do(t, request{port: p2087, auth: root, path: "/json-api/setacls?api.version=1&reseller=res&acl-list-accts=1&acl-create-acct=1&acl-acct-summary=1&acl-manage-api-tokens=1"}))

	for _, tc := range []struct{ name, acls, want string }{
		{"privilege the reseller lacks", "acl=kill-acct", "Invalid or unauthorized ACL(s) specified: kill-acct"},
		{"all", "acl=all", "Invalid or unauthorized ACL(s) specified: all"},
		{"unknown and lacking, in order", "acl=list-accts&acl-1=bogus&acl-2=kill-dns", "Invalid or unauthorized ACL(s) specified: bogus, kill-dns"},
		{"empty", "acl=", "Specify at least one ACL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reason := whmFailed(t, e.do(t, request{port: p2087, auth: res, path: create + "token_name=x&" + tc.acls}))
			if !strings.HasPrefix(reason, "The system failed to create the API token: "+tc.want) {
				t.Errorf("reason %q, want %q", reason, tc.want)
			}
		})
	}
	// Default: every privilege of the reseller, not "all".
	m := whmOK(t, e.do(t, request{port: p2087, auth: res, path: create + "token_name=default"}))
	if got := fmt.Sprint(dig(m, "data", "acls")); got != "[acct-summary create-acct list-accts manage-api-tokens]" {
		t.Errorf("reseller default acls %s", got)
	}
	m = whmOK(t, e.do(t, request{port: p2087, auth: root, path: create + "token_name=default"}))
	if got := fmt.Sprint(dig(m, "data", "acls")); got != "[all]" {
		t.Errorf("root default acls %s", got)
	}

	narrow := whmTok("res", e.createTokenHTTP(t, res, "token_name=narrow&acl=list-accts&acl=create-acct"))
	p := privs(t, e.do(t, request{port: p2087, path: "/json-api/myprivs?api.version=1", auth: narrow}))
	for acl, want := range map[string]string{"list-accts": "1", "create-acct": "1", "acct-summary": "0", "manage-api-tokens": "0", "all": "0"} {
		if str(p[acl]) != want {
			t.Errorf("narrow token myprivs %s = %v, want %s", acl, p[acl], want)
		}
	}
	// The token cannot manage tokens (it lacks manage-api-tokens) nor widen itself.
	if reason := whmFailed(t, e.do(t, request{port: p2087, auth: narrow, path: create + "token_name=wider"})); reason != "Permission denied" {
		t.Errorf("narrow token creating a token: %q", reason)
	}
	whmOK(t, e.do(t, request{port: p2087, auth: narrow, path: "/json-api/listaccts?api.version=1"}))

	// Root narrows the reseller: the token narrows with it, at once.
	whmOK(t, e.do(t, request{port: p2087, auth: root, path: "/json-api/setacls?api.version=1&reseller=res&acl-list-accts=1&acl-manage-api-tokens=1"}))
	p = privs(t, e.do(t, request{port: p2087, path: "/json-api/myprivs?api.version=1", auth: narrow}))
	if str(p["create-acct"]) != "0" || str(p["list-accts"]) != "1" {
		t.Errorf("after setacls: create-acct %v list-accts %v", p["create-acct"], p["list-accts"])
	}
	if reason := whmFailed(t, e.do(t, request{port: p2087, auth: narrow, path: "/json-api/createacct?api.version=1&username=tok&domain=tok.test&password=Tok-Pass-1"})); reason != "Permission denied" {
		t.Errorf("createacct by narrowed token: %q", reason)
	}
	// Unsetupreseller: the reseller's WHM tokens stop working.
	whmOK(t, e.do(t, request{port: p2087, auth: root, path: "/json-api/unsetupreseller?api.version=1&user=res"}))
	assertD5(t, e.do(t, request{port: p2087, path: "/json-api/version?api.version=1", auth: narrow}))

	// A root token limited to list-accts is limited to it.
	limited := whmTok("root", e.createTokenHTTP(t, root, "token_name=limited&acl=list-accts"))
	p = privs(t, e.do(t, request{port: p2087, path: "/json-api/myprivs?api.version=1", auth: limited}))
	if str(p["all"]) != "0" || str(p["list-accts"]) != "1" || str(p["kill-acct"]) != "0" {
		t.Errorf("limited root token privs: %v", p)
	}
	for _, path := range []string{"/json-api/setacls?api.version=1&reseller=res&acl-all=1", "/json-api/set_tweaksetting?api.version=1&key=requiressl&value=1", "/json-api/api_token_list?api.version=1"} {
		if reason := whmFailed(t, e.do(t, request{port: p2087, auth: limited, path: path})); reason != "Permission denied" {
			t.Errorf("%s by limited root token: %q", path, reason)
		}
	}
}

// ---------------------------------------------------------------------------
// Changes take effect at once.

func TestTokenChangesActAtOnce(t *testing.T) {
	e := startWithFixtures(t)
	root := e.authFor(t, "root")
	version := "/json-api/version?api.version=1"
	info := "/execute/Variables/get_user_information"
	tok := whmTok("root", e.createTokenHTTP(t, root, "token_name=ops"))
	call := func(p string) string { return "/json-api/" + p }

	t.Run("rename", func(t *testing.T) {
		m := whmOK(t, e.do(t, request{port: p2087, auth: root, path: call("api_token_update?api.version=1&token_name=ops&new_name=ops2")}))
		if str(dig(m, "data", "name")) != "ops2" || dig(m, "data", "token") != nil {
			t.Errorf("update output %v", m["data"])
		}
		whmOK(t, e.do(t, request{port: p2087, path: version, auth: tok}))
		reason := whmFailed(t, e.do(t, request{port: p2087, auth: root, path: call("api_token_revoke?api.version=1&token_name=ops")}))
		if reason != "The system failed to revoke the API token: The API token “ops” does not exist." {
			t.Errorf("revoke by the old name: %q", reason)
		}
	})
	t.Run("update allow-list", func(t *testing.T) {
		whmOK(t, e.do(t, request{port: p2087, auth: root, path: call("api_token_update?api.version=1&token_name=ops2&whitelist_ip=192.0.2.1")}))
		assertD5(t, e.do(t, request{port: p2087, path: version, auth: tok}))
		m := whmOK(t, e.do(t, request{port: p2087, auth: root, path: call("api_token_update?api.version=1&token_name=ops2&whitelist_ip=any")}))
		if dig(m, "data", "whitelist_ips") != nil {
			t.Errorf("whitelist_ip=any left %v", dig(m, "data", "whitelist_ips"))
		}
		whmOK(t, e.do(t, request{port: p2087, path: version, auth: tok}))
	})
	t.Run("update ACLs, omitted parts unchanged (D16)", func(t *testing.T) {
		whmOK(t, e.do(t, request{port: p2087, auth: root, path: call("api_token_update?api.version=1&token_name=ops2&expires_at=" + farFuture + "&whitelist_ip=127.0.0.1")}))
		m := whmOK(t, e.do(t, request{port: p2087, auth: root, path: call("api_token_update?api.version=1&token_name=ops2&acl=list-accts")}))
		d := m["data"].(map[string]any)
		if fmt.Sprint(d["acls"]) != "[list-accts]" || str(d["expires_at"]) != farFuture || fmt.Sprint(d["whitelist_ips"]) != "[127.0.0.1]" {
			t.Errorf("after an ACL-only update: %v", d)
		}
		if reason := whmFailed(t, e.do(t, request{port: p2087, auth: tok, path: "/json-api/listresellers?api.version=1"})); reason != "Permission denied" {
			t.Errorf("narrowed token: %q", reason)
		}
		if reason := whmFailed(t, e.do(t, request{port: p2087, auth: root, path: call("api_token_update?api.version=1&token_name=ops2")})); reason != "Specify a new name, updated ACLs, or IPs." {
			t.Errorf("nothing to change: %q", reason)
		}
	})
	t.Run("revoke", func(t *testing.T) {
		whmOK(t, e.do(t, request{port: p2087, auth: root, path: call("api_token_revoke?api.version=1&token_name=ops2")}))
		assertD5(t, e.do(t, request{port: p2087, path: version, auth: tok}))
	})
	t.Run("suspension and deletion", func(t *testing.T) {
		bob := cpanelTok("bob", e.mkToken(t, store.TokenCPanel, "bob", "bob-life"))
		uapiOK(t, e.do(t, request{port: p2083, path: info, auth: bob}))
		whmOK(t, e.do(t, request{port: p2087, auth: root, path: call("suspendacct?api.version=1&user=bob")}))
		assertD5(t, e.do(t, request{port: p2083, path: info, auth: bob}))
		whmOK(t, e.do(t, request{port: p2087, auth: root, path: call("unsuspendacct?api.version=1&user=bob")}))
		uapiOK(t, e.do(t, request{port: p2083, path: info, auth: bob}))

		carol := cpanelTok("carol", e.mkToken(t, store.TokenCPanel, "carol", "carol-life"))
		uapiOK(t, e.do(t, request{port: p2083, path: info, auth: carol}))
		whmOK(t, e.do(t, request{port: p2087, auth: root, path: call("removeacct?api.version=1&user=carol")}))
		assertD5(t, e.do(t, request{port: p2083, path: info, auth: carol}))
		if ts, err := e.d.Data.Store.ListTokens(context.Background(), store.TokenCPanel, "carol"); err != nil || len(ts) != 0 {
			t.Errorf("tokens of a deleted account: %v %v", ts, err)
		}
		// Re-creating the account does not bring the token back.
		whmOK(t, e.do(t, request{port: p2087, auth: root, path: call("createacct?api.version=1&username=carol&domain=carol2.test&password=" + carolPass)}))
		assertD5(t, e.do(t, request{port: p2083, path: info, auth: carol}))
	})
}

// TestSuspendedAccountGetsNoToken: cPanel refuses token creation for a
// suspended account; so do the WHM proxy and the CLI.
func TestSuspendedAccountGetsNoToken(t *testing.T) {
	e := startWithFixtures(t)
	r := e.do(t, request{port: p2087, auth: e.authFor(t, "root"),
		path: "/json-api/cpanel?cpanel_jsonapi_apiversion=3&cpanel_jsonapi_user=sus&cpanel_jsonapi_module=Tokens&cpanel_jsonapi_func=create_full_access&name=x"})
	m := object(t, r)
	if str(dig(m, "result", "status")) != "0" || !strings.Contains(string(r.body), "is suspended") {
		t.Errorf("token for a suspended account: %s", r.body)
	}
	var out, errOut bytes.Buffer
	code := cli.Main(context.Background(), []string{"token", "create", "--data-dir", e.dir, "--hash-rounds", "1000", "--user", "sus"}, func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
	if code != 1 || out.Len() != 0 || !strings.Contains(errOut.String(), "is suspended") {
		t.Errorf("cpauth token create --user sus: %d %q %q", code, out.String(), errOut.String())
	}
}

// ---------------------------------------------------------------------------
// The CLI and the running daemon share the data directory.

func runCLI(t testing.TB, e *testEnv, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	full := append([]string{args[0], args[1], "--data-dir", e.dir, "--hash-rounds", "1000"}, args[2:]...)
	if args[0] != "token" {
		full = append([]string{args[0], "--data-dir", e.dir, "--hash-rounds", "1000"}, args[1:]...)
	}
	code := cli.Main(context.Background(), full, func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestTokenCLIWithRunningDaemon(t *testing.T) {
	e := startWithFixtures(t)
	root := e.authFor(t, "root")
	version := "/json-api/version?api.version=1"

	// Revoked by the CLI: refused on the daemon's next request.
	tok := whmTok("root", e.createTokenHTTP(t, root, "token_name=ci"))
	whmOK(t, e.do(t, request{port: p2087, path: version, auth: tok}))
	if code, out, errOut := runCLI(t, e, "token", "revoke", "--user", "root", "--name", "ci"); code != 0 || !strings.Contains(out, "Revoked the WHM API token “ci” of root.") {
		t.Fatalf("token revoke: %d %q %q", code, out, errOut)
	}
	assertD5(t, e.do(t, request{port: p2087, path: version, auth: tok}))

	// Created by the CLI: printed once, alone on stdout, and usable at once.
	code, out, errOut := runCLI(t, e, "token", "create", "--user", "res", "--name", "cli-res", "--acl", "list-accts", "--whitelist-ip", "127.0.0.1", "--expires-at", farFuture)
	if code != 0 || !regexp.MustCompile(`^[0-9A-Z]{32}\n$`).MatchString(out) {
		t.Fatalf("token create: %d %q %q", code, out, errOut)
	}
	resTok := strings.TrimSpace(out)
	if strings.Contains(errOut, resTok) || !strings.Contains(errOut, "ACLs: list-accts") || !strings.Contains(errOut, "shown only this once") {
		t.Errorf("create's stderr: %q", errOut)
	}
	p := privs(t, e.do(t, request{port: p2087, path: "/json-api/myprivs?api.version=1", auth: whmTok("res", resTok)}))
	if str(p["list-accts"]) != "1" || str(p["create-acct"]) != "0" {
		t.Errorf("CLI token privs %v", p)
	}
	code, out, _ = runCLI(t, e, "token", "create", "--user", "bob", "--name", "cli-bob", "--readonly")
	if code != 0 {
		t.Fatalf("cPanel token create: %d", code)
	}
	bobTok := strings.TrimSpace(out)
	uapiOK(t, e.do(t, request{port: p2083, path: "/execute/Email/list_pops", auth: cpanelTok("bob", bobTok)}))

	// Refusals: an ACL above the owner; ACLs on a cPanel token.
	if code, _, errOut := runCLI(t, e, "token", "create", "--user", "res", "--acl", "kill-dns"); code != 1 || !strings.Contains(errOut, "Invalid or unauthorized ACL(s) specified: kill-dns") {
		t.Errorf("create above the reseller: %d %q", code, errOut)
	}
	if code, _, _ := runCLI(t, e, "token", "create", "--user", "bob", "--acl", "list-accts"); code != 2 {
		t.Errorf("--acl on a cPanel token: %d", code)
	}

	// List: a table without tokens.
	code, out, _ = runCLI(t, e, "token", "list", "--user", "res")
	if code != 0 || !strings.Contains(out, "cli-res") || !strings.Contains(out, "list-accts") || !strings.Contains(out, "2100-01-01T00:00:00Z") || strings.Contains(out, resTok) {
		t.Errorf("token list: %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, e, "token", "list", "--user", "bob")
	if code != 0 || !strings.Contains(out, "cli-bob") || !strings.Contains(out, "read-only") || strings.Contains(out, bobTok) {
		t.Errorf("token list bob: %d\n%s", code, out)
	}

	// The whmapi1 and uapi twins work through the registry.
	code, out, _ = runCLI(t, e, "whmapi1", "--output", "json", "api_token_create", "token_name=twin", "acl=list-accts")
	if code != 0 || !strings.Contains(out, `"name":"twin"`) {
		t.Fatalf("whmapi1 api_token_create: %d %s", code, out)
	}
	twin := reToken.FindString(out)
	whmOK(t, e.do(t, request{port: p2087, path: version, auth: whmTok("root", twin)}))
	code, out, _ = runCLI(t, e, "uapi", "--output", "json", "--user", "bob", "Tokens", "create_full_access", "name=twin")
	if code != 0 || !strings.Contains(out, `"status":1`) {
		t.Fatalf("uapi Tokens create_full_access: %d %s", code, out)
	}
	uapiOK(t, e.do(t, request{port: p2083, path: "/execute/Email/list_pops", auth: cpanelTok("bob", reToken.FindString(out))}))
	code, out, _ = runCLI(t, e, "uapi", "--output", "json", "--user", "bob", "Tokens", "list")
	if code != 0 || !strings.Contains(out, `"name":"twin"`) || !strings.Contains(out, `"name":"cli-bob"`) {
		t.Errorf("uapi Tokens list: %d %s", code, out)
	}
	if code, out, _ := runCLI(t, e, "whmapi1", "--output", "json", "api_token_revoke", "token_name=twin"); code != 0 {
		t.Errorf("whmapi1 api_token_revoke: %d %s", code, out)
	}
	assertD5(t, e.do(t, request{port: p2087, path: version, auth: whmTok("root", twin)}))
}

// TestAccessHashImportedAsToken: a 960-hex access hash imported as a WHM
// API token (as cPanel's converter does) authenticates as "whm root:<hash>"
// through the token method, with all a token's rules.
func TestAccessHashImportedAsToken(t *testing.T) {
	e := startWithFixtures(t)
	root := e.authFor(t, "root")
	version := "/json-api/version?api.version=1"

	// A hash from a file, not root's access hash.
	hash := strings.Repeat("0123456789abcdef", 60)
	var file strings.Builder
	for i := 0; i < len(hash); i += 32 {
		file.WriteString(hash[i:i+32] + "\n")
	}
	path := filepath.Join(t.TempDir(), "accesshash")
	if err := os.WriteFile(path, []byte(file.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, e, "accesshash", "--user", "root", "--import-as-token", "--import", path); code != 0 || !strings.Contains(out, "accesshash-") {
		t.Fatalf("accesshash --import-as-token --import: %d %q %q", code, out, errOut)
	}
	whmOK(t, e.do(t, request{port: p2087, path: version, auth: "whm root:" + hash}))
	whmOK(t, e.do(t, request{port: p2086, path: version, auth: "WHM root:" + strings.ToUpper(hash)}))
	if !strings.Contains(e.log.String(), "auth=token") {
		t.Error("the imported hash did not authenticate by the token method")
	}
	assertD5(t, e.do(t, request{port: p2083, path: "/execute/Variables/get_user_information", auth: "whm root:" + hash}))
	if code, _, errOut := runCLI(t, e, "accesshash", "--user", "root", "--import-as-token", "--import", path); code != 1 || !strings.Contains(errOut, "already the API token") {
		t.Errorf("importing twice: %d %q", code, errOut)
	}

	// Root's own access hash converted: it stops being an access hash and
	// goes on working as a token, also with access hashes switched off.
	own := e.accessHash(t, "root")
	if code, out, errOut := runCLI(t, e, "accesshash", "--user", "root", "--import-as-token"); code != 0 {
		t.Fatalf("accesshash --import-as-token: %d %q %q", code, out, errOut)
	}
	if _, err := e.d.Data.Store.GetAccessHash(context.Background(), "root"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("root's access hash after conversion: %v", err)
	}
	whmOK(t, e.do(t, request{port: p2087, path: version, auth: "whm root:" + own}))
	whmOK(t, e.do(t, request{port: p2087, auth: root, path: "/json-api/set_tweaksetting?api.version=1&key=allow_deprecated_accesshash&value=0"}))
	whmOK(t, e.do(t, request{port: p2087, path: version, auth: "whm root:" + own}))

	// Both are listed as accesshash-<epoch>[-XXXXXXXX]; revoking one ends it.
	list := whmOK(t, e.do(t, request{port: p2087, path: "/json-api/api_token_list?api.version=1", auth: root}))
	tokens, _ := dig(list, "data", "tokens").(map[string]any)
	var names []string
	for n := range tokens {
		if !regexp.MustCompile(`^accesshash-\d+(-[0-9A-Z]{8})?$`).MatchString(n) {
			t.Errorf("imported token name %q", n)
		}
		names = append(names, n)
	}
	if len(names) != 2 {
		t.Fatalf("tokens %v", names)
	}
	details := whmOK(t, e.do(t, request{port: p2087, path: "/json-api/api_token_get_details?api.version=1&token=" + own, auth: root}))
	name := str(dig(details, "data", "name"))
	if !slices.Contains(names, name) || fmt.Sprint(dig(details, "data", "acls")) != "[all]" {
		t.Fatalf("get_details of the converted hash: %v", details["data"])
	}
	whmOK(t, e.do(t, request{port: p2087, path: "/json-api/api_token_revoke?api.version=1&token_name=" + name, auth: root}))
	assertD5(t, e.do(t, request{port: p2087, path: version, auth: "whm root:" + own}))
	whmOK(t, e.do(t, request{port: p2087, path: version, auth: "whm root:" + hash}))
}

// ---------------------------------------------------------------------------
// Read-only cPanel tokens.

func TestReadOnlyCPanelToken(t *testing.T) {
	e := startWithFixtures(t)
	m := uapiOK(t, e.do(t, request{port: p2083, path: "/execute/Tokens/create_full_access?name=reader&readonly=1", auth: e.authFor(t, "bob")}))
	ro := cpanelTok("bob", str(dig(m, "data", "token")))
	for _, path := range []string{
		"/execute/Email/list_pops",
		"/execute/Variables/get_user_information",
		"/execute/Tokens/list",
		proxy("", "3", "Email", "list_pops", ""),
	} {
		uapiOrProxyOK(t, e.do(t, request{port: p2083, path: path, auth: ro}))
	}
	if r := e.do(t, request{port: p2083, path: proxy("", "2", "Email", "listpops", ""), auth: ro}); !bytes.Contains(r.body, []byte(`"event":{"result":1}`)) {
		t.Errorf("API 2 listpops by read-only token: %s", r.body)
	}
	for _, path := range []string{
		"/execute/Email/add_pop?email=new&password=New-Pass-1",
		"/execute/Email/delete_pop?email=info",
		"/execute/Tokens/create_full_access?name=escalate",
		"/execute/Tokens/revoke?name=reader",
	} {
		msg := uapiError(t, e.do(t, request{port: p2083, path: path, auth: ro}), 200)
		if !strings.Contains(msg, "The API token “reader” is read-only") {
			t.Errorf("%s by read-only token: %q", path, msg)
		}
	}
	if _, err := e.d.Data.Store.GetMailbox(context.Background(), "new", "bob.test"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the read-only token created a mailbox: %v", err)
	}
	list := uapiOK(t, e.do(t, request{port: p2083, path: "/execute/Tokens/list", auth: ro}))
	entries, _ := list["data"].([]any)
	if len(entries) != 1 || str(dig(entries[0].(map[string]any), "readonly")) != "1" {
		t.Errorf("Tokens::list %s", list["data"])
	}
}

func uapiOrProxyOK(t testing.TB, r response) {
	t.Helper()
	m := object(t, r)
	if inner, ok := m["result"].(map[string]any); ok {
		m = inner
	}
	if r.status != 200 || str(m["status"]) != "1" {
		t.Errorf("status %d %s", r.status, r.body)
	}
}

// ---------------------------------------------------------------------------
// Secrets at rest and in logs; D5 sameness; last use.

func TestNoRawTokenAtRest(t *testing.T) {
	e := startWithFixtures(t)
	root := e.authFor(t, "root")
	var secrets []string
	for _, q := range []string{"token_name=a", "token_name=b&acl=list-accts&whitelist_ip=127.0.0.1", "token_name=c&expires_at=" + farFuture} {
		secrets = append(secrets, e.createTokenHTTP(t, root, q))
	}
	m := uapiOK(t, e.do(t, request{port: p2083, path: "/execute/Tokens/create_full_access?name=d", auth: e.authFor(t, "bob")}))
	bobTok := str(dig(m, "data", "token"))
	secrets = append(secrets, bobTok)
	code, out, _ := runCLI(t, e, "token", "create", "--user", "res", "--name", "e")
	if code != 0 {
		t.Fatal("CLI token create failed")
	}
	secrets = append(secrets, strings.TrimSpace(out))
	// Use them all (last use is written), update one, revoke one, and fail
	// with a few.
	for _, s := range secrets[:3] {
		whmOK(t, e.do(t, request{port: p2087, path: "/json-api/version?api.version=1", auth: whmTok("root", s)}))
		whmOK(t, e.do(t, request{port: p2087, path: "/json-api/api_token_get_details?api.version=1&token=" + s, auth: root}))
		whmOK(t, e.do(t, request{port: p2087, path: "/json-api/api_token_introspect?api.version=1&token=" + s, auth: root}))
		assertD5(t, e.do(t, request{port: p2083, path: "/execute/Email/list_pops", auth: cpanelTok("root", s)}))
	}
	uapiOK(t, e.do(t, request{port: p2083, path: "/execute/Email/list_pops", auth: cpanelTok("bob", bobTok)}))
	assertForbiddenText(t, e.do(t, request{port: p2083, path: proxy("", "1", "Email", "listpops", ""), auth: cpanelTok("bob", bobTok)}))
	whmOK(t, e.do(t, request{port: p2087, path: "/json-api/api_token_update?api.version=1&token_name=a&new_name=a2", auth: root}))
	whmOK(t, e.do(t, request{port: p2087, path: "/json-api/api_token_revoke?api.version=1&token_name=c", auth: root}))
	assertD5(t, e.do(t, request{port: p2087, path: "/json-api/version?api.version=1", auth: whmTok("root", secrets[2])}))
	e.d.Data.Uses.Flush(context.Background())

	// The store has the tokens, and their last use ...
	st, err := e.storedToken(t, "root", secrets[0])
	if err != nil || st.Name != "a2" {
		t.Fatalf("stored token: %+v %v", st, err)
	}
	// ... but no file of the data directory (database, WAL, logs,
	// accounting log) nor the daemon's log holds a token.
	files := 0
	err = filepath.WalkDir(e.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for i, s := range secrets {
			if bytes.Contains(raw, []byte(s)) || bytes.Contains(bytes.ToLower(raw), []byte(strings.ToLower(s))) {
				t.Errorf("%s holds token %d", path, i)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 3 {
		t.Errorf("walked only %d files", files)
	}
	for i, s := range secrets {
		if strings.Contains(e.log.String(), s) {
			t.Errorf("the daemon log holds token %d", i)
		}
	}
	// The accounting log has cPanel's lines, without tokens.
	acct, err := os.ReadFile(filepath.Join(e.dir, "logs", "accounting.log"))
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(e.dir, "logs", "accounting.log"))
	di, _ := os.Stat(filepath.Join(e.dir, "logs"))
	if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
		t.Errorf("accounting log mode %v, logs dir %v; want 0600, 0700", fi.Mode().Perm(), di.Mode().Perm())
	}
	lineRE := regexp.MustCompile(`^[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d \d{4}:(CREATE|UPDATE|REVOKE)APITOKEN:([a-z]+):([a-z]+):not-applicable:([A-Za-z0-9_-]+)$`)
	var events []string
	for _, line := range strings.Split(strings.TrimSpace(string(acct)), "\n") {
		m := lineRE.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("accounting line %q", line)
			continue
		}
		events = append(events, m[1]+":"+m[2]+":"+m[3]+":"+m[4])
	}
	want := []string{"CREATE:root:root:a", "CREATE:root:root:b", "CREATE:root:root:c", "CREATE:bob:bob:d", "CREATE:root:res:e", "UPDATE:root:root:a", "REVOKE:root:root:c"}
	if !slices.Equal(events, want) {
		t.Errorf("accounting events %v\nwant %v", events, want)
	}
}

// TestTokenFailuresAreAllD5: the same bytes whatever was wrong; the log
// says which, without the token.
func TestTokenFailuresAreAllD5(t *testing.T) {
	e := startWithFixtures(t)
	root := e.authFor(t, "root")
	expiring := e.createTokenHTTP(t, root, "token_name=expiring&expires_at="+strconv.FormatInt(e.clock.Now().Add(time.Minute).Unix(), 10))
	fenced := e.createTokenHTTP(t, root, "token_name=fenced&whitelist_ip=192.0.2.1")
	revoked := e.createTokenHTTP(t, root, "token_name=revoked")
	whmOK(t, e.do(t, request{port: p2087, path: "/json-api/api_token_revoke?api.version=1&token_name=revoked", auth: root}))
	bob := e.mkToken(t, store.TokenCPanel, "bob", "bob-d5")
	e.clock.Advance(2 * time.Minute)
	tests := []struct {
		name, auth, logs string
		port             port
	}{
		{"malformed", "whm root:not-a-token", "unknown or revoked", p2087},
		{"unknown", "whm root:ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "unknown or revoked", p2087},
		{"expired", whmTok("root", expiring), "expired API token expiring", p2087},
		{"refused address", whmTok("root", fenced), "not allowed from 127.0.0.1", p2087},
		{"revoked", whmTok("root", revoked), "unknown or revoked", p2087},
		{"cPanel token on WHM", cpanelTok("bob", bob), "used on the whm ports", p2087},
		{"cPanel token on Webmail", cpanelTok("bob", bob), "used on the webmail ports", p2096},
		{"webmail scheme", "webmail bob:" + bob, "unsupported Authorization scheme", p2096},
		{"other user's token", cpanelTok("carol", bob), "unknown or revoked", p2083},
		{"empty token", "cpanel bob:", "empty user or secret", p2083},
	}
	shapes := map[string]string{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, request{port: tc.port, path: tc.port.nativePath(), auth: tc.auth})
			assertD5(t, r)
			h := r.header.Clone()
			h.Del("Date")
			var b strings.Builder
			_ = h.Write(&b)
			shapes[b.String()] = tc.name
			if !strings.Contains(e.log.String(), tc.logs) {
				t.Errorf("the log does not say %q", tc.logs)
			}
		})
	}
	if len(shapes) != 1 {
		t.Errorf("D5 answers differ: %v", shapes)
	}
	for _, s := range []string{expiring, fenced, revoked, bob} {
		if strings.Contains(e.log.String(), s) {
			t.Error("the log holds a token")
		}
	}
}

// TestTokenLastUsed: last use (time and address) is written after a use,
// at most once a minute per token, never on every request.
func TestTokenLastUsed(t *testing.T) {
	e := startWithFixtures(t)
	root := e.authFor(t, "root")
	tok := e.createTokenHTTP(t, root, "token_name=used")
	st := func() store.Token {
		t.Helper()
		s, err := e.storedToken(t, "root", tok)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := st(); !s.LastUsed.IsZero() || s.LastUsedIP != "" {
		t.Fatalf("unused token has a last use: %v %q", s.LastUsed, s.LastUsedIP)
	}
	use := func() {
		t.Helper()
		whmOK(t, e.do(t, request{port: p2087, path: "/json-api/version?api.version=1", auth: whmTok("root", tok)}))
	}
	t0 := e.clock.Now()
	use()
	if _, ok := within(5*time.Second, func() bool { return st().LastUsed.Unix() >= t0.Unix() }); !ok {
		t.Fatal("last use not written after a use")
	}
	first := st()
	if first.LastUsedIP != "127.0.0.1" {
		t.Errorf("last_used_ip %q", first.LastUsedIP)
	}
	// Two more uses within the minute: no write.
	e.clock.Advance(20 * time.Second)
	use()
	e.clock.Advance(20 * time.Second)
	use()
	e.d.Data.Uses.Flush(context.Background())
	if got := st().LastUsed; !got.Equal(first.LastUsed) {
		t.Errorf("last use rewritten within a minute: %v, first %v", got, first.LastUsed)
	}
	// A minute after the write: written again.
	e.clock.Advance(21 * time.Second)
	t1 := e.clock.Now()
	use()
	if _, ok := within(5*time.Second, func() bool { return st().LastUsed.Unix() >= t1.Unix() }); !ok {
		t.Fatalf("last use not rewritten after a minute: %v", st().LastUsed)
	}
	list := whmOK(t, e.do(t, request{port: p2087, path: "/json-api/api_token_list?api.version=1", auth: root}))
	if got := str(dig(list, "data", "tokens", "used", "last_used")); got != strconv.FormatInt(st().LastUsed.Unix(), 10) {
		t.Errorf("api_token_list last_used %q, store %v", got, st().LastUsed)
	}
	if got := str(dig(list, "data", "tokens", "used", "last_used_ip")); got != "127.0.0.1" {
		t.Errorf("api_token_list last_used_ip %q", got)
	}
	// Introspection and get_details do not count as uses.
	before := st().LastUsed
	e.clock.Advance(2 * time.Minute)
	whmOK(t, e.do(t, request{port: p2087, path: "/json-api/api_token_introspect?api.version=1&token=" + tok, auth: root}))
	whmOK(t, e.do(t, request{port: p2087, path: "/json-api/api_token_get_details?api.version=1&token=" + tok, auth: root}))
	e.d.Data.Uses.Flush(context.Background())
	if !st().LastUsed.Equal(before) {
		t.Error("introspection recorded a use")
	}
}

// ---------------------------------------------------------------------------
// Concurrency (run under -race).

func TestTokenConcurrency(t *testing.T) {
	e := startWithFixtures(t)
	root := e.authFor(t, "root")
	version := "/json-api/version?api.version=1"
	const workers, rounds = 12, 4
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*4+64)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				name := fmt.Sprintf("c-%d-%d", w, i)
				r, err := e.try(request{port: p2087, auth: root, path: "/json-api/api_token_create?api.version=1&token_name=" + name})
				if err != nil || !bytes.Contains(r.body, []byte(`"result":1`)) {
					errs <- fmt.Errorf("create %s: %v %s", name, err, r.body)
					continue
				}
				tok := reToken.FindString(string(r.body))
				if r, err := e.try(request{port: p2087, path: version, auth: whmTok("root", tok)}); err != nil || r.status != 200 {
					errs <- fmt.Errorf("use %s: %v %d", name, err, r.status)
				}
				if r, err := e.try(request{port: p2087, auth: root, path: "/json-api/api_token_revoke?api.version=1&token_name=" + name}); err != nil || !bytes.Contains(r.body, []byte(`"result":1`)) {
					errs <- fmt.Errorf("revoke %s: %v %s", name, err, r.body)
				}
				if r, err := e.try(request{port: p2087, path: version, auth: whmTok("root", tok)}); err != nil || r.status != 403 {
					errs <- fmt.Errorf("use of revoked %s: %v %d", name, err, r.status)
				}
			}
		}(w)
	}
	// Racing for one name: exactly one wins.
	var mu sync.Mutex
	wins, conflicts := 0, 0
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.try(request{port: p2087, auth: root, path: "/json-api/api_token_create?api.version=1&token_name=same"})
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case bytes.Contains(r.body, []byte(`"result":1`)):
				wins++
			case bytes.Contains(r.body, []byte("A conflicting API token with the name “same” already exists.")):
				conflicts++
			default:
				errs <- fmt.Errorf("racing create: %s", r.body)
			}
		}()
	}
	// And cPanel tokens through UAPI at the same time.
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			name := fmt.Sprintf("u-%d", w)
			if r, err := e.try(request{port: p2083, auth: basic("bob", bobPass), path: "/execute/Tokens/create_full_access?name=" + name}); err != nil || !bytes.Contains(r.body, []byte(`"status":1`)) {
				errs <- fmt.Errorf("uapi create %s: %v %s", name, err, r.body)
			}
			if r, err := e.try(request{port: p2083, auth: basic("bob", bobPass), path: "/execute/Tokens/revoke?name=" + name}); err != nil || !bytes.Contains(r.body, []byte(`"data":1`)) {
				errs <- fmt.Errorf("uapi revoke %s: %v %s", name, err, r.body)
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if wins != 1 || conflicts != 7 {
		t.Errorf("racing creates: %d won, %d conflicts; want 1 and 7", wins, conflicts)
	}
	ctx := context.Background()
	whm, _ := e.d.Data.Store.ListTokens(ctx, store.TokenWHM, "root")
	cp, _ := e.d.Data.Store.ListTokens(ctx, store.TokenCPanel, "bob")
	if len(whm) != 1 || whm[0].Name != "same" || len(cp) != 0 {
		t.Errorf("left: %d WHM tokens, %d cPanel tokens", len(whm), len(cp))
	}
}

// ---------------------------------------------------------------------------
// Golden files of every token function's output.

// tokenGolden is a golden step that may save the token it creates (save:
// its label) for later steps: "tok:<label>" as who sends it, "{label}" in
// a path or body is replaced by it. Golden files show the placeholders.
type tokenGolden struct {
	goldenStep
	save string
}

var tokenGoldenSequence = []tokenGolden{
	// WHM API 1.
	{goldenStep: goldenStep{name: "tok_create_reseller_without_acl", port: p2087, who: "res", path: "/json-api/api_token_create?api.version=1&token_name=x", status: 200, must: `Permission denied`}},
	{goldenStep: goldenStep{name: "tok_create", port: p2087, who: "root", path: "/json-api/api_token_create", ctype: form,
		body: "api.version=1&token_name=deploy&acl=list-accts&acl-1=create-acct&expires_at=" + farFuture + "&whitelist_ip=1.1.1.1&whitelist_ip-1=1.1.1.8/29&whitelist_ip-2=fc00:abcd::f", status: 200, must: `"name":"deploy"`}, save: "deploy"},
	{goldenStep: goldenStep{name: "tok_create_default", port: p2087, who: "root", path: "/json-api/api_token_create?api.version=1&token_name=full", status: 200, must: `"acls":["all"]`}, save: "full"},
	{goldenStep: goldenStep{name: "tok_create_require_otp", port: p2087, who: "root", path: "/json-api/api_token_create?api.version=1&token_name=otp&require_otp=1&acl=all", status: 200, must: `"require_otp":1`}, save: "otp"},
	{goldenStep: goldenStep{name: "tok_create_limited", port: p2087, who: "root", path: "/json-api/api_token_create?api.version=1&token_name=lister&acl=list-accts", status: 200, must: `"acls":["list-accts"]`}, save: "lister"},
	{goldenStep: goldenStep{name: "tok_create_duplicate", port: p2087, who: "root", path: "/json-api/api_token_create?api.version=1&token_name=full", status: 200, must: `A conflicting API token with the name “full” already exists.`}},
	{goldenStep: goldenStep{name: "tok_create_bad_name", port: p2087, who: "root", path: "/json-api/api_token_create?api.version=1&token_name=no%20spaces", status: 200, must: `is not a valid API token name`}},
	{goldenStep: goldenStep{name: "tok_create_long_name", port: p2087, who: "root", path: "/json-api/api_token_create?api.version=1&token_name=" + strings.Repeat("n", 51), status: 200, must: `is not a valid API token name`}},
	{goldenStep: goldenStep{name: "tok_create_missing_name", port: p2087, who: "root", path: "/json-api/api_token_create?api.version=1", status: 200, must: `“token_name” parameter is required`}},
	{goldenStep: goldenStep{name: "tok_create_past_expiry", port: p2087, who: "root", path: "/json-api/api_token_create?api.version=1&token_name=past&expires_at=1000000000", status: 200, must: `value must be a future date`}},
	{goldenStep: goldenStep{name: "tok_create_bad_expiry", port: p2087, who: "root", path: "/json-api/api_token_create?api.version=1&token_name=bad&expires_at=tomorrow", status: 200, must: `"result":0`}},
	{goldenStep: goldenStep{name: "tok_create_bad_ip", port: p2087, who: "root", path: "/json-api/api_token_create?api.version=1&token_name=bad&whitelist_ip=1.2.3.4.5", status: 200, must: `is not a valid IP address or CIDR range`}},
	{goldenStep: goldenStep{name: "tok_create_bad_acl", port: p2087, who: "root", path: "/json-api/api_token_create?api.version=1&token_name=bad&acl=list-accts&acl=bogus", status: 200, must: `Invalid or unauthorized ACL(s) specified: bogus`}},
	{goldenStep: goldenStep{name: "tok_setacls_reseller", port: p2087, who: "root", path: "/json-api/setacls?api.version=1&reseller=res&acl-list-accts=1&acl-acct-summary=1&acl-manage-api-tokens=1", status: 200, must: `"result":1`}},
	{goldenStep: goldenStep{name: "tok_create_reseller_unauthorized", port: p2087, who: "res", path: "/json-api/api_token_create?api.version=1&token_name=x&acl=all&acl=kill-acct", status: 200, must: `Invalid or unauthorized ACL(s) specified: all, kill-acct`}},
	{goldenStep: goldenStep{name: "tok_create_reseller_default", port: p2087, who: "res", path: "/json-api/api_token_create?api.version=1&token_name=res-default", status: 200, must: `"acls":["acct-summary","list-accts","manage-api-tokens"]`}, save: "res-default"},
	{goldenStep: goldenStep{name: "tok_version_by_token", port: p2087, who: "tok:full", path: "/json-api/version?api.version=1", status: 200, must: `"result":1`}},
	{goldenStep: goldenStep{name: "tok_myprivs_by_limited_token", port: p2086, who: "tok:lister", path: "/json-api/myprivs?api.version=1", status: 200, must: `"list-accts":1`}},
	{goldenStep: goldenStep{name: "tok_listresellers_by_limited_token", port: p2087, who: "tok:lister", path: "/json-api/listresellers?api.version=1", status: 200, must: `Permission denied`}},
	{goldenStep: goldenStep{name: "tok_whm0_myprivs_by_limited_token", port: p2086, who: "tok:lister", path: "/json-api/myprivs", status: 200, must: `"list-accts":1`}},
	{goldenStep: goldenStep{name: "tok_whm0_listresellers_by_limited_token", port: p2087, who: "tok:lister", path: "/json-api/listresellers", status: 200, must: `{"error":"Permission denied"}`}},
	{goldenStep: goldenStep{name: "tok_whm0_setacls_by_limited_token", port: p2087, who: "tok:lister", path: "/json-api/setacls?reseller=res&acl-all=1", status: 200,
		must: `{"result":[{"acls":[],"status":0,"statusmsg":"Permission denied"}]}`}},
	{goldenStep: goldenStep{name: "tok_version_by_fenced_token", port: p2087, who: "tok:deploy", path: "/json-api/version?api.version=1", status: 403, must: `Access denied`}},
	// (A first use, so that the list below shows a last use written before
	// it rather than racing with its own.)
	{goldenStep: goldenStep{name: "tok_version_by_reseller_token", port: p2087, who: "tok:res-default", path: "/json-api/version?api.version=1", status: 200, must: `"result":1`}},
	{goldenStep: goldenStep{name: "tok_list_by_reseller_token", port: p2087, who: "tok:res-default", path: "/json-api/api_token_list?api.version=1", status: 200, must: `"res-default"`}},
	{goldenStep: goldenStep{name: "tok_list", port: p2087, who: "root", path: "/json-api/api_token_list?api.version=1", status: 200, must: `"tokens":{`}},
	{goldenStep: goldenStep{name: "tok_get_details", port: p2087, who: "root", path: "/json-api/api_token_get_details?api.version=1&token={deploy}", status: 200, must: `"name":"deploy"`}},
	{goldenStep: goldenStep{name: "tok_get_details_unknown", port: p2087, who: "root", path: "/json-api/api_token_get_details?api.version=1&token={unknown}", status: 200, must: `"result":1`}},
	{goldenStep: goldenStep{name: "tok_get_details_other_users", port: p2087, who: "res", path: "/json-api/api_token_get_details?api.version=1&token={full}", status: 200, must: `"result":1`}},
	{goldenStep: goldenStep{name: "tok_introspect", port: p2087, who: "root", path: "/json-api/api_token_introspect?api.version=1&token={deploy}", status: 200, must: `"address_allowed":0`}},
	{goldenStep: goldenStep{name: "tok_introspect_reseller_token_by_root", port: p2087, who: "root", path: "/json-api/api_token_introspect?api.version=1&user=res&token={res-default}", status: 200, must: `"effective_acls":["acct-summary","list-accts","manage-api-tokens"]`}},
	{goldenStep: goldenStep{name: "tok_introspect_unknown", port: p2087, who: "root", path: "/json-api/api_token_introspect?api.version=1&token={unknown}", status: 200, must: `"result":0`}},
	{goldenStep: goldenStep{name: "tok_introspect_foreign_user_by_reseller", port: p2087, who: "res", path: "/json-api/api_token_introspect?api.version=1&user=root&token={full}", status: 200, must: `"result":0`}},
	{goldenStep: goldenStep{name: "tok_update_rename", port: p2087, who: "root", path: "/json-api/api_token_update?api.version=1&token_name=deploy&new_name=deploy2", status: 200, must: `"name":"deploy2"`}},
	{goldenStep: goldenStep{name: "tok_update_nothing", port: p2087, who: "root", path: "/json-api/api_token_update?api.version=1&token_name=deploy2", status: 200, must: `Specify a new name, updated ACLs, or IPs.`}},
	{goldenStep: goldenStep{name: "tok_update_acls_clear_ips", port: p2087, who: "root", path: "/json-api/api_token_update", ctype: form, body: "api.version=1&token_name=deploy2&acl=list-accts&whitelist_ip=any&require_otp=1", status: 200, must: `"whitelist_ips":null`}},
	{goldenStep: goldenStep{name: "tok_update_expiry_never", port: p2087, who: "root", path: "/json-api/api_token_update?api.version=1&token_name=deploy2&expires_at=0", status: 200, must: `"expires_at":null`}},
	{goldenStep: goldenStep{name: "tok_update_unknown", port: p2087, who: "root", path: "/json-api/api_token_update?api.version=1&token_name=nope&new_name=x", status: 200, must: `The system failed to update the API token: The API token “nope” does not exist.`}},
	{goldenStep: goldenStep{name: "tok_update_conflict", port: p2087, who: "root", path: "/json-api/api_token_update?api.version=1&token_name=deploy2&new_name=full", status: 200, must: `A conflicting API token with the name “full” already exists.`}},
	{goldenStep: goldenStep{name: "tok_update_missing_name", port: p2087, who: "root", path: "/json-api/api_token_update?api.version=1&new_name=x", status: 200, must: `“token_name” parameter is required`}},
	{goldenStep: goldenStep{name: "tok_revoke_missing_name", port: p2087, who: "root", path: "/json-api/api_token_revoke?api.version=1", status: 200, must: `Provide at least one “token_name” argument.`}},
	{goldenStep: goldenStep{name: "tok_revoke_unknown", port: p2087, who: "root", path: "/json-api/api_token_revoke?api.version=1&token_name=full&token_name-1=nope", status: 200, must: `The system failed to revoke the API token: The API token “nope” does not exist.`}},
	{goldenStep: goldenStep{name: "tok_revoke", port: p2087, who: "root", path: "/json-api/api_token_revoke?api.version=1&token_name=deploy2&token_name-1=otp", status: 200, must: `"data":{}`}},
	{goldenStep: goldenStep{name: "tok_version_by_revoked_token", port: p2087, who: "tok:deploy", path: "/json-api/version?api.version=1", status: 403, must: `Access denied`}},
	{goldenStep: goldenStep{name: "tok_list_after_revoke", port: p2087, who: "root", path: "/json-api/api_token_list?api.version=1", status: 200, must: `"full"`}},

	// UAPI Tokens.
	{goldenStep: goldenStep{name: "uapi_tokens_create", port: p2083, who: "bob", path: "/execute/Tokens/create_full_access?name=bobtok&expires_at=" + farFuture, status: 200, must: `"status":1`}, save: "bobtok"},
	{goldenStep: goldenStep{name: "uapi_tokens_create_readonly", port: p2083, who: "bob", path: "/execute/Tokens/create_full_access", ctype: form, body: "name=reader&readonly=1", status: 200, must: `"status":1`}, save: "reader"},
	{goldenStep: goldenStep{name: "uapi_tokens_create_duplicate", port: p2083, who: "bob", path: "/execute/Tokens/create_full_access?name=bobtok", status: 200, must: `A conflicting API token with the name “bobtok” already exists.`}},
	{goldenStep: goldenStep{name: "uapi_tokens_create_bad_name", port: p2083, who: "bob", path: "/execute/Tokens/create_full_access?name=b%C3%B6b", status: 200, must: `is not a valid API token name`}},
	{goldenStep: goldenStep{name: "uapi_tokens_create_missing_name", port: p2083, who: "bob", path: "/execute/Tokens/create_full_access", status: 200, must: `“name” parameter is required`}},
	{goldenStep: goldenStep{name: "uapi_tokens_in_webmail", port: p2096, who: "bob", path: "/execute/Tokens/list", status: 200, must: `is not permitted inside of webmail`}},
	{goldenStep: goldenStep{name: "uapi_list_pops_by_token", port: p2083, who: "tok:bobtok", path: "/execute/Email/list_pops", status: 200, must: `info@bob.test`}},
	{goldenStep: goldenStep{name: "uapi_add_pop_by_readonly_token", port: p2083, who: "tok:reader", path: "/execute/Email/add_pop?email=ro&password=Ro-Pass-1", status: 200, must: `is read-only`}},
	{goldenStep: goldenStep{name: "api2_listpops_by_token", port: p2082, who: "tok:bobtok", path: proxy("", "2", "Email", "listpops", ""), status: 200, must: `"event":{"result":1}`}},
	{goldenStep: goldenStep{name: "api1_by_cpanel_token", port: p2083, who: "tok:bobtok", path: proxy("", "1", "Email", "listpops", ""), status: 403, must: cpanelTokenForbidden}},
	{goldenStep: goldenStep{name: "uapi_tokens_list", port: p2083, who: "bob", path: "/execute/Tokens/list", status: 200, must: `"name":"bobtok"`}},
	{goldenStep: goldenStep{name: "uapi_tokens_rename_same", port: p2083, who: "bob", path: "/execute/Tokens/rename?name=bobtok&new_name=bobtok", status: 200, must: `“new_name” must be a different value from “name”.`}},
	{goldenStep: goldenStep{name: "uapi_tokens_rename_unknown", port: p2083, who: "bob", path: "/execute/Tokens/rename?name=nope&new_name=x", status: 200, must: `The API token “nope” does not exist.`}},
	{goldenStep: goldenStep{name: "uapi_tokens_rename", port: p2083, who: "bob", path: "/execute/Tokens/rename?name=bobtok&new_name=bobtok2", status: 200, must: `"data":null`}},
	{goldenStep: goldenStep{name: "uapi_tokens_revoke", port: p2083, who: "bob", path: "/execute/Tokens/revoke?name=bobtok2", status: 200, must: `"data":1`}},
	{goldenStep: goldenStep{name: "uapi_tokens_revoke_unknown", port: p2083, who: "bob", path: "/execute/Tokens/revoke?name=bobtok2", status: 200, must: `"data":1`}},
	{goldenStep: goldenStep{name: "uapi_tokens_list_after", port: p2083, who: "bob", path: "/execute/Tokens/list", status: 200, must: `"name":"reader"`}},
	{goldenStep: goldenStep{name: "whm_cpanel_uapi_tokens_list", port: p2087, who: "root", path: proxy("bob", "3", "Tokens", "list", ""), status: 200, must: `"name":"reader"`}},
}

var tokenGoldenSteps = func() []goldenStep {
	out := make([]goldenStep, len(tokenGoldenSequence))
	for i, s := range tokenGoldenSequence {
		out[i] = s.goldenStep
	}
	return out
}()

type savedToken struct{ user, scheme, text string }

func TestTokenGolden(t *testing.T) {
	e := startWithFixtures(t)
	saved := map[string]savedToken{"unknown": {"root", "whm", "QWERTYUIOPASDFGHJKLZXCVBNM123456"}}
	fill := func(s string) string {
		for label, tok := range saved {
			s = strings.ReplaceAll(s, "{"+label+"}", tok.text)
		}
		return s
	}
	normalise := func(b []byte) []byte {
		b = e.normalise(b)
		for label, tok := range saved {
			b = bytes.ReplaceAll(b, []byte(tok.text), []byte("<TOKEN:"+label+">"))
		}
		return reToken.ReplaceAll(b, []byte("<TOKEN>"))
	}
	ctx := context.Background()
	used := map[string]bool{}
	for _, s := range tokenGoldenSequence {
		t.Run(s.name, func(t *testing.T) {
			// A token's last use is written off the request path: wait for
			// the writes of earlier steps, so that lists are stable.
			for label := range used {
				tok := saved[label]
				if _, ok := within(5*time.Second, func() bool {
					st, err := e.d.Data.Store.GetTokenByMAC(ctx, auth.TokenMAC(e.d.Data.Key, tok.user, tok.text))
					return err != nil || !st.LastUsed.IsZero()
				}); !ok {
					t.Fatalf("the last use of %s was not written", label)
				}
			}
			authz := ""
			if label, ok := strings.CutPrefix(s.who, "tok:"); ok {
				tok := saved[label]
				authz = tok.scheme + " " + tok.user + ":" + tok.text
			} else {
				authz = e.authFor(t, s.who)
			}
			runGoldenStep(t, e, s.goldenStep, authz, fill(s.path), fill(s.body), normalise, func(r response) {
				if label, ok := strings.CutPrefix(s.who, "tok:"); ok && r.status == http.StatusOK {
					used[label] = true
				}
				if s.save == "" {
					return
				}
				tok := str(dig(object(t, r), "data", "token"))
				if len(tok) != 32 {
					t.Fatalf("no token to save in %s", r.body)
				}
				scheme := "whm"
				if s.port.service() == core.ServiceCPanel {
					scheme = "cpanel"
				}
				saved[s.save] = savedToken{s.who, scheme, tok}
			})
		})
	}
}
