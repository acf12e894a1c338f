package cli_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/cli"
	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/daemon"
)

type result struct {
	code           int
	stdout, stderr string
}

// run calls cli.Main as the cpauth binary would, with an empty environment
// unless env is given.
func run(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string { return env[k] }
	code := cli.Main(context.Background(), args, getenv, strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// local runs a command that opens the data directory dir, with cheap
// password hashes: `cpauth <cmd> --data-dir dir --hash-rounds 1000 args...`.
func local(t *testing.T, dir, stdin, cmd string, args ...string) result {
	t.Helper()
	return run(t, nil, stdin, append([]string{cmd, "--data-dir", dir, "--hash-rounds", "1000"}, args...)...)
}

func mustCode(t *testing.T, r result, want int) {
	t.Helper()
	if r.code != want {
		t.Fatalf("exit status %d, want %d\nstdout: %s\nstderr: %s", r.code, want, r.stdout, r.stderr)
	}
}

// yamlDoc parses the YAML output of whmapi1/uapi.
func yamlDoc(t *testing.T, s string) map[string]any {
	t.Helper()
	if !strings.HasPrefix(s, "---\n") {
		t.Fatalf("output does not start with ---:\n%s", s)
	}
	var m map[string]any
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("output is not YAML: %v\n%s", err, s)
	}
	return m
}

func get(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// open opens the data directory as the daemon does, for checking what the
// commands stored.
func open(t *testing.T, dir string) *daemon.Data {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir, cfg.HashRounds = dir, 1000
	d, err := daemon.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func passwordOK(t *testing.T, dir, user, pass string) bool {
	t.Helper()
	d := open(t, dir)
	m := &auth.Password{Store: d.Store, Hasher: d.Hasher}
	return m.Check(context.Background(), user, pass, core.ServiceCPanel).Result == auth.OK
}

func TestHelp(t *testing.T) {
	for _, cmd := range []string{"serve", "whmapi1", "uapi", "cpapi2", "accesshash", "token", "passwd", "key", "migrate-store", "version", "logmein"} {
		for _, flag := range []string{"--help", "-h"} {
			t.Run(cmd+flag, func(t *testing.T) {
				r := run(t, nil, "", cmd, flag)
				mustCode(t, r, 0)
				if !strings.Contains(r.stdout+r.stderr, "Usage") {
					t.Errorf("no usage text:\n%s%s", r.stdout, r.stderr)
				}
			})
		}
	}
	for _, arg := range []string{"--help", "-h", "help"} {
		t.Run("top level "+arg, func(t *testing.T) {
			r := run(t, nil, "", arg)
			mustCode(t, r, 0)
			for _, cmd := range []string{"serve", "whmapi1", "uapi", "cpapi2", "accesshash", "token", "passwd", "key", "migrate-store", "version"} {
				if !strings.Contains(r.stdout, cmd) {
					t.Errorf("usage does not list %s:\n%s", cmd, r.stdout)
				}
			}
		})
	}
	t.Run("no arguments", func(t *testing.T) { mustCode(t, run(t, nil, ""), 2) })
	t.Run("unknown command", func(t *testing.T) {
		r := run(t, nil, "", "frobnicate")
		mustCode(t, r, 2)
		if !strings.Contains(r.stderr, "frobnicate") {
			t.Errorf("stderr does not name the command: %s", r.stderr)
		}
	})
	t.Run("unknown flag", func(t *testing.T) { mustCode(t, run(t, nil, "", "whmapi1", "--no-such-flag", "version"), 2) })
}

func TestVersion(t *testing.T) {
	r := run(t, nil, "", "version")
	mustCode(t, r, 0)
	if r.stdout != "cpauth "+cli.Version+"\n" {
		t.Errorf("version printed %q", r.stdout)
	}
}

func TestWHMAPI1(t *testing.T) {
	dir := t.TempDir()

	t.Run("createacct YAML", func(t *testing.T) {
		r := local(t, dir, "", "whmapi1", "createacct", "username=bob", "domain=bob.test", "password=Bob-Pass-1")
		mustCode(t, r, 0)
		m := yamlDoc(t, r.stdout)
		if get(m, "metadata", "result") != 1 || get(m, "metadata", "reason") != "Account Creation Ok" || get(m, "metadata", "command") != "createacct" {
			t.Errorf("envelope: %v", m)
		}
		if !passwordOK(t, dir, "bob", "Bob-Pass-1") {
			t.Errorf("bob cannot log in with the password given to createacct")
		}
	})

	t.Run("first use announces the root password file", func(t *testing.T) {
		fresh := t.TempDir()
		r := local(t, fresh, "", "whmapi1", "version")
		mustCode(t, r, 0)
		if !strings.Contains(r.stderr, filepath.Join(fresh, "initial-root-password")) {
			t.Errorf("stderr does not name initial-root-password: %s", r.stderr)
		}
		if _, err := os.Stat(filepath.Join(fresh, "initial-root-password")); err != nil {
			t.Error(err)
		}
	})

	t.Run("JSON output is compact", func(t *testing.T) {
		r := local(t, dir, "", "whmapi1", "--output=json", "version")
		mustCode(t, r, 0)
		const want = `{"data":{"version":"11.134.0.0"},"metadata":{"command":"version","reason":"OK","result":1,"version":1}}` + "\n"
		if r.stdout != want {
			t.Errorf("stdout = %q, want %q", r.stdout, want)
		}
		r = local(t, dir, "", "whmapi1", "--output", "json", "listaccts", "want=user,domain")
		mustCode(t, r, 0)
		var compact bytes.Buffer
		if err := json.Compact(&compact, []byte(r.stdout)); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, r.stdout)
		}
		if strings.TrimSuffix(r.stdout, "\n") != compact.String() || strings.Count(r.stdout, "\n") != 1 {
			t.Errorf("JSON output is not compact: %q", r.stdout)
		}
		if !strings.Contains(r.stdout, `{"domain":"bob.test","user":"bob"}`) {
			t.Errorf("listaccts: %s", r.stdout)
		}
	})

	t.Run("gethostname answers the configured name", func(t *testing.T) {
		r := local(t, dir, "", "whmapi1", "--hostname", "host.example.com", "--output=json", "gethostname")
		mustCode(t, r, 0)
		const want = `{"data":{"hostname":"host.example.com"},"metadata":{"command":"gethostname","reason":"OK","result":1,"version":1}}` + "\n"
		if r.stdout != want {
			t.Errorf("stdout = %q, want %q", r.stdout, want)
		}
		r = local(t, dir, "", "whmapi1", "--hostname", "host.example.com", "gethostname")
		mustCode(t, r, 0)
		if m := yamlDoc(t, r.stdout); get(m, "data", "hostname") != "host.example.com" {
			t.Errorf("YAML: %v", m)
		}
	})

	t.Run("whmapi1 is WHM API 1 whatever api.version says", func(t *testing.T) {
		// The command line has no API 0: its envelope is API 1's.
		r := local(t, dir, "", "whmapi1", "--output=json", "version", "api.version=0")
		mustCode(t, r, 0)
		const want = `{"data":{"version":"11.134.0.0"},"metadata":{"command":"version","reason":"OK","result":1,"version":1}}` + "\n"
		if r.stdout != want {
			t.Errorf("stdout = %q, want %q", r.stdout, want)
		}
	})

	t.Run("data directory from CPAUTH_DATA_DIR", func(t *testing.T) {
		r := run(t, map[string]string{"CPAUTH_DATA_DIR": dir}, "", "whmapi1", "--hash-rounds", "1000", "--output=json", "listaccts", "want=user")
		mustCode(t, r, 0)
		if !strings.Contains(r.stdout, `"user":"bob"`) {
			t.Errorf("listaccts via CPAUTH_DATA_DIR: %s", r.stdout)
		}
	})

	failures := []struct {
		name string
		args []string
		code int
	}{
		{"missing username", []string{"createacct", "domain=x.test"}, 1},
		{"duplicate account", []string{"createacct", "username=bob", "domain=bob2.test"}, 1},
		{"unknown function", []string{"no_such_function"}, 1},
		{"argument without =", []string{"createacct", "username"}, 2},
		{"no function", nil, 2},
		{"bad output format", []string{"--output=xml", "version"}, 2},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			r := local(t, dir, "", "whmapi1", tc.args...)
			mustCode(t, r, tc.code)
			if tc.code == 1 {
				m := yamlDoc(t, r.stdout)
				if get(m, "metadata", "result") != 0 || get(m, "metadata", "reason") == "" {
					t.Errorf("failure envelope: %v", m)
				}
			}
		})
	}
}

func TestUAPI(t *testing.T) {
	dir := t.TempDir()
	mustCode(t, local(t, dir, "", "whmapi1", "createacct", "username=bob", "domain=bob.test", "password=Bob-Pass-1"), 0)

	r := local(t, dir, "", "uapi", "--user=bob", "Email", "add_pop", "email=info", "password=Info-Pass-1")
	mustCode(t, r, 0)
	r = local(t, dir, "", "uapi", "--user=bob", "Email", "list_pops")
	mustCode(t, r, 0)
	m := yamlDoc(t, r.stdout)
	if get(m, "status") != 1 {
		t.Errorf("list_pops: %v", m)
	}
	data, _ := m["data"].([]any)
	if len(data) != 1 || get(data[0].(map[string]any), "email") != "info@bob.test" {
		t.Errorf("list_pops data = %v", m["data"])
	}

	r = local(t, dir, "", "uapi", "--user=bob", "--output=json", "Variables", "get_user_information", "name=user")
	mustCode(t, r, 0)
	if !strings.HasPrefix(r.stdout, `{"data":{"user":"bob"},`) {
		t.Errorf("get_user_information JSON: %s", r.stdout)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"unknown user", []string{"--user=nobody", "Email", "list_pops"}, 1},
		{"root is not a cPanel account", []string{"--user=root", "Email", "list_pops"}, 1},
		{"unknown function", []string{"--user=bob", "Email", "nope"}, 1},
		{"duplicate mailbox", []string{"--user=bob", "Email", "add_pop", "email=info", "password=Info-Pass-1"}, 1},
		{"missing --user", []string{"Email", "list_pops"}, 2},
		{"missing function", []string{"--user=bob", "Email"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := local(t, dir, "", "uapi", tc.args...)
			mustCode(t, r, tc.code)
			if tc.code == 1 {
				if m := yamlDoc(t, r.stdout); get(m, "status") != 0 {
					t.Errorf("failure result: %v", m)
				}
			}
		})
	}
}

// The functions that tell a client its account and the server's address,
// run locally: resolvedomainname and the server-ip setting through
// whmapi1, DomainInfo through uapi.
func TestDomainsLocally(t *testing.T) {
	dir := t.TempDir()
	mustCode(t, local(t, dir, "", "whmapi1", "createacct", "username=bob", "domain=bob.test", "password=Bob-Pass-1"), 0)
	// The address the local commands report is the daemon's: the listen
	// address given to them, or the server-ip setting.
	r := local(t, dir, "", "whmapi1", "--listen=192.0.2.7", "--output=json", "resolvedomainname", "domain=bob.test")
	mustCode(t, r, 0)
	if !strings.HasPrefix(r.stdout, `{"data":{"ip":"192.0.2.7"},`) {
		t.Errorf("resolvedomainname with --listen: %s", r.stdout)
	}
	mustCode(t, local(t, dir, "", "whmapi1", "set_tweaksetting", "key=server-ip", "value=192.0.2.10"), 0)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"resolvedomainname", []string{"whmapi1", "--listen=192.0.2.7", "resolvedomainname", "domain=bob.test"}, `{"data":{"ip":"192.0.2.10"},`},
		{"listaccts", []string{"whmapi1", "listaccts", "want=user,ip"}, `{"data":{"acct":[{"ip":"192.0.2.10","user":"bob"}]},`},
		{"list_domains", []string{"uapi", "--user=bob", "DomainInfo", "list_domains"}, `{"data":{"addon_domains":[],"main_domain":"bob.test","parked_domains":[],"sub_domains":[]},`},
		{"single_domain_data", []string{"uapi", "--user=bob", "DomainInfo", "single_domain_data", "domain=bob.test"}, `{"data":{"documentroot":"` + filepath.Join(dir, "home", "bob", "public_html") + `",`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := local(t, dir, "", tc.args[0], append([]string{"--output=json"}, tc.args[1:]...)...)
			mustCode(t, r, 0)
			if !strings.HasPrefix(r.stdout, tc.want) {
				t.Errorf("stdout: %s\nwant it to begin with %s", r.stdout, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"unknown domain", []string{"whmapi1", "resolvedomainname", "domain=nowhere.test"}},
		{"another account's domain", []string{"uapi", "--user=bob", "DomainInfo", "single_domain_data", "domain=nowhere.test"}},
		{"bad server-ip", []string{"whmapi1", "set_tweaksetting", "key=server-ip", "value=::"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustCode(t, local(t, dir, "", tc.args[0], tc.args[1:]...), 1)
		})
	}
}

// cpapi2 is cPanel's API 2 as a cPanel account: Email::addpop and delpop,
// CustInfo::displaycontactinfo.
func TestCPAPI2(t *testing.T) {
	dir := t.TempDir()
	mustCode(t, local(t, dir, "", "whmapi1", "createacct", "username=bob", "domain=bob.test", "password=Bob-Pass-1", "contactemail=admin@bob.test"), 0)

	r := local(t, dir, "", "cpapi2", "--user=bob", "Email", "addpop", "email=info", "domain=bob.test", "password=Info-Pass-1")
	mustCode(t, r, 0)
	m := yamlDoc(t, r.stdout)
	data, _ := get(m, "cpanelresult", "data").([]any)
	if get(m, "cpanelresult", "event", "result") != 1 || len(data) != 1 || get(data[0].(map[string]any), "result") != 1 {
		t.Errorf("addpop: %v", m)
	}
	d := open(t, dir)
	mb, err := d.Store.GetMailbox(context.Background(), "info", "bob.test")
	if err != nil || mb.QuotaMB != 250 {
		t.Errorf("the mailbox addpop made: %+v, %v (API 2's default quota is 250 MB)", mb, err)
	}

	r = local(t, dir, "", "cpapi2", "--user=bob", "--output=json", "CustInfo", "displaycontactinfo")
	mustCode(t, r, 0)
	if !strings.Contains(r.stdout, `"name":"email","type":"string","value":"admin@bob.test"}`) {
		t.Errorf("displaycontactinfo: %s", r.stdout)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // in the output
	}{
		{"addpop again", []string{"--user=bob", "--output=json", "Email", "addpop", "email=info", "domain=bob.test", "password=Info-Pass-1"}, 1,
			`"data":[{"reason":"The account info@bob.test already exists!","result":0}]`},
		{"delpop", []string{"--user=bob", "--output=json", "Email", "delpop", "email=info", "domain=bob.test"}, 0, `"data":[{"reason":"OK","result":1}]`},
		{"delpop again", []string{"--user=bob", "--output=json", "Email", "delpop", "email=info", "domain=bob.test"}, 1, `"result":0`},
		{"unknown function", []string{"--user=bob", "--output=json", "Email", "nope"}, 1, `Could not find function`},
		{"unknown user", []string{"--user=nobody", "--output=json", "CustInfo", "displaycontactinfo"}, 1, `"error":`},
		{"missing --user", []string{"CustInfo", "displaycontactinfo"}, 2, ""},
		{"missing function", []string{"--user=bob", "CustInfo"}, 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := local(t, dir, "", "cpapi2", tc.args...)
			mustCode(t, r, tc.code)
			if !strings.Contains(r.stdout, tc.want) {
				t.Errorf("stdout %s does not contain %s", r.stdout, tc.want)
			}
		})
	}
}

var hexLine = regexp.MustCompile(`^[0-9a-f]{32}$`)

func checkAccessHashFile(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(raw), "\n") {
		t.Errorf("%s does not end in a newline", path)
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	if len(lines) != 30 {
		t.Fatalf("%s has %d lines, want 30", path, len(lines))
	}
	for i, l := range lines {
		if !hexLine.MatchString(l) {
			t.Fatalf("%s line %d = %q, want 32 lowercase hex digits", path, i+1, l)
		}
	}
	return string(raw)
}

func TestAccessHash(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "home", "root", ".accesshash")

	r := local(t, dir, "", "accesshash", "--generate")
	mustCode(t, r, 0)
	file := checkAccessHashFile(t, path)
	if r.stdout != file {
		t.Errorf("stdout differs from %s", path)
	}

	r = local(t, dir, "", "accesshash")
	mustCode(t, r, 0)
	if r.stdout != file {
		t.Errorf("showing the access hash printed something else than the file")
	}

	r = local(t, dir, "", "accesshash", "--generate")
	mustCode(t, r, 0)
	if next := checkAccessHashFile(t, path); next == file || r.stdout != next {
		t.Errorf("--generate did not replace the access hash")
	}

	// Import: a CRLF file is accepted and stored as cPanel's format.
	want := strings.Repeat("0123456789abcdef", 60)
	var crlf strings.Builder
	for i := 0; i < len(want); i += 32 {
		crlf.WriteString(want[i:i+32] + "\r\n")
	}
	imp := filepath.Join(t.TempDir(), "hash.txt")
	if err := os.WriteFile(imp, []byte(crlf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	mustCode(t, local(t, dir, "", "accesshash", "--import", imp), 0)
	if got := strings.ReplaceAll(checkAccessHashFile(t, path), "\n", ""); got != want {
		t.Errorf("imported access hash not stored")
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"generate and import together", []string{"--generate", "--import", imp}, 2},
		{"unknown user", []string{"--user=nobody", "--generate"}, 1},
		{"not a reseller", []string{"--user=bob", "--generate"}, 1},
		{"import of a malformed file", []string{"--import", filepath.Join(dir, "initial-root-password")}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "not a reseller" {
				mustCode(t, local(t, dir, "", "whmapi1", "createacct", "username=bob", "domain=bob.test", "password=Bob-Pass-1"), 0)
			}
			mustCode(t, local(t, dir, "", "accesshash", tc.args...), tc.code)
		})
	}
}

func TestPasswd(t *testing.T) {
	dir := t.TempDir()
	mustCode(t, local(t, dir, "", "whmapi1", "createacct", "username=bob", "domain=bob.test", "password=Bob-Pass-1"), 0)

	r := local(t, dir, "New-Pass-1\n", "passwd", "bob")
	mustCode(t, r, 0)
	if !passwordOK(t, dir, "bob", "New-Pass-1") || passwordOK(t, dir, "bob", "Bob-Pass-1") {
		t.Errorf("passwd did not replace bob's password")
	}
	// No trailing newline, CRLF: both fine.
	mustCode(t, local(t, dir, "Newer-Pass-2", "passwd", "bob"), 0)
	mustCode(t, local(t, dir, "Newest-Pass-3\r\n", "passwd", "bob"), 0)
	if !passwordOK(t, dir, "bob", "Newest-Pass-3") {
		t.Errorf("password read with CRLF not stored as typed")
	}

	for _, tc := range []struct {
		name, stdin string
		args        []string
		code        int
	}{
		{"empty standard input", "", []string{"bob"}, 1},
		{"empty password", "\n", []string{"bob"}, 1},
		{"unknown user", "X-Pass-1\n", []string{"nobody"}, 1},
		{"no user", "X-Pass-1\n", nil, 2},
		{"two users", "X-Pass-1\n", []string{"bob", "root"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustCode(t, local(t, dir, tc.stdin, "passwd", tc.args...), tc.code)
		})
	}
	if !passwordOK(t, dir, "bob", "Newest-Pass-3") {
		t.Errorf("a failed passwd changed bob's password")
	}
}

// startDaemon runs a daemon on the data directory dir, on loopback
// ports of its choosing, and shuts it down when the test ends.
func startDaemon(t *testing.T, dir string) *daemon.Daemon {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir, cfg.HashRounds, cfg.Listen = dir, 1000, "127.0.0.1"
	cfg.PortCPanel, cfg.PortCPanelTLS, cfg.PortWHM, cfg.PortWHMTLS, cfg.PortWebmail, cfg.PortWebmailTLS = 0, 0, 0, 0, 0, 0
	d, err := daemon.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return d
}

// TestChangesReachRunningDaemon: the local commands and a daemon share the
// data directory; what a command changes, the daemon sees on the next
// request.
func TestChangesReachRunningDaemon(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir)
	client := &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	call := func(svc core.Service, path, authz string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+d.Addr(svc, false)+path, nil)
		req.Header.Set("Authorization", authz)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	const info = "/execute/Variables/get_user_information"

	if code, _ := call(core.ServiceCPanel, info, basic("frank", "Frank-Pass-1")); code != http.StatusForbidden {
		t.Fatalf("frank before creation: status %d, want 403", code)
	}
	mustCode(t, local(t, dir, "", "whmapi1", "createacct", "username=frank", "domain=frank.test", "password=Frank-Pass-1"), 0)
	if code, body := call(core.ServiceCPanel, info, basic("frank", "Frank-Pass-1")); code != http.StatusOK || !strings.Contains(body, `"user":"frank"`) {
		t.Fatalf("frank after creation by the CLI: %d %s", code, body)
	}

	mustCode(t, local(t, dir, "Frank-Pass-2\n", "passwd", "frank"), 0)
	if code, _ := call(core.ServiceCPanel, info, basic("frank", "Frank-Pass-1")); code != http.StatusForbidden {
		t.Errorf("frank's old password after passwd: status %d, want 403", code)
	}
	if code, _ := call(core.ServiceCPanel, info, basic("frank", "Frank-Pass-2")); code != http.StatusOK {
		t.Errorf("frank's new password after passwd: status %d, want 200", code)
	}

	r := local(t, dir, "", "accesshash", "--generate")
	mustCode(t, r, 0)
	hash := strings.ReplaceAll(r.stdout, "\n", "")
	if code, body := call(core.ServiceWHM, "/json-api/version?api.version=1", "whm root:"+hash); code != http.StatusOK || !strings.Contains(body, `"result":1`) {
		t.Errorf("access hash generated by the CLI: %d %s", code, body)
	}

	// The brute-force regulator's lists: a deny-list entry made by the CLI
	// holds for the daemon's very next request.
	mustCode(t, local(t, dir, "", "whmapi1", "create_cphulk_record", "list_name=black", "ip=127.0.0.1"), 0)
	if code, _ := call(core.ServiceWHM, "/json-api/version?api.version=1", "whm root:"+hash); code != http.StatusForbidden {
		t.Errorf("root from a deny-listed address: status %d, want 403", code)
	}
	r = local(t, dir, "", "whmapi1", "--output=json", "read_cphulk_records", "list_name=black")
	mustCode(t, r, 0)
	if !strings.Contains(r.stdout, `"ips_in_list":{"127.0.0.1":""}`) {
		t.Errorf("read_cphulk_records: %s", r.stdout)
	}
	mustCode(t, local(t, dir, "", "whmapi1", "delete_cphulk_record", "list_name=black", "ip=127.0.0.1"), 0)
	if code, _ := call(core.ServiceWHM, "/json-api/version?api.version=1", "whm root:"+hash); code != http.StatusOK {
		t.Errorf("root after the deny-list entry was deleted: status %d, want 200", code)
	}

	mustCode(t, local(t, dir, "", "whmapi1", "suspendacct", "user=frank"), 0)
	if code, _ := call(core.ServiceCPanel, info, basic("frank", "Frank-Pass-2")); code != http.StatusForbidden {
		t.Errorf("frank after suspension by the CLI: status %d, want 403", code)
	}
}

// serve --upstream refuses to start on a token file others may read, and
// says why without showing the token; the token is never a flag.
func TestServeUpstreamTokenFile(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "backend.token")
	const token = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(tokenFile, 0o644)
	r := run(t, nil, "", "serve", "--data-dir", filepath.Join(dir, "data"), "--hash-rounds", "1000", "--listen", "127.0.0.1",
		"--port-cpanel", "0", "--port-cpanel-tls", "0", "--port-whm", "0", "--port-whm-tls", "0", "--port-webmail", "0", "--port-webmail-tls", "0",
		"--upstream", "https://127.0.0.1", "--upstream-token-file", tokenFile)
	mustCode(t, r, 1)
	if !strings.Contains(r.stderr, "mode 0644") || strings.Contains(r.stderr+r.stdout, token) {
		t.Errorf("stderr %q", r.stderr)
	}
	if r := run(t, nil, "", "serve", "--upstream-token", token); r.code == 0 || !strings.Contains(r.stderr, "upstream-token") {
		t.Errorf("a token flag: %d %q", r.code, r.stderr)
	}
}
