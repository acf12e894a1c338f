package server

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/core"
)

// Until a request proves to be an authenticated API call, its body holds a
// login form's worth at most, whichever handler reads it.
func TestBodyLimit(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		allow   int64 // allowBody's limit before reading; 0: none
		tooBig  bool
		chunked bool
	}{
		{"a login form's worth", maxLoginBody, 0, false, false},
		{"one byte more", maxLoginBody + 1, 0, true, false},
		{"one byte more, chunked", maxLoginBody + 1, 0, true, true},
		{"an API body, allowed", api.MaxBodyBytes + 1, api.MaxBodyBytes + 1, false, false},
		{"over what was allowed", api.MaxBodyBytes + 2, api.MaxBodyBytes + 1, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{Log: slog.New(slog.DiscardHandler)}
			var n int64
			var err error
			h := s.middleware(Port{Service: core.ServiceWHM}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.allow != 0 {
					allowBody(r, tc.allow)
				}
				n, err = io.Copy(io.Discard, r.Body)
			}))
			var body io.Reader = strings.NewReader(strings.Repeat("x", tc.size))
			if tc.chunked {
				body = io.MultiReader(body) // no length known
			}
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/login", body))
			var tooBig *http.MaxBytesError
			if got := errors.As(err, &tooBig); got != tc.tooBig {
				t.Fatalf("read %d bytes, error %v; want too large: %v", n, err, tc.tooBig)
			}
			if !tc.tooBig && n != int64(tc.size) {
				t.Errorf("read %d bytes, want %d", n, tc.size)
			}
		})
	}
}

// allowBody changes nothing once the body has been read from.
func TestAllowBodyAfterRead(t *testing.T) {
	s := &Server{Log: slog.New(slog.DiscardHandler)}
	var err error
	h := s.middleware(Port{Service: core.ServiceWHM}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [1]byte
		_, _ = r.Body.Read(b[:])
		allowBody(r, api.MaxBodyBytes+1)
		_, err = io.Copy(io.Discard, r.Body)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Repeat("x", 2*maxLoginBody))))
	var tooBig *http.MaxBytesError
	if !errors.As(err, &tooBig) {
		t.Fatalf("error %v, want the login form's limit", err)
	}
}
