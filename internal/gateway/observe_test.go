package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/core"
)

// observation is one call Backend.Observe was told of.
type observation struct{ call, failure string }

func observe(g *Gateway) func() []observation {
	var mu sync.Mutex
	var got []observation
	g.Backend.Observe = func(call string, took time.Duration, failure string) {
		if took < 0 {
			panic("negative duration")
		}
		mu.Lock()
		got = append(got, observation{call, failure})
		mu.Unlock()
	}
	return func() []observation {
		mu.Lock()
		defer mu.Unlock()
		return append([]observation(nil), got...)
	}
}

// Every backend call is observed, named by what it is (never by the
// function or the account), with why it failed.
func TestBackendObserve(t *testing.T) {
	s := newStandIn(t)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(1500 * time.Millisecond) }))
	defer slow.Close()
	tests := []struct {
		name string
		addr string
		req  Request
		want []observation
	}{
		{"root's WHM call", s.srv.Listener.Addr().String(), Request{Principal: rootPrincipal(), Service: core.ServiceWHM, Method: http.MethodGet,
			Path: "/json-api/listaccts", RawQuery: "api.version=1", Flavour: api.WHM1, Func: "listaccts"},
			[]observation{{"forward_whmapi1", ""}}},
		{"an account's UAPI call: its session is made first", s.srv.Listener.Addr().String(), Request{Principal: bobPrincipal(), Service: core.ServiceCPanel, Method: http.MethodGet,
			Path: "/execute/Email/list_pops", Flavour: api.UAPI, Module: "Email", Func: "list_pops", Account: "bob"},
			[]observation{{CallWHMAPI1, ""}, {CallLogin, ""}, {"forward_uapi", ""}}},
		{"a backend that does not answer", slow.Listener.Addr().String(), Request{Principal: rootPrincipal(), Service: core.ServiceWHM, Method: http.MethodGet,
			Path: "/json-api/listaccts", RawQuery: "api.version=1", Flavour: api.WHM1, Func: "listaccts"},
			[]observation{{"forward_whmapi1", "backend_timeout"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateway(t, tc.addr, time.Second)
			got := observe(g)
			resp, err := g.Forward(context.Background(), &tc.req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			obs := got()
			if len(obs) != len(tc.want) {
				t.Fatalf("observed %v, want %v", obs, tc.want)
			}
			for i := range obs {
				if obs[i] != tc.want[i] {
					t.Errorf("observation %d: %v, want %v", i, obs[i], tc.want[i])
				}
			}
		})
	}
}
