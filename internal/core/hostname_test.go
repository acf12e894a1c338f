package core

import (
	"strings"
	"testing"
)

func TestValidHostname(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"single label", "myhost", true},
		{"dotted", "host.example.com", true},
		{"upper case", "Host.Example.COM", true},
		{"digits and hyphens", "web-01.example2.net", true},
		{"dotted quad is a name too", "192.0.2.1", true},
		{"63-character label", strings.Repeat("a", 63) + ".example", true},
		{"64-character label", strings.Repeat("a", 64) + ".example", false},
		{"253 characters", strings.Repeat(strings.Repeat("a", 63)+".", 3) + strings.Repeat("a", 61), true},
		{"254 characters", strings.Repeat(strings.Repeat("a", 63)+".", 3) + strings.Repeat("a", 62), false},
		{"empty", "", false},
		{"trailing dot", "host.example.com.", false},
		{"leading dot", ".example.com", false},
		{"empty label", "host..example", false},
		{"leading hyphen", "-host.example", false},
		{"trailing hyphen", "host-.example", false},
		{"underscore", "my_host", false},
		{"port", "host:2087", false},
		{"brackets", "[::1]", false},
		{"slash", "evil.example/x", false},
		{"at", "user@host", false},
		{"space", "a b", false},
		{"unicode", "bücher.example", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ValidHostname(tc.in); got != tc.ok {
				t.Errorf("ValidHostname(%q) = %v, want %v", tc.in, got, tc.ok)
			}
		})
	}
}
