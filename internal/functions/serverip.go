package functions

import (
	"context"
	"net"
	"net/netip"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/settings"
)

// ServerIP is the address this server answers on, as the functions that
// report an account's address give it (listaccts' and accountsummary's
// ip, resolvedomainname, DomainInfo): the server-ip setting, or, while it
// is empty, the configured listen address when that names one address,
// else the first address of this machine's interfaces that is neither
// loopback nor link-local (IPv4 before IPv6), else 127.0.0.1. cpauth gives
// every account the server's one address, as a cPanel server without
// dedicated addresses does.
func (e *Env) ServerIP(ctx context.Context) (string, error) {
	v, err := settings.Get(ctx, e.Store, settings.ServerIP)
	if err != nil {
		return "", core.Internal(err)
	}
	if a, err := netip.ParseAddr(v); err == nil {
		// set_tweaksetting took it in any form ParseAddr reads; clients
		// get one spelling of it.
		return a.Unmap().String(), nil
	}
	return defaultServerIP(e.Listen, net.InterfaceAddrs), nil
}

// defaultServerIP is ServerIP without the setting. The interfaces are
// asked only when the listen address does not name one address; a
// failure to list them leaves loopback, which is always true of a
// server that answers at all.
func defaultServerIP(listen string, interfaceAddrs func() ([]net.Addr, error)) string {
	if a, err := netip.ParseAddr(listen); err == nil && a.Zone() == "" && !a.IsUnspecified() {
		return a.Unmap().String()
	}
	addrs, err := interfaceAddrs()
	if err != nil {
		return "127.0.0.1"
	}
	var v6 string
	for _, x := range addrs {
		n, ok := x.(*net.IPNet)
		if !ok {
			continue
		}
		a, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		a = a.Unmap()
		if a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() || a.IsMulticast() {
			continue
		}
		if a.Is4() {
			return a.String()
		}
		if v6 == "" {
			v6 = a.String()
		}
	}
	if v6 != "" {
		return v6
	}
	return "127.0.0.1"
}
