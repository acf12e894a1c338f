//go:build unix

package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/daemon"
	"github.com/cpauth/cpauth/internal/logs"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/testutil"
)

// The cpauth binary as an operator runs it: started with `cpauth serve`,
// stopped with SIGTERM, reloaded with SIGHUP.
func TestProcess(t *testing.T) {
	bin := buildCpauth(t)
	t.Run("SIGTERM under load loses nothing acknowledged", func(t *testing.T) { testStopUnderLoad(t, bin) })
	t.Run("SIGHUP reloads the configuration and the certificate", func(t *testing.T) { testReloadSignal(t, bin) })
}

// buildCpauth builds the cpauth binary into a temporary directory of t,
// or skips t under -short.
func buildCpauth(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the cpauth binary (-short)")
	}
	bin := filepath.Join(t.TempDir(), "cpauth")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/cpauth/cpauth/cmd/cpauth").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is a running `cpauth serve`.
type proc struct {
	cmd    *exec.Cmd
	stderr *testutil.LogBuffer
	exited chan error
	ports  map[string]string // "whostmgrd tls=true" -> address
}

var listeningLine = regexp.MustCompile(`msg=listening service=(\w+) tls=(true|false) addr=(\S+)`)

// startProc starts `bin serve args...` and waits until its six ports
// listen.
func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, append([]string{"serve"}, args...)...), stderr: &testutil.LogBuffer{}, exited: make(chan error, 1)}
	p.cmd.Stdout = io.Discard
	p.cmd.Stderr = p.stderr
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ms := listeningLine.FindAllStringSubmatch(p.stderr.String(), -1)
		if len(ms) == 6 {
			p.ports = map[string]string{}
			for _, m := range ms {
				p.ports[m[1]+" tls="+m[2]] = m[3]
			}
			return p
		}
		select {
		case err := <-p.exited:
			t.Fatalf("cpauth serve exited: %v\n%s", err, p.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("cpauth serve did not listen:\n%s", p.stderr)
		}
	}
}

// signal sends sig and, for a stop, waits for the exit status.
func (p *proc) stop(t *testing.T) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(60 * time.Second):
		t.Fatalf("no exit 60 s after SIGTERM:\n%s", p.stderr)
	}
	return -1
}

// answered is one request that got an answer, by its user agent.
type answered struct {
	agent  string
	status int
}

func testStopUnderLoad(t *testing.T, bin string) {
	dir := filepath.Join(t.TempDir(), "data")
	p := startProc(t, bin, "--data-dir", dir, "--listen", "127.0.0.1", "--hash-rounds", "1000",
		"--port-cpanel", "0", "--port-cpanel-tls", "0", "--port-whm", "0", "--port-whm-tls", "0", "--port-webmail", "0", "--port-webmail-tls", "0")
	pw, err := os.ReadFile(filepath.Join(dir, "initial-root-password"))
	if err != nil {
		t.Fatal(err)
	}
	rootPass := strings.TrimSpace(string(pw))
	whm := "http://" + p.ports["whostmgrd tls=false"]
	client := &http.Client{Timeout: 30 * time.Second}

	var mu sync.Mutex
	var answers []answered
	created := map[string]bool{} // acknowledged token names
	used := map[string]bool{}    // tokens a call authenticated with
	// call sends one request and reports its status and body (-1 when it
	// got no answer).
	call := func(path, authz, agent string) (int, []byte) {
		req, _ := http.NewRequest("GET", whm+path, nil)
		req.Header.Set("Authorization", authz)
		req.Header.Set("User-Agent", agent)
		resp, err := client.Do(req)
		if err != nil {
			return -1, nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return -1, nil
		}
		mu.Lock()
		answers = append(answers, answered{agent, resp.StatusCode})
		mu.Unlock()
		return resp.StatusCode, body
	}
	rootBasic := basic("root", rootPass)
	const workers = 6
	started := make(chan struct{}, 1000)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				name := fmt.Sprintf("load-%d-%d", w, i)
				status, body := call("/json-api/api_token_create?api.version=1&token_name="+name, rootBasic, "create-"+name)
				if status < 0 {
					return // the daemon stopped
				}
				var env struct {
					Data struct {
						Token string `json:"token"`
					} `json:"data"`
				}
				if status != http.StatusOK || json.Unmarshal(body, &env) != nil || env.Data.Token == "" {
					continue
				}
				mu.Lock()
				created[name] = true
				mu.Unlock()
				for j := range 3 {
					status, _ := call("/json-api/version?api.version=1", "whm root:"+env.Data.Token, fmt.Sprintf("use-%s-%d", name, j))
					if status < 0 {
						return
					}
					if status == http.StatusOK {
						mu.Lock()
						used[name] = true
						mu.Unlock()
					}
				}
				select {
				case started <- struct{}{}:
				default:
				}
			}
		}()
	}
	// SIGTERM in the middle of the load.
	for range 30 {
		<-started
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit status %d after SIGTERM\n%s", code, p.stderr)
	}
	wg.Wait()
	if len(created) == 0 || len(used) == 0 {
		t.Fatalf("the load made %d tokens and used %d", len(created), len(used))
	}
	t.Logf("%d requests answered, %d tokens acknowledged, %d used", len(answers), len(created), len(used))

	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = dir
	data, err := daemon.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	for name := range created {
		tok, err := data.Store.GetToken(ctx, store.TokenWHM, "root", name)
		if err != nil {
			t.Errorf("acknowledged token %s: %v", name, err)
			continue
		}
		if used[name] && tok.LastUsed.IsZero() {
			t.Errorf("token %s was used but has no last use", name)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "logs", logs.AccessLog))
	if err != nil {
		t.Fatal(err)
	}
	inLog := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		// … "<referer>" "<user agent>" …
		if f := strings.Split(line, `"`); len(f) > 5 {
			inLog[f[5]] = true
		}
	}
	for _, a := range answers {
		if !inLog[a.agent] {
			t.Errorf("request %s answered %d has no access_log line", a.agent, a.status)
		}
	}
}

// selfSigned writes a certificate for name and its key into dir.
func selfSigned(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{name},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// served is the common name of the certificate served at addr.
func served(t *testing.T, addr string) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func testReloadSignal(t *testing.T, bin string) {
	tmp := t.TempDir()
	certA, keyA := selfSigned(t, tmp, "a.example.com")
	certB, keyB := selfSigned(t, tmp, "b.example.com")
	file := filepath.Join(tmp, "cpauth.yaml")
	conf := func(level, cert, key string) {
		t.Helper()
		s := fmt.Sprintf("data-dir: %s\nlisten: 127.0.0.1\nhash-rounds: 1000\nport-cpanel: 0\nport-cpanel-tls: 0\nport-whm: 0\nport-whm-tls: 0\nport-webmail: 0\nport-webmail-tls: 0\nlog-level: %s\ntls-cert: %s\ntls-key: %s\n",
			filepath.Join(tmp, "data"), level, cert, key)
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	conf("info", certA, keyA)
	p := startProc(t, bin, "--config", file)
	whmTLS := p.ports["whostmgrd tls=true"]
	if got := served(t, whmTLS); got != "a.example.com" {
		t.Fatalf("serves %q", got)
	}
	conf("debug", certB, keyB)
	before := len(p.stderr.String())
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(p.stderr.String()[before:], "configuration reloaded"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no reload:\n%s", p.stderr)
		}
	}
	if log := p.stderr.String()[before:]; !strings.Contains(log, `applied="[log-level tls-cert tls-key]"`) {
		t.Errorf("reload log: %s", log)
	}
	for _, addr := range []string{whmTLS, p.ports["cpaneld tls=true"], p.ports["webmaild tls=true"]} {
		if got := served(t, addr); got != "b.example.com" {
			t.Errorf("%s serves %q after the reload", addr, got)
		}
	}
	// The log level is debug now: a request has its access line on stderr.
	resp, err := http.Get("http://" + p.ports["whostmgrd tls=false"] + "/cpauth/health/live")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.stderr.String(), "level=DEBUG"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("no debug line after the reload to debug:\n%s", p.stderr)
			break
		}
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit status %d\n%s", code, p.stderr)
	}
}
