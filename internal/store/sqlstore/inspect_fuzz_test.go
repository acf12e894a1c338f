package sqlstore

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzInspectSQLite feeds InspectSQLite files a restore might be given:
// whatever the bytes, it answers (no panic, no hang), and a file it
// accepts opens as a store whose accounts can be listed. The SQLite engine
// is a very large package: under coverage guidance the fuzzing engine
// spends its time on SQLite's counters and runs few inputs, while a test
// binary built without coverage runs some thousand a second: in this
// directory, go test -c -o /tmp/sqlstore.test && /tmp/sqlstore.test
// -test.run '^$' -test.fuzz FuzzInspectSQLite -test.fuzztime 1m.
func FuzzInspectSQLite(f *testing.F) {
	dir := f.TempDir()
	good := filepath.Join(dir, "good.db")
	s, err := OpenSQLite(context.Background(), good)
	if err != nil {
		f.Fatal(err)
	}
	s.InitMeta(context.Background(), MetaKeyCheck, "kc")
	s.Close()
	b, err := os.ReadFile(good)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add(b[:100])
	f.Add([]byte{})
	f.Add([]byte("SQLite format 3\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "in.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := InspectSQLite(ctx, path); err != nil {
			return
		}
		st, err := OpenSQLite(ctx, path)
		if err != nil {
			t.Fatalf("InspectSQLite accepted a file OpenSQLite refuses: %v", err)
		}
		defer st.Close()
		if _, err := st.ListAccounts(ctx); err != nil {
			t.Fatalf("InspectSQLite accepted a file whose accounts cannot be listed: %v", err)
		}
	})
}
