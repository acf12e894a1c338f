package functions

import (
	"context"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/api/api2"
	"github.com/cpauth/cpauth/internal/api/uapi"
	"github.com/cpauth/cpauth/internal/api/whmapi1"
)

// RunWHM1 finds and runs a WHM API 1 function.
func RunWHM1(ctx context.Context, r *api.Registry, c *api.Call) (*api.Result, error) {
	f, ok := r.Lookup(api.WHM1, "", c.Func)
	if !ok {
		return nil, whmapi1.UnknownFunction(c.Func)
	}
	return f.Call(ctx, c)
}

// RunAPI2 finds and runs a cPanel API 2 function.
func RunAPI2(ctx context.Context, r *api.Registry, c *api.Call) (*api.Result, error) {
	f, ok := r.Lookup(api.API2, c.Module, c.Func)
	if !ok {
		return nil, api2.UnknownFunction(c.Module, c.Func)
	}
	return f.Call(ctx, c)
}

// RunUAPI finds and runs a UAPI function with cPanel's errors for unknown
// modules and functions.
func RunUAPI(ctx context.Context, r *api.Registry, c *api.Call) (*api.Result, error) {
	if !validName(c.Module) || !validName(c.Func) {
		return nil, uapi.IllegalName(c.Func)
	}
	f, ok := r.Lookup(api.UAPI, c.Module, c.Func)
	if !ok {
		if !r.HasModule(api.UAPI, c.Module) {
			return nil, uapi.UnknownModule(c.Module)
		}
		return nil, uapi.UnknownFunction(c.Module, c.Func)
	}
	return f.Call(ctx, c) // Permitted says D4's words for Webmail
}

// validName reports whether s matches ^[A-Za-z_][A-Za-z0-9_]{0,63}$ (a
// loop rather than a regular expression: every UAPI call asks it twice).
func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
