package sessions_test

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/secret"
	"github.com/cpauth/cpauth/internal/sessions"
	"github.com/cpauth/cpauth/internal/store"
)

var oneTimeRE = regexp.MustCompile(`^([^:,]+):[A-Za-z0-9_]{16}:(create_user_session|CREATE_WEBMAIL_SESSION_FOR_SELF|CREATE_WEBMAIL_SESSION_FOR_MAIL_USER),[0-9a-f]{32}$`)

func TestNewOneTimeID(t *testing.T) {
	for _, tag := range []string{sessions.TagSSO, sessions.TagWebmailSelf, sessions.TagWebmailMailbox} {
		for _, user := range []string{"root", "bob", "info@bob.test"} {
			id, err := sessions.NewOneTimeID(user, tag)
			if err != nil {
				t.Fatal(err)
			}
			if m := oneTimeRE.FindStringSubmatch(id); m == nil || m[1] != user || m[2] != tag {
				t.Fatalf("NewOneTimeID(%q, %q) = %q", user, tag, id)
			}
			r, ok := sessions.ParseRedemption(sessions.EncodeCookie(id))
			if !ok || r.ID != id || r.User != user || r.Tag != tag {
				t.Fatalf("ParseRedemption(EncodeCookie(%q)) = %+v, %v", id, r, ok)
			}
			if _, _, ok := sessions.ParseCookie(sessions.EncodeCookie(id)); ok {
				t.Fatalf("a one-time id %q parses as a cookie", id)
			}
		}
	}
	if _, err := sessions.NewOneTimeID("bob", "login"); err == nil {
		t.Error("an unknown tag was accepted")
	}
	if _, err := sessions.NewOneTimeID("b:ob", sessions.TagSSO); err == nil {
		t.Error("a user name with ':' was accepted")
	}
}

// redemptionTable seeds FuzzParseRedemption too.
var redemptionTable = []struct {
	name  string
	value string
	want  sessions.Redemption // zero when refused
}{
	{"single sign-on, decoded", "root:gRJ5lhG0d1eyZ1Ud:create_user_session,4987a177010f965201681fd6e2e4a2d5",
		sessions.Redemption{ID: "root:gRJ5lhG0d1eyZ1Ud:create_user_session,4987a177010f965201681fd6e2e4a2d5", User: "root", Tag: sessions.TagSSO}},
	{"single sign-on, percent-encoded", "root%3agRJ5lhG0d1eyZ1Ud%3acreate_user_session%2c4987a177010f965201681fd6e2e4a2d5",
		sessions.Redemption{ID: "root:gRJ5lhG0d1eyZ1Ud:create_user_session,4987a177010f965201681fd6e2e4a2d5", User: "root", Tag: sessions.TagSSO}},
	{"webmail hand-off", "info@bob.test:D7NiAZv1nf4bXeg9:CREATE_WEBMAIL_SESSION_FOR_MAIL_USER,728f00000000000000000000000f3137",
		sessions.Redemption{ID: "info@bob.test:D7NiAZv1nf4bXeg9:CREATE_WEBMAIL_SESSION_FOR_MAIL_USER,728f00000000000000000000000f3137", User: "info@bob.test", Tag: sessions.TagWebmailMailbox}},
	{"a normal session (secure remote login)", "bob%3agRJ5lhG0d1eyZ1Ud%2c4987a177010f965201681fd6e2e4a2d5",
		sessions.Redemption{ID: "bob:gRJ5lhG0d1eyZ1Ud,4987a177010f965201681fd6e2e4a2d5", User: "bob"}},
	{"unknown tag", "root:gRJ5lhG0d1eyZ1Ud:login,4987a177010f965201681fd6e2e4a2d5", sessions.Redemption{}},
	{"tag in the wrong case", "root:gRJ5lhG0d1eyZ1Ud:CREATE_USER_SESSION,4987a177010f965201681fd6e2e4a2d5", sessions.Redemption{}},
	{"two tags", "root:gRJ5lhG0d1eyZ1Ud:create_user_session:create_user_session,4987a177010f965201681fd6e2e4a2d5", sessions.Redemption{}},
	{"short random part", "root:gRJ5lhG0d1eyZ1U:create_user_session,4987a177010f965201681fd6e2e4a2d5", sessions.Redemption{}},
	{"truncated hex", "root:gRJ5lhG0d1eyZ1Ud:create_user_session,4987a177010f965201681fd6e2e4a2d", sessions.Redemption{}},
	{"upper-case hex", "root:gRJ5lhG0d1eyZ1Ud:create_user_session,4987A177010F965201681FD6E2E4A2D5", sessions.Redemption{}},
	{"no user", ":gRJ5lhG0d1eyZ1Ud:create_user_session,4987a177010f965201681fd6e2e4a2d5", sessions.Redemption{}},
	{"tag without random part", "root:create_user_session,4987a177010f965201681fd6e2e4a2d5", sessions.Redemption{}},
	{"CR LF in the user", "ro%0d%0aot:gRJ5lhG0d1eyZ1Ud:create_user_session,4987a177010f965201681fd6e2e4a2d5", sessions.Redemption{}},
	{"NUL in the user", "ro%00ot:gRJ5lhG0d1eyZ1Ud:create_user_session,4987a177010f965201681fd6e2e4a2d5", sessions.Redemption{}},
	{"bad escape", "root%3xgRJ5lhG0d1eyZ1Ud:create_user_session,4987a177010f965201681fd6e2e4a2d5", sessions.Redemption{}},
	{"trailing percent", "root:gRJ5lhG0d1eyZ1Ud:create_user_session,4987a177010f965201681fd6e2e4a2d5%", sessions.Redemption{}},
	{"empty", "", sessions.Redemption{}},
	{"too long", strings.Repeat("a", sessions.MaxRedemptionLen+1), sessions.Redemption{}},
}

func TestParseRedemption(t *testing.T) {
	for _, tc := range redemptionTable {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := sessions.ParseRedemption(tc.value)
			if ok != (tc.want.ID != "") || got != tc.want {
				t.Errorf("ParseRedemption(%q) = %+v, %v; want %+v", tc.value, got, ok, tc.want)
			}
		})
	}
}

// FuzzParseRedemption: whatever the session= value, the parser accepts only
// ids the server makes (normal or one-time), with a user free of control
// bytes, and what it accepts parses back the same from its encoding.
func FuzzParseRedemption(f *testing.F) {
	for _, tc := range redemptionTable {
		f.Add(tc.value)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r, ok := sessions.ParseRedemption(v)
		if !ok {
			if r != (sessions.Redemption{}) {
				t.Fatalf("refused %q gave %+v", v, r)
			}
			return
		}
		if r.Tag == "" {
			if m := idRE.FindStringSubmatch(r.ID); m == nil || m[1] != r.User {
				t.Fatalf("accepted %q as %+v: not an id NewID makes", v, r)
			}
		} else if m := oneTimeRE.FindStringSubmatch(r.ID); m == nil || m[1] != r.User || m[2] != r.Tag {
			t.Fatalf("accepted %q as %+v: not an id NewOneTimeID makes", v, r)
		}
		for i := 0; i < len(r.User); i++ {
			if r.User[i] < 0x20 || r.User[i] == 0x7f {
				t.Fatalf("accepted a control byte in the user of %q", v)
			}
		}
		if r2, ok := sessions.ParseRedemption(sessions.EncodeCookie(r.ID)); !ok || r2 != r {
			t.Fatalf("the encoding of %q does not parse back: %+v, %v", r.ID, r2, ok)
		}
	})
}

func TestCreateOneTimeAndSuccessor(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	key, _ := secret.NewKey()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	m := &sessions.Manager{Store: st, Key: key, Now: func() time.Time { return now }, SSOIdleTimeout: 7 * time.Minute}
	n, err := m.CreateOneTime(ctx, sessions.OneTime{
		User: "bob", Account: "bob", Service: core.ServiceCPanel, Tag: sessions.TagSSO, Method: sessions.MethodSSO,
		Creator: "root", Bind: netip.MustParseAddr("::ffff:192.0.2.9"), Locale: "fr", GotoURI: "/tokens/",
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.GetSession(ctx, sessions.IDHash(key, n.ID))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, n.Session) || got.Kind != store.SessionOneTime || !got.TFAVerified || got.Origin != "192.0.2.9" || got.Creator != "root" ||
		got.Locale != "fr" || got.GotoURI != "/tokens/" || !got.Expires.Equal(now.Add(sessions.OneTimeLifetime)) {
		t.Errorf("stored %+v\nreturned %+v", got, n.Session)
	}
	// The successor keeps the token once the one-time session is consumed.
	succ := sessions.Successor{
		Principal: core.Principal{User: "bob", Role: core.RoleCPanel, Account: "bob"}, Service: core.ServiceCPanel,
		Origin: netip.MustParseAddr("198.51.100.4"), SecurityToken: got.SecurityToken, Method: got.Method, Creator: got.Creator, TFAVerified: true,
	}
	if _, err := m.CreateSuccessor(ctx, succ); err == nil {
		t.Error("a successor took the token of a session still stored")
	}
	if _, err := st.ConsumeSession(ctx, got.IDHash); err != nil {
		t.Fatal(err)
	}
	s, err := m.CreateSuccessor(ctx, succ)
	if err != nil {
		t.Fatal(err)
	}
	if s.Session.Kind != store.SessionNormal || s.Session.SecurityToken != got.SecurityToken || s.Session.IdleTimeout != 7*time.Minute ||
		!s.Session.TFAVerified || s.Session.Origin != "198.51.100.4" || s.Session.Creator != "root" || s.ID == n.ID {
		t.Errorf("successor %+v", s.Session)
	}
	if _, _, ok := sessions.ParseCookie(sessions.EncodeCookie(s.ID)); !ok {
		t.Errorf("the successor's id %q is not a cookie", s.ID)
	}
	if _, err := m.CreateSuccessor(ctx, sessions.Successor{SecurityToken: "x"}); err == nil {
		t.Error("a successor without a security token was made")
	}
	// An unknown account: the store refuses, CreateOneTime says so.
	_, err = m.CreateOneTime(ctx, sessions.OneTime{User: "nobody", Account: "nobody", Service: core.ServiceCPanel, Tag: sessions.TagSSO, Method: sessions.MethodSSO})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("one-time session of an unknown account: %v", err)
	}
}
