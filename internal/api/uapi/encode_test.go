package uapi

import (
	"errors"
	"testing"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/core"
)

// Encode must write the bytes JSON writes for Envelope.
func TestEncodeMatchesEnvelope(t *testing.T) {
	var nilMap map[string]any
	cases := []struct {
		name string
		res  *api.Result
		err  error
	}{
		{"nil", nil, nil},
		{"error", nil, core.Errorf(core.KindInvalid, "bad <input> & \"quotes\" \\ \n\t\x01 é \u2028 \xff")},
		{"plain error", nil, errors.New("boom")},
		{"empty", &api.Result{}, nil},
		{"data", &api.Result{Data: map[string]any{"user": "bob", "z": 1, "a": []string{"<x>"}}}, nil},
		{"typed nil data", &api.Result{Data: nilMap}, nil},
		{"string data", &api.Result{Data: "a\"b"}, nil},
		{"all", &api.Result{Data: []int{1}, Metadata: map[string]any{"b": 1, "a": "x"}, Warnings: []string{"w"}, Messages: []string{"m", "n"}}, nil},
		{"empty slices", &api.Result{Warnings: []string{}, Messages: []string{}, Metadata: map[string]any{}}, nil},
		{"unencodable", &api.Result{Data: map[string]any{"f": func() {}}}, nil},
	}
	for _, c := range cases {
		want := string(api.JSON(Envelope(c.res, c.err)))
		if got := string(Encode(c.res, c.err)); got != want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, want)
		}
	}
}
