//go:build unix

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBackupProcess runs the binary as an operator would: `cpauth backup`
// in a process of its own while `cpauth serve` answers a load of token
// creations, then `cpauth restore` into a fresh directory and a daemon on
// it: every token acknowledged before the backup began authenticates
// there. A restore into the served directory and a second serve on it
// are refused.
func TestBackupProcess(t *testing.T) {
	bin := buildCpauth(t)
	ports := []string{"--listen", "127.0.0.1", "--hash-rounds", "1000",
		"--port-cpanel", "0", "--port-cpanel-tls", "0", "--port-whm", "0", "--port-whm-tls", "0", "--port-webmail", "0", "--port-webmail-tls", "0"}
	cmd := func(args ...string) (int, string) {
		c := exec.Command(bin, args...)
		c.Env = []string{"PATH=" + os.Getenv("PATH")}
		out, err := c.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}

	dir := filepath.Join(t.TempDir(), "data")
	p := startProc(t, bin, append([]string{"--data-dir", dir}, ports...)...)
	pw, err := os.ReadFile(filepath.Join(dir, "initial-root-password"))
	if err != nil {
		t.Fatal(err)
	}
	rootBasic := basic("root", strings.TrimSpace(string(pw)))
	client := &http.Client{Timeout: 30 * time.Second}
	create := func(whm, name string) (string, bool) {
		req, _ := http.NewRequest("GET", whm+"/json-api/api_token_create?api.version=1&token_name="+name, nil)
		req.Header.Set("Authorization", rootBasic)
		resp, err := client.Do(req)
		if err != nil {
			return "", false
		}
		defer resp.Body.Close()
		var env struct {
			Data struct {
				Token string `json:"token"`
			} `json:"data"`
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &env) != nil || env.Data.Token == "" {
			return "", false
		}
		return env.Data.Token, true
	}

	var (
		mu    sync.Mutex
		acked = map[string]string{} // name -> token
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	whm := "http://" + p.ports["whostmgrd tls=false"]
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("load-%d-%d", w, i)
				if tok, ok := create(whm, name); ok {
					mu.Lock()
					acked[name] = tok
					mu.Unlock()
				}
			}
		})
	}
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 40 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	before := map[string]string{}
	for k, v := range acked {
		before[k] = v
	}
	mu.Unlock()
	file := filepath.Join(t.TempDir(), "cpauth.backup")
	code, out := cmd("backup", "--data-dir", dir, "--with-key", file)
	if code != 0 {
		t.Fatalf("backup: exit %d\n%s", code, out)
	}
	// Still serving, still under load: both refused.
	if code, out := cmd("restore", "--data-dir", dir, "--key", file+".key", file); code != 1 || !strings.Contains(out, "in use by a running cpauth serve") {
		t.Errorf("restore into the served directory: exit %d\n%s", code, out)
	}
	if code, out := cmd(append([]string{"serve", "--data-dir", dir}, ports...)...); code != 1 || !strings.Contains(out, "in use by a running cpauth serve") {
		t.Errorf("a second serve: exit %d\n%s", code, out)
	}
	close(stop)
	wg.Wait()
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit status %d after SIGTERM", code)
	}
	mu.Lock()
	total := len(acked)
	mu.Unlock()
	t.Logf("%d tokens acknowledged before the backup, %d in all", len(before), total)

	fresh := filepath.Join(t.TempDir(), "restored")
	if code, out := cmd("restore", "--data-dir", fresh, "--key", file+".key", file); code != 0 {
		t.Fatalf("restore: exit %d\n%s", code, out)
	}
	r := startProc(t, bin, append([]string{"--data-dir", fresh}, ports...)...)
	if strings.Contains(r.stderr.String(), "server key is not the one") {
		t.Errorf("the restored key does not match:\n%s", r.stderr)
	}
	rwhm := "http://" + r.ports["whostmgrd tls=false"]
	for name, tok := range before {
		req, _ := http.NewRequest("GET", rwhm+"/json-api/version?api.version=1", nil)
		req.Header.Set("Authorization", "whm root:"+tok)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("token %s, acknowledged before the backup, answers %d after the restore", name, resp.StatusCode)
		}
	}
	if code := r.stop(t); code != 0 {
		t.Errorf("restored daemon: exit status %d", code)
	}
}
