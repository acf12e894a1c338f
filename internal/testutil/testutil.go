// Package testutil holds small helpers shared by the tests of several
// packages; production code never imports it.
package testutil

import (
	"bytes"
	"sync"
)

// LogBuffer is a log sink that a test may read while a daemon's goroutines
// write to it.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
