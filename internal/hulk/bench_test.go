package hulk

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

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
