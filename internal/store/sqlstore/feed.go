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
	case store.ChangeAccount, store.ChangeMailbox, store.ChangeAccessHash, store.ChangeSetting, store.ChangeToken:
		if ok {
			return store.Change{Kind: store.ChangeKind(kind), Key: key}
		}
	}
	return store.Change{Kind: store.ChangeAll} // unknown: forget everything
}

// ChangeFeed returns the store's change feed, or nil when the database has
// none (SQLite: one node, and nothing is cached in front of it).
func (s *Store) ChangeFeed() store.Watcher {
	if s.listen == nil {
		return nil
	}
	return feed{s}
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
