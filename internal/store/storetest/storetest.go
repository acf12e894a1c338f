// Package storetest is the conformance suite every store.Store backend runs.
package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/store"
)

// RunTests runs the whole suite against the backend newStore makes. Every
// subtest gets a fresh, empty store from newStore, which is responsible for
// closing it (t.Cleanup).
//
// What the suite requires beyond the interface's comments:
//   - times come back Equal to what was stored when they are whole seconds
//     (the zero time included), and within a second otherwise;
//   - ACLs come back nil when stored nil and empty (not nil) when stored
//     empty;
//   - lists are sorted: accounts by username, domains by name, mailboxes by
//     address; the lists of an unknown account are empty, not an error;
//   - deleting something that does not exist is ErrNotFound, and so is
//     setting the access hash of an unknown user;
//   - an updater error aborts the update and comes back (errors.Is); an
//     updater may not change a record's key (username; mailbox address or
//     account), which fails and stores nothing;
//   - changing an account's Domain moves its primary domain record, and the
//     mailboxes on it, to the new name; ErrExists if that name is taken;
//   - API tokens (see tokens.go): every time of a token comes back Equal
//     at microsecond precision, the zero ExpiresAt and LastUsed included;
//     ACLs keep nil and empty apart; WhitelistIPs nil and empty both read
//     back nil; tokens are listed by name; a token of an unknown service
//     or without a MAC is refused; the cut-off of PurgeExpiredTokens is
//     exclusive; a record returned to the caller is the caller's to modify;
//   - sessions (see sessions.go): every field comes back exactly as written
//     (times and IdleTimeout at microsecond precision), whatever valid
//     UTF-8 a client-supplied field holds, CR/LF and "key=value" text
//     included; a session holding a NUL byte or invalid UTF-8 in any field
//     is refused whole with ErrInvalid (as are the other refusals that
//     store.SessionStore lists), identically on every backend; lists are
//     sorted by Created then IDHash byte-wise; the purge's cut-offs are
//     exclusive; LastSeen never moves back through TouchSession.
func RunTests(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"AccountCreateGet", testAccountCreateGet},
		{"AccountRoundTrip", testAccountRoundTrip},
		{"AccountACLs", testAccountACLs},
		{"AccountTimes", testAccountTimes},
		{"AccountDuplicate", testAccountDuplicate},
		{"AccountNotFound", testAccountNotFound},
		{"AccountList", testAccountList},
		{"AccountUpdate", testAccountUpdate},
		{"AccountUpdateAbort", testAccountUpdateAbort},
		{"AccountUpdateUsername", testAccountUpdateUsername},
		{"AccountUpdateDomain", testAccountUpdateDomain},
		{"AccountDelete", testAccountDelete},
		{"AccountDeleteCascade", testAccountDeleteCascade},
		{"Domains", testDomains},
		{"DomainsFollowWrites", testDomainsFollowWrites},
		{"MailboxCreateGet", testMailboxCreateGet},
		{"MailboxCreateErrors", testMailboxCreateErrors},
		{"MailboxList", testMailboxList},
		{"MailboxUpdate", testMailboxUpdate},
		{"MailboxDelete", testMailboxDelete},
		{"AccessHash", testAccessHash},
		{"AccessHashBinary", testAccessHashBinary},
		{"AccessHashCount", testAccessHashCount},
		{"Settings", testSettings},
		{"ConcurrentUpdateAccount", testConcurrentUpdateAccount},
		{"ConcurrentCreateAccount", testConcurrentCreateAccount},
		{"ConcurrentUpdateMailbox", testConcurrentUpdateMailbox},
		{"ConcurrentCreateMailbox", testConcurrentCreateMailbox},
		{"TokenCreateGet", testTokenCreateGet},
		{"TokenRoundTrip", testTokenRoundTrip},
		{"TokenACLs", testTokenACLs},
		{"TokenWhitelistIPs", testTokenWhitelistIPs},
		{"TokenTimes", testTokenTimes},
		{"TokenInvalid", testTokenInvalid},
		{"TokenDuplicate", testTokenDuplicate},
		{"TokenUnknownAccount", testTokenUnknownAccount},
		{"TokenNotFound", testTokenNotFound},
		{"TokenList", testTokenList},
		{"TokenUpdate", testTokenUpdate},
		{"TokenUpdateKey", testTokenUpdateKey},
		{"TokenRename", testTokenRename},
		{"TokenDelete", testTokenDelete},
		{"TokenDeleteAccount", testTokenDeleteAccount},
		{"TokenTouch", testTokenTouch},
		{"TokenPurge", testTokenPurge},
		{"ConcurrentCreateToken", testConcurrentCreateToken},
		{"ConcurrentUpdateToken", testConcurrentUpdateToken},
		{"ConcurrentTokenLifecycle", testConcurrentTokenLifecycle},
		{"SessionCreateGet", testSessionCreateGet},
		{"SessionRoundTrip", testSessionRoundTrip},
		{"SessionUnstorable", testSessionUnstorable},
		{"SessionInvalid", testSessionInvalid},
		{"SessionTimes", testSessionTimes},
		{"SessionDuplicate", testSessionDuplicate},
		{"SessionUnknownAccount", testSessionUnknownAccount},
		{"SessionNotFound", testSessionNotFound},
		{"SessionList", testSessionList},
		{"SessionUpdate", testSessionUpdate},
		{"SessionTouch", testSessionTouch},
		{"SessionDelete", testSessionDelete},
		{"SessionConsume", testSessionConsume},
		{"SessionDeleteUser", testSessionDeleteUser},
		{"SessionDeleteAccount", testSessionDeleteAccount},
		{"SessionDeleteAccountCascade", testSessionDeleteAccountCascade},
		{"SessionPurge", testSessionPurge},
		{"SessionPasskey", testSessionPasskey},
		{"ConcurrentConsumeSession", testConcurrentConsumeSession},
		{"ConcurrentCreateSession", testConcurrentCreateSession},
		{"ConcurrentUpdateSession", testConcurrentUpdateSession},
		{"ConcurrentSessionLifecycle", testConcurrentSessionLifecycle},
		{"HulkConfig", testHulkConfig},
		{"HulkLists", testHulkLists},
		{"HulkFailures", testHulkFailures},
		{"HulkBlocks", testHulkBlocks},
		{"HulkPurge", testHulkPurge},
	}
	tests = append(tests, twoFactorTests...)
	tests = append(tests, passkeyTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newStore(t))
		})
	}
}

// Fixtures. Times are whole seconds in a zone other than UTC, so that a
// backend must compare instants, not representations.

var zone = time.FixedZone("UTC+5:30", 5*3600+1800)

func at(sec int64) time.Time { return time.Unix(1_700_000_000+sec, 0).In(zone) }

func rootAccount() store.Account {
	return store.Account{
		Username:        "root",
		PasswordHash:    "$6$rootsalt$roothash",
		Created:         at(0),
		PasswordChanged: at(1),
	}
}

func newAccount(username, domain string) store.Account {
	return store.Account{
		Username:        username,
		Domain:          domain,
		Owner:           "root",
		PasswordHash:    "$6$salt$" + username,
		ContactEmail:    username + "@example.net",
		Plan:            "default",
		Created:         at(10),
		PasswordChanged: at(20),
	}
}

func newReseller(username, domain string) store.Account {
	a := newAccount(username, domain)
	a.Reseller = true
	a.ACLs = []string{"create-acct", "list-accts", "suspend-acct"}
	return a
}

func newMailbox(account, local, domain string) store.Mailbox {
	return store.Mailbox{
		Account:      account,
		Local:        local,
		Domain:       domain,
		PasswordHash: "$6$mbsalt$" + local,
		QuotaMB:      1024,
		Created:      at(30),
	}
}

// Helpers.

func mustCreateAccount(t *testing.T, s store.Store, a store.Account) {
	t.Helper()
	if err := s.CreateAccount(t.Context(), a); err != nil {
		t.Fatalf("CreateAccount(%q): %v", a.Username, err)
	}
}

func mustCreateMailbox(t *testing.T, s store.Store, m store.Mailbox) {
	t.Helper()
	if err := s.CreateMailbox(t.Context(), m); err != nil {
		t.Fatalf("CreateMailbox(%q): %v", m.Address(), err)
	}
}

func mustGetAccount(t *testing.T, s store.Store, username string) store.Account {
	t.Helper()
	a, err := s.GetAccount(t.Context(), username)
	if err != nil {
		t.Fatalf("GetAccount(%q): %v", username, err)
	}
	return a
}

func mustGetMailbox(t *testing.T, s store.Store, local, domain string) store.Mailbox {
	t.Helper()
	m, err := s.GetMailbox(t.Context(), local, domain)
	if err != nil {
		t.Fatalf("GetMailbox(%q, %q): %v", local, domain, err)
	}
	return m
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: error %v, want %v", what, err, want)
	}
}

func diffTime(name string, got, want time.Time) []string {
	if !got.Equal(want) {
		return []string{fmt.Sprintf("%s: got %v, want %v", name, got, want)}
	}
	return nil
}

func diffField[T comparable](name string, got, want T) []string {
	if got != want {
		return []string{fmt.Sprintf("%s: got %#v, want %#v", name, got, want)}
	}
	return nil
}

func diffBytes(name string, got, want []byte) []string {
	if !bytes.Equal(got, want) {
		return []string{fmt.Sprintf("%s: got %x, want %x", name, got, want)}
	}
	return nil
}

// reportDiffs reports every difference of every diff, in order, as one
// error each about what.
func reportDiffs(t *testing.T, what string, diffs ...[]string) {
	t.Helper()
	for _, d := range diffs {
		for _, s := range d {
			t.Errorf("%s: %s", what, s)
		}
	}
}

func diffACLs(got, want []string) []string {
	switch {
	case (got == nil) != (want == nil):
		return []string{fmt.Sprintf("ACLs: got %#v, want %#v (nil and empty differ)", got, want)}
	case !slices.Equal(got, want):
		return []string{fmt.Sprintf("ACLs: got %q, want %q", got, want)}
	}
	return nil
}

func checkAccount(t *testing.T, what string, got, want store.Account) {
	t.Helper()
	reportDiffs(t, what,
		diffField("Username", got.Username, want.Username),
		diffField("Domain", got.Domain, want.Domain),
		diffField("Owner", got.Owner, want.Owner),
		diffField("PasswordHash", got.PasswordHash, want.PasswordHash),
		diffField("Suspended", got.Suspended, want.Suspended),
		diffField("SuspendReason", got.SuspendReason, want.SuspendReason),
		diffField("Reseller", got.Reseller, want.Reseller),
		diffACLs(got.ACLs, want.ACLs),
		diffField("ContactEmail", got.ContactEmail, want.ContactEmail),
		diffField("Plan", got.Plan, want.Plan),
		diffTime("Created", got.Created, want.Created),
		diffTime("PasswordChanged", got.PasswordChanged, want.PasswordChanged),
	)
}

func checkMailbox(t *testing.T, what string, got, want store.Mailbox) {
	t.Helper()
	reportDiffs(t, what,
		diffField("Account", got.Account, want.Account),
		diffField("Local", got.Local, want.Local),
		diffField("Domain", got.Domain, want.Domain),
		diffField("PasswordHash", got.PasswordHash, want.PasswordHash),
		diffField("QuotaMB", got.QuotaMB, want.QuotaMB),
		diffField("Suspended", got.Suspended, want.Suspended),
		diffTime("Created", got.Created, want.Created),
	)
}

func checkAccessHash(t *testing.T, what string, got, want store.AccessHash) {
	t.Helper()
	reportDiffs(t, what,
		diffField("Username", got.Username, want.Username),
		diffField("MAC", got.MAC, want.MAC),
		diffBytes("Sealed", got.Sealed, want.Sealed),
		diffTime("Created", got.Created, want.Created),
	)
}

// project is what of each of xs, in order.
func project[T any](xs []T, what func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = what(x)
	}
	return out
}

func usernames(as []store.Account) []string {
	return project(as, func(a store.Account) string { return a.Username })
}

func addresses(ms []store.Mailbox) []string {
	return project(ms, func(m store.Mailbox) string { return m.Address() })
}

// awkward holds strings that break naive quoting and encoding (no NUL).
var awkward = []string{
	"",
	"plain",
	"Zoë «Ünïcødé» 日本語 한국어 עברית 🙂👍🏽",
	`O'Brien said "hi" \back\slash\ ` + "`tick`",
	"'; DROP TABLE accounts; --",
	"?, $1, %s, %_, :name, @p1",
	"tab\tnew\nline\r\nend",
	"\x01\x02\x7f control",
	"  leading and trailing spaces  ",
	string(bytes.Repeat([]byte("long-"), 2000)),
}

// Accounts.

func testAccountCreateGet(t *testing.T, s store.Store) {
	root := rootAccount()
	reseller := newReseller("res1", "res1.example.com")
	user := newAccount("bob", "bob.example.com")
	user.Owner = "res1"
	for _, a := range []store.Account{root, reseller, user} {
		mustCreateAccount(t, s, a)
	}
	for _, want := range []store.Account{root, reseller, user} {
		got := mustGetAccount(t, s, want.Username)
		checkAccount(t, "GetAccount("+want.Username+")", got, want)
	}
	if got := mustGetAccount(t, s, "root"); !got.IsRoot() || got.Domain != "" || got.Owner != "" {
		t.Errorf("root read back as %+v", got)
	}
}

func testAccountRoundTrip(t *testing.T, s store.Store) {
	for i, str := range awkward {
		a := store.Account{
			Username:        fmt.Sprintf("user%d", i),
			Domain:          fmt.Sprintf("d%d.example.com", i),
			Owner:           str,
			PasswordHash:    str,
			Suspended:       i%2 == 0,
			SuspendReason:   str,
			Reseller:        i%2 == 1,
			ACLs:            []string{str, "all", str + "2"},
			ContactEmail:    str,
			Plan:            str,
			Created:         at(int64(i)),
			PasswordChanged: at(int64(1000 + i)),
		}
		mustCreateAccount(t, s, a)
		checkAccount(t, fmt.Sprintf("awkward[%d]", i), mustGetAccount(t, s, a.Username), a)
	}
	// Every boolean combination.
	for i, bits := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
		a := newAccount(fmt.Sprintf("bool%d", i), fmt.Sprintf("bool%d.example.com", i))
		a.Suspended, a.Reseller = bits[0], bits[1]
		mustCreateAccount(t, s, a)
		checkAccount(t, a.Username, mustGetAccount(t, s, a.Username), a)
	}
}

// aclCases are the ACL lists an account or a WHM token must keep exactly:
// nil and empty, duplicates, odd names.
var aclCases = []struct {
	name string
	acls []string
}{
	{"nilacl", nil},
	{"emptyacl", []string{}},
	{"oneacl", []string{"all"}},
	{"manyacl", []string{"list-accts", "create-acct", "kill-acct", "passwd", "list-accts"}},
	{"oddacl", []string{"", "with space", `"quoted"`, "ünï"}},
}

func testAccountACLs(t *testing.T, s store.Store) {
	for _, c := range aclCases {
		a := newReseller(c.name, c.name+".example.com")
		a.ACLs = c.acls
		mustCreateAccount(t, s, a)
		checkAccount(t, c.name, mustGetAccount(t, s, c.name), a)
	}
	// And through an update: values -> empty -> nil -> values.
	for _, acls := range [][]string{{}, nil, {"passwd"}} {
		got, err := s.UpdateAccount(t.Context(), "oneacl", func(a store.Account) (store.Account, error) {
			a.ACLs = acls
			return a, nil
		})
		if err != nil {
			t.Fatalf("UpdateAccount: %v", err)
		}
		for _, g := range []store.Account{got, mustGetAccount(t, s, "oneacl")} {
			if d := diffACLs(g.ACLs, acls); d != nil {
				t.Errorf("after update to %#v: %s", acls, d[0])
			}
		}
	}
}

func testAccountTimes(t *testing.T, s store.Store) {
	cases := []struct {
		name             string
		created, changed time.Time
		exact            bool
	}{
		{"zero", time.Time{}, time.Time{}, true},
		{"utc", time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC), time.Date(2038, 1, 19, 3, 14, 8, 0, time.UTC), true},
		{"zoned", at(0), at(86400 * 365), true},
		{"local", time.Date(2025, 6, 1, 12, 0, 0, 0, time.Local), time.Date(1999, 12, 31, 23, 59, 59, 0, time.Local), true},
		{"epoch", time.Unix(0, 0), time.Unix(-86400, 0), true},
		{"subsecond", time.Date(2025, 1, 2, 3, 4, 5, 123456789, zone), time.Date(2025, 1, 2, 3, 4, 5, 999999999, time.UTC), false},
	}
	for _, c := range cases {
		a := newAccount(c.name, c.name+".example.com")
		a.Created, a.PasswordChanged = c.created, c.changed
		mustCreateAccount(t, s, a)
		got := mustGetAccount(t, s, c.name)
		if c.exact {
			checkAccount(t, c.name, got, a)
			if c.name == "zero" && (!got.Created.IsZero() || !got.PasswordChanged.IsZero()) {
				t.Errorf("zero times read back as %v, %v", got.Created, got.PasswordChanged)
			}
			continue
		}
		for _, p := range [][2]time.Time{{got.Created, a.Created}, {got.PasswordChanged, a.PasswordChanged}} {
			if d := p[0].Sub(p[1]); d <= -time.Second || d >= time.Second {
				t.Errorf("%s: got %v, want %v within a second", c.name, p[0], p[1])
			}
		}
	}
}

func testAccountDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateAccount(t, s, rootAccount())
	mustCreateAccount(t, s, newAccount("alice", "alice.example.com"))

	err := s.CreateAccount(ctx, newAccount("alice", "other.example.com"))
	wantErr(t, "duplicate username", err, store.ErrExists)
	// The failed create must not have left its domain behind.
	_, err = s.GetDomain(ctx, "other.example.com")
	wantErr(t, "domain of a failed create", err, store.ErrNotFound)

	err = s.CreateAccount(ctx, newAccount("carol", "alice.example.com"))
	wantErr(t, "duplicate primary domain", err, store.ErrExists)
	// Nor its account.
	_, err = s.GetAccount(ctx, "carol")
	wantErr(t, "account of a failed create", err, store.ErrNotFound)

	r := rootAccount()
	err = s.CreateAccount(ctx, r)
	wantErr(t, "duplicate root", err, store.ErrExists)

	// The originals are untouched.
	checkAccount(t, "alice", mustGetAccount(t, s, "alice"), newAccount("alice", "alice.example.com"))
	d, err := s.GetDomain(ctx, "alice.example.com")
	if err != nil || d.Account != "alice" {
		t.Errorf("GetDomain(alice.example.com) = %+v, %v; want alice's", d, err)
	}
	// Several accounts without a domain are fine for the store.
	mustCreateAccount(t, s, newAccount("nodomain1", ""))
	mustCreateAccount(t, s, newAccount("nodomain2", ""))
}

func testAccountNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateAccount(t, s, newAccount("alice", "alice.example.com"))
	_, err := s.GetAccount(ctx, "nobody")
	wantErr(t, "GetAccount", err, store.ErrNotFound)
	_, err = s.GetAccount(ctx, "ALICE")
	wantErr(t, "GetAccount with other case", err, store.ErrNotFound)
	called := false
	_, err = s.UpdateAccount(ctx, "nobody", func(a store.Account) (store.Account, error) {
		called = true
		return a, nil
	})
	wantErr(t, "UpdateAccount", err, store.ErrNotFound)
	if called {
		t.Error("UpdateAccount called the updater for an unknown account")
	}
	wantErr(t, "DeleteAccount", s.DeleteAccount(ctx, "nobody"), store.ErrNotFound)
	if _, err := s.GetAccount(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateAccount of an unknown account created it: %v", err)
	}
}

func testAccountList(t *testing.T, s store.Store) {
	ctx := t.Context()
	as, err := s.ListAccounts(ctx)
	if err != nil || len(as) != 0 {
		t.Fatalf("ListAccounts on an empty store = %v, %v", as, err)
	}
	want := map[string]store.Account{}
	for _, name := range []string{"zed", "root", "alice", "mallory", "bob", "a1", "a"} {
		var a store.Account
		switch name {
		case "root":
			a = rootAccount()
		case "mallory":
			a = newReseller(name, name+".example.com")
		default:
			a = newAccount(name, name+".example.com")
		}
		mustCreateAccount(t, s, a)
		want[name] = a
	}
	as, err = s.ListAccounts(ctx)
	if err != nil {
		t.Fatalf("ListAccounts: %v", err)
	}
	if got, w := usernames(as), []string{"a", "a1", "alice", "bob", "mallory", "root", "zed"}; !slices.Equal(got, w) {
		t.Errorf("ListAccounts = %q, want %q", got, w)
	}
	for _, a := range as {
		checkAccount(t, "listed "+a.Username, a, want[a.Username])
	}
}

func testAccountUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := newAccount("bob", "bob.example.com")
	mustCreateAccount(t, s, orig)
	mustCreateAccount(t, s, newAccount("other", "other.example.com"))

	want := orig
	want.Owner = "res1"
	want.PasswordHash = "$6$new$hash"
	want.Suspended = true
	want.SuspendReason = "unpaid 'invoice' ü"
	want.Reseller = true
	want.ACLs = []string{"list-accts"}
	want.ContactEmail = "new@example.org"
	want.Plan = "gold"
	want.Created = at(100)
	want.PasswordChanged = at(200)

	got, err := s.UpdateAccount(ctx, "bob", func(a store.Account) (store.Account, error) {
		checkAccount(t, "updater input", a, orig)
		a.Owner = want.Owner
		a.PasswordHash = want.PasswordHash
		a.Suspended = want.Suspended
		a.SuspendReason = want.SuspendReason
		a.Reseller = want.Reseller
		a.ACLs = []string{"list-accts"}
		a.ContactEmail = want.ContactEmail
		a.Plan = want.Plan
		a.Created = want.Created
		a.PasswordChanged = want.PasswordChanged
		return a, nil
	})
	if err != nil {
		t.Fatalf("UpdateAccount: %v", err)
	}
	checkAccount(t, "UpdateAccount result", got, want)
	checkAccount(t, "after UpdateAccount", mustGetAccount(t, s, "bob"), want)
	checkAccount(t, "the other account", mustGetAccount(t, s, "other"), newAccount("other", "other.example.com"))

	// And back.
	got, err = s.UpdateAccount(ctx, "bob", func(store.Account) (store.Account, error) { return orig, nil })
	if err != nil {
		t.Fatalf("UpdateAccount back: %v", err)
	}
	checkAccount(t, "UpdateAccount back", got, orig)
	checkAccount(t, "after UpdateAccount back", mustGetAccount(t, s, "bob"), orig)
}

var errBoom = errors.New("storetest: updater refuses")

func testAccountUpdateAbort(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := newAccount("bob", "bob.example.com")
	mustCreateAccount(t, s, orig)
	_, err := s.UpdateAccount(ctx, "bob", func(a store.Account) (store.Account, error) {
		a.Plan = "changed"
		a.Suspended = true
		a.Domain = "moved.example.com"
		return a, errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Errorf("UpdateAccount with a failing updater: error %v, want %v", err, errBoom)
	}
	checkAccount(t, "after aborted update", mustGetAccount(t, s, "bob"), orig)
	_, err = s.GetDomain(ctx, "moved.example.com")
	wantErr(t, "domain of an aborted update", err, store.ErrNotFound)
}

func testAccountUpdateUsername(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := newAccount("bob", "bob.example.com")
	mustCreateAccount(t, s, orig)
	for _, name := range []string{"robert", "", "BOB"} {
		_, err := s.UpdateAccount(ctx, "bob", func(a store.Account) (store.Account, error) {
			a.Username = name
			a.Plan = "changed"
			return a, nil
		})
		if err == nil {
			t.Errorf("UpdateAccount changing the username to %q succeeded", name)
		}
		if name != "" {
			_, err = s.GetAccount(ctx, name)
			wantErr(t, "GetAccount of the new name "+name, err, store.ErrNotFound)
		}
	}
	checkAccount(t, "after refused rename", mustGetAccount(t, s, "bob"), orig)
}

func testAccountUpdateDomain(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateAccount(t, s, newAccount("bob", "bob.example.com"))
	mustCreateAccount(t, s, newAccount("carol", "carol.example.com"))
	mustCreateMailbox(t, s, newMailbox("bob", "info", "bob.example.com"))
	mustCreateMailbox(t, s, newMailbox("carol", "info", "carol.example.com"))

	// To a taken domain: refused, nothing changes.
	_, err := s.UpdateAccount(ctx, "bob", func(a store.Account) (store.Account, error) {
		a.Domain = "carol.example.com"
		a.Plan = "changed"
		return a, nil
	})
	wantErr(t, "UpdateAccount to a taken domain", err, store.ErrExists)
	checkAccount(t, "bob after refused move", mustGetAccount(t, s, "bob"), newAccount("bob", "bob.example.com"))
	if d, err := s.GetDomain(ctx, "carol.example.com"); err != nil || d.Account != "carol" {
		t.Errorf("GetDomain(carol.example.com) = %+v, %v; want carol's", d, err)
	}

	// To a free domain: the domain record and the mailboxes move.
	got, err := s.UpdateAccount(ctx, "bob", func(a store.Account) (store.Account, error) {
		a.Domain = "bob.example.org"
		return a, nil
	})
	if err != nil {
		t.Fatalf("UpdateAccount to a new domain: %v", err)
	}
	if got.Domain != "bob.example.org" || mustGetAccount(t, s, "bob").Domain != "bob.example.org" {
		t.Errorf("Domain not updated: %q", got.Domain)
	}
	_, err = s.GetDomain(ctx, "bob.example.com")
	wantErr(t, "GetDomain of the old domain", err, store.ErrNotFound)
	d, err := s.GetDomain(ctx, "bob.example.org")
	if err != nil || d != (store.Domain{Name: "bob.example.org", Account: "bob", Primary: true}) {
		t.Errorf("GetDomain of the new domain = %+v, %v", d, err)
	}
	ds, err := s.ListDomains(ctx, "bob")
	if err != nil || len(ds) != 1 || ds[0].Name != "bob.example.org" {
		t.Errorf("ListDomains(bob) = %+v, %v", ds, err)
	}
	_, err = s.GetMailbox(ctx, "info", "bob.example.com")
	wantErr(t, "GetMailbox on the old domain", err, store.ErrNotFound)
	want := newMailbox("bob", "info", "bob.example.org")
	checkMailbox(t, "mailbox on the new domain", mustGetMailbox(t, s, "info", "bob.example.org"), want)
	checkMailbox(t, "carol's mailbox", mustGetMailbox(t, s, "info", "carol.example.com"), newMailbox("carol", "info", "carol.example.com"))

	// The old name is free again.
	mustCreateAccount(t, s, newAccount("dave", "bob.example.com"))

	// An account without a domain can get one.
	mustCreateAccount(t, s, newAccount("erin", ""))
	if _, err := s.UpdateAccount(ctx, "erin", func(a store.Account) (store.Account, error) {
		a.Domain = "erin.example.com"
		return a, nil
	}); err != nil {
		t.Fatalf("UpdateAccount giving a domain: %v", err)
	}
	if d, err := s.GetDomain(ctx, "erin.example.com"); err != nil || d.Account != "erin" || !d.Primary {
		t.Errorf("GetDomain(erin.example.com) = %+v, %v", d, err)
	}
}

func testAccountDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateAccount(t, s, rootAccount())
	mustCreateAccount(t, s, newAccount("alice", "alice.example.com"))
	mustCreateAccount(t, s, newAccount("bob", "bob.example.com"))
	if err := s.DeleteAccount(ctx, "alice"); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	_, err := s.GetAccount(ctx, "alice")
	wantErr(t, "GetAccount after delete", err, store.ErrNotFound)
	wantErr(t, "DeleteAccount twice", s.DeleteAccount(ctx, "alice"), store.ErrNotFound)
	as, err := s.ListAccounts(ctx)
	if got := usernames(as); err != nil || !slices.Equal(got, []string{"bob", "root"}) {
		t.Errorf("ListAccounts after delete = %q, %v", got, err)
	}
	// The name and the domain can be used again.
	mustCreateAccount(t, s, newAccount("alice", "alice.example.com"))
}

func testAccountDeleteCascade(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateAccount(t, s, newAccount("alice", "alice.example.com"))
	mustCreateAccount(t, s, newAccount("bob", "bob.example.com"))
	for _, u := range []string{"alice", "bob"} {
		for _, l := range []string{"info", "sales"} {
			mustCreateMailbox(t, s, newMailbox(u, l, u+".example.com"))
		}
		if err := s.SetAccessHash(ctx, store.AccessHash{Username: u, MAC: "mac-" + u, Sealed: []byte(u), Created: at(0)}); err != nil {
			t.Fatalf("SetAccessHash(%s): %v", u, err)
		}
	}
	if err := s.DeleteAccount(ctx, "alice"); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	_, err := s.GetDomain(ctx, "alice.example.com")
	wantErr(t, "GetDomain of a deleted account", err, store.ErrNotFound)
	if ds, err := s.ListDomains(ctx, "alice"); err != nil || len(ds) != 0 {
		t.Errorf("ListDomains of a deleted account = %+v, %v", ds, err)
	}
	for _, l := range []string{"info", "sales"} {
		_, err := s.GetMailbox(ctx, l, "alice.example.com")
		wantErr(t, "GetMailbox of a deleted account", err, store.ErrNotFound)
	}
	if ms, err := s.ListMailboxes(ctx, "alice"); err != nil || len(ms) != 0 {
		t.Errorf("ListMailboxes of a deleted account = %+v, %v", ms, err)
	}
	_, err = s.GetAccessHash(ctx, "alice")
	wantErr(t, "GetAccessHash of a deleted account", err, store.ErrNotFound)
	if n, err := s.CountAccessHashes(ctx); err != nil || n != 1 {
		t.Errorf("CountAccessHashes = %d, %v; want 1", n, err)
	}

	// Bob keeps everything.
	if _, err := s.GetDomain(ctx, "bob.example.com"); err != nil {
		t.Errorf("GetDomain(bob.example.com): %v", err)
	}
	if ms, err := s.ListMailboxes(ctx, "bob"); err != nil || len(ms) != 2 {
		t.Errorf("ListMailboxes(bob) = %+v, %v", ms, err)
	}
	if _, err := s.GetAccessHash(ctx, "bob"); err != nil {
		t.Errorf("GetAccessHash(bob): %v", err)
	}

	// A new account of the same name starts empty.
	mustCreateAccount(t, s, newAccount("alice", "alice.example.com"))
	if ms, err := s.ListMailboxes(ctx, "alice"); err != nil || len(ms) != 0 {
		t.Errorf("ListMailboxes of a recreated account = %+v, %v", ms, err)
	}
	_, err = s.GetAccessHash(ctx, "alice")
	wantErr(t, "GetAccessHash of a recreated account", err, store.ErrNotFound)
}

// Domains.

func testDomains(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateAccount(t, s, rootAccount())
	mustCreateAccount(t, s, newAccount("alice", "alice.example.com"))
	mustCreateAccount(t, s, newReseller("res1", "reseller.example.net"))

	for _, want := range []store.Domain{
		{Name: "alice.example.com", Account: "alice", Primary: true},
		{Name: "reseller.example.net", Account: "res1", Primary: true},
	} {
		got, err := s.GetDomain(ctx, want.Name)
		if err != nil || got != want {
			t.Errorf("GetDomain(%q) = %+v, %v; want %+v", want.Name, got, err, want)
		}
		ds, err := s.ListDomains(ctx, want.Account)
		if err != nil || len(ds) != 1 || ds[0] != want {
			t.Errorf("ListDomains(%q) = %+v, %v; want [%+v]", want.Account, ds, err, want)
		}
	}
	for _, name := range []string{"nope.example.com", "", "ALICE.EXAMPLE.COM", "example.com", "www.alice.example.com"} {
		_, err := s.GetDomain(ctx, name)
		wantErr(t, fmt.Sprintf("GetDomain(%q)", name), err, store.ErrNotFound)
	}
	for _, account := range []string{"root", "nobody"} {
		if ds, err := s.ListDomains(ctx, account); err != nil || len(ds) != 0 {
			t.Errorf("ListDomains(%q) = %+v, %v; want none", account, ds, err)
		}
	}
}

// testDomainsFollowWrites reads an account's domains before and after
// every write that changes them: a store that remembers what it read (a
// cache) must not answer with the domains of before the write.
func testDomainsFollowWrites(t *testing.T, s store.Store) {
	ctx := t.Context()
	names := func(what, account string, want ...string) {
		t.Helper()
		ds, err := s.ListDomains(ctx, account)
		if err != nil {
			t.Fatalf("%s: ListDomains(%q): %v", what, account, err)
		}
		var got []string
		for _, d := range ds {
			if d.Account != account {
				t.Errorf("%s: ListDomains(%q) holds %+v", what, account, d)
			}
			got = append(got, d.Name)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: ListDomains(%q) = %q, want %q", what, account, got, want)
		}
	}
	names("before the account exists", "alice")
	mustCreateAccount(t, s, newAccount("alice", "alice.example.com"))
	names("after CreateAccount", "alice", "alice.example.com")
	// What a caller does with the answer is its own.
	if ds, err := s.ListDomains(ctx, "alice"); err == nil && len(ds) == 1 {
		ds[0].Name = "changed.example.com"
	}
	names("after a caller changed its copy", "alice", "alice.example.com")
	if _, err := s.UpdateAccount(ctx, "alice", func(a store.Account) (store.Account, error) {
		a.Domain = "alice.example.org"
		return a, nil
	}); err != nil {
		t.Fatalf("UpdateAccount: %v", err)
	}
	names("after the primary domain changed", "alice", "alice.example.org")
	// A write that fails changes nothing.
	mustCreateAccount(t, s, newAccount("bob", "bob.example.com"))
	names("bob", "bob", "bob.example.com")
	if _, err := s.UpdateAccount(ctx, "alice", func(a store.Account) (store.Account, error) {
		a.Domain = "bob.example.com"
		return a, nil
	}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("UpdateAccount to a taken domain: %v, want ErrExists", err)
	}
	names("after a refused domain change", "alice", "alice.example.org")
	if err := s.DeleteAccount(ctx, "alice"); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	names("after DeleteAccount", "alice")
	mustCreateAccount(t, s, newAccount("alice", "alice.example.net"))
	names("after the account was made again", "alice", "alice.example.net")
}

// Mailboxes.

func testMailboxCreateGet(t *testing.T, s store.Store) {
	mustCreateAccount(t, s, newAccount("alice", "alice.example.com"))
	for i, str := range awkward {
		m := store.Mailbox{
			Account:      "alice",
			Local:        fmt.Sprintf("user%d", i),
			Domain:       "alice.example.com",
			PasswordHash: str,
			QuotaMB:      []int64{0, 1, 1 << 40, 250}[i%4],
			Suspended:    i%2 == 1,
			Created:      at(int64(i)),
		}
		mustCreateMailbox(t, s, m)
		checkMailbox(t, m.Address(), mustGetMailbox(t, s, m.Local, m.Domain), m)
	}
	// Local parts with the characters addresses allow.
	for _, local := range []string{"first.last", "o'neil", "x+tag", "under_score", "dash-ed", "ünï"} {
		m := newMailbox("alice", local, "alice.example.com")
		mustCreateMailbox(t, s, m)
		checkMailbox(t, m.Address(), mustGetMailbox(t, s, local, m.Domain), m)
	}
	zero := newMailbox("alice", "zerotime", "alice.example.com")
	zero.Created = time.Time{}
	mustCreateMailbox(t, s, zero)
	checkMailbox(t, "zero time", mustGetMailbox(t, s, "zerotime", zero.Domain), zero)
}

func testMailboxCreateErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateAccount(t, s, rootAccount())
	mustCreateAccount(t, s, newAccount("alice", "alice.example.com"))
	mustCreateAccount(t, s, newAccount("bob", "bob.example.com"))
	mustCreateMailbox(t, s, newMailbox("alice", "info", "alice.example.com"))

	cases := []struct {
		name string
		m    store.Mailbox
		want error
	}{
		{"taken address", newMailbox("alice", "info", "alice.example.com"), store.ErrExists},
		{"domain of another account", newMailbox("bob", "info2", "alice.example.com"), store.ErrNotFound},
		{"taken address on another's domain", newMailbox("bob", "info", "alice.example.com"), store.ErrNotFound},
		{"domain nobody owns", newMailbox("alice", "info", "nowhere.example.com"), store.ErrNotFound},
		{"unknown account", newMailbox("nobody", "info", "alice.example.com"), store.ErrNotFound},
		{"unknown account and domain", newMailbox("nobody", "info", "nowhere.example.com"), store.ErrNotFound},
		{"root has no domains", newMailbox("root", "info", "alice.example.com"), store.ErrNotFound},
	}
	for _, c := range cases {
		wantErr(t, "CreateMailbox: "+c.name, s.CreateMailbox(ctx, c.m), c.want)
	}
	checkMailbox(t, "the original", mustGetMailbox(t, s, "info", "alice.example.com"), newMailbox("alice", "info", "alice.example.com"))
	if ms, err := s.ListMailboxes(ctx, "bob"); err != nil || len(ms) != 0 {
		t.Errorf("ListMailboxes(bob) = %+v, %v; want none", ms, err)
	}
	// The same local part on another domain is another address.
	mustCreateMailbox(t, s, newMailbox("bob", "info", "bob.example.com"))
}

func testMailboxList(t *testing.T, s store.Store) {
	ctx := t.Context()
	if ms, err := s.ListMailboxes(ctx, "nobody"); err != nil || len(ms) != 0 {
		t.Errorf("ListMailboxes(nobody) = %+v, %v; want none", ms, err)
	}
	mustCreateAccount(t, s, newAccount("alice", "alice.example.com"))
	mustCreateAccount(t, s, newAccount("bob", "bob.example.com"))
	if ms, err := s.ListMailboxes(ctx, "alice"); err != nil || len(ms) != 0 {
		t.Errorf("ListMailboxes(alice) = %+v, %v; want none", ms, err)
	}
	for _, l := range []string{"zz", "info", "a.b", "a", "sales", "b"} {
		mustCreateMailbox(t, s, newMailbox("alice", l, "alice.example.com"))
	}
	mustCreateMailbox(t, s, newMailbox("bob", "info", "bob.example.com"))

	ms, err := s.ListMailboxes(ctx, "alice")
	if err != nil {
		t.Fatalf("ListMailboxes: %v", err)
	}
	want := []string{
		"a.b@alice.example.com", "a@alice.example.com", "b@alice.example.com",
		"info@alice.example.com", "sales@alice.example.com", "zz@alice.example.com",
	}
	if got := addresses(ms); !slices.Equal(got, want) {
		t.Errorf("ListMailboxes(alice) = %q, want %q", got, want)
	}
	for _, m := range ms {
		checkMailbox(t, "listed "+m.Address(), m, newMailbox("alice", m.Local, m.Domain))
	}
	ms, err = s.ListMailboxes(ctx, "bob")
	if got := addresses(ms); err != nil || !slices.Equal(got, []string{"info@bob.example.com"}) {
		t.Errorf("ListMailboxes(bob) = %q, %v", got, err)
	}
}

func testMailboxUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateAccount(t, s, newAccount("alice", "alice.example.com"))
	mustCreateAccount(t, s, newAccount("bob", "bob.example.com"))
	orig := newMailbox("alice", "info", "alice.example.com")
	mustCreateMailbox(t, s, orig)
	other := newMailbox("alice", "sales", "alice.example.com")
	mustCreateMailbox(t, s, other)

	want := orig
	want.PasswordHash = "$6$new$hash"
	want.QuotaMB = 0
	want.Suspended = true
	want.Created = at(500)
	got, err := s.UpdateMailbox(ctx, "info", "alice.example.com", func(m store.Mailbox) (store.Mailbox, error) {
		checkMailbox(t, "updater input", m, orig)
		m.PasswordHash, m.QuotaMB, m.Suspended, m.Created = want.PasswordHash, want.QuotaMB, want.Suspended, want.Created
		return m, nil
	})
	if err != nil {
		t.Fatalf("UpdateMailbox: %v", err)
	}
	checkMailbox(t, "UpdateMailbox result", got, want)
	checkMailbox(t, "after UpdateMailbox", mustGetMailbox(t, s, "info", "alice.example.com"), want)
	checkMailbox(t, "the other mailbox", mustGetMailbox(t, s, "sales", "alice.example.com"), other)

	// A failing updater stores nothing.
	_, err = s.UpdateMailbox(ctx, "info", "alice.example.com", func(m store.Mailbox) (store.Mailbox, error) {
		m.QuotaMB = 77
		return m, errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Errorf("UpdateMailbox with a failing updater: error %v, want %v", err, errBoom)
	}
	checkMailbox(t, "after aborted update", mustGetMailbox(t, s, "info", "alice.example.com"), want)

	// The key may not change.
	for name, change := range map[string]func(*store.Mailbox){
		"local":   func(m *store.Mailbox) { m.Local = "renamed" },
		"domain":  func(m *store.Mailbox) { m.Domain = "bob.example.com" },
		"account": func(m *store.Mailbox) { m.Account = "bob" },
	} {
		_, err := s.UpdateMailbox(ctx, "info", "alice.example.com", func(m store.Mailbox) (store.Mailbox, error) {
			change(&m)
			m.QuotaMB = 88
			return m, nil
		})
		if err == nil {
			t.Errorf("UpdateMailbox changing the %s succeeded", name)
		}
	}
	checkMailbox(t, "after refused key changes", mustGetMailbox(t, s, "info", "alice.example.com"), want)
	_, err = s.GetMailbox(ctx, "renamed", "alice.example.com")
	wantErr(t, "GetMailbox of the refused new name", err, store.ErrNotFound)

	called := false
	_, err = s.UpdateMailbox(ctx, "nobody", "alice.example.com", func(m store.Mailbox) (store.Mailbox, error) {
		called = true
		return m, nil
	})
	wantErr(t, "UpdateMailbox of an unknown mailbox", err, store.ErrNotFound)
	if called {
		t.Error("UpdateMailbox called the updater for an unknown mailbox")
	}
}

func testMailboxDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateAccount(t, s, newAccount("alice", "alice.example.com"))
	mustCreateMailbox(t, s, newMailbox("alice", "info", "alice.example.com"))
	mustCreateMailbox(t, s, newMailbox("alice", "sales", "alice.example.com"))
	if err := s.DeleteMailbox(ctx, "info", "alice.example.com"); err != nil {
		t.Fatalf("DeleteMailbox: %v", err)
	}
	_, err := s.GetMailbox(ctx, "info", "alice.example.com")
	wantErr(t, "GetMailbox after delete", err, store.ErrNotFound)
	wantErr(t, "DeleteMailbox twice", s.DeleteMailbox(ctx, "info", "alice.example.com"), store.ErrNotFound)
	wantErr(t, "DeleteMailbox on an unknown domain", s.DeleteMailbox(ctx, "sales", "nowhere.example.com"), store.ErrNotFound)
	ms, err := s.ListMailboxes(ctx, "alice")
	if got := addresses(ms); err != nil || !slices.Equal(got, []string{"sales@alice.example.com"}) {
		t.Errorf("ListMailboxes after delete = %q, %v", got, err)
	}
	if _, err := s.GetAccount(ctx, "alice"); err != nil {
		t.Errorf("GetAccount after DeleteMailbox: %v", err)
	}
	if _, err := s.GetDomain(ctx, "alice.example.com"); err != nil {
		t.Errorf("GetDomain after DeleteMailbox: %v", err)
	}
	// The address can be used again.
	mustCreateMailbox(t, s, newMailbox("alice", "info", "alice.example.com"))
}

// Access hashes.

func testAccessHash(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateAccount(t, s, rootAccount())
	mustCreateAccount(t, s, newReseller("res1", "res1.example.com"))

	_, err := s.GetAccessHash(ctx, "root")
	wantErr(t, "GetAccessHash before set", err, store.ErrNotFound)

	h1 := store.AccessHash{Username: "root", MAC: "0123abcd", Sealed: []byte("sealed one"), Created: at(1)}
	if err := s.SetAccessHash(ctx, h1); err != nil {
		t.Fatalf("SetAccessHash: %v", err)
	}
	got, err := s.GetAccessHash(ctx, "root")
	if err != nil {
		t.Fatalf("GetAccessHash: %v", err)
	}
	checkAccessHash(t, "GetAccessHash", got, h1)

	h2 := store.AccessHash{Username: "root", MAC: "ffff0000", Sealed: []byte("sealed two, longer than the first"), Created: at(2)}
	if err := s.SetAccessHash(ctx, h2); err != nil {
		t.Fatalf("SetAccessHash again: %v", err)
	}
	got, err = s.GetAccessHash(ctx, "root")
	if err != nil {
		t.Fatalf("GetAccessHash: %v", err)
	}
	checkAccessHash(t, "GetAccessHash after replace", got, h2)
	if n, err := s.CountAccessHashes(ctx); err != nil || n != 1 {
		t.Errorf("CountAccessHashes after replace = %d, %v; want 1", n, err)
	}

	_, err = s.GetAccessHash(ctx, "res1")
	wantErr(t, "GetAccessHash of another user", err, store.ErrNotFound)

	err = s.SetAccessHash(ctx, store.AccessHash{Username: "nobody", MAC: "00", Sealed: []byte{1}, Created: at(0)})
	wantErr(t, "SetAccessHash of an unknown user", err, store.ErrNotFound)

	if err := s.DeleteAccessHash(ctx, "root"); err != nil {
		t.Fatalf("DeleteAccessHash: %v", err)
	}
	_, err = s.GetAccessHash(ctx, "root")
	wantErr(t, "GetAccessHash after delete", err, store.ErrNotFound)
	wantErr(t, "DeleteAccessHash twice", s.DeleteAccessHash(ctx, "root"), store.ErrNotFound)
	wantErr(t, "DeleteAccessHash of an unknown user", s.DeleteAccessHash(ctx, "nobody"), store.ErrNotFound)
	if _, err := s.GetAccount(ctx, "root"); err != nil {
		t.Errorf("GetAccount after DeleteAccessHash: %v", err)
	}
	// And set again after delete.
	if err := s.SetAccessHash(ctx, h1); err != nil {
		t.Fatalf("SetAccessHash after delete: %v", err)
	}
}

func testAccessHashBinary(t *testing.T, s store.Store) {
	ctx := t.Context()
	all := make([]byte, 0, 512)
	for i := range 256 {
		all = append(all, byte(i))
	}
	for i := range 256 {
		all = append(all, byte(255-i))
	}
	cases := map[string][]byte{
		"every byte": all,
		"nul only":   {0, 0, 0},
		"one byte":   {0xff},
		"not utf8":   {0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, '\'', '"', '\\'},
		"large":      bytes.Repeat(all, 64),
	}
	i := 0
	for name, sealed := range cases {
		u := fmt.Sprintf("user%d", i)
		i++
		mustCreateAccount(t, s, newAccount(u, u+".example.com"))
		h := store.AccessHash{Username: u, MAC: fmt.Sprintf("%x", sealed[:1]), Sealed: sealed, Created: at(int64(i))}
		if err := s.SetAccessHash(ctx, h); err != nil {
			t.Fatalf("SetAccessHash(%s): %v", name, err)
		}
		got, err := s.GetAccessHash(ctx, u)
		if err != nil {
			t.Fatalf("GetAccessHash(%s): %v", name, err)
		}
		checkAccessHash(t, name, got, h)
	}
}

func testAccessHashCount(t *testing.T, s store.Store) {
	ctx := t.Context()
	count := func(want int) {
		t.Helper()
		if n, err := s.CountAccessHashes(ctx); err != nil || n != want {
			t.Errorf("CountAccessHashes = %d, %v; want %d", n, err, want)
		}
	}
	count(0)
	for i := range 5 {
		u := fmt.Sprintf("user%d", i)
		mustCreateAccount(t, s, newAccount(u, u+".example.com"))
		if i < 3 {
			if err := s.SetAccessHash(ctx, store.AccessHash{Username: u, MAC: "m", Sealed: []byte("s"), Created: at(0)}); err != nil {
				t.Fatalf("SetAccessHash: %v", err)
			}
		}
	}
	count(3)
	if err := s.DeleteAccessHash(ctx, "user0"); err != nil {
		t.Fatalf("DeleteAccessHash: %v", err)
	}
	count(2)
	if err := s.DeleteAccount(ctx, "user1"); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	count(1)
}

// Settings.

func testSettings(t *testing.T, s store.Store) {
	ctx := t.Context()
	m, err := s.ListSettings(ctx)
	if err != nil || len(m) != 0 {
		t.Errorf("ListSettings on an empty store = %v, %v", m, err)
	}
	_, err = s.GetSetting(ctx, "missing")
	wantErr(t, "GetSetting of a missing key", err, store.ErrNotFound)

	want := map[string]string{}
	for i, v := range awkward {
		k := fmt.Sprintf("key%d", i)
		if err := s.SetSetting(ctx, k, v); err != nil {
			t.Fatalf("SetSetting(%q): %v", k, err)
		}
		want[k] = v
	}
	if err := s.SetSetting(ctx, "weird key 'ü'", "v"); err != nil {
		t.Fatalf("SetSetting(weird key): %v", err)
	}
	want["weird key 'ü'"] = "v"
	for k, v := range want {
		got, err := s.GetSetting(ctx, k)
		if err != nil || got != v {
			t.Errorf("GetSetting(%q) = %q, %v; want %q", k, got, err, v)
		}
	}

	if err := s.SetSetting(ctx, "key1", "overwritten"); err != nil {
		t.Fatalf("SetSetting overwrite: %v", err)
	}
	want["key1"] = "overwritten"
	if got, err := s.GetSetting(ctx, "key1"); err != nil || got != "overwritten" {
		t.Errorf("GetSetting after overwrite = %q, %v", got, err)
	}
	if err := s.SetSetting(ctx, "key1", ""); err != nil {
		t.Fatalf("SetSetting to empty: %v", err)
	}
	want["key1"] = ""
	if got, err := s.GetSetting(ctx, "key1"); err != nil || got != "" {
		t.Errorf("GetSetting of an empty value = %q, %v; want \"\" and no error", got, err)
	}

	m, err = s.ListSettings(ctx)
	if err != nil {
		t.Fatalf("ListSettings: %v", err)
	}
	if len(m) != len(want) {
		t.Errorf("ListSettings has %d entries, want %d", len(m), len(want))
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("ListSettings[%q] = %q, %v; want %q", k, got, ok, v)
		}
	}
}

// Concurrency. Real goroutines, each with its own call; a backend that
// loses an update or lets two creators win fails here.

const workers = 20

// parallel runs fn in workers goroutines at once and returns their errors.
func parallel(fn func(i int) error) []error {
	errs := make([]error, workers)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range workers {
		done.Go(func() {
			start.Wait()
			errs[i] = fn(i)
		})
	}
	start.Done()
	done.Wait()
	return errs
}

func testConcurrentUpdateAccount(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newAccount("counter", "counter.example.com")
	a.Plan = "0"
	mustCreateAccount(t, s, a)
	errs := parallel(func(int) error {
		_, err := s.UpdateAccount(ctx, "counter", func(a store.Account) (store.Account, error) {
			n, err := strconv.Atoi(a.Plan)
			if err != nil {
				return a, err
			}
			a.Plan = strconv.Itoa(n + 1)
			return a, nil
		})
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("worker %d: %v", i, err)
		}
	}
	if got := mustGetAccount(t, s, "counter").Plan; got != strconv.Itoa(workers) {
		t.Errorf("counter = %s after %d concurrent increments: updates were lost", got, workers)
	}
}

func testConcurrentCreateAccount(t *testing.T, s store.Store) {
	errs := parallel(func(i int) error {
		a := newAccount("racer", "racer.example.com")
		a.Plan = strconv.Itoa(i)
		return s.CreateAccount(t.Context(), a)
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("workers %d and %d both created the account", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrExists):
			t.Errorf("worker %d: error %v, want %v", i, err, store.ErrExists)
		}
	}
	if winner < 0 {
		t.Fatal("no worker created the account")
	}
	if got := mustGetAccount(t, s, "racer").Plan; got != strconv.Itoa(winner) {
		t.Errorf("stored account is worker %s's, but worker %d won", got, winner)
	}
	if ds, err := s.ListDomains(t.Context(), "racer"); err != nil || len(ds) != 1 {
		t.Errorf("ListDomains(racer) = %+v, %v; want one", ds, err)
	}

	// Different names, one domain: the domain has exactly one owner.
	errs = parallel(func(i int) error {
		return s.CreateAccount(t.Context(), newAccount(fmt.Sprintf("d%d", i), "contested.example.com"))
	})
	winner = -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("workers %d and %d both took the domain", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrExists):
			t.Errorf("worker %d: error %v, want %v", i, err, store.ErrExists)
		}
	}
	as, err := s.ListAccounts(t.Context())
	if err != nil || len(as) != 2 {
		t.Errorf("ListAccounts after the races = %q, %v; want racer and one winner", usernames(as), err)
	}
}

func testConcurrentUpdateMailbox(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateAccount(t, s, newAccount("alice", "alice.example.com"))
	m := newMailbox("alice", "info", "alice.example.com")
	m.QuotaMB = 0
	mustCreateMailbox(t, s, m)
	errs := parallel(func(int) error {
		_, err := s.UpdateMailbox(ctx, "info", "alice.example.com", func(m store.Mailbox) (store.Mailbox, error) {
			m.QuotaMB++
			return m, nil
		})
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("worker %d: %v", i, err)
		}
	}
	if got := mustGetMailbox(t, s, "info", "alice.example.com").QuotaMB; got != workers {
		t.Errorf("QuotaMB = %d after %d concurrent increments: updates were lost", got, workers)
	}
}

func testConcurrentCreateMailbox(t *testing.T, s store.Store) {
	mustCreateAccount(t, s, newAccount("alice", "alice.example.com"))
	errs := parallel(func(i int) error {
		m := newMailbox("alice", "info", "alice.example.com")
		m.QuotaMB = int64(i)
		return s.CreateMailbox(t.Context(), m)
	})
	winners := 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
		case !errors.Is(err, store.ErrExists):
			t.Errorf("worker %d: error %v, want %v", i, err, store.ErrExists)
		}
	}
	if winners != 1 {
		t.Errorf("%d workers created the mailbox, want 1", winners)
	}
	// Meanwhile, distinct mailboxes all succeed.
	errs = parallel(func(i int) error {
		return s.CreateMailbox(t.Context(), newMailbox("alice", fmt.Sprintf("box%02d", i), "alice.example.com"))
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("worker %d: %v", i, err)
		}
	}
	if ms, err := s.ListMailboxes(t.Context(), "alice"); err != nil || len(ms) != workers+1 {
		t.Errorf("ListMailboxes = %d mailboxes, %v; want %d", len(ms), err, workers+1)
	}
}
