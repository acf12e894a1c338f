package cpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"

	"github.com/cpauth/cpauth/client/cpapi"
)

// fakeWHM answers a few calls as cPanel & WHM and cpauth do: WHM API 1
// version for root's API token, UAPI Variables::get_user_information for
// bob's session, and D5's "Access denied" for anything else.
func fakeWHM() *httptest.Server {
	return httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", `application/json; charset="utf-8"`)
		switch {
		case r.URL.Path == "/json-api/version" && r.Header.Get("Authorization") == "whm root:TOKEN123" && r.FormValue("api.version") == "1":
			fmt.Fprint(w, `{"data":{"version":"11.134.0.0"},"metadata":{"command":"version","reason":"OK","result":1,"version":1}}`)
		case r.URL.Path == "/json-api/accountsummary" && r.Header.Get("Authorization") == "whm root:TOKEN123":
			fmt.Fprint(w, `{"metadata":{"command":"accountsummary","reason":"The user “nobody” does not exist.","result":0,"version":1}}`)
		case r.URL.Path == "/login/" && r.FormValue("user") == "bob" && r.FormValue("pass") == "s3cret":
			w.Header().Add("Set-Cookie", "cpsession=bob%3aAbCdEfGhIjKlMnOp%2c0123456789abcdef0123456789abcdef; HttpOnly; Path=/")
			fmt.Fprint(w, `{"status":1,"security_token":"/cpsess0123456789","redirect":"/cpsess0123456789/"}`)
		case r.URL.Path == "/cpsess0123456789/execute/Variables/get_user_information" && cookie(r) == "bob%3aAbCdEfGhIjKlMnOp%2c0123456789abcdef0123456789abcdef":
			fmt.Fprint(w, `{"data":{"user":"bob","domain":"bob.test"},"errors":null,"messages":null,"metadata":{},"status":1,"warnings":null}`)
		default:
			w.Header().Set("Content-Type", `text/plain; charset="utf-8"`)
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"cpanelresult":{"apiversion":"2","error":"Access denied","data":{"reason":"Access denied","result":"0"},"type":"text"}}`)
		}
	}))
}

func cookie(r *http.Request) string {
	c, err := r.Cookie("cpsession")
	if err != nil {
		return ""
	}
	return c.Value
}

func hostPort(s *httptest.Server) (string, int) {
	host, port, _ := net.SplitHostPort(s.Listener.Addr().String())
	n, _ := strconv.Atoi(port)
	return host, n
}

// Call WHM API 1 with an API token. Against a real server, leave Port and
// HTTPClient out (2087 and verified TLS).
func ExampleClient_WHM1() {
	srv := fakeWHM()
	defer srv.Close()
	host, port := hostPort(srv)
	whm := &cpapi.Client{Host: host, Port: port, Service: cpapi.WHM, Auth: cpapi.WHMToken{User: "root", Token: "TOKEN123"}, HTTPClient: srv.Client()}

	res, err := whm.WHM1(context.Background(), "version", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	var data struct{ Version string }
	_ = json.Unmarshal(res.Data, &data)
	fmt.Println(res.Metadata.Reason, data.Version)

	// A function that fails is an *APIError with the envelope's reason.
	_, err = whm.WHM1(context.Background(), "accountsummary", url.Values{"user": {"nobody"}})
	var apiErr *cpapi.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.Reason)
	}
	// A refused credential is ErrAccessDenied.
	whm.Auth = cpapi.WHMToken{User: "root", Token: "WRONG"}
	_, err = whm.WHM1(context.Background(), "version", nil)
	fmt.Println(errors.Is(err, cpapi.ErrAccessDenied))
	// Output:
	// OK 11.134.0.0
	// The user “nobody” does not exist.
	// true
}

// Log in as a browser does and call UAPI with the session: the cookie, and
// the security token in front of every path.
func ExampleClient_Login() {
	srv := fakeWHM()
	defer srv.Close()
	host, port := hostPort(srv)
	ctx := context.Background()
	c := &cpapi.Client{Host: host, Port: port, Service: cpapi.CPanel, HTTPClient: srv.Client()}

	s, err := c.Login(ctx, cpapi.LoginOptions{User: "bob", Pass: "s3cret"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Token)
	c.Auth = s
	res, err := c.UAPI(ctx, "Variables", "get_user_information", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	var info struct{ User, Domain string }
	_ = json.Unmarshal(res.Data, &info)
	fmt.Println(info.User, info.Domain)
	// Output:
	// /cpsess0123456789
	// bob bob.test
}
