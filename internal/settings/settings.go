// Package settings is the table of cpauth's tweak settings: their names,
// defaults and what values each accepts.
package settings

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"sort"

	"github.com/cpauth/cpauth/internal/store"
)

// Setting describes one tweak setting.
type Setting struct {
	Key     string
	Default string
	Help    string
	// Valid returns an error message for a bad value.
	Valid func(string) error
}

func boolean(v string) error {
	if v == "0" || v == "1" {
		return nil
	}
	return errors.New("must be 0 or 1")
}

func oneOf(vals ...string) func(string) error {
	return func(v string) error {
		for _, x := range vals {
			if v == x {
				return nil
			}
		}
		return fmt.Errorf("must be one of %v", vals)
	}
}

func urlOrEmpty(v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an http or https URL, or empty")
	}
	return nil
}

// serverAddr accepts an address clients can reach this server on, or
// empty (the address is then found: see ServerIP).
func serverAddr(v string) error {
	if v == "" {
		return nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil || a.Zone() != "" || a.IsUnspecified() || a.IsMulticast() {
		// A zone names an interface of this machine, and an unspecified or
		// multicast address names no one host: none is an answer a client
		// can connect to.
		return errors.New("must be an IPv4 or IPv6 address that clients connect to (such as 192.0.2.10 or 2001:db8::10), or empty")
	}
	return nil
}

// Keys of the settings other packages read.
const (
	AllowAccessHash    = "allow_deprecated_accesshash"
	RequireSSL         = "requiressl"
	CookieIPValidation = "cookieipvalidation"
	LogoutRedirectURL  = "logout_redirect_url"
	// TwoFactorPolicy is cPanel's Two-Factor Authentication security
	// policy: while it is off, two-factor configurations are kept but not
	// asked for (API tokens flagged require_otp excepted).
	TwoFactorPolicy = "SecurityPolicy::TwoFactorAuth"
	// APIPolicy is the "API requests" security policy extension: when on,
	// API calls authenticated by password need the two-factor code too
	// (X-CPANEL-OTP), as cPanel's SecurityPolicy::xml-api.
	APIPolicy = "SecurityPolicy::xml-api"
	// ServerIP is the address this server answers on, as the functions
	// that report an account's address give it (listaccts'
	// and accountsummary's ip, resolvedomainname, DomainInfo). Empty: the
	// configured listen address when it names one, else the first address
	// of this machine's interfaces that is not loopback (functions.Env).
	ServerIP = "server-ip"
	// RequirePasskeyRoot and RequirePasskeyResellers are the
	// phishing-resistant policy: root's (resellers') WHM logins need a
	// passkey as their second factor, and a TOTP code no longer completes
	// them.
	RequirePasskeyRoot      = "require_passkey_root"
	RequirePasskeyResellers = "require_passkey_resellers"
)

// All is every setting cpauth knows.
var All = []Setting{
	{AllowAccessHash, "1", "Allow API calls authenticated by a ~/.accesshash (Remote Access Key).", boolean},
	{RequireSSL, "0", "Redirect plain-HTTP requests to the service's TLS port (301).", boolean},
	{CookieIPValidation, "strict", "Tie sessions to the client address: strict, loose (same /24 or /64) or disabled.", oneOf("strict", "loose", "disabled")},
	{LogoutRedirectURL, "", "Where /logout/ redirects instead of showing the login page.", urlOrEmpty},
	{TwoFactorPolicy, "1", "Ask users who set up two-factor authentication for their code at login (0: keep their configurations but do not ask).", boolean},
	{APIPolicy, "0", "Apply the security policies (two-factor authentication) to API calls authenticated by password: they then need X-CPANEL-OTP.", boolean},
	{RequirePasskeyRoot, "0", "Root's WHM logins need a passkey (or security key): a two-factor code no longer completes them, and root's password no longer calls the WHM API (tokens and access hashes do). It can be turned on only while root has a passkey.", boolean},
	{RequirePasskeyResellers, "0", "Resellers' WHM logins need a passkey (or security key): a two-factor code no longer completes them, their passwords no longer call the WHM API, and a reseller without one is told to add one on cPanel first.", boolean},
	{ServerIP, "", "The address this server answers on, as listaccts, accountsummary, resolvedomainname and DomainInfo report it (empty: the listen address when it names one, else the first non-loopback address of this machine).", serverAddr},
}

// Lookup finds a setting by key.
func Lookup(key string) (Setting, bool) {
	for _, s := range All {
		if s.Key == key {
			return s, true
		}
	}
	return Setting{}, false
}

// Keys lists the known keys sorted.
func Keys() []string {
	out := make([]string, len(All))
	for i, s := range All {
		out[i] = s.Key
	}
	sort.Strings(out)
	return out
}

// Get returns the stored value of key, or its default.
func Get(ctx context.Context, st store.Store, key string) (string, error) {
	v, err := st.GetSetting(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		s, _ := Lookup(key)
		return s.Default, nil
	}
	return v, err
}
