package logs

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// small are limits a test can exhaust quickly: 3 lines per address, then
// one a second; 8 addresses; 20 lines of all together, then 10 a second;
// 4 summaries, then one every 10 s; a summary a minute.
var small = limits{
	Burst: 3, Every: time.Second,
	Addresses:   8,
	GlobalBurst: 20, GlobalEvery: 100 * time.Millisecond,
	SummaryBurst: 4, SummaryEvery: 10 * time.Second,
	Period: time.Minute,
	Sweep:  time.Second,
}

// limitRun drives a limiter on a clock of its own and keeps the score:
// what was sent, written one by one, and said in summaries.
type limitRun struct {
	t       *testing.T
	m       *limiter
	now     int64
	sent    [numClasses]int64
	written [numClasses]int64
	summed  [numClasses]int64
	lines   []summary // every summary, in order
}

func newLimitRun(t *testing.T, cfg limits) *limitRun {
	return &limitRun{t: t, m: &limiter{cfg: cfg}, now: fixed.UnixNano()}
}

// send sends n lines of class c from addr to whostmgrd.
func (r *limitRun) send(c Class, addr string, n int) (written int) {
	return r.sendTo(c, addr, "whostmgrd", n)
}

// sendTo is send to app.
func (r *limitRun) sendTo(c Class, addr, app string, n int) (written int) {
	a := netip.MustParseAddr(addr)
	for range n {
		r.sent[c]++
		if r.m.allow(c, a, app, r.now) {
			r.written[c]++
			written++
		}
	}
	return written
}

// advance moves the clock on by d, sweeping every second as the flush
// loop does.
func (r *limitRun) advance(d time.Duration) {
	for end := r.now + int64(d); r.now < end; {
		r.now = min(end, r.now+int64(time.Second))
		r.collect(r.m.sweep(r.now, false))
	}
}

func (r *limitRun) collect(due []summary) {
	for _, s := range due {
		for c := range numClasses {
			r.summed[c] += s.held.n[c]
		}
		r.lines = append(r.lines, s)
	}
}

// close sweeps as Close does and checks that every line sent was written
// or summed up, once.
func (r *limitRun) close() {
	r.t.Helper()
	r.collect(r.m.sweep(r.now, true))
	for c := range numClasses {
		if r.written[c]+r.summed[c] != r.sent[c] {
			r.t.Errorf("class %d: %d sent, %d written and %d summed up", c, r.sent[c], r.written[c], r.summed[c])
		}
	}
	if len(r.m.table) != 0 {
		// Close leaves nothing held, but the buckets may still be filling.
		for k, e := range r.m.table {
			if e.held.since != 0 {
				r.t.Errorf("%s still holds %v after the last sweep", k, e.held.n)
			}
		}
	}
}

// summaryOf is the summary naming addr ("" for other addresses), and how
// many there are.
func (r *limitRun) summaryOf(addr string) (s summary, n int) {
	for _, x := range r.lines {
		if x.addr == addr {
			s, n = x, n+1
		}
	}
	return s, n
}

func TestLimiter(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, r *limitRun)
	}{
		{"a burst, then one a second, then a summary a period later", func(t *testing.T, r *limitRun) {
			if n := r.send(Refusal, "192.0.2.1", 100); n != 3 {
				t.Errorf("%d of a burst of 100 written, want 3", n)
			}
			r.advance(time.Second)
			if n := r.send(Refusal, "192.0.2.1", 100); n != 1 {
				t.Errorf("%d written a second later, want 1", n)
			}
			r.advance(58 * time.Second)
			if len(r.lines) != 0 {
				t.Errorf("a summary before the period is over: %+v", r.lines)
			}
			r.advance(time.Second)
			s, n := r.summaryOf("192.0.2.1")
			if n != 1 || s.held.n[Refusal] != 196 || s.seconds() != 60 || appName(s.held.apps) != "whostmgrd" {
				t.Errorf("%d summaries, the last %+v (%d s), want one of 196 refusals in 60 s", n, s, s.seconds())
			}
		}},
		{"an address that is refused now and then writes every line", func(t *testing.T, r *limitRun) {
			for range 100 {
				if r.send(Refusal, "192.0.2.1", 1) != 1 {
					t.Fatal("a refusal a second was held back")
				}
				r.advance(time.Second)
			}
			if len(r.lines) != 0 {
				t.Errorf("summaries of nothing: %+v", r.lines)
			}
		}},
		{"each address has its own bucket", func(t *testing.T, r *limitRun) {
			for _, a := range []string{"192.0.2.1", "192.0.2.2", "2001:db8:0:1::1", "2001:db8:0:2::1"} {
				if n := r.send(Refusal, a, 10); n != 3 {
					t.Errorf("%s: %d written, want 3", a, n)
				}
			}
		}},
		{"an IPv6 /64 is one address", func(t *testing.T, r *limitRun) {
			written := 0
			for i := range 1000 {
				written += r.send(Refusal, fmt.Sprintf("2001:db8:0:1::%x", i+1), 1)
			}
			if written != 3 || len(r.m.table) != 1 {
				t.Errorf("%d written, %d addresses in the table; want 3 and one /64", written, len(r.m.table))
			}
			r.advance(time.Minute)
			if s, n := r.summaryOf("2001:db8:0:1::/64"); n != 1 || s.held.n[Refusal] != 997 {
				t.Errorf("summaries %+v", r.lines)
			}
		}},
		{"IPv4-mapped IPv6 is IPv4", func(t *testing.T, r *limitRun) {
			r.send(Refusal, "192.0.2.1", 3)
			if n := r.send(Refusal, "::ffff:192.0.2.1", 1); n != 0 {
				t.Error("::ffff:192.0.2.1 has a bucket of its own")
			}
		}},
		{"refusals and requests without credentials are summed up apart", func(t *testing.T, r *limitRun) {
			r.send(Refusal, "192.0.2.1", 5)
			r.send(NoCredentials, "192.0.2.1", 7)
			r.advance(time.Minute)
			// The first 3 lines of the address are refusals.
			if s, _ := r.summaryOf("192.0.2.1"); s.held.n != [numClasses]int64{2, 7} {
				t.Errorf("summary of %v, want 2 refusals and 7 without credentials", s.held.n)
			}
		}},
		{"one service is named, several are cpauth", func(t *testing.T, r *limitRun) {
			r.sendTo(Refusal, "192.0.2.1", "cpaneld", 5)
			r.sendTo(Refusal, "192.0.2.2", "cpaneld", 5)
			r.sendTo(Refusal, "192.0.2.2", "webmaild", 1)
			r.advance(time.Minute)
			if s, _ := r.summaryOf("192.0.2.1"); appName(s.held.apps) != "cpaneld" {
				t.Errorf("one service: %q", appName(s.held.apps))
			}
			if s, _ := r.summaryOf("192.0.2.2"); appName(s.held.apps) != "cpauth" {
				t.Errorf("two services: %q", appName(s.held.apps))
			}
		}},
		{"an address is forgotten once nothing is held and its bucket is full", func(t *testing.T, r *limitRun) {
			r.send(Refusal, "192.0.2.1", 5)
			r.send(Refusal, "192.0.2.2", 1)
			r.advance(59 * time.Second)
			if len(r.m.table) != 1 {
				t.Errorf("%d addresses in the table, want the one that holds refusals", len(r.m.table))
			}
			r.advance(time.Second)
			if len(r.m.table) != 0 {
				t.Errorf("%d addresses in the table after the summary", len(r.m.table))
			}
		}},
		{"a full table: new addresses share one bucket and the line of others", func(t *testing.T, r *limitRun) {
			for i := range 8 {
				r.send(Refusal, fmt.Sprintf("192.0.2.%d", i+1), 3)
			}
			// The table is full, every address in it holds lines, and
			// the global bucket is spent.
			written := 0
			for i := range 100 {
				written += r.send(Refusal, fmt.Sprintf("198.51.100.%d", i), 1)
			}
			if len(r.m.table) != 8 {
				t.Errorf("the table grew to %d", len(r.m.table))
			}
			if written > 3 {
				t.Errorf("%d written from 100 new addresses, want at most the shared burst of 3", written)
			}
			r.advance(time.Minute)
			if s, n := r.summaryOf(""); n != 1 || s.held.n[Refusal] < 97 {
				t.Errorf("the line of other addresses: %d, %+v", n, s)
			}
		}},
		{"the global bucket caps all addresses together", func(t *testing.T, r *limitRun) {
			written := 0
			for i := range 8 {
				written += r.send(Refusal, fmt.Sprintf("192.0.2.%d", i+1), 3)
			}
			if written != 20 {
				t.Errorf("%d written by 8 addresses' bursts of 3, want the global 20", written)
			}
		}},
		{"past the cap on summaries, one line sums up the rest", func(t *testing.T, r *limitRun) {
			for i := range 8 {
				r.send(Refusal, fmt.Sprintf("192.0.2.%d", i+1), 10)
			}
			// The line of other addresses is due a period after the
			// first summary it took in.
			r.advance(2 * time.Minute)
			perAddress := 0
			for _, s := range r.lines {
				if s.addr != "" {
					perAddress++
				}
			}
			rest, n := r.summaryOf("")
			if perAddress != 4 || n != 1 || rest.held.n[Refusal] == 0 {
				t.Errorf("%d summaries of one address (want 4) and %d of others (want 1): %+v", perAddress, n, r.lines)
			}
		}},
		{"close writes what is held, due or not", func(t *testing.T, r *limitRun) {
			r.send(Refusal, "192.0.2.1", 10)
			r.advance(20 * time.Second)
			r.collect(r.m.sweep(r.now, true))
			if s, n := r.summaryOf("192.0.2.1"); n != 1 || s.held.n[Refusal] != 7 || s.seconds() != 20 {
				t.Errorf("at close: %d summaries, %+v (%d s), want one of 7 in 20 s", n, s, s.seconds())
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newLimitRun(t, small)
			tc.run(t, r)
			r.close()
		})
	}
}

// Many addresses, many times the table's size: memory stays bounded, and
// so do the lines, which say every refusal once.
func TestLimiterManyAddresses(t *testing.T) {
	tests := []struct {
		name  string
		addr  func(i int) string
		table int // addresses in the table at most
	}{
		{"IPv4", func(i int) string { return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String() }, small.Addresses},
		{"IPv6, one /64 each", func(i int) string { return fmt.Sprintf("2001:db8:%x:%x::1", i>>16, i&0xffff) }, small.Addresses},
		{"IPv6, one /64", func(i int) string { return fmt.Sprintf("2001:db8::%x:%x", i>>16, i&0xffff) }, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newLimitRun(t, small)
			const minutes, perSecond = 5, 200
			written := 0
			for s := range minutes * 60 {
				for i := range perSecond {
					written += r.send(Refusal, tc.addr(s*perSecond+i), 1)
					if len(r.m.table) > tc.table {
						t.Fatalf("%d addresses in the table", len(r.m.table))
					}
				}
				r.advance(time.Second)
			}
			// The global bucket: its burst, then 10 a second. The
			// summaries: their burst, then one every 10 s, and one line
			// of other addresses a minute.
			if max := small.GlobalBurst + minutes*60*10; written > max {
				t.Errorf("%d lines written one by one, want at most %d", written, max)
			}
			if max := small.SummaryBurst + minutes*6 + minutes + 2; len(r.lines) > max {
				t.Errorf("%d summaries, want at most %d", len(r.lines), max)
			}
			r.close()
		})
	}
}

// A flood through the log files themselves, which rotate at 64 KiB: the
// failures before the block, the block and the first refusals stay in the
// current files, and the summary says how many refusals it stands for.
func TestFloodKeepsWhatMatters(t *testing.T) {
	now := fixed
	l := newLogs(filepath.Join(t.TempDir(), "logs"), Options{MaxSize: 64 << 10, Keep: 1, Now: func() time.Time { return now }})
	defer l.Close()
	addr := netip.MustParseAddr("192.0.2.1")
	line := RequestLine("GET", "/json-api/version", "HTTP/1.1")
	decide := func(result, reason string) {
		d := Decision{Service: "whostmgrd", Port: 2087, TLS: true, User: "root", Result: result, Reason: ReasonCode(result, reason), Detail: reason}
		if result == "blocked" && !l.Limit(Refusal, addr, "whostmgrd") {
			l.Request(&Request{Time: now, Address: addr, App: "whostmgrd", Method: "GET", Path: "/json-api/version", Proto: "HTTP/1.1", Status: 403, Port: 2087})
			return
		}
		l.Login(Login{App: "whostmgrd", Address: addr.String(), User: "root", Request: line, Status: "FAILED LOGIN", Reason: reason})
		l.Request(&Request{Time: now, Address: addr, App: "whostmgrd", Method: "GET", Path: "/json-api/version", Proto: "HTTP/1.1", Status: 403, Port: 2087,
			Audit: true, Decision: d})
	}
	for range 5 {
		decide("failure", "user password incorrect")
	}
	l.CPHulk(Block{Reason: "IP reached maximum auth failures", App: "whostmgrd", Address: addr.String(), User: "root", Failures: 5, Max: 5, Until: now.Add(15 * time.Minute)})
	// Five minutes of 500 refusals a second: 80 MB of login_log and
	// audit lines had each been written.
	const seconds, perSecond = 300, 500
	for range seconds {
		for range perSecond {
			decide("blocked", "address blocked by cPHulk until 2026-11-29T12:15:00Z")
		}
		now = now.Add(time.Second)
		l.Flush()
	}
	l.Close()

	for _, name := range []string{LoginLog, AuditLog, CPHulkLog} {
		if _, err := os.Stat(filepath.Join(l.Dir(), name+".1")); err == nil {
			t.Errorf("%s was rotated", name)
		}
	}
	login := CheckFile(t, filepath.Join(l.Dir(), LoginLog))
	for i := range 5 {
		if !strings.HasSuffix(login[i], "FAILED LOGIN whostmgrd: user password incorrect") {
			t.Errorf("login_log line %d: %s, want failure %d", i+1, login[i], i+1)
		}
	}
	summary := regexp.MustCompile(`^\[[^]]+\] info \[whostmgrd\] 192\.0\.2\.1 - - "-" SUPPRESSED whostmgrd: (\d+) further refusals from 192\.0\.2\.1 suppressed in the last (\d+) s$`)
	refusals, summed, summaries := 0, 0, 0
	for _, line := range login[5:] {
		if strings.HasSuffix(line, "FAILED LOGIN whostmgrd: address blocked by cPHulk until 2026-11-29T12:15:00Z") {
			refusals++
			continue
		}
		m := summary.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("login_log: %s", line)
		}
		n, _ := strconv.Atoi(m[1])
		if m[2] != "60" && m[2] != "61" {
			t.Errorf("a summary of %s s", m[2])
		}
		summed += n
		summaries++
	}
	// 10 at once, then one every 6 s; a summary a minute.
	if want := 10 + (seconds-1)/6; refusals != want || summaries != seconds/60 || refusals+summed != seconds*perSecond {
		t.Errorf("login_log: %d refusals one by one (want %d), %d summaries (want %d) of %d (want %d)",
			refusals, want, summaries, seconds/60, summed, seconds*perSecond-refusals)
	}
	audited, summedAudit := 0, int64(0)
	for _, line := range CheckFile(t, filepath.Join(l.Dir(), AuditLog)) {
		var d Decision
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatal(err)
		}
		if d.Reason == "suppressed" {
			if d.Result != "blocked" || d.Address != "192.0.2.1" || d.Service != "whostmgrd" {
				t.Errorf("audit summary %s", line)
			}
			summedAudit += d.Suppressed
		} else {
			audited++
		}
	}
	if audited != 5+refusals || summedAudit != int64(summed) {
		t.Errorf("audit stream: %d decisions (want %d), %d summed up (want %d)", audited, 5+refusals, summedAudit, summed)
	}
	if hulk := CheckFile(t, filepath.Join(l.Dir(), CPHulkLog)); len(hulk) != 1 {
		t.Errorf("cphulkd.log: %q", hulk)
	}
}

// Requests on several goroutines, the flush loop writing summaries
// meanwhile: every refusal is written or summed up, once.
func TestLimitConcurrent(t *testing.T) {
	var clock atomic.Int64
	clock.Store(fixed.UnixNano())
	l := open(t, Options{Now: func() time.Time { return time.Unix(0, clock.Load()) }, FlushEvery: time.Millisecond})
	const goroutines, each = 4, 5000
	var written atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				addr := netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 50)})
				c := Class(g % 2)
				if l.Limit(c, addr, "whostmgrd") {
					written.Add(1)
				}
				if i%100 == 0 {
					clock.Add(int64(time.Second))
				}
			}
		})
	}
	wg.Wait()
	l.Close()
	summed := int64(0)
	for _, line := range CheckFile(t, filepath.Join(l.Dir(), AuditLog)) {
		var d Decision
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatal(err)
		}
		summed += d.Suppressed
	}
	if written.Load()+summed != goroutines*each {
		t.Errorf("%d written and %d summed up, want %d in all", written.Load(), summed, goroutines*each)
	}
	st := l.Stats()
	if held := int64(st.Held[Refusal] + st.Held[NoCredentials]); held != summed || st.Held[Refusal] == 0 || st.Held[NoCredentials] == 0 {
		t.Errorf("Stats().Held = %v, want both classes, %d in all", st.Held, summed)
	}
}
