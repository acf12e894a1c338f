package functions

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/store"
)

// Absolute URLs (D29). The requiressl redirect, single sign-on URLs and
// the Webmail hand-off's hostname are made from the request's Host header,
// which the client chooses: left as it is, a request with a forged Host
// would get a link (a one-time login among them) to another site. So a
// Host is used only when it names this server, and every place that
// builds such a URL asks ServerHost.

// gethostname answers this server's configured host name (config
// hostname), never the request's Host: that is the caller's choice, and
// what clients ask gethostname for is the name the server calls itself.
func (e *Env) gethostname(ctx context.Context, c *api.Call) (*api.Result, error) {
	return &api.Result{Data: map[string]any{"hostname": e.hostname()}}, nil
}

// ServerHost is the host an absolute URL made for a request points at: the
// host part of its Host header (without the port; the caller adds the
// service's) when NamesServer says it names this server, else the
// configured host name. It may look a domain up in the store: it serves
// the requests that build a URL, never every API call.
func (e *Env) ServerHost(ctx context.Context, hostHeader string) string {
	if h := requestHost(hostHeader); h != "" {
		ok, err := e.NamesServer(ctx, h)
		if err != nil && e.Log != nil {
			// The configured name is always right, so a store failure
			// costs the caller nothing but the name it used.
			e.Log.Warn("checking whether a Host names this server", "host", clip(h), "error", err.Error())
		}
		if ok {
			return h
		}
	}
	return e.hostname()
}

// NamesServer reports whether host, a host name or address as requestHost
// returns it (lower case, no port or brackets), names this server: its
// configured host name, localhost, an address of this machine (loopback or
// a local interface's), or a domain of one of its accounts.
func (e *Env) NamesServer(ctx context.Context, host string) (bool, error) {
	if host == "" {
		return false, nil
	}
	if host == "localhost" || strings.EqualFold(host, e.hostname()) {
		return true, nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Zone() == "" && localAddr(a), nil
	}
	if ValidateDomain(host) != nil {
		return false, nil // no account's domain: nothing to look up
	}
	_, err := e.Store.GetDomain(ctx, host)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	}
	return false, err
}

// requestHost is the host part of a request's Host header when it is a
// plain name or address ("" otherwise), lower case and without the port:
// what a URL may point at, if it names this server.
func requestHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.ToLower(strings.Trim(h, "[]"))
	if a, err := netip.ParseAddr(h); err == nil && a.Zone() == "" {
		return a.Unmap().String()
	}
	if core.ValidHostname(h) {
		return h
	}
	return ""
}

// localAddr reports whether a is loopback or an address of a local
// interface.
func localAddr(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsLoopback() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, x := range addrs {
		if n, ok := x.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == a {
				return true
			}
		}
	}
	return false
}
