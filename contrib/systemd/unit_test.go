// Package systemd_test checks the systemd unit shipped in contrib/systemd.
package systemd_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// directives reads a unit file: section -> key -> values, in order (a key
// may be given more than once).
func directives(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not key=value in a section: %q", path, n, line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

func TestUnitDirectives(t *testing.T) {
	u := directives(t, "cpauth.service")
	svc := u["Service"]
	tests := []struct {
		name, key, want string
	}{
		{"a dedicated user", "User", "cpauth"},
		{"the data directory under /var/lib", "StateDirectory", "cpauth"},
		{"the data directory private", "StateDirectoryMode", "0700"},
		{"read-only system", "ProtectSystem", "strict"},
		{"no new privileges", "NoNewPrivileges", "yes"},
		{"only the port-binding capability", "CapabilityBoundingSet", "CAP_NET_BIND_SERVICE"},
		{"restart on failure", "Restart", "on-failure"},
		{"reload by SIGHUP", "ExecReload", "/bin/kill -HUP $MAINPID"},
		{"private /tmp", "PrivateTmp", "yes"},
		{"no homes", "ProtectHome", "yes"},
		{"files private", "UMask", "0077"},
		{"file descriptors", "LimitNOFILE", "65536"},
		{"longer than shutdown-timeout's default (15s)", "TimeoutStopSec", "30s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := svc[tc.key]; len(got) != 1 || got[0] != tc.want {
				t.Errorf("%s = %q; want exactly %q", tc.key, got, tc.want)
			}
		})
	}
	t.Run("serves the state directory", func(t *testing.T) {
		exec := svc["ExecStart"]
		if len(exec) != 1 || !strings.Contains(exec[0], " serve ") || !strings.Contains(exec[0], "--data-dir /var/lib/cpauth") {
			t.Errorf("ExecStart = %q", exec)
		}
	})
	t.Run("no other capability", func(t *testing.T) {
		for _, v := range svc["AmbientCapabilities"] {
			if v != "CAP_NET_BIND_SERVICE" {
				t.Errorf("AmbientCapabilities=%s", v)
			}
		}
		if _, ok := svc["DynamicUser"]; ok {
			t.Error("DynamicUser is set: the local commands need a user that outlives the service")
		}
	})
	if _, ok := u["Install"]["WantedBy"]; !ok {
		t.Error("no [Install] WantedBy")
	}
}

// TestUnitVerifies runs systemd-analyze verify on a copy of the unit whose
// ExecStart names an executable that exists (verify checks that it does):
// this test's own binary. CI verifies it against a freshly built cpauth
// as well (.ci/run).
func TestUnitVerifies(t *testing.T) {
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian's systemd package): the unit is not verified here")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile("cpauth.service")
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), "cpauth.service")
	body := strings.ReplaceAll(string(unit), "/usr/local/bin/cpauth", self)
	if err := os.WriteFile(copyPath, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "verify", copyPath).CombinedOutput()
	// verify exits 0 on an unknown directive or a bad value: it only
	// warns. Any word from it is a failure.
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
