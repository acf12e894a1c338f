package auth_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/store/sqlstore"
)

// Hashes of "secret" made by openssl (see internal/secret's tests):
//
//	openssl passwd -6 -salt saltsalt secret                   (5000 rounds, named by none)
//	openssl passwd -5 -salt 'rounds=1000$saltsalt' secret
const (
	sha512Default = "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1"
	sha256At1000  = "$5$rounds=1000$saltsalt$eKLZU9t9OoPWrqOQsoTIKG0aYkZ5rGOoOQhiIvoSWX2"
)

// pwFixture is a SQLite store with accounts and mailboxes whose hashes are
// of other costs and formats than the 1000-round hasher makes.
type pwFixture struct {
	st      store.Store
	hasher  *secret.Hasher
	changed time.Time // every account's PasswordChanged
	own     string    // a hash the hasher made, of "secret"
}

func newPwFixture(t *testing.T) *pwFixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "cpauth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	hasher, err := secret.NewHasher(1000)
	if err != nil {
		t.Fatal(err)
	}
	own, err := hasher.Hash("secret")
	if err != nil {
		t.Fatal(err)
	}
	bc, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	changed := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, a := range []store.Account{
		{Username: "root", PasswordHash: sha512Default, Created: changed, PasswordChanged: changed},
		{Username: "bob", Domain: "bob.test", Owner: "root", PasswordHash: sha512Default, Created: changed, PasswordChanged: changed},
		{Username: "brenda", Domain: "brenda.test", Owner: "root", PasswordHash: string(bc), Created: changed, PasswordChanged: changed},
		{Username: "ohne", Domain: "ohne.test", Owner: "root", PasswordHash: own, Created: changed, PasswordChanged: changed},
	} {
		if err := st.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateMailbox(ctx, store.Mailbox{Account: "bob", Local: "info", Domain: "bob.test", PasswordHash: sha256At1000, Created: changed}); err != nil {
		t.Fatal(err)
	}
	return &pwFixture{st: st, hasher: hasher, changed: changed, own: own}
}

func (f *pwFixture) storedHash(t *testing.T, user string) string {
	t.Helper()
	ctx := context.Background()
	if local, domain, ok := strings.Cut(user, "@"); ok {
		m, err := f.st.GetMailbox(ctx, local, domain)
		if err != nil {
			t.Fatal(err)
		}
		return m.PasswordHash
	}
	a, err := f.st.GetAccount(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	if !a.PasswordChanged.Equal(f.changed) {
		t.Errorf("%s's PasswordChanged moved to %v: a re-hash is no password change", user, a.PasswordChanged)
	}
	return a.PasswordHash
}

// D31: a right password whose hash has another cost or format is hashed
// again at the configured rounds and stored; nothing else changes.
func TestPasswordRehash(t *testing.T) {
	tests := []struct {
		name     string
		user     string
		svc      core.Service
		password string
		ok       bool
		rehashed bool
	}{
		{"sha512 at 5000 rounds", "bob", core.ServiceCPanel, "secret", true, true},
		{"root, sha512 at 5000 rounds", "root", core.ServiceWHM, "secret", true, true},
		{"bcrypt", "brenda", core.ServiceCPanel, "secret", true, true},
		{"mailbox, sha256", "info@bob.test", core.ServiceWebmail, "secret", true, true},
		{"already at the configured rounds", "ohne", core.ServiceCPanel, "secret", true, false},
		{"wrong password", "bob", core.ServiceCPanel, "Secret", false, false},
		{"wrong mailbox password", "info@bob.test", core.ServiceWebmail, "nope", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newPwFixture(t)
			m := &auth.Password{Store: f.st, Hasher: f.hasher}
			before := f.storedHash(t, tc.user)
			out := m.Check(context.Background(), tc.user, tc.password, tc.svc)
			if (out.Result == auth.OK) != tc.ok {
				t.Fatalf("Check = %v (%s), want ok=%v", out.Result, out.Reason, tc.ok)
			}
			after := f.storedHash(t, tc.user)
			if !tc.rehashed {
				if after != before {
					t.Fatalf("hash changed from %q to %q", before, after)
				}
				return
			}
			if after == before || !strings.HasPrefix(after, "$6$rounds=1000$") {
				t.Fatalf("hash after a right password = %q, want a new $6$rounds=1000$ hash", after)
			}
			if err := f.hasher.Verify(after, tc.password); err != nil {
				t.Fatalf("the new hash does not verify the password: %v", err)
			}
			if out := m.Check(context.Background(), tc.user, tc.password, tc.svc); out.Result != auth.OK {
				t.Fatalf("second login after the re-hash: %v (%s)", out.Result, out.Reason)
			}
			if again := f.storedHash(t, tc.user); again != after {
				t.Fatal("the hash was replaced again on the next login")
			}
		})
	}
}

// staleStore answers GetAccount with an older hash than the one stored: a
// password changed between the request's read and its re-hash.
type staleStore struct {
	store.Store
	hash string
}

func (s staleStore) GetAccount(ctx context.Context, u string) (store.Account, error) {
	a, err := s.Store.GetAccount(ctx, u)
	a.PasswordHash = s.hash
	return a, err
}

// A re-hash replaces only the hash that was verified: a password changed
// meanwhile stays.
func TestPasswordRehashKeepsNewerPassword(t *testing.T) {
	f := newPwFixture(t)
	ctx := context.Background()
	newer, err := f.hasher.Hash("the new password")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.UpdateAccount(ctx, "bob", func(a store.Account) (store.Account, error) {
		a.PasswordHash = newer
		return a, nil
	}); err != nil {
		t.Fatal(err)
	}
	m := &auth.Password{Store: staleStore{Store: f.st, hash: sha512Default}, Hasher: f.hasher}
	if out := m.Check(ctx, "bob", "secret", core.ServiceCPanel); out.Result != auth.OK {
		t.Fatalf("Check against the stale hash: %v (%s)", out.Result, out.Reason)
	}
	if got := f.storedHash(t, "bob"); got != newer {
		t.Fatalf("the newer password's hash was overwritten: %q", got)
	}
}

// lookupCounter counts identity lookups.
type lookupCounter struct {
	store.Store
	reads *atomic.Int64
}

func (s lookupCounter) GetAccount(ctx context.Context, u string) (store.Account, error) {
	s.reads.Add(1)
	return s.Store.GetAccount(ctx, u)
}

func (s lookupCounter) GetMailbox(ctx context.Context, l, d string) (store.Mailbox, error) {
	s.reads.Add(1)
	return s.Store.GetMailbox(ctx, l, d)
}

// D31: a password over 1024 bytes is refused before anything is looked up
// or hashed, as a wrong password; one of 1024 bytes is checked.
func TestPasswordTooLong(t *testing.T) {
	f := newPwFixture(t)
	var reads atomic.Int64
	m := &auth.Password{Store: lookupCounter{Store: f.st, reads: &reads}, Hasher: f.hasher}
	tests := []struct {
		name      string
		user      string
		length    int
		wantReads int64
	}{
		{"1025 bytes, known user", "bob", secret.MaxPasswordLen + 1, 0},
		{"1025 bytes, unknown user", "nobody", secret.MaxPasswordLen + 1, 0},
		{"1025 bytes, mailbox", "info@bob.test", secret.MaxPasswordLen + 1, 0},
		{"1024 bytes is checked", "ohne", secret.MaxPasswordLen, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reads.Store(0)
			out := m.Check(context.Background(), tc.user, strings.Repeat("p", tc.length), core.ServiceCPanel)
			if out.Result != auth.Failed || out.Method != core.MethodPassword {
				t.Fatalf("Check = %v (%s), want a failed password", out.Result, out.Reason)
			}
			if got := reads.Load(); got != tc.wantReads {
				t.Fatalf("%d store reads, want %d", got, tc.wantReads)
			}
		})
	}
}

// D32 through the method: a repeated right password is checked once per
// TTL; a wrong one every time; and a password change, a suspension, a
// removal or a mailbox's password change makes what was remembered useless
// at once, since the method reads the record on every check.
func TestPasswordCacheThroughMethod(t *testing.T) {
	f := newPwFixture(t)
	ctx := context.Background()
	cache, err := auth.NewPasswordCache(100, 5*time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := &auth.Password{Store: f.st, Hasher: f.hasher, Cache: cache}
	setHash := func(user, pw string) {
		h, err := f.hasher.Hash(pw)
		if err != nil {
			t.Fatal(err)
		}
		if local, domain, ok := strings.Cut(user, "@"); ok {
			_, err = f.st.UpdateMailbox(ctx, local, domain, func(mb store.Mailbox) (store.Mailbox, error) {
				mb.PasswordHash = h
				return mb, nil
			})
		} else {
			_, err = f.st.UpdateAccount(ctx, user, func(a store.Account) (store.Account, error) {
				a.PasswordHash = h
				return a, nil
			})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name     string
		before   func()
		user, pw string
		svc      core.Service
		ok       bool
		hashes   uint64 // checks that hashed during the step
	}{
		{"first check hashes (and re-hashes: 5000 rounds)", nil, "bob", "secret", core.ServiceCPanel, true, 1},
		{"repeated: remembered", nil, "bob", "secret", core.ServiceCPanel, true, 0},
		{"and again", nil, "bob", "secret", core.ServiceCPanel, true, 0},
		{"another service is another entry", nil, "bob", "secret", core.ServiceWebmail, true, 1},
		{"wrong password hashes", nil, "bob", "Secret", core.ServiceCPanel, false, 1},
		{"wrong password is never remembered", nil, "bob", "Secret", core.ServiceCPanel, false, 1},
		{"unknown user hashes", nil, "nobody", "secret", core.ServiceCPanel, false, 1},
		{"password changed: the old one fails at once", func() { setHash("bob", "new secret") }, "bob", "secret", core.ServiceCPanel, false, 1},
		{"the new one is checked", nil, "bob", "new secret", core.ServiceCPanel, true, 1},
		{"then remembered", nil, "bob", "new secret", core.ServiceCPanel, true, 0},
		{"suspended: refused at once", func() {
			if _, err := f.st.UpdateAccount(ctx, "bob", func(a store.Account) (store.Account, error) { a.Suspended = true; return a, nil }); err != nil {
				t.Fatal(err)
			}
		}, "bob", "new secret", core.ServiceCPanel, false, 0},
		{"unsuspended", func() {
			if _, err := f.st.UpdateAccount(ctx, "bob", func(a store.Account) (store.Account, error) { a.Suspended = false; return a, nil }); err != nil {
				t.Fatal(err)
			}
		}, "bob", "new secret", core.ServiceCPanel, true, 0},
		{"mailbox first check", nil, "info@bob.test", "secret", core.ServiceWebmail, true, 1},
		{"mailbox remembered", nil, "info@bob.test", "secret", core.ServiceWebmail, true, 0},
		{"mailbox password changed: refused at once", func() { setHash("info@bob.test", "mail secret") }, "info@bob.test", "secret", core.ServiceWebmail, false, 1},
		{"mailbox new password", nil, "info@bob.test", "mail secret", core.ServiceWebmail, true, 1},
		{"mailbox new password remembered", nil, "info@bob.test", "mail secret", core.ServiceWebmail, true, 0},
		{"owner suspended: the mailbox is refused at once", func() {
			if _, err := f.st.UpdateAccount(ctx, "bob", func(a store.Account) (store.Account, error) { a.Suspended = true; return a, nil }); err != nil {
				t.Fatal(err)
			}
		}, "info@bob.test", "mail secret", core.ServiceWebmail, false, 0},
		{"removed: refused at once", func() {
			if err := f.st.DeleteAccount(ctx, "bob"); err != nil {
				t.Fatal(err)
			}
		}, "bob", "new secret", core.ServiceCPanel, false, 1},
		{"removed account's mailbox: refused", nil, "info@bob.test", "mail secret", core.ServiceWebmail, false, 1},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		before := m.Hashed()
		out := m.Check(ctx, st.user, st.pw, st.svc)
		if (out.Result == auth.OK) != st.ok {
			t.Fatalf("%s: Check = %v (%s), want ok=%v", st.name, out.Result, out.Reason, st.ok)
		}
		if got := m.Hashed() - before; got != st.hashes {
			t.Fatalf("%s: %d checks hashed, want %d", st.name, got, st.hashes)
		}
	}
}

// A check that gets no turn in the pool is not made: it fails as a wrong
// password would, with ReasonBusy for the log, for known and unknown users
// alike, and the Guard is not told (StoreFailure). A remembered check
// needs no turn.
func TestPasswordPoolBusy(t *testing.T) {
	f := newPwFixture(t)
	ctx := context.Background()
	cache, err := auth.NewPasswordCache(100, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	pool := auth.NewHashPool(1, 0, 0)
	m := &auth.Password{Store: f.st, Hasher: f.hasher, Cache: cache, Pool: pool}
	if out := m.Check(ctx, "ohne", "secret", core.ServiceCPanel); out.Result != auth.OK {
		t.Fatalf("with a free turn: %v (%s)", out.Result, out.Reason)
	}
	if !pool.Acquire(ctx) { // the one turn, kept by a check that takes long
		t.Fatal("the pool's turn was refused")
	}
	defer pool.Release()
	tests := []struct {
		name, user, password string
		svc                  core.Service
		ok                   bool
	}{
		{"remembered: no turn needed", "ohne", "secret", core.ServiceCPanel, true},
		{"right password, not remembered", "bob", "secret", core.ServiceCPanel, false},
		{"wrong password", "ohne", "nope", core.ServiceCPanel, false},
		{"unknown user: the same pool", "nobody", "secret", core.ServiceCPanel, false},
		{"mailbox", "info@bob.test", "secret", core.ServiceWebmail, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := m.Hashed()
			out := m.Check(ctx, tc.user, tc.password, tc.svc)
			if tc.ok {
				if out.Result != auth.OK {
					t.Fatalf("Check = %v (%s), want OK", out.Result, out.Reason)
				}
				return
			}
			if out.Result != auth.Failed || out.Method != core.MethodPassword || out.Reason != auth.ReasonBusy {
				t.Fatalf("Check = %v %q (%s), want a failed password for %q", out.Result, out.Method, out.Reason, auth.ReasonBusy)
			}
			if !auth.StoreFailure(out) {
				t.Error("a check that was not made would be counted by the regulator")
			}
			if m.Hashed() != before {
				t.Error("a check without a turn hashed")
			}
		})
	}
	if _, shed, _, _ := pool.Stats(); shed != 4 {
		t.Errorf("%d checks shed, want 4", shed)
	}
}
