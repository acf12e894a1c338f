package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/throttle"
)

// TestPasskeyBeginFlood: the login page's passwordless begin step, which
// anyone may call and which stores a challenge, is bounded per address
// and per node before anything is written. The daemon's clock is frozen
// (it moves only when the test moves it), so the counts are exact.
func TestPasskeyBeginFlood(t *testing.T) {
	e := startPasskeys(t)
	e.clock.Freeze(e.clock.Now())
	defer e.clock.Unfreeze()
	ctx := context.Background()
	lim := throttle.PasswordlessBegin
	// stored counts (and clears) the challenges in the store.
	stored := func() int {
		t.Helper()
		n, err := e.d.Data.Store.PurgePasskeyChallenges(ctx, e.clock.Now().Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	begin := func(from string) response {
		t.Helper()
		return e.doFrom(t, from, request{port: p2083, method: http.MethodPost, path: "/login/passkey/begin", vhost: e.vhost(t, p2083)})
	}
	refused := func(t *testing.T, r response) {
		t.Helper()
		var res pkResult
		if err := json.Unmarshal(r.body, &res); err != nil || r.status != http.StatusTooManyRequests || res.Status != 0 || !strings.Contains(res.Message, "Too many passkey sign-ins") {
			t.Fatalf("over the limit: %d %s", r.status, r.body)
		}
		if r.header.Get("Retry-After") == "" {
			t.Fatal("no Retry-After")
		}
	}

	t.Run("one address", func(t *testing.T) {
		ok := 0
		for range 5 * lim.PerAddress {
			r := begin("127.0.0.2")
			if r.status == http.StatusOK {
				ok++
				continue
			}
			refused(t, r)
		}
		if ok != lim.PerAddress {
			t.Fatalf("%d begins answered from one address, want %d", ok, lim.PerAddress)
		}
		if n := stored(); n != lim.PerAddress {
			t.Fatalf("%d challenges stored by one address, want at most %d", n, lim.PerAddress)
		}
		// Another address is not held back by it.
		if r := begin("127.0.0.3"); r.status != http.StatusOK {
			t.Fatalf("another address: %d %s", r.status, r.body)
		}
		// After the window the address may begin again.
		e.clock.Advance(lim.Window)
		if r := begin("127.0.0.2"); r.status != http.StatusOK {
			t.Fatalf("after the window: %d %s", r.status, r.body)
		}
		stored()
	})

	t.Run("many addresses", func(t *testing.T) {
		// The bucket refills while the clock moves: the window above
		// filled it up to its burst, and the clock stands still now.
		ok := 0
		for i := range lim.Burst + 50 {
			r := begin(fmt.Sprintf("127.0.%d.%d", 10+i/250, 1+i%250))
			if r.status == http.StatusOK {
				ok++
				continue
			}
			refused(t, r)
		}
		if n := stored(); ok > lim.Burst || n > lim.Burst || n != ok {
			t.Fatalf("%d begins answered and %d challenges stored from many addresses, want at most the burst %d", ok, n, lim.Burst)
		}
		if ok < lim.Burst-2 {
			t.Fatalf("only %d begins answered before the bucket ran out (burst %d)", ok, lim.Burst)
		}
		// A second later the node's rate lets some through again.
		e.clock.Advance(time.Second)
		if r := begin("127.0.9.1"); r.status != http.StatusOK {
			t.Fatalf("a second later: %d %s", r.status, r.body)
		}
	})

	// The refusals were logged, but not one line each.
	lines := strings.Count(e.log.String(), "passwordless sign-in begin refused")
	if lines == 0 || lines > 4 {
		t.Fatalf("%d log lines for the refusals, want a few", lines)
	}
}
