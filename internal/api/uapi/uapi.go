// Package uapi writes UAPI result objects:
// {"data","errors","messages","metadata","status","warnings"}.
package uapi

import (
	"fmt"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/core"
)

// Envelope returns the bare UAPI result of a function's result or error.
func Envelope(res *api.Result, err error) map[string]any {
	out := map[string]any{
		"data":     nil,
		"errors":   nil,
		"messages": nil,
		"metadata": map[string]any{},
		"warnings": nil,
	}
	if err != nil {
		out["status"] = 0
		out["errors"] = []string{core.Message(err)}
		return out
	}
	out["status"] = 1
	if res == nil {
		return out
	}
	out["data"] = res.Data
	if len(res.Messages) > 0 {
		out["messages"] = res.Messages
	}
	if len(res.Warnings) > 0 {
		out["warnings"] = res.Warnings
	}
	if len(res.Metadata) > 0 {
		out["metadata"] = res.Metadata
	}
	return out
}

// UnknownFunction is cPanel's error for a function missing from a module.
func UnknownFunction(module, fn string) error {
	return core.Errorf(core.KindNotFound, "The system could not find the function “%s” in the module “%s”.", fn, module)
}

// UnknownModule is cPanel's error for a module that does not exist.
func UnknownModule(module string) error {
	return core.Errorf(core.KindNotFound, "Failed to load module “%s”: The module “%s” does not exist.", module, module)
}

// IllegalName is cPanel's error for a malformed function name.
func IllegalName(fn string) error {
	return core.Errorf(core.KindInvalid, "Illegal function name: %s", fn)
}

// WrongPort is D3's error for UAPI on a WHM port.
func WrongPort() error {
	cp, cpTLS := core.ServiceCPanel.Ports()
	wm, wmTLS := core.ServiceWebmail.Ports()
	return core.Errorf(core.KindNotFound, "Function not found: UAPI is served on ports %d and %d (cPanel) and %d and %d (Webmail); WHM callers use /json-api/cpanel or uapi_cpanel.", cp, cpTLS, wm, wmTLS)
}

// Status reports whether a result says status=1.
func Status(env map[string]any) bool { return fmt.Sprint(env["status"]) == "1" }

// Encode returns the JSON of Envelope(res, err), byte for byte as api.JSON
// would write it, without building the envelope's map: the keys are written
// in the sorted order JSON gives a map, the values encoded by JSON.
func Encode(res *api.Result, err error) []byte {
	return AppendEncode(make([]byte, 0, 512), res, err)
}

// AppendEncode appends what Encode returns to dst.
func AppendEncode(dst []byte, res *api.Result, err error) []byte {
	b := dst
	if err != nil {
		b = append(b, `{"data":null,"errors":[`...)
		b = api.AppendJSONString(b, core.Message(err))
		return append(b, `],"messages":null,"metadata":{},"status":0,"warnings":null}`...)
	}
	if res == nil {
		return append(b, `{"data":null,"errors":null,"messages":null,"metadata":{},"status":1,"warnings":null}`...)
	}
	var data, messages, metadata, warnings any = res.Data, nil, nil, nil
	if len(res.Messages) > 0 {
		messages = res.Messages
	}
	if len(res.Warnings) > 0 {
		warnings = res.Warnings
	}
	if len(res.Metadata) > 0 {
		metadata = res.Metadata
	}
	start := len(dst)
	var jerr error
	b = append(b, `{"data":`...)
	if b, jerr = api.AppendJSON(b, data); jerr != nil {
		return append(b[:start], api.EncodeFailed()...)
	}
	b = append(b, `,"errors":null,"messages":`...)
	if b, jerr = api.AppendJSON(b, messages); jerr != nil {
		return append(b[:start], api.EncodeFailed()...)
	}
	b = append(b, `,"metadata":`...)
	if metadata == nil {
		b = append(b, `{}`...)
	} else if b, jerr = api.AppendJSON(b, metadata); jerr != nil {
		return append(b[:start], api.EncodeFailed()...)
	}
	b = append(b, `,"status":1,"warnings":`...)
	if b, jerr = api.AppendJSON(b, warnings); jerr != nil {
		return append(b[:start], api.EncodeFailed()...)
	}
	return append(b, '}')
}
