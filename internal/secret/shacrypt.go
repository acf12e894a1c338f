package secret

import (
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"strconv"
	"strings"
)

// SHA-crypt (Ulrich Drepper's SHA-256-crypt "$5$" and SHA-512-crypt "$6$",
// https://www.akkadia.org/drepper/SHA-crypt.txt), the format of Linux
// shadow files, written here so that a check allocates nothing per round:
// github.com/GehirnInc/crypt, which the tests still check this against,
// allocates the digest of every round (3.2 MB in 50,000 allocations per
// check at 50000 rounds), and under a flood of password guesses the
// garbage collector's work took a quarter to a third of what the other
// calls could have had (BENCHMARKS.md, "Password checks").

// The rounds bounds of the algorithm itself (cpauth's own, MinRounds and
// MaxRounds, are narrower).
const (
	shaRoundsDefault = 5000
	shaRoundsMin     = 1000
	shaRoundsMax     = 999_999_999
	shaSaltMax       = 16
)

// cryptAlphabet is crypt's base-64 alphabet.
const cryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// shaVariant is one of the two algorithms.
type shaVariant struct {
	prefix string
	new    func() hash.Hash
	size   int
	// order lists the digest's bytes in groups of three (B2, B1, B0) in
	// the order the specification encodes them; a last group of fewer
	// bytes is padded with -1 (a zero byte), and tail is how many
	// characters that group makes.
	order [][3]int
	tail  int
}

var (
	sha256Variant = &shaVariant{prefix: "$5$", new: sha256.New, size: sha256.Size, tail: 3, order: [][3]int{
		{0, 10, 20}, {21, 1, 11}, {12, 22, 2}, {3, 13, 23}, {24, 4, 14}, {15, 25, 5}, {6, 16, 26}, {27, 7, 17},
		{18, 28, 8}, {9, 19, 29}, {-1, 31, 30},
	}}
	sha512Variant = &shaVariant{prefix: "$6$", new: sha512.New, size: sha512.Size, tail: 2, order: [][3]int{
		{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4}, {47, 5, 26}, {6, 27, 48}, {28, 49, 7},
		{50, 8, 29}, {9, 30, 51}, {31, 52, 10}, {53, 11, 32}, {12, 33, 54}, {34, 55, 13}, {56, 14, 35}, {15, 36, 57},
		{37, 58, 16}, {59, 17, 38}, {18, 39, 60}, {40, 61, 19}, {62, 20, 41}, {-1, -1, 63},
	}}
)

// shaCrypt returns the SHA-crypt hash of password under settings: "$5$" or
// "$6$", then "rounds=N$" or nothing (5000 rounds), then the salt (up to
// the next '$', at most 16 bytes); what follows the salt, the hash of a
// whole stored hash, is ignored. ok is false for settings of neither
// algorithm.
func shaCrypt(password, settings string) (out string, ok bool) {
	var v *shaVariant
	switch {
	case strings.HasPrefix(settings, sha512Variant.prefix):
		v = sha512Variant
	case strings.HasPrefix(settings, sha256Variant.prefix):
		v = sha256Variant
	default:
		return "", false
	}
	rest := settings[len(v.prefix):]
	rounds, explicit := shaRoundsDefault, false
	if r, ok := strings.CutPrefix(rest, "rounds="); ok {
		num, after, found := strings.Cut(r, "$")
		n, err := strconv.ParseUint(num, 10, 64)
		if !found || err != nil {
			return "", false
		}
		rounds, explicit, rest = int(min(max(n, shaRoundsMin), shaRoundsMax)), true, after
	}
	salt, _, _ := strings.Cut(rest, "$")
	salt = salt[:min(len(salt), shaSaltMax)]
	sum := v.sum(password, salt, rounds)

	b := make([]byte, 0, len(v.prefix)+len("rounds=$")+10+len(salt)+1+(v.size*8+5)/6)
	b = append(b, v.prefix...)
	if explicit {
		b = append(b, "rounds="...)
		b = strconv.AppendInt(b, int64(rounds), 10)
		b = append(b, '$')
	}
	b = append(b, salt...)
	b = append(b, '$')
	for i, g := range v.order {
		var w uint32
		for _, j := range g {
			w <<= 8
			if j >= 0 {
				w |= uint32(sum[j])
			}
		}
		n := 4
		if i == len(v.order)-1 {
			n = v.tail
		}
		for range n {
			b = append(b, cryptAlphabet[w&0x3f])
			w >>= 6
		}
	}
	clear(sum[:])
	return string(b), true
}

// sum is the algorithm's digest after rounds rounds (steps 1 to 21 of the
// specification). Every buffer is of a fixed size: a round allocates
// nothing.
func (v *shaVariant) sum(password, salt string, rounds int) [sha512.Size]byte {
	h := v.new()
	var a, b, dp, ds [sha512.Size]byte
	size := v.size
	// The password and salt sequences of the rounds: P' and S'. Passwords
	// are at most MaxPasswordLen bytes, salts 16.
	var pbuf [MaxPasswordLen]byte
	var sbuf [shaSaltMax]byte
	defer clear(pbuf[:])
	defer clear(a[:size])
	defer clear(b[:size])
	defer clear(dp[:size])
	pw, sb := []byte(password), []byte(salt)
	defer clear(pw)

	// Digest B: password, salt, password.
	h.Write(pw)
	h.Write(sb)
	h.Write(pw)
	h.Sum(b[:0])

	// Digest A: password, salt, then B for as many bytes as the password
	// has, then for each bit of the password's length from the lowest, B
	// for a one and the password for a zero.
	h.Reset()
	h.Write(pw)
	h.Write(sb)
	for n := len(pw); n > 0; n -= size {
		h.Write(b[:min(n, size)])
	}
	for n := len(pw); n > 0; n >>= 1 {
		if n&1 != 0 {
			h.Write(b[:size])
		} else {
			h.Write(pw)
		}
	}
	h.Sum(a[:0])

	// P': the digest of the password repeated as many times as it has
	// bytes, repeated to the password's length.
	h.Reset()
	for range len(pw) {
		h.Write(pw)
	}
	h.Sum(dp[:0])
	p := pbuf[:len(pw)]
	for i := 0; i < len(p); i += size {
		copy(p[i:], dp[:size])
	}

	// S': the digest of the salt repeated 16 + A[0] times, repeated to the
	// salt's length.
	h.Reset()
	for range 16 + int(a[0]) {
		h.Write(sb)
	}
	h.Sum(ds[:0])
	s := sbuf[:len(sb)]
	copy(s, ds[:size])

	for i := range rounds {
		h.Reset()
		if i&1 != 0 {
			h.Write(p)
		} else {
			h.Write(a[:size])
		}
		if i%3 != 0 {
			h.Write(s)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i&1 != 0 {
			h.Write(a[:size])
		} else {
			h.Write(p)
		}
		h.Sum(a[:0])
	}
	return a
}
