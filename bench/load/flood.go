package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// floodConfig is a guess flood run beside the load (-flood-addrs): wrong
// passwords by HTTP Basic for one user, from many loopback source
// addresses, as bench/guess sends them, for as long as the load runs.
type floodConfig struct {
	url    string
	user   string
	addrs  int // source addresses 127.1.x.y, used in turn
	conc   int // addresses at a time, one connection each
	per    int // guesses per connection before the next address
	warmup time.Duration
}

// floodResult counts how the guesses were answered.
type floodResult struct {
	mu       sync.Mutex
	statuses map[int]int64
	errs     int64
	hist     histogram
	elapsed  time.Duration
}

// floodAddr is the i-th source address: 127.1.0.1 onwards, which Linux
// routes to a listener on 127.0.0.1.
func floodAddr(i int) net.IP {
	return net.IPv4(127, 1, byte(i/250), byte(i%250+1))
}

// flood sends guesses until ctx ends, while on reports true (nil: always).
func flood(ctx context.Context, fc floodConfig, on func() bool) *floodResult {
	res := &floodResult{statuses: map[int]int64{}}
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range fc.conc {
		wg.Go(func() {
			statuses := map[int]int64{}
			var errs int64
			var h histogram
			for ctx.Err() == nil {
				i := int(next.Add(1)-1) % fc.addrs
				d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: floodAddr(i)}, Timeout: 5 * time.Second, Control: loopbackOnly}
				tr := &http.Transport{DialContext: d.DialContext, Proxy: nil, MaxIdleConnsPerHost: 1, DisableCompression: true}
				c := &http.Client{Transport: tr, Timeout: 30 * time.Second,
					CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				for g := 0; g < fc.per && ctx.Err() == nil; g++ {
					for on != nil && !on() && ctx.Err() == nil {
						time.Sleep(10 * time.Millisecond)
					}
					req, err := http.NewRequestWithContext(ctx, http.MethodGet, fc.url, nil)
					if err != nil {
						panic(err) // validated
					}
					// Of a 24-character password's length, as bench/guess's.
					req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s:flood-%06d-%03d-xxxxxxx", fc.user, i, g)))
					t0 := time.Now()
					resp, err := c.Do(req)
					if err != nil {
						if ctx.Err() == nil {
							errs++
						}
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					h.add(time.Since(t0))
					statuses[resp.StatusCode]++
				}
				tr.CloseIdleConnections()
			}
			res.mu.Lock()
			for k, v := range statuses {
				res.statuses[k] += v
			}
			res.errs += errs
			res.hist.merge(&h)
			res.mu.Unlock()
		})
	}
	<-ctx.Done()
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

func (r *floodResult) total() int64 {
	var n int64
	for _, v := range r.statuses {
		n += v
	}
	return n
}

func (r *floodResult) print(w io.Writer, fc floodConfig) {
	codes := make([]int, 0, len(r.statuses))
	for k := range r.statuses {
		codes = append(codes, k)
	}
	sort.Ints(codes)
	var parts, kv []string
	for _, k := range codes {
		parts = append(parts, fmt.Sprintf("%d × %d", r.statuses[k], k))
		kv = append(kv, fmt.Sprintf("flood_status_%d=%d", k, r.statuses[k]))
	}
	rate := float64(r.total()) / r.elapsed.Seconds()
	fmt.Fprintf(w, "flood:      %d guesses for %s from %d addresses, %d at a time, in %.2fs (%.1f/s): %s; %d errors\n",
		r.total(), fc.user, fc.addrs, fc.conc, r.elapsed.Seconds(), rate, strings.Join(parts, ", "), r.errs)
	fmt.Fprintf(w, "flood latency: p50 %s  p99 %s\n", fmtDur(r.hist.quantile(0.50)), fmtDur(r.hist.quantile(0.99)))
	fmt.Fprintf(w, "FLOOD guesses=%d rps=%.1f p50_us=%.1f p99_us=%.1f errors=%d %s\n",
		r.total(), rate, us(r.hist.quantile(0.50)), us(r.hist.quantile(0.99)), r.errs, strings.Join(kv, " "))
}
