package daemon

import (
	"context"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/logs"
	"github.com/cpauth/cpauth/internal/testutil"
)

// modes walks dir (without following links) and returns every entry's
// mode by its path relative to dir.
func modes(t *testing.T, dir string) map[string]fs.FileMode {
	t.Helper()
	got := map[string]fs.FileMode{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		got[rel] = fi.Mode()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// A fresh data directory, after the daemon wrote to the store, the log
// files, an access hash and the accounting log: every file 0600, every
// directory 0700, the database's -wal and -shm files included.
func TestFreshDataDirModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	d := start(t, testConfig(dir), &testutil.LogBuffer{})
	pw, _ := os.ReadFile(filepath.Join(dir, "initial-root-password"))
	get := func(path, pass string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "https://"+d.Addr(core.ServiceWHM, true)+path, nil)
		req.SetBasicAuth("root", pass)
		resp, err := client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	root := strings.TrimSpace(string(pw))
	get("/json-api/accesshash?api.version=1&generate=1", root)
	get("/json-api/api_token_create?api.version=1&token_name=ci", root)
	get("/json-api/version?api.version=1", "wrong")
	get("/cpauth/health/ready", "")
	d.Data.Logs.Flush() // what the log queue holds
	check := func(when string) {
		got := modes(t, dir)
		for _, want := range []string{"cpauth.db", "cpauth.db-wal", "cpauth.db-shm", "cpauth.db-changes", "server.key",
			"initial-root-password", "tls/cert.pem", "tls/key.pem", "home/root/.accesshash",
			"logs/" + logs.AccessLog, "logs/" + logs.LoginLog, "logs/" + logs.AuditLog, "logs/accounting.log"} {
			if _, ok := got[filepath.FromSlash(want)]; !ok && (when == "running" || !strings.HasPrefix(want, "cpauth.db-")) {
				t.Errorf("%s: no %s", when, want)
			}
		}
		for path, m := range got {
			switch {
			case m.IsDir() && m.Perm() != 0o700:
				t.Errorf("%s: directory %s has mode %04o, want 0700", when, path, m.Perm())
			case m.Type().IsRegular() && m.Perm() != 0o600:
				t.Errorf("%s: file %s has mode %04o, want 0600", when, path, m.Perm())
			case !m.IsDir() && !m.Type().IsRegular():
				t.Errorf("%s: %s is a %v", when, path, m.Type())
			}
		}
	}
	check("running")
	if err := d.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	check("stopped")
}

// A data directory made looser than 0600/0700 (by an older version, or by
// hand) is tightened when it is opened, one warning per path; nothing is
// loosened and no link is followed.
func TestTightenDataDirModes(t *testing.T) {
	base := t.TempDir()
	target := filepath.Join(base, "target")
	dir := filepath.Join(base, "data") // the configured path is a link to target
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, dir); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cfg := testConfig(dir)
	quiet := slog.New(slog.DiscardHandler)
	d, err := Open(ctx, cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	d.Logs.Login(logs.Login{App: "whostmgrd", Address: "192.0.2.1", User: "root", Request: "GET / HTTP/1.1", Status: "FAILED LOGIN", Reason: "test"})
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(base, "outside")
	if err := os.WriteFile(outside, []byte("not cpauth's"), 0o644); err != nil {
		t.Fatal(err)
	}
	outsideDir := filepath.Join(base, "outside-dir")
	if err := os.Mkdir(outsideDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, mk := range []func() error{
		func() error { return os.MkdirAll(filepath.Join(target, "extra", "deeper"), 0o700) },
		func() error { return os.WriteFile(filepath.Join(target, "extra", "deeper", "note"), nil, 0o600) },
		func() error { return os.WriteFile(filepath.Join(target, "script"), nil, 0o600) },
		func() error { return os.WriteFile(filepath.Join(target, "readonly"), nil, 0o600) },
		func() error { return os.Mkdir(filepath.Join(target, "closed"), 0o700) },
		func() error { return os.Symlink(outside, filepath.Join(target, "link")) },
		func() error { return os.Symlink(outsideDir, filepath.Join(target, "linkdir")) },
	} {
		if err := mk(); err != nil {
			t.Fatal(err)
		}
	}
	set := map[string]fs.FileMode{
		".": 0o755, "cpauth.db": 0o644, "cpauth.db-changes": 0o664, "server.key": 0o640,
		"logs": 0o755, "logs/" + logs.LoginLog: 0o644,
		"extra": 0o777, "extra/deeper": 0o750, "extra/deeper/note": 0o666,
		"script": 0o755, "readonly": 0o400, "closed": 0o500,
	}
	for path, m := range set {
		if err := os.Chmod(filepath.Join(target, filepath.FromSlash(path)), m); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(target, "closed"), 0o700) })
	want := map[string]fs.FileMode{
		".": 0o700, "cpauth.db": 0o600, "cpauth.db-changes": 0o600, "server.key": 0o600,
		"logs": 0o700, "logs/" + logs.LoginLog: 0o600,
		"extra": 0o700, "extra/deeper": 0o700, "extra/deeper/note": 0o600,
		"script": 0o600, "readonly": 0o400, "closed": 0o500, // never loosened
	}
	buf := &testutil.LogBuffer{}
	d, err = Open(ctx, cfg, slog.New(slog.NewTextHandler(buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	got := modes(t, target)
	log := buf.String()
	for path, w := range want {
		p := filepath.FromSlash(path)
		if got[p].Perm() != w {
			t.Errorf("%s: mode %04o, want %04o", path, got[p].Perm(), w)
		}
		full := filepath.Join(dir, p)
		if path == "." {
			full = dir
		}
		line := "tightened the mode of " + full + " from "
		if n := strings.Count(log, line); (set[path] != w) != (n == 1) || n > 1 {
			t.Errorf("%s: %d log lines %q", path, n, line)
		}
	}
	for _, line := range []string{
		"tightened the mode of " + dir + " from 0755 to 0700",
		"tightened the mode of " + filepath.Join(dir, "cpauth.db") + " from 0644 to 0600",
		"tightened the mode of " + filepath.Join(dir, "script") + " from 0755 to 0600",
	} {
		if !strings.Contains(log, line) {
			t.Errorf("the log lacks %q:\n%s", line, log)
		}
	}
	if !strings.Contains(log, "level=WARN") {
		t.Errorf("not warnings:\n%s", log)
	}
	for path, w := range map[string]fs.FileMode{outside: 0o644, outsideDir: 0o755} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != w {
			t.Errorf("%s, behind a link: mode %v, %v; want %04o (links are not followed)", path, fi.Mode().Perm(), err, w)
		}
	}
	if fi, err := os.Lstat(dir); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the configured path is no longer a link: %v %v", fi.Mode(), err)
	}
	// Tight already: a second open changes and logs nothing.
	buf2 := &testutil.LogBuffer{}
	d, err = Open(ctx, cfg, slog.New(slog.NewTextHandler(buf2, nil)))
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if strings.Contains(buf2.String(), "tightened") {
		t.Errorf("second open:\n%s", buf2.String())
	}
}
