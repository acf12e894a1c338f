// Package passkey runs the WebAuthn ceremonies of passkeys and security
// keys (registration, an assertion as the second factor or as the only
// factor) over github.com/go-webauthn/webauthn, keeping credentials, user
// handles and single-use challenges in the store. It knows no HTTP routes:
// the server hands it the options' and responses' JSON.
package passkey

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/sessions"
	"github.com/cpauth/cpauth/internal/store"
)

// Errors the ceremonies return (wrapped); any other error is the store's
// or the library's failure, not the user's.
var (
	// ErrNoCeremony: no ceremony of that purpose is in progress for what
	// asked (never begun, already finished, expired, or begun for another
	// user).
	ErrNoCeremony = errors.New("passkey: no such ceremony in progress")
	// ErrRefused: the authenticator's response does not prove what it
	// must (wrong origin or relying party, bad signature, unknown or
	// foreign credential, user not verified, unreadable).
	ErrRefused = errors.New("passkey: the response was refused")
	// ErrCloned: the sign counter did not move forward; the credential is
	// marked and refused from now on. It wraps ErrRefused.
	ErrCloned = fmt.Errorf("%w: the sign counter did not move forward (a cloned authenticator?)", ErrRefused)
	// ErrNoPasskey: the user has no usable passkey.
	ErrNoPasskey = errors.New("passkey: the user has no passkey")
	// ErrName: a credential's name is empty, too long or not plain text.
	ErrName = errors.New("passkey: the name must be 1 to 64 characters of plain text")
	// ErrNameTaken: the user has a credential of that name already.
	ErrNameTaken = errors.New("passkey: a passkey of that name exists")
	// ErrNotFound: the user has no credential of that ID.
	ErrNotFound = errors.New("passkey: no such passkey")
)

// MaxNameLen bounds a credential's name, in characters.
const MaxNameLen = store.MaxPasskeyNameLen

// MaxResponseBytes bounds an authenticator response's JSON.
const MaxResponseBytes = 64 << 10

// userHandleLen is the length of the random WebAuthn user handles.
const userHandleLen = 32

// RelyingParty is who the credentials are for: ID is the server's host
// name (a credential works on every port of it), Origins the exact origins
// a ceremony may come from (scheme, host, port).
type RelyingParty struct {
	ID      string
	Name    string
	Origins []string
}

// Origins returns the origins of host: https on each TLS port, and, when
// host is localhost (which browsers treat as a secure context), http on
// each plain port too. Port 443 (and 80) are written without the port, as
// browsers send them.
func Origins(host string, tlsPorts, plainPorts []int) []string {
	var out []string
	add := func(scheme string, port, def int) {
		if port <= 0 {
			return
		}
		o := scheme + "://" + host
		if port != def {
			o += ":" + strconv.Itoa(port)
		}
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	for _, p := range tlsPorts {
		add("https", p, 443)
	}
	if IsLocalhost(host) {
		for _, p := range plainPorts {
			add("http", p, 80)
		}
	}
	return out
}

// IsLocalhost reports whether host is localhost, whose plain-HTTP pages
// browsers let use WebAuthn.
func IsLocalhost(host string) bool { return strings.EqualFold(host, "localhost") }

// Offered reports whether a page at origin (scheme://host[:port]) may offer
// passkeys: it is one of rp's origins, so that the browser runs the
// ceremony for rp.ID and this server accepts it.
func (rp RelyingParty) Offered(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return slices.Contains(rp.Origins, strings.ToLower(origin))
}

// Service runs the ceremonies. Every field but Log is required.
type Service struct {
	Store store.Store
	Key   *secret.Key
	Log   *slog.Logger
	Now   func() time.Time
	// RP returns the relying party now: the configured host name and the
	// ports as bound.
	RP func() RelyingParty
	// Ended, when set, is told of the sessions that marking a passkey as
	// cloned ended (for session_log's PURGE lines), with the reason word
	// PurgeCloned.
	Ended func(ended []store.Session, reason string)
}

// session_log's PURGE reasons for the sessions a passkey made or verified
// (the words are package sessions', which the API functions share).
const (
	PurgeRemoved = sessions.PurgePasskeyRemoved
	PurgeCloned  = sessions.PurgePasskeyCloned
)

// User is whom a ceremony is for: the login name and its accounts row.
type User struct {
	Username string
	Account  string
}

// Binding keys: what a challenge is bound to. Only the same session (or
// the same login attempt) can redeem it.

// SessionBinding binds a ceremony to a session (by its IDHash).
func SessionBinding(idHash string) string { return "s:" + idHash }

// AttemptBinding binds a ceremony to a login attempt: the keyed hash of
// the attempt id the browser holds, never the id itself.
func (s *Service) AttemptBinding(attemptID string) string {
	return "l:" + s.Key.MAC("passkey-attempt", []byte(attemptID))
}

// NewAttemptID returns a fresh random login attempt id.
func NewAttemptID() (string, error) {
	return secret.RandomString(32, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
}

func challengeKey(purpose, binding string) string { return purpose + "|" + binding }

func (s *Service) now() time.Time { return s.Now() }

// webAuthn is the library's relying party for one ceremony: built each
// time, as the ports (tests bind port 0) and the host name are the
// daemon's of now.
func (s *Service) webAuthn() (*webauthn.WebAuthn, error) {
	rp := s.RP()
	if rp.ID == "" || len(rp.Origins) == 0 {
		return nil, errors.New("passkey: no relying party: the server has no host name or no port that may use passkeys")
	}
	name := rp.Name
	if name == "" {
		name = rp.ID
	}
	return webauthn.New(&webauthn.Config{
		RPID:                  rp.ID,
		RPDisplayName:         name,
		RPOrigins:             rp.Origins,
		AttestationPreference: protocol.PreferNoAttestation,
	})
}

// waUser is a login name as the library sees it.
type waUser struct {
	handle []byte
	name   string
	creds  []webauthn.Credential
}

func (u *waUser) WebAuthnID() []byte                         { return u.handle }
func (u *waUser) WebAuthnName() string                       { return u.name }
func (u *waUser) WebAuthnDisplayName() string                { return u.name }
func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// credential is a stored passkey as the library's record.
func credential(p store.Passkey) webauthn.Credential {
	c := webauthn.Credential{
		ID:              p.ID,
		PublicKey:       p.PublicKey,
		AttestationType: p.AttestationType,
		Flags: webauthn.CredentialFlags{
			UserPresent:    true,
			UserVerified:   p.UserVerified,
			BackupEligible: p.BackupEligible,
			BackupState:    p.BackupState,
		},
		Authenticator: webauthn.Authenticator{AAGUID: p.AAGUID, SignCount: p.SignCount, CloneWarning: p.CloneWarning},
	}
	for _, t := range p.Transports {
		c.Transport = append(c.Transport, protocol.AuthenticatorTransport(t))
	}
	return c
}

// userHandle returns the login name's user handle, making it (random, never
// the login name) when it has none.
func (s *Service) userHandle(ctx context.Context, u User) (store.PasskeyUser, error) {
	pu, err := s.Store.GetPasskeyUser(ctx, u.Username)
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return pu, err
	}
	h := make([]byte, userHandleLen)
	if _, err := rand.Read(h); err != nil {
		return store.PasskeyUser{}, err
	}
	pu = store.PasskeyUser{Username: u.Username, Account: u.Account, Handle: h, Created: s.now()}
	switch err := s.Store.CreatePasskeyUser(ctx, pu); {
	case err == nil:
		return pu, nil
	case errors.Is(err, store.ErrExists):
		// Another request made it first (or, at 2^-256, the handle is
		// taken): use what is stored.
		return s.Store.GetPasskeyUser(ctx, u.Username)
	default:
		return store.PasskeyUser{}, err
	}
}

// user loads u's handle and credentials.
func (s *Service) user(ctx context.Context, u User, create bool) (*waUser, []store.Passkey, error) {
	var (
		pu  store.PasskeyUser
		err error
	)
	if create {
		pu, err = s.userHandle(ctx, u)
	} else {
		pu, err = s.Store.GetPasskeyUser(ctx, u.Username)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, ErrNoPasskey
		}
	}
	if err != nil {
		return nil, nil, err
	}
	list, err := s.Store.ListPasskeys(ctx, u.Username)
	if err != nil {
		return nil, nil, err
	}
	wu := &waUser{handle: pu.Handle, name: u.Username}
	for _, p := range list {
		wu.creds = append(wu.creds, credential(p))
	}
	return wu, list, nil
}

// begin stores a ceremony's state, bound and expiring.
func (s *Service) begin(ctx context.Context, purpose, binding, username string, sd *webauthn.SessionData) error {
	b, err := json.Marshal(sd)
	if err != nil {
		return err
	}
	now := s.now()
	return s.Store.PutPasskeyChallenge(ctx, store.PasskeyChallenge{
		Key: challengeKey(purpose, binding), Purpose: purpose, Username: username,
		Session: b, Created: now, Expires: now.Add(store.PasskeyChallengeTTL),
	})
}

// take redeems a ceremony's state: once, before it expires, for the same
// user.
func (s *Service) take(ctx context.Context, purpose, binding, username string) (webauthn.SessionData, error) {
	c, err := s.Store.TakePasskeyChallenge(ctx, challengeKey(purpose, binding), s.now())
	if errors.Is(err, store.ErrNotFound) {
		return webauthn.SessionData{}, ErrNoCeremony
	}
	if err != nil {
		return webauthn.SessionData{}, err
	}
	if c.Purpose != purpose || !secret.Equal(c.Username, username) {
		return webauthn.SessionData{}, ErrNoCeremony
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal(c.Session, &sd); err != nil {
		return webauthn.SessionData{}, fmt.Errorf("passkey: a stored ceremony is unreadable: %w", err)
	}
	return sd, nil
}

// refused wraps a library error as ErrRefused with its short description
// (never the details, which may hold the challenge).
func refused(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Details != "" {
		return fmt.Errorf("%w: %s", ErrRefused, pe.Details)
	}
	return fmt.Errorf("%w: %s", ErrRefused, "invalid response")
}

// descriptors lists credentials for an allow or exclude list.
func descriptors(list []store.Passkey) []protocol.CredentialDescriptor {
	var out []protocol.CredentialDescriptor
	for _, p := range list {
		d := protocol.CredentialDescriptor{Type: protocol.PublicKeyCredentialType, CredentialID: p.ID}
		for _, t := range p.Transports {
			d.Transport = append(d.Transport, protocol.AuthenticatorTransport(t))
		}
		out = append(out, d)
	}
	return out
}

// BeginRegistration starts adding a credential for u, bound to binding
// (the session): it returns the options for navigator.credentials.create
// as JSON ({"publicKey": ...}). The user's credentials are excluded, a
// discoverable credential is preferred, and no attestation is asked for.
func (s *Service) BeginRegistration(ctx context.Context, binding string, u User) ([]byte, error) {
	wa, err := s.webAuthn()
	if err != nil {
		return nil, err
	}
	wu, list, err := s.user(ctx, u, true)
	if err != nil {
		return nil, err
	}
	creation, sd, err := wa.BeginRegistration(wu,
		webauthn.WithExclusions(descriptors(list)),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationPreferred,
		}),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementPreferred),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
	)
	if err != nil {
		return nil, err
	}
	if err := s.begin(ctx, store.PasskeyRegister, binding, u.Username, sd); err != nil {
		return nil, err
	}
	return json.Marshal(creation)
}

// CheckName normalises a credential's name (store.PasskeyName).
func CheckName(name string) (string, error) {
	if n, ok := store.PasskeyName(name); ok {
		return n, nil
	}
	return "", ErrName
}

// FinishRegistration checks the authenticator's answer to the ceremony
// begun for u under binding and stores the new credential under name.
func (s *Service) FinishRegistration(ctx context.Context, binding string, u User, name string, response []byte, remote string) (store.Passkey, error) {
	name, err := CheckName(name)
	if err != nil {
		return store.Passkey{}, err
	}
	sd, err := s.take(ctx, store.PasskeyRegister, binding, u.Username)
	if err != nil {
		return store.Passkey{}, err
	}
	if len(response) > MaxResponseBytes {
		return store.Passkey{}, fmt.Errorf("%w: the response is too large", ErrRefused)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return store.Passkey{}, refused(err)
	}
	wa, err := s.webAuthn()
	if err != nil {
		return store.Passkey{}, err
	}
	wu, _, err := s.user(ctx, u, true)
	if err != nil {
		return store.Passkey{}, err
	}
	cred, err := wa.CreateCredential(wu, sd, parsed)
	if err != nil {
		return store.Passkey{}, refused(err)
	}
	p := store.Passkey{
		ID:              cred.ID,
		Username:        u.Username,
		Account:         u.Account,
		Name:            name,
		PublicKey:       cred.PublicKey,
		AttestationType: cred.AttestationType,
		SignCount:       cred.Authenticator.SignCount,
		AAGUID:          aaguid(cred.Authenticator.AAGUID),
		BackupEligible:  cred.Flags.BackupEligible,
		BackupState:     cred.Flags.BackupState,
		UserVerified:    cred.Flags.UserVerified,
		Created:         s.now(),
	}
	for _, t := range cred.Transport {
		if t != "" && len(p.Transports) < 8 && len(t) <= 32 {
			p.Transports = append(p.Transports, string(t))
		}
	}
	p.Kind = Kind(p.AAGUID, p.Transports)
	if p.AttestationType == "" {
		p.AttestationType = "none"
	}
	switch err := s.Store.CreatePasskey(ctx, p); {
	case errors.Is(err, store.ErrExists):
		// Another credential of that name, or a credential ID that is
		// registered already (for anyone).
		if _, gerr := s.Store.GetPasskey(ctx, p.ID); gerr == nil {
			return store.Passkey{}, fmt.Errorf("%w: this authenticator is registered already", ErrRefused)
		}
		return store.Passkey{}, ErrNameTaken
	case err != nil:
		return store.Passkey{}, err
	}
	s.log().Info("passkey registered", "user", u.Username, "name", p.Name, "kind", p.Kind, "remote", remote)
	return p, nil
}

// aaguid is the AAGUID to store: nil for none or all zeros.
func aaguid(b []byte) []byte {
	if len(b) != 16 || bytes.Equal(b, make([]byte, 16)) {
		return nil
	}
	return slices.Clone(b)
}

// BeginLogin starts an assertion for u under binding, for purpose
// (store.PasskeySecondFactor on the code page, store.PasskeyConfirm to
// confirm an action): only u's credentials are allowed, user verification
// preferred. ErrNoPasskey when u has none that may be used.
func (s *Service) BeginLogin(ctx context.Context, purpose, binding string, u User) ([]byte, error) {
	if purpose != store.PasskeySecondFactor && purpose != store.PasskeyConfirm {
		return nil, fmt.Errorf("passkey: BeginLogin for %q", purpose)
	}
	wa, err := s.webAuthn()
	if err != nil {
		return nil, err
	}
	wu, list, err := s.user(ctx, u, false)
	if err != nil {
		return nil, err
	}
	usable := slices.DeleteFunc(slices.Clone(list), func(p store.Passkey) bool { return p.CloneWarning })
	if len(usable) == 0 {
		return nil, ErrNoPasskey
	}
	assertion, sd, err := wa.BeginLogin(wu,
		webauthn.WithAllowedCredentials(descriptors(usable)),
		webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, err
	}
	if err := s.begin(ctx, purpose, binding, u.Username, sd); err != nil {
		return nil, err
	}
	return json.Marshal(assertion)
}

// FinishLogin checks an assertion for the ceremony begun for u under
// binding and purpose, and records the use: the credential as updated.
func (s *Service) FinishLogin(ctx context.Context, purpose, binding string, u User, response []byte, remote string) (store.Passkey, error) {
	sd, err := s.take(ctx, purpose, binding, u.Username)
	if err != nil {
		return store.Passkey{}, err
	}
	parsed, err := parseAssertion(response)
	if err != nil {
		return store.Passkey{}, err
	}
	wa, err := s.webAuthn()
	if err != nil {
		return store.Passkey{}, err
	}
	wu, _, err := s.user(ctx, u, false)
	if errors.Is(err, ErrNoPasskey) {
		return store.Passkey{}, fmt.Errorf("%w: the user has no passkey", ErrRefused)
	}
	if err != nil {
		return store.Passkey{}, err
	}
	cred, err := wa.ValidateLogin(wu, sd, parsed)
	if err != nil {
		return store.Passkey{}, refused(err)
	}
	return s.used(ctx, u.Username, cred, parsed, remote)
}

// BeginPasswordless starts a passwordless login under binding (the login
// attempt): any discoverable credential of this relying party, user
// verification required.
func (s *Service) BeginPasswordless(ctx context.Context, binding string) ([]byte, error) {
	wa, err := s.webAuthn()
	if err != nil {
		return nil, err
	}
	assertion, sd, err := wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, err
	}
	if err := s.begin(ctx, store.PasskeyPasswordless, binding, "", sd); err != nil {
		return nil, err
	}
	return json.Marshal(assertion)
}

// FinishPasswordless checks a passwordless login's assertion: the
// credential's user handle names a user who allows passwordless sign-in,
// the credential is theirs, the user was verified. It returns the
// credential as updated (its Username and Account are whom to log in).
func (s *Service) FinishPasswordless(ctx context.Context, binding string, response []byte, remote string) (store.Passkey, error) {
	sd, err := s.take(ctx, store.PasskeyPasswordless, binding, "")
	if err != nil {
		return store.Passkey{}, err
	}
	parsed, err := parseAssertion(response)
	if err != nil {
		return store.Passkey{}, err
	}
	wa, err := s.webAuthn()
	if err != nil {
		return store.Passkey{}, err
	}
	var (
		who       store.PasskeyUser
		notAllow  bool
		lookupErr error
	)
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		pu, err := s.Store.GetPasskeyUserByHandle(ctx, userHandle)
		if err != nil {
			if !errors.Is(err, store.ErrNotFound) {
				lookupErr = err
			}
			return nil, errors.New("unknown user handle")
		}
		if !pu.Passwordless {
			notAllow = true
			return nil, errors.New("passwordless sign-in is off for this user")
		}
		wu, _, err := s.user(ctx, User{Username: pu.Username, Account: pu.Account}, false)
		if err != nil {
			if !errors.Is(err, ErrNoPasskey) {
				lookupErr = err
			}
			return nil, errors.New("no credentials")
		}
		who = pu
		return wu, nil
	}
	cred, err := wa.ValidateDiscoverableLogin(handler, sd, parsed)
	switch {
	case lookupErr != nil:
		return store.Passkey{}, lookupErr
	case notAllow:
		return store.Passkey{}, fmt.Errorf("%w: passwordless sign-in is not enabled for this user", ErrRefused)
	case err != nil:
		return store.Passkey{}, refused(err)
	}
	return s.used(ctx, who.Username, cred, parsed, remote)
}

func parseAssertion(response []byte) (*protocol.ParsedCredentialAssertionData, error) {
	if len(response) > MaxResponseBytes {
		return nil, fmt.Errorf("%w: the response is too large", ErrRefused)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, refused(err)
	}
	return parsed, nil
}

// used records a verified assertion: in one store update, against the
// stored counter (which another node may just have moved), the sign
// counter must move forward unless both are zero; if it does not, the
// credential is marked and the login refused. A credential marked before
// is refused too.
func (s *Service) used(ctx context.Context, username string, cred *webauthn.Credential, parsed *protocol.ParsedCredentialAssertionData, remote string) (store.Passkey, error) {
	counter := parsed.Response.AuthenticatorData.Counter
	flags := parsed.Response.AuthenticatorData.Flags
	var cloned, wasMarked bool
	p, err := s.Store.UpdatePasskey(ctx, cred.ID, func(p store.Passkey) (store.Passkey, error) {
		cloned, wasMarked = false, p.CloneWarning
		if p.Username != username {
			return p, fmt.Errorf("%w: the credential is another user's", ErrRefused)
		}
		if p.CloneWarning {
			return p, nil
		}
		if counter <= p.SignCount && (counter != 0 || p.SignCount != 0) {
			p.CloneWarning, cloned = true, true
			return p, nil
		}
		p.SignCount = counter
		p.BackupState = flags.HasBackupState()
		if flags.HasUserVerified() {
			p.UserVerified = true
		}
		p.LastUsed, p.LastUsedIP = s.now(), remote
		return p, nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Passkey{}, fmt.Errorf("%w: the credential was removed", ErrRefused)
	case err != nil:
		return store.Passkey{}, err
	case cloned:
		s.log().Warn("passkey refused: its sign counter did not move forward; it is marked and refused from now on",
			"user", username, "name", p.Name, "stored_counter", p.SignCount, "presented_counter", counter, "remote", remote)
		// Whoever holds a copy of the key may have made sessions with it:
		// every session it made or verified ends, on every node.
		ended, err := s.Store.DeletePasskeySessions(ctx, cred.ID)
		if err != nil {
			s.log().Error("passkey marked as cloned: ending its sessions", "user", username, "name", p.Name, "error", err.Error())
		} else if len(ended) > 0 {
			s.log().Info("sessions ended", "user", username, "sessions", len(ended), "reason", PurgeCloned, "passkey_name", p.Name)
			if s.Ended != nil {
				s.Ended(ended, PurgeCloned)
			}
		}
		return store.Passkey{}, ErrCloned
	case wasMarked:
		return store.Passkey{}, fmt.Errorf("%w: the passkey was marked as cloned; remove it and register it again", ErrRefused)
	}
	return p, nil
}

func (s *Service) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// Has reports whether username has a passkey that may be used.
func (s *Service) Has(ctx context.Context, username string) (bool, error) {
	return store.HasUsablePasskey(ctx, s.Store, username)
}

// Passwordless reports whether username allows passwordless sign-in.
func (s *Service) Passwordless(ctx context.Context, username string) (bool, error) {
	pu, err := s.Store.GetPasskeyUser(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return pu.Passwordless, err
}

// SetPasswordless turns passwordless sign-in on or off for u.
func (s *Service) SetPasswordless(ctx context.Context, u User, on bool) error {
	if _, err := s.userHandle(ctx, u); err != nil {
		return err
	}
	_, err := s.Store.UpdatePasskeyUser(ctx, u.Username, func(pu store.PasskeyUser) (store.PasskeyUser, error) {
		pu.Passwordless = on
		return pu, nil
	})
	return err
}

// owned returns username's credential id, or ErrNotFound.
func (s *Service) owned(ctx context.Context, username string, id []byte) (store.Passkey, error) {
	p, err := s.Store.GetPasskey(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && p.Username != username {
		return store.Passkey{}, ErrNotFound
	}
	return p, err
}

// Rename renames username's credential id.
func (s *Service) Rename(ctx context.Context, username string, id []byte, name string) (store.Passkey, error) {
	name, err := CheckName(name)
	if err != nil {
		return store.Passkey{}, err
	}
	if _, err := s.owned(ctx, username, id); err != nil {
		return store.Passkey{}, err
	}
	p, err := s.Store.UpdatePasskey(ctx, id, func(p store.Passkey) (store.Passkey, error) {
		if p.Username != username {
			return p, ErrNotFound
		}
		p.Name = name
		return p, nil
	})
	switch {
	case errors.Is(err, store.ErrExists):
		return store.Passkey{}, ErrNameTaken
	case errors.Is(err, store.ErrNotFound):
		return store.Passkey{}, ErrNotFound
	}
	return p, err
}

// Remove deletes username's credential id. The caller has checked that
// the user confirmed it (the password again or a current second factor).
func (s *Service) Remove(ctx context.Context, username string, id []byte) (store.Passkey, error) {
	p, err := s.owned(ctx, username, id)
	if err != nil {
		return store.Passkey{}, err
	}
	if err := s.Store.DeletePasskey(ctx, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return store.Passkey{}, ErrNotFound
		}
		return store.Passkey{}, err
	}
	return p, nil
}
