package hulk

import (
	"context"
	"maps"
	"net/netip"
	"slices"
	"strconv"

	"github.com/cpauth/cpauth/internal/store"
)

// The operations of the WHM API functions, the CLI twins and the WHM page.
// Each writes the store at once and updates this process's memory, so that
// what a call changed holds for the very next request; other processes
// learn of it from the change feed.

// Values returns every configuration key with the value in force, as
// load_cphulk_config shows them (plus the seconds twins of the periods and
// can_temp_ban_firewall, which cpauth never does).
func (r *Regulator) Values() map[string]string {
	r.init()
	st := r.state.Load()
	v := Defaults()
	for name, val := range st.values {
		if n, err := ValidateValue(name, val); err == nil {
			v[name] = n
		}
	}
	v["brute_force_period_sec"] = strconv.Itoa(int(st.cfg.BruteForcePeriod.Seconds()))
	v["ip_brute_force_period_sec"] = strconv.Itoa(int(st.cfg.IPBruteForcePeriod.Seconds()))
	v["can_temp_ban_firewall"] = "0"
	return v
}

// SetValues validates and stores configuration keys (all or none).
func (r *Regulator) SetValues(ctx context.Context, changes map[string]string) error {
	r.init()
	if err := r.loadState(ctx); err != nil {
		return err
	}
	norm, _, err := Merge(r.state.Load().values, changes)
	if err != nil {
		return err
	}
	if err := r.Store.SetHulkConfig(ctx, norm); err != nil {
		return err
	}
	return r.loadState(ctx)
}

// Records lists a list's records ("" for both).
func (r *Regulator) Records(ctx context.Context, list string) ([]store.HulkRecord, error) {
	return r.Store.ListHulkRecords(ctx, list)
}

// AddRecords adds addresses or ranges to a list. Adding to the allow-list
// also lifts the blocks of the addresses it covers (cPanel reports them as
// ip_blocks_removed). It returns the ranges added (as shown), those
// refused with why, and the number of blocks lifted.
func (r *Regulator) AddRecords(ctx context.Context, list string, ranges []string, comment string) (added []string, failed map[string]string, unblocked int, err error) {
	r.init()
	failed = map[string]string{}
	var recs []store.HulkRecord
	var prefixes []netip.Prefix
	now := r.now()
	for _, s := range ranges {
		p, perr := ParseRange(s)
		if perr != nil {
			failed[s] = perr.Error()
			continue
		}
		recs = append(recs, store.HulkRecord{List: list, CIDR: p.String(), Comment: comment, Created: now})
		prefixes = append(prefixes, p)
		added = append(added, ShowRange(p.String()))
	}
	if len(recs) > 0 {
		if err := r.Store.PutHulkRecords(ctx, recs); err != nil {
			return nil, nil, 0, err
		}
	}
	if list == store.HulkAllow && len(prefixes) > 0 {
		if err := r.Flush(ctx); err != nil {
			return nil, nil, 0, err
		}
		var keys []string
		r.bmu.RLock()
		for id := range r.blocks {
			if id.kind == store.HulkBlockUser {
				continue
			}
			if k, ok := parseKey(id.key); ok && slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(k) }) {
				keys = append(keys, id.key)
			}
		}
		r.bmu.RUnlock()
		if len(keys) > 0 {
			n, err := r.Store.DeleteHulkBlocks(ctx, "", keys)
			if err != nil {
				return nil, nil, 0, err
			}
			unblocked = n
			r.forgetAddressBlocks(keys)
		}
	}
	return added, failed, unblocked, r.loadState(ctx)
}

// DeleteRecords removes addresses or ranges from a list.
func (r *Regulator) DeleteRecords(ctx context.Context, list string, ranges []string) (removed []string, failed map[string]string, err error) {
	r.init()
	failed = map[string]string{}
	for _, s := range ranges {
		p, perr := ParseRange(s)
		if perr != nil {
			failed[s] = perr.Error()
			continue
		}
		n, err := r.Store.DeleteHulkRecords(ctx, list, []string{p.String()})
		if err != nil {
			return nil, nil, err
		}
		if n == 0 {
			failed[s] = "“" + s + "” is not on the list."
			continue
		}
		removed = append(removed, ShowRange(p.String()))
	}
	return removed, failed, r.loadState(ctx)
}

// OnList reports whether an address is on a list (in force here).
func (r *Regulator) OnList(list string, a netip.Addr) bool {
	r.init()
	st := r.state.Load()
	if list == store.HulkAllow {
		return st.allow.contains(a.Unmap())
	}
	return st.deny.contains(a.Unmap())
}

// Blocks lists the blocks in force (this node's included, written first).
func (r *Regulator) Blocks(ctx context.Context) ([]store.HulkBlock, error) {
	r.init()
	if err := r.Flush(ctx); err != nil {
		return nil, err
	}
	return r.Store.ListHulkBlocks(ctx, r.now())
}

// Failures lists the failures within the lookback period, oldest first.
func (r *Regulator) Failures(ctx context.Context) ([]store.HulkFailure, error) {
	r.init()
	if err := r.Flush(ctx); err != nil {
		return nil, err
	}
	return r.Store.ListHulkFailures(ctx, 0, r.now().Add(-r.state.Load().cfg.Lookback), 0)
}

// FlushHistory forgets every failure and lifts every block; it returns how
// many records went.
func (r *Regulator) FlushHistory(ctx context.Context) (int, error) {
	r.init()
	if err := r.flush(ctx, true); err != nil { // the groups piled up too
		return 0, err
	}
	n, err := r.Store.DeleteHulkFailures(ctx, nil)
	if err != nil {
		return 0, err
	}
	b, err := r.Store.DeleteHulkBlocks(ctx, "", nil)
	if err != nil {
		return n, err
	}
	r.mu.Lock()
	r.resetCounters()
	r.secrets = map[pair]*secretRing{}
	r.mu.Unlock()
	r.pmu.Lock()
	r.rows = events{} // the rows it counted are gone
	r.pmu.Unlock()
	r.forgetBlocks(func(blockID) bool { return true })
	return n + b, nil
}

// FlushAddresses forgets the failures of the given addresses and lifts
// their blocks; it returns how many records went.
func (r *Regulator) FlushAddresses(ctx context.Context, addrs []netip.Addr) (int, error) {
	r.init()
	var strs, keys []string
	ks := map[netip.Addr]bool{}
	for _, a := range addrs {
		a = a.Unmap()
		strs = append(strs, a.String())
		k := AddrKey(a)
		if !ks[k] {
			ks[k] = true
			keys = append(keys, keyString(k))
		}
	}
	if err := r.Flush(ctx); err != nil {
		return 0, err
	}
	n, err := r.Store.DeleteHulkFailures(ctx, strs)
	if err != nil {
		return 0, err
	}
	b, err := r.Store.DeleteHulkBlocks(ctx, store.HulkBlockIP, keys)
	if err != nil {
		return n, err
	}
	e, err := r.Store.DeleteHulkBlocks(ctx, store.HulkBlockExcessive, keys)
	if err != nil {
		return n + b, err
	}
	r.mu.Lock()
	for k := range ks {
		delete(r.ips[0], bucketAt(k, 0))
	}
	for p := range r.secrets {
		if ks[p.addr] {
			delete(r.secrets, p)
		}
	}
	r.mu.Unlock()
	r.forgetAddressBlocks(keys)
	return n + b + e, nil
}

// Unblock lifts one block (the WHM page's button): an address's blocks of
// both kinds and its failures, or a user's block and the failures counted
// against the name.
func (r *Regulator) Unblock(ctx context.Context, kind, key string) (int, error) {
	r.init()
	if kind != store.HulkBlockUser {
		a, ok := parseKey(key)
		if !ok {
			return 0, nil
		}
		return r.FlushAddresses(ctx, []netip.Addr{a})
	}
	if err := r.Flush(ctx); err != nil {
		return 0, err
	}
	n, err := r.Store.DeleteHulkBlocks(ctx, store.HulkBlockUser, []string{key})
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	delete(r.users, key)
	r.mu.Unlock()
	r.forgetBlocks(func(id blockID) bool { return id.kind == store.HulkBlockUser && id.key == key })
	return n, nil
}

func (r *Regulator) forgetBlocks(match func(blockID) bool) {
	r.bmu.Lock()
	maps.DeleteFunc(r.blocks, func(id blockID, _ store.HulkBlock) bool { return match(id) })
	r.reindexLocked()
	// The filter cannot forget one key: it forgets them all. A key it held
	// is blocked again at its next failure, its counts being kept.
	r.filt.reset()
	r.publishBlocksLocked()
	r.bmu.Unlock()
}

// forgetAddressBlocks forgets the address blocks (of both kinds) of keys.
func (r *Regulator) forgetAddressBlocks(keys []string) {
	r.forgetBlocks(func(id blockID) bool { return id.kind != store.HulkBlockUser && slices.Contains(keys, id.key) })
}

// SetEnabled turns the regulator on or off (is_enabled).
func (r *Regulator) SetEnabled(ctx context.Context, on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	return r.SetValues(ctx, map[string]string{"is_enabled": v})
}
