package server

import "testing"

func TestHasQueryKey(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want bool
	}{
		{"session=abc", true},
		{"goto_uri=%2F&session=abc", true},
		{"session=", true},
		{"session", true},
		{"session=%zz", true}, // undecodable: still a redemption (which fails)
		{"sessions=abc", false},
		{"xsession=abc", false},
		{"goto_uri=session%3Dabc", false},
		{"", false},
	} {
		if got := hasQueryKey(tc.raw, "session"); got != tc.want {
			t.Errorf("hasQueryKey(%q) = %v, want %v", tc.raw, got, tc.want)
		}
	}
}
