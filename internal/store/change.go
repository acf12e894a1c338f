package store

import "context"

// ChangeKind names the kind of record a Change is about.
type ChangeKind string

// Change kinds. ChangeAll means anything may have changed.
const (
	ChangeAll        ChangeKind = "*"
	ChangeAccount    ChangeKind = "account"
	ChangeMailbox    ChangeKind = "mailbox"
	ChangeAccessHash ChangeKind = "accesshash"
	ChangeSetting    ChangeKind = "setting"
	// ChangeToken's Key is the token's MAC.
	ChangeToken ChangeKind = "token"
	// ChangeSession's Key is the session's IDHash.
	ChangeSession ChangeKind = "session"
	// ChangeTwoFactor's Key is the login name whose two-factor
	// configuration (or issuer) changed.
	ChangeTwoFactor ChangeKind = "twofactor"
	// ChangePasskey's Key is the login name whose passkeys (or passkey
	// user handle) changed.
	ChangePasskey ChangeKind = "passkey"
	// ChangeHulk's Key says which part of the brute-force regulator's
	// state changed: "config", "lists", "blocks" or "flush".
	ChangeHulk ChangeKind = "cphulk"
)

// Change says that a record was written (created, updated or deleted) by
// some node: Key is its username, address or setting key.
type Change struct {
	Kind ChangeKind
	Key  string
}

// Watcher is implemented by stores that several processes share. Watch
// reports every change committed by any process (this one included) to
// onChange until ctx ends, and the health of the feed to onLive: while the
// feed is not live, changes may be missed and no cache of the store may be
// trusted. Watch returns when ctx ends.
type Watcher interface {
	Watch(ctx context.Context, onChange func(Change), onLive func(bool)) error
}
