package auth_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/cpauth/cpauth/internal/auth"
)

func b64(s string) string    { return base64.StdEncoding.EncodeToString([]byte(s)) }
func b64raw(s string) string { return base64.RawStdEncoding.EncodeToString([]byte(s)) }

// accessHashFile is a 960-character access hash in its 30-line file form.
var (
	accessHash     = strings.Repeat("0123456789abcdef", 60)
	accessHashFile = func() string {
		var b strings.Builder
		for i := 0; i < len(accessHash); i += 32 {
			b.WriteString(accessHash[i : i+32])
			b.WriteString("\n")
		}
		return b.String()
	}()
)

type headerCase struct {
	name    string
	header  string
	want    auth.Credential
	wantErr error
}

func headerCases() []headerCase {
	ok := func(s auth.Scheme, user, secret string) auth.Credential {
		return auth.Credential{Scheme: s, User: user, Secret: secret}
	}
	basic, whm, cpanel := auth.SchemeBasic, auth.SchemeWHM, auth.SchemeCPanel
	// A base64 value long enough to wrap, with CR/LF inside as MIME encoders
	// write it.
	longPW := strings.Repeat("p", 80)
	longB64 := b64("bob:" + longPW)
	wrapped := longB64[:76] + "\r\n" + longB64[76:]

	return []headerCase{
		// Basic.
		{"basic std base64", "Basic " + b64("bob:secret"), ok(basic, "bob", "secret"), nil},
		{"basic unpadded base64", "Basic " + b64raw("bob:secre"), ok(basic, "bob", "secre"), nil},
		{"basic unpadded needs no padding", "Basic " + b64raw("bob:secret"), ok(basic, "bob", "secret"), nil},
		{"basic base64 with CRLF inside", "Basic " + wrapped, ok(basic, "bob", longPW), nil},
		{"basic base64 with LF inside", "Basic " + longB64[:10] + "\n" + longB64[10:], ok(basic, "bob", longPW), nil},
		{"basic base64 with spaces inside", "Basic " + longB64[:10] + " " + longB64[10:], ok(basic, "bob", longPW), nil},
		{"basic password containing colon", "Basic " + b64("bob:se:cr:et"), ok(basic, "bob", "se:cr:et"), nil},
		{"basic password is a colon", "Basic " + b64("bob::"), ok(basic, "bob", ":"), nil},
		{"basic password with spaces", "Basic " + b64("bob: sec ret "), ok(basic, "bob", " sec ret "), nil},
		{"basic non-ascii password", "Basic " + b64("bob:pässwörd"), ok(basic, "bob", "pässwörd"), nil},
		{"basic webmail user", "Basic " + b64("info@example.com:secret"), ok(basic, "info@example.com", "secret"), nil},
		{"basic several spaces after scheme", "Basic   " + b64("bob:secret"), ok(basic, "bob", "secret"), nil},
		{"basic lowercase", "basic " + b64("bob:secret"), ok(basic, "bob", "secret"), nil},
		{"basic uppercase", "BASIC " + b64("bob:secret"), ok(basic, "bob", "secret"), nil},
		{"basic mixed case", "bAsIc " + b64("bob:secret"), ok(basic, "bob", "secret"), nil},
		{"basic bad base64", "Basic !!!not-base64!!!", auth.Credential{}, auth.ErrBadBase64},
		{"basic url-safe base64 refused", "Basic " + base64.URLEncoding.EncodeToString([]byte("bob:s?>?>")), auth.Credential{}, auth.ErrBadBase64},
		{"basic empty", "Basic ", auth.Credential{}, auth.ErrMalformed},
		{"basic missing colon", "Basic " + b64("bobsecret"), auth.Credential{}, auth.ErrMalformed},
		{"basic empty user", "Basic " + b64(":secret"), auth.Credential{}, auth.ErrEmptySecret},
		{"basic empty password", "Basic " + b64("bob:"), auth.Credential{}, auth.ErrEmptySecret},
		{"basic only colon", "Basic " + b64(":"), auth.Credential{}, auth.ErrEmptySecret},
		// CVE-2026-41940: CR/LF inside the decoded password.
		{"basic CRLF in password", "Basic " + b64("root:x\r\nhasroot=1"), auth.Credential{}, auth.ErrControlBytes},
		{"basic LF in password", "Basic " + b64("root:x\nhasroot=1"), auth.Credential{}, auth.ErrControlBytes},
		{"basic CR in user", "Basic " + b64("ro\rot:x"), auth.Credential{}, auth.ErrControlBytes},
		{"basic NUL in password", "Basic " + b64("bob:se\x00cret"), auth.Credential{}, auth.ErrControlBytes},
		{"basic NUL in user", "Basic " + b64("bob\x00:secret"), auth.Credential{}, auth.ErrControlBytes},
		{"basic SOH in password", "Basic " + b64("bob:\x01secret"), auth.Credential{}, auth.ErrControlBytes},
		{"basic TAB in password", "Basic " + b64("bob:sec\tret"), auth.Credential{}, auth.ErrControlBytes},
		{"basic TAB in user", "Basic " + b64("b\tob:secret"), auth.Credential{}, auth.ErrControlBytes},
		{"basic DEL in password", "Basic " + b64("bob:secret\x7f"), auth.Credential{}, auth.ErrControlBytes},
		{"basic DEL in user", "Basic " + b64("\x7fbob:secret"), auth.Credential{}, auth.ErrControlBytes},
		{"basic ESC in password", "Basic " + b64("bob:\x1b[0m"), auth.Credential{}, auth.ErrControlBytes},
		{"basic control beats empty user", "Basic " + b64(":\x00"), auth.Credential{}, auth.ErrControlBytes},

		// WHM (access hash or API token).
		{"whm token", "whm root:ABCDEF0123456789ABCDEF0123456789", ok(whm, "root", "ABCDEF0123456789ABCDEF0123456789"), nil},
		{"whm uppercase", "WHM root:tok", ok(whm, "root", "tok"), nil},
		{"whm titlecase", "Whm root:tok", ok(whm, "root", "tok"), nil},
		{"whm mixed case", "wHm root:tok", ok(whm, "root", "tok"), nil},
		{"whm access hash one line", "whm root:" + accessHash, ok(whm, "root", accessHash), nil},
		{"whm access hash file form (LF)", "whm root:" + accessHashFile, ok(whm, "root", accessHash), nil},
		{"whm access hash file form (CRLF)", "whm root:" + strings.ReplaceAll(accessHashFile, "\n", "\r\n"), ok(whm, "root", accessHash), nil},
		{"whm access hash leading newline", "WHM root:\n" + accessHashFile, ok(whm, "root", accessHash), nil},
		{"whm bare CR removed", "whm root:ab\rcd", ok(whm, "root", "abcd"), nil},
		{"whm secret containing colon", "whm reseller:a:b", ok(whm, "reseller", "a:b"), nil},
		{"whm several spaces after scheme", "whm    root:tok", ok(whm, "root", "tok"), nil},
		{"whm secret only newlines", "whm root:\r\n", auth.Credential{}, auth.ErrEmptySecret},
		{"whm NUL in secret", "whm root:tok\x00", auth.Credential{}, auth.ErrControlBytes},
		{"whm SOH in secret", "whm root:\x01tok", auth.Credential{}, auth.ErrControlBytes},
		{"whm TAB in secret", "whm root:to\tk", auth.Credential{}, auth.ErrControlBytes},
		{"whm DEL in secret", "whm root:tok\x7f", auth.Credential{}, auth.ErrControlBytes},
		{"whm NUL in user", "whm ro\x00ot:tok", auth.Credential{}, auth.ErrControlBytes},
		{"whm SOH in user", "whm \x01root:tok", auth.Credential{}, auth.ErrControlBytes},
		{"whm TAB in user", "whm root\t:tok", auth.Credential{}, auth.ErrControlBytes},
		{"whm DEL in user", "whm root\x7f:tok", auth.Credential{}, auth.ErrControlBytes},
		{"whm empty user", "whm :tok", auth.Credential{}, auth.ErrEmptySecret},
		{"whm empty secret", "whm root:", auth.Credential{}, auth.ErrEmptySecret},
		{"whm missing colon", "whm roottok", auth.Credential{}, auth.ErrMalformed},
		{"whm nothing after scheme", "whm ", auth.Credential{}, auth.ErrMalformed},

		// cPanel (API token).
		{"cpanel token", "cpanel bob:ABCDEF0123456789", ok(cpanel, "bob", "ABCDEF0123456789"), nil},
		{"cpanel uppercase", "CPANEL bob:tok", ok(cpanel, "bob", "tok"), nil},
		{"cpanel titlecase", "Cpanel bob:tok", ok(cpanel, "bob", "tok"), nil},
		{"cpanel camelcase", "cPanel bob:tok", ok(cpanel, "bob", "tok"), nil},
		{"cpanel secret containing colon", "cpanel bob:a:b", ok(cpanel, "bob", "a:b"), nil},
		{"cpanel CRLF refused", "cpanel bob:tok\r\n", auth.Credential{}, auth.ErrControlBytes},
		{"cpanel LF refused", "cpanel bob:to\nk", auth.Credential{}, auth.ErrControlBytes},
		{"cpanel CR refused", "cpanel bob:to\rk", auth.Credential{}, auth.ErrControlBytes},
		{"cpanel CRLF in user refused", "cpanel bo\r\nb:tok", auth.Credential{}, auth.ErrControlBytes},
		{"cpanel NUL in secret", "cpanel bob:\x00", auth.Credential{}, auth.ErrControlBytes},
		{"cpanel SOH in secret", "cpanel bob:t\x01ok", auth.Credential{}, auth.ErrControlBytes},
		{"cpanel TAB in secret", "cpanel bob:\ttok", auth.Credential{}, auth.ErrControlBytes},
		{"cpanel DEL in secret", "cpanel bob:tok\x7f", auth.Credential{}, auth.ErrControlBytes},
		{"cpanel NUL in user", "cpanel \x00bob:tok", auth.Credential{}, auth.ErrControlBytes},
		{"cpanel SOH in user", "cpanel b\x01ob:tok", auth.Credential{}, auth.ErrControlBytes},
		{"cpanel TAB in user", "cpanel bob\t:tok", auth.Credential{}, auth.ErrControlBytes},
		{"cpanel DEL in user", "cpanel \x7fbob:tok", auth.Credential{}, auth.ErrControlBytes},
		{"cpanel empty user", "cpanel :tok", auth.Credential{}, auth.ErrEmptySecret},
		{"cpanel empty secret", "cpanel bob:", auth.Credential{}, auth.ErrEmptySecret},
		{"cpanel missing colon", "cpanel bob", auth.Credential{}, auth.ErrMalformed},

		// Everything else.
		{"empty header", "", auth.Credential{}, auth.ErrNoCredential},
		{"unknown scheme Bearer", "Bearer abcdef", auth.Credential{}, auth.ErrBadScheme},
		{"unknown scheme Bearer with colon", "Bearer bob:tok", auth.Credential{}, auth.ErrBadScheme},
		{"webmail scheme (D7)", "webmail info@example.com:TOKEN", auth.Credential{}, auth.ErrBadScheme},
		{"Digest", `Digest username="bob"`, auth.Credential{}, auth.ErrBadScheme},
		{"scheme with trailing junk", "Basicx " + b64("bob:secret"), auth.Credential{}, auth.ErrBadScheme},
		{"leading space", " Basic " + b64("bob:secret"), auth.Credential{}, auth.ErrBadScheme},
		{"no space", "whm", auth.Credential{}, auth.ErrMalformed},
		{"no space, colon", "whmroot:tok", auth.Credential{}, auth.ErrMalformed},
		{"tab instead of space", "whm\troot:tok", auth.Credential{}, auth.ErrMalformed},
		{"basic no space", "Basic" + b64("bob:secret"), auth.Credential{}, auth.ErrMalformed},
		{"overlong header", "whm root:" + strings.Repeat("a", 5000), auth.Credential{}, auth.ErrTooLongHeader},
		{"overlong basic header", "Basic " + b64("bob:"+strings.Repeat("a", 4000)), auth.Credential{}, auth.ErrTooLongHeader},
		{"just over the limit", "whm root:" + strings.Repeat("a", 4096-len("whm root:")+1), auth.Credential{}, auth.ErrTooLongHeader},
		{"exactly at the limit", "whm root:" + strings.Repeat("a", 4096-len("whm root:")), ok(whm, "root", strings.Repeat("a", 4096-len("whm root:"))), nil},
	}
}

func TestParseAuthorization(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range headerCases() {
		if seen[tc.name] {
			t.Fatalf("duplicate case name %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			got, err := auth.ParseAuthorization(tc.header)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("ParseAuthorization(%q) error = %v, want %v", tc.header, err, tc.wantErr)
				}
				if got != (auth.Credential{}) {
					t.Fatalf("ParseAuthorization(%q) returned %+v with an error", tc.header, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAuthorization(%q) error = %v, want nil", tc.header, err)
			}
			if got != tc.want {
				t.Fatalf("ParseAuthorization(%q) = %+v, want %+v", tc.header, got, tc.want)
			}
		})
	}
}

func TestHasControl(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"plain", "secret", false},
		{"empty", "", false},
		{"space", "a b", false},
		{"tilde", "~", false},
		{"non-ascii", "wörd", false},
		{"NUL", "\x00", true},
		{"SOH", "a\x01", true},
		{"TAB", "\t", true},
		{"LF", "a\n", true},
		{"CR", "\ra", true},
		{"US", "\x1f", true},
		{"DEL", "\x7f", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := auth.HasControl(tc.in); got != tc.want {
				t.Fatalf("HasControl(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzParseAuthorization(f *testing.F) {
	for _, tc := range headerCases() {
		f.Add(tc.header)
	}
	f.Fuzz(func(t *testing.T, h string) {
		c, err := auth.ParseAuthorization(h)
		if err != nil {
			if c != (auth.Credential{}) {
				t.Fatalf("credential %+v returned with error %v", c, err)
			}
			return
		}
		switch c.Scheme {
		case auth.SchemeBasic, auth.SchemeWHM, auth.SchemeCPanel:
		default:
			t.Fatalf("scheme %q accepted", c.Scheme)
		}
		if c.User == "" || c.Secret == "" {
			t.Fatalf("empty user or secret accepted: %+v", c)
		}
		for _, s := range []string{c.User, c.Secret} {
			for i := 0; i < len(s); i++ {
				if s[i] < 0x20 || s[i] == 0x7f {
					t.Fatalf("control byte %q in %+v", s[i], c)
				}
			}
		}
		if strings.Contains(c.User, ":") {
			t.Fatalf("user %q holds a colon: the split must be on the first one", c.User)
		}
		if len(h) > 4096 {
			t.Fatalf("overlong header (%d bytes) accepted", len(h))
		}
		// Parsing is a pure function of the header.
		again, err := auth.ParseAuthorization(h)
		if err != nil || again != c {
			t.Fatalf("second parse differs: %+v, %v", again, err)
		}
	})
}
