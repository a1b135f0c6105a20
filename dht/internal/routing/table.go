package routing

import (
	"io"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/peerfind/peerfind/dht/internal/nodeid"
)

// K is the bucket size of BEP 5: each bucket holds at most K nodes, and a
// lookup ends at the K closest nodes that answered.
const K = 8

// Routing-table constants.
const (
	// GoodFor is how long a node stays good after it last answered us (or
	// queried us, having answered once): 15 minutes, BEP 5 "Routing Table".
	GoodFor = 15 * time.Minute
	// DefaultMaxFails is how many consecutive unanswered queries make a node
	// bad (BEP 5: "fail to respond to multiple queries in a row"). Two rather
	// than three, because a bad node costs every lookup a timeout while a
	// wrongly evicted one is back with its next reply or query.
	DefaultMaxFails = 2
	// DefaultMaxPerIP is the number of nodes one IP address may hold in a
	// table by default: one, like libtorrent, so that a single host cannot
	// place many ids near a target by opening many ports.
	DefaultMaxPerIP = 1
	// DefaultMaxPerSubnet is the number of nodes one /24 (IPv4) or /64 (IPv6)
	// may hold in the whole table by default. Three is below half of K, so no
	// single subnet can make up the majority of any bucket or of a lookup's
	// starting set.
	DefaultMaxPerSubnet = 3
	// ReplacementCacheSize bounds each bucket's cache of nodes waiting for
	// a slot.
	ReplacementCacheSize = 8
	// maxBuckets is one bucket per bit of the id space; the last can hold
	// only the single id differing from ours in bit 159.
	maxBuckets = 160
	// pingBackoff keeps Questionable from handing out a node again while
	// the ping it asked for is still in flight.
	pingBackoff = time.Minute
)

// NodeInfo is what the routing table knows of a node.
type NodeInfo struct {
	ID   ID
	Addr netip.AddrPort
	// Verified reports whether ID conforms to BEP 42 for Addr's IP
	// (nodeid.Verify). Table.Seen computes it itself; the value passed in is
	// ignored.
	Verified bool
}

// SeenKind says how we heard from a node. Values other than SeenReply
// count as SeenQuery, the weaker evidence.
type SeenKind int

const (
	// SeenReply: the node answered one of our queries. It is good (BEP 5).
	SeenReply SeenKind = iota + 1
	// SeenQuery: the node sent us a query. That keeps a node good that
	// answered us before; a node that never answered stays questionable,
	// since the query's source address could be spoofed. Callers must not
	// report queries from read-only nodes (BEP 43 "ro": 1).
	SeenQuery
)

// Config configures a Table. The zero value is a sensible default for
// the public DHT.
type Config struct {
	// MaxPerIP is the number of nodes sharing one IP address the table
	// holds. If zero, DefaultMaxPerIP (1); -1 means unlimited.
	MaxPerIP int
	// MaxPerSubnet is the number of nodes from one /24 (IPv4) or /64 (IPv6)
	// the whole table holds (main buckets, not the replacement caches). If
	// zero, DefaultMaxPerSubnet (3); -1 means unlimited. Neither limit
	// applies to local addresses (nodeid.Exempt).
	MaxPerSubnet int
	// PreferVerified lets a node whose id conforms to BEP 42 take the slot
	// of an unverified one in a full bucket; the displaced node moves to the
	// replacement cache.
	PreferVerified bool
	// RequireVerified rejects nodes whose ids do not conform to BEP 42 for
	// their address. Addresses BEP 42 exempts (nodeid.Exempt) are accepted
	// regardless.
	RequireVerified bool
	// MaxFails is the number of consecutive failed queries after which a
	// node is bad. If zero, DefaultMaxFails.
	MaxFails int
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
	// Rand supplies the random bits of StaleBuckets' targets. If nil,
	// crypto/rand.
	Rand io.Reader
}

func (c *Config) maxPerIP() int {
	if c.MaxPerIP == 0 {
		return DefaultMaxPerIP
	}
	return c.MaxPerIP
}

func (c *Config) maxPerSubnet() int {
	if c.MaxPerSubnet == 0 {
		return DefaultMaxPerSubnet
	}
	return c.MaxPerSubnet
}

func (c *Config) maxFails() int {
	if c.MaxFails <= 0 {
		return DefaultMaxFails
	}
	return c.MaxFails
}

func (c *Config) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

// entry is one node in a bucket or a replacement cache.
type entry struct {
	info      NodeInfo
	added     time.Time
	lastReply time.Time // zero: never answered
	lastQuery time.Time // zero: never queried us
	lastPing  time.Time // when Questionable last handed it out
	fails     int       // consecutive failed queries
}

// lastSeen is the last time we heard anything from the node.
func (e *entry) lastSeen() time.Time {
	t := e.added
	if e.lastReply.After(t) {
		t = e.lastReply
	}
	if e.lastQuery.After(t) {
		t = e.lastQuery
	}
	return t
}

// state classifies the node as BEP 5 does.
func (e *entry) state(now time.Time, maxFails int) nodeState {
	switch {
	case e.fails >= maxFails:
		return stateBad
	case e.lastReply.IsZero():
		return stateQuestionable
	case now.Sub(e.lastReply) < GoodFor, now.Sub(e.lastQuery) < GoodFor:
		return stateGood
	}
	return stateQuestionable
}

type nodeState int

const (
	stateGood nodeState = iota
	stateQuestionable
	stateBad
)

// bucket holds the nodes whose ids share a given prefix length with ours.
type bucket struct {
	nodes     []*entry  // at most K
	repl      []*entry  // replacement cache, oldest first, at most ReplacementCacheSize
	changed   time.Time // last time a node was added or answered
	refreshed time.Time // last time StaleBuckets handed out a target for it
}

// Table is a BEP 5 routing table: up to 160 buckets of K nodes, where only
// the bucket containing our own id splits. Bucket i holds the nodes whose
// ids share exactly i leading bits with ours; the last bucket holds all nodes
// sharing at least as many. Every bucket has a bounded replacement cache,
// and the per-IP and per-subnet limits of Config bound what one host
// or network can place in it, so memory stays bounded whatever arrives.
//
// A Table is family-agnostic: a node serving IPv4 and IPv6 (BEP 32) keeps
// one Table per family. It is safe for concurrent use.
type Table struct {
	self ID
	cfg  Config

	mu        sync.Mutex
	buckets   []*bucket
	byAddr    map[netip.AddrPort]*entry // nodes in buckets
	byID      map[ID]*entry             // nodes in buckets
	replAddr  map[netip.AddrPort]*entry // nodes in replacement caches
	perIP     map[netip.Addr]int        // nodes in buckets per IP
	perSubnet map[netip.Prefix]int      // nodes in buckets per /24 or /64
}

// New returns an empty table for a node whose id is self.
func New(self ID, cfg Config) *Table {
	t := &Table{
		self:      self,
		cfg:       cfg,
		byAddr:    make(map[netip.AddrPort]*entry),
		byID:      make(map[ID]*entry),
		replAddr:  make(map[netip.AddrPort]*entry),
		perIP:     make(map[netip.Addr]int),
		perSubnet: make(map[netip.Prefix]int),
	}
	t.buckets = []*bucket{{changed: cfg.now()}}
	return t
}

// Self returns our own id, the one distances in the table are measured from.
func (t *Table) Self() ID { return t.self }

// normAddr unmaps IPv4-mapped IPv6 addresses so one host has one key.
func normAddr(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// subnet returns the /24 (IPv4) or /64 (IPv6) containing ip.
func subnet(ip netip.Addr) netip.Prefix {
	bits := 64
	if ip.Is4() {
		bits = 24
	}
	p, _ := ip.Prefix(bits)
	return p
}

// Usable reports whether a node could be reached at ap.
func Usable(ap netip.AddrPort) bool {
	ip := ap.Addr()
	return ip.IsValid() && ap.Port() != 0 && !ip.IsUnspecified() && !ip.IsMulticast()
}

// bucketIndex returns the index of the bucket id belongs in. Callers hold mu.
func (t *Table) bucketIndex(id ID) int {
	return min(nodeid.CommonPrefixLen(t.self, id), len(t.buckets)-1)
}

// Seen records that we heard from n: it inserts a new node or refreshes a
// known one. It reports whether the node is now in the table's buckets;
// false means it was rejected (our own id, unusable address, BEP 42
// enforcement, per-IP or per-subnet limits, an id or address conflict with a
// live node) or that its bucket is full and it waits in the bucket's
// replacement cache. Only a node that answered (SeenReply) may displace a bad
// node or, with PreferVerified, an unverified one.
func (t *Table) Seen(n NodeInfo, kind SeenKind) bool {
	n.Addr = normAddr(n.Addr)
	if n.ID == t.self || !Usable(n.Addr) {
		return false
	}
	ip := n.Addr.Addr()
	n.Verified = nodeid.Verify(n.ID, ip)
	if t.cfg.RequireVerified && !n.Verified && !nodeid.Exempt(ip) {
		return false
	}
	now := t.cfg.now()

	t.mu.Lock()
	defer t.mu.Unlock()
	// Buckets that lose a node to the conflicts below are refilled from
	// their caches once the new node has had its chance at the slot.
	var vacated []*bucket
	defer func() {
		for _, b := range vacated {
			t.promote(b, now)
		}
	}()
	if e := t.byAddr[n.Addr]; e != nil {
		if e.info.ID == n.ID {
			t.touch(e, kind, now)
			return true
		}
		// The address now answers with another id: the node restarted
		// with a new one. Only a reply proves that; a query could be
		// spoofed to evict a live node.
		if kind != SeenReply {
			return false
		}
		vacated = append(vacated, t.buckets[t.bucketIndex(e.info.ID)])
		t.removeEntry(e)
	}
	if e := t.byID[n.ID]; e != nil {
		// The id is known at another address. A live node keeps its slot,
		// so nobody can take over an id by claiming it.
		if e.state(now, t.cfg.maxFails()) != stateBad {
			return false
		}
		vacated = append(vacated, t.buckets[t.bucketIndex(e.info.ID)])
		t.removeEntry(e)
	}
	cand := &entry{info: n, added: now}
	if e := t.replAddr[n.Addr]; e != nil {
		t.removeRepl(e)
		if e.info.ID == n.ID {
			cand = e
		}
	}
	switch kind {
	case SeenReply:
		cand.lastReply = now
		cand.fails = 0
	default:
		cand.lastQuery = now
	}
	return t.insert(cand, kind, now, &vacated)
}

// touch refreshes a node already in a bucket. Callers hold mu.
func (t *Table) touch(e *entry, kind SeenKind, now time.Time) {
	switch kind {
	case SeenReply:
		e.lastReply = now
		e.fails = 0
		t.buckets[t.bucketIndex(e.info.ID)].changed = now
	default:
		e.lastQuery = now
	}
}

// allowed reports whether the per-IP and per-subnet limits leave room for
// another node at ip. Callers hold mu.
func (t *Table) allowed(ip netip.Addr) bool {
	if nodeid.Exempt(ip) {
		// Local addresses (loopback, private, link-local) are exempt, as
		// BEP 42 exempts them: the limits guard against one Internet host
		// or network filling the table, while a local network or a test
		// swarm on 127/8 legitimately shares a /24.
		return true
	}
	if m := t.cfg.maxPerIP(); m >= 0 && t.perIP[ip] >= m {
		return false
	}
	if m := t.cfg.maxPerSubnet(); m >= 0 && t.perSubnet[subnet(ip)] >= m {
		return false
	}
	return true
}

// insert places cand, which is in no bucket or cache, into its bucket,
// splitting our own bucket as needed, or else into the replacement cache.
// Buckets it takes bad nodes from are added to vacated. Callers hold mu.
func (t *Table) insert(cand *entry, kind SeenKind, now time.Time, vacated *[]*bucket) bool {
	ip := cand.info.Addr.Addr()
	if !t.allowed(ip) {
		// Bad nodes must not hold their address's share of the limits:
		// a host that restarted on a new port would stay locked out.
		t.evictBad(ip, now, vacated)
		if !t.allowed(ip) {
			return false
		}
	}
	idx := t.bucketIndex(cand.info.ID)
	for len(t.buckets[idx].nodes) >= K && idx == len(t.buckets)-1 && len(t.buckets) < maxBuckets {
		t.split()
		idx = t.bucketIndex(cand.info.ID)
	}
	b := t.buckets[idx]
	if len(b.nodes) < K {
		t.addEntry(b, cand, now)
		return true
	}
	if kind == SeenReply {
		if victim := t.victim(b, cand, now); victim != nil {
			t.removeEntry(victim)
			if victim.state(now, t.cfg.maxFails()) != stateBad {
				t.addRepl(b, victim)
			}
			t.addEntry(b, cand, now)
			return true
		}
	}
	t.addRepl(b, cand)
	return false
}

// evictBad removes the bad nodes sharing ip's address or subnet, adding
// their buckets to vacated. Callers hold mu.
func (t *Table) evictBad(ip netip.Addr, now time.Time, vacated *[]*bucket) {
	sn := subnet(ip)
	for _, b := range t.buckets {
		for i := 0; i < len(b.nodes); i++ {
			e := b.nodes[i]
			eip := e.info.Addr.Addr()
			if (eip == ip || subnet(eip) == sn) && e.state(now, t.cfg.maxFails()) == stateBad {
				t.removeEntry(e)
				*vacated = append(*vacated, b)
				i--
			}
		}
	}
}

// victim picks the node of the full bucket b that cand may replace: a bad
// node, or with PreferVerified and a verified cand, the unverified node
// heard from least recently (BEP 42). Callers hold mu.
func (t *Table) victim(b *bucket, cand *entry, now time.Time) *entry {
	var unverified *entry
	for _, e := range b.nodes {
		if e.state(now, t.cfg.maxFails()) == stateBad {
			return e
		}
		if !e.info.Verified && !nodeid.Exempt(e.info.Addr.Addr()) &&
			(unverified == nil || e.lastSeen().Before(unverified.lastSeen())) {
			unverified = e
		}
	}
	if t.cfg.PreferVerified && cand.info.Verified {
		return unverified
	}
	return nil
}

// addEntry puts e into bucket b and the indexes. Callers hold mu.
func (t *Table) addEntry(b *bucket, e *entry, now time.Time) {
	b.nodes = append(b.nodes, e)
	b.changed = now
	ip := e.info.Addr.Addr()
	t.byAddr[e.info.Addr] = e
	t.byID[e.info.ID] = e
	t.perIP[ip]++
	t.perSubnet[subnet(ip)]++
}

// removeEntry takes e out of its bucket and the indexes. Callers hold mu.
func (t *Table) removeEntry(e *entry) {
	b := t.buckets[t.bucketIndex(e.info.ID)]
	if i := slices.Index(b.nodes, e); i >= 0 {
		b.nodes = slices.Delete(b.nodes, i, i+1)
	}
	ip := e.info.Addr.Addr()
	delete(t.byAddr, e.info.Addr)
	delete(t.byID, e.info.ID)
	if t.perIP[ip]--; t.perIP[ip] <= 0 {
		delete(t.perIP, ip)
	}
	sn := subnet(ip)
	if t.perSubnet[sn]--; t.perSubnet[sn] <= 0 {
		delete(t.perSubnet, sn)
	}
}

// addRepl puts e into b's replacement cache, dropping the entry least
// worth keeping when the cache is full: one that never answered, else the
// oldest. A host already holding MaxPerIP entries in the cache replaces its
// oldest one, so one host cannot crowd out the others. Callers hold mu.
func (t *Table) addRepl(b *bucket, e *entry) {
	ip := e.info.Addr.Addr()
	if m := t.cfg.maxPerIP(); m >= 0 && !nodeid.Exempt(ip) {
		same := 0
		for _, r := range b.repl {
			if r.info.Addr.Addr() == ip {
				same++
			}
		}
		if same >= max(m, 1) {
			for _, r := range b.repl {
				if r.info.Addr.Addr() == ip {
					t.removeRepl(r)
					break
				}
			}
		}
	}
	if len(b.repl) >= ReplacementCacheSize {
		drop := b.repl[0]
		for _, r := range b.repl {
			if r.lastReply.IsZero() {
				drop = r
				break
			}
		}
		t.removeRepl(drop)
	}
	b.repl = append(b.repl, e)
	t.replAddr[e.info.Addr] = e
}

// removeRepl takes e out of its replacement cache. Callers hold mu.
func (t *Table) removeRepl(e *entry) {
	b := t.buckets[t.bucketIndex(e.info.ID)]
	if i := slices.Index(b.repl, e); i >= 0 {
		b.repl = slices.Delete(b.repl, i, i+1)
	}
	delete(t.replAddr, e.info.Addr)
}

// promote moves the best candidate from b's replacement cache into b, if
// b has room: the one that answered most recently, else the one heard from
// most recently. Candidates the limits reject stay cached. Callers hold mu.
func (t *Table) promote(b *bucket, now time.Time) {
	for len(b.nodes) < K {
		var best *entry
		for _, r := range b.repl {
			if r.fails >= t.cfg.maxFails() || !t.allowed(r.info.Addr.Addr()) || t.byID[r.info.ID] != nil {
				continue
			}
			if best == nil || r.lastReply.After(best.lastReply) ||
				r.lastReply.Equal(best.lastReply) && r.lastSeen().After(best.lastSeen()) {
				best = r
			}
		}
		if best == nil {
			return
		}
		t.removeRepl(best)
		t.addEntry(b, best, now)
	}
}

// split divides the last bucket (the one containing our id) in two. Callers
// hold mu.
func (t *Table) split() {
	old := t.buckets[len(t.buckets)-1]
	nb := &bucket{changed: old.changed, refreshed: old.refreshed}
	t.buckets = append(t.buckets, nb)
	idx := len(t.buckets) - 2
	old.nodes, nb.nodes = t.splitEntries(old.nodes, idx)
	old.repl, nb.repl = t.splitEntries(old.repl, idx)
	now := t.cfg.now()
	t.promote(old, now)
	t.promote(nb, now)
}

// splitEntries divides list, in place, into the entries that stay in the
// bucket being split (common prefix with our id ≤ idx) and those that move
// to the new bucket, keeping their order. Must hold mu.
func (t *Table) splitEntries(list []*entry, idx int) (stay, move []*entry) {
	stay = list[:0]
	for _, e := range list {
		if nodeid.CommonPrefixLen(t.self, e.info.ID) > idx {
			move = append(move, e)
		} else {
			stay = append(stay, e)
		}
	}
	clear(list[len(stay):])
	return stay, move
}

// Failed records that a query to addr went unanswered. After MaxFails
// consecutive failures the node is bad: it is replaced by the best node of
// its bucket's replacement cache, or, while the cache has none, stays in
// place (excluded from Closest) until a new node takes its slot or it
// answers again.
func (t *Table) Failed(addr netip.AddrPort) {
	addr = normAddr(addr)
	now := t.cfg.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.replAddr[addr]; e != nil {
		if e.fails++; e.fails >= t.cfg.maxFails() {
			t.removeRepl(e)
		}
		return
	}
	e := t.byAddr[addr]
	if e == nil {
		return
	}
	if e.fails++; e.fails < t.cfg.maxFails() {
		return
	}
	b := t.buckets[t.bucketIndex(e.info.ID)]
	before := len(b.nodes)
	t.removeEntry(e)
	t.promote(b, now)
	if len(b.nodes) < before {
		// No replacement: keep the bad node so its slot is still taken
		// by the next node that answers (Seen → victim).
		t.addEntry(b, e, b.changed)
	}
}

// Remove drops the node at addr from the table or its replacement cache,
// filling its slot from the replacement cache.
func (t *Table) Remove(addr netip.AddrPort) {
	addr = normAddr(addr)
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.replAddr[addr]; e != nil {
		t.removeRepl(e)
		return
	}
	if e := t.byAddr[addr]; e != nil {
		b := t.buckets[t.bucketIndex(e.info.ID)]
		t.removeEntry(e)
		t.promote(b, t.cfg.now())
	}
}

// Get returns what the table knows of the node at addr, if it is in a
// bucket.
func (t *Table) Get(addr netip.AddrPort) (NodeInfo, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.byAddr[normAddr(addr)]; e != nil {
		return e.info, true
	}
	return NodeInfo{}, false
}

// Closest returns up to n nodes closest to target by XOR distance, closest
// first, leaving out bad nodes. Good and questionable nodes are both
// returned: a lookup learns soon enough whether a questionable one answers.
func (t *Table) Closest(target ID, n int) []NodeInfo {
	if n <= 0 {
		return nil
	}
	now := t.cfg.now()
	maxFails := t.cfg.maxFails()
	t.mu.Lock()
	defer t.mu.Unlock()
	// The buckets fall into groups of increasing distance from target, so
	// the walk can stop after the group that brings the count to n. With
	// c = nodeid.CommonPrefixLen(self, target): ids in bucket c agree with target
	// through bit c (distance < 2^(159-c)); ids in buckets above c differ
	// from it first at bit c; ids in bucket i < c differ first at bit i, so
	// bucket c-1 comes before c-2, and so on down to bucket 0. When target
	// falls in the last bucket, that bucket is the first group alone.
	last := len(t.buckets) - 1
	c := min(nodeid.CommonPrefixLen(t.self, target), last)
	out := make([]NodeInfo, 0, n+K)
	add := func(b *bucket) {
		for _, e := range b.nodes {
			if e.state(now, maxFails) != stateBad {
				out = append(out, e.info)
			}
		}
	}
	add(t.buckets[c])
	if len(out) < n {
		for j := c + 1; j <= last; j++ {
			add(t.buckets[j])
		}
	}
	for i := c - 1; i >= 0 && len(out) < n; i-- {
		add(t.buckets[i])
	}
	slices.SortFunc(out, func(a, b NodeInfo) int { return nodeid.CompareDistance(target, a.ID, b.ID) })
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// Len returns the number of nodes in the buckets, bad ones included.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byAddr)
}

// Buckets returns the number of buckets, 1 to 160.
func (t *Table) Buckets() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.buckets)
}

// Counts counts the nodes of a table by BEP 5 state.
type Counts struct {
	Good, Questionable, Bad int
	Replacements            int // nodes waiting in replacement caches
	Buckets                 int
}

// Counts returns the number of nodes in each state.
func (t *Table) Counts() Counts {
	now := t.cfg.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	c := Counts{Buckets: len(t.buckets), Replacements: len(t.replAddr)}
	for _, e := range t.byAddr {
		switch e.state(now, t.cfg.maxFails()) {
		case stateGood:
			c.Good++
		case stateQuestionable:
			c.Questionable++
		default:
			c.Bad++
		}
	}
	return c
}

// Good returns the good nodes (BEP 5: answered within GoodFor, or queried
// us within GoodFor after having answered once), closest to our own id
// first. It is what State saves.
func (t *Table) Good() []NodeInfo {
	now := t.cfg.now()
	t.mu.Lock()
	var out []NodeInfo
	for _, e := range t.byAddr {
		if e.state(now, t.cfg.maxFails()) == stateGood {
			out = append(out, e.info)
		}
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b NodeInfo) int { return nodeid.CompareDistance(t.self, a.ID, b.ID) })
	return out
}

// StaleBuckets returns, for each bucket in which no node was added or
// answered within age (BEP 5 uses 15 minutes), a random id inside that
// bucket's range, to refresh the bucket with a find_node lookup for it. The
// stalest buckets come first. The buckets returned count as refreshed now,
// so a bucket whose refresh finds nothing comes back only after age has
// passed again; a caller that refreshes only some of them should use
// StaleBucketsN instead, or the others wait another age.
func (t *Table) StaleBuckets(age time.Duration) []ID {
	return t.StaleBucketsN(age, 0)
}

// StaleBucketsN is StaleBuckets returning (and marking refreshed) at most
// limit targets, the stalest buckets first; limit ≤ 0 means no limit. The
// buckets left out stay stale and come first in a later call.
func (t *Table) StaleBucketsN(age time.Duration, limit int) []ID {
	now := t.cfg.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	type stale struct {
		i    int
		last time.Time
	}
	var cands []stale
	for i, b := range t.buckets {
		last := b.changed
		if b.refreshed.After(last) {
			last = b.refreshed
		}
		if now.Sub(last) >= age {
			cands = append(cands, stale{i, last})
		}
	}
	slices.SortStableFunc(cands, func(a, b stale) int { return a.last.Compare(b.last) })
	if limit > 0 && len(cands) > limit {
		cands = cands[:limit]
	}
	out := make([]ID, 0, len(cands))
	for _, c := range cands {
		t.buckets[c.i].refreshed = now
		// Bucket i (not the last) holds ids sharing exactly i bits with
		// ours, so bit i is flipped; the last holds those sharing at least i.
		out = append(out, nodeid.RandomWithPrefix(t.cfg.Rand, t.self, c.i, c.i < len(t.buckets)-1))
	}
	return out
}

// Questionable returns up to limit nodes that have not answered within
// GoodFor (or never have) and are not yet bad, least recently heard from
// first, for the caller to ping (BEP 5). A node returned is not returned
// again for a minute, while its ping is in flight; report the outcome with
// Seen (SeenReply) or Failed.
func (t *Table) Questionable(limit int) []NodeInfo {
	if limit <= 0 {
		return nil
	}
	now := t.cfg.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	var cands []*entry
	for _, e := range t.byAddr {
		if e.state(now, t.cfg.maxFails()) == stateQuestionable && now.Sub(e.lastPing) >= pingBackoff {
			cands = append(cands, e)
		}
	}
	slices.SortFunc(cands, func(a, b *entry) int { return a.lastSeen().Compare(b.lastSeen()) })
	if len(cands) > limit {
		cands = cands[:limit]
	}
	out := make([]NodeInfo, len(cands))
	for i, e := range cands {
		e.lastPing = now
		out[i] = e.info
	}
	return out
}

// SparseBuckets returns, for up to limit buckets that have room (fewer
// than K nodes), a random id inside the bucket's range, to fill the bucket
// with a find_node lookup for it. The farthest buckets come first: bucket
// i covers 1/2^(i+1) of the id space, so the far ones have the most nodes
// to find and start the lookups of the most targets. The bucket holding
// our own id is left out (a lookup for our id fills it), and so is a
// bucket handed out within the last minute, whose refresh may still be
// running. Buckets returned count as refreshed now. limit ≤ 0 means no
// limit.
func (t *Table) SparseBuckets(limit int) []ID {
	now := t.cfg.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []ID
	for i, b := range t.buckets[:len(t.buckets)-1] {
		if limit > 0 && len(out) >= limit {
			break
		}
		if len(b.nodes) >= K || !b.refreshed.IsZero() && now.Sub(b.refreshed) < pingBackoff {
			continue
		}
		b.refreshed = now
		out = append(out, nodeid.RandomWithPrefix(t.cfg.Rand, t.self, i, true))
	}
	return out
}

// FarTargets returns n random ids, the i-th differing from our own id first
// at bit i: the far regions of the id space, whatever the table's bucket
// layout. A table that has not split yet (one bucket) has no far bucket
// for SparseBuckets to name, yet those regions hold most of the network.
func (t *Table) FarTargets(n int) []ID {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]ID, 0, n)
	for i := range min(n, len(ID{})*8) {
		out = append(out, nodeid.RandomWithPrefix(t.cfg.Rand, t.self, i, true))
	}
	return out
}
