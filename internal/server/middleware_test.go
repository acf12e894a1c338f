package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/core"
)

func TestMiddleware(t *testing.T) {
	var logs bytes.Buffer
	s := &Server{Log: slog.New(slog.NewTextHandler(&logs, nil))}
	h := s.middleware(Port{Service: core.ServiceWHM, TLS: true}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("boom")
		}
		w.Write([]byte("ok"))
	}))
	tests := []struct {
		name   string
		path   string
		status int
		body   string
	}{
		{"a panic is a 500", "/panic?x=1", 500, "Internal Server Error"},
		{"the next request is served", "/fine?password=hunter2", 200, "ok"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.body) {
				t.Fatalf("got %d %q, want %d %q", rec.Code, rec.Body.String(), tc.status, tc.body)
			}
		})
	}
	out := logs.String()
	if !strings.Contains(out, "panic in handler") || !strings.Contains(out, "boom") {
		t.Error("the panic was not logged")
	}
	if strings.Contains(out, "hunter2") {
		t.Error("the access log contains a query string")
	}
	if strings.Count(out, "msg=access") != 2 {
		t.Errorf("want one access line per request, got:\n%s", out)
	}
}

// The middleware's context carries the record and everything of the
// request's own context: its values and its cancellation.
func TestRecordContext(t *testing.T) {
	type otherKey struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), otherKey{}, "v"))
	rec := &record{seq: 1}
	ctx := &recordContext{Context: parent, rec: rec}
	if got, _ := ctx.Value(keyRecord).(*record); got != rec {
		t.Errorf("record: %v, want %v", got, rec)
	}
	if got := ctx.Value(otherKey{}); got != "v" {
		t.Errorf("parent's value: %v", got)
	}
	if got := ctx.Value(ctxKey(99)); got != nil {
		t.Errorf("another key of the package: %v, want nil", got)
	}
	child, stop := context.WithCancel(ctx)
	defer stop()
	cancel()
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("cancelling the request's context did not reach a context made from the record's")
	}
}
