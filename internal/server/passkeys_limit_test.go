package server

import (
	"testing"
	"time"
)

func TestRefusalLog(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	var l refusalLog
	steps := []struct {
		name     string
		at       time.Duration
		wantLog  bool
		wantHeld int
	}{
		{"the first refusal is logged", 0, true, 0},
		{"within the second: counted", 100 * time.Millisecond, false, 0},
		{"still within it", 999 * time.Millisecond, false, 0},
		{"a second later: logged with the count", time.Second, true, 2},
		{"then counted again", 1500 * time.Millisecond, false, 0},
		{"a clock that went back logs", -time.Hour, true, 1},
	}
	for _, st := range steps {
		held, log := l.note(t0.Add(st.at))
		if log != st.wantLog || held != st.wantHeld {
			t.Fatalf("%s: log %v held %d, want %v %d", st.name, log, held, st.wantLog, st.wantHeld)
		}
	}
}
