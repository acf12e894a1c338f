package auth

import (
	"context"
	"errors"
	"math"
	"strings"
	"time"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/settings"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/totp"
)

// Keyed-hash and sealing purposes of two-factor secrets.
const (
	// TOTPPurpose seals a user's TOTP secret (bound to the login name).
	TOTPPurpose = "totp"
	// RecoveryPurpose is the keyed hash of recovery codes.
	RecoveryPurpose = "tfa-recovery"
)

// Recovery codes: RecoveryCount of them, each RecoveryLen characters of
// recoveryChars (no 0/o, 1/l/i), shown as two groups of five.
const (
	RecoveryCount = 10
	RecoveryLen   = 10
	recoveryChars = "abcdefghjkmnpqrstuvwxyz23456789"
)

// Default per-user limit of wrong codes.
const (
	DefaultMaxFailures   = 5
	DefaultFailureWindow = 15 * time.Minute
)

// Verdict is the answer of a two-factor check.
type Verdict int

const (
	// CodeWrong: the code is wrong, or of the wrong form.
	CodeWrong Verdict = iota
	// CodeReplayed: the code is right for a time step already used (at a
	// login), or older than the newest one accepted (anywhere). It is
	// refused; it does not count towards the per-user limit of wrong codes
	// (whoever sends it has seen a current code, and is not guessing), but
	// the guard hears of it as a failure.
	CodeReplayed
	// CodeOK: a right TOTP code; its time step is now burnt (or, in an
	// API call's header, was the newest accepted already: D22).
	CodeOK
	// RecoveryOK: a right recovery code; it is now used up.
	RecoveryOK
	// CodeLimited: too many wrong codes lately; nothing was checked.
	CodeLimited
	// CodeRefused: the brute-force regulator refused the attempt; nothing
	// was checked.
	CodeRefused
	// NotConfigured: the user has no two-factor configuration.
	NotConfigured
	// CheckFailed: the store or the server key failed (see the error).
	CheckFailed
)

// OK reports whether the second factor was given.
func (v Verdict) OK() bool { return v == CodeOK || v == RecoveryOK }

func (v Verdict) String() string {
	switch v {
	case CodeOK:
		return "right code"
	case RecoveryOK:
		return "recovery code used"
	case CodeReplayed:
		return "two-factor code already used"
	case CodeLimited:
		return "too many wrong codes for this user (rate limit)"
	case CodeRefused:
		return "refused by the brute-force regulator"
	case NotConfigured:
		return "two-factor authentication not configured"
	case CheckFailed:
		return "check failed"
	}
	return "wrong or used two-factor code"
}

// TwoFactor checks second factors: TOTP codes and single-use recovery
// codes; and it decides which requests need one. A code typed at a login
// (Verify) is accepted once: its time step is burnt in the same store
// update that accepts it, so the same code cannot pass twice, on any port
// or node, nor in two concurrent requests. A code in an API call's header
// (VerifyHeader, D22) serves every call of its window: cPanel's clients
// compute one code and send it on every call. Both refuse a code of a
// step older than the newest one accepted. Wrong codes are limited per
// user (MaxFailures in FailureWindow, counted in the store, so across
// nodes) and reported to the brute-force regulator.
type TwoFactor struct {
	Store store.Store
	Key   *secret.Key
	Now   func() time.Time
	// MaxFailures wrong codes within FailureWindow (counted from the
	// first) stop every check for the user until the window ends; zero:
	// the defaults.
	MaxFailures   int
	FailureWindow time.Duration
}

func (t *TwoFactor) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *TwoFactor) limits() (int, time.Duration) {
	n, w := t.MaxFailures, t.FailureWindow
	if n <= 0 {
		n = DefaultMaxFailures
	}
	if w <= 0 {
		w = DefaultFailureWindow
	}
	return n, w
}

// Configured reports whether user has two-factor authentication set up.
func (t *TwoFactor) Configured(ctx context.Context, user string) (bool, error) {
	_, err := t.Store.GetTwoFactor(ctx, user)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	}
	return false, err
}

// policy reads a boolean setting.
func policy(ctx context.Context, st store.Store, key string) (bool, error) {
	v, err := settings.Get(ctx, st, key)
	return v == "1", err
}

// Needed reports whether an authenticated request still needs the user's
// second factor (D10, D11):
//   - a session: until it is two-factor verified, while the policy is on
//     and the user has two-factor authentication configured or a passkey;
//     or, whatever that policy says, while the phishing-resistant policy
//     requires a passkey of the user on the session's service
//     (PasskeyRequired);
//   - a password (HTTP Basic): when the policy and the API requests
//     policy are on and the user has it configured;
//   - an API token flagged require_otp: whenever its owner has it
//     configured, whatever the policies say (the owner asked for it);
//   - any other token, an access hash: never (as cPanel).
func (t *TwoFactor) Needed(ctx context.Context, out Outcome) (bool, error) {
	user := out.Principal.User
	switch out.Method {
	case core.MethodSession:
		if out.Session.TFAVerified {
			return false, nil
		}
		// The phishing-resistant policy asks for a passkey whatever the
		// two-factor policy says.
		if req, err := PasskeyRequired(ctx, t.Store, user, out.Principal.Service); err != nil || req {
			return req, err
		}
		if !out.Session.RequireOTP { // made through a require_otp token: asked whatever the policy
			on, err := policy(ctx, t.Store, settings.TwoFactorPolicy)
			if err != nil || !on {
				return false, err
			}
		}
		// A browser session can give a passkey as well as a code.
		return t.HasSecondFactor(ctx, user)
	case core.MethodPassword:
		on, err := policy(ctx, t.Store, settings.TwoFactorPolicy)
		if err != nil || !on {
			return false, err
		}
		if on, err = policy(ctx, t.Store, settings.APIPolicy); err != nil || !on {
			return false, err
		}
	case core.MethodToken:
		if !out.RequireOTP {
			return false, nil
		}
	default:
		return false, nil
	}
	return t.Configured(ctx, user)
}

// LoginNeeded reports whether a browser login of user needs the second
// factor: the policy is on and the user has a second factor (a TOTP
// configuration or a passkey).
func (t *TwoFactor) LoginNeeded(ctx context.Context, user string) (bool, error) {
	on, err := policy(ctx, t.Store, settings.TwoFactorPolicy)
	if err != nil || !on {
		return false, err
	}
	return t.HasSecondFactor(ctx, user)
}

// HasSecondFactor reports whether user has a second factor a browser can
// give: two-factor authentication (TOTP) set up, or a passkey that is not
// marked as cloned. API calls can give only a code (X-CPANEL-OTP), so
// they ask Configured.
func (t *TwoFactor) HasSecondFactor(ctx context.Context, user string) (bool, error) {
	if on, err := t.Configured(ctx, user); err != nil || on {
		return on, err
	}
	return HasPasskey(ctx, t.Store, user)
}

// HasPasskey reports whether user has a passkey that is not marked as
// cloned.
func HasPasskey(ctx context.Context, st store.Store, user string) (bool, error) {
	return store.HasUsablePasskey(ctx, st, user)
}

// PasskeyRequired reports whether the phishing-resistant policy requires a
// passkey for user's logins on svc: root's WHM logins while
// settings.RequirePasskeyRoot is on, resellers' while
// settings.RequirePasskeyResellers is.
func PasskeyRequired(ctx context.Context, st store.Store, user string, svc core.Service) (bool, error) {
	if svc != core.ServiceWHM {
		return false, nil
	}
	if user == "root" {
		return policy(ctx, st, settings.RequirePasskeyRoot)
	}
	on, err := policy(ctx, st, settings.RequirePasskeyResellers)
	if err != nil || !on {
		return false, err
	}
	a, err := st.GetAccount(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return a.Reseller, nil
}

// Verify checks a second factor a person typed (a login's tfa_token, the
// code page's tfatoken, a setup or removal's code) for att.User through
// the guard: Admit before, Failed or Succeeded after (att.Method is set
// to core.MethodTwoFactor and att.Secret to the code). A TOTP code passes
// once: only a step later than every one accepted before, this one then
// burnt. Recovery codes are accepted only when allowRecovery is set.
// remaining is the count of unused recovery codes after a RecoveryOK.
func (t *TwoFactor) Verify(ctx context.Context, g Guard, att Attempt, code string, allowRecovery bool) (v Verdict, remaining int, err error) {
	return t.verify(ctx, g, att, code, allowRecovery, false)
}

// VerifyHeader checks the code of an API call's X-CPANEL-OTP header
// (D22), through the guard as Verify does. A code passes while its step
// is within the matcher's window and not older than the newest step
// accepted for the user (by a header or a login): cPanel's clients
// compute one code and send it on every call of its 30 seconds, and
// cPanel keeps no record of used codes. Using it again writes nothing.
// Recovery codes are never taken here: they would be spent by the first
// call, and a header travels with every call.
//
// A step accepted here is the newest accepted, so its code is then
// refused by Verify: a code that has been in a header, which scripts keep
// in their configuration and every call carries, cannot log in.
func (t *TwoFactor) VerifyHeader(ctx context.Context, g Guard, att Attempt, code string) (Verdict, error) {
	v, _, err := t.verify(ctx, g, att, code, false, true)
	return v, err
}

// verify is Verify and VerifyHeader: reuse lets the newest accepted step
// pass again (the header's window).
func (t *TwoFactor) verify(ctx context.Context, g Guard, att Attempt, code string, allowRecovery, reuse bool) (v Verdict, remaining int, err error) {
	if g == nil {
		g = NoGuard{}
	}
	att.Method, att.Secret = core.MethodTwoFactor, code
	if ok, _ := g.Admit(ctx, att); !ok {
		return CodeRefused, 0, nil
	}
	v, remaining, err = t.check(ctx, att.User, code, allowRecovery, reuse)
	switch {
	case v.OK():
		g.Succeeded(ctx, att)
	case v == CodeWrong || v == CodeReplayed || v == CodeLimited || v == NotConfigured:
		g.Failed(ctx, att, v.String())
	}
	return v, remaining, err
}

// errNoWrite ends an updater that found nothing to write.
var errNoWrite = errors.New("nothing to write")

// check is verify without the guard: one locked update of the user's
// record that reads the secret, matches the code against steps not yet
// burnt (with reuse, also the newest accepted one), and burns the matched
// step (or uses up the recovery code, or counts the failure) before it
// commits.
func (t *TwoFactor) check(ctx context.Context, user, code string, allowRecovery, reuse bool) (Verdict, int, error) {
	maxFail, window := t.limits()
	now := t.now()
	code = strings.TrimSpace(code)
	var (
		v         Verdict
		remaining int
		openErr   error
	)
	_, err := t.Store.UpdateTwoFactor(ctx, user, func(tf store.TwoFactor) (store.TwoFactor, error) {
		v, remaining, openErr = CodeWrong, 0, nil // the updater may run more than once
		if !tf.FailuresSince.IsZero() && now.Sub(tf.FailuresSince) >= window {
			tf.Failures, tf.FailuresSince = 0, time.Time{}
		}
		if tf.Failures >= maxFail {
			v = CodeLimited
			return tf, errNoWrite
		}
		sec, err := t.Key.Open(TOTPPurpose, tf.Sealed, []byte(user))
		if err != nil {
			v, openErr = CheckFailed, err
			return tf, errNoWrite
		}
		if totp.IsCode(code) {
			after := tf.LastStep // steps after it are not burnt
			if reuse && after > math.MinInt64 {
				after-- // D22: the newest accepted step passes again
			}
			if step, ok := totp.Match(string(sec), code, now, after); ok {
				v = CodeOK
				if step == tf.LastStep {
					// The header's code again: nothing to burn, and
					// no write per API call. The count of wrong codes
					// stays: a code seen once (it travels with every
					// call) must not clear the limit for whoever keeps
					// guessing beside it.
					return tf, errNoWrite
				}
				tf.LastStep, tf.Failures, tf.FailuresSince = step, 0, time.Time{}
				return tf, nil
			}
			if _, ok := totp.Match(string(sec), code, now, math.MinInt64); ok {
				v = CodeReplayed
				return tf, errNoWrite
			}
		} else if rc, ok := NormalizeRecoveryCode(code); ok && allowRecovery {
			mac := RecoveryMAC(t.Key, user, rc)
			for i, m := range tf.RecoveryMACs {
				if secret.Equal(m, mac) {
					tf.RecoveryMACs = append(tf.RecoveryMACs[:i:i], tf.RecoveryMACs[i+1:]...)
					tf.Failures, tf.FailuresSince = 0, time.Time{}
					v, remaining = RecoveryOK, len(tf.RecoveryMACs)
					return tf, nil
				}
			}
		}
		if tf.FailuresSince.IsZero() {
			tf.FailuresSince = now
		}
		tf.Failures++
		return tf, nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return NotConfigured, 0, nil
	case errors.Is(err, errNoWrite):
		return v, 0, openErr
	case err != nil:
		return CheckFailed, 0, err
	}
	return v, remaining, nil
}

// Enroll sets up (or replaces) user's two-factor authentication with
// secret once code proves that the user's app holds it. The code is
// checked through the guard like any other, and its step is burnt in the
// new record, so it cannot then log in as well. It returns the new
// recovery codes, which exist nowhere else: show them once.
func (t *TwoFactor) Enroll(ctx context.Context, g Guard, att Attempt, account, sec, code string) (Verdict, []string, error) {
	if g == nil {
		g = NoGuard{}
	}
	sec, err := totp.NormalizeSecret(sec)
	if err != nil {
		return CheckFailed, nil, err
	}
	att.Method, att.Secret = core.MethodTwoFactor, code
	if ok, _ := g.Admit(ctx, att); !ok {
		return CodeRefused, nil, nil
	}
	now := t.now()
	step, ok := totp.Match(sec, strings.TrimSpace(code), now, -1)
	if !ok {
		g.Failed(ctx, att, "wrong two-factor code at setup")
		return CodeWrong, nil, nil
	}
	g.Succeeded(ctx, att)
	sealed, err := t.Key.Seal(TOTPPurpose, []byte(sec), []byte(att.User))
	if err != nil {
		return CheckFailed, nil, err
	}
	codes, macs, err := NewRecoveryCodes(t.Key, att.User)
	if err != nil {
		return CheckFailed, nil, err
	}
	tf := store.TwoFactor{Username: att.User, Account: account, Sealed: sealed, LastStep: step, RecoveryMACs: macs, Created: now}
	if err := t.Store.SetTwoFactor(ctx, tf); err != nil {
		return CheckFailed, nil, err
	}
	return CodeOK, codes, nil
}

// NewRecoveryCodes makes RecoveryCount fresh recovery codes for user, as
// shown (xxxxx-xxxxx) and as stored (keyed hashes).
func NewRecoveryCodes(k *secret.Key, user string) (codes, macs []string, err error) {
	for range RecoveryCount {
		c, err := secret.RandomString(RecoveryLen, recoveryChars)
		if err != nil {
			return nil, nil, err
		}
		codes = append(codes, c[:RecoveryLen/2]+"-"+c[RecoveryLen/2:])
		macs = append(macs, RecoveryMAC(k, user, c))
	}
	return codes, macs, nil
}

// NormalizeRecoveryCode turns a recovery code as typed (any case, with or
// without the hyphen and spaces) into its stored form.
func NormalizeRecoveryCode(s string) (string, bool) {
	if len(s) > 3*RecoveryLen {
		return "", false
	}
	s = strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(s))
	if len(s) != RecoveryLen {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(recoveryChars, s[i]) < 0 {
			return "", false
		}
	}
	return s, true
}

// RecoveryMAC is the stored keyed hash of a normalised recovery code;
// the user is part of it, so a code can only ever be one user's.
func RecoveryMAC(k *secret.Key, user, code string) string {
	return k.MAC(RecoveryPurpose, []byte(user+"\x00"+code))
}

// OpenSecret returns a user's TOTP secret from its sealed form.
func OpenSecret(k *secret.Key, tf store.TwoFactor) (string, error) {
	b, err := k.Open(TOTPPurpose, tf.Sealed, []byte(tf.Username))
	return string(b), err
}
