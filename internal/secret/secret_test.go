package secret

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// testKey returns a key with fixed material so MACs are reproducible.
func testKey(t testing.TB, fill byte) *Key {
	t.Helper()
	k, err := KeyFromBytes(bytes.Repeat([]byte{fill}, KeySize))
	if err != nil {
		t.Fatalf("KeyFromBytes: %v", err)
	}
	return k
}

func TestKeyFromBytes(t *testing.T) {
	tests := []struct {
		name    string
		n       int
		wantErr bool
	}{
		{"exact", KeySize, false},
		{"empty", 0, true},
		{"short", KeySize - 1, true},
		{"long", KeySize + 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := bytes.Repeat([]byte{7}, tc.n)
			k, err := KeyFromBytes(raw)
			if (err != nil) != tc.wantErr {
				t.Fatalf("KeyFromBytes(%d bytes) err = %v, wantErr %v", tc.n, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if !bytes.Equal(k.Bytes(), raw) {
				t.Fatalf("Bytes() = %x, want %x", k.Bytes(), raw)
			}
			// Bytes must be a copy: changing it must not change the key.
			b := k.Bytes()
			b[0] ^= 0xff
			if !bytes.Equal(k.Bytes(), raw) {
				t.Fatal("Bytes() aliases the key material")
			}
		})
	}
}

func TestNewKeyIsRandom(t *testing.T) {
	a, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two NewKey calls returned the same key")
	}
	if bytes.Equal(a.Bytes(), make([]byte, KeySize)) {
		t.Fatal("NewKey returned the all-zero key")
	}
}

func TestMAC(t *testing.T) {
	k1 := testKey(t, 1)
	k2 := testKey(t, 2)
	tests := []struct {
		name      string
		k1, k2    *Key
		p1, p2    string
		d1, d2    string
		wantEqual bool
	}{
		{"deterministic", k1, k1, "token", "token", "abc", "abc", true},
		{"deterministic empty data", k1, k1, "token", "token", "", "", true},
		{"different data", k1, k1, "token", "token", "abc", "abd", false},
		{"different purpose", k1, k1, "token", "session", "abc", "abc", false},
		{"purpose is not a prefix match", k1, k1, "token", "token2", "abc", "abc", false},
		{"purpose/data boundary", k1, k1, "ab", "a", "c", "bc", false},
		{"different key", k1, k2, "token", "token", "abc", "abc", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m1 := tc.k1.MAC(tc.p1, []byte(tc.d1))
			m2 := tc.k2.MAC(tc.p2, []byte(tc.d2))
			for _, m := range []string{m1, m2} {
				if len(m) != 64 {
					t.Fatalf("MAC length = %d, want 64 hex characters", len(m))
				}
				if _, err := hex.DecodeString(m); err != nil || m != strings.ToLower(m) {
					t.Fatalf("MAC %q is not lowercase hex", m)
				}
			}
			if (m1 == m2) != tc.wantEqual {
				t.Fatalf("MAC equality = %v, want %v (%s vs %s)", m1 == m2, tc.wantEqual, m1, m2)
			}
		})
	}
}

// TestMACKnownAnswer pins the derivation so a refactor cannot silently change
// every stored keyed hash: HMAC-SHA256(HMAC-SHA256(key, "cpauth/mac/"+purpose), data).
// The expected value was computed outside Go with openssl:
//
//	sub=$(printf 'cpauth/mac/token' | openssl dgst -sha256 -mac HMAC -macopt hexkey:<64 zeros> -r | cut -d' ' -f1)
//	printf abc | openssl dgst -sha256 -mac HMAC -macopt hexkey:$sub -r
func TestMACKnownAnswer(t *testing.T) {
	const want = "8cd6f0bcb9410d26ec0f4bc21a5c4ea36a6d0641249425d4afb1e0025421ad75"
	if got := testKey(t, 0).MAC("token", []byte("abc")); got != want {
		t.Fatalf("MAC = %s, want %s", got, want)
	}
}

// MACStrings is MAC of the joined parts, however they are cut, whatever
// their size, and from many goroutines at once sharing the pooled states.
func TestMACStrings(t *testing.T) {
	k := testKey(t, 0)
	if got := k.MACStrings("token", "a", "", "bc"); got != "8cd6f0bcb9410d26ec0f4bc21a5c4ea36a6d0641249425d4afb1e0025421ad75" {
		t.Fatalf("MACStrings(a, , bc) = %s, want the known answer of abc", got)
	}
	big := strings.Repeat("x", 3*maxPooledMACInput)
	cases := [][]string{nil, {""}, {"root", "\x00", "TOKEN"}, {big}, {"a", big, "b"}, {"after", "big"}}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				parts := cases[(g+i)%len(cases)]
				if got, want := k.MACStrings("token", parts...), k.MAC("token", []byte(strings.Join(parts, ""))); got != want {
					t.Errorf("MACStrings(%.20q) = %s, MAC of the joined parts %s", parts, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestSealOpen(t *testing.T) {
	k := testKey(t, 3)
	other := testKey(t, 4)
	plaintext := []byte("JBSWY3DPEHPK3PXP")
	aad := []byte("alice")

	sealed, err := k.Seal("totp", plaintext, aad)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if bytes.Contains(sealed, plaintext) {
		t.Fatal("sealed value contains the plaintext")
	}
	sealed2, err := k.Seal("totp", plaintext, aad)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if bytes.Equal(sealed, sealed2) {
		t.Fatal("two Seals of the same plaintext are identical (nonce reuse?)")
	}

	tampered := func(i int) []byte {
		b := append([]byte(nil), sealed...)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name    string
		key     *Key
		purpose string
		sealed  []byte
		aad     []byte
		wantErr bool
	}{
		{"round trip", k, "totp", sealed, aad, false},
		{"second seal round trip", k, "totp", sealed2, aad, false},
		{"wrong aad", k, "totp", sealed, []byte("bob"), true},
		{"nil aad", k, "totp", sealed, nil, true},
		{"wrong purpose", k, "session", sealed, aad, true},
		{"wrong key", other, "totp", sealed, aad, true},
		{"tampered nonce", k, "totp", tampered(0), aad, true},
		{"tampered ciphertext", k, "totp", tampered(12), aad, true},
		{"tampered tag", k, "totp", tampered(len(sealed) - 1), aad, true},
		{"truncated", k, "totp", sealed[:len(sealed)-1], aad, true},
		{"shorter than nonce", k, "totp", sealed[:5], aad, true},
		{"empty", k, "totp", nil, aad, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.key.Open(tc.purpose, tc.sealed, tc.aad)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Open succeeded with %q, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, plaintext) {
				t.Fatalf("Open = %q, want %q", got, plaintext)
			}
		})
	}
}

func TestSealEmptyPlaintext(t *testing.T) {
	k := testKey(t, 5)
	sealed, err := k.Seal("x", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.Open("x", sealed, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("Open = %q, want empty", got)
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "server.key")

	k1, created, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if !created {
		t.Fatal("first call: created = false, want true")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("key file mode = %o, want 600", perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := hex.EncodeToString(k1.Bytes()) + "\n"; string(data) != want {
		t.Fatalf("key file = %q, want %q", data, want)
	}

	k2, created, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if created {
		t.Fatal("second call: created = true, want false")
	}
	if !bytes.Equal(k1.Bytes(), k2.Bytes()) {
		t.Fatal("reloaded key differs from the created one")
	}
	if k1.MAC("p", []byte("d")) != k2.MAC("p", []byte("d")) {
		t.Fatal("reloaded key gives different MACs")
	}
}

func TestLoadOrCreateKeyExisting(t *testing.T) {
	good := strings.Repeat("ab", KeySize)
	tests := []struct {
		name    string
		content string
		wantErr bool
	}{
		{"hex with newline", good + "\n", false},
		{"hex with CRLF", good + "\r\n", false},
		{"hex with trailing spaces", good + "  \n", false},
		{"hex without newline", good, false},
		{"uppercase hex", strings.ToUpper(good), false},
		{"not hex", strings.Repeat("zz", KeySize), true},
		{"too short", strings.Repeat("ab", KeySize-1), true},
		{"too long", strings.Repeat("ab", KeySize+1), true},
		{"empty", "", true},
		{"odd length", good[:len(good)-1], true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "server.key")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			k, created, err := LoadOrCreateKey(path)
			if created {
				t.Fatal("created = true for an existing file")
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && hex.EncodeToString(k.Bytes()) != good {
				t.Fatalf("key = %x, want %s", k.Bytes(), good)
			}
			// A bad file must be reported, never silently replaced.
			after, rerr := os.ReadFile(path)
			if rerr != nil || string(after) != tc.content {
				t.Fatalf("key file changed to %q (%v)", after, rerr)
			}
		})
	}
}

func TestLoadOrCreateKeyMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "server.key")
	if _, _, err := LoadOrCreateKey(path); err == nil {
		t.Fatal("LoadOrCreateKey in a missing directory succeeded")
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"equal", "abc", "abc", true},
		{"both empty", "", "", true},
		{"differ", "abc", "abd", false},
		{"prefix", "abc", "ab", false},
		{"empty vs not", "", "a", false},
		{"case", "abc", "ABC", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Equal(tc.a, tc.b); got != tc.want {
				t.Fatalf("Equal(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
		})
	}
}

func TestRandomString(t *testing.T) {
	tests := []struct {
		name     string
		n        int
		alphabet string
	}{
		{"digits", 10, Digits},
		{"upper alnum", 32, UpperAlnum},
		{"password chars", 64, PasswordChar},
		{"single letter", 5, "x"},
		{"zero length", 0, Digits},
		{"long", 4096, "ab"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := RandomString(tc.n, tc.alphabet)
			if err != nil {
				t.Fatal(err)
			}
			if len(s) != tc.n {
				t.Fatalf("len = %d, want %d", len(s), tc.n)
			}
			for i := 0; i < len(s); i++ {
				if strings.IndexByte(tc.alphabet, s[i]) < 0 {
					t.Fatalf("character %q at %d is not in %q", s[i], i, tc.alphabet)
				}
			}
		})
	}
}

func TestRandomStringCoversAlphabet(t *testing.T) {
	// 2000 draws from 10 digits: the chance that one digit is missing is
	// about 10 * 0.9^2000, far below anything observable.
	s, err := RandomString(2000, Digits)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range Digits {
		if !strings.ContainsRune(s, c) {
			t.Fatalf("digit %q never drawn in 2000 tries", c)
		}
	}
	s2, err := RandomString(2000, Digits)
	if err != nil {
		t.Fatal(err)
	}
	if s == s2 {
		t.Fatal("two random strings are equal")
	}
}

func TestAlphabets(t *testing.T) {
	for name, a := range map[string]string{"Digits": Digits, "UpperAlnum": UpperAlnum, "PasswordChar": PasswordChar} {
		seen := map[rune]bool{}
		for _, c := range a {
			if seen[c] {
				t.Errorf("%s repeats %q (biases RandomString)", name, c)
			}
			seen[c] = true
			if c < 0x21 || c > 0x7e {
				t.Errorf("%s holds non-printable %q", name, c)
			}
		}
	}
	// Look-alike characters are left out of generated passwords.
	for _, c := range "l1IO0" {
		if strings.ContainsRune(PasswordChar, c) {
			t.Errorf("PasswordChar holds look-alike %q", c)
		}
	}
}

func FuzzSealOpen(f *testing.F) {
	f.Add("totp", []byte("JBSWY3DPEHPK3PXP"), []byte("alice"), []byte("alice"), 0)
	f.Add("totp", []byte(""), []byte(""), []byte("x"), -1)
	f.Add("session", []byte("data"), []byte("a"), []byte("a"), 20)
	k := testKey(f, 9)
	f.Fuzz(func(t *testing.T, purpose string, plaintext, aad, openAAD []byte, flip int) {
		sealed, err := k.Seal(purpose, plaintext, aad)
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		got, err := k.Open(purpose, sealed, aad)
		if err != nil || !bytes.Equal(got, plaintext) {
			t.Fatalf("round trip: got %q, %v", got, err)
		}
		if !bytes.Equal(aad, openAAD) {
			if _, err := k.Open(purpose, sealed, openAAD); err == nil {
				t.Fatal("Open with different aad succeeded")
			}
		}
		if flip >= 0 {
			b := append([]byte(nil), sealed...)
			b[flip%len(b)] ^= 0x80
			if _, err := k.Open(purpose, b, aad); err == nil {
				t.Fatal("Open of tampered value succeeded")
			}
		}
		// Open must not panic on arbitrary input.
		_, _ = k.Open(purpose, plaintext, aad)
	})
}
