package cli_test

import (
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/core"
)

// cpauth session create and cpauth logmein against a running daemon: each
// prints a URL that logs a browser in once.
func TestSessionCreateAndLogmein(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir)
	client := &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(client.CloseIdleConnections)
	_, cpanelPort, _ := net.SplitHostPort(d.Addr(core.ServiceCPanel, true))
	_, whmPort, _ := net.SplitHostPort(d.Addr(core.ServiceWHM, true))
	open := func(u string) int {
		t.Helper()
		resp, err := client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	create := func(args ...string) result {
		t.Helper()
		return run(t, nil, "", append([]string{"session", "create", "--data-dir", dir, "--hash-rounds", "1000"}, args...)...)
	}
	mustCode(t, local(t, dir, "", "whmapi1", "createacct", "username=frank", "domain=frank.test", "password=Frank-Pass-1"), 0)

	t.Run("session create", func(t *testing.T) {
		r := create("--user", "frank", "--service", "cpanel", "--host", "127.0.0.1", "--port-cpanel-tls", cpanelPort)
		mustCode(t, r, 0)
		u := strings.TrimSpace(r.stdout)
		if !strings.HasPrefix(u, "https://127.0.0.1:"+cpanelPort+"/cpsess") || !strings.Contains(u, "/login/?session=frank%3a") {
			t.Fatalf("printed %q", u)
		}
		if !strings.Contains(r.stderr, "works once") {
			t.Errorf("stderr: %s", r.stderr)
		}
		if st := open(u); st != http.StatusTemporaryRedirect {
			t.Errorf("first use: %d, want 307", st)
		}
		if st := open(u); st != http.StatusUnauthorized {
			t.Errorf("second use: %d, want 401", st)
		}
	})
	t.Run("session create refusals", func(t *testing.T) {
		r := create("--user", "frank", "--service", "whm")
		mustCode(t, r, 1)
		if !strings.Contains(r.stderr, "not a reseller") {
			t.Errorf("stderr: %s", r.stderr)
		}
		mustCode(t, create("--user", "frank", "--service", "ftp"), 2)
		mustCode(t, create("--service", "cpanel"), 2)
		mustCode(t, create("--user", "frank", "--service", "cpanel", "--host", "a/b"), 2)
		// D29: the URL points at this server or is not made.
		r = create("--user", "frank", "--service", "cpanel", "--host", "evil.example")
		mustCode(t, r, 1)
		if !strings.Contains(r.stderr, "“evil.example”, is not a domain or IP address of this server") || r.stdout != "" {
			t.Errorf("--host evil.example: stdout %q, stderr %s", r.stdout, r.stderr)
		}
		r = create("--user", "frank", "--service", "cpanel", "--host", "frank.test", "--port-cpanel-tls", cpanelPort)
		mustCode(t, r, 0)
		if u := strings.TrimSpace(r.stdout); !strings.HasPrefix(u, "https://frank.test:"+cpanelPort+"/cpsess") {
			t.Errorf("--host frank.test printed %q", u)
		}
	})
	t.Run("logmein, password on stdin", func(t *testing.T) {
		r := run(t, nil, "Frank-Pass-1\n", "logmein", "--host", "127.0.0.1", "--port", cpanelPort, "--user", "frank", "--insecure")
		mustCode(t, r, 0)
		u := strings.TrimSpace(r.stdout)
		if !strings.HasPrefix(u, "https://127.0.0.1:"+cpanelPort+"/cpsess") {
			t.Fatalf("printed %q", u)
		}
		if st := open(u); st != http.StatusTemporaryRedirect {
			t.Errorf("first use: %d, want 307", st)
		}
	})
	t.Run("logmein, password in CPAUTH_PASSWORD, WHM", func(t *testing.T) {
		pass := strings.TrimSpace(readFile(t, dir+"/initial-root-password"))
		r := run(t, map[string]string{"CPAUTH_PASSWORD": pass}, "", "logmein", "--host", "127.0.0.1", "--port", whmPort, "--user", "root",
			"--service", "whm", "--goto", "/sessions/", "--insecure")
		mustCode(t, r, 0)
		u := strings.TrimSpace(r.stdout)
		if !strings.HasSuffix(u, "&goto_uri=%2Fsessions%2F") {
			t.Errorf("printed %q", u)
		}
		if st := open(u); st != http.StatusTemporaryRedirect {
			t.Errorf("first use: %d, want 307", st)
		}
	})
	t.Run("logmein refusals", func(t *testing.T) {
		r := run(t, nil, "wrong\n", "logmein", "--host", "127.0.0.1", "--port", cpanelPort, "--user", "frank", "--insecure")
		mustCode(t, r, 1)
		if !strings.Contains(r.stderr, "the login is invalid") {
			t.Errorf("stderr: %s", r.stderr)
		}
		r = run(t, nil, "Frank-Pass-1\n", "logmein", "--host", "127.0.0.1", "--port", cpanelPort, "--user", "frank")
		mustCode(t, r, 1)
		if !strings.Contains(r.stderr, "certificate") {
			t.Errorf("self-signed without --insecure: %s", r.stderr)
		}
		mustCode(t, run(t, nil, "", "logmein", "--host", "127.0.0.1", "--user", "frank"), 2)                // no password
		mustCode(t, run(t, nil, "x\n", "logmein", "--user", "frank"), 2)                                    // no host
		mustCode(t, run(t, nil, "x\n", "logmein", "--host", "h", "--user", "frank", "--service", "ftp"), 2) // bad service
		mustCode(t, run(t, nil, "x\n", "logmein", "--host", "h", "--user", "frank", "--pass", "x"), 2)      // no password flag
	})
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
