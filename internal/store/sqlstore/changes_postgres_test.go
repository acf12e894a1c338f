package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/store"
)

// recordChanges follows s's change feed and returns collect, which writes a
// marker setting and returns, in arrival order, every change announced
// since the previous collect (notifications come in commit order, so the
// marker's arrival means everything before it has arrived).
//
// Notifications are per database, not per schema, so tests of other
// packages announce on the same channel: when prefix is not empty, only
// ChangeAll and keys starting with it are kept, and the marker keys start
// with it too.
func recordChanges(t *testing.T, s *Store, prefix string) (collect func() []store.Change) {
	t.Helper()
	var (
		mu      sync.Mutex
		changes []store.Change
		live    = make(chan struct{}, 1)
	)
	wctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		s.ChangeFeed().Watch(wctx, func(c store.Change) {
			if c.Kind != store.ChangeAll && !strings.HasPrefix(c.Key, prefix) {
				return // another test's
			}
			mu.Lock()
			changes = append(changes, c)
			mu.Unlock()
		}, func(l bool) {
			if l {
				select {
				case live <- struct{}{}:
				default:
				}
			}
		})
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	select {
	case <-live:
	case <-time.After(10 * time.Second):
		t.Fatal("the change feed did not come up")
	}
	marker := 0
	return func() []store.Change {
		t.Helper()
		marker++
		key := fmt.Sprintf("%smarker%d", prefix, marker)
		if err := s.SetSetting(t.Context(), key, ""); err != nil {
			t.Fatal(err)
		}
		end := store.Change{Kind: store.ChangeSetting, Key: key}
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			i := slices.Index(changes, end)
			var got []store.Change
			if i >= 0 {
				got = slices.Clone(changes[:i])
				changes = changes[i+1:]
			}
			mu.Unlock()
			if i >= 0 {
				return got
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("marker %s never arrived", key)
		return nil
	}
}
