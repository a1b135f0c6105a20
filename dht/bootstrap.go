package dht

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/peerfind/peerfind/dht/internal/nodeid"
	"github.com/peerfind/peerfind/dht/internal/routing"
)

// DefaultRouters are the well-known bootstrap routers, tried last. Several
// operators run them, so no single one is relied on; both A and AAAA records
// are used.
var DefaultRouters = []string{
	"dht.libtorrent.org:25401",
	"dht.transmissionbt.com:6881",
	"router.bittorrent.com:6881",
	"router.utorrent.com:6881",
	"dht.anacrolix.link:42069",
}

// RouterResult is the outcome of one bootstrap router.
type RouterResult struct {
	Router   string           // host:port as configured
	Addrs    []netip.AddrPort // its resolved addresses, of families we have sockets for
	Answered []netip.AddrPort // the addresses that answered
	Err      error            // resolution failure: a warning, not fatal
}

// BootstrapReport says how a bootstrap went: what was tried, what answered,
// and the good nodes per family at the end.
type BootstrapReport struct {
	Saved, SavedAnswered int            // nodes from Config.State
	Given, GivenAnswered int            // Config.BootstrapNodes
	Routers              []RouterResult // empty when saved and given nodes sufficed
	Good4, Good6         int            // good nodes in the tables at the end
	IDChanged            bool           // a BEP 42 id for our public IP was adopted
	Lookup               LookupStats    // the find_node lookups for our own id
	Duration             time.Duration
}

// Warnings returns the router failures, for the caller to show.
func (r *BootstrapReport) Warnings() []error {
	var out []error
	for _, rr := range r.Routers {
		if rr.Err != nil {
			out = append(out, rr.Err)
		}
	}
	return out
}

// maxSavedPings bounds the background pings of saved nodes at start.
const maxSavedPings = 256

// routerTimeout bounds the resolution of one router name.
const routerTimeout = 5 * time.Second

// Bootstrap fills the routing tables, trying in order the saved nodes, the
// given nodes, then the routers (BEP 5): each step runs a find_node lookup
// for our own id seeded with its nodes, and a step is skipped when the
// earlier ones already gave K good nodes in every family. When a lookup
// ran, a few find_node lookups into the farthest buckets with room follow
// in the background (refreshAfterBootstrap): they fill the table without
// delaying the caller, whose own lookups take precedence at the pacer.
// Router resolution errors are warnings in the report. It returns an error
// wrapping ErrNoNodes when it ends with no good node at all, so a stuck
// node is never silent.
func (n *Node) Bootstrap(ctx context.Context) (BootstrapReport, error) {
	var rep BootstrapReport
	start := n.now()
	ctx, cancel := n.closingContext(ctx)
	defer cancel()

	// Step 1: the saved nodes, which know us and sit in every part of the
	// id space.
	saved, given := n.knownSeeds()
	rep.Saved, rep.Given = len(saved), len(given)
	answered := n.seedLookups(ctx, saved, &rep)
	rep.SavedAnswered = len(answered)
	// The self lookup asks only the saved nodes near our id; the others go
	// back into the table in the background as they answer a ping, so the
	// far buckets are warm too without delaying the bootstrap.
	pinged := 0
	for _, sd := range saved {
		if !answered[sd.addr] && pinged < maxSavedPings {
			n.AddNode(sd.addr)
			pinged++
		}
	}

	// Step 2: the torrent's and the user's nodes.
	// For the error: which of the user's nodes never answered, and which
	// could not be asked (their address family has no socket, e.g. IPv6
	// nodes with only an IPv4 socket).
	var givenSilent, givenNoSocket []netip.AddrPort
	if !n.enoughNodes() && ctx.Err() == nil {
		answered := n.seedLookups(ctx, given, &rep)
		rep.GivenAnswered = len(answered)
		fams := n.families()
		for _, sd := range given {
			a := netip.AddrPortFrom(sd.addr.Addr().Unmap(), sd.addr.Port())
			switch {
			case answered[a]:
			case !slices.Contains(fams, a.Addr().Is4()):
				givenNoSocket = append(givenNoSocket, a)
			default:
				givenSilent = append(givenSilent, a)
			}
		}
	}

	// Step 3: the routers.
	if !n.enoughNodes() && ctx.Err() == nil {
		var rs []seed
		rs, rep.Routers = n.routerSeeds(ctx, true)
		answered := n.seedLookups(ctx, rs, &rep)
		for i := range rep.Routers {
			for _, a := range rep.Routers[i].Addrs {
				if answered[a] {
					rep.Routers[i].Answered = append(rep.Routers[i].Answered, a)
				}
			}
		}
	}

	if n.adoptBEP42ID() {
		rep.IDChanged = true
		// Our id moved: find the nodes near the new one.
		_, st, _ := n.FindNode(ctx, n.ID())
		rep.Lookup.add(st)
	}
	if rep.Lookup.Answered > 0 {
		if s := n.Stats(); s.Good4+s.Good6 < routing.K {
			// A thin table: the seeds answered our own-id find_node with
			// few nodes (anacrolix v2.23.0 often sends none). A lookup
			// started from it queries one node, hears nothing new and
			// "converges" empty-handed, so refresh now, before the
			// caller's first lookup, rather than in the background.
			n.refreshSparseWait(ctx)
		} else {
			n.refreshSparse()
		}
	}
	s := n.Stats()
	rep.Good4, rep.Good6 = s.Good4, s.Good6
	rep.Duration = n.now().Sub(start)
	if rep.Good4+rep.Good6 == 0 {
		routersOK := 0
		for _, rr := range rep.Routers {
			if len(rr.Answered) > 0 {
				routersOK++
			}
		}
		err := fmt.Errorf("%w after bootstrap: %d/%d saved and %d/%d given nodes answered, %d/%d routers%s",
			ErrNoNodes, rep.SavedAnswered, rep.Saved, rep.GivenAnswered, rep.Given, routersOK, len(rep.Routers), addrList("no answer from", givenSilent)+addrList("no socket of their address family for", givenNoSocket))
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return rep, err
	}
	return rep, nil
}

// addrList names given bootstrap nodes after what, for the bootstrap
// error, so that it points at the address the user mistyped or the node
// that is down; at most four, then a count.
func addrList(what string, addrs []netip.AddrPort) string {
	if len(addrs) == 0 {
		return ""
	}
	const show = 4
	var b strings.Builder
	b.WriteString("; " + what + " ")
	for i, a := range addrs[:min(len(addrs), show)] {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.String())
	}
	if len(addrs) > show {
		fmt.Fprintf(&b, " and %d more", len(addrs)-show)
	}
	return b.String()
}

// Bucket refresh after a bootstrap: the lookup for our own id fills the
// buckets near us, while the far ones, which hold most of the network and
// start most lookups, get only the nodes met on the way. Up to
// refreshAfterBootstrap find_node lookups into the farthest buckets with
// room run in parallel in the background once Bootstrap returns, so they
// never delay the caller's first lookup; each ends within refreshTimeout,
// or at Close.
const (
	refreshAfterBootstrap = 4
	refreshTimeout        = 10 * time.Second
)

// refreshSparse starts the background bucket refreshes that follow a
// bootstrap (see refreshAfterBootstrap).
func (n *Node) refreshSparse() {
	for i, v4 := range []bool{true, false} {
		t := n.tables[i].Load()
		if t == nil {
			continue
		}
		for _, target := range t.SparseBuckets(refreshAfterBootstrap) {
			n.spawn(func() {
				ctx, cancel := context.WithTimeout(n.life, refreshTimeout)
				defer cancel()
				n.refresh(ctx, target, v4)
			})
		}
	}
}

// refreshSparseWait refreshes the far regions of the id space and waits,
// within ctx and refreshTimeout. It targets the regions rather than the
// sparse buckets: a thin table has not split, so it has no far bucket.
func (n *Node) refreshSparseWait(ctx context.Context) {
	ctx, cancel := n.closingContext(ctx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, refreshTimeout)
	defer cancelT()
	var wg sync.WaitGroup
	for i, v4 := range []bool{true, false} {
		t := n.tables[i].Load()
		if t == nil {
			continue
		}
		for _, target := range t.FarTargets(refreshAfterBootstrap) {
			wg.Go(func() { n.refresh(ctx, target, v4) })
		}
	}
	wg.Wait()
}

// refresh runs a find_node lookup for target in one family, seeded from
// the table; every node that answers is offered to the table (noteReply).
func (n *Node) refresh(ctx context.Context, target ID, v4 bool) LookupStats {
	l := n.startLookup(target, v4)
	if len(l.cands) == 0 {
		return LookupStats{}
	}
	s := &search{n: n, method: methodFindNode, target: target, want: wantFor(v4), background: true}
	return s.run(ctx, l)
}

type seed struct {
	addr   netip.AddrPort
	id     ID // known id (saved nodes), else zero
	saved  bool
	router bool
}

// enoughNodes reports whether every family has at least K good nodes.
func (n *Node) enoughNodes() bool {
	s := n.Stats()
	if n.tables[0].Load() != nil && s.Good4 < routing.K {
		return false
	}
	if n.tables[1].Load() != nil && s.Good6 < routing.K {
		return false
	}
	return true
}

// seedLookups runs, per family, a find_node lookup for our own id whose
// shortlist holds all seeds (they are queried α at a time, closest first,
// like any candidate). Every seed is queried at least once, because a
// seed's id is usually unknown (zero), which sorts it by its "distance" of
// our id itself. Routers answer but are kept out of the table: they are
// not ordinary nodes (BEP 5 bootstrap routers drop out of tables anyway).
// It returns the seed addresses that answered.
func (n *Node) seedLookups(ctx context.Context, seeds []seed, rep *BootstrapReport) map[netip.AddrPort]bool {
	answered := make(map[netip.AddrPort]bool)
	if len(seeds) == 0 {
		return answered
	}
	self := n.ID()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, v4 := range n.families() {
		var fam []seed
		for _, sd := range seeds {
			sd.addr = netip.AddrPortFrom(sd.addr.Addr().Unmap(), sd.addr.Port())
			if sd.addr.Addr().Is4() == v4 {
				fam = append(fam, sd)
			}
		}
		if len(fam) == 0 {
			continue
		}
		isSeed := make(map[netip.AddrPort]bool, len(fam))
		isRouter := make(map[netip.AddrPort]bool)
		l := newLookup(self, self, routing.K, n.alpha, n.now())
		// Seeds all stay candidates, whatever the shortlist size.
		for _, sd := range fam {
			id := sd.id
			if id.IsZero() {
				// Unknown id: place the seed at the front so it is
				// asked first; its reply corrects the id.
				id = self
				id[19] ^= 1
			}
			if l.addSeed(id, sd.addr) {
				isSeed[sd.addr] = true
				if sd.router {
					isRouter[sd.addr] = true
				}
			}
		}
		for _, nd := range n.closestCompact(self, v4, routing.K) {
			l.add(ID(nd.ID), nd.Addr, 1)
		}
		s := &search{n: n, method: methodFindNode, target: self, want: wantFor(v4),
			routers: isRouter,
			onReply: func(c *candidate, r *reply) {
				if isSeed[c.addr] {
					mu.Lock()
					answered[c.addr] = true
					mu.Unlock()
				}
			}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := s.run(ctx, l)
			mu.Lock()
			rep.Lookup.add(st)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return answered
}

// maxAddedSeeds bounds the nodes AddNode keeps as starting nodes.
const maxAddedSeeds = 64

// knownSeeds returns the starting nodes we know without asking anyone: the
// saved nodes (Config.State, with their ids) and the given ones
// (Config.BootstrapNodes, then the nodes passed to AddNode). It is the one
// place that lists them, for Bootstrap and for a lookup on a thin table.
func (n *Node) knownSeeds() (saved, given []seed) {
	if st := n.cfg.State; st != nil {
		for _, ni := range st.Nodes {
			saved = append(saved, seed{addr: ni.Addr, id: ni.ID, saved: true})
		}
	}
	for _, a := range n.cfg.BootstrapNodes {
		given = append(given, seed{addr: a})
	}
	n.mu.Lock()
	for _, a := range n.added {
		given = append(given, seed{addr: a})
	}
	n.mu.Unlock()
	return saved, given
}

// routerSeeds returns the bootstrap routers as starting nodes. They are
// resolved once; a resolution that gave nothing is tried again on the next
// call unless cached is set and one was tried already. The results of the
// last resolution come back too, for reports and errors.
func (n *Node) routerSeeds(ctx context.Context, fresh bool) ([]seed, []RouterResult) {
	n.mu.Lock()
	addrs, results, ok := n.routerAddrs, n.routerResults, n.routersResolved
	n.mu.Unlock()
	if !ok || fresh {
		routers := n.cfg.BootstrapRouters
		if routers == nil {
			routers = DefaultRouters
		}
		results = n.resolveRouters(ctx, routers)
		addrs = nil
		for _, r := range results {
			addrs = append(addrs, r.Addrs...)
		}
		n.mu.Lock()
		n.routerResults = results
		if len(addrs) > 0 {
			n.routerAddrs, n.routersResolved = addrs, true
		}
		n.mu.Unlock()
	}
	var out []seed
	for _, a := range addrs {
		out = append(out, seed{addr: a, router: true})
	}
	return out, results
}

// coldSeeds returns the starting nodes of one family for a lookup on a
// thin table: the saved and given nodes and, when those are fewer than K,
// the routers.
func (n *Node) coldSeeds(ctx context.Context, v4 bool) []seed {
	var out []seed
	fam := func(a netip.AddrPort) bool { return a.Addr().Unmap().Is4() == v4 }
	saved, given := n.knownSeeds()
	for _, sd := range append(saved, given...) {
		if fam(sd.addr) {
			out = append(out, sd)
		}
	}
	if len(out) >= routing.K {
		return out
	}
	rs, _ := n.routerSeeds(ctx, false)
	for _, sd := range rs {
		if fam(sd.addr) {
			out = append(out, sd)
		}
	}
	return out
}

// resolveRouters resolves the routers in parallel. A failure is recorded
// in the result, never fatal.
func (n *Node) resolveRouters(ctx context.Context, routers []string) []RouterResult {
	out := make([]RouterResult, len(routers))
	var wg sync.WaitGroup
	for i, r := range routers {
		out[i].Router = r
		wg.Add(1)
		go func() {
			defer wg.Done()
			host, portStr, err := net.SplitHostPort(r)
			if err != nil {
				out[i].Err = fmt.Errorf("dht: router %q: %w", r, err)
				return
			}
			port, err := strconv.ParseUint(portStr, 10, 16)
			if err != nil || port == 0 {
				out[i].Err = fmt.Errorf("dht: router %q: bad port", r)
				return
			}
			var ips []netip.Addr
			if ip, err := netip.ParseAddr(host); err == nil {
				ips = []netip.Addr{ip}
			} else {
				rctx, cancel := context.WithTimeout(ctx, routerTimeout)
				ips, err = n.resolver.LookupNetIP(rctx, "ip", host)
				cancel()
				if err != nil {
					out[i].Err = fmt.Errorf("dht: router %q: %w", r, err)
					return
				}
			}
			for _, ip := range ips {
				ap := netip.AddrPortFrom(ip.Unmap(), uint16(port))
				if n.sockFor(ap) != nil {
					out[i].Addrs = append(out[i].Addrs, ap)
				}
			}
			if len(out[i].Addrs) == 0 && len(ips) > 0 {
				out[i].Err = fmt.Errorf("dht: router %q: no address of a family we have a socket for", r)
			}
		}()
	}
	wg.Wait()
	return out
}

// adoptBEP42ID replaces a random id by one conforming to BEP 42 for the
// public IP that nodes report (the "ip" key), so that nodes enforcing BEP 42
// keep us in their tables. An id from Config or State is never replaced,
// nor one for a local address, which BEP 42 cannot verify. The tables are
// rebuilt around the new id.
func (n *Node) adoptBEP42ID() bool {
	ip4, ip6 := n.externalIPs()
	ip := ip4
	if !ip.IsValid() {
		ip = ip6
	}
	if !ip.IsValid() || nodeid.Exempt(ip) {
		return false
	}
	n.mu.Lock()
	if n.idFixed || nodeid.Verify(n.id, ip) {
		n.mu.Unlock()
		return false
	}
	n.id = nodeid.RandomForIP(ip, n.cfg.Rand)
	id := n.id
	n.idFixed = true
	n.mu.Unlock()
	for i := range n.tables {
		old := n.tables[i].Load()
		if old == nil {
			continue
		}
		t := n.newTable(id)
		for _, ni := range old.Good() {
			t.Seen(ni, routing.SeenReply)
		}
		n.tables[i].Store(t)
	}
	return true
}
