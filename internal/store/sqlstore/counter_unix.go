//go:build unix

package sqlstore

import (
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// changeCounter is a 64-bit counter in a small file mapped into the memory
// of every process that opens the same SQLite database (the daemon, the
// command-line twins). Each process bumps it after committing a change, and
// the daemon's cache compares it on every read: a change made by another
// process is seen by the very next request, at the cost of one atomic load.
type changeCounter struct {
	mem []byte
}

func openChangeCounter(path string) (*changeCounter, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() < 8 {
		if err := f.Truncate(8); err != nil {
			return nil, err
		}
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, 8, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %w", path, err)
	}
	return &changeCounter{mem: mem}, nil
}

func (c *changeCounter) word() *uint64 { return (*uint64)(unsafe.Pointer(&c.mem[0])) }

func (c *changeCounter) load() uint64 { return atomic.LoadUint64(c.word()) }

func (c *changeCounter) bump() { atomic.AddUint64(c.word(), 1) }

func (c *changeCounter) close() error { return syscall.Munmap(c.mem) }
