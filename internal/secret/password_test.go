package secret

import (
	"errors"
	"strings"
	"testing"

	"github.com/GehirnInc/crypt/sha512_crypt"
	"golang.org/x/crypto/bcrypt"
)

// testRounds keeps SHA-512-crypt cheap in tests (the minimum the algorithm
// allows).
const testRounds = 1000

func newTestHasher(t testing.TB) *Hasher {
	t.Helper()
	h, err := NewHasher(testRounds)
	if err != nil {
		t.Fatalf("NewHasher(%d): %v", testRounds, err)
	}
	return h
}

// Hashes of "secret" made by other tools when this test was written, so that
// verification is checked against independent implementations:
//
//	openssl passwd -6 -salt saltsalt secret
//	openssl passwd -6 -salt 'rounds=1000$saltsalt' secret
//	openssl passwd -6 -salt 'rounds=5000001$saltsalt' secret   (above MaxRounds)
//	openssl passwd -6 -salt 'rounds=5000000$saltsalt' secret   (above MaxRounds; was accepted before D31)
//	openssl passwd -6 -salt 'rounds=1000001$saltsalt' secret   (one above MaxRounds)
//	openssl passwd -5 -salt 'rounds=1000001$saltsalt' secret
//	openssl passwd -5 -salt saltsalt secret
//	openssl passwd -5 -salt 'rounds=1000$saltsalt' secret
//	openssl passwd -6 -salt saltsalt 'pa:ss wörd'
//	htpasswd -bnBC 10 "" secret
//	htpasswd -bnBC 4 "" 'pa:ss wörd'
const (
	opensslSHA512         = "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1"
	opensslSHA512Rounds   = "$6$rounds=1000$saltsalt$LAV5VE5Y7w1d73x1mFNspYWUpazfmwv2SoepNXNKJ/otop/Zok96Hr8Q13LEv0DRY/x8v0/crpIjl8NJSAqXV/"
	opensslSHA512TooSlow  = "$6$rounds=5000001$saltsalt$l.b6eBf2eBhoyQCwqCwcy5Cm0M6sP7AYpHkwlWNegnoyqugrMnMr/ornxr7/.pWyUP5EyuunJ.NMO3e.xF6rX."
	opensslSHA512D31      = "$6$rounds=5000000$saltsalt$L.A0/uSS.wqLsJHWNVnD8bIjxI.mE0T8DBe48K6.JgEqKNAxAEBuxHOo/dp8YeUlkqrGGiOq029z/zs.pI8YP."
	opensslSHA512OverMax  = "$6$rounds=1000001$saltsalt$E4ZWl4Og.COmtRYGOfjB79vIV7qYCN0abQdsjjJA./ZoyJow6ZU5R1fUGJMeya5pvhD72HKHWsdhldu/ux/EY/"
	opensslSHA256OverMax  = "$5$rounds=1000001$saltsalt$UhPzs.XKz61GWtckkN3815IU7j46zl.TtP1qRtE9LQ4"
	opensslSHA256         = "$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA"
	opensslSHA256Rounds   = "$5$rounds=1000$saltsalt$eKLZU9t9OoPWrqOQsoTIKG0aYkZ5rGOoOQhiIvoSWX2"
	opensslSHA512Unicode  = "$6$saltsalt$C4RIzsZQIZD5.VEF3opYL3gpxyszQ5ZhzXA6QVzJgu5AFkGPMkRyVj.ao7MicoMK9iVtJ6ezaZhxMP8Sj1Ymr0"
	htpasswdBcrypt2y      = "$2y$10$Ybw7jl3Q.No..evjgr8o0.sGm4YQYnQhssaMLj1DY0VQgbd4T2hJW"
	htpasswdBcryptUnicode = "$2y$04$LNnrMyywwJwDUypP1YVyCeOLIR83dDyIA33dpCpcGWCsYHeFmbqhm"
)

// bcryptA is a $2a$ hash of "secret" made here with x/crypto/bcrypt; its $2y$
// and $2b$ twins are the same hash under another prefix (PHP and OpenBSD
// spellings), as found in shadow files.
func bcryptA(t testing.TB) string {
	t.Helper()
	b, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.HasPrefix(s, "$2a$") {
		t.Fatalf("x/crypto/bcrypt made %q, expected a $2a$ hash", s)
	}
	return s
}

func TestNewHasher(t *testing.T) {
	tests := []struct {
		name       string
		rounds     int
		wantRounds int
		wantErr    bool
	}{
		{"default", 0, DefaultRounds, false},
		{"minimum", 1000, 1000, false},
		{"maximum", MaxRounds, MaxRounds, false},
		{"below minimum", 999, 0, true},
		{"negative", -1, 0, true},
		{"above MaxRounds", MaxRounds + 1, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := NewHasher(tc.rounds)
			if (err != nil) != tc.wantErr {
				t.Fatalf("NewHasher(%d) err = %v, wantErr %v", tc.rounds, err, tc.wantErr)
			}
			if err == nil && h.Rounds != tc.wantRounds {
				t.Fatalf("Rounds = %d, want %d", h.Rounds, tc.wantRounds)
			}
		})
	}
}

func TestHashFormat(t *testing.T) {
	h := newTestHasher(t)
	a, err := h.Hash("secret")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a, "$6$rounds=1000$") {
		t.Fatalf("hash %q does not start with $6$rounds=1000$", a)
	}
	// $6$rounds=N$<16 salt chars>$<86 hash chars>
	parts := strings.Split(a, "$")
	if len(parts) != 5 || len(parts[3]) != 16 || len(parts[4]) != 86 {
		t.Fatalf("hash %q is not $6$rounds=N$salt16$hash86", a)
	}
	b, err := h.Hash("secret")
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two hashes of the same password are equal (salt not random)")
	}
	if !IsSupported(a) {
		t.Fatalf("IsSupported(%q) = false for our own hash", a)
	}
}

func TestHashDefaultRounds(t *testing.T) {
	if testing.Short() {
		t.Skip("default cost is slow-ish")
	}
	h, err := NewHasher(0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := h.Hash("secret")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s, "$6$rounds=50000$") {
		t.Fatalf("default hash %q does not start with $6$rounds=50000$", s)
	}
	if err := h.Verify(s, "secret"); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func TestHashTooLong(t *testing.T) {
	h := newTestHasher(t)
	if _, err := h.Hash(strings.Repeat("a", MaxPasswordLen+1)); err == nil {
		t.Fatal("Hash accepted a password longer than MaxPasswordLen")
	}
	s, err := h.Hash(strings.Repeat("a", MaxPasswordLen))
	if err != nil {
		t.Fatalf("Hash of a MaxPasswordLen password: %v", err)
	}
	if err := h.Verify(s, strings.Repeat("a", MaxPasswordLen)); err != nil {
		t.Fatalf("Verify of a MaxPasswordLen password: %v", err)
	}
}

func TestVerify(t *testing.T) {
	h := newTestHasher(t)
	own, err := h.Hash("secret")
	if err != nil {
		t.Fatal(err)
	}
	ownEmpty, err := h.Hash("")
	if err != nil {
		t.Fatal(err)
	}
	ownControl, err := h.Hash("se\r\ncret")
	if err != nil {
		t.Fatal(err)
	}
	a := bcryptA(t)
	y := "$2y$" + strings.TrimPrefix(a, "$2a$")
	b := "$2b$" + strings.TrimPrefix(a, "$2a$")
	htA := "$2a$" + strings.TrimPrefix(htpasswdBcrypt2y, "$2y$")
	long := strings.Repeat("x", MaxPasswordLen+1)

	tests := []struct {
		name     string
		hash     string
		password string
		ok       bool
	}{
		{"own hash right password", own, "secret", true},
		{"own hash wrong password", own, "Secret", false},
		{"own hash empty password", own, "", false},
		{"own hash password with suffix", own, "secret\x00", false},
		{"own hash of empty password", ownEmpty, "", true},
		{"own hash of empty password, non-empty given", ownEmpty, "x", false},
		{"own hash with CR/LF in password", ownControl, "se\r\ncret", true},
		{"own hash CR/LF stripped", ownControl, "secret", false},

		{"openssl sha512 right", opensslSHA512, "secret", true},
		{"openssl sha512 wrong", opensslSHA512, "secreT", false},
		{"openssl sha512 rounds=1000 right", opensslSHA512Rounds, "secret", true},
		{"openssl sha512 rounds=1000 wrong", opensslSHA512Rounds, "secrets", false},
		{"openssl sha512 non-ascii right", opensslSHA512Unicode, "pa:ss wörd", true},
		{"openssl sha512 non-ascii wrong", opensslSHA512Unicode, "pa:ss word", false},
		{"openssl sha256 right", opensslSHA256, "secret", true},
		{"openssl sha256 wrong", opensslSHA256, "secret ", false},
		{"openssl sha256 rounds=1000 right", opensslSHA256Rounds, "secret", true},
		{"openssl sha256 rounds=1000 wrong", opensslSHA256Rounds, "", false},
		{"sha512 hash under sha256 prefix", "$5$" + strings.TrimPrefix(opensslSHA512, "$6$"), "secret", false},
		{"sha512 rounds changed", strings.Replace(opensslSHA512Rounds, "rounds=1000", "rounds=1001", 1), "secret", false},

		{"rounds above MaxRounds", opensslSHA512TooSlow, "secret", false},
		// D31: right password, but the hash costs more than any hash may.
		{"5,000,000 rounds, right password", opensslSHA512D31, "secret", false},
		{"1,000,001 rounds, right password", opensslSHA512OverMax, "secret", false},
		{"sha256 1,000,001 rounds, right password", opensslSHA256OverMax, "secret", false},
		{"rounds below MinRounds", strings.Replace(opensslSHA512Rounds, "rounds=1000", "rounds=999", 1), "secret", false},
		{"bcrypt cost above MaxBcryptCost", "$2a$14$" + strings.TrimPrefix(a, "$2a$04$"), "secret", false},
		{"absurd rounds", "$6$rounds=99999999999999999999$saltsalt$x", "secret", false},
		{"zero rounds", "$6$rounds=0$saltsalt$x", "secret", false},
		{"non-numeric rounds", "$6$rounds=ten$saltsalt$x", "secret", false},

		{"htpasswd bcrypt $2y$ right", htpasswdBcrypt2y, "secret", true},
		{"htpasswd bcrypt $2y$ wrong", htpasswdBcrypt2y, "secret1", false},
		{"htpasswd bcrypt as $2a$ right", htA, "secret", true},
		{"htpasswd bcrypt non-ascii right", htpasswdBcryptUnicode, "pa:ss wörd", true},
		{"htpasswd bcrypt non-ascii wrong", htpasswdBcryptUnicode, "pa:ss word", false},
		{"x/crypto bcrypt $2a$ right", a, "secret", true},
		{"x/crypto bcrypt $2a$ wrong", a, "wrong", false},
		{"bcrypt rewritten $2y$ right", y, "secret", true},
		{"bcrypt rewritten $2y$ wrong", y, "wrong", false},
		{"bcrypt rewritten $2b$ right", b, "secret", true},
		{"bcrypt truncated", a[:len(a)-1], "secret", false},
		{"bcrypt unsupported $2x$", "$2x$" + strings.TrimPrefix(a, "$2a$"), "secret", false},
		{"bcrypt unsupported $2$", "$2$" + strings.TrimPrefix(a, "$2a$"), "secret", false},

		{"empty hash, empty password", "", "", false},
		{"empty hash", "", "secret", false},
		{"locked !", "!", "", false},
		{"locked !", "!", "secret", false},
		{"locked *", "*", "", false},
		{"locked *", "*", "secret", false},
		{"locked !!", "!!", "", false},
		{"locked ! before a good hash", "!" + opensslSHA512, "secret", false},
		{"locked * before a good hash", "*" + opensslSHA512, "secret", false},
		{"plain text hash", "secret", "secret", false},
		{"md5-crypt not supported", "$1$saltsalt$zkYyS.NDVh/9dUGHDdP4Q/", "secret", false},
		{"bare prefix $6$", "$6$", "", false},
		{"bare prefix $5$", "$5$", "secret", false},
		{"bare prefix $2a$", "$2a$", "secret", false},

		{"password over MaxPasswordLen", own, long, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := h.Verify(tc.hash, tc.password)
			if tc.ok && err != nil {
				t.Fatalf("Verify(%q, %q) = %v, want nil", tc.hash, tc.password, err)
			}
			if !tc.ok && !errors.Is(err, ErrMismatch) {
				t.Fatalf("Verify(%q, %q) = %v, want ErrMismatch", tc.hash, tc.password, err)
			}
		})
	}
}

// A password over MaxPasswordLen is refused even when the hash was made from
// exactly that password (we never spend SHA-crypt's length-dependent cost on
// it).
func TestVerifyTooLongMatchingPassword(t *testing.T) {
	h := newTestHasher(t)
	pw := strings.Repeat("p", MaxPasswordLen+1)
	hash, err := sha512_crypt.New().Generate([]byte(pw), []byte("$6$rounds=1000$saltsalt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Verify(hash, pw); !errors.Is(err, ErrMismatch) {
		t.Fatalf("Verify with an overlong password = %v, want ErrMismatch", err)
	}
	// The same hash check, one byte shorter, is a plain mismatch, not a guard.
	short := pw[:MaxPasswordLen]
	if err := h.Verify(hash, short); !errors.Is(err, ErrMismatch) {
		t.Fatalf("Verify with a different password = %v, want ErrMismatch", err)
	}
}

func TestVerifyDummy(t *testing.T) {
	h := newTestHasher(t)
	for _, pw := range []string{"", "secret", "dummy password for unknown users", strings.Repeat("x", MaxPasswordLen+1)} {
		t.Run(pw[:min(len(pw), 20)], func(t *testing.T) {
			if err := h.VerifyDummy(pw); !errors.Is(err, ErrMismatch) {
				t.Fatalf("VerifyDummy(%q) = %v, want ErrMismatch", pw, err)
			}
		})
	}
	// The dummy is a real hash at the hasher's cost, so the time spent matches.
	if !strings.HasPrefix(h.dummy, "$6$rounds=1000$") {
		t.Fatalf("dummy hash %q is not at the hasher's cost", h.dummy)
	}
}

func TestIsSupported(t *testing.T) {
	tests := []struct {
		name string
		hash string
		want bool
	}{
		{"sha512", opensslSHA512, true},
		{"sha512 rounds", opensslSHA512Rounds, true},
		{"sha256", opensslSHA256, true},
		{"bcrypt 2y", htpasswdBcrypt2y, true},
		{"bcrypt 2a", "$2a$" + strings.TrimPrefix(htpasswdBcrypt2y, "$2y$"), true},
		{"bcrypt 2b", "$2b$" + strings.TrimPrefix(htpasswdBcrypt2y, "$2y$"), true},
		{"bcrypt truncated", htpasswdBcrypt2y[:20], false},
		{"md5", "$1$saltsalt$zkYyS.NDVh/9dUGHDdP4Q/", false},
		{"empty", "", false},
		{"locked !", "!", false},
		{"locked *", "*", false},
		{"bad rounds", "$6$rounds=x$salt$hash", false},
		{"too short", "$6$salt", false},
		{"rounds at MaxRounds", "$6$rounds=1000000$saltsalt$x", true},
		{"rounds above MaxRounds (D31)", opensslSHA512D31, false},
		{"rounds one above MaxRounds", opensslSHA512OverMax, false},
		{"rounds at MinRounds", opensslSHA512Rounds, true},
		{"rounds below MinRounds", "$6$rounds=999$saltsalt$x", false},
		{"sha256 rounds above MaxRounds", opensslSHA256OverMax, false},
		{"bcrypt at MaxBcryptCost", "$2y$13$" + strings.TrimPrefix(htpasswdBcrypt2y, "$2y$10$"), true},
		{"bcrypt above MaxBcryptCost", "$2y$14$" + strings.TrimPrefix(htpasswdBcrypt2y, "$2y$10$"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsSupported(tc.hash); got != tc.want {
				t.Fatalf("IsSupported(%q) = %v, want %v", tc.hash, got, tc.want)
			}
		})
	}
}

func TestCheckHash(t *testing.T) {
	tests := []struct {
		name string
		hash string
		want error
	}{
		{"sha512 default rounds", opensslSHA512, nil},
		{"sha512 rounds=1000", opensslSHA512Rounds, nil},
		{"sha256", opensslSHA256, nil},
		{"bcrypt", htpasswdBcrypt2y, nil},
		{"5,000,000 rounds (D31)", opensslSHA512D31, ErrHashCost},
		{"1,000,001 rounds", opensslSHA512OverMax, ErrHashCost},
		{"999 rounds", "$6$rounds=999$saltsalt$x", ErrHashCost},
		{"bcrypt cost 14", "$2y$14$" + strings.TrimPrefix(htpasswdBcrypt2y, "$2y$10$"), ErrHashCost},
		{"md5-crypt", "$1$saltsalt$zkYyS.NDVh/9dUGHDdP4Q/", ErrHashFormat},
		{"plain text", "secret", ErrHashFormat},
		{"locked", "!", ErrHashFormat},
		{"bad rounds", "$6$rounds=x$salt$hash", ErrHashFormat},
		{"bcrypt truncated", htpasswdBcrypt2y[:20], ErrHashFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := CheckHash(tc.hash); !errors.Is(got, tc.want) {
				t.Fatalf("CheckHash(%q) = %v, want %v", tc.hash, got, tc.want)
			}
		})
	}
}

func TestNeedsRehash(t *testing.T) {
	h := newTestHasher(t) // 1000 rounds
	own, err := h.Hash("secret")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		hash string
		want bool
	}{
		{"own hash", own, false},
		{"sha512 at the hasher's rounds, shorter salt", opensslSHA512Rounds, false},
		{"sha512 at the default 5000 rounds", opensslSHA512, true},
		{"sha512 at more rounds", "$6$rounds=50000$saltsalt$x", true},
		{"sha256 at the hasher's rounds", opensslSHA256Rounds, true},
		{"bcrypt", htpasswdBcrypt2y, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := h.NeedsRehash(tc.hash); got != tc.want {
				t.Fatalf("NeedsRehash(%q) = %v, want %v", tc.hash, got, tc.want)
			}
		})
	}
	// No rounds named is glibc's 5000: a hasher of 5000 keeps such a hash.
	h5, err := NewHasher(5000)
	if err != nil {
		t.Fatal(err)
	}
	if h5.NeedsRehash(opensslSHA512) {
		t.Error("a 5000-round hasher re-hashes a hash of the implicit 5000 rounds")
	}
}

func TestShaRounds(t *testing.T) {
	tests := []struct {
		name   string
		hash   string
		rounds int
		ok     bool
	}{
		{"default", "$6$salt$hash", 5000, true},
		{"explicit", "$6$rounds=1000$salt$hash", 1000, true},
		{"large", "$6$rounds=5000000$salt$hash", 5_000_000, true},
		{"zero", "$6$rounds=0$salt$hash", 0, false},
		{"negative", "$6$rounds=-5$salt$hash", 0, false},
		{"overflow", "$6$rounds=99999999999999999999$salt$hash", 0, false},
		{"empty rounds", "$6$rounds=$salt$hash", 0, false},
		{"too few fields", "$6$salt", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := shaRounds(tc.hash)
			if ok != tc.ok || (ok && r != tc.rounds) {
				t.Fatalf("shaRounds(%q) = %d, %v; want %d, %v", tc.hash, r, ok, tc.rounds, tc.ok)
			}
		})
	}
}

// FuzzVerify checks that no stored hash or password makes Verify panic or
// report a match it should not. Costly hashes are skipped to keep the fuzzer
// fast; the cost limits themselves are tested above.
func FuzzVerify(f *testing.F) {
	for _, s := range []struct{ hash, pw string }{
		{opensslSHA512, "secret"},
		{opensslSHA512Rounds, "secret"},
		{opensslSHA256, "secret"},
		{opensslSHA256Rounds, "x"},
		{htpasswdBcryptUnicode, "pa:ss wörd"},
		{"$6$", ""},
		{"$5$rounds=1000$$", "a"},
		{"$2a$04$", "a"},
		{"!", ""},
		{"*", "secret"},
	} {
		f.Add(s.hash, s.pw)
	}
	h := newTestHasher(f)
	f.Fuzz(func(t *testing.T, hash, password string) {
		switch {
		case strings.HasPrefix(hash, "$5$"), strings.HasPrefix(hash, "$6$"):
			if r, ok := shaRounds(hash); ok && r > 10000 {
				t.Skip("too slow to fuzz")
			}
			if len(password) > 64 {
				t.Skip("too slow to fuzz")
			}
		case strings.HasPrefix(hash, "$2"):
			if c, err := bcrypt.Cost([]byte(hash)); err == nil && c > 6 {
				t.Skip("too slow to fuzz")
			}
		}
		err := h.Verify(hash, password)
		if err != nil && !errors.Is(err, ErrMismatch) {
			t.Fatalf("Verify returned %v, want nil or ErrMismatch", err)
		}
		if err == nil && !IsSupported(hash) {
			t.Fatalf("Verify matched %q, which IsSupported rejects", hash)
		}
		if err == nil && len(password) > MaxPasswordLen {
			t.Fatal("Verify matched an overlong password")
		}
	})
}
