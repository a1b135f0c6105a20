package dht

import (
	"net/netip"
	"slices"
	"time"

	"github.com/peerfind/peerfind/dht/internal/bloom"
	"github.com/peerfind/peerfind/dht/internal/nodeid"
	"github.com/peerfind/peerfind/internal/compact"
)

// LookupStats describes one iterative lookup.
type LookupStats struct {
	Queried    int           // queries sent
	Answered   int           // queries answered
	TimedOut   int           // queries that reached the hard timeout
	Errors     int           // KRPC errors, send failures and undecodable replies
	RoundTrips int           // hops of the deepest answered query: 1 for nodes from our table
	Peers      int           // peers delivered (not deduplicated across nodes)
	Converged  bool          // the k closest nodes answered (or every reachable node did)
	Duration   time.Duration // from start to end
	FirstPeer  time.Duration // from start to the first peer; 0 if none
}

func (s *LookupStats) add(o LookupStats) {
	s.Queried += o.Queried
	s.Answered += o.Answered
	s.TimedOut += o.TimedOut
	s.Errors += o.Errors
	s.RoundTrips = max(s.RoundTrips, o.RoundTrips)
	s.Peers += o.Peers
	s.Converged = s.Converged || o.Converged
	s.Duration = max(s.Duration, o.Duration)
	if o.FirstPeer > 0 && (s.FirstPeer == 0 || o.FirstPeer < s.FirstPeer) {
		s.FirstPeer = o.FirstPeer
	}
}

type candState uint8

const (
	candFresh    candState = iota // not queried yet
	candActive                    // query in flight, counts against α
	candSlow                      // query in flight past the soft timeout: frees its α slot
	candAnswered                  // replied
	candFailed                    // timed out or answered with an error
)

type candidate struct {
	id    ID
	addr  netip.AddrPort
	state candState
	sent  time.Time
	hop   int    // 1 for starting nodes, parent's hop+1 for the nodes it returned
	token string // get_peers token, for announce_peer
	// bfsd and bfpe are the BEP 33 filters of its get_peers answer to a
	// scrape, nil if it sent none; values are the peers of that answer,
	// kept (keepValues) for a node that sent values but no filters.
	bfsd, bfpe *bloom.Filter
	values     []netip.AddrPort
	// needNodes marks a node that answered get_peers with values but no
	// nodes: it is asked again with find_node, since the nodes it knows
	// are the closest to the target (anacrolix/dht and bittorrent-dht leave
	// nodes out once they hold peers, docs/interop.md).
	needNodes bool
	// findNode makes every query to this node a find_node: bootstrap
	// routers answer that and little else.
	findNode bool
	// seed marks a given node or router: its queries are sent again
	// while unanswered (seedResend).
	seed  bool
	asked int // queries sent to this node
	// timedOut marks a failure by timeout (not an error reply): the node
	// may only have lost a datagram, and is asked again if the lookup
	// starves (retry).
	timedOut bool
	// queued marks a query still waiting at our own pacer or rate
	// limiter: its soft timeout starts only once it is sent (sentAt),
	// since local queueing says nothing about the node.
	queued bool
}

// Shortlist bounds. The shortlist keeps the closest candidates only; the
// seen set stops one node being queried twice and bounds what a hostile
// node can make us remember.
const (
	shortlistFactor = 8
	maxSeen         = 4096
)

// lookup is the iterative Kademlia lookup of BEP 5 as a state machine with
// no sockets and no clock of its own: next says which nodes to query now,
// handle and fail consume the outcome of those queries. The Node drives it
// from one goroutine; it is not safe for concurrent use.
type lookup struct {
	target   ID
	self     ID
	k, alpha int
	start    time.Time

	cands []*candidate // closest first, at most k*shortlistFactor
	seen  map[netip.AddrPort]*candidate
	// active is the number of candidates in candActive.
	active int
	// wantNodes enables the find_node follow-up of get_peers answers that
	// carry values and no nodes.
	wantNodes bool
	// keepValues keeps each candidate's values for a scrape (mergeFilters).
	keepValues bool
	// trackSent makes queries start queued: their soft timeout runs from
	// sentAt rather than from next. The Node's search sets it; a driver
	// that sends at once need not.
	trackSent bool
	// grace is how long a slow query to one of the k closest candidates
	// holds the lookup's end (finished); zero: not at all. The Node's
	// search sets it from the round trips it has seen (graceTimeout).
	grace time.Duration
	stats LookupStats
}

func newLookup(target, self ID, k, alpha int, now time.Time) *lookup {
	return &lookup{target: target, self: self, k: k, alpha: alpha, start: now,
		seen: make(map[netip.AddrPort]*candidate)}
}

// add offers a node to the shortlist. It reports whether the node was new
// and kept. Our own id is never added: we would be asking ourselves.
func (l *lookup) add(id ID, addr netip.AddrPort, hop int) bool {
	return l.insert(id, addr, hop, true)
}

// addSeed adds a bootstrap node as a first-hop candidate regardless of the
// shortlist bound, so that every seed is tried.
func (l *lookup) addSeed(id ID, addr netip.AddrPort) bool {
	return l.insert(id, addr, 1, false)
}

func (l *lookup) insert(id ID, addr netip.AddrPort, hop int, bounded bool) bool {
	if id == l.self || !addr.IsValid() || addr.Port() == 0 || addr.Addr().IsUnspecified() {
		return false
	}
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	if _, ok := l.seen[addr]; ok || len(l.seen) >= maxSeen {
		return false
	}
	limit := l.k * shortlistFactor
	i, _ := slices.BinarySearchFunc(l.cands, id, func(c *candidate, t ID) int {
		return nodeid.CompareDistance(l.target, c.id, t)
	})
	if bounded && i >= limit {
		return false
	}
	c := &candidate{id: id, addr: addr, hop: hop}
	l.seen[addr] = c
	l.cands = slices.Insert(l.cands, i, c)
	if bounded && len(l.cands) > limit {
		// Drop the farthest candidate that is not waiting for an answer;
		// a dropped node stays in seen so it is not re-added.
		for j := len(l.cands) - 1; j >= 0; j-- {
			if s := l.cands[j].state; s != candActive && s != candSlow {
				c := l.cands[j]
				c.bfsd, c.bfpe, c.values = nil, nil, nil // it stays in seen
				l.cands = slices.Delete(l.cands, j, j+1)
				break
			}
		}
	}
	return true
}

// next marks queries past the soft timeout as slow and returns the
// candidates to query now (already marked active), the time at which next
// should be called again even without replies (zero: only on a reply), and
// whether the lookup is finished.
//
// A fresh candidate is queried while fewer than α queries are active and
// fewer than k nodes closer than it have answered or are active: slow nodes
// do not count, so a node that stops responding does not hold up progress,
// and its late answer is still taken.
func (l *lookup) next(now time.Time, soft time.Duration) (qs []*candidate, wake time.Time, done bool) {
	for _, c := range l.cands {
		if c.state == candActive && !c.queued && now.Sub(c.sent) >= soft {
			c.state = candSlow
			l.active--
		}
	}
	good := 0 // answered or active candidates seen so far, closest first
	window := l.k + l.spare()
	for _, c := range l.cands {
		if good >= window {
			break
		}
		switch c.state {
		case candAnswered, candActive:
			good++
		case candFresh:
			if l.active < l.alpha {
				c.asked++
				c.state = candActive
				c.sent = now
				c.queued = l.trackSent
				l.active++
				l.stats.Queried++
				qs = append(qs, c)
				good++
			}
		}
	}
	if len(qs) == 0 && l.active == 0 {
		// Starved: nothing fresh in the window and nothing young in
		// flight. Silence from the nodes we know may be lost datagrams,
		// not death (a lookup from one bootstrap node has nobody else):
		// ask them again, with backoff, before the lookup gives up.
		var retryAt time.Time
		qs, retryAt = l.retry(now, soft)
		if !retryAt.IsZero() {
			wake = retryAt
		}
	}
	if len(qs) == 0 && wake.IsZero() && l.finished(now) {
		return nil, time.Time{}, true
	}
	for _, c := range l.cands {
		t := time.Time{}
		switch {
		case c.state == candActive && !c.queued:
			t = c.sent.Add(soft)
		case c.state == candSlow && l.grace > 0 && now.Sub(c.sent) < l.grace:
			t = c.sent.Add(l.grace) // finished may change then
		}
		if !t.IsZero() && (wake.IsZero() || t.Before(wake)) {
			wake = t
		}
	}
	return qs, wake, false
}

// maxAsks bounds the queries to one node in a lookup: the first and the
// retries of a starved lookup.
const maxAsks = 3

// retry re-asks, closest first, the nodes that went silent, once their
// backoff (soft timeout doubled per ask) has passed, when fewer than k
// nodes of the shortlist have answered: only then can silence keep the
// lookup from finishing. It returns those queries and,
// if some are still backing off, when the next one is due.
func (l *lookup) retry(now time.Time, soft time.Duration) (qs []*candidate, due time.Time) {
	answered := 0
	for _, c := range l.cands {
		if c.state == candAnswered {
			answered++
		}
	}
	if answered >= l.k {
		return nil, due // enough answers to finish: silence is not starving it
	}
	for _, c := range l.cands {
		switch {
		case (c.state == candSlow || c.state == candFailed && c.timedOut) && c.asked < maxAsks && !c.seed:
			// (A seed's query has its own resends, seedResend.)
			at := c.sent.Add(soft << c.asked)
			if now.Before(at) {
				if due.IsZero() || at.Before(due) {
					due = at
				}
				continue
			}
			if c.state == candSlow {
				// Its first query may still be answered: either reply
				// will do.
				l.stats.TimedOut++
			}
			c.asked++
			c.state = candActive
			c.timedOut = false
			c.sent = now
			c.queued = l.trackSent
			l.active++
			l.stats.Queried++
			qs = append(qs, c)
		}
	}
	return qs, due
}

// spare is how many candidates beyond k are queried at once: as many as
// are likely to be dead or slow among k, from the share of this lookup's
// queries that went slow or failed so far, so that at the end of a lookup
// the replacements for dead nodes among the closest are already asked
// rather than one soft timeout after another.
func (l *lookup) spare() int {
	bad, asked := 0, 0
	for _, c := range l.seen {
		switch c.state {
		case candSlow, candFailed:
			bad++
			asked++
		case candAnswered:
			asked++
		}
	}
	// A prior of 3 bad in 10 until the lookup has seen for itself.
	return (l.k*(bad+3) + (asked+10)/2) / (asked + 10)
}

// finished reports whether the k closest usable candidates have answered:
// walking closest first, skipping failed nodes and those slow past the
// grace, k answers come before any fresh, active or slow-within-grace one.
// A slow node among the closest is waited for up to the grace, since it
// may hold peers that no other node has (BEP 5 stores a peer at the nodes
// its announcer found, not at all of the closest). With fewer than k
// answering nodes in reach, it is finished when nothing is fresh or in
// flight.
func (l *lookup) finished(now time.Time) bool {
	answered, pending := 0, false
	for _, c := range l.cands {
		switch c.state {
		case candAnswered:
			answered++
			if answered >= l.k {
				return true
			}
		case candFresh, candActive:
			return false
		case candSlow:
			if l.grace > 0 && now.Sub(c.sent) < l.grace {
				return false
			}
			pending = true
		}
	}
	return !pending
}

// sentAt records that the query to addr has left our pacer and rate
// limiter at now: its soft timeout starts here (trackSent).
func (l *lookup) sentAt(addr netip.AddrPort, now time.Time) {
	if c := l.seen[addr]; c != nil && c.state == candActive && c.queued {
		c.queued = false
		c.sent = now
	}
}

// handle consumes a reply from addr. It returns the candidate (nil if the
// address is unknown to this lookup, e.g. a reply after the candidate was
// dropped) and the number of new nodes added to the shortlist.
func (l *lookup) handle(addr netip.AddrPort, r *reply, now time.Time) (*candidate, int) {
	c := l.seen[addr]
	if c == nil || (c.state != candActive && c.state != candSlow) {
		return nil, 0
	}
	if c.state == candActive {
		l.active--
	}
	c.state = candAnswered
	if r.Token != "" {
		c.token = r.Token
	}
	if r.BFsd != nil || r.BFpe != nil {
		c.bfsd, c.bfpe = r.BFsd, r.BFpe
	}
	if l.keepValues && len(r.Peers) > 0 {
		c.values = r.Peers
	}
	if c.values != nil || c.bfsd != nil || c.bfpe != nil {
		l.pruneScrape()
	}
	l.stats.Answered++
	c.needNodes = false
	if l.wantNodes && len(r.Peers) > 0 && len(r.Nodes) == 0 && c.asked == 1 && l.frontier(c) {
		// Ask once more, for nodes (see needNodes); the node stays
		// pending for termination until then.
		c.needNodes = true
		c.state = candFresh
	}
	l.stats.RoundTrips = max(l.stats.RoundTrips, c.hop)
	if r.ID != c.id {
		// The node's real id differs from the one we were told; re-sort so
		// the termination test uses the truth.
		c.id = r.ID
		slices.SortStableFunc(l.cands, func(a, b *candidate) int { return nodeid.CompareDistance(l.target, a.id, b.id) })
	}
	added := 0
	for _, n := range r.Nodes {
		if n.Addr.Addr().Unmap().Is4() != addr.Addr().Is4() {
			continue // BEP 32: each family is looked up on its own
		}
		if l.add(ID(n.ID), n.Addr, c.hop+1) {
			added++
		}
	}
	if len(r.Peers) > 0 {
		l.stats.Peers += len(r.Peers)
		if l.stats.FirstPeer == 0 {
			l.stats.FirstPeer = max(now.Sub(l.start), time.Nanosecond)
		}
	}
	return c, added
}

// pruneScrape frees the filters and values of answered candidates beyond
// the k closest: only those k count in a scrape (mergeFilters), and closer
// answers never make a farther node count again, so what a lookup keeps
// stays bounded by k answers, not by every node that answered.
func (l *lookup) pruneScrape() {
	answered := 0
	for _, c := range l.cands {
		if c.state != candAnswered {
			continue
		}
		if answered++; answered > l.k {
			c.bfsd, c.bfpe, c.values = nil, nil, nil
		}
	}
}

// frontier reports whether no candidate closer than c has answered: then
// nobody has told us about the part of the id space nearest the target, and
// a node there that sent values without nodes is worth a find_node. Deeper
// in, closer nodes have already listed their neighbours, and following up
// every such node costs queries (README, "Design notes").
func (l *lookup) frontier(c *candidate) bool {
	for _, o := range l.cands {
		if o == c {
			return true
		}
		if o.state == candAnswered {
			return false
		}
	}
	return true
}

// fail records that the query to addr failed; timeout distinguishes the
// hard timeout from errors.
func (l *lookup) fail(addr netip.AddrPort, timeout bool) {
	c := l.seen[addr]
	if c == nil || (c.state != candActive && c.state != candSlow) {
		return
	}
	if c.state == candActive {
		l.active--
	}
	c.state = candFailed
	c.timedOut = timeout
	if c.needNodes {
		// Only the find_node follow-up failed: its get_peers answer, and
		// token, still count.
		c.state, c.needNodes = candAnswered, false
	}
	if timeout {
		l.stats.TimedOut++
	} else {
		l.stats.Errors++
	}
}

// closestAnswered returns up to n answered candidates, closest first.
func (l *lookup) closestAnswered(n int) []*candidate {
	var out []*candidate
	for _, c := range l.cands {
		if len(out) >= n {
			break
		}
		if c.state == candAnswered {
			out = append(out, c)
		}
	}
	return out
}

// closestNodes returns the answered candidates as compact nodes.
func (l *lookup) closestNodes(n int) []compact.Node {
	var out []compact.Node
	for _, c := range l.closestAnswered(n) {
		out = append(out, compact.Node{ID: c.id, Addr: c.addr})
	}
	return out
}
