package logs

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// CheckFile checks every line of a log file with Check and returns them.
func CheckFile(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if err := Check(filepath.Base(path), sc.Text()); err != nil {
			t.Error(err)
		}
	}
	return lines
}

var fixed = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func open(t *testing.T, o Options) *Logs {
	t.Helper()
	if o.Now == nil {
		o.Now = func() time.Time { return fixed }
	}
	l := Open(filepath.Join(t.TempDir(), "logs"), o)
	t.Cleanup(func() { l.Close() })
	return l
}

func TestLineFormats(t *testing.T) {
	l := open(t, Options{})
	l.Login(Login{App: "whostmgrd", Address: "192.0.2.1", User: "root", Request: RequestLine("GET", "/json-api/version", "HTTP/1.1"),
		Status: "FAILED LOGIN", Reason: "user password incorrect"})
	l.Login(Login{App: "cpaneld", Address: "2001:db8::1", User: "", Request: RequestLine("POST", "/login/", "HTTP/2.0"),
		Status: "FAILED LOGIN", Reason: "invalid user"})
	l.SessionNew("whostmgrd", "192.0.2.1", "root:0123456789abcdef", map[string]string{"method": "password", "app": "whostmgrd", "address": "192.0.2.1", "creator": "root", "path": "form", "possessed": "0"})
	l.SessionPurge("whostmgrd", "192.0.2.1", "root:0123456789abcdef", "logout")
	l.Request(&Request{Address: netip.MustParseAddr("192.0.2.1"), App: "whostmgrd", User: "root", Time: fixed, Method: "GET", Path: "/json-api/version", Proto: "HTTP/1.1",
		Status: 200, Bytes: 83, UserAgent: "curl/8.0", TLS: true, Port: 2087, Token: true, TokenName: "ci"})
	l.Request(&Request{Address: netip.MustParseAddr("192.0.2.1"), Time: fixed, Method: "GET", Path: "/", Proto: "HTTP/1.1", Status: 200, Port: 2082})
	l.CPHulk(Block{Reason: "IP reached maximum auth failures", App: "whostmgrd", Address: "192.0.2.1", User: "root", Failures: 5, Max: 5, Until: fixed.Add(15 * time.Minute)})
	l.Audit(Decision{Service: "whostmgrd", Address: "192.0.2.1", User: "root", Method: "password", Result: "failure", Reason: ReasonCode("failure", "user password incorrect")})
	want := map[string]string{
		LoginLog:     `[2026-11-29 12:00:00 +0000] info [whostmgrd] 192.0.2.1 - root "GET /json-api/version HTTP/1.1" FAILED LOGIN whostmgrd: user password incorrect`,
		SessionLog:   `[2026-11-29 12:00:00 +0000] info [whostmgrd] 192.0.2.1 NEW root:0123456789abcdef address=192.0.2.1,app=whostmgrd,creator=root,method=password,path=form,possessed=0`,
		AccessLog:    `192.0.2.1 - root [11/29/2026:12:00:00 -0000] "GET /json-api/version HTTP/1.1" 200 83 "-" "curl/8.0" "s" "-" 2087`,
		APITokensLog: `[2026-11-29 12:00:00 +0000] info [whostmgrd] Host: ['192.0.2.1'] HTTP Status: ['200'], User: ['root'], Token Name: ['ci'], Request: ['GET /json-api/version HTTP/1.1']`,
		CPHulkLog:    `[2026-11-29 12:00:00 +0000] info [cPhulkd] Login Blocked: IP reached maximum auth failures [Service]=[whostmgrd] [Remote IP Address]=[192.0.2.1] [Authentication Database]=[cpauth] [Username]=[root] (5/5 failures) (blocked until [2026-11-29 12:15:00 +0000])`,
	}
	l.Flush()
	for _, name := range Names {
		lines := CheckFile(t, filepath.Join(l.Dir(), name))
		if len(lines) == 0 {
			t.Errorf("%s: empty", name)
			continue
		}
		if w, ok := want[name]; ok && lines[0] != w {
			t.Errorf("%s:\n got %s\nwant %s", name, lines[0], w)
		}
	}
	if st, err := os.Stat(filepath.Join(l.Dir(), LoginLog)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("login_log mode: %v, %v; want 0600", st.Mode(), err)
	}
	if st, err := os.Stat(l.Dir()); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("logs directory mode: %v, %v; want 0700", st.Mode(), err)
	}
}

// Client-chosen text cannot add a line or end a field early.
func TestFieldsCannotForgeLines(t *testing.T) {
	l := open(t, Options{})
	evil := "root\r\n[2026-11-29 12:00:00 +0000] info [whostmgrd] 6.6.6.6 - admin \"GET / HTTP/1.1\" "
	l.Login(Login{App: "whostmgrd", Address: "192.0.2.1", User: evil, Request: RequestLine("GET", "/a\"b\nc", "HTTP/1.1"), Status: "FAILED LOGIN", Reason: "x\ny"})
	l.Request(&Request{Address: netip.MustParseAddr("192.0.2.1"), User: evil, Time: fixed, Method: "GET", Path: "/\" 200", Proto: "HTTP/1.1", Status: 403, Referer: "\"", UserAgent: "a\"b", Port: 2087})
	l.Flush()
	for _, n := range []string{LoginLog, AccessLog} {
		if lines := CheckFile(t, filepath.Join(l.Dir(), n)); len(lines) != 1 {
			t.Errorf("%s: %d lines, want 1: %q", n, len(lines), lines)
		}
	}
}

func FuzzLoginLine(f *testing.F) {
	f.Add("root", "/json-api/version", "user password incorrect")
	f.Add("a\"b]\r\n", "/x y\"", "\x00")
	f.Fuzz(func(t *testing.T, user, path, reason string) {
		l := &Logs{files: map[string]*File{}, now: func() time.Time { return fixed }, health: map[string]*Failure{}}
		e := Login{App: "cpaneld", Address: "192.0.2.1", User: user, Request: RequestLine("GET", path, "HTTP/1.1"), Status: "FAILED LOGIN", Reason: reason}
		s := fmtLogin(l, e)
		if strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") {
			t.Fatalf("not one line: %q", s)
		}
		m := Formats[LoginLog].FindStringSubmatch(strings.TrimSuffix(s, "\n"))
		if m == nil {
			t.Fatalf("does not match the format: %q", s)
		}
	})
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	w := &File{Path: filepath.Join(dir, "access_log"), MaxSize: 100, Keep: 2}
	defer w.Close()
	line := []byte(strings.Repeat("x", 39) + "\n") // 40 bytes
	for range 10 {
		if _, err := w.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]int64{"access_log": 80, "access_log.1": 80, "access_log.2": 80} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Size() != want {
			t.Errorf("%s: %v bytes, %v; want %d", name, st, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "access_log.3")); !os.IsNotExist(err) {
		t.Errorf("access_log.3 kept: %v (Keep is 2)", err)
	}
}

func TestWriteFailureReported(t *testing.T) {
	var stderr bytes.Buffer
	var mu sync.Mutex
	l := open(t, Options{Stderr: writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return stderr.Write(p) })})
	// A directory where the file should be: no process can open it.
	if err := os.MkdirAll(filepath.Join(l.Dir(), LoginLog), 0o700); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		l.Login(Login{App: "whostmgrd", Address: "192.0.2.1", User: "root", Request: "GET / HTTP/1.1", Status: "FAILED LOGIN", Reason: "user password incorrect"})
	}
	h := l.Health()
	if f, ok := h[LoginLog]; !ok || f.Failures != 3 || f.Error == "" {
		t.Errorf("Health = %+v; want login_log with 3 failures", h)
	}
	mu.Lock()
	out := stderr.String()
	mu.Unlock()
	if strings.Count(out, "FAILED LOGIN whostmgrd: user password incorrect") != 3 || strings.Count(out, "cannot write") != 1 {
		t.Errorf("stderr: %q; want the error once and every lost line", out)
	}
	if _, ok := h[AccessLog]; ok {
		t.Error("a file that was never written reported as failing")
	}
	// Fixed: the next write clears the report.
	os.Remove(filepath.Join(l.Dir(), LoginLog))
	l.Login(Login{App: "whostmgrd", Address: "192.0.2.1", User: "root", Request: "GET / HTTP/1.1", Status: "FAILED LOGIN", Reason: "x"})
	if h := l.Health(); len(h) != 0 {
		t.Errorf("Health after recovery = %+v", h)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestNilLogs(t *testing.T) {
	var l *Logs
	l.Login(Login{})
	l.Audit(Decision{})
	if !l.Limit(Refusal, netip.Addr{}, "whostmgrd") {
		t.Error("a nil *Logs holds lines back")
	}
	if len(l.Health()) != 0 || l.Close() != nil {
		t.Error("a nil *Logs is not inert")
	}
}

// The per-request files are written in batches: a line waits in memory
// until Flush, Close or Health, or until its batch is large, and then
// reaches the file whole and in order.
func TestBatchedFiles(t *testing.T) {
	access := func(l *Logs, i int) {
		l.Request(&Request{Address: netip.MustParseAddr("192.0.2.1"), User: "root", Time: fixed, Method: "GET", Path: fmt.Sprintf("/n/%d", i), Proto: "HTTP/1.1", Status: 200, Port: 2087})
	}
	size := func(l *Logs, name string) int64 {
		st, err := os.Stat(filepath.Join(l.Dir(), name))
		if err != nil {
			return 0
		}
		return st.Size()
	}
	tests := []struct {
		name  string
		write func(l *Logs) int // lines written
		done  func(l *Logs)
	}{
		{"Flush writes what waits", func(l *Logs) int { access(l, 0); return 1 }, func(l *Logs) { l.Flush() }},
		{"Close writes what waits", func(l *Logs) int { access(l, 0); return 1 }, func(l *Logs) { l.Close() }},
		{"Health writes what waits", func(l *Logs) int { access(l, 0); return 1 }, func(l *Logs) { l.Health() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := open(t, Options{FlushEvery: time.Hour}) // the loop never runs in the test
			n := tc.write(l)
			if size(l, AccessLog) != 0 {
				t.Fatal("a batched line was written at once")
			}
			tc.done(l)
			lines := CheckFile(t, filepath.Join(l.Dir(), AccessLog))
			if len(lines) != n {
				t.Fatalf("%d lines written, want %d", len(lines), n)
			}
			for i, line := range lines {
				if !strings.Contains(line, fmt.Sprintf(`"GET /n/%d HTTP/1.1"`, i)) {
					t.Fatalf("line %d out of order: %s", i, line)
				}
			}
		})
	}
}

// A long queue wakes the flush loop; a full one is written by the request
// that fills it.
func TestQueueLimits(t *testing.T) {
	access := func(l *Logs, i int) {
		l.Request(&Request{Address: netip.MustParseAddr("192.0.2.1"), User: "root", Time: fixed, Method: "GET", Path: fmt.Sprintf("/n/%d", i), Proto: "HTTP/1.1", Status: 200, Port: 2087})
	}
	lines := func(l *Logs) int {
		b, _ := os.ReadFile(filepath.Join(l.Dir(), AccessLog))
		return bytes.Count(b, []byte("\n"))
	}
	t.Run("kickEntries wake the loop", func(t *testing.T) {
		l := open(t, Options{FlushEvery: time.Hour})
		for i := range kickEntries {
			access(l, i)
		}
		deadline := time.Now().Add(10 * time.Second)
		for lines(l) != kickEntries {
			if time.Now().After(deadline) {
				t.Fatalf("%d lines written 10 s after %d were queued", lines(l), kickEntries)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	t.Run("maxEntries are written by their writer", func(t *testing.T) {
		l := newLogs(filepath.Join(t.TempDir(), "logs"), Options{Now: func() time.Time { return fixed }}) // no loop
		defer l.Close()
		for i := range maxEntries - 1 {
			access(l, i)
		}
		if n := lines(l); n != 0 {
			t.Fatalf("%d lines written before the queue was full", n)
		}
		access(l, maxEntries-1)
		if n := lines(l); n != maxEntries {
			t.Fatalf("%d lines written when the queue was full, want %d", n, maxEntries)
		}
	})
}

// A batch that cannot be written goes to stderr line by line and counts
// each line in the health report.
func TestBatchedWriteFailure(t *testing.T) {
	var stderr bytes.Buffer
	var mu sync.Mutex
	l := open(t, Options{FlushEvery: time.Hour, Stderr: writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return stderr.Write(p) })})
	if err := os.MkdirAll(filepath.Join(l.Dir(), AuditLog), 0o700); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		l.Audit(Decision{Service: "whostmgrd", Address: "192.0.2.1", User: "root", Method: "password", Result: "failure", Reason: "bad_password"})
	}
	if f, ok := l.Health()[AuditLog]; !ok || f.Failures != 3 {
		t.Errorf("Health = %+v; want auth_audit.jsonl with 3 failures", l.Health())
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Count(stderr.String(), "cpauth: "+AuditLog+": {"); got != 3 {
		t.Errorf("%d audit lines on stderr, want 3:\n%s", got, stderr.String())
	}
}

// requestCases are requests whose lines Request must write as the
// formatters make them of the same facts.
var requestCases = []struct {
	name string
	r    Request
}{
	{"plain", Request{Address: netip.MustParseAddr("192.0.2.1"), App: "whostmgrd", Port: 2086, Method: "GET", Path: "/json-api/version", Proto: "HTTP/1.1", Status: 200, Bytes: 103}},
	{"token and audit", Request{Address: netip.MustParseAddr("2001:db8::1"), App: "cpaneld", TLS: true, Port: 2083, Method: "GET", Path: "/execute/Variables/get_user_information", Proto: "HTTP/1.1",
		Status: 200, Bytes: 900, User: "bob", UserAgent: "curl/8.0", Referer: "https://x/", Token: true, TokenName: "ci", IDSeq: 42, IDNano: 123456789,
		Audit: true, Decision: Decision{Service: "cpaneld", Port: 2083, TLS: true, User: "bob", Method: "token", Result: "success", Reason: "ok", TokenName: "ci"}}},
	{"masked session path", Request{Address: netip.MustParseAddr("127.0.0.1"), App: "webmaild", Port: 2095, Method: "POST", Path: "/json-api/version", Masked: true, Proto: "HTTP/1.1", Status: 403,
		Audit: true, Decision: Decision{Service: "webmaild", User: "u@example.com", Method: "session", Result: "failure", Reason: "bad_session", Detail: "no such session", Session: "0123456789abcdef"}}},
	{"audit with its own fields", Request{Address: netip.MustParseAddr("192.0.2.9"), App: "whostmgrd", Method: "GET", Path: "/a", Proto: "HTTP/1.0", Status: 200,
		Audit: true, Decision: Decision{Time: fixed.Add(time.Second), RequestID: "x-1", Address: "198.51.100.1", Path: "/b", Service: "whostmgrd", Result: "success", Reason: "ok"}}},
	{"invalid address", Request{App: "whostmgrd", Method: "GET", Path: "/", Proto: "HTTP/1.1", Status: 401, Audit: true, Decision: Decision{Service: "whostmgrd", Result: "failure", Reason: "no_credentials"}}},
	{"client-chosen text", Request{Address: netip.MustParseAddr("192.0.2.1"), App: "whostmgrd", Method: "GET", Path: "/a\"b\nc] ", Proto: "HTTP/1.1", Status: 404,
		User: "root\r\n[x]", Referer: "\"", UserAgent: "a\"b\x00", Token: true, TokenName: "t\"'", Audit: true, Decision: Decision{Service: "whostmgrd", User: "<&>", Result: "failure", Reason: "failed", Detail: "\u2028"}}},
}

func TestRequestLines(t *testing.T) {
	for _, tc := range requestCases {
		t.Run(tc.name, func(t *testing.T) { checkRequestLines(t, tc.r) })
	}
}

func FuzzRequestLines(f *testing.F) {
	for _, tc := range requestCases {
		f.Add(tc.r.Path, tc.r.User, tc.r.UserAgent, tc.r.TokenName, tc.r.Decision.Detail, tc.r.Masked, tc.r.Token, tc.r.Audit)
	}
	f.Fuzz(func(t *testing.T, path, user, agent, tokenName, detail string, masked, token, audit bool) {
		checkRequestLines(t, Request{Address: netip.MustParseAddr("192.0.2.1"), App: "cpaneld", Port: 2082, Method: "GET", Path: path, Masked: masked, Proto: "HTTP/1.1",
			Status: 200, User: user, UserAgent: agent, Token: token, TokenName: tokenName, IDSeq: 7, IDNano: 8,
			Audit: audit, Decision: Decision{Service: "cpaneld", User: user, Method: "token", Result: "failure", Reason: "bad_token", Detail: detail, TokenName: tokenName}})
	})
}

// checkRequestLines writes r with Request and compares each file with the
// lines the formatters make of the same facts, assembled here.
func checkRequestLines(t *testing.T, r Request) {
	t.Helper()
	r.Time = fixed
	l := newLogs(t.TempDir(), Options{Now: func() time.Time { return fixed }})
	defer l.Close()
	l.Request(&r)
	l.Flush()
	path := r.Path
	if r.Masked {
		path = MaskedToken + path
	}
	line := RequestLine(r.Method, path, r.Proto)
	want := map[string][]byte{
		AccessLog: appendAccess(nil, accessLine{Address: r.Address.String(), User: r.User, Time: r.Time, Request: line, Status: r.Status, Bytes: r.Bytes,
			Referer: r.Referer, UserAgent: r.UserAgent, TLS: r.TLS, Port: r.Port}),
	}
	if r.Token {
		want[APITokensLog] = appendAPIToken(nil, fixed, r.App, r.Address.String(), r.Status, r.User, r.TokenName, line)
	}
	if r.Audit {
		d := r.Decision
		if d.Time.IsZero() {
			d.Time = fixed
		}
		if d.RequestID == "" {
			d.RequestID = string(AppendRequestID(nil, r.IDSeq, r.IDNano))
		}
		if d.Address == "" {
			d.Address = r.Address.String()
		}
		if d.Path == "" {
			d.Path = path
		}
		want[AuditLog] = appendAuditLine(nil, d)
	}
	for _, name := range batched {
		got, _ := os.ReadFile(filepath.Join(l.Dir(), name))
		if !bytes.Equal(got, want[name]) {
			t.Errorf("%s:\n got %q\nwant %q", name, got, want[name])
		}
	}
}

// SetRotation changes the size and the number kept of every file, from
// the next write on.
func TestSetRotation(t *testing.T) {
	l := open(t, Options{MaxSize: 1 << 20, Keep: 5})
	line := Login{App: "whostmgrd", Address: "192.0.2.1", User: "root", Request: "GET / HTTP/1.1", Status: "FAILED LOGIN", Reason: "user password incorrect"}
	l.Login(line)
	l.SetRotation(50, 1) // smaller than one line: every write rotates
	for range 3 {
		l.Login(line)
	}
	path := filepath.Join(l.Dir(), LoginLog)
	for _, name := range []string{path, path + ".1"} {
		b, err := os.ReadFile(name)
		if err != nil || strings.Count(string(b), "\n") != 1 {
			t.Errorf("%s: %q %v; want one line", name, b, err)
		}
	}
	if _, err := os.Stat(path + ".2"); !os.IsNotExist(err) {
		t.Errorf("%s.2 kept after SetRotation(…, 1): %v", path, err)
	}
}
