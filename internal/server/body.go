package server

import (
	"io"
	"net/http"
)

// Request bodies: how much of one a request may read, and when.
//
// A body costs memory once it is read, and anyone can send one, so nothing
// of it is read before the credential has been checked where a credential
// can be checked without it: an API call authenticates by its headers (the
// Authorization header, or the session cookie and its /cpsess token; the
// second factor is the X-CPANEL-OTP header) and reads its body only once
// authenticated (admit). A request that is not such a call, or not yet,
// may read no more than a login form needs (maxLoginBody): the login and
// its hand-off, whose credentials are in the body, the pages' forms, and
// the login page that a refused page request shows.

// bodyReader is a request's body as the handlers see it: an
// http.MaxBytesReader of limit bytes, made at the first read, so that the
// limit can be raised (allowBody) until then.
type bodyReader struct {
	w     http.ResponseWriter // the connection's own: MaxBytesReader tells it to close after a body too large
	body  io.ReadCloser
	limit int64
	rd    io.ReadCloser
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.rd == nil {
		b.rd = http.MaxBytesReader(b.w, b.body, b.limit)
	}
	return b.rd.Read(p)
}

func (b *bodyReader) Close() error { return b.body.Close() }

// allowBody lets r's body hold up to n bytes, if nothing of it has been
// read yet: an authenticated API call may send more than a login form.
func allowBody(r *http.Request, n int64) {
	if b, ok := r.Body.(*bodyReader); ok && b.rd == nil {
		b.limit = n
	}
}
