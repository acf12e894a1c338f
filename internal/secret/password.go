package secret

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/GehirnInc/crypt"
	_ "github.com/GehirnInc/crypt/sha256_crypt" // $5$
	"github.com/GehirnInc/crypt/sha512_crypt"   // $6$
	"golang.org/x/crypto/bcrypt"
)

// DefaultRounds is the SHA-512-crypt cost of new password hashes. It is
// ten times glibc's default of 5000; see BENCHMARKS.md for what it costs.
const DefaultRounds = 50000

// MinRounds and MaxRounds bound the SHA-crypt cost of every hash cpauth
// makes, imports or verifies (D31). The upper bound is there because the
// cost is paid by whoever presents a password, not by whoever chose it:
// an imported hash of 5,000,000 rounds made each login of its mailbox cost
// 1.26 s of CPU, and a handful at once slowed every other login tenfold.
// 1,000,000 rounds (about 0.4 s on the project's test machine) is twenty
// times the default; 1,000 is the least the algorithm allows.
const (
	MinRounds = 1000
	MaxRounds = 1_000_000
)

// MaxBcryptCost bounds the cost of an imported bcrypt hash for the same
// reason: cost 13 takes about what 1,000,000 SHA-512-crypt rounds take.
const MaxBcryptCost = 13

// MaxPasswordLen bounds password length (D31): SHA-crypt's cost grows with
// it (a 1,000-byte password costs some twelve times a 24-byte one), so a
// longer one is refused before anything is hashed.
const MaxPasswordLen = 1024

// ErrMismatch is returned when a password does not match its hash.
var ErrMismatch = errors.New("secret: password does not match")

// Hasher makes and checks modular-crypt password hashes. New hashes are
// SHA-512-crypt ($6$) with Rounds rounds; verification also accepts
// SHA-256-crypt ($5$) and bcrypt ($2a$, $2b$, $2y$), as found in shadow files.
type Hasher struct {
	Rounds int
	dummy  string
}

// NewHasher returns a Hasher for new hashes of the given cost (0: default).
func NewHasher(rounds int) (*Hasher, error) {
	if rounds == 0 {
		rounds = DefaultRounds
	}
	if rounds < MinRounds || rounds > MaxRounds {
		return nil, fmt.Errorf("secret: password hash rounds must be between %d and %d", MinRounds, MaxRounds)
	}
	h := &Hasher{Rounds: rounds}
	d, err := h.Hash("dummy password for unknown users")
	if err != nil {
		return nil, err
	}
	h.dummy = d
	return h, nil
}

// Hash returns a new SHA-512-crypt hash of password.
func (h *Hasher) Hash(password string) (string, error) {
	if len(password) > MaxPasswordLen {
		return "", fmt.Errorf("secret: password longer than %d bytes", MaxPasswordLen)
	}
	c := sha512_crypt.New()
	salt := fmt.Sprintf("$6$rounds=%d$", h.Rounds)
	s, err := RandomString(16, "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
	if err != nil {
		return "", err
	}
	return c.Generate([]byte(password), []byte(salt+s))
}

// Verify checks password against a stored modular-crypt hash. An empty or
// unsupported hash never matches (locked accounts use "!" or "*"), nor
// does a hash whose cost is outside the bounds (CheckHash) or a password
// over MaxPasswordLen: those are refused before anything is hashed.
func (h *Hasher) Verify(hash, password string) error {
	if len(password) > MaxPasswordLen || CheckHash(hash) != nil {
		return ErrMismatch
	}
	if isBcrypt(hash) {
		if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
			return ErrMismatch
		}
		return nil
	}
	// Not crypt's Verify: given a whole "$6$rounds=N$salt$hash" it takes
	// the salt as the 16 bytes after "rounds=N$", so any salt shorter
	// than 16 (openssl -salt, older tools) never matched. Regenerate
	// from the settings part alone and compare.
	settings := hash[:strings.LastIndexByte(hash, '$')]
	got, err := crypt.NewFromHash(hash).Generate([]byte(password), []byte(settings))
	if err != nil || !Equal(got, hash) {
		return ErrMismatch
	}
	return nil
}

// VerifyDummy spends the time of a real verification and always fails, so
// unknown users cost what known ones do.
func (h *Hasher) VerifyDummy(password string) error {
	_ = h.Verify(h.dummy, password)
	return ErrMismatch
}

// NeedsRehash reports whether a hash that password just verified against
// should be replaced by a new one of h's (D31): anything but SHA-512-crypt
// at h's rounds. A user whose hash has another cost takes another time to
// check than an unknown user (checked against a dummy at h's rounds), so
// timing would tell them apart for as long as the hash stays.
func (h *Hasher) NeedsRehash(hash string) bool {
	if !strings.HasPrefix(hash, "$6$") {
		return true
	}
	r, ok := shaRounds(hash)
	return !ok || r != h.Rounds
}

// Why CheckHash refuses a hash; the functions that import hashes turn them
// into a reason for the caller.
var (
	ErrHashFormat = errors.New("not a SHA-512-crypt, SHA-256-crypt or bcrypt hash")
	ErrHashCost   = fmt.Errorf("a SHA-crypt hash must have %d to %d rounds, a bcrypt hash a cost of at most %d", MinRounds, MaxRounds, MaxBcryptCost)
)

// CheckHash says why a stored or imported hash cannot be used, or nil when
// Verify understands it: SHA-512-crypt ($6$) or SHA-256-crypt ($5$) with
// MinRounds to MaxRounds rounds (5000 when the hash names none), or bcrypt
// ($2a$, $2b$, $2y$) of cost MaxBcryptCost at most.
func CheckHash(hash string) error {
	switch {
	case isBcrypt(hash):
		c, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			return ErrHashFormat
		}
		if c > MaxBcryptCost {
			return ErrHashCost
		}
		return nil
	case strings.HasPrefix(hash, "$6$"), strings.HasPrefix(hash, "$5$"):
		r, ok := shaRounds(hash)
		if !ok {
			return ErrHashFormat
		}
		if r < MinRounds || r > MaxRounds {
			return ErrHashCost
		}
		return nil
	}
	return ErrHashFormat
}

// IsSupported reports whether hash is in a format, and of a cost, that
// Verify accepts.
func IsSupported(hash string) bool { return CheckHash(hash) == nil }

func isBcrypt(hash string) bool {
	return strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$")
}

// shaRounds returns the rounds of a $5$/$6$ hash (5000 when unspecified).
func shaRounds(hash string) (int, bool) {
	parts := strings.SplitN(hash, "$", 5)
	if len(parts) < 4 {
		return 0, false
	}
	if v, ok := strings.CutPrefix(parts[2], "rounds="); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, false
		}
		return n, true
	}
	return 5000, true
}
