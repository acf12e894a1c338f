// Package totp is RFC 6238 time-based one-time passwords as cPanel uses
// them (HMAC-SHA1, 30-second steps, 6 digits, 16-character base32 secrets),
// as pure functions: the caller passes the time.
package totp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"net/url"
	"strings"
	"time"
)

// Parameters of cPanel's codes (PROTOCOL.md 10.1).
const (
	// Period is the length of one time step.
	Period = 30 * time.Second
	// Digits is the length of a code.
	Digits = 6
	// SecretLen is the length of a secret: 16 base32 characters, 80 bits.
	SecretLen = 16
	// Skew is how many steps either side of the current one are accepted.
	Skew = 1
)

// ErrSecret reports a secret that is not 16 characters of base32.
var ErrSecret = errors.New("totp: the secret must be 16 characters of base32 (A-Z, 2-7)")

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewSecret returns a fresh secret: 10 random bytes in base32.
func NewSecret() (string, error) {
	var b [SecretLen * 5 / 8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return b32.EncodeToString(b[:]), nil
}

// NormalizeSecret checks a secret as a user or client may type it (lower
// case accepted) and returns it in upper case.
func NormalizeSecret(s string) (string, error) {
	if len(s) != SecretLen {
		return "", ErrSecret
	}
	s = strings.ToUpper(s)
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return "", ErrSecret
		}
	}
	return s, nil
}

// decode turns a normalised secret into the HMAC key.
func decode(secret string) ([]byte, error) {
	s, err := NormalizeSecret(secret)
	if err != nil {
		return nil, err
	}
	return b32.DecodeString(s)
}

// HOTP is RFC 4226's HOTP with HMAC-SHA1: the counter as 8 bytes big
// endian, dynamic truncation to 31 bits, the last digits decimal digits
// (1 to 9), zero-padded.
func HOTP(key []byte, counter uint64, digits int) string {
	if digits < 1 || digits > 9 {
		panic("totp: digits must be 1 to 9")
	}
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	v %= mod
	out := make([]byte, digits)
	for i := digits - 1; i >= 0; i-- {
		out[i] = byte('0' + v%10)
		v /= 10
	}
	return string(out)
}

// Step is the time step of t: floor(unix time / 30 s). Times before 1970
// are step 0 and earlier; they never match a real code.
func Step(t time.Time) int64 {
	u := t.Unix()
	p := int64(Period / time.Second)
	if u < 0 {
		return (u - p + 1) / p
	}
	return u / p
}

// CodeAt is the code of a secret for a time step.
func CodeAt(secret string, step int64) (string, error) {
	key, err := decode(secret)
	if err != nil {
		return "", err
	}
	return HOTP(key, uint64(step), Digits), nil
}

// Code is the code of a secret at time t.
func Code(secret string, t time.Time) (string, error) { return CodeAt(secret, Step(t)) }

// IsCode reports whether s has the form of a code: six ASCII digits.
func IsCode(s string) bool {
	if len(s) != Digits {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Match looks for the step whose code is code among the previous, current
// and next step at now, skipping steps at or before burnt (the last step
// already used; pass a very small number when none was). It returns the
// step that matched. Every candidate is compared in constant time.
//
// The caller burns the returned step (stores it as the new burnt) in the
// same transaction that accepts the code, so that a code never passes twice.
func Match(secret, code string, now time.Time, burnt int64) (int64, bool) {
	if !IsCode(code) {
		return 0, false
	}
	key, err := decode(secret)
	if err != nil {
		return 0, false
	}
	cur := Step(now)
	found, ok := int64(0), false
	for s := cur - Skew; s <= cur+Skew; s++ {
		if s < 0 {
			continue
		}
		eq := subtle.ConstantTimeCompare([]byte(HOTP(key, uint64(s), Digits)), []byte(code)) == 1
		if eq && s > burnt && !ok {
			found, ok = s, true
		}
	}
	return found, ok
}

// URI is the otpauth:// URI an authenticator app reads from the QR code
// (PROTOCOL.md 10.1): otpauth://totp/<issuer>:<account>?secret=...&issuer=...
// with issuer and account percent-encoded.
func URI(issuer, account, secret string) string {
	return "otpauth://totp/" + pathEscape(issuer) + ":" + pathEscape(account) +
		"?secret=" + secret + "&issuer=" + pathEscape(issuer)
}

// pathEscape percent-encodes everything but unreserved characters (spaces
// as %20, as cPanel's URIs have them).
func pathEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
