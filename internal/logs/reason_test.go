package logs

import "testing"

func TestReasonCode(t *testing.T) {
	tests := []struct {
		name, result, reason, want string
	}{
		{"success", "success", "", "ok"},
		{"blocked address", "blocked", "address blocked by cPHulk until 2026-11-29T13:09:56Z", "blocked_address"},
		{"wrong password", "failure", "user password incorrect", "bad_password"},
		{"password too long (D31)", "failure", "password longer than 1024 bytes", "bad_password"},
		{"password check without a turn", "failure", "password not checked: too many password checks at once", "not_checked"},
		{"unknown user", "failure", "invalid user", "unknown_user"},
		{"two-factor code missing", "failure", "two-factor code required", "tfa_required"},
		{"session waiting for its code", "failure", "session not two-factor verified", "tfa_required"},
		{"wrong code", "failure", "wrong or used two-factor code", "bad_tfa_code"},
		{"replayed code", "failure", "two-factor code already used", "bad_tfa_code"},
		{"rate limit", "failure", "too many wrong codes for this user (rate limit)", "tfa_rate_limited"},
		{"bad token", "failure", "unknown API token", "bad_token"},
		{"one-time session spent", "failure", "no such session (used, expired or never made)", "bad_session"},
		{"anything else", "failure", "who knows", "failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ReasonCode(tc.result, tc.reason); got != tc.want {
				t.Errorf("ReasonCode(%q, %q) = %q, want %q", tc.result, tc.reason, got, tc.want)
			}
		})
	}
}
