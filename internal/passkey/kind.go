package passkey

import (
	"encoding/hex"
	"slices"
)

// knownAAGUIDs names a few common authenticator models by AAGUID (hex),
// from the community list of passkey providers; an unknown one is
// described by its transports.
var knownAAGUIDs = map[string]string{
	"ea9b8d664d011d213ce4b6b48cb575d4": "Google Password Manager",
	"adce000235bcc60a648b0b25f1f05503": "Chrome on Mac",
	"fbfc3007154e4ecc8c0b6e020557d7bd": "iCloud Keychain",
	"dd4ec289e01d41c9bb8970fa845d4bf2": "iCloud Keychain",
	"08987058cadc4b81b6e130de50dcbe96": "Windows Hello",
	"9ddd1817af5a4672a2b93e3dd95000a9": "Windows Hello",
	"6028b017b1d44c02b4b3afcdafc96bb2": "Windows Hello",
	"bada5566a7aa401fbd96457b4e6c7eaf": "1Password",
	"d548826e79b4db40a3d811116f7e8349": "Bitwarden",
	"531126d6e717415c93203d9aa6981239": "Dashlane",
	"cb69481e8ff7403993ec0a2729a154a8": "YubiKey 5 Series",
	"ee882879721c491397753dfcce97072a": "YubiKey 5 Series",
	"fa2b99dc9e3942578f924a30d23c4118": "YubiKey 5 Series with NFC",
	"2fc0579f811347eab116bb5a8db9202a": "YubiKey 5 Series with NFC",
	"c5ef55ffad9a4b9fb580adebafe026d0": "YubiKey 5Ci",
	"0bb43545fd2c418587ddfeb0b2916ace": "Security Key NFC by Yubico",
	"01020304050607080102030405060708": "Chromium virtual authenticator",
}

// Kind describes an authenticator: its model's name when the AAGUID is
// known, else what its transports say ("" when nothing is known).
func Kind(aaguid []byte, transports []string) string {
	if name, ok := knownAAGUIDs[hex.EncodeToString(aaguid)]; ok && len(aaguid) == 16 {
		return name
	}
	switch {
	case slices.Contains(transports, "internal"):
		return "Built-in authenticator"
	case slices.Contains(transports, "hybrid"):
		return "Phone or tablet"
	case slices.Contains(transports, "usb") || slices.Contains(transports, "nfc") || slices.Contains(transports, "ble"):
		return "Security key"
	}
	return ""
}
