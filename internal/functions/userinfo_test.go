package functions

import (
	"strings"
	"testing"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/api/uapi"
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
