package core

// ValidHostname reports whether h is a host name as RFC 1123 spells one:
// dot-separated labels of 1 to 63 letters, digits and hyphens, neither
// starting nor ending with a hyphen, 253 characters at most. A single label
// ("myhost", what os.Hostname often returns) is one; a trailing dot, an
// underscore or an address in brackets is not.
func ValidHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	start := 0
	for i := 0; i <= len(h); i++ {
		if i < len(h) && h[i] != '.' {
			c := h[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
			continue
		}
		label := h[start:i]
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		start = i + 1
	}
	return true
}
