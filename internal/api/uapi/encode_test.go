package uapi

import (
	"testing"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/api/apitest"
)

// Encode must write the bytes JSON writes for Envelope.
func TestEncodeMatchesEnvelope(t *testing.T) {
	cases := apitest.EncodeCases(
		apitest.EncodeCase{Name: "data", Res: &api.Result{Data: map[string]any{"user": "bob", "z": 1, "a": []string{"<x>"}}}},
		apitest.EncodeCase{Name: "all", Res: &api.Result{Data: []int{1}, Metadata: map[string]any{"b": 1, "a": "x"}, Warnings: []string{"w"}, Messages: []string{"m", "n"}}},
		apitest.EncodeCase{Name: "empty slices", Res: &api.Result{Warnings: []string{}, Messages: []string{}, Metadata: map[string]any{}}},
	)
	for _, c := range cases {
		want := string(api.JSON(Envelope(c.Res, c.Err)))
		if got := string(Encode(c.Res, c.Err)); got != want {
			t.Errorf("%s:\n got %s\nwant %s", c.Name, got, want)
		}
		if got := string(AppendEncode([]byte("x"), c.Res, c.Err)); got != "x"+want {
			t.Errorf("%s: AppendEncode:\n got %s\nwant x%s", c.Name, got, want)
		}
	}
}
