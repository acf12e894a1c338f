package api

import (
	"context"
	"fmt"
	"sort"

	"github.com/cpauth/cpauth/internal/core"
)

// Access says who may call a function.
type Access int

const (
	// AnyWHM: any root or reseller principal (version, applist, myprivs).
	AnyWHM Access = iota + 1
	// NeedACL: root, or a reseller holding Func.ACL.
	NeedACL
	// RootOnly: principals holding "all".
	RootOnly
	// Account: a cPanel account (and, if WebmailSafe, a webmail user).
	Account
)

// Func is one registered API function.
type Func struct {
	Flavour Flavour
	Module  string
	Name    string
	Access  Access
	ACL     string
	// WebmailSafe functions may run inside a Webmail session (D4).
	WebmailSafe bool
	// ReadOnly functions change nothing (read-only tokens may call them).
	ReadOnly bool
	Handler  Handler
}

// FullName is "Module::func" or "func".
func (f *Func) FullName() string {
	if f.Module == "" {
		return f.Name
	}
	return f.Module + "::" + f.Name
}

type key struct {
	f      Flavour
	module string
	name   string
}

// Registry is the table of every function by flavour, module and name.
type Registry struct {
	m map[key]*Func
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{m: map[key]*Func{}} }

// Register adds functions; it panics on a duplicate (a programming error
// found at start-up by every test).
func (r *Registry) Register(fs ...*Func) {
	for _, f := range fs {
		k := key{f.Flavour, f.Module, f.Name}
		if _, dup := r.m[k]; dup {
			panic(fmt.Sprintf("api: %s %s registered twice", f.Flavour, f.FullName()))
		}
		if f.Access == NeedACL && f.ACL == "" {
			panic(fmt.Sprintf("api: %s needs an ACL name", f.FullName()))
		}
		r.m[k] = f
	}
}

// Lookup finds a function.
func (r *Registry) Lookup(fl Flavour, module, name string) (*Func, bool) {
	f, ok := r.m[key{fl, module, name}]
	return f, ok
}

// HasModule reports whether any function of the flavour lives in module.
func (r *Registry) HasModule(fl Flavour, module string) bool {
	for k := range r.m {
		if k.f == fl && k.module == module {
			return true
		}
	}
	return false
}

// All lists every function sorted by flavour, module and name.
func (r *Registry) All() []*Func {
	out := make([]*Func, 0, len(r.m))
	for _, f := range r.m {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Flavour != b.Flavour {
			return a.Flavour < b.Flavour
		}
		if a.Module != b.Module {
			return a.Module < b.Module
		}
		return a.Name < b.Name
	})
	return out
}

// Permitted checks the function's declared privilege against the principal.
// It returns nil or a KindPermission error.
func (f *Func) Permitted(p core.Principal) error {
	if p.ReadOnly && !f.ReadOnly {
		return core.Errorf(core.KindPermission, "The API token “%s” is read-only: it cannot call %s, which changes data.", p.TokenName, f.FullName())
	}
	switch f.Access {
	case AnyWHM:
		if p.Role == core.RoleRoot || p.Role == core.RoleReseller {
			return nil
		}
	case NeedACL:
		if (p.Role == core.RoleRoot || p.Role == core.RoleReseller) && p.HasACL(f.ACL) {
			return nil
		}
	case RootOnly:
		if (p.Role == core.RoleRoot || p.Role == core.RoleReseller) && p.HasACL(core.ACLAll) {
			return nil
		}
	case Account:
		if p.Role == core.RoleCPanel || p.Role == core.RoleReseller {
			return nil
		}
		if p.Role == core.RoleWebmail && f.WebmailSafe {
			return nil
		}
	}
	return core.Errorf(core.KindPermission, "Permission denied")
}

// Call runs the function after the privilege check.
func (f *Func) Call(ctx context.Context, c *Call) (*Result, error) {
	if err := f.Permitted(c.Principal); err != nil {
		return nil, err
	}
	res, err := f.Handler(ctx, c)
	if err == nil && res == nil {
		res = &Result{}
	}
	return res, err
}
