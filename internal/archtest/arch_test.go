// Package archtest enforces the import boundaries of ARCHITECTURE.md.
package archtest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/cpauth/cpauth/"

const prometheus = "github.com/prometheus/client_golang/prometheus"

// deps lists every package pkg imports, directly or not.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", mod+pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

func TestImportBoundaries(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	tests := []struct {
		name      string
		pkg       string
		forbidden []string
	}{
		{"store knows no HTTP", "internal/store", []string{"net/http"}},
		{"sqlstore knows no HTTP", "internal/store/sqlstore", []string{"net/http"}},
		{"functions know no HTTP", "internal/functions", []string{"net/http"}},
		{"functions pick no store", "internal/functions", []string{mod + "internal/store/sqlstore", "database/sql"}},
		{"sessions know no HTTP and no SQL", "internal/sessions", []string{"net/http", "database/sql", mod + "internal/auth", mod + "internal/store/sqlstore"}},
		{"auth knows no SQL", "internal/auth", []string{"database/sql", "net/http", mod + "internal/store/sqlstore"}},
		{"server picks no store", "internal/server", []string{mod + "internal/store/sqlstore", "database/sql"}},
		{"core is the bottom", "internal/core", []string{mod + "internal/store", mod + "internal/auth", mod + "internal/api"}},
		{"secret is below auth", "internal/secret", []string{mod + "internal/auth", mod + "internal/api", mod + "internal/server"}},
		{"totp is pure functions", "internal/totp", []string{"net/http", "database/sql", mod + "internal/store", mod + "internal/auth"}},
		{"hulk is below auth, knows no HTTP and picks no store", "internal/hulk", []string{"net/http", "database/sql", mod + "internal/auth", mod + "internal/store/sqlstore"}},
		{"WHM API 0 is a translation over the registry: no HTTP, no functions, no store", "internal/api/whmapi0", []string{"net/http", mod + "internal/functions", mod + "internal/store"}},
		{"logs know no HTTP and no store", "internal/logs", []string{"net/http", mod + "internal/store", mod + "internal/auth"}},
		{"the gateway sits beside the functions, below the server, and picks no store", "internal/gateway", []string{mod + "internal/functions", mod + "internal/server", mod + "internal/web", mod + "internal/store/sqlstore", "database/sql"}},
		{"the functions know nothing of the gateway", "internal/functions", []string{mod + "internal/gateway"}},
		{"auth knows nothing of the gateway", "internal/auth", []string{mod + "internal/gateway"}},
		{"the store's decorator knows no metrics library and no HTTP", "internal/store/observed", []string{prometheus, "net/http", mod + "internal/store/sqlstore"}},
		{"datadir knows files, not stores", "internal/datadir", []string{"net/http", "database/sql", mod + "internal/store", mod + "internal/daemon"}},
		{"passkey runs ceremonies over the store: no SQL, no routes, no pages", "internal/passkey", []string{"database/sql", mod + "internal/store/sqlstore", mod + "internal/server", mod + "internal/web", mod + "internal/functions", mod + "internal/auth"}},
		{"throttle counts in memory: no HTTP, no store, nothing of the project", "internal/throttle", []string{"net/http", "database/sql", mod + "internal/store", mod + "internal/core", mod + "internal/server"}},
		{"backup works on files and the SQL store, below the daemon", "internal/backup", []string{"net/http", mod + "internal/daemon", mod + "internal/server", mod + "internal/functions"}},
	}
	// The instrumented packages hand their counts to internal/metrics
	// through small interfaces and func fields: only it (and the daemon,
	// which wires it) imports the metrics library.
	for _, pkg := range []string{"internal/server", "internal/auth", "internal/hulk", "internal/logs", "internal/store/sqlstore",
		"internal/store/cached", "internal/gateway", "internal/functions", "internal/web", "internal/config"} {
		tests = append(tests, struct {
			name      string
			pkg       string
			forbidden []string
		}{pkg + " knows no metrics library", pkg, []string{prometheus, mod + "internal/metrics"}})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := deps(t, tc.pkg)
			for _, f := range tc.forbidden {
				if slices.Contains(got, f) {
					t.Errorf("%s imports %s", tc.pkg, f)
				}
			}
		})
	}
}

// TestClientIsPublic: the client packages are for other programs, which
// cannot import cpauth's internal packages; they may not either.
func TestClientIsPublic(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	for _, pkg := range []string{"client/cpapi", "client/logmein"} {
		for _, d := range deps(t, pkg) {
			if strings.HasPrefix(d, mod+"internal/") {
				t.Errorf("%s imports %s", pkg, d)
			}
		}
	}
}
