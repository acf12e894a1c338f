package e2e

import (
	"errors"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/api/whmapi0"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/store"
)

// WHM API 0 (D23, PROTOCOL.md section 16), end to end: the arguments whose
// names differ from API 1's do what they say, in the store; narrow
// credentials are refused in API 0's shapes; functions API 0 does not have
// get the unknown-app answer; and what comes before the function
// (authentication, the port, reading the request) answers as for API 1.
// The exact envelopes are in the golden files (whm0_*).
func TestWHMAPI0(t *testing.T) {
	e := startWithFixtures(t)
	root := e.authFor(t, "root")
	// call makes an API 0 call on 2087 and decodes its answer (HTTP 200).
	call := func(t *testing.T, authz, path string) map[string]any {
		t.Helper()
		r := e.do(t, request{port: p2087, path: path, auth: authz})
		if r.status != http.StatusOK {
			t.Fatalf("%s: status %d, body %s", path, r.status, r.body)
		}
		return object(t, r)
	}
	// first is the first entry of an API 0 answer's list under key.
	first := func(t *testing.T, m map[string]any, key string) map[string]any {
		t.Helper()
		list, _ := m[key].([]any)
		if len(list) != 1 {
			t.Fatalf("%s: want one entry: %v", key, m)
		}
		entry, _ := list[0].(map[string]any)
		return entry
	}
	gone := func(t *testing.T, user string) bool {
		t.Helper()
		_, err := e.account(user)
		return errors.Is(err, store.ErrNotFound)
	}

	t.Run("passwd takes pass", func(t *testing.T) {
		e.whm1("createacct", "username", "gus", "domain", "gus.test", "password", "Gus-Pass-1")
		r := first(t, call(t, root, "/json-api/passwd?user=gus&pass=Gus-Pass-2"), "passwd")
		if str(r["status"]) != "1" {
			t.Fatalf("passwd: %v", r)
		}
		if !e.checkPassword("gus", "Gus-Pass-2", core.ServiceCPanel) || e.checkPassword("gus", "Gus-Pass-1", core.ServiceCPanel) {
			t.Error("gus's password is not the one given as pass")
		}
		// Not both names at once; not neither.
		for _, q := range []string{"user=gus&pass=Gus-Pass-3&password=Gus-Pass-4", "user=gus"} {
			if r := first(t, call(t, root, "/json-api/passwd?"+q), "passwd"); str(r["status"]) != "0" {
				t.Errorf("passwd %s: %v", q, r)
			}
		}
		if !e.checkPassword("gus", "Gus-Pass-2", core.ServiceCPanel) {
			t.Error("a refused passwd changed the password")
		}
	})

	t.Run("removeacct takes user or username", func(t *testing.T) {
		for _, arg := range []string{"user", "username"} {
			name := "rm" + arg
			e.whm1("createacct", "username", name, "domain", name+".test", "password", "Rm-Pass-123")
			r := first(t, call(t, root, "/json-api/removeacct?"+arg+"="+name), "result")
			if str(r["status"]) != "1" || str(r["statusmsg"]) != name+" account removed" || !gone(t, name) {
				t.Errorf("removeacct %s=%s: %v; removed: %v", arg, name, r, gone(t, name))
			}
		}
	})

	t.Run("setacls takes acl-<name>, not acllist", func(t *testing.T) {
		e.whm1("createacct", "username", "ivy", "domain", "ivy.test", "password", "Ivy-Pass-123", "reseller", "1")
		r := first(t, call(t, root, "/json-api/setacls?reseller=ivy&acl-list-accts=1&acl-passwd=1&acl-kill-acct=0"), "result")
		a, err := e.account("ivy")
		if err != nil || str(r["status"]) != "1" || !slices.Equal(a.ACLs, []string{"list-accts", "passwd"}) {
			t.Fatalf("setacls: %v; ACLs %v (%v)", r, a.ACLs, err)
		}
		if got, _ := r["acls"].([]any); len(got) != 2 || got[0] != "list-accts" || got[1] != "passwd" {
			t.Errorf("acls answered: %v", r["acls"])
		}
		r = first(t, call(t, root, "/json-api/setacls?reseller=ivy&acllist=everything&acl-all=1"), "result")
		if a, _ := e.account("ivy"); str(r["status"]) != "0" || !strings.Contains(str(r["statusmsg"]), "acllist") || !slices.Equal(a.ACLs, []string{"list-accts", "passwd"}) {
			t.Errorf("setacls with acllist: %v; ACLs now %v", r, a.ACLs)
		}
	})

	t.Run("listaccts want, search, searchtype", func(t *testing.T) {
		for _, tc := range []struct {
			name, query string
			users       []string
			keys        []string // every record's keys (nil: not checked)
		}{
			{"want keeps user and domain", "want=suspended", []string{"bob", "carol", "gus", "ivy", "res", "sus"}, []string{"domain", "suspended", "user"}},
			{"want of fields API 1 lacks", "want=shell,disklimit,diskused,ip", []string{"bob", "carol", "gus", "ivy", "res", "sus"},
				[]string{"disklimit", "diskused", "domain", "ip", "shell", "user"}},
			{"search by user", "search=^(bob|sus)$&searchtype=user", []string{"bob", "sus"}, nil},
			{"search by domain", "search=carol&searchtype=domain&want=user", []string{"carol"}, []string{"domain", "user"}},
			{"search by owner", "search=res&searchtype=owner&searchmethod=exact", []string{"carol"}, nil},
			{"search without searchtype: user", "search=ar", []string{"carol"}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				m := call(t, root, "/json-api/listaccts?"+tc.query)
				if str(m["status"]) != "1" {
					t.Fatalf("listaccts: %v", m)
				}
				accts, _ := m["acct"].([]any)
				var users []string
				for _, a := range accts {
					rec := a.(map[string]any)
					users = append(users, str(rec["user"]))
					if tc.keys != nil {
						var keys []string
						for k := range rec {
							keys = append(keys, k)
						}
						sort.Strings(keys)
						if !slices.Equal(keys, tc.keys) {
							t.Errorf("record of %s: keys %v, want %v", rec["user"], keys, tc.keys)
						}
					}
				}
				sort.Strings(users)
				if !slices.Equal(users, tc.users) {
					t.Errorf("users %v, want %v", users, tc.users)
				}
			})
		}
	})

	t.Run("narrow credentials are refused in API 0's shapes", func(t *testing.T) {
		// A root token narrowed to passwd and list-accts, a reseller token
		// narrowed to list-accts (docs/authorization.md).
		narrow := whmTok("root", e.mkToken(t, store.TokenWHM, "root", "api0-narrow", "acl", "passwd", "acl", "list-accts"))
		resTok := whmTok("res", e.mkToken(t, store.TokenWHM, "res", "api0-narrow", "acl", "list-accts"))
		for _, tc := range []struct {
			name, auth, path, want string
		}{
			{"a password through a narrowed token (D24)", narrow, "/json-api/passwd?user=bob&pass=Hacked-Pass-1",
				`{"passwd":[{"rawout":null,"services":null,"status":0,"statusmsg":"The API token “api0-narrow” does not carry every privilege of its owner: it cannot call passwd, which makes or changes a password."}]}`},
			{"an ACL the token lacks", narrow, "/json-api/createacct?username=mallory&domain=mallory.test&password=Mallory-Pass-1",
				`{"result":[{"options":null,"rawout":null,"status":0,"statusmsg":"Permission denied"}]}`},
			{"root-only, without all", narrow, "/json-api/listresellers", `{"error":"Permission denied"}`},
			{"setacls without all", narrow, "/json-api/setacls?reseller=res&acl-all=1", `{"result":[{"acls":[],"status":0,"statusmsg":"Permission denied"}]}`},
			{"a reseller token lacking acct-summary", resTok, "/json-api/accountsummary?user=carol", `{"acct":[],"status":0,"statusmsg":"Permission denied"}`},
			{"a reseller token lacking suspend-acct", resTok, "/json-api/suspendacct?user=carol", `{"result":[{"status":0,"statusmsg":"Permission denied"}]}`},
			{"a reseller token lacking kill-acct", resTok, "/json-api/removeacct?user=carol", `{"result":[{"rawout":null,"status":0,"statusmsg":"Permission denied"}]}`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.do(t, request{port: p2087, path: tc.path, auth: tc.auth})
				if r.status != http.StatusOK || string(r.body) != tc.want {
					t.Errorf("%d %s\nwant 200 %s", r.status, r.body, tc.want)
				}
			})
		}
		if !e.checkPassword("bob", bobPass, core.ServiceCPanel) || !gone(t, "mallory") {
			t.Error("a refused call changed something")
		}
		if a, _ := e.account("carol"); a.Suspended {
			t.Error("carol was suspended by a token without suspend-acct")
		}
		// What the narrow tokens may do, they do.
		if m := call(t, narrow, "/json-api/listaccts?search=bob&searchmethod=exact&want=user"); str(m["status"]) != "1" {
			t.Errorf("listaccts through the narrow token: %v", m)
		}
	})

	t.Run("unknown apps", func(t *testing.T) {
		// Every WHM API 1 function API 0 does not have, as root.
		var only []string
		for _, f := range e.d.Data.Registry.All() {
			if f.Flavour == api.WHM1 && !slices.Contains(whmapi0.Functions(), f.Name) {
				only = append(only, f.Name)
			}
		}
		if len(only) < 30 {
			t.Fatalf("only %d functions are API 1 only: %v", len(only), only)
		}
		for _, name := range append(only, "no_such_function", "gethostname_", "Version") {
			for _, q := range []string{"", "?api.version=0"} {
				r := e.do(t, request{port: p2087, path: "/json-api/" + name + q, auth: root})
				want := `{"error":"Unknown app (` + name + `) requested for this version (0) of the API."}`
				if r.status != http.StatusOK || string(r.body) != want || r.header.Get("Content-Type") != jsonType {
					t.Errorf("%s%s: %d %s %s\nwant 200 %s", name, q, r.status, r.header.Get("Content-Type"), r.body, want)
				}
			}
		}
		// An API 1 function that does exist answers with api.version=1 as
		// before: the table changed nothing there.
		whmOK(t, e.do(t, request{port: p2087, path: "/json-api/get_tweaksetting?api.version=1&key=requiressl", auth: root}))
		// Other versions.
		for _, v := range []string{"2", "1.0", "01", "x"} {
			r := e.do(t, request{port: p2087, path: "/json-api/version?api.version=" + v, auth: root})
			want := `{"error":"Unknown app (version) requested for this version (` + v + `) of the API."}`
			if r.status != http.StatusOK || string(r.body) != want {
				t.Errorf("api.version=%s: %d %s\nwant 200 %s", v, r.status, r.body, want)
			}
		}
	})

	t.Run("api.version in the body", func(t *testing.T) {
		// The version may come in the body (D20), as any argument.
		for _, tc := range []struct{ body, want string }{
			{"user=bob", `{"acct":[`},
			{"user=bob&api.version=0", `{"acct":[`},
			{"user=bob&api.version=1", `{"data":{"acct":[`},
		} {
			r := e.do(t, request{port: p2087, path: "/json-api/accountsummary", auth: root, body: tc.body, ctype: form})
			if r.status != http.StatusOK || !strings.HasPrefix(string(r.body), tc.want) {
				t.Errorf("%s: %d %.200s", tc.body, r.status, r.body)
			}
		}
	})

	t.Run("authentication, ports and unreadable requests answer as before", func(t *testing.T) {
		cpTok := cpanelTok("bob", e.mkToken(t, store.TokenCPanel, "bob", "api0"))
		for _, path := range []string{"/json-api/version", "/json-api/passwd?user=bob&pass=Hacked-Pass-1", "/json-api/create_user_session", "/json-api/no_such_function"} {
			t.Run(path, func(t *testing.T) {
				assertD5(t, e.do(t, request{port: p2087, path: path, auth: basic("root", "Wrong-Pass-9")}))          // D5
				assertD5(t, e.do(t, request{port: p2087, path: path, auth: e.authFor(t, "bob")}))                    // D6: a cPanel account on WHM
				assertD5(t, e.do(t, request{port: p2087, path: path, auth: e.authFor(t, "info@bob.test")}))          // a webmail user on WHM
				assertD5(t, e.do(t, request{port: p2086, path: path, auth: "WHM root:" + strings.Repeat("0", 960)})) // a wrong access hash
				if r := e.do(t, request{port: p2087, path: path}); r.status != http.StatusUnauthorized || string(r.body) != d5Body {
					t.Errorf("no credentials: %d %s", r.status, r.body)
				}
				// A cPanel token on the WHM port: D6.
				assertD5(t, e.do(t, request{port: p2087, path: path, auth: cpTok}))
				for _, p := range []port{p2082, p2083, p2095, p2096} {
					r := e.do(t, request{port: p, path: path, auth: root}) // D2, before authentication
					if reason := str(dig(object(t, r), "metadata", "reason")); r.status != http.StatusForbidden || !strings.HasPrefix(reason, "Permission denied: WHM API 1 is served on ports") {
						t.Errorf("on %s: %d %s", p, r.status, r.body)
					}
				}
				r := e.do(t, request{port: p2087, path: path + sep(path) + "x=%zz", auth: root})
				if r.status != http.StatusBadRequest || !strings.HasPrefix(str(dig(object(t, r), "metadata", "reason")), "The request could not be read") {
					t.Errorf("bad percent-encoding: %d %s", r.status, r.body)
				}
				r = e.do(t, request{port: p2087, path: path, auth: root, body: "pad=" + strings.Repeat("x", api.MaxBodyBytes), ctype: form})
				if r.status != http.StatusRequestEntityTooLarge || str(dig(object(t, r), "metadata", "result")) != "0" {
					t.Errorf("body over the limit: %d %.200s", r.status, r.body)
				}
			})
		}
		if !e.checkPassword("bob", bobPass, core.ServiceCPanel) {
			t.Error("bob's password changed")
		}
	})
}

// sep is what joins another argument to path's query.
func sep(path string) string {
	if strings.Contains(path, "?") {
		return "&"
	}
	return "?"
}
