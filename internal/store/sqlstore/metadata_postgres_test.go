package sqlstore

import (
	"sync"
	"testing"

	"github.com/cpauth/cpauth/internal/store/sqlstore/pgtest"
)

// TestPostgresStoreID: nodes starting at once on one database agree on its
// id, and another database has another.
func TestPostgresStoreID(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.Schema(t)
	const nodes = 6
	ids := make([]string, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		s, err := OpenPostgres(ctx, dsn, PoolOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		wg.Go(func() { ids[i], errs[i] = s.StoreID(ctx) })
	}
	wg.Wait()
	for i := range nodes {
		if errs[i] != nil || ids[i] != ids[0] || len(ids[i]) != 32 {
			t.Fatalf("node %d: StoreID = %q, %v; node 0 got %q", i, ids[i], errs[i], ids[0])
		}
	}
	other := newPostgres(t)
	if oid, err := other.StoreID(ctx); err != nil || oid == ids[0] {
		t.Fatalf("another database's StoreID = %q, %v", oid, err)
	}
}
