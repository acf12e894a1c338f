package functions

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/settings"
	"github.com/cpauth/cpauth/internal/store"
)

func (e *Env) registerWHM(r *api.Registry) {
	whm := func(name string, access api.Access, acl string, readOnly bool, h api.Handler) *api.Func {
		return &api.Func{Flavour: api.WHM1, Name: name, Access: access, ACL: acl, ReadOnly: readOnly, Mints: api.MintNothing, Handler: h}
	}
	minting := func(f *api.Func, m api.Mint) *api.Func { f.Mints = m; return f }
	r.Register(
		whm("version", api.AnyWHM, "", true, e.version),
		whm("gethostname", api.AnyWHM, "", true, e.gethostname),
		whm("applist", api.AnyWHM, "", true, func(ctx context.Context, c *api.Call) (*api.Result, error) {
			return e.applist(r, c)
		}),
		whm("myprivs", api.AnyWHM, "", true, e.myprivs),
		minting(whm("accesshash", api.AnyWHM, "", false, e.accesshash), api.MintAccessHash),
		minting(whm("createacct", api.NeedACL, "create-acct", false, e.createacct), api.MintAccount),
		whm("removeacct", api.NeedACL, "kill-acct", false, e.removeacct),
		whm("suspendacct", api.NeedACL, "suspend-acct", false, e.suspendacct),
		whm("unsuspendacct", api.NeedACL, "suspend-acct", false, e.unsuspendacct),
		whm("listaccts", api.NeedACL, "list-accts", true, e.listaccts),
		whm("accountsummary", api.NeedACL, "acct-summary", true, e.accountsummary),
		minting(whm("passwd", api.NeedACL, "passwd", false, e.passwd), api.MintPassword),
		whm("setupreseller", api.RootOnly, "", false, e.setupreseller),
		whm("unsetupreseller", api.RootOnly, "", false, e.unsetupreseller),
		whm("setacls", api.RootOnly, "", false, e.setacls),
		whm("listresellers", api.RootOnly, "", true, e.listresellers),
		whm("get_tweaksetting", api.RootOnly, "", true, e.getTweak),
		whm("set_tweaksetting", api.RootOnly, "", false, e.setTweak),
	)
}

// versionResult is every version call's answer, built once: the version
// is a constant. It is shared, so nothing may change it: its data has no
// state at all, and nothing changes a Result (one goes from its function
// to an encoder or an envelope, which only read it;
// TestVersionResultUnchanged).
var versionResult = &api.Result{Data: versionData{}}

// versionData is version's data, {"version": CPanelVersion}, written
// without building and sorting a map.
type versionData struct{}

const versionJSON = `{"version":"` + CPanelVersion + `"}`

// AppendJSON appends the data's JSON.
func (versionData) AppendJSON(dst []byte) []byte { return append(dst, versionJSON...) }

// MarshalJSON is AppendJSON for encoding/json (envelopes built as maps).
func (versionData) MarshalJSON() ([]byte, error) { return []byte(versionJSON), nil }

func (e *Env) version(ctx context.Context, c *api.Call) (*api.Result, error) {
	return versionResult, nil
}

// applist lists the WHM API 1 functions the caller may call, sorted.
func (e *Env) applist(r *api.Registry, c *api.Call) (*api.Result, error) {
	var names []string
	for _, f := range r.All() {
		if f.Flavour == api.WHM1 && f.Permitted(c.Principal) == nil {
			names = append(names, f.Name)
		}
	}
	return &api.Result{Data: map[string]any{"app": names}}, nil
}

func (e *Env) myprivs(ctx context.Context, c *api.Call) (*api.Result, error) {
	privs := make(map[string]int, len(core.KnownACLs))
	for _, acl := range core.KnownACLs {
		privs[acl] = fmtBool(c.Principal.HasACL(acl))
	}
	return &api.Result{Data: map[string]any{"privileges": []any{privs}}}, nil
}

// accessHashSeal is the sealing purpose of stored access hashes.
const accessHashSeal = "accesshash"

func (e *Env) accesshash(ctx context.Context, c *api.Call) (*api.Result, error) {
	user := c.Args.Get("user")
	if user == "" {
		user = c.Principal.User
	}
	if user != c.Principal.User && !c.Principal.IsRootLike() {
		return nil, core.Errorf(core.KindPermission, "You do not have access to load another user's accesshash")
	}
	hash, err := e.AccessHash(ctx, user, c.Args.Bool("generate"))
	if err != nil {
		return nil, err
	}
	return &api.Result{Data: map[string]any{"accesshash": hash}}, nil
}

// AccessHash returns user's access hash, generating a new one when generate
// is set. A new hash is also written to <data-dir>/home/<user>/.accesshash in
// cPanel's file format.
func (e *Env) AccessHash(ctx context.Context, user string, generate bool) (string, error) {
	a, err := e.account(ctx, user)
	if err != nil {
		return "", err
	}
	if !a.IsRoot() && !a.Reseller {
		return "", core.Errorf(core.KindInvalid, "User %s is not a reseller.", user)
	}
	if !generate {
		h, err := e.Store.GetAccessHash(ctx, user)
		if errors.Is(err, store.ErrNotFound) {
			return "", core.Errorf(core.KindNotFound, "No accesshash exists for %s", user)
		}
		if err != nil {
			return "", core.Internal(err)
		}
		plain, err := e.Key.Open(accessHashSeal, h.Sealed, []byte(user))
		if err != nil {
			return "", core.Internal(fmt.Errorf("opening sealed access hash: %w", err))
		}
		return string(plain), nil
	}
	hash, err := secret.NewAccessHash()
	if err != nil {
		return "", core.Internal(err)
	}
	return hash, e.SetAccessHash(ctx, user, hash)
}

// SetAccessHash stores hash (960 hex, any whitespace) as user's access hash
// and writes the .accesshash file.
func (e *Env) SetAccessHash(ctx context.Context, user, hash string) error {
	hash = secret.NormalizeAccessHash(hash)
	if !secret.IsAccessHash(hash) {
		return core.Errorf(core.KindInvalid, "An access hash is 960 hexadecimal characters (30 lines of 32).")
	}
	sealed, err := e.Key.Seal(accessHashSeal, []byte(hash), []byte(user))
	if err != nil {
		return core.Internal(err)
	}
	rec := store.AccessHash{Username: user, MAC: auth.AccessHashMAC(e.Key, user, hash), Sealed: sealed, Created: e.now()}
	if err := e.Store.SetAccessHash(ctx, rec); err != nil {
		return core.Internal(err)
	}
	if err := writePrivate(e.AccessHashFile(user), []byte(secret.AccessHashFile(hash))); err != nil {
		return core.Internal(fmt.Errorf("writing .accesshash: %w", err))
	}
	return nil
}

// AccessHashFile is the path of user's .accesshash file.
func (e *Env) AccessHashFile(user string) string {
	return e.homeDir(user) + "/.accesshash"
}

// maxWantFields bounds listaccts' want: more names than an account record
// has fields select nothing more.
const maxWantFields = 64

// accountInfo is one listaccts/accountsummary record; ip is the server's
// address (ServerIP), every account's.
func accountInfo(a store.Account, mailboxes int, ip string) map[string]any {
	reason := "not suspended"
	if a.Suspended {
		reason = a.SuspendReason
	}
	plan := a.Plan
	if plan == "" {
		plan = "default"
	}
	var suspendtime any
	return map[string]any{
		"user":           a.Username,
		"domain":         a.Domain,
		"email":          a.ContactEmail,
		"ip":             ip,
		"owner":          a.Owner,
		"plan":           plan,
		"suspended":      fmtBool(a.Suspended),
		"suspendreason":  reason,
		"suspendtime":    suspendtime,
		"is_locked":      0,
		"startdate":      a.Created.UTC().Format("06 Jan 02 15:04"),
		"unix_startdate": a.Created.Unix(),
		"theme":          "jupiter",
		"maxpop":         "unlimited",
		"mailbox_count":  mailboxes,
		"reseller":       fmtBool(a.Reseller),
	}
}

func (e *Env) listaccts(ctx context.Context, c *api.Call) (*api.Result, error) {
	all, err := e.Store.ListAccounts(ctx)
	if err != nil {
		return nil, core.Internal(err)
	}
	ip, err := e.ServerIP(ctx)
	if err != nil {
		return nil, err
	}
	match, err := searchMatcher(c.Args, ip)
	if err != nil {
		return nil, err
	}
	var want []string
	if w := c.Args.Get("want"); w != "" {
		if n := strings.Count(w, ",") + 1; n > maxWantFields {
			return nil, core.Errorf(core.KindInvalid, "The “want” argument names %d fields; an account has at most %d.", n, maxWantFields)
		}
		want = strings.Split(w, ",")
	}
	out := []map[string]any{}
	for _, a := range all {
		if a.IsRoot() || !manages(c.Principal, a) || !match(a) {
			continue
		}
		info := accountInfo(a, -1, ip)
		delete(info, "mailbox_count")
		if want != nil {
			for k := range info {
				if !slices.Contains(want, k) {
					delete(info, k)
				}
			}
		}
		out = append(out, info)
	}
	return &api.Result{Data: map[string]any{"acct": out}}, nil
}

// searchMatcher builds the filter of listaccts' search/searchtype/
// searchmethod. "regex" (the default) matches when the field contains a
// match of the pattern; "exact" compares whole values. Every account's ip
// is the server's, ip.
func searchMatcher(args api.Args, ip string) (func(store.Account) bool, error) {
	search, ok := args.Lookup("search")
	if !ok || search == "" {
		return func(store.Account) bool { return true }, nil
	}
	st := args.Get("searchtype")
	if st == "" {
		st = "user"
	}
	field := map[string]func(store.Account) string{
		"user":    func(a store.Account) string { return a.Username },
		"domain":  func(a store.Account) string { return a.Domain },
		"owner":   func(a store.Account) string { return a.Owner },
		"package": func(a store.Account) string { return a.Plan },
		"ip":      func(store.Account) string { return ip },
	}[st]
	if field == nil {
		return nil, core.Errorf(core.KindInvalid, "The “searchtype” parameter must be one of: domain, owner, user, ip, package.")
	}
	switch args.Get("searchmethod") {
	case "exact":
		return func(a store.Account) bool { return field(a) == search }, nil
	case "", "regex":
		if len(search) > 256 {
			return nil, core.Errorf(core.KindInvalid, "The “search” pattern is too long.")
		}
		re, err := regexp.Compile(search)
		if err != nil {
			return nil, core.Errorf(core.KindInvalid, "The “search” parameter is not a valid regular expression.")
		}
		return func(a store.Account) bool { return re.MatchString(field(a)) }, nil
	}
	return nil, core.Errorf(core.KindInvalid, "The “searchmethod” parameter must be “exact” or “regex”.")
}

func (e *Env) accountsummary(ctx context.Context, c *api.Call) (*api.Result, error) {
	user := c.Args.Get("user")
	if user == "" {
		if d := strings.ToLower(c.Args.Get("domain")); d != "" {
			dom, err := e.Store.GetDomain(ctx, d)
			if errors.Is(err, store.ErrNotFound) {
				return nil, core.Errorf(core.KindNotFound, "Account does not exist.")
			}
			if err != nil {
				return nil, core.Internal(err)
			}
			user = dom.Account
		} else {
			return nil, core.Errorf(core.KindInvalid, "You must specify a “user” or a “domain”.")
		}
	}
	a, err := e.managedAccount(ctx, c.Principal, user)
	if err != nil || a.IsRoot() {
		return nil, core.Errorf(core.KindNotFound, "Account does not exist.")
	}
	boxes, err := e.Store.ListMailboxes(ctx, a.Username)
	if err != nil {
		return nil, core.Internal(err)
	}
	ip, err := e.ServerIP(ctx)
	if err != nil {
		return nil, err
	}
	return &api.Result{Data: map[string]any{"acct": []any{accountInfo(a, len(boxes), ip)}}}, nil
}

func (e *Env) createacct(ctx context.Context, c *api.Call) (*api.Result, error) {
	user := c.Args.Get("username")
	if err := ValidateUsername(user); err != nil {
		return nil, err
	}
	domain := strings.ToLower(strings.TrimSpace(c.Args.Get("domain")))
	if err := ValidateDomain(domain); err != nil {
		return nil, err
	}
	pass, hasPass := c.Args.Lookup("password")
	if p, ok := c.Args.Lookup("pass"); ok {
		if hasPass {
			return nil, core.Errorf(core.KindInvalid, "Specify either “pass” or “password”, not both.")
		}
		pass, hasPass = p, true
	}
	generated := false
	if !hasPass || pass == "" {
		p, err := secret.RandomString(16, secret.PasswordChar)
		if err != nil {
			return nil, core.Internal(err)
		}
		pass, generated = p, true
	}
	if err := ValidatePassword(pass); err != nil {
		return nil, err
	}
	owner := c.Principal.User
	if o := c.Args.Get("owner"); o != "" && o != owner {
		if !c.Principal.IsRootLike() {
			return nil, core.Errorf(core.KindPermission, "You do not have permission to assign accounts to “%s”.", clip(o))
		}
		if o != "root" {
			oa, err := e.Store.GetAccount(ctx, o)
			if err != nil || !oa.Reseller {
				return nil, core.Errorf(core.KindInvalid, "The owner “%s” is not a reseller.", clip(o))
			}
		}
		owner = o
	}
	reseller := c.Args.Bool("reseller")
	if reseller && !c.Principal.IsRootLike() {
		return nil, core.Errorf(core.KindPermission, "You do not have permission to create reseller accounts.")
	}
	contact := c.Args.Get("contactemail")
	if contact != "" && (strings.Count(contact, "@") != 1 || len(contact) > 254 || hasControl(contact)) {
		return nil, core.Errorf(core.KindInvalid, "“%s” is not a valid contact email address.", clip(contact))
	}
	plan := c.Args.Get("plan")
	if len(plan) > 64 || hasControl(plan) {
		return nil, core.Errorf(core.KindInvalid, "The “plan” parameter is invalid.")
	}
	hash, err := e.Hasher.Hash(pass)
	if err != nil {
		return nil, core.Internal(err)
	}
	now := e.now()
	a := store.Account{
		Username: user, Domain: domain, Owner: owner, PasswordHash: hash, Reseller: reseller,
		ContactEmail: contact, Plan: plan, Created: now, PasswordChanged: now,
	}
	if reseller {
		a.ACLs = []string{}
	}
	if err := e.Store.CreateAccount(ctx, a); err != nil {
		if errors.Is(err, store.ErrExists) {
			if _, gerr := e.Store.GetAccount(ctx, user); gerr == nil {
				return nil, core.Errorf(core.KindExists, "Sorry, a user with the name “%s” already exists.", user)
			}
			return nil, core.Errorf(core.KindExists, "Sorry, the domain “%s” is already in use.", domain)
		}
		return nil, core.Internal(err)
	}
	e.Log.Info("account created", "user", user, "domain", domain, "owner", owner, "by", c.Principal.User)
	if plan == "" {
		plan = "default"
	}
	raw := fmt.Sprintf("Account Creation Ok\n| Domain: %s\n| UserName: %s\n| Owner: %s\n| Package: %s\n", domain, user, owner, plan)
	if generated {
		raw += "| PassWord: " + pass + "\n"
	}
	// cPanel's answer names the account's address too (data.ip): the
	// server's, as listaccts reports it. The account exists by now, so a
	// failure to read the setting is logged, not answered.
	ip, err := e.ServerIP(ctx)
	if err != nil {
		e.Log.Error("reading server-ip for createacct's answer", "error", err.Error())
	}
	return &api.Result{
		Reason:   "Account Creation Ok",
		Data:     map[string]any{"package": plan, "ip": ip},
		Metadata: map[string]any{"output": map[string]any{"raw": raw}},
	}, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

func (e *Env) removeacct(ctx context.Context, c *api.Call) (*api.Result, error) {
	user := firstNonEmpty(c.Args.Get("username"), c.Args.Get("user"))
	if user == "" {
		return nil, required("username")
	}
	a, err := e.managedAccount(ctx, c.Principal, user)
	if err != nil {
		return nil, err
	}
	if a.IsRoot() || a.Username == c.Principal.User {
		return nil, core.Errorf(core.KindPermission, "You cannot remove the account “%s”.", user)
	}
	all, err := e.Store.ListAccounts(ctx)
	if err != nil {
		return nil, core.Internal(err)
	}
	for _, o := range all {
		if o.Owner == user && o.Username != user {
			return nil, core.Errorf(core.KindInvalid, "The reseller “%s” owns accounts; remove or reassign them first.", user)
		}
	}
	if err := e.Store.DeleteAccount(ctx, user); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, noSuchUser(user)
		}
		return nil, core.Internal(err)
	}
	_ = removeAllUnder(e.homeDir(user), e.DataDir)
	e.Log.Info("account removed", "user", user, "by", c.Principal.User)
	return &api.Result{Reason: user + " account removed", Metadata: map[string]any{"output": map[string]any{"raw": user + " account removed\n"}}}, nil
}

func (e *Env) suspendacct(ctx context.Context, c *api.Call) (*api.Result, error) {
	return e.setSuspended(ctx, c, true)
}

func (e *Env) unsuspendacct(ctx context.Context, c *api.Call) (*api.Result, error) {
	return e.setSuspended(ctx, c, false)
}

func (e *Env) setSuspended(ctx context.Context, c *api.Call, suspend bool) (*api.Result, error) {
	user := c.Args.Get("user")
	a, err := e.managedAccount(ctx, c.Principal, user)
	if err != nil {
		return nil, err
	}
	if a.IsRoot() || (a.Username == c.Principal.User && !c.Principal.IsRootLike()) {
		return nil, core.Errorf(core.KindPermission, "You cannot suspend or unsuspend the account “%s”.", user)
	}
	reason := c.Args.Get("reason")
	if reason == "" {
		reason = "Unknown"
	}
	if len(reason) > 512 || hasControl(reason) {
		return nil, core.Errorf(core.KindInvalid, "The “reason” parameter is invalid.")
	}
	_, err = e.Store.UpdateAccount(ctx, user, func(a store.Account) (store.Account, error) {
		a.Suspended = suspend
		a.SuspendReason = ""
		if suspend {
			a.SuspendReason = reason
		}
		return a, nil
	})
	if err != nil {
		return nil, core.Internal(err)
	}
	raw := user + "'s account has been unsuspended\n"
	if suspend {
		raw = user + "'s account has been suspended\n"
	}
	if suspend {
		// A suspended account and its email users log out at once.
		if err := e.endAccountSessions(ctx, user, "account suspended"); err != nil {
			return nil, err
		}
	}
	e.Log.Info("account suspension changed", "user", user, "suspended", suspend, "by", c.Principal.User)
	return &api.Result{Metadata: map[string]any{"output": map[string]any{"raw": raw}}}, nil
}

func (e *Env) passwd(ctx context.Context, c *api.Call) (*api.Result, error) {
	user := c.Args.Get("user")
	a, err := e.managedAccount(ctx, c.Principal, user)
	if err != nil {
		return nil, err
	}
	if a.IsRoot() && c.Principal.Role != core.RoleRoot {
		return nil, noSuchUser(user)
	}
	pass, ok := c.Args.Lookup("password")
	if !ok {
		return nil, required("password")
	}
	if err := e.setPassword(ctx, user, pass, keepSession(c.Principal, user)); err != nil {
		return nil, err
	}
	return &api.Result{Reason: fmt.Sprintf("Password changed for user “%s”.", user), Data: map[string]any{"app": []string{"system"}}}, nil
}

// SetPassword validates and stores a new password for an account, and ends
// every session of the account's login name.
func (e *Env) SetPassword(ctx context.Context, user, pass string) error {
	return e.setPassword(ctx, user, pass, "")
}

// setPassword is SetPassword that keeps the session keep (the one the
// change came through; "" keeps none).
func (e *Env) setPassword(ctx context.Context, user, pass, keep string) error {
	if err := ValidatePassword(pass); err != nil {
		return err
	}
	hash, err := e.Hasher.Hash(pass)
	if err != nil {
		return core.Internal(err)
	}
	_, err = e.Store.UpdateAccount(ctx, user, func(a store.Account) (store.Account, error) {
		a.PasswordHash = hash
		a.PasswordChanged = e.now()
		return a, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return noSuchUser(user)
	}
	if err != nil {
		return core.Internal(err)
	}
	e.Log.Info("password changed", "user", user)
	// The other sessions of the user end with the old password.
	return e.endSessions(ctx, user, keep, "password changed", "password_change")
}

func (e *Env) setupreseller(ctx context.Context, c *api.Call) (*api.Result, error) {
	user := c.Args.Get("user")
	if user == "" {
		return nil, required("user")
	}
	a, err := e.account(ctx, user)
	if err != nil {
		return nil, err
	}
	if a.IsRoot() {
		return nil, core.Errorf(core.KindInvalid, "The root account cannot be a reseller.")
	}
	makeOwner := c.Args.Bool("makeowner")
	_, err = e.Store.UpdateAccount(ctx, user, func(a store.Account) (store.Account, error) {
		if !a.Reseller {
			a.Reseller = true
			a.ACLs = []string{}
		}
		if makeOwner {
			a.Owner = a.Username
		}
		return a, nil
	})
	if err != nil {
		return nil, core.Internal(err)
	}
	return &api.Result{}, nil
}

func (e *Env) unsetupreseller(ctx context.Context, c *api.Call) (*api.Result, error) {
	user, err := e.reseller(ctx, c.Args, "user")
	if err != nil {
		return nil, err
	}
	_, err = e.Store.UpdateAccount(ctx, user, func(a store.Account) (store.Account, error) {
		a.Reseller = false
		a.ACLs = nil
		if a.Owner == a.Username {
			a.Owner = "root"
		}
		return a, nil
	})
	if err != nil {
		return nil, core.Internal(err)
	}
	// A reseller's access hash dies with its reseller privileges.
	if err := e.Store.DeleteAccessHash(ctx, user); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, core.Internal(err)
	}
	return &api.Result{}, nil
}

// reseller reads the user named by argument arg and checks it is a reseller.
func (e *Env) reseller(ctx context.Context, args api.Args, arg string) (string, error) {
	user := args.Get(arg)
	if user == "" {
		return "", required(arg)
	}
	a, err := e.account(ctx, user)
	if err != nil {
		return "", err
	}
	if !a.Reseller {
		return "", core.Errorf(core.KindInvalid, "The user “%s” is not a reseller.", user)
	}
	return user, nil
}

// setacls replaces a reseller's privileges with the acl-<name> arguments
// given (any value grants; absence removes), as cPanel documents.
func (e *Env) setacls(ctx context.Context, c *api.Call) (*api.Result, error) {
	user, err := e.reseller(ctx, c.Args, "reseller")
	if err != nil {
		return nil, err
	}
	if n := c.Args.CountPrefix("acl-"); n > len(core.KnownACLs) {
		return nil, core.Errorf(core.KindInvalid, "%d “acl-<name>” arguments were given; there are %d ACLs.", n, len(core.KnownACLs))
	}
	acls := []string{}
	var bad []string
	for _, kv := range c.Args.Pairs() {
		name, ok := strings.CutPrefix(kv[0], "acl-")
		if !ok {
			continue
		}
		if !core.IsKnownACL(name) {
			bad = append(bad, clip(name))
			continue
		}
		if kv[1] != "0" && !slices.Contains(acls, name) {
			acls = append(acls, name)
		}
	}
	if len(bad) > 0 {
		return nil, core.Errorf(core.KindInvalid, "Invalid ACL(s) specified: %s", strings.Join(bad, ", "))
	}
	sort.Strings(acls)
	_, err = e.Store.UpdateAccount(ctx, user, func(a store.Account) (store.Account, error) {
		a.ACLs = acls
		return a, nil
	})
	if err != nil {
		return nil, core.Internal(err)
	}
	return &api.Result{}, nil
}

func (e *Env) listresellers(ctx context.Context, c *api.Call) (*api.Result, error) {
	all, err := e.Store.ListAccounts(ctx)
	if err != nil {
		return nil, core.Internal(err)
	}
	out := []string{}
	for _, a := range all {
		if a.Reseller {
			out = append(out, a.Username)
		}
	}
	return &api.Result{Data: map[string]any{"reseller": out}}, nil
}

func (e *Env) getTweak(ctx context.Context, c *api.Call) (*api.Result, error) {
	key := c.Args.Get("key")
	if key == "" {
		return nil, required("key")
	}
	if _, ok := settings.Lookup(key); !ok {
		return nil, core.Errorf(core.KindInvalid, "The setting “%s” does not exist. Known settings: %s.", clip(key), strings.Join(settings.Keys(), ", "))
	}
	v, err := settings.Get(ctx, e.Store, key)
	if err != nil {
		return nil, core.Internal(err)
	}
	return &api.Result{Data: map[string]any{"tweaksetting": map[string]any{"key": key, "value": v}}}, nil
}

func (e *Env) setTweak(ctx context.Context, c *api.Call) (*api.Result, error) {
	key := c.Args.Get("key")
	if key == "" {
		return nil, required("key")
	}
	s, ok := settings.Lookup(key)
	if !ok {
		return nil, core.Errorf(core.KindInvalid, "The setting “%s” does not exist. Known settings: %s.", clip(key), strings.Join(settings.Keys(), ", "))
	}
	v := c.Args.Get("value")
	if err := s.Valid(v); err != nil {
		return nil, core.Errorf(core.KindInvalid, "The value of “%s” %s.", key, err.Error())
	}
	if key == settings.RequirePasskeyRoot && v == "1" {
		// Root could not log in to WHM again: the policy waits for
		// root's first passkey (the command line can always turn it off).
		has, err := auth.HasPasskey(ctx, e.Store, "root")
		if err != nil {
			return nil, core.Internal(err)
		}
		if !has {
			return nil, core.Errorf(core.KindInvalid, "Root has no passkey: add one on WHM's Two-Factor Authentication page first, or root could no longer log in to WHM.")
		}
	}
	if err := e.Store.SetSetting(ctx, key, v); err != nil {
		return nil, core.Internal(err)
	}
	e.Log.Info("setting changed", "key", key, "by", c.Principal.User)
	return &api.Result{}, nil
}
