// Package daemon is the program as a function tests can start: it opens the
// data directory, builds the store, the auth chain and the registry, and
// serves the six ports until its context ends.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/functions"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/store/sqlstore"
)

// Data is an opened data directory: what both the daemon and the local CLI
// twins work on.
type Data struct {
	Dir      string
	Store    store.Store
	Key      *secret.Key
	Hasher   *secret.Hasher
	Env      *functions.Env
	Registry *api.Registry
	Chain    auth.Chain
	// RootPasswordFile is set when this open created the root account.
	RootPasswordFile string
}

// Close releases the store.
func (d *Data) Close() error { return d.Store.Close() }

// Open opens (creating on first use) the data directory: mode 0700, the
// server key, the SQLite store, and the root account with a random password
// written to <dir>/initial-root-password (0600).
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*Data, error) {
	dir := cfg.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	key, _, err := secret.LoadOrCreateKey(filepath.Join(dir, "server.key"))
	if err != nil {
		return nil, err
	}
	hasher, err := secret.NewHasher(cfg.HashRounds)
	if err != nil {
		return nil, err
	}
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "cpauth.db"))
	if err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	d := &Data{Dir: dir, Store: st, Key: key, Hasher: hasher}
	d.Env = &functions.Env{Store: st, Key: key, Hasher: hasher, DataDir: dir, Now: time.Now, Log: log}
	d.Registry = d.Env.Registry()
	d.Chain = auth.Chain{
		&auth.Password{Store: st, Hasher: hasher},
		&auth.AccessHash{Store: st, Key: key},
	}
	if err := d.ensureRoot(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return d, nil
}

// ensureRoot creates the root account on first start.
func (d *Data) ensureRoot(ctx context.Context) error {
	_, err := d.Store.GetAccount(ctx, "root")
	if err == nil {
		return nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	pass, err := secret.RandomString(24, secret.PasswordChar)
	if err != nil {
		return err
	}
	hash, err := d.Hasher.Hash(pass)
	if err != nil {
		return err
	}
	path := filepath.Join(d.Dir, "initial-root-password")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(pass + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	now := time.Now()
	err = d.Store.CreateAccount(ctx, store.Account{Username: "root", PasswordHash: hash, Created: now, PasswordChanged: now})
	if errors.Is(err, store.ErrExists) {
		return nil // another process won the race
	}
	if err != nil {
		return err
	}
	d.RootPasswordFile = path
	return nil
}
