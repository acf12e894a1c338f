package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/store"
)

// Passkeys: every field of a credential comes back as written (bytes byte
// for byte, times at microsecond precision, Transports and AAGUID nil when
// stored nil or empty); names are unique per login name; lists are sorted
// by Username, Created, ID; an account's deletion removes its credentials
// and user handles, a mailbox's deletion the mailbox's; UpdatePasskey
// serialises concurrent updaters (a counter moved by one is seen by the
// next). Challenges are taken at most once, even by concurrent takers, and
// never after they expire.

var passkeyTests = []struct {
	name string
	run  func(t *testing.T, s store.Store)
}{
	{"PasskeyCreateGet", testPasskeyCreateGet},
	{"PasskeyInvalid", testPasskeyInvalid},
	{"PasskeyDuplicate", testPasskeyDuplicate},
	{"PasskeyUnknownAccount", testPasskeyUnknownAccount},
	{"PasskeyNotFound", testPasskeyNotFound},
	{"PasskeyList", testPasskeyList},
	{"PasskeyUpdate", testPasskeyUpdate},
	{"PasskeyUpdateKey", testPasskeyUpdateKey},
	{"PasskeyDelete", testPasskeyDelete},
	{"PasskeyCascade", testPasskeyCascade},
	{"PasskeyUser", testPasskeyUser},
	{"PasskeyUserInvalid", testPasskeyUserInvalid},
	{"PasskeyChallengeTakeOnce", testPasskeyChallengeTakeOnce},
	{"PasskeyChallengeExpired", testPasskeyChallengeExpired},
	{"PasskeyChallengeReplace", testPasskeyChallengeReplace},
	{"PasskeyChallengeInvalid", testPasskeyChallengeInvalid},
	{"PasskeyChallengePurge", testPasskeyChallengePurge},
	{"ConcurrentPasskeyChallengeTake", testConcurrentPasskeyChallengeTake},
	{"ConcurrentPasskeyCounter", testConcurrentPasskeyCounter},
}

func newPasskey(id byte, username, account, name string) store.Passkey {
	return store.Passkey{
		ID:              []byte{id, 0, 0xff, '\n', 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, id},
		Username:        username,
		Account:         account,
		Name:            name,
		PublicKey:       []byte{0xa5, 1, 2, 3, 0x26, 0, 0x21, 0x58, 0x20, id},
		AttestationType: "none",
		SignCount:       7,
		Transports:      []string{"internal", "hybrid"},
		AAGUID:          []byte{0xea, 0x9b, 0x8d, 0x66, 0x4d, 0x01, 0x1d, 0x21, 0x3c, 0xe4, 0xb6, 0xb4, 0x8c, 0xb5, 0x75, 0xd4},
		Kind:            "Google Password Manager",
		BackupEligible:  true,
		BackupState:     true,
		UserVerified:    true,
		Created:         at(20 + int64(id)),
	}
}

func diffPasskey(got, want store.Passkey) string {
	var d []string
	if !bytes.Equal(got.ID, want.ID) || got.Username != want.Username || got.Account != want.Account {
		d = append(d, fmt.Sprintf("key %x/%q/%q, want %x/%q/%q", got.ID, got.Username, got.Account, want.ID, want.Username, want.Account))
	}
	if got.Name != want.Name || got.AttestationType != want.AttestationType || got.Kind != want.Kind || got.LastUsedIP != want.LastUsedIP {
		d = append(d, fmt.Sprintf("text %q/%q/%q/%q, want %q/%q/%q/%q", got.Name, got.AttestationType, got.Kind, got.LastUsedIP,
			want.Name, want.AttestationType, want.Kind, want.LastUsedIP))
	}
	if !bytes.Equal(got.PublicKey, want.PublicKey) {
		d = append(d, fmt.Sprintf("PublicKey %x, want %x", got.PublicKey, want.PublicKey))
	}
	if got.SignCount != want.SignCount {
		d = append(d, fmt.Sprintf("SignCount %d, want %d", got.SignCount, want.SignCount))
	}
	wantTr := want.Transports
	if len(wantTr) == 0 {
		wantTr = nil
	}
	if !slices.Equal(got.Transports, wantTr) || (got.Transports == nil) != (wantTr == nil) {
		d = append(d, fmt.Sprintf("Transports %#v, want %#v", got.Transports, wantTr))
	}
	wantAAGUID := want.AAGUID
	if len(wantAAGUID) == 0 {
		wantAAGUID = nil
	}
	if !bytes.Equal(got.AAGUID, wantAAGUID) || (got.AAGUID == nil) != (wantAAGUID == nil) {
		d = append(d, fmt.Sprintf("AAGUID %x, want %x", got.AAGUID, wantAAGUID))
	}
	if got.BackupEligible != want.BackupEligible || got.BackupState != want.BackupState || got.UserVerified != want.UserVerified || got.CloneWarning != want.CloneWarning {
		d = append(d, fmt.Sprintf("flags BE %v BS %v UV %v clone %v, want %v %v %v %v", got.BackupEligible, got.BackupState, got.UserVerified, got.CloneWarning,
			want.BackupEligible, want.BackupState, want.UserVerified, want.CloneWarning))
	}
	if !got.Created.Equal(want.Created) || !got.LastUsed.Equal(want.LastUsed) {
		d = append(d, fmt.Sprintf("times %v/%v, want %v/%v", got.Created, got.LastUsed, want.Created, want.LastUsed))
	}
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprint(d)
}

func mustCreatePasskey(t *testing.T, s store.Store, p store.Passkey) {
	t.Helper()
	if err := s.CreatePasskey(t.Context(), p); err != nil {
		t.Fatalf("CreatePasskey(%q of %q): %v", p.Name, p.Username, err)
	}
}

func mustGetPasskey(t *testing.T, s store.Store, id []byte) store.Passkey {
	t.Helper()
	p, err := s.GetPasskey(t.Context(), id)
	if err != nil {
		t.Fatalf("GetPasskey(%x): %v", id, err)
	}
	return p
}

func passkeyNames(t *testing.T, s store.Store, username string) []string {
	t.Helper()
	list, err := s.ListPasskeys(t.Context(), username)
	if err != nil {
		t.Fatalf("ListPasskeys(%q): %v", username, err)
	}
	var out []string
	for _, p := range list {
		out = append(out, p.Username+"/"+p.Name)
	}
	return out
}

func testPasskeyCreateGet(t *testing.T, s store.Store) {
	twoFactorFixture(t, s)
	full := newPasskey(1, "bob", "bob", "Phone")
	full.Created = at(0).Add(123456 * 1000) // microseconds survive
	full.LastUsed, full.LastUsedIP, full.CloneWarning = at(90).Add(7000), "2001:db8::1", true
	full.SignCount = 1<<32 - 1 // the whole uint32 range
	bare := newPasskey(2, "carol", "carol", "Ünïcode key \"quoted\"")
	bare.Transports, bare.AAGUID, bare.Kind = []string{}, []byte{}, ""
	bare.BackupEligible, bare.BackupState, bare.UserVerified, bare.SignCount = false, false, false, 0
	webmail := newPasskey(3, "info@bob.example", "bob", "Key")
	webmail.Transports, webmail.AAGUID = nil, nil
	rootKey := newPasskey(4, "root", "root", "YubiKey")
	rootKey.ID = bytes.Repeat([]byte{0xab}, store.MaxPasskeyIDLen)
	for _, p := range []store.Passkey{full, bare, webmail, rootKey} {
		mustCreatePasskey(t, s, p)
		got := mustGetPasskey(t, s, p.ID)
		if d := diffPasskey(got, p); d != "" {
			t.Errorf("%s: %s", p.Name, d)
		}
		// The record returned is the caller's.
		got.ID[0] ^= 0xff
		got.PublicKey[0] ^= 0xff
		if len(got.Transports) > 0 {
			got.Transports[0] = "changed"
		}
		if d := diffPasskey(mustGetPasskey(t, s, p.ID), p); d != "" {
			t.Errorf("%s after changing a returned record: %s", p.Name, d)
		}
	}
}

func testPasskeyInvalid(t *testing.T, s store.Store) {
	twoFactorFixture(t, s)
	ok := newPasskey(1, "bob", "bob", "Phone")
	for _, tc := range []struct {
		name   string
		change func(p *store.Passkey)
	}{
		{"no ID", func(p *store.Passkey) { p.ID = nil }},
		{"ID too long", func(p *store.Passkey) { p.ID = make([]byte, store.MaxPasskeyIDLen+1) }},
		{"no name", func(p *store.Passkey) { p.Name = "" }},
		{"NUL in name", func(p *store.Passkey) { p.Name = "a\x00b" }},
		{"invalid UTF-8 name", func(p *store.Passkey) { p.Name = "\xff" }},
		{"no username", func(p *store.Passkey) { p.Username = "" }},
		{"no public key", func(p *store.Passkey) { p.PublicKey = nil }},
		{"empty transport", func(p *store.Passkey) { p.Transports = []string{"usb", ""} }},
		{"NUL in kind", func(p *store.Passkey) { p.Kind = "x\x00" }},
		{"year 10000", func(p *store.Passkey) { p.Created = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ok
			p.Transports = slices.Clone(ok.Transports)
			tc.change(&p)
			if err := s.CreatePasskey(t.Context(), p); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("CreatePasskey: %v, want ErrInvalid", err)
			}
		})
	}
	if got := passkeyNames(t, s, ""); len(got) != 0 {
		t.Fatalf("refused records were stored: %v", got)
	}
}

func testPasskeyDuplicate(t *testing.T, s store.Store) {
	twoFactorFixture(t, s)
	ctx := t.Context()
	mustCreatePasskey(t, s, newPasskey(1, "bob", "bob", "Phone"))
	sameID := newPasskey(1, "carol", "carol", "Other")
	if err := s.CreatePasskey(ctx, sameID); !errors.Is(err, store.ErrExists) {
		t.Fatalf("same ID: %v, want ErrExists", err)
	}
	sameName := newPasskey(2, "bob", "bob", "Phone")
	if err := s.CreatePasskey(ctx, sameName); !errors.Is(err, store.ErrExists) {
		t.Fatalf("same name for one user: %v, want ErrExists", err)
	}
	// The same name for another login name is another credential.
	mustCreatePasskey(t, s, newPasskey(3, "carol", "carol", "Phone"))
	mustCreatePasskey(t, s, newPasskey(4, "info@bob.example", "bob", "Phone"))
}

func testPasskeyUnknownAccount(t *testing.T, s store.Store) {
	twoFactorFixture(t, s)
	if err := s.CreatePasskey(t.Context(), newPasskey(1, "nobody", "nobody", "Phone")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("CreatePasskey for an unknown account: %v, want ErrNotFound", err)
	}
	if err := s.CreatePasskeyUser(t.Context(), store.PasskeyUser{Username: "nobody", Account: "nobody", Handle: []byte{1}}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("CreatePasskeyUser for an unknown account: %v, want ErrNotFound", err)
	}
}

func testPasskeyNotFound(t *testing.T, s store.Store) {
	twoFactorFixture(t, s)
	ctx := t.Context()
	mustCreatePasskey(t, s, newPasskey(1, "bob", "bob", "Phone"))
	for _, id := range [][]byte{nil, {}, {1}, newPasskey(2, "bob", "bob", "x").ID, make([]byte, store.MaxPasskeyIDLen+1)} {
		if _, err := s.GetPasskey(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetPasskey(%x): %v, want ErrNotFound", id, err)
		}
		if err := s.DeletePasskey(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeletePasskey(%x): %v, want ErrNotFound", id, err)
		}
		if _, err := s.UpdatePasskey(ctx, id, func(p store.Passkey) (store.Passkey, error) { return p, nil }); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdatePasskey(%x): %v, want ErrNotFound", id, err)
		}
	}
	for _, u := range []string{"bob", "nobody", "", "a\x00b", "\xff"} {
		if _, err := s.GetPasskeyUser(ctx, u); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetPasskeyUser(%q): %v, want ErrNotFound", u, err)
		}
	}
	for _, h := range [][]byte{nil, {1}, make([]byte, 65)} {
		if _, err := s.GetPasskeyUserByHandle(ctx, h); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetPasskeyUserByHandle(%x): %v, want ErrNotFound", h, err)
		}
	}
	if list, err := s.ListPasskeys(ctx, "nobody"); err != nil || len(list) != 0 {
		t.Errorf("ListPasskeys(nobody) = %v, %v", list, err)
	}
	if list, err := s.ListPasskeys(ctx, "a\x00b"); err != nil || len(list) != 0 {
		t.Errorf("ListPasskeys(NUL) = %v, %v", list, err)
	}
}

func testPasskeyList(t *testing.T, s store.Store) {
	twoFactorFixture(t, s)
	late := newPasskey(1, "bob", "bob", "Late")
	late.Created = at(500)
	early := newPasskey(2, "bob", "bob", "Early")
	early.Created = at(100)
	tie := newPasskey(3, "bob", "bob", "Tie")
	tie.Created = at(100) // after Early by ID
	for _, p := range []store.Passkey{late, newPasskey(4, "root", "root", "R"), tie, early, newPasskey(5, "info@bob.example", "bob", "W"), newPasskey(6, "carol", "carol", "C")} {
		mustCreatePasskey(t, s, p)
	}
	if got, want := passkeyNames(t, s, "bob"), []string{"bob/Early", "bob/Tie", "bob/Late"}; !slices.Equal(got, want) {
		t.Errorf("bob's = %v, want %v", got, want)
	}
	if got, want := passkeyNames(t, s, ""), []string{"bob/Early", "bob/Tie", "bob/Late", "carol/C", "info@bob.example/W", "root/R"}; !slices.Equal(got, want) {
		t.Errorf("all = %v, want %v", got, want)
	}
}

func testPasskeyUpdate(t *testing.T, s store.Store) {
	twoFactorFixture(t, s)
	ctx := t.Context()
	orig := newPasskey(1, "bob", "bob", "Phone")
	mustCreatePasskey(t, s, orig)
	mustCreatePasskey(t, s, newPasskey(2, "bob", "bob", "Laptop"))

	want := orig
	want.Name, want.SignCount, want.LastUsed, want.LastUsedIP = "My phone", 8, at(300).Add(5000), "192.0.2.7"
	want.BackupState, want.UserVerified, want.CloneWarning, want.Transports = false, false, true, []string{"usb"}
	got, err := s.UpdatePasskey(ctx, orig.ID, func(p store.Passkey) (store.Passkey, error) {
		if d := diffPasskey(p, orig); d != "" {
			t.Errorf("the updater saw %s", d)
		}
		p.Name, p.SignCount, p.LastUsed, p.LastUsedIP = want.Name, want.SignCount, want.LastUsed, want.LastUsedIP
		p.BackupState, p.UserVerified, p.CloneWarning, p.Transports = false, false, true, []string{"usb"}
		return p, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := diffPasskey(got, want); d != "" {
		t.Errorf("returned: %s", d)
	}
	if d := diffPasskey(mustGetPasskey(t, s, orig.ID), want); d != "" {
		t.Errorf("stored: %s", d)
	}

	// A rename onto a taken name fails and stores nothing.
	if _, err := s.UpdatePasskey(ctx, orig.ID, func(p store.Passkey) (store.Passkey, error) {
		p.Name, p.SignCount = "Laptop", 99
		return p, nil
	}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("rename onto a taken name: %v, want ErrExists", err)
	}
	// An updater error aborts the update and comes back.
	boom := errors.New("boom")
	if _, err := s.UpdatePasskey(ctx, orig.ID, func(p store.Passkey) (store.Passkey, error) {
		p.SignCount = 100
		return p, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("updater error: %v", err)
	}
	// So does an invalid record.
	if _, err := s.UpdatePasskey(ctx, orig.ID, func(p store.Passkey) (store.Passkey, error) {
		p.Name, p.SignCount = "", 101
		return p, nil
	}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("empty name: %v, want ErrInvalid", err)
	}
	if d := diffPasskey(mustGetPasskey(t, s, orig.ID), want); d != "" {
		t.Errorf("after refused updates: %s", d)
	}
}

func testPasskeyUpdateKey(t *testing.T, s store.Store) {
	twoFactorFixture(t, s)
	orig := newPasskey(1, "bob", "bob", "Phone")
	mustCreatePasskey(t, s, orig)
	for _, tc := range []struct {
		name   string
		change func(p *store.Passkey)
	}{
		{"ID", func(p *store.Passkey) { p.ID = []byte("other") }},
		{"Username", func(p *store.Passkey) { p.Username = "carol" }},
		{"Account", func(p *store.Passkey) { p.Account = "carol" }},
		{"PublicKey", func(p *store.Passkey) { p.PublicKey = []byte{1, 2, 3} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.UpdatePasskey(t.Context(), orig.ID, func(p store.Passkey) (store.Passkey, error) {
				tc.change(&p)
				p.SignCount = 50
				return p, nil
			})
			if err == nil {
				t.Fatal("the updater changed a key field")
			}
			if d := diffPasskey(mustGetPasskey(t, s, orig.ID), orig); d != "" {
				t.Fatalf("stored after the refusal: %s", d)
			}
		})
	}
}

func testPasskeyDelete(t *testing.T, s store.Store) {
	twoFactorFixture(t, s)
	ctx := t.Context()
	a, b := newPasskey(1, "bob", "bob", "A"), newPasskey(2, "bob", "bob", "B")
	mustCreatePasskey(t, s, a)
	mustCreatePasskey(t, s, b)
	if err := s.DeletePasskey(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetPasskey(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := s.DeletePasskey(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	mustGetPasskey(t, s, b.ID)
	// The name is free again.
	mustCreatePasskey(t, s, newPasskey(3, "bob", "bob", "A"))
}

func testPasskeyCascade(t *testing.T, s store.Store) {
	twoFactorFixture(t, s)
	ctx := t.Context()
	mustCreateMailbox(t, s, newMailbox("bob", "sales", "bob.example"))
	keys := []store.Passkey{
		newPasskey(1, "bob", "bob", "A"), newPasskey(2, "info@bob.example", "bob", "B"),
		newPasskey(3, "sales@bob.example", "bob", "C"), newPasskey(4, "carol", "carol", "D"),
	}
	for i, p := range keys {
		mustCreatePasskey(t, s, p)
		if err := s.CreatePasskeyUser(ctx, store.PasskeyUser{Username: p.Username, Account: p.Account, Handle: []byte{byte(i + 1)}, Created: at(5)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteMailbox(ctx, "sales", "bob.example"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetPasskey(ctx, keys[2].ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a deleted mailbox's passkey: %v", err)
	}
	if _, err := s.GetPasskeyUser(ctx, "sales@bob.example"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a deleted mailbox's user handle: %v", err)
	}
	mustGetPasskey(t, s, keys[1].ID)
	if err := s.DeleteAccount(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	for _, p := range keys[:2] {
		if _, err := s.GetPasskey(ctx, p.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a deleted account's passkey %q: %v", p.Name, err)
		}
		if _, err := s.GetPasskeyUser(ctx, p.Username); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a deleted account's user handle %q: %v", p.Username, err)
		}
	}
	mustGetPasskey(t, s, keys[3].ID)
	if _, err := s.GetPasskeyUser(ctx, "carol"); err != nil {
		t.Fatalf("carol's user handle: %v", err)
	}
	// A new account of the same name starts without either.
	mustCreateAccount(t, s, newAccount("bob", "bob.example"))
	if got := passkeyNames(t, s, "bob"); len(got) != 0 {
		t.Fatalf("new bob: %v", got)
	}
}

func testPasskeyUser(t *testing.T, s store.Store) {
	twoFactorFixture(t, s)
	ctx := t.Context()
	bob := store.PasskeyUser{Username: "bob", Account: "bob", Handle: bytes.Repeat([]byte{0, 0xff}, 32), Created: at(7).Add(3000)}
	if err := s.CreatePasskeyUser(ctx, bob); err != nil {
		t.Fatal(err)
	}
	web := store.PasskeyUser{Username: "info@bob.example", Account: "bob", Handle: []byte{1, 2, 3}, Passwordless: true, Created: at(8)}
	if err := s.CreatePasskeyUser(ctx, web); err != nil {
		t.Fatal(err)
	}
	same := func(got, want store.PasskeyUser) bool {
		return got.Username == want.Username && got.Account == want.Account && bytes.Equal(got.Handle, want.Handle) &&
			got.Passwordless == want.Passwordless && got.Created.Equal(want.Created)
	}
	for _, want := range []store.PasskeyUser{bob, web} {
		got, err := s.GetPasskeyUser(ctx, want.Username)
		if err != nil || !same(got, want) {
			t.Errorf("GetPasskeyUser(%q) = %+v, %v; want %+v", want.Username, got, err, want)
		}
		got, err = s.GetPasskeyUserByHandle(ctx, want.Handle)
		if err != nil || !same(got, want) {
			t.Errorf("GetPasskeyUserByHandle(%x) = %+v, %v; want %+v", want.Handle, got, err, want)
		}
	}
	// One per login name, and a handle is never shared.
	if err := s.CreatePasskeyUser(ctx, store.PasskeyUser{Username: "bob", Account: "bob", Handle: []byte{9}}); !errors.Is(err, store.ErrExists) {
		t.Errorf("a second user handle for bob: %v, want ErrExists", err)
	}
	if err := s.CreatePasskeyUser(ctx, store.PasskeyUser{Username: "carol", Account: "carol", Handle: []byte{1, 2, 3}}); !errors.Is(err, store.ErrExists) {
		t.Errorf("a taken handle: %v, want ErrExists", err)
	}
	got, err := s.UpdatePasskeyUser(ctx, "bob", func(u store.PasskeyUser) (store.PasskeyUser, error) {
		u.Passwordless = true
		return u, nil
	})
	want := bob
	want.Passwordless = true
	if err != nil || !same(got, want) {
		t.Fatalf("UpdatePasskeyUser = %+v, %v", got, err)
	}
	if got, _ := s.GetPasskeyUser(ctx, "bob"); !same(got, want) {
		t.Fatalf("stored %+v, want %+v", got, want)
	}
	if _, err := s.UpdatePasskeyUser(ctx, "bob", func(u store.PasskeyUser) (store.PasskeyUser, error) {
		u.Handle, u.Passwordless = []byte{7}, false
		return u, nil
	}); err == nil {
		t.Fatal("the updater changed the handle")
	}
	if _, err := s.UpdatePasskeyUser(ctx, "nobody", func(u store.PasskeyUser) (store.PasskeyUser, error) { return u, nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdatePasskeyUser(nobody): %v", err)
	}
	if got, _ := s.GetPasskeyUser(ctx, "bob"); !same(got, want) {
		t.Fatalf("after a refused update: %+v, want %+v", got, want)
	}
	list, err := s.ListPasskeyUsers(ctx)
	if err != nil || len(list) != 2 || list[0].Username != "bob" || list[1].Username != "info@bob.example" {
		t.Fatalf("ListPasskeyUsers = %+v, %v", list, err)
	}
}

func testPasskeyUserInvalid(t *testing.T, s store.Store) {
	twoFactorFixture(t, s)
	for _, tc := range []struct {
		name string
		u    store.PasskeyUser
	}{
		{"no handle", store.PasskeyUser{Username: "bob", Account: "bob"}},
		{"handle too long", store.PasskeyUser{Username: "bob", Account: "bob", Handle: make([]byte, 65)}},
		{"no username", store.PasskeyUser{Account: "bob", Handle: []byte{1}}},
		{"NUL in username", store.PasskeyUser{Username: "b\x00b", Account: "bob", Handle: []byte{1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.CreatePasskeyUser(t.Context(), tc.u); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("CreatePasskeyUser: %v, want ErrInvalid", err)
			}
		})
	}
}

func newChallenge(key string, expires time.Time) store.PasskeyChallenge {
	return store.PasskeyChallenge{
		Key:      key,
		Purpose:  store.PasskeySecondFactor,
		Username: "bob",
		Session:  []byte(`{"challenge":"` + key + `","user_id":"AAE"}` + "\x00\xff"),
		Created:  at(0).Add(1000),
		Expires:  expires,
	}
}

func sameChallenge(got, want store.PasskeyChallenge) bool {
	return got.Key == want.Key && got.Purpose == want.Purpose && got.Username == want.Username &&
		bytes.Equal(got.Session, want.Session) && got.Created.Equal(want.Created) && got.Expires.Equal(want.Expires)
}

func testPasskeyChallengeTakeOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := at(100)
	c := newChallenge("s:abc", now.Add(store.PasskeyChallengeTTL))
	other := newChallenge("l:def", now.Add(time.Minute))
	other.Purpose, other.Username = store.PasskeyPasswordless, ""
	for _, ch := range []store.PasskeyChallenge{c, other} {
		if err := s.PutPasskeyChallenge(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.TakePasskeyChallenge(ctx, c.Key, now)
	if err != nil || !sameChallenge(got, c) {
		t.Fatalf("TakePasskeyChallenge = %+v, %v; want %+v", got, err, c)
	}
	if _, err := s.TakePasskeyChallenge(ctx, c.Key, now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second take: %v, want ErrNotFound", err)
	}
	got, err = s.TakePasskeyChallenge(ctx, other.Key, now)
	if err != nil || !sameChallenge(got, other) {
		t.Fatalf("the other challenge = %+v, %v", got, err)
	}
	for _, key := range []string{"", "nothing", "a\x00b", "\xff"} {
		if _, err := s.TakePasskeyChallenge(ctx, key, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("TakePasskeyChallenge(%q): %v, want ErrNotFound", key, err)
		}
	}
}

func testPasskeyChallengeExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := at(100)
	c := newChallenge("s:abc", now.Add(store.PasskeyChallengeTTL))
	if err := s.PutPasskeyChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	// At its expiry it is already gone, and taking it deleted it.
	if _, err := s.TakePasskeyChallenge(ctx, c.Key, c.Expires); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("take at expiry: %v, want ErrNotFound", err)
	}
	if _, err := s.TakePasskeyChallenge(ctx, c.Key, now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("take after an expired take: %v, want ErrNotFound", err)
	}
	if err := s.PutPasskeyChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakePasskeyChallenge(ctx, c.Key, c.Expires.Add(-time.Microsecond)); err != nil {
		t.Fatalf("take a microsecond before expiry: %v", err)
	}
}

func testPasskeyChallengeReplace(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := at(100)
	first := newChallenge("s:abc", now.Add(time.Minute))
	second := newChallenge("s:abc", now.Add(2*time.Minute))
	second.Purpose, second.Session = store.PasskeyRegister, []byte("second")
	for _, c := range []store.PasskeyChallenge{first, second} {
		if err := s.PutPasskeyChallenge(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.TakePasskeyChallenge(ctx, first.Key, now)
	if err != nil || !sameChallenge(got, second) {
		t.Fatalf("after a replacement: %+v, %v; want %+v", got, err, second)
	}
	if _, err := s.TakePasskeyChallenge(ctx, first.Key, now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the replaced challenge is still there: %v", err)
	}
}

func testPasskeyChallengeInvalid(t *testing.T, s store.Store) {
	ok := newChallenge("s:abc", at(400))
	for _, tc := range []struct {
		name   string
		change func(c *store.PasskeyChallenge)
	}{
		{"no key", func(c *store.PasskeyChallenge) { c.Key = "" }},
		{"NUL in key", func(c *store.PasskeyChallenge) { c.Key = "a\x00" }},
		{"unknown purpose", func(c *store.PasskeyChallenge) { c.Purpose = "other" }},
		{"no state", func(c *store.PasskeyChallenge) { c.Session = nil }},
		{"invalid username", func(c *store.PasskeyChallenge) { c.Username = "\xff" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.change(&c)
			if err := s.PutPasskeyChallenge(t.Context(), c); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("PutPasskeyChallenge: %v, want ErrInvalid", err)
			}
		})
	}
}

func testPasskeyChallengePurge(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := at(1000)
	for i, exp := range []time.Time{now.Add(-time.Hour), now, now.Add(time.Microsecond), now.Add(time.Minute)} {
		if err := s.PutPasskeyChallenge(ctx, newChallenge(fmt.Sprintf("k%d", i), exp)); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PurgePasskeyChallenges(ctx, now)
	if err != nil || n != 2 {
		t.Fatalf("PurgePasskeyChallenges = %d, %v; want 2", n, err)
	}
	for i, want := range []bool{false, false, true, true} {
		_, err := s.TakePasskeyChallenge(ctx, fmt.Sprintf("k%d", i), now.Add(-2*time.Hour))
		if got := err == nil; got != want {
			t.Errorf("k%d after the purge: %v, want present %v", i, err, want)
		}
	}
}

// testConcurrentPasskeyChallengeTake is the store's half of "a challenge is
// redeemed once": many takers race for one challenge, as two nodes handling
// one replayed response would; exactly one may get it.
func testConcurrentPasskeyChallengeTake(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := at(100)
	const workers, rounds = 8, 5
	for round := range rounds {
		key := fmt.Sprintf("s:round%d", round)
		if err := s.PutPasskeyChallenge(ctx, newChallenge(key, now.Add(time.Minute))); err != nil {
			t.Fatal(err)
		}
		var got atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := s.TakePasskeyChallenge(ctx, key, now)
				switch {
				case err == nil:
					got.Add(1)
				case !errors.Is(err, store.ErrNotFound):
					t.Errorf("TakePasskeyChallenge: %v", err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if n := got.Load(); n != 1 {
			t.Fatalf("round %d: %d takers got the challenge, want exactly 1", round, n)
		}
	}
}

// testConcurrentPasskeyCounter: concurrent assertions move the sign
// counter through the updater; each sees what the one before wrote, so no
// counter value is accepted twice.
func testConcurrentPasskeyCounter(t *testing.T, s store.Store) {
	twoFactorFixture(t, s)
	ctx := t.Context()
	p := newPasskey(1, "bob", "bob", "Phone")
	mustCreatePasskey(t, s, p)
	const workers = 8
	var accepted atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var ok bool
			_, err := s.UpdatePasskey(ctx, p.ID, func(q store.Passkey) (store.Passkey, error) {
				ok = false // the updater may run more than once
				// Every worker presents counter p.SignCount+1.
				if q.SignCount >= p.SignCount+1 {
					return q, nil
				}
				q.SignCount, ok = p.SignCount+1, true
				return q, nil
			})
			if err != nil {
				t.Errorf("UpdatePasskey: %v", err)
				return
			}
			if ok {
				accepted.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if n := accepted.Load(); n != 1 {
		t.Fatalf("%d updaters accepted one counter value, want exactly 1", n)
	}
	if got := mustGetPasskey(t, s, p.ID).SignCount; got != p.SignCount+1 {
		t.Fatalf("SignCount %d, want %d", got, p.SignCount+1)
	}
}
