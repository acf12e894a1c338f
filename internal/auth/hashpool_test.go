package auth

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestHashPoolAdmission(t *testing.T) {
	tests := []struct {
		name    string
		workers int
		queue   int
		wait    time.Duration
		held    int  // turns taken (and kept) first
		want    bool // the next Acquire
	}{
		{"free turn", 2, 0, 0, 1, true},
		{"all turns taken, no queue", 2, 0, time.Second, 2, false},
		{"all turns taken, the wait runs out", 1, 4, 20 * time.Millisecond, 1, false},
		{"zero workers is one", 0, 0, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := NewHashPool(tc.workers, tc.queue, tc.wait)
			for range tc.held {
				if !p.Acquire(context.Background()) {
					t.Fatal("a free turn was refused")
				}
			}
			start := time.Now()
			got := p.Acquire(context.Background())
			if got != tc.want {
				t.Fatalf("Acquire = %v, want %v", got, tc.want)
			}
			if !got && tc.queue > 0 && time.Since(start) < tc.wait {
				t.Fatalf("refused after %v, before the wait of %v ran out", time.Since(start), tc.wait)
			}
			wantAdmitted, wantShed, wantRunning := uint64(tc.held), uint64(1), tc.held
			if got {
				wantAdmitted, wantShed, wantRunning = wantAdmitted+1, 0, wantRunning+1
			}
			admitted, shed, running, waiting := p.Stats()
			if admitted != wantAdmitted || shed != wantShed || running != wantRunning || waiting != 0 {
				t.Errorf("Stats: %d admitted, %d shed, %d running, %d waiting; want %d, %d, %d, 0",
					admitted, shed, running, waiting, wantAdmitted, wantShed, wantRunning)
			}
		})
	}
}

// A waiting check gets the turn given back; a full queue refuses at once;
// an ended context stops the wait.
func TestHashPoolWaiting(t *testing.T) {
	p := NewHashPool(1, 1, 10*time.Second)
	if !p.Acquire(context.Background()) {
		t.Fatal("first turn refused")
	}
	got := make(chan bool)
	go func() { got <- p.Acquire(context.Background()) }()
	for {
		if _, _, _, waiting := p.Stats(); waiting == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if p.Acquire(context.Background()) {
		t.Fatal("admitted past a full queue")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a full queue refused after %v, not at once", d)
	}
	p.Release()
	if !<-got {
		t.Fatal("the waiting check did not get the turn given back")
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { got <- p.Acquire(ctx) }()
	for {
		if _, _, _, waiting := p.Stats(); waiting == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if <-got {
		t.Fatal("admitted after its context ended")
	}
	p.Release()
}

// The waiting checks get their turns in the order they came.
func TestHashPoolOrder(t *testing.T) {
	p := NewHashPool(1, 10, 10*time.Second)
	if !p.Acquire(context.Background()) {
		t.Fatal("first turn refused")
	}
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !p.Acquire(context.Background()) {
				t.Error("refused")
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			p.Release()
		}()
		for { // the next one comes after this one waits
			if _, _, _, waiting := p.Stats(); waiting == i+1 {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	p.Release()
	wg.Wait()
	for i, v := range order {
		if v != i {
			t.Fatalf("turns given in the order %v", order)
		}
	}
}

// Never more than the workers at once, however many ask (run with -race).
func TestHashPoolBound(t *testing.T) {
	p := NewHashPool(3, 100, 10*time.Second)
	var mu sync.Mutex
	running, most := 0, 0
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if !p.Acquire(context.Background()) {
				t.Error("refused with room in the queue")
				return
			}
			mu.Lock()
			running++
			most = max(most, running)
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			running--
			mu.Unlock()
			p.Release()
		})
	}
	wg.Wait()
	if most > 3 {
		t.Fatalf("%d checks at once in a pool of 3", most)
	}
	if admitted, shed, _, _ := p.Stats(); admitted != 50 || shed != 0 {
		t.Fatalf("Stats: %d admitted, %d shed", admitted, shed)
	}
}

func TestHashPoolNil(t *testing.T) {
	var p *HashPool
	if !p.Acquire(context.Background()) {
		t.Fatal("a nil pool refused")
	}
	p.Release()
}

// A panic in a check reaches the caller (the server's recovery), as it
// would without the thread of its own; the turn is given back.
func TestHashPoolRunPanics(t *testing.T) {
	p := NewHashPool(1, 0, 0)
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Fatalf("recovered %v, want the check's panic", v)
			}
		}()
		p.Run(context.Background(), func() { panic("boom") })
	}()
	if !p.Run(context.Background(), func() {}) {
		t.Fatal("the turn was not given back after a panic")
	}
}

func TestHashPoolOnWait(t *testing.T) {
	tests := []struct {
		name    string
		queue   int
		wait    time.Duration
		release bool // free the held turn while the check waits
		want    bool
		waited  bool // a wait above zero is reported
	}{
		{"no queue: refused at once", 0, time.Second, false, false, false},
		{"the wait runs out", 1, 20 * time.Millisecond, false, false, true},
		{"a turn comes", 1, 5 * time.Second, true, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := NewHashPool(1, tc.queue, tc.wait)
			var mu sync.Mutex
			var waits []time.Duration
			p.OnWait = func(d time.Duration) { mu.Lock(); waits = append(waits, d); mu.Unlock() }
			if !p.Acquire(context.Background()) { // a free slot: reported as no wait
				t.Fatal("a free turn was refused")
			}
			if tc.release {
				go func() {
					for {
						if _, _, _, w := p.Stats(); w > 0 {
							break
						}
						time.Sleep(time.Millisecond)
					}
					time.Sleep(5 * time.Millisecond)
					p.Release()
				}()
			}
			if got := p.Acquire(context.Background()); got != tc.want {
				t.Fatalf("Acquire = %v, want %v", got, tc.want)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(waits) != 2 || waits[0] != 0 {
				t.Fatalf("OnWait got %v, want two reports, the first 0", waits)
			}
			if (waits[1] > 0) != tc.waited {
				t.Errorf("second wait %v, want above zero: %v", waits[1], tc.waited)
			}
		})
	}
}
