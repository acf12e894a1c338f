package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// MaxBodyBytes bounds a request body; larger bodies are refused.
const MaxBodyBytes = 1 << 20

// MaxArgs bounds the arguments of one request, query and body together.
// The longest list a function takes is 1,000 values (a thousand token
// names, users or addresses at once); ten times that is more than any
// client sends. Counting matters because bytes alone do not bound memory:
// a 1 MiB body of empty keys ("a&a&a…") is half a million arguments, 16
// bytes of pair per byte of body, and a JSON array of half a million
// small values cost more still.
const MaxArgs = 10000

// ErrBodyTooLarge is returned for bodies over MaxBodyBytes.
var ErrBodyTooLarge = errors.New("request body too large")

// ErrTooManyArgs is returned for a request of more than MaxArgs arguments.
var ErrTooManyArgs = fmt.Errorf("too many arguments (more than %d)", MaxArgs)

// ParseRequest merges the query string and the body into Args (D20). The body
// is read as application/x-www-form-urlencoded whatever the Content-Type
// says, except multipart/form-data and JSON, which are also accepted. GET and
// HEAD bodies are ignored.
func ParseRequest(method, rawQuery, contentType string, body io.Reader) (Args, error) {
	var a Args
	err := ParseRequestTo(&a, method, rawQuery, contentType, body)
	return a, err
}

// ParseRequestTo is ParseRequest adding the pairs to a, which may already
// have room for them (NewArgs of an empty slice with capacity): a caller
// that keeps that room in something it has allocated anyway allocates
// nothing for a few arguments.
func ParseRequestTo(a *Args, method, rawQuery, contentType string, body io.Reader) error {
	if err := ParseQuery(a, rawQuery); err != nil {
		return err
	}
	return ParseRequestBody(a, method, contentType, body, -1)
}

// ParseQuery adds the pairs of a URL's raw query to a.
func ParseQuery(a *Args, rawQuery string) error {
	return addQuery(a, rawQuery)
}

// ParseRequestBody is the body half of ParseRequestTo, for a caller that
// must decide something (who is asking) between the query and the body.
// size is the body's declared length (Content-Length), -1 when unknown.
func ParseRequestBody(a *Args, method, contentType string, body io.Reader, size int64) error {
	if body == nil || method == "GET" || method == "HEAD" {
		return nil
	}
	data, err := ReadBody(body, size)
	if err != nil {
		return err
	}
	return ParseBody(a, contentType, data)
}

// ReadBody reads a body of at most MaxBodyBytes. size is its declared
// length (-1: unknown): a body that declares more than MaxBodyBytes is
// refused before any of it is read, and one that declares its length is
// read into a buffer of that length rather than one grown by doubling
// (which holds up to twice the body while it grows).
func ReadBody(body io.Reader, size int64) ([]byte, error) {
	if size > MaxBodyBytes {
		return nil, ErrBodyTooLarge
	}
	if size == 0 {
		return nil, nil
	}
	n := 512
	if size > 0 {
		n = int(size) + 1 // room for the read that finds the end
	}
	buf := make([]byte, 0, n)
	lr := io.LimitReader(body, MaxBodyBytes+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		m, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading body: %w", err)
		}
	}
	if len(buf) > MaxBodyBytes {
		return nil, ErrBodyTooLarge
	}
	return buf, nil
}

// ParseBody adds the pairs of a request body to a.
func ParseBody(a *Args, contentType string, body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	mt, params, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "multipart/form-data":
		return addMultipart(a, body, params["boundary"])
	case "application/json":
		return addJSON(a, body)
	}
	// A form body typed into a file or a shell often ends in a newline.
	return addQuery(a, strings.TrimRight(string(body), "\r\n"))
}

// addQuery parses a URL-encoded string, keeping order and repeated keys. A
// trailing "?" or "&" is harmless. A string of more pairs than a has room
// for under MaxArgs is refused before any pair is decoded.
func addQuery(a *Args, q string) error {
	if countPairs(q, MaxArgs-a.Len()+1) > MaxArgs-a.Len() {
		return ErrTooManyArgs
	}
	for q != "" {
		var part string
		part, q, _ = strings.Cut(q, "&")
		k, v, ok := queryPair(part)
		if !ok {
			continue
		}
		ku, err := url.QueryUnescape(k)
		if err != nil {
			return fmt.Errorf("bad argument name encoding")
		}
		vu, err := url.QueryUnescape(v)
		if err != nil {
			return fmt.Errorf("bad encoding in argument %q", ku)
		}
		a.Add(ku, vu)
	}
	return nil
}

// queryPair splits one "&"-separated part of a query into its raw name
// and value; ok is false for a part that holds no argument (empty, or with
// an empty name).
func queryPair(part string) (k, v string, ok bool) {
	k, v, _ = strings.Cut(part, "=")
	k = strings.TrimPrefix(k, "?")
	return k, v, k != ""
}

// countPairs is the number of pairs addQuery takes from q, counting no
// further than stop. A raw name that is not empty never decodes to an
// empty one, so the count is exact without decoding anything.
func countPairs(q string, stop int) int {
	n := 0
	for q != "" && n < stop {
		var part string
		part, q, _ = strings.Cut(q, "&")
		if _, _, ok := queryPair(part); ok {
			n++
		}
	}
	return n
}

// maxParts bounds the parts of a multipart body: the number ReadForm
// allows by default, which this reader used before.
const maxParts = 1000

// addMultipart adds the fields of a multipart/form-data body, each name's
// values in order and the names sorted, as ReadForm's map gave them. File
// parts are no arguments: they are read past, never kept (ReadForm kept
// them in memory, or past its limit in temporary files).
func addMultipart(a *Args, body []byte, boundary string) error {
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var kv [][2]string
	var buf bytes.Buffer
	for parts := 0; ; parts++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("bad multipart body: %w", err)
		}
		if parts == maxParts {
			return fmt.Errorf("bad multipart body: %w", multipart.ErrMessageTooLarge)
		}
		name := p.FormName()
		if name == "" {
			continue
		}
		if p.FileName() != "" {
			// Read to its end, so that a broken part is the error it was.
			if _, err := io.Copy(io.Discard, p); err != nil {
				return fmt.Errorf("bad multipart body: %w", err)
			}
			continue
		}
		if a.Len()+len(kv) >= MaxArgs {
			return ErrTooManyArgs
		}
		// One buffer for every value (io.Copy into a strings.Builder
		// would allocate 32 KiB a part to copy through).
		buf.Reset()
		if _, err := buf.ReadFrom(p); err != nil {
			return fmt.Errorf("bad multipart body: %w", err)
		}
		kv = append(kv, [2]string{name, buf.String()})
	}
	slices.SortStableFunc(kv, func(x, y [2]string) int { return strings.Compare(x[0], y[0]) })
	for _, p := range kv {
		a.Add(p[0], p[1])
	}
	return nil
}

// errNotObject is the answer to a JSON body that is not one JSON object.
var errNotObject = errors.New("bad JSON body: the body must be one JSON object")

// errNotScalar is the reason for a JSON value that is neither a scalar nor
// an array of scalars.
var errNotScalar = errors.New("values must be strings, numbers or booleans")

// addJSON accepts a flat JSON object whose values are scalars or arrays of
// scalars; arrays become repeated keys. The pairs are what decoding the
// object into a map[string]any gave before: names in sorted order, a name
// given twice keeps its last value, the empty name is dropped, and what
// follows the object may begin with "}" or "]" (json.Decoder.More's
// answer). But a map of interfaces costs about fifty bytes a value and
// decodes the whole body before anything is counted, so the object is read
// a token at a time instead, and refused once it has more than MaxArgs
// values (names and array elements; a nested value counts each of its
// tokens, which also bounds how deep the reader nests).
func addJSON(a *Args, body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errNotObject
	}
	type member struct {
		name   string
		values []string
		nested bool // a value that is not a scalar or an array of scalars
	}
	var members []member
	room := MaxArgs - a.Len() // values left to read
	next := func() (json.Token, error) {
		if room--; room < 0 {
			return nil, ErrTooManyArgs
		}
		t, err := dec.Token()
		if err != nil {
			return nil, errNotObject
		}
		return t, nil
	}
	// skip reads past the rest of a nested value whose opening delimiter
	// has just been read.
	skip := func() error {
		for depth := 1; depth > 0; {
			t, err := next()
			if err != nil {
				return err
			}
			switch t {
			case json.Delim('{'), json.Delim('['):
				depth++
			case json.Delim('}'), json.Delim(']'):
				depth--
			}
		}
		return nil
	}
	for dec.More() {
		t, err := next()
		if err != nil {
			return err
		}
		name, ok := t.(string)
		if !ok {
			return errNotObject // not reached: Token gives names only here
		}
		m := member{name: name}
		if t, err = dec.Token(); err != nil {
			return errNotObject
		}
		switch t {
		case json.Delim('{'):
			m.nested = true
			if err := skip(); err != nil {
				return err
			}
		case json.Delim('['):
			for dec.More() {
				v, err := next()
				if err != nil {
					return err
				}
				if _, ok := v.(json.Delim); ok { // an array or object inside the array
					m.nested = true
					if err := skip(); err != nil {
						return err
					}
					continue
				}
				m.values = append(m.values, scalar(v))
			}
			if _, err := dec.Token(); err != nil { // "]"
				return errNotObject
			}
		default:
			m.values = []string{scalar(t)}
		}
		members = append(members, m)
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') || dec.More() {
		return errNotObject
	}
	// Sorted by name, a name given twice is a run in which the last one
	// read is the last one.
	slices.SortStableFunc(members, func(x, y member) int { return strings.Compare(x.name, y.name) })
	for i, m := range members {
		if m.name == "" || i+1 < len(members) && members[i+1].name == m.name {
			continue
		}
		if m.nested {
			return fmt.Errorf("bad JSON body: %q: %w", m.name, errNotScalar)
		}
		for _, v := range m.values {
			a.Add(m.name, v)
		}
	}
	return nil
}

// scalar is a JSON scalar token as an argument's value.
func scalar(t json.Token) string {
	switch x := t.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "1"
		}
		return "0"
	}
	return "" // null
}

// Int parses an integer argument.
func (a Args) Int(k string) (int64, bool, error) {
	v, ok := a.Lookup(k)
	if !ok || v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return n, true, err
}
