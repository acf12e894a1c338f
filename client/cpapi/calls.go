package cpapi

import (
	"context"
	"encoding/json"
	"net/url"
)

// WHM1Result is a WHM API 1 envelope.
type WHM1Result struct {
	// Data is the function's data (absent for some functions).
	Data     json.RawMessage `json:"data"`
	Metadata WHM1Metadata    `json:"metadata"`
}

// WHM1Metadata is a WHM API 1 envelope's metadata.
type WHM1Metadata struct {
	Command string
	Reason  string
	// Result is 1 for success, 0 for failure (sent as a number or a
	// string).
	Result  int
	Version int
	// Warnings and Messages are metadata.output's.
	Warnings []string
	Messages []string
}

// UnmarshalJSON reads the metadata whatever the type of its numbers.
func (m *WHM1Metadata) UnmarshalJSON(b []byte) error {
	var raw struct {
		Command string  `json:"command"`
		Reason  string  `json:"reason"`
		Result  flexInt `json:"result"`
		Version flexInt `json:"version"`
		Output  struct {
			Warnings []string `json:"warnings"`
			Messages []string `json:"messages"`
		} `json:"output"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*m = WHM1Metadata{Command: raw.Command, Reason: raw.Reason, Result: int(raw.Result), Version: int(raw.Version),
		Warnings: raw.Output.Warnings, Messages: raw.Output.Messages}
	return nil
}

// WHM1 calls a WHM API 1 function (POST /json-api/<fn> with
// api.version=1). A function that fails (metadata.result 0) returns its
// result and an *APIError with the reason.
func (c *Client) WHM1(ctx context.Context, fn string, args url.Values) (*WHM1Result, error) {
	form := url.Values{"api.version": {"1"}}
	for k, v := range args {
		form[k] = v
	}
	status, body, err := c.do(ctx, "/json-api/"+url.PathEscape(fn), form)
	if err != nil {
		return nil, err
	}
	var res WHM1Result
	if err := decode(status, body, &res); err != nil {
		return nil, err
	}
	if res.Metadata.Result != 1 {
		return &res, &APIError{Reason: res.Metadata.Reason}
	}
	return &res, nil
}

// UAPIResult is a UAPI result object.
type UAPIResult struct {
	Status   flexInt         `json:"status"`
	Data     json.RawMessage `json:"data"`
	Errors   []string        `json:"errors"`
	Messages []string        `json:"messages"`
	Warnings []string        `json:"warnings"`
	Metadata json.RawMessage `json:"metadata"`
}

// UAPI calls a UAPI function (POST /execute/<module>/<fn>). A function
// that fails (status 0) returns its result and an *APIError.
func (c *Client) UAPI(ctx context.Context, module, fn string, args url.Values) (*UAPIResult, error) {
	status, body, err := c.do(ctx, "/execute/"+url.PathEscape(module)+"/"+url.PathEscape(fn), args)
	if err != nil {
		return nil, err
	}
	var res UAPIResult
	if err := decode(status, body, &res); err != nil {
		return nil, err
	}
	if res.Status != 1 {
		e := &APIError{Errors: res.Errors, Reason: "UAPI call failed"}
		if len(res.Errors) > 0 {
			e.Reason = res.Errors[0]
		}
		return &res, e
	}
	return &res, nil
}

// API2Result is a cPanel API 2 result (the cpanelresult object).
type API2Result struct {
	Data  json.RawMessage `json:"data"`
	Error string          `json:"error"`
	Event struct {
		Result flexInt `json:"result"`
	} `json:"event"`
}

// API2 calls a cPanel API 2 function (POST /json-api/cpanel with
// cpanel_jsonapi_apiversion=2). user is the cPanel account: the account a
// WHM caller acts for, or the caller itself on cPanel ports ("" there).
func (c *Client) API2(ctx context.Context, user, module, fn string, args url.Values) (*API2Result, error) {
	form := url.Values{
		"cpanel_jsonapi_apiversion": {"2"},
		"cpanel_jsonapi_module":     {module},
		"cpanel_jsonapi_func":       {fn},
	}
	if user != "" {
		form.Set("cpanel_jsonapi_user", user)
	}
	for k, v := range args {
		form[k] = v
	}
	status, body, err := c.do(ctx, "/json-api/cpanel", form)
	if err != nil {
		return nil, err
	}
	var env struct {
		Result *API2Result `json:"cpanelresult"`
	}
	if err := decode(status, body, &env); err != nil {
		return nil, err
	}
	if env.Result == nil {
		return nil, &HTTPError{Status: status, Body: clip(string(body))}
	}
	res := env.Result
	if res.Error != "" {
		return res, &APIError{Reason: res.Error}
	}
	if res.Event.Result != 1 {
		return res, &APIError{Reason: "cPanel API 2 call failed"}
	}
	return res, nil
}
