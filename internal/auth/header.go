package auth

import (
	"encoding/base64"
	"errors"
	"strings"
)

// Scheme is the lowercased first word of an Authorization header.
type Scheme string

const (
	SchemeBasic  Scheme = "basic"
	SchemeWHM    Scheme = "whm"
	SchemeCPanel Scheme = "cpanel"
)

// Credential is a parsed Authorization header.
type Credential struct {
	Scheme Scheme
	User   string
	Secret string
}

// Errors of ParseAuthorization; they are logged, never shown to clients.
var (
	ErrNoCredential  = errors.New("no Authorization header")
	ErrBadScheme     = errors.New("unsupported Authorization scheme")
	ErrMalformed     = errors.New("malformed Authorization header")
	ErrControlBytes  = errors.New("control bytes in credential")
	ErrEmptySecret   = errors.New("empty user or secret")
	ErrBadBase64     = errors.New("bad base64 in Basic credential")
	ErrTooLongHeader = errors.New("credential too long")
)

// crlf removes CR and LF (access hashes arrive with and without them).
var crlf = strings.NewReplacer("\r", "", "\n", "")

// maxCredentialLen bounds what we are willing to look at; the largest real
// credential (an access hash with its 30 newlines) is under 1100 bytes.
const maxCredentialLen = 4096

// ParseAuthorization parses the Authorization header value per D1: the scheme
// is case-insensitive; the rest is split once on the first ':'. CR and LF are
// removed from a WHM secret (access hashes arrive with and without them); any
// other control byte anywhere is refused before anything is looked up.
func ParseAuthorization(h string) (Credential, error) {
	if h == "" {
		return Credential{}, ErrNoCredential
	}
	if len(h) > maxCredentialLen {
		return Credential{}, ErrTooLongHeader
	}
	word, rest, ok := strings.Cut(h, " ")
	if !ok {
		return Credential{}, ErrMalformed
	}
	scheme := Scheme(strings.ToLower(word))
	rest = strings.TrimLeft(rest, " ")
	switch scheme {
	case SchemeBasic:
		raw := strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, rest)
		dec, err := base64.StdEncoding.DecodeString(raw)
		if err != nil {
			dec, err = base64.RawStdEncoding.DecodeString(raw)
			if err != nil {
				return Credential{}, ErrBadBase64
			}
		}
		rest = string(dec)
	case SchemeWHM:
		if i := strings.IndexAny(rest, "\r\n"); i >= 0 {
			rest = rest[:i] + crlf.Replace(rest[i:])
		}
	case SchemeCPanel:
	default:
		return Credential{}, ErrBadScheme
	}
	user, secret, ok := strings.Cut(rest, ":")
	if !ok {
		return Credential{}, ErrMalformed
	}
	if hasControl(user) || hasControl(secret) {
		return Credential{}, ErrControlBytes
	}
	if user == "" || secret == "" {
		return Credential{}, ErrEmptySecret
	}
	return Credential{Scheme: scheme, User: user, Secret: secret}, nil
}

// hasControl reports whether s holds an ASCII control byte (C0 or DEL).
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// HasControl is hasControl for other packages that take credentials (login
// forms, session hand-offs).
func HasControl(s string) bool { return hasControl(s) }
