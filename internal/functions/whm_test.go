package functions

import (
	"context"
	"reflect"
	"testing"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/api/api2"
	"github.com/cpauth/cpauth/internal/api/uapi"
	"github.com/cpauth/cpauth/internal/api/whmapi0"
	"github.com/cpauth/cpauth/internal/api/whmapi1"
	"github.com/cpauth/cpauth/internal/core"
)

// version answers every call with one shared result; whatever reads it
// (the dispatch, every flavour's encoder and envelope, the local command's
// printing) must leave it as it was built.
func TestVersionResultUnchanged(t *testing.T) {
	// The data writes the JSON of this map.
	if got, want := string(api.JSON(versionData{})), string(api.JSON(map[string]any{"version": CPanelVersion})); got != want {
		t.Fatalf("version data %s, want %s", got, want)
	}
	want := &api.Result{Data: versionData{}}
	r := (&Env{}).Registry()
	root := core.Principal{User: "root", Role: core.RoleRoot, ACLs: core.ACLSet{core.ACLAll: true}}
	for range 2 {
		res, err := RunWHM1(context.Background(), r, &api.Call{Flavour: api.WHM1, Func: "version", Principal: root})
		if err != nil {
			t.Fatal(err)
		}
		if res != versionResult {
			t.Fatal("version did not answer with the shared result")
		}
		const body = `{"data":{"version":"` + CPanelVersion + `"},"metadata":{"command":"version","reason":"OK","result":1,"version":1}}`
		if got := string(whmapi1.Encode("version", res, nil)); got != body {
			t.Errorf("Encode:\n got %s\nwant %s", got, body)
		}
		if got := string(api.JSON(whmapi1.Envelope("version", res, nil))); got != body {
			t.Errorf("Envelope:\n got %s\nwant %s", got, body)
		}
		out, err := whmapi0.Run(context.Background(), r, &api.Call{Flavour: api.WHM1, Func: "version", Principal: root})
		if got, want := string(api.JSON(out)), `{"version":"`+CPanelVersion+`"}`; err != nil || got != want {
			t.Errorf("API 0: %s, %v; want %s", got, err, want)
		}
		uapi.Encode(res, nil)
		api.JSON(uapi.Envelope(res, nil))
		api.JSON(api2.Envelope("M", "f", res, nil))
	}
	if !reflect.DeepEqual(versionResult, want) {
		t.Errorf("the shared result changed: %#v", versionResult)
	}
}
