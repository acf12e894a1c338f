// Package hulk is the brute-force regulator (cPHulk's job): it counts failed
// authentications per address, per login name and per (name, address),
// blocks on cPHulk's thresholds, and keeps allow- and deny-lists. Counting
// is in memory (nothing is written on a success); configuration, lists,
// blocks and the failure history live in the store, so that they survive
// restarts and are shared by the nodes of a cluster.
//
// Everything it remembers is bounded (Limits), and a full table never
// stops the counting: it degrades toward blocking more, never toward
// counting less, since a flood of failures under new names and addresses
// must not switch the regulator off for the one name it hides.
//
//   - Addresses are counted in buckets at four levels: the address (an IPv6
//     address by its /64), its /24 (/48), its /16 (/32), its whole family.
//     A failure goes to the finest level where its bucket exists or there
//     is room (Limits.Keys addresses, Limits.Ranges ranges per level; the
//     family is always there), and an address's count is the sum of its
//     buckets at every level. Each failure is in one of them, so the sum is
//     never below what the address failed; once a flood has filled the
//     tables it is above for addresses in the flooded ranges (their
//     neighbours' failures count too), and they are blocked early.
//   - Login names: the name while there is room (Limits.Keys), else one of
//     4,096 fixed groups of names (and, read back from the store, the group
//     of all names); a name's count is the sum of the three.
//   - A bucket keeps at most 32 failures: beyond, the two closest in time
//     merge into one at the later time, which only moves weight later.
//   - Blocks a key reached on its own bucket are records (listed, stored,
//     shared) up to Limits.Blocks. Those only the coarser buckets brought
//     about, and those beyond the records, are held in a fixed 16 MiB
//     filter of times in memory (a Bloom filter): a key is refused while
//     its cells are, and the rare key sharing all of them is refused too.
//     So only a key that fails is blocked, but for the filter's false
//     positives: the coarse buckets raise the count of an address or a name
//     when it fails, they refuse no one who does not.
//   - The failure history in the store: at most Limits.Rows failures are
//     written one by one per lookback period (a node counts the rows the
//     others write, so the budget is the cluster's); beyond, a node writes
//     groups (an address range with no name, a group of names with no
//     address: method "aggregate"), at most 64 rows every 1/512 of the
//     lookback period. Read back (a restart, another node), a group counts
//     in the bucket of its range or names: over-counting again, never
//     under. A restart reads at most that much: its tables are at most half
//     full, and the blocks in force come back from the store.
//
// While any of this is in use the regulator is degraded (Stats): it says
// so in the log when it starts and when it ends, and in cphulk_status.
package hulk

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/maphash"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/cpauth/cpauth/internal/core"
	"github.com/cpauth/cpauth/internal/store"
)

// Attempt is one authentication attempt (the fields of auth.Attempt, which
// converts to it).
type Attempt struct {
	Service core.Service
	Remote  netip.Addr
	User    string
	Method  core.Method
	Secret  string
}

// Weights of a failure, in quarters: a wrong secret not seen before from
// this (name, address) counts as one failure, a wrong secret retried as a
// quarter of one, so that a client retrying one stale password is blocked
// four times later than a guesser trying new ones.
const (
	weightNew    = 4
	weightRepeat = 1
)

// Bounds on what an attacker can make the regulator remember; the tables'
// are Limits.
const (
	maxSecretsSeen = 16  // wrong-secret fingerprints kept per (name, address)
	maxUserLen     = 128 // longer names are counted by their first bytes
)

// Regulator counts failures and refuses blocked attempts. The zero value is
// not usable: fill the fields, then Load (and Run in a daemon).
type Regulator struct {
	Store store.HulkStore
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Log reports store failures (slog.Default when nil).
	Log *slog.Logger
	// OnBlock, when set, is told of every block this node decides
	// (cphulkd.log).
	OnBlock func(store.HulkBlock)
	// Version, when set, is a change counter shared with other processes
	// (SQLite's): when it moves, the state is read again.
	Version func() uint64
	// Limits bound the tables (DefaultLimits' for those left zero); set them
	// before Load.
	Limits Limits

	node    string
	key     [32]byte // fingerprints of wrong secrets; never leaves memory
	state   atomic.Pointer[state]
	seenVer atomic.Uint64
	dirty   atomic.Uint32 // parts to reload (bits below)
	kick    chan struct{}

	// rebuild is held (shared) by Failed while it counts a failure and
	// queues it for the store, and (exclusive) by a rebuild of the
	// counters while it starts them anew: a failure is then either in the
	// queue the rebuild counts again, or counted in the new counters.
	rebuild    sync.RWMutex
	mu         sync.Mutex                       // the counters
	ips        [levels]map[netip.Prefix]*events // address buckets by level (bounds.go)
	users      map[string]*events
	groups     [nameGroups]*events // names that found the table full
	groupsUsed int
	allNames   events // read back from groups of all names
	secrets    map[pair]*secretRing

	bmu    sync.RWMutex // the blocks
	blocks map[blockID]store.HulkBlock
	ipTill map[netip.Addr]time.Time
	usTill map[string]time.Time
	filt   filter // the blocks that found the table full
	// anyBlock says whether anything is blocked (set under bmu by every
	// change of the blocks), so that Admit takes no lock while nothing is.
	anyBlock atomic.Bool

	degraded atomic.Bool // told to the log

	// good holds the (name, address) pairs that authenticated, and when:
	// read on every success without a lock (a pair seen within the minute,
	// the common case, writes nothing), written under gmu, which also
	// keeps nGood, their number.
	gmu   sync.Mutex
	good  sync.Map // pair -> time.Time
	nGood int

	flushMu       sync.Mutex // one Flush at a time
	pmu           sync.Mutex // written to the store by Flush
	pendingFails  []store.HulkFailure
	pendingBlocks []store.HulkBlock
	lastID        int64
	rows          events    // failures queued one by one (the row budget)
	pile          pile      // failures to be written in groups
	pileAt        time.Time // when the last groups were written

	reloadMu sync.Mutex
}

type state struct {
	cfg     Config
	values  map[string]string // stored keys
	records []store.HulkRecord
	allow   ipSet
	deny    ipSet
}

type pair struct {
	user string
	addr netip.Addr
}

type blockID struct{ kind, key string }

// Parts of the state a change touched.
const (
	partConfig uint32 = 1 << iota
	partBlocks
	partFlush
	partAll = partConfig | partBlocks | partFlush
)

// secretRing holds fingerprints of the wrong secrets last tried by a
// (name, address) pair.
type secretRing struct {
	fp   [maxSecretsSeen]uint64
	n    int
	last int64
}

func (r *Regulator) init() {
	if r.kick != nil {
		return
	}
	r.kick = make(chan struct{}, 1)
	var b [8]byte
	rand.Read(r.key[:])
	rand.Read(b[:])
	r.node = hex.EncodeToString(b[:])
	orDefault := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	def := DefaultLimits()
	orDefault(&r.Limits.Keys, def.Keys)
	orDefault(&r.Limits.Ranges, def.Ranges)
	orDefault(&r.Limits.Blocks, def.Blocks)
	orDefault(&r.Limits.Rows, def.Rows)
	r.resetCounters()
	r.secrets = map[pair]*secretRing{}
	r.filt.seed = maphash.MakeSeed()
	r.blocks = map[blockID]store.HulkBlock{}
	r.ipTill = map[netip.Addr]time.Time{}
	r.usTill = map[string]time.Time{}
	cfg, _ := Parse(nil)
	r.state.Store(&state{cfg: cfg, values: map[string]string{}, allow: newIPSet(nil, ""), deny: newIPSet(nil, "")})
}

// resetCounters forgets every count (under mu, or before any use).
func (r *Regulator) resetCounters() {
	for lv := range r.ips {
		r.ips[lv] = map[netip.Prefix]*events{}
	}
	r.users = map[string]*events{}
	r.groups, r.groupsUsed, r.allNames = [nameGroups]*events{}, 0, events{}
}

func (r *Regulator) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Regulator) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

// Node names this process in the failure history.
func (r *Regulator) Node() string { r.init(); return r.node }

// Config is the configuration in force.
func (r *Regulator) Config() Config { r.init(); return r.state.Load().cfg }

// Load reads the whole state from the store: configuration, lists, blocks
// in force and the failures within the lookback period.
func (r *Regulator) Load(ctx context.Context) error {
	r.init()
	if r.Version != nil {
		r.seenVer.Store(r.Version())
	}
	return r.reload(ctx, partAll)
}

func (r *Regulator) reload(ctx context.Context, parts uint32) error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	var errs []error
	if parts&partConfig != 0 {
		errs = append(errs, r.loadState(ctx))
	}
	if parts&(partBlocks|partFlush) != 0 {
		errs = append(errs, r.Flush(ctx), r.loadBlocks(ctx))
	}
	if parts&partFlush != 0 {
		errs = append(errs, r.recount(ctx))
	}
	return errors.Join(errs...)
}

// recount starts the counters anew from the store's history and the
// failures counted here that are not written yet. No Flush runs meanwhile,
// so each failure is counted once: from the history or from the queue.
func (r *Regulator) recount(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.rebuild.Lock()
	r.mu.Lock()
	r.resetCounters()
	r.mu.Unlock()
	r.pmu.Lock()
	r.lastID = 0
	queued := append(slices.Clone(r.pendingFails), r.pile.rows(r.node)...)
	// The row budget is counted again too: what the store holds (pull),
	// and what waits to be written.
	r.rows = events{}
	for _, f := range r.pendingFails {
		r.rows.add(f.Time, 1)
	}
	r.pmu.Unlock()
	r.rebuild.Unlock()
	cfg := r.state.Load().cfg
	for _, f := range queued {
		r.count(cfg, f)
	}
	return r.pull(ctx, true)
}

func (r *Regulator) loadState(ctx context.Context) error {
	values, err := r.Store.HulkConfig(ctx)
	if err != nil {
		return err
	}
	recs, err := r.Store.ListHulkRecords(ctx, "")
	if err != nil {
		return err
	}
	cfg, err := Parse(values)
	if err != nil {
		// An incoherent stored configuration (written by hand): the
		// defaults are safer than half of it.
		r.log().Error("cphulk: stored configuration refused, using the defaults", "error", err.Error())
		cfg, _ = Parse(nil)
	}
	r.state.Store(&state{cfg: cfg, values: values, records: recs,
		allow: newIPSet(recs, store.HulkAllow), deny: newIPSet(recs, store.HulkDeny)})
	return nil
}

func (r *Regulator) loadBlocks(ctx context.Context) error {
	bs, err := r.Store.ListHulkBlocks(ctx, r.now())
	if err != nil {
		return err
	}
	now := r.now()
	r.bmu.Lock()
	// Blocks decided here and not written yet stay. They are read under
	// bmu, which block holds while it adds one to both the index and the
	// pending list: a block decided meanwhile is in one or the other of
	// what this reads, never lost between them (lock order: bmu, then pmu).
	r.pmu.Lock()
	bs = append(bs, r.pendingBlocks...)
	r.pmu.Unlock()
	old := r.blocks
	r.blocks = make(map[blockID]store.HulkBlock, min(len(bs), r.Limits.Blocks))
	for _, b := range bs {
		id := blockID{b.Kind, b.Key}
		prev, ok := r.blocks[id]
		switch {
		case ok && b.Until.After(prev.Until):
			r.blocks[id] = b
		case !ok && len(r.blocks) < r.Limits.Blocks:
			r.blocks[id] = b
		case !ok:
			r.filterLocked(b) // several nodes' blocks, more than fit
		}
	}
	r.reindexLocked()
	var lifted []blockID
	for id, b := range old {
		if _, ok := r.blocks[id]; !ok && b.Until.After(now) {
			lifted = append(lifted, id)
		}
	}
	if len(lifted) > 0 {
		r.filt.reset() // it may hold one of them: see forgetBlocks
	}
	r.publishBlocksLocked()
	r.bmu.Unlock()
	if len(lifted) > 0 {
		// Lifted elsewhere before its end: its counts go too, or the
		// next failure would block again at once.
		r.mu.Lock()
		for _, id := range lifted {
			r.forgetCountsLocked(id)
		}
		r.mu.Unlock()
	}
	return nil
}

// forgetCountsLocked forgets the counts a lifted block was decided on: its
// address's or name's own bucket (under mu). The coarser buckets it shares
// with others stay.
func (r *Regulator) forgetCountsLocked(id blockID) {
	if id.kind == store.HulkBlockUser {
		delete(r.users, id.key)
	} else if k, ok := parseKey(id.key); ok {
		delete(r.ips[0], bucketAt(k, 0))
	}
}

// filterLocked holds a block in the filter (under bmu).
func (r *Regulator) filterLocked(b store.HulkBlock) {
	if b.Kind == store.HulkBlockUser {
		r.filt.add(r.filt.hashName(b.Key), b.Until)
	} else if k, ok := parseKey(b.Key); ok {
		r.filt.add(r.filt.hashAddr(k), b.Until)
	}
}

// reindexLocked rebuilds the lookup maps of Admit from the blocks.
func (r *Regulator) reindexLocked() {
	r.ipTill = map[netip.Addr]time.Time{}
	r.usTill = map[string]time.Time{}
	for _, b := range r.blocks {
		r.indexLocked(b)
	}
}

func (r *Regulator) indexLocked(b store.HulkBlock) {
	switch b.Kind {
	case store.HulkBlockUser:
		if b.Until.After(r.usTill[b.Key]) {
			r.usTill[b.Key] = b.Until
		}
	default:
		if k, ok := parseKey(b.Key); ok && b.Until.After(r.ipTill[k]) {
			r.ipTill[k] = b.Until
		}
	}
}

// Changed is told of a change to the store (the change feed): the part it
// names is read again, off the request path.
func (r *Regulator) Changed(c store.Change) {
	r.init()
	switch {
	case c.Kind == store.ChangeAll:
		// Anything may have changed (SQLite's data_version moved, which
		// any connection's commit does): the cheap parts. A lifted block
		// still takes its counts with it (loadBlocks); Resync rebuilds
		// the counts too.
		r.markDirty(partConfig | partBlocks)
	case c.Kind != store.ChangeHulk:
	case c.Key == "config" || c.Key == "lists":
		r.markDirty(partConfig)
	case c.Key == "blocks":
		r.markDirty(partBlocks)
	default:
		r.markDirty(partAll)
	}
}

// Resync reads everything again, the counts included, off the request
// path: for when notifications may have been missed (a change feed that
// was down).
func (r *Regulator) Resync() {
	r.init()
	r.markDirty(partAll)
}

func (r *Regulator) markDirty(parts uint32) {
	for {
		old := r.dirty.Load()
		if old&parts == parts || r.dirty.CompareAndSwap(old, old|parts) {
			break
		}
	}
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// checkVersion notices a move of the shared change counter (one atomic
// load). Any committed write moves it; the configuration and the lists
// (two small reads) are read again at once, so that a CLI twin's change
// holds for the very next request, and the blocks off the request path (a
// block that vanished from the store, because another process flushed or
// lifted it, takes its counts with it: loadBlocks).
func (r *Regulator) checkVersion(ctx context.Context) {
	if r.Version == nil {
		return
	}
	v := r.Version()
	if v == r.seenVer.Load() {
		return
	}
	r.seenVer.Store(v)
	r.markDirty(partBlocks)
	if err := r.loadState(ctx); err != nil {
		r.markDirty(partConfig) // try again off the request path
	}
}

// guessable reports whether a name block refuses a credential of method m
// (D28): passwords and two-factor codes can be guessed, so per-user
// protection refuses them. API tokens, access hashes, session cookies and
// one-time session values are random secrets of 128 bits and more, and a
// passkey's assertion is a signature by a key that never leaves the
// authenticator: nobody guesses one, and refusing them for a blocked name
// would let anyone who can type root's name 15 times lock root's
// automation (or root's passkey) out. An unknown method ("") is taken for
// a guessable one.
func guessable(m core.Method) bool {
	switch m {
	case core.MethodToken, core.MethodAccessHash, core.MethodSession, core.MethodSSO, core.MethodWebAuthn:
		return false
	}
	return true
}

// Admit refuses an attempt from a blocked or denied address, or a
// guessable credential (guessable) for a blocked login name unless from an
// address that name authenticated from before; it never blocks by itself.
// It reads memory only (but see checkVersion).
func (r *Regulator) Admit(ctx context.Context, a Attempt) (bool, string) {
	r.checkVersion(ctx)
	st := r.state.Load()
	if !st.cfg.Enabled {
		return true, ""
	}
	addr := a.Remote.Unmap()
	if st.allow.contains(addr) {
		return true, ""
	}
	if st.deny.contains(addr) {
		return false, "address on the cPHulk deny list"
	}
	k := AddrKey(addr)
	user := clipUser(a.User)
	byName := user != "" && guessable(a.Method)
	if !r.anyBlock.Load() {
		return true, "" // nothing is blocked: no lock, no shared write
	}
	r.bmu.RLock()
	ipUntil := r.ipTill[k]
	var userUntil time.Time
	if byName && len(r.usTill) > 0 {
		userUntil = r.usTill[user]
	}
	if r.filt.last != 0 {
		// Blocks found the table full: they are in the filter.
		if u := r.filt.until(r.filt.hashAddr(k)); u.After(ipUntil) {
			ipUntil = u
		}
		if byName {
			if u := r.filt.until(r.filt.hashName(user)); u.After(userUntil) {
				userUntil = u
			}
		}
	}
	r.bmu.RUnlock()
	if ipUntil.IsZero() && userUntil.IsZero() {
		return true, "" // no block to compare with the clock
	}
	now := r.now()
	if ipUntil.After(now) {
		return false, "address blocked by cPHulk until " + ipUntil.UTC().Format(time.RFC3339)
	}
	if userUntil.After(now) && !r.known(user, addr, now) {
		return false, "user blocked by cPHulk until " + userUntil.UTC().Format(time.RFC3339)
	}
	return true, ""
}

// publishBlocksLocked tells Admit, which reads it without a lock, whether
// anything is blocked at all. Called with bmu held for writing, after every
// change of the blocks.
func (r *Regulator) publishBlocksLocked() {
	r.anyBlock.Store(len(r.ipTill) > 0 || len(r.usTill) > 0 || r.filt.last != 0)
}

// known reports whether user authenticated from addr within the lookback
// period.
func (r *Regulator) known(user string, addr netip.Addr, now time.Time) bool {
	t, ok := r.goodSince(pair{user, addr})
	return ok && now.Sub(t) < r.state.Load().cfg.Lookback
}

// Succeeded remembers that the name authenticated from the address (at
// most once a minute per pair, in memory only).
func (r *Regulator) Succeeded(_ context.Context, a Attempt) {
	if !r.state.Load().cfg.Enabled {
		return
	}
	p := pair{clipUser(a.User), a.Remote.Unmap()}
	now := r.now()
	if t, ok := r.goodSince(p); ok && now.Sub(t) < time.Minute {
		return // the common case: no lock, no write
	}
	r.gmu.Lock()
	_, ok := r.goodSince(p)
	// A table full of known pairs forgets no one, it learns no more: a
	// name that is blocked is then admitted from fewer addresses.
	if ok || r.nGood < r.Limits.Keys {
		r.good.Store(p, now)
		if !ok {
			r.nGood++
		}
	}
	r.gmu.Unlock()
}

// goodSince is when the pair last authenticated, if it did.
func (r *Regulator) goodSince(p pair) (time.Time, bool) {
	v, ok := r.good.Load(p)
	if !ok {
		return time.Time{}, false
	}
	return v.(time.Time), true
}

// Failed counts a failed attempt and blocks the address or the name when
// it reaches a threshold.
func (r *Regulator) Failed(_ context.Context, a Attempt, reason string) {
	st := r.state.Load()
	if !st.cfg.Enabled {
		return
	}
	addr := a.Remote.Unmap()
	if st.allow.contains(addr) {
		return
	}
	f := store.HulkFailure{Node: r.node, Time: r.now(), Service: a.Service.App(), Method: string(a.Method),
		User: clipUser(a.User), Address: addr.String(), Reason: clip(reason)}
	f.Weight = r.weigh(f.User, AddrKey(addr), a.Secret, f.Time)
	r.rebuild.RLock()
	defer r.rebuild.RUnlock()
	r.count(st.cfg, f)
	r.pmu.Lock()
	since := f.Time.Add(-st.cfg.window())
	grouped := len(r.pendingFails) >= r.Limits.Rows || r.rows.sum(since) >= r.Limits.Rows
	if grouped {
		// The row budget is spent: written in groups (bounds.go).
		r.pile.add(f)
	} else {
		r.pendingFails = append(r.pendingFails, f)
		r.rows.add(f.Time, 1)
	}
	r.pmu.Unlock()
	if grouped {
		r.noteDegraded("the failure history's row budget is spent: failures are written to the store in groups")
	}
}

// weigh tells a new wrong secret from one retried.
func (r *Regulator) weigh(user string, k netip.Addr, secret string, now time.Time) int {
	if secret == "" {
		return weightNew
	}
	m := hmac.New(sha256.New, r.key[:])
	m.Write([]byte(user))
	m.Write([]byte{0})
	m.Write([]byte(secret))
	fp := binary.BigEndian.Uint64(m.Sum(nil))
	p := pair{user, k}
	r.mu.Lock()
	defer r.mu.Unlock()
	ring := r.secrets[p]
	if ring == nil {
		if len(r.secrets) >= r.Limits.Keys {
			return weightNew // cannot tell a retry: count it in full
		}
		ring = &secretRing{}
		r.secrets[p] = ring
	}
	ring.last = now.UnixNano()
	for i := range min(ring.n, maxSecretsSeen) {
		if ring.fp[i] == fp {
			return weightRepeat
		}
	}
	ring.fp[ring.n%maxSecretsSeen] = fp
	ring.n++
	return weightNew
}

// count adds a failure to the counters and blocks what reached a
// threshold.
func (r *Regulator) count(cfg Config, f store.HulkFailure) {
	if f.Method == aggregateMethod {
		r.countGroup(f)
		return
	}
	addr, err := netip.ParseAddr(f.Address)
	if err != nil {
		return
	}
	k := AddrKey(addr)
	r.mu.Lock()
	coarse := r.countAddressLocked(k, f.Time, f.Weight) > 0
	ipWin, ipLook := r.addressSumsLocked(k, f.Time.Add(-cfg.IPBruteForcePeriod), f.Time.Add(-cfg.Lookback))
	// A key's own bucket alone: what decides whether a block is one of
	// its own (a record) or one the coarser buckets brought (the filter).
	own := r.ips[0][bucketAt(k, 0)]
	ownWin, ownLook := own.sum(f.Time.Add(-cfg.IPBruteForcePeriod)), own.sum(f.Time.Add(-cfg.Lookback))
	var userWin, ownUser int
	if f.User != "" {
		coarse = r.countNameLocked(f.User, f.Time, f.Weight) || coarse
		userWin = r.nameSumLocked(f.User, f.Time.Add(-cfg.BruteForcePeriod))
		ownUser = r.users[f.User].sum(f.Time.Add(-cfg.BruteForcePeriod))
	}
	r.mu.Unlock()
	if coarse {
		r.noteDegraded("a counting table is full: failures are counted in coarser buckets")
	}

	b := store.HulkBlock{User: f.User, Address: f.Address, Service: f.Service, Created: f.Time}
	now := r.now()
	mark, byIP := cfg.MarkAsBrute*weightNew, cfg.MaxFailuresByIP*weightNew
	if cfg.IPBasedProtection && (ipLook >= mark || ipWin >= byIP) {
		if ipLook >= mark {
			b.Kind, b.Key, b.Until, b.Failures = store.HulkBlockExcessive, keyString(k), f.Time.Add(ExcessiveBlock), ipLook/weightNew
			b.Reason = "IP reached maximum auth failures for a one day block"
			r.decide(b, ownLook >= mark, now)
		}
		if ipLook < mark || ownLook < mark && ownWin >= byIP {
			b.Kind, b.Key, b.Until, b.Failures = store.HulkBlockIP, keyString(k), f.Time.Add(cfg.IPBruteForcePeriod), ipWin/weightNew
			b.Reason = "IP reached maximum auth failures"
			r.decide(b, ownWin >= byIP, now)
		}
	}
	if f.User != "" && userWin >= cfg.MaxFailures*weightNew && cfg.userProtected(f.User, addr) {
		b.Kind, b.Key, b.Until, b.Failures = store.HulkBlockUser, f.User, f.Time.Add(cfg.BruteForcePeriod), userWin/weightNew
		b.Reason = "Username reached maximum auth failures"
		r.decide(b, ownUser >= cfg.MaxFailures*weightNew, now)
	}
}

// decide makes a block. One the key reached on its own counts is recorded
// (block). One that only the coarser buckets of a full table brought about
// is held in the filter, in memory: a flood of failures from new addresses
// blocks each of them as it fails, and that must not become a flood of
// records written, listed, announced to every node and logged.
func (r *Regulator) decide(b store.HulkBlock, own bool, now time.Time) {
	if own {
		r.block(b, now)
		return
	}
	if !b.Until.After(now) {
		return
	}
	r.bmu.Lock()
	r.filterLocked(b)
	r.publishBlocksLocked()
	r.bmu.Unlock()
}

// countAddressLocked adds a failure of address key k to the finest level
// where its bucket exists or there is room, and returns that level.
func (r *Regulator) countAddressLocked(k netip.Addr, t time.Time, w int) int {
	return r.countRangeLocked(bucketAt(k, 0), 0, t, w)
}

// countRangeLocked adds a failure (or a group of them) of range p to the
// finest level from lv on where its bucket exists or there is room.
func (r *Regulator) countRangeLocked(p netip.Prefix, lv int, t time.Time, w int) int {
	for ; lv < levels; lv++ {
		b := bucketAt(p.Addr(), lv)
		m := r.ips[lv]
		e := m[b]
		if e == nil {
			if lv < levels-1 && len(m) >= r.capAt(lv) {
				continue
			}
			e = &events{}
			m[b] = e
		}
		e.add(t, w)
		return lv
	}
	return levels - 1 // not reached: the last level always has room
}

func (r *Regulator) capAt(lv int) int {
	if lv == 0 {
		return r.Limits.Keys
	}
	return r.Limits.Ranges
}

// addressSumsLocked is address key k's count since s1 and since s2: the
// sum of its buckets at every level (each failure is in one of them).
func (r *Regulator) addressSumsLocked(k netip.Addr, s1, s2 time.Time) (int, int) {
	var n1, n2 int
	for lv := range levels {
		if len(r.ips[lv]) == 0 {
			continue
		}
		if e := r.ips[lv][bucketAt(k, lv)]; e != nil {
			n1, n2 = n1+e.sum(s1), n2+e.sum(s2)
		}
	}
	return n1, n2
}

// countNameLocked adds a failure of a name to its own bucket, or to its
// group when the table is full; it reports the latter.
func (r *Regulator) countNameLocked(user string, t time.Time, w int) bool {
	if e := r.users[user]; e != nil {
		e.add(t, w)
		return false
	}
	if len(r.users) < r.Limits.Keys {
		e := &events{}
		r.users[user] = e
		e.add(t, w)
		return false
	}
	r.groupLocked(nameGroup(user)).add(t, w)
	return true
}

func (r *Regulator) groupLocked(g int) *events {
	if r.groups[g] == nil {
		r.groups[g] = &events{}
		r.groupsUsed++
	}
	return r.groups[g]
}

// nameSumLocked is a name's count since s: its own bucket, its group's and
// the all-names group's.
func (r *Regulator) nameSumLocked(user string, s time.Time) int {
	n := r.users[user].sum(s)
	if r.groupsUsed > 0 {
		n += r.groups[nameGroup(user)].sum(s)
	}
	return n + r.allNames.sum(s)
}

// countGroup counts a group of failures read back from the store (or from
// the pile, in a rebuild): in the bucket of its address range or of its
// names. It blocks nothing by itself: the addresses and names it covers
// are blocked when they fail, on counts it has raised.
func (r *Regulator) countGroup(f store.HulkFailure) {
	r.mu.Lock()
	if p, err := netip.ParsePrefix(f.Address); err == nil && !p.Addr().Is4In6() {
		r.countRangeLocked(p.Masked(), levelOf(p), f.Time, f.Weight)
	}
	if g, ok := parseGroup(f.User); ok {
		if g < 0 {
			r.allNames.add(f.Time, f.Weight)
		} else {
			r.groupLocked(g).add(f.Time, f.Weight)
		}
	}
	r.mu.Unlock()
	r.noteDegraded("failures written in groups were read back")
}

// noteDegraded tells the log, once, that the regulator became degraded
// (Prune tells when it is no longer).
func (r *Regulator) noteDegraded(why string) {
	if r.degraded.CompareAndSwap(false, true) {
		r.log().Warn("cphulk: degraded: "+why+"; addresses and names that fail may be blocked before their own thresholds until the flood ends",
			"limits", r.Limits)
	}
}

func (c Config) userProtected(user string, addr netip.Addr) bool {
	if user == "root" && !c.UserForRoot {
		return false
	}
	return c.UserBasedProtection || (c.UserLocalOrigin && addr.IsLoopback())
}

// block records a block this node decided, unless one as long is in force
// or it would already be over (counts read back from the history).
func (r *Regulator) block(b store.HulkBlock, now time.Time) {
	if !b.Until.After(now) {
		return
	}
	id := blockID{b.Kind, b.Key}
	r.bmu.Lock()
	old, ok := r.blocks[id]
	if ok && !old.Until.Before(b.Until) {
		r.publishBlocksLocked()
		r.bmu.Unlock()
		return
	}
	if !ok && len(r.blocks) >= r.Limits.Blocks {
		// The table is full: the filter holds it, unlisted and unshared
		// (every node decides its own from the same counts).
		r.filterLocked(b)
		r.publishBlocksLocked()
		r.bmu.Unlock()
		r.noteDegraded("the block table is full: blocks are held in the filter")
		return
	}
	r.blocks[id] = b
	r.indexLocked(b)
	r.pmu.Lock() // under bmu: see loadBlocks
	r.pendingBlocks = append(r.pendingBlocks, b)
	r.pmu.Unlock()
	r.publishBlocksLocked()
	r.bmu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
	if r.OnBlock != nil {
		r.OnBlock(b)
	}
}

// Flush writes the failures and blocks counted here since the last Flush.
// They stay pending (and blocks stay in force here) until written; what
// could not be written is tried again by the next Flush.
func (r *Regulator) Flush(ctx context.Context) error {
	return r.flush(ctx, false)
}

// flush is Flush; the failures piled up to be written in groups are
// written too when force is set or their time has come (every 1/512 of
// the lookback period: at most 64 rows each time, so that the groups stay
// bounded as the failures written one by one are).
func (r *Regulator) flush(ctx context.Context, force bool) error {
	r.init()
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	now := r.now()
	r.pmu.Lock()
	fs, bs := slices.Clone(r.pendingFails), slices.Clone(r.pendingBlocks)
	n := len(fs)
	var piled pile
	if !r.pile.empty() && (force || now.Sub(r.pileAt) >= max(r.state.Load().cfg.window()/512, time.Second)) {
		piled, r.pile, r.pileAt = r.pile, pile{}, now
		fs = append(fs, piled.rows(r.node)...)
	}
	r.pmu.Unlock()
	var errs []error
	if err := r.Store.AddHulkFailures(ctx, fs); err != nil {
		errs = append(errs, err)
		if !piled.empty() {
			r.pmu.Lock()
			for _, f := range fs[n:] {
				r.pile.add(f) // tried again with the next groups
			}
			r.pmu.Unlock()
		}
	} else {
		r.pmu.Lock()
		r.pendingFails = slices.Delete(r.pendingFails, 0, n)
		r.pmu.Unlock()
	}
	written := 0
	for _, b := range bs {
		if err := r.Store.PutHulkBlock(ctx, b); err != nil {
			errs = append(errs, err)
			break
		}
		written++
	}
	r.pmu.Lock()
	r.pendingBlocks = slices.Delete(r.pendingBlocks, 0, written)
	r.pmu.Unlock()
	return errors.Join(errs...)
}

// pull counts the failures other nodes wrote since the last pull (all of
// them within the lookback period when all is set: a rebuild). Their rows
// written one by one count against this node's row budget too, so that the
// store's history stays bounded whatever the number of nodes, and across a
// restart (a new process is a new node).
func (r *Regulator) pull(ctx context.Context, all bool) error {
	cfg := r.state.Load().cfg
	r.pmu.Lock()
	after := r.lastID
	r.pmu.Unlock()
	for {
		fs, err := r.Store.ListHulkFailures(ctx, after, r.now().Add(-cfg.window()), 5000)
		if err != nil {
			return err
		}
		var rows []int64
		for _, f := range fs {
			after = f.ID
			if all || f.Node != r.node {
				r.count(cfg, f)
				if f.Method != aggregateMethod {
					rows = append(rows, f.Time.UnixNano())
				}
			}
		}
		if len(rows) > 0 {
			r.pmu.Lock()
			for _, t := range rows {
				r.rows.add(time.Unix(0, t), 1)
			}
			r.pmu.Unlock()
		}
		if len(fs) < 5000 {
			break
		}
	}
	r.pmu.Lock()
	r.lastID = max(r.lastID, after)
	r.pmu.Unlock()
	return nil
}

// Sync writes what is pending, reads what other nodes counted and reloads
// what changed; Run calls it.
func (r *Regulator) Sync(ctx context.Context) error {
	_, err := r.sync(ctx, true)
	return err
}

func (r *Regulator) sync(ctx context.Context, reload bool) (reloaded bool, err error) {
	r.init()
	var errs []error
	if reload {
		if parts := r.dirty.Swap(0); parts != 0 {
			errs = append(errs, r.reload(ctx, parts))
			reloaded = true
		}
	}
	errs = append(errs, r.Flush(ctx), r.pull(ctx, false))
	return reloaded, errors.Join(errs...)
}

// Intervals of Run.
const (
	syncEvery   = time.Second
	reloadGap   = 250 * time.Millisecond
	reloadEvery = 30 * time.Second
	pruneEvery  = time.Minute
	purgeEvery  = 10 * time.Minute
)

// Run keeps the regulator in step with the store until ctx ends: it writes
// failures and blocks (at once after a block, else every second), counts
// other nodes' failures, reloads what changed (and, as a safety net, the
// configuration, lists and blocks every 30 s), forgets old counts, and
// purges the history the lookback period no longer needs.
func (r *Regulator) Run(ctx context.Context) {
	r.init()
	tick := time.NewTicker(syncEvery)
	defer tick.Stop()
	var lastReload, lastSafety, lastPrune, lastPurge time.Time
	for {
		ticked := false
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			r.flush(fctx, true)
			cancel()
			return
		case <-tick.C:
			ticked = true
		case <-r.kick:
		}
		now := time.Now()
		if now.Sub(lastSafety) >= reloadEvery {
			lastSafety = now
			r.markDirty(partConfig | partBlocks)
		}
		// A burst of changes (a block per guessing address, each moving
		// SQLite's change counter) is read back at most every reloadGap.
		reload := ticked || now.Sub(lastReload) >= reloadGap
		reloaded, err := r.sync(ctx, reload)
		if reloaded {
			lastReload = now
		}
		if err != nil && ctx.Err() == nil {
			r.log().Error("cphulk: syncing with the store", "error", err.Error())
		}
		if now.Sub(lastPrune) >= pruneEvery {
			lastPrune = now
			r.Prune()
		}
		if now.Sub(lastPurge) >= purgeEvery {
			lastPurge = now
			cfg := r.state.Load().cfg
			if _, err := r.Store.PurgeHulk(ctx, r.now().Add(-cfg.window()), r.now()); err != nil && ctx.Err() == nil {
				r.log().Error("cphulk: purging old history", "error", err.Error())
			}
		}
	}
}

// Prune forgets counts, fingerprints, blocks and known addresses that no
// longer matter.
func (r *Regulator) Prune() {
	r.init()
	cfg := r.state.Load().cfg
	now := r.now()
	since := now.Add(-cfg.window())
	r.mu.Lock()
	for _, m := range r.ips {
		for k, e := range m {
			if e.prune(since) {
				delete(m, k)
			}
		}
	}
	for k, e := range r.users {
		if e.prune(since) {
			delete(r.users, k)
		}
	}
	for g, e := range r.groups {
		if e != nil && e.prune(since) {
			r.groups[g] = nil
			r.groupsUsed--
		}
	}
	r.allNames.prune(since)
	for k, s := range r.secrets {
		if s.last < since.UnixNano() {
			delete(r.secrets, k)
		}
	}
	r.mu.Unlock()
	r.bmu.Lock()
	for id, b := range r.blocks {
		if !b.Until.After(now) {
			delete(r.blocks, id)
		}
	}
	r.reindexLocked()
	if !r.filt.live(now) {
		r.filt.reset()
	}
	r.publishBlocksLocked()
	r.bmu.Unlock()
	r.gmu.Lock()
	r.good.Range(func(p, t any) bool {
		if now.Sub(t.(time.Time)) >= cfg.Lookback {
			r.good.Delete(p)
			r.nGood--
		}
		return true
	})
	r.gmu.Unlock()
	r.pmu.Lock()
	r.rows.prune(since)
	r.pmu.Unlock()
	if r.degraded.Load() {
		if st := r.Stats(); !st.Degraded && r.degraded.CompareAndSwap(true, false) {
			r.log().Info("cphulk: no longer degraded: every address and name is counted on its own again",
				"addresses", st.Addresses, "names", st.Names, "blocks", st.Blocks)
		}
	}
}

// clipUser is a login name as the regulator counts, stores and blocks it:
// storable text (see storable) of at most maxUserLen bytes.
func clipUser(u string) string { return storable(u, maxUserLen) }

// storable makes attacker-chosen text fit the store: valid UTF-8 without
// control bytes, cut at a character boundary to at most n bytes. PostgreSQL
// refuses a NUL or an invalid UTF-8 sequence in text, and a failure under
// such a name (a Basic header carries any bytes) failed its whole batch,
// which was tried again for ever: nothing more was written, for other
// nodes or a restart to read. Names that become one here count together:
// more, never less.
func storable(s string, n int) string {
	plain := len(s) <= n
	for i := 0; plain && i < len(s); i++ {
		plain = s[i] >= 0x20 && s[i] < 0x7f
	}
	if plain {
		return s // the common case: printable ASCII, short
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) > n {
		i := n
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i]
	}
	return s
}
