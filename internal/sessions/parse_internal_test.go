package sessions

import (
	"strings"
	"testing"
)

// unescapeByByte and isRandPartByIndex are the plain forms of unescape and
// isRandPart: the fast ones must answer as they do.
func unescapeByByte(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, true
	}
	var out strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			out.WriteByte(c)
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", false
		}
		out.WriteByte(hi<<4 | lo)
		i += 2
	}
	return out.String(), true
}

func isRandPartByIndex(s string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(randChars, s[i]) < 0 {
			return false
		}
	}
	return true
}

func FuzzUnescape(f *testing.F) {
	for _, s := range []string{"", "%", "%4", "%41", "a%41b", "%%41", "%41%", "%4g", "root%3agRJ5%2c00", "%e2%80%a8", "no escapes", "a%2", "%zz", "%41%42%43"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := unescape(s)
		want, wantOK := unescapeByByte(s)
		if got != want || ok != wantOK {
			t.Fatalf("unescape(%q) = %q, %v; want %q, %v", s, got, ok, want, wantOK)
		}
	})
}

func TestIsRandPart(t *testing.T) {
	for c := 0; c < 256; c++ {
		s := "aB0_" + string([]byte{byte(c)})
		if got, want := isRandPart(s), isRandPartByIndex(s); got != want {
			t.Errorf("isRandPart(%q) = %v, want %v", s, got, want)
		}
	}
}
