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
	// ErrInvalid refuses a record that the store cannot keep exactly as
	// given (today: sessions, see SessionStore): nothing of it is stored.
	ErrInvalid = errors.New("store: invalid record")
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

	// Domains. They change only with their account, and every write of an
	// account's domains announces store.ChangeAccount with its username
	// (caches forget the account's domains on it).
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

	// Sessions; DeleteAccount removes the account's sessions too.
	SessionStore

	// Two-factor authentication; DeleteAccount removes the account's
	// configurations (its own and its Webmail users') and its issuer,
	// DeleteMailbox the mailbox's configuration.
	TwoFactorStore
	// Passkeys and security keys (WebAuthn); DeleteAccount removes the
	// account's credentials and user handles (its own and its Webmail
	// users'), DeleteMailbox the mailbox's.
	PasskeyStore
	// The brute-force regulator's state (cPHulk's database).
	HulkStore

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

// MaxSessionKeyLen bounds, in bytes, the session fields that are indexed
// (IDHash, Username, SecurityToken), so that every backend can index them.
const MaxSessionKeyLen = 1024

// Session kinds.
const (
	// SessionNormal is a logged-in browser (or cookie-script) session.
	SessionNormal = "normal"
	// SessionOneTime is a pre-created session (single sign-on, Webmail
	// hand-off) that a browser redeems once for a normal session.
	SessionOneTime = "onetime"
)

// Session is a login session. The session id itself (the cookie value) is
// never stored: IDHash is its keyed hash (HMAC-SHA256 with the server key,
// hex), the primary key. Every field is typed; nothing is text assembled
// from client input.
type Session struct {
	IDHash string
	Kind   string // SessionNormal or SessionOneTime
	// Username is the login name: "root", a cPanel username, or
	// local@domain for Webmail users.
	Username string
	// Account is the accounts row the session belongs to ("root" for root,
	// the owning cPanel account for Webmail users): deleting it ends the
	// session.
	Account string
	Service string // "cpaneld", "whostmgrd" or "webmaild"
	// SecurityToken is the /cpsessNNNNNNNNNN URL prefix bound to the session.
	SecurityToken string
	Creator       string // who made it: the user, or root/a reseller (SSO)
	// Origin is the address the session is bound to: for a normal
	// session the client's address at creation (cookieipvalidation checks
	// against it), for a one-time session the only address that may redeem
	// it ("" for any).
	Origin string
	Method string // how it was made: "password", "sso", "handoff", ...
	// TFAVerified says that whoever holds the session has given the
	// user's second factor: a right two-factor (or recovery) code at
	// login, on the code page, or when setting up two-factor
	// authentication in this session. A session made for a principal
	// that was itself fully authenticated (single sign-on, hand-off) is
	// made with it set, as cPanel's are. A session without it reaches
	// only the code page and logout while its user has two-factor
	// authentication configured and the policy is on; with it, the code
	// is never asked for again in that session.
	TFAVerified bool
	Locale      string
	GotoURI     string // where a one-time session lands
	Created     time.Time
	// LastSeen is written at most once a minute per session.
	LastSeen time.Time
	// IdleTimeout ends the session after that long without use; Expires
	// ends it regardless of use.
	IdleTimeout time.Duration
	Expires     time.Time
	// The bounds of a session made through an API token (single sign-on,
	// Webmail hand-off): it is never stronger than the token (D24), and a
	// session made by redeeming it inherits them. AllowedIPs are the
	// token's addresses and CIDR ranges, the only ones the session is
	// redeemed and used from (nil: any); NotAfter the token's expiry,
	// which no session made from this one outlives (zero: none);
	// RequireOTP asks for the user's second factor before the session
	// reaches anything, whatever the two-factor policy says.
	AllowedIPs []string
	NotAfter   time.Time
	RequireOTP bool
	// Passkey is the credential ID of the passkey that made the session
	// (a passwordless sign-in) or gave its second factor (the code page);
	// nil when no passkey had a part in it. Removing that passkey, or
	// marking it as cloned, ends the session (DeletePasskeySessions). At
	// most MaxPasskeyIDLen bytes; an empty one is kept as nil.
	Passkey []byte
}

// SessionStore is the session part of a Store.
//
// A session is stored exactly as given or not at all: CreateSession and
// UpdateSession refuse with ErrInvalid (storing nothing) a session whose
// text is not valid UTF-8 or holds a NUL byte (PostgreSQL cannot keep
// either, and nothing is silently changed), whose IDHash, Username or
// SecurityToken is empty or longer than MaxSessionKeyLen bytes, whose Kind
// or Service is not one of the names above, whose IdleTimeout is negative
// or under a microsecond, whose times lie outside the years 1 to 9999, or
// whose Passkey is longer than MaxPasskeyIDLen bytes.
// Times and IdleTimeout are kept to the microsecond (truncated), times in
// UTC. A lookup by a key that no valid session can have finds nothing.
type SessionStore interface {
	// CreateSession: ErrExists if IDHash or SecurityToken is taken;
	// ErrNotFound if the account does not exist.
	CreateSession(ctx context.Context, s Session) error
	GetSession(ctx context.Context, idHash string) (Session, error)
	// ListSessions lists the sessions of an account (all when account is
	// ""), sorted by Created then IDHash.
	ListSessions(ctx context.Context, account string) ([]Session, error)
	// UpdateSession runs fn in one transaction; fn may not change IDHash,
	// Username, Account or Service.
	UpdateSession(ctx context.Context, idHash string, fn func(Session) (Session, error)) (Session, error)
	// TouchSession records a use (LastSeen) without an updater; LastSeen
	// never moves back (an older lastSeen leaves it as it is).
	TouchSession(ctx context.Context, idHash string, lastSeen time.Time) error
	DeleteSession(ctx context.Context, idHash string) error
	// ConsumeSession deletes and returns a session in one step: of two
	// concurrent calls for one session, exactly one gets it (one-time
	// sessions are redeemed this way).
	ConsumeSession(ctx context.Context, idHash string) (Session, error)
	// DeleteUserSessions ends the sessions of a login name (Username),
	// except the one whose IDHash is keep (may be ""); it returns how many.
	DeleteUserSessions(ctx context.Context, username, keep string) (int, error)
	// DeleteAccountSessions ends every session of an account (its own and
	// its Webmail users'); it returns how many.
	DeleteAccountSessions(ctx context.Context, account string) (int, error)
	// DeletePasskeySessions ends every session whose Passkey is id, on
	// every node, and returns them with IDHash, Username, Account and
	// Service set (for session_log). An empty id ends nothing.
	DeletePasskeySessions(ctx context.Context, id []byte) ([]Session, error)
	// PurgeSessions deletes sessions that expired (Expires before now, or
	// idle for longer than their IdleTimeout) and returns them, with
	// IDHash, Username, Account and Service set (for session_log).
	PurgeSessions(ctx context.Context, now time.Time) ([]Session, error)
}

// TwoFactor is a user's two-factor authentication (TOTP, RFC 6238): the
// secret, sealed with the server key, the last time step whose code was
// accepted (so that no code passes twice), the unused recovery codes'
// keyed hashes, and the count of recent wrong codes (the per-user rate
// limit). Every field is typed; nothing is text assembled from client
// input.
type TwoFactor struct {
	// Username is the login name: "root", a cPanel username, or
	// local@domain for a Webmail user.
	Username string
	// Account is the accounts row the configuration goes with: the user's
	// own, or the owning cPanel account of a Webmail user.
	Account string
	// Sealed is the base32 secret sealed with the server key (AES-GCM,
	// bound to Username).
	Sealed []byte
	// LastStep is the last time step (unix time / 30 s) whose code was
	// accepted: codes of it and of earlier steps are refused. Burning a
	// step happens in the same UpdateTwoFactor that accepts its code.
	LastStep int64
	// RecoveryMACs are the keyed hashes (hex) of the recovery codes not
	// used yet; using one removes it. Stores keep nil and empty alike and
	// read both back as nil.
	RecoveryMACs []string
	// Failures counts the wrong codes since FailuresSince (the start of
	// the current rate-limit window; zero when there are none).
	Failures      int
	FailuresSince time.Time
	Created       time.Time
}

// TwoFactorStore is the two-factor part of a Store.
type TwoFactorStore interface {
	// SetTwoFactor creates or replaces a user's configuration;
	// ErrNotFound if the account does not exist.
	SetTwoFactor(ctx context.Context, tf TwoFactor) error
	GetTwoFactor(ctx context.Context, username string) (TwoFactor, error)
	// ListTwoFactor lists the configurations of an account (its own and
	// its Webmail users'; all when account is ""), sorted by Username.
	ListTwoFactor(ctx context.Context, account string) ([]TwoFactor, error)
	// UpdateTwoFactor runs fn in one transaction with the record locked, so
	// that of two concurrent updaters the second sees what the first
	// wrote (a code's step burnt, a recovery code used); fn may not change
	// Username or Account.
	UpdateTwoFactor(ctx context.Context, username string, fn func(TwoFactor) (TwoFactor, error)) (TwoFactor, error)
	DeleteTwoFactor(ctx context.Context, username string) error
	// Issuers: the name an authenticator app shows beside a code. Root's
	// is the system-wide issuer, a reseller's applies to its accounts.
	// SetTwoFactorIssuer with "" removes it (if any); setting one for an
	// account that does not exist is ErrNotFound. GetTwoFactorIssuer: ErrNotFound when none is set.
	GetTwoFactorIssuer(ctx context.Context, username string) (string, error)
	SetTwoFactorIssuer(ctx context.Context, username, issuer string) error
}

// The brute-force regulator's lists.
const (
	HulkAllow = "white" // addresses never refused by the regulator
	HulkDeny  = "black" // addresses always refused
)

// Kinds of HulkBlock.
const (
	// HulkBlockIP is a temporary block of an address (max_failures_byip).
	HulkBlockIP = "ip"
	// HulkBlockExcessive is the one-day block of an address (mark_as_brute).
	HulkBlockExcessive = "excessive"
	// HulkBlockUser is the per-user protection's block of a login name.
	HulkBlockUser = "user"
)

// HulkRecord is one entry of the allow-list or the deny-list.
type HulkRecord struct {
	List string // HulkAllow or HulkDeny
	// CIDR is a normalised address range: "192.0.2.0/24", "2001:db8::/32",
	// a single address as "/32" or "/128".
	CIDR    string
	Comment string
	Created time.Time
}

// HulkFailure is one failed authentication the regulator counted. It never
// holds the secret that was presented.
type HulkFailure struct {
	// ID is given by the store, increasing in insertion order.
	ID int64
	// Node names the process that counted it, so that a node can read the
	// failures the others counted.
	Node    string
	Time    time.Time
	Service string // "cpaneld", "whostmgrd", "webmaild"
	Method  string
	User    string
	Address string
	// Weight is what the failure counts for, in quarters: 4 for a new
	// wrong secret, 1 for a wrong secret retried.
	Weight int
	Reason string
}

// HulkBlock is an address or a login name the regulator refuses until
// Until. Key is the address (an IPv6 address's /64 prefix) or the login name.
type HulkBlock struct {
	Kind     string
	Key      string
	User     string // the last login name tried (address blocks)
	Address  string // the last address (user blocks)
	Service  string
	Reason   string
	Failures int
	Created  time.Time
	Until    time.Time
}

// HulkStore is the brute-force regulator's part of a Store. Writes to the
// configuration, the lists and the blocks, and deletions of failures, are
// announced as store.ChangeHulk (key "config", "lists", "blocks" or
// "flush"); AddHulkFailures is not announced (other nodes poll for new
// failures by ID). Times are kept to the microsecond.
type HulkStore interface {
	// HulkConfig returns the stored configuration keys (defaults are the
	// regulator's business).
	HulkConfig(ctx context.Context) (map[string]string, error)
	// SetHulkConfig writes the given keys in one transaction.
	SetHulkConfig(ctx context.Context, values map[string]string) error

	// ListHulkRecords lists a list's records ("" for both), sorted by
	// list then CIDR.
	ListHulkRecords(ctx context.Context, list string) ([]HulkRecord, error)
	// PutHulkRecords adds records, replacing the comment of those that
	// exist, in one transaction.
	PutHulkRecords(ctx context.Context, recs []HulkRecord) error
	// DeleteHulkRecords deletes the given CIDRs from a list and returns
	// how many were there.
	DeleteHulkRecords(ctx context.Context, list string, cidrs []string) (int, error)

	// AddHulkFailures appends failures (their ID is ignored).
	AddHulkFailures(ctx context.Context, fs []HulkFailure) error
	// ListHulkFailures lists failures with an ID above afterID and a Time
	// at or after since, by ID, at most limit (0: no limit).
	ListHulkFailures(ctx context.Context, afterID int64, since time.Time, limit int) ([]HulkFailure, error)
	// DeleteHulkFailures deletes the failures from the given addresses
	// (all of them when addresses is nil) and returns how many.
	DeleteHulkFailures(ctx context.Context, addresses []string) (int, error)

	// PutHulkBlock creates or replaces the block (Kind, Key).
	PutHulkBlock(ctx context.Context, b HulkBlock) error
	// ListHulkBlocks lists the blocks whose Until is after now, sorted by
	// Kind then Key.
	ListHulkBlocks(ctx context.Context, now time.Time) ([]HulkBlock, error)
	// DeleteHulkBlocks deletes blocks of a kind ("" for every kind) with
	// the given keys (every key when keys is nil) and returns how many.
	DeleteHulkBlocks(ctx context.Context, kind string, keys []string) (int, error)
	// PurgeHulk deletes failures older than before and blocks that ended
	// before now; it returns how many rows went.
	PurgeHulk(ctx context.Context, before, now time.Time) (int, error)
}
