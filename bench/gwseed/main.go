// Command gwseed fills a cpauth data directory with many cPanel accounts
// at once, for bench/gateway.sh: the backend of a gateway with a directory
// of a realistic size. It writes through the store, as the command-line
// twins do (a running daemon on that directory sees the accounts at its
// next read), one account per transaction, all with the same password
// hashed once at the given rounds.
//
//	go run ./bench/gwseed -data-dir backend-data -accounts 10000 -rounds 5000 -pass Seed-pass-1
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/store/sqlstore"
)

func main() {
	dir := flag.String("data-dir", "", "the data directory of a cpauth (SQLite)")
	n := flag.Int("accounts", 10000, "accounts to create: gwu00001, gwu00002, …")
	rounds := flag.Int("rounds", 5000, "SHA-512-crypt rounds of their password (the daemon's --hash-rounds, so that no login re-hashes it)")
	pass := flag.String("pass", "Seed-pass-1", "their password")
	flag.Parse()
	if err := seed(*dir, *n, *rounds, *pass); err != nil {
		fmt.Fprintln(os.Stderr, "gwseed:", err)
		os.Exit(1)
	}
}

func seed(dir string, n, rounds int, pass string) error {
	if dir == "" || n < 1 || n > 99999 {
		return fmt.Errorf("-data-dir is required and -accounts must be between 1 and 99999")
	}
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "cpauth.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	h, err := secret.NewHasher(rounds)
	if err != nil {
		return err
	}
	hash, err := h.Hash(pass)
	if err != nil {
		return err
	}
	now := time.Now()
	for i := 1; i <= n; i++ {
		u := fmt.Sprintf("gwu%05d", i)
		err := st.CreateAccount(ctx, store.Account{Username: u, Domain: u + ".test", Owner: "root", PasswordHash: hash,
			ContactEmail: "admin@" + u + ".test", Created: now, PasswordChanged: now})
		if err != nil {
			return err
		}
	}
	return nil
}
