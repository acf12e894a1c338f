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

// MaxRounds bounds the cost of a stored hash we are willing to verify, so an
// imported hash cannot stall the daemon.
const MaxRounds = 5_000_000

// MaxBcryptCost bounds the cost of a stored bcrypt hash for the same reason.
const MaxBcryptCost = 15

// MaxPasswordLen bounds password length: SHA-crypt's cost grows with it.
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
	if rounds < sha512_crypt.RoundsMin || rounds > MaxRounds {
		return nil, fmt.Errorf("secret: password hash rounds must be between %d and %d", sha512_crypt.RoundsMin, MaxRounds)
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
// unsupported hash never matches (locked accounts use "!" or "*").
func (h *Hasher) Verify(hash, password string) error {
	if len(password) > MaxPasswordLen {
		return ErrMismatch
	}
	switch {
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		if c, err := bcrypt.Cost([]byte(hash)); err != nil || c > MaxBcryptCost {
			return ErrMismatch
		}
		if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
			return ErrMismatch
		}
		return nil
	case strings.HasPrefix(hash, "$6$"), strings.HasPrefix(hash, "$5$"):
		if r, ok := shaRounds(hash); !ok || r > MaxRounds {
			return ErrMismatch
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
	return ErrMismatch
}

// VerifyDummy spends the time of a real verification and always fails, so
// unknown users cost what known ones do.
func (h *Hasher) VerifyDummy(password string) error {
	_ = h.Verify(h.dummy, password)
	return ErrMismatch
}

// IsSupported reports whether hash is in a format Verify understands.
func IsSupported(hash string) bool {
	for _, p := range []string{"$2a$", "$2b$", "$2y$", "$6$", "$5$"} {
		if strings.HasPrefix(hash, p) {
			if p[1] != '2' {
				r, ok := shaRounds(hash)
				return ok && r <= MaxRounds
			}
			c, err := bcrypt.Cost([]byte(hash))
			return err == nil && c <= MaxBcryptCost
		}
	}
	return false
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
