// Package secret makes and checks secrets: random tokens, keyed hashes,
// sealed (encrypted) values, password hashes and constant-time comparison.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"os"
	"sync"
)

// KeySize is the length of the server key in bytes.
const KeySize = 32

// Key is the server key: the root of every keyed hash and sealed value.
type Key struct {
	b [KeySize]byte
	// subkeys caches the per-purpose keys: deriving one is an HMAC, and a
	// keyed hash is computed on every authenticated request.
	subkeys sync.Map // purpose -> []byte
	// macs pools keyed HMAC states per purpose: MAC resets one instead of
	// keying a new HMAC on every call.
	macs sync.Map // purpose -> *sync.Pool of *macState
}

// NewKey returns a fresh random key.
func NewKey() (*Key, error) {
	k := new(Key)
	if _, err := rand.Read(k.b[:]); err != nil {
		return nil, err
	}
	return k, nil
}

// KeyFromBytes wraps raw key material.
func KeyFromBytes(b []byte) (*Key, error) {
	if len(b) != KeySize {
		return nil, fmt.Errorf("secret: server key must be %d bytes, got %d", KeySize, len(b))
	}
	k := new(Key)
	copy(k.b[:], b)
	return k, nil
}

// Bytes returns the raw key material.
func (k *Key) Bytes() []byte { return append([]byte(nil), k.b[:]...) }

// LoadOrCreateKey reads the hex-encoded key at path, creating it (0600) when
// it does not exist.
func LoadOrCreateKey(path string) (*Key, bool, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		raw, derr := hex.DecodeString(string(trimSpace(data)))
		if derr != nil {
			return nil, false, fmt.Errorf("secret: server key %s is not hex: %w", path, derr)
		}
		k, kerr := KeyFromBytes(raw)
		return k, false, kerr
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	k, err := NewKey()
	if err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, err
	}
	if _, err := f.WriteString(hex.EncodeToString(k.b[:]) + "\n"); err != nil {
		f.Close()
		return nil, false, err
	}
	return k, true, f.Close()
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// subkey derives a key for one purpose so that a MAC of one kind can never be
// mistaken for another kind's.
func (k *Key) subkey(purpose string) []byte {
	if v, ok := k.subkeys.Load(purpose); ok {
		return v.([]byte)
	}
	m := hmac.New(sha256.New, k.b[:])
	m.Write([]byte("cpauth/" + purpose))
	sk := m.Sum(nil)
	k.subkeys.Store(purpose, sk)
	return sk
}

// MAC returns the hex HMAC-SHA256 of data under the purpose's subkey.
func (k *Key) MAC(purpose string, data []byte) string {
	pool := k.macPool(purpose)
	st := pool.Get().(*macState)
	st.h.Write(data)
	return st.finish(pool)
}

// MACStrings is MAC of the concatenation of parts, which it copies into a
// buffer of its own: the caller allocates nothing to join them.
func (k *Key) MACStrings(purpose string, parts ...string) string {
	pool := k.macPool(purpose)
	st := pool.Get().(*macState)
	buf := st.buf[:0]
	for _, p := range parts {
		buf = append(buf, p...)
	}
	st.h.Write(buf)
	clear(buf) // the parts are secrets: nothing of them stays in the pool
	if cap(buf) <= maxPooledMACInput {
		st.buf = buf
	}
	return st.finish(pool)
}

// maxPooledMACInput bounds the buffer a pooled state keeps (the largest
// input on the hot path is an access hash with its user, some 1000 bytes).
const maxPooledMACInput = 4096

// macState is a keyed HMAC state, pooled per purpose with room for its sum
// and for the input of MACStrings, so that a MAC allocates only its result.
type macState struct {
	h   hash.Hash
	sum [sha256.Size]byte
	buf []byte
}

// finish returns the hex sum and puts st back, reset, in pool.
func (st *macState) finish(pool *sync.Pool) string {
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], st.h.Sum(st.sum[:0]))
	st.h.Reset()
	pool.Put(st)
	return string(out[:])
}

// macPool returns the pool of HMAC states keyed for the purpose.
func (k *Key) macPool(purpose string) *sync.Pool {
	if v, ok := k.macs.Load(purpose); ok {
		return v.(*sync.Pool)
	}
	sk := k.subkey("mac/" + purpose)
	v, _ := k.macs.LoadOrStore(purpose, &sync.Pool{New: func() any { return &macState{h: hmac.New(sha256.New, sk)} }})
	return v.(*sync.Pool)
}

// Seal encrypts plaintext with AES-256-GCM under the purpose's subkey; aad
// binds the ciphertext to its owner (a username, say).
func (k *Key) Seal(purpose string, plaintext, aad []byte) ([]byte, error) {
	gcm, err := k.gcm(purpose)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return gcm.Seal(nonce, nonce, plaintext, aad), nil
}

// Open decrypts what Seal produced.
func (k *Key) Open(purpose string, sealed, aad []byte) ([]byte, error) {
	gcm, err := k.gcm(purpose)
	if err != nil {
		return nil, err
	}
	if len(sealed) < gcm.NonceSize() {
		return nil, errors.New("secret: sealed value too short")
	}
	return gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], aad)
}

func (k *Key) gcm(purpose string) (cipher.AEAD, error) {
	block, err := aes.NewCipher(k.subkey("seal/" + purpose))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Equal compares two secrets in constant time (for equal lengths).
func Equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// RandomString returns n characters drawn uniformly from alphabet using
// crypto/rand.
func RandomString(n int, alphabet string) (string, error) {
	out := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range out {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", err
		}
		out[i] = alphabet[v.Int64()]
	}
	return string(out), nil
}

// Alphabets used by cPanel's random strings.
const (
	Digits       = "0123456789"
	UpperAlnum   = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	PasswordChar = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789-_"
)

// Check is a keyed hash of a fixed text: stored beside what the key sealed,
// it tells whether a key is the one they were sealed with, and reveals
// nothing of the key.
func (k *Key) Check() string { return k.MAC("server-key-check", []byte("cpauth server key")) }
