package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/store"
)

// API tokens. Many tests read a token by MAC before writing it, so that a
// caching backend must forget what it remembered (including absence).

// atMicro is at(sec) plus micro microseconds: times at the precision tokens
// keep exactly.
func atMicro(sec, micro int64) time.Time {
	return at(sec).Add(time.Duration(micro) * time.Microsecond)
}

// macOf is a realistic MAC (64 hex digits) for the given parts.
func macOf(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// newToken is a token with every optional field empty.
func newToken(service, username, name string) store.Token {
	return store.Token{
		Service:  service,
		Username: username,
		Name:     name,
		MAC:      macOf(service, username, name),
		Created:  atMicro(100, 123456),
	}
}

// fullToken is a token with every field set.
func fullToken(service, username, name string) store.Token {
	t := newToken(service, username, name)
	t.ACLs = []string{"list-accts", "create-acct"}
	t.ExpiresAt = atMicro(86400, 1)
	t.WhitelistIPs = []string{"192.0.2.1", "2001:0db8:0000:0000:0000:0000:0000:0000/32"}
	t.ReadOnly = true
	t.RequireOTP = true
	t.LastUsed = atMicro(200, 999999)
	t.LastUsedIP = "198.51.100.7"
	return t
}

// tokenAccounts creates root, the reseller res1, and bob and carol (owned by
// res1).
func tokenAccounts(t *testing.T, s store.Store) {
	t.Helper()
	mustCreateAccount(t, s, rootAccount())
	mustCreateAccount(t, s, newReseller("res1", "res1.example.com"))
	for _, u := range []string{"bob", "carol"} {
		a := newAccount(u, u+".example.com")
		a.Owner = "res1"
		mustCreateAccount(t, s, a)
	}
}

func mustCreateToken(t *testing.T, s store.Store, tok store.Token) {
	t.Helper()
	if err := s.CreateToken(t.Context(), tok); err != nil {
		t.Fatalf("CreateToken(%s, %q, %q): %v", tok.Service, tok.Username, tok.Name, err)
	}
}

// mustUpdateToken applies change to the named token and returns what
// UpdateToken returned.
func mustUpdateToken(t *testing.T, s store.Store, service, username, name string, change func(*store.Token)) store.Token {
	t.Helper()
	got, err := s.UpdateToken(t.Context(), service, username, name, func(tok store.Token) (store.Token, error) {
		change(&tok)
		return tok, nil
	})
	if err != nil {
		t.Fatalf("UpdateToken: %v", err)
	}
	return got
}

// wantNoToken checks that the MAC finds nothing (and leaves that absence in
// a caching backend's memory).
func wantNoToken(t *testing.T, s store.Store, what, mac string) {
	t.Helper()
	got, err := s.GetTokenByMAC(t.Context(), mac)
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s: GetTokenByMAC = %+v, %v; want ErrNotFound", what, got, err)
	}
}

func wantNoNamedToken(t *testing.T, s store.Store, what, service, username, name string) {
	t.Helper()
	got, err := s.GetToken(t.Context(), service, username, name)
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s: GetToken(%s, %q, %q) = %+v, %v; want ErrNotFound", what, service, username, name, got, err)
	}
}

// checkStored reads want back by MAC and by name.
func checkStored(t *testing.T, s store.Store, what string, want store.Token) {
	t.Helper()
	got, err := s.GetTokenByMAC(t.Context(), want.MAC)
	if err != nil {
		t.Errorf("%s: GetTokenByMAC: %v", what, err)
	} else {
		checkToken(t, what+" (by MAC)", got, want)
	}
	got, err = s.GetToken(t.Context(), want.Service, want.Username, want.Name)
	if err != nil {
		t.Errorf("%s: GetToken: %v", what, err)
	} else {
		checkToken(t, what+" (by name)", got, want)
	}
}

func diffIPs(got, want []string) []string {
	switch {
	case len(want) == 0 && got != nil:
		return []string{fmt.Sprintf("WhitelistIPs: got %#v, want nil (nil and empty read back nil)", got)}
	case !slices.Equal(got, want):
		return []string{fmt.Sprintf("WhitelistIPs: got %q, want %q", got, want)}
	}
	return nil
}

// diffNever is diffTime for a time whose zero means never.
func diffNever(name string, got, want time.Time) []string {
	d := diffTime(name, got, want)
	if got.IsZero() != want.IsZero() {
		d = append(d, fmt.Sprintf("%s: got %v, want %v (zero means never)", name, got, want))
	}
	return d
}

func checkToken(t *testing.T, what string, got, want store.Token) {
	t.Helper()
	reportDiffs(t, what,
		diffField("Service", got.Service, want.Service),
		diffField("Username", got.Username, want.Username),
		diffField("Name", got.Name, want.Name),
		diffField("MAC", got.MAC, want.MAC),
		diffACLs(got.ACLs, want.ACLs),
		diffNever("ExpiresAt", got.ExpiresAt, want.ExpiresAt),
		diffIPs(got.WhitelistIPs, want.WhitelistIPs),
		diffField("ReadOnly", got.ReadOnly, want.ReadOnly),
		diffField("RequireOTP", got.RequireOTP, want.RequireOTP),
		diffTime("Created", got.Created, want.Created),
		diffNever("LastUsed", got.LastUsed, want.LastUsed),
		diffField("LastUsedIP", got.LastUsedIP, want.LastUsedIP),
	)
}

func tokenNames(ts []store.Token) []string {
	return project(ts, func(t store.Token) string { return t.Name })
}

func listTokenNames(t *testing.T, s store.Store, service, username string) []string {
	t.Helper()
	ts, err := s.ListTokens(t.Context(), service, username)
	if err != nil {
		t.Fatalf("ListTokens(%s, %q): %v", service, username, err)
	}
	return tokenNames(ts)
}

func testTokenCreateGet(t *testing.T, s store.Store) {
	tokenAccounts(t, s)
	toks := []store.Token{
		fullToken(store.TokenWHM, "root", "all-access"),
		fullToken(store.TokenWHM, "res1", "deploy"),
		newToken(store.TokenCPanel, "bob", "site"),
	}
	for _, tok := range toks {
		wantNoToken(t, s, "before create", tok.MAC)
		mustCreateToken(t, s, tok)
	}
	for _, tok := range toks {
		checkStored(t, s, tok.Username+"/"+tok.Name, tok)
	}
}

func testTokenRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	tokenAccounts(t, s)
	for i, str := range awkward {
		tok := store.Token{
			Service:      []string{store.TokenWHM, store.TokenCPanel}[i%2],
			Username:     "bob",
			Name:         str, // the store keeps any name; the API restricts them
			MAC:          macOf("awkward", str),
			ACLs:         []string{str, "all", str + "2"},
			ExpiresAt:    atMicro(int64(1000+i), int64(i)),
			WhitelistIPs: []string{str, "10.0.0.0/8"},
			ReadOnly:     i%2 == 0,
			RequireOTP:   i%3 == 0,
			Created:      atMicro(int64(i), 500000+int64(i)),
			LastUsed:     atMicro(int64(2000+i), 999999),
			LastUsedIP:   str,
		}
		wantNoToken(t, s, "before create", tok.MAC)
		mustCreateToken(t, s, tok)
		checkStored(t, s, fmt.Sprintf("awkward[%d]", i), tok)
	}
	// Every boolean combination.
	for i, bits := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
		tok := newToken(store.TokenCPanel, "carol", fmt.Sprintf("bool%d", i))
		tok.ReadOnly, tok.RequireOTP = bits[0], bits[1]
		mustCreateToken(t, s, tok)
		checkStored(t, s, tok.Name, tok)
	}
	// What a caller gets is its own: changing it changes nothing stored.
	want := fullToken(store.TokenWHM, "res1", "mine")
	mustCreateToken(t, s, want)
	for _, get := range []func() (store.Token, error){
		func() (store.Token, error) { return s.GetTokenByMAC(ctx, want.MAC) },
		func() (store.Token, error) { return s.GetToken(ctx, want.Service, want.Username, want.Name) },
		func() (store.Token, error) {
			ts, err := s.ListTokens(ctx, want.Service, want.Username)
			if err != nil || len(ts) != 1 {
				return store.Token{}, fmt.Errorf("ListTokens = %d tokens, %v", len(ts), err)
			}
			return ts[0], nil
		},
	} {
		got, err := get()
		if err != nil {
			t.Fatal(err)
		}
		got.ACLs[0] = "mutated"
		got.WhitelistIPs[0] = "mutated"
		checkStored(t, s, "after the caller changed its copy", want)
	}
}

func testTokenACLs(t *testing.T, s store.Store) {
	ctx := t.Context()
	tokenAccounts(t, s)
	for _, c := range aclCases {
		tok := newToken(store.TokenWHM, "res1", c.name)
		tok.ACLs = c.acls
		mustCreateToken(t, s, tok)
		checkStored(t, s, c.name, tok)
	}
	// And through an update: values -> empty -> nil -> values.
	mac := macOf(store.TokenWHM, "res1", "oneacl")
	for _, acls := range [][]string{{}, nil, {"passwd"}} {
		got := mustUpdateToken(t, s, store.TokenWHM, "res1", "oneacl", func(tok *store.Token) { tok.ACLs = acls })
		byMAC, err := s.GetTokenByMAC(ctx, mac)
		if err != nil {
			t.Fatalf("GetTokenByMAC: %v", err)
		}
		byName, err := s.GetToken(ctx, store.TokenWHM, "res1", "oneacl")
		if err != nil {
			t.Fatalf("GetToken: %v", err)
		}
		for _, g := range []store.Token{got, byMAC, byName} {
			if d := diffACLs(g.ACLs, acls); d != nil {
				t.Errorf("after update to %#v: %s", acls, d[0])
			}
		}
	}
}

func testTokenWhitelistIPs(t *testing.T, s store.Store) {
	tokenAccounts(t, s)
	cases := []struct {
		name string
		ips  []string
	}{
		{"nilips", nil},
		{"emptyips", []string{}},
		{"oneip", []string{"127.0.0.1"}},
		// Kept as given, in order, duplicates included: normalising is the
		// API's business.
		{"manyips", []string{"fc00:abcd:0000:0000:0000:0000:0000:000f", "10.0.0.0/8", "10.0.0.0/8", "::1"}},
	}
	for _, c := range cases {
		tok := newToken(store.TokenWHM, "root", c.name)
		tok.WhitelistIPs = c.ips
		mustCreateToken(t, s, tok)
		checkStored(t, s, c.name, tok)
	}
	for _, ips := range [][]string{{}, {"192.0.2.0/24"}, nil} {
		got := mustUpdateToken(t, s, store.TokenWHM, "root", "oneip", func(tok *store.Token) { tok.WhitelistIPs = ips })
		if d := diffIPs(got.WhitelistIPs, ips); d != nil {
			t.Errorf("UpdateToken result after update to %#v: %s", ips, d[0])
		}
		want := newToken(store.TokenWHM, "root", "oneip")
		want.WhitelistIPs = ips
		checkStored(t, s, fmt.Sprintf("after update to %#v", ips), want)
	}
}

func testTokenTimes(t *testing.T, s store.Store) {
	tokenAccounts(t, s)
	cases := []struct {
		name                       string
		created, expires, lastUsed time.Time
		exact                      bool
	}{
		{"never", atMicro(0, 1), time.Time{}, time.Time{}, true},
		{"zerocreated", time.Time{}, atMicro(10, 0), time.Time{}, true},
		{"micro", atMicro(1, 1), atMicro(2, 999999), atMicro(3, 500000), true},
		{"utc", time.Date(2024, 2, 29, 23, 59, 59, 123456000, time.UTC), time.Date(2038, 1, 19, 3, 14, 8, 1000, time.UTC), time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"local", time.Date(2025, 6, 1, 12, 0, 0, 7000, time.Local), time.Date(2099, 12, 31, 23, 59, 59, 999999000, time.Local), time.Date(1999, 12, 31, 23, 59, 59, 0, time.Local), true},
		// The epoch is a time like any other, not "never".
		{"epoch", time.Unix(0, 0), time.Unix(0, 0), time.Unix(0, 0), true},
		{"beforeepoch", time.Unix(-86400, 1000), time.Unix(-1, 0), time.Unix(-1, 999999000), true},
		{"nanoseconds", time.Date(2025, 1, 2, 3, 4, 5, 123456789, zone), time.Date(2030, 1, 2, 3, 4, 5, 999999999, time.UTC), time.Date(2025, 1, 2, 3, 4, 5, 1, zone), false},
	}
	for _, c := range cases {
		tok := newToken(store.TokenCPanel, "bob", c.name)
		tok.Created, tok.ExpiresAt, tok.LastUsed = c.created, c.expires, c.lastUsed
		mustCreateToken(t, s, tok)
		if c.exact {
			checkStored(t, s, c.name, tok)
			continue
		}
		got, err := s.GetTokenByMAC(t.Context(), tok.MAC)
		if err != nil {
			t.Fatalf("GetTokenByMAC(%s): %v", c.name, err)
		}
		for _, p := range [][2]time.Time{{got.Created, tok.Created}, {got.ExpiresAt, tok.ExpiresAt}, {got.LastUsed, tok.LastUsed}} {
			if d := p[0].Sub(p[1]); d <= -time.Microsecond || d >= time.Microsecond || p[0].IsZero() {
				t.Errorf("%s: got %v, want %v within a microsecond", c.name, p[0], p[1])
			}
		}
	}
}

func testTokenInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	tokenAccounts(t, s)
	for name, change := range map[string]func(*store.Token){
		"no service":      func(tok *store.Token) { tok.Service = "" },
		"unknown service": func(tok *store.Token) { tok.Service = "webmail" },
		"service case":    func(tok *store.Token) { tok.Service = "WHOSTMGR" },
		"no MAC":          func(tok *store.Token) { tok.MAC = "" },
	} {
		tok := newToken(store.TokenWHM, "root", "bad")
		change(&tok)
		if err := s.CreateToken(ctx, tok); err == nil {
			t.Errorf("CreateToken with %s succeeded", name)
		}
		if names := listTokenNames(t, s, tok.Service, "root"); len(names) != 0 {
			t.Errorf("CreateToken with %s stored %q", name, names)
		}
		wantNoToken(t, s, "CreateToken with "+name, tok.MAC)
	}
	if names := listTokenNames(t, s, store.TokenWHM, "root"); len(names) != 0 {
		t.Errorf("refused tokens were stored: %q", names)
	}
}

func testTokenDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	tokenAccounts(t, s)
	orig := fullToken(store.TokenWHM, "res1", "a")
	mustCreateToken(t, s, orig)

	dup := newToken(store.TokenWHM, "res1", "a")
	dup.MAC = macOf("another MAC")
	wantNoToken(t, s, "before the duplicate", dup.MAC)
	wantErr(t, "duplicate name", s.CreateToken(ctx, dup), store.ErrExists)
	wantNoToken(t, s, "MAC of a refused duplicate", dup.MAC)

	sameMAC := newToken(store.TokenWHM, "res1", "b")
	sameMAC.MAC = orig.MAC
	wantErr(t, "duplicate MAC", s.CreateToken(ctx, sameMAC), store.ErrExists)
	wantNoNamedToken(t, s, "name of a refused duplicate MAC", store.TokenWHM, "res1", "b")
	sameMAC.Service, sameMAC.Username = store.TokenCPanel, "carol"
	wantErr(t, "duplicate MAC of another user and service", s.CreateToken(ctx, sameMAC), store.ErrExists)

	// The same name is fine under the other service, for another user, and
	// in another case.
	for _, tok := range []store.Token{
		newToken(store.TokenCPanel, "res1", "a"),
		newToken(store.TokenWHM, "root", "a"),
		newToken(store.TokenCPanel, "bob", "a"),
		newToken(store.TokenWHM, "res1", "A"),
	} {
		wantNoToken(t, s, "before create", tok.MAC)
		mustCreateToken(t, s, tok)
		checkStored(t, s, fmt.Sprintf("%s/%s/%s", tok.Service, tok.Username, tok.Name), tok)
	}
	checkStored(t, s, "the original", orig)
	if got, want := listTokenNames(t, s, store.TokenWHM, "res1"), []string{"A", "a"}; !slices.Equal(got, want) {
		t.Errorf("ListTokens(whostmgr, res1) = %q, want %q", got, want)
	}
}

func testTokenUnknownAccount(t *testing.T, s store.Store) {
	ctx := t.Context()
	tokenAccounts(t, s)
	tok := fullToken(store.TokenCPanel, "nobody", "t")
	wantNoToken(t, s, "before create", tok.MAC)
	wantErr(t, "CreateToken for an unknown account", s.CreateToken(ctx, tok), store.ErrNotFound)
	wantNoToken(t, s, "token of an unknown account", tok.MAC)
	wantNoNamedToken(t, s, "token of an unknown account", tok.Service, "nobody", "t")
	if names := listTokenNames(t, s, tok.Service, "nobody"); len(names) != 0 {
		t.Errorf("ListTokens of an unknown account = %q", names)
	}
	// Usernames are exact.
	tok.Username = "BOB"
	wantErr(t, "CreateToken for another case of bob", s.CreateToken(ctx, tok), store.ErrNotFound)

	// Once the account exists, the same token can be created.
	mustCreateAccount(t, s, newAccount("nobody", "nobody.example.com"))
	tok.Username = "nobody"
	mustCreateToken(t, s, tok)
	checkStored(t, s, "after the account was created", tok)
}

func testTokenNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	tokenAccounts(t, s)
	tok := fullToken(store.TokenWHM, "res1", "t")
	mustCreateToken(t, s, tok)

	wantNoToken(t, s, "unknown MAC", macOf("unknown"))
	wantNoToken(t, s, "empty MAC", "")
	wantNoToken(t, s, "MAC with its first digit changed", "x"+tok.MAC[1:])
	for _, k := range [][3]string{
		{store.TokenCPanel, "res1", "t"},
		{store.TokenWHM, "bob", "t"},
		{store.TokenWHM, "res1", "T"},
		{store.TokenWHM, "res1", "u"},
		{store.TokenWHM, "nobody", "t"},
		{"webmail", "res1", "t"},
	} {
		what := fmt.Sprintf("(%s, %q, %q)", k[0], k[1], k[2])
		wantNoNamedToken(t, s, what, k[0], k[1], k[2])
		called := false
		_, err := s.UpdateToken(ctx, k[0], k[1], k[2], func(tok store.Token) (store.Token, error) {
			called = true
			return tok, nil
		})
		wantErr(t, "UpdateToken"+what, err, store.ErrNotFound)
		if called {
			t.Errorf("UpdateToken%s called the updater", what)
		}
		wantErr(t, "DeleteToken"+what, s.DeleteToken(ctx, k[0], k[1], k[2]), store.ErrNotFound)
	}
	wantErr(t, "TouchToken of an unknown MAC", s.TouchToken(ctx, macOf("unknown"), at(5), "192.0.2.1"), store.ErrNotFound)
	wantNoToken(t, s, "unknown MAC after a touch", macOf("unknown"))
	checkStored(t, s, "the one token", tok)
}

func testTokenList(t *testing.T, s store.Store) {
	tokenAccounts(t, s)
	names := []string{"zz", "b", "a", "B", "a-1", "a_1", "9", "a1"}
	want := map[string]store.Token{}
	for i, n := range names {
		tok := newToken(store.TokenCPanel, "bob", n)
		tok.Created = atMicro(int64(i), int64(i))
		tok.ReadOnly = i%2 == 0
		mustCreateToken(t, s, tok)
		want[n] = tok
	}
	mustCreateToken(t, s, newToken(store.TokenWHM, "bob", "whm-one"))
	mustCreateToken(t, s, newToken(store.TokenCPanel, "carol", "carols"))

	ts, err := s.ListTokens(t.Context(), store.TokenCPanel, "bob")
	if err != nil {
		t.Fatalf("ListTokens: %v", err)
	}
	if got, w := tokenNames(ts), []string{"9", "B", "a", "a-1", "a1", "a_1", "b", "zz"}; !slices.Equal(got, w) {
		t.Errorf("ListTokens(cpanel, bob) = %q, want %q (byte order)", got, w)
	}
	for _, tok := range ts {
		checkToken(t, "listed "+tok.Name, tok, want[tok.Name])
	}
	for _, c := range []struct {
		service, user string
		want          []string
	}{
		{store.TokenWHM, "bob", []string{"whm-one"}},
		{store.TokenCPanel, "carol", []string{"carols"}},
		{store.TokenWHM, "carol", nil},
		{store.TokenWHM, "root", nil},
		{store.TokenCPanel, "nobody", nil},
		{"webmail", "bob", nil},
		{store.TokenCPanel, "BOB", nil},
	} {
		if got := listTokenNames(t, s, c.service, c.user); !slices.Equal(got, c.want) {
			t.Errorf("ListTokens(%s, %q) = %q, want %q", c.service, c.user, got, c.want)
		}
	}
}

func testTokenUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	tokenAccounts(t, s)
	orig := newToken(store.TokenWHM, "res1", "deploy")
	mustCreateToken(t, s, orig)
	other := fullToken(store.TokenWHM, "res1", "other")
	mustCreateToken(t, s, other)
	checkStored(t, s, "before the update", orig) // and remembered, maybe

	want := orig
	want.ACLs = []string{"list-accts"}
	want.ExpiresAt = atMicro(5000, 42)
	want.WhitelistIPs = []string{"203.0.113.0/24"}
	want.ReadOnly = true
	want.RequireOTP = true
	want.Created = atMicro(300, 7)
	want.LastUsed = atMicro(400, 8)
	want.LastUsedIP = "2001:0db8:0000:0000:0000:0000:0000:0001"
	got, err := s.UpdateToken(ctx, store.TokenWHM, "res1", "deploy", func(tok store.Token) (store.Token, error) {
		checkToken(t, "updater input", tok, orig)
		tok.ACLs = []string{"list-accts"}
		tok.ExpiresAt, tok.WhitelistIPs = want.ExpiresAt, []string{"203.0.113.0/24"}
		tok.ReadOnly, tok.RequireOTP = true, true
		tok.Created, tok.LastUsed, tok.LastUsedIP = want.Created, want.LastUsed, want.LastUsedIP
		return tok, nil
	})
	if err != nil {
		t.Fatalf("UpdateToken: %v", err)
	}
	checkToken(t, "UpdateToken result", got, want)
	checkStored(t, s, "after UpdateToken", want)
	checkStored(t, s, "the other token", other)

	// And back: no expiry, no ACLs, no list, never used.
	got, err = s.UpdateToken(ctx, store.TokenWHM, "res1", "deploy", func(store.Token) (store.Token, error) { return orig, nil })
	if err != nil {
		t.Fatalf("UpdateToken back: %v", err)
	}
	checkToken(t, "UpdateToken back", got, orig)
	checkStored(t, s, "after UpdateToken back", orig)

	// A failing updater stores nothing.
	_, err = s.UpdateToken(ctx, store.TokenWHM, "res1", "deploy", func(tok store.Token) (store.Token, error) {
		tok.ReadOnly = true
		tok.Name = "renamed"
		return tok, errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Errorf("UpdateToken with a failing updater: error %v, want %v", err, errBoom)
	}
	checkStored(t, s, "after aborted update", orig)
	wantNoNamedToken(t, s, "name of an aborted rename", store.TokenWHM, "res1", "renamed")
}

func testTokenUpdateKey(t *testing.T, s store.Store) {
	ctx := t.Context()
	tokenAccounts(t, s)
	orig := fullToken(store.TokenWHM, "res1", "t")
	mustCreateToken(t, s, orig)
	checkStored(t, s, "before", orig)
	newMAC := macOf("new MAC")
	wantNoToken(t, s, "the new MAC before", newMAC)
	for name, change := range map[string]func(*store.Token){
		"service":  func(tok *store.Token) { tok.Service = store.TokenCPanel },
		"username": func(tok *store.Token) { tok.Username = "bob" },
		"MAC":      func(tok *store.Token) { tok.MAC = newMAC },
		"no MAC":   func(tok *store.Token) { tok.MAC = "" },
	} {
		_, err := s.UpdateToken(ctx, store.TokenWHM, "res1", "t", func(tok store.Token) (store.Token, error) {
			change(&tok)
			tok.ReadOnly = false
			tok.Name = "moved"
			return tok, nil
		})
		if err == nil {
			t.Errorf("UpdateToken changing the %s succeeded", name)
		}
	}
	checkStored(t, s, "after refused key changes", orig)
	wantNoToken(t, s, "the refused new MAC", newMAC)
	wantNoNamedToken(t, s, "refused service change", store.TokenCPanel, "res1", "moved")
	wantNoNamedToken(t, s, "refused user change", store.TokenWHM, "bob", "moved")
	wantNoNamedToken(t, s, "refused rename", store.TokenWHM, "res1", "moved")
}

func testTokenRename(t *testing.T, s store.Store) {
	ctx := t.Context()
	tokenAccounts(t, s)
	orig := fullToken(store.TokenWHM, "res1", "old")
	taken := newToken(store.TokenWHM, "res1", "taken")
	elsewhere := newToken(store.TokenCPanel, "res1", "elsewhere")
	for _, tok := range []store.Token{orig, taken, elsewhere} {
		mustCreateToken(t, s, tok)
		checkStored(t, s, "before", tok)
	}
	rename := func(from, to string) (store.Token, error) {
		return s.UpdateToken(ctx, store.TokenWHM, "res1", from, func(tok store.Token) (store.Token, error) {
			tok.Name = to
			tok.ReadOnly = false // a change that must go, or stay, with the rename
			return tok, nil
		})
	}

	want := orig
	want.Name, want.ReadOnly = "new", false
	got, err := rename("old", "new")
	if err != nil {
		t.Fatalf("rename: %v", err)
	}
	checkToken(t, "rename result", got, want)
	checkStored(t, s, "after rename", want)
	wantNoNamedToken(t, s, "the old name", store.TokenWHM, "res1", "old")
	if got, w := listTokenNames(t, s, store.TokenWHM, "res1"), []string{"new", "taken"}; !slices.Equal(got, w) {
		t.Errorf("ListTokens after rename = %q, want %q", got, w)
	}

	// Onto a taken name: ErrExists, nothing changes.
	_, err = s.UpdateToken(ctx, store.TokenWHM, "res1", "new", func(tok store.Token) (store.Token, error) {
		tok.Name = "taken"
		tok.RequireOTP = false
		return tok, nil
	})
	wantErr(t, "rename onto a taken name", err, store.ErrExists)
	checkStored(t, s, "after the refused rename", want)
	checkStored(t, s, "the taken token", taken)

	// A name used under the other service is free here; the old name is
	// free again.
	want.Name = "elsewhere"
	if _, err := rename("new", "elsewhere"); err != nil {
		t.Fatalf("rename to the other service's name: %v", err)
	}
	checkStored(t, s, "after the second rename", want)
	checkStored(t, s, "the other service's token", elsewhere)
	again := newToken(store.TokenWHM, "res1", "old")
	again.MAC = macOf("again") // the renamed token keeps the old MAC
	mustCreateToken(t, s, again)
	checkStored(t, s, "a new token under the old name", again)

	// Renaming to its own name is no change.
	if _, err := rename("elsewhere", "elsewhere"); err != nil {
		t.Errorf("rename to the same name: %v", err)
	}
	checkStored(t, s, "after renaming to the same name", want)
}

func testTokenDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	tokenAccounts(t, s)
	gone := fullToken(store.TokenCPanel, "bob", "gone")
	kept := fullToken(store.TokenCPanel, "bob", "kept")
	for _, tok := range []store.Token{gone, kept} {
		mustCreateToken(t, s, tok)
		checkStored(t, s, "before", tok)
	}
	if err := s.DeleteToken(ctx, store.TokenCPanel, "bob", "gone"); err != nil {
		t.Fatalf("DeleteToken: %v", err)
	}
	wantNoToken(t, s, "after delete", gone.MAC)
	wantNoNamedToken(t, s, "after delete", store.TokenCPanel, "bob", "gone")
	wantErr(t, "DeleteToken twice", s.DeleteToken(ctx, store.TokenCPanel, "bob", "gone"), store.ErrNotFound)
	wantErr(t, "TouchToken of a deleted token", s.TouchToken(ctx, gone.MAC, at(9), "192.0.2.9"), store.ErrNotFound)
	checkStored(t, s, "the other token", kept)
	if got := listTokenNames(t, s, store.TokenCPanel, "bob"); !slices.Equal(got, []string{"kept"}) {
		t.Errorf("ListTokens after delete = %q", got)
	}
	if _, err := s.GetAccount(ctx, "bob"); err != nil {
		t.Errorf("GetAccount after DeleteToken: %v", err)
	}
	// The name and the MAC can be used again.
	mustCreateToken(t, s, gone)
	checkStored(t, s, "created again", gone)
}

func testTokenDeleteAccount(t *testing.T, s store.Store) {
	ctx := t.Context()
	tokenAccounts(t, s)
	bobs := []store.Token{
		fullToken(store.TokenCPanel, "bob", "x"),
		newToken(store.TokenCPanel, "bob", "y"),
		newToken(store.TokenWHM, "bob", "x"),
	}
	carols := newToken(store.TokenCPanel, "carol", "x")
	for _, tok := range append(bobs, carols) {
		mustCreateToken(t, s, tok)
		checkStored(t, s, "before", tok)
	}
	if err := s.DeleteAccount(ctx, "bob"); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	for _, tok := range bobs {
		wantNoToken(t, s, "after DeleteAccount", tok.MAC)
		wantNoNamedToken(t, s, "after DeleteAccount", tok.Service, "bob", tok.Name)
	}
	for _, svc := range []string{store.TokenWHM, store.TokenCPanel} {
		if got := listTokenNames(t, s, svc, "bob"); len(got) != 0 {
			t.Errorf("ListTokens(%s, bob) after DeleteAccount = %q", svc, got)
		}
	}
	checkStored(t, s, "carol's token", carols)

	// A new account of the same name starts without tokens.
	mustCreateAccount(t, s, newAccount("bob", "bob.example.com"))
	for _, svc := range []string{store.TokenWHM, store.TokenCPanel} {
		if got := listTokenNames(t, s, svc, "bob"); len(got) != 0 {
			t.Errorf("ListTokens(%s, bob) of the new bob = %q", svc, got)
		}
	}
	wantNoToken(t, s, "the old bob's token", bobs[0].MAC)
	mustCreateToken(t, s, bobs[0])
	checkStored(t, s, "the new bob's token", bobs[0])
}

func testTokenTouch(t *testing.T, s store.Store) {
	ctx := t.Context()
	tokenAccounts(t, s)
	tok := newToken(store.TokenWHM, "root", "t")
	other := newToken(store.TokenWHM, "root", "u")
	for _, x := range []store.Token{tok, other} {
		mustCreateToken(t, s, x)
		checkStored(t, s, "before", x)
	}
	want := tok
	for i, use := range []struct {
		when time.Time
		ip   string
	}{
		{atMicro(500, 654321), "203.0.113.9"},
		{atMicro(560, 1).In(time.UTC), "2001:0db8:0000:0000:0000:0000:0000:00ff"},
		{atMicro(400, 0), ""}, // written as given, even if older
	} {
		if err := s.TouchToken(ctx, tok.MAC, use.when, use.ip); err != nil {
			t.Fatalf("TouchToken %d: %v", i, err)
		}
		want.LastUsed, want.LastUsedIP = use.when, use.ip
		checkStored(t, s, fmt.Sprintf("after touch %d", i), want)
		ts, err := s.ListTokens(ctx, store.TokenWHM, "root")
		if err != nil || len(ts) != 2 {
			t.Fatalf("ListTokens = %d tokens, %v", len(ts), err)
		}
		checkToken(t, fmt.Sprintf("listed after touch %d", i), ts[0], want)
		checkStored(t, s, fmt.Sprintf("the other token after touch %d", i), other)
	}
	// An update after a touch keeps the touch unless the updater changes it.
	want.ReadOnly = true
	if _, err := s.UpdateToken(ctx, store.TokenWHM, "root", "t", func(x store.Token) (store.Token, error) {
		x.ReadOnly = true
		return x, nil
	}); err != nil {
		t.Fatalf("UpdateToken: %v", err)
	}
	checkStored(t, s, "after touch and update", want)
}

func testTokenPurge(t *testing.T, s store.Store) {
	ctx := t.Context()
	tokenAccounts(t, s)
	if n, err := s.PurgeExpiredTokens(ctx, at(0)); err != nil || n != 0 {
		t.Errorf("PurgeExpiredTokens on no tokens = %d, %v", n, err)
	}
	cut := atMicro(1000, 0)
	expiries := map[string]time.Time{
		"never":      {},
		"longago":    at(-100000),
		"epoch":      time.Unix(0, 0),
		"justbefore": cut.Add(-time.Microsecond),
		"atcut":      cut,
		"justafter":  cut.Add(time.Microsecond),
		"future":     at(10_000_000),
	}
	var all []store.Token
	i := 0
	for name, exp := range expiries {
		// Spread over users and services: the purge is store-wide.
		svc := []string{store.TokenWHM, store.TokenCPanel}[i%2]
		user := []string{"root", "res1", "bob"}[i%3]
		i++
		tok := fullToken(svc, user, name)
		tok.ExpiresAt = exp
		mustCreateToken(t, s, tok)
		checkStored(t, s, "before the purge", tok)
		all = append(all, tok)
	}
	n, err := s.PurgeExpiredTokens(ctx, cut)
	if err != nil || n != 3 {
		t.Errorf("PurgeExpiredTokens(cut) = %d, %v; want 3 (longago, epoch, justbefore)", n, err)
	}
	for _, tok := range all {
		switch tok.Name {
		case "longago", "epoch", "justbefore":
			wantNoToken(t, s, "purged "+tok.Name, tok.MAC)
			wantNoNamedToken(t, s, "purged", tok.Service, tok.Username, tok.Name)
		default:
			checkStored(t, s, "kept "+tok.Name, tok)
		}
	}
	if n, err := s.PurgeExpiredTokens(ctx, cut); err != nil || n != 0 {
		t.Errorf("PurgeExpiredTokens(cut) again = %d, %v; want 0", n, err)
	}
	// A far cut-off takes every expiring token, never the others.
	n, err = s.PurgeExpiredTokens(ctx, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || n != 3 {
		t.Errorf("PurgeExpiredTokens(far) = %d, %v; want 3 (atcut, justafter, future)", n, err)
	}
	for _, tok := range all {
		if tok.Name == "never" {
			checkStored(t, s, "the token that never expires", tok)
		} else {
			wantNoToken(t, s, "after the far purge", tok.MAC)
		}
	}
	for _, a := range []string{"root", "res1", "bob"} {
		if _, err := s.GetAccount(ctx, a); err != nil {
			t.Errorf("GetAccount(%s) after the purge: %v", a, err)
		}
	}
}

// Concurrency.

func testConcurrentCreateToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	tokenAccounts(t, s)

	// Distinct names for one user: all succeed.
	errs := parallel(func(i int) error {
		return s.CreateToken(ctx, newToken(store.TokenCPanel, "bob", fmt.Sprintf("tok%02d", i)))
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("worker %d: %v", i, err)
		}
	}
	if names := listTokenNames(t, s, store.TokenCPanel, "bob"); len(names) != workers {
		t.Errorf("ListTokens = %d tokens, want %d", len(names), workers)
	}
	for i := range workers {
		checkStored(t, s, "created concurrently", newToken(store.TokenCPanel, "bob", fmt.Sprintf("tok%02d", i)))
	}

	// One name, distinct MACs: exactly one wins, and its token is stored.
	racer := func(i int) store.Token {
		tok := newToken(store.TokenWHM, "res1", "racer")
		tok.MAC = macOf("racer", fmt.Sprint(i))
		return tok
	}
	errs = parallel(func(i int) error { return s.CreateToken(ctx, racer(i)) })
	winner := oneWinner(t, "the name", errs)
	for i := range workers {
		if i == winner {
			checkStored(t, s, "the winner", racer(i))
		} else {
			wantNoToken(t, s, fmt.Sprintf("loser %d", i), racer(i).MAC)
		}
	}

	// One MAC, distinct names: exactly one wins.
	errs = parallel(func(i int) error {
		tok := newToken(store.TokenCPanel, "carol", fmt.Sprintf("same-mac-%02d", i))
		tok.MAC = macOf("one MAC")
		return s.CreateToken(ctx, tok)
	})
	winner = oneWinner(t, "the MAC", errs)
	if names := listTokenNames(t, s, store.TokenCPanel, "carol"); !slices.Equal(names, []string{fmt.Sprintf("same-mac-%02d", winner)}) {
		t.Errorf("ListTokens(cpanel, carol) = %q, want only worker %d's", names, winner)
	}
}

// oneWinner checks that exactly one of errs is nil and the others are
// ErrExists, and returns the winner.
func oneWinner(t *testing.T, what string, errs []error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("%s: workers %d and %d both created it", what, winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrExists):
			t.Errorf("%s: worker %d: error %v, want %v", what, i, err, store.ErrExists)
		}
	}
	if winner < 0 {
		t.Fatalf("%s: no worker created it", what)
	}
	return winner
}

func testConcurrentUpdateToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	tokenAccounts(t, s)
	tok := newToken(store.TokenWHM, "root", "counter")
	mustCreateToken(t, s, tok)
	checkStored(t, s, "before", tok)
	errs := parallel(func(i int) error {
		_, err := s.UpdateToken(ctx, store.TokenWHM, "root", "counter", func(x store.Token) (store.Token, error) {
			x.WhitelistIPs = append(x.WhitelistIPs, fmt.Sprintf("10.0.0.%d", i))
			return x, nil
		})
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("worker %d: %v", i, err)
		}
	}
	got, err := s.GetTokenByMAC(ctx, tok.MAC)
	if err != nil {
		t.Fatalf("GetTokenByMAC: %v", err)
	}
	if len(got.WhitelistIPs) != workers {
		t.Errorf("%d addresses after %d concurrent appends: updates were lost", len(got.WhitelistIPs), workers)
	}
	ips := slices.Clone(got.WhitelistIPs)
	slices.Sort(ips)
	if len(slices.Compact(ips)) != len(got.WhitelistIPs) {
		t.Errorf("addresses after concurrent appends: %q has duplicates", got.WhitelistIPs)
	}
}

// testConcurrentTokenLifecycle creates, reads, touches and revokes tokens
// from many goroutines at once.
func testConcurrentTokenLifecycle(t *testing.T, s store.Store) {
	ctx := t.Context()
	tokenAccounts(t, s)
	errs := parallel(func(i int) error {
		tok := fullToken(store.TokenCPanel, "bob", fmt.Sprintf("life%02d", i))
		for round := range 3 {
			if _, err := s.GetTokenByMAC(ctx, tok.MAC); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("round %d: before create: %v", round, err)
			}
			if err := s.CreateToken(ctx, tok); err != nil {
				return fmt.Errorf("round %d: create: %w", round, err)
			}
			if got, err := s.GetTokenByMAC(ctx, tok.MAC); err != nil || got.Name != tok.Name {
				return fmt.Errorf("round %d: after create: %+v, %v", round, got, err)
			}
			if err := s.TouchToken(ctx, tok.MAC, at(int64(round)), "192.0.2.1"); err != nil {
				return fmt.Errorf("round %d: touch: %w", round, err)
			}
			if err := s.DeleteToken(ctx, tok.Service, tok.Username, tok.Name); err != nil {
				return fmt.Errorf("round %d: delete: %w", round, err)
			}
			if _, err := s.GetTokenByMAC(ctx, tok.MAC); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("round %d: after delete: %v", round, err)
			}
		}
		return nil
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("worker %d: %v", i, err)
		}
	}
	if names := listTokenNames(t, s, store.TokenCPanel, "bob"); len(names) != 0 {
		t.Errorf("tokens left after the lifecycles: %q", names)
	}
}
