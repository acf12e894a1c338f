package e2e

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cpauth/cpauth/internal/auth"
	"github.com/cpauth/cpauth/internal/daemon"
)

// recordingGuard refuses the users in deny and records every call.
type recordingGuard struct {
	deny map[string]bool
	mu   sync.Mutex
	log  []string // "admit user", "fail user method", "ok user method"
}

func (g *recordingGuard) note(s string) {
	g.mu.Lock()
	g.log = append(g.log, s)
	g.mu.Unlock()
}

func (g *recordingGuard) Admit(_ context.Context, a auth.Attempt) (bool, string) {
	g.note("admit " + a.User)
	g.mu.Lock()
	denied := g.deny[a.User]
	g.mu.Unlock()
	if denied {
		return false, "denied by the test"
	}
	return true, ""
}

func (g *recordingGuard) Failed(_ context.Context, a auth.Attempt, _ string) {
	g.note("fail " + a.User + " " + string(a.Method))
}

func (g *recordingGuard) Succeeded(_ context.Context, a auth.Attempt) {
	g.note("ok " + a.User + " " + string(a.Method))
}

func (g *recordingGuard) setDeny(user string, deny bool) {
	g.mu.Lock()
	g.deny[user] = deny
	g.mu.Unlock()
}

func (g *recordingGuard) take() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	l := g.log
	g.log = nil
	return l
}

// The server asks the guard before every credential check and tells it
// every result; a refused attempt gets a wrong credential's bytes.
func TestGuardSeesEveryAttempt(t *testing.T) {
	g := &recordingGuard{deny: map[string]bool{}}
	e := startOpts(t, nil, func(o *daemon.Options) { o.Guard = g })
	version := "/json-api/version?api.version=1"
	g.take()

	tests := []struct {
		name   string
		req    request
		status int
		want   []string
	}{
		{"right password", request{port: p2087, path: version, auth: e.authFor(t, "root")}, http.StatusOK,
			[]string{"admit root", "ok root password"}},
		{"wrong password", request{port: p2087, path: version, auth: basic("root", "wrong")}, http.StatusForbidden,
			[]string{"admit root", "fail root password"}},
		{"no credentials: not an attempt", request{port: p2087, path: version}, http.StatusUnauthorized, nil},
		{"session cookie without its security token: refused unchecked (D12), not an attempt", request{port: p2087, path: version,
			header: map[string]string{"Cookie": "whostmgrsession=root%3aAAAAAAAAAAAAAAAA%2c" + strings.Repeat("0", 32)}}, http.StatusUnauthorized, nil},
		{"forged session cookie with a security token", request{port: p2087, path: "/cpsess0123456789" + version,
			header: map[string]string{"Cookie": "whostmgrsession=root%3aAAAAAAAAAAAAAAAA%2c" + strings.Repeat("0", 32)}}, http.StatusForbidden,
			[]string{"admit ", "fail root session"}},
		{"login form, wrong password", request{port: p2087, method: http.MethodPost, path: "/login/?login_only=1",
			body: loginForm("user", "root", "pass", "wrong"), ctype: "application/x-www-form-urlencoded"}, http.StatusUnauthorized,
			[]string{"admit root", "fail root password"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, tc.req)
			if r.status != tc.status {
				t.Errorf("status %d, want %d", r.status, tc.status)
			}
			if got := g.take(); !slices.Equal(got, tc.want) {
				t.Errorf("guard saw %q, want %q", got, tc.want)
			}
		})
	}

	t.Run("refused: the right password is not checked, the answer is a wrong one's", func(t *testing.T) {
		wrong := e.do(t, request{port: p2087, path: version, auth: basic("root", "wrong")})
		g.take()
		g.setDeny("root", true)
		defer g.setDeny("root", false)
		blocked := e.do(t, request{port: p2087, path: version, auth: e.authFor(t, "root")})
		if blocked.status != wrong.status || !bytes.Equal(blocked.body, wrong.body) {
			t.Errorf("refused: %d %q; wrong password: %d %q", blocked.status, blocked.body, wrong.status, wrong.body)
		}
		if got := g.take(); !slices.Equal(got, []string{"admit root"}) {
			t.Errorf("guard saw %q: a refused attempt must not be checked or recorded", got)
		}
		form := loginForm("user", "root", "pass", e.rootPass)
		r := e.do(t, request{port: p2087, method: http.MethodPost, path: "/login/?login_only=1", body: form, ctype: "application/x-www-form-urlencoded"})
		if r.status != http.StatusUnauthorized || !bytes.Contains(r.body, []byte("invalid_login")) {
			t.Errorf("refused login: %d %s", r.status, r.body)
		}
	})
}
