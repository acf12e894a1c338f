package functions

import (
	"net/netip"
	"testing"

	"github.com/cpauth/cpauth/internal/api"
)

func TestBindAddr(t *testing.T) {
	c := &api.Call{Remote: netip.MustParseAddr("::ffff:198.51.100.2")}
	for _, tc := range []struct {
		in, want string
		err      bool
	}{
		{"", "invalid IP", false},
		{"0", "invalid IP", false},
		{"1", "198.51.100.2", false},
		{"192.0.2.5", "192.0.2.5", false},
		{"2001:db8::1", "2001:db8::1", false},
		{"fe80::1%eth0", "", true},
		{"192.0.2.0/24", "", true},
		{"yes", "", true},
	} {
		got, err := bindAddr(c, tc.in, "bind_ip")
		if (err != nil) != tc.err || !tc.err && got.String() != tc.want {
			t.Errorf("bindAddr(%q) = %v, %v; want %s (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
	if _, err := bindAddr(&api.Call{}, "1", "bind_ip"); err == nil {
		t.Error("bind_ip=1 without a caller address was accepted")
	}
}

func TestLocaleAndApp(t *testing.T) {
	for s, ok := range map[string]bool{"": true, "en": true, "pt_br": true, "i_cpanel_snowmen": true, "x1234567890123456": false, "fr;": false, "fr\n": false} {
		if validLocale(s) != ok {
			t.Errorf("validLocale(%q) = %v", s, !ok)
		}
	}
	for s, ok := range map[string]bool{"Api_Tokens": true, "Email-Accounts": true, "": false, "../x": false, "a b": false} {
		if validAppKey(s) != ok {
			t.Errorf("validAppKey(%q) = %v", s, !ok)
		}
	}
}
