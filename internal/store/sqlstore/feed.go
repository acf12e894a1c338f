package sqlstore

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cpauth/cpauth/internal/store"
)

// changeChannel is the PostgreSQL NOTIFY channel of cpauth's changes.
const changeChannel = "cpauth_changes"

func encodeChange(c store.Change) string { return string(c.Kind) + ":" + c.Key }

func decodeChange(payload string) store.Change {
	kind, key, ok := strings.Cut(payload, ":")
	switch store.ChangeKind(kind) {
	case store.ChangeAccount, store.ChangeMailbox, store.ChangeAccessHash, store.ChangeSetting, store.ChangeToken, store.ChangeSession, store.ChangeTwoFactor, store.ChangePasskey, store.ChangeHulk:
		if ok {
			return store.Change{Kind: store.ChangeKind(kind), Key: key}
		}
	}
	return store.Change{Kind: store.ChangeAll} // unknown: forget everything
}

// ChangeFeed returns the store's change feed, or nil when the database has
// none (SQLite: one node, and nothing is cached in front of it).
func (s *Store) ChangeFeed() store.Watcher {
	switch {
	case s.listen != nil:
		return feed{s}
	case s.counter != nil:
		return sqliteFeed{s}
	}
	return nil
}

// ChangeVersion returns the SQLite change counter's reader, which a cache
// compares on every read; nil where changes arrive by feed alone.
func (s *Store) ChangeVersion() func() uint64 {
	if s.listen != nil || s.counter == nil {
		return nil
	}
	return s.counter.load
}

// sqliteFeed is the change feed of a SQLite database: cpauth's own writes,
// from any process, bump the shared change counter (ChangeVersion), and as a
// safety net for writes the counter cannot see (another tool, a process
// that died between commit and bump) it polls PRAGMA data_version and
// reports ChangeAll when the file changed.
type sqliteFeed struct{ s *Store }

// sqlitePoll is how often the safety net looks at data_version.
const sqlitePoll = 5 * time.Second

func (f sqliteFeed) Watch(ctx context.Context, onChange func(store.Change), onLive func(bool)) error {
	conn, err := f.s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	version := func() (int64, error) {
		var v int64
		err := conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v)
		return v, err
	}
	last, err := version()
	if err != nil {
		return err
	}
	onLive(true)
	defer onLive(false)
	t := time.NewTicker(sqlitePoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		v, err := version()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if v != last {
			last = v
			onChange(store.Change{Kind: store.ChangeAll})
		}
	}
}

type feed struct{ s *Store }

// Watch listens on its own connection (LISTEN cpauth_changes). Whenever the
// connection is lost it reports the feed down, reconnects with backoff, and
// reports it live again once listening: what was missed in between is
// covered by the caller forgetting everything on each transition.
func (f feed) Watch(ctx context.Context, onChange func(store.Change), onLive func(bool)) error {
	backoff := 50 * time.Millisecond
	wait := func() bool {
		t := time.NewTimer(backoff)
		defer t.Stop()
		backoff = min(2*backoff, 2*time.Second)
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	defer onLive(false)
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, f.s.listen)
		if err != nil {
			onLive(false)
			if !wait() {
				return nil
			}
			continue
		}
		if _, err := conn.Exec(ctx, "LISTEN "+changeChannel); err != nil {
			conn.Close(context.Background())
			onLive(false)
			if !wait() {
				return nil
			}
			continue
		}
		backoff = 50 * time.Millisecond
		onLive(true)
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				break
			}
			onChange(decodeChange(n.Payload))
		}
		onLive(false)
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn.Close(closeCtx)
		cancel()
	}
	return nil
}
