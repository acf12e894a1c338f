package hulk

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/core"
)

// BenchmarkAdmitSucceeded is what the regulator adds to every authenticated
// request: Admit before the credential check, Succeeded after.
func BenchmarkAdmitSucceeded(b *testing.B) {
	for _, c := range []struct {
		name   string
		values map[string]string
	}{
		{"disabled", map[string]string{"is_enabled": "0"}},
		{"enabled", nil},
		{"enabled/lists-of-100", nil},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := newRegulator(b, newStore(b), start(), c.values)
			if c.name == "enabled/lists-of-100" {
				var allow, deny []string
				for i := range 100 {
					allow = append(allow, fmt.Sprintf("10.%d.0.0/16", i))
					deny = append(deny, fmt.Sprintf("2001:db8:%x::/48", i))
				}
				r.AddRecords(b.Context(), "white", allow, "")
				r.AddRecords(b.Context(), "black", deny, "")
			}
			a := Attempt{Service: core.ServiceWHM, Remote: netip.MustParseAddr("192.0.2.10"), User: "root", Method: core.MethodToken, Secret: "x"}
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if ok, _ := r.Admit(ctx, a); !ok {
						b.Error("refused")
						return
					}
					r.Succeeded(ctx, a)
				}
			})
		})
	}
}

// BenchmarkFailed is the cost of counting one failure (a new wrong secret
// each time, from a thousand addresses), thresholds out of reach.
func BenchmarkFailed(b *testing.B) {
	r := newRegulator(b, newStore(b), start(), map[string]string{"max_failures": "100000", "max_failures_byip": "100000", "mark_as_brute": "100000"})
	addrs := make([]netip.Addr, 1000)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{198, 51, byte(i / 250), byte(i%250 + 1)})
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Failed(ctx, Attempt{Service: core.ServiceWHM, Remote: addrs[i%len(addrs)], User: "root", Method: core.MethodPassword, Secret: fmt.Sprint(i)}, "user password incorrect")
		i++
		if i%10000 == 0 {
			r.Flush(ctx) // as the daemon's loop would
		}
	}
}

// BenchmarkFlood is a flood of failures, each under a new name from a new
// address, beyond every limit of the tables (DefaultLimits) when run for
// 250,000 failures or more (-benchtime=250000x): what a failure costs once
// the tables are full, and what the regulator holds at the end (table
// sizes, the heap it added, the rows in the store). BenchmarkFailed, in the
// same run, is its baseline: nothing overflows there.
func BenchmarkFlood(b *testing.B) {
	for _, c := range []struct {
		name string
		addr func(i int) netip.Addr
	}{
		// Loopback addresses, as the flood that found the defect: 127.1.0.0 on.
		{"ipv4", func(i int) netip.Addr { return netip.AddrFrom4([4]byte{127, byte(1 + i>>16), byte(i >> 8), byte(i)}) }},
		// The /64s of one /48: one customer's allocation.
		{"ipv6-one-48", func(i int) netip.Addr {
			return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, byte(i >> 8), byte(i), 15: 1})
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := newStore(b)
			r := &Regulator{Store: s, Now: start().Now, Log: slog.New(slog.DiscardHandler)}
			if err := r.Load(b.Context()); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r.Failed(ctx, Attempt{Service: core.ServiceWHM, Remote: c.addr(i), User: "flood-" + strconv.Itoa(i),
					Method: core.MethodPassword, Secret: strconv.Itoa(i)}, "user password incorrect")
				i++
				if i%10000 == 0 {
					r.Flush(ctx) // as the daemon's loop would
				}
			}
			b.StopTimer()
			r.Flush(ctx)
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "heap-MiB")
			for name, n := range tableSizes(r) {
				b.ReportMetric(float64(n), name)
			}
			rows, err := s.ListHulkFailures(ctx, 0, time.Time{}, 0)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(len(rows)), "store-rows")
		})
	}
}

// tableSizes are what BenchmarkFlood reports of the tables.
func tableSizes(r *Regulator) map[string]int {
	st := r.Stats()
	return map[string]int{"addresses": st.Addresses, "ranges": st.Ranges, "names": st.Names,
		"name-groups": st.NameGroups, "pairs": st.Pairs, "blocks": st.Blocks}
}
