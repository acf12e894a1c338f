// Package whmapi1 writes WHM API 1 envelopes:
// {"data":...,"metadata":{"command","reason","result","version"}}.
package whmapi1

import (
	"fmt"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/core"
)

// Envelope returns the envelope of a function's result or error.
func Envelope(command string, res *api.Result, err error) map[string]any {
	md := map[string]any{"command": command, "version": 1}
	out := map[string]any{"metadata": md}
	if err != nil {
		md["result"] = 0
		md["reason"] = core.Message(err)
		return out
	}
	md["result"] = 1
	md["reason"] = "OK"
	if res == nil {
		return out
	}
	if res.Reason != "" {
		md["reason"] = res.Reason
	}
	for k, v := range res.Metadata {
		md[k] = v
	}
	if len(res.Warnings) > 0 || len(res.Messages) > 0 {
		output := map[string]any{}
		if len(res.Warnings) > 0 {
			output["warnings"] = res.Warnings
		}
		if len(res.Messages) > 0 {
			output["messages"] = res.Messages
		}
		md["output"] = output
	}
	if res.Data != nil {
		out["data"] = res.Data
	}
	return out
}

// UnknownFunction is cPanel's reason for a function that does not exist.
func UnknownFunction(name string) error {
	return core.Errorf(core.KindNotFound, "Unknown app (%s) requested for this version (1) of the API.", name)
}

// WrongPort is D2's reason for WHM API 1 on a cPanel or Webmail port.
func WrongPort() error {
	plain, tls := core.ServiceWHM.Ports()
	return core.Errorf(core.KindPermission, "Permission denied: WHM API 1 is served on ports %d and %d.", plain, tls)
}

// Result reports whether an envelope says result=1.
func Result(env map[string]any) bool {
	md, _ := env["metadata"].(map[string]any)
	return fmt.Sprint(md["result"]) == "1"
}

// Encode returns the JSON of Envelope(command, res, err), byte for byte as
// api.JSON would write it. The common shapes (an error; a result without
// extra metadata, warnings or messages) are written directly, keys in the
// sorted order JSON gives a map; the rest go through Envelope.
func Encode(command string, res *api.Result, err error) []byte {
	return AppendEncode(make([]byte, 0, 256), command, res, err)
}

// AppendEncode appends what Encode returns to dst.
func AppendEncode(dst []byte, command string, res *api.Result, err error) []byte {
	if err == nil && res != nil && (len(res.Metadata) > 0 || len(res.Warnings) > 0 || len(res.Messages) > 0) {
		return append(dst, api.JSON(Envelope(command, res, err))...)
	}
	start := len(dst)
	b := append(dst, '{')
	result, reason := "1", "OK"
	if err != nil {
		result, reason = "0", core.Message(err)
	} else if res != nil {
		if res.Reason != "" {
			reason = res.Reason
		}
		if res.Data != nil {
			b = append(b, `"data":`...)
			var jerr error
			if b, jerr = api.AppendJSON(b, res.Data); jerr != nil {
				return append(b[:start], api.EncodeFailed()...)
			}
			b = append(b, ',')
		}
	}
	b = append(b, `"metadata":{"command":`...)
	b = api.AppendJSONString(b, command)
	b = append(b, `,"reason":`...)
	b = api.AppendJSONString(b, reason)
	b = append(b, `,"result":`...)
	b = append(b, result...)
	b = append(b, `,"version":1}}`...)
	return b
}
