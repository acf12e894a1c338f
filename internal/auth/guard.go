package auth

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/cpauth/cpauth/internal/core"
)

// Attempt is one authentication attempt as the brute-force regulator sees
// it: every credential cpauth checks (a password, a token, an access hash,
// a session or single sign-on redemption, a two-factor code) is one.
type Attempt struct {
	Service core.Service
	Remote  netip.Addr
	// User is the login name as presented; it may not exist ("" when the
	// request names none). A Guard that counts names counts LoginName(User)
	// (D27), so that case variants of an email address are one name.
	User string
	// Method is the credential's method when known ("" before the chain
	// has decided whose credential it is).
	Method core.Method
	// Secret is the presented secret, so that the regulator can tell
	// several distinct wrong passwords from one password retried. A Guard
	// keeps at most a keyed hash of it and never logs it; LogValue leaves
	// it out.
	Secret string
}

// LogValue keeps the secret out of every log line an Attempt reaches.
func (a Attempt) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("service", a.Service.App()),
		slog.String("remote", a.Remote.String()),
		slog.String("user", a.User),
		slog.String("method", string(a.Method)),
	)
}

// Guard stands before every credential check: the brute-force regulator.
// The server asks Admit before it checks anything (before any password hash
// is computed) and reports every checked attempt's result. A refused
// attempt is answered on the wire exactly like a wrong credential.
// Implementations must be safe for concurrent use and cheap on the request
// path: Admit and Succeeded run on every authenticated request.
type Guard interface {
	// Admit reports whether the attempt may be checked at all; when it
	// may not, reason says why (for the log).
	Admit(ctx context.Context, a Attempt) (ok bool, reason string)
	// Failed records an attempt whose credential was wrong; reason is the
	// log's reason (never the secret).
	Failed(ctx context.Context, a Attempt, reason string)
	// Succeeded records an attempt that authenticated.
	Succeeded(ctx context.Context, a Attempt)
}

// ReasonBusy is the reason of a password check that was not made: it got
// no turn in the pool of password checks (HashPool) in time.
const ReasonBusy = "password not checked: too many password checks at once"

// StoreFailure reports whether a failed outcome says nothing about the
// credential: the store could not be read (the methods' reason then begins
// "store error"), or the password was never checked (ReasonBusy). Such an
// attempt is not reported to the Guard: an outage of the database blocks
// nobody afterwards, and a flood of guesses that fills the pool of
// password checks does not count against the users whose own logins it
// pushed out (per-user protection would otherwise lock them out for the
// guesser), nor against the addresses whose attempts taught them nothing.
// The guesses that were checked are counted as always.
func StoreFailure(out Outcome) bool {
	// ReasonBusy and a verifier's ErrNotChecked both begin so: a password
	// that was neither found right nor wrong.
	return out.Result == Failed && (strings.HasPrefix(out.Reason, "store error") || strings.HasPrefix(out.Reason, ErrNotChecked.Error()))
}

// NoGuard admits every attempt and records nothing.
type NoGuard struct{}

func (NoGuard) Admit(context.Context, Attempt) (bool, string) { return true, "" }
func (NoGuard) Failed(context.Context, Attempt, string)       {}
func (NoGuard) Succeeded(context.Context, Attempt)            {}
