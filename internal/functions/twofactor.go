package functions

import (
	"context"
	"errors"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/settings"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/totp"
)

// Two-factor authentication (PROTOCOL.md 10): WHM API 1 twofactorauth_*
// and UAPI TwoFactorAuth. A configuration is made only once a code proves
// that the user's app holds the secret (the secret of generate_* is not
// stored); that code's step is burnt, and ten single-use recovery codes
// are returned once. Replacing or removing a configuration takes a current
// code (or a recovery code) of it (D26), except for root (or a holder of
// "all") acting on another user, and the command line.

func (e *Env) registerTwoFactor(r *api.Registry) {
	r.Register(
		&api.Func{Flavour: api.WHM1, Name: "twofactorauth_policy_status", Access: api.AnyWHM, ReadOnly: true, Mints: api.MintNothing, Handler: e.tfaPolicyStatus},
		&api.Func{Flavour: api.WHM1, Name: "twofactorauth_enable_policy", Access: api.RootOnly, Mints: api.MintTwoFactor, Handler: e.tfaSetPolicy(true)},
		&api.Func{Flavour: api.WHM1, Name: "twofactorauth_disable_policy", Access: api.RootOnly, Mints: api.MintTwoFactor, Handler: e.tfaSetPolicy(false)},
		&api.Func{Flavour: api.WHM1, Name: "twofactorauth_generate_tfa_config", Access: api.AnyWHM, ReadOnly: true, Mints: api.MintNothing, Handler: e.tfaGenerateWHM},
		&api.Func{Flavour: api.WHM1, Name: "twofactorauth_set_tfa_config", Access: api.AnyWHM, Mints: api.MintTwoFactor, Handler: e.tfaSetWHM},
		&api.Func{Flavour: api.WHM1, Name: "twofactorauth_remove_user_config", Access: api.AnyWHM, Mints: api.MintTwoFactor, Handler: e.tfaRemoveWHM},
		&api.Func{Flavour: api.WHM1, Name: "twofactorauth_get_user_configs", Access: api.AnyWHM, ReadOnly: true, Mints: api.MintNothing, Handler: e.tfaGetUserConfigs},
		&api.Func{Flavour: api.WHM1, Name: "twofactorauth_get_issuer", Access: api.AnyWHM, ReadOnly: true, Mints: api.MintNothing, Handler: e.tfaGetIssuer},
		&api.Func{Flavour: api.WHM1, Name: "twofactorauth_set_issuer", Access: api.AnyWHM, Mints: api.MintNothing, Handler: e.tfaSetIssuer},

		&api.Func{Flavour: api.UAPI, Module: "TwoFactorAuth", Name: "get_user_configuration", Access: api.Account, WebmailSafe: true, ReadOnly: true, Mints: api.MintNothing, Handler: e.tfaGetUAPI},
		&api.Func{Flavour: api.UAPI, Module: "TwoFactorAuth", Name: "generate_user_configuration", Access: api.Account, WebmailSafe: true, ReadOnly: true, Mints: api.MintNothing, Handler: e.tfaGenerateUAPI},
		&api.Func{Flavour: api.UAPI, Module: "TwoFactorAuth", Name: "set_user_configuration", Access: api.Account, WebmailSafe: true, Mints: api.MintTwoFactor, Handler: e.tfaSetUAPI},
		&api.Func{Flavour: api.UAPI, Module: "TwoFactorAuth", Name: "remove_user_configuration", Access: api.Account, WebmailSafe: true, Mints: api.MintTwoFactor, Handler: e.tfaRemoveUAPI},
	)
}

// Messages (PROTOCOL.md 10.2-10.4).
const (
	msgInvalidCode   = "The security code is invalid."
	msgNoCode        = "No security code specified."
	msgPolicyEnable  = "Failed to enable the Two-Factor Authentication security policy."
	msgPolicyDisable = "Failed to disable the Two-Factor Authentication security policy."
	failSetUAPI      = "Failed to set user configuration: "
	failRemoveUAPI   = "Failed to remove user configuration: "
)

func (e *Env) twoFactor() *auth.TwoFactor {
	if e.TwoFactor != nil {
		return e.TwoFactor
	}
	return &auth.TwoFactor{Store: e.Store, Key: e.Key, Now: e.Now}
}

// hostname is the configured host name: the default issuer, and the host
// of URLs whose request's Host does not name this server.
func (e *Env) hostname() string {
	if e.Hostname != "" {
		return e.Hostname
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "localhost"
}

// tfaUser is whose configuration a call is about: the login name and the
// accounts row it goes with.
type tfaUser struct {
	User, Account string
}

func ownTFAUser(p core.Principal) tfaUser {
	account := p.Account
	if p.Role == core.RoleRoot || account == "" {
		account = p.User
	}
	return tfaUser{User: p.User, Account: account}
}

// whmTarget is the user a WHM function acts on: the "user" argument
// (default the caller), which the caller must manage.
func (e *Env) whmTarget(ctx context.Context, c *api.Call) (tfaUser, error) {
	u := c.Args.Get("user")
	if u == "" || u == c.Principal.User {
		return ownTFAUser(c.Principal), nil
	}
	a, err := e.managedAccount(ctx, c.Principal, u)
	if err != nil {
		return tfaUser{}, err
	}
	return tfaUser{User: a.Username, Account: a.Username}, nil
}

// Issuer is the issuer of a user's codes: the first set of the account's
// own, its owning reseller's and root's (the system-wide one), else the
// server's hostname.
func (e *Env) Issuer(ctx context.Context, u tfaUser) (string, error) {
	cands := []string{u.Account}
	if a, err := e.Store.GetAccount(ctx, u.Account); err == nil && a.Owner != "" && a.Owner != "root" {
		cands = append(cands, a.Owner)
	}
	cands = append(cands, "root")
	for _, c := range cands {
		v, err := e.Store.GetTwoFactorIssuer(ctx, c)
		if err == nil && v != "" {
			return v, nil
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", core.Internal(err)
		}
	}
	return e.hostname(), nil
}

func (e *Env) systemIssuer(ctx context.Context) (string, error) {
	v, err := e.Store.GetTwoFactorIssuer(ctx, "root")
	switch {
	case err == nil && v != "":
		return v, nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return "", core.Internal(err)
	}
	return e.hostname(), nil
}

// TwoFactorSetup is a fresh secret and its otpauth:// URI.
type TwoFactorSetup struct {
	Secret, URI string
}

// GenerateTwoFactor makes a fresh secret for u; nothing is stored until
// SetTwoFactor confirms it.
func (e *Env) GenerateTwoFactor(ctx context.Context, u tfaUser) (TwoFactorSetup, error) {
	sec, err := totp.NewSecret()
	if err != nil {
		return TwoFactorSetup{}, core.Internal(err)
	}
	iss, err := e.Issuer(ctx, u)
	if err != nil {
		return TwoFactorSetup{}, err
	}
	return TwoFactorSetup{Secret: sec, URI: totp.URI(iss, u.User, sec)}, nil
}

// GenerateOwnTwoFactor is GenerateTwoFactor for the principal itself.
func (e *Env) GenerateOwnTwoFactor(ctx context.Context, p core.Principal) (TwoFactorSetup, error) {
	return e.GenerateTwoFactor(ctx, ownTFAUser(p))
}

// setTwoFactor confirms secret with code and stores the configuration; it
// returns the recovery codes. A configuration that exists is replaced only
// with a current code (or recovery code) of it, current (D26). A session
// that made the call is two-factor verified from then on: it has just
// given a right code.
func (e *Env) setTwoFactor(ctx context.Context, c *api.Call, u tfaUser, sec, code, current string) ([]string, error) {
	if code == "" {
		return nil, core.Errorf(core.KindInvalid, msgNoCode)
	}
	norm, err := totp.NormalizeSecret(sec)
	if err != nil {
		return nil, core.Errorf(core.KindInvalid, "The secret must be 16 characters of base32 (A–Z and 2–7), as generate_user_configuration makes it.")
	}
	att := auth.Attempt{Service: c.Principal.Service, Remote: c.Remote, User: u.User}
	if _, ok := totp.Match(norm, strings.TrimSpace(code), e.now(), -1); ok {
		// Only once the new code is right is the current one spent: a
		// wrong new code must not use up a recovery code. (A wrong one
		// goes on to Enroll, which counts it.)
		if err := e.proveCurrent(ctx, c, u, current); err != nil {
			return nil, err
		}
	}
	v, codes, err := e.twoFactor().Enroll(ctx, e.guard(), att, u.Account, sec, code)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, noSuchUser(u.User)
	case err != nil:
		return nil, core.Internal(err)
	case !v.OK():
		return nil, core.Errorf(core.KindInvalid, msgInvalidCode)
	}
	if c.Principal.Session != "" && c.Principal.User == u.User {
		_, err := e.Store.UpdateSession(ctx, c.Principal.Session, func(s store.Session) (store.Session, error) {
			s.TFAVerified = true
			return s, nil
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			e.Log.Error("marking the session two-factor verified", "user", u.User, "error", err.Error())
		}
	}
	e.Log.Info("two-factor authentication set up", "user", u.User, "actor", actorOf(c))
	return codes, nil
}

// overridesTwoFactor reports whether the caller may replace or remove u's
// configuration without a code of it (D26): root, or a holder of "all",
// acting on another user; and the command line, run as root.
func overridesTwoFactor(c *api.Call, u tfaUser) bool {
	caller := c.Principal
	if c.Caller != nil {
		caller = *c.Caller
	}
	if caller.Method == core.MethodLocal {
		return true
	}
	return caller.IsRootLike() && caller.User != u.User
}

// proveCurrent checks, when u has a configuration and the caller may not
// override it, that code is a current code (or an unused recovery code)
// of it: what replacing a configuration takes (D26).
func (e *Env) proveCurrent(ctx context.Context, c *api.Call, u tfaUser, code string) error {
	if overridesTwoFactor(c, u) {
		return nil
	}
	on, err := e.twoFactor().Configured(ctx, u.User)
	if err != nil {
		return core.Internal(err)
	}
	if !on {
		return nil
	}
	if code == "" {
		return core.Errorf(core.KindPermission, "“%s” has two-factor authentication set up: a current security code of it (current_tfa_token), or a recovery code, is required to replace it.", clip(u.User))
	}
	if none, err := e.checkCurrentCode(ctx, c, u, code); !none {
		return err
	}
	return nil // removed meanwhile: nothing to prove
}

// checkCurrentCode checks code, through the regulator, as a current (or
// recovery) code of u's configuration: nil when right; none reports that
// u has no configuration.
func (e *Env) checkCurrentCode(ctx context.Context, c *api.Call, u tfaUser, code string) (none bool, err error) {
	att := auth.Attempt{Service: c.Principal.Service, Remote: c.Remote, User: u.User}
	v, _, err := e.twoFactor().Verify(ctx, e.guard(), att, code, true)
	switch {
	case err != nil:
		return false, core.Internal(err)
	case v == auth.NotConfigured:
		return true, nil
	case !v.OK():
		return false, core.Errorf(core.KindInvalid, msgInvalidCode)
	}
	return false, nil
}

// removeTwoFactor removes u's configuration, with a current code (or a
// recovery code) of it unless the caller may override it.
func (e *Env) removeTwoFactor(ctx context.Context, c *api.Call, u tfaUser, code string) error {
	if !overridesTwoFactor(c, u) {
		if code == "" {
			return core.Errorf(core.KindPermission, "A current security code (tfa_token) is required to remove two-factor authentication.")
		}
		none, err := e.checkCurrentCode(ctx, c, u, code)
		switch {
		case none:
			return tfaNotConfigured(u.User)
		case err != nil:
			return err
		}
	}
	err := e.Store.DeleteTwoFactor(ctx, u.User)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return tfaNotConfigured(u.User)
	case err != nil:
		return core.Internal(err)
	}
	e.Log.Info("two-factor authentication removed", "user", u.User, "actor", actorOf(c))
	return nil
}

func tfaNotConfigured(u string) error {
	return core.Errorf(core.KindNotFound, "The user “%s” does not have two-factor authentication configured.", clip(u))
}

// TwoFactorStatus reports whether p has two-factor authentication set up,
// and its issuer.
func (e *Env) TwoFactorStatus(ctx context.Context, p core.Principal) (bool, string, error) {
	u := ownTFAUser(p)
	on, err := e.twoFactor().Configured(ctx, u.User)
	if err != nil {
		return false, "", core.Internal(err)
	}
	iss, err := e.Issuer(ctx, u)
	return on, iss, err
}

// ---------------------------------------------------------------------------
// WHM API 1.

func (e *Env) tfaPolicyStatus(ctx context.Context, c *api.Call) (*api.Result, error) {
	v, err := settings.Get(ctx, e.Store, settings.TwoFactorPolicy)
	if err != nil {
		return nil, core.Internal(err)
	}
	return &api.Result{Data: map[string]any{"is_enabled": fmtBool(v == "1")}}, nil
}

func (e *Env) tfaSetPolicy(on bool) api.Handler {
	return func(ctx context.Context, c *api.Call) (*api.Result, error) {
		v, msg := "0", msgPolicyDisable
		if on {
			v, msg = "1", msgPolicyEnable
		}
		if err := e.Store.SetSetting(ctx, settings.TwoFactorPolicy, v); err != nil {
			return nil, &core.Error{Kind: core.KindInternal, Msg: msg, Err: err}
		}
		e.Log.Info("two-factor authentication policy", "enabled", on, "actor", actorOf(c))
		return &api.Result{}, nil
	}
}

func (e *Env) tfaGenerateWHM(ctx context.Context, c *api.Call) (*api.Result, error) {
	u, err := e.whmTarget(ctx, c)
	if err != nil {
		return nil, err
	}
	s, err := e.GenerateTwoFactor(ctx, u)
	if err != nil {
		return nil, err
	}
	return &api.Result{Data: map[string]any{"secret": s.Secret, "otpauth_str": s.URI}}, nil
}

func (e *Env) tfaSetWHM(ctx context.Context, c *api.Call) (*api.Result, error) {
	u, err := e.whmTarget(ctx, c)
	if err != nil {
		return nil, err
	}
	codes, err := e.setTwoFactor(ctx, c, u, c.Args.Get("secret"), c.Args.Get("tfa_token"), c.Args.Get("current_tfa_token"))
	if err != nil {
		return nil, err
	}
	return &api.Result{Data: map[string]any{"success": 1, "recovery_codes": codes}}, nil
}

func (e *Env) tfaRemoveWHM(ctx context.Context, c *api.Call) (*api.Result, error) {
	users, err := c.Args.MultiAtMost("user", MaxNamesPerCall)
	if err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, core.Errorf(core.KindInvalid, "No users specified.")
	}
	failed := map[string]any{}
	modified := []string{}
	for _, name := range users {
		var (
			u   tfaUser
			err error
		)
		switch {
		case name == c.Principal.User:
			u = ownTFAUser(c.Principal)
		case !c.Principal.IsRootLike():
			// Resellers remove only their own (with a code): another
			// user's second factor is that user's to give up.
			err = core.Errorf(core.KindPermission, "Only root may remove the two-factor authentication of another user.")
		default:
			u, err = e.tfaUserByName(ctx, name)
		}
		if err == nil {
			err = e.removeTwoFactor(ctx, c, u, c.Args.Get("tfa_token"))
		}
		if err != nil {
			failed[name] = core.Message(err)
			continue
		}
		modified = append(modified, name)
	}
	return &api.Result{Data: map[string]any{"failed": failed, "users_modified": modified}}, nil
}

// tfaUserByName finds the account (or mailbox) a login name belongs to.
func (e *Env) tfaUserByName(ctx context.Context, name string) (tfaUser, error) {
	if local, domain, ok := strings.Cut(name, "@"); ok {
		m, err := e.Store.GetMailbox(ctx, local, domain)
		if err != nil {
			return tfaUser{}, noSuchUser(name)
		}
		return tfaUser{User: name, Account: m.Account}, nil
	}
	if _, err := e.account(ctx, name); err != nil {
		return tfaUser{}, err
	}
	return tfaUser{User: name, Account: name}, nil
}

func (e *Env) tfaGetUserConfigs(ctx context.Context, c *api.Call) (*api.Result, error) {
	p := c.Principal
	var accounts []store.Account
	if u := c.Args.Get("user"); u != "" {
		a, err := e.managedAccount(ctx, p, u)
		if err != nil {
			return nil, err
		}
		accounts = []store.Account{a}
	} else {
		all, err := e.Store.ListAccounts(ctx)
		if err != nil {
			return nil, core.Internal(err)
		}
		for _, a := range all {
			if manages(p, a) && (!a.IsRoot() || p.Role == core.RoleRoot) {
				accounts = append(accounts, a)
			}
		}
	}
	configured := map[string]bool{}
	list, err := e.Store.ListTwoFactor(ctx, "")
	if err != nil {
		return nil, core.Internal(err)
	}
	for _, tf := range list {
		configured[tf.Username] = true
	}
	sort.Slice(accounts, func(i, j int) bool { return accounts[i].Username < accounts[j].Username })
	out := make(map[string]any, len(accounts))
	for _, a := range accounts {
		out[a.Username] = map[string]any{"is_enabled": fmtBool(configured[a.Username]), "primary_domain": a.Domain}
	}
	return &api.Result{Data: out}, nil
}

func (e *Env) tfaGetIssuer(ctx context.Context, c *api.Call) (*api.Result, error) {
	iss, err := e.Issuer(ctx, ownTFAUser(c.Principal))
	if err != nil {
		return nil, err
	}
	sys, err := e.systemIssuer(ctx)
	if err != nil {
		return nil, err
	}
	return &api.Result{Data: map[string]any{"issuer": iss, "system_wide_issuer": sys}}, nil
}

var issuerRE = regexp.MustCompile(`^[ a-zA-Z0-9._-]{0,32}$`)

func (e *Env) tfaSetIssuer(ctx context.Context, c *api.Call) (*api.Result, error) {
	iss, ok := c.Args.Lookup("issuer")
	if !ok {
		return nil, required("issuer")
	}
	iss = strings.TrimSpace(iss)
	if !issuerRE.MatchString(iss) {
		return nil, core.Errorf(core.KindInvalid, "The issuer may hold at most 32 letters, digits, spaces, periods, underscores and hyphens.")
	}
	// Root's issuer is the system-wide one; a reseller's applies to its
	// accounts. An empty issuer returns to the default.
	if err := e.Store.SetTwoFactorIssuer(ctx, c.Principal.User, iss); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, noSuchUser(c.Principal.User)
		}
		return nil, core.Internal(err)
	}
	return &api.Result{}, nil
}

// ---------------------------------------------------------------------------
// UAPI TwoFactorAuth.

func (e *Env) tfaGetUAPI(ctx context.Context, c *api.Call) (*api.Result, error) {
	on, iss, err := e.TwoFactorStatus(ctx, c.Principal)
	if err != nil {
		return nil, err
	}
	if !on {
		return &api.Result{Data: map[string]any{"is_enabled": 0}}, nil
	}
	return &api.Result{Data: map[string]any{"is_enabled": 1, "issuer": iss}}, nil
}

func (e *Env) tfaGenerateUAPI(ctx context.Context, c *api.Call) (*api.Result, error) {
	s, err := e.GenerateOwnTwoFactor(ctx, c.Principal)
	if err != nil {
		return nil, err
	}
	return &api.Result{Data: map[string]any{"secret": s.Secret, "otpauth_str": s.URI}}, nil
}

func (e *Env) tfaSetUAPI(ctx context.Context, c *api.Call) (*api.Result, error) {
	codes, err := e.setTwoFactor(ctx, c, ownTFAUser(c.Principal), c.Args.Get("secret"), c.Args.Get("tfa_token"), c.Args.Get("current_tfa_token"))
	if err != nil {
		return nil, prefixed(failSetUAPI, err)
	}
	return &api.Result{Data: map[string]any{"tfa_configured": 1, "recovery_codes": codes}}, nil
}

func (e *Env) tfaRemoveUAPI(ctx context.Context, c *api.Call) (*api.Result, error) {
	if err := e.removeTwoFactor(ctx, c, ownTFAUser(c.Principal), c.Args.Get("tfa_token")); err != nil {
		return nil, prefixed(failRemoveUAPI, err)
	}
	return &api.Result{Data: map[string]any{"tfa_removed": 1}}, nil
}

// SetOwnTwoFactor is set_user_configuration for the pages (which offer it
// only while none is set up: replacing one takes removing it first).
func (e *Env) SetOwnTwoFactor(ctx context.Context, c *api.Call, sec, code string) ([]string, error) {
	return e.setTwoFactor(ctx, c, ownTFAUser(c.Principal), sec, code, "")
}

// RemoveOwnTwoFactor is remove_user_configuration for the pages.
func (e *Env) RemoveOwnTwoFactor(ctx context.Context, c *api.Call, code string) error {
	return e.removeTwoFactor(ctx, c, ownTFAUser(c.Principal), code)
}
