package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/store/sqlstore/pgtest"
)

// clusterDB is a PostgreSQL schema owned by a role of its own, so that a
// test can cut exactly its nodes off the database (NOLOGIN and terminate
// the role's backends) without disturbing other tests sharing the server.
type clusterDB struct {
	dsn   string // as the nodes connect: the role, its schema
	role  string
	admin *sql.DB
}

func newClusterDB(t testing.TB) *clusterDB {
	t.Helper()
	base := pgtest.DSN(t)
	admin := pgtest.Admin(t)
	c := &clusterDB{role: pgtest.RandomName("cpauth_r_"), admin: admin}
	schema := pgtest.RandomName("c_")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, q := range []string{
		"CREATE ROLE " + c.role + " LOGIN",
		"CREATE SCHEMA " + schema + " AUTHORIZATION " + c.role,
	} {
		if _, err := admin.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c.cut(ctx, t)
		for _, q := range []string{"DROP SCHEMA " + schema + " CASCADE", "DROP ROLE " + c.role} {
			if _, err := admin.ExecContext(ctx, q); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	})
	u, err := url.Parse(base)
	if err != nil || !strings.HasPrefix(base, "postgres") {
		t.Skip("the cluster test needs " + pgtest.EnvDSN + " as a postgres:// URL")
	}
	u.User = url.User(c.role)
	c.dsn = pgtest.WithParam(t, u.String(), "search_path", schema)
	return c
}

// cut refuses new connections of the nodes' role and ends the open ones.
func (c *clusterDB) cut(ctx context.Context, t testing.TB) {
	t.Helper()
	for _, q := range []string{
		"ALTER ROLE " + c.role + " NOLOGIN",
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '" + c.role + "'",
	} {
		if _, err := c.admin.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func (c *clusterDB) restore(ctx context.Context, t testing.TB) {
	t.Helper()
	if _, err := c.admin.ExecContext(ctx, "ALTER ROLE "+c.role+" LOGIN"); err != nil {
		t.Fatal(err)
	}
}

// startNode starts one cpauth node of the cluster.
func startNode(t testing.TB, db *clusterDB, keyFile string) *testEnv {
	t.Helper()
	return startWith(t, func(c *config.Config) {
		c.Store = "postgres"
		c.PostgresDSN = db.dsn
		c.KeyFile = keyFile
	})
}

// within polls check until it holds or the deadline passes.
func within(d time.Duration, check func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if check() {
			return time.Since(start), true
		}
		if time.Since(start) > d {
			return time.Since(start), false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestCluster(t *testing.T) {
	db := newClusterDB(t)
	key := filepath.Join(t.TempDir(), "cluster.key")
	a := startNode(t, db, key)
	b := startNode(t, db, key)
	b.d.Data.Cache.CountHits(true) // checked below: the propagation is through B's cache
	if a.rootPass == "" || b.rootPass != "" {
		t.Fatalf("root should be created by A only: A has a password file: %v, B: %v", a.rootPass != "", b.rootPass != "")
	}
	b.rootPass = a.rootPass
	if a.d.Data.Cache == nil || !waitLive(a) || !waitLive(b) {
		t.Fatal("the nodes' change feeds did not come up")
	}
	root := basic("root", a.rootPass)
	version := "/json-api/version?api.version=1"
	status := func(e *testEnv, p port, path, auth string) int {
		r, err := e.try(request{port: p, path: path, auth: auth})
		if err != nil {
			return -1
		}
		return r.status
	}

	// Created on A, used on B: an account, its password, an access hash.
	whmOK(t, a.do(t, request{port: p2087, auth: root,
		path: "/json-api/createacct?api.version=1&username=nina&domain=nina.test&password=Nina-Pass-1"}))
	nina := basic("nina", "Nina-Pass-1")
	info := "/execute/Variables/get_user_information"
	if got := status(b, p2083, info, nina); got != 200 {
		t.Fatalf("account created on A, used on B: %d", got)
	}
	h := whmOK(t, a.do(t, request{port: p2087, auth: root, path: "/json-api/accesshash?api.version=1&generate=1"}))
	hash := str(dig(h, "data", "accesshash"))
	if got := status(b, p2087, version, "WHM root:"+hash); got != 200 {
		t.Fatalf("access hash made on A, used on B: %d", got)
	}

	// Changes on A take effect on B within one second; B had the old
	// state cached from the calls above.
	changes := []struct {
		name   string
		change string // WHM API 1 call on A
		port   port
		path   string
		auth   string
	}{
		{"password change", "/json-api/passwd?api.version=1&user=nina&password=Nina-Pass-2", p2083, info, nina},
		{"suspension", "/json-api/suspendacct?api.version=1&user=nina", p2083, info, basic("nina", "Nina-Pass-2")},
		{"new access hash", "/json-api/accesshash?api.version=1&generate=1", p2087, version, "WHM root:" + hash},
	}
	for _, tc := range changes {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "suspension" && status(b, tc.port, tc.path, tc.auth) != 200 {
				t.Fatal("the new password does not work on B")
			}
			whmOK(t, a.do(t, request{port: p2087, auth: root, path: tc.change}))
			if took, ok := within(time.Second, func() bool { return status(b, tc.port, tc.path, tc.auth) == 403 }); !ok {
				t.Fatalf("still accepted on B after %v", took)
			}
		})
	}
	t.Run("setting", func(t *testing.T) {
		h := whmOK(t, a.do(t, request{port: p2087, auth: root, path: "/json-api/accesshash?api.version=1"}))
		cur := "WHM root:" + str(dig(h, "data", "accesshash"))
		if got := status(b, p2087, version, cur); got != 200 {
			t.Fatalf("current hash on B: %d", got)
		}
		whmOK(t, a.do(t, request{port: p2087, auth: root, path: "/json-api/set_tweaksetting?api.version=1&key=allow_deprecated_accesshash&value=0"}))
		if took, ok := within(time.Second, func() bool { return status(b, p2087, version, cur) == 403 }); !ok {
			t.Fatalf("access hash still accepted on B after %v", took)
		}
	})
	if hits, _ := b.d.Data.Cache.Stats(); hits == 0 {
		t.Error("B never answered from its cache: the propagation checks above prove nothing")
	}
	t.Run("deletion", func(t *testing.T) {
		whmOK(t, a.do(t, request{port: p2087, auth: root, path: "/json-api/removeacct?api.version=1&username=nina"}))
		if _, ok := within(time.Second, func() bool { return status(b, p2083, info, basic("nina", "Nina-Pass-2")) == 403 }); !ok {
			t.Fatal("a deleted account still authenticates on B")
		}
	})

	// The database goes away: both nodes fail closed (D5 for every call,
	// nothing authenticated from memory), and recover when it returns.
	t.Run("database lost and back", func(t *testing.T) {
		ctx := context.Background()
		for _, e := range []*testEnv{a, b} {
			if got := status(e, p2087, version, root); got != 200 {
				t.Fatalf("before the cut: %d", got)
			}
		}
		db.cut(ctx, t)
		restored := false
		defer func() {
			if !restored {
				db.restore(ctx, t)
			}
		}()
		for i, e := range []*testEnv{a, b} {
			if _, ok := within(5*time.Second, func() bool { return !e.d.Data.Cache.Live() }); !ok {
				t.Fatalf("node %d: the change feed did not notice the cut", i)
			}
			for n := 0; n < 5; n++ {
				r, err := e.try(request{port: p2087, path: version, auth: root})
				if err != nil {
					t.Fatal(err)
				}
				if r.status == 200 {
					t.Fatalf("node %d authenticated root without its database", i)
				}
				assertD5(t, r)
			}
		}
		db.restore(ctx, t)
		restored = true
		for i, e := range []*testEnv{a, b} {
			if took, ok := within(15*time.Second, func() bool {
				return e.d.Data.Cache.Live() && status(e, p2087, version, root) == 200
			}); !ok {
				t.Fatalf("node %d did not recover within %v", i, took)
			}
		}
	})
}

func waitLive(e *testEnv) bool {
	_, ok := within(10*time.Second, func() bool { return e.d.Data.Cache != nil && e.d.Data.Cache.Live() })
	return ok
}

// startLivePair starts two nodes on a new PostgreSQL database with one key
// file and waits until both follow the change feed.
func startLivePair(t testing.TB) (a, b *testEnv) {
	t.Helper()
	db := newClusterDB(t)
	key := filepath.Join(t.TempDir(), "cluster.key")
	a, b = startNode(t, db, key), startNode(t, db, key)
	if !waitLive(a) || !waitLive(b) {
		t.Fatal("the nodes' change feeds did not come up")
	}
	return a, b
}

// TestClusterTokens: a token made on one node works on the other, and a
// revocation, an allow-list change or a narrowed reseller on one node takes
// effect on the other within a second, although the other caches.
func TestClusterTokens(t *testing.T) {
	a, b := startLivePair(t)
	b.rootPass = a.rootPass
	root := basic("root", a.rootPass)
	version := "/json-api/version?api.version=1"
	status := func(e *testEnv, path, auth string) int {
		r, err := e.try(request{port: p2087, path: path, auth: auth})
		if err != nil {
			return -1
		}
		return r.status
	}
	tok := whmTok("root", a.createTokenHTTP(t, root, "token_name=shared"))
	if got := status(b, version, tok); got != 200 {
		t.Fatalf("token made on A, used on B: %d", got)
	}

	t.Run("last use reaches the other node", func(t *testing.T) {
		if _, ok := within(5*time.Second, func() bool {
			r, err := a.try(request{port: p2087, path: "/json-api/api_token_list?api.version=1", auth: root})
			return err == nil && bytes.Contains(r.body, []byte(`"last_used_ip":"127.0.0.1"`))
		}); !ok {
			t.Fatal("the use on B is not listed on A")
		}
	})
	t.Run("allow-list change", func(t *testing.T) {
		whmOK(t, a.do(t, request{port: p2087, auth: root, path: "/json-api/api_token_update?api.version=1&token_name=shared&whitelist_ip=192.0.2.1"}))
		if took, ok := within(time.Second, func() bool { return status(b, version, tok) == 403 }); !ok {
			t.Fatalf("still accepted on B after %v", took)
		}
		whmOK(t, a.do(t, request{port: p2087, auth: root, path: "/json-api/api_token_update?api.version=1&token_name=shared&whitelist_ip=any"}))
		if took, ok := within(time.Second, func() bool { return status(b, version, tok) == 200 }); !ok {
			t.Fatalf("still refused on B after %v", took)
		}
	})
	t.Run("reseller narrowed", func(t *testing.T) {
		whmOK(t, a.do(t, request{port: p2087, auth: root, path: "/json-api/createacct?api.version=1&username=rita&domain=rita.test&password=Rita-Pass-1&reseller=1"}))
		whmOK(t, a.do(t, request{port: p2087, auth: root, path: "/json-api/setacls?api.version=1&reseller=rita&acl-list-accts=1&acl-create-acct=1&acl-manage-api-tokens=1"}))
		rita := whmTok("rita", a.createTokenHTTP(t, basic("rita", "Rita-Pass-1"), "token_name=r&acl=list-accts&acl=create-acct"))
		canCreate := func() string {
			r, err := b.try(request{port: p2087, path: "/json-api/myprivs?api.version=1", auth: rita})
			if err != nil || r.status != 200 {
				return "?"
			}
			if bytes.Contains(r.body, []byte(`"create-acct":1`)) {
				return "1"
			}
			return "0"
		}
		if got := canCreate(); got != "1" {
			t.Fatalf("rita's token on B before: %s", got)
		}
		whmOK(t, a.do(t, request{port: p2087, auth: root, path: "/json-api/setacls?api.version=1&reseller=rita&acl-list-accts=1&acl-manage-api-tokens=1"}))
		if took, ok := within(time.Second, func() bool { return canCreate() == "0" }); !ok {
			t.Fatalf("rita's token still holds create-acct on B after %v", took)
		}
	})
	t.Run("revocation", func(t *testing.T) {
		whmOK(t, a.do(t, request{port: p2087, auth: root, path: "/json-api/api_token_revoke?api.version=1&token_name=shared"}))
		if took, ok := within(time.Second, func() bool { return status(b, version, tok) == 403 }); !ok {
			t.Fatalf("revoked token still accepted on B after %v", took)
		}
	})
}
