package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cpauth/cpauth/internal/store"
)

// The brute-force regulator's state lives in cphulk_config, cphulk_lists,
// cphulk_failures and cphulk_blocks (migrations/<dialect>/0005_cphulk.sql).
// Writes announce store.ChangeHulk with the part they changed, except
// AddHulkFailures, which neither announces nor bumps SQLite's change
// counter: failures are written about once a second under a guessing load,
// and no cache depends on them (other nodes read them by ID).

func hulkChange(part string) store.Change { return store.Change{Kind: store.ChangeHulk, Key: part} }

// HulkConfig implements store.Store.
func (s *Store) HulkConfig(ctx context.Context) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, value FROM cphulk_config`)
	if err != nil {
		return nil, s.dbErr(err, "cphulk config")
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, s.dbErr(err, "cphulk config")
		}
		out[k] = v
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbErr(err, "cphulk config")
	}
	return out, nil
}

// SetHulkConfig implements store.Store.
func (s *Store) SetHulkConfig(ctx context.Context, values map[string]string) error {
	err := s.withChange(ctx, hulkChange("config"), func(tx *sql.Tx) error {
		for _, k := range slices.Sorted(maps.Keys(values)) {
			_, err := tx.ExecContext(ctx, s.q(`INSERT INTO cphulk_config (name, value) VALUES (?, ?)
				ON CONFLICT (name) DO UPDATE SET value = excluded.value`), k, values[k])
			if err != nil {
				return err
			}
		}
		return nil
	})
	return s.dbErr(err, "cphulk config")
}

func checkHulkList(list string) error {
	if list != store.HulkAllow && list != store.HulkDeny {
		return fmt.Errorf("sqlstore: cphulk list %q: %w", list, store.ErrInvalid)
	}
	return nil
}

// ListHulkRecords implements store.Store.
func (s *Store) ListHulkRecords(ctx context.Context, list string) ([]store.HulkRecord, error) {
	q, args := `SELECT list, cidr, comment, created FROM cphulk_lists`, []any{}
	if list != "" {
		q, args = q+` WHERE list = ?`, append(args, list)
	}
	rows, err := s.db.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, s.dbErr(err, "cphulk lists")
	}
	defer rows.Close()
	var out []store.HulkRecord
	for rows.Next() {
		var r store.HulkRecord
		var created int64
		if err := rows.Scan(&r.List, &r.CIDR, &r.Comment, &created); err != nil {
			return nil, s.dbErr(err, "cphulk lists")
		}
		r.Created = fromDBTime(created)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbErr(err, "cphulk lists")
	}
	slices.SortFunc(out, func(a, b store.HulkRecord) int {
		if c := strings.Compare(a.List, b.List); c != 0 {
			return c
		}
		return strings.Compare(a.CIDR, b.CIDR)
	})
	return out, nil
}

// PutHulkRecords implements store.Store.
func (s *Store) PutHulkRecords(ctx context.Context, recs []store.HulkRecord) error {
	for _, r := range recs {
		if err := checkHulkList(r.List); err != nil {
			return err
		}
		if r.CIDR == "" {
			return fmt.Errorf("sqlstore: cphulk record without an address: %w", store.ErrInvalid)
		}
	}
	err := s.withChange(ctx, hulkChange("lists"), func(tx *sql.Tx) error {
		for _, r := range recs {
			_, err := tx.ExecContext(ctx, s.q(`INSERT INTO cphulk_lists (list, cidr, comment, created) VALUES (?, ?, ?, ?)
				ON CONFLICT (list, cidr) DO UPDATE SET comment = excluded.comment`),
				r.List, r.CIDR, r.Comment, toDBTime(r.Created))
			if err != nil {
				return err
			}
		}
		return nil
	})
	return s.dbErr(err, "cphulk lists")
}

// DeleteHulkRecords implements store.Store.
func (s *Store) DeleteHulkRecords(ctx context.Context, list string, cidrs []string) (int, error) {
	if err := checkHulkList(list); err != nil {
		return 0, err
	}
	n := 0
	err := s.withChange(ctx, hulkChange("lists"), func(tx *sql.Tx) error {
		n = 0
		for _, c := range cidrs {
			k, err := s.execCount(ctx, tx, `DELETE FROM cphulk_lists WHERE list = ? AND cidr = ?`, list, c)
			n += k
			if err != nil {
				return err
			}
		}
		return nil
	})
	return n, s.dbErr(err, "cphulk lists")
}

const hulkFailureCols = `node, at, service, method, username, address, weight, reason`

// hulkFailureBatch bounds the rows of one INSERT (8 parameters each).
const hulkFailureBatch = 200

// AddHulkFailures implements store.Store: multi-row INSERTs in one
// transaction, announced to nobody.
func (s *Store) AddHulkFailures(ctx context.Context, fs []store.HulkFailure) error {
	if len(fs) == 0 {
		return nil
	}
	err := s.retry(ctx, func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for batch := range slices.Chunk(fs, hulkFailureBatch) {
			var b strings.Builder
			b.WriteString(`INSERT INTO cphulk_failures (` + hulkFailureCols + `) VALUES `)
			args := make([]any, 0, 8*len(batch))
			for i, f := range batch {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
				args = append(args, f.Node, toDBTime(f.Time), f.Service, f.Method, f.User, f.Address, f.Weight, f.Reason)
			}
			if _, err := tx.ExecContext(ctx, s.q(b.String()), args...); err != nil {
				tx.Rollback()
				return err
			}
		}
		return tx.Commit()
	})
	return s.dbErr(err, "cphulk failures")
}

// ListHulkFailures implements store.Store.
func (s *Store) ListHulkFailures(ctx context.Context, afterID int64, since time.Time, limit int) ([]store.HulkFailure, error) {
	q := `SELECT id, ` + hulkFailureCols + ` FROM cphulk_failures WHERE id > ? AND at >= ? ORDER BY id`
	args := []any{afterID, toDBTime(since)}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := s.db.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, s.dbErr(err, "cphulk failures")
	}
	defer rows.Close()
	var out []store.HulkFailure
	for rows.Next() {
		var f store.HulkFailure
		var at int64
		if err := rows.Scan(&f.ID, &f.Node, &at, &f.Service, &f.Method, &f.User, &f.Address, &f.Weight, &f.Reason); err != nil {
			return nil, s.dbErr(err, "cphulk failures")
		}
		f.Time = fromDBTime(at)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbErr(err, "cphulk failures")
	}
	return out, nil
}

// DeleteHulkFailures implements store.Store.
func (s *Store) DeleteHulkFailures(ctx context.Context, addresses []string) (int, error) {
	n := 0
	err := s.withChange(ctx, hulkChange("flush"), func(tx *sql.Tx) error {
		n = 0
		del := func(q string, args ...any) error {
			k, err := s.execCount(ctx, tx, q, args...)
			n += k
			return err
		}
		if addresses == nil {
			return del(`DELETE FROM cphulk_failures`)
		}
		for _, a := range addresses {
			if err := del(`DELETE FROM cphulk_failures WHERE address = ?`, a); err != nil {
				return err
			}
		}
		return nil
	})
	return n, s.dbErr(err, "cphulk failures")
}

const hulkBlockCols = `kind, block_key, username, address, service, reason, failures, created, expires`

func checkHulkBlockKind(kind string) error {
	switch kind {
	case store.HulkBlockIP, store.HulkBlockExcessive, store.HulkBlockUser:
		return nil
	}
	return fmt.Errorf("sqlstore: cphulk block kind %q: %w", kind, store.ErrInvalid)
}

// PutHulkBlock implements store.Store.
func (s *Store) PutHulkBlock(ctx context.Context, b store.HulkBlock) error {
	if err := checkHulkBlockKind(b.Kind); err != nil {
		return err
	}
	if b.Key == "" {
		return fmt.Errorf("sqlstore: cphulk block without a key: %w", store.ErrInvalid)
	}
	_, err := s.execChange(ctx, hulkChange("blocks"), s.q(`INSERT INTO cphulk_blocks (`+hulkBlockCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (kind, block_key) DO UPDATE SET username = excluded.username, address = excluded.address,
		service = excluded.service, reason = excluded.reason, failures = excluded.failures,
		created = excluded.created, expires = excluded.expires`),
		b.Kind, b.Key, b.User, b.Address, b.Service, b.Reason, b.Failures, toDBTime(b.Created), toDBTime(b.Until))
	return s.dbErr(err, "cphulk block")
}

// ListHulkBlocks implements store.Store.
func (s *Store) ListHulkBlocks(ctx context.Context, now time.Time) ([]store.HulkBlock, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+hulkBlockCols+` FROM cphulk_blocks WHERE expires > ?`), toDBTime(now))
	if err != nil {
		return nil, s.dbErr(err, "cphulk blocks")
	}
	defer rows.Close()
	var out []store.HulkBlock
	for rows.Next() {
		var b store.HulkBlock
		var created, until int64
		if err := rows.Scan(&b.Kind, &b.Key, &b.User, &b.Address, &b.Service, &b.Reason, &b.Failures, &created, &until); err != nil {
			return nil, s.dbErr(err, "cphulk blocks")
		}
		b.Created, b.Until = fromDBTime(created), fromDBTime(until)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbErr(err, "cphulk blocks")
	}
	slices.SortFunc(out, func(a, b store.HulkBlock) int {
		if c := strings.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out, nil
}

// DeleteHulkBlocks implements store.Store.
func (s *Store) DeleteHulkBlocks(ctx context.Context, kind string, keys []string) (int, error) {
	if kind != "" {
		if err := checkHulkBlockKind(kind); err != nil {
			return 0, err
		}
	}
	n := 0
	err := s.withChange(ctx, hulkChange("blocks"), func(tx *sql.Tx) error {
		n = 0
		del := func(q string, args ...any) error {
			if kind != "" {
				q, args = q+` AND kind = ?`, append(args, kind)
			}
			k, err := s.execCount(ctx, tx, q, args...)
			n += k
			return err
		}
		if keys == nil {
			return del(`DELETE FROM cphulk_blocks WHERE 1 = 1`)
		}
		for _, k := range keys {
			if err := del(`DELETE FROM cphulk_blocks WHERE block_key = ?`, k); err != nil {
				return err
			}
		}
		return nil
	})
	return n, s.dbErr(err, "cphulk blocks")
}

// PurgeHulk implements store.Store. Expired blocks go quietly: every node
// already ignores a block past its end.
func (s *Store) PurgeHulk(ctx context.Context, before, now time.Time) (int, error) {
	n := 0
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		n = 0
		for _, q := range []struct {
			sql string
			arg int64
		}{
			{`DELETE FROM cphulk_failures WHERE at < ?`, toDBTime(before)},
			{`DELETE FROM cphulk_blocks WHERE expires <= ?`, toDBTime(now)},
		} {
			k, err := s.execCount(ctx, tx, q.sql, q.arg)
			n += k
			if err != nil {
				return err
			}
		}
		return nil
	})
	return n, s.dbErr(err, "cphulk purge")
}

// execCount runs the statement q (in the store's placeholder syntax by
// s.q) in tx and returns how many rows it touched.
func (s *Store) execCount(ctx context.Context, tx *sql.Tx, q string, args ...any) (int, error) {
	res, err := tx.ExecContext(ctx, s.q(q), args...)
	if err != nil {
		return 0, err
	}
	k, err := res.RowsAffected()
	return int(k), err
}
