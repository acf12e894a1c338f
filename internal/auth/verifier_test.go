package auth_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/store"
)

// fakeVerifier is a Verifier that knows passwords by name, as a gateway's
// backend would, and can learn a name into the store.
type fakeVerifier struct {
	st       store.Store
	right    map[string]string // name -> password
	learn    map[string]store.Account
	down     bool
	checks   int
	unknowns int
}

func (v *fakeVerifier) answer(name, password string) error {
	v.checks++
	switch {
	case v.down:
		return fmt.Errorf("%w: the backend did not answer", auth.ErrNotChecked)
	case v.right[name] != "" && v.right[name] == password:
		return nil
	}
	return secret.ErrMismatch
}

func (v *fakeVerifier) VerifyPassword(ctx context.Context, id auth.Identity, svc core.Service, password string) error {
	return v.answer(id.Principal.User, password)
}

func (v *fakeVerifier) VerifyUnknown(ctx context.Context, name string, svc core.Service, password string) (auth.Identity, error) {
	v.unknowns++
	if err := v.answer(name, password); err != nil {
		return auth.Identity{}, err
	}
	a, ok := v.learn[name]
	if !ok {
		return auth.Identity{}, auth.ErrUnknownUser
	}
	if err := v.st.CreateAccount(ctx, a); err != nil {
		return auth.Identity{}, err
	}
	return auth.Lookup(ctx, v.st, name)
}

// A Verifier replaces the hash check, behind the verified-password cache,
// which binds its entries to whatever the store holds in place of a hash;
// a name the store does not know is the verifier's to learn; a check it
// could not make is neither right nor wrong.
func TestPasswordVerifier(t *testing.T) {
	f := newPwFixture(t)
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if _, err := f.st.UpdateAccount(ctx, "bob", func(a store.Account) (store.Account, error) {
		a.PasswordHash = "!mark-1" // what a gateway keeps: no hash
		return a, nil
	}); err != nil {
		t.Fatal(err)
	}
	cache, err := auth.NewPasswordCache(100, time.Minute, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	v := &fakeVerifier{st: f.st, right: map[string]string{"bob": "backend-pass", "nina": "nina-pass"},
		learn: map[string]store.Account{"nina": {Username: "nina", Domain: "nina.test", Owner: "root", PasswordHash: "!mark-n", Created: now}}}
	m := &auth.Password{Store: f.st, Hasher: f.hasher, Cache: cache, Verifier: v}

	steps := []struct {
		name       string
		user, pass string
		ok         bool
		reason     string
		checks     int // the verifier's checks after the step
	}{
		{"right, asked", "bob", "backend-pass", true, "", 1},
		{"right, remembered", "bob", "backend-pass", true, "", 1},
		{"the stored hash is not what is checked", "bob", "secret", false, "user password incorrect", 2},
		{"wrong, asked every time", "bob", "nope", false, "user password incorrect", 3},
		{"wrong again", "bob", "nope", false, "user password incorrect", 4},
		{"unknown, learnt", "nina", "nina-pass", true, "", 5},
		{"learnt, remembered", "nina", "nina-pass", true, "", 5},
		{"unknown and wrong", "nobody", "x", false, "invalid user", 6},
	}
	for _, s := range steps {
		out := m.Check(ctx, s.user, s.pass, core.ServiceCPanel)
		if (out.Result == auth.OK) != s.ok || !s.ok && out.Reason != s.reason {
			t.Errorf("%s: %v %q, want ok=%v %q", s.name, out.Result, out.Reason, s.ok, s.reason)
		}
		if v.checks != s.checks {
			t.Errorf("%s: the verifier checked %d times, want %d", s.name, v.checks, s.checks)
		}
	}
	if m.Hashed() != 0 {
		t.Errorf("%d hashes computed with a verifier", m.Hashed())
	}

	// A new value in place of the hash (a password changed through the
	// gateway) ends what the cache remembers.
	if _, err := f.st.UpdateAccount(ctx, "bob", func(a store.Account) (store.Account, error) {
		a.PasswordHash = "!mark-2"
		return a, nil
	}); err != nil {
		t.Fatal(err)
	}
	before := v.checks
	v.right["bob"] = "new-pass"
	if out := m.Check(ctx, "bob", "backend-pass", core.ServiceCPanel); out.Result == auth.OK {
		t.Error("the old password is remembered after the mark changed")
	}
	if v.checks != before+1 {
		t.Error("the old password was not asked again")
	}

	// Not checked: the login fails, and the regulator does not count it.
	v.down = true
	for _, user := range []string{"bob", "stranger"} {
		out := m.Check(ctx, user, "new-pass", core.ServiceCPanel)
		if out.Result != auth.Failed || !strings.HasPrefix(out.Reason, "password not checked") || !auth.StoreFailure(out) {
			t.Errorf("%s with the verifier down: %v %q (not counted: %v)", user, out.Result, out.Reason, auth.StoreFailure(out))
		}
	}
	// A remembered password needs no check.
	v.down = false
	if out := m.Check(ctx, "bob", "new-pass", core.ServiceCPanel); out.Result != auth.OK {
		t.Fatal(out.Reason)
	}
	v.down = true
	if out := m.Check(ctx, "bob", "new-pass", core.ServiceCPanel); out.Result != auth.OK {
		t.Errorf("a remembered password with the verifier down: %q", out.Reason)
	}
	if !errors.Is(fmt.Errorf("%w: x", auth.ErrNotChecked), auth.ErrNotChecked) || !strings.HasPrefix(auth.ReasonBusy, auth.ErrNotChecked.Error()) {
		t.Error("ReasonBusy and ErrNotChecked must begin alike (StoreFailure)")
	}
}
