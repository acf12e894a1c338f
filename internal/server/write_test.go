package server

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/api/uapi"
	"github.com/cpauth/cpauth/internal/api/whmapi1"
)

// writeJSONBody shares its header values between responses: changing one
// response's headers must leave the next response's alone.
func TestWriteJSONBodySharedHeaders(t *testing.T) {
	first := httptest.NewRecorder()
	writeJSONBody(first, http.StatusOK, []byte(`{"a":1}`))
	h := first.Header()
	h.Add("Content-Type", "text/plain")
	h.Add("Cache-Control", "private")
	h.Add("Content-Length", "9")
	h.Set("Cache-Control", "max-age=1")
	second := httptest.NewRecorder()
	writeJSONBody(second, http.StatusTeapot, []byte(`{"a":1}`))
	for k, want := range map[string]string{"Content-Type": api.JSONContentType, "Content-Length": "7", "Cache-Control": "no-store"} {
		if got := second.Header()[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want [%q]", k, got, want)
		}
	}
	if second.Code != http.StatusTeapot || second.Body.String() != `{"a":1}` {
		t.Errorf("got %d %q", second.Code, second.Body.String())
	}
}

func TestContentLength(t *testing.T) {
	for _, n := range []int{0, 1, 99, 100, 101, 4095, 4096, 1 << 20} {
		for range 2 { // made, then shared
			if got := contentLength(n); len(got) != 1 || cap(got) != 1 || got[0] != strconv.Itoa(n) {
				t.Errorf("contentLength(%d) = %q (cap %d)", n, got, cap(got))
			}
		}
	}
}

// A pooled body buffer is handed back cleared and reused: each response
// is its own envelope, whatever the previous one was.
func TestWriteEncodedReusesBuffers(t *testing.T) {
	big := make([]string, 20000) // over maxPooledBody: not kept
	for i := range big {
		big[i] = "token"
	}
	for i, tc := range []struct {
		res *api.Result
		err error
		whm bool
	}{
		{res: &api.Result{Data: map[string]any{"token": "SECRET0123456789"}}, whm: true},
		{err: errors.New("no"), whm: true},
		{res: &api.Result{Data: big}},
		{res: &api.Result{Data: "x"}},
		{err: errors.New("no")},
		{res: &api.Result{Data: map[string]any{"version": "1"}}, whm: true},
	} {
		w := httptest.NewRecorder()
		want := uapi.Encode(tc.res, tc.err)
		if tc.whm {
			want = whmapi1.Encode("cmd", tc.res, tc.err)
			writeWHM1(w, http.StatusOK, "cmd", tc.res, tc.err)
		} else {
			writeUAPI(w, http.StatusOK, tc.res, tc.err)
		}
		if got := w.Body.String(); got != string(want) {
			t.Errorf("%d: got %s\nwant %s", i, got, want)
		}
		if got := w.Header().Get("Content-Length"); got != strconv.Itoa(len(want)) {
			t.Errorf("%d: Content-Length %s, want %d", i, got, len(want))
		}
	}
}

func TestHeaderValue(t *testing.T) {
	h := http.Header{}
	h.Add("authorization", "whm root:x")
	h.Add("Authorization", "second")
	h["Content-Type"] = []string{}
	for _, k := range []string{"Authorization", "Content-Type", "Cookie"} {
		if got, want := headerValue(h, k), h.Get(k); got != want {
			t.Errorf("headerValue(%s) = %q, want %q", k, got, want)
		}
	}
}
