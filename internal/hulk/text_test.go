package hulk

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/store/sqlstore"
	"github.com/cpauth/cpauth/internal/store/sqlstore/pgtest"
)

func TestStorable(t *testing.T) {
	tests := []struct {
		name, in string
		n        int
		want     string
	}{
		{"plain", "info@bob.test", 128, "info@bob.test"},
		{"invalid UTF-8", "ro\xffot", 128, "ro\uFFFDot"},
		{"NUL", "a\x00b", 128, "a?b"},
		{"DEL and a tab", "a\x7fb\tc", 128, "a?b?c"},
		{"cut at a character boundary", strings.Repeat("€", 50), 128, strings.Repeat("€", 42)},
		{"cut plain text", strings.Repeat("a", 200), 128, strings.Repeat("a", 128)},
		{"not cut when it fits", "é", 2, "é"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := storable(tc.in, tc.n); got != tc.want {
				t.Errorf("storable(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
		})
	}
}

// Login names are attacker-chosen bytes: whatever arrives, what the
// regulator stores is text every store takes, and stable.
func FuzzStorable(f *testing.F) {
	for _, s := range []string{"root", "ro\xffot", "a\x00b", strings.Repeat("€", 50), "\xe2\x82"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := clipUser(s)
		if !utf8.ValidString(c) || len(c) > maxUserLen || strings.ContainsFunc(c, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("clipUser(%q) = %q: not storable", s, c)
		}
		if again := clipUser(c); again != c {
			t.Fatalf("clipUser(%q) = %q, and of that %q", s, c, again)
		}
	})
}

// A failure under any name is written to the store: on PostgreSQL a name
// that was not valid text failed its batch, and every failure after it was
// never written (other nodes and a restart did not count them).
func TestAnyNameIsWritten(t *testing.T) {
	stores := []struct {
		name string
		open func(t *testing.T) store.Store
	}{
		{"sqlite", func(t *testing.T) store.Store { return newStore(t) }},
		{"postgres", func(t *testing.T) store.Store {
			s, err := sqlstore.OpenPostgres(t.Context(), pgtest.Schema(t), sqlstore.PoolOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s := st.open(t)
			c := start()
			r := newRegulator(t, s, c, map[string]string{"max_failures": "3"})
			names := []string{"ro\xffot", "a\x00b", strings.Repeat("€", 50), "after them"}
			for i, n := range names {
				for j := range 3 {
					try(r, attempt(n, fmt.Sprintf("10.5.%d.%d", i, j), fmt.Sprint("g", j)), false)
				}
			}
			if err := r.Flush(t.Context()); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			fs, err := r.Failures(t.Context())
			if err != nil || len(fs) != 3*len(names) {
				t.Fatalf("%d failures written (%v), want %d", len(fs), err, 3*len(names))
			}
			for _, f := range fs {
				if !utf8.ValidString(f.User) || strings.ContainsRune(f.User, 0) {
					t.Errorf("stored name %q", f.User)
				}
			}
			bs, err := r.Blocks(t.Context())
			if err != nil || len(bs) != len(names) {
				t.Errorf("%d blocks written (%v), want one per name: %+v", len(bs), err, bs)
			}
			// The name as sent is refused: it is counted as stored.
			for _, n := range names {
				if ok, _ := r.Admit(t.Context(), attempt(n, "10.6.0.1", "x")); ok {
					t.Errorf("%q admitted after its block", n)
				}
			}
		})
	}
}
