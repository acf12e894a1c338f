package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// readyChecks asks a node's readiness, past the results of earlier
// probes, and returns its status and each check's.
func readyChecks(t *testing.T, e *testEnv) (int, map[string]string) {
	t.Helper()
	e.clock.Advance(time.Second) // past the shared results of the last probe
	r := e.do(t, request{port: p2087, path: "/cpauth/health/ready"})
	var a struct {
		Checks map[string]struct {
			Status string `json:"status"`
		} `json:"checks"`
	}
	if err := json.Unmarshal(r.body, &a); err != nil {
		t.Fatalf("%d %s: %v", r.status, r.body, err)
	}
	out := map[string]string{}
	for k, v := range a.Checks {
		out[k] = v.Status
	}
	return r.status, out
}

// Readiness of a node on PostgreSQL: ready while the database answers and
// the change feed is live; not ready, naming the store and the change feed,
// while the node is cut off the database; ready again once it is back.
// Liveness answers throughout.
func TestClusterReadiness(t *testing.T) {
	db := newClusterDB(t)
	e := startNode(t, db, filepath.Join(t.TempDir(), "cluster.key"))
	if !waitLive(e) {
		t.Fatal("the change feed did not come up")
	}
	status, checks := readyChecks(t, e)
	if status != http.StatusOK || checks["store"] != "ok" || checks["change_feed"] != "ok" || checks["logs"] != "ok" {
		t.Fatalf("live node: %d %v", status, checks)
	}
	ctx := context.Background()
	db.cut(ctx, t)
	if _, ok := within(20*time.Second, func() bool {
		status, checks = readyChecks(t, e)
		return status == http.StatusServiceUnavailable && checks["store"] == "fail" && checks["change_feed"] == "fail"
	}); !ok {
		t.Fatalf("cut off: %d %v", status, checks)
	}
	if r := e.do(t, request{port: p2087, path: "/cpauth/health/live"}); r.status != http.StatusOK {
		t.Errorf("liveness while cut off: %d %s", r.status, r.body)
	}
	db.restore(ctx, t)
	if _, ok := within(30*time.Second, func() bool {
		status, checks = readyChecks(t, e)
		return status == http.StatusOK
	}); !ok {
		t.Fatalf("restored: %d %v", status, checks)
	}
}
