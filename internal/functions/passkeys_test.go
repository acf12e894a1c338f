package functions

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/settings"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/store/sqlstore"
	"github.com/cpauth/cpauth/internal/totp"
)

// countingGuard records the attempts the functions report.
type countingGuard struct {
	mu       sync.Mutex
	failed   []string
	admitted int
}

func (g *countingGuard) Admit(context.Context, auth.Attempt) (bool, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.admitted++
	return true, ""
}

func (g *countingGuard) Failed(_ context.Context, a auth.Attempt, _ string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failed = append(g.failed, a.User)
}

func (g *countingGuard) Succeeded(context.Context, auth.Attempt) {}

type passkeyFixture struct {
	env   *Env
	reg   *api.Registry
	st    store.Store
	guard *countingGuard
	now   time.Time
	log   *bytes.Buffer
	// bobTOTP is bob's two-factor secret (set up by enrollBob).
	bobTOTP string
}

func (f *passkeyFixture) clock() time.Time { return f.now }

func newPasskeyFixture(t *testing.T) *passkeyFixture {
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
	key, err := secret.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	pw := func(p string) string {
		h, err := hasher.Hash(p)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	f := &passkeyFixture{st: st, guard: &countingGuard{}, now: time.Unix(1_900_000_000, 0), log: &bytes.Buffer{}}
	for _, a := range []store.Account{
		{Username: "root", PasswordHash: pw("rootpw"), Created: f.now},
		{Username: "res", Domain: "res.test", Owner: "root", PasswordHash: pw("respw"), Reseller: true, ACLs: []string{"list-accts"}, Created: f.now},
		{Username: "bob", Domain: "bob.test", Owner: "res", PasswordHash: pw("bobpw"), Created: f.now},
		{Username: "carol", Domain: "carol.test", Owner: "root", PasswordHash: pw("carolpw"), Created: f.now},
	} {
		if err := st.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []store.Mailbox{
		{Account: "bob", Local: "info", Domain: "bob.test", PasswordHash: pw("infopw"), Created: f.now},
		{Account: "carol", Local: "info", Domain: "carol.test", PasswordHash: pw("infopw"), Created: f.now},
	} {
		if err := st.CreateMailbox(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	f.env = &Env{Store: st, Key: key, Hasher: hasher, Now: f.clock, Log: slog.New(slog.NewTextHandler(f.log, nil)), Guard: f.guard}
	f.reg = f.env.Registry()
	return f
}

// passkey stores a credential of user (of account) directly.
func (f *passkeyFixture) passkey(t *testing.T, user, account, name string, id byte, mod func(*store.Passkey)) store.Passkey {
	t.Helper()
	p := store.Passkey{
		ID: []byte{id, 0xfb, 0xff, 0x3e, id}, Username: user, Account: account, Name: name,
		PublicKey: []byte("cose-public-key-" + name), AttestationType: "none", Created: f.now.Add(-time.Hour),
	}
	if mod != nil {
		mod(&p)
	}
	if err := f.st.CreatePasskey(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *passkeyFixture) enrollBob(t *testing.T) {
	t.Helper()
	sec, err := totp.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.Code(sec, f.now)
	v, _, err := f.env.twoFactor().Enroll(context.Background(), nil, auth.Attempt{User: "bob"}, "bob", sec, code)
	if err != nil || !v.OK() {
		t.Fatalf("enrolling bob: %v %v", v, err)
	}
	f.bobTOTP = sec
	f.now = f.now.Add(time.Minute) // the enrolment burnt its step
}

func (f *passkeyFixture) bobCode(t *testing.T) string {
	t.Helper()
	c, err := totp.Code(f.bobTOTP, f.now)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Principals.
var (
	pkRoot     = core.Principal{User: "root", Role: core.RoleRoot, Account: "root", Method: core.MethodPassword, Service: core.ServiceWHM, ACLs: core.NewACLSet(core.ACLAll)}
	pkReseller = core.Principal{User: "res", Role: core.RoleReseller, Account: "res", Method: core.MethodPassword, Service: core.ServiceWHM, ACLs: core.NewACLSet("list-accts")}
	pkBob      = core.Principal{User: "bob", Role: core.RoleCPanel, Account: "bob", Method: core.MethodSession, Service: core.ServiceCPanel}
	pkInfo     = core.Principal{User: "info@bob.test", Role: core.RoleWebmail, Account: "bob", Method: core.MethodPassword, Service: core.ServiceWebmail}
	pkLocal    = core.Principal{User: "root", Role: core.RoleRoot, Account: "root", Method: core.MethodLocal, Service: core.ServiceWHM, ACLs: core.NewACLSet(core.ACLAll)}
	pkNarrow   = core.Principal{User: "root", Role: core.RoleRoot, Account: "root", Method: core.MethodToken, TokenName: "narrow", Service: core.ServiceWHM,
		ACLs: core.NewACLSet("list-accts"), Bounds: core.Bounds{Narrowed: true}}
	pkReadOnly = core.Principal{User: "bob", Role: core.RoleCPanel, Account: "bob", Method: core.MethodToken, TokenName: "ro", Service: core.ServiceCPanel,
		ReadOnly: true, Bounds: core.Bounds{Narrowed: true}}
)

// call runs a registered function through its authorization check, as
// the dispatch does.
func (f *passkeyFixture) call(t *testing.T, p core.Principal, fl api.Flavour, name string, kv ...string) (map[string]any, error) {
	t.Helper()
	module := ""
	if fl == api.UAPI {
		module = "Passkeys"
	}
	fn, ok := f.reg.Lookup(fl, module, name)
	if !ok {
		t.Fatalf("%s %s is not registered", fl, name)
	}
	var args api.Args
	for i := 0; i+1 < len(kv); i += 2 {
		args.Add(kv[i], kv[i+1])
	}
	res, err := fn.Call(context.Background(), &api.Call{Flavour: fl, Module: module, Func: name, Args: args, Principal: p, Remote: netip.MustParseAddr("192.0.2.7")})
	if err != nil {
		return nil, err
	}
	// Through JSON, as a client reads it.
	b, jerr := json.Marshal(res.Data)
	if jerr != nil {
		t.Fatal(jerr)
	}
	var m map[string]any
	if jerr := json.Unmarshal(b, &m); jerr != nil {
		t.Fatal(jerr)
	}
	return m, nil
}

func (f *passkeyFixture) exists(t *testing.T, id []byte) bool {
	t.Helper()
	_, err := f.st.GetPasskey(context.Background(), id)
	return err == nil
}

// wantErr checks an error's kind and words.
func wantErr(t *testing.T, err error, kind core.Kind, words string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %v containing %q", kind, words)
	}
	if core.KindOf(err) != kind || !strings.Contains(core.Message(err), words) {
		t.Fatalf("error %v (%q), want %v containing %q", core.KindOf(err), core.Message(err), kind, words)
	}
}

func TestPasskeyList(t *testing.T) {
	f := newPasskeyFixture(t)
	used := f.now.Add(-time.Minute)
	bobKey := f.passkey(t, "bob", "bob", "laptop", 1, func(p *store.Passkey) {
		p.Kind, p.BackupEligible, p.BackupState, p.LastUsed, p.LastUsedIP = "iCloud Keychain", true, true, used, "198.51.100.4"
	})
	f.passkey(t, "bob", "bob", "old key", 2, func(p *store.Passkey) { p.CloneWarning = true; p.Created = f.now })
	f.passkey(t, "info@bob.test", "bob", "phone", 3, nil)
	f.passkey(t, "carol", "carol", "yubikey", 4, nil)

	tests := []struct {
		name  string
		p     core.Principal
		fl    api.Flavour
		args  []string
		user  string
		names []string
		err   string
	}{
		{name: "root, its own (none)", p: pkRoot, fl: api.WHM1, user: "root", names: []string{}},
		{name: "root, an account", p: pkRoot, fl: api.WHM1, args: []string{"user", "bob"}, user: "bob", names: []string{"laptop", "old key"}},
		{name: "root, a mailbox", p: pkRoot, fl: api.WHM1, args: []string{"user", "info@bob.test"}, user: "info@bob.test", names: []string{"phone"}},
		{name: "reseller, an account it owns", p: pkReseller, fl: api.WHM1, args: []string{"user", "bob"}, user: "bob", names: []string{"laptop", "old key"}},
		{name: "root, a mailbox named in another case", p: pkRoot, fl: api.WHM1, args: []string{"user", "Info@Bob.TEST"}, user: "info@bob.test", names: []string{"phone"}},
		{name: "reseller, a mailbox of an account it owns", p: pkReseller, fl: api.WHM1, args: []string{"user", "info@bob.test"}, user: "info@bob.test", names: []string{"phone"}},
		{name: "reseller, another's account", p: pkReseller, fl: api.WHM1, args: []string{"user", "carol"}, err: "The user “carol” does not exist."},
		{name: "reseller, another's mailbox", p: pkReseller, fl: api.WHM1, args: []string{"user", "info@carol.test"}, err: "The user “info@carol.test” does not exist."},
		{name: "root, no such user", p: pkRoot, fl: api.WHM1, args: []string{"user", "nobody"}, err: "The user “nobody” does not exist."},
		{name: "root, no such mailbox", p: pkRoot, fl: api.WHM1, args: []string{"user", "x@bob.test"}, err: "does not exist"},
		{name: "narrow root token (reading is allowed)", p: pkNarrow, fl: api.WHM1, args: []string{"user", "carol"}, user: "carol", names: []string{"yubikey"}},
		{name: "cPanel account, its own", p: pkBob, fl: api.UAPI, user: "bob", names: []string{"laptop", "old key"}},
		{name: "read-only cPanel token", p: pkReadOnly, fl: api.UAPI, user: "bob", names: []string{"laptop", "old key"}},
		{name: "webmail user, its own only", p: pkInfo, fl: api.UAPI, user: "info@bob.test", names: []string{"phone"}},
		{name: "cPanel account, a user argument is not heard", p: pkBob, fl: api.UAPI, args: []string{"user", "carol"}, user: "bob", names: []string{"laptop", "old key"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fn := "passkey_list"
			if tc.fl == api.UAPI {
				fn = "list"
			}
			d, err := f.call(t, tc.p, tc.fl, fn, tc.args...)
			if tc.err != "" {
				wantErr(t, err, core.KindNotFound, tc.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d["user"] != tc.user {
				t.Errorf("user = %v, want %s", d["user"], tc.user)
			}
			list, _ := d["passkeys"].([]any)
			names := []string{}
			for _, e := range list {
				names = append(names, e.(map[string]any)["name"].(string))
			}
			if !slices.Equal(names, tc.names) {
				t.Errorf("names = %q, want %q", names, tc.names)
			}
		})
	}

	t.Run("the fields of one passkey", func(t *testing.T) {
		d, err := f.call(t, pkBob, api.UAPI, "list")
		if err != nil {
			t.Fatal(err)
		}
		list := d["passkeys"].([]any)
		got, old := list[0].(map[string]any), list[1].(map[string]any)
		want := map[string]any{
			"id": base64.RawURLEncoding.EncodeToString(bobKey.ID), "name": "laptop", "created": float64(bobKey.Created.Unix()),
			"last_used": float64(used.Unix()), "last_used_ip": "198.51.100.4", "kind": "iCloud Keychain",
			"backup_eligible": float64(1), "backed_up": float64(1), "clone_warning": float64(0),
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %v, want %v", k, got[k], v)
			}
		}
		if len(got) != len(want) {
			t.Errorf("fields %v, want exactly %v", got, want)
		}
		if old["kind"] != "unknown" || old["last_used"] != nil || old["last_used_ip"] != nil || old["clone_warning"] != float64(1) {
			t.Errorf("a never-used, cloned passkey of unknown kind: %v", old)
		}
		if strings.ContainsAny(got["id"].(string), "+/=") {
			t.Errorf("id %q is not URL-safe", got["id"])
		}
		if d["passwordless"] != float64(0) {
			t.Errorf("passwordless = %v, want 0", d["passwordless"])
		}
	})
}

func TestPasskeyRemove(t *testing.T) {
	tests := []struct {
		name string
		// bobTFA: bob has two-factor authentication.
		bobTFA bool
		p      core.Principal
		fl     api.Flavour
		// args; {id} is the passkey's id, {code} bob's current code.
		args    []string
		target  string // whose passkey is removed ("bob" by default)
		kind    core.Kind
		err     string
		counted bool // a wrong credential reported to the regulator
		// single: the target has only the passkey removed (else a spare
		// too); setting is turned on first.
		single  bool
		setting string
	}{
		{name: "own, no proof", p: pkBob, fl: api.UAPI, args: []string{"id", "{id}"}, kind: core.KindPermission, err: "takes the password of “bob” again"},
		{name: "own, wrong password", p: pkBob, fl: api.UAPI, args: []string{"id", "{id}", "password", "wrong"}, kind: core.KindPermission, err: "The password of “bob” is incorrect.", counted: true},
		{name: "own, password with control bytes", p: pkBob, fl: api.UAPI, args: []string{"id", "{id}", "password", "bobpw\r\n"}, kind: core.KindPermission, err: "is incorrect", counted: true},
		{name: "own, the password again", p: pkBob, fl: api.UAPI, args: []string{"id", "{id}", "password", "bobpw"}},
		{name: "own, a current code", bobTFA: true, p: pkBob, fl: api.UAPI, args: []string{"id", "{id}", "current_tfa_token", "{code}"}},
		{name: "own, a wrong code", bobTFA: true, p: pkBob, fl: api.UAPI, args: []string{"id", "{id}", "current_tfa_token", "000000"}, kind: core.KindInvalid, err: "The security code is invalid.", counted: true},
		{name: "own, a code without two-factor", p: pkBob, fl: api.UAPI, args: []string{"id", "{id}", "current_tfa_token", "123456"}, kind: core.KindInvalid, err: "has no two-factor authentication set up", counted: true},
		{name: "own, the password with two-factor on", bobTFA: true, p: pkBob, fl: api.UAPI, args: []string{"id", "{id}", "password", "bobpw"}},
		{name: "own, by WHM API as a reseller", p: pkReseller, fl: api.WHM1, target: "res", args: []string{"id", "{id}", "password", "respw"}},
		{name: "a webmail user's own, its password", p: pkInfo, fl: api.UAPI, target: "info@bob.test", args: []string{"id", "{id}", "password", "infopw"}},
		{name: "a webmail user, the account's password", p: pkInfo, fl: api.UAPI, target: "info@bob.test", args: []string{"id", "{id}", "password", "bobpw"}, kind: core.KindPermission, err: "is incorrect", counted: true},
		{name: "root on another user, no proof", p: pkRoot, fl: api.WHM1, args: []string{"user", "bob", "id", "{id}"}},
		{name: "root on a mailbox, no proof", p: pkRoot, fl: api.WHM1, target: "info@bob.test", args: []string{"user", "info@bob.test", "id", "{id}"}},
		{name: "root on itself, no proof", p: pkRoot, fl: api.WHM1, target: "root", args: []string{"id", "{id}"}, kind: core.KindPermission, err: "takes the password of “root” again"},
		{name: "the command line on root, no proof", p: pkLocal, fl: api.WHM1, target: "root", args: []string{"id", "{id}"}},
		{name: "a reseller on an account it owns", p: pkReseller, fl: api.WHM1, args: []string{"user", "bob", "id", "{id}", "password", "respw"}, kind: core.KindPermission, err: "Only root may remove the passkeys of another user"},
		{name: "a reseller on another's account", p: pkReseller, fl: api.WHM1, target: "carol", args: []string{"user", "carol", "id", "{id}"}, kind: core.KindNotFound, err: "The user “carol” does not exist."},
		{name: "another user's id, as one's own", p: pkBob, fl: api.UAPI, target: "carol", args: []string{"id", "{id}", "password", "bobpw"}, kind: core.KindNotFound, err: "“bob” has no passkey with the id"},
		{name: "root naming the wrong user for the id", p: pkRoot, fl: api.WHM1, target: "carol", args: []string{"user", "bob", "id", "{id}"}, kind: core.KindNotFound, err: "“bob” has no passkey with the id"},
		{name: "an unknown id", p: pkBob, fl: api.UAPI, args: []string{"id", "AAAA", "password", "bobpw"}, kind: core.KindNotFound, err: "has no passkey with the id “AAAA”"},
		{name: "an id that is not base64url", p: pkBob, fl: api.UAPI, args: []string{"id", "a+b/", "password", "bobpw"}, kind: core.KindInvalid, err: "is not a passkey id"},
		{name: "no id", p: pkBob, fl: api.UAPI, args: []string{"password", "bobpw"}, kind: core.KindInvalid, err: "The “id” parameter is required."},
		{name: "a narrow token", p: pkNarrow, fl: api.WHM1, args: []string{"user", "bob", "id", "{id}"}, kind: core.KindPermission, err: "does not carry every privilege of its owner"},
		{name: "a read-only token", p: pkReadOnly, fl: api.UAPI, args: []string{"id", "{id}", "password", "bobpw"}, kind: core.KindPermission, err: "is read-only"},

		{name: "policy: root's last passkey", p: pkRoot, fl: api.WHM1, target: "root", single: true, setting: settings.RequirePasskeyRoot, args: []string{"id", "{id}", "password", "rootpw"},
			kind: core.KindPermission, err: "“root” must keep a passkey while the phishing-resistant policy (require_passkey_root) is on"},
		{name: "policy: root's last passkey, a wrong password is not even asked", p: pkRoot, fl: api.WHM1, target: "root", single: true, setting: settings.RequirePasskeyRoot, args: []string{"id", "{id}", "password", "wrong"},
			kind: core.KindPermission, err: "must keep a passkey"},
		{name: "policy: root's passkey with another left", p: pkRoot, fl: api.WHM1, target: "root", setting: settings.RequirePasskeyRoot, args: []string{"id", "{id}", "password", "rootpw"}},
		{name: "policy: root's last passkey from the command line", p: pkLocal, fl: api.WHM1, target: "root", single: true, setting: settings.RequirePasskeyRoot, args: []string{"id", "{id}"}},
		{name: "policy: root's last passkey, the policy off", p: pkRoot, fl: api.WHM1, target: "root", single: true, args: []string{"id", "{id}", "password", "rootpw"}},
		{name: "policy: a reseller's last passkey, by root", p: pkRoot, fl: api.WHM1, target: "res", single: true, setting: settings.RequirePasskeyResellers, args: []string{"user", "res", "id", "{id}"},
			kind: core.KindPermission, err: "(require_passkey_resellers)"},
		{name: "policy: an account that is not a reseller", p: pkRoot, fl: api.WHM1, single: true, setting: settings.RequirePasskeyResellers, args: []string{"user", "bob", "id", "{id}"}},
		{name: "policy: root's policy is not the resellers'", p: pkRoot, fl: api.WHM1, target: "res", single: true, setting: settings.RequirePasskeyRoot, args: []string{"user", "res", "id", "{id}"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newPasskeyFixture(t)
			if tc.setting != "" {
				if err := f.st.SetSetting(context.Background(), tc.setting, "1"); err != nil {
					t.Fatal(err)
				}
			}
			if tc.bobTFA {
				f.enrollBob(t)
			}
			target := tc.target
			if target == "" {
				target = "bob"
			}
			account, _, _ := strings.Cut(target, "@")
			if strings.Contains(target, "@") {
				account = "bob"
			}
			p := f.passkey(t, target, account, "key", 9, nil)
			other := p
			if !tc.single {
				other = f.passkey(t, target, account, "spare", 10, nil)
			}
			id := PasskeyID(p.ID)
			args := slices.Clone(tc.args)
			for i, a := range args {
				switch a {
				case "{id}":
					args[i] = id
				case "{code}":
					args[i] = f.bobCode(t)
				}
			}
			fn := "passkey_remove"
			if tc.fl == api.UAPI {
				fn = "remove"
			}
			d, err := f.call(t, tc.p, tc.fl, fn, args...)
			if tc.err != "" {
				wantErr(t, err, tc.kind, tc.err)
				if !f.exists(t, p.ID) {
					t.Error("the passkey was removed by a refused call")
				}
				if counted := len(f.guard.failed) > 0; counted != tc.counted {
					t.Errorf("failures reported to the regulator: %q, want some: %v", f.guard.failed, tc.counted)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.exists(t, p.ID) {
				t.Error("the passkey is still there")
			}
			if !tc.single && !f.exists(t, other.ID) {
				t.Error("another passkey was removed too")
			}
			removed, _ := d["removed"].(map[string]any)
			if removed["id"] != id || removed["name"] != "key" || d["user"] != target || d["remaining"] != float64(fmtBool(!tc.single)) {
				t.Errorf("answer %v", d)
			}
			if !strings.Contains(f.log.String(), "passkey removed") {
				t.Errorf("no log line: %s", f.log)
			}
			for _, secret := range []string{"bobpw", "respw", "infopw"} {
				if strings.Contains(f.log.String(), secret) {
					t.Errorf("the log holds a password: %s", f.log)
				}
			}
		})
	}
}

func TestPasskeyRename(t *testing.T) {
	tests := []struct {
		name   string
		p      core.Principal
		fl     api.Flavour
		args   []string
		target string
		kind   core.Kind
		err    string
		want   string // the stored name after the call
	}{
		{name: "own", p: pkBob, fl: api.UAPI, args: []string{"id", "{id}", "name", "  work laptop "}, want: "work laptop"},
		{name: "own, letters beyond ASCII", p: pkBob, fl: api.UAPI, args: []string{"id", "{id}", "name", "Clé de sécurité"}, want: "Clé de sécurité"},
		{name: "a webmail user's own", p: pkInfo, fl: api.UAPI, target: "info@bob.test", args: []string{"id", "{id}", "name", "phone"}, want: "phone"},
		{name: "a reseller on an account it owns", p: pkReseller, fl: api.WHM1, args: []string{"user", "bob", "id", "{id}", "name", "by res"}, want: "by res"},
		{name: "a narrow root token (a label only)", p: pkNarrow, fl: api.WHM1, args: []string{"user", "bob", "id", "{id}", "name", "narrow"}, want: "narrow"},
		{name: "a reseller on another's account", p: pkReseller, fl: api.WHM1, target: "carol", args: []string{"user", "carol", "id", "{id}", "name", "x"}, kind: core.KindNotFound, err: "does not exist", want: "key"},
		{name: "a name taken", p: pkBob, fl: api.UAPI, args: []string{"id", "{id}", "name", "spare"}, kind: core.KindExists, err: "has a passkey named “spare” already", want: "key"},
		{name: "an empty name", p: pkBob, fl: api.UAPI, args: []string{"id", "{id}", "name", "  "}, kind: core.KindInvalid, err: "1 to 64 characters", want: "key"},
		{name: "a name with a newline", p: pkBob, fl: api.UAPI, args: []string{"id", "{id}", "name", "a\nb"}, kind: core.KindInvalid, err: "without control characters", want: "key"},
		{name: "a name too long", p: pkBob, fl: api.UAPI, args: []string{"id", "{id}", "name", strings.Repeat("é", 65)}, kind: core.KindInvalid, err: "1 to 64 characters", want: "key"},
		{name: "no name", p: pkBob, fl: api.UAPI, args: []string{"id", "{id}"}, kind: core.KindInvalid, err: "The “name” parameter is required.", want: "key"},
		{name: "another user's id", p: pkBob, fl: api.UAPI, target: "carol", args: []string{"id", "{id}", "name", "mine"}, kind: core.KindNotFound, err: "“bob” has no passkey with the id", want: "key"},
		{name: "a read-only token", p: pkReadOnly, fl: api.UAPI, args: []string{"id", "{id}", "name", "ro"}, kind: core.KindPermission, err: "is read-only", want: "key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newPasskeyFixture(t)
			target := tc.target
			if target == "" {
				target = "bob"
			}
			account := target
			if strings.Contains(target, "@") {
				account = "bob"
			}
			p := f.passkey(t, target, account, "key", 9, nil)
			f.passkey(t, target, account, "spare", 10, nil)
			args := slices.Clone(tc.args)
			for i := range args {
				if args[i] == "{id}" {
					args[i] = PasskeyID(p.ID)
				}
			}
			fn := "passkey_rename"
			if tc.fl == api.UAPI {
				fn = "rename"
			}
			d, err := f.call(t, tc.p, tc.fl, fn, args...)
			if tc.err != "" {
				wantErr(t, err, tc.kind, tc.err)
			} else if err != nil {
				t.Fatal(err)
			} else if d["name"] != tc.want || d["previous_name"] != "key" || d["id"] != PasskeyID(p.ID) || d["user"] != target {
				t.Errorf("answer %v", d)
			}
			got, err := f.st.GetPasskey(context.Background(), p.ID)
			if err != nil || got.Name != tc.want {
				t.Errorf("stored name %q (%v), want %q", got.Name, err, tc.want)
			}
		})
	}
}

func TestPasskeyPasswordless(t *testing.T) {
	tests := []struct {
		name   string
		p      core.Principal
		fl     api.Flavour
		args   []string
		target string
		// keys: "usable", "cloned" or "" (none).
		keys   string
		before bool
		kind   core.Kind
		err    string
		want   bool // stored afterwards
	}{
		{name: "on, own, the password again", p: pkBob, fl: api.UAPI, args: []string{"enabled", "1", "password", "bobpw"}, keys: "usable", want: true},
		{name: "on, own, no proof", p: pkBob, fl: api.UAPI, args: []string{"enabled", "1"}, keys: "usable", kind: core.KindPermission, err: "Turning passwordless sign-in on takes the password of “bob” again"},
		{name: "on, own, a wrong password", p: pkBob, fl: api.UAPI, args: []string{"enabled", "1", "password", "nope"}, keys: "usable", kind: core.KindPermission, err: "The password of “bob” is incorrect."},
		{name: "on, own, already on: nothing to prove", p: pkBob, fl: api.UAPI, args: []string{"enabled", "1"}, keys: "usable", before: true, want: true},
		{name: "off, own", p: pkBob, fl: api.UAPI, args: []string{"enabled", "0"}, keys: "usable", before: true, want: false},
		{name: "off without passkeys", p: pkBob, fl: api.UAPI, args: []string{"enabled", "0"}, want: false},
		{name: "on without passkeys", p: pkBob, fl: api.UAPI, args: []string{"enabled", "1"}, kind: core.KindInvalid, err: "has no passkey to sign in with"},
		{name: "on with a cloned passkey only", p: pkBob, fl: api.UAPI, args: []string{"enabled", "1"}, keys: "cloned", kind: core.KindInvalid, err: "has no passkey to sign in with"},
		{name: "a webmail user, on", p: pkInfo, fl: api.UAPI, target: "info@bob.test", args: []string{"enabled", "1", "password", "infopw"}, keys: "usable", want: true},
		{name: "root on another user", p: pkRoot, fl: api.WHM1, args: []string{"user", "bob", "enabled", "1"}, keys: "usable", want: true},
		{name: "root on itself", p: pkRoot, fl: api.WHM1, target: "root", args: []string{"enabled", "1", "password", "rootpw"}, keys: "usable", want: true},
		{name: "root on itself, no proof", p: pkRoot, fl: api.WHM1, target: "root", args: []string{"enabled", "1"}, keys: "usable", kind: core.KindPermission, err: "takes the password of “root” again"},
		{name: "the command line on root, no proof", p: pkLocal, fl: api.WHM1, target: "root", args: []string{"enabled", "1"}, keys: "usable", want: true},
		{name: "a reseller on an account it owns, on: the account's proof", p: pkReseller, fl: api.WHM1, args: []string{"user", "bob", "enabled", "1", "password", "respw"}, keys: "usable", kind: core.KindPermission, err: "The password of “bob” is incorrect."},
		{name: "a reseller on an account it owns, off", p: pkReseller, fl: api.WHM1, args: []string{"user", "bob", "enabled", "0"}, keys: "usable", before: true, want: false},
		{name: "a reseller on another's account", p: pkReseller, fl: api.WHM1, target: "carol", args: []string{"user", "carol", "enabled", "1"}, keys: "usable", kind: core.KindNotFound, err: "The user “carol” does not exist."},
		{name: "a narrow token", p: pkNarrow, fl: api.WHM1, args: []string{"user", "bob", "enabled", "1"}, keys: "usable", kind: core.KindPermission, err: "does not carry every privilege"},
		{name: "a read-only token", p: pkReadOnly, fl: api.UAPI, args: []string{"enabled", "0"}, keys: "usable", before: true, kind: core.KindPermission, err: "is read-only", want: true},
		{name: "no enabled", p: pkBob, fl: api.UAPI, keys: "usable", kind: core.KindInvalid, err: "The “enabled” parameter is required."},
		{name: "enabled neither 1 nor 0", p: pkBob, fl: api.UAPI, args: []string{"enabled", "yes please"}, keys: "usable", kind: core.KindInvalid, err: "must be 1 (on) or 0 (off)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newPasskeyFixture(t)
			ctx := context.Background()
			target := tc.target
			if target == "" {
				target = "bob"
			}
			account := target
			if strings.Contains(target, "@") {
				account = "bob"
			}
			if tc.keys != "" {
				f.passkey(t, target, account, "key", 9, func(p *store.Passkey) { p.CloneWarning = tc.keys == "cloned" })
			}
			if tc.before {
				if _, err := f.env.passkeyUser(ctx, tfaUser{User: target, Account: account}); err != nil {
					t.Fatal(err)
				}
				if _, err := f.st.UpdatePasskeyUser(ctx, target, func(pu store.PasskeyUser) (store.PasskeyUser, error) {
					pu.Passwordless = true
					return pu, nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			fn := "passkey_set_passwordless"
			if tc.fl == api.UAPI {
				fn = "set_passwordless"
			}
			d, err := f.call(t, tc.p, tc.fl, fn, tc.args...)
			if tc.err != "" {
				wantErr(t, err, tc.kind, tc.err)
			} else if err != nil {
				t.Fatal(err)
			} else if d["passwordless"] != float64(fmtBool(tc.want)) || d["previous"] != float64(fmtBool(tc.before)) || d["user"] != target {
				t.Errorf("answer %v", d)
			}
			got, err := f.env.passwordless(ctx, target)
			if err != nil || got != tc.want {
				t.Errorf("stored passwordless = %v (%v), want %v", got, err, tc.want)
			}
			if pu, err := f.st.GetPasskeyUser(ctx, target); err == nil {
				if len(pu.Handle) != passkeyHandleLen || bytes.Contains(pu.Handle, []byte(target)) || pu.Account != account {
					t.Errorf("the user record made: %+v", pu)
				}
			}
		})
	}
}

func TestPasskeyFunctionsDeclared(t *testing.T) {
	reg := (&Env{}).Registry()
	for _, tc := range []struct {
		fl       api.Flavour
		module   string
		name     string
		mints    api.Mint
		readOnly bool
	}{
		{api.WHM1, "", "passkey_list", api.MintNothing, true},
		{api.WHM1, "", "passkey_remove", api.MintPasskey, false},
		{api.WHM1, "", "passkey_rename", api.MintNothing, false},
		{api.WHM1, "", "passkey_set_passwordless", api.MintPasskey, false},
		{api.UAPI, "Passkeys", "list", api.MintNothing, true},
		{api.UAPI, "Passkeys", "remove", api.MintPasskey, false},
		{api.UAPI, "Passkeys", "rename", api.MintNothing, false},
		{api.UAPI, "Passkeys", "set_passwordless", api.MintPasskey, false},
	} {
		f, ok := reg.Lookup(tc.fl, tc.module, tc.name)
		switch {
		case !ok:
			t.Errorf("%s %s::%s is not registered", tc.fl, tc.module, tc.name)
		case f.Mints != tc.mints || f.ReadOnly != tc.readOnly || f.InAccount:
			t.Errorf("%s %s: mints %v, read-only %v, in-account %v", tc.fl, f.FullName(), f.Mints, f.ReadOnly, f.InAccount)
		case tc.fl == api.UAPI && !f.WebmailSafe:
			t.Errorf("%s is not webmail-safe: a Webmail user has passkeys of its own", f.FullName())
		}
	}
}

func TestParsePasskeyID(t *testing.T) {
	long := bytes.Repeat([]byte{0xab}, store.MaxPasskeyIDLen)
	for _, tc := range []struct {
		name, in string
		want     []byte
		err      string
	}{
		{name: "one byte", in: "AQ", want: []byte{1}},
		{name: "URL-safe characters", in: "-_8", want: []byte{0xfb, 0xff}},
		{name: "padding tolerated", in: "AQ==", want: []byte{1}},
		{name: "the longest", in: base64.RawURLEncoding.EncodeToString(long), want: long},
		{name: "empty", in: "", err: "is required"},
		{name: "standard alphabet", in: "+/8", err: "is not a passkey id"},
		{name: "too long", in: base64.RawURLEncoding.EncodeToString(append(long, 1)), err: "is not a passkey id"},
		{name: "only padding", in: "==", err: "is not a passkey id"},
		{name: "spaces", in: "AQ AQ", err: "is not a passkey id"},
		{name: "a line break (which the decoder skips)", in: "000\r", err: "is not a passkey id"},
		{name: "too much padding", in: "AQ===", err: "is not a passkey id"},
		{name: "non-canonical last character", in: "AR", err: "is not a passkey id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePasskeyID(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(core.Message(err), tc.err) {
					t.Fatalf("ParsePasskeyID(%q) = %x, %v; want an error with %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("ParsePasskeyID(%q) = %x, %v; want %x", tc.in, got, err, tc.want)
			}
		})
	}
}

func FuzzParsePasskeyID(f *testing.F) {
	for _, s := range []string{"", "AQ", "AQ==", "-_8", "+/8", "AR", "==", "\x00", strings.Repeat("A", 1400)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		raw, err := ParsePasskeyID(s)
		if err != nil {
			if core.KindOf(err) != core.KindInvalid {
				t.Fatalf("error kind %v for %q", core.KindOf(err), s)
			}
			return
		}
		if len(raw) == 0 || len(raw) > store.MaxPasskeyIDLen {
			t.Fatalf("%q decoded to %d bytes", s, len(raw))
		}
		if PasskeyID(raw) != strings.TrimRight(s, "=") || len(s)-len(strings.TrimRight(s, "=")) > 2 {
			t.Fatalf("%q decoded to %x, shown as %q", s, raw, PasskeyID(raw))
		}
	})
}

func FuzzCheckPasskeyName(f *testing.F) {
	for _, s := range []string{"", "laptop", " a ", "a\nb", "\xff", strings.Repeat("é", 64), strings.Repeat("é", 65), "\u200b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := CheckPasskeyName(s)
		if err != nil {
			return
		}
		if n == "" || n != strings.TrimSpace(n) || !utf8Valid(n) || strings.ContainsFunc(n, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("CheckPasskeyName(%q) = %q", s, n)
		}
	})
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }
