package dht

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/peerfind/peerfind/dht/internal/krpc"
	"github.com/peerfind/peerfind/dht/internal/routing"
	"github.com/peerfind/peerfind/metainfo"
)

// PeerFound is one peer returned by a get_peers lookup.
type PeerFound struct {
	Peer netip.AddrPort // the BitTorrent peer
	From netip.AddrPort // the DHT node that returned it
}

// search runs one lookup state machine over one address family: the
// lookup's only goroutine, plus one short-lived goroutine per query in
// flight, all ended before search returns.
type search struct {
	n      *Node
	method string // find_node or get_peers
	target ID
	want   []string
	// routers are bootstrap routers: their answers are used but they are
	// not added to the routing table.
	routers map[netip.AddrPort]bool
	// onReply is called for each answer, on the search goroutine.
	onReply func(c *candidate, r *reply)
	// background marks a table refresh, whose queries yield to the
	// caller's lookups (queryOpts.background).
	background bool
	// scrape adds scrape=1 to get_peers queries (BEP 33).
	scrape bool
}

type outcome struct {
	addr    netip.AddrPort
	attempt int // the candidate's asked count when this query was sent
	r       reply
	err     error
}

// run drives l until it finishes or ctx ends.
func (s *search) run(ctx context.Context, l *lookup) LookupStats {
	n := s.n
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	results := make(chan outcome)
	// sent carries the queries that have left our pacer (lookup.sentAt).
	sent := make(chan netip.AddrPort)
	l.trackSent = true
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	inflight := 0
	for {
		l.grace = n.graceTimeout()
		qs, wake, done := l.next(n.now(), n.softTimeout())
		if done {
			// Exhausting the shortlist without one answer is no
			// convergence: every node we knew is gone.
			l.stats.Converged = l.stats.Answered > 0
			break
		}
		for _, c := range qs {
			inflight++
			wg.Add(1)
			method := s.method
			if c.needNodes || c.findNode {
				method = methodFindNode
			}
			go func(addr netip.AddrPort, seed bool, attempt int) {
				defer wg.Done()
				a := &krpc.Args{Want: s.want}
				if method == methodFindNode {
					a.Target = string(s.target[:])
				} else {
					a.InfoHash = string(s.target[:])
					if s.scrape {
						a.Scrape = 1
					}
				}
				o := queryOpts{background: s.background}
				if seed {
					o.resend, o.giveUp = seedResend, seedGiveUp
				}
				o.sent = func() {
					select {
					case sent <- addr:
					case <-ctx.Done():
					}
				}
				start := time.Now()
				m, err := n.queryWith(ctx, addr, method, a, o)
				out := outcome{addr: addr, attempt: attempt, err: err}
				if err == nil {
					out.r = krpc.DecodeReply(m)
				}
				if tr := n.cfg.Trace; tr != nil {
					tr(QueryTrace{Method: method, Addr: addr, RTT: time.Since(start), Nodes: len(out.r.Nodes), Peers: len(out.r.Peers), Err: err})
				}
				select {
				case results <- out:
				case <-ctx.Done():
				}
			}(c.addr, c.seed, c.asked)
		}
		if inflight == 0 && wake.IsZero() {
			// Unreachable in practice: next reports done whenever nothing
			// is fresh, in flight or due for a retry. A guard against
			// waiting forever.
			break
		}
		timer.Stop() // Go 1.23+: Stop leaves no stale tick behind
		if !wake.IsZero() {
			timer.Reset(max(wake.Sub(n.now()), time.Millisecond))
		}
		select {
		case o := <-results:
			inflight--
			if o.err != nil {
				n.noteFailure(o.addr, o.err)
				if ctx.Err() != nil {
					l.stats.Duration = n.now().Sub(l.start)
					return l.stats
				}
				if c := l.seen[o.addr]; c != nil && c.asked != o.attempt {
					// An earlier query to a node asked again: the
					// later one is still out.
					continue
				}
				l.fail(o.addr, errors.Is(o.err, ErrTimeout))
				continue
			}
			if s.routers[o.addr] {
				if o.r.IP.IsValid() {
					n.voteIP(o.r.IP.Addr())
				}
			} else if n.noteReply(o.addr, o.r.ID, o.r.IP); !n.acceptID(o.r.ID, o.addr.Addr()) {
				l.fail(o.addr, false)
				continue
			}
			c, _ := l.handle(o.addr, &o.r, n.now())
			if c != nil && s.onReply != nil {
				s.onReply(c, &o.r)
			}
		case addr := <-sent:
			l.sentAt(addr, n.now())
		case <-timer.C:
		case <-ctx.Done():
			l.stats.Duration = n.now().Sub(l.start)
			return l.stats
		}
	}
	l.stats.Duration = n.now().Sub(l.start)
	return l.stats
}

// seedResend is when a query to a given node or router is sent again while
// it has no answer, counted from the first send: such a node may be the only
// one we know, so one lost datagram would end the search (BEP 5 leaves
// retransmission to the implementation; KRPC has no acknowledgements).
// It gives up at seedGiveUp, within the 5 s a user waits for a verdict on a
// dead bootstrap node.
var seedResend = []time.Duration{400 * time.Millisecond, 1200 * time.Millisecond, 2400 * time.Millisecond}

const seedGiveUp = 3600 * time.Millisecond

// thin reports whether the routing table of one family holds fewer than K
// good nodes: a lookup from it alone might not get anywhere.
func (n *Node) thin(v4 bool) bool {
	t := n.tables[1].Load()
	if v4 {
		t = n.tables[0].Load()
	}
	return t == nil || len(t.Good()) < routing.K
}

// noStartError explains why a lookup had no node to start from.
func (n *Node) noStartError() error {
	saved, given := n.knownSeeds()
	n.mu.Lock()
	results := n.routerResults
	n.mu.Unlock()
	var why []string
	if len(saved) == 0 {
		why = append(why, "no saved nodes")
	}
	if len(given) == 0 {
		why = append(why, "no bootstrap nodes given")
	} else {
		var addrs []netip.AddrPort
		for _, sd := range given {
			addrs = append(addrs, sd.addr)
		}
		why = append(why, strings.TrimPrefix(addrList("no socket of their address family for", addrs), "; "))
	}
	switch failed := 0; {
	case len(results) == 0:
		why = append(why, "no routers configured")
	default:
		var errs []string
		for _, r := range results {
			if r.Err != nil {
				failed++
				errs = append(errs, r.Err.Error())
			}
		}
		if failed == len(results) {
			msg := fmt.Sprintf("none of the %d bootstrap routers resolved (%s)", len(results), strings.Join(errs, "; "))
			if len(results) > 1 {
				msg += ": is the network down?"
			}
			why = append(why, msg)
		} else {
			why = append(why, "the routers resolved to no address we can reach")
		}
	}
	return fmt.Errorf("%w to start from: %s", ErrNoNodes, strings.Join(why, ", "))
}

// families returns the address families the node has sockets for.
func (n *Node) families() []bool {
	var out []bool
	for _, s := range n.socks {
		out = append(out, s.v4)
	}
	return out
}

// startLookup seeds a lookup for target from the routing table of one
// family.
func (n *Node) startLookup(target ID, v4 bool) *lookup {
	l := newLookup(target, n.ID(), routing.K, n.alpha, n.now())
	for _, nd := range n.closestCompact(target, v4, routing.K*shortlistFactor) {
		l.add(ID(nd.ID), nd.Addr, 1)
	}
	return l
}

func wantFor(v4 bool) []string {
	if v4 {
		return []string{"n4"}
	}
	return []string{"n6"}
}

// lookupOpts are the variants of lookupAll.
type lookupOpts struct {
	// followUp enables the find_node follow-up of get_peers answers that
	// carry values but no nodes.
	followUp bool
	// scrape asks get_peers with scrape=1 (BEP 33).
	scrape bool
}

// lookupAll runs one lookup per address family in parallel and merges the
// statistics. A family with an empty table starts from the bootstrap seeds
// (coldSeeds). It returns ErrNoNodes if no family had a node to start from.
// onReply may be called from several goroutines at once.
func (n *Node) lookupAll(ctx context.Context, method string, target ID, o lookupOpts, onReply func(v4 bool, l *lookup, c *candidate, r *reply)) (LookupStats, []*lookup, error) {
	select {
	case <-n.closing:
		return LookupStats{}, nil, ErrClosed
	default:
	}
	ctx, cancel := n.closingContext(ctx)
	defer cancel()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		total   LookupStats
		lookups []*lookup
	)
	for _, v4 := range n.families() {
		l := n.startLookup(target, v4)
		var routers map[netip.AddrPort]bool
		if n.thin(v4) {
			// A cold or thin table: the lookup starts from the starting
			// nodes at once, toward the target, rather than after a
			// bootstrap toward our own id. It fills the table on the way
			// as a bootstrap would, and peers arrive a self-lookup's
			// worth of round trips sooner.
			routers = make(map[netip.AddrPort]bool)
			for _, sd := range n.coldSeeds(ctx, v4) {
				id := sd.id
				if id.IsZero() {
					id = target
					id[19] ^= 1 // unknown id: ask it first
				}
				if !l.addSeed(id, sd.addr) {
					continue
				}
				c := l.seen[netip.AddrPortFrom(sd.addr.Addr().Unmap(), sd.addr.Port())]
				// The given nodes and routers may be all we know: a lost
				// datagram must not end the search (retransmit).
				c.seed = !sd.saved
				if sd.router {
					routers[sd.addr] = true
					c.findNode = true
				}
			}
		}
		if len(l.cands) == 0 {
			continue
		}
		l.wantNodes = o.followUp
		l.keepValues = o.scrape
		lookups = append(lookups, l)
		s := &search{n: n, method: method, target: target, want: wantFor(v4), routers: routers, scrape: o.scrape}
		if onReply != nil {
			s.onReply = func(c *candidate, r *reply) { onReply(v4, l, c, r) }
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := s.run(ctx, l)
			mu.Lock()
			total.add(st)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(lookups) == 0 {
		return total, nil, n.noStartError()
	}
	if total.Answered == 0 && ctx.Err() == nil {
		var silent []netip.AddrPort
		for _, l := range lookups {
			for _, c := range l.cands {
				if c.seed {
					silent = append(silent, c.addr)
				}
			}
		}
		return total, lookups, fmt.Errorf("%w: none of the %d nodes queried answered%s", ErrNoNodes, total.Queried, addrList("no answer from", silent))
	}
	if !total.Converged {
		if err := ctx.Err(); err != nil {
			select {
			case <-n.closing:
				return total, lookups, ErrClosed
			default:
			}
			return total, lookups, err
		}
	}
	return total, lookups, nil
}

// GetPeers looks up the peers of infoHash: an iterative get_peers lookup per
// address family (BEP 5, BEP 32) from the closest nodes of the routing
// table. fn is called for each peer as soon as a node returns it, with that
// node; calls are serialised, may come from different goroutines, and must
// not block long. Peers are not deduplicated.
//
// The error is nil when the lookup ran its course, ctx.Err() when ctx ended
// it first (the stats and the peers delivered so far are still valid), one
// wrapping ErrNoNodes when the routing table is empty or no node answered,
// and ErrClosed after Close.
func (n *Node) GetPeers(ctx context.Context, infoHash metainfo.Hash, fn func(PeerFound)) (LookupStats, error) {
	st, _, err := n.getPeers(ctx, infoHash, false, fn)
	return st, err
}

// getPeers runs GetPeers, with scrape=1 in its queries if scrape, and
// returns the lookups for Scrape to read the filters from.
func (n *Node) getPeers(ctx context.Context, infoHash metainfo.Hash, scrape bool, fn func(PeerFound)) (LookupStats, []*lookup, error) {
	var fnMu sync.Mutex
	return n.lookupAll(ctx, methodGetPeers, ID(infoHash), lookupOpts{scrape: scrape}, func(_ bool, _ *lookup, c *candidate, r *reply) {
		if fn == nil || len(r.Peers) == 0 {
			return
		}
		fnMu.Lock()
		defer fnMu.Unlock()
		for _, p := range r.Peers {
			fn(PeerFound{Peer: p, From: c.addr})
		}
	})
}

// FindNode runs an iterative find_node lookup for target and returns the
// closest nodes that answered, closest first, IPv4 then IPv6.
func (n *Node) FindNode(ctx context.Context, target ID) ([]NodeInfo, LookupStats, error) {
	st, ls, err := n.lookupAll(ctx, methodFindNode, target, lookupOpts{}, nil)
	var out []NodeInfo
	for _, l := range ls {
		for _, nd := range l.closestNodes(routing.K) {
			out = append(out, NodeInfo{ID: nd.ID, Addr: nd.Addr})
		}
	}
	return out, st, err
}

// Announce announces that a peer of infoHash listens on port: a get_peers
// lookup, then announce_peer with their tokens to the k closest nodes that
// answered, per family (BEP 5). With impliedPort, the receivers use the
// UDP source port of the announce instead (BEP 5 implied_port, for peers
// behind a NAT that maps both ports alike). Stats.Peers counts peers seen
// during the lookup; the error is nil if at least one announce was
// accepted.
func (n *Node) Announce(ctx context.Context, infoHash metainfo.Hash, port uint16, impliedPort bool) (LookupStats, error) {
	return n.announce(ctx, infoHash, port, impliedPort, false)
}

// AnnounceSeed is Announce for a peer that seeds the torrent: the
// announces carry seed=1 (BEP 33), so that nodes count it among the seeds
// in their scrape filters.
func (n *Node) AnnounceSeed(ctx context.Context, infoHash metainfo.Hash, port uint16, impliedPort bool) (LookupStats, error) {
	return n.announce(ctx, infoHash, port, impliedPort, true)
}

func (n *Node) announce(ctx context.Context, infoHash metainfo.Hash, port uint16, impliedPort, seed bool) (LookupStats, error) {
	if port == 0 {
		if !impliedPort {
			return LookupStats{}, errors.New("dht: announce of port 0")
		}
		// BEP 5 requires the "port" key even when implied_port makes
		// receivers ignore it.
		port = 1
	}
	// The find_node follow-up (lookup.needNodes) is on here only: storing
	// at the true k closest is the point of an announce, while for
	// GetPeers it cost about one query per lookup on a mixed
	// anacrolix/peerfind network without finding more peers.
	st, ls, err := n.lookupAll(ctx, methodGetPeers, ID(infoHash), lookupOpts{followUp: true}, nil)
	if len(ls) == 0 {
		return st, err
	}
	ctx, cancel := n.closingContext(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted int
		lastErr  error
	)
	for _, l := range ls {
		for _, c := range l.closestAnswered(routing.K) {
			if c.token == "" {
				continue
			}
			wg.Add(1)
			go func(addr netip.AddrPort, token string) {
				defer wg.Done()
				a := &krpc.Args{InfoHash: string(infoHash[:]), Port: int64(port), Token: token}
				if impliedPort {
					a.ImpliedPort = 1
				}
				if seed {
					a.Seed = 1
				}
				_, err := n.query(ctx, addr, methodAnnouncePeer, a)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					lastErr = err
					return
				}
				accepted++
			}(c.addr, c.token)
		}
	}
	wg.Wait()
	if accepted > 0 {
		return st, nil
	}
	if lastErr != nil {
		return st, lastErr
	}
	if err != nil {
		return st, err
	}
	return st, ErrNoNodes
}
