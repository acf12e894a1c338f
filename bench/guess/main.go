// Command guess is a password-guessing load for cpauth's brute-force
// regulator: -addrs loopback source addresses (127.1.x.y, which Linux
// routes to a listener on 127.0.0.1) each send -per wrong passwords for
// -user, -c addresses at a time, one connection per address. It prints how
// the attempts were answered and how long the load took. It refuses any
// target that is not a loopback address.
//
//	go run ./bench/guess -url 'http://127.0.0.1:22086/json-api/version?api.version=1'
package main

import (
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("guess", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("url", "", "URL to request (a loopback address)")
	user := fs.String("user", "root", "user name to guess for")
	addrs := fs.Int("addrs", 1000, "source addresses (at most 62500)")
	per := fs.Int("per", 10, "wrong passwords per address")
	conc := fs.Int("c", 8, "addresses at a time")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	u, err := url.Parse(*target)
	if err != nil || u.Scheme != "http" {
		fmt.Fprintln(stderr, "guess: -url must be an http:// URL")
		return 2
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		fmt.Fprintln(stderr, "guess: -url must name a loopback address")
		return 2
	}
	if *addrs < 1 || *addrs > 62500 || *per < 1 || *conc < 1 {
		fmt.Fprintln(stderr, "guess: bad -addrs, -per or -c")
		return 2
	}
	var statuses sync.Map // status -> *atomic.Int64
	var errs atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= *addrs {
					return
				}
				local := net.IPv4(127, 1, byte(i/250), byte(i%250+1))
				d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: local}, Timeout: 10 * time.Second}
				tr := &http.Transport{DialContext: d.DialContext}
				c := &http.Client{Transport: tr, Timeout: 60 * time.Second}
				for g := range *per {
					req, _ := http.NewRequest(http.MethodGet, *target, nil)
					req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s:guess-%d-%d-xxxxxxxxxxxx", *user, i, g)))
					resp, err := c.Do(req)
					if err != nil {
						errs.Add(1)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					v, _ := statuses.LoadOrStore(resp.StatusCode, new(atomic.Int64))
					v.(*atomic.Int64).Add(1)
				}
				tr.CloseIdleConnections()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	fmt.Fprintf(stdout, "RESULT attempts=%d seconds=%.2f errors=%d", *addrs**per, elapsed.Seconds(), errs.Load())
	statuses.Range(func(k, v any) bool {
		fmt.Fprintf(stdout, " status_%d=%d", k, v.(*atomic.Int64).Load())
		return true
	})
	fmt.Fprintln(stdout)
	return 0
}
