package auth_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/sessions"
	"github.com/cpauth/cpauth/internal/settings"
	"github.com/cpauth/cpauth/internal/store"
)

// staleReads answers GetSession with a LastSeen as old as a cache that last
// read the session at lastSeen would hold; everything else (the locking
// read of UpdateSession included) goes to the store.
type staleReads struct {
	store.Store
	lastSeen time.Time
}

func (s staleReads) GetSession(ctx context.Context, id string) (store.Session, error) {
	ss, err := s.Store.GetSession(ctx, id)
	if err == nil && !s.lastSeen.IsZero() {
		ss.LastSeen = s.lastSeen
	}
	return ss, err
}

type sessionFixture struct {
	*fixture
	t0  time.Time
	now time.Time
	m   *sessions.Manager
}

func (f *sessionFixture) login(t *testing.T, p core.Principal, svc core.Service, from string) sessions.New {
	t.Helper()
	n, err := f.m.Create(context.Background(), p, svc, netip.MustParseAddr(from), sessions.MethodPassword)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *sessionFixture) method(st store.Store) *auth.Session {
	return &auth.Session{Store: st, Key: f.key, Now: func() time.Time { return f.now }}
}

func sessionReq(svc core.Service, from, authorization, cookie string, hasCookie bool, token string) *auth.Request {
	r := auth.NewRequest(svc, true, netip.MustParseAddr(from), authorization)
	r.SessionCookie, r.HasSessionCookie, r.SecurityToken = cookie, hasCookie, token
	return r
}

func newSessionFixture(t *testing.T) *sessionFixture {
	f := &sessionFixture{fixture: newFixture(t), t0: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	f.now = f.t0
	f.m = &sessions.Manager{Store: f.st, Key: f.key, Now: func() time.Time { return f.now }}
	return f
}

func TestSessionMethod(t *testing.T) {
	f := newSessionFixture(t)
	ctx := context.Background()
	whm, cp, wm := core.ServiceWHM, core.ServiceCPanel, core.ServiceWebmail
	rootP := core.Principal{User: "root", Role: core.RoleRoot}
	bobP := core.Principal{User: "bob", Role: core.RoleCPanel, Account: "bob"}
	infoP := core.Principal{User: "info@bob.test", Role: core.RoleWebmail, Account: "bob"}
	susP := core.Principal{User: "sus", Role: core.RoleCPanel, Account: "sus"}
	root := f.login(t, rootP, whm, "127.0.0.1")
	bob := f.login(t, bobP, cp, "127.0.0.1")
	bobWM := f.login(t, bobP, wm, "127.0.0.1")
	info := f.login(t, infoP, wm, "127.0.0.1")
	sus := f.login(t, susP, cp, "127.0.0.1") // sus is suspended
	cookie := func(n sessions.New) string { return sessions.EncodeCookie(n.ID) }
	tok := func(n sessions.New) string { return n.Session.SecurityToken }
	other := "/cpsess0000000000"
	if tok(root) == other {
		other = "/cpsess0000000001"
	}
	forged := sessions.EncodeCookie("root:AAAAAAAAAAAAAAAA,00000000000000000000000000000000")

	tests := []struct {
		name   string
		req    *auth.Request
		want   auth.Result
		code   string
		user   string
		role   core.Role
		method core.Method
	}{
		{"root on WHM", sessionReq(whm, "127.0.0.1", "", cookie(root), true, tok(root)), auth.OK, "", "root", core.RoleRoot, core.MethodSession},
		{"bob on cPanel", sessionReq(cp, "127.0.0.1", "", cookie(bob), true, tok(bob)), auth.OK, "", "bob", core.RoleCPanel, core.MethodSession},
		{"bob on Webmail", sessionReq(wm, "127.0.0.1", "", cookie(bobWM), true, tok(bobWM)), auth.OK, "", "bob", core.RoleCPanel, core.MethodSession},
		{"mailbox on Webmail", sessionReq(wm, "127.0.0.1", "", cookie(info), true, tok(info)), auth.OK, "", "info@bob.test", core.RoleWebmail, core.MethodSession},

		{"no cookie, no token", sessionReq(whm, "127.0.0.1", "", "", false, ""), auth.NotMine, "", "", 0, ""},
		{"token without cookie", sessionReq(whm, "127.0.0.1", "", "", false, tok(root)), auth.NotMine, "", "", 0, ""},
		{"a header decides alone", sessionReq(whm, "127.0.0.1", basic("root", "wrong"), cookie(root), true, tok(root)), auth.Failed, "", "", 0, core.MethodPassword},
		{"a header decides alone (right)", sessionReq(whm, "127.0.0.1", basic("res", "respw"), cookie(root), true, tok(root)), auth.OK, "", "res", core.RoleReseller, core.MethodPassword},
		{"cookie without token", sessionReq(whm, "127.0.0.1", "", cookie(root), true, ""), auth.Failed, auth.CodeTokenMissing, "", 0, core.MethodSession},
		{"wrong token", sessionReq(whm, "127.0.0.1", "", cookie(root), true, other), auth.Failed, auth.CodeTokenIncorrect, "", 0, core.MethodSession},
		{"another session's token", sessionReq(cp, "127.0.0.1", "", cookie(bob), true, tok(bobWM)), auth.Failed, auth.CodeTokenIncorrect, "", 0, core.MethodSession},
		{"empty cookie", sessionReq(whm, "127.0.0.1", "", "", true, tok(root)), auth.Failed, auth.CodeInvalid, "", 0, core.MethodSession},
		{"malformed cookie", sessionReq(whm, "127.0.0.1", "", "root%0a%3ahasroot=1", true, tok(root)), auth.Failed, auth.CodeInvalid, "", 0, core.MethodSession},
		{"unknown session", sessionReq(whm, "127.0.0.1", "", forged, true, tok(root)), auth.Failed, auth.CodeExpired, "", 0, core.MethodSession},
		{"WHM session on cPanel", sessionReq(cp, "127.0.0.1", "", cookie(root), true, tok(root)), auth.Failed, auth.CodeInvalid, "", 0, core.MethodSession},
		{"cPanel session on Webmail", sessionReq(wm, "127.0.0.1", "", cookie(bob), true, tok(bob)), auth.Failed, auth.CodeInvalid, "", 0, core.MethodSession},
		{"Webmail session on cPanel", sessionReq(cp, "127.0.0.1", "", cookie(bobWM), true, tok(bobWM)), auth.Failed, auth.CodeInvalid, "", 0, core.MethodSession},
		{"another address (strict)", sessionReq(whm, "127.0.0.2", "", cookie(root), true, tok(root)), auth.Failed, auth.CodeChangedIP, "", 0, core.MethodSession},
		{"another address, wrong token: the address first", sessionReq(whm, "::1", "", cookie(root), true, other), auth.Failed, auth.CodeChangedIP, "", 0, core.MethodSession},
		{"suspended account", sessionReq(cp, "127.0.0.1", "", cookie(sus), true, tok(sus)), auth.Failed, auth.CodeInvalid, "", 0, core.MethodSession},
	}
	chain := auth.Chain{&auth.Password{Store: f.st, Hasher: f.hasher}, f.method(readOnly{Store: f.st, t: t})}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := chain.Authenticate(ctx, tc.req)
			if out.Result != tc.want || out.Code != tc.code || out.Method != tc.method {
				t.Fatalf("result %v code %q method %q (reason %q); want %v %q %q", out.Result, out.Code, out.Method, out.Reason, tc.want, tc.code, tc.method)
			}
			if out.Result == auth.Failed && out.Reason == "" {
				t.Error("a failure without a reason for the log")
			}
			if tc.want != auth.OK {
				return
			}
			p := out.Principal
			if p.User != tc.user || p.Role != tc.role || p.Service != tc.req.Service {
				t.Errorf("principal %+v", p)
			}
			if tc.method == core.MethodSession && (p.Session != out.Session.IDHash || p.Session == "" || out.Session.Username != tc.user) {
				t.Errorf("principal session %q, outcome session %+v", p.Session, out.Session)
			}
			if tc.method == core.MethodSession && tc.role == core.RoleRoot && !p.IsRootLike() {
				t.Error("root's session does not hold every ACL")
			}
		})
	}
}

// The idle timeout and the lifetime (D13), and the re-check of an idle
// session against the store: another node may have seen it in use.
func TestSessionExpiry(t *testing.T) {
	f := newSessionFixture(t)
	ctx := context.Background()
	f.m.IdleTimeout = 30 * time.Minute
	n := f.login(t, core.Principal{User: "bob", Role: core.RoleCPanel, Account: "bob"}, core.ServiceCPanel, "127.0.0.1")
	req := func() *auth.Request {
		return sessionReq(core.ServiceCPanel, "127.0.0.1", "", sessions.EncodeCookie(n.ID), true, n.Session.SecurityToken)
	}
	check := func(st store.Store, want auth.Result, code string) {
		t.Helper()
		out := f.method(st).Authenticate(ctx, req())
		if out.Result != want || out.Code != code {
			t.Fatalf("at +%s: %v %q (%s), want %v %q", f.now.Sub(f.t0), out.Result, out.Code, out.Reason, want, code)
		}
	}
	f.now = f.t0.Add(30 * time.Minute)
	check(f.st, auth.OK, "")
	f.now = f.t0.Add(30*time.Minute + time.Second)
	check(f.st, auth.Failed, auth.CodeExpired)

	// Another node touched the session 10 minutes ago; this node's copy
	// is as old as the login. The store decides: still in use.
	if err := f.st.TouchSession(ctx, n.Session.IDHash, f.now.Add(-10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	stale := staleReads{Store: f.st, lastSeen: f.t0}
	check(stale, auth.OK, "")
	f.now = f.now.Add(21 * time.Minute) // 31 minutes after that touch
	check(stale, auth.Failed, auth.CodeExpired)

	// A use noted on this node but not yet written counts too.
	tc := sessions.NewToucher(f.st)
	m := &auth.Session{Store: stale, Key: f.key, Now: func() time.Time { return f.now }, Touches: tc}
	if err := f.st.TouchSession(ctx, n.Session.IDHash, f.now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if out := m.Authenticate(ctx, req()); out.Result != auth.OK {
		t.Fatalf("fresh session refused: %s", out.Reason)
	}
	noted := tc.Seen(n.Session.IDHash)
	if !noted.Equal(f.now) {
		t.Fatalf("use not noted: %v", noted)
	}
	f.now = f.now.Add(29 * time.Minute) // the store still says 30 minutes ago
	if out := m.Authenticate(ctx, (req())); out.Result != auth.OK {
		t.Fatalf("session used 29 minutes ago (noted, not written) refused: %s", out.Reason)
	}

	// The lifetime ends it whatever the use.
	for f.now.Before(f.t0.Add(12 * time.Hour)) {
		if err := f.st.TouchSession(ctx, n.Session.IDHash, f.now); err != nil {
			t.Fatal(err)
		}
		f.now = f.now.Add(20 * time.Minute)
	}
	f.now = f.t0.Add(12 * time.Hour)
	check(f.st, auth.Failed, auth.CodeExpired)
}

func TestOriginMatches(t *testing.T) {
	for _, tc := range []struct {
		mode, origin, remote string
		want                 bool
	}{
		{"strict", "192.0.2.1", "192.0.2.1", true},
		{"strict", "192.0.2.1", "::ffff:192.0.2.1", true},
		{"strict", "192.0.2.1", "192.0.2.2", false},
		{"strict", "2001:db8::1", "2001:db8::1", true},
		{"strict", "2001:db8::1", "2001:db8::2", false},
		{"strict", "", "192.0.2.1", false},
		{"loose", "192.0.2.1", "192.0.2.254", true},
		{"loose", "192.0.2.1", "192.0.3.1", false},
		{"loose", "2001:db8:0:1::1", "2001:db8:0:1:ffff::9", true},
		{"loose", "2001:db8:0:1::1", "2001:db8:0:2::1", false},
		{"loose", "127.0.0.1", "::1", false},
		{"loose", "not an address", "192.0.2.1", false},
		{"disabled", "192.0.2.1", "2001:db8::1", true},
		{"disabled", "", "192.0.2.1", true},
		{"bogus", "192.0.2.1", "192.0.2.1", false},
	} {
		if got := auth.OriginMatches(tc.mode, tc.origin, netip.MustParseAddr(tc.remote)); got != tc.want {
			t.Errorf("OriginMatches(%s, %q, %s) = %v", tc.mode, tc.origin, tc.remote, got)
		}
	}
}

// A principal that may no longer use the service (a reseller that lost its
// reseller privileges, with a WHM session) fails the chain's service check.
func TestSessionServiceCheck(t *testing.T) {
	f := newSessionFixture(t)
	ctx := context.Background()
	n := f.login(t, core.Principal{User: "res", Role: core.RoleReseller, Account: "res"}, core.ServiceWHM, "127.0.0.1")
	req := sessionReq(core.ServiceWHM, "127.0.0.1", "", sessions.EncodeCookie(n.ID), true, n.Session.SecurityToken)
	chain := auth.Chain{f.method(f.st)}
	if out := chain.Authenticate(ctx, req); out.Result != auth.OK || out.Principal.Role != core.RoleReseller {
		t.Fatalf("reseller's session: %v %s", out.Result, out.Reason)
	}
	if _, err := f.st.UpdateAccount(ctx, "res", func(a store.Account) (store.Account, error) {
		a.Reseller, a.ACLs = false, nil
		return a, nil
	}); err != nil {
		t.Fatal(err)
	}
	if out := chain.Authenticate(ctx, req); out.Result != auth.Failed || out.Code != auth.CodeInvalid {
		t.Fatalf("former reseller's WHM session: %v %q", out.Result, out.Code)
	}
}

// TestSessionBounds: a session made through an API token (D24) is used only
// from the token's addresses, whatever cookieipvalidation says; its
// principal carries the bounds, so what it makes is held within them; and
// it asks for the second factor when the token did, whatever the policy.
func TestSessionBounds(t *testing.T) {
	f := newSessionFixture(t)
	ctx := context.Background()
	if err := f.st.SetSetting(ctx, settings.CookieIPValidation, "disabled"); err != nil {
		t.Fatal(err)
	}
	if err := f.st.SetSetting(ctx, settings.TwoFactorPolicy, "0"); err != nil {
		t.Fatal(err)
	}
	notAfter := f.now.Add(time.Hour)
	bob := core.Principal{User: "bob", Role: core.RoleCPanel, Account: "bob"}
	ot, err := f.m.CreateOneTime(ctx, sessions.OneTime{User: "bob", Account: "bob", Service: core.ServiceCPanel, Tag: sessions.TagSSO, Method: sessions.MethodSSO,
		Creator: "root", Bounds: core.Bounds{Addresses: []string{"192.0.2.0/24"}, Expires: notAfter, RequireOTP: true}})
	if err != nil {
		t.Fatal(err)
	}
	if ot.Session.TFAVerified || !ot.Session.Expires.After(f.now) || ot.Session.Expires.After(notAfter) {
		t.Fatalf("one-time session: %+v", ot.Session)
	}
	if _, err := f.st.ConsumeSession(ctx, ot.Session.IDHash); err != nil {
		t.Fatal(err)
	}
	n, err := f.m.CreateSuccessor(ctx, sessions.Successor{Principal: bob, Service: core.ServiceCPanel, Origin: netip.MustParseAddr("192.0.2.5"),
		SecurityToken: ot.Session.SecurityToken, Method: sessions.MethodSSO, Creator: "root",
		AllowedIPs: ot.Session.AllowedIPs, NotAfter: ot.Session.NotAfter, RequireOTP: ot.Session.RequireOTP})
	if err != nil {
		t.Fatal(err)
	}
	if !n.Session.Expires.Equal(notAfter) {
		t.Errorf("the session ends %v, not at the token's expiry %v", n.Session.Expires, notAfter)
	}
	m := f.method(f.st)
	cookie, tok := sessions.EncodeCookie(n.ID), n.Session.SecurityToken
	for _, tc := range []struct {
		name, from string
		ok         bool
	}{
		{"inside the list", "192.0.2.5", true},
		{"another address inside", "192.0.2.200", true},
		{"outside the list", "198.51.100.1", false},
		{"IPv6", "2001:db8::1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := m.Authenticate(ctx, sessionReq(core.ServiceCPanel, tc.from, "", cookie, true, tok))
			if (out.Result == auth.OK) != tc.ok {
				t.Fatalf("from %s: %v (%s)", tc.from, out.Result, out.Reason)
			}
			if !tc.ok {
				if out.Code != auth.CodeChangedIP {
					t.Errorf("code %q, want %q", out.Code, auth.CodeChangedIP)
				}
				return
			}
			b := out.Principal.Bounds
			if !b.Expires.Equal(notAfter) || len(b.Addresses) != 1 || !b.RequireOTP || b.Narrowed {
				t.Errorf("principal bounds %+v", b)
			}
		})
	}
	// The second factor, asked although the policy is off: once bob has it.
	tf := &auth.TwoFactor{Store: f.st, Key: f.key, Now: func() time.Time { return f.now }}
	out := m.Authenticate(ctx, sessionReq(core.ServiceCPanel, "192.0.2.5", "", cookie, true, tok))
	if need, err := tf.Needed(ctx, out); err != nil || need {
		t.Fatalf("Needed without a configuration = %v, %v", need, err)
	}
	if err := f.st.SetTwoFactor(ctx, store.TwoFactor{Username: "bob", Account: "bob", Sealed: []byte("x"), Created: f.now}); err != nil {
		t.Fatal(err)
	}
	if need, err := tf.Needed(ctx, out); err != nil || !need {
		t.Fatalf("Needed with a configuration = %v, %v; want true", need, err)
	}
}
