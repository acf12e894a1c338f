//go:build !unix

package sqlstore

import "errors"

// changeCounter is not available here: SQLite stores run without a cache.
type changeCounter struct{}

func openChangeCounter(string) (*changeCounter, error) {
	return nil, errors.New("no shared memory counter on this system")
}

func (c *changeCounter) load() uint64 { return 0 }
func (c *changeCounter) bump()        {}
func (c *changeCounter) close() error { return nil }
