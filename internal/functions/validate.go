package functions

import (
	"errors"
	"slices"
	"strings"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
)

// reservedUsernames are names cPanel refuses for accounts (system users,
// service names and words its tools treat specially).
var reservedUsernames = []string{
	"abuse", "adm", "admin", "all", "apache", "bin", "cpanel", "cpanelphpmyadmin", "cpanelphppgadmin",
	"cpanelroundcube", "cphulkd", "cpses", "daemon", "dovecot", "exim", "ftp", "games", "halt", "lp",
	"mail", "mailman", "mysql", "named", "news", "nobody", "operator", "postgres", "postmaster", "root",
	"shutdown", "sync", "sys", "system", "uucp", "virtfs", "webmaster", "whm", "www", "wwwdata",
}

// ValidateUsername applies cPanel's account-name rules.
func ValidateUsername(u string) error {
	switch {
	case u == "":
		return core.Errorf(core.KindInvalid, "The “username” parameter is required.")
	case len(u) > 16:
		return core.Errorf(core.KindInvalid, "The username “%s” is too long: it may have at most 16 characters.", clip(u))
	case u != strings.ToLower(u):
		return core.Errorf(core.KindInvalid, "The username “%s” is invalid: usernames are lowercase.", clip(u))
	case !(u[0] >= 'a' && u[0] <= 'z'):
		return core.Errorf(core.KindInvalid, "The username “%s” is invalid: it must begin with a letter.", clip(u))
	case strings.HasPrefix(u, "test"):
		return core.Errorf(core.KindInvalid, "The username “%s” is invalid: usernames may not begin with “test”.", clip(u))
	case slices.Contains(reservedUsernames, u):
		return core.Errorf(core.KindInvalid, "The username “%s” is reserved.", u)
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return core.Errorf(core.KindInvalid, "The username “%s” is invalid: it may contain only lowercase letters and digits.", clip(u))
		}
	}
	return nil
}

// ValidateDomain checks a fully qualified domain name (lowercased by the
// caller).
func ValidateDomain(d string) error {
	if d == "" {
		return core.Errorf(core.KindInvalid, "The “domain” parameter is required.")
	}
	bad := core.Errorf(core.KindInvalid, "“%s” is not a valid domain name.", clip(d))
	if len(d) > 253 || !strings.Contains(d, ".") {
		return bad
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return bad
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return bad
			}
		}
	}
	return nil
}

// atext is RFC 5322's set of characters allowed in a dot-atom besides
// letters and digits.
const atext = "!#$%&'*+-/=?^_`{|}~"

// ValidateLocalPart checks an email local part as an RFC 5322 dot-atom.
func ValidateLocalPart(l string) error {
	bad := core.Errorf(core.KindInvalid, "“%s” is not a valid email account name.", clip(l))
	if l == "" || len(l) > 64 || l[0] == '.' || l[len(l)-1] == '.' || strings.Contains(l, "..") {
		return bad
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || strings.IndexByte(atext, c) >= 0) {
			return bad
		}
	}
	return nil
}

// ValidatePassword refuses passwords cPanel could not store.
func ValidatePassword(p string) error {
	if p == "" {
		return core.Errorf(core.KindInvalid, "The “password” parameter is required.")
	}
	if len(p) > secret.MaxPasswordLen {
		// D31: refused before it is hashed (SHA-crypt's cost grows with
		// the length), and said why.
		return core.Errorf(core.KindInvalid, "The password is too long: it may have at most %d bytes.", secret.MaxPasswordLen)
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f {
			return core.Errorf(core.KindInvalid, "The password may not contain control characters.")
		}
	}
	return nil
}

// clip keeps error messages short when the input is long.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func required(name string) error {
	return core.Errorf(core.KindInvalid, "The “%s” parameter is required.", name)
}

func noSuchUser(u string) error {
	return core.Errorf(core.KindNotFound, "The user “%s” does not exist.", clip(u))
}

func fmtBool(b bool) int {
	if b {
		return 1
	}
	return 0
}

// validatePasswordHash refuses an imported password hash (Email::add_pop
// password_hash) that cpauth would not verify, saying why: an unknown
// format, or a cost outside D31's bounds. A costly hash is refused when it
// is imported, not when someone first tries a password against it: its
// cost is paid by whoever presents a password.
func validatePasswordHash(param, h string) error {
	switch err := secret.CheckHash(h); {
	case err == nil:
		return nil
	case errors.Is(err, secret.ErrHashCost):
		return core.Errorf(core.KindInvalid, "The “%s” parameter costs too much to check: a SHA-512-crypt or SHA-256-crypt hash must have %d to %d rounds (5000 when it names none), a bcrypt hash a cost of at most %d.",
			param, secret.MinRounds, secret.MaxRounds, secret.MaxBcryptCost)
	default:
		return core.Errorf(core.KindInvalid, "The “%s” parameter must be a SHA-512-crypt, SHA-256-crypt or bcrypt hash.", param)
	}
}
