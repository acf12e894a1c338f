package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/hulk"
)

func TestHulkPage(t *testing.T) {
	f := newFixture(t)
	h := f.data.Hulk
	ctx := context.Background()
	fail := func(user, addr string, n int) {
		for i := range n {
			a := hulk.Attempt{Service: core.ServiceWHM, Remote: netip.MustParseAddr(addr), User: user, Method: core.MethodPassword, Secret: fmt.Sprint("g", i)}
			h.Failed(ctx, a, "user password incorrect")
		}
	}
	fail("root", "198.51.100.7", h.Config().MaxFailuresByIP)
	for i := range h.Config().MaxFailures {
		fail("alice", fmt.Sprintf("203.0.113.%d", i+1), 1)
	}

	root := f.visit("root", core.ServiceWHM)
	res, body := f.page(root, http.MethodGet, "/cphulk/", nil)
	checkHeaders(t, "cphulk page", res)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `id="block-list"`) {
		t.Fatalf("cphulk page: %d\n%s", res.StatusCode, body)
	}
	for _, want := range []string{">198.51.100.7</th>", ">alice</th>", "IP reached maximum auth failures (5 failures)", `name="kind" value="user"`, `/cphulk/unblock"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if _, home := f.page(root, http.MethodGet, "/", nil); !strings.Contains(home, `id="link-cphulk"`) {
		t.Error("root's WHM home does not link the page")
	}

	// Unblock the address: 303 back to the list, which no longer has it.
	res, _ = f.page(root, http.MethodPost, "/cphulk/unblock", url.Values{"kind": {"ip"}, "key": {"198.51.100.7"}})
	if res.StatusCode != http.StatusSeeOther || !strings.HasSuffix(res.Header.Get("Location"), "/cphulk/?unblocked=1") {
		t.Fatalf("unblock: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if ok, why := h.Admit(ctx, hulk.Attempt{Service: core.ServiceWHM, Remote: netip.MustParseAddr("198.51.100.7"), User: "root"}); !ok {
		t.Errorf("still blocked after Unblock: %s", why)
	}
	_, body = f.page(root, http.MethodGet, "/cphulk/?unblocked=1", nil)
	if strings.Contains(body, ">198.51.100.7</th>") || !strings.Contains(body, "The block was lifted.") || !strings.Contains(body, ">alice</th>") {
		t.Errorf("after unblocking:\n%s", body)
	}
	res, _ = f.page(root, http.MethodPost, "/cphulk/unblock", url.Values{"kind": {"user"}, "key": {"alice"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Errorf("unblock alice: %d", res.StatusCode)
	}
	if _, body = f.page(root, http.MethodGet, "/cphulk/", nil); !strings.Contains(body, `id="no-blocks"`) {
		t.Errorf("blocks left:\n%s", body)
	}

	// An unknown block, a bad kind, a cross-origin form.
	if res, _ := f.page(root, http.MethodPost, "/cphulk/unblock", url.Values{"kind": {"ip"}, "key": {"192.0.2.200"}}); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown block: %d", res.StatusCode)
	}
	if res, _ := f.page(root, http.MethodPost, "/cphulk/unblock", url.Values{"kind": {"firewall"}, "key": {"x"}}); res.StatusCode != http.StatusBadRequest {
		t.Errorf("bad kind: %d", res.StatusCode)
	}
	fail("root", "198.51.100.8", h.Config().MaxFailuresByIP)
	if res, _ := f.page(root, http.MethodPost, "/cphulk/unblock", url.Values{"kind": {"ip"}, "key": {"198.51.100.8"}}, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"); res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin unblock: %d", res.StatusCode)
	}
	if ok, _ := h.Admit(ctx, hulk.Attempt{Service: core.ServiceWHM, Remote: netip.MustParseAddr("198.51.100.8")}); ok {
		t.Error("a cross-origin form lifted a block")
	}

	// Nobody else sees the page or a link to it.
	for _, v := range []struct {
		user string
		svc  core.Service
	}{{"res", core.ServiceWHM}, {"bob", core.ServiceCPanel}, {"root", core.ServiceCPanel}} {
		if v.user == "root" && v.svc == core.ServiceCPanel {
			continue // root has no cPanel session
		}
		visit := f.visit(v.user, v.svc)
		if res, _ := f.page(visit, http.MethodGet, "/cphulk/", nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s on %s: %d, want 404", v.user, v.svc, res.StatusCode)
		}
		if res, _ := f.page(visit, http.MethodPost, "/cphulk/unblock", url.Values{"kind": {"ip"}, "key": {"198.51.100.8"}}); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s unblock on %s: %d, want 404", v.user, v.svc, res.StatusCode)
		}
		if _, home := f.page(visit, http.MethodGet, "/", nil); strings.Contains(home, "cphulk") {
			t.Errorf("%s's home links the page", v.user)
		}
	}
}
