package hulk

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/cpauth/cpauth/internal/store"
)

// ParseRange normalises an address or CIDR range of the allow- and
// deny-lists: host bits cleared, IPv4-mapped IPv6 as IPv4; a single address
// is its /32 or /128.
func ParseRange(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return netip.Prefix{}, fmt.Errorf("“%s” is not a valid IP address or CIDR range.", clip(s))
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("“%s” is not a valid IP address or CIDR range.", clip(s))
		}
		if a := p.Addr(); a.Is4In6() {
			bits := p.Bits() - 96
			if bits < 0 {
				return netip.Prefix{}, fmt.Errorf("“%s” is not a valid IP address or CIDR range.", clip(s))
			}
			p = netip.PrefixFrom(a.Unmap(), bits)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("“%s” is not a valid IP address or CIDR range.", clip(s))
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ShowRange is how the API shows a stored range: a single address without
// its prefix length, as cPHulk lists them.
func ShowRange(cidr string) string {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return cidr
	}
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// ipSet answers "is this address in one of these ranges" for a list.
type ipSet struct {
	exact    map[netip.Addr]struct{}
	prefixes []netip.Prefix
}

func newIPSet(recs []store.HulkRecord, list string) ipSet {
	s := ipSet{exact: map[netip.Addr]struct{}{}}
	for _, r := range recs {
		if r.List != list {
			continue
		}
		p, err := netip.ParsePrefix(r.CIDR)
		if err != nil {
			continue
		}
		if p.IsSingleIP() {
			s.exact[p.Addr()] = struct{}{}
		} else {
			s.prefixes = append(s.prefixes, p)
		}
	}
	return s
}

func (s ipSet) contains(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	if _, ok := s.exact[a]; ok {
		return true
	}
	for _, p := range s.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (s ipSet) empty() bool { return len(s.exact) == 0 && len(s.prefixes) == 0 }

// AddrKey is what an address is counted and blocked as: itself for IPv4,
// its /64 for IPv6 (one IPv6 client commonly holds a whole /64).
func AddrKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// keyString is the stored form of an address key.
func keyString(k netip.Addr) string {
	if k.Is6() {
		return netip.PrefixFrom(k, 64).String()
	}
	return k.String()
}

// parseKey reads a stored address key back.
func parseKey(s string) (netip.Addr, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Addr(), true
	}
	a, err := netip.ParseAddr(s)
	return a, err == nil
}

// clip keeps attacker-chosen text short, and storable.
func clip(s string) string {
	c := storable(s, 64)
	if len(s) > 64 {
		c += "…"
	}
	return c
}
