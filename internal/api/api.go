// Package api is the shape of an API call: arguments, the function registry
// with each function's privilege, and the dispatch that checks it.
package api

import (
	"context"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/cpauth/cpauth/internal/core"
)

// Flavour is one of cPanel's API families.
type Flavour int

const (
	WHM1 Flavour = iota + 1 // WHM API 1: /json-api/<func>?api.version=1
	UAPI                    // UAPI: /execute/<Module>/<func>
	API2                    // cPanel API 2: /json-api/cpanel?cpanel_jsonapi_apiversion=2
)

func (f Flavour) String() string {
	switch f {
	case WHM1:
		return "whmapi1"
	case UAPI:
		return "uapi"
	case API2:
		return "api2"
	}
	return "unknown"
}

// Args are a call's arguments in the order received; keys may repeat.
type Args struct {
	kv [][2]string
}

// NewArgs builds Args from pairs.
func NewArgs(pairs ...[2]string) Args { return Args{kv: pairs} }

// Add appends a key/value pair.
func (a *Args) Add(k, v string) { a.kv = append(a.kv, [2]string{k, v}) }

// Get returns the first value of k ("" when absent).
func (a Args) Get(k string) string {
	v, _ := a.Lookup(k)
	return v
}

// Lookup returns the first value of k and whether it was given.
func (a Args) Lookup(k string) (string, bool) {
	for _, p := range a.kv {
		if p[0] == k {
			return p[1], true
		}
	}
	return "", false
}

// Has reports whether k was given.
func (a Args) Has(k string) bool {
	_, ok := a.Lookup(k)
	return ok
}

// Bool reads a cPanel boolean (1/0; also true/false, yes/no, on/off).
func (a Args) Bool(k string) bool {
	switch strings.ToLower(strings.TrimSpace(a.Get(k))) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// Multi returns every value of a repeatable argument in cPanel's two forms:
// repeated "k" keys and numbered "k-0", "k-1"... keys (in numeric order).
func (a Args) Multi(k string) []string {
	type nv struct {
		n int
		v string
	}
	var plain []string
	var numbered []nv
	dash := k + "-"
	for _, p := range a.kv {
		if p[0] == k {
			plain = append(plain, p[1])
			continue
		}
		if rest, ok := strings.CutPrefix(p[0], dash); ok {
			if n, err := strconv.Atoi(rest); err == nil && n >= 0 {
				numbered = append(numbered, nv{n, p[1]})
			}
		}
	}
	sort.SliceStable(numbered, func(i, j int) bool { return numbered[i].n < numbered[j].n })
	for _, x := range numbered {
		plain = append(plain, x.v)
	}
	return plain
}

// MultiAtMost is Multi for an argument that can meaningfully hold at most
// max values: more are refused, with a reason, before any is collected
// (each value may cost its function work, and a list longer than what it
// can hold is a mistake or an attack).
func (a Args) MultiAtMost(k string, max int) ([]string, error) {
	n := 0
	dash := k + "-"
	for _, p := range a.kv {
		if p[0] == k || strings.HasPrefix(p[0], dash) {
			n++
		}
	}
	if n > max {
		return nil, core.Errorf(core.KindInvalid, "The “%s” argument was given %d times; it takes at most %d values.", k, n, max)
	}
	return a.Multi(k), nil
}

// CountPrefix is how many arguments have a name that begins with prefix
// (setacls' acl-<name>=1, say).
func (a Args) CountPrefix(prefix string) int {
	n := 0
	for _, p := range a.kv {
		if strings.HasPrefix(p[0], prefix) {
			n++
		}
	}
	return n
}

// Pairs returns every key/value pair in order.
func (a Args) Pairs() [][2]string { return a.kv }

// Len is the number of pairs.
func (a Args) Len() int { return len(a.kv) }

// Call is one API call on its way to a function.
type Call struct {
	Flavour Flavour
	Module  string // UAPI and API 2; "" for WHM API 1
	Func    string
	Args    Args
	// Principal is who the function acts as. For WHM-to-cPanel calls it is
	// the target cPanel account; Caller is then the WHM principal.
	Principal core.Principal
	Caller    *core.Principal
	Remote    netip.Addr
	// Host is the host name the caller used (for URLs functions return).
	Host string
}

// Result is what a function returns.
type Result struct {
	Data any
	// Reason is WHM API 1's metadata.reason on success ("OK" when empty).
	Reason   string
	Messages []string
	Warnings []string
	// Metadata adds keys to the envelope's metadata.
	Metadata map[string]any
}

// Handler runs a function. With an error it returns a nil Result, or one
// whose Data is the failure's data in API 2 (api2.Envelope); the other
// flavours write only the error.
type Handler func(ctx context.Context, c *Call) (*Result, error)
