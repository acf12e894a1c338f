package cli_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/store"
)

var tokenRE = regexp.MustCompile(`^[0-9A-Z]{32}\n$`)

// token runs `cpauth token VERB --data-dir dir ... args`.
func token(t *testing.T, dir, verb string, args ...string) result {
	t.Helper()
	return run(t, nil, "", append([]string{"token", verb, "--data-dir", dir, "--hash-rounds", "1000"}, args...)...)
}

func TestTokenCommand(t *testing.T) {
	dir := t.TempDir()
	mustCode(t, local(t, dir, "", "whmapi1", "createacct", "username=bob", "domain=bob.test", "password=Bob-Pass-1"), 0)
	mustCode(t, local(t, dir, "", "whmapi1", "createacct", "username=res", "domain=res.test", "password=Res-Pass-1", "reseller=1"), 0)
	mustCode(t, local(t, dir, "", "whmapi1", "setacls", "reseller=res", "acl-list-accts=1", "acl-passwd=1"), 0)

	// create prints the token alone on stdout; the rest goes to stderr.
	r := token(t, dir, "create", "--user", "root", "--name", "ci", "--acl", "list-accts", "--acl", "passwd", "--whitelist-ip", "192.0.2.0/24")
	mustCode(t, r, 0)
	if !tokenRE.MatchString(r.stdout) {
		t.Fatalf("stdout %q is not one token", r.stdout)
	}
	rootTok := strings.TrimSpace(r.stdout)
	if strings.Contains(r.stderr, rootTok) || !strings.Contains(r.stderr, "“ci” of root") || !strings.Contains(r.stderr, "from: 192.0.2.0/24") {
		t.Errorf("stderr %q", r.stderr)
	}
	d := open(t, dir)
	st, err := d.Store.GetTokenByMAC(context.Background(), auth.TokenMAC(d.Key, "root", rootTok))
	if err != nil || st.Service != store.TokenWHM || st.Name != "ci" || strings.Join(st.ACLs, ",") != "list-accts,passwd" {
		t.Fatalf("stored %+v %v", st, err)
	}
	d.Close()

	// Service chosen by the account: a reseller gets WHM tokens unless told.
	r = token(t, dir, "create", "--user", "res")
	mustCode(t, r, 0)
	if !strings.Contains(r.stderr, "WHM API token “cli-") || !strings.Contains(r.stderr, "ACLs: list-accts,passwd") {
		t.Errorf("reseller default: %q", r.stderr)
	}
	r = token(t, dir, "create", "--user", "res", "--service", "cpanel", "--name", "res-cp")
	mustCode(t, r, 0)
	if !strings.Contains(r.stderr, "cPanel API token “res-cp” of res") || !strings.Contains(r.stderr, "Authorization: cpanel res:<token>") {
		t.Errorf("reseller cPanel token: %q", r.stderr)
	}
	r = token(t, dir, "create", "--user", "bob", "--name", "b", "--readonly", "--expires-at", "4102444800")
	mustCode(t, r, 0)
	bobTok := strings.TrimSpace(r.stdout)

	r = token(t, dir, "list", "--user", "bob")
	mustCode(t, r, 0)
	if !strings.Contains(r.stdout, "NAME") || !strings.Contains(r.stdout, "read-only") || !strings.Contains(r.stdout, "2100-01-01T00:00:00Z") || strings.Contains(r.stdout, bobTok) {
		t.Errorf("list:\n%s", r.stdout)
	}
	r = token(t, dir, "list", "--user", "root")
	mustCode(t, r, 0)
	if !strings.Contains(r.stdout, "list-accts,passwd") || !strings.Contains(r.stdout, "never") || strings.Contains(r.stdout, rootTok) {
		t.Errorf("list:\n%s", r.stdout)
	}

	mustCode(t, token(t, dir, "revoke", "--user", "bob", "--name", "b"), 0)
	r = token(t, dir, "revoke", "--user", "bob", "--name", "b")
	mustCode(t, r, 1)
	if !strings.Contains(r.stderr, "The API token “b” does not exist.") {
		t.Errorf("revoking twice: %q", r.stderr)
	}
	d = open(t, dir)
	if _, err := d.Store.GetToken(context.Background(), store.TokenCPanel, "bob", "b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoked token still stored: %v", err)
	}
	d.Close()

	for _, tc := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"no verb", []string{"token"}, 2, "Usage"},
		{"unknown verb", []string{"token", "delete", "--user", "root"}, 2, "Usage"},
		{"no user", []string{"token", "list"}, 2, "Usage"},
		{"unknown user", []string{"token", "list", "--user", "nobody"}, 1, "does not exist"},
		{"bad service", []string{"token", "list", "--user", "root", "--service", "mail"}, 2, "--service"},
		{"root has no cPanel tokens", []string{"token", "create", "--user", "root", "--service", "cpanel"}, 1, "no cPanel account"},
		{"cPanel user has no WHM tokens", []string{"token", "create", "--user", "bob", "--service", "whm"}, 1, "not root or a reseller"},
		{"ACL on a cPanel token", []string{"token", "create", "--user", "bob", "--acl", "list-accts"}, 2, "no ACLs"},
		{"read-only WHM token", []string{"token", "create", "--user", "root", "--readonly"}, 2, "--readonly"},
		{"ACL above the reseller", []string{"token", "create", "--user", "res", "--acl", "kill-acct"}, 1, "Invalid or unauthorized ACL(s) specified: kill-acct"},
		{"duplicate name", []string{"token", "create", "--user", "root", "--name", "ci"}, 1, "A conflicting API token"},
		{"bad expiry", []string{"token", "create", "--user", "root", "--expires-at", "1"}, 1, "must be a future date"},
		{"bad address", []string{"token", "create", "--user", "root", "--whitelist-ip", "nowhere"}, 1, "not a valid IP address"},
		{"revoke without name", []string{"token", "revoke", "--user", "root"}, 2, "--name"},
		{"stray argument", []string{"token", "list", "--user", "root", "extra"}, 2, "Usage"},
		{"import-as-token with generate", []string{"accesshash", "--generate", "--import-as-token"}, 2, "--generate excludes"},
		{"import-as-token without an access hash", []string{"accesshash", "--user", "res", "--import-as-token"}, 1, "No accesshash exists for res"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r result
			switch {
			case tc.args[0] != "token":
				r = local(t, dir, "", tc.args[0], tc.args[1:]...)
			case len(tc.args) == 1:
				r = run(t, nil, "", "token")
			default:
				r = token(t, dir, tc.args[1], tc.args[2:]...)
			}
			mustCode(t, r, tc.code)
			if !strings.Contains(r.stdout+r.stderr, tc.says) {
				t.Errorf("output does not say %q:\n%s%s", tc.says, r.stdout, r.stderr)
			}
		})
	}
}
