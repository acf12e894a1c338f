// Package e2e tests cpauth end to end: a daemon started in-process on six
// ephemeral ports, spoken to over real HTTP and TLS.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/config"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/settings"
	"github.com/cpauth/cpauth/internal/store"
)

// ---------------------------------------------------------------------------
// 1. Every method on every port.

func TestMethodsByPort(t *testing.T) {
	e := startWithFixtures(t)
	fromAPI := str(dig(whmOK(t, e.do(t, request{port: p2087, path: "/json-api/accesshash?api.version=1", auth: e.authFor(t, "root")})), "data", "accesshash"))
	file := e.accessHashFile(t, "root")
	if lines := strings.Split(strings.TrimSuffix(file, "\n"), "\n"); len(lines) != 30 {
		t.Fatalf(".accesshash has %d lines, want 30", len(lines))
	}
	fileStripped := strings.ReplaceAll(file, "\n", "")
	if fromAPI != fileStripped {
		t.Fatalf("accesshash API answer and .accesshash file differ")
	}
	resHash := e.accessHash(t, "res")

	whm := []core.Service{core.ServiceWHM}
	cpanelAndWebmail := []core.Service{core.ServiceCPanel, core.ServiceWebmail}
	everywhere := []core.Service{core.ServiceWHM, core.ServiceCPanel, core.ServiceWebmail}
	tests := []struct {
		name    string
		auth    string
		allowed []core.Service
		account string // what get_user_information reports
	}{
		{"basic root", basic("root", e.rootPass), whm, ""},
		{"basic reseller", basic("res", resPass), everywhere, "res"},
		{"basic cpanel user", basic("bob", bobPass), cpanelAndWebmail, "bob"},
		{"basic cpanel user owned by reseller", basic("carol", carolPass), cpanelAndWebmail, "carol"},
		{"basic webmail user", basic("info@bob.test", infoPass), []core.Service{core.ServiceWebmail}, "bob"},
		{"basic lowercase scheme", "basic " + strings.TrimPrefix(basic("root", e.rootPass), "Basic "), whm, ""},
		{"access hash WHM uppercase", "WHM root:" + fromAPI, whm, ""},
		{"access hash whm lowercase", "whm root:" + fromAPI, whm, ""},
		{"access hash Whm mixed case", "Whm root:" + fromAPI, whm, ""},
		{"access hash file content newlines stripped", "WHM root:" + fileStripped, whm, ""},
		{"access hash of a reseller", "whm res:" + resHash, whm, ""},
	}
	for _, tc := range tests {
		for _, p := range allPorts {
			t.Run(tc.name+"/"+p.String(), func(t *testing.T) {
				r := e.do(t, request{port: p, path: p.nativePath(), auth: tc.auth})
				if !slices.Contains(tc.allowed, p.service()) {
					assertD5(t, r)
					return
				}
				if p.service() == core.ServiceWHM {
					m := whmOK(t, r)
					if v := str(dig(m, "data", "version")); v == "" {
						t.Errorf("version: no data.version in %s", r.body)
					}
					return
				}
				m := uapiOK(t, r)
				if got := str(dig(m, "data", "user")); got != tc.account {
					t.Errorf("get_user_information user = %q, want %q", got, tc.account)
				}
			})
		}
	}
}

// TestAccessHashFileForm sends the 30-line .accesshash file itself in the
// header, as header continuation lines (the only way a raw line break can
// travel in HTTP/1.1), over TLS and plain.
func TestAccessHashFileForm(t *testing.T) {
	e := startWithFixtures(t)
	lines := strings.Split(strings.TrimSuffix(e.accessHashFile(t, "root"), "\n"), "\n")
	tests := []struct {
		name, sep string
	}{
		{"CRLF and space", "\r\n "},
		{"CRLF and tab", "\r\n\t"},
	}
	for _, tc := range tests {
		for _, p := range []port{p2086, p2087} {
			t.Run(tc.name+"/"+p.String(), func(t *testing.T) {
				req := "GET /json-api/version?api.version=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
					"Authorization: WHM root:" + strings.Join(lines, tc.sep) + "\r\nConnection: close\r\n\r\n"
				status, body := e.raw(t, p, req)
				if status != http.StatusOK || !bytes.Contains(body, []byte(`"result":1`)) {
					t.Fatalf("folded access hash: status %d, body %s", status, body)
				}
			})
		}
	}
	t.Run("bare line feeds are not a 500", func(t *testing.T) {
		req := "GET /json-api/version?api.version=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
			"Authorization: WHM root:" + strings.Join(lines, "\n") + "\r\nConnection: close\r\n\r\n"
		status, body := e.raw(t, p2087, req)
		if status == http.StatusOK || status >= 500 {
			t.Fatalf("unfolded multi-line header: status %d, body %s", status, body)
		}
	})
	// The daemon is still there.
	whmOK(t, e.do(t, request{port: p2087, path: "/json-api/version?api.version=1", auth: e.authFor(t, "root-hash")}))
}

func TestAccessHashDisabledByTweakSetting(t *testing.T) {
	e := startWithFixtures(t)
	root := e.authFor(t, "root")
	version := "/json-api/version?api.version=1"
	set := func(v string) {
		t.Helper()
		whmOK(t, e.do(t, request{port: p2087, path: "/json-api/set_tweaksetting?api.version=1&key=allow_deprecated_accesshash&value=" + v, auth: root}))
	}
	whmOK(t, e.do(t, request{port: p2087, path: version, auth: e.authFor(t, "root-hash")}))
	set("0")
	for _, who := range []string{"root-hash", "res-hash"} {
		for _, p := range []port{p2086, p2087} {
			assertD5(t, e.do(t, request{port: p, path: version, auth: e.authFor(t, who)}))
		}
	}
	whmOK(t, e.do(t, request{port: p2087, path: version, auth: root})) // passwords still work
	set("1")
	whmOK(t, e.do(t, request{port: p2087, path: version, auth: e.authFor(t, "root-hash")}))
	whmOK(t, e.do(t, request{port: p2086, path: version, auth: e.authFor(t, "res-hash")}))
}

func TestResellerAccessHashAfterUnsetupreseller(t *testing.T) {
	e := startWithFixtures(t)
	version := "/json-api/version?api.version=1"
	resHash := e.authFor(t, "res-hash")
	whmOK(t, e.do(t, request{port: p2087, path: version, auth: resHash}))
	whmOK(t, e.do(t, request{port: p2087, path: "/json-api/unsetupreseller?api.version=1&user=res", auth: e.authFor(t, "root")}))
	assertD5(t, e.do(t, request{port: p2087, path: version, auth: resHash}))
	assertD5(t, e.do(t, request{port: p2087, path: version, auth: e.authFor(t, "res")}))          // now a cPanel user (D6)
	uapiOK(t, e.do(t, request{port: p2083, path: p2083.nativePath(), auth: e.authFor(t, "res")})) // still a cPanel account
	if _, err := e.d.Data.Store.GetAccessHash(context.Background(), "res"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("res's access hash after unsetupreseller: err = %v, want ErrNotFound", err)
	}
}

// TestRequireSSL is D15: plain ports serve as they are, until requiressl=1
// makes them answer 301 to the service's TLS port.
func TestRequireSSL(t *testing.T) {
	e := startWithFixtures(t)
	root := e.authFor(t, "root")
	set := func(v string) {
		t.Helper()
		whmOK(t, e.do(t, request{port: p2087, path: "/json-api/set_tweaksetting?api.version=1&key=requiressl&value=" + v, auth: root}))
	}
	for _, p := range []port{p2082, p2086, p2095} {
		if r := e.do(t, request{port: p, path: p.nativePath(), auth: e.authFor(t, "res")}); r.status != http.StatusOK {
			t.Errorf("plain port %s with requiressl off: status %d", p, r.status)
		}
	}
	set("1")
	for _, p := range []port{p2082, p2086, p2095} {
		t.Run(p.String(), func(t *testing.T) {
			r := e.do(t, request{port: p, path: p.nativePath(), auth: e.authFor(t, "res")})
			if r.status != http.StatusMovedPermanently {
				t.Fatalf("status %d, want 301", r.status)
			}
			want, _ := e.url(p+1, p.nativePath()) // the TLS port follows its plain twin
			if loc := r.header.Get("Location"); loc != want {
				t.Errorf("Location = %q, want %q", loc, want)
			}
		})
	}
	for _, p := range []port{p2083, p2087, p2096} {
		if r := e.do(t, request{port: p, path: p.nativePath(), auth: e.authFor(t, "res")}); r.status != http.StatusOK {
			t.Errorf("TLS port %s with requiressl on: status %d", p, r.status)
		}
	}
	set("0")
	whmOK(t, e.do(t, request{port: p2086, path: p2086.nativePath(), auth: root}))
}

// TestAbsoluteURLHost is D29: the requiressl redirect, single sign-on
// URLs and the Webmail hand-off's hostname keep the request's Host only
// when it names this server (its host name, an account's domain, a local
// address), without its port; any other Host gets the configured name.
func TestAbsoluteURLHost(t *testing.T) {
	e := startFixturesWith(t, func(c *config.Config) { c.Hostname = "host.example.com" })
	root := e.authFor(t, "root")
	tests := []struct {
		name, vhost, want string // want: the URL's host, "" for the configured name
	}{
		{"another site", "evil.example", ""},
		{"another site with a port", "evil.example:2083", ""},
		{"a subdomain of an account's domain", "www.evil.bob.test", ""},
		{"an address of another machine", "192.0.2.99", ""},
		{"the configured name, another port", "host.example.com:9999", "host.example.com"},
		{"an account's domain", "bob.test", "bob.test"},
		{"an account's domain in upper case, with a port", "BOB.TEST:80", "bob.test"},
		{"IPv4 loopback", "127.0.0.1", "127.0.0.1"},
		{"IPv6 loopback", "[::1]:2082", "[::1]"},
	}
	want := func(host string) string {
		if host == "" {
			return "host.example.com"
		}
		return host
	}
	whmOK(t, e.do(t, request{port: p2087, path: "/json-api/set_tweaksetting?api.version=1&key=requiressl&value=1", auth: root}))
	for _, tc := range tests {
		t.Run("requiressl/"+tc.name, func(t *testing.T) {
			for _, p := range []port{p2082, p2086, p2095} {
				r := e.do(t, request{port: p, path: "/login/?x=1", vhost: tc.vhost})
				loc := "https://" + want(tc.want) + ":" + strconv.Itoa(e.tlsPort(t, p.service())) + "/login/?x=1"
				if r.status != http.StatusMovedPermanently || r.header.Get("Location") != loc {
					t.Errorf("%s, Host %q: %d to %q, want 301 to %q", p, tc.vhost, r.status, r.header.Get("Location"), loc)
				}
			}
		})
	}
	whmOK(t, e.do(t, request{port: p2087, path: "/json-api/set_tweaksetting?api.version=1&key=requiressl&value=0", auth: root}))
	for _, tc := range tests {
		t.Run("create_user_session/"+tc.name, func(t *testing.T) {
			m := whmOK(t, e.do(t, request{port: p2087, path: "/json-api/create_user_session?api.version=1&user=bob&service=cpaneld", auth: root, vhost: tc.vhost}))
			u := str(dig(m, "data", "url"))
			prefix := "https://" + want(tc.want) + ":" + strconv.Itoa(e.tlsPort(t, core.ServiceCPanel)) + "/cpsess"
			if !strings.HasPrefix(u, prefix) {
				t.Errorf("Host %q: url %q, want it to start %q", tc.vhost, u, prefix)
			}
		})
		t.Run("webmail hand-off/"+tc.name, func(t *testing.T) {
			m := uapiOK(t, e.do(t, request{port: p2083, path: "/execute/Session/create_webmail_session_for_self", auth: e.authFor(t, "bob"), vhost: tc.vhost}))
			wantHost := strings.Trim(want(tc.want), "[]") // a host name, not a URL's host
			if got := str(dig(m, "data", "hostname")); got != wantHost {
				t.Errorf("Host %q: hostname %q, want %q", tc.vhost, got, wantHost)
			}
		})
	}
	// preferred_domain follows the same rule: a name of this server, or refused.
	for _, tc := range []struct{ preferred, reason string }{
		{"host.example.com", ""},
		{"bob.test", ""},
		{"::1", ""},
		{"evil.example", "The “preferred_domain” parameter, “evil.example”, is not a domain or IP address of this server."},
	} {
		r := e.do(t, request{port: p2087, path: "/json-api/create_user_session?api.version=1&user=bob&service=cpaneld&preferred_domain=" + url.QueryEscape(tc.preferred), auth: root, vhost: "evil.example"})
		if tc.reason != "" {
			if got := whmFailed(t, r); got != tc.reason {
				t.Errorf("preferred_domain %q: reason %q, want %q", tc.preferred, got, tc.reason)
			}
			continue
		}
		if u := str(dig(whmOK(t, r), "data", "url")); !strings.HasPrefix(u, "https://"+net.JoinHostPort(tc.preferred, strconv.Itoa(e.tlsPort(t, core.ServiceCPanel)))+"/cpsess") {
			t.Errorf("preferred_domain %q: url %q", tc.preferred, u)
		}
	}
}

// The self-signed certificate is made for the configured host name.
func TestTLSCertificateHostname(t *testing.T) {
	for _, tc := range []struct{ hostname, verify string }{
		{"host.example.com", "host.example.com"},
		{"192.0.2.7", "192.0.2.7"},
	} {
		t.Run(tc.hostname, func(t *testing.T) {
			e := startWith(t, func(c *config.Config) { c.Hostname = tc.hostname })
			pemBytes, err := os.ReadFile(filepath.Join(e.dir, "tls", "cert.pem"))
			if err != nil {
				t.Fatal(err)
			}
			block, _ := pem.Decode(pemBytes)
			if block == nil {
				t.Fatal("tls/cert.pem holds no PEM block")
			}
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range []string{tc.verify, "localhost", "127.0.0.1", "::1"} {
				if err := cert.VerifyHostname(h); err != nil {
					t.Errorf("certificate not valid for %s: %v", h, err)
				}
			}
		})
	}
}

func TestTLSCertificate(t *testing.T) {
	e := startWithFixtures(t)
	pemBytes, err := os.ReadFile(filepath.Join(e.dir, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("tls/cert.pem holds no certificate")
	}
	strict := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer strict.CloseIdleConnections()
	for _, p := range []port{p2083, p2087, p2096} {
		t.Run(p.String(), func(t *testing.T) {
			u, err := e.url(p, p.nativePath())
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest("GET", u, nil) // host 127.0.0.1: verified against the IP SAN
			who := "bob"
			if p == p2087 {
				who = "root"
			}
			req.Header.Set("Authorization", e.authFor(t, who))
			resp, err := strict.Do(req)
			if err != nil {
				t.Fatalf("verified TLS to 127.0.0.1 failed: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status %d", resp.StatusCode)
			}
			leaf := resp.TLS.PeerCertificates[0]
			if err := leaf.VerifyHostname("127.0.0.1"); err != nil {
				t.Errorf("certificate not valid for 127.0.0.1: %v", err)
			}
			if resp.TLS.Version < tls.VersionTLS12 {
				t.Errorf("TLS version %x below 1.2", resp.TLS.Version)
			}
		})
	}
	// Plain ports speak plain HTTP.
	for _, p := range []port{p2082, p2086, p2095} {
		u, _ := e.url(p, "/")
		if _, err := strict.Get(strings.Replace(u, "http://", "https://", 1)); err == nil {
			t.Errorf("port %s answered TLS", p)
		}
	}
}

// ---------------------------------------------------------------------------
// 2. Every failure looks the same (D5, D6, D7).

func TestBadCredentialsAreAllD5(t *testing.T) {
	e := startWithFixtures(t)
	rootHash := e.accessHash(t, "root")
	otherHash := strings.Repeat("0123456789abcdef", 60)
	const wrong = "Wrong-Pass-9"
	tests := []struct {
		name string
		auth string
	}{
		{"unknown user", basic("nobody", wrong)},
		{"wrong password root", basic("root", wrong)},
		{"wrong password reseller", basic("res", wrong)},
		{"wrong password cpanel user", basic("bob", wrong)},
		{"wrong password webmail user", basic("info@bob.test", wrong)},
		{"unknown webmail user", basic("nobody@bob.test", wrong)},
		{"suspended account right password", basic("sus", susPass)},
		{"mailbox of suspended account", basic("info@sus.test", infoPass)},
		{"bad base64", "Basic !!!not-base64!!!"},
		{"control byte in password", basic("bob", "pa\x01ss")},
		{"CRLF in password", basic("root", e.rootPass+"\r\nhasroot=1")},
		{"NUL in user name", basic("bo\x00b", bobPass)},
		{"empty password", basic("bob", "")},
		{"empty user", basic("", bobPass)},
		{"no colon", "Basic " + strings.TrimPrefix(basic("bob", ""), "Basic ")[:4]},
		{"unknown scheme Bearer", "Bearer " + bobPass},
		{"unknown scheme Digest", `Digest username="root"`},
		{"webmail scheme (D7)", "webmail info@bob.test:ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"},
		{"whm scheme unknown 32-char token", "whm root:ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"},
		{"cpanel scheme unknown 32-char token", "cpanel bob:ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"},
		{"wrong access hash", "WHM root:" + otherHash},
		{"root's access hash as reseller", "WHM res:" + rootHash},
		{"access hash for user without one", "WHM bob:" + rootHash},
		{"access hash for unknown user", "WHM nobody:" + rootHash},
		{"access hash truncated", "WHM root:" + rootHash[:959]},
		{"access hash empty", "WHM root:"},
		{"scheme only", "Basic"},
		{"overlong header", "whm root:" + strings.Repeat("a", 5000)},
	}
	paths := func(p port) map[string]string {
		return map[string]string{
			"native":       p.nativePath(),
			"cpsess":       "/cpsess0123456789" + p.nativePath(),
			"cpanel proxy": "/json-api/cpanel?cpanel_jsonapi_user=bob&cpanel_jsonapi_apiversion=3&cpanel_jsonapi_module=Variables&cpanel_jsonapi_func=get_user_information&api.version=1",
		}
	}
	var mu sync.Mutex
	headerShapes := map[string]string{}
	for _, tc := range tests {
		for _, p := range allPorts {
			for kind, path := range paths(p) {
				t.Run(tc.name+"/"+p.String()+"/"+kind, func(t *testing.T) {
					r := e.do(t, request{port: p, path: path, auth: tc.auth})
					assertD5(t, r)
					h := r.header.Clone()
					h.Del("Date")
					var b strings.Builder
					_ = h.Write(&b)
					mu.Lock()
					headerShapes[b.String()] = tc.name + "/" + p.String() + "/" + kind
					mu.Unlock()
				})
			}
		}
	}
	if len(headerShapes) != 1 {
		t.Errorf("D5 answers differ in their headers: %v", headerShapes)
	}

	// The reason goes to the log, never a secret.
	log := e.log.String()
	for _, want := range []string{"authentication failed", "user password incorrect", "invalid user", "account suspended", "control bytes", "unknown or revoked API token"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log does not say %q", want)
		}
	}
	for _, secret := range []string{wrong, susPass, infoPass, rootHash, otherHash, e.rootPass} {
		if strings.Contains(log, secret) {
			t.Errorf("the log contains a secret (%.12s…)", secret)
		}
	}
}

// TestNoCredentials: a request without any Authorization header gets D5's
// body and Content-Type, but 401 rather than 403: nothing was presented, so
// nothing failed (as D12 answers a cookie without its security token).
func TestNoCredentials(t *testing.T) {
	e := startWithFixtures(t)
	for _, p := range allPorts {
		t.Run(p.String(), func(t *testing.T) {
			r := e.do(t, request{port: p, path: p.nativePath()})
			if r.status != http.StatusUnauthorized {
				t.Errorf("status = %d, want 401", r.status)
			}
			if string(r.body) != d5Body || r.header.Get("Content-Type") != d5ContentType {
				t.Errorf("answer = %q %s, want D5's body", r.header.Get("Content-Type"), r.body)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// 3. Wrong ports (D2, D3, D4).

func TestWrongPorts(t *testing.T) {
	e := startWithFixtures(t)
	t.Run("WHM API 1 on cPanel and Webmail ports (D2)", func(t *testing.T) {
		for _, p := range []port{p2082, p2083, p2095, p2096} {
			for _, fn := range []string{"version", "listaccts", "createacct"} {
				for _, who := range []string{"root", "bob", "none"} {
					t.Run(p.String()+"/"+fn+"/"+who, func(t *testing.T) {
						r := e.do(t, request{port: p, path: "/json-api/" + fn + "?api.version=1&username=wrongport&domain=wrongport.test", auth: e.authFor(t, who)})
						if r.status != http.StatusForbidden {
							t.Fatalf("status = %d, want 403; body %s", r.status, r.body)
						}
						m := object(t, r)
						reason := str(dig(m, "metadata", "reason"))
						if !strings.HasPrefix(reason, "Permission denied") || !strings.Contains(reason, "2086") || !strings.Contains(reason, "2087") {
							t.Errorf("reason = %q, want it to begin “Permission denied” and name 2086 and 2087", reason)
						}
						if got := str(dig(m, "metadata", "result")); got != "0" {
							t.Errorf("result = %q, want 0", got)
						}
						if got := str(dig(m, "metadata", "command")); got != fn {
							t.Errorf("command = %q, want %q", got, fn)
						}
						if got := str(dig(m, "metadata", "version")); got != "1" {
							t.Errorf("version = %q, want 1", got)
						}
					})
				}
			}
		}
		if _, err := e.account("wrongport"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("createacct on a wrong port created an account (err %v)", err)
		}
	})
	t.Run("UAPI on WHM ports (D3)", func(t *testing.T) {
		for _, p := range []port{p2086, p2087} {
			for _, path := range []string{"/execute/Variables/get_user_information", "/execute/Email/add_pop?email=x&password=Pass-Word-1", "/execute/Nope/nope", "/cpsess0123456789/execute/Email/list_pops"} {
				for _, who := range []string{"root", "res", "none"} {
					t.Run(p.String()+path+"/"+who, func(t *testing.T) {
						msg := uapiError(t, e.do(t, request{port: p, path: path, auth: e.authFor(t, who)}), http.StatusNotFound)
						if !strings.HasPrefix(msg, "Function not found") {
							t.Errorf("error = %q, want it to begin “Function not found”", msg)
						}
						for _, port := range []string{"2082", "2083", "2095", "2096"} {
							if !strings.Contains(msg, port) {
								t.Errorf("error %q does not name port %s", msg, port)
							}
						}
					})
				}
			}
		}
	})
	t.Run("non-webmail-safe UAPI on Webmail ports (D4)", func(t *testing.T) {
		for _, p := range []port{p2095, p2096} {
			for _, who := range []string{"info@bob.test", "bob"} {
				for _, fn := range []string{"Email/add_pop", "Email/delete_pop", "Email/list_pops", "DomainInfo/list_domains", "DomainInfo/domains_data", "DomainInfo/single_domain_data"} {
					t.Run(p.String()+"/"+who+"/"+fn, func(t *testing.T) {
						r := e.do(t, request{port: p, path: "/execute/" + fn, body: "email=d4test&password=D4-Pass-word&domain=bob.test", ctype: "application/x-www-form-urlencoded", auth: e.authFor(t, who)})
						want := "Execution of " + strings.Replace(fn, "/", "::", 1) + " (api version:3) is not permitted inside of webmail"
						if msg := uapiError(t, r, http.StatusOK); msg != want {
							t.Errorf("error = %q, want %q", msg, want)
						}
					})
				}
			}
		}
		if _, err := e.d.Data.Store.GetMailbox(context.Background(), "d4test", "bob.test"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("add_pop inside webmail created a mailbox (err %v)", err)
		}
	})
	t.Run("webmail-safe UAPI on Webmail ports", func(t *testing.T) {
		r := e.do(t, request{port: p2096, path: "/execute/Email/passwd_pop", body: "email=info@bob.test&password=" + infoPass, auth: e.authFor(t, "info@bob.test")})
		uapiOK(t, r)
	})
	t.Run("API 2 inside webmail", func(t *testing.T) {
		// None of API 2's functions is webmail-safe: not Email's, and not
		// CustInfo::displaycontactinfo, whose contact address is the
		// account owner's.
		for _, fn := range [][2]string{{"Email", "listpops"}, {"Email", "addpop"}, {"Email", "delpop"}, {"CustInfo", "displaycontactinfo"}} {
			for _, who := range []string{"info@bob.test", "bob"} {
				r := e.do(t, request{port: p2095, path: "/json-api/cpanel?cpanel_jsonapi_apiversion=2&cpanel_jsonapi_module=" + fn[0] + "&cpanel_jsonapi_func=" + fn[1] + "&email=d4api2&domain=bob.test&password=D4-Pass-word", auth: e.authFor(t, who)})
				want := "Execution of " + fn[0] + "::" + fn[1] + " (api version:2) is not permitted inside of webmail"
				if !bytes.Contains(r.body, []byte(want)) {
					t.Errorf("API 2 %s::%s inside webmail as %s: %s", fn[0], fn[1], who, r.body)
				}
			}
		}
		if _, err := e.d.Data.Store.GetMailbox(context.Background(), "d4api2", "bob.test"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Email::addpop inside webmail created a mailbox (err %v)", err)
		}
	})
}

// ---------------------------------------------------------------------------
// 4. Exact envelopes, compared with golden files.

// goldenStep is one call of the golden sequence; the steps run in order on
// one daemon, so later steps see what earlier ones changed.
type goldenStep struct {
	name   string
	port   port
	who    string // see testEnv.authFor
	method string
	path   string
	body   string
	ctype  string
	status int    // expected HTTP status
	must   string // a fragment the body must contain, or begin with if it starts with "{" (guards -update)
}

const form = "application/x-www-form-urlencoded"

func proxy(user, version, module, fn string, extra string) string {
	p := "/json-api/cpanel?cpanel_jsonapi_apiversion=" + version + "&cpanel_jsonapi_module=" + module + "&cpanel_jsonapi_func=" + fn
	if user != "" {
		p += "&cpanel_jsonapi_user=" + user
	}
	return p + extra
}

var goldenSteps = []goldenStep{
	// WHM API 1 basics.
	{name: "whm_version", port: p2087, who: "root", path: "/json-api/version?api.version=1", status: 200, must: `"result":1`},
	{name: "whm_version_access_hash", port: p2086, who: "root-hash", path: "/json-api/version?api.version=1", status: 200, must: `"result":1`},
	{name: "whm_unknown_function", port: p2087, who: "root", path: "/json-api/no_such_function?api.version=1", status: 200, must: `Unknown app (no_such_function)`},
	{name: "whm_applist_root", port: p2087, who: "root", path: "/json-api/applist?api.version=1", status: 200, must: `"setupreseller"`},
	{name: "whm_applist_reseller", port: p2087, who: "res", path: "/json-api/applist?api.version=1", status: 200, must: `"listaccts"`},
	{name: "whm_myprivs_reseller", port: p2087, who: "res", path: "/json-api/myprivs?api.version=1", status: 200, must: `"create-acct":1`},
	{name: "whm_myprivs_root", port: p2087, who: "root", path: "/json-api/myprivs?api.version=1", status: 200, must: `"all":1`},
	{name: "whm_gethostname", port: p2087, who: "root", path: "/json-api/gethostname?api.version=1", status: 200, must: `{"data":{"hostname":"host.example.com"}`},
	{name: "whm_gethostname_on_cpanel_port", port: p2083, who: "root", path: "/json-api/gethostname?api.version=1", status: 403, must: `Permission denied: WHM API 1 is served`},

	// Listing accounts.
	{name: "whm_listaccts_root", port: p2087, who: "root", path: "/json-api/listaccts?api.version=1", status: 200, must: `"user":"sus"`},
	{name: "whm_listaccts_reseller", port: p2087, who: "res", path: "/json-api/listaccts?api.version=1", status: 200, must: `"user":"carol"`},
	{name: "whm_listaccts_search_domain", port: p2087, who: "root", path: "/json-api/listaccts?api.version=1&search=carol&searchtype=domain", status: 200, must: `"domain":"carol.test"`},
	{name: "whm_listaccts_search_exact", port: p2087, who: "root", path: "/json-api/listaccts?api.version=1&search=bob&searchtype=user&searchmethod=exact", status: 200, must: `"user":"bob"`},
	{name: "whm_listaccts_want", port: p2087, who: "root", path: "/json-api/listaccts?api.version=1&want=user,domain", status: 200, must: `[{"domain":"bob.test","user":"bob"}`},
	{name: "whm_listaccts_reseller_search_foreign", port: p2087, who: "res", path: "/json-api/listaccts?api.version=1&search=bob", status: 200, must: `"acct":[]`},
	{name: "whm_listaccts_bad_searchtype", port: p2087, who: "root", path: "/json-api/listaccts?api.version=1&search=x&searchtype=color", status: 200, must: `"result":0`},
	{name: "whm_accountsummary", port: p2087, who: "root", path: "/json-api/accountsummary?api.version=1&user=bob", status: 200, must: `"mailbox_count":1`},
	{name: "whm_accountsummary_by_domain_reseller", port: p2087, who: "res", path: "/json-api/accountsummary?api.version=1&domain=carol.test", status: 200, must: `"user":"carol"`},
	{name: "whm_accountsummary_reseller_foreign", port: p2087, who: "res", path: "/json-api/accountsummary?api.version=1&user=bob", status: 200, must: `"result":0`},
	{name: "whm_accountsummary_missing_user", port: p2087, who: "root", path: "/json-api/accountsummary?api.version=1", status: 200, must: `"result":0`},

	// Account life cycle.
	{name: "whm_createacct", port: p2087, who: "root", path: "/json-api/createacct", ctype: form,
		body: "api.version=1&username=dave&domain=dave.test&password=Dave-Pass-1&contactemail=dave@example.com", status: 200, must: `"result":1`},
	{name: "whm_createacct_by_reseller", port: p2087, who: "res", path: "/json-api/createacct?api.version=1", ctype: form,
		body: "username=erin&domain=erin.test&password=Erin-Pass-1", status: 200, must: `Owner: res`},
	{name: "whm_createacct_duplicate_user", port: p2087, who: "root", path: "/json-api/createacct?api.version=1&username=dave&domain=other.test&password=X-Pass-1", status: 200, must: `already exists`},
	{name: "whm_createacct_duplicate_domain", port: p2087, who: "root", path: "/json-api/createacct?api.version=1&username=frank&domain=dave.test&password=X-Pass-1", status: 200, must: `already in use`},
	{name: "whm_createacct_missing_username", port: p2087, who: "root", path: "/json-api/createacct?api.version=1&domain=nouser.test", status: 200, must: `“username” parameter is required`},
	{name: "whm_createacct_missing_domain", port: p2087, who: "root", path: "/json-api/createacct?api.version=1&username=nodomain", status: 200, must: `“domain” parameter is required`},
	{name: "whm_createacct_invalid_username", port: p2087, who: "root", path: "/json-api/createacct?api.version=1&username=Bad_Name&domain=bad.test", status: 200, must: `"result":0`},
	{name: "whm_createacct_reseller_for_root", port: p2087, who: "res", path: "/json-api/createacct?api.version=1&username=gina&domain=gina.test&owner=root", status: 200, must: `"result":0`},
	{name: "whm_passwd", port: p2087, who: "root", path: "/json-api/passwd?api.version=1", ctype: form, body: "user=dave&password=" + davePass, status: 200, must: `"result":1`},
	{name: "whm_passwd_reseller_foreign", port: p2087, who: "res", path: "/json-api/passwd?api.version=1&user=bob&password=Hacked-Pass-1", status: 200, must: `does not exist`},
	{name: "whm_passwd_missing_password", port: p2087, who: "root", path: "/json-api/passwd?api.version=1&user=dave", status: 200, must: `“password” parameter is required`},
	{name: "whm_suspendacct", port: p2087, who: "root", path: "/json-api/suspendacct?api.version=1&user=dave&reason=Testing", status: 200, must: `"result":1`},
	{name: "whm_listaccts_suspended", port: p2087, who: "root", path: "/json-api/listaccts?api.version=1&search=dave&searchmethod=exact&want=user,suspended,suspendreason", status: 200, must: `"suspended":1`},
	{name: "whm_unsuspendacct", port: p2087, who: "root", path: "/json-api/unsuspendacct?api.version=1&user=dave", status: 200, must: `"result":1`},
	{name: "whm_suspendacct_reseller_foreign", port: p2087, who: "res", path: "/json-api/suspendacct?api.version=1&user=bob", status: 200, must: `does not exist`},

	// Resellers.
	{name: "whm_setupreseller", port: p2087, who: "root", path: "/json-api/setupreseller?api.version=1&user=dave", status: 200, must: `"result":1`},
	{name: "whm_setacls", port: p2087, who: "root", path: "/json-api/setacls?api.version=1&reseller=dave&acl-list-accts=1&acl-acct-summary=1", status: 200, must: `"result":1`},
	{name: "whm_setacls_invalid", port: p2087, who: "root", path: "/json-api/setacls?api.version=1&reseller=dave&acl-bogus=1", status: 200, must: `Invalid ACL(s) specified: bogus`},
	{name: "whm_setacls_not_reseller", port: p2087, who: "root", path: "/json-api/setacls?api.version=1&reseller=bob&acl-list-accts=1", status: 200, must: `"result":0`},
	{name: "whm_setacls_by_reseller", port: p2087, who: "res", path: "/json-api/setacls?api.version=1&reseller=res&acl-all=1", status: 200, must: `Permission denied`},
	{name: "whm_listresellers", port: p2087, who: "root", path: "/json-api/listresellers?api.version=1", status: 200, must: `"dave","res"`},
	{name: "whm_myprivs_new_reseller", port: p2087, who: "dave", path: "/json-api/myprivs?api.version=1", status: 200, must: `"list-accts":1`},
	{name: "whm_resolvedomainname_other_reseller", port: p2087, who: "dave", path: "/json-api/resolvedomainname?api.version=1&domain=carol.test", status: 200, must: `Unable to resolve domain name.`},
	{name: "whm_accesshash_reseller_none", port: p2087, who: "dave", path: "/json-api/accesshash?api.version=1", status: 200, must: `No accesshash exists for dave`},
	{name: "whm_unsetupreseller", port: p2087, who: "root", path: "/json-api/unsetupreseller?api.version=1&user=dave", status: 200, must: `"result":1`},
	{name: "whm_unsetupreseller_not_reseller", port: p2087, who: "root", path: "/json-api/unsetupreseller?api.version=1&user=bob", status: 200, must: `"result":0`},
	{name: "whm_setupreseller_root", port: p2087, who: "root", path: "/json-api/setupreseller?api.version=1&user=root", status: 200, must: `"result":0`},
	{name: "whm_setupreseller_by_reseller", port: p2087, who: "res", path: "/json-api/setupreseller?api.version=1&user=carol", status: 200, must: `Permission denied`},
	{name: "whm_removeacct", port: p2087, who: "root", path: "/json-api/removeacct?api.version=1&user=dave", status: 200, must: `dave account removed`},
	{name: "whm_removeacct_again", port: p2087, who: "root", path: "/json-api/removeacct?api.version=1&user=dave", status: 200, must: `does not exist`},
	{name: "whm_removeacct_reseller_with_accounts", port: p2087, who: "root", path: "/json-api/removeacct?api.version=1&user=res", status: 200, must: `"result":0`},
	{name: "whm_removeacct_by_reseller", port: p2087, who: "res", path: "/json-api/removeacct?api.version=1&username=erin", status: 200, must: `erin account removed`},

	// Tweak settings.
	{name: "whm_get_tweaksetting", port: p2087, who: "root", path: "/json-api/get_tweaksetting?api.version=1&key=allow_deprecated_accesshash", status: 200, must: `"value":"1"`},
	{name: "whm_set_tweaksetting", port: p2087, who: "root", path: "/json-api/set_tweaksetting?api.version=1&key=requiressl&value=0", status: 200, must: `"result":1`},
	{name: "whm_get_tweaksetting_bad_key", port: p2087, who: "root", path: "/json-api/get_tweaksetting?api.version=1&key=no_such_setting", status: 200, must: `"result":0`},
	{name: "whm_set_tweaksetting_bad_key", port: p2087, who: "root", path: "/json-api/set_tweaksetting?api.version=1&key=no_such_setting&value=1", status: 200, must: `"result":0`},
	{name: "whm_set_tweaksetting_bad_value", port: p2087, who: "root", path: "/json-api/set_tweaksetting?api.version=1&key=requiressl&value=maybe", status: 200, must: `"result":0`},
	{name: "whm_set_tweaksetting_by_reseller", port: p2087, who: "res", path: "/json-api/set_tweaksetting?api.version=1&key=allow_deprecated_accesshash&value=0", status: 200, must: `Permission denied`},
	{name: "whm_get_tweaksetting_server_ip", port: p2087, who: "root", path: "/json-api/get_tweaksetting?api.version=1&key=server-ip", status: 200, must: `"value":""`},
	{name: "whm_set_tweaksetting_server_ip", port: p2087, who: "root", path: "/json-api/set_tweaksetting?api.version=1&key=server-ip&value=2001:DB8::10", status: 200, must: `"result":1`},
	{name: "whm_resolvedomainname_server_ip", port: p2087, who: "root", path: "/json-api/resolvedomainname?api.version=1&domain=bob.test", status: 200, must: `"ip":"2001:db8::10"`},
	{name: "whm_accountsummary_server_ip", port: p2087, who: "root", path: "/json-api/accountsummary?api.version=1&user=bob", status: 200, must: `"ip":"2001:db8::10"`},
	{name: "whm_set_tweaksetting_server_ip_bad", port: p2087, who: "root", path: "/json-api/set_tweaksetting?api.version=1&key=server-ip&value=0.0.0.0", status: 200, must: `"result":0`},
	{name: "whm_set_tweaksetting_server_ip_reset", port: p2087, who: "root", path: "/json-api/set_tweaksetting?api.version=1&key=server-ip&value=", status: 200, must: `"result":1`},
	{name: "whm_listaccts_search_ip", port: p2087, who: "root", path: "/json-api/listaccts?api.version=1&search=127.0.0.1&searchtype=ip&searchmethod=exact&want=user,ip", status: 200, must: `"ip":"127.0.0.1"`},

	// Resolving a domain: the server's address (server-ip; unset, the
	// listen address, 127.0.0.1 here).
	{name: "whm_resolvedomainname", port: p2087, who: "root", path: "/json-api/resolvedomainname?api.version=1&domain=bob.test", status: 200, must: `"ip":"127.0.0.1"`},
	{name: "whm_resolvedomainname_unknown", port: p2087, who: "root", path: "/json-api/resolvedomainname?api.version=1&domain=nowhere.test", status: 200, must: `Unable to resolve domain name.`},
	{name: "whm_resolvedomainname_missing_domain", port: p2087, who: "root", path: "/json-api/resolvedomainname?api.version=1", status: 200, must: `“domain” parameter is required`},
	{name: "whm_resolvedomainname_reseller_own", port: p2087, who: "res", path: "/json-api/resolvedomainname?api.version=1&domain=carol.test", status: 200, must: `"ip":"127.0.0.1"`},
	{name: "whm_resolvedomainname_reseller_foreign", port: p2087, who: "res", path: "/json-api/resolvedomainname?api.version=1&domain=bob.test", status: 200, must: `Unable to resolve domain name.`},

	// Access hashes.
	{name: "whm_accesshash_root", port: p2087, who: "root", path: "/json-api/accesshash?api.version=1", status: 200, must: `"accesshash":"`},
	{name: "whm_accesshash_reseller_own", port: p2087, who: "res", path: "/json-api/accesshash?api.version=1", status: 200, must: `"accesshash":"`},
	{name: "whm_accesshash_reseller_for_root", port: p2087, who: "res", path: "/json-api/accesshash?api.version=1&user=root", status: 200, must: `You do not have access to load another user's accesshash`},
	{name: "whm_accesshash_cpanel_user", port: p2087, who: "root", path: "/json-api/accesshash?api.version=1&user=bob", status: 200, must: `User bob is not a reseller.`},
	{name: "whm_accesshash_reseller_generate", port: p2087, who: "res", path: "/json-api/accesshash?api.version=1&generate=1", status: 200, must: `"result":1`},
	{name: "whm_accesshash_generate", port: p2087, who: "root", path: "/json-api/accesshash?api.version=1&generate=1", status: 200, must: `"result":1`},
	{name: "whm_version_new_access_hash", port: p2087, who: "root-hash", path: "/json-api/version?api.version=1", status: 200, must: `"result":1`},

	// UAPI.
	{name: "uapi_get_user_information", port: p2083, who: "bob", path: "/execute/Variables/get_user_information", status: 200, must: `"status":1`},
	{name: "uapi_get_user_information_names", port: p2083, who: "bob", path: "/execute/Variables/get_user_information?name=user&name=domain", status: 200, must: `"data":{"domain":"bob.test","user":"bob"}`},
	{name: "uapi_get_user_information_webmail", port: p2096, who: "info@bob.test", path: "/execute/Variables/get_user_information", status: 200, must: `"user":"bob"`},
	{name: "uapi_list_pops", port: p2083, who: "bob", path: "/execute/Email/list_pops", status: 200, must: `info@bob.test`},
	{name: "uapi_add_pop", port: p2083, who: "bob", path: "/execute/Email/add_pop", ctype: form, body: "email=sales&password=Sales-Pass-1&quota=100", status: 200, must: `"data":"sales+bob.test"`},
	{name: "uapi_add_pop_duplicate", port: p2083, who: "bob", path: "/execute/Email/add_pop?email=info@bob.test&password=Info-Pass-2", status: 200, must: `already exists`},
	{name: "uapi_add_pop_foreign_domain", port: p2083, who: "bob", path: "/execute/Email/add_pop?email=x&domain=carol.test&password=X-Pass-1", status: 200, must: `does not belong to your account`},
	{name: "uapi_add_pop_unknown_domain", port: p2083, who: "bob", path: "/execute/Email/add_pop?email=x@nowhere.test&password=X-Pass-1", status: 200, must: `does not belong to your account`},
	{name: "uapi_add_pop_invalid_local_part", port: p2083, who: "bob", path: "/execute/Email/add_pop?email=bad..name&password=X-Pass-1", status: 200, must: `is not a valid email account name`},
	{name: "uapi_add_pop_missing_password", port: p2083, who: "bob", path: "/execute/Email/add_pop?email=nopass", status: 200, must: `“password” parameter is required`},
	{name: "uapi_list_pops_after_add", port: p2083, who: "bob", path: "/execute/Email/list_pops", status: 200, must: `sales@bob.test`},
	{name: "uapi_list_pops_regex", port: p2083, who: "bob", path: "/execute/Email/list_pops?regex=%5Esales", status: 200, must: `sales@bob.test`},
	{name: "uapi_passwd_pop", port: p2083, who: "bob", path: "/execute/Email/passwd_pop", ctype: form, body: "email=sales@bob.test&password=Sales-Pass-2", status: 200, must: `"status":1`},
	{name: "uapi_passwd_pop_foreign", port: p2083, who: "carol", path: "/execute/Email/passwd_pop?email=info@bob.test&password=Hacked-Pass-1", status: 200, must: `does not exist`},
	{name: "uapi_delete_pop", port: p2083, who: "bob", path: "/execute/Email/delete_pop?email=sales@bob.test", status: 200, must: `"status":1`},
	{name: "uapi_delete_pop_again", port: p2083, who: "bob", path: "/execute/Email/delete_pop?email=sales@bob.test", status: 200, must: `does not exist`},
	{name: "uapi_unknown_module", port: p2083, who: "bob", path: "/execute/NoSuchModule/some_function", status: 200, must: `Failed to load module`},
	{name: "uapi_unknown_function", port: p2083, who: "bob", path: "/execute/Email/no_such_function", status: 200, must: `could not find the function`},
	{name: "uapi_illegal_function_name", port: p2083, who: "bob", path: "/execute/Email/bad-name", status: 200, must: `Illegal function name: bad-name`},
	{name: "uapi_not_in_webmail", port: p2095, who: "info@bob.test", path: "/execute/Email/add_pop?email=x&password=X-Pass-1", status: 200, must: `is not permitted inside of webmail`},

	// The account's domains.
	{name: "uapi_list_domains", port: p2083, who: "bob", path: "/execute/DomainInfo/list_domains", status: 200, must: `"main_domain":"bob.test"`},
	{name: "uapi_domains_data", port: p2083, who: "bob", path: "/execute/DomainInfo/domains_data", status: 200, must: `"type":"main_domain"`},
	{name: "uapi_domains_data_list", port: p2083, who: "bob", path: "/execute/DomainInfo/domains_data?format=list", status: 200, must: `{"data":[{`},
	{name: "uapi_domains_data_bad_format", port: p2083, who: "bob", path: "/execute/DomainInfo/domains_data?format=xml", status: 200, must: `"status":0`},
	{name: "uapi_single_domain_data", port: p2083, who: "bob", path: "/execute/DomainInfo/single_domain_data?domain=bob.test", status: 200, must: `"documentroot":"`},
	{name: "uapi_single_domain_data_foreign", port: p2083, who: "bob", path: "/execute/DomainInfo/single_domain_data?domain=carol.test", status: 200, must: `does not belong to your account`},
	{name: "uapi_domaininfo_not_in_webmail", port: p2096, who: "info@bob.test", path: "/execute/DomainInfo/list_domains", status: 200, must: `is not permitted inside of webmail`},

	// cPanel API 2 on the cPanel port.
	{name: "api2_listpops", port: p2082, who: "bob", path: proxy("", "2", "Email", "listpops", ""), status: 200, must: `"event":{"result":1}`},
	{name: "api2_listpops_self_named", port: p2082, who: "bob", path: proxy("bob", "2", "Email", "listpops", ""), status: 200, must: `"event":{"result":1}`},
	{name: "api2_unknown_function", port: p2082, who: "bob", path: proxy("", "2", "Email", "no_such_function", ""), status: 200, must: `Could not find function`},
	{name: "api2_other_user", port: p2083, who: "bob", path: proxy("carol", "2", "Email", "listpops", ""), status: 200, must: `Access Denied to carol`},
	{name: "uapi_via_json_api_cpanel_port", port: p2083, who: "bob", path: proxy("", "3", "Email", "list_pops", ""), status: 200, must: `"result":{`},
	{name: "api2_addpop", port: p2083, who: "bob", path: proxy("", "2", "Email", "addpop", ""), ctype: form, body: "email=sales2&domain=bob.test&password=Sales-Pass-3&quota=100", status: 200, must: `"data":[{"reason":"","result":1}]`},
	{name: "api2_addpop_duplicate", port: p2083, who: "bob", path: proxy("", "2", "Email", "addpop", "&email=sales2&domain=bob.test&password=Sales-Pass-3"), status: 200, must: `"result":0`},
	{name: "api2_addpop_foreign_domain", port: p2083, who: "bob", path: proxy("", "2", "Email", "addpop", "&email=x&domain=carol.test&password=X-Pass-1"), status: 200, must: `does not belong to your account`},
	{name: "api2_delpop", port: p2083, who: "bob", path: proxy("", "2", "Email", "delpop", "&email=sales2&domain=bob.test"), status: 200, must: `"data":[{"reason":"OK","result":1}]`},
	{name: "api2_delpop_again", port: p2083, who: "bob", path: proxy("", "2", "Email", "delpop", "&email=sales2&domain=bob.test"), status: 200, must: `does not exist`},
	{name: "api2_displaycontactinfo", port: p2083, who: "bob", path: proxy("", "2", "CustInfo", "displaycontactinfo", ""), status: 200, must: `"value":"admin@bob.test"`},
	{name: "api2_displaycontactinfo_not_in_webmail", port: p2096, who: "info@bob.test", path: proxy("", "2", "CustInfo", "displaycontactinfo", ""), status: 200, must: `is not permitted inside of webmail`},

	// WHM to cPanel.
	{name: "whm_cpanel_api2_root", port: p2087, who: "root", path: proxy("bob", "2", "Email", "listpops", "&api.version=1"), status: 200, must: `info@bob.test`},
	{name: "whm_cpanel_uapi_root", port: p2087, who: "root", path: proxy("bob", "3", "Email", "list_pops", "&api.version=1"), status: 200, must: `info@bob.test`},
	{name: "whm_cpanel_api2_reseller_owner", port: p2087, who: "res", path: proxy("carol", "2", "Email", "listpops", ""), status: 200, must: `"event":{"result":1}`},
	{name: "whm_cpanel_uapi_reseller_owner", port: p2087, who: "res", path: proxy("carol", "3", "Variables", "get_user_information", ""), status: 200, must: `"user":"carol"`},
	{name: "whm_cpanel_api2_reseller_foreign", port: p2087, who: "res", path: proxy("bob", "2", "Email", "listpops", ""), status: 200, must: `Access Denied to bob`},
	{name: "whm_cpanel_uapi_reseller_foreign", port: p2087, who: "res", path: proxy("bob", "3", "Email", "list_pops", ""), status: 200,
		must: `{"data":{"reason":"Access Denied to bob","result":"0"},"error":"Access Denied to bob","type":"text"}`}, // no cpanelresult wrapper outside API 2
	{name: "whm_cpanel_missing_user", port: p2087, who: "root", path: proxy("", "2", "Email", "listpops", ""), status: 200, must: `User parameter is invalid or was not supplied`},
	{name: "whm_cpanel_root_user", port: p2087, who: "root", path: proxy("root", "2", "Email", "listpops", ""), status: 200, must: `is not associated with a cPanel account`},
	{name: "whm_cpanel_api2_unknown_function", port: p2087, who: "root", path: proxy("bob", "2", "Email", "no_such_function", ""), status: 200, must: `Could not find function`},
	{name: "whm_cpanel_api1_unsupported", port: p2087, who: "root", path: proxy("bob", "1", "Email", "listpops", ""), status: 200, must: `"result":"0"`},
	{name: "whm_uapi_cpanel", port: p2087, who: "root", path: "/json-api/uapi_cpanel?api.version=1&cpanel.user=bob&cpanel.module=Email&cpanel.function=list_pops", status: 200, must: `info@bob.test`},
	{name: "whm_uapi_cpanel_reseller_foreign", port: p2087, who: "res", path: "/json-api/uapi_cpanel?api.version=1&cpanel.user=bob&cpanel.module=Email&cpanel.function=list_pops", status: 200, must: `Access Denied to bob`},
	{name: "whm_uapi_cpanel_missing_module", port: p2087, who: "root", path: "/json-api/uapi_cpanel?api.version=1&cpanel.user=bob&cpanel.function=list_pops", status: 200, must: `"result":0`},
	{name: "whm_cpanel_api2_addpop_root", port: p2087, who: "root", path: proxy("bob", "2", "Email", "addpop", "&email=viawhm&domain=bob.test&password=Via-Whm-Pass-1"), status: 200, must: `"data":[{"reason":"","result":1}]`},
	{name: "whm_cpanel_api2_delpop_root", port: p2087, who: "root", path: proxy("bob", "2", "Email", "delpop", "&email=viawhm&domain=bob.test"), status: 200, must: `"data":[{"reason":"OK","result":1}]`},
	{name: "whm_cpanel_api2_displaycontactinfo_reseller_owner", port: p2087, who: "res", path: proxy("carol", "2", "CustInfo", "displaycontactinfo", ""), status: 200, must: `"event":{"result":1}`},
	{name: "whm_cpanel_api2_displaycontactinfo_reseller_foreign", port: p2087, who: "res", path: proxy("bob", "2", "CustInfo", "displaycontactinfo", ""), status: 200, must: `Access Denied to bob`},
	{name: "whm_cpanel_uapi_single_domain_data_root", port: p2087, who: "root", path: proxy("bob", "3", "DomainInfo", "single_domain_data", "&domain=bob.test"), status: 200, must: `"domain":"bob.test"`},
	{name: "whm_uapi_cpanel_list_domains", port: p2087, who: "root", path: "/json-api/uapi_cpanel?api.version=1&cpanel.user=bob&cpanel.module=DomainInfo&cpanel.function=list_domains", status: 200, must: `"main_domain":"bob.test"`},
	{name: "whm_uapi_cpanel_domains_data_reseller_owner", port: p2087, who: "res", path: "/json-api/uapi_cpanel?api.version=1&cpanel.user=carol&cpanel.module=DomainInfo&cpanel.function=domains_data", status: 200, must: `"user":"carol"`},

	// Refusals.
	{name: "d5_wrong_password", port: p2087, who: "root:wrong", path: "/json-api/version?api.version=1", status: 403, must: `Access denied`},
	{name: "d2_whm_on_cpanel_port", port: p2083, who: "root", path: "/json-api/listaccts?api.version=1", status: 403, must: `Permission denied`},
	{name: "d3_uapi_on_whm_port", port: p2087, who: "root", path: "/execute/Email/list_pops", status: 404, must: `Function not found`},

	// Two-factor authentication: the answers that hold no secret.
	{name: "tfa_policy_status", port: p2087, who: "root", path: "/json-api/twofactorauth_policy_status?api.version=1", status: 200, must: `"is_enabled":1`},
	{name: "tfa_disable_policy_reseller", port: p2087, who: "res", path: "/json-api/twofactorauth_disable_policy?api.version=1", status: 200, must: `"result":0`},
	{name: "tfa_set_wrong_code", port: p2087, who: "root", path: "/json-api/twofactorauth_set_tfa_config?api.version=1&secret=JBSWY3DPEHPK3PXP&tfa_token=000000", status: 200, must: `The security code is invalid.`},
	{name: "tfa_remove_no_users", port: p2087, who: "root", path: "/json-api/twofactorauth_remove_user_config?api.version=1", status: 200, must: `No users specified.`},
	{name: "tfa_remove_not_configured", port: p2087, who: "root", path: "/json-api/twofactorauth_remove_user_config?api.version=1&user=bob", status: 200, must: `"failed":{"bob"`},
	{name: "tfa_get_user_configs_reseller", port: p2087, who: "res", path: "/json-api/twofactorauth_get_user_configs?api.version=1", status: 200, must: `"carol":{"is_enabled":0`},
	{name: "tfa_set_issuer_bad", port: p2087, who: "root", path: "/json-api/twofactorauth_set_issuer?api.version=1&issuer=%3Cscript%3E", status: 200, must: `at most 32`},
	{name: "uapi_tfa_get_off", port: p2083, who: "bob", path: "/execute/TwoFactorAuth/get_user_configuration", status: 200, must: `{"data":{"is_enabled":0}`},
	{name: "uapi_tfa_set_bad_secret", port: p2083, who: "bob", path: "/execute/TwoFactorAuth/set_user_configuration?secret=short&tfa_token=123456", status: 200, must: `Failed to set user configuration: `},
	{name: "uapi_tfa_set_no_code", port: p2096, who: "info@bob.test", path: "/execute/TwoFactorAuth/set_user_configuration?secret=JBSWY3DPEHPK3PXP", status: 200, must: `No security code specified.`},
	{name: "uapi_tfa_remove_no_code", port: p2083, who: "bob", path: "/execute/TwoFactorAuth/remove_user_configuration", status: 200, must: `Failed to remove user configuration: `},

	// WHM API 0 (D23): calls without api.version, or with api.version=0.
	// Authentication, the port check and unreadable requests answer as
	// for API 1.
	{name: "whm0_version", port: p2087, who: "root", path: "/json-api/version", status: 200, must: `{"version":"11.134.0.0"}`},
	{name: "whm0_version_api_version_0", port: p2086, who: "root-hash", path: "/json-api/version?api.version=0", status: 200, must: `{"version":"11.134.0.0"}`},
	{name: "whm0_version_wrong_password", port: p2087, who: "root:wrong", path: "/json-api/version", status: 403, must: `Access denied`},
	{name: "whm0_version_other_api_version", port: p2087, who: "root", path: "/json-api/version?api.version=2", status: 200,
		must: `{"error":"Unknown app (version) requested for this version (2) of the API."}`},
	{name: "whm0_gethostname", port: p2087, who: "root", path: "/json-api/gethostname", status: 200, must: `{"hostname":"host.example.com"}`},
	{name: "whm0_gethostname_on_cpanel_port", port: p2083, who: "root", path: "/json-api/gethostname", status: 403, must: `Permission denied: WHM API 1 is served`},
	{name: "whm0_applist_reseller", port: p2087, who: "res", path: "/json-api/applist", status: 200, must: `{"app":["accountsummary",`},
	{name: "whm0_applist_no_credentials", port: p2087, who: "none", path: "/json-api/applist", status: 401, must: `Access denied`},
	{name: "whm0_myprivs_reseller", port: p2087, who: "res", path: "/json-api/myprivs", status: 200, must: `{"privs":{"acct-summary":1,`},
	{name: "whm0_myprivs_cpanel_user", port: p2087, who: "bob", path: "/json-api/myprivs", status: 403, must: `Access denied`},
	{name: "whm0_listaccts_root", port: p2087, who: "root", path: "/json-api/listaccts", status: 200, must: `"status":1,"statusmsg":"Ok"}`},
	{name: "whm0_listaccts_reseller", port: p2087, who: "res", path: "/json-api/listaccts", status: 200, must: `"user":"carol"`},
	{name: "whm0_listaccts_want", port: p2087, who: "root", path: "/json-api/listaccts?want=suspended,shell", status: 200,
		must: `{"acct":[{"domain":"bob.test","shell":"/usr/local/cpanel/bin/noshell","suspended":0,"user":"bob"},`},
	{name: "whm0_listaccts_search", port: p2087, who: "root", path: "/json-api/listaccts?search=carol&searchtype=domain&want=owner", status: 200,
		must: `{"acct":[{"domain":"carol.test","owner":"res","user":"carol"}],"status":1,"statusmsg":"Ok"}`},
	{name: "whm0_listaccts_bad_searchtype", port: p2087, who: "root", path: "/json-api/listaccts?search=x&searchtype=color", status: 200, must: `{"acct":[],"status":0,`},
	{name: "whm0_accountsummary", port: p2087, who: "root", path: "/json-api/accountsummary?user=bob", status: 200, must: `"mailbox_count":1`},
	{name: "whm0_accountsummary_by_domain_reseller", port: p2087, who: "res", path: "/json-api/accountsummary?domain=carol.test", status: 200, must: `"user":"carol"`},
	{name: "whm0_accountsummary_reseller_foreign", port: p2087, who: "res", path: "/json-api/accountsummary?user=bob", status: 200,
		must: `{"acct":[],"status":0,"statusmsg":"Account does not exist."}`},
	{name: "whm0_accountsummary_missing_user", port: p2087, who: "root", path: "/json-api/accountsummary", status: 200, must: `{"acct":[],"status":0,`},
	{name: "whm0_createacct", port: p2087, who: "root", path: "/json-api/createacct", ctype: form,
		body: "username=gus&domain=gus.test&password=Gus-Pass-1&contactemail=gus@example.com", status: 200, must: `{"result":[{"options":{"ip":"127.0.0.1","nameserver":"","package":"default"},`},
	{name: "whm0_createacct_by_reseller", port: p2087, who: "res", path: "/json-api/createacct?username=hal&domain=hal.test&password=Hal-Pass-1", status: 200, must: `Owner: res`},
	{name: "whm0_createacct_duplicate_user", port: p2087, who: "root", path: "/json-api/createacct?username=gus&domain=other.test&password=X-Pass-1", status: 200,
		must: `{"result":[{"options":null,"rawout":null,"status":0,`},
	{name: "whm0_passwd", port: p2087, who: "root", path: "/json-api/passwd", ctype: form, body: "user=gus&pass=Gus-Pass-2", status: 200,
		must: `{"passwd":[{"rawout":"","services":[{"app":"system"}],"status":1,`},
	{name: "whm0_passwd_missing_pass", port: p2087, who: "root", path: "/json-api/passwd?user=gus", status: 200,
		must: `{"passwd":[{"rawout":null,"services":null,"status":0,"statusmsg":"The “pass” parameter is required."}]}`},
	{name: "whm0_passwd_reseller_foreign", port: p2087, who: "res", path: "/json-api/passwd?user=bob&pass=Hacked-Pass-1", status: 200, must: `does not exist`},
	{name: "whm0_suspendacct", port: p2087, who: "root", path: "/json-api/suspendacct?user=gus&reason=Testing", status: 200,
		must: `{"result":[{"status":1,"statusmsg":"gus's account has been suspended"}]}`},
	{name: "whm0_suspendacct_reseller_foreign", port: p2087, who: "res", path: "/json-api/suspendacct?user=bob", status: 200, must: `{"result":[{"status":0,`},
	{name: "whm0_unsuspendacct", port: p2087, who: "root", path: "/json-api/unsuspendacct?user=gus", status: 200, must: `{"result":[{"status":1,`},
	{name: "whm0_unsuspendacct_unknown", port: p2087, who: "root", path: "/json-api/unsuspendacct?user=nosuch", status: 200, must: `does not exist`},
	{name: "whm0_setupreseller", port: p2087, who: "root", path: "/json-api/setupreseller?user=gus", status: 200, must: `{"result":[{"status":1,"statusmsg":null}]}`},
	{name: "whm0_setupreseller_by_reseller", port: p2087, who: "res", path: "/json-api/setupreseller?user=carol", status: 200,
		must: `{"result":[{"status":0,"statusmsg":"Permission denied"}]}`},
	{name: "whm0_setacls", port: p2087, who: "root", path: "/json-api/setacls?reseller=gus&acl-list-accts=1&acl-acct-summary=1&acl-passwd=0", status: 200,
		must: `{"result":[{"acls":["acct-summary","list-accts"],"status":1,"statusmsg":"Reseller Acls Saved"}]}`},
	{name: "whm0_setacls_acllist", port: p2087, who: "root", path: "/json-api/setacls?reseller=gus&acllist=standard", status: 200, must: `cpauth keeps no saved ACL lists`},
	{name: "whm0_setacls_not_reseller", port: p2087, who: "root", path: "/json-api/setacls?reseller=bob&acl-list-accts=1", status: 200, must: `{"result":[{"acls":[],"status":0,`},
	{name: "whm0_setacls_by_reseller", port: p2087, who: "res", path: "/json-api/setacls?reseller=res&acl-all=1", status: 200, must: `Permission denied`},
	{name: "whm0_listresellers", port: p2087, who: "root", path: "/json-api/listresellers", status: 200, must: `{"reseller":["gus","res"]}`},
	{name: "whm0_listresellers_by_reseller", port: p2087, who: "res", path: "/json-api/listresellers", status: 200, must: `{"error":"Permission denied"}`},
	{name: "whm0_unsetupreseller", port: p2087, who: "root", path: "/json-api/unsetupreseller?user=gus", status: 200, must: `{"result":[{"status":1,`},
	{name: "whm0_unsetupreseller_not_reseller", port: p2087, who: "root", path: "/json-api/unsetupreseller?user=bob", status: 200, must: `{"result":[{"status":0,`},
	{name: "whm0_removeacct", port: p2087, who: "root", path: "/json-api/removeacct?user=gus&keepdns=1", status: 200, must: `gus account removed`},
	{name: "whm0_removeacct_again", port: p2087, who: "root", path: "/json-api/removeacct?user=gus", status: 200, must: `{"result":[{"rawout":null,"status":0,`},
	{name: "whm0_removeacct_by_reseller_username", port: p2087, who: "res", path: "/json-api/removeacct?username=hal", status: 200, must: `hal account removed`},
	{name: "whm0_api1_only_function", port: p2087, who: "root", path: "/json-api/create_user_session?user=bob&service=cpaneld", status: 200,
		must: `{"error":"Unknown app (create_user_session) requested for this version (0) of the API."}`},
	{name: "whm0_api1_only_function_by_reseller", port: p2087, who: "res", path: "/json-api/get_tweaksetting?key=requiressl", status: 200,
		must: `{"error":"Unknown app (get_tweaksetting) requested for this version (0) of the API."}`},
	{name: "whm0_unknown_function", port: p2087, who: "root", path: "/json-api/no_such_function", status: 200,
		must: `{"error":"Unknown app (no_such_function) requested for this version (0) of the API."}`},
}

// TestGolden runs goldenSteps in order on one daemon. Run it whole (the
// steps depend on each other); `go test ./internal/e2e -run TestGolden
// -update` rewrites testdata/ — then read the diff: each file is a contract.
func TestGolden(t *testing.T) {
	// A host name of its own, not the machine's: gethostname answers it.
	e := startFixturesWith(t, func(c *config.Config) { c.Hostname = "host.example.com" })
	for _, s := range goldenSteps {
		t.Run(s.name, func(t *testing.T) {
			auth := ""
			if s.who == "root:wrong" {
				auth = basic("root", "Wrong-Pass-9")
			} else {
				auth = e.authFor(t, s.who)
			}
			runGoldenStep(t, e, s, auth, s.path, s.body, e.normalise, nil)
		})
	}
}

// runGoldenStep sends one step (path and body as given, which may differ
// from the step's when placeholders were filled in), checks it, hands the
// answer to seen (if not nil), and compares the normalised answer with its
// golden file.
func runGoldenStep(t *testing.T, e *testEnv, s goldenStep, auth, path, body string, normalise func([]byte) []byte, seen func(response)) {
	t.Helper()
	r := e.do(t, request{port: s.port, method: s.method, path: path, auth: auth, body: body, ctype: s.ctype})
	if seen != nil {
		seen(r)
	}
	if r.status != s.status {
		t.Errorf("status = %d, want %d", r.status, s.status)
	}
	if !bytes.Contains(r.body, []byte(s.must)) {
		t.Errorf("body does not contain %s:\n%s", s.must, r.body)
	}
	if strings.HasPrefix(s.must, "{") && !bytes.HasPrefix(r.body, []byte(s.must)) {
		t.Errorf("body does not begin with %s:\n%s", s.must, r.body)
	}
	if r.status == http.StatusOK && r.header.Get("Content-Type") != jsonType {
		t.Errorf("Content-Type = %q, want %q", r.header.Get("Content-Type"), jsonType)
	}
	var b bytes.Buffer
	method := s.method
	if method == "" {
		method = "GET"
		if s.body != "" {
			method = "POST"
		}
	}
	fmt.Fprintf(&b, "request: %s :%s %s\n", method, s.port, s.path)
	fmt.Fprintf(&b, "as:      %s\n", s.who)
	if s.body != "" {
		fmt.Fprintf(&b, "body:    %s (%s)\n", s.body, s.ctype)
	}
	fmt.Fprintf(&b, "status:  %d\n", r.status)
	fmt.Fprintf(&b, "type:    %s\n\n", r.header.Get("Content-Type"))
	b.Write(normalise(r.body))
	b.WriteString("\n")
	checkGolden(t, s.name, b.Bytes())
}

// TestGoldenFiles: every golden file belongs to a step, every step name is
// unique, and generated values are really normalised away.
func TestGoldenFiles(t *testing.T) {
	names := map[string]bool{}
	for _, s := range slices.Concat(goldenSteps, tokenGoldenSteps, passkeyGoldenSteps) {
		if names[s.name] {
			t.Errorf("duplicate golden step %q", s.name)
		}
		names[s.name] = true
	}
	names["authz_matrix"] = true     // TestAuthorizationMatrix's
	names["gateway_failures"] = true // TestGatewayFailures's
	files, err := filepath.Glob(filepath.Join("testdata", "*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".golden")
		if !names[name] {
			t.Errorf("%s belongs to no golden step", f)
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if reAccessHash.Match(raw) || reToken.Match(raw) || bytes.Contains(raw, []byte("IMPLAUSIBLE")) || bytes.Contains(raw, []byte("/tmp/")) {
			t.Errorf("%s holds an unnormalised value", f)
		}
	}
}

// ---------------------------------------------------------------------------
// 5. Bad input.

func TestBadInput(t *testing.T) {
	e := startWithFixtures(t)
	root, bob := e.authFor(t, "root"), e.authFor(t, "bob")

	t.Run("malformed Authorization headers", func(t *testing.T) {
		for _, h := range []string{"Basic", "Basic ", "Basic =", "Basic Ym9i", "whm", "whm roottok", "whm :tok", "cpanel bob", "WHM\troot:tok", "Basicx " + strings.TrimPrefix(root, "Basic "), "Basic " + strings.Repeat("QUFB", 1500)} {
			for _, p := range []port{p2083, p2087} {
				assertD5(t, e.do(t, request{port: p, path: p.nativePath(), auth: h}))
			}
		}
	})

	t.Run("body over the limit", func(t *testing.T) {
		big := "api.version=1&pad=" + strings.Repeat("x", api.MaxBodyBytes)
		tests := []struct {
			name string
			port port
			path string
			auth string
			env  func(t *testing.T, r response)
		}{
			{"WHM API 1", p2087, "/json-api/version", root, func(t *testing.T, r response) {
				m := object(t, r)
				if str(dig(m, "metadata", "result")) != "0" || !strings.HasPrefix(str(dig(m, "metadata", "reason")), "The request could not be read") {
					t.Errorf("envelope %s", r.body)
				}
			}},
			{"UAPI", p2083, "/execute/Variables/get_user_information", bob, func(t *testing.T, r response) {
				m := object(t, r)
				errs, _ := m["errors"].([]any)
				if str(m["status"]) != "0" || len(errs) != 1 || !strings.Contains(str(errs[0]), "too large") {
					t.Errorf("envelope %s", r.body)
				}
			}},
			{"cPanel proxy", p2087, "/json-api/cpanel", root, func(t *testing.T, r response) {
				m := object(t, r)
				if str(dig(m, "cpanelresult", "data", "result")) != "0" || !strings.Contains(str(dig(m, "cpanelresult", "error")), "too large") {
					t.Errorf("envelope %s", r.body)
				}
			}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := e.do(t, request{port: tc.port, path: tc.path, auth: tc.auth, body: big, ctype: form})
				if r.status != http.StatusRequestEntityTooLarge {
					t.Fatalf("status = %d, want 413; body %.300s", r.status, r.body)
				}
				tc.env(t, r)
			})
		}
		t.Run("no credentials", func(t *testing.T) {
			// The body is not read: the answer is D5's, and the server
			// may close the connection before the client has sent it all.
			r, err := e.try(request{port: p2087, path: "/json-api/version", body: big, ctype: form})
			if err != nil {
				t.Logf("the client saw %v (the connection closed with the body unread)", err)
				return
			}
			if r.status != http.StatusUnauthorized || string(r.body) != d5Body {
				t.Errorf("%d %.300s, want 401 and D5's body", r.status, r.body)
			}
		})
		t.Run("exactly at the limit", func(t *testing.T) {
			body := "api.version=1&pad="
			body += strings.Repeat("x", api.MaxBodyBytes-len(body))
			whmOK(t, e.do(t, request{port: p2087, path: "/json-api/version", auth: root, body: body, ctype: form}))
		})
		// The daemon still answers.
		whmOK(t, e.do(t, request{port: p2087, path: "/json-api/version?api.version=1", auth: root}))
	})

	t.Run("missing parameters", func(t *testing.T) {
		for _, tc := range []struct{ query, want string }{
			{"domain=nouser.test", "The “username” parameter is required."},
			{"username=nodomain", "The “domain” parameter is required."},
			{"", "The “username” parameter is required."},
		} {
			r := e.do(t, request{port: p2087, path: "/json-api/createacct?api.version=1&" + tc.query, auth: root})
			if got := whmFailed(t, r); got != tc.want {
				t.Errorf("createacct %s: reason %q, want %q", tc.query, got, tc.want)
			}
		}
	})

	t.Run("bad JSON body", func(t *testing.T) {
		r := e.do(t, request{port: p2087, path: "/json-api/version?api.version=1", auth: root, body: `{"api.version":`, ctype: "application/json"})
		if r.status != http.StatusBadRequest {
			t.Fatalf("status = %d, want 400", r.status)
		}
		m := object(t, r)
		if str(dig(m, "metadata", "result")) != "0" || !strings.Contains(str(dig(m, "metadata", "reason")), "JSON") {
			t.Errorf("envelope %s", r.body)
		}
		r = e.do(t, request{port: p2083, path: "/execute/Email/list_pops", auth: bob, body: `[1,2]`, ctype: "application/json"})
		if msg := uapiError(t, r, http.StatusBadRequest); !strings.Contains(msg, "JSON") {
			t.Errorf("UAPI bad JSON: %q", msg)
		}
	})

	t.Run("body encodings (D20)", func(t *testing.T) {
		mp := func(fields ...string) (string, string) {
			var b bytes.Buffer
			w := multipart.NewWriter(&b)
			for i := 0; i < len(fields); i += 2 {
				_ = w.WriteField(fields[i], fields[i+1])
			}
			_ = w.Close()
			return w.FormDataContentType(), b.String()
		}
		mpType, mpBody := mp("api.version", "1", "search", "bob", "searchmethod", "exact")
		tests := []struct {
			name, path, ctype, body string
		}{
			{"form", "/json-api/listaccts", form, "api.version=1&search=bob&searchmethod=exact"},
			{"octet-stream", "/json-api/listaccts", "application/octet-stream", "api.version=1&search=bob&searchmethod=exact"},
			{"no content type", "/json-api/listaccts", "", "api.version=1&search=bob&searchmethod=exact"},
			{"text/plain", "/json-api/listaccts", "text/plain", "api.version=1&search=bob&searchmethod=exact"},
			{"query and body merged", "/json-api/listaccts?api.version=1", "", "search=bob&searchmethod=exact"},
			{"multipart", "/json-api/listaccts", mpType, mpBody},
			{"JSON", "/json-api/listaccts", "application/json", `{"api.version":1,"search":"bob","searchmethod":"exact"}`},
			{"cpsess prefix", "/cpsess0123456789/json-api/listaccts", form, "api.version=1&search=bob&searchmethod=exact"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				m := whmOK(t, e.do(t, request{port: p2087, path: tc.path, auth: root, body: tc.body, ctype: tc.ctype}))
				accts, _ := dig(m, "data", "acct").([]any)
				if len(accts) != 1 || str(dig(accts[0].(map[string]any), "user")) != "bob" {
					t.Errorf("listaccts search=bob: %v", m["data"])
				}
			})
		}
	})

	t.Run("UAPI arguments (D20)", func(t *testing.T) {
		for _, tc := range []struct{ name, path, body, ctype string }{
			{"repeated keys in query", "/execute/Variables/get_user_information?name=user&name=domain", "", ""},
			{"numbered keys in query", "/execute/Variables/get_user_information?name-1=domain&name-0=user", "", ""},
			{"octet-stream body", "/execute/Variables/get_user_information", "name=user&name=domain", "application/octet-stream"},
			{"body without content type", "/execute/Variables/get_user_information", "name=user&name=domain", ""},
			{"cpsess prefix", "/cpsess0123456789/execute/Variables/get_user_information?name=user&name=domain", "", ""},
			{"trailing slash", "/execute/Variables/get_user_information/?name=user&name=domain", "", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				m := uapiOK(t, e.do(t, request{port: p2083, path: tc.path, auth: bob, body: tc.body, ctype: tc.ctype}))
				data, _ := m["data"].(map[string]any)
				if len(data) != 2 || data["user"] != "bob" || data["domain"] != "bob.test" {
					t.Errorf("data = %v, want user and domain only", m["data"])
				}
			})
		}
	})

	t.Run("json-api/cpanel trailing slash and question mark (D20)", func(t *testing.T) {
		body := "cpanel_jsonapi_user=bob&cpanel_jsonapi_apiversion=3&cpanel_jsonapi_module=Variables&cpanel_jsonapi_func=get_user_information"
		for _, path := range []string{"/json-api/cpanel/", "/json-api/cpanel?", "/json-api/cpanel/?", "/cpsess0123456789/json-api/cpanel"} {
			m := object(t, e.do(t, request{port: p2087, path: path, auth: root, body: body}))
			if str(dig(m, "result", "status")) != "1" || str(dig(m, "result", "data", "user")) != "bob" {
				t.Errorf("%s: %v", path, m)
			}
		}
	})

	t.Run("cpsess prefix with Basic", func(t *testing.T) {
		whmOK(t, e.do(t, request{port: p2087, path: "/cpsess0123456789/json-api/version?api.version=1", auth: root}))
		whmOK(t, e.do(t, request{port: p2086, path: "/cpsess0123456789/json-api/version?api.version=1", auth: e.authFor(t, "root-hash")}))
		uapiOK(t, e.do(t, request{port: p2083, path: "/cpsess0123456789/execute/Variables/get_user_information", auth: bob}))
		// Not a security token: not an API path.
		for _, path := range []string{"/cpsess012345678/json-api/version?api.version=1", "/cpsessABCDEFGHIJ/json-api/version?api.version=1"} {
			if r := e.do(t, request{port: p2087, path: path, auth: root}); r.status != http.StatusNotFound {
				t.Errorf("%s: status %d, want 404", path, r.status)
			}
		}
	})

	t.Run("headers over the limit", func(t *testing.T) {
		r, err := e.try(request{port: p2087, path: "/json-api/version?api.version=1", auth: root, header: map[string]string{"X-Padding": strings.Repeat("p", 128<<10)}})
		switch {
		case err != nil:
			t.Logf("oversized headers: the connection was closed (%v)", err)
		case r.status < 400 || r.status >= 500:
			t.Errorf("status = %d, want a 4xx", r.status)
		}
		whmOK(t, e.do(t, request{port: p2087, path: "/json-api/version?api.version=1", auth: root}))
	})

	t.Run("bad percent-encoding", func(t *testing.T) {
		r := e.do(t, request{port: p2087, path: "/json-api/version?api.version=1&x=%zz", auth: root})
		if r.status != http.StatusBadRequest || str(dig(object(t, r), "metadata", "result")) != "0" {
			t.Errorf("status %d body %s", r.status, r.body)
		}
	})

	t.Run("paths that are not API paths", func(t *testing.T) {
		// "/" is the login page (session_test.go).
		for _, path := range []string{"/nope", "/json-api", "/execute"} {
			r := e.do(t, request{port: p2087, path: path, auth: root})
			if r.status >= 500 || r.status == http.StatusOK {
				t.Errorf("%s: status %d", path, r.status)
			}
		}
	})

	// Panics are recovered by the middleware; nothing in the API can be
	// made to panic from outside, so there is no end-to-end test of it.
}

// ---------------------------------------------------------------------------
// 6. A refused call changes nothing.

func TestRefusedCallsChangeNothing(t *testing.T) {
	e := startWithFixtures(t)
	// res2: a reseller with list-accts only.
	e.whm1("createacct", "username", "res2", "domain", "res2.test", "password", "Res2-Pass-1")
	e.whm1("setupreseller", "user", "res2")
	e.whm1("setacls", "reseller", "res2", "acl-list-accts", "1")
	e.pass["res2"] = "Res2-Pass-1"
	e.uapi("bob", "Email", "add_pop", "email", "other", "password", "Other-Pass-1")
	e.pass["other@bob.test"] = "Other-Pass-1"
	ctx := context.Background()
	before := map[string]store.Account{}
	for _, u := range []string{"root", "res", "res2", "bob", "carol", "sus"} {
		a, err := e.account(u)
		if err != nil {
			t.Fatal(err)
		}
		before[u] = a
	}
	rootHashBefore := e.accessHashFile(t, "root")
	rootHashRecord, err := e.d.Data.Store.GetAccessHash(ctx, "root")
	if err != nil {
		t.Fatal(err)
	}
	infoBefore, err := e.d.Data.Store.GetMailbox(ctx, "info", "bob.test")
	if err != nil {
		t.Fatal(err)
	}

	wrong := basic("root", "Wrong-Pass-9")
	const (
		d5      = "d5"      // D5 answer
		d2      = "d2"      // D2 answer
		refused = "refused" // envelope with result/status 0
	)
	type tc struct {
		name   string
		port   port
		auth   string
		path   string
		expect string
	}
	var tests []tc
	add := func(name string, p port, who, path, expect string) {
		auth := wrong
		if who != "wrong" {
			auth = e.authFor(t, who)
		}
		tests = append(tests, tc{name, p, auth, path, expect})
	}
	for _, call := range []struct{ name, path string }{
		{"createacct", "/json-api/createacct?api.version=1&username=mallory&domain=mallory.test&password=Mallory-Pass-1"},
		{"createacct reseller", "/json-api/createacct?api.version=1&username=mallory&domain=mallory.test&password=Mallory-Pass-1&reseller=1"},
		{"passwd bob", "/json-api/passwd?api.version=1&user=bob&password=Hacked-Pass-1"},
		{"passwd root", "/json-api/passwd?api.version=1&user=root&password=Hacked-Pass-1"},
		{"removeacct bob", "/json-api/removeacct?api.version=1&user=bob"},
		{"suspendacct bob", "/json-api/suspendacct?api.version=1&user=bob"},
		{"unsuspendacct sus", "/json-api/unsuspendacct?api.version=1&user=sus"},
		{"setacls escalation", "/json-api/setacls?api.version=1&reseller=res&acl-all=1"},
		{"setupreseller bob", "/json-api/setupreseller?api.version=1&user=bob"},
		{"set_tweaksetting", "/json-api/set_tweaksetting?api.version=1&key=allow_deprecated_accesshash&value=0"},
		{"accesshash generate for root", "/json-api/accesshash?api.version=1&user=root&generate=1"},
		{"uapi_cpanel add_pop", "/json-api/uapi_cpanel?api.version=1&cpanel.user=bob&cpanel.module=Email&cpanel.function=add_pop&email=evil&password=Evil-Pass-1"},
		{"cpanel proxy delete_pop", proxy("bob", "3", "Email", "delete_pop", "&email=info@bob.test")},
		// The same through WHM API 0 (D23), with its argument names.
		{"API 0 createacct", "/json-api/createacct?username=mallory&domain=mallory.test&password=Mallory-Pass-1"},
		{"API 0 createacct reseller", "/json-api/createacct?username=mallory&domain=mallory.test&password=Mallory-Pass-1&reseller=1"},
		{"API 0 passwd bob", "/json-api/passwd?user=bob&pass=Hacked-Pass-1"},
		{"API 0 passwd root", "/json-api/passwd?user=root&pass=Hacked-Pass-1"},
		{"API 0 removeacct bob", "/json-api/removeacct?user=bob"},
		{"API 0 removeacct bob by username", "/json-api/removeacct?username=bob"},
		{"API 0 suspendacct bob", "/json-api/suspendacct?user=bob"},
		{"API 0 unsuspendacct sus", "/json-api/unsuspendacct?user=sus"},
		{"API 0 setacls escalation", "/json-api/setacls?reseller=res&acl-all=1"},
		{"API 0 setupreseller bob", "/json-api/setupreseller?user=bob"},
	} {
		add(call.name+" with a wrong password", p2087, "wrong", call.path, d5)
		add(call.name+" as cPanel user on 2087 (D6)", p2087, "bob", call.path, d5)
		add(call.name+" as webmail user on 2087", p2087, "info@bob.test", call.path, d5)
		add(call.name+" as suspended user", p2087, "sus", call.path, d5)
		if !strings.HasPrefix(call.path, "/json-api/cpanel") {
			add(call.name+" as cPanel user on 2083 (D2)", p2083, "bob", call.path, d2)
			add(call.name+" as reseller on 2083 (D2)", p2083, "res", call.path, d2)
		}
		if call.name != "createacct" && call.name != "API 0 createacct" {
			// res may create accounts of its own; everything else here is
			// someone else's or above its privileges.
			add(call.name+" by a reseller who does not own the account", p2087, "res", call.path, refused)
		}
		add(call.name+" by a reseller lacking the ACL", p2087, "res2", call.path, refused)
	}
	add("removeacct carol by a reseller lacking the ACL", p2087, "res2", "/json-api/removeacct?api.version=1&user=carol", refused)
	add("suspend itself", p2087, "res", "/json-api/suspendacct?api.version=1&user=res", refused)
	add("UAPI delete_pop of another account", p2083, "carol", "/execute/Email/delete_pop?email=info@bob.test", refused)
	add("UAPI passwd_pop of another account", p2083, "carol", "/execute/Email/passwd_pop?email=info@bob.test&password=Hacked-Pass-1", refused)
	add("UAPI add_pop on another account's domain", p2083, "carol", "/execute/Email/add_pop?email=evil&domain=bob.test&password=Evil-Pass-1", refused)
	add("UAPI passwd_pop of another mailbox inside webmail", p2096, "other@bob.test", "/execute/Email/passwd_pop?email=info@bob.test&password=Hacked-Pass-1", refused)
	add("UAPI add_pop inside webmail (D4)", p2096, "info@bob.test", "/execute/Email/add_pop?email=evil&password=Evil-Pass-1", refused)
	add("UAPI delete_pop inside webmail (D4)", p2095, "bob", "/execute/Email/delete_pop?email=info@bob.test", refused)
	add("UAPI with a wrong password", p2083, "wrong", "/execute/Email/delete_pop?email=info@bob.test", d5)
	add("API 2 proxy for another user on 2083", p2083, "carol", proxy("bob", "3", "Email", "delete_pop", "&email=info@bob.test"), refused)

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, request{port: tc.port, path: tc.path, auth: tc.auth})
			switch tc.expect {
			case d5:
				assertD5(t, r)
			case d2:
				if r.status != http.StatusForbidden || !strings.HasPrefix(str(dig(object(t, r), "metadata", "reason")), "Permission denied") {
					t.Errorf("want D2, got %d %s", r.status, r.body)
				}
			case refused:
				if r.status != http.StatusOK {
					t.Fatalf("status %d, body %s", r.status, r.body)
				}
				m := object(t, r)
				ok := str(dig(m, "metadata", "result")) == "1" && !strings.HasPrefix(tc.path, "/json-api/uapi_cpanel") ||
					str(m["status"]) == "1" ||
					str(dig(m, "data", "uapi", "status")) == "1" ||
					str(dig(m, "result", "status")) == "1" ||
					api0Succeeded(m)
				if ok {
					t.Errorf("the call succeeded: %s", r.body)
				}
			}
		})
	}

	// Nothing changed.
	for u, want := range before {
		got, err := e.account(u)
		if err != nil {
			t.Errorf("account %s: %v", u, err)
			continue
		}
		if got.PasswordHash != want.PasswordHash || got.Suspended != want.Suspended || got.Reseller != want.Reseller ||
			!slices.Equal(got.ACLs, want.ACLs) || got.Owner != want.Owner {
			t.Errorf("account %s changed:\n got %+v\nwant %+v", u, got, want)
		}
	}
	for _, tc := range []struct{ user, pass string }{{"root", e.rootPass}, {"bob", bobPass}, {"res", resPass}, {"info@bob.test", infoPass}} {
		if !e.checkPassword(tc.user, tc.pass, core.ServiceWebmail) && !e.checkPassword(tc.user, tc.pass, core.ServiceWHM) {
			t.Errorf("%s's old password no longer authenticates", tc.user)
		}
		if e.checkPassword(tc.user, "Hacked-Pass-1", core.ServiceWebmail) || e.checkPassword(tc.user, "Hacked-Pass-1", core.ServiceWHM) {
			t.Errorf("%s's password was changed", tc.user)
		}
	}
	for _, u := range []string{"mallory"} {
		if _, err := e.account(u); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("account %s exists (err %v)", u, err)
		}
	}
	if _, err := e.d.Data.Store.GetMailbox(ctx, "evil", "bob.test"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("mailbox evil@bob.test exists (err %v)", err)
	}
	infoAfter, err := e.d.Data.Store.GetMailbox(ctx, "info", "bob.test")
	if err != nil || infoAfter.PasswordHash != infoBefore.PasswordHash {
		t.Errorf("info@bob.test changed or vanished (err %v)", err)
	}
	if v, err := settings.Get(ctx, e.d.Data.Store, settings.AllowAccessHash); err != nil || v != "1" {
		t.Errorf("allow_deprecated_accesshash = %q, %v; want 1", v, err)
	}
	if e.accessHashFile(t, "root") != rootHashBefore {
		t.Errorf("root's .accesshash file changed")
	}
	if rec, err := e.d.Data.Store.GetAccessHash(ctx, "root"); err != nil || rec.MAC != rootHashRecord.MAC {
		t.Errorf("root's stored access hash changed (err %v)", err)
	}
	// And the old credentials still work over HTTP.
	whmOK(t, e.do(t, request{port: p2087, path: "/json-api/version?api.version=1", auth: e.authFor(t, "root-hash")}))
	uapiOK(t, e.do(t, request{port: p2083, path: p2083.nativePath(), auth: e.authFor(t, "bob")}))
}

// api0Succeeded reports whether a WHM API 0 answer says its call
// succeeded: status 1 in the first entry of its "result" or "passwd" list.
func api0Succeeded(m map[string]any) bool {
	for _, k := range []string{"result", "passwd"} {
		if list, ok := m[k].([]any); ok && len(list) > 0 {
			if entry, ok := list[0].(map[string]any); ok && str(entry["status"]) == "1" {
				return true
			}
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// 7. Concurrency.

func TestConcurrentCalls(t *testing.T) {
	e := startWithFixtures(t)
	rootAuth, resAuth, bobAuth, infoAuth, hashAuth := e.authFor(t, "root"), e.authFor(t, "res"), e.authFor(t, "bob"), e.authFor(t, "info@bob.test"), e.authFor(t, "root-hash")
	type call struct {
		req   request
		check func(m map[string]any) bool
	}
	resultOK := func(m map[string]any) bool { return str(dig(m, "metadata", "result")) == "1" }
	statusOK := func(m map[string]any) bool { return str(m["status"]) == "1" }
	var calls []call
	for i := 0; i < 20; i++ {
		switch i % 5 {
		case 0:
			calls = append(calls, call{request{port: p2087, path: "/json-api/version?api.version=1", auth: rootAuth}, resultOK})
		case 1:
			calls = append(calls, call{request{port: p2086, path: "/json-api/listaccts?api.version=1", auth: resAuth}, resultOK})
		case 2:
			calls = append(calls, call{request{port: p2083, path: "/execute/Email/add_pop", auth: bobAuth, ctype: form,
				body: fmt.Sprintf("email=box%02d&password=Box-Pass-%02d", i, i)}, statusOK})
		case 3:
			calls = append(calls, call{request{port: p2096, path: "/execute/Variables/get_user_information", auth: infoAuth}, statusOK})
		case 4:
			calls = append(calls, call{request{port: p2087, path: "/json-api/accountsummary?api.version=1&user=bob", auth: hashAuth}, resultOK})
		}
	}
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.try(c.req)
			if err != nil {
				errs[i] = err
				return
			}
			var m map[string]any
			if r.status != http.StatusOK || json.Unmarshal(r.body, &m) != nil || !c.check(m) {
				errs[i] = fmt.Errorf("%s on %s: status %d, body %s", c.req.path, c.req.port, r.status, r.body)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	boxes, err := e.d.Data.Store.ListMailboxes(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range boxes {
		names = append(names, b.Local)
	}
	sort.Strings(names)
	if want := []string{"box02", "box07", "box12", "box17", "info"}; !slices.Equal(names, want) {
		t.Errorf("bob's mailboxes = %v, want %v", names, want)
	}
}
