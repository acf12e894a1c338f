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
// CR/LF) and lowercases, as cPanel compares them.
func NormalizeAccessHash(s string) string {
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
	if len(s) != AccessHashLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
