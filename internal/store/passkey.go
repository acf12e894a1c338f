package store

import (
	"context"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// PasskeyChallengeTTL is how long a WebAuthn ceremony's challenge may be
// redeemed after it was issued.
const PasskeyChallengeTTL = 5 * time.Minute

// MaxPasskeyIDLen bounds a credential ID in bytes (WebAuthn allows at most
// 1023).
const MaxPasskeyIDLen = 1023

// MaxPasskeyNameLen bounds a passkey's name, in characters.
const MaxPasskeyNameLen = 64

// PasskeyName normalises a passkey's name, as every way of naming one
// (the pages, the API functions) does: trimmed, 1 to MaxPasskeyNameLen
// characters of valid text without control characters. ok is false for
// any other name.
func PasskeyName(name string) (normal string, ok bool) {
	name = strings.TrimSpace(name)
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxPasskeyNameLen {
		return "", false
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return "", false
		}
	}
	return name, true
}

// HasUsablePasskey reports whether user has a passkey that is not marked
// as cloned.
func HasUsablePasskey(ctx context.Context, st PasskeyStore, user string) (bool, error) {
	list, err := st.ListPasskeys(ctx, user)
	if err != nil {
		return false, err
	}
	for _, p := range list {
		if !p.CloneWarning {
			return true, nil
		}
	}
	return false, nil
}

// Passkey is a WebAuthn credential (a passkey or a security key) of a login
// name. The private key stays in the authenticator; the store keeps the
// public key and what each assertion is checked against. Every field is
// typed; nothing is text assembled from client input.
type Passkey struct {
	// ID is the credential ID the authenticator chose: unique, 1 to
	// MaxPasskeyIDLen bytes.
	ID []byte
	// Username is the login name: "root", a cPanel username, or
	// local@domain for a Webmail user.
	Username string
	// Account is the accounts row the credential goes with (the user's
	// own, or the owning cPanel account of a Webmail user): deleting the
	// account deletes it.
	Account string
	// Name is what the user called it, unique per Username.
	Name string
	// PublicKey is the COSE-encoded public key.
	PublicKey []byte
	// AttestationType is the attestation the authenticator gave at
	// registration ("none" unless asked otherwise).
	AttestationType string
	// SignCount is the authenticator's signature counter as last seen.
	SignCount uint32
	// Transports are the authenticator's transports as it reported them
	// ("internal", "usb", "hybrid", ...). Stores read nil and empty back
	// as nil.
	Transports []string
	// AAGUID identifies the authenticator's model (16 bytes; nil when the
	// authenticator gave none or only zeros); Kind is its name when known.
	AAGUID []byte
	Kind   string
	// The authenticator data's flags: whether the credential may be
	// backed up (synced), whether it is, and whether the user was
	// verified (PIN, biometrics) at registration or at the last use.
	BackupEligible bool
	BackupState    bool
	UserVerified   bool
	// CloneWarning is set when an assertion's sign counter did not move
	// forward: the credential may have been copied, and it is refused
	// until the user removes it and registers it again.
	CloneWarning bool
	Created      time.Time
	// LastUsed and LastUsedIP are the last successful assertion (zero and
	// "" when never used).
	LastUsed   time.Time
	LastUsedIP string
}

// PasskeyUser is what a login name needs for WebAuthn beside its
// credentials: the user handle the authenticators keep (random, never the
// login name, made when first needed), and whether the user signs in with
// a passkey alone.
type PasskeyUser struct {
	Username string
	Account  string // as Passkey.Account
	// Handle is the WebAuthn user handle: 1 to 64 random bytes, unique.
	Handle []byte
	// Passwordless lets the user sign in with a passkey alone (a
	// discoverable credential with user verification).
	Passwordless bool
	Created      time.Time
}

// Purposes of a PasskeyChallenge.
const (
	PasskeyRegister     = "register"     // adding a credential
	PasskeySecondFactor = "secondfactor" // an assertion as the second factor
	PasskeyPasswordless = "passwordless" // an assertion as the only factor
	PasskeyConfirm      = "confirm"      // an assertion that confirms an action (removal)
)

// PasskeyChallenge is a WebAuthn ceremony in progress: issued by a begin
// step, redeemed once by the finish step. Key binds it to what asked for
// it (a keyed hash of a session id or of a login attempt id, as the caller
// composes it): only that can redeem it, once.
type PasskeyChallenge struct {
	Key     string
	Purpose string // one of the Passkey* purposes
	// Username is whom the ceremony is for ("" for a passwordless login,
	// whose user is known only from the credential).
	Username string
	// Session is the ceremony's state as the WebAuthn library keeps it
	// (challenge, user handle, allowed credentials, user verification),
	// encoded by the caller; the store keeps it as given.
	Session []byte
	Created time.Time
	// Expires is when it can no longer be taken.
	Expires time.Time
}

// PasskeyStore is the WebAuthn part of a Store. Every write of a
// credential or of a PasskeyUser announces store.ChangePasskey with the
// login name; challenges are not announced (each is read once, from the
// database). Text that a backend cannot keep exactly (NUL bytes, invalid
// UTF-8) is refused with ErrInvalid; times are kept to the microsecond.
type PasskeyStore interface {
	// CreatePasskey: ErrExists if the ID is taken, or the name is taken
	// for that user; ErrNotFound if the account does not exist;
	// ErrInvalid for an empty or over-long ID, an empty name or key.
	CreatePasskey(ctx context.Context, p Passkey) error
	GetPasskey(ctx context.Context, id []byte) (Passkey, error)
	// ListPasskeys lists a login name's credentials (every credential
	// when username is ""), sorted by Username, then Created, then ID.
	ListPasskeys(ctx context.Context, username string) ([]Passkey, error)
	// UpdatePasskey runs fn in one transaction with the record locked, so
	// that of two concurrent updaters the second sees what the first
	// wrote (a sign counter moved forward). fn may rename the credential
	// (ErrExists if the name is taken) and change its counter, flags and
	// last use, but not its ID, Username, Account or PublicKey.
	UpdatePasskey(ctx context.Context, id []byte, fn func(Passkey) (Passkey, error)) (Passkey, error)
	DeletePasskey(ctx context.Context, id []byte) error

	// CreatePasskeyUser: ErrExists if the login name has one already (the
	// caller then reads it) or the handle is taken; ErrNotFound if the
	// account does not exist.
	CreatePasskeyUser(ctx context.Context, u PasskeyUser) error
	GetPasskeyUser(ctx context.Context, username string) (PasskeyUser, error)
	GetPasskeyUserByHandle(ctx context.Context, handle []byte) (PasskeyUser, error)
	// ListPasskeyUsers lists every PasskeyUser, sorted by Username.
	ListPasskeyUsers(ctx context.Context) ([]PasskeyUser, error)
	// UpdatePasskeyUser runs fn in one transaction; fn may change only
	// Passwordless.
	UpdatePasskeyUser(ctx context.Context, username string, fn func(PasskeyUser) (PasskeyUser, error)) (PasskeyUser, error)

	// PutPasskeyChallenge stores a challenge, replacing any with the same
	// Key (a ceremony begun again replaces the one before).
	PutPasskeyChallenge(ctx context.Context, c PasskeyChallenge) error
	// TakePasskeyChallenge deletes and returns the challenge of key in one
	// step: of two concurrent calls (on any nodes), at most one gets it.
	// A challenge whose Expires is not after now is deleted and not
	// returned (ErrNotFound).
	TakePasskeyChallenge(ctx context.Context, key string, now time.Time) (PasskeyChallenge, error)
	// PurgePasskeyChallenges deletes challenges whose Expires is not after
	// now and returns how many.
	PurgePasskeyChallenges(ctx context.Context, now time.Time) (int, error)
}
