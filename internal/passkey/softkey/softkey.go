// Package softkey is a software WebAuthn authenticator for tests: an
// ECDSA P-256 key per credential, "none" attestation, and the JSON a
// browser posts for navigator.credentials.create and get. It signs
// whatever it is asked to, with whatever origin and relying party ID it is
// given, so that tests can make both right and wrong responses.
package softkey

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// AAGUID is the model id the key reports (Chromium's virtual
// authenticator's, so that tests see a known kind).
var AAGUID = []byte{1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8}

// Credential is one credential of the software authenticator.
type Credential struct {
	ID         []byte
	UserHandle []byte
	RPID       string
	// PrivateKey is the PKCS #8 DER of the ECDSA P-256 key.
	PrivateKey []byte
	SignCount  uint32
	// BackupEligible and BackupState are reported in the flags.
	BackupEligible, BackupState bool
}

func (c *Credential) key() (*ecdsa.PrivateKey, error) {
	k, err := x509.ParsePKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("softkey: not an ECDSA key")
	}
	return ek, nil
}

// Options are what a ceremony's response depends on.
type Options struct {
	// Origin is what the client data says the page was.
	Origin string
	// RPID is the relying party whose hash the authenticator data holds
	// (default: the credential's).
	RPID string
	// Challenge is the challenge, base64url as in the options.
	Challenge string
	// UserVerified sets the UV flag.
	UserVerified bool
	// Type overrides the client data's type ("webauthn.create" or
	// "webauthn.get").
	Type string
}

var b64 = base64.RawURLEncoding

// Challenge returns the challenge of options JSON ({"publicKey": {...}}).
func Challenge(optionsJSON []byte) (string, error) {
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			RPID      string `json:"rpId"`
			RP        struct {
				ID string `json:"id"`
			} `json:"rp"`
			User struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(optionsJSON, &o); err != nil {
		return "", err
	}
	return o.PublicKey.Challenge, nil
}

// UserID returns the user handle of creation options JSON.
func UserID(optionsJSON []byte) ([]byte, error) {
	var o struct {
		PublicKey struct {
			User struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(optionsJSON, &o); err != nil {
		return nil, err
	}
	return b64.DecodeString(o.PublicKey.User.ID)
}

func clientData(typ, challenge, origin string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false})
	return b
}

func flags(uv, be, bs, attested bool) byte {
	f := byte(0x01) // UP
	if uv {
		f |= 0x04
	}
	if be {
		f |= 0x08
	}
	if bs {
		f |= 0x10
	}
	if attested {
		f |= 0x40
	}
	return f
}

// New makes a credential for rpID and the user handle, and the
// registration response (the JSON of a PublicKeyCredential from
// navigator.credentials.create) for o.
func New(rpID string, userHandle []byte, o Options) (*Credential, []byte, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	id := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		return nil, nil, err
	}
	c := &Credential{ID: id, UserHandle: userHandle, RPID: rpID, PrivateKey: der}
	resp, err := c.Register(o)
	return c, resp, err
}

// Register returns the registration response of c for o.
func (c *Credential) Register(o Options) ([]byte, error) {
	k, err := c.key()
	if err != nil {
		return nil, err
	}
	pub, err := k.PublicKey.ECDH()
	if err != nil {
		return nil, err
	}
	raw := pub.Bytes() // 0x04 || X || Y
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         int64(webauthncose.P256),
		XCoord:        raw[1:33],
		YCoord:        raw[33:],
	})
	if err != nil {
		return nil, err
	}
	rp := o.RPID
	if rp == "" {
		rp = c.RPID
	}
	rpHash := sha256.Sum256([]byte(rp))
	authData := append([]byte{}, rpHash[:]...)
	authData = append(authData, flags(o.UserVerified, c.BackupEligible, c.BackupState, true))
	authData = binary.BigEndian.AppendUint32(authData, c.SignCount)
	authData = append(authData, AAGUID...)
	authData = binary.BigEndian.AppendUint16(authData, uint16(len(c.ID)))
	authData = append(authData, c.ID...)
	authData = append(authData, cose...)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		return nil, err
	}
	typ := o.Type
	if typ == "" {
		typ = "webauthn.create"
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(c.ID), "rawId": b64.EncodeToString(c.ID), "type": "public-key",
		"authenticatorAttachment": "platform",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(clientData(typ, o.Challenge, o.Origin)),
			"attestationObject": b64.EncodeToString(att),
			"transports":        []string{"internal"},
		},
		"clientExtensionResults": map[string]any{},
	})
}

// Assert moves the sign counter on (as an authenticator does on every use)
// and returns the assertion response (the JSON of a PublicKeyCredential
// from navigator.credentials.get) for o.
func (c *Credential) Assert(o Options) ([]byte, error) {
	c.SignCount++
	return c.AssertAt(o, c.SignCount)
}

// AssertAt is Assert with the counter given, as a clone of the key would
// send it; c's own counter is left as it is.
func (c *Credential) AssertAt(o Options, counter uint32) ([]byte, error) {
	k, err := c.key()
	if err != nil {
		return nil, err
	}
	rp := o.RPID
	if rp == "" {
		rp = c.RPID
	}
	rpHash := sha256.Sum256([]byte(rp))
	authData := append([]byte{}, rpHash[:]...)
	authData = append(authData, flags(o.UserVerified, c.BackupEligible, c.BackupState, false))
	authData = binary.BigEndian.AppendUint32(authData, counter)
	typ := o.Type
	if typ == "" {
		typ = "webauthn.get"
	}
	cd := clientData(typ, o.Challenge, o.Origin)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, authData...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k, digest[:])
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(c.ID), "rawId": b64.EncodeToString(c.ID), "type": "public-key",
		"authenticatorAttachment": "platform",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(authData),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(c.UserHandle),
		},
		"clientExtensionResults": map[string]any{},
	})
}
