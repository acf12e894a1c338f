package functions

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/api/uapi"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/store"
)

// userInformation writes what JSON writes for its map, directly, through
// encoding/json, and inside a UAPI envelope.
func checkUserInformation(t *testing.T, u *userInformation) {
	t.Helper()
	want := string(api.JSON(u.fields()))
	if got := string(u.AppendJSON([]byte("x"))); got != "x"+want {
		t.Errorf("AppendJSON:\n got %s\nwant x%s", got, want)
	}
	if got := string(api.JSON(u)); got != want {
		t.Errorf("through encoding/json:\n got %s\nwant %s", got, want)
	}
	res := &api.Result{Data: u}
	if got, want := string(uapi.Encode(res, nil)), string(api.JSON(uapi.Envelope(&api.Result{Data: u.fields()}, nil))); got != want {
		t.Errorf("envelope:\n got %s\nwant %s", got, want)
	}
}

func TestUserInformationJSON(t *testing.T) {
	for _, u := range []*userInformation{
		{},
		{domains: []string{}},
		{user: "bob", domain: "bob.example", domains: []string{"bob.example", "bob.test"}, contactEmail: "bob@example.net",
			created: 1_700_000_000, owner: "root", plan: "default", home: "/var/lib/cpauth/home/bob", suspended: 1, isReseller: 1},
		{user: "<&>", domain: "\u2028\u2029", domains: []string{"\"", "\\", "\x00\x1f", "é\xff"}, contactEmail: "a\tb",
			created: -62135596800, owner: "ünïcode", plan: "\n", home: "C:\\x", suspended: 0, isReseller: 0},
	} {
		checkUserInformation(t, u)
	}
}

func FuzzUserInformationJSON(f *testing.F) {
	f.Add("bob", "bob.example", "a.example\x00b.example", "bob@example.net", int64(1_700_000_000), "root", "default", "/home/bob", true, false)
	f.Add("", "", "", "", int64(0), "", "", "", false, false)
	f.Add("<é>", "\u2028", "\xff\x00\"", "\\", int64(-1), "\t", "\n", "\x7f", true, true)
	f.Fuzz(func(t *testing.T, user, domain, domains, email string, created int64, owner, plan, home string, suspended, reseller bool) {
		u := &userInformation{user: user, domain: domain, domains: strings.Split(domains, "\x00"), contactEmail: email,
			created: created, owner: owner, plan: plan, home: home, suspended: fmtBool(suspended), isReseller: fmtBool(reseller)}
		checkUserInformation(t, u)
	})
}

// infoStore answers the two reads of get_user_information.
type infoStore struct {
	store.Store
	doms []store.Domain
}

func (s infoStore) GetAccount(_ context.Context, user string) (store.Account, error) {
	return store.Account{Username: user, Domain: "bob.example", Owner: "root", ContactEmail: "bob@example.net", Created: time.Unix(1_700_000_000, 0)}, nil
}

func (s infoStore) ListDomains(context.Context, string) ([]store.Domain, error) { return s.doms, nil }

// get_user_information lists every domain, however many the account has
// (its result keeps room for the first few).
func TestGetUserInformationDomains(t *testing.T) {
	for _, n := range []int{0, 1, 4, 5, 9} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			var doms []store.Domain
			names := []string{}
			for i := range n {
				name := "d" + strconv.Itoa(i) + ".example"
				doms = append(doms, store.Domain{Name: name, Account: "bob"})
				names = append(names, name)
			}
			e := &Env{Store: infoStore{doms: doms}, DataDir: "/data"}
			want := string(api.JSON(map[string]any{
				"user": "bob", "domain": "bob.example", "domains": names, "contact_email": "bob@example.net",
				"created": 1_700_000_000, "owner": "root", "plan": "default", "home": filepath.Join("/data", "home", "bob"),
				"suspended": 0, "is_reseller": 0, "lang": "english", "locale": "en", "theme": "jupiter",
			}))
			var results []*api.Result
			for range 2 {
				res, err := e.getUserInformation(context.Background(), &api.Call{Principal: core.Principal{User: "bob", Account: "bob"}})
				if err != nil {
					t.Fatal(err)
				}
				results = append(results, res)
			}
			if results[0] == results[1] {
				t.Fatal("two calls share a result")
			}
			for _, res := range results {
				if got := string(api.JSON(res.Data)); got != want {
					t.Errorf("got  %s\nwant %s", got, want)
				}
			}
		})
	}
}

// homeDir is filepath.Join of the data directory, "home" and the user.
func TestHomeDir(t *testing.T) {
	for _, dir := range []string{"", "/", "/var/lib/cpauth", "/var/lib/cpauth/", "data", "./data", "/a//b", "/a/./b", "/a/../b", ".", ".."} {
		for _, user := range []string{"bob", "", ".", "..", "a/b", "/bob", "bob/", "..bob", "b.o.b", "info@bob.test", "é"} {
			if got, want := (&Env{DataDir: dir}).homeDir(user), filepath.Join(dir, "home", user); got != want {
				t.Errorf("homeDir(%q) in %q = %q, want %q", user, dir, got, want)
			}
		}
	}
}
