package totp

import (
	"strings"
	"testing"
	"time"
)

// rfcKey is the SHA-1 seed of RFC 4226 Appendix D and RFC 6238 Appendix B.
var rfcKey = []byte("12345678901234567890")

func TestHOTPRFC4226AppendixD(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for c, w := range want {
		if got := HOTP(rfcKey, uint64(c), 6); got != w {
			t.Errorf("HOTP(counter %d) = %s, want %s", c, got, w)
		}
	}
}

func TestTOTPRFC6238AppendixB(t *testing.T) {
	// The SHA-1 rows (8 digits).
	tests := []struct {
		unix int64
		step uint64
		want string
	}{
		{59, 0x1, "94287082"},
		{1111111109, 0x23523EC, "07081804"},
		{1111111111, 0x23523ED, "14050471"},
		{1234567890, 0x273EF07, "89005924"},
		{2000000000, 0x3F940AA, "69279037"},
		{20000000000, 0x27BC86AA, "65353130"},
	}
	for _, tt := range tests {
		step := Step(time.Unix(tt.unix, 0))
		if uint64(step) != tt.step {
			t.Errorf("Step(%d) = %#x, want %#x", tt.unix, step, tt.step)
		}
		if got := HOTP(rfcKey, uint64(step), 8); got != tt.want {
			t.Errorf("TOTP(%d) = %s, want %s", tt.unix, got, tt.want)
		}
	}
}

// secret is a cPanel-shaped secret (16 base32 characters; the RFC seed is
// 20 bytes, too long for one).
const secret = "JBSWY3DPEHPK3PXP"

func TestCodeIsSixDigitsOfTheStep(t *testing.T) {
	key, _ := decode(secret)
	at := time.Unix(1111111111, 0)
	got, err := Code(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	if want := HOTP(key, uint64(Step(at)), 6); got != want || !IsCode(got) {
		t.Fatalf("Code = %q, want %q", got, want)
	}
	lower, err := Code(strings.ToLower(secret), at)
	if err != nil || lower != got {
		t.Fatalf("lower-case secret: %q, %v", lower, err)
	}
}

func TestMatchWindowAndBurn(t *testing.T) {
	base := time.Unix(1_700_000_000, 0).Truncate(Period) // the first second of a step
	cur := Step(base)
	codeOf := func(s int64) string {
		c, err := CodeAt(secret, s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name     string
		now      time.Time
		code     string
		burnt    int64
		wantStep int64
		wantOK   bool
	}{
		{"current step", base, codeOf(cur), -1, cur, true},
		{"previous step", base, codeOf(cur - 1), -1, cur - 1, true},
		{"next step", base, codeOf(cur + 1), -1, cur + 1, true},
		{"two steps back", base, codeOf(cur - 2), -1, 0, false},
		{"two steps ahead", base, codeOf(cur + 2), -1, 0, false},
		{"last second of the step", base.Add(Period - time.Second), codeOf(cur - 1), -1, cur - 1, true},
		{"first second of the next step drops the previous", base.Add(Period), codeOf(cur - 1), -1, 0, false},
		{"last nanosecond before the step", base.Add(-time.Nanosecond), codeOf(cur + 1), -1, 0, false},
		{"burnt step refused", base, codeOf(cur), cur, 0, false},
		{"earlier than burnt refused", base, codeOf(cur - 1), cur, 0, false},
		{"later than burnt accepted", base, codeOf(cur + 1), cur, cur + 1, true},
		{"not digits", base, "12a456", -1, 0, false},
		{"too short", base, codeOf(cur)[:5], -1, 0, false},
		{"too long", base, codeOf(cur) + "0", -1, 0, false},
		{"empty", base, "", -1, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step, ok := Match(secret, tt.code, tt.now, tt.burnt)
			if ok != tt.wantOK || step != tt.wantStep {
				t.Fatalf("Match = %d, %v; want %d, %v", step, ok, tt.wantStep, tt.wantOK)
			}
		})
	}
	if _, ok := Match("not a secret", codeOf(cur), base, -1); ok {
		t.Fatal("a bad secret matched")
	}
}

func TestNormalizeSecret(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"JBSWY3DPEHPK3PXP", "JBSWY3DPEHPK3PXP", true},
		{"jbswy3dpehpk3pxp", "JBSWY3DPEHPK3PXP", true},
		{"JBSWY3DPEHPK3PX", "", false},
		{"JBSWY3DPEHPK3PXPA", "", false},
		{"JBSWY3DPEHPK3PX1", "", false},
		{"JBSWY3DPEHPK3PX=", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := NormalizeSecret(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("NormalizeSecret(%q) = %q, %v", tt.in, got, err)
		}
	}
}

func TestNewSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		s, err := NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		if n, err := NormalizeSecret(s); err != nil || n != s {
			t.Fatalf("NewSecret made %q (%v)", s, err)
		}
		if seen[s] {
			t.Fatalf("NewSecret repeated %q", s)
		}
		seen[s] = true
	}
}

func TestURI(t *testing.T) {
	got := URI("Example cPanel L.L.C.", "fakedomain", "S3I4WUY7MTHRMMWN")
	want := "otpauth://totp/Example%20cPanel%20L.L.C.:fakedomain?secret=S3I4WUY7MTHRMMWN&issuer=Example%20cPanel%20L.L.C."
	if got != want {
		t.Fatalf("URI =\n %s\nwant\n %s", got, want)
	}
	if got := URI("host.example.com", "bob@example.com", secret); got != "otpauth://totp/host.example.com:bob%40example.com?secret="+secret+"&issuer=host.example.com" {
		t.Fatalf("URI with an address = %s", got)
	}
}

func FuzzMatch(f *testing.F) {
	f.Add(secret, "123456", int64(1_700_000_000), int64(-1))
	f.Add("jbswy3dpehpk3pxp", "000000", int64(0), int64(5))
	f.Add("", "", int64(-100), int64(0))
	f.Fuzz(func(t *testing.T, sec, code string, unix, burnt int64) {
		step, ok := Match(sec, code, time.Unix(unix, 0), burnt)
		if !ok {
			return
		}
		if step <= burnt {
			t.Fatalf("matched burnt step %d (burnt %d)", step, burnt)
		}
		want, err := CodeAt(sec, step)
		if err != nil || want != code {
			t.Fatalf("matched step %d whose code is %q (%v), not %q", step, want, err, code)
		}
		if d := step - Step(time.Unix(unix, 0)); d < -Skew || d > Skew {
			t.Fatalf("matched step %d off by %d", step, d)
		}
	})
}
