package settings

import "testing"

func TestServerAddr(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value string
		ok    bool
	}{
		{"empty: found at run time", "", true},
		{"IPv4", "192.0.2.10", true},
		{"IPv6", "2001:db8::10", true},
		{"IPv6 upper case", "2001:DB8::10", true},
		{"loopback", "127.0.0.1", true},
		{"IPv4-mapped", "::ffff:192.0.2.10", true},
		{"host name", "host.example.com", false},
		{"with a port", "192.0.2.10:2087", false},
		{"leading zeros", "192.000.002.010", false},
		{"CIDR", "192.0.2.0/24", false},
		{"unspecified IPv4", "0.0.0.0", false},
		{"unspecified IPv6", "::", false},
		{"multicast", "224.0.0.1", false},
		{"zone", "fe80::1%eth0", false},
		{"space", " 192.0.2.10", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ok := Lookup(ServerIP)
			if !ok {
				t.Fatal("server-ip is not a setting")
			}
			if err := s.Valid(tc.value); (err == nil) != tc.ok {
				t.Errorf("Valid(%q) = %v, want ok=%v", tc.value, err, tc.ok)
			}
		})
	}
}

// Every setting's default is a value it accepts.
func TestDefaultsValid(t *testing.T) {
	for _, s := range All {
		if err := s.Valid(s.Default); err != nil {
			t.Errorf("%s: default %q: %v", s.Key, s.Default, err)
		}
	}
}
