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

	// API tokens; DeleteAccount removes the account's tokens too.
	TokenStore

	// Settings are cpauth's tweak settings, as strings.
	GetSetting(ctx context.Context, key string) (string, error)
	SetSetting(ctx context.Context, key, value string) error
	ListSettings(ctx context.Context) (map[string]string, error)

	Close() error
}

// Token services: a token belongs to WHM (root and resellers) or to cPanel
// (cPanel accounts), as cPanel keeps them apart.
const (
	TokenWHM    = "whostmgr"
	TokenCPanel = "cpanel"
)

// Token is an API token. The token itself is never stored: MAC is its keyed
// hash (HMAC-SHA256 with the server key, hex), unique, and the index by which
// a presented token is found.
type Token struct {
	Service  string // TokenWHM or TokenCPanel
	Username string
	Name     string // ^[A-Za-z0-9_-]{1,50}$, unique per (Service, Username)
	MAC      string
	// ACLs limit a WHM token (nil: every privilege of its owner). cPanel
	// tokens have full access to the account's features and leave it nil.
	ACLs []string
	// ExpiresAt is the zero time for a token that never expires.
	ExpiresAt time.Time
	// WhitelistIPs are normalised addresses or CIDRs; empty: any address.
	// Stores keep nil and empty alike and read both back as nil.
	WhitelistIPs []string
	ReadOnly     bool // cPanel tokens: read-only functions only
	RequireOTP   bool // the owner's two-factor code is needed as well
	Created      time.Time
	// LastUsed and LastUsedIP are written at most once a minute per token.
	LastUsed   time.Time
	LastUsedIP string
}

// TokenStore is the API token part of a Store.
type TokenStore interface {
	// CreateToken: ErrExists if the name is taken for that user and
	// service (or the MAC exists); ErrNotFound if the account does not.
	CreateToken(ctx context.Context, t Token) error
	// GetTokenByMAC finds a token by its keyed hash.
	GetTokenByMAC(ctx context.Context, mac string) (Token, error)
	GetToken(ctx context.Context, service, username, name string) (Token, error)
	// ListTokens lists a user's tokens of a service, sorted by name.
	ListTokens(ctx context.Context, service, username string) ([]Token, error)
	// UpdateToken runs fn on the token in one transaction; fn may rename
	// it (ErrExists if the new name is taken) but not change its Service,
	// Username or MAC.
	UpdateToken(ctx context.Context, service, username, name string, fn func(Token) (Token, error)) (Token, error)
	DeleteToken(ctx context.Context, service, username, name string) error
	// TouchToken records a use (time and address) without going through
	// an updater; ErrNotFound if the token is gone.
	TouchToken(ctx context.Context, mac string, when time.Time, ip string) error
	// PurgeExpiredTokens deletes tokens that expired before the given time
	// and returns how many.
	PurgeExpiredTokens(ctx context.Context, before time.Time) (int, error)
}
