package functions

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/cpauth/cpauth/internal/settings"
	"github.com/cpauth/cpauth/internal/store"
)

func ipNet(s string) net.Addr {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	n.IP = ip
	return n
}

func TestDefaultServerIP(t *testing.T) {
	loopback := []net.Addr{ipNet("127.0.0.1/8"), ipNet("::1/128")}
	for _, tc := range []struct {
		name   string
		listen string
		addrs  []net.Addr
		err    error
		want   string
	}{
		{name: "listen address", listen: "192.0.2.7", addrs: []net.Addr{ipNet("198.51.100.1/24")}, want: "192.0.2.7"},
		{name: "listen on loopback", listen: "127.0.0.1", addrs: []net.Addr{ipNet("198.51.100.1/24")}, want: "127.0.0.1"},
		{name: "listen IPv6", listen: "2001:db8::7", want: "2001:db8::7"},
		{name: "listen IPv4-mapped", listen: "::ffff:192.0.2.7", want: "192.0.2.7"},
		{name: "all interfaces: first IPv4", listen: "", addrs: append(loopback, ipNet("fe80::1/64"), ipNet("2001:db8::1/64"), ipNet("198.51.100.1/24"), ipNet("203.0.113.1/24")), want: "198.51.100.1"},
		{name: "0.0.0.0 is all interfaces", listen: "0.0.0.0", addrs: []net.Addr{ipNet("198.51.100.1/24")}, want: "198.51.100.1"},
		{name: ":: is all interfaces", listen: "::", addrs: []net.Addr{ipNet("198.51.100.1/24")}, want: "198.51.100.1"},
		{name: "a host name is not looked up", listen: "localhost", addrs: []net.Addr{ipNet("198.51.100.1/24")}, want: "198.51.100.1"},
		{name: "a zoned listen address names no address clients use", listen: "fe80::1%eth0", addrs: []net.Addr{ipNet("198.51.100.1/24")}, want: "198.51.100.1"},
		{name: "IPv6 only", addrs: append(loopback, ipNet("fe80::1/64"), ipNet("2001:db8::1/64"), ipNet("2001:db8::2/64")), want: "2001:db8::1"},
		{name: "link-local IPv4 skipped", addrs: []net.Addr{ipNet("169.254.1.1/16"), ipNet("10.0.0.5/8")}, want: "10.0.0.5"},
		{name: "only loopback", addrs: loopback, want: "127.0.0.1"},
		{name: "not an IPNet", addrs: []net.Addr{&net.IPAddr{IP: net.ParseIP("192.0.2.1")}}, want: "127.0.0.1"},
		{name: "no interfaces", err: errors.New("no netlink"), want: "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked := false
			got := defaultServerIP(tc.listen, func() ([]net.Addr, error) { asked = true; return tc.addrs, tc.err })
			if got != tc.want {
				t.Errorf("defaultServerIP(%q) = %q, want %q", tc.listen, got, tc.want)
			}
			if asked && tc.want == tc.listen {
				t.Error("the interfaces were listed although the listen address names one")
			}
		})
	}
}

// settingStore answers the server-ip setting.
type settingStore struct {
	store.Store
	value string // "" : not set
}

func (s settingStore) GetSetting(_ context.Context, key string) (string, error) {
	if key != settings.ServerIP || s.value == "" {
		return "", store.ErrNotFound
	}
	return s.value, nil
}

// The setting wins over the listen address, in one spelling.
func TestServerIPSetting(t *testing.T) {
	for _, tc := range []struct{ value, listen, want string }{
		{"192.0.2.10", "127.0.0.1", "192.0.2.10"},
		{"2001:DB8::10", "127.0.0.1", "2001:db8::10"},
		{"::ffff:192.0.2.10", "", "192.0.2.10"},
		{"", "127.0.0.1", "127.0.0.1"},
	} {
		e := &Env{Store: settingStore{value: tc.value}, Listen: tc.listen}
		got, err := e.ServerIP(context.Background())
		if err != nil || got != tc.want {
			t.Errorf("server-ip %q, listen %q: ServerIP = %q, %v; want %q", tc.value, tc.listen, got, err, tc.want)
		}
	}
}
