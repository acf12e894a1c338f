// Command load is a small HTTP load generator for cpauth on the loopback
// interface: it sends the same request from -c keep-alive connections for
// -d (or until -n requests) and prints requests per second, latency
// percentiles and the error count. It refuses any target that is not a
// loopback address, so it cannot be pointed at someone else's server.
//
//	go run ./bench/load -url 'http://127.0.0.1:22086/json-api/version?api.version=1' -user root -pass-file data/initial-root-password
//
// With -baseline it first fetches -url once (with the same credentials),
// then serves that response's body from a built-in loopback server and loads
// the built-in server instead: the same round trip and bytes without cpauth,
// so a ratio against it compares like with like.
//
// With -flood-addrs it sends, beside the load and for as long as it runs,
// wrong passwords from many loopback source addresses (as bench/guess
// does): what a guess flood leaves of the load's throughput and latency.
package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// headerFlags collects repeated -header "Name: value" flags.
type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

// maxDuration keeps a forgotten run from loading the machine for long.
const maxDuration = 10 * time.Minute

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("url", "", "URL to request (loopback hosts only: 127.0.0.0/8, ::1, localhost)")
	user := fs.String("user", "root", "user name for -pass, -pass-file or -accesshash-file")
	pass := fs.String("pass", "", "password: sends Authorization: Basic")
	passFile := fs.String("pass-file", "", "file holding the password (first line)")
	ahFile := fs.String("accesshash-file", "", "access hash file: sends Authorization: whm USER:HASH")
	var headers headerFlags
	fs.Var(&headers, "header", `extra request header "Name: value" (repeatable)`)
	method := fs.String("method", http.MethodGet, "HTTP method")
	conc := fs.Int("c", 4, "concurrent connections")
	dur := fs.Duration("d", 10*time.Second, "how long to run (at most "+maxDuration.String()+")")
	maxN := fs.Int64("n", 0, "stop after this many requests (0: only -d bounds the run)")
	expect := fs.Int("expect", http.StatusOK, "status that counts as success")
	insecure := fs.Bool("k", false, "accept any TLS certificate (cpauth's self-signed one)")
	baseline := fs.Bool("baseline", false, "serve -url's response from a built-in loopback server and load that instead")
	label := fs.String("label", "", "name printed on the RESULT line")
	serveAt := fs.String("serve-baseline", "", "fetch -url once, then only serve its response on this loopback address (host:port) until interrupted: a baseline in a process of its own")
	floodAddrs := fs.Int("flood-addrs", 0, "while loading, send wrong passwords (HTTP Basic) for -flood-user to -flood-url from this many loopback source addresses 127.1.x.y (Linux routes them to 127.0.0.1): a guess flood beside the load (0: none)")
	floodC := fs.Int("flood-c", 32, "flood: addresses guessing at a time, one connection each")
	floodPer := fs.Int("flood-per", 10, "flood: guesses per connection before its address's turn ends")
	floodUser := fs.String("flood-user", "root", "flood: the user name guessed for")
	floodURL := fs.String("flood-url", "", "flood: the URL guessed at (default -url)")
	floodWarmup := fs.Duration("flood-warmup", time.Second, "flood: how long it runs before the load starts (without -flood-phase)")
	floodPhase := fs.Duration("flood-phase", 0, "flood: turn the flood on and off every this long (off first) and report the load alone and beside the flood from the same run, so that a change of the machine's load weighs on both alike (0: the flood runs throughout)")
	floodSettle := fs.Duration("flood-settle", 500*time.Millisecond, "flood: with -flood-phase, what is left out of the count at the start of each phase while the daemon's queue fills or drains")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "load: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() != 0 {
		return fail("unexpected arguments: %q", fs.Args())
	}
	if *target == "" {
		return fail("-url is required")
	}
	if *conc < 1 || *conc > 1024 {
		return fail("-c must be between 1 and 1024")
	}
	if *dur <= 0 || *dur > maxDuration {
		return fail("-d must be positive and at most %s", maxDuration)
	}
	if *maxN < 0 {
		return fail("-n must not be negative")
	}
	u, err := url.Parse(*target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fail("-url must be an http:// or https:// URL")
	}
	if err := checkLoopbackHost(u.Hostname()); err != nil {
		return fail("%v", err)
	}
	fc := floodConfig{url: *floodURL, user: *floodUser, addrs: *floodAddrs, conc: *floodC, per: *floodPer, warmup: *floodWarmup}
	if fc.addrs != 0 {
		if fc.url == "" {
			fc.url = *target
		}
		fu, err := url.Parse(fc.url)
		if err != nil || fu.Scheme != "http" {
			return fail("-flood-url must be an http:// URL")
		}
		// The source addresses are 127.1.x.y: only a listener on an IPv4
		// loopback address gets them.
		if ip := net.ParseIP(fu.Hostname()); ip == nil || ip.To4() == nil || !ip.IsLoopback() {
			return fail("-flood-url must name an IPv4 loopback address")
		}
		if fc.addrs < 1 || fc.addrs > 62500 || fc.conc < 1 || fc.conc > 4096 || fc.per < 1 || fc.warmup < 0 || fc.warmup > time.Minute {
			return fail("bad -flood-addrs (1-62500), -flood-c (1-4096), -flood-per or -flood-warmup (at most 1m)")
		}
		if *baseline || *serveAt != "" {
			return fail("-flood-addrs excludes -baseline and -serve-baseline")
		}
		if *floodPhase < 0 || *floodPhase > 0 && (*floodSettle < 0 || *floodSettle >= *floodPhase || 2**floodPhase > *dur) {
			return fail("-flood-phase must leave room for -flood-settle, and -d for an off and an on phase")
		}
	}

	hdr := http.Header{}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return fail("-header %q is not \"Name: value\"", h)
		}
		hdr.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	creds := 0
	for _, s := range []string{*pass, *passFile, *ahFile} {
		if s != "" {
			creds++
		}
	}
	if creds > 1 {
		return fail("-pass, -pass-file and -accesshash-file exclude each other")
	}
	switch {
	case *passFile != "":
		b, err := os.ReadFile(*passFile)
		if err != nil {
			return fail("%v", err)
		}
		p, _, _ := strings.Cut(string(b), "\n")
		*pass = strings.TrimRight(p, "\r")
	case *ahFile != "":
		b, err := os.ReadFile(*ahFile)
		if err != nil {
			return fail("%v", err)
		}
		hash := strings.Join(strings.Fields(string(b)), "")
		if hash == "" {
			return fail("%s is empty", *ahFile)
		}
		hdr.Set("Authorization", "whm "+*user+":"+hash)
	}
	if *pass != "" {
		hdr.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(*user+":"+*pass)))
	}

	client := newClient(*conc, *insecure)
	if *serveAt != "" {
		host, _, err := net.SplitHostPort(*serveAt)
		if err != nil {
			return fail("-serve-baseline: %v", err)
		}
		if err := checkLoopbackHost(host); err != nil {
			return fail("-serve-baseline: %v", err)
		}
		body, ctype, err := fetchOnce(client, *method, u.String(), hdr, *expect)
		if err != nil {
			return fail("baseline: fetching %s: %v", u, err)
		}
		srv, addr, err := serveBaseline(*serveAt, body, ctype)
		if err != nil {
			return fail("baseline: %v", err)
		}
		fmt.Fprintf(stderr, "load: baseline: serving %d bytes on %s until interrupted\n", len(body), addr)
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		srv.Close()
		return 0
	}
	if *baseline {
		body, ctype, err := fetchOnce(client, *method, u.String(), hdr, *expect)
		if err != nil {
			return fail("baseline: fetching %s: %v", u, err)
		}
		srv, addr, err := serveBaseline("127.0.0.1:0", body, ctype)
		if err != nil {
			return fail("baseline: %v", err)
		}
		defer srv.Close()
		u.Scheme, u.Host = "http", addr
		hdr.Del("Authorization")
		*expect = http.StatusOK
		client = newClient(*conc, false)
		fmt.Fprintf(stderr, "load: baseline: serving %d bytes from %s\n", len(body), addr)
	}

	var floodRes *floodResult
	var phases *phaseClock
	stopFlood := func() {}
	if fc.addrs != 0 {
		var on func() bool
		if *floodPhase > 0 {
			phases = &phaseClock{start: time.Now(), phase: *floodPhase, settle: *floodSettle}
			on = func() bool { return phases.class(time.Now()) == 1 }
		}
		fctx, cancel := context.WithCancel(context.Background())
		done := make(chan *floodResult)
		go func() { done <- flood(fctx, fc, on) }()
		stopFlood = func() { cancel(); floodRes = <-done }
		if phases == nil {
			time.Sleep(fc.warmup)
		}
	}
	res := load(client, *method, u.String(), hdr, *expect, *conc, *dur, *maxN, phases)
	stopFlood()
	name := *label
	if name == "" {
		name = u.String()
	}
	res.print(stdout, name, *conc)
	if floodRes != nil {
		floodRes.print(stdout, fc)
	}
	if phases != nil {
		res.printPhases(stdout, name, phases)
	}
	if res.ok == 0 {
		return 1
	}
	return 0
}

// checkLoopbackHost refuses hosts that are not loopback literals or
// "localhost". The dialer checks again what it actually connects to.
func checkLoopbackHost(host string) error {
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing %q: only loopback targets (127.0.0.0/8, ::1, localhost) may be loaded", host)
	}
	return nil
}

// errNotLoopback stops a connection to anything but the loopback interface,
// whatever a name resolved to.
var errNotLoopback = errors.New("refusing to connect to a non-loopback address")

// loopbackOnly is a dialer's Control that refuses any address but a
// loopback one: the load never leaves the machine.
func loopbackOnly(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: %s", errNotLoopback, address)
	}
	return nil
}

func newClient(conc int, insecure bool) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: loopbackOnly}
	tr := &http.Transport{
		Proxy:               nil, // never a proxy: it would not be loopback
		DialContext:         dialer.DialContext,
		MaxIdleConns:        conc,
		MaxIdleConnsPerHost: conc,
		MaxConnsPerHost:     conc,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	if insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	return &http.Client{
		Transport: tr,
		Timeout:   30 * time.Second,
		// A redirect (requiressl's 301, say) is an answer, not a new target.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func fetchOnce(c *http.Client, method, target string, hdr http.Header, expect int) ([]byte, string, error) {
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header = hdr.Clone()
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != expect {
		return nil, "", fmt.Errorf("status %d, want %d", resp.StatusCode, expect)
	}
	return body, resp.Header.Get("Content-Type"), nil
}

// serveBaseline serves body for every request on addr (port 0: a free one), with
// the headers cpauth's JSON envelopes carry.
func serveBaseline(addr string, body []byte, ctype string) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if ctype != "" {
				w.Header().Set("Content-Type", ctype)
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
			w.Write(body)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
	}
	go srv.Serve(ln)
	return srv, ln.Addr().String(), nil
}

// result is what one run measured.
type result struct {
	ok, errs int64
	elapsed  time.Duration
	hist     histogram
	firstErr string
	// byPhase splits the requests by -flood-phase: [0] while the flood
	// was off, [1] while it was on; those that began in a phase's settling
	// time are left out.
	byPhase [2]phaseStats
}

type phaseStats struct {
	ok   int64
	hist histogram
}

// phaseClock tells the flood's off phases (class 0) from its on phases
// (class 1), the first one off.
type phaseClock struct {
	start         time.Time
	phase, settle time.Duration
}

func (p *phaseClock) class(t time.Time) int {
	return int(t.Sub(p.start)/p.phase) % 2
}

// counted reports whether a request that began at t is counted in its
// phase: not in the phase's settling time.
func (p *phaseClock) counted(t time.Time) bool {
	return t.Sub(p.start)%p.phase >= p.settle
}

// seconds is the counted time of each class within the first d.
func (p *phaseClock) seconds(d time.Duration) (out [2]float64) {
	for k := 0; time.Duration(k)*p.phase < d; k++ {
		from, to := time.Duration(k)*p.phase+p.settle, min(time.Duration(k+1)*p.phase, d)
		if to > from {
			out[k%2] += (to - from).Seconds()
		}
	}
	return out
}

func load(c *http.Client, method, target string, hdr http.Header, expect, conc int, dur time.Duration, maxN int64, phases *phaseClock) *result {
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var (
		issued   atomic.Int64
		mu       sync.Mutex
		wg       sync.WaitGroup
		total    = &result{}
		firstErr atomic.Value
	)
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var h histogram
			var ok, errs int64
			var byPhase [2]phaseStats
			for ctx.Err() == nil {
				if maxN > 0 && issued.Add(1) > maxN {
					break
				}
				req, err := http.NewRequestWithContext(ctx, method, target, nil)
				if err != nil {
					panic(err) // the URL was validated
				}
				req.Header = hdr.Clone()
				t0 := time.Now()
				resp, err := c.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != expect {
						err = fmt.Errorf("status %d, want %d", resp.StatusCode, expect)
					}
				}
				if err != nil {
					if ctx.Err() != nil {
						break // cut off by -d: neither success nor error
					}
					errs++
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				took := time.Since(t0)
				h.add(took)
				ok++
				if phases != nil && phases.counted(t0) {
					ps := &byPhase[phases.class(t0)]
					ps.hist.add(took)
					ps.ok++
				}
			}
			mu.Lock()
			total.ok += ok
			total.errs += errs
			total.hist.merge(&h)
			for i := range byPhase {
				total.byPhase[i].ok += byPhase[i].ok
				total.byPhase[i].hist.merge(&byPhase[i].hist)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	total.elapsed = time.Since(start)
	if v := firstErr.Load(); v != nil {
		total.firstErr = v.(string)
	}
	return total
}

func (r *result) print(w io.Writer, name string, conc int) {
	rps := float64(r.ok) / r.elapsed.Seconds()
	p50, p90, p99 := r.hist.quantile(0.50), r.hist.quantile(0.90), r.hist.quantile(0.99)
	fmt.Fprintf(w, "target:     %s\n", name)
	fmt.Fprintf(w, "requests:   %d ok, %d errors in %.2fs with %d connections\n", r.ok, r.errs, r.elapsed.Seconds(), conc)
	fmt.Fprintf(w, "rate:       %.1f requests/s\n", rps)
	fmt.Fprintf(w, "latency:    p50 %s  p90 %s  p99 %s\n", fmtDur(p50), fmtDur(p90), fmtDur(p99))
	if r.firstErr != "" {
		fmt.Fprintf(w, "first error: %s\n", r.firstErr)
	}
	// One machine-readable line for scripts (bench/run.sh).
	fmt.Fprintf(w, "RESULT label=%s rps=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f ok=%d errors=%d\n",
		strings.ReplaceAll(name, " ", "_"), rps, us(p50), us(p90), us(p99), r.ok, r.errs)
}

// printPhases reports the load while the flood was off against while it
// was on, from the same run.
func (r *result) printPhases(w io.Writer, name string, p *phaseClock) {
	secs := p.seconds(r.elapsed)
	var rps [2]float64
	for i := range rps {
		if secs[i] > 0 {
			rps[i] = float64(r.byPhase[i].ok) / secs[i]
		}
	}
	ratio := 0.0
	if rps[0] > 0 {
		ratio = rps[1] / rps[0]
	}
	p99 := [2]time.Duration{r.byPhase[0].hist.quantile(0.99), r.byPhase[1].hist.quantile(0.99)}
	fmt.Fprintf(w, "phases:     flood off %.1f requests/s (p99 %s), flood on %.1f requests/s (p99 %s): %.2f of the rate without it (%s phases, the first %s of each not counted)\n",
		rps[0], fmtDur(p99[0]), rps[1], fmtDur(p99[1]), ratio, p.phase, p.settle)
	fmt.Fprintf(w, "PHASES label=%s alone_rps=%.1f flood_rps=%.1f ratio=%.3f alone_p50_us=%.1f flood_p50_us=%.1f alone_p99_us=%.1f flood_p99_us=%.1f\n",
		strings.ReplaceAll(name, " ", "_"), rps[0], rps[1], ratio,
		us(r.byPhase[0].hist.quantile(0.50)), us(r.byPhase[1].hist.quantile(0.50)), us(p99[0]), us(p99[1]))
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.1fµs", us(d))
	}
}

// histogram counts latencies in logarithmic buckets 1% wide, so memory stays
// fixed however long the run and quantiles are within 1%.
type histogram struct {
	counts [histBuckets]int64
	n      int64
}

const (
	histGrowth  = 1.01
	histBuckets = 2800 // 1.01^2800 ns is far beyond any timeout
)

var logGrowth = math.Log(histGrowth)

func (h *histogram) add(d time.Duration) {
	i := 0
	if d > 1 {
		i = int(math.Log(float64(d)) / logGrowth)
	}
	i = min(max(i, 0), histBuckets-1)
	h.counts[i]++
	h.n++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the upper bound of the bucket holding the q-th latency.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(math.Pow(histGrowth, float64(i+1)))
		}
	}
	return time.Duration(math.Pow(histGrowth, histBuckets))
}
