package whmapi1

import (
	"testing"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/api/apitest"
)

// Encode must write the bytes JSON writes for Envelope.
func TestEncodeMatchesEnvelope(t *testing.T) {
	cases := apitest.EncodeCases(
		apitest.EncodeCase{Name: "data", Res: &api.Result{Data: map[string]any{"version": "11.120.0.5", "z": 1, "a": []string{"<x>"}}}},
		apitest.EncodeCase{Name: "reason", Res: &api.Result{Reason: "Done — fine", Data: []int{1, 2}}},
		apitest.EncodeCase{Name: "metadata", Res: &api.Result{Data: 1, Metadata: map[string]any{"command": "x", "zz": 2}}},
		apitest.EncodeCase{Name: "warnings", Res: &api.Result{Warnings: []string{"w"}, Messages: []string{"m"}}},
	)
	for _, c := range cases {
		for _, cmd := range []string{"version", "a\"b<c>", "é\x7f"} {
			want := string(api.JSON(Envelope(cmd, c.Res, c.Err)))
			if got := string(Encode(cmd, c.Res, c.Err)); got != want {
				t.Errorf("%s/%q:\n got %s\nwant %s", c.Name, cmd, got, want)
			}
			if got := string(AppendEncode([]byte("x"), cmd, c.Res, c.Err)); got != "x"+want {
				t.Errorf("%s/%q: AppendEncode:\n got %s\nwant x%s", c.Name, cmd, got, want)
			}
		}
	}
}

func TestEncodeFlatMaps(t *testing.T) {
	for _, data := range []map[string]any{
		nil, {}, {"version": "11.120.0.5"},
		{"b": true, "a": -3, "c": "x\"y", "é": "\u2028", "<": "&", "z": false, "y": 0, "x": ""},
		{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9},
		{"a": 1.5, "b": nil, "c": []string{"x"}, "d": int64(3)},
	} {
		res := &api.Result{Data: data}
		want := string(api.JSON(Envelope("version", res, nil)))
		if got := string(Encode("version", res, nil)); got != want {
			t.Errorf("%v:\n got %s\nwant %s", data, got, want)
		}
	}
}
