//go:build unix

package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Lock is the exclusive lock on a data directory's serve.lock: held by a
// serving daemon for its whole life, and by a restore while it replaces
// the store. The kernel releases it when the process ends, however it
// ends, so a crashed daemon leaves no stale lock behind.
type Lock struct {
	f *os.File
}

// LockedError is returned by Acquire when another process holds the lock.
type LockedError struct {
	Dir string
	// PID is the holder's process id, as it wrote it (0: unknown).
	PID int
}

func (e *LockedError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = "process " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("the data directory %s is in use by a running cpauth serve (or a restore): %s holds %s",
		e.Dir, who, filepath.Join(e.Dir, LockFile))
}

// Acquire takes dir's lock without waiting: a *LockedError when it is
// held. It writes this process's id into the file, for the message another
// process gets.
func Acquire(dir string) (*Lock, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("datadir: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{Dir: dir, PID: readPID(path)}
		}
		return nil, fmt.Errorf("datadir: lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// readPID reads the holder's id from the lock file (0 when it cannot).
func readPID(path string) int {
	b := make([]byte, 32)
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n, _ := f.Read(b)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// Release lets go of the lock; a nil Lock is nothing to release. The file
// stays: removing it would let two processes lock two different files.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the only descriptor releases the flock
	l.f = nil
	return err
}
