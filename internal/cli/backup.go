package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cpauth/cpauth/internal/backup"
	"github.com/cpauth/cpauth/internal/config"
)

// backupOptions names the data directory of cfg for the backup package.
func backupOptions(cfg config.Config) backup.Options {
	return backup.Options{Dir: cfg.DataDir, KeyPath: cfg.KeyPath(), Store: cfg.Store}
}

// runBackup copies the SQLite store out while the daemon may serve it.
func runBackup(ctx context.Context, env *Env, args []string) int {
	fs, _, cfgPath := flagSet(env, "backup", "backup [--force] [--with-key] FILE\n\n"+
		"  A consistent copy of the data directory's SQLite store, made while the daemon serves (mode 0600).\n"+
		"  --with-key writes the server key to FILE.key too. A PostgreSQL store is backed up with pg_dump.")
	force := fs.Bool("force", false, "replace FILE (and FILE.key) if they exist")
	withKey := fs.Bool("with-key", false, "also write the server key to FILE.key (0600): whoever holds both holds every sealed secret")
	cfg, code, ok := parse(env, fs, cfgPath, args)
	if !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	made, err := backup.Backup(ctx, backupOptions(cfg), fs.Arg(0), *force, *withKey)
	if err != nil {
		fmt.Fprintf(env.Stderr, "cpauth: %v\n", err)
		return 1
	}
	fmt.Fprintf(env.Stdout, "backed up %s to %s (accounts: %d, schema version %d)\n", made.From, made.To, made.Info.Accounts, made.Info.SchemaVersion)
	if made.Key != "" {
		fmt.Fprintf(env.Stderr, "cpauth: warning: the server key is in %s: whoever holds both files holds every sealed secret "+
			"(two-factor secrets, gateway tokens) and can test guesses against every access hash, API token and session; "+
			"keep the two apart, or encrypted\n", made.Key)
	} else {
		fmt.Fprintf(env.Stderr, "cpauth: the server key is not in the backup: keep %s separately (cpauth key export, or backup --with-key); "+
			"without it the backup's access hashes, API tokens, sessions and two-factor secrets do not work\n", cfg.KeyPath())
	}
	return 0
}

// runRestore puts a backup back into a stopped data directory.
func runRestore(ctx context.Context, env *Env, args []string) int {
	fs, _, cfgPath := flagSet(env, "restore", "restore [--key KEYFILE] FILE\n\n"+
		"  Installs a backup made by cpauth backup as the data directory's SQLite store. The daemon must be\n"+
		"  stopped. The store replaced is kept as cpauth.db.before-restore-TIME. A PostgreSQL store is restored with pg_restore.")
	keyFile := fs.String("key", "", "the server key file the backup was made with (e.g. FILE.key); the key replaced is kept as server.key.before-restore-TIME")
	cfg, code, ok := parse(env, fs, cfgPath, args)
	if !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	r, err := backup.Restore(ctx, backupOptions(cfg), fs.Arg(0), *keyFile, time.Now())
	for _, w := range r.Warnings {
		fmt.Fprintf(env.Stderr, "cpauth: warning: %s\n", w)
	}
	if err != nil {
		var ke *backup.KeyMismatchError
		if errors.As(err, &ke) {
			fmt.Fprintf(env.Stderr, "cpauth: %v; nothing was changed\n", err)
			return 1
		}
		fmt.Fprintf(env.Stderr, "cpauth: %v\n", err)
		return 1
	}
	fmt.Fprintf(env.Stdout, "restored %s into %s (accounts: %d, schema version %d)\n", fs.Arg(0), r.DB, r.Info.Accounts, r.Info.SchemaVersion)
	if r.Aside != "" {
		fmt.Fprintf(env.Stdout, "the store it replaced is kept as %s\n", r.Aside)
	}
	if r.Key != "" {
		fmt.Fprintf(env.Stdout, "installed the server key %s", r.Key)
		if r.KeyAside != "" {
			fmt.Fprintf(env.Stdout, " (the key it replaced is kept as %s)", r.KeyAside)
		}
		fmt.Fprintln(env.Stdout)
	}
	return 0
}
