package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/sessions"
)

// Backend sessions: how the gateway acts as a principal on the backend.
// With root's token it asks the backend for a single sign-on session of
// the principal on the service (create_user_session), redeems the URL
// itself and keeps the session's cookie and security token in memory, per
// (user, service). A forwarded call is then the client's path and
// arguments under that security token, with that cookie, on the backend's
// port of the same service, so the backend enforces its own privileges,
// features and Webmail rules for that user, exactly.
//
// The cookie and the token are bearer credentials of the backend: they
// are held in this process only, never written to the store or a log.
// A session the backend no longer accepts is made again (Sessions.renew);
// one not used for sessionIdle is ended (Sessions.Reap), and so are a
// user's when its gateway state ends (suspension, removal, a password
// change, the last logout).

// sessionIdle is how long a backend session is kept without use: less
// than the backend's idle timeout of single sign-on sessions (15 minutes
// in cPanel and cpauth), so that the gateway ends it before it expires.
const sessionIdle = 10 * time.Minute

// sessionKey names a backend session.
type sessionKey struct {
	user string
	svc  core.Service
}

// backendSession is one session of the backend.
type backendSession struct {
	cookie string // "<name>=<value>", as the Cookie header sends it
	token  string // /cpsessNNNNNNNNNN
	made   time.Time
	used   atomic.Int64 // unix seconds of the last use
}

// making is a session being made, which other callers wait for.
type making struct {
	done chan struct{}
	s    *backendSession
	err  error
}

// Sessions is the pool of backend sessions.
type Sessions struct {
	b   *Backend
	now func() time.Time

	live sync.Map // sessionKey -> *backendSession

	mu     sync.Mutex
	making map[sessionKey]*making

	made, ended atomic.Uint64
}

// NewSessions returns an empty pool over b, on the clock now.
func NewSessions(b *Backend, now func() time.Time) *Sessions {
	if now == nil {
		now = time.Now
	}
	return &Sessions{b: b, now: now, making: map[sessionKey]*making{}}
}

// get returns the session of (user, svc), making it when there is none.
// Concurrent callers for one key wait for one making.
func (p *Sessions) get(ctx context.Context, user string, svc core.Service) (*backendSession, error) {
	k := sessionKey{user, svc}
	if v, ok := p.live.Load(k); ok {
		s := v.(*backendSession)
		p.touch(s)
		return s, nil
	}
	return p.make(ctx, k, nil)
}

// renew replaces old, a session the backend refused, by a new one (or
// returns the one another caller already made in its place).
func (p *Sessions) renew(ctx context.Context, user string, svc core.Service, old *backendSession) (*backendSession, error) {
	return p.make(ctx, sessionKey{user, svc}, old)
}

func (p *Sessions) touch(s *backendSession) {
	now := p.now().Unix()
	if s.used.Load() != now { // one shared write a second at most
		s.used.Store(now)
	}
}

// make makes the session of k, unless one other than stale is live.
func (p *Sessions) make(ctx context.Context, k sessionKey, stale *backendSession) (*backendSession, error) {
	p.mu.Lock()
	if v, ok := p.live.Load(k); ok && v.(*backendSession) != stale {
		p.mu.Unlock()
		return v.(*backendSession), nil
	}
	if stale != nil {
		p.live.CompareAndDelete(k, stale)
	}
	m, waiting := p.making[k]
	if !waiting {
		m = &making{done: make(chan struct{})}
		p.making[k] = m
	}
	p.mu.Unlock()
	if waiting {
		select {
		case <-m.done:
			return m.s, m.err
		case <-ctx.Done():
			return nil, p.b.fail(ctx, ctx.Err())
		}
	}
	// The making is not the first caller's alone: it must not end with
	// that caller's request.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.b.timeout)
	s, err := p.create(mctx, k)
	cancel()
	p.mu.Lock()
	if err == nil {
		p.live.Store(k, s)
		p.made.Add(1)
	}
	delete(p.making, k)
	p.mu.Unlock()
	m.s, m.err = s, err
	close(m.done)
	return s, err
}

// ssoData is create_user_session's data.
type ssoData struct {
	Token string `json:"cp_security_token"`
	URL   string `json:"url"`
}

// create asks the backend for a session of k and redeems it.
func (p *Sessions) create(ctx context.Context, k sessionKey) (*backendSession, error) {
	var d ssoData
	if err := p.b.whm1(ctx, "create_user_session", url.Values{"user": {k.user}, "service": {k.svc.App()}}, &d); err != nil {
		return nil, err
	}
	path, query, ok := loginURL(d.Token, d.URL)
	if !ok {
		return nil, &Error{Failure: FailBadAnswer, Host: p.b.host, Timeout: p.b.timeout, Err: errors.New("create_user_session: no security token and login URL")}
	}
	resp, cancel, err := p.b.send(ctx, outgoing{method: http.MethodGet, svc: k.svc, path: path, query: query, call: CallLogin})
	if err != nil {
		return nil, err
	}
	defer cancel()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	name := sessions.CookieName(k.svc)
	for _, c := range resp.Cookies() {
		if c.Name == name && c.Value != "" {
			now := p.now()
			s := &backendSession{cookie: name + "=" + c.Value, token: d.Token, made: now}
			s.used.Store(now.Unix())
			return s, nil
		}
	}
	return nil, &Error{Failure: FailRefused, Host: p.b.host, Timeout: p.b.timeout, Err: fmt.Errorf("redeeming a %s session: HTTP %d without the session cookie", k.svc.App(), resp.StatusCode)}
}

// loginURL reads create_user_session's answer: the path and query to
// redeem, under the session's security token. The URL's scheme, host and
// port are the ones the backend chose for browsers and are not used: the
// gateway redeems it on the address it knows the backend by, so that an
// answer cannot send the gateway (and the session) elsewhere.
func loginURL(token, raw string) (path, query string, ok bool) {
	u, err := url.Parse(raw)
	if err != nil || !sessions.IsToken(token) {
		return "", "", false
	}
	path = u.EscapedPath()
	if !strings.HasPrefix(path, token+"/") || strings.Contains(path, "/../") || strings.HasSuffix(path, "/..") || !uriText(path) || !uriText(u.RawQuery) {
		return "", "", false
	}
	return path, u.RawQuery, true
}

// uriText reports whether s is made of what a request line's target may
// hold as it is: printable ASCII, no space.
func uriText(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// End ends the backend sessions of user on every service (logging them
// out of the backend) and reports how many there were.
func (p *Sessions) End(ctx context.Context, user string) int {
	n := 0
	for svc := core.ServiceCPanel; svc <= core.ServiceWebmail; svc++ {
		if p.end(ctx, sessionKey{user, svc}) {
			n++
		}
	}
	return n
}

// EndOn ends user's backend session on svc, if any.
func (p *Sessions) EndOn(ctx context.Context, user string, svc core.Service) bool {
	return p.end(ctx, sessionKey{user, svc})
}

func (p *Sessions) end(ctx context.Context, k sessionKey) bool {
	v, ok := p.live.LoadAndDelete(k)
	if !ok {
		return false
	}
	p.logout(ctx, k.svc, v.(*backendSession))
	return true
}

// logout ends s at the backend; the answer does not matter (a session the
// backend had already ended is ended).
func (p *Sessions) logout(ctx context.Context, svc core.Service, s *backendSession) {
	p.ended.Add(1)
	resp, cancel, err := p.b.send(ctx, outgoing{method: http.MethodGet, svc: svc, path: s.token + "/logout/", cookie: s.cookie, call: CallLogout})
	if err != nil {
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	cancel()
}

// Reap ends the sessions not used for sessionIdle and returns how many.
func (p *Sessions) Reap(ctx context.Context) int {
	cut := p.now().Add(-sessionIdle).Unix()
	n := 0
	p.live.Range(func(k, v any) bool {
		s := v.(*backendSession)
		if s.used.Load() < cut && p.live.CompareAndDelete(k, s) {
			p.logout(ctx, k.(sessionKey).svc, s)
			n++
		}
		return true
	})
	return n
}

// EndAll ends every session (at shutdown).
func (p *Sessions) EndAll(ctx context.Context) {
	p.live.Range(func(k, v any) bool {
		if p.live.CompareAndDelete(k, v) {
			p.logout(ctx, k.(sessionKey).svc, v.(*backendSession))
		}
		return true
	})
}

// Len is the number of live sessions.
func (p *Sessions) Len() int {
	n := 0
	p.live.Range(func(any, any) bool { n++; return true })
	return n
}

// Stats reports how many sessions were made and ended since start.
func (p *Sessions) Stats() (made, ended uint64) { return p.made.Load(), p.ended.Load() }

// Live is the number of live sessions of user (on every service).
func (p *Sessions) Live(user string) int {
	n := 0
	for svc := core.ServiceCPanel; svc <= core.ServiceWebmail; svc++ {
		if _, ok := p.live.Load(sessionKey{user, svc}); ok {
			n++
		}
	}
	return n
}
