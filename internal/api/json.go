package api

import (
	"bytes"
	"encoding/json"
)

// JSON encodes v compactly with a stable key order (maps sorted, structs in
// field order) and without HTML escaping, as cPanel's output is (D19).
func JSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Function data is built from plain values; failing here is a bug.
		return []byte(`{"error":"The system could not encode the response."}`)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// JSONContentType is the Content-Type of every JSON envelope.
const JSONContentType = `application/json; charset="utf-8"`
