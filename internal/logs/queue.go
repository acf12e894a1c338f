package logs

import (
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// The per-request files (access_log, api_tokens_log, the audit stream) are
// written off the request path: a request hands over its facts as a
// Request, copied by value into a queue (no line is built and nothing is
// allocated while the client waits), and the flush loop formats the queued
// entries, in order, and writes each file's lines in one write. A flush
// runs every FlushEvery, when the queue reaches kickEntries (the loop is
// woken), and by the writer that finds it at maxEntries (so that a loop
// that cannot keep up slows the requests down instead of growing the
// queue without bound); Flush, Close and Health run one too.

const (
	kickEntries = 1024
	maxEntries  = 8 * kickEntries
)

// Request is what the per-request files say of one request: its
// access_log line, its api_tokens_log line when an API token authenticated
// it, and the audit line of its authentication decision when it had one.
type Request struct {
	Time    time.Time // when the request arrived (access_log)
	Address netip.Addr
	App     string // cpaneld, whostmgrd, webmaild
	TLS     bool
	Port    int
	// The request line: Method, Path and Proto, without the query string.
	// When Masked, Path is what follows a security token, which is
	// written /cpsessXXXXXXXXXX.
	Method, Path, Proto string
	Masked              bool
	Status, Bytes       int
	User                string
	Referer, UserAgent  string
	// Token adds the api_tokens_log line, naming TokenName.
	Token     bool
	TokenName string
	// IDSeq and IDNano are the request id's parts (RequestID).
	IDSeq  uint64
	IDNano int64
	// Audit adds Decision's line to the audit stream. Its empty
	// RequestID, Address and Path are the request's; its zero Time is
	// when Request was called.
	Audit    bool
	Decision Decision
}

// MaskedToken is how a path's security token is written.
const MaskedToken = "/cpsessXXXXXXXXXX"

// AppendRequestID appends the request id made of seq and nano: both in
// base 36, joined by "-".
func AppendRequestID(b []byte, seq uint64, nano int64) []byte {
	b = strconv.AppendUint(b, seq, 36)
	b = append(b, '-')
	return strconv.AppendInt(b, nano, 36)
}

type entryKind uint8

const (
	entryRequest entryKind = iota // req: its access line, token line and audit line
	entryAudit                    // req.Decision alone
)

type entry struct {
	kind entryKind
	at   time.Time // when it was queued: the time of the token line
	req  Request
}

// queue is the entries that wait; spare is the slice the last flush
// emptied, reused.
type queue struct {
	mu      sync.Mutex
	entries []entry
	spare   []entry
}

// Request queues the lines of one request (see Request).
func (l *Logs) Request(r *Request) {
	if l == nil {
		return
	}
	now := l.now()
	l.q.mu.Lock()
	l.q.entries = append(l.q.entries, entry{kind: entryRequest, at: now, req: *r})
	n := len(l.q.entries)
	l.q.mu.Unlock()
	l.queued(n)
}

// enqueue queues one entry.
func (l *Logs) enqueue(e entry) {
	l.q.mu.Lock()
	l.q.entries = append(l.q.entries, e)
	n := len(l.q.entries)
	l.q.mu.Unlock()
	l.queued(n)
}

// queued wakes the flush loop, or flushes, for a queue of n entries.
func (l *Logs) queued(n int) {
	switch {
	case n >= maxEntries:
		l.Flush()
	case n == kickEntries:
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// Flush writes every line that waits in memory, and the summaries of
// held-back lines that are due (see Limit).
func (l *Logs) Flush() {
	if l == nil {
		return
	}
	l.flush(false)
}

// flush is Flush; final writes every summary, due or not (Close).
func (l *Logs) flush(final bool) {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	due := l.lim.sweep(l.now().UnixNano(), final)
	l.q.mu.Lock()
	entries := l.q.entries
	if len(entries) == 0 && len(due) == 0 {
		l.q.mu.Unlock()
		return
	}
	// The requests append to the spare slice from now on; nothing else
	// refers to it until this flush hands entries back as the next spare.
	l.q.entries, l.q.spare = l.q.spare[:0], nil
	l.q.mu.Unlock()
	for i := range l.bufs {
		l.bufs[i] = l.bufs[i][:0]
	}
	for i := range entries {
		l.format(&entries[i])
	}
	// The summaries follow the lines that waited (the lines they sum up
	// were never queued). login_log's are written here, as its other
	// lines are written at once.
	var login []byte
	for i := range due {
		l.bufs[bufAudit] = appendSummaryAudit(l.bufs[bufAudit], &due[i])
		if due[i].held.n[Refusal] > 0 {
			login = appendSummaryLogin(login, &due[i])
		}
	}
	for i, name := range batched {
		if len(l.bufs[i]) > 0 {
			l.writeNow(name, l.bufs[i])
		}
		if cap(l.bufs[i]) > maxPooledBuf {
			l.bufs[i] = nil
		}
	}
	if len(login) > 0 {
		l.writeNow(LoginLog, login)
	}
	clear(entries) // what the requests referred to may go
	l.q.mu.Lock()
	if cap(entries) <= 2*maxEntries { // append may have grown it past maxEntries
		l.q.spare = entries
	}
	l.q.mu.Unlock()
}

// maxPooledBuf bounds the buffers a flush keeps for the next.
const maxPooledBuf = 1 << 20

// The indexes of batched, and of Logs.bufs.
const (
	bufAccess = iota
	bufToken
	bufAudit
)

// format appends e's lines to the flush's buffers.
func (l *Logs) format(e *entry) {
	switch e.kind {
	case entryAudit:
		l.bufs[bufAudit] = appendAuditLine(l.bufs[bufAudit], e.req.Decision)
	case entryRequest:
		r := &e.req
		addr := r.Address.String()
		l.scratch = appendRequestLine(l.scratch[:0], r)
		line := string(l.scratch)
		l.bufs[bufAccess] = appendAccess(l.bufs[bufAccess], accessLine{Address: addr, User: r.User, Time: r.Time, Request: line,
			Status: r.Status, Bytes: r.Bytes, Referer: r.Referer, UserAgent: r.UserAgent, TLS: r.TLS, Port: r.Port})
		if r.Token {
			l.bufs[bufToken] = appendAPIToken(l.bufs[bufToken], e.at, r.App, addr, r.Status, r.User, r.TokenName, line)
		}
		if r.Audit {
			d := r.Decision
			if d.Time.IsZero() {
				d.Time = e.at
			}
			if d.RequestID == "" {
				d.RequestID = string(AppendRequestID(l.scratch[:0], r.IDSeq, r.IDNano))
			}
			if d.Address == "" {
				d.Address = addr
			}
			if d.Path == "" {
				d.Path = r.Path
				if r.Masked {
					d.Path = MaskedToken + r.Path
				}
			}
			l.bufs[bufAudit] = appendAuditLine(l.bufs[bufAudit], d)
		}
	}
}

// appendRequestLine appends RequestLine of r's method, path and proto.
func appendRequestLine(b []byte, r *Request) []byte {
	b = append(b, r.Method...)
	b = append(b, ' ')
	if r.Masked {
		b = append(b, MaskedToken...)
	}
	b = append(b, r.Path...)
	b = append(b, ' ')
	return append(b, r.Proto...)
}
