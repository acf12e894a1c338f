package auth_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/settings"
	"github.com/cpauth/cpauth/internal/store"
	"github.com/cpauth/cpauth/internal/totp"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// countingGuard records what it was told.
type countingGuard struct {
	mu               sync.Mutex
	admit            bool
	admits, ok, fail int
	methods          []core.Method
}

func (g *countingGuard) Admit(_ context.Context, a auth.Attempt) (bool, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.admits++
	g.methods = append(g.methods, a.Method)
	return g.admit, "test guard"
}
func (g *countingGuard) Failed(context.Context, auth.Attempt, string) {
	g.mu.Lock()
	g.fail++
	g.mu.Unlock()
}
func (g *countingGuard) Succeeded(context.Context, auth.Attempt) {
	g.mu.Lock()
	g.ok++
	g.mu.Unlock()
}

const tfaSecret = "JBSWY3DPEHPK3PXP"

// stepStart is the first instant of a time step.
var stepStart = time.Unix(1_800_000_000, 0).Truncate(totp.Period)

func codeAt(t *testing.T, step int64) string {
	t.Helper()
	c, err := totp.CodeAt(tfaSecret, step)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func enrolled(t *testing.T) (*fixture, *auth.TwoFactor, *clock, []string) {
	t.Helper()
	f := newFixture(t)
	clk := &clock{t: stepStart}
	tf := &auth.TwoFactor{Store: f.st, Key: f.key, Now: clk.Now}
	cur := totp.Step(stepStart)
	v, codes, err := tf.Enroll(t.Context(), nil, auth.Attempt{User: "bob"}, "bob", tfaSecret, codeAt(t, cur))
	if err != nil || v != auth.CodeOK || len(codes) != auth.RecoveryCount {
		t.Fatalf("Enroll = %v, %d codes, %v", v, len(codes), err)
	}
	return f, tf, clk, codes
}

func TestTwoFactorEnrollStoresSealed(t *testing.T) {
	f, _, _, codes := enrolled(t)
	rec, err := f.st.GetTwoFactor(t.Context(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	if string(rec.Sealed) == tfaSecret || len(rec.Sealed) == 0 {
		t.Fatal("the secret is not sealed")
	}
	if got, err := auth.OpenSecret(f.key, rec); err != nil || got != tfaSecret {
		t.Fatalf("OpenSecret = %q, %v", got, err)
	}
	if rec.LastStep != totp.Step(stepStart) {
		t.Fatalf("the setup code's step is not burnt: %d", rec.LastStep)
	}
	if len(rec.RecoveryMACs) != auth.RecoveryCount {
		t.Fatalf("%d recovery hashes", len(rec.RecoveryMACs))
	}
	for i, c := range codes {
		n, ok := auth.NormalizeRecoveryCode(c)
		if !ok || rec.RecoveryMACs[i] != auth.RecoveryMAC(f.key, "bob", n) {
			t.Fatalf("recovery code %d (%q) is not stored as its keyed hash", i, c)
		}
		for _, m := range rec.RecoveryMACs {
			if m == c || m == n {
				t.Fatal("a recovery code is stored in plain text")
			}
		}
	}
}

func TestTwoFactorEnrollWrongCode(t *testing.T) {
	f := newFixture(t)
	tf := &auth.TwoFactor{Store: f.st, Key: f.key, Now: func() time.Time { return stepStart }}
	g := &countingGuard{admit: true}
	cur := totp.Step(stepStart)
	for _, code := range []string{codeAt(t, cur+2), "abcdef", ""} {
		v, codes, err := tf.Enroll(t.Context(), g, auth.Attempt{User: "bob"}, "bob", tfaSecret, code)
		if err != nil || v != auth.CodeWrong || codes != nil {
			t.Fatalf("Enroll(%q) = %v, %v, %v", code, v, codes, err)
		}
	}
	if _, err := f.st.GetTwoFactor(t.Context(), "bob"); err == nil {
		t.Fatal("a wrong code set two-factor authentication up")
	}
	if g.fail != 3 || g.ok != 0 {
		t.Fatalf("guard told %d failures, %d successes", g.fail, g.ok)
	}
	if _, _, err := tf.Enroll(t.Context(), nil, auth.Attempt{User: "bob"}, "bob", "short", codeAt(t, cur)); err == nil {
		t.Fatal("a bad secret was accepted")
	}
}

func TestTwoFactorVerify(t *testing.T) {
	f, tf, clk, codes := enrolled(t)
	ctx := t.Context()
	cur := totp.Step(stepStart)
	g := &countingGuard{admit: true}
	verify := func(code string, recovery bool) auth.Verdict {
		t.Helper()
		v, _, err := tf.Verify(ctx, g, auth.Attempt{User: "bob", Service: core.ServiceCPanel}, code, recovery)
		if err != nil {
			t.Fatalf("Verify(%q): %v", code, err)
		}
		return v
	}
	steps := []struct {
		name string
		at   time.Time
		code string
		rec  bool
		want auth.Verdict
	}{
		{"the setup code again", stepStart, codeAt(t, cur), false, auth.CodeReplayed},
		{"the next step's code", stepStart, codeAt(t, cur+1), false, auth.CodeOK},
		{"the same code replayed", stepStart, codeAt(t, cur+1), false, auth.CodeReplayed},
		{"an earlier step after a later one", stepStart.Add(totp.Period), codeAt(t, cur), false, auth.CodeReplayed},
		{"at the last instant of step+1, step+2's code", stepStart.Add(2*totp.Period - time.Nanosecond), codeAt(t, cur+2), false, auth.CodeOK},
		{"at the first instant of step+3, step+2's code is burnt", stepStart.Add(3 * totp.Period), codeAt(t, cur+2), false, auth.CodeReplayed},
		{"at the first instant of step+4, step+2's code is out of the window", stepStart.Add(4 * totp.Period), codeAt(t, cur+2), false, auth.CodeWrong},
		{"step+5 at the start of step+4", stepStart.Add(4 * totp.Period), codeAt(t, cur+5), false, auth.CodeOK},
		{"recovery code where not allowed", stepStart.Add(4 * totp.Period), codes[0], false, auth.CodeWrong},
		{"recovery code", stepStart.Add(4 * totp.Period), codes[0], true, auth.RecoveryOK},
		{"recovery code used twice", stepStart.Add(4 * totp.Period), codes[0], true, auth.CodeWrong},
		{"recovery code typed loosely", stepStart.Add(4 * totp.Period), " " + upper(codes[1][:5]) + codes[1][6:], true, auth.RecoveryOK},
	}
	for _, s := range steps {
		clk.Set(s.at)
		if got := verify(s.code, s.rec); got != s.want {
			t.Fatalf("%s: %v, want %v", s.name, got, s.want)
		}
	}
	rec, _ := f.st.GetTwoFactor(ctx, "bob")
	if len(rec.RecoveryMACs) != auth.RecoveryCount-2 {
		t.Fatalf("%d recovery codes left", len(rec.RecoveryMACs))
	}
	if v, _, _ := tf.Verify(ctx, g, auth.Attempt{User: "carol"}, codeAt(t, cur+6), true); v != auth.NotConfigured {
		t.Fatalf("user without two-factor: %v", v)
	}
	for _, m := range g.methods {
		if m != core.MethodTwoFactor {
			t.Fatalf("guard asked with method %q", m)
		}
	}
	// A refusing guard stops the check before anything is read or burnt.
	no := &countingGuard{}
	clk.Set(stepStart.Add(6 * totp.Period))
	if v, _, _ := tf.Verify(ctx, no, auth.Attempt{User: "bob"}, codeAt(t, cur+6), false); v != auth.CodeRefused {
		t.Fatalf("refused: %v", v)
	}
	if v := verify(codeAt(t, cur+6), false); v != auth.CodeOK {
		t.Fatalf("the code a refused attempt carried was burnt: %v", v)
	}
}

// D22: a code in an API call's header serves every call of its window; a
// code older than the newest accepted, a recovery code, and at a login a
// code already accepted anywhere, are refused.
func TestTwoFactorVerifyHeader(t *testing.T) {
	f, tf, clk, codes := enrolled(t)
	ctx := t.Context()
	cur := totp.Step(stepStart)
	g := &countingGuard{admit: true}
	att := auth.Attempt{User: "bob", Service: core.ServiceCPanel}
	steps := []struct {
		name  string
		at    time.Time
		login bool // Verify (a code typed at a login), else VerifyHeader
		code  string
		want  auth.Verdict
	}{
		{"the setup code in a header", stepStart, false, codeAt(t, cur), auth.CodeOK},
		{"the setup code again, late in its step", stepStart.Add(totp.Period - time.Second), false, codeAt(t, cur), auth.CodeOK},
		{"the next step's code, early", stepStart.Add(totp.Period - time.Second), false, codeAt(t, cur+1), auth.CodeOK},
		{"the setup code after a newer one", stepStart.Add(totp.Period - time.Second), false, codeAt(t, cur), auth.CodeReplayed},
		{"the newer code in its own step", stepStart.Add(totp.Period), false, codeAt(t, cur+1), auth.CodeOK},
		{"the newer code a step later (the matcher's window)", stepStart.Add(3*totp.Period - time.Nanosecond), false, codeAt(t, cur+1), auth.CodeOK},
		{"the newer code two steps later, out of the window", stepStart.Add(3 * totp.Period), false, codeAt(t, cur+1), auth.CodeWrong},
		{"a header code", stepStart.Add(3 * totp.Period), false, codeAt(t, cur+3), auth.CodeOK},
		{"the header's code at a login", stepStart.Add(3 * totp.Period), true, codeAt(t, cur+3), auth.CodeReplayed},
		{"the next code at a login", stepStart.Add(3 * totp.Period), true, codeAt(t, cur+4), auth.CodeOK},
		{"the login's code again at a login", stepStart.Add(3 * totp.Period), true, codeAt(t, cur+4), auth.CodeReplayed},
		{"the login's code in a header", stepStart.Add(3 * totp.Period), false, codeAt(t, cur+4), auth.CodeOK},
		{"the header's older code after the login's", stepStart.Add(3 * totp.Period), false, codeAt(t, cur+3), auth.CodeReplayed},
		{"a recovery code in a header", stepStart.Add(3 * totp.Period), false, codes[0], auth.CodeWrong},
		{"the same recovery code at a login (not spent by the header)", stepStart.Add(3 * totp.Period), true, codes[0], auth.RecoveryOK},
	}
	for _, s := range steps {
		clk.Set(s.at)
		var v auth.Verdict
		var err error
		if s.login {
			v, _, err = tf.Verify(ctx, g, att, s.code, true)
		} else {
			v, err = tf.VerifyHeader(ctx, g, att, s.code)
		}
		if err != nil || v != s.want {
			t.Fatalf("%s: %v, %v; want %v", s.name, v, err, s.want)
		}
	}
	// Ten calls with one code inside its step, one every three seconds.
	clk.Set(stepStart.Add(6 * totp.Period))
	code := codeAt(t, cur+6)
	for i := range 10 {
		if v, err := tf.VerifyHeader(ctx, g, att, code); err != nil || v != auth.CodeOK {
			t.Fatalf("call %d with one code: %v, %v", i+1, v, err)
		}
		clk.Set(clk.Now().Add(3 * time.Second))
	}
	rec, err := f.st.GetTwoFactor(ctx, "bob")
	if err != nil || rec.LastStep != cur+6 || len(rec.RecoveryMACs) != auth.RecoveryCount-1 {
		t.Fatalf("record after the calls: last step %d (want %d), %d recovery codes, %v", rec.LastStep, cur+6, len(rec.RecoveryMACs), err)
	}
	for _, m := range g.methods {
		if m != core.MethodTwoFactor {
			t.Fatalf("guard asked with method %q", m)
		}
	}
	// A refusing guard stops the check.
	if v, _ := tf.VerifyHeader(ctx, &countingGuard{}, att, code); v != auth.CodeRefused {
		t.Fatalf("refused: %v", v)
	}
	if v, _ := tf.VerifyHeader(ctx, g, auth.Attempt{User: "carol"}, code); v != auth.NotConfigured {
		t.Fatalf("user without two-factor: %v", v)
	}
}

// The limit of wrong codes holds in the header: using the header's code
// again does not clear the count (only a newer step does), and over the
// limit even a right code is refused.
func TestTwoFactorHeaderRateLimit(t *testing.T) {
	f, tf, clk, _ := enrolled(t)
	ctx := t.Context()
	tf.MaxFailures, tf.FailureWindow = 3, 10*time.Minute
	cur := totp.Step(stepStart)
	clk.Set(stepStart.Add(time.Second))
	header := func(code string) auth.Verdict {
		t.Helper()
		v, err := tf.VerifyHeader(ctx, nil, auth.Attempt{User: "bob"}, code)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	failures := func() int {
		t.Helper()
		rec, err := f.st.GetTwoFactor(ctx, "bob")
		if err != nil {
			t.Fatal(err)
		}
		return rec.Failures
	}
	right := codeAt(t, cur)
	steps := []struct {
		name     string
		code     string
		want     auth.Verdict
		failures int
	}{
		{"the right code", right, auth.CodeOK, 0},
		{"a wrong code", "000000", auth.CodeWrong, 1},
		{"another wrong code", "999999", auth.CodeWrong, 2},
		{"the right code again", right, auth.CodeOK, 2},
		{"a third wrong code", "000000", auth.CodeWrong, 3},
		{"the right code over the limit", right, auth.CodeLimited, 3},
		{"a newer right code over the limit", codeAt(t, cur+1), auth.CodeLimited, 3},
	}
	for _, s := range steps {
		if v := header(s.code); v != s.want {
			t.Fatalf("%s: %v, want %v", s.name, v, s.want)
		}
		if n := failures(); n != s.failures {
			t.Fatalf("%s: %d failures counted, want %d", s.name, n, s.failures)
		}
	}
	clk.Set(stepStart.Add(10*time.Minute + time.Second))
	if v := header(codeAt(t, totp.Step(clk.Now()))); v != auth.CodeOK {
		t.Fatalf("after the window: %v", v)
	}
	if n := failures(); n != 0 {
		t.Fatalf("a newer step did not clear the count: %d", n)
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

func TestTwoFactorRateLimit(t *testing.T) {
	_, tf, clk, _ := enrolled(t)
	ctx := t.Context()
	tf.MaxFailures, tf.FailureWindow = 3, 10*time.Minute
	cur := totp.Step(stepStart)
	clk.Set(stepStart.Add(time.Second))
	for i := range 3 {
		if v, _, _ := tf.Verify(ctx, nil, auth.Attempt{User: "bob"}, "000000", false); v != auth.CodeWrong {
			t.Fatalf("wrong code %d: %v", i, v)
		}
	}
	// The limit is reached: even the right code is refused, unchecked
	// (and so not burnt).
	if v, _, _ := tf.Verify(ctx, nil, auth.Attempt{User: "bob"}, codeAt(t, cur+1), false); v != auth.CodeLimited {
		t.Fatalf("right code over the limit: %v", v)
	}
	clk.Set(stepStart.Add(10*time.Minute - time.Second))
	right := codeAt(t, totp.Step(clk.Now()))
	if v, _, _ := tf.Verify(ctx, nil, auth.Attempt{User: "bob"}, right, false); v != auth.CodeLimited {
		t.Fatalf("just before the window ends: %v", v)
	}
	clk.Set(stepStart.Add(10*time.Minute + time.Second))
	if v, _, _ := tf.Verify(ctx, nil, auth.Attempt{User: "bob"}, right, false); v != auth.CodeOK {
		t.Fatalf("after the window: %v", v)
	}
	// Replays are refused but not counted: a client that sends one code
	// twice does not lock its user out.
	for range 5 {
		if v, _, _ := tf.Verify(ctx, nil, auth.Attempt{User: "bob"}, right, false); v != auth.CodeReplayed {
			t.Fatalf("replay: %v", v)
		}
	}
	// A right code clears the count.
	rec, _ := tf.Store.GetTwoFactor(ctx, "bob")
	if rec.Failures != 0 || !rec.FailuresSince.IsZero() {
		t.Fatalf("failures after a right code: %d since %v", rec.Failures, rec.FailuresSince)
	}
}

func TestTwoFactorConcurrentSameCode(t *testing.T) {
	_, tf, _, _ := enrolled(t)
	code := codeAt(t, totp.Step(stepStart)+1)
	const n = 8
	var passed atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			v, _, err := tf.Verify(context.Background(), nil, auth.Attempt{User: "bob"}, code, false)
			if err != nil {
				t.Error(err)
			}
			if v == auth.CodeOK {
				passed.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if got := passed.Load(); got != 1 {
		t.Fatalf("%d of %d concurrent uses of one code passed, want exactly 1", got, n)
	}
}

// Concurrent calls with one header code all pass, and a login with that
// code among them does not make any of them fail: the step ends up the
// newest accepted either way.
func TestTwoFactorConcurrentHeader(t *testing.T) {
	f, tf, _, _ := enrolled(t)
	step := totp.Step(stepStart) + 1
	code := codeAt(t, step)
	const n = 8
	var passed atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n + 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if i == n {
				_, _, err := tf.Verify(context.Background(), nil, auth.Attempt{User: "bob"}, code, true)
				if err != nil {
					t.Error(err)
				}
				return
			}
			v, err := tf.VerifyHeader(context.Background(), nil, auth.Attempt{User: "bob"}, code)
			if err != nil {
				t.Error(err)
			}
			if v == auth.CodeOK {
				passed.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if got := passed.Load(); got != n {
		t.Fatalf("%d of %d concurrent calls with one header code passed, want all", got, n)
	}
	if rec, err := f.st.GetTwoFactor(t.Context(), "bob"); err != nil || rec.LastStep != step {
		t.Fatalf("last step %d, want %d (%v)", rec.LastStep, step, err)
	}
}

func TestTwoFactorNeeded(t *testing.T) {
	f, tf, _, _ := enrolled(t)
	ctx := t.Context()
	set := func(k, v string) {
		if err := f.st.SetSetting(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	out := func(m core.Method, user string, verified, requireOTP bool) auth.Outcome {
		return auth.Outcome{Result: auth.OK, Method: m, Principal: core.Principal{User: user, Method: m},
			Session: store.Session{TFAVerified: verified}, RequireOTP: requireOTP}
	}
	tests := []struct {
		name      string
		policy    string
		apiPolicy string
		out       auth.Outcome
		want      bool
	}{
		{"password, API policy off", "1", "0", out(core.MethodPassword, "bob", false, false), false},
		{"password, API policy on", "1", "1", out(core.MethodPassword, "bob", false, false), true},
		{"password, API policy on, policy off", "0", "1", out(core.MethodPassword, "bob", false, false), false},
		{"password, not configured", "1", "1", out(core.MethodPassword, "res", false, false), false},
		{"session unverified", "1", "0", out(core.MethodSession, "bob", false, false), true},
		{"session verified", "1", "1", out(core.MethodSession, "bob", true, false), false},
		{"session unverified, policy off", "0", "0", out(core.MethodSession, "bob", false, false), false},
		{"session unverified, not configured", "1", "1", out(core.MethodSession, "res", false, false), false},
		{"token", "1", "1", out(core.MethodToken, "bob", false, false), false},
		{"token require_otp", "1", "0", out(core.MethodToken, "bob", false, true), true},
		{"token require_otp, policies off", "0", "0", out(core.MethodToken, "bob", false, true), true},
		{"token require_otp, not configured", "1", "1", out(core.MethodToken, "res", false, true), false},
		{"access hash", "1", "1", out(core.MethodAccessHash, "bob", false, false), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set(settings.TwoFactorPolicy, tt.policy)
			set(settings.APIPolicy, tt.apiPolicy)
			got, err := tf.Needed(ctx, tt.out)
			if err != nil || got != tt.want {
				t.Fatalf("Needed = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func FuzzNormalizeRecoveryCode(f *testing.F) {
	f.Add("abcde-fghjk")
	f.Add(" ABCDE FGHJK ")
	f.Add("0000000000")
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := auth.NormalizeRecoveryCode(s)
		if !ok {
			return
		}
		if len(n) != auth.RecoveryLen {
			t.Fatalf("%q normalised to %q", s, n)
		}
		if again, ok := auth.NormalizeRecoveryCode(n); !ok || again != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, n, again)
		}
	})
}
