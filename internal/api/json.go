package api

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
)

// JSON encodes v compactly with a stable key order (maps sorted, structs in
// field order) and without HTML escaping, as cPanel's output is (D19).
func JSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Function data is built from plain values; failing here is a bug.
		return EncodeFailed()
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// JSONContentType is the Content-Type of every JSON envelope.
const JSONContentType = `application/json; charset="utf-8"`

// AppendJSON appends v encoded as JSON writes it (compact, no HTML escaping,
// no trailing newline) to dst; it is how envelope writers encode the values
// inside an envelope they build by hand.
func AppendJSON(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return AppendJSONString(dst, x), nil
	case map[string]any:
		if b, ok := appendFlatMap(dst, x); ok {
			return b, nil
		}
	case JSONAppender:
		return x.AppendJSON(dst), nil
	}
	buf := bytes.NewBuffer(dst)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return dst, err
	}
	out := buf.Bytes()
	return out[:len(out)-1], nil // Encode ends with a newline
}

// JSONAppender is function data that writes its own JSON, byte for byte
// as encoding/json writes it (through its MarshalJSON, which such data
// has too), so that envelope writers need not build and sort a map for it.
type JSONAppender interface {
	AppendJSON(dst []byte) []byte
}

// maxFlatMap bounds the maps appendFlatMap writes (their keys are sorted on
// the stack).
const maxFlatMap = 16

// appendFlatMap writes a small map whose values are all strings, booleans,
// ints or lists of strings (the common shapes of function data) as JSON
// would: keys sorted. It reports false, having written nothing, for any
// other map.
func appendFlatMap(dst []byte, m map[string]any) ([]byte, bool) {
	if m == nil {
		return append(dst, "null"...), true
	}
	if len(m) > maxFlatMap {
		return dst, false
	}
	var arr [maxFlatMap]string
	keys := arr[:0]
	for k, v := range m {
		switch v.(type) {
		case string, bool, int, int64, []string:
		default:
			return dst, false
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendJSONString(dst, k)
		dst = append(dst, ':')
		switch v := m[k].(type) {
		case string:
			dst = AppendJSONString(dst, v)
		case bool:
			dst = strconv.AppendBool(dst, v)
		case int:
			dst = strconv.AppendInt(dst, int64(v), 10)
		case int64:
			dst = strconv.AppendInt(dst, v, 10)
		case []string:
			dst = AppendJSONStrings(dst, v)
		}
	}
	return append(dst, '}'), true
}

// AppendJSONStrings appends a list of strings as JSON writes it (nil is
// null).
func AppendJSONStrings(dst []byte, list []string) []byte {
	if list == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, s := range list {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendJSONString(dst, s)
	}
	return append(dst, ']')
}

// AppendJSONString appends s as a JSON string, byte for byte as JSON writes
// it.
func AppendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			// Escapes, and non-ASCII text (invalid UTF-8, U+2028,
			// U+2029): let encoding/json decide.
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			enc.Encode(s) // a string always encodes
			return append(dst, bytes.TrimSuffix(b.Bytes(), []byte("\n"))...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// encodeFailed is the body of an envelope that could not be encoded.
var encodeFailed = []byte(`{"error":"The system could not encode the response."}`)

// EncodeFailed returns the body JSON writes when an envelope cannot be
// encoded.
func EncodeFailed() []byte { return append([]byte(nil), encodeFailed...) }
