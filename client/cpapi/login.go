package cpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// LoginOptions are the fields of a browser login.
type LoginOptions struct {
	// User is the login name (Webmail: the email address), Pass its
	// password.
	User, Pass string
	// TFAToken is the current two-factor code, when the account has
	// two-factor authentication.
	TFAToken string
	// GotoURI is where the browser would land (default "/").
	GotoURI string
	// ActiveTokenForReuse asks the server to keep an active security
	// token (Cpanel::LogMeIn's active_token_for_reuse); cpauth always
	// issues a new one.
	ActiveTokenForReuse string
}

// LoginError is a refused login whose message is neither invalid_login nor
// a two-factor code: the server's message code, or what was wrong with the
// answer.
type LoginError struct {
	Status  int
	Message string
}

func (e *LoginError) Error() string {
	return fmt.Sprintf("cpapi: login refused (HTTP %d): %s", e.Status, e.Message)
}

// sessionCookieRE finds the session cookie among the Set-Cookie headers
// as Cpanel::LogMeIn does: whichever of cpsession, whostmgrsession and
// webmailsession it is.
var sessionCookieRE = regexp.MustCompile(`session=([^;]+)`)

// Login logs in as a browser does (POST /login/?login_only=1 with user,
// pass, goto_uri, active_token_for_reuse and tfa_token) and returns the
// session: the cookie value and the security token. A wrong user name or
// password returns ErrBadLogin, a missing or wrong two-factor code
// ErrTwoFactorRequired.
func (c *Client) Login(ctx context.Context, o LoginOptions) (*Session, error) {
	gotoURI := o.GotoURI
	if gotoURI == "" {
		gotoURI = "/"
	}
	reuse := o.ActiveTokenForReuse
	if reuse == "" {
		reuse = "0"
	}
	form := url.Values{"user": {o.User}, "pass": {o.Pass}, "goto_uri": {gotoURI}, "active_token_for_reuse": {reuse}}
	if o.TFAToken != "" {
		form.Set("tfa_token", o.TFAToken)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL()+"/login/?login_only=1", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("cpapi: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Close = true // one request: Cpanel::LogMeIn sends Connection: close
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, transportError(c.Host, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, &UnreachableError{Host: c.Host, Err: err}
	}
	var answer struct {
		Status        Flag   `json:"status"`
		Message       string `json:"message"`
		SecurityToken string `json:"security_token"`
	}
	jsonErr := json.Unmarshal(body, &answer)
	cookie := ""
	for _, line := range resp.Header.Values("Set-Cookie") {
		if m := sessionCookieRE.FindStringSubmatch(line); m != nil {
			cookie = m[1]
			break
		}
	}
	ok := resp.StatusCode >= 200 && resp.StatusCode < 400
	if ok && cookie != "" && jsonErr == nil && answer.Status == 1 {
		return &Session{Service: c.Service, Cookie: cookie, Token: answer.SecurityToken}, nil
	}
	switch {
	case jsonErr != nil:
		return nil, &LoginError{Status: resp.StatusCode, Message: "status: parse-error: " + clip(string(body))}
	case answer.Message == "invalid_login":
		return nil, ErrBadLogin
	case answer.Message == "tfa_required" || answer.Message == "tfa_invalid":
		return nil, fmt.Errorf("%w (%s)", ErrTwoFactorRequired, answer.Message)
	case answer.Message == "":
		return nil, &LoginError{Status: resp.StatusCode, Message: "no session in the answer"}
	}
	return nil, &LoginError{Status: resp.StatusCode, Message: answer.Message}
}

// Logout ends the session (GET <token>/logout/).
func (c *Client) Logout(ctx context.Context) error {
	s, ok := c.Auth.(*Session)
	if !ok {
		return fmt.Errorf("cpapi: Logout needs a *Session as Auth")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL()+s.Token+"/logout/", nil)
	if err != nil {
		return fmt.Errorf("cpapi: %w", err)
	}
	s.apply(req)
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return transportError(c.Host, err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return &HTTPError{Status: resp.StatusCode}
	}
	return nil
}
