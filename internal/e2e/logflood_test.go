package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/logs"
)

// A blocked address that keeps on sending (README, Logs, "Floods"): its
// refusals past the first few are summarised, so that the lines that
// matter — the failures that led to the block, the block, the first
// refusals — stay in the current files however long the flood, and the
// summaries add up to every refusal sent.
func TestLogsFloodOfRefusals(t *testing.T) {
	// The smallest files the configuration allows, one rotated copy kept:
	// before summaries, this flood rotated the first failures out of
	// login_log and the audit stream.
	e := startRegulated(t, func(c *config.Config) { c.LogMaxSizeMB, c.LogKeep = 1, 1 })
	cfg := e.d.Data.Hulk.Config()
	for i := range cfg.MaxFailuresByIP {
		assertD5(t, e.do(t, request{port: p2087, path: version1, auth: basic("root", fmt.Sprintf("Flood-Guess-%d", i))}))
	}

	// Some 1.3 MiB of login_log lines and 2.5 MiB of audit lines, one
	// each per refusal, had every refusal been written.
	const flood, workers = 8000, 4
	var next, wrong atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= flood {
				r, err := e.try(request{port: p2087, path: version1, auth: basic("root", "Flood-Again")})
				if err != nil || r.status != http.StatusForbidden {
					wrong.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := wrong.Load(); n > 0 {
		t.Fatalf("%d of %d refusals were not answered 403", n, flood)
	}
	// A period later, the summaries are due; the next flush writes them.
	e.clock.Advance(61 * time.Second)
	e.d.Data.Logs.Flush()

	dir := filepath.Join(e.dir, "logs")
	for _, name := range []string{logs.LoginLog, logs.AuditLog, logs.CPHulkLog} {
		if _, err := os.Stat(filepath.Join(dir, name+".1")); err == nil {
			t.Errorf("%s was rotated by the flood", name)
		}
	}
	// read returns a file's lines, each checked against its format.
	read := func(name string) []string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		for _, line := range lines {
			if err := logs.Check(name, line); err != nil {
				t.Error(err)
			}
		}
		return lines
	}

	// login_log: the failures first, then the first refusals one by one,
	// then the summary of the rest; one line a refusal or counted in one.
	login := read(logs.LoginLog)
	failures, refusals, summarised := 0, 0, 0
	summary := regexp.MustCompile(` SUPPRESSED whostmgrd: (\d+) further refusals from 127\.0\.0\.1 suppressed in the last (\d+) s$`)
	for i, line := range login {
		switch {
		case strings.HasSuffix(line, `"GET /json-api/version HTTP/1.1" FAILED LOGIN whostmgrd: user password incorrect`):
			if i != failures {
				t.Errorf("login_log line %d is a failure after a refusal: %s", i+1, line)
			}
			failures++
		case strings.Contains(line, `"GET /json-api/version HTTP/1.1" FAILED LOGIN whostmgrd: address blocked by cPHulk until `):
			refusals++
		case summary.MatchString(line):
			m := summary.FindStringSubmatch(line)
			n, _ := strconv.Atoi(m[1])
			summarised += n
		default:
			t.Errorf("login_log: unexpected line %s", line)
		}
	}
	if failures != cfg.MaxFailuresByIP {
		t.Errorf("login_log has %d of the %d failures", failures, cfg.MaxFailuresByIP)
	}
	if refusals == 0 || refusals > 100 {
		t.Errorf("login_log has %d refusals one by one, want the first few", refusals)
	}
	if refusals+summarised != flood {
		t.Errorf("login_log: %d refusals written and %d summarised, want %d in all", refusals, summarised, flood)
	}

	// The audit stream: the same, the summaries marked by "suppressed".
	failures, refusals, summarised = 0, 0, 0
	for _, line := range read(logs.AuditLog) {
		var d struct {
			Result, Reason, Address string
			Suppressed              int
			PeriodSeconds           int `json:"period_s"`
		}
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatal(err)
		}
		switch {
		case d.Result == "failure" && d.Reason == "bad_password":
			failures++
		case d.Result == "blocked" && d.Reason == "blocked_address" && d.Suppressed == 0:
			refusals++
		case d.Result == "blocked" && d.Reason == "suppressed" && d.Address == "127.0.0.1" && d.PeriodSeconds >= 60:
			summarised += d.Suppressed
		default:
			t.Errorf("audit stream: unexpected line %s", line)
		}
	}
	if failures != cfg.MaxFailuresByIP || refusals == 0 || refusals+summarised != flood {
		t.Errorf("audit stream: %d failures (want %d), %d refusals written and %d summarised (want %d in all)",
			failures, cfg.MaxFailuresByIP, refusals, summarised, flood)
	}

	// The block itself.
	if hulk := read(logs.CPHulkLog); len(hulk) != 1 || !strings.Contains(hulk[0], "Login Blocked: IP reached maximum auth failures [Service]=[whostmgrd] [Remote IP Address]=[127.0.0.1]") {
		t.Errorf("cphulkd.log: %q", hulk)
	}
	// access_log still has every request.
	if n := len(read(logs.AccessLog)); n != cfg.MaxFailuresByIP+flood {
		t.Errorf("access_log: %d lines, want %d", n, cfg.MaxFailuresByIP+flood)
	}
}

// API requests without credentials, which the regulator never counts and
// so never blocks, are summed up in the audit stream alike.
func TestLogsFloodWithoutCredentials(t *testing.T) {
	e := start(t)
	const flood = 500
	for range flood {
		if r := e.do(t, request{port: p2087, path: version1}); r.status != http.StatusUnauthorized {
			t.Fatalf("without credentials: %d", r.status)
		}
	}
	e.clock.Advance(61 * time.Second)
	e.d.Data.Logs.Flush()
	b, err := os.ReadFile(filepath.Join(e.dir, "logs", logs.AuditLog))
	if err != nil {
		t.Fatal(err)
	}
	written, summarised := 0, int64(0)
	for line := range strings.Lines(string(b)) {
		if err := logs.Check(logs.AuditLog, strings.TrimSuffix(line, "\n")); err != nil {
			t.Error(err)
		}
		var d struct {
			Result, Reason, Detail string
			Suppressed             int64
		}
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatal(err)
		}
		switch {
		case d.Result == "failure" && d.Reason == "no_credentials":
			written++
		case d.Result == "failure" && d.Reason == "suppressed" && strings.Contains(d.Detail, " further requests without credentials from 127.0.0.1 suppressed in the last "):
			summarised += d.Suppressed
		default:
			t.Errorf("audit stream: unexpected line %s", line)
		}
	}
	if written == 0 || written > 100 || int64(written)+summarised != flood {
		t.Errorf("audit stream: %d written one by one and %d summed up, want the first few and %d in all", written, summarised, flood)
	}
	if b, _ := os.ReadFile(filepath.Join(e.dir, "logs", logs.LoginLog)); len(b) != 0 {
		t.Errorf("login_log: %s", b)
	}
}
