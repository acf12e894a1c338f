package secret_test

// What one password check and one keyed hash cost, without HTTP around them
// (internal/server's benchmarks add the round trip). BENCHMARKS.md has the
// numbers:
//
//	go test -run='^$' -bench=. -benchtime=2s ./internal/secret

import (
	"strconv"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/cpauth/cpauth/internal/secret"
)

const benchPassword = "correct horse battery staple"

func BenchmarkHasherVerify(b *testing.B) {
	for _, rounds := range []int{5000, secret.DefaultRounds} {
		h, err := secret.NewHasher(rounds)
		if err != nil {
			b.Fatal(err)
		}
		hash, err := h.Hash(benchPassword)
		if err != nil {
			b.Fatal(err)
		}
		name := "sha512crypt/rounds=" + strconv.Itoa(rounds)
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if err := h.Verify(hash, benchPassword); err != nil {
					b.Fatal(err)
				}
			}
		})
		// The unknown-user path must cost the same as a real check.
		b.Run(name+"/dummy", func(b *testing.B) {
			for b.Loop() {
				_ = h.VerifyDummy(benchPassword)
			}
		})
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(benchPassword), 10)
	if err != nil {
		b.Fatal(err)
	}
	h, err := secret.NewHasher(0)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("bcrypt/cost=10", func(b *testing.B) {
		for b.Loop() {
			if err := h.Verify(string(hash), benchPassword); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkKeyMAC is the keyed hash behind access hashes (a 960-character
// secret plus the user name) and, later, API tokens.
func BenchmarkKeyMAC(b *testing.B) {
	k, err := secret.NewKey()
	if err != nil {
		b.Fatal(err)
	}
	ah, err := secret.NewAccessHash()
	if err != nil {
		b.Fatal(err)
	}
	data := []byte("root\x00" + ah)
	b.ReportAllocs()
	for b.Loop() {
		_ = k.MAC("accesshash", data)
	}
}

// BenchmarkKeyMACToken is the keyed hash of an API token as the token
// method computes it (user, NUL, 32 characters), and of a session id.
func BenchmarkKeyMACToken(b *testing.B) {
	k, err := secret.NewKey()
	if err != nil {
		b.Fatal(err)
	}
	tok, err := secret.RandomString(32, secret.UpperAlnum)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = k.MACStrings("apitoken", "root", "\x00", tok)
	}
}
