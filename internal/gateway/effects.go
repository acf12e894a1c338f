package gateway

import (
	"context"
	"strings"

	"github.com/cpauth/cpauth/internal/api"
)

// What a forwarded call changes in the gateway's own view: the calls that
// create, suspend, remove or rename accounts, change resellers, change a
// password or a mailbox. Their answer is read whole and the directory
// brought up to date before the client has it (Forward), whatever the
// backend answered: a call that failed there costs one reading of the
// directory, a call that succeeded but whose answer was lost is not
// missed.

// effect brings the gateway's view up to date after r.
type effect func(ctx context.Context, g *Gateway, r *Request)

// accountWHM are the WHM functions (API 1 and 0) that change accounts or
// resellers: the directory is read again after each.
var accountWHM = map[string]bool{
	"createacct": true, "removeacct": true, "killacct": true,
	"suspendacct": true, "unsuspendacct": true, "modifyacct": true,
	"setupreseller": true, "unsetupreseller": true, "setacls": true,
	"suspendreseller": true, "unsuspendreseller": true, "terminatereseller": true,
	"setowner": true, "changepackage": true,
}

// effectOf is r's effect, nil when it changes nothing the gateway keeps.
func effectOf(r *Request) effect {
	switch r.Flavour {
	case api.WHM1:
		switch {
		case r.Func == "passwd":
			return passwordOfAccount(r.Args.Get("user"))
		case accountWHM[r.Func]:
			return syncDirectory
		}
	case api.UAPI:
		switch r.Module + "::" + r.Func {
		case "Passwd::change_password":
			return passwordOfAccount(r.Account)
		case "Email::passwd_pop":
			return mailboxChange(mailboxPassword)
		case "Email::delete_pop":
			return mailboxChange(mailboxDeleted)
		case "Email::suspend_login":
			return mailboxChange(mailboxSuspended)
		case "Email::unsuspend_login":
			return mailboxChange(mailboxUnsuspended)
		}
	case api.API2:
		switch r.Module + "::" + r.Func {
		case "Passwd::change_password":
			return passwordOfAccount(r.Account)
		case "Email::passwdpop":
			return mailboxChange(mailboxPassword)
		case "Email::delpop":
			return mailboxChange(mailboxDeleted)
		}
	}
	return nil
}

// detached is ctx for work that must not end with the client's request:
// what the backend did is done, whether the client waits for it or not.
func detached(ctx context.Context, g *Gateway) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 2*g.Backend.timeout)
}

func syncDirectory(ctx context.Context, g *Gateway, r *Request) {
	ctx, cancel := detached(ctx, g)
	defer cancel()
	if err := g.Directory.Sync(ctx); err != nil {
		g.log.Error("gateway: reading the account directory after a change", "func", r.Func, "error", err.Error())
	}
}

// passwordOfAccount: an account's password changed (or may have).
func passwordOfAccount(user string) effect {
	return func(ctx context.Context, g *Gateway, r *Request) {
		if user == "" {
			return
		}
		ctx, cancel := detached(ctx, g)
		defer cancel()
		g.Directory.PasswordChanged(ctx, user, r.Session)
	}
}

// What a mailbox call changed.
type mailboxEvent int

const (
	mailboxPassword mailboxEvent = iota + 1
	mailboxDeleted
	mailboxSuspended
	mailboxUnsuspended
)

func mailboxChange(ev mailboxEvent) effect {
	return func(ctx context.Context, g *Gateway, r *Request) {
		local, domain := mailboxOf(r)
		if local == "" {
			return
		}
		ctx, cancel := detached(ctx, g)
		defer cancel()
		g.Directory.MailboxChanged(ctx, r.Account, local, domain, ev, r.Session)
	}
}

// mailboxOf is the mailbox a call names: its email argument (a full
// address, or a local part with the domain argument); domain is "" when
// the call gives none (the account's primary domain then).
func mailboxOf(r *Request) (local, domain string) {
	email := strings.TrimSpace(r.Args.Get("email"))
	if l, d, ok := strings.Cut(email, "@"); ok {
		return strings.ToLower(l), strings.ToLower(d)
	}
	if email == "" && strings.Contains(r.Principal.User, "@") {
		// A mailbox changing its own password in Webmail.
		l, d, _ := strings.Cut(r.Principal.User, "@")
		return l, d
	}
	return strings.ToLower(email), strings.ToLower(strings.TrimSpace(r.Args.Get("domain")))
}
