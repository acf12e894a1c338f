package gateway

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/sessions"
	"github.com/cpauth/cpauth/internal/store"
)

// The backend's answers are input the gateway parses: what it redeems of
// create_user_session's URL stays under the session's security token and
// on the backend the gateway knows.
func FuzzLoginURL(f *testing.F) {
	for _, s := range [][2]string{
		{"/cpsess0123456789", "https://host:2083/cpsess0123456789/login/?session=bob%3aabc%3acreate_user_session%2c0f"},
		{"/cpsess0123456789", "https://evil.example/cpsess0123456789/login/?session=x"},
		{"/cpsess0123456789", "/cpsess0123456789/../json-api/createacct?username=x"},
		{"/cpsess0123456789", "https://host/cpsess9999999999/login/"},
		{"/cpsess012345678", "https://host/cpsess012345678/login/"},
		{"/cpsess0123456789", "https://host/cpsess0123456789%2f..%2f/x"},
		{"/cpsess0123456789", "::"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, token, raw string) {
		path, query, ok := loginURL(token, raw)
		if !ok {
			return
		}
		if !sessions.IsToken(token) || !strings.HasPrefix(path, token+"/") {
			t.Fatalf("loginURL(%q, %q) = %q: not under the token", token, raw, path)
		}
		for _, seg := range strings.Split(path, "/") {
			if seg == ".." {
				t.Fatalf("loginURL(%q, %q) = %q: climbs out of the token", token, raw, path)
			}
		}
		if strings.ContainsAny(path+query, " \r\n") {
			t.Fatalf("loginURL(%q, %q) = %q ? %q: a request line could be split", token, raw, path, query)
		}
	})
}

// A listaccts record of any shape makes a record the store can keep: its
// facts, never a password hash, and ACLs only for a reseller.
func FuzzBackendAccount(f *testing.F) {
	f.Add(`{"user":"bob","domain":"Bob.Test","owner":"root","suspended":0,"reseller":"1","unix_startdate":1700000000,"plan":"default"}`, "list-accts")
	f.Add(`{"user":"sus","suspended":"1","suspendreason":"unpaid","reseller":0,"unix_startdate":"x"}`, "")
	f.Add(`{"suspended":true,"reseller":[1]}`, "all")
	f.Fuzz(func(t *testing.T, record, acl string) {
		var b backendAccount
		if json.Unmarshal([]byte(record), &b) != nil {
			return
		}
		old := store.Account{Username: b.User, PasswordHash: markPrefix + "x"}
		a := b.account(old, []string{acl})
		if a.Username != b.User || a.PasswordHash != old.PasswordHash || a.Domain != strings.ToLower(b.Domain) {
			t.Fatalf("%s made %+v", record, a)
		}
		if !a.Reseller && a.ACLs != nil || a.Suspended != flag(b.Suspended) || !a.Suspended && a.SuspendReason != "" {
			t.Fatalf("%s made %+v", record, a)
		}
		if a.Plan == "default" {
			t.Fatalf("the default plan kept as a plan: %+v", a)
		}
		_ = core.IsKnownACL(acl)
	})
}
