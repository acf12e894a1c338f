package secret

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/GehirnInc/crypt/sha256_crypt"
	"github.com/GehirnInc/crypt/sha512_crypt"
)

// The test vectors of Drepper's specification (SHA-crypt.txt), each one
// checked against `openssl passwd -5|-6 -salt SETTINGS PASSWORD` when
// this test was written.
func TestShaCryptVectors(t *testing.T) {
	tests := []struct {
		name, settings, password, want string
	}{
		{"sha512 default rounds", "$6$saltstring", "Hello world!",
			"$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
		{"sha512 salt truncated to 16", "$6$rounds=10000$saltstringsaltstring", "Hello world!",
			"$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."},
		{"sha512 rounds=5000 named", "$6$rounds=5000$toolongsaltstring", "This is just a test",
			"$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0"},
		{"sha512 short salt", "$6$rounds=77777$short", "we have a short salt string but not a short password",
			"$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0"},
		{"sha512 rounds below the minimum", "$6$rounds=10$roundstoolow", "the minimum number is still observed",
			"$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX."},
		{"sha256 default rounds", "$5$saltstring", "Hello world!",
			"$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"},
		{"sha256 salt truncated to 16", "$5$rounds=10000$saltstringsaltstring", "Hello world!",
			"$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA"},
		{"sha256 short salt", "$5$rounds=77777$short", "we have a short salt string but not a short password",
			"$5$rounds=77777$short$JiO1O3ZpDAxGJeaDIuqCoEFysAe1mZNJRs3pw0KQRd/"},
		{"sha256 rounds below the minimum", "$5$rounds=10$roundstoolow", "the minimum number is still observed",
			"$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC"},
		{"sha512 non-ascii", "$6$rounds=1000$0123456789abcdef", "pässwörd ✓",
			"$6$rounds=1000$0123456789abcdef$Ez6TT/z6V1pnVYOk.0YGdyDyXhbZhh5ThBD9x6jMFrcS9gU/Mn8sQsdR1aQswj/oxFJG3nOs2BJQP0.bN0KJn/"},
		{"a whole hash as settings", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1", "Hello world!",
			"$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := shaCrypt(tc.password, tc.settings)
			if !ok || got != tc.want {
				t.Fatalf("shaCrypt(%q, %q) = %q, %v\nwant %q", tc.password, tc.settings, got, ok, tc.want)
			}
		})
	}
}

// Passwords of the lengths around the digests' and the hashes' block
// sizes, where the algorithm's repetitions change shape:
//
//	openssl passwd -6|-5 -salt 'rounds=1000$Ab./9zYx' "$(pattern N)"
//
// (openssl takes at most 256 characters; longer ones are checked against
// the other implementation below).
func TestShaCryptLengths(t *testing.T) {
	pattern := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(33 + (i*7)%94)
		}
		return string(b)
	}
	want := map[string]string{
		"6/1":   "lidCXbx2KqYvp6R6PPfOXMpNhL7h6c1JC5e2Q8rza77gXuloIIhdW8YUQgtvXxeohNUEKG.m33BsFRc.4SCMn.",
		"5/1":   "T4SPp7Kh5tXf9rtZ4.Y0owuWFTxA3iMIJzkL35fJAsC",
		"6/31":  "JQ2M4uywkIKU.b2LmlNfw1wxyx0wrNtGlJ1po79Hb0z9sFRaPx5nIJUinoADK/OD7rwZir6jetoPck5aFsjJ6.",
		"5/31":  "yg73fa9TDa65yXJNo72wFCW.VoBYqz0ZlPrlEro2JU6",
		"6/32":  "V/pCQK5iCWKZ6R5HIiXutBSU9fagNrMr/XijV6Jvzgb/Iux9VMLf0WPE0a6KWdrX7T9annufz.jWhc1lMAauC1",
		"5/32":  "6xg7wfzpCY.GKHN7sxB896fXsud0nUe3YTV7ZKAoanD",
		"6/33":  "Nuw.cPYuDQOZC8JMuSrkLKuUHnhAj2czVUD9zuLb0MuYpNLZmTiKalrL/WfddPICyCOeUWbM08QAffGYC6IzW0",
		"5/33":  "PCOQvDG0g8AD4/oPcg5rShuS2Hgc4plYMwWDlDK2NA6",
		"6/63":  "4zHYR4qDlQGV9zRvDFuBy0Tm.9.DIO/1vZ7fWn//EtZuYUUmNFJ/nPLtrzaR42r14C29djJ9EQ5FWwYVWxruj/",
		"5/63":  "AYmhD1X1CdMbVLap45eP27ZEAyp2YSJD0tm.nxERC53",
		"6/64":  ".TYulo3kWBk4Wp55vjJCgKzeFyykkfwHXtEKpHXahhbqF75QQHBy2qSW/NBx0m2jdf2.Uo0NUSLODTcBMZDCn/",
		"5/64":  "ZHkhW8pWTs3cj43Je77fPtbbCoQZWEKCvx6t76I5hZC",
		"6/65":  "Yy2bDCCjGR/3YV52fFxJFnuZHHQBu/aTEK/boSltxiD1ZClMShQbOPPp2ImcJbcctrs/0S2OzjdgeQBkVEi2z0",
		"5/65":  "WyUDHCBW0WmL5h0ZYbBpQLKfMsoxvOF4.A05PYj0FUB",
		"6/127": "Fu.GX.HRwjFHlcek3XUGFylRIT.X.ABW7cRdrDAiCIOVeekc2mIH3D5NY3kip2vVlDESRBjlXJXsl90KAzEty/",
		"5/127": "Im7WQbhL9HFHzoE4e8myqMnovUqAEHzMv1X2VBkmc/3",
		"6/128": "i3/6ThNweby7Wqsguybtu5HLWe6p1vFXF4Ro0R7tqlAjn1px2c8yxieGibQ/vNcAmhj8aqcXDNZD4S3YnKcVR/",
		"5/128": "PAvIcBlXCcCu3R34XqtOkHsAXH5c10nVn//XnzkY.CB",
		"6/129": "MdPqUHroNUCv4GXZwB017Xfd09rv5Dkfz3A7VrMREYzNzLIFwsNiM62.uG1bJhg89mxq1M70Wh5GOzZe5SxSa1",
		"5/129": "IQuptXuP1NwGc3SpSRPeDo88dScY/DCllxtm8SvhjPD",
		"6/255": "vMu.PloBXFNjKLixN6PMxXpd2yYGJEDp9Jlx4vg3vHFFrblweoKe77RKxzOJ4d89YHtiSn5ZBBdZ5pT7Vsk6z0",
		"5/255": "pscEbOmaMNxqt4t5rNP28O5dYe1mMmjVJdn5MbGlrU3",
		"6/256": "2zFofGQ8dZn4ng68rR0D7OhR1acX2YTA1D9eEDWwMXrMC4X9RksIpk2kneWyJHaFgTVbC4w/zu3xQ4l75KEvZ0",
		"5/256": "dOk.EpykfW2UhuK/sLN8GJntM1JmRIrfGoVDNGkZHrC",
	}
	for name, sum := range want {
		t.Run(name, func(t *testing.T) {
			v, n, _ := strings.Cut(name, "/")
			length, _ := strconv.Atoi(n)
			settings := "$" + v + "$rounds=1000$Ab./9zYx"
			got, ok := shaCrypt(pattern(length), settings)
			if !ok || got != settings+"$"+sum {
				t.Fatalf("got %q, want %q", got, settings+"$"+sum)
			}
		})
	}
}

// reference is github.com/GehirnInc/crypt's SHA-crypt, which cpauth used
// before: every hash it made must verify the same way.
func reference(t testing.TB, password, settings string) string {
	t.Helper()
	var out string
	var err error
	if strings.HasPrefix(settings, "$5$") {
		out, err = sha256_crypt.New().Generate([]byte(password), []byte(settings))
	} else {
		out, err = sha512_crypt.New().Generate([]byte(password), []byte(settings))
	}
	if err != nil {
		t.Fatalf("reference(%q, %q): %v", password, settings, err)
	}
	return out
}

// The same hashes as the other implementation, for passwords of every
// length up to MaxPasswordLen and salts of every length up to 16 (and
// longer, truncated).
func TestShaCryptMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	str := func(n int, alphabet string) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	anyByte := string(func() []byte {
		b := make([]byte, 0, 255)
		for c := 1; c < 256; c++ {
			if c != '$' {
				b = append(b, byte(c))
			}
		}
		return b
	}())
	lengths := []int{0, 1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 255, 256, 257, 511, 512, 513, 1000, MaxPasswordLen}
	for _, v := range []string{"$5$", "$6$"} {
		for i, n := range lengths {
			password := str(n, anyByte)
			salt := str(i%20, cryptAlphabet)
			settings := v + "rounds=" + strconv.Itoa(1000+i) + "$" + salt
			if i%5 == 0 {
				settings = v + salt // the default 5000 rounds
			}
			got, ok := shaCrypt(password, settings)
			if want := reference(t, password, settings); !ok || got != want {
				t.Errorf("%s length %d, salt %q: got %q, want %q", v, n, salt, got, want)
			}
		}
	}
}

func TestShaCryptSettings(t *testing.T) {
	tests := []struct {
		name, settings string
		ok             bool
	}{
		{"md5", "$1$salt", false},
		{"bcrypt", "$2a$10$salt", false},
		{"empty", "", false},
		{"rounds not a number", "$6$rounds=ten$salt", false},
		{"rounds without the salt's $", "$6$rounds=1000", false},
		{"empty salt", "$6$", true},
		{"salt up to the next $", "$6$salt$more", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := shaCrypt("pw", tc.settings); ok != tc.ok {
				t.Fatalf("shaCrypt(%q) ok = %v, want %v", tc.settings, ok, tc.ok)
			}
		})
	}
}

// A check allocates a fixed handful of times, not once per round.
func TestShaCryptAllocations(t *testing.T) {
	h := newTestHasher(t)
	hash, err := h.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	for _, rounds := range []string{"1000", "20000"} {
		settings := strings.Replace(hash[:strings.LastIndexByte(hash, '$')], "rounds=1000", "rounds="+rounds, 1)
		allocs := testing.AllocsPerRun(5, func() {
			_, _ = shaCrypt("correct horse battery staple", settings)
		})
		if allocs > 16 {
			t.Errorf("%s rounds: %.0f allocations per check, want a fixed handful", rounds, allocs)
		}
	}
}

// FuzzShaCrypt checks the implementation against the other one on any
// password and salt.
func FuzzShaCrypt(f *testing.F) {
	f.Add("Hello world!", "saltstring", 1000, true)
	f.Add("", "", 1000, false)
	f.Add("pässwörd ✓", "0123456789abcdef0", 1001, true)
	f.Fuzz(func(t *testing.T, password, salt string, rounds int, sha512 bool) {
		if len(password) > MaxPasswordLen || strings.Contains(salt, "$") || rounds < 1000 || rounds > 2000 {
			t.Skip()
		}
		v := "$5$"
		if sha512 {
			v = "$6$"
		}
		settings := v + "rounds=" + strconv.Itoa(rounds) + "$" + salt
		got, ok := shaCrypt(password, settings)
		if want := reference(t, password, settings); !ok || got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}
