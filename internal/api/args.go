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
	"sort"
	"strconv"
	"strings"
)

// MaxBodyBytes bounds a request body; larger bodies are refused.
const MaxBodyBytes = 1 << 20

// ErrBodyTooLarge is returned for bodies over MaxBodyBytes.
var ErrBodyTooLarge = errors.New("request body too large")

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
	if err := addQuery(a, rawQuery); err != nil {
		return err
	}
	if body == nil || method == "GET" || method == "HEAD" {
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(body, MaxBodyBytes+1))
	if err != nil {
		return fmt.Errorf("reading body: %w", err)
	}
	if len(data) > MaxBodyBytes {
		return ErrBodyTooLarge
	}
	return ParseBody(a, contentType, data)
}

// ParseBody adds the pairs of a request body to a.
func ParseBody(a *Args, contentType string, body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	mt, params, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "multipart/form-data":
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		form, err := mr.ReadForm(MaxBodyBytes)
		if err != nil {
			return fmt.Errorf("bad multipart body: %w", err)
		}
		defer form.RemoveAll()
		keys := make([]string, 0, len(form.Value))
		for k := range form.Value {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, v := range form.Value[k] {
				a.Add(k, v)
			}
		}
		return nil
	case "application/json":
		return addJSON(a, body)
	}
	// A form body typed into a file or a shell often ends in a newline.
	return addQuery(a, strings.TrimRight(string(body), "\r\n"))
}

// addQuery parses a URL-encoded string, keeping order and repeated keys. A
// trailing "?" or "&" is harmless.
func addQuery(a *Args, q string) error {
	for q != "" {
		var part string
		part, q, _ = strings.Cut(q, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k = strings.TrimPrefix(k, "?")
		if k == "" {
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

// addJSON accepts a flat JSON object; arrays become repeated keys.
func addJSON(a *Args, body []byte) error {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || m == nil || dec.More() {
		return fmt.Errorf("bad JSON body: the body must be one JSON object")
	}
	for _, k := range sortedKeys(m) {
		if k == "" {
			continue
		}
		switch v := m[k].(type) {
		case []any:
			for _, x := range v {
				s, err := scalar(x)
				if err != nil {
					return fmt.Errorf("bad JSON body: %q: %w", k, err)
				}
				a.Add(k, s)
			}
		default:
			s, err := scalar(v)
			if err != nil {
				return fmt.Errorf("bad JSON body: %q: %w", k, err)
			}
			a.Add(k, s)
		}
	}
	return nil
}

func scalar(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case bool:
		if x {
			return "1", nil
		}
		return "0", nil
	case nil:
		return "", nil
	}
	return "", errors.New("values must be strings, numbers or booleans")
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
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
