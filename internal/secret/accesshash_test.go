package secret

import (
	"strings"
	"testing"
)

func TestNewAccessHash(t *testing.T) {
	a, err := NewAccessHash()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 960 || AccessHashLen != 960 {
		t.Fatalf("len = %d (AccessHashLen %d), want 960", len(a), AccessHashLen)
	}
	for i := 0; i < len(a); i++ {
		if c := a[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			t.Fatalf("character %q at %d is not lowercase hex", c, i)
		}
	}
	if !IsAccessHash(a) {
		t.Fatal("IsAccessHash rejects a fresh access hash")
	}
	b, err := NewAccessHash()
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two access hashes are equal")
	}
}

func TestAccessHashFile(t *testing.T) {
	h, err := NewAccessHash()
	if err != nil {
		t.Fatal(err)
	}
	file := AccessHashFile(h)
	if len(file) != 990 {
		t.Fatalf("file length = %d, want 990", len(file))
	}
	if !strings.HasSuffix(file, "\n") {
		t.Fatal("file does not end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(file, "\n"), "\n")
	if len(lines) != AccessHashLines || AccessHashLines != 30 {
		t.Fatalf("file has %d lines, want 30", len(lines))
	}
	for i, l := range lines {
		if len(l) != AccessHashLineLen || AccessHashLineLen != 32 {
			t.Fatalf("line %d has %d characters, want 32", i, len(l))
		}
		if l != h[i*32:(i+1)*32] {
			t.Fatalf("line %d = %q, want %q", i, l, h[i*32:(i+1)*32])
		}
	}
	if got := NormalizeAccessHash(file); got != h {
		t.Fatal("NormalizeAccessHash(AccessHashFile(h)) != h")
	}
}

func TestAccessHashFileShortInput(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"short", "abc", "abc\n"},
		{"one line", strings.Repeat("a", 32), strings.Repeat("a", 32) + "\n"},
		{"line and a bit", strings.Repeat("a", 33), strings.Repeat("a", 32) + "\na\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := AccessHashFile(tc.in); got != tc.want {
				t.Fatalf("AccessHashFile(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestNormalizeAccessHash(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"already normal", "abcdef0123", "abcdef0123"},
		{"uppercase", "ABCDEF0123", "abcdef0123"},
		{"mixed case", "AbCdEf", "abcdef"},
		{"LF", "ab\ncd\n", "abcd"},
		{"CRLF", "ab\r\ncd\r\n", "abcd"},
		{"bare CR", "ab\rcd", "abcd"},
		{"spaces", " ab cd ", "abcd"},
		{"tabs", "\tab\tcd", "abcd"},
		{"empty", "", ""},
		{"only whitespace", " \r\n\t", ""},
		{"other characters kept", "ab-cd:ef", "ab-cd:ef"},
		{"NUL kept (caller refuses it)", "ab\x00cd", "ab\x00cd"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NormalizeAccessHash(tc.in); got != tc.want {
				t.Fatalf("NormalizeAccessHash(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestIsAccessHash(t *testing.T) {
	good := strings.Repeat("0123456789abcdef", 60)
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"960 lowercase hex", good, true},
		{"all zeros", strings.Repeat("0", 960), true},
		{"empty", "", false},
		{"959", good[:959], false},
		{"961", good + "a", false},
		{"uppercase", strings.ToUpper(good), false},
		{"non-hex g", good[:959] + "g", false},
		{"file form", AccessHashFile(good), false},
		{"file form normalised", NormalizeAccessHash(AccessHashFile(good)), true},
		{"space inside", good[:480] + " " + good[481:], false},
		{"NUL inside", good[:480] + "\x00" + good[481:], false},
		{"multibyte char", good[:958] + "é", false},
		{"API token length", strings.Repeat("A", 32), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsAccessHash(tc.in); got != tc.want {
				t.Fatalf("IsAccessHash(%.40q…) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzNormalizeAccessHash(f *testing.F) {
	good := strings.Repeat("0123456789abcdef", 60)
	for _, s := range []string{good, AccessHashFile(good), strings.ToUpper(good), "ab\r\ncd", " ", "", "\x00", "AB\u212acd", "ab\xffCD", "İx\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeAccessHash(s)
		if want := normalizeSlow(s); n != want {
			t.Fatalf("NormalizeAccessHash(%q) = %q; the reference (Unicode mapping) gives %q", s, n, want)
		}
		if NormalizeAccessHash(n) != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, n, NormalizeAccessHash(n))
		}
		if strings.ContainsAny(n, "\r\n\t ") {
			t.Fatalf("normalised %q still holds whitespace", n)
		}
		if IsAccessHash(n) {
			if len(n) != AccessHashLen || strings.ToLower(n) != n {
				t.Fatalf("IsAccessHash accepted %q", n)
			}
			if NormalizeAccessHash(AccessHashFile(n)) != n {
				t.Fatal("file form does not round-trip")
			}
		}
	})
}

// TestNormalizeAccessHashNoAlloc: a hash as clients send it costs one pass
// and no allocation.
func TestNormalizeAccessHashNoAlloc(t *testing.T) {
	good := strings.Repeat("0123456789abcdef", 60)
	if n := testing.AllocsPerRun(100, func() { _ = NormalizeAccessHash(good) }); n != 0 {
		t.Fatalf("%v allocations for a normalised hash", n)
	}
}

func FuzzParseAccessHash(f *testing.F) {
	good := strings.Repeat("0123456789abcdef", 60)
	for _, s := range []string{good, AccessHashFile(good), strings.ToUpper(good), good[:959], good + "0", "", "ab\r\ncd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := ParseAccessHash(s)
		want := NormalizeAccessHash(s)
		if ok != IsAccessHash(want) || ok && n != want {
			t.Fatalf("ParseAccessHash(%q) = %q, %v; want %q, %v", s, n, ok, want, IsAccessHash(want))
		}
	})
}
