package functions

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/store"
)

// API tokens (PROTOCOL.md section 4): WHM API 1 api_token_* for root's and
// resellers' WHM tokens, UAPI Tokens::* for a cPanel account's own tokens.
// The token itself is returned once, by create, and never stored or logged:
// the store keeps auth.TokenMAC of it.

// ACLManageTokens is the WHM privilege the api_token_* functions need.
const ACLManageTokens = "manage-api-tokens"

// Token limits.
const (
	TokenLength       = 32
	MaxTokenWhitelist = 100
)

// MaxNamesPerCall bounds the names one call may list (token_name of
// api_token_revoke, user of twofactorauth_remove_user_config, ip of the
// cPHulk record functions): each costs the call store work.
const MaxNamesPerCall = 1000

var tokenNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,50}$`)

func (e *Env) registerTokens(r *api.Registry) {
	whm := func(name string, readOnly bool, m api.Mint, h api.Handler) *api.Func {
		return &api.Func{Flavour: api.WHM1, Name: name, Access: api.NeedACL, ACL: ACLManageTokens, ReadOnly: readOnly, Mints: m, Handler: h}
	}
	u := func(name string, readOnly bool, m api.Mint, h api.Handler) *api.Func {
		return &api.Func{Flavour: api.UAPI, Module: "Tokens", Name: name, Access: api.Account, ReadOnly: readOnly, Mints: m, Handler: h}
	}
	r.Register(
		whm("api_token_create", false, api.MintToken, e.apiTokenCreate),
		whm("api_token_list", true, api.MintNothing, e.apiTokenList),
		whm("api_token_update", false, api.MintToken, e.apiTokenUpdate),
		whm("api_token_revoke", false, api.MintNothing, e.apiTokenRevoke),
		whm("api_token_get_details", true, api.MintNothing, e.apiTokenGetDetails),
		whm("api_token_introspect", true, api.MintNothing, e.apiTokenIntrospect),
		u("create_full_access", false, api.MintToken, e.tokensCreateFullAccess),
		u("list", true, api.MintNothing, e.tokensList),
		// A new name changes nothing a token can do.
		u("rename", false, api.MintNothing, e.tokensRename),
		u("revoke", false, api.MintNothing, e.tokensRevoke),
	)
}

// ---------------------------------------------------------------------------
// Validation of what create and update read.

// ValidateTokenName applies cPanel's token-name rule.
func ValidateTokenName(name string) error {
	if !tokenNameRE.MatchString(name) {
		return core.Errorf(core.KindInvalid, "“%s” is not a valid API token name. A name has 1 to 50 characters, each a letter, a digit, an underscore (_) or a hyphen (-).", clip(name))
	}
	return nil
}

// NormalizeWhitelistEntry turns an allow-list entry into its stored form:
// an IPv4 address, an IPv6 address in full expanded form, or either as a
// CIDR range with the host bits cleared. IPv4-mapped IPv6 becomes IPv4.
func NormalizeWhitelistEntry(s string) (string, error) {
	bad := core.Errorf(core.KindInvalid, "“%s” is not a valid IP address or CIDR range.", clip(s))
	s = strings.TrimSpace(s)
	if s == "" || strings.Contains(s, "%") {
		return "", bad // empty, or an IPv6 zone: not a network address
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return "", bad
		}
		if a := p.Addr(); a.Is4In6() {
			if p.Bits() < 96 {
				return "", bad
			}
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		p = p.Masked()
		return addrText(p.Addr()) + fmt.Sprintf("/%d", p.Bits()), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", bad
	}
	return addrText(a.Unmap()), nil
}

func addrText(a netip.Addr) string {
	if a.Is6() {
		return a.StringExpanded()
	}
	return a.String()
}

// tokenOptions are what create and update may set; has* says whether the
// arguments named it.
type tokenOptions struct {
	acls          []string
	hasACLs       bool
	expires       time.Time // zero: never
	hasExpires    bool
	whitelist     []string // nil: any address
	hasWhitelist  bool
	readOnly      bool
	hasReadOnly   bool
	requireOTP    bool
	hasRequireOTP bool
}

func (o tokenOptions) any() bool {
	return o.hasACLs || o.hasExpires || o.hasWhitelist || o.hasReadOnly || o.hasRequireOTP
}

// parseTokenOptions reads acl (WHM tokens only), expires_at, whitelist_ip,
// readonly (cPanel tokens only) and require_otp. ACLs are checked against
// the owner's privileges in force.
func (e *Env) parseTokenOptions(args api.Args, owner core.Principal, service string) (tokenOptions, error) {
	var o tokenOptions
	var err error
	if service == store.TokenWHM {
		if o.acls, o.hasACLs, err = parseTokenACLs(args, owner); err != nil {
			return o, err
		}
	}
	if o.expires, o.hasExpires, err = parseTokenExpiry(args, e.now()); err != nil {
		return o, err
	}
	if o.whitelist, o.hasWhitelist, err = parseTokenWhitelist(args); err != nil {
		return o, err
	}
	if service == store.TokenCPanel {
		_, o.hasReadOnly = args.Lookup("readonly")
		o.readOnly = args.Bool("readonly")
	}
	_, o.hasRequireOTP = args.Lookup("require_otp")
	o.requireOTP = args.Bool("require_otp")
	return o, nil
}

// parseTokenACLs reads acl / acl-N. Each must be a known ACL that the owner
// holds now (a token never exceeds its creator).
func parseTokenACLs(args api.Args, owner core.Principal) ([]string, bool, error) {
	// A list longer than every ACL there is holds nothing more.
	given, err := args.MultiAtMost("acl", len(core.KnownACLs))
	if err != nil {
		return nil, true, err
	}
	if len(given) == 0 {
		return nil, false, nil
	}
	var acls, bad []string
	for _, n := range given {
		n = strings.TrimSpace(n)
		if n == "" || slices.Contains(acls, n) || slices.Contains(bad, clip(n)) {
			continue
		}
		if !core.IsKnownACL(n) || !owner.HasACL(n) {
			bad = append(bad, clip(n))
			continue
		}
		acls = append(acls, n)
	}
	if len(bad) > 0 {
		return nil, true, core.Errorf(core.KindInvalid, "Invalid or unauthorized ACL(s) specified: %s", strings.Join(bad, ", "))
	}
	if len(acls) == 0 {
		return nil, true, core.Errorf(core.KindInvalid, "Specify at least one ACL, or omit “acl” to give the token all of your privileges.")
	}
	if slices.Contains(acls, core.ACLAll) {
		return []string{core.ACLAll}, true, nil
	}
	sort.Strings(acls)
	return acls, true, nil
}

// defaultTokenACLs is every privilege the owner holds: ["all"] for root (and
// resellers with "all"), a reseller's own list otherwise.
func defaultTokenACLs(owner core.Principal) ([]string, error) {
	if owner.ACLs[core.ACLAll] {
		return []string{core.ACLAll}, nil
	}
	acls := owner.ACLs.Names()
	if len(acls) == 0 {
		return nil, core.Errorf(core.KindInvalid, "The user “%s” holds no WHM privileges to give an API token.", owner.User)
	}
	return acls, nil
}

// parseTokenExpiry reads expires_at: a Unix time in the future, or 0 for
// never. An empty value counts as absent.
func parseTokenExpiry(args api.Args, now time.Time) (time.Time, bool, error) {
	raw, ok := args.Lookup("expires_at")
	if !ok || strings.TrimSpace(raw) == "" {
		return time.Time{}, false, nil
	}
	n, _, err := args.Int("expires_at")
	if err != nil || n < 0 {
		return time.Time{}, true, core.Errorf(core.KindInvalid, "The “expires_at” parameter must be a Unix time (whole seconds), or 0 for a token that never expires.")
	}
	if n == 0 {
		return time.Time{}, true, nil
	}
	t := time.Unix(n, 0)
	if !t.After(now) {
		return time.Time{}, true, core.Errorf(core.KindInvalid, "The “%d” value must be a future date.", n)
	}
	return t, true, nil
}

// parseTokenWhitelist reads whitelist_ip / whitelist_ip-N: up to 100
// addresses or CIDR ranges, or the single word "any" for no restriction.
func parseTokenWhitelist(args api.Args) ([]string, bool, error) {
	raw, err := args.MultiAtMost("whitelist_ip", MaxTokenWhitelist)
	if err != nil {
		return nil, true, err
	}
	var given []string
	for _, v := range raw {
		if v = strings.TrimSpace(v); v != "" {
			given = append(given, v)
		}
	}
	if len(given) == 0 {
		return nil, false, nil
	}
	if slices.ContainsFunc(given, func(v string) bool { return strings.EqualFold(v, "any") }) {
		if len(given) > 1 {
			return nil, true, core.Errorf(core.KindInvalid, "“whitelist_ip=any” removes the IP address restriction; it cannot be combined with addresses.")
		}
		return nil, true, nil
	}
	if len(given) > MaxTokenWhitelist {
		return nil, true, core.Errorf(core.KindInvalid, "An API token may list at most %d IP addresses or ranges; %d were given.", MaxTokenWhitelist, len(given))
	}
	var out []string
	for _, v := range given {
		n, err := NormalizeWhitelistEntry(v)
		if err != nil {
			return nil, true, err
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, true, nil
}

// ---------------------------------------------------------------------------
// The operations, shared by the WHM and UAPI functions and the CLI.

// tokenOwner loads the token owner's account and checks it may hold tokens
// of the service: WHM tokens for root and resellers, cPanel tokens for
// cPanel accounts (resellers included).
func (e *Env) tokenOwner(ctx context.Context, user, service string) (store.Account, error) {
	a, err := e.account(ctx, user)
	if err != nil {
		return a, err
	}
	switch service {
	case store.TokenWHM:
		if !a.IsRoot() && !a.Reseller {
			return a, core.Errorf(core.KindInvalid, "The user “%s” is not root or a reseller: only they have WHM API tokens.", user)
		}
	case store.TokenCPanel:
		if a.IsRoot() {
			return a, core.Errorf(core.KindInvalid, "The user “root” has no cPanel account, and so no cPanel API tokens.")
		}
	default:
		return a, core.Errorf(core.KindInvalid, "Unknown API token service “%s”.", service)
	}
	return a, nil
}

// CreateToken creates an API token for owner (whose privileges in force
// bound a WHM token's ACLs) from the arguments acl, expires_at, whitelist_ip,
// readonly and require_otp, and returns it with the token itself. actor is
// who asked (for the accounting log); via is the principal of the request,
// whose API token (if one made the request) bounds the new one (D24).
func (e *Env) CreateToken(ctx context.Context, actor string, via, owner core.Principal, service, name string, args api.Args) (store.Token, string, error) {
	if name == "" {
		return store.Token{}, "", required(map[string]string{store.TokenWHM: "token_name", store.TokenCPanel: "name"}[service])
	}
	if err := ValidateTokenName(name); err != nil {
		return store.Token{}, "", err
	}
	a, err := e.tokenOwner(ctx, owner.User, service)
	if err != nil {
		return store.Token{}, "", err
	}
	if a.Suspended {
		return store.Token{}, "", core.Errorf(core.KindPermission, "The account “%s” is suspended: it cannot create API tokens.", a.Username)
	}
	o, err := e.parseTokenOptions(args, owner, service)
	if err != nil {
		return store.Token{}, "", err
	}
	if service == store.TokenWHM && !o.hasACLs {
		if o.acls, err = defaultTokenACLs(owner); err != nil {
			return store.Token{}, "", err
		}
	}
	// Every bound applies: a token left without an expiry (or an address
	// list, or OTP) is one that has none.
	o.hasExpires, o.hasWhitelist, o.hasRequireOTP = true, true, true
	if err := o.within(via); err != nil {
		return store.Token{}, "", err
	}
	raw, err := secret.RandomString(TokenLength, secret.UpperAlnum)
	if err != nil {
		return store.Token{}, "", core.Internal(err)
	}
	t := store.Token{
		Service: service, Username: a.Username, Name: name, MAC: auth.TokenMAC(e.Key, a.Username, raw),
		ACLs: o.acls, ExpiresAt: o.expires, WhitelistIPs: o.whitelist, ReadOnly: o.readOnly, RequireOTP: o.requireOTP,
		Created: e.now().Truncate(time.Second),
	}
	if err := e.storeNewToken(ctx, actor, t); err != nil {
		return store.Token{}, "", err
	}
	return t, raw, nil
}

// ImportAccessHashToken makes a legacy access hash (960 hex, any
// whitespace) a WHM API token of user, as cPanel's converter does: named
// accesshash-<epoch>, not limited by ACLs of its own (it carries every
// privilege its owner has, now and later, as the access hash did).
func (e *Env) ImportAccessHashToken(ctx context.Context, actor, user, hash string) (store.Token, error) {
	hash = secret.NormalizeAccessHash(hash)
	if !secret.IsAccessHash(hash) {
		return store.Token{}, core.Errorf(core.KindInvalid, "An access hash is 960 hexadecimal characters (30 lines of 32).")
	}
	a, err := e.tokenOwner(ctx, user, store.TokenWHM)
	if err != nil {
		return store.Token{}, err
	}
	mac := auth.TokenMAC(e.Key, user, hash)
	if t, err := e.Store.GetTokenByMAC(ctx, mac); err == nil {
		return store.Token{}, core.Errorf(core.KindExists, "This access hash is already the API token “%s”.", t.Name)
	}
	now := e.now().Truncate(time.Second)
	name := fmt.Sprintf("accesshash-%d", now.Unix())
	if _, err := e.Store.GetToken(ctx, store.TokenWHM, user, name); err == nil {
		suffix, err := secret.RandomString(8, secret.UpperAlnum)
		if err != nil {
			return store.Token{}, core.Internal(err)
		}
		name += "-" + suffix
	}
	t := store.Token{Service: store.TokenWHM, Username: a.Username, Name: name, MAC: mac, Created: now}
	return t, e.storeNewToken(ctx, actor, t)
}

func (e *Env) storeNewToken(ctx context.Context, actor string, t store.Token) error {
	switch err := e.Store.CreateToken(ctx, t); {
	case errors.Is(err, store.ErrExists):
		return conflictingToken(t.Name)
	case errors.Is(err, store.ErrNotFound):
		return noSuchUser(t.Username)
	case err != nil:
		return core.Internal(err)
	}
	e.Log.Info("API token created", "service", t.Service, "user", t.Username, "token_name", t.Name, "by", actor)
	e.accounting("CREATEAPITOKEN", actor, t.Username, t.Name)
	return nil
}

// within checks the options a call sets against the API token the call
// came through (D24): a token made or changed through a token expires no
// later, works from no address outside its list, and asks for the OTP when
// it does. ACLs are held within the caller's effective ones when they are
// parsed. Only what the call sets is checked: a change that leaves a bound
// as it was makes nothing stronger.
func (o tokenOptions) within(via core.Principal) error {
	b := via.Bounds
	if !b.Limited() {
		return nil
	}
	refuse := func(format string, args ...any) error {
		return core.Errorf(core.KindPermission, "%s %s", via.Credential(), fmt.Sprintf(format, args...))
	}
	if o.hasExpires && !b.Expires.IsZero() && (o.expires.IsZero() || o.expires.After(b.Expires)) {
		return refuse("expires at %d: a token made or changed through it must expire no later (give expires_at).", b.Expires.Unix())
	}
	if o.hasWhitelist && len(b.Addresses) > 0 {
		if len(o.whitelist) == 0 {
			return refuse("works only from %s: a token made or changed through it must have an address list within that (give whitelist_ip).", strings.Join(b.Addresses, ", "))
		}
		for _, a := range o.whitelist {
			if !rangeWithin(a, b.Addresses) {
				return refuse("works only from %s: “%s” is outside that list.", strings.Join(b.Addresses, ", "), a)
			}
		}
	}
	if o.hasRequireOTP && b.RequireOTP && !o.requireOTP {
		return refuse("requires a two-factor code: a token made or changed through it must require one too (give require_otp=1).")
	}
	return nil
}

// rangeWithin reports whether an allow-list entry (an address or a CIDR
// range, as NormalizeWhitelistEntry writes them) lies inside one of list's.
func rangeWithin(entry string, list []string) bool {
	p, ok := entryPrefix(entry)
	if !ok {
		return false
	}
	for _, l := range list {
		q, ok := entryPrefix(l)
		if ok && q.Addr().Is4() == p.Addr().Is4() && q.Bits() <= p.Bits() && q.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// entryPrefix reads an allow-list entry as a range: an address is the
// range of itself alone.
func entryPrefix(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		p = p.Masked()
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p.Addr())), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

// unmapBits is what a prefix length loses when its IPv4-mapped address is
// unmapped.
func unmapBits(a netip.Addr) int {
	if a.Is4In6() {
		return 96
	}
	return 0
}

// updateToken applies a rename and options to a token; via is the
// principal of the request, whose API token bounds what the options set.
func (e *Env) updateToken(ctx context.Context, actor string, via core.Principal, service, user, name, newName string, o tokenOptions) (store.Token, error) {
	if newName != "" {
		if err := ValidateTokenName(newName); err != nil {
			return store.Token{}, err
		}
	}
	if err := o.within(via); err != nil {
		return store.Token{}, err
	}
	t, err := e.Store.UpdateToken(ctx, service, user, name, func(t store.Token) (store.Token, error) {
		if newName != "" {
			t.Name = newName
		}
		if o.hasACLs {
			t.ACLs = o.acls
		}
		if o.hasExpires {
			t.ExpiresAt = o.expires
		}
		if o.hasWhitelist {
			t.WhitelistIPs = o.whitelist
		}
		if o.hasReadOnly {
			t.ReadOnly = o.readOnly
		}
		if o.hasRequireOTP {
			t.RequireOTP = o.requireOTP
		}
		return t, nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return t, noSuchToken(name)
	case errors.Is(err, store.ErrExists):
		return t, conflictingToken(newName)
	case err != nil:
		return t, core.Internal(err)
	}
	e.Log.Info("API token updated", "service", service, "user", user, "token_name", name, "new_name", newName, "by", actor)
	e.accounting("UPDATEAPITOKEN", actor, user, name)
	return t, nil
}

// RevokeTokens deletes the named tokens of a user; if any does not exist,
// none is deleted.
func (e *Env) RevokeTokens(ctx context.Context, actor, service, user string, names []string) error {
	for _, n := range names {
		if _, err := e.Store.GetToken(ctx, service, user, n); errors.Is(err, store.ErrNotFound) {
			return noSuchToken(n)
		} else if err != nil {
			return core.Internal(err)
		}
	}
	for _, n := range names {
		if err := e.revokeToken(ctx, actor, service, user, n); err != nil && !errors.Is(err, store.ErrNotFound) {
			return core.Internal(err)
		}
	}
	return nil
}

// revokeToken deletes one token; store.ErrNotFound when there was none.
func (e *Env) revokeToken(ctx context.Context, actor, service, user, name string) error {
	if err := e.Store.DeleteToken(ctx, service, user, name); err != nil {
		return err
	}
	e.Log.Info("API token revoked", "service", service, "user", user, "token_name", name, "by", actor)
	e.accounting("REVOKEAPITOKEN", actor, user, name)
	return nil
}

// findToken finds user's token by its text (a 960-hex access hash in any
// layout is normalised), of any service.
func (e *Env) findToken(ctx context.Context, user, token string) (store.Token, bool, error) {
	token = strings.TrimSpace(token)
	if h := secret.NormalizeAccessHash(token); secret.IsAccessHash(h) {
		token = h
	}
	t, err := e.Store.GetTokenByMAC(ctx, auth.TokenMAC(e.Key, user, token))
	if errors.Is(err, store.ErrNotFound) || (err == nil && t.Username != user) {
		return store.Token{}, false, nil
	}
	if err != nil {
		return store.Token{}, false, core.Internal(err)
	}
	return t, true, nil
}

// accounting appends cPanel's accounting.log line for a token change to
// <data-dir>/logs/accounting.log. The token itself never appears.
func (e *Env) accounting(event, actor, user, name string) {
	if e.DataDir == "" {
		return
	}
	dir := filepath.Join(e.DataDir, "logs")
	line := fmt.Sprintf("%s:%s:%s:%s:not-applicable:%s\n", e.now().Local().Format("Mon Jan _2 15:04:05 2006"), event, actor, user, name)
	err := os.MkdirAll(dir, 0o700)
	if err == nil {
		var f *os.File
		if f, err = os.OpenFile(filepath.Join(dir, "accounting.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
			_, err = f.WriteString(line) // one write: lines from concurrent calls do not interleave
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
	}
	if err != nil {
		e.Log.Error("writing the accounting log", "error", err.Error())
	}
}

// actorOf is who made a call: the WHM caller of a cPanel function run for
// it, or the principal.
func actorOf(c *api.Call) string {
	if c.Caller != nil {
		return c.Caller.User
	}
	return c.Principal.User
}

func noSuchToken(name string) error {
	return core.Errorf(core.KindNotFound, "The API token “%s” does not exist.", clip(name))
}

func conflictingToken(name string) error {
	return core.Errorf(core.KindExists, "A conflicting API token with the name “%s” already exists.", clip(name))
}

// prefixed puts cPanel's "The system failed to ..." before an error's
// message, keeping its kind and cause.
func prefixed(prefix string, err error) error {
	if err == nil {
		return nil
	}
	var ce *core.Error
	if !errors.As(err, &ce) {
		ce = core.Internal(err)
	}
	return &core.Error{Kind: ce.Kind, Msg: prefix + ce.Msg, Err: ce.Err}
}

const (
	failCreate = "The system failed to create the API token: "
	failList   = "The system failed to read the API tokens: "
	failUpdate = "The system failed to update the API token: "
	failRevoke = "The system failed to revoke the API token: "
)

// ---------------------------------------------------------------------------
// Output shapes.

func epochOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}

func stringOrNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// TokenACLs is a WHM token's ACL list as shown: sorted, ["all"] for a token
// not limited by its own list.
func TokenACLs(t store.Token) []string {
	if t.ACLs == nil {
		return []string{core.ACLAll}
	}
	out := slices.Clone(t.ACLs)
	sort.Strings(out)
	return out
}

func whitelistOut(t store.Token) any {
	if len(t.WhitelistIPs) == 0 {
		return nil
	}
	return slices.Clone(t.WhitelistIPs)
}

// whmTokenDetails is a WHM token as create, update and get_details show it.
func whmTokenDetails(t store.Token) map[string]any {
	return map[string]any{
		"name":          t.Name,
		"create_time":   t.Created.Unix(),
		"expires_at":    epochOrNil(t.ExpiresAt),
		"whitelist_ips": whitelistOut(t),
		"acls":          TokenACLs(t),
		"require_otp":   fmtBool(t.RequireOTP),
	}
}

// whmTokenListEntry is a WHM token as api_token_list shows it: acls is an
// object of every known ACL to 1 (in the token's list) or 0.
func whmTokenListEntry(t store.Token) map[string]any {
	m := whmTokenDetails(t)
	own := TokenACLs(t)
	acls := make(map[string]int, len(core.KnownACLs))
	for _, n := range core.KnownACLs {
		acls[n] = fmtBool(slices.Contains(own, n))
	}
	m["acls"] = acls
	m["last_used"] = epochOrNil(t.LastUsed)
	m["last_used_ip"] = stringOrNil(t.LastUsedIP)
	return m
}

// cpanelTokenListEntry is a cPanel token as Tokens::list shows it.
func cpanelTokenListEntry(t store.Token) map[string]any {
	m := map[string]any{
		"name":            t.Name,
		"create_time":     t.Created.Unix(),
		"expires_at":      epochOrNil(t.ExpiresAt),
		"has_full_access": 1,
		"features":        []string{},
		"whitelist_ips":   whitelistOut(t),
		"last_used":       epochOrNil(t.LastUsed),
		"last_used_ip":    stringOrNil(t.LastUsedIP),
	}
	if t.ReadOnly {
		m["readonly"] = 1
	}
	if t.RequireOTP {
		m["require_otp"] = 1
	}
	return m
}

// ---------------------------------------------------------------------------
// WHM API 1: the caller's own WHM tokens.

func (e *Env) apiTokenCreate(ctx context.Context, c *api.Call) (*api.Result, error) {
	t, raw, err := e.CreateToken(ctx, actorOf(c), c.Principal, c.Principal, store.TokenWHM, c.Args.Get("token_name"), c.Args)
	if err != nil {
		return nil, prefixed(failCreate, err)
	}
	data := whmTokenDetails(t)
	data["token"] = raw
	return &api.Result{Data: data}, nil
}

func (e *Env) apiTokenList(ctx context.Context, c *api.Call) (*api.Result, error) {
	ts, err := e.Store.ListTokens(ctx, store.TokenWHM, c.Principal.User)
	if err != nil {
		return nil, prefixed(failList, core.Internal(err))
	}
	tokens := make(map[string]any, len(ts))
	for _, t := range ts {
		tokens[t.Name] = whmTokenListEntry(t)
	}
	return &api.Result{Data: map[string]any{"tokens": tokens}}, nil
}

func (e *Env) apiTokenUpdate(ctx context.Context, c *api.Call) (*api.Result, error) {
	name := c.Args.Get("token_name")
	if name == "" {
		return nil, prefixed(failUpdate, required("token_name"))
	}
	o, err := e.parseTokenOptions(c.Args, c.Principal, store.TokenWHM)
	if err != nil {
		return nil, prefixed(failUpdate, err)
	}
	newName := strings.TrimSpace(c.Args.Get("new_name"))
	if newName == "" && !o.any() {
		return nil, core.Errorf(core.KindInvalid, "Specify a new name, updated ACLs, or IPs.")
	}
	if newName == name {
		newName = "" // renaming to itself changes nothing
	}
	t, err := e.updateToken(ctx, actorOf(c), c.Principal, store.TokenWHM, c.Principal.User, name, newName, o)
	if err != nil {
		return nil, prefixed(failUpdate, err)
	}
	return &api.Result{Data: whmTokenDetails(t)}, nil
}

func (e *Env) apiTokenRevoke(ctx context.Context, c *api.Call) (*api.Result, error) {
	given, err := c.Args.MultiAtMost("token_name", MaxNamesPerCall)
	if err != nil {
		return nil, prefixed(failRevoke, err)
	}
	var names []string
	seen := make(map[string]bool, len(given))
	for _, n := range given {
		if n = strings.TrimSpace(n); n != "" && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil, core.Errorf(core.KindInvalid, "Provide at least one “token_name” argument.")
	}
	if err := e.RevokeTokens(ctx, actorOf(c), store.TokenWHM, c.Principal.User, names); err != nil {
		return nil, prefixed(failRevoke, err)
	}
	return &api.Result{Data: map[string]any{}}, nil
}

// apiTokenGetDetails describes one of the caller's WHM tokens given its
// text; an unrecognised token gives no data (as cPanel). It does not count
// as a use of the token.
func (e *Env) apiTokenGetDetails(ctx context.Context, c *api.Call) (*api.Result, error) {
	token := c.Args.Get("token")
	if token == "" {
		return nil, required("token")
	}
	t, ok, err := e.findToken(ctx, c.Principal.User, token)
	if err != nil {
		return nil, err
	}
	if !ok || t.Service != store.TokenWHM {
		return &api.Result{}, nil
	}
	return &api.Result{Data: whmTokenDetails(t)}, nil
}

// apiTokenIntrospect (cpauth's own) says what a token would be allowed to do
// now, from the calling address, without using it: its effective ACLs (its
// own intersected with its owner's current ones), expiry, allowed networks.
// Root (or a reseller, for its accounts) may name another owner with user.
func (e *Env) apiTokenIntrospect(ctx context.Context, c *api.Call) (*api.Result, error) {
	token := c.Args.Get("token")
	if token == "" {
		return nil, required("token")
	}
	user := c.Args.Get("user")
	if user == "" {
		user = c.Principal.User
	}
	if user != c.Principal.User {
		if _, err := e.managedAccount(ctx, c.Principal, user); err != nil {
			return nil, err
		}
	}
	t, ok, err := e.findToken(ctx, user, token)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, core.Errorf(core.KindNotFound, "The system does not recognise that API token of “%s”.", clip(user))
	}
	now := e.now()
	a, aerr := e.Store.GetAccount(ctx, user)
	if aerr != nil && !errors.Is(aerr, store.ErrNotFound) {
		return nil, core.Internal(aerr)
	}
	expired := !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
	allowed := auth.AddressAllowed(t.WhitelistIPs, c.Remote)
	owner := auth.PrincipalFor(a)
	roleFits := aerr == nil
	var acls, effective any
	if t.Service == store.TokenWHM {
		roleFits = roleFits && (owner.Role == core.RoleRoot || owner.Role == core.RoleReseller)
		acls = TokenACLs(t)
		eff := []string{}
		if roleFits {
			eff = auth.EffectiveACLs(owner.ACLs, t.ACLs).Names()
		}
		effective = eff
	} else {
		roleFits = roleFits && (owner.Role == core.RoleCPanel || owner.Role == core.RoleReseller)
	}
	address := ""
	if c.Remote.IsValid() {
		address = c.Remote.Unmap().String()
	}
	data := map[string]any{
		"name":              t.Name,
		"user":              t.Username,
		"service":           t.Service,
		"create_time":       t.Created.Unix(),
		"acls":              acls,
		"effective_acls":    effective,
		"readonly":          fmtBool(t.ReadOnly),
		"require_otp":       fmtBool(t.RequireOTP),
		"expires_at":        epochOrNil(t.ExpiresAt),
		"expired":           fmtBool(expired),
		"whitelist_ips":     whitelistOut(t),
		"address":           address,
		"address_allowed":   fmtBool(allowed),
		"account_suspended": fmtBool(aerr == nil && a.Suspended),
		"usable":            fmtBool(!expired && allowed && roleFits && !a.Suspended),
		"last_used":         epochOrNil(t.LastUsed),
		"last_used_ip":      stringOrNil(t.LastUsedIP),
	}
	return &api.Result{Data: data}, nil
}

// ---------------------------------------------------------------------------
// UAPI Tokens: the calling cPanel account's own cPanel tokens.

func (e *Env) tokensCreateFullAccess(ctx context.Context, c *api.Call) (*api.Result, error) {
	owner := core.Principal{User: c.Principal.Account, Role: core.RoleCPanel, Account: c.Principal.Account}
	t, raw, err := e.CreateToken(ctx, actorOf(c), c.Principal, owner, store.TokenCPanel, c.Args.Get("name"), c.Args)
	if err != nil {
		return nil, err
	}
	return &api.Result{Data: map[string]any{"token": raw, "create_time": t.Created.Unix()}}, nil
}

func (e *Env) tokensList(ctx context.Context, c *api.Call) (*api.Result, error) {
	ts, err := e.Store.ListTokens(ctx, store.TokenCPanel, c.Principal.Account)
	if err != nil {
		return nil, core.Internal(err)
	}
	out := make([]map[string]any, 0, len(ts))
	for _, t := range ts {
		out = append(out, cpanelTokenListEntry(t))
	}
	return &api.Result{Data: out}, nil
}

func (e *Env) tokensRename(ctx context.Context, c *api.Call) (*api.Result, error) {
	name, newName := c.Args.Get("name"), c.Args.Get("new_name")
	switch {
	case name == "":
		return nil, required("name")
	case newName == "":
		return nil, required("new_name")
	case newName == name:
		return nil, core.Errorf(core.KindInvalid, "“new_name” must be a different value from “name”.")
	}
	if _, err := e.updateToken(ctx, actorOf(c), c.Principal, store.TokenCPanel, c.Principal.Account, name, newName, tokenOptions{}); err != nil {
		return nil, err
	}
	return &api.Result{}, nil
}

// tokensRevoke answers 1 whether the token was removed or did not exist, as
// the documentation says.
func (e *Env) tokensRevoke(ctx context.Context, c *api.Call) (*api.Result, error) {
	name := c.Args.Get("name")
	if name == "" {
		return nil, required("name")
	}
	if err := e.revokeToken(ctx, actorOf(c), store.TokenCPanel, c.Principal.Account, name); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, core.Internal(err)
	}
	return &api.Result{Data: 1}, nil
}
