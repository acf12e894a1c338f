package storetest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/cpauth/cpauth/internal/store"
)

// The brute-force regulator's state.

func testHulkConfig(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.HulkConfig(ctx)
	if err != nil || len(got) != 0 {
		t.Fatalf("empty store: HulkConfig = %v, %v; want nothing", got, err)
	}
	if err := s.SetHulkConfig(ctx, map[string]string{"max_failures": "15", "is_enabled": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetHulkConfig(ctx, map[string]string{"max_failures": "7"}); err != nil {
		t.Fatal(err)
	}
	got, err = s.HulkConfig(ctx)
	want := map[string]string{"max_failures": "7", "is_enabled": "1"}
	if err != nil || !maps.Equal(got, want) {
		t.Errorf("HulkConfig = %v, %v; want %v", got, err, want)
	}
}

func hulkRecord(list, cidr, comment string, sec int64) store.HulkRecord {
	return store.HulkRecord{List: list, CIDR: cidr, Comment: comment, Created: atMicro(sec, 7)}
}

func testHulkLists(t *testing.T, s store.Store) {
	ctx := t.Context()
	recs := []store.HulkRecord{
		hulkRecord(store.HulkDeny, "203.0.113.0/24", "abuse", 1),
		hulkRecord(store.HulkAllow, "192.0.2.7/32", "office", 2),
		hulkRecord(store.HulkAllow, "2001:db8::/32", "", 3),
	}
	if err := s.PutHulkRecords(ctx, recs); err != nil {
		t.Fatal(err)
	}
	// A record put again keeps its place and takes the new comment.
	if err := s.PutHulkRecords(ctx, []store.HulkRecord{hulkRecord(store.HulkAllow, "192.0.2.7/32", "office, 2nd floor", 9)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListHulkRecords(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"black 203.0.113.0/24 abuse", "white 192.0.2.7/32 office, 2nd floor", "white 2001:db8::/32 "}
	if g := recordLines(got); !slices.Equal(g, want) {
		t.Errorf("ListHulkRecords = %q, want %q", g, want)
	}
	if len(got) == 3 && !got[0].Created.Equal(recs[0].Created) {
		t.Errorf("Created = %v, want %v", got[0].Created, recs[0].Created)
	}
	white, err := s.ListHulkRecords(ctx, store.HulkAllow)
	if err != nil || len(white) != 2 {
		t.Errorf("allow-list: %d records, %v; want 2", len(white), err)
	}
	n, err := s.DeleteHulkRecords(ctx, store.HulkAllow, []string{"192.0.2.7/32", "198.51.100.1/32", "203.0.113.0/24"})
	if err != nil || n != 1 {
		t.Errorf("DeleteHulkRecords = %d, %v; want 1 (only what is on that list)", n, err)
	}
	got, _ = s.ListHulkRecords(ctx, "")
	if g := recordLines(got); !slices.Equal(g, []string{"black 203.0.113.0/24 abuse", "white 2001:db8::/32 "}) {
		t.Errorf("after delete: %q", g)
	}
	for _, bad := range []store.HulkRecord{hulkRecord("grey", "192.0.2.1/32", "", 1), hulkRecord(store.HulkDeny, "", "", 1)} {
		if err := s.PutHulkRecords(ctx, []store.HulkRecord{bad}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutHulkRecords(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := s.DeleteHulkRecords(ctx, "grey", []string{"x"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("DeleteHulkRecords(grey) = %v, want ErrInvalid", err)
	}
}

func recordLines(rs []store.HulkRecord) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.List+" "+r.CIDR+" "+r.Comment)
	}
	return out
}

func hulkFailure(node, user, addr string, sec int64, weight int) store.HulkFailure {
	return store.HulkFailure{Node: node, Time: atMicro(sec, 3), Service: "whostmgrd", Method: "password",
		User: user, Address: addr, Weight: weight, Reason: "user password incorrect"}
}

func testHulkFailures(t *testing.T, s store.Store) {
	ctx := t.Context()
	var fs []store.HulkFailure
	for i := range 450 { // more than one INSERT's batch
		fs = append(fs, hulkFailure("n1", fmt.Sprintf("u%d", i%3), fmt.Sprintf("192.0.2.%d", i%5), int64(i), 4))
	}
	if err := s.AddHulkFailures(ctx, fs); err != nil {
		t.Fatal(err)
	}
	if err := s.AddHulkFailures(ctx, nil); err != nil {
		t.Errorf("AddHulkFailures(nil) = %v", err)
	}
	all, err := s.ListHulkFailures(ctx, 0, at(-1), 0)
	if err != nil || len(all) != 450 {
		t.Fatalf("ListHulkFailures = %d, %v; want 450", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID <= all[i-1].ID {
			t.Fatalf("IDs not increasing: %d then %d", all[i-1].ID, all[i].ID)
		}
	}
	f := all[7]
	f.ID = 0
	if want := fs[7]; f.Node != want.Node || !f.Time.Equal(want.Time) || f.Service != want.Service || f.Method != want.Method ||
		f.User != want.User || f.Address != want.Address || f.Weight != want.Weight || f.Reason != want.Reason {
		t.Errorf("failure read back as %+v, want %+v", f, want)
	}
	after, err := s.ListHulkFailures(ctx, all[99].ID, at(-1), 0)
	if err != nil || len(after) != 350 || after[0].ID != all[100].ID {
		t.Errorf("after ID: %d failures, %v; want 350 from the 101st", len(after), err)
	}
	since, err := s.ListHulkFailures(ctx, 0, atMicro(400, 3), 0)
	if err != nil || len(since) != 50 {
		t.Errorf("since: %d failures, %v; want 50 (the cut-off is inclusive)", len(since), err)
	}
	limited, err := s.ListHulkFailures(ctx, 0, at(-1), 10)
	if err != nil || len(limited) != 10 || limited[9].ID != all[9].ID {
		t.Errorf("limit: %d failures, %v; want the first 10", len(limited), err)
	}
	n, err := s.DeleteHulkFailures(ctx, []string{"192.0.2.0", "192.0.2.1", "198.51.100.1"})
	if err != nil || n != 180 {
		t.Errorf("DeleteHulkFailures(2 addresses) = %d, %v; want 180", n, err)
	}
	n, err = s.DeleteHulkFailures(ctx, nil)
	if err != nil || n != 270 {
		t.Errorf("DeleteHulkFailures(all) = %d, %v; want 270", n, err)
	}
	// IDs keep increasing after a flush, so that a node reading "after my
	// last ID" never misses new failures.
	if err := s.AddHulkFailures(ctx, []store.HulkFailure{hulkFailure("n2", "u", "192.0.2.9", 1, 1)}); err != nil {
		t.Fatal(err)
	}
	again, err := s.ListHulkFailures(ctx, all[449].ID, at(-1), 0)
	if err != nil || len(again) != 1 || again[0].Node != "n2" {
		t.Errorf("after a flush: %+v, %v; want the one new failure", again, err)
	}
}

func hulkBlock(kind, key string, until int64) store.HulkBlock {
	return store.HulkBlock{Kind: kind, Key: key, User: "root", Address: "192.0.2.1", Service: "whostmgrd",
		Reason: "IP reached maximum auth failures", Failures: 5, Created: atMicro(0, 5), Until: atMicro(until, 5)}
}

func testHulkBlocks(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, b := range []store.HulkBlock{
		hulkBlock(store.HulkBlockUser, "root", 300),
		hulkBlock(store.HulkBlockIP, "192.0.2.1", 900),
		hulkBlock(store.HulkBlockExcessive, "2001:db8:0:1::/64", 86400),
		hulkBlock(store.HulkBlockIP, "192.0.2.2", 100),
	} {
		if err := s.PutHulkBlock(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	// Replacing a block extends it.
	longer := hulkBlock(store.HulkBlockIP, "192.0.2.2", 1000)
	longer.Failures = 9
	if err := s.PutHulkBlock(ctx, longer); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListHulkBlocks(ctx, at(500))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"excessive 2001:db8:0:1::/64", "ip 192.0.2.1", "ip 192.0.2.2"}
	if g := blockLines(got); !slices.Equal(g, want) {
		t.Errorf("ListHulkBlocks = %q, want %q (root's ended at 300)", g, want)
	}
	if len(got) == 3 {
		if b := got[2]; b.Failures != 9 || !b.Until.Equal(longer.Until) || !b.Created.Equal(longer.Created) ||
			b.User != "root" || b.Address != "192.0.2.1" || b.Service != "whostmgrd" || b.Reason != longer.Reason {
			t.Errorf("block read back as %+v, want %+v", b, longer)
		}
	}
	if got, _ := s.ListHulkBlocks(ctx, atMicro(900, 5)); len(got) != 2 {
		t.Errorf("at its Until a block has ended: %q", blockLines(got))
	}
	n, err := s.DeleteHulkBlocks(ctx, store.HulkBlockIP, []string{"192.0.2.1", "2001:db8:0:1::/64"})
	if err != nil || n != 1 {
		t.Errorf("DeleteHulkBlocks(ip, …) = %d, %v; want 1 (the excessive block is another kind)", n, err)
	}
	n, err = s.DeleteHulkBlocks(ctx, "", []string{"2001:db8:0:1::/64"})
	if err != nil || n != 1 {
		t.Errorf("DeleteHulkBlocks(any kind) = %d, %v; want 1", n, err)
	}
	n, err = s.DeleteHulkBlocks(ctx, "", nil)
	if err != nil || n != 2 {
		t.Errorf("DeleteHulkBlocks(all) = %d, %v; want 2", n, err)
	}
	for _, bad := range []store.HulkBlock{hulkBlock("temp", "x", 1), hulkBlock(store.HulkBlockIP, "", 1)} {
		if err := s.PutHulkBlock(ctx, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutHulkBlock(%q, %q) = %v, want ErrInvalid", bad.Kind, bad.Key, err)
		}
	}
}

func blockLines(bs []store.HulkBlock) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Kind+" "+b.Key)
	}
	return out
}

func testHulkPurge(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.AddHulkFailures(ctx, []store.HulkFailure{
		hulkFailure("n", "a", "192.0.2.1", 10, 4), hulkFailure("n", "b", "192.0.2.1", 20, 4), hulkFailure("n", "c", "192.0.2.1", 30, 4),
	}); err != nil {
		t.Fatal(err)
	}
	for _, b := range []store.HulkBlock{hulkBlock(store.HulkBlockIP, "192.0.2.1", 50), hulkBlock(store.HulkBlockUser, "root", 500)} {
		if err := s.PutHulkBlock(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PurgeHulk(ctx, atMicro(20, 3), at(100))
	if err != nil || n != 2 {
		t.Errorf("PurgeHulk = %d, %v; want 2 (one failure before the cut-off, one ended block)", n, err)
	}
	fs, _ := s.ListHulkFailures(ctx, 0, at(-1), 0)
	bs, _ := s.ListHulkBlocks(ctx, at(0))
	if len(fs) != 2 || len(bs) != 1 || bs[0].Key != "root" {
		t.Errorf("after purge: %d failures, blocks %q", len(fs), blockLines(bs))
	}
}
