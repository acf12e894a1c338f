package sessions_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/sessions"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/store/sqlstore"
)

var idRE = regexp.MustCompile(`^([^:,]+):[A-Za-z0-9_]{16},[0-9a-f]{32}$`)

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for _, user := range []string{"root", "bob", "info@bob.test", "o'neil+x@bob.test"} {
		for range 50 {
			id, err := sessions.NewID(user)
			if err != nil {
				t.Fatal(err)
			}
			m := idRE.FindStringSubmatch(id)
			if m == nil || m[1] != user {
				t.Fatalf("NewID(%q) = %q: not <user>:<16 of [A-Za-z0-9_]>,<32 hex>", user, id)
			}
			if seen[id] {
				t.Fatalf("NewID repeated %q", id)
			}
			seen[id] = true
			got, gotUser, ok := sessions.ParseCookie(sessions.EncodeCookie(id))
			if !ok || got != id || gotUser != user {
				t.Fatalf("ParseCookie(EncodeCookie(%q)) = %q, %q, %v", id, got, gotUser, ok)
			}
		}
	}
	for _, bad := range []string{"", "a,b", "a:b", "x\x00y", "x\ny", strings.Repeat("a", 321)} {
		if _, err := sessions.NewID(bad); err == nil {
			t.Errorf("NewID(%q) succeeded", bad)
		}
	}
}

// cookieTable seeds FuzzParseCookie too.
var cookieTable = []struct {
	value string
	id    string // "" when not a session id
	user  string
}{
	{"root%3agRJ5lhG0d1eyZ1Ud%2c4987a177010f965201681fd6e2e4a2d5", "root:gRJ5lhG0d1eyZ1Ud,4987a177010f965201681fd6e2e4a2d5", "root"},
	{"root%3AgRJ5lhG0d1eyZ1Ud%2C4987a177010f965201681fd6e2e4a2d5", "root:gRJ5lhG0d1eyZ1Ud,4987a177010f965201681fd6e2e4a2d5", "root"},
	{"root:gRJ5lhG0d1eyZ1Ud,4987a177010f965201681fd6e2e4a2d5", "root:gRJ5lhG0d1eyZ1Ud,4987a177010f965201681fd6e2e4a2d5", "root"},
	{"info%40bob.test%3a_________________%2c00000000000000000000000000000000", "", ""}, // 17 random chars
	{"info%40bob.test%3a________________%2c00000000000000000000000000000000", "info@bob.test:________________,00000000000000000000000000000000", "info@bob.test"},
	// cPanel's tagged ids are not ours.
	{"root%3agRJ5lhG0d1eyZ1Ud%3acreate_user_session%2c4987a177010f965201681fd6e2e4a2d5", "", ""},
	{"root%3agRJ5lhG0d1eyZ1Ud%2c4987A177010F965201681FD6E2E4A2D5", "", ""}, // upper-case hex
	{"root%3agRJ5lhG0d1eyZ1U-%2c4987a177010f965201681fd6e2e4a2d5", "", ""},
	{"root%3agRJ5lhG0d1eyZ1Ud%2c4987a177010f965201681fd6e2e4a2d", "", ""},
	{"%3agRJ5lhG0d1eyZ1Ud%2c4987a177010f965201681fd6e2e4a2d5", "", ""},
	{"ro%0aot%3agRJ5lhG0d1eyZ1Ud%2c4987a177010f965201681fd6e2e4a2d5", "", ""}, // LF in the user
	{"root%3agRJ5lhG0d1eyZ1Ud%2c4987a177010f965201681fd6e2e4a2d%", "", ""},
	{"root%zzgRJ5lhG0d1eyZ1Ud%2c4987a177010f965201681fd6e2e4a2d5", "", ""},
	{"", "", ""},
	{"deleted", "", ""},
	{strings.Repeat("a", sessions.MaxCookieLen+1), "", ""},
}

func TestParseCookie(t *testing.T) {
	for _, tc := range cookieTable {
		id, user, ok := sessions.ParseCookie(tc.value)
		if ok != (tc.id != "") || id != tc.id || user != tc.user {
			t.Errorf("ParseCookie(%q) = %q, %q, %v; want %q, %q", tc.value, id, user, ok, tc.id, tc.user)
		}
	}
	if got := sessions.EncodeCookie("info@bob.test:aB_9aB_9aB_9aB_9,00ff"); got != "info%40bob.test%3aaB_9aB_9aB_9aB_9%2c00ff" {
		t.Errorf("EncodeCookie = %q", got)
	}
}

func FuzzParseCookie(f *testing.F) {
	for _, tc := range cookieTable {
		f.Add(tc.value)
	}
	f.Fuzz(func(t *testing.T, v string) {
		id, user, ok := sessions.ParseCookie(v)
		if !ok {
			if id != "" || user != "" {
				t.Fatalf("refused cookie %q gave %q, %q", v, id, user)
			}
			return
		}
		m := idRE.FindStringSubmatch(id)
		if m == nil || m[1] != user {
			t.Fatalf("accepted %q as %q (user %q): not an id NewID makes", v, id, user)
		}
		for i := 0; i < len(user); i++ {
			if user[i] < 0x20 || user[i] == 0x7f {
				t.Fatalf("accepted a control byte in the user of %q", v)
			}
		}
		id2, user2, ok2 := sessions.ParseCookie(sessions.EncodeCookie(id))
		if !ok2 || id2 != id || user2 != user {
			t.Fatalf("the encoding of %q does not parse back", id)
		}
	})
}

var pathTable = []struct {
	path, token, rest string
	ok                bool
}{
	{"/cpsess0123456789", "/cpsess0123456789", "", true},
	{"/cpsess0123456789/", "/cpsess0123456789", "/", true},
	{"/cpsess0123456789/json-api/version", "/cpsess0123456789", "/json-api/version", true},
	{"/cpsess0123456789/execute/Variables/get_user_information", "/cpsess0123456789", "/execute/Variables/get_user_information", true},
	{"/cpsess012345678/json-api/version", "", "", false},
	{"/cpsess01234567890/json-api/version", "", "", false},
	{"/cpsessABCDEFGHIJ/", "", "", false},
	{"/cpsess0123456789x/", "", "", false},
	{"/cpsess", "", "", false},
	{"/CPSESS0123456789/", "", "", false},
	{"cpsess0123456789/", "", "", false},
	{"/x/cpsess0123456789/", "", "", false},
	{"/cpsess-123456789/", "", "", false},
	{"/cpsess١٢٣٤٥٦٧٨٩٠/", "", "", false}, // Arabic-Indic digits
	{"", "", "", false},
}

func TestSplitPath(t *testing.T) {
	for _, tc := range pathTable {
		token, rest, ok := sessions.SplitPath(tc.path)
		if ok != tc.ok || token != tc.token || rest != tc.rest {
			t.Errorf("SplitPath(%q) = %q, %q, %v; want %q, %q, %v", tc.path, token, rest, ok, tc.token, tc.rest, tc.ok)
		}
	}
}

func FuzzSplitPath(f *testing.F) {
	for _, tc := range pathTable {
		f.Add(tc.path)
	}
	f.Fuzz(func(t *testing.T, path string) {
		token, rest, ok := sessions.SplitPath(path)
		if !ok {
			if token != "" || rest != "" {
				t.Fatalf("refused %q gave %q, %q", path, token, rest)
			}
			return
		}
		if !sessions.IsToken(token) || token+rest != path || rest != "" && rest[0] != '/' {
			t.Fatalf("SplitPath(%q) = %q, %q", path, token, rest)
		}
	})
}

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	re := regexp.MustCompile(`^/cpsess[0-9]{10}$`)
	for range 200 {
		tok, err := sessions.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(tok) || !sessions.IsToken(tok) {
			t.Fatalf("NewToken = %q", tok)
		}
		seen[tok] = true
	}
	if len(seen) < 199 {
		t.Errorf("200 tokens, %d distinct", len(seen))
	}
}

func TestHandle(t *testing.T) {
	h := sessions.Handle("abc")
	if !sessions.IsHandle(h) || h == sessions.Handle("abd") || strings.Contains("abc", h) {
		t.Errorf("Handle = %q", h)
	}
	for _, bad := range []string{"", "0123456789abcde", "0123456789ABCDEF", "0123456789abcdef0"} {
		if sessions.IsHandle(bad) {
			t.Errorf("IsHandle(%q)", bad)
		}
	}
	// Handles name sessions in stored logs and in what clients keep: the
	// function may not change.
	for _, id := range []string{"", "abc", strings.Repeat("0123456789abcdef", 4), strings.Repeat("f", 65), strings.Repeat("é", 100)} {
		sum := sha256.Sum256([]byte("cpauth session handle\x00" + id))
		if got, want := sessions.Handle(id), hex.EncodeToString(sum[:8]); got != want {
			t.Errorf("Handle(%q) = %s, want %s", id, got, want)
		}
	}
}

func TestCookieNames(t *testing.T) {
	for svc, want := range map[core.Service]string{core.ServiceCPanel: "cpsession", core.ServiceWHM: "whostmgrsession", core.ServiceWebmail: "webmailsession"} {
		if got := sessions.CookieName(svc); got != want {
			t.Errorf("CookieName(%v) = %q, want %q", svc, got, want)
		}
		if sessions.ServiceOf(svc.App()) != svc {
			t.Errorf("ServiceOf(%q)", svc.App())
		}
	}
}

// ---------------------------------------------------------------------------
// Manager and Toucher against a real store.

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "cpauth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now()
	for _, a := range []store.Account{{Username: "root", Created: now}, {Username: "bob", Domain: "bob.test", Owner: "root", Created: now}} {
		if err := st.CreateAccount(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// takenOnce makes the first CreateSession fail with ErrExists, as a taken
// security token does.
type takenOnce struct {
	store.Store
	calls atomic.Int32
}

func (s *takenOnce) CreateSession(ctx context.Context, ss store.Session) error {
	if s.calls.Add(1) == 1 {
		return store.ErrExists
	}
	return s.Store.CreateSession(ctx, ss)
}

func TestManagerCreate(t *testing.T) {
	st := &takenOnce{Store: openStore(t)}
	key, _ := secret.NewKey()
	now := time.Date(2026, 6, 1, 12, 0, 0, 123456789, time.UTC)
	m := &sessions.Manager{Store: st, Key: key, Now: func() time.Time { return now }, IdleTimeout: 10 * time.Minute}
	p := core.Principal{User: "bob", Role: core.RoleCPanel, Account: "bob"}
	n, err := m.Create(context.Background(), p, core.ServiceCPanel, netip.MustParseAddr("::ffff:192.0.2.7"), sessions.MethodPassword)
	if err != nil {
		t.Fatal(err)
	}
	if st.calls.Load() != 2 {
		t.Errorf("CreateSession called %d times, want 2 (one retry)", st.calls.Load())
	}
	got, err := st.GetSession(context.Background(), sessions.IDHash(key, n.ID))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, n.Session) {
		t.Errorf("stored %+v\nreturned %+v", got, n.Session)
	}
	if got.Origin != "192.0.2.7" || got.Service != "cpaneld" || got.Kind != store.SessionNormal || got.Method != "password" ||
		got.Account != "bob" || got.IdleTimeout != 10*time.Minute || !got.Expires.Equal(now.Add(12*time.Hour).Truncate(time.Microsecond)) {
		t.Errorf("session %+v", got)
	}
	root, err := m.Create(context.Background(), core.Principal{User: "root", Role: core.RoleRoot}, core.ServiceWHM, netip.Addr{}, sessions.MethodPassword)
	if err != nil || root.Session.Account != "root" || root.Session.SecurityToken == n.Session.SecurityToken {
		t.Errorf("root's session %+v, %v", root.Session, err)
	}
}

// counting counts TouchSession calls.
type counting struct {
	store.Store
	touches atomic.Int32
}

func (c *counting) TouchSession(ctx context.Context, id string, when time.Time) error {
	c.touches.Add(1)
	return c.Store.TouchSession(ctx, id, when)
}

func TestToucherCoalesces(t *testing.T) {
	st := &counting{Store: openStore(t)}
	key, _ := secret.NewKey()
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	now := t0
	m := &sessions.Manager{Store: st, Key: key, Now: func() time.Time { return now }}
	n, err := m.Create(context.Background(), core.Principal{User: "bob", Role: core.RoleCPanel, Account: "bob"}, core.ServiceCPanel, netip.Addr{}, "password")
	if err != nil {
		t.Fatal(err)
	}
	id := n.Session.IDHash
	tc := sessions.NewToucher(st)
	use := func(at time.Time) bool {
		ss, err := st.GetSession(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		due := tc.Use(id, ss.LastSeen, at)
		tc.Flush(context.Background())
		return due
	}
	// Within the minute after login (LastSeen = login): nothing written,
	// however many uses.
	for i := range 30 {
		if use(t0.Add(time.Duration(i) * time.Second)) {
			t.Fatalf("use %d s after login is due", i)
		}
	}
	if st.touches.Load() != 0 {
		t.Fatalf("%d writes within the first minute", st.touches.Load())
	}
	// A minute later: one write, then none for another minute.
	t1 := t0.Add(61 * time.Second)
	if !use(t1) {
		t.Fatal("use after a minute not due")
	}
	for i := range 59 {
		use(t1.Add(time.Duration(i) * time.Second))
	}
	if got := st.touches.Load(); got != 1 {
		t.Fatalf("%d writes in the second minute, want 1", got)
	}
	if tc.Seen(id) != t1 {
		t.Errorf("Seen = %v, want %v", tc.Seen(id), t1)
	}
	ss, _ := st.GetSession(context.Background(), id)
	if !ss.LastSeen.Equal(t1) {
		t.Errorf("LastSeen %v, want %v", ss.LastSeen, t1)
	}
	// A use noted but not yet written counts for Seen at once.
	t2 := t1.Add(2 * time.Minute)
	tc.Use(id, ss.LastSeen, t2)
	if tc.Seen(id) != t2 {
		t.Errorf("Seen before the flush = %v, want %v", tc.Seen(id), t2)
	}
	tc.Forget(id)
	if !tc.Seen(id).IsZero() {
		t.Error("Forget kept the use")
	}
}

func TestToucherRun(t *testing.T) {
	st := &counting{Store: openStore(t)}
	tc := sessions.NewToucher(st)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tc.Run(ctx)
	}()
	// Unknown sessions: written (and refused by the store) without harm.
	now := time.Now()
	var mu sync.Mutex
	var due int
	var inner sync.WaitGroup
	for i := range 8 {
		inner.Add(1)
		go func() {
			defer inner.Done()
			for j := range 50 {
				id := strings.Repeat(string(rune('a'+i%4)), 64)
				if tc.Use(id, now.Add(-time.Hour), now.Add(time.Duration(j)*time.Millisecond)) {
					mu.Lock()
					due++
					mu.Unlock()
				}
			}
		}()
	}
	inner.Wait()
	cancel()
	wg.Wait()
	if due != 4 {
		t.Errorf("%d uses due for 4 sessions within a second, want 4", due)
	}
	if got := st.touches.Load(); got != 4 {
		t.Errorf("%d writes, want 4", got)
	}
}

func TestExpired(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	s := store.Session{IdleTimeout: 30 * time.Minute, Expires: t0.Add(12 * time.Hour), LastSeen: t0}
	for _, tc := range []struct {
		lastSeen, now time.Time
		want          bool
	}{
		{t0, t0.Add(30 * time.Minute), false},
		{t0, t0.Add(30*time.Minute + time.Nanosecond), true},
		{t0.Add(11*time.Hour + 45*time.Minute), t0.Add(12*time.Hour - time.Nanosecond), false},
		{t0.Add(12 * time.Hour), t0.Add(12 * time.Hour), true},
	} {
		if got := sessions.Expired(s, tc.lastSeen, tc.now) != ""; got != tc.want {
			t.Errorf("Expired(last seen %v, now %v) = %v", tc.lastSeen.Sub(t0), tc.now.Sub(t0), got)
		}
	}
}

// blocking holds every TouchSession until release is closed.
type blocking struct {
	store.Store
	entered chan struct{}
	release chan struct{}
}

func (b *blocking) TouchSession(ctx context.Context, id string, when time.Time) error {
	b.entered <- struct{}{}
	<-b.release
	return b.Store.TouchSession(ctx, id, when)
}

// A Flush that finds nothing pending because another Flush took the batch
// still returns only once that batch is written: the purge relies on it.
func TestToucherFlushWaitsForAConcurrentFlush(t *testing.T) {
	st := &blocking{Store: openStore(t), entered: make(chan struct{}, 1), release: make(chan struct{})}
	tc := sessions.NewToucher(st)
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	tc.Use("some-session", t0, t0.Add(2*time.Minute))
	first := make(chan struct{})
	go func() { tc.Flush(context.Background()); close(first) }()
	<-st.entered // the first Flush holds the batch and is writing it
	second := make(chan struct{})
	go func() { tc.Flush(context.Background()); close(second) }()
	select {
	case <-second:
		t.Fatal("the second Flush returned while the first was still writing")
	case <-time.After(50 * time.Millisecond):
	}
	close(st.release)
	<-first
	<-second
}

// SetLifetimes changes the lifetimes of the sessions made from then on,
// while sessions are being made (go test -race).
func TestManagerSetLifetimes(t *testing.T) {
	st := openStore(t)
	key, _ := secret.NewKey()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	m := &sessions.Manager{Store: st, Key: key, Now: func() time.Time { return now }, IdleTimeout: 10 * time.Minute}
	if got := m.Lifetimes(); got != (sessions.Lifetimes{IdleTimeout: 10 * time.Minute, Lifetime: sessions.DefaultLifetime, SSOIdleTimeout: sessions.DefaultSSOIdleTimeout}) {
		t.Errorf("lifetimes from the fields: %+v", got)
	}
	p := core.Principal{User: "bob", Role: core.RoleCPanel, Account: "bob"}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if _, err := m.Create(context.Background(), p, core.ServiceCPanel, netip.Addr{}, sessions.MethodPassword); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	m.SetLifetimes(sessions.Lifetimes{IdleTimeout: 3 * time.Minute, Lifetime: time.Hour, SSOIdleTimeout: 4 * time.Minute})
	wg.Wait()
	n, err := m.Create(context.Background(), p, core.ServiceCPanel, netip.Addr{}, sessions.MethodPassword)
	if err != nil {
		t.Fatal(err)
	}
	if n.Session.IdleTimeout != 3*time.Minute || !n.Session.Expires.Equal(now.Add(time.Hour)) {
		t.Errorf("after SetLifetimes: idle %s, expires %s", n.Session.IdleTimeout, n.Session.Expires)
	}
	if got := m.Lifetimes().SSOIdleTimeout; got != 4*time.Minute {
		t.Errorf("SSO idle timeout %s", got)
	}
}
