package functions

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/api/uapi"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/store"
)

func (e *Env) registerUAPI(r *api.Registry) {
	u := func(module, name string, webmailSafe, readOnly bool, m api.Mint, h api.Handler) *api.Func {
		return &api.Func{Flavour: api.UAPI, Module: module, Name: name, Access: api.Account, WebmailSafe: webmailSafe, ReadOnly: readOnly, Mints: m, Handler: h}
	}
	r.Register(
		u("Email", "add_pop", false, false, api.MintAccount, e.addPop),
		u("Email", "delete_pop", false, false, api.MintNothing, e.deletePop),
		u("Email", "passwd_pop", true, false, api.MintPassword, e.passwdPop),
		u("Email", "list_pops", false, true, api.MintNothing, e.listPops),
		u("Variables", "get_user_information", true, true, api.MintNothing, e.getUserInformation),
		// The function it runs is checked for the account, with the
		// caller's bounds (Impersonate).
		&api.Func{Flavour: api.WHM1, Name: "uapi_cpanel", Access: api.AnyWHM, InAccount: true, Mints: api.MintNothing, Handler: func(ctx context.Context, c *api.Call) (*api.Result, error) {
			return e.uapiCPanel(ctx, r, c)
		}},
	)
}

func (e *Env) registerAPI2(r *api.Registry) {
	r.Register(
		&api.Func{Flavour: api.API2, Module: "Email", Name: "listpops", Access: api.Account, ReadOnly: true, Mints: api.MintNothing, Handler: e.listpops2},
		// The twins of Email::add_pop and Email::delete_pop, declared as
		// they are.
		&api.Func{Flavour: api.API2, Module: "Email", Name: "addpop", Access: api.Account, Mints: api.MintAccount, Handler: e.addpop2},
		&api.Func{Flavour: api.API2, Module: "Email", Name: "delpop", Access: api.Account, Mints: api.MintNothing, Handler: e.delpop2},
		// Not webmail-safe: cPanel's Webmail shows an email user its own
		// contact settings there, which cpauth does not keep; the
		// account's contact address is its owner's, not the email user's.
		&api.Func{Flavour: api.API2, Module: "CustInfo", Name: "displaycontactinfo", Access: api.Account, ReadOnly: true, Mints: api.MintNothing, Handler: e.displaycontactinfo},
	)
}

// uapiCPanel runs a UAPI function as a cPanel account for a WHM caller; the
// UAPI result object is nested under data.uapi.
func (e *Env) uapiCPanel(ctx context.Context, r *api.Registry, c *api.Call) (*api.Result, error) {
	user, module, fn := c.Args.Get("cpanel.user"), c.Args.Get("cpanel.module"), c.Args.Get("cpanel.function")
	for name, v := range map[string]string{"cpanel.user": user, "cpanel.module": module, "cpanel.function": fn} {
		if v == "" {
			return nil, required(name)
		}
	}
	target, err := e.Impersonate(ctx, c.Principal, user)
	if err != nil {
		return nil, err
	}
	var args api.Args
	for _, kv := range c.Args.Pairs() {
		if !strings.HasPrefix(kv[0], "cpanel.") && kv[0] != "api.version" {
			args.Add(kv[0], kv[1])
		}
	}
	caller := c.Principal
	inner := &api.Call{Flavour: api.UAPI, Module: module, Func: fn, Args: args, Principal: target, Caller: &caller, Remote: c.Remote, Host: c.Host}
	res, ierr := RunUAPI(ctx, r, inner)
	return &api.Result{Data: map[string]any{"uapi": uapi.Envelope(res, ierr)}}, nil
}

// mailAddress splits the email argument (a local part or a full address) and
// the optional domain argument, defaulting to the account's primary domain.
func (e *Env) mailAddress(ctx context.Context, c *api.Call) (local, domain string, err error) {
	email := strings.TrimSpace(c.Args.Get("email"))
	if email == "" {
		return "", "", required("email")
	}
	domain = strings.ToLower(strings.TrimSpace(c.Args.Get("domain")))
	if l, d, ok := strings.Cut(email, "@"); ok {
		local, domain = l, strings.ToLower(d)
	} else {
		local = email
	}
	local = strings.ToLower(local)
	if domain == "" {
		a, err := e.account(ctx, c.Principal.Account)
		if err != nil {
			return "", "", err
		}
		domain = a.Domain
	}
	if err := ValidateLocalPart(local); err != nil {
		return "", "", err
	}
	if err := ValidateDomain(domain); err != nil {
		return "", "", err
	}
	if local == "cpanel" {
		return "", "", core.Errorf(core.KindInvalid, "The email account name “cpanel” is reserved.")
	}
	return local, domain, nil
}

// ownDomain checks that domain belongs to the calling account.
func (e *Env) ownDomain(ctx context.Context, c *api.Call, domain string) error {
	d, err := e.Store.GetDomain(ctx, domain)
	if errors.Is(err, store.ErrNotFound) || (err == nil && d.Account != c.Principal.Account) {
		return notYourDomain(domain)
	}
	if err != nil {
		return core.Internal(err)
	}
	return nil
}

func (e *Env) addPop(ctx context.Context, c *api.Call) (*api.Result, error) {
	local, domain, err := e.addMailbox(ctx, c, 0, true)
	if err != nil {
		return nil, err
	}
	return &api.Result{Data: local + "+" + domain}, nil
}

// addMailbox creates the mailbox a call's email, domain, password and
// quota arguments describe, for Email::add_pop and Email::addpop. quota
// is the quota in MB when none is given (0: unlimited); hashes says
// whether password_hash is taken instead of password (UAPI's; API 2 has
// no such argument).
func (e *Env) addMailbox(ctx context.Context, c *api.Call, quota int64, hashes bool) (local, domain string, err error) {
	local, domain, err = e.mailAddress(ctx, c)
	if err != nil {
		return "", "", err
	}
	if err := e.ownDomain(ctx, c, domain); err != nil {
		return "", "", err
	}
	pass, hasPass := c.Args.Lookup("password")
	phash, hasHash := c.Args.Lookup("password_hash")
	hasHash = hasHash && hashes
	switch {
	case hasPass && hasHash:
		return "", "", core.Errorf(core.KindInvalid, "Specify either “password” or “password_hash”, not both.")
	case hasHash:
		if err := validatePasswordHash("password_hash", phash); err != nil {
			return "", "", err
		}
	default:
		if err := ValidatePassword(pass); err != nil {
			return "", "", err
		}
		if phash, err = e.Hasher.Hash(pass); err != nil {
			return "", "", core.Internal(err)
		}
	}
	if q := strings.TrimSpace(c.Args.Get("quota")); q == "unlimited" {
		quota = 0
	} else if q != "" {
		n, err := strconv.ParseInt(q, 10, 64)
		if err != nil || n < 0 || n > 999999 {
			return "", "", core.Errorf(core.KindInvalid, "The “quota” parameter must be a number of megabytes (0 to 999999) or “unlimited”.")
		}
		quota = n
	}
	m := store.Mailbox{Account: c.Principal.Account, Local: local, Domain: domain, PasswordHash: phash, QuotaMB: quota, Created: e.now()}
	if err := e.Store.CreateMailbox(ctx, m); err != nil {
		if errors.Is(err, store.ErrExists) {
			return "", "", core.Errorf(core.KindExists, "The account %s@%s already exists!", local, domain)
		}
		if errors.Is(err, store.ErrNotFound) {
			return "", "", notYourDomain(domain)
		}
		return "", "", core.Internal(err)
	}
	e.Log.Info("email account created", "address", m.Address(), "account", m.Account)
	return local, domain, nil
}

func (e *Env) deletePop(ctx context.Context, c *api.Call) (*api.Result, error) {
	if err := e.removeMailbox(ctx, c); err != nil {
		return nil, err
	}
	return &api.Result{}, nil
}

// removeMailbox removes the mailbox a call's email and domain arguments
// name, and ends its sessions, for Email::delete_pop and Email::delpop.
func (e *Env) removeMailbox(ctx context.Context, c *api.Call) error {
	local, domain, err := e.mailAddress(ctx, c)
	if err != nil {
		return err
	}
	if err := e.ownMailbox(ctx, c, local, domain); err != nil {
		return err
	}
	if err := e.Store.DeleteMailbox(ctx, local, domain); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return noSuchMailbox(local, domain)
		}
		return core.Internal(err)
	}
	e.Log.Info("email account removed", "address", local+"@"+domain, "account", c.Principal.Account)
	return e.endSessions(ctx, local+"@"+domain, "", "email account removed", "kill")
}

// api2QuotaMB is Email::addpop's quota when none is given, as cPanel
// documents it for API 2 (Email::add_pop's is unlimited).
const api2QuotaMB = 250

func (e *Env) addpop2(ctx context.Context, c *api.Call) (*api.Result, error) {
	_, _, err := e.addMailbox(ctx, c, api2QuotaMB, false)
	return api2Outcome("", err) // cPanel gives a reason only for a failure
}

func (e *Env) delpop2(ctx context.Context, c *api.Call) (*api.Result, error) {
	return api2Outcome("OK", e.removeMailbox(ctx, c))
}

// api2Outcome is the answer of API 2's Email::addpop and Email::delpop:
// data [{result, reason}], result 0 and the failure's words when err is
// not nil. The error goes back with its data: API 2's envelope writes both
// (cpanelresult.error, and the data clients read result and reason from).
func api2Outcome(okReason string, err error) (*api.Result, error) {
	if err != nil {
		return &api.Result{Data: []map[string]any{{"result": 0, "reason": core.Message(err)}}}, err
	}
	return &api.Result{Data: []map[string]any{{"result": 1, "reason": okReason}}}, nil
}

func noSuchMailbox(local, domain string) error {
	return core.Errorf(core.KindNotFound, "The email account “%s@%s” does not exist.", clip(local), clip(domain))
}

// ownMailbox checks the mailbox exists and belongs to the caller's account;
// a webmail user may only touch its own address.
func (e *Env) ownMailbox(ctx context.Context, c *api.Call, local, domain string) error {
	if c.Principal.Role == core.RoleWebmail && c.Principal.User != local+"@"+domain {
		return noSuchMailbox(local, domain)
	}
	m, err := e.Store.GetMailbox(ctx, local, domain)
	if errors.Is(err, store.ErrNotFound) || (err == nil && m.Account != c.Principal.Account) {
		return noSuchMailbox(local, domain)
	}
	if err != nil {
		return core.Internal(err)
	}
	return nil
}

func (e *Env) passwdPop(ctx context.Context, c *api.Call) (*api.Result, error) {
	local, domain, err := e.mailAddress(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := e.ownMailbox(ctx, c, local, domain); err != nil {
		return nil, err
	}
	pass, ok := c.Args.Lookup("password")
	if !ok {
		return nil, required("password")
	}
	if err := ValidatePassword(pass); err != nil {
		return nil, err
	}
	hash, err := e.Hasher.Hash(pass)
	if err != nil {
		return nil, core.Internal(err)
	}
	_, err = e.Store.UpdateMailbox(ctx, local, domain, func(m store.Mailbox) (store.Mailbox, error) {
		m.PasswordHash = hash
		return m, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, noSuchMailbox(local, domain)
	}
	if err != nil {
		return nil, core.Internal(err)
	}
	e.Log.Info("email password changed", "address", local+"@"+domain)
	if err := e.endSessions(ctx, local+"@"+domain, keepSession(c.Principal, local+"@"+domain), "password changed", "password_change"); err != nil {
		return nil, err
	}
	return &api.Result{}, nil
}

// mailboxes lists the account's mailboxes filtered by an optional regex.
func (e *Env) mailboxes(ctx context.Context, c *api.Call) ([]store.Mailbox, error) {
	boxes, err := e.Store.ListMailboxes(ctx, c.Principal.Account)
	if err != nil {
		return nil, core.Internal(err)
	}
	pattern := c.Args.Get("regex")
	if pattern == "" {
		return boxes, nil
	}
	if len(pattern) > 256 {
		return nil, core.Errorf(core.KindInvalid, "The “regex” parameter is too long.")
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, core.Errorf(core.KindInvalid, "The “regex” parameter is not a valid regular expression.")
	}
	out := boxes[:0]
	for _, m := range boxes {
		if re.MatchString(m.Address()) {
			out = append(out, m)
		}
	}
	return out, nil
}

func (e *Env) listPops(ctx context.Context, c *api.Call) (*api.Result, error) {
	boxes, err := e.mailboxes(ctx, c)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(boxes))
	for _, m := range boxes {
		out = append(out, map[string]any{
			"email":              m.Address(),
			"login":              m.Address(),
			"suspended_incoming": 0,
			"suspended_login":    fmtBool(m.Suspended),
		})
	}
	return &api.Result{Data: out}, nil
}

func (e *Env) listpops2(ctx context.Context, c *api.Call) (*api.Result, error) {
	boxes, err := e.mailboxes(ctx, c)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(boxes))
	for _, m := range boxes {
		out = append(out, map[string]any{"email": m.Address(), "login": m.Address()})
	}
	return &api.Result{Data: out}, nil
}

// maxInfoNames bounds get_user_information's name list: more names than
// the data has fields select nothing more.
const maxInfoNames = 64

func (e *Env) getUserInformation(ctx context.Context, c *api.Call) (*api.Result, error) {
	a, err := e.account(ctx, c.Principal.Account)
	if err != nil {
		return nil, err
	}
	doms, err := e.Store.ListDomains(ctx, a.Username)
	if err != nil {
		return nil, core.Internal(err)
	}
	// The result, its data and (for a few domains) the domains' list in
	// one allocation.
	x := new(userInformationResult)
	domains := x.domains[:0]
	if len(doms) > len(x.domains) {
		domains = make([]string, 0, len(doms))
	}
	x.info = userInformation{
		user:         a.Username,
		domain:       a.Domain,
		domains:      domains,
		contactEmail: a.ContactEmail,
		created:      a.Created.Unix(),
		owner:        a.Owner,
		plan:         a.Plan,
		home:         e.homeDir(a.Username),
		suspended:    fmtBool(a.Suspended),
		isReseller:   fmtBool(a.Reseller),
	}
	info := &x.info
	if info.plan == "" {
		info.plan = "default"
	}
	for _, d := range doms {
		info.domains = append(info.domains, d.Name)
	}
	want, err := c.Args.MultiAtMost("name", maxInfoNames)
	if err != nil {
		return nil, err
	}
	if len(want) > 0 {
		all, sel := info.fields(), map[string]any{}
		for _, k := range want {
			if v, ok := all[k]; ok {
				sel[k] = v
			}
		}
		return &api.Result{Data: sel}, nil
	}
	x.res.Data = info
	return &x.res, nil
}

// userInformationResult is get_user_information's result with its data.
type userInformationResult struct {
	res     api.Result
	info    userInformation
	domains [4]string
}
