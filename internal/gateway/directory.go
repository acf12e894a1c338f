package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/store"
)

// The account directory: in gateway mode the store's accounts are a mirror
// of the backend's (users, owners, reseller flag and ACLs, suspension,
// primary domains), read with listaccts (and each reseller's myprivs) at
// start, every sync interval, at once when an unknown name authenticates
// at the backend, and after every forwarded call that changes accounts.
// Mailboxes are mirrored one by one, when they first log in.
//
// Passwords are the backend's: a mirrored account or mailbox holds no
// hash but a gateway mark ("!gateway!" and random characters), which no
// hash check accepts and which the verified-password cache is bound to in
// place of a hash (D32). A password changed through the gateway gets a new
// mark: the cache entries of the old password are then useless on every
// node, as a new hash makes them in standalone mode.

// markPrefix begins the mark a mirrored login holds instead of a password
// hash. "!" is what a locked shadow entry begins with: nothing verifies it.
const markPrefix = "!gateway!"

// NewMark makes a password mark.
func NewMark() (string, error) {
	r, err := secret.RandomString(22, secret.PasswordChar)
	if err != nil {
		return "", err
	}
	return markPrefix + r, nil
}

// IsMark reports whether a stored password hash is a gateway mark.
func IsMark(hash string) bool { return strings.HasPrefix(hash, markPrefix) }

// Directory keeps the store's accounts a mirror of the backend's.
type Directory struct {
	Store    store.Store
	Backend  *Backend
	Sessions *Sessions
	Log      *slog.Logger
	Now      func() time.Time

	mu    sync.Mutex // one sync at a time
	syncs uint64     // completed syncs (under mu)
	// lastSync is when the last sync completed (under mu).
	lastSync time.Time
	// begun counts the syncs begun; doneBegun is the begun number of the
	// last sync that completed without error (under mu): a caller that
	// wants the directory as of now can take one that began after it
	// asked (fresh).
	begun     atomic.Uint64
	doneBegun uint64
}

// backendAccount is one listaccts record, as the gateway reads it.
type backendAccount struct {
	User          string          `json:"user"`
	Domain        string          `json:"domain"`
	Owner         string          `json:"owner"`
	Email         string          `json:"email"`
	Plan          string          `json:"plan"`
	Suspended     json.RawMessage `json:"suspended"` // 0, 1, "0" or "1"
	SuspendReason string          `json:"suspendreason"`
	Start         json.RawMessage `json:"unix_startdate"`
	Reseller      json.RawMessage `json:"reseller"`
}

// flag reads a cPanel boolean (1, "1", true).
func flag(raw json.RawMessage) bool {
	s := strings.Trim(string(raw), `"`)
	return s == "1" || s == "true"
}

// account is the store record the backend's record b makes of old (the
// mirror's record, zero when new): the backend's facts, the mirror's mark.
func (b backendAccount) account(old store.Account, acls []string) store.Account {
	a := old
	a.Username, a.Domain, a.Owner, a.ContactEmail = b.User, strings.ToLower(b.Domain), b.Owner, b.Email
	a.Plan = b.Plan
	if a.Plan == "default" {
		a.Plan = "" // listaccts shows an account without a plan as default
	}
	a.Suspended = flag(b.Suspended)
	a.SuspendReason = ""
	if a.Suspended {
		a.SuspendReason = b.SuspendReason
	}
	a.Reseller = flag(b.Reseller)
	a.ACLs = nil
	if a.Reseller {
		a.ACLs = acls
	}
	if n, err := strconv.ParseInt(strings.Trim(string(b.Start), `"`), 10, 64); err == nil && n > 0 {
		a.Created = time.Unix(n, 0).UTC()
	}
	return a
}

// same reports whether two records say the same of an account (the mark
// aside).
func same(a, b store.Account) bool {
	return a.Username == b.Username && a.Domain == b.Domain && a.Owner == b.Owner && a.ContactEmail == b.ContactEmail &&
		a.Plan == b.Plan && a.Suspended == b.Suspended && a.SuspendReason == b.SuspendReason && a.Reseller == b.Reseller &&
		slices.Equal(a.ACLs, b.ACLs) && a.Created.Equal(b.Created) && IsMark(a.PasswordHash)
}

// Sync reads the backend's accounts and makes the store's the same. It
// changes nothing when the backend does not answer in full.
func (d *Directory) Sync(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.syncLocked(ctx)
}

// fresh reads the directory unless a sync that began after the call did
// completes meanwhile: of many logins of new names at once, one reads it.
func (d *Directory) fresh(ctx context.Context) error {
	asked := d.begun.Load()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.doneBegun > asked {
		return nil
	}
	return d.syncLocked(ctx)
}

func (d *Directory) syncLocked(ctx context.Context) error {
	n := d.begun.Add(1)
	var data struct {
		Acct []backendAccount `json:"acct"`
	}
	if err := d.Backend.whm1(ctx, "listaccts", nil, &data); err != nil {
		return err
	}
	have, err := d.Store.ListAccounts(ctx)
	if err != nil {
		return err
	}
	mirror := make(map[string]store.Account, len(have))
	for _, a := range have {
		mirror[a.Username] = a
	}
	seen := make(map[string]bool, len(data.Acct))
	var errs []error
	for _, b := range data.Acct {
		if b.User == "" || b.User == "root" {
			continue
		}
		seen[b.User] = true
		old, known := mirror[b.User]
		acls := old.ACLs
		if flag(b.Reseller) {
			if got, err := d.resellerACLs(ctx, b.User); err == nil {
				acls = got
			} else if !flag(b.Suspended) {
				d.log().Warn("gateway: reading a reseller's privileges from the backend", "user", b.User, "error", err.Error())
			}
		}
		want := b.account(old, acls)
		if known && same(old, want) {
			continue
		}
		if err := d.put(ctx, want, known); err != nil {
			errs = append(errs, err)
			continue
		}
		if want.Suspended && !old.Suspended {
			d.ended(ctx, want.Username, "suspended at the backend")
		}
	}
	// Root is no listaccts record: it is always there, with a mark.
	if root, ok := mirror["root"]; !ok || !IsMark(root.PasswordHash) {
		if err := d.put(ctx, store.Account{Username: "root", Created: d.now()}, ok); err != nil {
			errs = append(errs, err)
		}
	}
	seen["root"] = true
	for _, a := range have {
		if seen[a.Username] {
			continue
		}
		if err := d.Store.DeleteAccount(ctx, a.Username); err != nil && !errors.Is(err, store.ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		d.log().Info("gateway: account removed at the backend: its gateway records are gone", "user", a.Username)
		d.ended(ctx, a.Username, "removed at the backend")
	}
	d.syncs++
	d.lastSync = d.now()
	if len(errs) == 0 {
		d.doneBegun = n
	}
	return errors.Join(errs...)
}

// put writes want: a new account with a new mark, or the facts of a known
// one (another node may have written it meanwhile: its mark stays).
func (d *Directory) put(ctx context.Context, want store.Account, known bool) error {
	if !known {
		mark, err := NewMark()
		if err != nil {
			return err
		}
		a := want
		a.PasswordHash, a.PasswordChanged = mark, d.now()
		err = d.Store.CreateAccount(ctx, a)
		if !errors.Is(err, store.ErrExists) {
			return err
		}
		// Another node mirrored it first (or its domain is taken: the
		// update below says so).
	}
	_, err := d.Store.UpdateAccount(ctx, want.Username, func(old store.Account) (store.Account, error) {
		a := want
		a.PasswordHash, a.PasswordChanged = old.PasswordHash, old.PasswordChanged
		if want.Username == "root" {
			a = old
		}
		if !IsMark(a.PasswordHash) {
			// A hash of standalone days: the password is the backend's now.
			mark, err := NewMark()
			if err != nil {
				return old, err
			}
			a.PasswordHash, a.PasswordChanged = mark, d.now()
		}
		return a, nil
	})
	return err
}

// ended ends what a user had at the backend through the gateway, and its
// mailboxes' sessions.
func (d *Directory) ended(ctx context.Context, user, why string) {
	if d.Sessions == nil {
		return
	}
	n := d.Sessions.End(ctx, user)
	if mbs, err := d.Store.ListMailboxes(ctx, user); err == nil {
		for _, m := range mbs {
			n += d.Sessions.End(ctx, m.Address())
		}
	}
	if n > 0 {
		d.log().Info("gateway: ended backend sessions", "user", user, "sessions", n, "reason", why)
	}
}

// resellerACLs reads a reseller's privileges on the backend: myprivs, as
// the reseller (through its backend session).
func (d *Directory) resellerACLs(ctx context.Context, user string) ([]string, error) {
	s, err := d.Sessions.get(ctx, user, core.ServiceWHM)
	if err != nil {
		return nil, err
	}
	var data struct {
		Privileges []map[string]json.RawMessage `json:"privileges"`
	}
	err = d.Backend.whm1With(ctx, "myprivs", nil, "", s.cookie, s.token, &data)
	var be *Error
	if errors.As(err, &be) && be.Failure == FailRefused {
		s, err = d.Sessions.renew(ctx, user, core.ServiceWHM, s)
		if err != nil {
			return nil, err
		}
		err = d.Backend.whm1With(ctx, "myprivs", nil, "", s.cookie, s.token, &data)
	}
	if err != nil {
		return nil, err
	}
	if len(data.Privileges) == 0 {
		return nil, &Error{Failure: FailBadAnswer, Host: d.Backend.host, Timeout: d.Backend.timeout, Err: errors.New("myprivs: no privileges")}
	}
	var acls []string
	for name, v := range data.Privileges[0] {
		if flag(v) && core.IsKnownACL(name) {
			acls = append(acls, name)
		}
	}
	if slices.Contains(acls, core.ACLAll) {
		acls = []string{core.ACLAll}
	}
	slices.Sort(acls)
	if acls == nil {
		acls = []string{}
	}
	return acls, nil
}

// Learn mirrors a login name the store does not know and the backend has
// just accepted: the accounts are read again, and a mailbox of a mirrored
// account is added. It reports whether the name is known now.
func (d *Directory) Learn(ctx context.Context, name string) bool {
	local, domain, mailbox := strings.Cut(strings.ToLower(name), "@")
	if !mailbox {
		if err := d.fresh(ctx); err != nil {
			d.log().Error("gateway: reading the account directory for a new name", "user", name, "error", err.Error())
		}
		_, err := d.Store.GetAccount(ctx, name)
		return err == nil
	}
	dom, err := d.Store.GetDomain(ctx, domain)
	if errors.Is(err, store.ErrNotFound) {
		if err := d.fresh(ctx); err != nil {
			d.log().Error("gateway: reading the account directory for a new name", "user", name, "error", err.Error())
		}
		dom, err = d.Store.GetDomain(ctx, domain)
	}
	if err != nil {
		return false
	}
	mark, err := NewMark()
	if err != nil {
		return false
	}
	err = d.Store.CreateMailbox(ctx, store.Mailbox{Account: dom.Account, Local: local, Domain: domain, PasswordHash: mark, Created: d.now()})
	if err != nil && !errors.Is(err, store.ErrExists) {
		d.log().Error("gateway: mirroring a mailbox", "user", name, "error", err.Error())
		return false
	}
	d.log().Info("gateway: mailbox mirrored from the backend", "user", local+"@"+domain, "account", dom.Account)
	return true
}

// PasswordChanged gives user (an account) a new mark, so that what the
// verified-password cache remembers of its old password answers no more
// on any node; ends its other gateway sessions (but keep, the one the
// change came through), as a password change does in standalone mode; and
// ends its backend sessions.
func (d *Directory) PasswordChanged(ctx context.Context, user, keep string) {
	mark, err := NewMark()
	if err == nil {
		_, err = d.Store.UpdateAccount(ctx, user, func(a store.Account) (store.Account, error) {
			a.PasswordHash, a.PasswordChanged = mark, d.now()
			return a, nil
		})
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return // not mirrored: nothing remembered
	case err != nil:
		d.log().Error("gateway: marking a changed password", "user", user, "error", err.Error())
	}
	d.endGatewaySessions(ctx, user, keep)
	d.Sessions.End(ctx, user)
}

// MailboxChanged follows a mailbox call of account (its password, its
// removal, its suspension) in the mirror, when the mailbox is mirrored.
// domain "" is the account's primary domain.
func (d *Directory) MailboxChanged(ctx context.Context, account, local, domain string, ev mailboxEvent, keep string) {
	if domain == "" {
		a, err := d.Store.GetAccount(ctx, account)
		if err != nil {
			return
		}
		domain = a.Domain
	}
	addr := local + "@" + domain
	var err error
	switch ev {
	case mailboxDeleted:
		err = d.Store.DeleteMailbox(ctx, local, domain)
	case mailboxPassword, mailboxSuspended, mailboxUnsuspended:
		var mark string
		if mark, err = NewMark(); err == nil {
			_, err = d.Store.UpdateMailbox(ctx, local, domain, func(m store.Mailbox) (store.Mailbox, error) {
				switch ev {
				case mailboxPassword:
					m.PasswordHash = mark
				case mailboxSuspended:
					m.Suspended = true
				case mailboxUnsuspended:
					m.Suspended = false
				}
				return m, nil
			})
		}
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return
	case err != nil:
		d.log().Error("gateway: following a mailbox change", "user", addr, "error", err.Error())
	}
	if ev == mailboxUnsuspended {
		return
	}
	d.endGatewaySessions(ctx, addr, keep)
	d.Sessions.End(ctx, addr)
}

func (d *Directory) endGatewaySessions(ctx context.Context, login, keep string) {
	if _, err := d.Store.DeleteUserSessions(ctx, login, keep); err != nil {
		d.log().Error("gateway: ending the sessions of a changed login", "user", login, "error", err.Error())
	}
}

// Syncs reports how many syncs completed, and when the last did.
func (d *Directory) Syncs() (uint64, time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.syncs, d.lastSync
}

func (d *Directory) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Directory) log() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}
