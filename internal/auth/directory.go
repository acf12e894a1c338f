package auth

import (
	"context"
	"errors"
	"strings"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/store"
)

// Identity is a login name resolved against the store: the account (or
// mailbox) and the password hash that guards it.
type Identity struct {
	Principal    core.Principal
	PasswordHash string
	// Disabled is why the identity may not log in even with the right
	// secret ("" when it may).
	Disabled string
	// account names the account record that holds PasswordHash, or local
	// and domain the mailbox record (set by Lookup): where a re-hash of the
	// password goes (D31).
	account, local, domain string
}

// ErrUnknownUser is returned by Lookup for names that match no identity.
var ErrUnknownUser = errors.New("unknown user")

// LoginName is the canonical form of a login name (D27): the form Lookup
// resolves, so that every spelling that reaches one identity is one name to
// whoever counts names (the brute-force regulator). An email address is
// lower-cased, as mailboxes are found by their lower-cased local part and
// domain; an account name is kept as it is, as accounts are found by their
// stored name exactly ("Bob" is not bob). A name that matches nothing is
// canonicalised the same way, so that its case variants are one name too.
func LoginName(name string) string {
	if strings.Contains(name, "@") {
		return strings.ToLower(name)
	}
	return name
}

// Lookup resolves a login name: "root", a cPanel username, or local@domain.
func Lookup(ctx context.Context, st store.Store, name string) (Identity, error) {
	if local, domain, ok := strings.Cut(LoginName(name), "@"); ok {
		return lookupMailbox(ctx, st, local, domain)
	}
	a, err := st.GetAccount(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return Identity{}, ErrUnknownUser
	}
	if err != nil {
		return Identity{}, err
	}
	id := Identity{Principal: PrincipalFor(a), PasswordHash: a.PasswordHash, account: a.Username}
	if a.Suspended {
		id.Disabled = "account suspended"
	}
	return id, nil
}

func lookupMailbox(ctx context.Context, st store.Store, local, domain string) (Identity, error) {
	m, err := st.GetMailbox(ctx, local, domain)
	if errors.Is(err, store.ErrNotFound) {
		return Identity{}, ErrUnknownUser
	}
	if err != nil {
		return Identity{}, err
	}
	id := Identity{
		Principal:    core.Principal{User: m.Address(), Role: core.RoleWebmail, Account: m.Account},
		PasswordHash: m.PasswordHash,
		local:        m.Local,
		domain:       m.Domain,
	}
	owner, err := st.GetAccount(ctx, m.Account)
	switch {
	case errors.Is(err, store.ErrNotFound):
		id.Disabled = "owning account missing"
	case err != nil:
		return Identity{}, err
	case owner.Suspended:
		id.Disabled = "owning account suspended"
	case m.Suspended:
		id.Disabled = "email account suspended"
	}
	return id, nil
}

// rootACLs is root's privilege set, shared by every root principal rather
// than built on every request: principals' sets are read, never written
// (see core.Principal.ACLs).
var rootACLs = core.NewACLSet(core.ACLAll)

// PrincipalFor builds the principal of an account (method and service are
// filled in by the caller). A cPanel account's set is nil: it holds nothing.
func PrincipalFor(a store.Account) core.Principal {
	switch {
	case a.IsRoot():
		return core.Principal{User: a.Username, Role: core.RoleRoot, ACLs: rootACLs}
	case a.Reseller:
		return core.Principal{User: a.Username, Role: core.RoleReseller, Account: a.Username, ACLs: core.NewACLSet(a.ACLs...)}
	default:
		return core.Principal{User: a.Username, Role: core.RoleCPanel, Account: a.Username}
	}
}
