package auth

import (
	"context"
	"runtime"
	"sync"
	"syscall"
	"testing"
)

// threadNice is the calling thread's nice value (getpriority's raw answer
// is 20 - nice).
func threadNice(t *testing.T) int {
	t.Helper()
	p, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
	if err != nil {
		t.Fatal(err)
	}
	return 20 - p
}

// A check runs on a thread of lower priority, and that thread never runs
// anything else: the other goroutines' threads keep their priority.
func TestHashPoolLowPriority(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := threadNice(t)
	p := NewHashPool(2, 10, 0)
	var inside int
	for range 20 {
		if !p.Run(context.Background(), func() { inside = threadNice(t) }) {
			t.Fatal("Run refused with a free turn")
		}
	}
	if inside < max(before, hashNice) {
		t.Errorf("the check ran at nice %d, want at least %d", inside, max(before, hashNice))
	}
	if got := threadNice(t); got != before {
		t.Errorf("the caller's thread went from nice %d to %d", before, got)
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			if got := threadNice(t); got != before {
				t.Errorf("a thread of the runtime is at nice %d, not %d: a check's thread was given back", got, before)
			}
		})
	}
	wg.Wait()
}
