// Package api2 writes cPanel API 2 envelopes: {"cpanelresult":{...}}.
package api2

import (
	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/core"
)

// Envelope returns the cpanelresult of a function's result or error. API 2
// data is always a list. A failure's data is empty, unless the function
// returned a result with its error: some of API 2's functions
// (Email::addpop, Email::delpop) answer a failure in their data too, where
// clients read it.
func Envelope(module, fn string, res *api.Result, err error) map[string]any {
	cr := map[string]any{
		"apiversion": 2,
		"func":       fn,
		"module":     module,
	}
	if err != nil {
		msg := core.Message(err)
		cr["error"] = msg
		cr["event"] = map[string]any{"result": 0, "reason": msg}
		var data any = []any{}
		if res != nil && res.Data != nil {
			data = res.Data
		}
		cr["data"] = data
		return map[string]any{"cpanelresult": cr}
	}
	cr["event"] = map[string]any{"result": 1}
	var data any = []any{}
	if res != nil && res.Data != nil {
		data = res.Data
	}
	cr["data"] = data
	return map[string]any{"cpanelresult": cr}
}

// ProxyError is the WHM-side error shape of /json-api/cpanel (apiversion 2):
// {"cpanelresult":{"data":{"reason":msg,"result":"0"},"type":"text","error":msg}}.
func ProxyError(msg string) map[string]any {
	return map[string]any{"cpanelresult": map[string]any{
		"data":  map[string]any{"reason": msg, "result": "0"},
		"type":  "text",
		"error": msg,
	}}
}

// UnknownFunction is API 2's error for a missing function.
func UnknownFunction(module, fn string) error {
	return core.Errorf(core.KindNotFound, "Could not find function '%s' in module '%s'", fn, module)
}

// AccessDenied is D5's body: the bytes every failed authentication gets.
const AccessDenied = `{"cpanelresult":{"apiversion":"2","error":"Access denied","data":{"reason":"Access denied","result":"0"},"type":"text"}}`
