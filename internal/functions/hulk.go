package functions

import (
	"context"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cpauth/cpauth/internal/api"
	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/hulk"
	"github.com/cpauth/cpauth/internal/store"
)

// cPHulk's WHM API 1 functions (PROTOCOL.md 11.1; parameters and shapes
// from cPanel's documentation), root only. They act through the
// regulator, so that a change holds for the very next request.

func (e *Env) registerHulk(r *api.Registry) {
	fn := func(name string, h api.Handler, readOnly bool) *api.Func {
		return &api.Func{Flavour: api.WHM1, Name: name, Access: api.RootOnly, ReadOnly: readOnly, Mints: api.MintNothing, Handler: h}
	}
	r.Register(
		fn("cphulk_status", e.cphulkStatus, true),
		fn("enable_cphulk", e.enableCphulk(true), false),
		fn("disable_cphulk", e.enableCphulk(false), false),
		fn("load_cphulk_config", e.loadCphulkConfig, true),
		fn("save_cphulk_config", e.saveCphulkConfig, false),
		fn("set_cphulk_config_key", e.setCphulkConfigKey, false),
		fn("create_cphulk_record", e.createCphulkRecord, false),
		fn("delete_cphulk_record", e.deleteCphulkRecord, false),
		fn("read_cphulk_records", e.readCphulkRecords, true),
		fn("get_cphulk_brutes", e.getCphulkBrutes(store.HulkBlockIP, "brutes"), true),
		fn("get_cphulk_excessive_brutes", e.getCphulkBrutes(store.HulkBlockExcessive, "excessive_brutes"), true),
		fn("get_cphulk_user_brutes", e.getCphulkBrutes(store.HulkBlockUser, "user_brutes"), true),
		fn("get_cphulk_failed_logins", e.getCphulkFailedLogins, true),
		fn("flush_cphulk_login_history", e.flushCphulkLoginHistory, false),
		fn("flush_cphulk_login_history_for_ips", e.flushCphulkLoginHistoryForIPs, false),
	)
}

func (e *Env) hulk() (*hulk.Regulator, error) {
	if e.Hulk == nil {
		return nil, core.Errorf(core.KindInternal, "The brute-force regulator is not available.")
	}
	return e.Hulk, nil
}

func (e *Env) cphulkStatus(ctx context.Context, c *api.Call) (*api.Result, error) {
	h, err := e.hulk()
	if err != nil {
		return nil, err
	}
	// degraded is cpauth's: 1 while a table of the regulator is full and
	// it counts what did not fit in coarser buckets (hulk.Stats).
	return &api.Result{Data: map[string]any{"is_enabled": fmtBool(h.Config().Enabled), "service": "cPHulk",
		"degraded": fmtBool(h.Stats().Degraded)}}, nil
}

func (e *Env) enableCphulk(on bool) api.Handler {
	return func(ctx context.Context, c *api.Call) (*api.Result, error) {
		h, err := e.hulk()
		if err != nil {
			return nil, err
		}
		if err := h.SetEnabled(ctx, on); err != nil {
			return nil, core.Internal(err)
		}
		e.Log.Info("cphulk enabled or disabled", "enabled", on, "by", c.Principal.User)
		return &api.Result{}, nil
	}
}

// configData is load_cphulk_config's object: numbers as numbers, the
// command keys as strings.
func configData(h *hulk.Regulator) map[string]any {
	out := map[string]any{}
	for k, v := range h.Values() {
		if n, err := strconv.Atoi(v); err == nil {
			out[k] = n
		} else {
			out[k] = v
		}
	}
	return out
}

func (e *Env) loadCphulkConfig(ctx context.Context, c *api.Call) (*api.Result, error) {
	h, err := e.hulk()
	if err != nil {
		return nil, err
	}
	return &api.Result{Data: map[string]any{"cphulk_config": configData(h)}}, nil
}

// notConfig are arguments save_cphulk_config takes that are not keys.
func notConfig(k string) bool {
	return strings.HasPrefix(k, "api.") || k == "skip_enabled_check"
}

func (e *Env) saveCphulkConfig(ctx context.Context, c *api.Call) (*api.Result, error) {
	h, err := e.hulk()
	if err != nil {
		return nil, err
	}
	changes := map[string]string{}
	for _, kv := range c.Args.Pairs() {
		if notConfig(kv[0]) || slices.Contains([]string{"brute_force_period_sec", "ip_brute_force_period_sec", "can_temp_ban_firewall"}, kv[0]) {
			continue
		}
		changes[kv[0]] = kv[1]
	}
	if len(changes) == 0 {
		return nil, core.Errorf(core.KindInvalid, "Provide at least one cPHulk configuration key to save.")
	}
	if err := h.SetValues(ctx, changes); err != nil {
		return nil, hulkConfigError(err)
	}
	e.Log.Info("cphulk configuration saved", "keys", strings.Join(slices.Sorted(maps.Keys(changes)), ","), "by", c.Principal.User)
	return &api.Result{Data: map[string]any{"cphulk_config": configData(h)}}, nil
}

func (e *Env) setCphulkConfigKey(ctx context.Context, c *api.Call) (*api.Result, error) {
	h, err := e.hulk()
	if err != nil {
		return nil, err
	}
	k, ok := c.Args.Lookup("key")
	if !ok || k == "" {
		return nil, core.Errorf(core.KindInvalid, "Missing parameter: key")
	}
	v, ok := c.Args.Lookup("value")
	if !ok {
		return nil, core.Errorf(core.KindInvalid, "Missing parameter: value")
	}
	if err := h.SetValues(ctx, map[string]string{k: v}); err != nil {
		return nil, hulkConfigError(err)
	}
	e.Log.Info("cphulk configuration key set", "key", k, "by", c.Principal.User)
	return &api.Result{}, nil
}

// hulkConfigError tells a refused configuration (the caller's) from a
// store failure.
func hulkConfigError(err error) error {
	msg := err.Error()
	if strings.HasPrefix(msg, "sqlstore:") || strings.HasPrefix(msg, "cached:") {
		return core.Internal(err)
	}
	return core.Errorf(core.KindInvalid, "%s", msg)
}

// hulkList reads list_name and, unless skip_enabled_check=1, refuses when
// cPHulk is off (as cPanel does).
func (e *Env) hulkList(c *api.Call) (*hulk.Regulator, string, error) {
	h, err := e.hulk()
	if err != nil {
		return nil, "", err
	}
	list := c.Args.Get("list_name")
	if list != store.HulkAllow && list != store.HulkDeny {
		return nil, "", core.Errorf(core.KindInvalid, "The “list_name” parameter must be “white” or “black”.")
	}
	if !c.Args.Bool("skip_enabled_check") && !h.Config().Enabled {
		return nil, "", core.Errorf(core.KindInvalid, "cPHulk is disabled on the server.")
	}
	return h, list, nil
}

func requester(h *hulk.Regulator, c *api.Call) (string, int) {
	if !c.Remote.IsValid() {
		return "", 0
	}
	return c.Remote.String(), fmtBool(h.OnList(store.HulkAllow, c.Remote))
}

// hulkIPs reads ip / ip-N (at least one).
func hulkIPs(c *api.Call) ([]string, error) {
	ips, err := c.Args.MultiAtMost("ip", MaxNamesPerCall)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, core.Errorf(core.KindInvalid, "Missing parameter: ip")
	}
	return ips, nil
}

func (e *Env) createCphulkRecord(ctx context.Context, c *api.Call) (*api.Result, error) {
	h, list, err := e.hulkList(c)
	if err != nil {
		return nil, err
	}
	ips, err := hulkIPs(c)
	if err != nil {
		return nil, err
	}
	comment := c.Args.Get("comment")
	if len(comment) > 255 {
		return nil, core.Errorf(core.KindInvalid, "The “comment” must be at most 255 characters.")
	}
	added, failed, lifted, err := h.AddRecords(ctx, list, ips, comment)
	if err != nil {
		return nil, core.Internal(err)
	}
	if added == nil {
		added = []string{}
	}
	ip, white := requester(h, c)
	e.Log.Info("cphulk record created", "list", list, "ips", strings.Join(added, ","), "by", c.Principal.User)
	data := map[string]any{
		"comment": comment, "ips_added": added, "ips_failed": failed, "ip_blocks_removed": lifted,
		"iptable_bans_removed": 0, "list_name": list, "requester_ip": ip, "requester_ip_is_whitelisted": white,
	}
	if len(added) == 0 {
		var why []string
		for _, k := range slices.Sorted(maps.Keys(failed)) {
			why = append(why, failed[k])
		}
		return &api.Result{Data: data}, core.Errorf(core.KindInvalid, "The system could not add the IP addresses to the list: %s", strings.Join(why, " "))
	}
	return &api.Result{Data: data}, nil
}

func (e *Env) deleteCphulkRecord(ctx context.Context, c *api.Call) (*api.Result, error) {
	h, list, err := e.hulkList(c)
	if err != nil {
		return nil, err
	}
	ips, err := hulkIPs(c)
	if err != nil {
		return nil, err
	}
	removed, failed, err := h.DeleteRecords(ctx, list, ips)
	if err != nil {
		return nil, core.Internal(err)
	}
	if removed == nil {
		removed = []string{}
	}
	ip, white := requester(h, c)
	e.Log.Info("cphulk record deleted", "list", list, "ips", strings.Join(removed, ","), "by", c.Principal.User)
	return &api.Result{Data: map[string]any{
		"ips_removed": removed, "ips_failed": failed, "list_name": list, "requester_ip": ip, "requester_ip_is_whitelisted": white,
	}}, nil
}

func (e *Env) readCphulkRecords(ctx context.Context, c *api.Call) (*api.Result, error) {
	h, list, err := e.hulkList(c)
	if err != nil {
		return nil, err
	}
	recs, err := h.Records(ctx, list)
	if err != nil {
		return nil, core.Internal(err)
	}
	in := map[string]any{}
	for _, r := range recs {
		in[hulk.ShowRange(r.CIDR)] = r.Comment
	}
	ip, white := requester(h, c)
	return &api.Result{Data: map[string]any{"ips_in_list": in, "list_name": list, "requester_ip": ip, "requester_ip_is_whitelisted": white}}, nil
}

// hulkTime is cPHulk's time format in these functions.
func hulkTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// minutesLeft is timeleft: whole minutes until t, rounded up.
func minutesLeft(t, now time.Time) int {
	if !t.After(now) {
		return 0
	}
	return int(math.Ceil(t.Sub(now).Minutes()))
}

// BlockInfo is one block as the get_cphulk_*brutes functions (and the
// WHM page) show it.
func BlockInfo(b store.HulkBlock, now time.Time) map[string]any {
	m := map[string]any{
		"exptime": hulkTime(b.Until), "logintime": hulkTime(b.Created), "timeleft": minutesLeft(b.Until, now),
		"notes": b.Reason + " (" + strconv.Itoa(b.Failures) + " failures)",
	}
	if b.Kind == store.HulkBlockUser {
		m["user"], m["ip"], m["service"], m["authservice"] = b.Key, b.Address, b.Service, "cpauth"
	} else {
		m["ip"], m["user"], m["service"] = hulk.ShowRange(b.Key), b.User, b.Service
	}
	return m
}

func (e *Env) getCphulkBrutes(kind, field string) api.Handler {
	return func(ctx context.Context, c *api.Call) (*api.Result, error) {
		h, err := e.hulk()
		if err != nil {
			return nil, err
		}
		bs, err := h.Blocks(ctx)
		if err != nil {
			return nil, core.Internal(err)
		}
		now := e.now()
		out := []map[string]any{}
		for _, b := range bs {
			if b.Kind == kind {
				out = append(out, BlockInfo(b, now))
			}
		}
		return &api.Result{Data: map[string]any{field: out}}, nil
	}
}

func (e *Env) getCphulkFailedLogins(ctx context.Context, c *api.Call) (*api.Result, error) {
	h, err := e.hulk()
	if err != nil {
		return nil, err
	}
	fs, err := h.Failures(ctx)
	if err != nil {
		return nil, core.Internal(err)
	}
	window := h.Config().IPBruteForcePeriod
	now := e.now()
	out := []map[string]any{}
	for _, f := range fs {
		exp := f.Time.Add(window)
		out = append(out, map[string]any{
			"authservice": f.Method, "exptime": hulkTime(exp), "ip": f.Address, "logintime": hulkTime(f.Time),
			"service": f.Service, "timeleft": minutesLeft(exp, now), "user": f.User,
		})
	}
	return &api.Result{Data: map[string]any{"failed_logins": out}}, nil
}

func (e *Env) flushCphulkLoginHistory(ctx context.Context, c *api.Call) (*api.Result, error) {
	h, err := e.hulk()
	if err != nil {
		return nil, err
	}
	n, err := h.FlushHistory(ctx)
	if err != nil {
		return nil, core.Internal(err)
	}
	e.Log.Info("cphulk login history flushed", "records_removed", n, "by", c.Principal.User)
	return &api.Result{Data: map[string]any{"records_removed": n}}, nil
}

func (e *Env) flushCphulkLoginHistoryForIPs(ctx context.Context, c *api.Call) (*api.Result, error) {
	h, err := e.hulk()
	if err != nil {
		return nil, err
	}
	ips, err := hulkIPs(c)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	for _, s := range ips {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil || a.Zone() != "" {
			return nil, core.Errorf(core.KindInvalid, "“%s” is not a valid IP address.", clipArg(s))
		}
		addrs = append(addrs, a)
	}
	n, err := h.FlushAddresses(ctx, addrs)
	if err != nil {
		return nil, core.Internal(err)
	}
	e.Log.Info("cphulk login history flushed for addresses", "ips", strings.Join(ips, ","), "records_removed", n, "by", c.Principal.User)
	return &api.Result{Data: map[string]any{"records_removed": n, "iptable_bans_removed": 0}}, nil
}

func clipArg(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
