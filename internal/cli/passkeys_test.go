package cli_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/daemon"
	"github.com/cpauth/cpauth/internal/functions"
	"github.com/cpauth/cpauth/internal/store"
)

// The passkey functions from the command line: the registry's, run as
// root, which removes a passkey (its own included) without a second proof.
func TestPasskeysFromTheCommandLine(t *testing.T) {
	dir := t.TempDir()
	mustCode(t, local(t, dir, "", "whmapi1", "createacct", "username=bob", "domain=bob.test", "password=Bob-Pass-1"), 0)

	bobKey := []byte{0x0b, 0x0b, 0xfe}
	rootKey := []byte{0x00, 0x0f, 0xff}
	func() {
		cfg := config.Default()
		cfg.DataDir, cfg.HashRounds = dir, 1000
		d, err := daemon.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		for _, p := range []store.Passkey{
			{ID: bobKey, Username: "bob", Account: "bob", Name: "laptop"},
			{ID: rootKey, Username: "root", Account: "root", Name: "root key"},
		} {
			p.PublicKey, p.AttestationType, p.Created = []byte("cose-key"), "none", time.Now()
			if err := d.Store.CreatePasskey(context.Background(), p); err != nil {
				t.Fatal(err)
			}
		}
	}()

	r := local(t, dir, "", "whmapi1", "passkey_list", "user=bob")
	mustCode(t, r, 0)
	list, _ := get(yamlDoc(t, r.stdout), "data", "passkeys").([]any)
	if len(list) != 1 || get(list[0].(map[string]any), "id") != functions.PasskeyID(bobKey) || get(list[0].(map[string]any), "name") != "laptop" {
		t.Fatalf("passkey_list: %s", r.stdout)
	}

	r = local(t, dir, "", "uapi", "--user=bob", "Passkeys", "rename", "id="+functions.PasskeyID(bobKey), "name=work laptop")
	mustCode(t, r, 0)
	if m := yamlDoc(t, r.stdout); get(m, "status") != 1 || get(m, "data", "name") != "work laptop" || get(m, "data", "previous_name") != "laptop" {
		t.Errorf("Passkeys::rename: %s", r.stdout)
	}

	// Root's own, without a password or a code: the command line runs as
	// root on the machine.
	r = local(t, dir, "", "whmapi1", "passkey_remove", "id="+functions.PasskeyID(rootKey))
	mustCode(t, r, 0)
	if get(yamlDoc(t, r.stdout), "metadata", "result") != 1 {
		t.Fatalf("passkey_remove: %s", r.stdout)
	}
	r = local(t, dir, "", "whmapi1", "passkey_remove", "user=bob", "id=AAAA")
	if m := yamlDoc(t, r.stdout); get(m, "metadata", "result") != 0 || get(m, "metadata", "reason") != "“bob” has no passkey with the id “AAAA”." {
		t.Errorf("an unknown id: %s", r.stdout)
	}

	r = local(t, dir, "", "whmapi1", "passkey_list")
	mustCode(t, r, 0)
	if list, _ := get(yamlDoc(t, r.stdout), "data", "passkeys").([]any); len(list) != 0 {
		t.Errorf("root's passkeys after the removal: %s", r.stdout)
	}
}
