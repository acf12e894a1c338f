package logmein_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"

	"github.com/cpauth/cpauth/client/logmein"
)

// fakeServer answers /login/?login_only=1 as cPanel & WHM and cpauth do,
// for user bob with password s3cret: a session cookie and the security
// token, or 401 and invalid_login.
func fakeServer() *httptest.Server {
	return httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/login/" && r.FormValue("user") == "bob" && r.FormValue("pass") == "s3cret" {
			w.Header().Add("Set-Cookie", "cpsession=bob%3aAbCdEfGhIjKlMnOp%2c0123456789abcdef0123456789abcdef; HttpOnly; Path=/; Secure")
			fmt.Fprint(w, `{"status":1,"security_token":"/cpsess0123456789","redirect":"/cpsess0123456789/"}`)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"status":0,"message":"invalid_login"}`)
	}))
}

func hostPort(s *httptest.Server) (string, int) {
	host, port, _ := net.SplitHostPort(s.Listener.Addr().String())
	n, _ := strconv.Atoi(port)
	return host, n
}

// Log in to cPanel as bob and print the URL that logs a browser in. Against
// a real server, leave Port and HTTPClient out (2083 and verified TLS).
func Example() {
	srv := fakeServer()
	defer srv.Close()
	host, port := hostPort(srv)

	u, token, err := logmein.GetLoggedInURL(context.Background(), logmein.Options{
		User: "bob", Pass: "s3cret", Host: host, Port: port, Service: "cpanel",
		GotoURI:    "/frontend/jupiter/email_accounts/index.html",
		HTTPClient: srv.Client(), // trusts the test server's certificate
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(token)
	fmt.Println(strings.TrimPrefix(u, srv.URL))
	// Output:
	// /cpsess0123456789
	// /cpsess0123456789/login/?session=bob%3aAbCdEfGhIjKlMnOp%2c0123456789abcdef0123456789abcdef&goto_uri=%2Ffrontend%2Fjupiter%2Femail_accounts%2Findex.html
}

// A wrong password is ErrBadLogin; a host that does not answer an
// *UnreachableError.
func Example_errors() {
	srv := fakeServer()
	defer srv.Close()
	host, port := hostPort(srv)
	ctx := context.Background()

	_, _, err := logmein.GetLoggedInURL(ctx, logmein.Options{User: "bob", Pass: "wrong", Host: host, Port: port, HTTPClient: srv.Client()})
	fmt.Println(errors.Is(err, logmein.ErrBadLogin))

	srv.Close()
	_, _, err = logmein.GetLoggedInURL(ctx, logmein.Options{User: "bob", Pass: "s3cret", Host: host, Port: port, HTTPClient: srv.Client()})
	var unreachable *logmein.UnreachableError
	fmt.Println(errors.As(err, &unreachable))
	// Output:
	// true
	// true
}
