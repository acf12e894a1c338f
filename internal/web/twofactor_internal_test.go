package web

import (
	"testing"

	"github.com/cpauth/cpauth/internal/functions"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/totp"
)

func setupServer(t testing.TB) *Server {
	t.Helper()
	k, err := secret.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return &Server{Env: &functions.Env{Key: k}}
}

// The sealed setup opens only for the session it was made for.
func TestSetupBoundToSession(t *testing.T) {
	s := setupServer(t)
	mine, other := Visit{Session: store.Session{IDHash: "mine"}}, Visit{Session: store.Session{IDHash: "other"}}
	const sec = "JBSWY3DPEHPK3PXP"
	blob, err := s.sealSetup(mine, sec)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := s.openSetup(mine, blob); !ok || got != sec {
		t.Fatalf("openSetup = %q, %v", got, ok)
	}
	if _, ok := s.openSetup(other, blob); ok {
		t.Fatal("another session opened the setup")
	}
	damaged := []byte(blob)
	if i := len(damaged) / 2; damaged[i] == 'A' {
		damaged[i] = 'B'
	} else {
		damaged[i] = 'A'
	}
	if _, ok := s.openSetup(mine, string(damaged)); ok {
		t.Fatal("a damaged setup opened")
	}
	for _, bad := range []string{"", "!!!", sec} {
		if _, ok := s.openSetup(mine, bad); ok {
			t.Fatalf("openSetup(%q) opened", bad)
		}
	}
}

// FuzzOpenSetup: whatever a form or a URL carries, openSetup answers
// without panicking, and what it opens is a valid secret.
func FuzzOpenSetup(f *testing.F) {
	s := setupServer(f)
	v := Visit{Session: store.Session{IDHash: "fuzz"}}
	blob, err := s.sealSetup(v, "JBSWY3DPEHPK3PXP")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(blob)
	f.Add("")
	f.Add("AAAA")
	f.Add(blob + "=")
	f.Fuzz(func(t *testing.T, in string) {
		sec, ok := s.openSetup(v, in)
		if !ok {
			return
		}
		if n, err := totp.NormalizeSecret(sec); err != nil || n != sec {
			t.Fatalf("opened %q, not a normalised secret", sec)
		}
	})
}
