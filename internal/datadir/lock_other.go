//go:build !unix

package datadir

import (
	"errors"
	"fmt"
	"path/filepath"
)

// Lock is the data directory's serve lock; this system has no flock, so a
// daemon refuses to start rather than serve without it.
type Lock struct{}

// LockedError is returned by Acquire when another process holds the lock.
type LockedError struct {
	Dir string
	PID int
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("the data directory %s is in use: %s is locked", e.Dir, filepath.Join(e.Dir, LockFile))
}

// Acquire fails: there is no file lock on this system.
func Acquire(dir string) (*Lock, error) {
	return nil, errors.New("datadir: the data directory lock needs flock, which this system lacks")
}

// Release does nothing: no lock was taken.
func (l *Lock) Release() error { return nil }
