package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/logs"
)

func TestMiddleware(t *testing.T) {
	var logs bytes.Buffer
	s := &Server{Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
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
		t.Errorf("want one access line per request at debug level, got:\n%s", out)
	}
	var info bytes.Buffer
	s.Log = slog.New(slog.NewTextHandler(&info, nil))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/fine", nil))
	if info.Len() != 0 {
		t.Errorf("at info level a request logged %q; access_log has it", info.String())
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

// A request's decisions reach the audit stream in the order they were
// made, the last one with the request's other lines; a decision outside
// a request is written on its own.
func TestDecisionsInOrder(t *testing.T) {
	l := logs.Open(t.TempDir(), logs.Options{FlushEvery: time.Hour})
	defer l.Close()
	s := &Server{Log: slog.New(slog.DiscardHandler), Logs: l}
	p := Port{Service: core.ServiceCPanel}
	h := s.middleware(p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.decision(r, p, "success", "bob", core.MethodPassword, "", core.Principal{})
		s.decision(r, p, "failure", "bob", core.MethodTwoFactor, "two-factor code incorrect", core.Principal{})
		s.decision(r, p, "success", "bob", core.MethodTwoFactor, "", core.Principal{})
		w.WriteHeader(http.StatusNoContent)
	}))
	r := httptest.NewRequest(http.MethodPost, "/login/", nil)
	h.ServeHTTP(httptest.NewRecorder(), r)
	s.decision(httptest.NewRequest(http.MethodGet, "/x", nil), p, "failure", "eve", core.MethodPassword, "user password incorrect", core.Principal{})
	l.Flush()
	b, err := os.ReadFile(filepath.Join(l.Dir(), logs.AuditLog))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for line := range strings.Lines(string(b)) {
		var d logs.Decision
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		got = append(got, d.User+" "+d.Method+" "+d.Result)
		if d.RequestID == "" && d.User == "bob" || d.Address == "" || d.Path == "" {
			t.Errorf("a field of the request is missing: %s", line)
		}
	}
	want := []string{"bob password success", "bob 2fa failure", "bob 2fa success", "eve password failure"}
	if !slices.Equal(got, want) {
		t.Errorf("audit lines:\n got %q\nwant %q", got, want)
	}
}

// The port the logs name: the listener's number when the port knows it,
// else the request's local address.
func TestLocalPort(t *testing.T) {
	withAddr := httptest.NewRequest(http.MethodGet, "/", nil)
	withAddr = withAddr.WithContext(context.WithValue(withAddr.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 12087}))
	tests := []struct {
		name string
		r    *http.Request
		p    Port
		want int
	}{
		{"the port's number", withAddr, Port{Service: core.ServiceWHM, Number: 2087}, 2087},
		{"the local address", withAddr, Port{Service: core.ServiceWHM}, 12087},
		{"neither", httptest.NewRequest(http.MethodGet, "/", nil), Port{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := localPort(tc.r, tc.p); got != tc.want {
				t.Errorf("localPort = %d, want %d", got, tc.want)
			}
		})
	}
}
