package server_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/config"
)

// BenchmarkBodyMemory is the memory the daemon takes while many clients
// post large bodies at once: M clients (64, or $CPAUTH_BENCH_CLIENTS) each
// POST 1 MiB to a plain WHM port at the same moment, over real loopback
// HTTP, with no credential or with root's password. While they are
// served, the heap is sampled every millisecond: peak-heap-MB is the most
// heap in use (live objects and those not yet swept) above what was in use
// before, peak-mapped-MB all the memory the runtime had mapped at its
// most (what the process's resident size follows; the client's share is
// a few MiB). The mapped memory of one case stays mapped into the next:
// run one case a process for that figure. The bodies are those that cost
// the most to decode: a JSON array of half a million numbers, and half a
// million empty form keys ("a&a&…"). BENCHMARKS.md has the figures before
// and after the body was read only after authentication:
//
//	go test -run '^$' -bench 'BenchmarkBodyMemory$/json/none' -benchtime 3x ./internal/server
func BenchmarkBodyMemory(b *testing.B) {
	d := startBenchDaemon(b, 5000)
	bodyMemory(b, d, []string{"none", "password"})
}

// bodyMemory runs BenchmarkBodyMemory's cases against d, each body with
// each of the credentials named ("none", "password").
func bodyMemory(b *testing.B, d *benchDaemon, credentials []string) {
	clients := 64
	if v, err := strconv.Atoi(os.Getenv("CPAUTH_BENCH_CLIENTS")); err == nil && v > 0 {
		clients = v
	}
	const size = 1 << 20
	bodies := []struct{ name, contentType, body string }{
		{"json", "application/json", `{"a":[` + strings.Repeat("1,", (size-10)/2) + `1]}`},
		{"form", "application/x-www-form-urlencoded", strings.Repeat("a&", size/2)},
	}
	for _, body := range bodies {
		for _, cred := range credentials {
			auth := ""
			if cred == "password" {
				auth = d.basic
			}
			b.Run(body.name+"/"+cred, func(b *testing.B) {
				postConcurrently(b, d.url+"/json-api/version?api.version=1", body.contentType, auth, []byte(body.body), clients)
			})
		}
	}
}

// postConcurrently posts body to url from clients clients at once, b.N
// times, sampling the heap meanwhile, and reports the peaks and the
// answers.
func postConcurrently(b *testing.B, url, contentType, auth string, body []byte, clients int) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, DisableCompression: true}}
	defer client.CloseIdleConnections()
	var failed, busy atomic.Int64
	post := func() {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			b.Error(err)
			return
		}
		req.Header.Set("Content-Type", contentType)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			// The daemon may close a connection whose body it will not
			// read before the client has sent it all.
			failed.Add(1)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			busy.Add(1)
		}
	}
	runtime.GC()
	base := heapSample()
	var peak memSample
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			peak = peak.max(heapSample())
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	for b.Loop() {
		var wg sync.WaitGroup
		for range clients {
			wg.Go(post)
		}
		wg.Wait()
	}
	close(stop)
	<-sampled
	n := float64(b.N * clients)
	b.ReportMetric(float64(peak.heap-base.heap)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(peak.mapped)/(1<<20), "peak-mapped-MB")
	b.ReportMetric(float64(failed.Load())/n, "client-errors/req")
	b.ReportMetric(float64(busy.Load())/n, "503/req")
}

// memSample is the heap in use and the memory mapped by the runtime.
type memSample struct{ heap, mapped uint64 }

func (m memSample) max(o memSample) memSample {
	return memSample{max(m.heap, o.heap), max(m.mapped, o.mapped)}
}

var heapMetrics = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/memory/classes/total:bytes"},
}

// heapSample reads the runtime's metrics, which, unlike ReadMemStats,
// does not stop the world.
func heapSample() memSample {
	s := make([]metrics.Sample, len(heapMetrics))
	copy(s, heapMetrics)
	metrics.Read(s)
	return memSample{s[0].Value.Uint64(), s[1].Value.Uint64()}
}

// BenchmarkBodyMemoryBudget is BenchmarkBodyMemory's authenticated cases
// with a smaller budget of request bodies (body-memory-mb 16): the bodies
// beyond it wait their turn, and 503/req counts those that waited too
// long.
func BenchmarkBodyMemoryBudget(b *testing.B) {
	d := startBenchDaemonWith(b, 5000, func(c *config.Config) { c.BodyMemoryMB = 16 })
	bodyMemory(b, d, []string{"password"})
}
