package cached_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/store/cached"
	"github.com/cpauth/cpauth/internal/store/sqlstore"
)

// BenchmarkReadParallel reads, from every core at once, the records an
// authentication reads (an account, an access hash, a token by MAC, a
// session, a setting), all answered from memory. A read writes nothing
// shared, so that the rate scales with cores:
//
//	go test -run '^$' -bench BenchmarkReadParallel -cpu 1,2 ./internal/store/cached
//
// and a mutex profile of the run (-mutexprofile) shows no lock of the
// cache's.
func BenchmarkReadParallel(b *testing.B) {
	ctx := context.Background()
	inner, err := sqlstore.OpenSQLite(ctx, filepath.Join(b.TempDir(), "cpauth.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { inner.Close() })
	now := time.Now().Truncate(time.Second)
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(inner.CreateAccount(ctx, store.Account{Username: "root", Created: now}))
	must(inner.CreateAccount(ctx, store.Account{Username: "bob", Domain: "bob.test", Owner: "root", Created: now}))
	must(inner.SetAccessHash(ctx, store.AccessHash{Username: "root", MAC: "mac-of-hash", Sealed: make([]byte, 1000), Created: now}))
	must(inner.CreateToken(ctx, store.Token{Service: store.TokenWHM, Username: "root", Name: "t", MAC: "mac-of-token", Created: now}))
	must(inner.CreateSession(ctx, store.Session{IDHash: "id-hash", Kind: store.SessionNormal, Username: "bob", Account: "bob", Service: "cpaneld",
		SecurityToken: "/cpsess0000000001", Created: now, LastSeen: now, IdleTimeout: time.Hour, Expires: now.Add(time.Hour)}))
	must(inner.SetSetting(ctx, "requiressl", "0"))
	c := cached.New(inner)
	c.SetLive(true)
	for _, tc := range []struct {
		name string
		read func() error
	}{
		{"account", func() error { _, err := c.GetAccount(ctx, "bob"); return err }},
		// What authenticating by access hash reads (GetAccessHash copies
		// the sealed hash, a kilobyte, for the callers that open it).
		{"accesshash", func() error { _, err := c.AccessHashMAC(ctx, "root"); return err }},
		{"token", func() error { _, err := c.GetTokenByMAC(ctx, "mac-of-token"); return err }},
		{"session", func() error { _, err := c.GetSession(ctx, "id-hash"); return err }},
		{"setting", func() error { _, err := c.GetSetting(ctx, "requiressl"); return err }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range 3 { // remembered, and promoted to the lock-free part
				must(tc.read())
			}
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := tc.read(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
