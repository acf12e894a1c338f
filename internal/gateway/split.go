package gateway

import (
	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/settings"
)

// The split: what the gateway serves itself, from its own records, and
// what it forwards to the backend (GATEWAY.md, "The contract"). The
// gateway serves authentication and everything about credentials: API
// tokens, access hashes, sessions and single sign-on, two-factor
// authentication, passkeys, cPHulk and its lists, the session functions, version,
// and the tweak settings that govern those. Every other call is
// forwarded, the functions the gateway has no code for included: a
// function that exists locally in standalone mode (createacct, listaccts,
// Email::add_pop) is the backend's in gateway mode, since the accounts,
// mailboxes and domains are.

// localWHM are the WHM API 1 (and 0) functions the gateway serves.
var localWHM = map[string]bool{
	"version":    true,
	"accesshash": true,

	"api_token_create":      true,
	"api_token_list":        true,
	"api_token_update":      true,
	"api_token_revoke":      true,
	"api_token_get_details": true,
	"api_token_introspect":  true,

	"create_user_session": true,
	"list_sessions":       true,
	"kill_session":        true,

	"twofactorauth_policy_status":       true,
	"twofactorauth_enable_policy":       true,
	"twofactorauth_disable_policy":      true,
	"twofactorauth_generate_tfa_config": true,
	"twofactorauth_set_tfa_config":      true,
	"twofactorauth_remove_user_config":  true,
	"twofactorauth_get_user_configs":    true,
	"twofactorauth_get_issuer":          true,
	"twofactorauth_set_issuer":          true,

	"passkey_list":             true,
	"passkey_remove":           true,
	"passkey_rename":           true,
	"passkey_set_passwordless": true,

	"cphulk_status":                      true,
	"enable_cphulk":                      true,
	"disable_cphulk":                     true,
	"load_cphulk_config":                 true,
	"save_cphulk_config":                 true,
	"set_cphulk_config_key":              true,
	"create_cphulk_record":               true,
	"delete_cphulk_record":               true,
	"read_cphulk_records":                true,
	"get_cphulk_brutes":                  true,
	"get_cphulk_excessive_brutes":        true,
	"get_cphulk_user_brutes":             true,
	"get_cphulk_failed_logins":           true,
	"flush_cphulk_login_history":         true,
	"flush_cphulk_login_history_for_ips": true,
}

// localUAPIModules are the UAPI modules the gateway serves whole: the
// account's API tokens, its Webmail hand-offs, its two-factor settings
// and its passkeys.
var localUAPIModules = map[string]bool{
	"Tokens":        true,
	"Session":       true,
	"TwoFactorAuth": true,
	"Passkeys":      true,
}

// localSettings are the tweak settings of the gateway's own behaviour
// (how it authenticates, redirects and logs out); get_tweaksetting and
// set_tweaksetting with any other key are the backend's (server-ip, and
// the hundreds of cPanel's own).
var localSettings = map[string]bool{
	settings.AllowAccessHash:    true,
	settings.RequireSSL:         true,
	settings.CookieIPValidation: true,
	settings.LogoutRedirectURL:  true,
	settings.TwoFactorPolicy:    true,
	settings.APIPolicy:          true,
}

// Serves reports whether the gateway serves a call itself rather than
// forwarding it: the one question the dispatch asks. fl is the flavour
// of the function called (a WHM-to-cPanel call's inner flavour, UAPI or
// cPanel API 2), module and fn its name, args its arguments (uapi_cpanel
// names its function in them, the tweak-setting functions their key).
func Serves(fl api.Flavour, module, fn string, args api.Args) bool {
	switch fl {
	case api.WHM1:
		switch fn {
		case "uapi_cpanel":
			return localUAPIModules[args.Get("cpanel.module")]
		case "get_tweaksetting", "set_tweaksetting":
			return localSettings[args.Get("key")]
		}
		return localWHM[fn]
	case api.UAPI:
		return localUAPIModules[module]
	}
	return false // cPanel API 2 has nothing about credentials
}
