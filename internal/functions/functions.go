// Package functions implements the API functions themselves, against store
// interfaces; the flavour packages wrap their results in envelopes.
package functions

import (
	"context"
	"errors"
	"github.com/cpauth/cpauth/internal/hulk"
	"github.com/cpauth/cpauth/internal/logs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/sessions"
	"github.com/cpauth/cpauth/internal/store"
)

// CPanelVersion is the cPanel & WHM API level cpauth speaks; WHM API 1
// `version` reports it, since clients compare it to choose features.
const CPanelVersion = "11.134.0.0"

// Env is what the functions need: the store, the server key, the password
// hasher, the data directory, a clock and a logger.
type Env struct {
	Store   store.Store
	Key     *secret.Key
	Hasher  *secret.Hasher
	DataDir string
	Now     func() time.Time
	Log     *slog.Logger
	// Sessions makes the one-time sessions of single sign-on and Webmail
	// hand-off.
	Sessions *sessions.Manager
	// TLSPort is the TLS port of a service, for the URLs functions return
	// (nil or 0: the standard port).
	TLSPort func(core.Service) int
	// Guard is the brute-force regulator, asked before a function checks a
	// credential (a mailbox password, a two-factor code; nil: auth.NoGuard).
	Guard auth.Guard
	// Passwords checks the passwords functions check (a mailbox's, for
	// Session::create_webmail_session_for_mail_user_check_password) as the
	// password method of the chain does (nil: one over Store and Hasher).
	Passwords *auth.Password
	// TwoFactor checks two-factor codes (nil: one over Store, Key, Now).
	TwoFactor *auth.TwoFactor
	// Hostname is this server's configured host name, in lower case: the
	// default two-factor issuer, and the host of the absolute URLs made
	// for a request whose Host does not name this server (ServerHost; "":
	// the system's host name).
	Hostname string
	// Hulk is the brute-force regulator the cPHulk functions manage.
	Hulk *hulk.Regulator
	// Logs are cPanel's log files: the one-time sessions functions make
	// go to session_log (nil: none).
	Logs *logs.Logs
	// Listen is the configured listen address ("" for every interface):
	// the server's address when the server-ip setting is empty and it
	// names one (ServerIP).
	Listen string
}

// Registry builds the table of every function.
func (e *Env) Registry() *api.Registry {
	r := api.NewRegistry()
	e.registerWHM(r)
	e.registerUAPI(r)
	e.registerAPI2(r)
	e.registerTokens(r)
	e.registerSessions(r)
	e.registerSSO(r)
	e.registerTwoFactor(r)
	e.registerPasskeys(r)
	e.registerHulk(r)
	e.registerDomains(r)
	return r
}

func (e *Env) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// account loads an account, turning ErrNotFound into a caller-facing error.
func (e *Env) account(ctx context.Context, user string) (store.Account, error) {
	a, err := e.Store.GetAccount(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return a, noSuchUser(user)
	}
	if err != nil {
		return a, core.Internal(err)
	}
	return a, nil
}

// manages reports whether a WHM principal may act on account a: root
// (whatever its token's ACLs: they decide which functions it calls, not
// which accounts) and root-like principals on any account, a reseller on
// the accounts it owns and on itself.
func manages(p core.Principal, a store.Account) bool {
	if p.Role == core.RoleRoot || p.IsRootLike() {
		return true
	}
	if p.Role != core.RoleReseller {
		return false
	}
	return a.Owner == p.User || a.Username == p.User
}

// managedAccount loads user and checks the caller may act on it. Unknown and
// not-yours look the same to a reseller, so it cannot probe for names.
func (e *Env) managedAccount(ctx context.Context, p core.Principal, user string) (store.Account, error) {
	if user == "" {
		return store.Account{}, required("user")
	}
	a, err := e.Store.GetAccount(ctx, user)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !manages(p, a)) {
		return store.Account{}, noSuchUser(user)
	}
	if err != nil {
		return store.Account{}, core.Internal(err)
	}
	return a, nil
}

// homeDir is where cPanel-format files of a user live (<data-dir>/home/<user>).
func (e *Env) homeDir(user string) string {
	// The common case (a clean data directory other than "", "/" or ".",
	// and a plain name) needs no cleaning: join it directly, as
	// get_user_information asks on every call. Only where the separator is
	// '/': elsewhere volume names join differently.
	if filepath.Separator == '/' && plainName(user) && e.DataDir != "" && e.DataDir != "/" && e.DataDir != "." && filepath.Clean(e.DataDir) == e.DataDir {
		return e.DataDir + "/home/" + user
	}
	return filepath.Join(e.DataDir, "home", user)
}

// plainName reports whether a path element is a name that filepath.Join
// keeps as it is: not empty, not "." or "..", without a '/'.
func plainName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.Contains(s, "/")
}

// Impersonate checks that a WHM caller may act as the cPanel account user
// (root, or the reseller that owns it, or the reseller itself) and returns the
// principal to run cPanel functions as.
func (e *Env) Impersonate(ctx context.Context, caller core.Principal, user string) (core.Principal, error) {
	if user == "" {
		return core.Principal{}, core.Errorf(core.KindInvalid, "User parameter is invalid or was not supplied")
	}
	if user == "root" {
		return core.Principal{}, core.Errorf(core.KindInvalid, "The user “root” is not associated with a cPanel account and cannot call cPanel API 2")
	}
	a, err := e.Store.GetAccount(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return core.Principal{}, core.Errorf(core.KindInvalid, "User parameter is invalid or was not supplied")
	}
	if err != nil {
		return core.Principal{}, core.Internal(err)
	}
	if !(caller.Role == core.RoleRoot || a.Owner == caller.User || a.Username == caller.User || caller.IsRootLike()) {
		return core.Principal{}, core.Errorf(core.KindPermission, "Access Denied to %s", user)
	}
	if err := api.ActInside(caller, user); err != nil {
		return core.Principal{}, err // D25
	}
	role := core.RoleCPanel
	if a.Reseller {
		role = core.RoleReseller
	}
	// The account's principal carries the caller's credential: its method,
	// token and bounds, so that what the cPanel function makes is held
	// within them (D24).
	return core.Principal{
		User: a.Username, Role: role, Account: a.Username, Method: caller.Method, Service: core.ServiceCPanel, ACLs: core.ACLSet{},
		TokenName: caller.TokenName, Bounds: caller.Bounds,
	}, nil
}

// writePrivate writes a file readable only by its owner, creating parents
// 0700, atomically (temp file and rename).
func writePrivate(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// removeAllUnder removes dir, but only when it lies inside root: a username
// can never steer a removal outside the data directory.
func removeAllUnder(dir, root string) error {
	rel, err := filepath.Rel(root, dir)
	if err != nil || rel == "." || rel == ".." || filepath.IsAbs(rel) || len(rel) > 2 && rel[:3] == "../" {
		return errors.New("refusing to remove a path outside the data directory")
	}
	return os.RemoveAll(dir)
}
