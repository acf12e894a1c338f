// Package logs writes cPanel's authentication log files (login_log,
// session_log, access_log, api_tokens_log, cphulkd.log) in their line
// formats, and one structured JSON audit stream of every authentication
// decision, under <data-dir>/logs, rotated by size. A write that fails is
// reported on stderr and kept for the health endpoint; it never fails the
// request. No line ever holds a secret: callers pass user names, addresses,
// reasons, token names and session handles, and request lines without
// their query string.
package logs

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The files, as named in <data-dir>/logs.
const (
	LoginLog     = "login_log"
	SessionLog   = "session_log"
	AccessLog    = "access_log"
	APITokensLog = "api_tokens_log"
	CPHulkLog    = "cphulkd.log"
	AuditLog     = "auth_audit.jsonl"
)

// Names lists every file Logs writes.
var Names = []string{LoginLog, SessionLog, AccessLog, APITokensLog, CPHulkLog, AuditLog}

// Defaults of Options.
const (
	DefaultMaxSize = 10 << 20
	DefaultKeep    = 5
)

// Options configure Open.
type Options struct {
	MaxSize int64 // bytes before a file is rotated (DefaultMaxSize when 0)
	Keep    int   // rotated files kept (DefaultKeep when 0)
	// Stderr receives the report of a failed write (nil: nowhere).
	Stderr io.Writer
	// Now is the clock of the lines (time.Now when nil).
	Now func() time.Time
	// FlushEvery is how long a line of a per-request file (access_log,
	// api_tokens_log, the audit stream) may wait in memory before it is
	// written (DefaultFlushEvery when 0). Lines are written in batches so
	// that a request does not pay a system call per file; Close, Flush
	// and Health write what waits.
	FlushEvery time.Duration
}

// DefaultFlushEvery is Options.FlushEvery's default.
const DefaultFlushEvery = 100 * time.Millisecond

// batched are the files written once per request: their lines wait in
// memory (see queue.go) and go out in one write per file and flush.
var batched = []string{AccessLog, APITokensLog, AuditLog}

// Logs is the set of log files of one data directory. A nil *Logs writes
// nothing.
type Logs struct {
	dir    string
	files  map[string]*File
	stderr io.Writer
	now    func() time.Time

	mu     sync.Mutex
	health map[string]*Failure

	q       queue
	bufs    [3][]byte  // a flush's lines, per batched file (under flushMu)
	scratch []byte     // (under flushMu)
	flushMu sync.Mutex // one flush at a time, so that batches reach a file in order
	kick    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
	closing sync.Once
	looping bool // the flush loop runs (Open)

	lim limiter // which refusals are written one by one (limit.go)
}

// Failure is a log file's write trouble, as the health endpoint shows it.
type Failure struct {
	Error    string    `json:"error"`
	Failures int64     `json:"failures"`
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
	reported time.Time
}

// Open prepares the log files of dir (files are opened on first write).
func Open(dir string, o Options) *Logs {
	l := newLogs(dir, o)
	if o.FlushEvery <= 0 {
		o.FlushEvery = DefaultFlushEvery
	}
	l.looping = true
	go l.flushLoop(o.FlushEvery)
	return l
}

// newLogs is Open without the flush loop.
func newLogs(dir string, o Options) *Logs {
	if o.MaxSize == 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.Keep == 0 {
		o.Keep = DefaultKeep
	}
	l := &Logs{dir: dir, files: map[string]*File{}, stderr: o.Stderr, now: o.Now, health: map[string]*Failure{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	if l.now == nil {
		l.now = time.Now
	}
	for _, n := range Names {
		l.files[n] = &File{Path: filepath.Join(dir, n), MaxSize: o.MaxSize, Keep: o.Keep}
	}
	l.lim.cfg = defaultLimits
	return l
}

// flushLoop writes the batched files' waiting lines every interval until
// Close.
func (l *Logs) flushLoop(every time.Duration) {
	defer close(l.stopped)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.Flush()
		case <-l.kick:
			l.Flush()
		}
	}
}

// SetRotation changes the size at which every file rotates (DefaultMaxSize
// when 0) and how many rotated files of each are kept (DefaultKeep when
// 0), from their next writes on.
func (l *Logs) SetRotation(maxSize int64, keep int) {
	if l == nil {
		return
	}
	if maxSize == 0 {
		maxSize = DefaultMaxSize
	}
	if keep == 0 {
		keep = DefaultKeep
	}
	for _, f := range l.files {
		f.SetRotation(maxSize, keep)
	}
}

// Dir is the directory of the files.
func (l *Logs) Dir() string { return l.dir }

// Close writes what waits and closes every file.
func (l *Logs) Close() error {
	if l == nil {
		return nil
	}
	l.closing.Do(func() {
		close(l.stop)
		if l.looping {
			<-l.stopped
		}
	})
	l.flush(true) // the summaries not yet due too
	for _, f := range l.files {
		f.Close()
	}
	return nil
}

// reportEvery bounds the stderr reports of one file's error.
const reportEvery = time.Minute

// writeNow writes whole lines to the file name; lines that cannot be
// written go to stderr, and the failure to the health report.
func (l *Logs) writeNow(name string, lines []byte) {
	_, err := l.files[name].Write(lines)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil {
		if h := l.health[name]; h != nil {
			// Writing again: say so once, and clear the health report.
			delete(l.health, name)
			if l.stderr != nil {
				fmt.Fprintf(l.stderr, "cpauth: %s: writing again after %d failed writes\n", filepath.Join(l.dir, name), h.Failures)
			}
		}
		return
	}
	now := l.now()
	h := l.health[name]
	if h == nil {
		h = &Failure{First: now}
		l.health[name] = h
	}
	h.Error, h.Failures, h.Last = err.Error(), h.Failures+int64(bytes.Count(lines, []byte{'\n'})), now
	if l.stderr == nil {
		return
	}
	// The lines themselves go to stderr, so that no outcome is lost
	// silently; the error with them at most once a minute.
	if now.Sub(h.reported) >= reportEvery {
		h.reported = now
		fmt.Fprintf(l.stderr, "cpauth: cannot write %s (%d failed writes so far; its lines follow on stderr): %v\n",
			filepath.Join(l.dir, name), h.Failures, err)
	}
	for line := range bytes.Lines(lines) {
		fmt.Fprintf(l.stderr, "cpauth: %s: %s", name, line)
	}
}

// Health reports the files whose last write failed (empty when all is
// well).
func (l *Logs) Health() map[string]Failure {
	out := map[string]Failure{}
	if l == nil {
		return out
	}
	l.Flush() // what waits is tried now, so that the report is current
	l.mu.Lock()
	defer l.mu.Unlock()
	for n, h := range l.health {
		out[n] = *h
	}
	return out
}

// cpanelTime is the bracketed time of cPanel's log lines.
func cpanelTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 +0000") }

// field makes attacker-chosen text safe inside a log line: no control
// bytes, no quotes or brackets that would end a field, at most 128 bytes;
// "-" when empty.
func field(s string) string {
	if s == "" {
		return "-"
	}
	if len(s) > 128 {
		s = s[:128] + "…"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r < 0x20 || r == 0x7f:
			return '?'
		case r == '"' || r == '\'' || r == '[' || r == ']':
			return '_'
		}
		return r
	}, s)
}

// word is field for a space-separated column: spaces become "_" too.
func word(s string) string { return strings.ReplaceAll(field(s), " ", "_") }

// RequestLine is "METHOD path PROTO" without the query string (which may
// hold secrets: cpauth never logs it).
func RequestLine(method, path, proto string) string {
	return method + " " + path + " " + proto
}

// Login is one line of login_log: a failed (or refused) login.
type Login struct {
	App     string // cpaneld, whostmgrd, webmaild
	Address string
	User    string
	Request string // RequestLine
	Status  string // "FAILED LOGIN", "DEFERRED LOGIN"
	Reason  string
}

// Login writes a login_log line:
// [2026-11-29 12:00:00 +0000] info [whostmgrd] 192.0.2.1 - root "GET /json-api/version HTTP/1.1" FAILED LOGIN whostmgrd: user password incorrect
func (l *Logs) Login(e Login) {
	if l == nil {
		return
	}
	l.writeNow(LoginLog, []byte(fmtLogin(l, e)))
}

func fmtLogin(l *Logs, e Login) string {
	return fmt.Sprintf("[%s] info [%s] %s - %s \"%s\" %s %s: %s\n", cpanelTime(l.now()), e.App, word(e.Address),
		word(e.User), field(e.Request), e.Status, e.App, field(e.Reason))
}

// SessionNew writes session_log's NEW line. name is "<user>:<handle>" (the
// session's public handle, never its id); the keys are written sorted.
func (l *Logs) SessionNew(app, address, name string, kv map[string]string) {
	if l == nil {
		return
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + "=" + strings.NewReplacer(",", "_", "=", "_").Replace(word(kv[k])))
	}
	line := fmt.Sprintf("[%s] info [%s] %s NEW %s %s\n", cpanelTime(l.now()), app, word(address), word(name), b.String())
	l.writeNow(SessionLog, []byte(line))
}

// SessionPurge writes session_log's PURGE line (reason: logout, expired,
// kill, badpass, …).
func (l *Logs) SessionPurge(app, address, name, reason string) {
	if l == nil {
		return
	}
	line := fmt.Sprintf("[%s] info [%s] %s PURGE %s %s\n", cpanelTime(l.now()), app, word(address), word(name), word(reason))
	l.writeNow(SessionLog, []byte(line))
}

// accessLine is the facts of one access_log line.
type accessLine struct {
	Address   string
	User      string
	Time      time.Time
	Request   string // RequestLine
	Status    int
	Bytes     int
	Referer   string
	UserAgent string
	TLS       bool
	Port      int
}

// appendAccess appends e's access_log line:
// 192.0.2.1 - root [11/29/2026:12:00:00 -0000] "GET /json-api/version HTTP/1.1" 200 83 "-" "curl/8.0" "s" "-" 2087
func appendAccess(b []byte, e accessLine) []byte {
	s := "-"
	if e.TLS {
		s = "s"
	}
	b = appendWord(b, e.Address)
	b = append(b, " - "...)
	b = appendWord(b, e.User)
	b = append(b, " ["...)
	b = accessStamp.append(b, e.Time)
	b = append(b, "] \""...)
	b = appendField(b, e.Request)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(e.Bytes), 10)
	b = append(b, " \""...)
	b = appendField(b, e.Referer)
	b = append(b, "\" \""...)
	b = appendField(b, e.UserAgent)
	b = append(b, "\" \""...)
	b = append(b, s...)
	b = append(b, "\" \"-\" "...)
	b = strconv.AppendInt(b, int64(e.Port), 10)
	return append(b, '\n')
}

// appendAPIToken appends an api_tokens_log line written at t, for a
// token-authenticated request: [date] info [whostmgrd] Host: ['192.0.2.1'] HTTP Status: ['200'], User: ['root'], Token Name: ['ci'], Request: ['GET /json-api/version HTTP/1.1']
func appendAPIToken(b []byte, t time.Time, app, address string, status int, user, tokenName, request string) []byte {
	b = append(b, '[')
	b = appendCPanelTime(b, t)
	b = append(b, "] info ["...)
	b = append(b, app...)
	b = append(b, "] Host: ['"...)
	b = appendField(b, address)
	b = append(b, "'] HTTP Status: ['"...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, "'], User: ['"...)
	b = appendField(b, user)
	b = append(b, "'], Token Name: ['"...)
	b = appendField(b, tokenName)
	b = append(b, "'], Request: ['"...)
	b = appendField(b, request)
	return append(b, "']\n"...)
}

// Block is what cphulkd.log says of a block.
type Block struct {
	Reason   string // "IP reached maximum auth failures", …
	App      string
	Address  string
	User     string
	Failures int
	Max      int
	Until    time.Time
}

// CPHulk writes a cphulkd.log line:
// [date] info [cPhulkd] Login Blocked: IP reached maximum auth failures [Service]=[whostmgrd] [Remote IP Address]=[192.0.2.1] [Authentication Database]=[cpauth] [Username]=[root] (5/5 failures) (blocked until [2026-11-29 12:15:00 +0000])
func (l *Logs) CPHulk(b Block) {
	if l == nil {
		return
	}
	line := fmt.Sprintf("[%s] info [cPhulkd] Login Blocked: %s [Service]=[%s] [Remote IP Address]=[%s] [Authentication Database]=[cpauth] [Username]=[%s] (%d/%d failures) (blocked until [%s])\n",
		cpanelTime(l.now()), b.Reason, field(b.App), field(b.Address), field(b.User), b.Failures, b.Max, cpanelTime(b.Until))
	l.writeNow(CPHulkLog, []byte(line))
}

// Decision is one authentication decision of the audit stream.
type Decision struct {
	Time      time.Time `json:"time"`
	RequestID string    `json:"request_id,omitempty"`
	Service   string    `json:"service"`
	Port      int       `json:"port,omitempty"`
	TLS       bool      `json:"tls"`
	Address   string    `json:"address"`
	User      string    `json:"user"`
	Method    string    `json:"method"`
	// Result is "success", "failure" or "blocked"; "forwarded" on the
	// line of a call forwarded to a gateway's backend.
	Result string `json:"result"`
	// Reason is a short code (ReasonCode) and Detail the log's words.
	Reason    string `json:"reason"`
	Detail    string `json:"detail,omitempty"`
	TokenName string `json:"token_name,omitempty"`
	// Session is the session's public handle, never its id.
	Session string `json:"session,omitempty"`
	Path    string `json:"path,omitempty"`
	// Function, BackendStatus and BackendMicros are set on the line of a
	// call a gateway forwarded (Result "forwarded"): the function called
	// ("whmapi1 listaccts", "uapi Email::add_pop"), the backend's HTTP
	// status (0 when it gave none: Reason says why) and how long it took.
	Function      string `json:"function,omitempty"`
	BackendStatus int    `json:"backend_status,omitempty"`
	BackendMicros int64  `json:"backend_us,omitempty"`
	// Suppressed is set on a summary line only (Reason "suppressed"): how
	// many decisions of this Result from Address (empty: from other
	// addresses) it stands for, held back within the last PeriodSeconds
	// instead of written one by one (see Limit).
	Suppressed    int64 `json:"suppressed,omitempty"`
	PeriodSeconds int64 `json:"period_s,omitempty"`
}

// Audit writes one JSON line of the audit stream.
func (l *Logs) Audit(d Decision) {
	if l == nil {
		return
	}
	if d.Time.IsZero() {
		d.Time = l.now()
	}
	l.enqueue(entry{kind: entryAudit, req: Request{Decision: d, Audit: true}})
}

// appendAuditLine appends d's line of the audit stream.
func appendAuditLine(b []byte, d Decision) []byte {
	d.Time = d.Time.UTC()
	d.User, d.Detail, d.Path, d.Function = clip(d.User), clip(d.Detail), clip(d.Path), clip(d.Function)
	return append(appendDecision(b, d), '\n')
}

func clip(s string) string {
	if len(s) > 256 {
		return s[:256] + "…"
	}
	return s
}

// reasonCodes are the audit stream's codes of failures, each with the
// words of a log reason that give it; the first code with a word in the
// reason is the reason's.
var reasonCodes = []struct {
	code  string
	words []string
}{
	{"tfa_required", []string{"two-factor code required", "not two-factor verified"}},
	{"tfa_rate_limited", []string{"wrong codes"}},
	{"bad_tfa_code", []string{"two-factor"}},
	{"not_checked", []string{"password not checked"}},
	{"bad_password", []string{"password incorrect", "password longer than"}},
	{"bad_session", []string{"no such session"}},
	{"unknown_user", []string{"invalid user", "unknown user", "no such"}},
	{"suspended", []string{"suspended"}},
	{"bad_token", []string{"token"}},
	{"bad_access_hash", []string{"access hash"}},
	{"bad_session", []string{"session", "cookie"}},
	{"wrong_service", []string{"login attempt to", "has no", "service"}},
	{"malformed", []string{"control bytes", "unreadable", "malformed"}},
	{"no_credentials", []string{"no credentials"}},
}

// ReasonCode maps a log reason to a stable short code of the audit stream.
func ReasonCode(result, reason string) string {
	if result == "success" {
		return "ok"
	}
	r := strings.ToLower(reason)
	if strings.Contains(r, "cphulk") || strings.Contains(r, "brute-force") {
		switch {
		case strings.Contains(r, "deny list"):
			return "denied_address"
		case strings.Contains(r, "user blocked"):
			return "blocked_user"
		}
		return "blocked_address"
	}
	for _, c := range reasonCodes {
		for _, w := range c.words {
			if strings.Contains(r, w) {
				return c.code
			}
		}
	}
	return "failed"
}

// Rotation returns the size at which the files rotate and how many
// rotated files of each are kept.
func (l *Logs) Rotation() (maxSize int64, keep int) {
	f := l.files[AccessLog]
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.MaxSize, f.Keep
}
