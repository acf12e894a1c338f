package api2

import (
	"testing"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/core"
)

func TestEnvelope(t *testing.T) {
	failed := core.Errorf(core.KindExists, "The account info@bob.test already exists!")
	for _, tc := range []struct {
		name string
		res  *api.Result
		err  error
		want string
	}{
		{"success", &api.Result{Data: []string{"a"}}, nil,
			`{"cpanelresult":{"apiversion":2,"data":["a"],"event":{"result":1},"func":"f","module":"M"}}`},
		{"success without data", nil, nil,
			`{"cpanelresult":{"apiversion":2,"data":[],"event":{"result":1},"func":"f","module":"M"}}`},
		{"failure", nil, failed,
			`{"cpanelresult":{"apiversion":2,"data":[],"error":"The account info@bob.test already exists!","event":{"reason":"The account info@bob.test already exists!","result":0},"func":"f","module":"M"}}`},
		{"failure with its data", &api.Result{Data: []map[string]any{{"result": 0, "reason": "why"}}}, failed,
			`{"cpanelresult":{"apiversion":2,"data":[{"reason":"why","result":0}],"error":"The account info@bob.test already exists!","event":{"reason":"The account info@bob.test already exists!","result":0},"func":"f","module":"M"}}`},
		{"failure with an empty result", &api.Result{}, failed,
			`{"cpanelresult":{"apiversion":2,"data":[],"error":"The account info@bob.test already exists!","event":{"reason":"The account info@bob.test already exists!","result":0},"func":"f","module":"M"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(api.JSON(Envelope("M", "f", tc.res, tc.err))); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
