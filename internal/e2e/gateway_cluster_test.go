package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/store"
)

// Two gateway nodes on one PostgreSQL database in front of one backend: a
// password changed through one node is refused at once on both (the
// verified-password cache's entries are bound to the account's mark, which
// the change feed brings to the other node), and a backend token minted on
// one node serves the other.
func TestGatewayCluster(t *testing.T) {
	db := newClusterDB(t)
	key := filepath.Join(t.TempDir(), "cluster.key")
	backend := startWithFixtures(t)
	registerExtra(backend)
	g := &gwEnv{backend: backend}
	g.rootToken = str(backend.whm1("api_token_create", "token_name", "gateway").Data.(map[string]any)["token"])
	node := func() *testEnv {
		return g.startGatewayNode(t, func(c *config.Config) {
			c.Store, c.PostgresDSN, c.KeyFile = "postgres", db.dsn, key
		})
	}
	a, b := node(), node()
	if !waitLive(a) || !waitLive(b) {
		t.Fatal("the nodes' change feeds did not come up")
	}
	info := "/execute/Variables/get_user_information"
	checks := func() int { return backendPasswordChecks(t, backend, "bob") }

	// bob's password, checked once at the backend by each node, then
	// remembered by each.
	for _, e := range []*testEnv{a, b, a, b} {
		uapiOK(t, e.do(t, request{port: p2083, path: info, auth: basic("bob", bobPass)}))
	}
	if n := checks(); n != 2 {
		t.Fatalf("two nodes, four calls: %d backend checks, want 2", n)
	}

	// passwd through A: the old password is refused on A at once, and on
	// B as soon as B hears of the change.
	whmOK(t, a.do(t, request{port: p2087, auth: basic("root", backend.rootPass), path: "/json-api/passwd?api.version=1&user=bob&password=Bob-New-Pass-9"}))
	assertD5(t, a.do(t, request{port: p2083, path: info, auth: basic("bob", bobPass)}))
	took, ok := within(time.Second, func() bool {
		return b.do(t, request{port: p2083, path: info, auth: basic("bob", bobPass)}).status == 403
	})
	if !ok {
		t.Fatalf("the old password still works on B %v after the change on A", took)
	}
	t.Logf("the old password refused on B %v after the change on A", took)
	for _, e := range []*testEnv{a, b} {
		uapiOK(t, e.do(t, request{port: p2083, path: info, auth: basic("bob", "Bob-New-Pass-9")}))
	}

	// A narrow root token made on A, used on A then on B: one backend token.
	res := a.whm1("api_token_create", "token_name", "lister", "acl", "list-accts")
	tok := whmTok("root", str(res.Data.(map[string]any)["token"]))
	for _, e := range []*testEnv{a, b, b} {
		whmOK(t, e.do(t, request{port: p2087, auth: tok, path: "/json-api/listaccts?api.version=1"}))
	}
	list, err := backend.d.Data.Store.ListTokens(context.Background(), store.TokenWHM, "root")
	if err != nil {
		t.Fatal(err)
	}
	minted := 0
	for _, bt := range list {
		if strings.HasPrefix(bt.Name, "cpauth-gateway-") {
			minted++
		}
	}
	if minted != 1 {
		t.Errorf("%d backend tokens for one narrow gateway token on two nodes, want 1", minted)
	}
}
