package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/cli"
	"github.com/cpauth/cpauth/internal/testutil"
)

// waitFor waits until s() holds want, or fails.
func waitFor(t *testing.T, s func() string, want string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(s(), want) {
			return
		}
	}
	t.Fatalf("no %q in:\n%s", want, s())
}

// A reload request (SIGHUP) makes `cpauth serve` read its configuration
// file again: a live key takes its new value, a key that needs a restart
// is named, a file that does not load or is not valid changes nothing, and
// the flags of the command line still win over the file.
func TestServeReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cpauth.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base := "listen: 127.0.0.1\nport-cpanel: 0\nport-cpanel-tls: 0\nport-whm: 0\nport-whm-tls: 0\nport-webmail: 0\nport-webmail-tls: 0\nhash-rounds: 1000\n"
	write(base + "log-level: info\n")
	hangup := make(chan os.Signal, 1)
	stdout, stderr := &testutil.LogBuffer{}, &testutil.LogBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exit := make(chan int, 1)
	go func() {
		exit <- cli.Run(ctx, &cli.Env{Getenv: func(string) string { return "" }, Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stderr, Hangup: hangup},
			[]string{"serve", "--config", file, "--data-dir", filepath.Join(dir, "data"), "--session-lifetime", "1h"})
	}()
	waitFor(t, stdout.String, "log in as root")

	steps := []struct {
		name, file string
		want       []string // in the log after the reload
	}{
		{"live key", base + "log-level: debug\n", []string{`msg="configuration reloaded" applied=[log-level]`}},
		{"the flag wins over the file", base + "log-level: debug\nsession-lifetime: 2h\n", []string{`msg="configuration reloaded" applied=[]`}},
		{"restart key", base + "log-level: debug\nbody-memory-mb: 3\n", []string{`keys=[body-memory-mb]`, `msg="configuration reloaded" applied=[]`}},
		{"a file that does not parse", "log-level: [\n", []string{`configuration not reloaded`}},
		{"a file that is not valid", base + "log-level: loud\n", []string{`configuration not reloaded`, `log-level must be`}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			write(st.file)
			before := len(stderr.String())
			hangup <- syscall.SIGHUP
			for _, w := range st.want {
				waitFor(t, func() string { return stderr.String()[before:] }, w)
			}
		})
	}
	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit status %d\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}
