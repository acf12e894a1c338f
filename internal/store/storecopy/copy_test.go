package storecopy

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/store/sqlstore"
	"github.com/cpauth/cpauth/internal/store/sqlstore/pgtest"
)

func openSQLite(t *testing.T) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "cpauth.db"))
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openPostgres(t *testing.T) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.OpenPostgres(t.Context(), pgtest.Schema(t), sqlstore.PoolOptions{})
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var zone = time.FixedZone("UTC-3", -3*3600)

// fill gives s a bit of everything, and returns what it holds.
func fill(t *testing.T, s store.Store) Counts {
	t.Helper()
	ctx := t.Context()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	at := func(sec int64) time.Time { return time.Unix(1_700_000_000+sec, 123_456_000).In(zone) }
	must(s.CreateAccount(ctx, store.Account{Username: "root", PasswordHash: "$6$r$root", Created: at(0), PasswordChanged: at(1)}))
	must(s.CreateAccount(ctx, store.Account{
		Username: "res1", Domain: "res1.example.com", Owner: "root", PasswordHash: "$6$s$res1",
		Reseller: true, ACLs: []string{"create-acct", "list-accts"}, ContactEmail: "r@example.net",
		Plan: "gold", Created: at(2), PasswordChanged: at(3),
	}))
	must(s.CreateAccount(ctx, store.Account{
		Username: "res2", Domain: "res2.example.com", Owner: "root", Reseller: true, ACLs: []string{},
		Suspended: true, SuspendReason: "unpaid 'bill' \"now\"\n日本語",
	}))
	must(s.CreateAccount(ctx, store.Account{Username: "nodomain", Owner: "res1"}))
	for i := range 5 {
		u := fmt.Sprintf("user%d", i)
		must(s.CreateAccount(ctx, store.Account{
			Username: u, Domain: u + ".example.org", Owner: "res1", PasswordHash: "$6$u$" + u,
			Suspended: i == 3, Created: at(int64(10 + i)), PasswordChanged: at(int64(20 + i)),
		}))
		for j := range i {
			must(s.CreateMailbox(ctx, store.Mailbox{
				Account: u, Local: fmt.Sprintf("box%d", j), Domain: u + ".example.org",
				PasswordHash: "$6$m$x", QuotaMB: int64(j * 100), Suspended: j == 1, Created: at(int64(30 + j)),
			}))
		}
	}
	sealed := make([]byte, 300)
	for i := range sealed {
		sealed[i] = byte(i)
	}
	for _, u := range []string{"root", "res1", "user2"} {
		must(s.SetAccessHash(ctx, store.AccessHash{Username: u, MAC: "mac-" + u, Sealed: sealed, Created: at(40)}))
	}
	for k, v := range map[string]string{"a": "1", "empty": "", "odd": "tab\there 'q'"} {
		must(s.SetSetting(ctx, k, v))
	}
	tokens := []store.Token{
		{Service: store.TokenWHM, Username: "root", Name: "full", MAC: "mac-root-full", Created: at(50)},
		{Service: store.TokenWHM, Username: "res1", Name: "limited", MAC: "mac-res1-limited", ACLs: []string{"list-accts"},
			ExpiresAt: at(1_000_000), WhitelistIPs: []string{"192.0.2.0/24", "2001:0db8:0000:0000:0000:0000:0000:0001"},
			RequireOTP: true, Created: at(51), LastUsed: at(52), LastUsedIP: "192.0.2.7"},
		{Service: store.TokenWHM, Username: "res1", Name: "none", MAC: "mac-res1-none", ACLs: []string{}, Created: at(53)},
		{Service: store.TokenCPanel, Username: "res1", Name: "limited", MAC: "mac-res1-cpanel", ReadOnly: true, Created: at(54)},
		{Service: store.TokenCPanel, Username: "user3", Name: "expired", MAC: "mac-user3", ExpiresAt: at(-1_000_000), Created: at(55)},
	}
	for _, tok := range tokens {
		must(s.CreateToken(ctx, tok))
	}
	sessions := []store.Session{
		{IDHash: "sess-root", Kind: store.SessionNormal, Username: "root", Account: "root", Service: "whostmgrd",
			SecurityToken: "/cpsess0000000001", Creator: "root", Origin: "192.0.2.1", Method: "password",
			TFAVerified: true, Locale: "en", Created: at(60), LastSeen: at(61), IdleTimeout: 30 * time.Minute, Expires: at(60 + 12*3600),
			Passkey: []byte{0x00, 0xff, 0x10}},
		{IDHash: "sess-sso", Kind: store.SessionOneTime, Username: "user1", Account: "user1", Service: "cpaneld",
			SecurityToken: "/cpsess0000000002", Creator: "res1", Origin: "x\r\nhasroot=1", Method: "create_user_session",
			TFAVerified: true, Locale: "fr", GotoURI: "/frontend/?a=1", Created: at(62), LastSeen: at(62), IdleTimeout: 15 * time.Minute, Expires: at(362)},
		{IDHash: "sess-mail", Kind: store.SessionNormal, Username: "box0@user2.example.org", Account: "user2", Service: "webmaild",
			SecurityToken: "/cpsess0000000003", Creator: "box0@user2.example.org", Origin: "2001:db8::1", Method: "password",
			Created: at(63), LastSeen: time.Time{}, Expires: at(-5)}, // expired: copied all the same
	}
	for _, ss := range sessions {
		must(s.CreateSession(ctx, ss))
	}
	twoFactor := []store.TwoFactor{
		{Username: "root", Account: "root", Sealed: sealed[:40], LastStep: 56_666_700, RecoveryMACs: []string{"r1", "r2"}, Created: at(70)},
		{Username: "user2", Account: "user2", Sealed: sealed[40:90], LastStep: -1, Failures: 2, FailuresSince: at(71), Created: at(72)},
		{Username: "box1@user2.example.org", Account: "user2", Sealed: sealed[90:130], Created: at(73)},
	}
	for _, tf := range twoFactor {
		must(s.SetTwoFactor(ctx, tf))
	}
	must(s.SetTwoFactorIssuer(ctx, "root", "Example Hosting"))
	must(s.SetTwoFactorIssuer(ctx, "res1", "Reseller 'One'"))
	must(s.CreatePasskeyUser(ctx, store.PasskeyUser{Username: "root", Account: "root", Handle: sealed[:32], Created: at(74)}))
	must(s.CreatePasskeyUser(ctx, store.PasskeyUser{Username: "box1@user2.example.org", Account: "user2", Handle: sealed[32:96], Passwordless: true, Created: at(75)}))
	must(s.CreatePasskey(ctx, store.Passkey{ID: sealed[100:164], Username: "root", Account: "root", Name: "YubiKey 5", PublicKey: sealed[:77],
		AttestationType: "none", SignCount: 41, Transports: []string{"usb", "nfc"}, AAGUID: sealed[10:26], Kind: "YubiKey 5 Series",
		UserVerified: true, Created: at(76), LastUsed: at(77), LastUsedIP: "192.0.2.1"}))
	must(s.CreatePasskey(ctx, store.Passkey{ID: sealed[200:216], Username: "box1@user2.example.org", Account: "user2", Name: "Phone",
		PublicKey: sealed[50:127], AttestationType: "none", BackupEligible: true, BackupState: true, CloneWarning: true, Created: at(78)}))
	must(s.PutPasskeyChallenge(ctx, store.PasskeyChallenge{Key: "s:x", Purpose: store.PasskeyRegister, Username: "root", Session: []byte("{}"), Created: at(79), Expires: at(1000000)}))
	must(s.SetHulkConfig(ctx, map[string]string{"max_failures_byip": "9", "username_based_protection": "0"}))
	must(s.PutHulkRecords(ctx, []store.HulkRecord{
		{List: store.HulkAllow, CIDR: "192.0.2.0/24", Comment: "office", Created: at(70)},
		{List: store.HulkDeny, CIDR: "2001:db8::/32", Comment: "", Created: at(71)},
	}))
	// Failures and blocks are not copied.
	must(s.AddHulkFailures(ctx, []store.HulkFailure{{Node: "n", Time: at(72), Service: "whostmgrd", User: "root", Address: "198.51.100.1", Weight: 4}}))
	must(s.PutHulkBlock(ctx, store.HulkBlock{Kind: store.HulkBlockIP, Key: "198.51.100.1", Created: at(72), Until: at(1000000)}))
	return Counts{Accounts: 9, Domains: 7, Mailboxes: 0 + 1 + 2 + 3 + 4, AccessHashes: 3, Tokens: 5, Sessions: 3, TwoFactor: 3, Issuers: 2, Passkeys: 2, PasskeyUsers: 2, Settings: 3, HulkConfig: 2, HulkRecords: 2}
}

func testCopy(t *testing.T, from, to store.Store) {
	ctx := t.Context()
	want := fill(t, from)
	got, err := Copy(ctx, from, to)
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if got != want {
		t.Errorf("Copy = %v, want %v", got, want)
	}
	// Spot checks independent of Copy's own verification.
	a, err := to.GetAccount(ctx, "res2")
	if err != nil || !a.Suspended || a.ACLs == nil || len(a.ACLs) != 0 || !strings.Contains(a.SuspendReason, "日本語") {
		t.Errorf("res2 in the target = %+v, %v", a, err)
	}
	if r, err := to.GetAccount(ctx, "root"); err != nil || r.ACLs != nil || r.Domain != "" || !r.Created.Equal(time.Unix(1_700_000_000, 123_456_000)) {
		t.Errorf("root in the target = %+v, %v", r, err)
	}
	if d, err := to.GetDomain(ctx, "user4.example.org"); err != nil || d.Account != "user4" || !d.Primary {
		t.Errorf("GetDomain in the target = %+v, %v", d, err)
	}
	if m, err := to.GetMailbox(ctx, "box1", "user3.example.org"); err != nil || m.QuotaMB != 100 || !m.Suspended {
		t.Errorf("GetMailbox in the target = %+v, %v", m, err)
	}
	if h, err := to.GetAccessHash(ctx, "user2"); err != nil || h.MAC != "mac-user2" || len(h.Sealed) != 300 || h.Sealed[255] != 255 {
		t.Errorf("GetAccessHash in the target = %+v, %v", h, err)
	}
	if tok, err := to.GetTokenByMAC(ctx, "mac-res1-limited"); err != nil || tok.Name != "limited" || tok.Service != store.TokenWHM ||
		len(tok.WhitelistIPs) != 2 || !tok.RequireOTP || tok.LastUsedIP != "192.0.2.7" || !tok.ExpiresAt.Equal(time.Unix(1_701_000_000, 123_456_000)) {
		t.Errorf("GetTokenByMAC in the target = %+v, %v", tok, err)
	}
	if tok, err := to.GetToken(ctx, store.TokenWHM, "res1", "none"); err != nil || tok.ACLs == nil || len(tok.ACLs) != 0 {
		t.Errorf("token with empty ACLs in the target = %+v, %v", tok, err)
	}
	if ss, err := to.GetSession(ctx, "sess-sso"); err != nil || ss.Kind != store.SessionOneTime || ss.Origin != "x\r\nhasroot=1" ||
		ss.IdleTimeout != 15*time.Minute || !ss.TFAVerified || !ss.Expires.Equal(time.Unix(1_700_000_362, 123_456_000)) {
		t.Errorf("GetSession in the target = %+v, %v", ss, err)
	}
	if ss, err := to.GetSession(ctx, "sess-root"); err != nil || string(ss.Passkey) != "\x00\xff\x10" {
		t.Errorf("the passkey of a session in the target = %x, %v", ss.Passkey, err)
	}
	if v, err := to.GetSetting(ctx, "odd"); err != nil || v != "tab\there 'q'" {
		t.Errorf("GetSetting in the target = %q, %v", v, err)
	}
	if recs, err := to.ListHulkRecords(ctx, store.HulkAllow); err != nil || len(recs) != 1 || recs[0].Comment != "office" {
		t.Errorf("the allow-list in the target = %+v, %v", recs, err)
	}
	if fs, err := to.ListHulkFailures(ctx, 0, time.Unix(0, 0), 0); err != nil || len(fs) != 0 {
		t.Errorf("failures copied: %d, %v", len(fs), err)
	}

	// Once is enough: a second copy finds the target full.
	if _, err := Copy(ctx, from, to); !errors.Is(err, ErrTargetNotEmpty) {
		t.Errorf("second Copy: error %v, want ErrTargetNotEmpty", err)
	}
}

func TestCopySQLiteToSQLite(t *testing.T) {
	testCopy(t, openSQLite(t), openSQLite(t))
}

func TestCopySQLiteToPostgres(t *testing.T) {
	pgtest.DSN(t)
	testCopy(t, openSQLite(t), openPostgres(t))
}

func TestCopyPostgresToSQLite(t *testing.T) {
	pgtest.DSN(t)
	testCopy(t, openPostgres(t), openSQLite(t))
}

func TestCopyEmpty(t *testing.T) {
	got, err := Copy(t.Context(), openSQLite(t), openSQLite(t))
	if err != nil || got != (Counts{}) {
		t.Errorf("Copy of an empty store = %v, %v", got, err)
	}
}

func TestCopyRefusesNonEmptyTarget(t *testing.T) {
	ctx := t.Context()
	from := openSQLite(t)
	fill(t, from)
	for name, prepare := range map[string]func(store.Store) error{
		"account": func(s store.Store) error { return s.CreateAccount(ctx, store.Account{Username: "other"}) },
		"setting": func(s store.Store) error { return s.SetSetting(ctx, "k", "v") },
	} {
		t.Run(name, func(t *testing.T) {
			to := openSQLite(t)
			if err := prepare(to); err != nil {
				t.Fatal(err)
			}
			if _, err := Copy(ctx, from, to); !errors.Is(err, ErrTargetNotEmpty) {
				t.Fatalf("Copy into a non-empty target: error %v, want ErrTargetNotEmpty", err)
			}
			as, _ := to.ListAccounts(ctx)
			ms, _ := to.ListSettings(ctx)
			if len(as)+len(ms) != 1 {
				t.Errorf("the refused copy wrote: %d accounts, %d settings", len(as), len(ms))
			}
		})
	}
}

// TestCopyRefusesExtraDomain: a domain that is not the primary one cannot
// be recreated through the Store interface, so Copy refuses before writing.
func TestCopyRefusesExtraDomain(t *testing.T) {
	ctx := t.Context()
	from, to := openSQLite(t), openSQLite(t)
	fill(t, from)
	if _, err := from.DB().ExecContext(ctx, `INSERT INTO domains (name, account, is_primary) VALUES ('addon.example.org', 'user1', 0)`); err != nil {
		t.Fatal(err)
	}
	_, err := Copy(ctx, from, to)
	if err == nil || !strings.Contains(err.Error(), "addon.example.org") {
		t.Fatalf("Copy with an addon domain: error %v, want a refusal naming it", err)
	}
	if as, _ := to.ListAccounts(ctx); len(as) != 0 {
		t.Errorf("the refused copy wrote %d accounts", len(as))
	}
}

// lossy drops some writes without saying so.
type lossy struct {
	store.Store
	dropMailbox string // the address CreateMailbox drops
	dropSetting string
	mangle      string // the account whose Plan CreateAccount changes
	dropToken   string // the MAC CreateToken drops
	mangleToken string // the MAC whose ACLs CreateToken changes
	dropSession string // the IDHash CreateSession drops
	mangleSess  string // the IDHash whose TFAVerified CreateSession flips
}

func (l lossy) CreateSession(ctx context.Context, ss store.Session) error {
	switch ss.IDHash {
	case l.dropSession:
		return nil
	case l.mangleSess:
		ss.TFAVerified = !ss.TFAVerified
	}
	return l.Store.CreateSession(ctx, ss)
}

func (l lossy) CreateToken(ctx context.Context, t store.Token) error {
	switch t.MAC {
	case l.dropToken:
		return nil
	case l.mangleToken:
		t.ACLs = nil
	}
	return l.Store.CreateToken(ctx, t)
}

func (l lossy) CreateMailbox(ctx context.Context, m store.Mailbox) error {
	if m.Address() == l.dropMailbox {
		return nil
	}
	return l.Store.CreateMailbox(ctx, m)
}

func (l lossy) SetSetting(ctx context.Context, k, v string) error {
	if k == l.dropSetting {
		return nil
	}
	return l.Store.SetSetting(ctx, k, v)
}

func (l lossy) CreateAccount(ctx context.Context, a store.Account) error {
	if a.Username == l.mangle {
		a.Plan += "!"
	}
	return l.Store.CreateAccount(ctx, a)
}

func TestCopyVerifies(t *testing.T) {
	from := openSQLite(t)
	fill(t, from)
	for _, c := range []struct {
		name string
		to   lossy
		want string
	}{
		{"mailbox", lossy{dropMailbox: "box0@user2.example.org"}, "mailboxes"},
		{"setting", lossy{dropSetting: "odd"}, "settings"},
		{"content", lossy{mangle: "res1"}, `account "res1"`},
		{"token", lossy{dropToken: "mac-user3"}, "target holds"},
		{"token content", lossy{mangleToken: "mac-res1-none"}, `API tokens of "res1"`},
		{"session", lossy{dropSession: "sess-root"}, "target holds"},
		{"session content", lossy{mangleSess: "sess-sso"}, `session of "user1"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.to.Store = openSQLite(t)
			_, err := Copy(t.Context(), from, c.to)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Copy into a lossy target: error %v, want one about %s", err, c.want)
			}
		})
	}
}

// failing fails the nth write.
type failing struct {
	store.Store
	n *int
}

func (f failing) SetAccessHash(ctx context.Context, h store.AccessHash) error {
	if *f.n--; *f.n == 0 {
		return errors.New("disk on fire")
	}
	return f.Store.SetAccessHash(ctx, h)
}

func TestCopyWriteError(t *testing.T) {
	from := openSQLite(t)
	fill(t, from)
	n := 2
	_, err := Copy(t.Context(), from, failing{openSQLite(t), &n})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") || !strings.Contains(err.Error(), "part of the data") {
		t.Errorf("Copy with a failing write: %v", err)
	}
}
