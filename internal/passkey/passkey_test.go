package passkey

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/passkey/softkey"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/store/sqlstore"
)

var update = flag.Bool("update", false, "record testdata/recorded.json afresh with the software authenticator")

const (
	rpID   = "host.test"
	origin = "https://host.test:2083"
)

type harness struct {
	svc *Service
	st  store.Store
	now time.Time
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	ctx := t.Context()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "cpauth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, u := range []string{"bob", "carol"} {
		if err := st.CreateAccount(ctx, store.Account{Username: u, Domain: u + ".test", Owner: "root"}); err != nil {
			t.Fatal(err)
		}
	}
	key, err := secret.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{st: st, now: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
	h.svc = &Service{
		Store: st, Key: key, Now: func() time.Time { return h.now },
		RP: func() RelyingParty {
			return RelyingParty{ID: rpID, Name: "cpauth", Origins: Origins(rpID, []int{2083, 2087, 2096}, []int{2082})}
		},
	}
	return h
}

var (
	bob   = User{Username: "bob", Account: "bob"}
	carol = User{Username: "carol", Account: "carol"}
)

// register adds a passkey for u through a live ceremony with the software
// authenticator and returns it.
func (h *harness) register(t *testing.T, binding string, u User, name string, uv bool) *softkey.Credential {
	t.Helper()
	ctx := t.Context()
	opts, err := h.svc.BeginRegistration(ctx, binding, u)
	if err != nil {
		t.Fatalf("BeginRegistration: %v", err)
	}
	ch, err := softkey.Challenge(opts)
	if err != nil {
		t.Fatal(err)
	}
	handle, err := softkey.UserID(opts)
	if err != nil {
		t.Fatal(err)
	}
	cred, resp, err := softkey.New(rpID, handle, softkey.Options{Origin: origin, Challenge: ch, UserVerified: uv})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.FinishRegistration(ctx, binding, u, name, resp, "192.0.2.1"); err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	return cred
}

// login runs a second-factor assertion with cred, changing the response's
// options with change.
func (h *harness) login(t *testing.T, binding string, u User, cred *softkey.Credential, change func(*softkey.Options)) (store.Passkey, error) {
	t.Helper()
	ctx := t.Context()
	opts, err := h.svc.BeginLogin(ctx, store.PasskeySecondFactor, binding, u)
	if err != nil {
		t.Fatalf("BeginLogin: %v", err)
	}
	ch, _ := softkey.Challenge(opts)
	o := softkey.Options{Origin: origin, Challenge: ch, UserVerified: true}
	if change != nil {
		change(&o)
	}
	resp, err := cred.Assert(o)
	if err != nil {
		t.Fatal(err)
	}
	return h.svc.FinishLogin(ctx, store.PasskeySecondFactor, binding, u, resp, "192.0.2.2")
}

// recorded is testdata/recorded.json: one registration and one assertion,
// as a browser posted them, with the ceremonies' stored state.
type recorded struct {
	UserHandle           []byte          `json:"user_handle"`
	RegistrationSession  json.RawMessage `json:"registration_session"`
	RegistrationResponse json.RawMessage `json:"registration_response"`
	AssertionSession     json.RawMessage `json:"assertion_session"`
	AssertionResponse    json.RawMessage `json:"assertion_response"`
}

const recordedPath = "testdata/recorded.json"

// putSession stores a recorded ceremony's state under binding.
func (h *harness) putSession(t testing.TB, purpose, binding, username string, session []byte) {
	t.Helper()
	if err := h.st.PutPasskeyChallenge(t.Context(), store.PasskeyChallenge{
		Key: challengeKey(purpose, binding), Purpose: purpose, Username: username, Session: session,
		Created: h.now, Expires: h.now.Add(store.PasskeyChallengeTTL),
	}); err != nil {
		t.Fatal(err)
	}
}

func takeSession(t *testing.T, st store.Store, purpose, binding string, now time.Time) []byte {
	t.Helper()
	c, err := st.TakePasskeyChallenge(t.Context(), challengeKey(purpose, binding), now)
	if err != nil {
		t.Fatal(err)
	}
	return c.Session
}

// record makes testdata/recorded.json with the software authenticator.
func record(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	var rec recorded
	opts, err := h.svc.BeginRegistration(ctx, "rec", bob)
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := softkey.Challenge(opts)
	rec.UserHandle, _ = softkey.UserID(opts)
	rec.RegistrationSession = takeSession(t, h.st, store.PasskeyRegister, "rec", h.now)
	cred, resp, err := softkey.New(rpID, rec.UserHandle, softkey.Options{Origin: origin, Challenge: ch, UserVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	rec.RegistrationResponse = resp
	h.putSession(t, store.PasskeyRegister, "rec", "bob", rec.RegistrationSession)
	if _, err := h.svc.FinishRegistration(ctx, "rec", bob, "Phone", resp, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	opts, err = h.svc.BeginLogin(ctx, store.PasskeySecondFactor, "rec", bob)
	if err != nil {
		t.Fatal(err)
	}
	ch, _ = softkey.Challenge(opts)
	rec.AssertionSession = takeSession(t, h.st, store.PasskeySecondFactor, "rec", h.now)
	if rec.AssertionResponse, err = cred.Assert(softkey.Options{Origin: origin, Challenge: ch, UserVerified: true}); err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(recordedPath, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func loadRecorded(t *testing.T) recorded {
	t.Helper()
	if *update {
		record(t)
	}
	b, err := os.ReadFile(recordedPath)
	if err != nil {
		t.Fatal(err)
	}
	var rec recorded
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// setupRecorded registers the recorded credential for bob, with bob's
// recorded user handle.
func setupRecorded(t testing.TB, h *harness, rec recorded) store.Passkey {
	t.Helper()
	ctx := t.Context()
	if err := h.st.CreatePasskeyUser(ctx, store.PasskeyUser{Username: "bob", Account: "bob", Handle: rec.UserHandle, Created: h.now}); err != nil {
		t.Fatal(err)
	}
	h.putSession(t, store.PasskeyRegister, "sess1", "bob", rec.RegistrationSession)
	p, err := h.svc.FinishRegistration(ctx, "sess1", bob, "  Phone  ", rec.RegistrationResponse, "192.0.2.1")
	if err != nil {
		t.Fatalf("FinishRegistration of the recorded response: %v", err)
	}
	return p
}

func TestRecordedRegistration(t *testing.T) {
	h := newHarness(t)
	rec := loadRecorded(t)
	p := setupRecorded(t, h, rec)
	stored, err := h.st.GetPasskey(t.Context(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"name", stored.Name, "Phone"},
		{"username", stored.Username, "bob"},
		{"attestation", stored.AttestationType, "none"},
		{"counter", stored.SignCount, uint32(0)},
		{"kind", stored.Kind, "Chromium virtual authenticator"},
		{"user verified", stored.UserVerified, true},
		{"backup eligible", stored.BackupEligible, false},
		{"transports", slices.Equal(stored.Transports, []string{"internal"}), true},
		{"AAGUID", bytes.Equal(stored.AAGUID, softkey.AAGUID), true},
		{"created", stored.Created.Equal(h.now), true},
		{"never used", stored.LastUsed.IsZero(), true},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	// The same response again: the ceremony is over.
	if _, err := h.svc.FinishRegistration(t.Context(), "sess1", bob, "Again", rec.RegistrationResponse, ""); !errors.Is(err, ErrNoCeremony) {
		t.Fatalf("the recorded registration redeemed twice: %v", err)
	}
	// Replayed into a new ceremony (another challenge): refused.
	if _, err := h.svc.BeginRegistration(t.Context(), "sess1", bob); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.FinishRegistration(t.Context(), "sess1", bob, "Again", rec.RegistrationResponse, ""); !errors.Is(err, ErrRefused) {
		t.Fatalf("a registration replayed against a new challenge: %v", err)
	}
}

func TestRecordedAssertion(t *testing.T) {
	h := newHarness(t)
	rec := loadRecorded(t)
	p := setupRecorded(t, h, rec)
	ctx := t.Context()
	h.now = h.now.Add(time.Minute)
	h.putSession(t, store.PasskeySecondFactor, "sess1", "bob", rec.AssertionSession)
	got, err := h.svc.FinishLogin(ctx, store.PasskeySecondFactor, "sess1", bob, rec.AssertionResponse, "192.0.2.9")
	if err != nil {
		t.Fatalf("FinishLogin of the recorded response: %v", err)
	}
	if got.SignCount != 1 || !got.LastUsed.Equal(h.now) || got.LastUsedIP != "192.0.2.9" || !bytes.Equal(got.ID, p.ID) {
		t.Fatalf("after the assertion: %+v", got)
	}

	// The same assertion again, for a ceremony begun with the same
	// challenge (as a replaying attacker would need): its counter did not
	// move, so the credential is marked and refused.
	h.putSession(t, store.PasskeySecondFactor, "sess1", "bob", rec.AssertionSession)
	if _, err := h.svc.FinishLogin(ctx, store.PasskeySecondFactor, "sess1", bob, rec.AssertionResponse, "192.0.2.9"); !errors.Is(err, ErrCloned) {
		t.Fatalf("a replayed counter: %v, want ErrCloned", err)
	}
	stored, _ := h.st.GetPasskey(ctx, p.ID)
	if !stored.CloneWarning || stored.SignCount != 1 {
		t.Fatalf("after the replay: clone warning %v, counter %d", stored.CloneWarning, stored.SignCount)
	}
	if ok, _ := h.svc.Has(ctx, "bob"); ok {
		t.Fatal("a marked credential still counts as usable")
	}
	if _, err := h.svc.BeginLogin(ctx, store.PasskeySecondFactor, "sess1", bob); !errors.Is(err, ErrNoPasskey) {
		t.Fatalf("BeginLogin with only a marked credential: %v", err)
	}
}

func TestRecordedAssertionWrongUser(t *testing.T) {
	h := newHarness(t)
	rec := loadRecorded(t)
	setupRecorded(t, h, rec)
	// Carol begins a login; bob's recorded assertion answers it.
	h.register(t, "carol-sess", carol, "Carol's key", true)
	h.putSession(t, store.PasskeySecondFactor, "carol-sess", "carol", rec.AssertionSession)
	if _, err := h.svc.FinishLogin(t.Context(), store.PasskeySecondFactor, "carol-sess", carol, rec.AssertionResponse, ""); !errors.Is(err, ErrRefused) {
		t.Fatalf("bob's assertion for carol: %v, want ErrRefused", err)
	}
}

func TestCeremonies(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, h *harness)
	}{
		{"second factor", func(t *testing.T, h *harness) {
			cred := h.register(t, "s1", bob, "Phone", false)
			for i := 1; i <= 3; i++ {
				p, err := h.login(t, "s1", bob, cred, nil)
				if err != nil {
					t.Fatalf("login %d: %v", i, err)
				}
				if p.SignCount != uint32(i) || !p.UserVerified {
					t.Fatalf("login %d: counter %d, uv %v", i, p.SignCount, p.UserVerified)
				}
			}
		}},
		{"wrong origin", func(t *testing.T, h *harness) {
			cred := h.register(t, "s1", bob, "Phone", true)
			_, err := h.login(t, "s1", bob, cred, func(o *softkey.Options) { o.Origin = "https://evil.test:2083" })
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("wrong origin: %v", err)
			}
		}},
		{"plain HTTP origin of a non-localhost host", func(t *testing.T, h *harness) {
			cred := h.register(t, "s1", bob, "Phone", true)
			_, err := h.login(t, "s1", bob, cred, func(o *softkey.Options) { o.Origin = "http://host.test:2082" })
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("plain HTTP origin: %v", err)
			}
		}},
		{"another port of the host", func(t *testing.T, h *harness) {
			cred := h.register(t, "s1", bob, "Phone", true)
			if _, err := h.login(t, "s1", bob, cred, func(o *softkey.Options) { o.Origin = "https://host.test:2087" }); err != nil {
				t.Fatalf("WHM's TLS port: %v", err)
			}
			_, err := h.login(t, "s1", bob, cred, func(o *softkey.Options) { o.Origin = "https://host.test:8443" })
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("a port that is not cpauth's: %v", err)
			}
		}},
		{"wrong relying party", func(t *testing.T, h *harness) {
			cred := h.register(t, "s1", bob, "Phone", true)
			_, err := h.login(t, "s1", bob, cred, func(o *softkey.Options) { o.RPID = "other.test" })
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("wrong RP ID: %v", err)
			}
		}},
		{"registration for another relying party", func(t *testing.T, h *harness) {
			ctx := t.Context()
			opts, _ := h.svc.BeginRegistration(ctx, "s1", bob)
			ch, _ := softkey.Challenge(opts)
			handle, _ := softkey.UserID(opts)
			_, resp, _ := softkey.New("other.test", handle, softkey.Options{Origin: "https://other.test:2083", Challenge: ch})
			if _, err := h.svc.FinishRegistration(ctx, "s1", bob, "X", resp, ""); !errors.Is(err, ErrRefused) {
				t.Fatalf("registration from another host: %v", err)
			}
		}},
		{"get response to a create ceremony", func(t *testing.T, h *harness) {
			ctx := t.Context()
			opts, _ := h.svc.BeginRegistration(ctx, "s1", bob)
			ch, _ := softkey.Challenge(opts)
			handle, _ := softkey.UserID(opts)
			_, resp, _ := softkey.New(rpID, handle, softkey.Options{Origin: origin, Challenge: ch, Type: "webauthn.get"})
			if _, err := h.svc.FinishRegistration(ctx, "s1", bob, "X", resp, ""); !errors.Is(err, ErrRefused) {
				t.Fatalf("wrong ceremony type: %v", err)
			}
		}},
		{"expired challenge", func(t *testing.T, h *harness) {
			cred := h.register(t, "s1", bob, "Phone", true)
			ctx := t.Context()
			opts, _ := h.svc.BeginLogin(ctx, store.PasskeySecondFactor, "s1", bob)
			ch, _ := softkey.Challenge(opts)
			resp, _ := cred.Assert(softkey.Options{Origin: origin, Challenge: ch, UserVerified: true})
			h.now = h.now.Add(store.PasskeyChallengeTTL)
			if _, err := h.svc.FinishLogin(ctx, store.PasskeySecondFactor, "s1", bob, resp, ""); !errors.Is(err, ErrNoCeremony) {
				t.Fatalf("after five minutes: %v", err)
			}
		}},
		{"used challenge", func(t *testing.T, h *harness) {
			cred := h.register(t, "s1", bob, "Phone", true)
			ctx := t.Context()
			opts, _ := h.svc.BeginLogin(ctx, store.PasskeySecondFactor, "s1", bob)
			ch, _ := softkey.Challenge(opts)
			resp, _ := cred.Assert(softkey.Options{Origin: origin, Challenge: ch, UserVerified: true})
			if _, err := h.svc.FinishLogin(ctx, store.PasskeySecondFactor, "s1", bob, resp, ""); err != nil {
				t.Fatal(err)
			}
			resp, _ = cred.Assert(softkey.Options{Origin: origin, Challenge: ch, UserVerified: true})
			if _, err := h.svc.FinishLogin(ctx, store.PasskeySecondFactor, "s1", bob, resp, ""); !errors.Is(err, ErrNoCeremony) {
				t.Fatalf("a second finish: %v", err)
			}
		}},
		{"another binding", func(t *testing.T, h *harness) {
			cred := h.register(t, "s1", bob, "Phone", true)
			ctx := t.Context()
			opts, _ := h.svc.BeginLogin(ctx, store.PasskeySecondFactor, "s1", bob)
			ch, _ := softkey.Challenge(opts)
			resp, _ := cred.Assert(softkey.Options{Origin: origin, Challenge: ch, UserVerified: true})
			if _, err := h.svc.FinishLogin(ctx, store.PasskeySecondFactor, "s2", bob, resp, ""); !errors.Is(err, ErrNoCeremony) {
				t.Fatalf("finished under another session: %v", err)
			}
			// Nor by another purpose of the same session.
			if _, err := h.svc.FinishLogin(ctx, store.PasskeyConfirm, "s1", bob, resp, ""); !errors.Is(err, ErrNoCeremony) {
				t.Fatalf("finished as a confirmation: %v", err)
			}
		}},
		{"wrong user", func(t *testing.T, h *harness) {
			cred := h.register(t, "s1", bob, "Phone", true)
			h.register(t, "s1", carol, "Key", true)
			ctx := t.Context()
			// Begun for bob, finished as carol.
			opts, _ := h.svc.BeginLogin(ctx, store.PasskeySecondFactor, "s1", bob)
			ch, _ := softkey.Challenge(opts)
			resp, _ := cred.Assert(softkey.Options{Origin: origin, Challenge: ch, UserVerified: true})
			if _, err := h.svc.FinishLogin(ctx, store.PasskeySecondFactor, "s1", carol, resp, ""); !errors.Is(err, ErrNoCeremony) {
				t.Fatalf("bob's ceremony finished as carol: %v", err)
			}
			// Begun for carol, answered with bob's credential.
			if _, err := h.login(t, "s1", carol, cred, nil); !errors.Is(err, ErrRefused) {
				t.Fatalf("bob's credential for carol: %v", err)
			}
		}},
		{"cloned credential", func(t *testing.T, h *harness) {
			cred := h.register(t, "s1", bob, "Phone", true)
			for range 3 {
				if _, err := h.login(t, "s1", bob, cred, nil); err != nil {
					t.Fatal(err)
				}
			}
			clone := *cred
			clone.SignCount = 1 // a copy made after the first use
			if _, err := h.login(t, "s1", bob, &clone, nil); !errors.Is(err, ErrCloned) {
				t.Fatalf("a clone's counter: %v, want ErrCloned", err)
			}
			// The original is refused too from now on.
			if _, err := h.svc.BeginLogin(t.Context(), store.PasskeySecondFactor, "s1", bob); !errors.Is(err, ErrNoPasskey) {
				t.Fatalf("BeginLogin after the clone: %v", err)
			}
		}},
		{"zero counters", func(t *testing.T, h *harness) {
			// Authenticators without a counter (synced passkeys) send 0
			// every time: accepted.
			cred := h.register(t, "s1", bob, "Phone", true)
			ctx := t.Context()
			for range 2 {
				opts, _ := h.svc.BeginLogin(ctx, store.PasskeySecondFactor, "s1", bob)
				ch, _ := softkey.Challenge(opts)
				resp, _ := cred.AssertAt(softkey.Options{Origin: origin, Challenge: ch, UserVerified: true}, 0)
				if _, err := h.svc.FinishLogin(ctx, store.PasskeySecondFactor, "s1", bob, resp, ""); err != nil {
					t.Fatalf("counter 0: %v", err)
				}
			}
		}},
		{"removed credential", func(t *testing.T, h *harness) {
			cred := h.register(t, "s1", bob, "Phone", true)
			h.register(t, "s1", bob, "Laptop", true)
			ctx := t.Context()
			opts, _ := h.svc.BeginLogin(ctx, store.PasskeySecondFactor, "s1", bob)
			ch, _ := softkey.Challenge(opts)
			if _, err := h.svc.Remove(ctx, "bob", cred.ID); err != nil {
				t.Fatal(err)
			}
			resp, _ := cred.Assert(softkey.Options{Origin: origin, Challenge: ch, UserVerified: true})
			if _, err := h.svc.FinishLogin(ctx, store.PasskeySecondFactor, "s1", bob, resp, ""); !errors.Is(err, ErrRefused) {
				t.Fatalf("a removed credential: %v", err)
			}
		}},
		{"garbage responses", func(t *testing.T, h *harness) {
			h.register(t, "s1", bob, "Phone", true)
			ctx := t.Context()
			for _, resp := range []string{"", "null", "{}", "[]", `{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{}}`, string(bytes.Repeat([]byte{'a'}, MaxResponseBytes+1))} {
				if _, err := h.svc.BeginLogin(ctx, store.PasskeySecondFactor, "s1", bob); err != nil {
					t.Fatal(err)
				}
				if _, err := h.svc.FinishLogin(ctx, store.PasskeySecondFactor, "s1", bob, []byte(resp), ""); !errors.Is(err, ErrRefused) {
					t.Errorf("FinishLogin(%.20q): %v, want ErrRefused", resp, err)
				}
				if _, err := h.svc.BeginRegistration(ctx, "s1", bob); err != nil {
					t.Fatal(err)
				}
				if _, err := h.svc.FinishRegistration(ctx, "s1", bob, "X", []byte(resp), ""); !errors.Is(err, ErrRefused) {
					t.Errorf("FinishRegistration(%.20q): %v, want ErrRefused", resp, err)
				}
			}
		}},
		{"excluded and named", func(t *testing.T, h *harness) {
			ctx := t.Context()
			cred := h.register(t, "s1", bob, "Phone", true)
			opts, err := h.svc.BeginRegistration(ctx, "s1", bob)
			if err != nil {
				t.Fatal(err)
			}
			var o struct {
				PublicKey struct {
					Exclude []struct {
						ID string `json:"id"`
					} `json:"excludeCredentials"`
					Selection struct {
						ResidentKey string `json:"residentKey"`
					} `json:"authenticatorSelection"`
					Attestation string `json:"attestation"`
				} `json:"publicKey"`
			}
			if err := json.Unmarshal(opts, &o); err != nil {
				t.Fatal(err)
			}
			if len(o.PublicKey.Exclude) != 1 || o.PublicKey.Selection.ResidentKey != "preferred" || o.PublicKey.Attestation != "none" {
				t.Fatalf("creation options: %s", opts)
			}
			// The same authenticator again (the browser would have
			// refused): refused here too.
			ch, _ := softkey.Challenge(opts)
			resp, _ := cred.Register(softkey.Options{Origin: origin, Challenge: ch})
			if _, err := h.svc.FinishRegistration(ctx, "s1", bob, "Again", resp, ""); !errors.Is(err, ErrRefused) {
				t.Fatalf("the same credential again: %v", err)
			}
			// A taken name, then bad names.
			if _, err := h.svc.Rename(ctx, "bob", cred.ID, "Phone"); err != nil {
				t.Fatalf("rename to its own name: %v", err)
			}
			h.register(t, "s1", bob, "Laptop", true)
			if _, err := h.svc.Rename(ctx, "bob", cred.ID, "Laptop"); !errors.Is(err, ErrNameTaken) {
				t.Fatalf("rename onto a taken name: %v", err)
			}
			for _, name := range []string{"", "   ", "a\x00b", "tab\there", string(bytes.Repeat([]byte{'x'}, MaxNameLen+1))} {
				if _, err := h.svc.Rename(ctx, "bob", cred.ID, name); !errors.Is(err, ErrName) {
					t.Errorf("rename to %q: %v", name, err)
				}
			}
			// Carol can neither rename nor remove bob's.
			if _, err := h.svc.Rename(ctx, "carol", cred.ID, "Mine"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("carol renames bob's: %v", err)
			}
			if _, err := h.svc.Remove(ctx, "carol", cred.ID); !errors.Is(err, ErrNotFound) {
				t.Fatalf("carol removes bob's: %v", err)
			}
		}},
		{"passwordless", func(t *testing.T, h *harness) {
			ctx := t.Context()
			cred := h.register(t, "s1", bob, "Phone", true)
			attempt := func(uv bool, c *softkey.Credential) (store.Passkey, error) {
				opts, err := h.svc.BeginPasswordless(ctx, "l1")
				if err != nil {
					t.Fatal(err)
				}
				var o struct {
					PublicKey struct {
						Allow []any  `json:"allowCredentials"`
						UV    string `json:"userVerification"`
					} `json:"publicKey"`
				}
				json.Unmarshal(opts, &o)
				if len(o.PublicKey.Allow) != 0 || o.PublicKey.UV != "required" {
					t.Fatalf("passwordless options: %s", opts)
				}
				ch, _ := softkey.Challenge(opts)
				resp, _ := c.Assert(softkey.Options{Origin: origin, Challenge: ch, UserVerified: uv})
				return h.svc.FinishPasswordless(ctx, "l1", resp, "192.0.2.3")
			}
			if _, err := attempt(true, cred); !errors.Is(err, ErrRefused) {
				t.Fatalf("passwordless while not enabled: %v", err)
			}
			if err := h.svc.SetPasswordless(ctx, bob, true); err != nil {
				t.Fatal(err)
			}
			if _, err := attempt(false, cred); !errors.Is(err, ErrRefused) {
				t.Fatalf("passwordless without user verification: %v", err)
			}
			p, err := attempt(true, cred)
			if err != nil || p.Username != "bob" || p.Account != "bob" {
				t.Fatalf("passwordless: %+v, %v", p, err)
			}
			// A credential whose user handle is unknown.
			stranger := *cred
			stranger.UserHandle = []byte("nobody's handle")
			if _, err := attempt(true, &stranger); !errors.Is(err, ErrRefused) {
				t.Fatalf("unknown user handle: %v", err)
			}
			// Carol's handle with bob's credential.
			h.register(t, "s1", carol, "Key", true)
			if err := h.svc.SetPasswordless(ctx, carol, true); err != nil {
				t.Fatal(err)
			}
			cu, _ := h.st.GetPasskeyUser(ctx, "carol")
			swapped := *cred
			swapped.UserHandle = cu.Handle
			if _, err := attempt(true, &swapped); !errors.Is(err, ErrRefused) {
				t.Fatalf("bob's credential under carol's handle: %v", err)
			}
		}},
		{"no passkey", func(t *testing.T, h *harness) {
			if _, err := h.svc.BeginLogin(t.Context(), store.PasskeySecondFactor, "s1", bob); !errors.Is(err, ErrNoPasskey) {
				t.Fatalf("BeginLogin without passkeys: %v", err)
			}
		}},
		{"user handle is random and stable", func(t *testing.T, h *harness) {
			ctx := t.Context()
			a, _ := h.svc.BeginRegistration(ctx, "s1", bob)
			b, _ := h.svc.BeginRegistration(ctx, "s1", bob)
			c, _ := h.svc.BeginRegistration(ctx, "s1", carol)
			ha, _ := softkey.UserID(a)
			hb, _ := softkey.UserID(b)
			hc, _ := softkey.UserID(c)
			if !bytes.Equal(ha, hb) || bytes.Equal(ha, hc) || len(ha) != userHandleLen || bytes.Contains(ha, []byte("bob")) {
				t.Fatalf("handles %x %x %x", ha, hb, hc)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newHarness(t)) })
	}
}

func TestOrigins(t *testing.T) {
	tests := []struct {
		name        string
		host        string
		tls, plain  []int
		want        []string
		offered     string
		wantOffered bool
	}{
		{"TLS ports only", "host.test", []int{2083, 2087, 2096}, []int{2082, 2086, 2095},
			[]string{"https://host.test:2083", "https://host.test:2087", "https://host.test:2096"}, "http://host.test:2082", false},
		{"443 without a port", "host.test", []int{443}, nil, []string{"https://host.test"}, "https://host.test", true},
		{"localhost plain too", "localhost", []int{2083}, []int{2082},
			[]string{"https://localhost:2083", "http://localhost:2082"}, "http://localhost:2082", true},
		{"unbound ports", "host.test", []int{0, 2083}, nil, []string{"https://host.test:2083"}, "https://other.test:2083", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Origins(tc.host, tc.tls, tc.plain)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Origins = %v, want %v", got, tc.want)
			}
			if ok := (RelyingParty{ID: tc.host, Origins: got}).Offered(tc.offered); ok != tc.wantOffered {
				t.Fatalf("Offered(%q) = %v", tc.offered, ok)
			}
		})
	}
}

// FuzzFinishLogin: whatever a client posts as an assertion, the answer is
// an error of the package's vocabulary (or, for the recorded response, a
// login), never a panic.
func FuzzFinishLogin(f *testing.F) {
	b, err := os.ReadFile(recordedPath)
	if err != nil {
		f.Fatal(err)
	}
	var rec recorded
	if err := json.Unmarshal(b, &rec); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(rec.AssertionResponse))
	f.Add([]byte(rec.RegistrationResponse))
	f.Add([]byte(`{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"","signature":""}}`))
	h := newHarness(f)
	setupRecorded(f, h, rec)
	f.Fuzz(func(t *testing.T, resp []byte) {
		h.putSession(t, store.PasskeySecondFactor, "s", "bob", rec.AssertionSession)
		_, err := h.svc.FinishLogin(context.Background(), store.PasskeySecondFactor, "s", bob, resp, "")
		if err != nil && !errors.Is(err, ErrRefused) {
			t.Fatalf("FinishLogin: %v", err)
		}
	})
}

// FuzzFinishRegistration: whatever a client posts as a new credential,
// the answer is an error of the package's vocabulary (or, for the
// recorded response, a new credential), never a panic.
func FuzzFinishRegistration(f *testing.F) {
	b, err := os.ReadFile(recordedPath)
	if err != nil {
		f.Fatal(err)
	}
	var rec recorded
	if err := json.Unmarshal(b, &rec); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(rec.RegistrationResponse))
	f.Add([]byte(rec.AssertionResponse))
	f.Add([]byte(`{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"oA"}}`))
	h := newHarness(f)
	if err := h.st.CreatePasskeyUser(context.Background(), store.PasskeyUser{Username: "bob", Account: "bob", Handle: rec.UserHandle, Created: h.now}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, resp []byte) {
		h.putSession(t, store.PasskeyRegister, "s", "bob", rec.RegistrationSession)
		p, err := h.svc.FinishRegistration(context.Background(), "s", bob, "Key", resp, "")
		switch {
		case err == nil:
			// Only the recorded credential can be made; drop it so that
			// the next input may make it again.
			if _, err := h.svc.Remove(context.Background(), "bob", p.ID); err != nil {
				t.Fatal(err)
			}
		case !errors.Is(err, ErrRefused) && !errors.Is(err, ErrNameTaken):
			t.Fatalf("FinishRegistration: %v", err)
		}
	})
}
