package gateway

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/core"
)

// Request is a call the gateway forwards: the client's request as the
// server read it, and who made it.
type Request struct {
	// Principal is who authenticated (never the account a WHM caller
	// acts in: the backend decides that, as the caller).
	Principal core.Principal
	// Service is the service of the port the call came in on: it goes to
	// the backend's port of the same service.
	Service core.Service
	// Method, Path, RawQuery, Body and ContentType are the client's:
	// Path is escaped and without the client's security token.
	Method      string
	Path        string
	RawQuery    string
	Body        []byte
	ContentType string
	// Flavour, Module and Func name the function called (a WHM-to-cPanel
	// call's inner function: Flavour UAPI or API2, and WHM is true), for
	// the read-only list, the audit stream and what a call changes;
	// Account is the cPanel account a UAPI or API 2 call runs in, and
	// Args the call's arguments.
	Flavour api.Flavour
	Module  string
	Func    string
	WHM     bool
	Account string
	Args    api.Args
	// Session is the gateway session the call came through ("" for
	// none): a password change through it keeps it, as in standalone
	// mode.
	Session string
}

// Response is the backend's answer, to be passed on unchanged.
type Response struct {
	Status int
	// Header holds the headers passed on: the body's type and caching,
	// never a cookie of the backend.
	Header http.Header
	Body   io.ReadCloser
	// Length is the body's length, -1 when the backend did not say.
	Length int64
	// Took is how long the backend took to answer.
	Took time.Duration
}

// passed are the answer headers a client gets from the backend. Set-Cookie
// above all is not passed: the backend's cookies are its sessions'.
var passed = []string{"Content-Type", "Cache-Control", "Content-Disposition", "Content-Language", "Expires", "Pragma", "X-Content-Type-Options"}

// maxChangedAnswer bounds the answer of a call that changes the directory,
// which is read whole before the directory is brought up to date.
const maxChangedAnswer = 16 << 20

// Forward sends a call to the backend as the principal and returns the
// backend's answer. It returns a *core.Error (KindPermission) for a call
// the gateway refuses itself (a read-only token and a function that is
// not on the read-only list), and an *Error when the backend gave no
// answer to pass on; it never sends a call again once the backend may
// have run it.
//
// A call that changes the directory (an account created, suspended,
// removed, a password changed) has its answer read whole, and the
// directory brought up to date, before Forward returns: the client's next
// call finds the gateway knowing what it did.
func (g *Gateway) Forward(ctx context.Context, r *Request) (*Response, error) {
	if r.Principal.ReadOnly && !g.ReadOnly.Allows(r.Flavour, r.Module, r.Func) {
		return nil, core.Errorf(core.KindPermission, "The API token “%s” is read-only: it cannot call %s, which changes data.", r.Principal.TokenName, fullName(r.Module, r.Func))
	}
	start := g.now()
	resp, cancel, err := g.send(ctx, r)
	if err != nil {
		return nil, err
	}
	out := &Response{Status: resp.StatusCode, Header: http.Header{}, Length: resp.ContentLength, Took: g.now().Sub(start)}
	for _, k := range passed {
		if v := resp.Header.Values(k); len(v) > 0 {
			out.Header[k] = v
		}
	}
	eff := effectOf(r)
	if eff == nil {
		out.Body = &answerBody{ReadCloser: resp.Body, cancel: cancel}
		return out, nil
	}
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, maxChangedAnswer))
	resp.Body.Close()
	cancel()
	// Whatever the backend answered, and even when its answer broke off
	// (the call may have run), the directory is read again.
	eff(ctx, g, r)
	if rerr != nil {
		return nil, g.Backend.fail(ctx, rerr)
	}
	out.Body, out.Length = io.NopCloser(bytes.NewReader(raw)), int64(len(raw))
	return out, nil
}

// answerBody ends the call's context once the body is closed.
type answerBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *answerBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// send sends r with the principal's backend credential. A backend session
// or token that the backend refuses (it expired, or was ended there) is
// made again and the call sent once more: a refused credential means the
// call did not run.
func (g *Gateway) send(ctx context.Context, r *Request) (*http.Response, context.CancelFunc, error) {
	cred, err := g.credential(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	for attempt := 0; ; attempt++ {
		o := outgoing{method: r.Method, svc: r.Service, path: cred.token + r.Path, query: r.RawQuery, body: r.Body, ctype: r.ContentType, auth: cred.auth, cookie: cred.cookie, call: CallForward + r.Flavour.String()}
		resp, cancel, err := g.Backend.send(ctx, o)
		if err != nil {
			return nil, nil, err
		}
		refused, err := peekRefusal(resp)
		if err != nil {
			cancel()
			return nil, nil, g.Backend.fail(ctx, err)
		}
		if !refused {
			return resp, cancel, nil
		}
		resp.Body.Close()
		cancel()
		if attempt > 0 || cred.renew == nil {
			return nil, nil, &Error{Failure: FailRefused, Host: g.Backend.host, Timeout: g.Backend.timeout, Err: errRefused(cred.kind, resp.StatusCode)}
		}
		if cred, err = cred.renew(ctx); err != nil {
			return nil, nil, err
		}
	}
}

// peekRefusal reports whether resp refuses the credential, reading the
// small body of a 401 or 403 to tell; the body stays whole for the caller.
func peekRefusal(resp *http.Response) (bool, error) {
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		return false, nil
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return true, nil
	}
	head, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return false, err
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	return authRefused(resp.StatusCode, resp.Header, head), nil
}

func fullName(module, fn string) string {
	if module == "" {
		return fn
	}
	return module + "::" + fn
}
