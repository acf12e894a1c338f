package logs

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// File is an append-only log file rotated by size: when a write would take
// it past MaxSize bytes, name is renamed name.1 (name.1 becomes name.2, …,
// and name.<Keep> is deleted) and a new name is started. Files are 0600 in
// a 0700 directory. Safe for concurrent use; each Write is one line and
// reaches the file whole, in one write call.
type File struct {
	Path    string
	MaxSize int64
	Keep    int

	mu   sync.Mutex
	f    *os.File
	size int64
}

// Write appends p, rotating first when needed. A failed open is tried
// again at the next write.
func (w *File) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil && w.MaxSize > 0 && w.size+int64(len(p)) > w.MaxSize && w.size > 0 {
		if err := w.rotate(); err != nil {
			return 0, err
		}
	}
	if w.f == nil {
		if err := w.open(); err != nil {
			return 0, err
		}
	}
	n, err := w.f.Write(p)
	w.size += int64(n)
	if err != nil {
		// Start again from a fresh open next time (the file may have been
		// removed or the disk replaced under us).
		w.f.Close()
		w.f = nil
	}
	return n, err
}

func (w *File) open() error {
	if err := os.MkdirAll(filepath.Dir(w.Path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(w.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("%s is not a regular file", w.Path)
	}
	w.f, w.size = f, st.Size()
	return nil
}

func (w *File) rotate() error {
	w.f.Close()
	w.f = nil
	keep := max(w.Keep, 1)
	os.Remove(fmt.Sprintf("%s.%d", w.Path, keep))
	for i := keep - 1; i >= 1; i-- {
		os.Rename(fmt.Sprintf("%s.%d", w.Path, i), fmt.Sprintf("%s.%d", w.Path, i+1))
	}
	if err := os.Rename(w.Path, w.Path+".1"); err != nil && !os.IsNotExist(err) {
		return err
	}
	return w.open()
}

// Close closes the file.
func (w *File) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// SetRotation changes the size at which the file rotates and how many
// rotated files are kept, from its next write on.
func (w *File) SetRotation(maxSize int64, keep int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.MaxSize, w.Keep = maxSize, keep
}
