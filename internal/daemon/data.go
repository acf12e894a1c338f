// Package daemon is the program as a function tests can start: it opens the
// data directory, builds the store, the auth chain and the registry, and
// serves the six ports until its context ends.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/datadir"
	"github.com/cpauth/cpauth/internal/functions"
	"github.com/cpauth/cpauth/internal/gateway"
	"github.com/cpauth/cpauth/internal/hulk"
	"github.com/cpauth/cpauth/internal/logs"
	"github.com/cpauth/cpauth/internal/metrics"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/sessions"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/store/cached"
	"github.com/cpauth/cpauth/internal/store/observed"
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
	// Cache is the in-memory layer over a shared store (nil on SQLite).
	Cache *cached.Store
	// Uses records API token uses (last used time and address) off the
	// request path, at most once a minute per token; Close flushes it.
	Uses *auth.UseRecorder
	// Sessions makes browser sessions at login; Touches records their
	// use (LastSeen) off the request path, at most once a minute per
	// session. Close flushes it.
	Sessions *sessions.Manager
	Touches  *sessions.Toucher
	// SessionAuth is the session method of Chain, which pages use alone.
	SessionAuth *auth.Session
	// TwoFactor checks two-factor codes and says which requests need one.
	TwoFactor *auth.TwoFactor
	// Now is the clock of token and session expiry, the API functions and
	// the purges.
	Now func() time.Time
	// Hulk is the brute-force regulator; the daemon runs its sync loop
	// (Close stops it and writes what is pending).
	Hulk *hulk.Regulator
	// Logs are cPanel's log files and the audit stream in <dir>/logs.
	Logs *logs.Logs
	// PasswordCache remembers successful password checks (D32); the
	// configuration may turn it off (and a reload on again).
	PasswordCache *auth.PasswordCache
	// HashPool admits the password checks that hash (every one of them:
	// Basic, /login, the mailbox check of single sign-on).
	HashPool *auth.HashPool
	// Records is what gateway mode keeps besides the Store (the backend
	// tokens it minted), in the same database; no cache holds it.
	Records store.GatewayStore
	// metrics are the daemon's metrics (nil: off, and always for the CLI
	// twins).
	metrics *metrics.Metrics

	// ping runs the smallest query on the store (readiness).
	ping func(ctx context.Context) error
	// lock is the serve lock a daemon holds on the directory (nil for
	// the local commands); Close releases it.
	lock *datadir.Lock

	stopWatch context.CancelFunc
	watching  sync.WaitGroup
	stopUses  context.CancelFunc
	recording sync.WaitGroup
	stopHulk  context.CancelFunc
	hulking   sync.WaitGroup
}

// Options are what a caller (a test) may inject; the zero value is what
// production runs.
type Options struct {
	// Now replaces time.Now as the clock of token and session expiry, the
	// API functions and the purges.
	Now func() time.Time
	// Guard replaces the brute-force regulator the server asks before
	// every credential check (nil: the daemon's own).
	Guard auth.Guard
	// Stderr receives the report of a log file that cannot be written
	// (nil: os.Stderr).
	Stderr io.Writer
	// Level is the level of the daemon's logger, which Reload sets from
	// log-level (nil: the level does not change).
	Level *slog.LevelVar

	// metrics, set by StartWith when the configuration turns them on.
	metrics *metrics.Metrics
}

// Close writes what was noted in memory and releases the store, in this
// order: the API tokens' and sessions' last uses, the brute-force
// regulator's failures and blocks, the log lines that wait (and the log
// files close); then the change feed stops and the store closes. Nothing
// is written after the store is closed.
func (d *Data) Close() error {
	if d.stopUses != nil {
		d.stopUses() // each recorder writes what it holds as it stops
		d.recording.Wait()
	}
	if d.stopHulk != nil {
		d.stopHulk() // the regulator writes what it holds as it stops
		d.hulking.Wait()
	}
	d.Logs.Close() // after the regulator: a block it writes has a line in cphulkd.log
	if d.stopWatch != nil {
		d.stopWatch()
		d.watching.Wait()
	}
	err := d.Store.Close()
	d.lock.Release() // last: no other daemon starts until this one is done
	return err
}

// logBlock writes cphulkd.log's line for a block the regulator decided.
func logBlock(l *logs.Logs, cfg hulk.Config, b store.HulkBlock) {
	e := logs.Block{Reason: b.Reason, App: b.Service, Address: b.Address, User: b.User, Failures: b.Failures, Until: b.Until}
	switch b.Kind {
	case store.HulkBlockIP:
		e.Max = cfg.MaxFailuresByIP
	case store.HulkBlockExcessive:
		e.Max = cfg.MarkAsBrute
	default:
		e.Max = cfg.MaxFailures
	}
	l.CPHulk(e)
}

// Open opens (creating on first use) the data directory: mode 0700, the
// server key, the SQLite store, and the root account with a random password
// written to <dir>/initial-root-password (0600). Whatever in the directory
// is looser than 0600 (files) or 0700 (directories) is tightened, and
// logged.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*Data, error) {
	return open(ctx, cfg, log, false, Options{})
}

// open is Open; with cache set (the daemon), a store shared by several
// nodes gets the in-memory layer, kept true by the store's change feed,
// and the directory's serve lock is held until Close.
func open(ctx context.Context, cfg config.Config, log *slog.Logger, cache bool, opts Options) (*Data, error) {
	dir := cfg.DataDir
	if err := os.MkdirAll(dir, maxDirMode); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	var lock *datadir.Lock
	if cache {
		l, err := datadir.Acquire(dir)
		if err != nil {
			return nil, err
		}
		lock = l
	}
	d, err := openData(ctx, cfg, log, cache, opts)
	if err != nil {
		lock.Release()
		return nil, err
	}
	d.lock = lock
	return d, nil
}

func openData(ctx context.Context, cfg config.Config, log *slog.Logger, cache bool, opts Options) (*Data, error) {
	dir := cfg.DataDir
	// Before anything is opened: SQLite makes the -wal and -shm files with
	// the database file's mode.
	tightenModes(dir, log)
	// Before anything is created: a command must not make a new SQLite
	// database in a directory that belongs to PostgreSQL, nor the reverse.
	kind := datadir.SQLite
	if cfg.Store == "postgres" {
		kind = datadir.Postgres
	}
	mark, claimed, err := datadir.Check(dir, kind)
	if err != nil {
		return nil, err
	}
	key, _, err := secret.LoadOrCreateKey(cfg.KeyPath())
	if err != nil {
		return nil, err
	}
	hasher, err := secret.NewHasher(cfg.HashRounds)
	if err != nil {
		return nil, err
	}
	var sq *sqlstore.Store
	switch kind {
	case datadir.Postgres:
		sq, err = sqlstore.OpenPostgres(ctx, cfg.PostgresDSN, sqlstore.PoolOptions{MaxOpenConns: cfg.PostgresMaxConns})
	default:
		sq, err = sqlstore.OpenSQLite(ctx, filepath.Join(dir, datadir.DBFile))
	}
	if err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	if err := bindStore(ctx, sq, dir, kind, mark, claimed, cache, key, cfg.KeyPath(), log); err != nil {
		sq.Close()
		return nil, err
	}
	var st store.Store = sq
	var hulkStore store.HulkStore = sq
	if m := opts.metrics; m != nil {
		// Every call that reaches the database is timed; the cache in
		// front (below) answers the others.
		st = observed.New(sq, m)
		hulkStore = st
	}
	d := &Data{Dir: dir, Store: st, Key: key, Hasher: hasher, Records: sq, metrics: opts.metrics}
	d.ping = func(ctx context.Context) error {
		var one int
		return sq.DB().QueryRowContext(ctx, "SELECT 1").Scan(&one)
	}
	d.Now = opts.Now
	if d.Now == nil {
		d.Now = time.Now
	}
	stderr := opts.Stderr
	if stderr == nil {
		stderr = os.Stderr
	}
	d.Logs = logs.Open(filepath.Join(dir, "logs"), logs.Options{Stderr: stderr, Now: d.Now,
		MaxSize: int64(cfg.LogMaxSizeMB) << 20, Keep: cfg.LogKeep})
	d.Hulk = &hulk.Regulator{Store: hulkStore, Now: d.Now, Log: log, Version: sq.ChangeVersion()}
	d.Hulk.OnBlock = func(b store.HulkBlock) {
		logBlock(d.Logs, d.Hulk.Config(), b)
		if d.metrics != nil {
			d.metrics.HulkBlock(b.Kind)
		}
	}
	if err := d.Hulk.Load(ctx); err != nil {
		sq.Close()
		return nil, fmt.Errorf("loading the brute-force regulator's state: %w", err)
	}
	if w := sq.ChangeFeed(); w != nil && cache {
		d.Cache = cached.New(st)
		if v := sq.ChangeVersion(); v != nil {
			// SQLite: other processes (the CLI twins) bump a shared
			// counter that the cache checks on every read.
			d.Cache.SetVersion(v)
		}
		d.Store = d.Cache
		if d.metrics != nil {
			d.metrics.WatchChangeFeed()
		}
		wctx, stop := context.WithCancel(context.Background())
		d.stopWatch = stop
		d.watching.Add(1)
		go func() {
			defer d.watching.Done()
			// The regulator hears the same feed: its state is not cached
			// but read again when another process changes it.
			onChange := func(c store.Change) {
				d.Cache.Invalidate(c)
				d.Hulk.Changed(c)
				if d.metrics != nil {
					d.metrics.FeedChange()
				}
			}
			onLive := func(live bool) {
				if d.metrics != nil {
					d.metrics.FeedLive(live)
				}
				d.Cache.SetLive(live)
				if live {
					d.Hulk.Resync() // what the feed missed meanwhile
				}
			}
			if err := w.Watch(wctx, onChange, onLive); err != nil && wctx.Err() == nil {
				log.Error("change feed stopped", "error", err)
			}
		}()
	}
	st = d.Store
	if cache {
		// The daemon: write counted failures and blocks, hear the
		// other nodes' (the CLI twins only read and change state).
		hctx, stop := context.WithCancel(context.Background())
		d.stopHulk = stop
		d.hulking.Add(1)
		go func() {
			defer d.hulking.Done()
			d.Hulk.Run(hctx)
		}()
	}
	d.TwoFactor = &auth.TwoFactor{Store: st, Key: key, Now: d.Now}
	d.Env = &functions.Env{Store: st, Key: key, Hasher: hasher, DataDir: dir, Now: d.Now, Log: log, TwoFactor: d.TwoFactor, Hulk: d.Hulk, Logs: d.Logs,
		Hostname: strings.ToLower(cfg.Hostname), Listen: cfg.Listen}
	d.Registry = d.Env.Registry()
	d.Uses = auth.NewUseRecorder(st)
	d.Touches = sessions.NewToucher(st)
	d.Sessions = &sessions.Manager{Store: st, Key: key, Now: d.Now, IdleTimeout: cfg.SessionIdleTimeout, Lifetime: cfg.SessionLifetime, SSOIdleTimeout: cfg.SSOIdleTimeout}
	d.Env.Sessions = d.Sessions
	ports := cfg.Ports()
	d.Env.TLSPort = func(svc core.Service) int {
		// The configured TLS ports; a running daemon replaces this with
		// the ports it bound.
		switch svc {
		case core.ServiceCPanel:
			return ports[1]
		case core.ServiceWHM:
			return ports[3]
		case core.ServiceWebmail:
			return ports[5]
		}
		return 0
	}
	uctx, stopUses := context.WithCancel(context.Background())
	d.stopUses = stopUses
	d.recording.Add(2)
	go func() {
		defer d.recording.Done()
		d.Uses.Run(uctx)
	}()
	go func() {
		defer d.recording.Done()
		d.Touches.Run(uctx)
	}()
	// The access-hash method answers only for the user's own access hash;
	// any other WHM secret (an API token, or an access hash imported as
	// one) falls through to the token method. The session method answers
	// only requests without an Authorization header.
	d.SessionAuth = &auth.Session{Store: st, Key: key, Now: d.Now, Touches: d.Touches}
	// The verified-password cache (D32) is bound to each account's current
	// hash, read from st on every check: on a cluster, the cached store
	// the change feed keeps true.
	d.PasswordCache, err = auth.NewAdjustablePasswordCache(cfg.PasswordCacheSize, cfg.PasswordCacheTTL, d.Now)
	if err != nil {
		d.Close()
		return nil, err
	}
	// The pool of password checks: a flood of guesses hashes on at most
	// its workers' cores, and the other calls keep the rest.
	workers := cfg.PasswordCheckWorkers
	if workers == 0 {
		workers = auth.DefaultHashWorkers()
	}
	d.HashPool = auth.NewHashPool(workers, cfg.PasswordCheckQueue, cfg.PasswordCheckWait)
	if m := d.metrics; m != nil {
		// Read at each scrape, but the pool's waits (OnWait, set
		// here before any check).
		m.WatchHashPool(d.HashPool)
		m.WatchPasswordCache(d.PasswordCache)
		m.WatchHulk(d.Hulk.Stats)
		m.WatchLogs(d.Logs)
		m.WatchCredentials(sq)
	}
	passwords := &auth.Password{Store: st, Hasher: hasher, Log: log, Cache: d.PasswordCache, Pool: d.HashPool}
	d.Env.Passwords = passwords
	d.Chain = auth.Chain{
		passwords,
		&auth.AccessHash{Store: st, Key: key},
		&auth.Token{Store: st, Key: key, Now: d.Now, Uses: d.Uses},
		d.SessionAuth,
	}
	ensure := d.ensureRoot
	if cfg.Upstream.Enabled() {
		ensure = d.ensureMirroredRoot
	}
	if err := ensure(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// bindStore ties the data directory and the store it opened together: a
// PostgreSQL database must be the one the directory's mark names (its
// store id), a directory that belonged to no store is marked as this
// one's, and a server key other than the one the store's secrets were
// sealed with is reported.
func bindStore(ctx context.Context, sq *sqlstore.Store, dir, kind string, mark datadir.Mark, claimed, serve bool, key *secret.Key, keyPath string, log *slog.Logger) error {
	var id string
	if kind == datadir.Postgres && claimed {
		// Read, not made: a database without the id is not this
		// directory's either, and is left as it was found.
		got, ok, err := sq.Meta(ctx, sqlstore.MetaStoreID)
		if err != nil {
			return err
		}
		if !ok || got != mark.StoreID {
			if !ok {
				got = "none"
			}
			return fmt.Errorf("the PostgreSQL database the DSN names is not the store of the data directory %s "+
				"(its store id is %s, the directory's %s, %s): check the DSN ($CPAUTH_POSTGRES_DSN, --postgres-dsn-file)",
				dir, got, mark.StoreID, mark.Describe())
		}
	}
	if kind == datadir.Postgres && !claimed {
		var err error
		if id, err = sq.StoreID(ctx); err != nil {
			return err
		}
	}
	if !claimed {
		by := "a local command"
		if serve {
			by = "serve"
		}
		if err := datadir.Claim(dir, datadir.Mark{Store: kind, StoreID: id, SetBy: by, SetAt: time.Now()}); err != nil {
			return err
		}
	}
	check := key.Check()
	got, err := sq.InitMeta(ctx, sqlstore.MetaKeyCheck, check)
	if err != nil {
		return err
	}
	if got != check {
		// Not refused: `cpauth key import --force` replaces a key on
		// purpose. What was sealed or keyed under the old one stops
		// working, and the log says why.
		log.Warn("the server key is not the one this store's secrets were sealed with: access hashes, API tokens, "+
			"sessions and two-factor secrets made under the other key do not work; give the right key (key-file) "+
			"or restore the store together with its key", "key_file", keyPath, "store", kind)
	}
	return nil
}

// ensureMirroredRoot creates the root account of gateway mode: a record
// of the directory, whose password is the backend's (it holds the
// gateway's mark, never a hash), so no initial password is made.
func (d *Data) ensureMirroredRoot(ctx context.Context) error {
	_, err := d.Store.GetAccount(ctx, "root")
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return err
	}
	mark, err := gateway.NewMark()
	if err != nil {
		return err
	}
	now := time.Now()
	err = d.Store.CreateAccount(ctx, store.Account{Username: "root", PasswordHash: mark, Created: now, PasswordChanged: now})
	if errors.Is(err, store.ErrExists) {
		return nil
	}
	return err
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
		// Another node won the race: its password is root's, not ours.
		return os.Remove(path)
	}
	if err != nil {
		return err
	}
	d.RootPasswordFile = path
	return nil
}
