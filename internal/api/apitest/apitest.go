// Package apitest holds what the tests of the envelope packages share.
// Only tests import it.
package apitest

import (
	"errors"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/core"
)

// EncodeCase is one result an envelope's Encode is asked to write.
type EncodeCase struct {
	Name string
	Res  *api.Result
	Err  error
}

// EncodeCases returns the results every envelope's Encode must write to
// the byte as JSON writes its Envelope, followed by extra, the envelope's
// own.
func EncodeCases(extra ...EncodeCase) []EncodeCase {
	var nilMap map[string]any
	cases := []EncodeCase{
		{"nil", nil, nil},
		{"error", nil, core.Errorf(core.KindInvalid, "bad <input> & \"quotes\" \\ \n\t\x01 é \u2028 \xff")},
		{"plain error", nil, errors.New("boom")},
		{"empty", &api.Result{}, nil},
		{"typed nil data", &api.Result{Data: nilMap}, nil},
		{"string data", &api.Result{Data: "a\"b"}, nil},
		{"unencodable", &api.Result{Data: map[string]any{"f": func() {}}}, nil},
	}
	return append(cases, extra...)
}
