package server_test

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/core"
)

// BenchmarkRefusalFlood is an address the regulator has blocked that keeps
// on sending (a wrong password, refused before any hash is computed):
// per refusal, its time through the daemon in process and what the log
// files grow by (log/refusal; rotation is off, so that every byte counts).
// One client, then GOMAXPROCS clients.
func BenchmarkRefusalFlood(b *testing.B) {
	d := startRegulatedDaemon(b, func(c *config.Config) { c.HashRounds = 5000; c.LogMaxSizeMB = 1 << 20 })
	url := "http://" + d.Addr(core.ServiceWHM, false) + versionPath
	c := newClient()
	wrong := func(i int) string {
		return "Basic " + base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "root:flood-%d", i))
	}
	for i := range 5 { // the threshold: loopback is blocked from here on
		if _, err := call(c, url, wrong(i), 403); err != nil {
			b.Fatal(err)
		}
	}
	dir := filepath.Join(d.Data.Dir, "logs")
	size := func() int64 {
		d.Data.Logs.Flush()
		n := int64(0)
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if info, err := e.Info(); err == nil {
				n += info.Size()
			}
		}
		return n
	}
	run := func(b *testing.B, loop func(b *testing.B)) {
		before := size()
		loop(b)
		b.StopTimer()
		b.ReportMetric(float64(size()-before)/float64(b.N), "log/refusal")
	}
	b.Run("serial", func(b *testing.B) {
		run(b, func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				if _, err := call(c, url, wrong(i), 403); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("parallel", func(b *testing.B) {
		run(b, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					if _, err := call(c, url, wrong(i), 403); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	})
}
