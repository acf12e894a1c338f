package cli

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cpauth/cpauth/internal/datadir"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/store/sqlstore"
	"github.com/cpauth/cpauth/internal/store/storecopy"
)

// runKey exports or imports the server key, which the nodes of a cluster
// share: keyed hashes and sealed values made on one node must verify on all.
func runKey(ctx context.Context, env *Env, args []string) int {
	fs, _, cfgPath := flagSet(env, "key", "key [flags] export|import   (import reads the hex key from standard input)")
	force := fs.Bool("force", false, "import: replace an existing key (credentials made under the old key stop working)")
	cfg, code, ok := parse(env, fs, cfgPath, args)
	if !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	path := cfg.KeyPath()
	switch fs.Arg(0) {
	case "export":
		k, created, err := secret.LoadOrCreateKey(path)
		if err != nil {
			fmt.Fprintf(env.Stderr, "cpauth: %v\n", err)
			return 1
		}
		if created {
			fmt.Fprintf(env.Stderr, "cpauth: created a new server key in %s\n", path)
		}
		fmt.Fprintln(env.Stdout, hex.EncodeToString(k.Bytes()))
		return 0
	case "import":
		line, err := bufio.NewReader(env.Stdin).ReadString('\n')
		if err != nil && line == "" {
			fmt.Fprintln(env.Stderr, "cpauth: no key on standard input")
			return 1
		}
		raw, err := hex.DecodeString(strings.TrimSpace(line))
		if err == nil {
			_, err = secret.KeyFromBytes(raw)
		}
		if err != nil {
			fmt.Fprintln(env.Stderr, "cpauth: the key must be 64 hexadecimal characters, as `cpauth key export` prints")
			return 1
		}
		if _, statErr := os.Stat(path); statErr == nil && !*force {
			fmt.Fprintf(env.Stderr, "cpauth: %s exists; use --force to replace it (access hashes and other keyed secrets made under it stop working)\n", path)
			return 1
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			fmt.Fprintf(env.Stderr, "cpauth: %v\n", err)
			return 1
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(hex.EncodeToString(raw)+"\n"), 0o600); err != nil {
			fmt.Fprintf(env.Stderr, "cpauth: %v\n", err)
			return 1
		}
		if err := os.Rename(tmp, path); err != nil {
			os.Remove(tmp)
			fmt.Fprintf(env.Stderr, "cpauth: %v\n", err)
			return 1
		}
		fmt.Fprintf(env.Stderr, "cpauth: imported the server key into %s\n", path)
		return 0
	}
	fs.Usage()
	return 2
}

// runMigrateStore copies a single node's SQLite data into a (new, empty)
// PostgreSQL cluster database.
func runMigrateStore(ctx context.Context, env *Env, args []string) int {
	fs, _, cfgPath := flagSet(env, "migrate-store", "migrate-store --from sqlite:PATH --to postgres:DSN\n\n"+
		"  --to postgres (without a DSN) takes the DSN from $CPAUTH_POSTGRES_DSN or --postgres-dsn-file,\n"+
		"  so that it does not show in ps. The target must be empty; the copy is verified by counts.")
	from := fs.String("from", "", "source store: sqlite:PATH (the cpauth.db of a data directory)")
	to := fs.String("to", "", "target store: postgres:DSN, or postgres")
	cfg, code, ok := parse(env, fs, cfgPath, args)
	if !ok {
		return code
	}
	// The data directory the source is the store of (its cpauth.db): no
	// daemon may write to it during the copy, and it is marked as moved.
	var srcDir string
	if kind, path, _ := strings.Cut(*from, ":"); kind == "sqlite" && filepath.Base(path) == datadir.DBFile {
		srcDir = filepath.Dir(path)
		if _, err := os.Stat(path); err == nil {
			lock, err := datadir.Acquire(srcDir)
			if err != nil {
				fmt.Fprintf(env.Stderr, "cpauth: %v: stop it first (what it wrote during the copy would be lost)\n", err)
				return 1
			}
			defer lock.Release()
		}
	}
	src, err := openStoreURL(ctx, *from, cfg.PostgresDSN)
	if err != nil {
		fmt.Fprintf(env.Stderr, "cpauth: --from: %v\n", err)
		return 2
	}
	defer src.Close()
	dst, err := openStoreURL(ctx, *to, cfg.PostgresDSN)
	if err != nil {
		fmt.Fprintf(env.Stderr, "cpauth: --to: %v\n", err)
		return 2
	}
	defer dst.Close()
	counts, err := storecopy.Copy(ctx, src, dst)
	if err != nil {
		if errors.Is(err, storecopy.ErrTargetNotEmpty) {
			fmt.Fprintln(env.Stderr, "cpauth: the target store is not empty: refusing to overwrite it")
			return 1
		}
		fmt.Fprintf(env.Stderr, "cpauth: %v\n", err)
		return 1
	}
	// The key check goes along: a node started with another key than the
	// one the copied secrets were sealed with says so.
	if kc, ok, err := src.Meta(ctx, sqlstore.MetaKeyCheck); err == nil && ok {
		if _, err := dst.InitMeta(ctx, sqlstore.MetaKeyCheck, kc); err != nil {
			fmt.Fprintf(env.Stderr, "cpauth: %v\n", err)
			return 1
		}
	}
	fmt.Fprintf(env.Stdout, "copied and verified: %s\n", counts)
	if srcDir != "" && dst.Dialect() == sqlstore.Postgres {
		id, err := dst.StoreID(ctx)
		if err == nil {
			err = datadir.WriteMark(srcDir, datadir.Mark{Store: datadir.Postgres, StoreID: id, SetBy: "migrate-store", SetAt: time.Now()})
		}
		if err != nil {
			fmt.Fprintf(env.Stderr, "cpauth: the copy is done, but marking %s as moved failed: %v\n", srcDir, err)
			return 1
		}
		fmt.Fprintf(env.Stdout, "The data directory %s now belongs to the PostgreSQL store: its commands need --store postgres and the DSN (%s stays, unused).\n",
			srcDir, datadir.DBFile)
	}
	fmt.Fprintln(env.Stdout, "Give every node the same server key (cpauth key export | cpauth key import) before it serves.")
	return 0
}

// openStoreURL opens "sqlite:PATH", "postgres:DSN" or "postgres" (DSN from
// the configuration).
func openStoreURL(ctx context.Context, u, configDSN string) (*sqlstore.Store, error) {
	kind, rest, _ := strings.Cut(u, ":")
	switch kind {
	case "sqlite":
		if rest == "" {
			return nil, errors.New("sqlite: needs a path, e.g. sqlite:./cpauth-data/cpauth.db")
		}
		if _, err := os.Stat(rest); err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
		return sqlstore.OpenSQLite(ctx, rest)
	case "postgres", "postgresql":
		dsn := rest
		if u == kind {
			dsn = configDSN
		} else if strings.HasPrefix(rest, "//") {
			dsn = u // a postgres:// URL
		}
		if dsn == "" {
			return nil, errors.New("postgres: no DSN (give postgres:DSN, $CPAUTH_POSTGRES_DSN or --postgres-dsn-file)")
		}
		return sqlstore.OpenPostgres(ctx, dsn, sqlstore.PoolOptions{})
	}
	return nil, errors.New("a store is sqlite:PATH or postgres:DSN")
}
