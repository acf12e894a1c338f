package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
)

// Names of the metadata rows (migration 0008).
const (
	// MetaStoreID is the store's random id, set by the first StoreID.
	MetaStoreID = "store_id"
	// MetaKeyCheck is a keyed hash under the server key the store's
	// secrets are sealed with (secret.Key.Check).
	MetaKeyCheck = "key_check"
)

// Meta returns a metadata row's value; ok is false when there is none.
func (s *Store) Meta(ctx context.Context, name string) (value string, ok bool, err error) {
	err = s.db.QueryRowContext(ctx, s.q(`SELECT value FROM metadata WHERE name = ?`), name).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("sqlstore: metadata %s: %w", name, err)
	}
	return value, true, nil
}

// InitMeta sets the row name to value unless it is set already, and
// returns the value the store holds: value, or the earlier one. Processes
// racing to set it all get the one that won.
func (s *Store) InitMeta(ctx context.Context, name, value string) (string, error) {
	var got string
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO metadata (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`), name, value); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, s.q(`SELECT value FROM metadata WHERE name = ?`), name).Scan(&got)
	})
	if err != nil {
		return "", fmt.Errorf("sqlstore: metadata %s: %w", name, err)
	}
	return got, nil
}

// StoreID returns the store's id (32 lowercase hex), making it on first
// use: a data directory's store mark names it, so that a command given a
// DSN to another database is refused.
func (s *Store) StoreID(ctx context.Context) (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return s.InitMeta(ctx, MetaStoreID, hex.EncodeToString(b))
}
