package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/core"
)

// gwEnv is gateway mode as the tests run it: a cpauth with the standard
// fixtures plays the backend (a cPanel & WHM server), and a second cpauth,
// started with --upstream, is the gateway in front of it. Both run in this
// process on 127.0.0.1 port 0.
type gwEnv struct {
	backend *testEnv
	gw      *testEnv
	// rootToken is root's WHM API token on the backend: the gateway's.
	rootToken string
	// extra counts the calls of the backend's test functions (gwRan).
	extra *extraFuncs
}

// gwOptions change how startGateway starts the pair.
type gwOptions struct {
	// configure changes the gateway's configuration.
	configure func(*config.Config)
	// regulated leaves the gateway's brute-force regulator in force for
	// loopback (the backend always allow-lists the gateway, as the
	// documentation says to).
	regulated bool
	// backend, when set, is the backend to use (its extra functions are
	// not registered then).
	backend *testEnv
	// plain reaches the backend on its plain ports (http://).
	plain bool
	// backendConfigure changes the backend's configuration.
	backendConfigure func(*config.Config)
}

// extraFuncs are functions the backend has and the gateway has no code
// for: the gateway must forward them as it forwards any other.
type extraFuncs struct {
	echo, slow atomic.Int64
	slowFor    time.Duration
}

// registerExtra adds the test functions to a backend's registry, before
// anything calls it.
func registerExtra(e *testEnv) *extraFuncs {
	x := &extraFuncs{slowFor: 3 * time.Second}
	echo := func(ctx context.Context, c *api.Call) (*api.Result, error) {
		x.echo.Add(1)
		args := map[string]any{}
		for _, kv := range c.Args.Pairs() {
			args[kv[0]] = kv[1]
		}
		return &api.Result{Data: map[string]any{"user": c.Principal.User, "account": c.Principal.Account, "method": string(c.Principal.Method),
			"service": c.Principal.Service.App(), "args": args}}, nil
	}
	work := func(ctx context.Context, c *api.Call) (*api.Result, error) {
		time.Sleep(time.Millisecond) // what a call costs a cPanel server: some work
		return &api.Result{Data: map[string]any{"worked": "1ms"}}, nil
	}
	slow := func(ctx context.Context, c *api.Call) (*api.Result, error) {
		x.slow.Add(1)
		select {
		case <-time.After(x.slowFor):
		case <-ctx.Done():
		}
		return &api.Result{Data: map[string]any{"slept": x.slowFor.String()}}, nil
	}
	e.d.Data.Registry.Register(
		&api.Func{Flavour: api.WHM1, Name: "gw_test_echo", Access: api.AnyWHM, Mints: api.MintNothing, Handler: echo},
		&api.Func{Flavour: api.WHM1, Name: "gw_test_slow", Access: api.AnyWHM, Mints: api.MintNothing, Handler: slow},
		&api.Func{Flavour: api.WHM1, Name: "gw_test_work", Access: api.AnyWHM, ReadOnly: true, Mints: api.MintNothing, Handler: work},
		&api.Func{Flavour: api.UAPI, Module: "GwTest", Name: "echo", Access: api.Account, WebmailSafe: true, Mints: api.MintNothing, Handler: echo},
		&api.Func{Flavour: api.UAPI, Module: "GwTest", Name: "write", Access: api.Account, Mints: api.MintNothing, Handler: echo},
		&api.Func{Flavour: api.API2, Module: "GwTest", Name: "echo", Access: api.Account, WebmailSafe: true, Mints: api.MintNothing, Handler: echo},
	)
	return x
}

// startGateway starts a backend with the standard fixtures (unless
// o.backend is given) and a gateway in front of it, with root's backend
// token in a 0600 file, a sync interval of a second and a timeout of two.
func startGateway(t testing.TB, o gwOptions) *gwEnv {
	t.Helper()
	g := &gwEnv{backend: o.backend}
	if g.backend == nil {
		g.backend = startFixturesWith(t, o.backendConfigure)
		g.extra = registerExtra(g.backend)
	}
	res := g.backend.whm1("api_token_create", "token_name", "gateway")
	g.rootToken = str(res.Data.(map[string]any)["token"])
	configure := func(c *config.Config) {
		c.Upstream = g.upstream(t, o.plain)
		if o.configure != nil {
			o.configure(c)
		}
	}
	if o.regulated {
		g.gw = startRegulated(t, configure)
	} else {
		g.gw = startOpts(t, configure, nil)
	}
	for k, v := range g.backend.pass {
		g.gw.pass[k] = v
	}
	g.gw.pass["root"] = g.backend.rootPass
	g.gw.rootPass = g.backend.rootPass
	return g
}

// upstream is the upstream block of a gateway in front of g's backend,
// with root's backend token in a 0600 file of its own, a sync interval of
// a second and a timeout of two.
func (g *gwEnv) upstream(t testing.TB, plain bool) config.Upstream {
	t.Helper()
	tokenFile := filepath.Join(t.TempDir(), "backend.token")
	if err := os.WriteFile(tokenFile, []byte(g.rootToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := func(svc core.Service) int { return atoiPort(t, g.backend.d.Addr(svc, !plain)) }
	u := config.Upstream{
		URL: "https://127.0.0.1", WHMPort: port(core.ServiceWHM), CPanelPort: port(core.ServiceCPanel), WebmailPort: port(core.ServiceWebmail),
		TokenFile: tokenFile, InsecureSkipVerify: true, Timeout: 2 * time.Second, SyncInterval: time.Second,
	}
	if plain {
		u.URL, u.InsecureSkipVerify = "http://127.0.0.1", false
	}
	return u
}

// startGatewayNode starts one more gateway in front of g's backend (a
// node of a cluster: configure gives it the shared store).
func (g *gwEnv) startGatewayNode(t testing.TB, configure func(*config.Config)) *testEnv {
	t.Helper()
	e := startOpts(t, func(c *config.Config) {
		c.Upstream = g.upstream(t, false)
		if configure != nil {
			configure(c)
		}
	}, nil)
	for k, v := range g.backend.pass {
		e.pass[k] = v
	}
	e.pass["root"], e.rootPass = g.backend.rootPass, g.backend.rootPass
	return e
}

func atoiPort(t testing.TB, addr string) int {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	n := 0
	for _, c := range addr[i+1:] {
		if c < '0' || c > '9' {
			t.Fatalf("address %q has no port", addr)
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// gwToken makes an API token at the gateway, in process (as the CLI
// would): a WHM token of root or a reseller, or a cPanel token of an
// account; kv are more arguments of api_token_create.
func (g *gwEnv) gwToken(t testing.TB, user, name string, kv ...string) string {
	t.Helper()
	if user == "root" {
		res := g.gw.whm1("api_token_create", append([]string{"token_name", name}, kv...)...)
		return str(res.Data.(map[string]any)["token"])
	}
	a, err := g.gw.account(user)
	if err != nil {
		t.Fatalf("the gateway does not know %s: %v", user, err)
	}
	if a.Reseller {
		// A reseller's WHM token: made as the reseller would.
		r := g.gw.do(t, request{port: p2087, auth: g.gw.authFor(t, user), path: "/json-api/api_token_create?api.version=1&token_name=" + name + "&" + strings.Join(pairsQuery(kv), "&")})
		return str(dig(whmOK(t, r), "data", "token"))
	}
	res := g.gw.uapi(user, "Tokens", "create_full_access", append([]string{"name", name}, kv...)...)
	return str(res.Data.(map[string]any)["token"])
}

func pairsQuery(kv []string) []string {
	var out []string
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, kv[i]+"="+kv[i+1])
	}
	return out
}
