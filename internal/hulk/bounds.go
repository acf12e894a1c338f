package hulk

import (
	"hash/maphash"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/cpauth/cpauth/internal/store"
)

// Limits bound what the regulator remembers, in memory and in the store,
// whatever arrives. A table that is full never stops counting: what does
// not fit is counted in a coarser bucket (see the package comment), which
// can count a key more than it failed, never less.
type Limits struct {
	// Keys is how many addresses (IPv6: /64s), login names, and (name,
	// address) pairs are each tracked one by one.
	Keys int
	// Ranges is how many address ranges are tracked at each coarser level
	// (/24 and /48, then /16 and /32); the last level, a whole address
	// family, is always there.
	Ranges int
	// Blocks is how many blocks are kept as records (listed, stored,
	// shared with the other nodes); the others are held in a fixed-size
	// filter in memory.
	Blocks int
	// Rows is how many failures a node writes to the store one by one
	// within the lookback period; the others are written in groups.
	Rows int
}

// DefaultLimits are the limits a regulator leaves zero take: about
// 120 MB of memory at worst (every table full and every bucket holding its
// 32 failures; a flood of 250,000 new names and addresses takes some 40 MB),
// and about 58,000 rows of failure history (25,000 failures one by one,
// and up to 32,768 rows of groups per node) per lookback period.
func DefaultLimits() Limits {
	return Limits{Keys: 50_000, Ranges: 10_000, Blocks: 50_000, Rows: 25_000}
}

// maxEventsPerKey bounds the failures kept per bucket; beyond it, the two
// closest in time become one (events.merge).
const maxEventsPerKey = 32

// events are one bucket's recent failures, oldest first.
type events struct {
	at []int64  // unix nanoseconds
	w  []uint32 // weights, in quarters
}

func (e *events) add(t time.Time, w int) {
	if len(e.at) >= maxEventsPerKey {
		e.merge()
	}
	// Failures arrive nearly in order; keep the slice sorted anyway.
	n := t.UnixNano()
	i := len(e.at)
	for i > 0 && e.at[i-1] > n {
		i--
	}
	e.at = slices.Insert(e.at, i, n)
	e.w = slices.Insert(e.w, i, uint32(min(max(w, 0), math.MaxUint32)))
}

// merge makes room for one more failure: the two neighbours closest in
// time become one, at the later time, with both weights. Moving a weight
// later can only keep it in a window longer, so a sum over any window stays
// at least the true one: a bucket that keeps failing is never under-counted,
// however many failures it gets.
func (e *events) merge() {
	best := 0
	for i := 1; i+1 < len(e.at); i++ {
		if e.at[i+1]-e.at[i] < e.at[best+1]-e.at[best] {
			best = i
		}
	}
	e.w[best+1] = uint32(min(uint64(e.w[best])+uint64(e.w[best+1]), math.MaxUint32))
	e.at = slices.Delete(e.at, best, best+1)
	e.w = slices.Delete(e.w, best, best+1)
}

// sum is the weight of the failures at or after since.
func (e *events) sum(since time.Time) int {
	if e == nil {
		return 0
	}
	s := since.UnixNano()
	total := 0
	for i := len(e.at) - 1; i >= 0 && e.at[i] >= s; i-- {
		total += int(e.w[i])
	}
	return total
}

// prune drops the failures before since and reports whether none is left.
func (e *events) prune(since time.Time) bool {
	s := since.UnixNano()
	i := 0
	for i < len(e.at) && e.at[i] < s {
		i++
	}
	e.at, e.w = e.at[i:], e.w[i:]
	return len(e.at) == 0
}

// levels is the number of address levels; addressBits are their prefix
// lengths, finest first, for IPv4 and IPv6: the address (its /64), then
// its /24 (/48), its /16 (/32), and its whole family.
const levels = 4

var addressBits = [2][levels]int{{32, 24, 16, 0}, {64, 48, 32, 0}}

func family(a netip.Addr) int {
	if a.Is6() {
		return 1
	}
	return 0
}

// bucketAt is the bucket of address key k at level lv.
func bucketAt(k netip.Addr, lv int) netip.Prefix {
	p, _ := k.Prefix(addressBits[family(k)][lv])
	return p
}

// levelOf is the finest level that covers every address of p.
func levelOf(p netip.Prefix) int {
	bits := addressBits[family(p.Addr())]
	for lv, b := range bits {
		if b <= p.Bits() {
			return lv
		}
	}
	return levels - 1
}

// nameGroups is how many groups login names that do not fit the table are
// counted in. The group of a name is a fixed hash (FNV-1a), the same on
// every node, so that groups written to the store mean the same to all:
// that anyone can tell which names share a group gives nothing away, as
// anyone can block a name by failing with it.
const nameGroups = 4096

func nameGroup(name string) int {
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	return int(h % nameGroups)
}

// Groups of names as written in the store's user column (rows of method
// aggregateMethod only, so that no login name is taken for one).
const allNamesGroup = "#*"

func groupName(g int) string { return "#" + strconv.Itoa(g) }

// parseGroup reads a group back: its number, or -1 for all names.
func parseGroup(s string) (int, bool) {
	if s == allNamesGroup {
		return -1, true
	}
	if len(s) < 2 || s[0] != '#' {
		return 0, false
	}
	g, err := strconv.Atoi(s[1:])
	return g, err == nil && g >= 0 && g < nameGroups
}

// aggregateMethod marks a row of the failure history that stands for
// failures written in a group (an address range, or a group of names), as
// written once the node's row budget is spent.
const aggregateMethod = "aggregate"

// filter holds the blocks that found the block table full: a fixed array
// of "blocked until" times (unix seconds), each key spread on filterHashes
// of them, a key being blocked while all of its cells are (a Bloom filter
// of times). Keys that share all their cells with a blocked key are
// refused too: as the filter fills, it refuses more, never less. It lives
// in memory only, under the regulator's bmu.
type filter struct {
	seed  maphash.Seed
	cells []uint32
	last  int64 // the latest end of an entry (unix seconds); 0: empty
}

const (
	filterCells  = 1 << 22 // 16 MiB, allocated when first used
	filterHashes = 3
)

func (f *filter) hashAddr(k netip.Addr) uint64 {
	var h maphash.Hash
	h.SetSeed(f.seed)
	b := k.As16()
	h.WriteByte('a')
	h.Write(b[:])
	return h.Sum64()
}

func (f *filter) hashName(name string) uint64 {
	var h maphash.Hash
	h.SetSeed(f.seed)
	h.WriteByte('u')
	h.WriteString(name)
	return h.Sum64()
}

func (f *filter) cell(h uint64, i int) int {
	return int((uint32(h) + uint32(i)*(uint32(h>>32)|1)) % filterCells)
}

func (f *filter) add(h uint64, until time.Time) {
	if f.cells == nil {
		f.cells = make([]uint32, filterCells)
	}
	// Rounded up: a block held here is never shorter than decided.
	s := min(until.Unix()+1, math.MaxUint32)
	for i := range filterHashes {
		c := f.cell(h, i)
		f.cells[c] = max(f.cells[c], uint32(s))
	}
	f.last = max(f.last, s)
}

// until is when the key with hash h stops being blocked (zero: it is not).
func (f *filter) until(h uint64) time.Time {
	if f.last == 0 {
		return time.Time{}
	}
	u := uint32(math.MaxUint32)
	for i := range filterHashes {
		u = min(u, f.cells[f.cell(h, i)])
	}
	if u == 0 {
		return time.Time{}
	}
	return time.Unix(int64(u), 0)
}

func (f *filter) live(now time.Time) bool { return f.last > now.Unix() }

func (f *filter) reset() {
	f.cells, f.last = nil, 0
}

// pile gathers the failures to be written in groups, at most pileRows
// groups of addresses and as many of names: when more arrive, the
// addresses are grouped by a coarser level and the names all together.
type pile struct {
	level int // the address level groups are made at (1 … levels-1)
	addrs map[netip.Prefix]*tally
	names map[string]*tally
}

// pileRows bounds the groups of each side a write holds.
const pileRows = 32

type tally struct {
	at      time.Time // the latest failure's: the group counts from there
	weight  int
	service string
}

func (t *tally) add(at time.Time, weight int, service string) {
	if at.After(t.at) {
		t.at = at
	}
	t.weight += weight
	if t.service == "" {
		t.service = service
	}
}

func (p *pile) empty() bool { return len(p.addrs) == 0 && len(p.names) == 0 }

// add puts a failure (or a group read back) on the pile.
func (p *pile) add(f store.HulkFailure) {
	if p.addrs == nil {
		p.level, p.addrs, p.names = 1, map[netip.Prefix]*tally{}, map[string]*tally{}
	}
	aggregate := f.Method == aggregateMethod
	if aggregate {
		if r, err := netip.ParsePrefix(f.Address); err == nil {
			p.addAddr(r.Masked(), f)
		}
	} else if a, err := netip.ParseAddr(f.Address); err == nil {
		p.addAddr(netip.PrefixFrom(AddrKey(a), addressBits[family(AddrKey(a))][0]), f)
	}
	switch {
	case f.User == "":
	case aggregate:
		if _, ok := parseGroup(f.User); ok {
			p.addName(f.User, f)
		}
	default:
		p.addName(groupName(nameGroup(f.User)), f)
	}
}

func (p *pile) addAddr(r netip.Prefix, f store.HulkFailure) {
	key := func(r netip.Prefix) netip.Prefix {
		lv := max(p.level, levelOf(r))
		return bucketAt(r.Addr(), lv)
	}
	k := key(r)
	for p.addrs[k] == nil && len(p.addrs) >= pileRows && p.level < levels-1 {
		// Too many groups for one write: group coarser.
		p.level++
		old := p.addrs
		p.addrs = make(map[netip.Prefix]*tally, len(old))
		for r, t := range old {
			nk := key(r)
			if p.addrs[nk] == nil {
				p.addrs[nk] = &tally{}
			}
			p.addrs[nk].add(t.at, t.weight, t.service)
		}
		k = key(r)
	}
	if p.addrs[k] == nil {
		p.addrs[k] = &tally{}
	}
	p.addrs[k].add(f.Time, f.Weight, f.Service)
}

func (p *pile) addName(g string, f store.HulkFailure) {
	if p.names[g] == nil && len(p.names) >= pileRows && g != allNamesGroup {
		// Too many groups for one write: all names together.
		all := &tally{}
		for _, t := range p.names {
			all.add(t.at, t.weight, t.service)
		}
		p.names = map[string]*tally{allNamesGroup: all}
	}
	if _, ok := p.names[allNamesGroup]; ok {
		g = allNamesGroup
	}
	if p.names[g] == nil {
		p.names[g] = &tally{}
	}
	p.names[g].add(f.Time, f.Weight, f.Service)
}

// rows are the pile's groups as failure rows of node: an address range
// with no name, a group of names with no address.
func (p *pile) rows(node string) []store.HulkFailure {
	var out []store.HulkFailure
	row := func(t *tally) store.HulkFailure {
		return store.HulkFailure{Node: node, Time: t.at, Service: t.service, Method: aggregateMethod, Weight: t.weight,
			Reason: "failures counted together while cPHulk's tables were full"}
	}
	for _, r := range slices.SortedFunc(maps.Keys(p.addrs), func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	}) {
		f := row(p.addrs[r])
		f.Address = r.String()
		out = append(out, f)
	}
	for _, g := range slices.Sorted(maps.Keys(p.names)) {
		f := row(p.names[g])
		f.User = g
		out = append(out, f)
	}
	return out
}

// Stats describe the regulator's tables: how full they are, and whether
// it is degraded (something did not fit and is counted coarser).
type Stats struct {
	Limits Limits
	// Addresses, Ranges: address buckets tracked one by one, and at the
	// coarser levels (ranges and whole families).
	Addresses, Ranges int
	// Names, NameGroups: login names tracked one by one, and groups of
	// names counted together (the all-names group included).
	Names, NameGroups int
	// Pairs: (name, address) pairs whose last wrong secrets are kept;
	// Known: pairs that authenticated within the lookback period.
	Pairs, Known int
	// Blocks kept as records; Filtered: some block is held in the filter.
	Blocks   int
	Filtered bool
	// Pending: failures waiting to be written one by one; Rows: failures
	// written (or queued) one by one within the lookback period; Grouped:
	// failures are being written in groups (the row budget is spent).
	Pending, Rows int
	Grouped       bool
	// Degraded: a table is full and what did not fit is counted in
	// coarser buckets, blocks are held in the filter, or failures are
	// written in groups. Addresses and names that fail may then be
	// blocked before their own thresholds; none is counted less.
	Degraded bool
}

// Stats reports the tables' sizes and whether the regulator is degraded.
func (r *Regulator) Stats() Stats {
	r.init()
	now := r.now()
	s := Stats{Limits: r.Limits}
	r.mu.Lock()
	s.Addresses = len(r.ips[0])
	for lv := 1; lv < levels; lv++ {
		s.Ranges += len(r.ips[lv])
	}
	s.Names, s.NameGroups, s.Pairs = len(r.users), r.groupsUsed, len(r.secrets)
	if len(r.allNames.at) > 0 {
		s.NameGroups++
	}
	r.mu.Unlock()
	r.bmu.RLock()
	s.Blocks, s.Filtered = len(r.blocks), r.filt.live(now)
	r.bmu.RUnlock()
	r.gmu.Lock()
	s.Known = r.nGood
	r.gmu.Unlock()
	r.pmu.Lock()
	s.Pending = len(r.pendingFails)
	s.Rows = r.rows.sum(now.Add(-r.state.Load().cfg.window()))
	s.Grouped = !r.pile.empty() || s.Rows >= r.Limits.Rows
	r.pmu.Unlock()
	s.Degraded = s.Ranges > 0 || s.NameGroups > 0 || s.Filtered || s.Grouped
	return s
}
