package hulk

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is the regulator's configuration: cPHulk's keys (PROTOCOL.md
// 11.1), read from the store over the defaults.
type Config struct {
	Enabled bool
	// MaxFailures per login name within BruteForcePeriod blocks the name
	// (per-user protection) for BruteForcePeriod.
	MaxFailures      int
	BruteForcePeriod time.Duration
	// MaxFailuresByIP per address within IPBruteForcePeriod blocks the
	// address for IPBruteForcePeriod.
	MaxFailuresByIP    int
	IPBruteForcePeriod time.Duration
	// MarkAsBrute per address within Lookback blocks it for a day.
	MarkAsBrute int
	Lookback    time.Duration

	IPBasedProtection bool
	// UserBasedProtection applies per-user protection to every address;
	// UserLocalOrigin to loopback addresses even when it is off;
	// UserForRoot to root as well.
	UserBasedProtection bool
	UserLocalOrigin     bool
	UserForRoot         bool
}

// ExcessiveBlock is how long an address that reached mark_as_brute stays
// blocked (cPHulk: one day).
const ExcessiveBlock = 24 * time.Hour

type keyKind int

const (
	kindBool keyKind = iota
	kindInt
	kindString
)

// key is one configuration key as the API shows it.
type key struct {
	name     string
	def      string
	kind     keyKind
	min, max int
	// inert keys are kept and shown for cPanel's clients but change
	// nothing: cpauth drives no firewall and runs no commands.
	inert bool
}

// keys are the configuration keys load_cphulk_config shows and
// save_cphulk_config / set_cphulk_config_key take. cpauth's defaults are
// cPHulk's, except that per-user protection is on, root included
// (username_based_protection and username_based_protection_for_root are 1):
// a blocked name is still admitted from an address it logged in from
// before, so a guesser cannot lock its owner out.
var keys = []key{
	{name: "is_enabled", def: "1", kind: kindBool},
	{name: "max_failures", def: "15", kind: kindInt, min: 1, max: 100000},
	{name: "max_failures_byip", def: "5", kind: kindInt, min: 1, max: 100000},
	{name: "mark_as_brute", def: "30", kind: kindInt, min: 1, max: 100000},
	{name: "brute_force_period_mins", def: "5", kind: kindInt, min: 1, max: 525600},
	{name: "ip_brute_force_period_mins", def: "15", kind: kindInt, min: 1, max: 525600},
	{name: "lookback_period_min", def: "360", kind: kindInt, min: 1, max: 525600},
	{name: "ip_based_protection", def: "1", kind: kindBool},
	{name: "username_based_protection", def: "1", kind: kindBool},
	{name: "username_based_protection_local_origin", def: "1", kind: kindBool},
	{name: "username_based_protection_for_root", def: "1", kind: kindBool},
	{name: "block_brute_force_with_firewall", def: "0", kind: kindBool, inert: true},
	{name: "block_excessive_brute_force_with_firewall", def: "1", kind: kindBool, inert: true},
	{name: "notify_on_brute", def: "0", kind: kindBool, inert: true},
	{name: "notify_on_root_login", def: "0", kind: kindBool, inert: true},
	{name: "command_to_run_on_brute_force", def: "", kind: kindString, inert: true},
	{name: "command_to_run_on_excessive_brute_force", def: "", kind: kindString, inert: true},
}

func findKey(name string) (key, bool) {
	for _, k := range keys {
		if k.name == name {
			return k, true
		}
	}
	return key{}, false
}

// KeyNames lists the configuration keys in their documented order.
func KeyNames() []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.name
	}
	return out
}

// Defaults returns every key's default value.
func Defaults() map[string]string {
	m := make(map[string]string, len(keys))
	for _, k := range keys {
		m[k.name] = k.def
	}
	return m
}

// ValidateValue checks and normalises one key's value ("on"/"off" style
// booleans are not cPanel's: 0 or 1).
func ValidateValue(name, value string) (string, error) {
	k, ok := findKey(name)
	if !ok {
		return "", fmt.Errorf("“%s” is not a valid cPHulk configuration key.", name)
	}
	value = strings.TrimSpace(value)
	switch k.kind {
	case kindBool:
		if value != "0" && value != "1" {
			return "", fmt.Errorf("The “%s” value must be 0 or 1.", name)
		}
	case kindInt:
		n, err := strconv.Atoi(value)
		if err != nil || n < k.min || n > k.max {
			return "", fmt.Errorf("The “%s” value must be a whole number from %d to %d.", name, k.min, k.max)
		}
		value = strconv.Itoa(n)
	case kindString:
		if value != "" && strings.HasPrefix(name, "command_to_run") {
			return "", fmt.Errorf("cpauth does not run commands on a brute force attack: “%s” must be empty (read cphulkd.log or the audit log instead).", name)
		}
	}
	return value, nil
}

// Merge validates the changes, applies them over current (stored values
// over defaults) and checks that the result is coherent; it returns the
// normalised changes.
func Merge(current, changes map[string]string) (map[string]string, Config, error) {
	norm := make(map[string]string, len(changes))
	var errs []string
	for _, name := range slices.Sorted(maps.Keys(changes)) {
		v, err := ValidateValue(name, changes[name])
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		norm[name] = v
	}
	if len(errs) > 0 {
		return nil, Config{}, fmt.Errorf("%s", strings.Join(errs, " "))
	}
	all := Defaults()
	maps.Copy(all, current)
	maps.Copy(all, norm)
	cfg, err := Parse(all)
	if err != nil {
		return nil, Config{}, err
	}
	return norm, cfg, nil
}

// Parse builds a Config from stored values over the defaults; a stored
// value that is no longer valid falls back to the default.
func Parse(stored map[string]string) (Config, error) {
	v := Defaults()
	for name, val := range stored {
		if n, err := ValidateValue(name, val); err == nil {
			v[name] = n
		}
	}
	num := func(name string) int { n, _ := strconv.Atoi(v[name]); return n }
	on := func(name string) bool { return v[name] == "1" }
	mins := func(name string) time.Duration { return time.Duration(num(name)) * time.Minute }
	cfg := Config{
		Enabled:             on("is_enabled"),
		MaxFailures:         num("max_failures"),
		BruteForcePeriod:    mins("brute_force_period_mins"),
		MaxFailuresByIP:     num("max_failures_byip"),
		IPBruteForcePeriod:  mins("ip_brute_force_period_mins"),
		MarkAsBrute:         num("mark_as_brute"),
		Lookback:            mins("lookback_period_min"),
		IPBasedProtection:   on("ip_based_protection"),
		UserBasedProtection: on("username_based_protection"),
		UserLocalOrigin:     on("username_based_protection_local_origin"),
		UserForRoot:         on("username_based_protection_for_root"),
	}
	if cfg.MarkAsBrute < cfg.MaxFailuresByIP {
		return cfg, fmt.Errorf("The “mark_as_brute” value (%d) must be at least the “max_failures_byip” value (%d).", cfg.MarkAsBrute, cfg.MaxFailuresByIP)
	}
	if cfg.Lookback < cfg.IPBruteForcePeriod || cfg.Lookback < cfg.BruteForcePeriod {
		return cfg, fmt.Errorf("The “lookback_period_min” value must be at least the “ip_brute_force_period_mins” and “brute_force_period_mins” values.")
	}
	return cfg, nil
}

// window is the longest time a failure can matter.
func (c Config) window() time.Duration {
	return max(c.Lookback, c.IPBruteForcePeriod, c.BruteForcePeriod)
}
