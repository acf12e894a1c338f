package secret

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
)

// Access hash geometry, as cPanel's mkaccesshash writes it.
const (
	AccessHashLines   = 30
	AccessHashLineLen = 32
	AccessHashLen     = AccessHashLines * AccessHashLineLen // 960
)

// NewAccessHash returns a fresh 960-character lowercase hex access hash.
func NewAccessHash() (string, error) {
	b := make([]byte, AccessHashLen/2)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// AccessHashFile renders a hash in the ~/.accesshash file format: 30 lines of
// 32 hex characters, each ending in a newline.
func AccessHashFile(hash string) string {
	var b strings.Builder
	for i := 0; i < len(hash); i += AccessHashLineLen {
		end := min(i+AccessHashLineLen, len(hash))
		b.WriteString(hash[i:end])
		b.WriteByte('\n')
	}
	return b.String()
}

// NormalizeAccessHash removes all whitespace (the file's newlines, a client's
// CR/LF) and lowercases, as cPanel compares them. A hash sent as clients
// send it, on one line in lower case, is returned as it is, after one
// pass over its bytes and without allocating (every access-hash request
// normalises its header).
func NormalizeAccessHash(s string) string {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' || c == ' ' || c == '\t' || c >= 'A' && c <= 'Z' || c >= 0x80 {
			break
		}
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, i, len(s))
	copy(b, s[:i])
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\r' || c == '\n' || c == ' ' || c == '\t':
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		case c >= 0x80:
			// Beyond ASCII, Unicode's case mapping (never a hash, but
			// normalised as it always was).
			return normalizeSlow(s)
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

// normalizeSlow is NormalizeAccessHash for text beyond ASCII.
func normalizeSlow(s string) string {
	return strings.ToLower(strings.Map(func(r rune) rune {
		switch r {
		case '\r', '\n', ' ', '\t':
			return -1
		}
		return r
	}, s))
}

// IsAccessHash reports whether s (normalised) looks like an access hash.
func IsAccessHash(s string) bool {
	return len(s) == AccessHashLen && isLowerHex(s)
}

// ParseAccessHash is NormalizeAccessHash and IsAccessHash together: the
// normalised form of s and whether it is an access hash. A hash as clients
// send it (one line, lower case) takes a single pass and no allocation.
func ParseAccessHash(s string) (string, bool) {
	if len(s) == AccessHashLen && isLowerHex(s) {
		return s, true
	}
	if len(s) < AccessHashLen {
		return s, false // normalising only removes bytes: too short to be one
	}
	n := NormalizeAccessHash(s)
	return n, IsAccessHash(n)
}

// isLowerHex reports whether s is all [0-9a-f].
func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
