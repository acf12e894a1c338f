package auth_test

import (
	"strings"
	"testing"

	"github.com/cpauth/cpauth/internal/auth"
)

func TestLoginName(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"email address, lower case", "info@bob.test", "info@bob.test"},
		{"email address, mixed case", "Info@Bob.TEST", "info@bob.test"},
		{"email address, upper case", "INFO@BOB.TEST", "info@bob.test"},
		{"unknown email address", "NoBody@Nowhere.Test", "nobody@nowhere.test"},
		{"account name as stored", "bob", "bob"},
		{"account name in another case: another name, as Lookup finds it", "Bob", "Bob"},
		{"root", "root", "root"},
		{"ROOT is not root", "ROOT", "ROOT"},
		{"empty", "", ""},
		{"only an at sign", "@", "@"},
		{"several at signs", "A@B@C", "a@b@c"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := auth.LoginName(tc.in); got != tc.want {
				t.Errorf("LoginName(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// Login names are attacker-chosen: whatever arrives, the canonical form is
// stable (canonicalising it again changes nothing) and an email address's
// is the lower-cased local part and domain that Lookup searches.
func FuzzLoginName(f *testing.F) {
	for _, s := range []string{"info@bob.test", "Info@Bob.TEST", "bob", "ROOT", "", "@", "\xff@X", "İ@x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := auth.LoginName(s)
		if again := auth.LoginName(c); again != c {
			t.Fatalf("LoginName(%q) = %q, but LoginName of that = %q", s, c, again)
		}
		local, domain, ok := strings.Cut(s, "@")
		if !ok {
			if c != s {
				t.Fatalf("LoginName(%q) = %q: an account name must stay as it is", s, c)
			}
			return
		}
		if want := strings.ToLower(local) + "@" + strings.ToLower(domain); c != want {
			t.Fatalf("LoginName(%q) = %q, want %q (what Lookup searches)", s, c, want)
		}
	})
}
