package logs

import (
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// A client that is refused again and again (an address the brute-force
// regulator has blocked, hammering on) would write a login_log line and an
// audit line per request: 400,000 refusals in 17 s pass any size limit,
// and rotation then deletes what was written before the flood, the
// failures that led to the block among it. Refusals cost the client
// nothing and tell nothing new after the first few, so their lines go
// through a limiter: per address, a token bucket lets a burst through and
// then one line every few seconds, and what it holds back is counted and
// said in one summary line per address and period. Requests that present
// no credential at all (which the regulator never counts, so never blocks)
// are limited alike.
//
// Memory and output stay bounded whatever the number of addresses: the
// table of addresses has a fixed size (an address with nothing held back
// and a full bucket is forgotten), addresses it cannot hold share one
// bucket; a global bucket caps the lines of all addresses together; and
// past a cap on summaries, what an address held back joins the one line
// that sums up other addresses. Past every cap the limiter summarises
// more coarsely; it never writes everything. Failures are not limited:
// each is a credential actually checked, and the regulator bounds them per
// address.

// Class is a kind of line the limiter may hold back.
type Class uint8

const (
	// Refusal is a request the brute-force regulator refused (the audit
	// stream's result "blocked"): a login_log line and an audit line.
	Refusal Class = iota
	// NoCredentials is a request that presented no credential (the audit
	// stream's reason "no_credentials"): an audit line.
	NoCredentials
	numClasses
)

// limits are the limiter's settings; defaultLimits are the daemon's.
type limits struct {
	Burst int           // lines an address may write at once
	Every time.Duration // and then one line every
	// Addresses is how many addresses the table holds.
	Addresses int
	// GlobalBurst and GlobalEvery are the bucket of every address's lines
	// together.
	GlobalBurst int
	GlobalEvery time.Duration
	// SummaryBurst and SummaryEvery are the bucket of per-address summary
	// lines.
	SummaryBurst int
	SummaryEvery time.Duration
	// Period is how long a summary covers: what an address held back is
	// said once this long after the first of it was held back.
	Period time.Duration
	// Sweep is how often the flush loop looks for summaries that are due.
	Sweep time.Duration
}

// defaultLimits: 10 lines per address, then one every 6 s; 4,096
// addresses (a few hundred kB); all addresses together 300 lines, then 5 a
// second; 60 per-address summaries, then one a second; a summary a minute.
// Past its first minute a flood, whatever its size and however many
// addresses send it, writes at most some 360 lines a minute to login_log
// (300 lines, 60 summaries and the line of other addresses) and 420 to the
// audit stream (a summary per class).
var defaultLimits = limits{
	Burst: 10, Every: 6 * time.Second,
	Addresses:   4096,
	GlobalBurst: 300, GlobalEvery: 200 * time.Millisecond,
	SummaryBurst: 60, SummaryEvery: time.Second,
	Period: time.Minute,
	Sweep:  time.Second,
}

// bucket is a token bucket kept as one time (GCRA): the time, in Unix
// nanoseconds, at which it will be full again. A line may pass when that
// time is less than burst-1 intervals ahead; each line moves it one
// interval on.
type bucket int64

func (b bucket) can(now int64, every time.Duration, burst int) bool {
	return max(int64(b), now)-now <= int64(burst-1)*int64(every)
}

func (b *bucket) take(now int64, every time.Duration) {
	*b = bucket(max(int64(*b), now) + int64(every))
}

// full reports whether the bucket has refilled: an address in that state
// is one the limiter may forget.
func (b bucket) full(now int64) bool { return int64(b) <= now }

// held is what was held back, for one summary.
type held struct {
	n     [numClasses]int64
	since int64 // when the first of it was held back (Unix ns); 0: nothing held
	apps  uint8 // appBit of each service it was sent to
}

func (h *held) add(c Class, app uint8, now int64) {
	if h.since == 0 {
		h.since = now
	}
	h.n[c]++
	h.apps |= app
}

func (h *held) merge(o held) {
	for c := range h.n {
		h.n[c] += o.n[c]
	}
	if h.since == 0 || o.since < h.since {
		h.since = o.since
	}
	h.apps |= o.apps
}

// appBit is a service's bit of held.apps.
func appBit(app string) uint8 {
	switch app {
	case "cpaneld":
		return 1
	case "whostmgrd":
		return 2
	case "webmaild":
		return 4
	}
	return 8
}

// appName is the service a summary line names: the one its lines were
// sent to, or cpauth itself when there were several.
func appName(apps uint8) string {
	switch apps {
	case 1:
		return "cpaneld"
	case 2:
		return "whostmgrd"
	case 4:
		return "webmaild"
	}
	return "cpauth"
}

type limitEntry struct {
	b    bucket
	held held
}

// limiter decides which refusals are written one by one and sums up the
// rest (see the comment at the top of this file).
type limiter struct {
	cfg limits

	mu    sync.Mutex
	table map[netip.Addr]limitEntry
	// global is every line's bucket; overflow the bucket shared by the
	// addresses the table has no room for; summaries the bucket of
	// per-address summary lines.
	global, overflow, summaries bucket
	// rest is what is summed up in the line of other addresses: the
	// overflow's and the summaries the cap held back, since restOpened.
	rest       held
	restOpened int64
	nextSweep  int64
	due        []summary // sweep's answer, reused
}

// limitKey is what the limiter counts by: an IPv4 address, an IPv6
// address's /64 (as the regulator counts: a client usually holds a whole
// /64).
func limitKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// keyText is how summary lines name an address.
func keyText(k netip.Addr) string {
	switch {
	case !k.IsValid():
		return "-"
	case k.Is6():
		return k.String() + "/64"
	}
	return k.String()
}

// allow reports whether a line of class c from addr, sent to app, is
// written; when not, it is counted for a summary.
func (m *limiter) allow(c Class, addr netip.Addr, app string, now int64) bool {
	k, bit := limitKey(addr), appBit(app)
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.table[k]
	if !ok && len(m.table) >= m.cfg.Addresses {
		// No room: the addresses the table cannot hold share one bucket
		// and the line of other addresses.
		if m.pass(&m.overflow, now) {
			return true
		}
		m.openRest(now)
		m.rest.add(c, bit, now)
		return false
	}
	if m.table == nil {
		m.table = make(map[netip.Addr]limitEntry)
	}
	pass := m.pass(&e.b, now)
	if !pass {
		e.held.add(c, bit, now)
	}
	m.table[k] = e
	return pass
}

// pass takes a line from b and from the global bucket, when both have one.
func (m *limiter) pass(b *bucket, now int64) bool {
	if !b.can(now, m.cfg.Every, m.cfg.Burst) || !m.global.can(now, m.cfg.GlobalEvery, m.cfg.GlobalBurst) {
		return false
	}
	b.take(now, m.cfg.Every)
	m.global.take(now, m.cfg.GlobalEvery)
	return true
}

// openRest starts the period of the line of other addresses, unless one
// runs.
func (m *limiter) openRest(now int64) {
	if m.rest.since == 0 {
		m.restOpened = now
	}
}

// summary is what one summary line says.
type summary struct {
	addr string // keyText; "" for the line of other addresses
	held held
	at   int64 // when it is written
}

// seconds is the time the summary covers, in whole seconds (at least 1).
func (s *summary) seconds() int64 {
	return max(1, (s.at-s.held.since+int64(time.Second)-1)/int64(time.Second))
}

// sweep returns the summaries due at now (every one when final), and
// forgets the addresses with nothing held back and a full bucket. It does
// its work once per cfg.Sweep; the slice is valid until the next sweep.
func (m *limiter) sweep(now int64, final bool) []summary {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !final && now < m.nextSweep {
		return nil
	}
	m.nextSweep = now + int64(m.cfg.Sweep)
	m.due = m.due[:0]
	period := int64(m.cfg.Period)
	// The line of other addresses first: what this sweep adds to it
	// below starts its next period, so that it is written at most once a
	// period.
	if m.rest.since != 0 && (final || now-m.restOpened >= period) {
		m.due = append(m.due, summary{held: m.rest, at: now})
		m.rest = held{}
	}
	for k, e := range m.table {
		if e.held.since != 0 && (final || now-e.held.since >= period) {
			if m.summaries.can(now, m.cfg.SummaryEvery, m.cfg.SummaryBurst) {
				m.summaries.take(now, m.cfg.SummaryEvery)
				m.due = append(m.due, summary{addr: keyText(k), held: e.held, at: now})
			} else {
				m.openRest(now)
				m.rest.merge(e.held)
			}
			e.held = held{}
		}
		if e.held.since == 0 && e.b.full(now) {
			delete(m.table, k)
			continue
		}
		m.table[k] = e
	}
	if final && m.rest.since != 0 {
		m.due = append(m.due, summary{held: m.rest, at: now})
		m.rest = held{}
	}
	return m.due
}

// Limit reports whether the lines of one request of class c from addr,
// sent to app (cpaneld, whostmgrd, webmaild), are to be written; when not,
// the request is counted into a summary line instead, which the flush loop
// writes to login_log (refusals) and the audit stream once the period is
// over (and Close at once). It allocates nothing, save when the table of
// addresses grows.
func (l *Logs) Limit(c Class, addr netip.Addr, app string) bool {
	if l == nil {
		return true
	}
	if l.lim.allow(c, addr, app, l.now().UnixNano()) {
		return true
	}
	if int(c) < len(l.held) {
		l.held[c].Add(1)
	}
	return false
}

// appendSummaryLogin appends the login_log line of s's refusals:
// [2026-11-29 12:01:00 +0000] info [whostmgrd] 192.0.2.1 - - "-" SUPPRESSED whostmgrd: 12345 further refusals from 192.0.2.1 suppressed in the last 60 s
func appendSummaryLogin(b []byte, s *summary) []byte {
	app, addr := appName(s.held.apps), s.addr
	if addr == "" {
		addr = "-"
	}
	b = append(b, '[')
	b = appendCPanelTime(b, time.Unix(0, s.at))
	b = append(b, "] info ["...)
	b = append(b, app...)
	b = append(b, "] "...)
	b = append(b, addr...)
	b = append(b, ` - - "-" SUPPRESSED `...)
	b = append(b, app...)
	b = append(b, ": "...)
	b = appendSummaryText(b, s, Refusal)
	return append(b, '\n')
}

// appendSummaryText appends a summary's words for class c.
func appendSummaryText(b []byte, s *summary, c Class) []byte {
	b = strconv.AppendInt(b, s.held.n[c], 10)
	if c == Refusal {
		b = append(b, " further refusals from "...)
	} else {
		b = append(b, " further requests without credentials from "...)
	}
	if s.addr == "" {
		b = append(b, "other addresses"...)
	} else {
		b = append(b, s.addr...)
	}
	b = append(b, " suppressed in the last "...)
	b = strconv.AppendInt(b, s.seconds(), 10)
	return append(b, " s"...)
}

// appendSummaryAudit appends the audit lines of s: one per class held
// back, with reason "suppressed" and the count in "suppressed".
func appendSummaryAudit(b []byte, s *summary) []byte {
	for c := range numClasses {
		if s.held.n[c] == 0 {
			continue
		}
		d := Decision{Time: time.Unix(0, s.at), Service: appName(s.held.apps), Address: s.addr,
			Result: "blocked", Reason: "suppressed", Suppressed: s.held.n[c], PeriodSeconds: s.seconds()}
		if c == NoCredentials {
			d.Result = "failure"
		}
		d.Detail = string(appendSummaryText(nil, s, c))
		b = appendAuditLine(b, d)
	}
	return b
}
