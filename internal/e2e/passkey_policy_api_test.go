package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cpauth/cpauth/internal/settings"
)

// TestPasskeyPolicyAPI: under the phishing-resistant policy a covered
// user's password no longer calls the WHM API, whatever code it carries
// (the password and code a phishing page captures would otherwise do at
// once what the policy forbids at the login page); tokens and access
// hashes, which are not typed into login pages, are unaffected.
func TestPasskeyPolicyAPI(t *testing.T) {
	e := startPasskeys(t)
	// Two-factor authentication on for API requests too, so that a
	// password call takes X-CPANEL-OTP without the passkey policy.
	e.setSetting(t, settings.TwoFactorPolicy, "1")
	e.setSetting(t, settings.APIPolicy, "1")
	rootTFA := e.enroll(t, "root")
	resTFA := e.enroll(t, "res")
	token := "whm root:" + str(e.whm1("api_token_create", "token_name", "policy").Data.(map[string]any)["token"])
	rootHash := e.authFor(t, "root-hash")

	const (
		whm1 = "/json-api/version?api.version=1"
		whm0 = "/json-api/version"
	)
	tests := []struct {
		name     string
		policy   string // the setting turned on, "" for none
		port     port
		auth     func() string
		code     *tfa
		path     string
		want     int
		refusedP bool // answered with the passkey message
	}{
		{"root password and a right code, policy on, WHM API 1", settings.RequirePasskeyRoot, p2087, func() string { return e.authFor(t, "root") }, &rootTFA, whm1, http.StatusUnauthorized, true},
		{"root password and a right code, policy on, WHM API 0", settings.RequirePasskeyRoot, p2087, func() string { return e.authFor(t, "root") }, &rootTFA, whm0, http.StatusUnauthorized, true},
		{"root password and a right code, policy on, plain port", settings.RequirePasskeyRoot, p2086, func() string { return e.authFor(t, "root") }, &rootTFA, whm1, http.StatusUnauthorized, true},
		{"root password without a code, policy on", settings.RequirePasskeyRoot, p2087, func() string { return e.authFor(t, "root") }, nil, whm1, http.StatusUnauthorized, true},
		{"root password and a right code, no policy", "", p2087, func() string { return e.authFor(t, "root") }, &rootTFA, whm1, http.StatusOK, false},
		{"root token, policy on", settings.RequirePasskeyRoot, p2087, func() string { return token }, nil, whm1, http.StatusOK, false},
		{"root access hash, policy on", settings.RequirePasskeyRoot, p2087, func() string { return rootHash }, nil, whm1, http.StatusOK, false},
		{"reseller password and a right code, resellers' policy on", settings.RequirePasskeyResellers, p2087, func() string { return e.authFor(t, "res") }, &resTFA, whm1, http.StatusUnauthorized, true},
		{"reseller password and a right code, only root's policy on", settings.RequirePasskeyRoot, p2087, func() string { return e.authFor(t, "res") }, &resTFA, whm1, http.StatusOK, false},
		{"root password and a right code, only the resellers' policy on", settings.RequirePasskeyResellers, p2087, func() string { return e.authFor(t, "root") }, &rootTFA, whm1, http.StatusOK, false},
		{"reseller password on cPanel, resellers' policy on", settings.RequirePasskeyResellers, p2083, func() string { return e.authFor(t, "res") }, &resTFA, "/execute/Variables/get_user_information", http.StatusOK, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.setSetting(t, settings.RequirePasskeyRoot, "0")
			e.setSetting(t, settings.RequirePasskeyResellers, "0")
			if tc.policy != "" {
				e.setSetting(t, tc.policy, "1")
			}
			h := map[string]string{}
			if tc.code != nil {
				h[otp] = e.code(t, *tc.code)
			}
			r := e.do(t, request{port: tc.port, path: tc.path, auth: tc.auth(), header: h})
			if r.status != tc.want {
				t.Fatalf("status %d, want %d; body %.300s", r.status, tc.want, r.body)
			}
			said := strings.Contains(string(r.body), "WHM requires a passkey for this account")
			if said != tc.refusedP {
				t.Fatalf("passkey message %v, want %v; body %.500s", said, tc.refusedP, r.body)
			}
			if tc.refusedP && !strings.Contains(string(r.body), "<form") {
				t.Fatalf("the refusal is not the login page: %.300s", r.body)
			}
		})
	}
	// A JSON login (login_only) with the password and a right code is
	// refused alike, and audited (root has a passkey by then).
	e.setSetting(t, settings.RequirePasskeyResellers, "0")
	s := e.pkLogin(t, p2087, "root", e.rootPass, e.code(t, rootTFA))
	e.register(t, s, "Key", "pass", e.rootPass)
	e.setSetting(t, settings.RequirePasskeyRoot, "1")
	r := e.pkPost(t, p2087, nil, "/login/?login_only=1", loginForm("user", "root", "pass", e.rootPass, "tfa_token", e.code(t, rootTFA)), "")
	if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), `"passkey_required"`) || strings.Contains(string(r.body), "security_token") {
		t.Fatalf("login_only under the policy: %d %s", r.status, r.body)
	}
	if !strings.Contains(e.log.String(), "password API call refused: the phishing-resistant policy requires a passkey") ||
		!strings.Contains(e.log.String(), "login refused: the phishing-resistant policy requires a passkey") {
		t.Fatal("the refusal was not logged")
	}
	found, foundLogin := false, false
	for _, l := range auditLines(t, e, "password") {
		if strings.Contains(l, "a password cannot call the API") && strings.Contains(l, `"failure"`) {
			found = true
		}
		if strings.Contains(l, "a password cannot log in without a browser") && strings.Contains(l, `"failure"`) {
			foundLogin = true
		}
	}
	if !found || !foundLogin {
		t.Fatalf("the refusals were not audited (API %v, login_only %v)", found, foundLogin)
	}
}
