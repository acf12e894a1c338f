// Package storecopy moves every record of one store into another empty one,
// as when a single node's SQLite data goes into a cluster's PostgreSQL.
package storecopy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/cpauth/cpauth/internal/store"
)

// ErrTargetNotEmpty is returned, before anything is written, when the
// target already holds accounts or settings.
var ErrTargetNotEmpty = errors.New("storecopy: the target store is not empty")

// Counts is how many records of each kind a store holds.
type Counts struct {
	Accounts     int
	Domains      int
	Mailboxes    int
	AccessHashes int
	Tokens       int
	Sessions     int
	TwoFactor    int
	Issuers      int
	// Passkeys are WebAuthn credentials; PasskeyUsers the login names'
	// user handles (and passwordless choices).
	Passkeys     int
	PasskeyUsers int
	Settings     int
	// HulkConfig and HulkRecords are the brute-force regulator's
	// configuration keys and allow/deny-list entries.
	HulkConfig  int
	HulkRecords int
}

func (c Counts) String() string {
	return fmt.Sprintf("%d accounts, %d domains, %d mailboxes, %d access hashes, %d API tokens, %d sessions, %d two-factor configurations, %d two-factor issuers, %d passkeys, %d passkey users, %d settings, %d cPHulk settings, %d cPHulk list entries",
		c.Accounts, c.Domains, c.Mailboxes, c.AccessHashes, c.Tokens, c.Sessions, c.TwoFactor, c.Issuers, c.Passkeys, c.PasskeyUsers, c.Settings, c.HulkConfig, c.HulkRecords)
}

// Copy copies the accounts (with their primary domains), mailboxes, access
// hashes, API tokens, sessions, two-factor configurations and issuers,
// passkeys and their user handles, settings and the brute-force regulator's configuration and
// allow/deny-lists of from into to, then reads both
// back and checks that they hold the same records; it returns the counts
// copied.
//
// The regulator's failure history and blocks are not copied: they are
// transient, and a fresh node counts from zero. Nor are passkey challenges:
// a ceremony in progress is begun again.
//
// Sessions are copied, expired ones included (the target's purge takes
// those), so that users stay logged in across the move: like API tokens,
// they are found by keyed hash, and the target needs the source's server
// key to recognise them.
//
// It refuses a target that holds any account or setting (ErrTargetNotEmpty)
// and a source it cannot copy faithfully through the Store interface (a
// domain other than an account's primary one). Nothing should write to
// either store meanwhile: stop the node first. The copy is not atomic: if
// it fails part-way, the target holds part of the data and must be emptied
// (or recreated) before trying again.
func Copy(ctx context.Context, from, to store.Store) (Counts, error) {
	if err := checkEmpty(ctx, to); err != nil {
		return Counts{}, err
	}
	src, err := read(ctx, from)
	if err != nil {
		return Counts{}, fmt.Errorf("storecopy: reading the source: %w", err)
	}
	if err := src.copyable(); err != nil {
		return Counts{}, err
	}
	if err := src.write(ctx, to); err != nil {
		return Counts{}, fmt.Errorf("storecopy: writing the target (which now holds part of the data): %w", err)
	}

	// Verify: both sides read afresh. The source too, so that a node that
	// was not stopped shows up as a difference rather than as lost writes.
	want := src.counts()
	again, err := read(ctx, from)
	if err != nil {
		return want, fmt.Errorf("storecopy: verifying the source: %w", err)
	}
	dst, err := read(ctx, to)
	if err != nil {
		return want, fmt.Errorf("storecopy: verifying the target: %w", err)
	}
	if got := again.counts(); got != want {
		return want, fmt.Errorf("storecopy: the source changed during the copy: %v before, %v after", want, got)
	}
	if got := dst.counts(); got != want {
		return want, fmt.Errorf("storecopy: the target holds %v, the source %v", got, want)
	}
	if err := src.diff(dst); err != nil {
		return want, fmt.Errorf("storecopy: the target differs from the source: %w", err)
	}
	return want, nil
}

func checkEmpty(ctx context.Context, to store.Store) error {
	as, err := to.ListAccounts(ctx)
	if err != nil {
		return fmt.Errorf("storecopy: reading the target: %w", err)
	}
	settings, err := to.ListSettings(ctx)
	if err != nil {
		return fmt.Errorf("storecopy: reading the target: %w", err)
	}
	if len(as) > 0 || len(settings) > 0 {
		return fmt.Errorf("%w: it has %d accounts and %d settings", ErrTargetNotEmpty, len(as), len(settings))
	}
	return nil
}

// records is everything a store holds, as the Store interface shows it.
type records struct {
	accounts     []store.Account
	domains      map[string][]store.Domain  // by account
	mailboxes    map[string][]store.Mailbox // by account
	accessHashes map[string]store.AccessHash
	countedHash  int                      // CountAccessHashes
	tokens       map[string][]store.Token // by account: WHM's, then cPanel's
	sessions     []store.Session          // all, by Created then IDHash
	twoFactor    []store.TwoFactor        // all, by Username
	issuers      map[string]string        // by account
	passkeys     []store.Passkey          // all, by Username, Created, ID
	passkeyUsers []store.PasskeyUser      // all, by Username
	settings     map[string]string
	hulkConfig   map[string]string
	hulkRecords  []store.HulkRecord
}

// read reads every record of s. The interface lists neither all mailboxes
// nor all access hashes nor all tokens, so they are gathered account by
// account (a token cannot outlive its account, nor belong to another
// service).
func read(ctx context.Context, s store.Store) (*records, error) {
	r := &records{
		domains:      map[string][]store.Domain{},
		mailboxes:    map[string][]store.Mailbox{},
		accessHashes: map[string]store.AccessHash{},
		tokens:       map[string][]store.Token{},
		issuers:      map[string]string{},
	}
	var err error
	if r.accounts, err = s.ListAccounts(ctx); err != nil {
		return nil, err
	}
	for _, a := range r.accounts {
		u := a.Username
		if r.domains[u], err = s.ListDomains(ctx, u); err != nil {
			return nil, err
		}
		if r.mailboxes[u], err = s.ListMailboxes(ctx, u); err != nil {
			return nil, err
		}
		h, err := s.GetAccessHash(ctx, u)
		switch {
		case err == nil:
			r.accessHashes[u] = h
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
		for _, svc := range []string{store.TokenWHM, store.TokenCPanel} {
			ts, err := s.ListTokens(ctx, svc, u)
			if err != nil {
				return nil, err
			}
			r.tokens[u] = append(r.tokens[u], ts...)
		}
		iss, err := s.GetTwoFactorIssuer(ctx, u)
		switch {
		case err == nil:
			r.issuers[u] = iss
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
	}
	if r.twoFactor, err = s.ListTwoFactor(ctx, ""); err != nil {
		return nil, err
	}
	if r.sessions, err = s.ListSessions(ctx, ""); err != nil {
		return nil, err
	}
	if r.passkeys, err = s.ListPasskeys(ctx, ""); err != nil {
		return nil, err
	}
	if r.passkeyUsers, err = s.ListPasskeyUsers(ctx); err != nil {
		return nil, err
	}
	if r.countedHash, err = s.CountAccessHashes(ctx); err != nil {
		return nil, err
	}
	if r.settings, err = s.ListSettings(ctx); err != nil {
		return nil, err
	}
	if r.hulkConfig, err = s.HulkConfig(ctx); err != nil {
		return nil, err
	}
	if r.hulkRecords, err = s.ListHulkRecords(ctx, ""); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *records) counts() Counts {
	c := Counts{
		Accounts: len(r.accounts),
		// The count the store reports, which also catches an access hash
		// the per-account walk could not see.
		AccessHashes: r.countedHash,
		Sessions:     len(r.sessions),
		TwoFactor:    len(r.twoFactor),
		Issuers:      len(r.issuers),
		Passkeys:     len(r.passkeys),
		PasskeyUsers: len(r.passkeyUsers),
		Settings:     len(r.settings),
		HulkConfig:   len(r.hulkConfig),
		HulkRecords:  len(r.hulkRecords),
	}
	for _, ds := range r.domains {
		c.Domains += len(ds)
	}
	for _, ms := range r.mailboxes {
		c.Mailboxes += len(ms)
	}
	for _, ts := range r.tokens {
		c.Tokens += len(ts)
	}
	return c
}

// copyable refuses what the Store interface cannot recreate: CreateAccount
// records the primary domain and nothing adds another.
func (r *records) copyable() error {
	for _, a := range r.accounts {
		primary := 0
		for _, d := range r.domains[a.Username] {
			if !d.Primary || d.Name != a.Domain {
				return fmt.Errorf("storecopy: account %q has domain %q besides its primary domain %q, which this version cannot copy",
					a.Username, d.Name, a.Domain)
			}
			primary++
		}
		if a.Domain != "" && primary != 1 {
			return fmt.Errorf("storecopy: account %q has no record of its primary domain %q", a.Username, a.Domain)
		}
	}
	if r.countedHash != len(r.accessHashes) {
		return fmt.Errorf("storecopy: the source counts %d access hashes but its accounts hold %d", r.countedHash, len(r.accessHashes))
	}
	return nil
}

func (r *records) write(ctx context.Context, to store.Store) error {
	for _, a := range r.accounts {
		if err := to.CreateAccount(ctx, a); err != nil {
			return err
		}
	}
	for _, a := range r.accounts {
		for _, m := range r.mailboxes[a.Username] {
			if err := to.CreateMailbox(ctx, m); err != nil {
				return err
			}
		}
	}
	for _, a := range r.accounts { // in order, for reproducible failures
		if h, ok := r.accessHashes[a.Username]; ok {
			if err := to.SetAccessHash(ctx, h); err != nil {
				return err
			}
		}
	}
	// Tokens keep their MACs: the target needs the source's server key to
	// recognise them (cpauth key export | cpauth key import).
	for _, a := range r.accounts {
		for _, t := range r.tokens[a.Username] {
			if err := to.CreateToken(ctx, t); err != nil {
				return err
			}
		}
	}
	for _, ss := range r.sessions {
		if err := to.CreateSession(ctx, ss); err != nil {
			return err
		}
	}
	// Two-factor secrets stay sealed: the target needs the source's server
	// key to open them, as for tokens.
	for _, tf := range r.twoFactor {
		if err := to.SetTwoFactor(ctx, tf); err != nil {
			return err
		}
	}
	for _, a := range r.accounts {
		if iss, ok := r.issuers[a.Username]; ok {
			if err := to.SetTwoFactorIssuer(ctx, a.Username, iss); err != nil {
				return err
			}
		}
	}
	for _, u := range r.passkeyUsers {
		if err := to.CreatePasskeyUser(ctx, u); err != nil {
			return err
		}
	}
	for _, p := range r.passkeys {
		if err := to.CreatePasskey(ctx, p); err != nil {
			return err
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.settings)) {
		if err := to.SetSetting(ctx, k, r.settings[k]); err != nil {
			return err
		}
	}
	if len(r.hulkConfig) > 0 {
		if err := to.SetHulkConfig(ctx, r.hulkConfig); err != nil {
			return err
		}
	}
	if len(r.hulkRecords) > 0 {
		if err := to.PutHulkRecords(ctx, r.hulkRecords); err != nil {
			return err
		}
	}
	return nil
}

// diff reports the first record that differs between r and o, which have
// the same counts.
func (r *records) diff(o *records) error {
	for i, a := range r.accounts {
		b := o.accounts[i]
		if !sameAccount(a, b) {
			return fmt.Errorf("account %q reads back as %q with other fields", a.Username, b.Username)
		}
		u := a.Username
		if !slices.Equal(r.domains[u], o.domains[u]) {
			return fmt.Errorf("the domains of %q differ", u)
		}
		if !slices.EqualFunc(r.mailboxes[u], o.mailboxes[u], sameMailbox) {
			return fmt.Errorf("the mailboxes of %q differ", u)
		}
		h, ok := r.accessHashes[u]
		h2, ok2 := o.accessHashes[u]
		if ok != ok2 || ok && !sameAccessHash(h, h2) {
			return fmt.Errorf("the access hash of %q differs", u)
		}
		if !slices.EqualFunc(r.tokens[u], o.tokens[u], sameToken) {
			return fmt.Errorf("the API tokens of %q differ", u)
		}
	}
	for i, ss := range r.sessions {
		if !sameSession(ss, o.sessions[i]) {
			return fmt.Errorf("the session of %q created %v differs", ss.Username, ss.Created)
		}
	}
	for i, tf := range r.twoFactor {
		if !sameTwoFactor(tf, o.twoFactor[i]) {
			return fmt.Errorf("the two-factor configuration of %q differs", tf.Username)
		}
	}
	if !maps.Equal(r.issuers, o.issuers) {
		return errors.New("the two-factor issuers differ")
	}
	for i, p := range r.passkeys {
		if !samePasskey(p, o.passkeys[i]) {
			return fmt.Errorf("the passkey %q of %q differs", p.Name, p.Username)
		}
	}
	for i, u := range r.passkeyUsers {
		if !samePasskeyUser(u, o.passkeyUsers[i]) {
			return fmt.Errorf("the passkey user handle of %q differs", u.Username)
		}
	}
	if !maps.Equal(r.settings, o.settings) {
		return errors.New("the settings differ")
	}
	if !maps.Equal(r.hulkConfig, o.hulkConfig) {
		return errors.New("the cPHulk settings differ")
	}
	if !slices.EqualFunc(r.hulkRecords, o.hulkRecords, func(a, b store.HulkRecord) bool {
		return a.List == b.List && a.CIDR == b.CIDR && a.Comment == b.Comment && a.Created.Equal(b.Created)
	}) {
		return errors.New("the cPHulk lists differ")
	}
	return nil
}

func sameAccount(a, b store.Account) bool {
	return a.Username == b.Username && a.Domain == b.Domain && a.Owner == b.Owner &&
		a.PasswordHash == b.PasswordHash && a.Suspended == b.Suspended &&
		a.SuspendReason == b.SuspendReason && a.Reseller == b.Reseller &&
		(a.ACLs == nil) == (b.ACLs == nil) && slices.Equal(a.ACLs, b.ACLs) &&
		a.ContactEmail == b.ContactEmail && a.Plan == b.Plan &&
		a.Created.Equal(b.Created) && a.PasswordChanged.Equal(b.PasswordChanged)
}

func sameMailbox(a, b store.Mailbox) bool {
	return a.Account == b.Account && a.Local == b.Local && a.Domain == b.Domain &&
		a.PasswordHash == b.PasswordHash && a.QuotaMB == b.QuotaMB &&
		a.Suspended == b.Suspended && a.Created.Equal(b.Created)
}

func sameAccessHash(a, b store.AccessHash) bool {
	return a.Username == b.Username && a.MAC == b.MAC && bytes.Equal(a.Sealed, b.Sealed) &&
		a.Created.Equal(b.Created)
}

func sameToken(a, b store.Token) bool {
	return a.Service == b.Service && a.Username == b.Username && a.Name == b.Name && a.MAC == b.MAC &&
		(a.ACLs == nil) == (b.ACLs == nil) && slices.Equal(a.ACLs, b.ACLs) &&
		a.ExpiresAt.Equal(b.ExpiresAt) && slices.Equal(a.WhitelistIPs, b.WhitelistIPs) &&
		a.ReadOnly == b.ReadOnly && a.RequireOTP == b.RequireOTP && a.Created.Equal(b.Created) &&
		a.LastUsed.Equal(b.LastUsed) && a.LastUsedIP == b.LastUsedIP
}

func sameSession(a, b store.Session) bool {
	return a.IDHash == b.IDHash && a.Kind == b.Kind && a.Username == b.Username && a.Account == b.Account &&
		a.Service == b.Service && a.SecurityToken == b.SecurityToken && a.Creator == b.Creator &&
		a.Origin == b.Origin && a.Method == b.Method && a.TFAVerified == b.TFAVerified &&
		a.Locale == b.Locale && a.GotoURI == b.GotoURI && a.Created.Equal(b.Created) &&
		a.LastSeen.Equal(b.LastSeen) && a.IdleTimeout == b.IdleTimeout && a.Expires.Equal(b.Expires) &&
		slices.Equal(a.AllowedIPs, b.AllowedIPs) && a.NotAfter.Equal(b.NotAfter) && a.RequireOTP == b.RequireOTP &&
		bytes.Equal(a.Passkey, b.Passkey)
}

func sameTwoFactor(a, b store.TwoFactor) bool {
	return a.Username == b.Username && a.Account == b.Account && bytes.Equal(a.Sealed, b.Sealed) &&
		a.LastStep == b.LastStep && slices.Equal(a.RecoveryMACs, b.RecoveryMACs) &&
		a.Failures == b.Failures && a.FailuresSince.Equal(b.FailuresSince) && a.Created.Equal(b.Created)
}

func samePasskey(a, b store.Passkey) bool {
	return bytes.Equal(a.ID, b.ID) && a.Username == b.Username && a.Account == b.Account && a.Name == b.Name &&
		bytes.Equal(a.PublicKey, b.PublicKey) && a.AttestationType == b.AttestationType && a.SignCount == b.SignCount &&
		slices.Equal(a.Transports, b.Transports) && bytes.Equal(a.AAGUID, b.AAGUID) && a.Kind == b.Kind &&
		a.BackupEligible == b.BackupEligible && a.BackupState == b.BackupState && a.UserVerified == b.UserVerified &&
		a.CloneWarning == b.CloneWarning && a.Created.Equal(b.Created) && a.LastUsed.Equal(b.LastUsed) && a.LastUsedIP == b.LastUsedIP
}

func samePasskeyUser(a, b store.PasskeyUser) bool {
	return a.Username == b.Username && a.Account == b.Account && bytes.Equal(a.Handle, b.Handle) &&
		a.Passwordless == b.Passwordless && a.Created.Equal(b.Created)
}
