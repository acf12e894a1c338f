// Package hulk is the brute-force regulator (cPHulk's job): it counts failed
// authentications per address, per login name and per (name, address),
// blocks on cPHulk's thresholds, and keeps allow- and deny-lists. Counting
// is in memory (nothing is written on a success); configuration, lists,
// blocks and the failure history live in the store, so that they survive
// restarts and are shared by the nodes of a cluster.
package hulk

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

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

// Bounds on what an attacker can make the regulator remember.
const (
	maxEventsPerKey = 512    // recent failures kept per address or name
	maxSecretsSeen  = 16     // wrong-secret fingerprints kept per (name, address)
	maxKeys         = 200000 // addresses, names or pairs tracked at once
	maxUserLen      = 128    // longer names are counted by their first bytes
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
	rebuild sync.RWMutex
	mu      sync.Mutex // the counters
	ips     map[netip.Addr]*events
	users   map[string]*events
	secrets map[pair]*secretRing

	bmu    sync.RWMutex // the blocks
	blocks map[blockID]store.HulkBlock
	ipTill map[netip.Addr]time.Time
	usTill map[string]time.Time

	gmu  sync.RWMutex // (name, address) pairs that authenticated
	good map[pair]time.Time

	flushMu       sync.Mutex // one Flush at a time
	pmu           sync.Mutex // written to the store by Flush
	pendingFails  []store.HulkFailure
	pendingBlocks []store.HulkBlock
	lastID        int64

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

// events are one key's recent failures, oldest first.
type events struct {
	at     []int64 // unix nanoseconds
	weight []uint8
}

func (e *events) add(t time.Time, w int) {
	if len(e.at) >= maxEventsPerKey {
		copy(e.at, e.at[1:])
		copy(e.weight, e.weight[1:])
		e.at, e.weight = e.at[:len(e.at)-1], e.weight[:len(e.weight)-1]
	}
	// Failures arrive nearly in order; keep the slice sorted anyway.
	n := t.UnixNano()
	i := len(e.at)
	for i > 0 && e.at[i-1] > n {
		i--
	}
	e.at = append(e.at, 0)
	e.weight = append(e.weight, 0)
	copy(e.at[i+1:], e.at[i:])
	copy(e.weight[i+1:], e.weight[i:])
	e.at[i], e.weight[i] = n, uint8(w)
}

// sum is the weight of the failures at or after since.
func (e *events) sum(since time.Time) int {
	s := since.UnixNano()
	total := 0
	for i := len(e.at) - 1; i >= 0 && e.at[i] >= s; i-- {
		total += int(e.weight[i])
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
	e.at, e.weight = e.at[i:], e.weight[i:]
	return len(e.at) == 0
}

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
	r.ips = map[netip.Addr]*events{}
	r.users = map[string]*events{}
	r.secrets = map[pair]*secretRing{}
	r.blocks = map[blockID]store.HulkBlock{}
	r.ipTill = map[netip.Addr]time.Time{}
	r.usTill = map[string]time.Time{}
	r.good = map[pair]time.Time{}
	cfg, _ := Parse(nil)
	r.state.Store(&state{cfg: cfg, values: map[string]string{}, allow: newIPSet(nil, ""), deny: newIPSet(nil, "")})
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
	r.ips, r.users = map[netip.Addr]*events{}, map[string]*events{}
	r.mu.Unlock()
	r.pmu.Lock()
	r.lastID = 0
	queued := slices.Clone(r.pendingFails)
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
	r.blocks = make(map[blockID]store.HulkBlock, len(bs))
	for _, b := range bs {
		if prev, ok := r.blocks[blockID{b.Kind, b.Key}]; !ok || b.Until.After(prev.Until) {
			r.blocks[blockID{b.Kind, b.Key}] = b
		}
	}
	r.reindexLocked()
	var lifted []blockID
	for id, b := range old {
		if _, ok := r.blocks[id]; !ok && b.Until.After(now) {
			lifted = append(lifted, id)
		}
	}
	r.bmu.Unlock()
	if len(lifted) > 0 {
		// Lifted elsewhere before its end: its counts go too, or the
		// next failure would block again at once.
		r.mu.Lock()
		for _, id := range lifted {
			if id.kind == store.HulkBlockUser {
				delete(r.users, id.key)
			} else if k, ok := parseKey(id.key); ok {
				delete(r.ips, k)
			}
		}
		r.mu.Unlock()
	}
	return nil
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
// one-time session values are random secrets of 128 bits and more: nobody
// guesses one, and refusing them for a blocked name would let anyone who
// can type root's name 15 times lock root's automation out. An unknown
// method ("") is taken for a guessable one.
func guessable(m core.Method) bool {
	switch m {
	case core.MethodToken, core.MethodAccessHash, core.MethodSession, core.MethodSSO:
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
	r.bmu.RLock()
	ipUntil := r.ipTill[k]
	var userUntil time.Time
	if user != "" && len(r.usTill) > 0 && guessable(a.Method) {
		userUntil = r.usTill[user]
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

// known reports whether user authenticated from addr within the lookback
// period.
func (r *Regulator) known(user string, addr netip.Addr, now time.Time) bool {
	r.gmu.RLock()
	t, ok := r.good[pair{user, addr}]
	r.gmu.RUnlock()
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
	r.gmu.RLock()
	t, ok := r.good[p]
	r.gmu.RUnlock()
	if ok && now.Sub(t) < time.Minute {
		return
	}
	r.gmu.Lock()
	if len(r.good) < maxKeys || ok {
		r.good[p] = now
	}
	r.gmu.Unlock()
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
	if len(r.pendingFails) < 100000 {
		r.pendingFails = append(r.pendingFails, f)
	}
	r.pmu.Unlock()
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
		if len(r.secrets) >= maxKeys {
			return weightNew
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
	addr, err := netip.ParseAddr(f.Address)
	if err != nil {
		return
	}
	k := AddrKey(addr)
	r.mu.Lock()
	ipE := r.ips[k]
	if ipE == nil && len(r.ips) < maxKeys {
		ipE = &events{}
		r.ips[k] = ipE
	}
	var ipWin, ipLook, userWin int
	if ipE != nil {
		ipE.add(f.Time, f.Weight)
		ipWin, ipLook = ipE.sum(f.Time.Add(-cfg.IPBruteForcePeriod)), ipE.sum(f.Time.Add(-cfg.Lookback))
	}
	if f.User != "" {
		uE := r.users[f.User]
		if uE == nil && len(r.users) < maxKeys {
			uE = &events{}
			r.users[f.User] = uE
		}
		if uE != nil {
			uE.add(f.Time, f.Weight)
			userWin = uE.sum(f.Time.Add(-cfg.BruteForcePeriod))
		}
	}
	r.mu.Unlock()

	b := store.HulkBlock{User: f.User, Address: f.Address, Service: f.Service, Created: f.Time}
	now := r.now()
	if cfg.IPBasedProtection {
		switch {
		case ipLook >= cfg.MarkAsBrute*weightNew:
			b.Kind, b.Key, b.Until, b.Failures = store.HulkBlockExcessive, keyString(k), f.Time.Add(ExcessiveBlock), ipLook/weightNew
			b.Reason = "IP reached maximum auth failures for a one day block"
			r.block(b, now)
		case ipWin >= cfg.MaxFailuresByIP*weightNew:
			b.Kind, b.Key, b.Until, b.Failures = store.HulkBlockIP, keyString(k), f.Time.Add(cfg.IPBruteForcePeriod), ipWin/weightNew
			b.Reason = "IP reached maximum auth failures"
			r.block(b, now)
		}
	}
	if f.User != "" && userWin >= cfg.MaxFailures*weightNew && cfg.userProtected(f.User, addr) {
		b.Kind, b.Key, b.Until, b.Failures = store.HulkBlockUser, f.User, f.Time.Add(cfg.BruteForcePeriod), userWin/weightNew
		b.Reason = "Username reached maximum auth failures"
		r.block(b, now)
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
	if old, ok := r.blocks[id]; ok && !old.Until.Before(b.Until) {
		r.bmu.Unlock()
		return
	}
	r.blocks[id] = b
	r.indexLocked(b)
	r.pmu.Lock() // under bmu: see loadBlocks
	r.pendingBlocks = append(r.pendingBlocks, b)
	r.pmu.Unlock()
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
	r.init()
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.pmu.Lock()
	fs, bs := slices.Clone(r.pendingFails), slices.Clone(r.pendingBlocks)
	r.pmu.Unlock()
	var errs []error
	if err := r.Store.AddHulkFailures(ctx, fs); err != nil {
		errs = append(errs, err)
	} else {
		r.pmu.Lock()
		r.pendingFails = slices.Delete(r.pendingFails, 0, len(fs))
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
// them within the lookback period when all is set: a rebuild).
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
		for _, f := range fs {
			after = f.ID
			if all || f.Node != r.node {
				r.count(cfg, f)
			}
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
			r.Flush(fctx)
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
	for k, e := range r.ips {
		if e.prune(since) {
			delete(r.ips, k)
		}
	}
	for k, e := range r.users {
		if e.prune(since) {
			delete(r.users, k)
		}
	}
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
	r.bmu.Unlock()
	r.gmu.Lock()
	for p, t := range r.good {
		if now.Sub(t) >= cfg.Lookback {
			delete(r.good, p)
		}
	}
	r.gmu.Unlock()
}

func clipUser(u string) string {
	if len(u) > maxUserLen {
		return u[:maxUserLen]
	}
	return u
}
