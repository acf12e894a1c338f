package functions

import (
	"regexp"
	"strings"
	"testing"
)

func TestValidateUsername(t *testing.T) {
	tests := []struct {
		name, user string
		ok         bool
	}{
		{"simple", "bob", true},
		{"digits after letter", "bob2024", true},
		{"16 chars", "abcdefghijklmnop", true},
		{"17 chars", "abcdefghijklmnopq", false},
		{"empty", "", false},
		{"uppercase", "Bob", false},
		{"starts with digit", "1bob", false},
		{"starts with test", "testbob", false},
		{"reserved root", "root", false},
		{"reserved cpanel", "cpanel", false},
		{"dash", "bo-b", false},
		{"underscore", "bo_b", false},
		{"dot", "bo.b", false},
		{"unicode", "bób", false},
		{"control byte", "bo\nb", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := ValidateUsername(tc.user); (err == nil) != tc.ok {
				t.Fatalf("ValidateUsername(%q) = %v, want ok=%v", tc.user, err, tc.ok)
			}
		})
	}
}

func TestValidateDomain(t *testing.T) {
	tests := []struct {
		name, domain string
		ok           bool
	}{
		{"simple", "bob.test", true},
		{"subdomain", "a.b-c.example", true},
		{"no dot", "localhost", false},
		{"empty", "", false},
		{"leading dash", "-a.test", false},
		{"trailing dot label", "a..test", false},
		{"uppercase", "Bob.test", false},
		{"underscore", "a_b.test", false},
		{"long label", strings.Repeat("a", 64) + ".test", false},
		{"too long", strings.Repeat("a.", 127) + "test", false},
		{"slash", "a/b.test", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := ValidateDomain(tc.domain); (err == nil) != tc.ok {
				t.Fatalf("ValidateDomain(%q) = %v, want ok=%v", tc.domain, err, tc.ok)
			}
		})
	}
}

func TestValidateLocalPart(t *testing.T) {
	tests := []struct {
		name, local string
		ok          bool
	}{
		{"simple", "info", true},
		{"dots", "first.last", true},
		{"atext", "a!#$%&'*+-/=?^_`{|}~z", true},
		{"64 chars", strings.Repeat("a", 64), true},
		{"65 chars", strings.Repeat("a", 65), false},
		{"empty", "", false},
		{"leading dot", ".info", false},
		{"trailing dot", "info.", false},
		{"double dot", "in..fo", false},
		{"space", "in fo", false},
		{"quote", `"info"`, false},
		{"at", "in@fo", false},
		{"comma", "in,fo", false},
		{"control", "in\x00fo", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := ValidateLocalPart(tc.local); (err == nil) != tc.ok {
				t.Fatalf("ValidateLocalPart(%q) = %v, want ok=%v", tc.local, err, tc.ok)
			}
		})
	}
}

func TestValidatePassword(t *testing.T) {
	tests := []struct {
		name, pass string
		ok         bool
	}{
		{"simple", "S3cret-pass", true},
		{"unicode", "pässwörd", true},
		{"colon", "a:b", true},
		{"empty", "", false},
		{"newline", "a\nhasroot=1", false},
		{"nul", "a\x00b", false},
		{"too long", strings.Repeat("a", 1025), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := ValidatePassword(tc.pass); (err == nil) != tc.ok {
				t.Fatalf("ValidatePassword(%q) = %v, want ok=%v", tc.pass, err, tc.ok)
			}
		})
	}
}

func TestRemoveAllUnder(t *testing.T) {
	root := t.TempDir()
	for _, dir := range []string{root, root + "/..", "/tmp", root + "/../x"} {
		if err := removeAllUnder(dir, root); err == nil {
			t.Errorf("removeAllUnder(%q) succeeded", dir)
		}
	}
	if err := removeAllUnder(root+"/home/bob", root); err != nil {
		t.Errorf("removeAllUnder inside the data dir: %v", err)
	}
}

// validName agrees with the pattern it implements, for every input.
func FuzzValidName(f *testing.F) {
	re := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	for _, s := range []string{"", "get_user_information", "Variables", "_x", "9x", "a-b", "é", strings.Repeat("a", 64), strings.Repeat("a", 65), "a\n", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validName(s), re.MatchString(s); got != want {
			t.Errorf("validName(%q) = %v, the pattern says %v", s, got, want)
		}
	})
}
