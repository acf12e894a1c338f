// Package store defines the persistent records of cpauth and the Store
// interface every backend implements; it knows nothing of HTTP.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors every backend returns (wrapped or bare) so callers can use errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrExists   = errors.New("store: already exists")
	ErrConflict = errors.New("store: conflict")
)

// Account is root or a cPanel account (which may be a reseller).
type Account struct {
	Username string
	// Domain is the primary domain; empty for root.
	Domain string
	// Owner is "root" or the reseller that owns the account; empty for root.
	Owner         string
	PasswordHash  string // modular-crypt format
	Suspended     bool
	SuspendReason string
	Reseller      bool
	// ACLs are the reseller's WHM privileges (may contain "all"); nil for
	// non-resellers. Root holds "all" implicitly.
	ACLs         []string
	ContactEmail string
	Plan         string
	Created      time.Time
	// PasswordChanged is when PasswordHash was last set.
	PasswordChanged time.Time
}

// IsRoot reports whether the account is the root account.
func (a Account) IsRoot() bool { return a.Username == "root" }

// Mailbox is a webmail account local@domain of a cPanel account.
type Mailbox struct {
	Account      string // the owning cPanel account
	Local        string
	Domain       string
	PasswordHash string
	QuotaMB      int64 // 0 = unlimited
	Suspended    bool
	Created      time.Time
}

// Address returns local@domain.
func (m Mailbox) Address() string { return m.Local + "@" + m.Domain }

// AccessHash is a user's legacy WHM remote access key.
type AccessHash struct {
	Username string
	// MAC is the keyed hash (hex) of the 960-character hash, used to verify.
	MAC string
	// Sealed is the hash encrypted with the server key, so that the API can
	// return it as cPanel does.
	Sealed  []byte
	Created time.Time
}

// Domain maps a domain to the cPanel account that owns it.
type Domain struct {
	Name    string
	Account string
	Primary bool
}

// Store is the persistence of cpauth. Every method is safe for concurrent
// use. Read-modify-write goes through updater closures that run inside one
// transaction and may be called more than once.
type Store interface {
	// Accounts. CreateAccount also records the primary domain (if any);
	// ErrExists if the username or the domain is taken.
	CreateAccount(ctx context.Context, a Account) error
	GetAccount(ctx context.Context, username string) (Account, error)
	ListAccounts(ctx context.Context) ([]Account, error)
	UpdateAccount(ctx context.Context, username string, fn func(Account) (Account, error)) (Account, error)
	// DeleteAccount removes the account and everything that belongs to it
	// (domains, mailboxes, access hash, and later credentials).
	DeleteAccount(ctx context.Context, username string) error

	// Domains.
	GetDomain(ctx context.Context, name string) (Domain, error)
	ListDomains(ctx context.Context, account string) ([]Domain, error)

	// Mailboxes. CreateMailbox returns ErrNotFound if the domain is not
	// owned by m.Account, ErrExists if the address is taken.
	CreateMailbox(ctx context.Context, m Mailbox) error
	GetMailbox(ctx context.Context, local, domain string) (Mailbox, error)
	ListMailboxes(ctx context.Context, account string) ([]Mailbox, error)
	UpdateMailbox(ctx context.Context, local, domain string, fn func(Mailbox) (Mailbox, error)) (Mailbox, error)
	DeleteMailbox(ctx context.Context, local, domain string) error

	// Access hashes: at most one per user; SetAccessHash replaces.
	GetAccessHash(ctx context.Context, username string) (AccessHash, error)
	SetAccessHash(ctx context.Context, h AccessHash) error
	DeleteAccessHash(ctx context.Context, username string) error
	// CountAccessHashes reports how many users hold an access hash.
	CountAccessHashes(ctx context.Context) (int, error)

	// Settings are cpauth's tweak settings, as strings.
	GetSetting(ctx context.Context, key string) (string, error)
	SetSetting(ctx context.Context, key, value string) error
	ListSettings(ctx context.Context) (map[string]string, error)

	Close() error
}
