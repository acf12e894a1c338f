package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/functions"
	"github.com/cpauth/cpauth/internal/store"
)

// The passkey functions over HTTP: their envelopes (golden files), and who
// reaches whose passkeys. Passkeys are put in the store directly: no API
// registers one (that takes a browser).

// Passkey ids of the fixtures, as the functions show them.
var (
	pkBobLaptop = []byte{0x01, 0xfb, 0xff, 0x10}
	pkBobKey    = []byte{0x02, 0xfb, 0xff, 0x20}
	pkInfoPhone = []byte{0x03, 0xfb, 0xff, 0x30}
	pkCarolKey  = []byte{0x04, 0xfb, 0xff, 0x40}
)

// seedPasskeys gives bob two passkeys, his mailbox one and carol one.
func seedPasskeys(t testing.TB, e *testEnv) {
	t.Helper()
	now := time.Now().Truncate(time.Second)
	for _, p := range []store.Passkey{
		{ID: pkBobLaptop, Username: "bob", Account: "bob", Name: "laptop", Kind: "iCloud Keychain", BackupEligible: true, BackupState: true,
			Transports: []string{"internal", "hybrid"}, LastUsed: now, LastUsedIP: "198.51.100.4"},
		{ID: pkBobKey, Username: "bob", Account: "bob", Name: "security key", Transports: []string{"usb"}},
		{ID: pkInfoPhone, Username: "info@bob.test", Account: "bob", Name: "phone"},
		{ID: pkCarolKey, Username: "carol", Account: "carol", Name: "yubikey", CloneWarning: true},
	} {
		p.PublicKey, p.AttestationType, p.Created = []byte("cose-key-"+p.Name), "none", now
		if err := e.d.Data.Store.CreatePasskey(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
}

func pkID(raw []byte) string { return functions.PasskeyID(raw) }

var passkeyGoldenSteps = []goldenStep{
	{name: "pk_list_root_own", port: p2087, who: "root", path: "/json-api/passkey_list?api.version=1", status: 200, must: `"passkeys":[]`},
	{name: "pk_list_by_root", port: p2087, who: "root", path: "/json-api/passkey_list?api.version=1&user=bob", status: 200, must: `"name":"laptop"`},
	{name: "pk_list_mailbox_by_root", port: p2087, who: "root", path: "/json-api/passkey_list?api.version=1&user=info%40bob.test", status: 200, must: `"name":"phone"`},
	{name: "pk_list_by_reseller", port: p2087, who: "res", path: "/json-api/passkey_list?api.version=1&user=carol", status: 200, must: `"clone_warning":1`},
	{name: "pk_list_foreign_by_reseller", port: p2087, who: "res", path: "/json-api/passkey_list?api.version=1&user=bob", status: 200, must: `The user “bob” does not exist.`},
	{name: "pk_list_api0", port: p2087, who: "root", path: "/json-api/passkey_list?user=bob", status: 200, must: `Unknown app (passkey_list)`},
	{name: "pk_list_uapi", port: p2083, who: "bob", path: "/execute/Passkeys/list", status: 200, must: `"name":"security key"`},
	{name: "pk_list_uapi_webmail", port: p2096, who: "info@bob.test", path: "/execute/Passkeys/list", status: 200, must: `"user":"info@bob.test"`},
	{name: "pk_list_uapi_cpanel", port: p2087, who: "root", path: "/json-api/uapi_cpanel?api.version=1&cpanel.user=bob&cpanel.module=Passkeys&cpanel.function=list", status: 200, must: `"name":"laptop"`},
	{name: "pk_list_uapi_on_whm_port", port: p2087, who: "bob", path: "/execute/Passkeys/list", status: 404, must: `Function not found`},
	{name: "pk_rename_uapi", port: p2083, who: "bob", path: "/execute/Passkeys/rename?id={laptop}&name=work%20laptop", status: 200, must: `"previous_name":"laptop"`},
	{name: "pk_rename_taken", port: p2083, who: "bob", path: "/execute/Passkeys/rename?id={laptop}&name=security%20key", status: 200, must: `has a passkey named “security key” already`},
	{name: "pk_rename_foreign_id", port: p2083, who: "bob", path: "/execute/Passkeys/rename?id={carol}&name=mine", status: 200, must: `“bob” has no passkey with the id`},
	{name: "pk_remove_no_proof", port: p2083, who: "bob", path: "/execute/Passkeys/remove?id={laptop}", status: 200, must: `Removing a passkey takes the password of “bob” again`},
	{name: "pk_remove_wrong_password", port: p2083, who: "bob", method: "POST", path: "/execute/Passkeys/remove", body: "id={laptop}&password=Wrong-Pass-1", ctype: form, status: 200, must: `The password of “bob” is incorrect.`},
	{name: "pk_remove_bad_id", port: p2083, who: "bob", path: "/execute/Passkeys/remove?id=not%2Bbase64url", status: 200, must: `is not a passkey id`},
	{name: "pk_remove_uapi", port: p2083, who: "bob", method: "POST", path: "/execute/Passkeys/remove", body: "id={laptop}&password=" + bobPass, ctype: form, status: 200, must: `"remaining":1`},
	{name: "pk_remove_again", port: p2083, who: "bob", method: "POST", path: "/execute/Passkeys/remove", body: "id={laptop}&password=" + bobPass, ctype: form, status: 200, must: `has no passkey with the id`},
	{name: "pk_remove_by_reseller_owner", port: p2087, who: "res", path: "/json-api/passkey_remove?api.version=1&user=carol&id={carol}", status: 200, must: `Only root may remove the passkeys of another user`},
	{name: "pk_remove_by_root", port: p2087, who: "root", path: "/json-api/passkey_remove?api.version=1&user=carol&id={carol}", status: 200, must: `"removed":{`},
	{name: "pk_passwordless_on_no_proof", port: p2083, who: "bob", path: "/execute/Passkeys/set_passwordless?enabled=1", status: 200, must: `Turning passwordless sign-in on takes the password of “bob” again`},
	{name: "pk_passwordless_on", port: p2083, who: "bob", method: "POST", path: "/execute/Passkeys/set_passwordless", body: "enabled=1&password=" + bobPass, ctype: form, status: 200, must: `"passwordless":1`},
	{name: "pk_passwordless_bad_value", port: p2083, who: "bob", path: "/execute/Passkeys/set_passwordless?enabled=maybe", status: 200, must: `must be 1 (on) or 0 (off)`},
	{name: "pk_passwordless_no_passkey", port: p2087, who: "root", path: "/json-api/passkey_set_passwordless?api.version=1&user=carol&enabled=1", status: 200, must: `has no passkey to sign in with`},
	{name: "pk_passwordless_by_reseller_owner", port: p2087, who: "res", path: "/json-api/passkey_set_passwordless?api.version=1&user=carol&enabled=0", status: 200, must: `"passwordless":0`},
	{name: "pk_passwordless_foreign_by_reseller", port: p2087, who: "res", path: "/json-api/passkey_set_passwordless?api.version=1&user=bob&enabled=0", status: 200, must: `The user “bob” does not exist.`},
	{name: "pk_passwordless_off_by_root", port: p2087, who: "root", path: "/json-api/passkey_set_passwordless?api.version=1&user=bob&enabled=0", status: 200, must: `"previous":1`},
	{name: "pk_list_after", port: p2087, who: "root", path: "/json-api/passkey_list?api.version=1&user=bob", status: 200, must: `"passwordless":0`},
}

func TestPasskeyGolden(t *testing.T) {
	e := startWithFixtures(t)
	seedPasskeys(t, e)
	fill := strings.NewReplacer("{laptop}", pkID(pkBobLaptop), "{carol}", pkID(pkCarolKey)).Replace
	for _, s := range passkeyGoldenSteps {
		t.Run(s.name, func(t *testing.T) {
			runGoldenStep(t, e, s, e.authFor(t, s.who), fill(s.path), fill(s.body), e.normalise, nil)
		})
	}
	ctx := context.Background()
	if _, err := e.d.Data.Store.GetPasskey(ctx, pkBobLaptop); err == nil {
		t.Error("bob's laptop passkey is still there")
	}
	if _, err := e.d.Data.Store.GetPasskey(ctx, pkBobKey); err != nil {
		t.Errorf("bob's other passkey: %v", err)
	}
	if _, err := e.d.Data.Store.GetPasskey(ctx, pkInfoPhone); err != nil {
		t.Errorf("the mailbox's passkey: %v", err)
	}
	log := e.log.String()
	if !strings.Contains(log, "passkey removed") || !strings.Contains(log, "passwordless sign-in") {
		t.Errorf("the changes are not in the log:\n%s", tail(log, 40))
	}
	for _, secret := range []string{bobPass, "Wrong-Pass-1"} {
		if strings.Contains(log, secret) {
			t.Errorf("the log holds a password")
		}
	}
}

// TestPasskeyRemovalProof: the removal's proof through the HTTP API, with
// a two-factor code (D26), and the passkey left when it is wrong.
func TestPasskeyRemovalProof(t *testing.T) {
	e := startWithFixtures(t)
	seedPasskeys(t, e)
	bob := e.enroll(t, "bob")
	ctx := context.Background()
	remove := func(extra string) response {
		return e.do(t, request{port: p2083, method: "POST", path: "/execute/Passkeys/remove", auth: e.authFor(t, "bob"),
			body: "id=" + pkID(pkBobKey) + extra, ctype: form})
	}
	uapiError(t, remove("&current_tfa_token=000000"), http.StatusOK)
	if _, err := e.d.Data.Store.GetPasskey(ctx, pkBobKey); err != nil {
		t.Fatalf("removed with a wrong code: %v", err)
	}
	d := uapiOK(t, remove("&current_tfa_token="+e.code(t, bob)))
	if str(dig(d, "data", "removed", "id")) != pkID(pkBobKey) {
		t.Errorf("answer %v", d)
	}
	if _, err := e.d.Data.Store.GetPasskey(ctx, pkBobKey); err == nil {
		t.Error("the passkey is still there")
	}
}

// In gateway mode the passkey functions are the gateway's own: they read
// and change the gateway's store, never the backend's, and the password a
// removal takes is checked as every password there is, by the backend.
func TestGatewayPasskeys(t *testing.T) {
	g := startGateway(t, gwOptions{})
	ctx := context.Background()
	bob := g.gw.authFor(t, "bob")
	// A first call mirrors bob's account into the gateway's store.
	uapiOK(t, g.gw.do(t, request{port: p2083, auth: bob, path: "/execute/Passkeys/list"}))
	gwKey := store.Passkey{ID: []byte("gateway-key"), Username: "bob", Account: "bob", Name: "at the gateway", PublicKey: []byte("cose-key"), AttestationType: "none", Created: time.Now()}
	beKey := store.Passkey{ID: []byte("backend-key"), Username: "bob", Account: "bob", Name: "at the backend", PublicKey: []byte("cose-key"), AttestationType: "none", Created: time.Now()}
	if err := g.gw.d.Data.Store.CreatePasskey(ctx, gwKey); err != nil {
		t.Fatal(err)
	}
	if err := g.backend.d.Data.Store.CreatePasskey(ctx, beKey); err != nil {
		t.Fatal(err)
	}

	d := uapiOK(t, g.gw.do(t, request{port: p2083, auth: bob, path: "/execute/Passkeys/list"}))
	list, _ := dig(d, "data", "passkeys").([]any)
	if len(list) != 1 || str(dig(list[0].(map[string]any), "name")) != "at the gateway" {
		t.Fatalf("Passkeys::list at the gateway: %s", mustJSON(d))
	}
	remove := func(pass string) response {
		return g.gw.do(t, request{port: p2083, auth: bob, method: "POST", path: "/execute/Passkeys/remove",
			body: "id=" + pkID(gwKey.ID) + "&password=" + pass, ctype: form})
	}
	if msg := uapiError(t, remove("Wrong-Pass-1"), http.StatusOK); !strings.Contains(msg, "is incorrect") {
		t.Errorf("a wrong password at the gateway: %q", msg)
	}
	if _, err := g.gw.d.Data.Store.GetPasskey(ctx, gwKey.ID); err != nil {
		t.Fatalf("removed with a wrong password: %v", err)
	}
	uapiOK(t, remove(bobPass))
	if _, err := g.gw.d.Data.Store.GetPasskey(ctx, gwKey.ID); err == nil {
		t.Error("the gateway's passkey is still there")
	}
	if _, err := g.backend.d.Data.Store.GetPasskey(ctx, beKey.ID); err != nil {
		t.Errorf("the backend's passkey: %v", err)
	}
	// The backend's own passkey is not the gateway's to remove.
	r := g.gw.do(t, request{port: p2087, auth: g.gw.authFor(t, "root"), path: "/json-api/passkey_remove?api.version=1&user=bob&id=" + pkID(beKey.ID)})
	if reason := whmFailed(t, r); !strings.Contains(reason, "has no passkey with the id") {
		t.Errorf("removing the backend's passkey through the gateway: %q", reason)
	}
}
