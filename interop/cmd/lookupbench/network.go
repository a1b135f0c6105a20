package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/interop/internal/thirdparty"
	"github.com/peerfind/peerfind/metainfo"
)

// ourNode is one peerfind dht.Node.
type ourNode struct {
	n    *dht.Node
	addr netip.AddrPort
}

// network is the loopback DHT network and everything the run started; close
// stops it all.
type network struct {
	o        options
	rng      *rand.Rand
	wrap     func(net.PacketConn) net.PacketConn
	ana      []*thirdparty.Anacrolix
	ours     []*ourNode
	injector *thirdparty.Anacrolix // outside the network: announces peers to our nodes
	nextIP   int                   // index of the next free thirdparty.LoopbackIP

	mu      sync.Mutex
	closers []func()
}

func (nw *network) onClose(f func()) {
	nw.mu.Lock()
	nw.closers = append(nw.closers, f)
	nw.mu.Unlock()
}

// close stops every node the run started, newest first.
func (nw *network) close() {
	nw.mu.Lock()
	cs := nw.closers
	nw.closers = nil
	nw.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}

// randomID returns a node id or info hash from the seeded generator.
func (nw *network) randomID() [20]byte {
	var id [20]byte
	for i := range id {
		id[i] = byte(nw.rng.Uint32())
	}
	return id
}

// listen opens the socket of the next loopback address, delayed by -rtt.
func (nw *network) listen() (net.PacketConn, error) {
	ip := thirdparty.LoopbackIP(nw.nextIP)
	nw.nextIP++
	c, err := thirdparty.ListenLoopback(ip)
	if err != nil {
		return nil, err
	}
	return nw.wrap(c), nil
}

// startAna starts an anacrolix server with the given id and seeds.
func (nw *network) startAna(id [20]byte, seeds func() []netip.AddrPort) (*thirdparty.Anacrolix, error) {
	c, err := nw.listen()
	if err != nil {
		return nil, err
	}
	a, err := thirdparty.StartAnacrolix(c, thirdparty.AnacrolixConfig{Seeds: seeds, ID: id})
	if err != nil {
		return nil, err
	}
	nw.onClose(a.Close)
	return a, nil
}

// startOurs starts a peerfind node with the given id on conn (taking it
// over), bootstrapping off seeds and no router.
func (nw *network) startOurs(conn net.PacketConn, id [20]byte, seeds []netip.AddrPort) (*ourNode, error) {
	self, err := netip.ParseAddrPort(conn.LocalAddr().String())
	if err != nil {
		conn.Close()
		return nil, err
	}
	var bs []netip.AddrPort
	for _, s := range seeds {
		if s != self {
			bs = append(bs, s)
		}
	}
	n, err := dht.New(dht.Config{
		Conn4:            conn,
		ID:               dht.ID(id),
		BootstrapNodes:   bs,
		BootstrapRouters: []string{},
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("peerfind node on %v: %w", self, err)
	}
	nw.onClose(func() { n.Close() })
	return &ourNode{n: n, addr: self}, nil
}

// build starts the network of o.kind and bootstraps it o.rounds times. The
// seeds of every node are the first three nodes of each implementation.
func build(ctx context.Context, nw *network) error {
	o := nw.o
	nOurs, nAna := o.nodes, 0
	switch o.kind {
	case "anacrolix":
		nOurs, nAna = 0, o.nodes
	case "mixed":
		nAna = o.nodes / 2
		nOurs = o.nodes - nAna
	}
	var err error
	// The injector is never a seed, so no node learns of it: peers placed
	// at our nodes arrive from an address nobody queries.
	nw.injector, err = nw.startAna(nw.randomID(), nil)
	if err != nil {
		return err
	}
	var seeds thirdparty.SeedList
	// Our sockets first, so that their addresses can seed anacrolix.
	conns := make([]net.PacketConn, nOurs)
	for i := range conns {
		if conns[i], err = nw.listen(); err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			return err
		}
		if i < 3 {
			seeds.Add(netip.MustParseAddrPort(conns[i].LocalAddr().String()))
		}
	}
	for i := range nAna {
		a, err := nw.startAna(nw.randomID(), seeds.Get)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return err
		}
		nw.ana = append(nw.ana, a)
		if i < 3 {
			seeds.Add(a.Addr)
		}
	}
	for i, c := range conns {
		on, err := nw.startOurs(c, nw.randomID(), seeds.Get())
		if err != nil {
			for _, c := range conns[i+1:] {
				c.Close()
			}
			return err
		}
		nw.ours = append(nw.ours, on)
	}
	var fns []func(context.Context) error
	for _, a := range nw.ana {
		fns = append(fns, a.Bootstrap)
	}
	for _, on := range nw.ours {
		fns = append(fns, func(ctx context.Context) error {
			_, err := on.n.Bootstrap(ctx)
			return err
		})
	}
	for round := range o.rounds {
		if err := errors.Join(thirdparty.RunAll(ctx, 16, fns)...); err != nil {
			return fmt.Errorf("bootstrap round %d: %w", round+1, err)
		}
	}
	return nil
}

// holder is a network node, of either implementation.
type holder struct {
	id   [20]byte
	addr netip.AddrPort
	ana  *thirdparty.Anacrolix
}

// place stores o.peers peers for ih, peer i at the node of rank i by XOR
// distance, so that a lookup has them all only once it has reached that
// many of the closest nodes: time to first and time to all differ. Peers at
// anacrolix servers go straight into their stores; peers at our nodes
// arrive through get_peers + announce_peer from the injector. Each peer is
// the injector's IP with its own port.
func place(ctx context.Context, nw *network, ih [20]byte) ([]netip.AddrPort, error) {
	var all []holder
	for _, a := range nw.ana {
		all = append(all, holder{id: a.ID(), addr: a.Addr, ana: a})
	}
	for _, on := range nw.ours {
		all = append(all, holder{id: on.n.ID(), addr: on.addr})
	}
	slices.SortFunc(all, func(x, y holder) int { return compareDistance(ih, x.id, y.id) })
	want := make([]netip.AddrPort, nw.o.peers)
	for i := range want {
		want[i] = netip.AddrPortFrom(nw.injector.Addr.Addr(), uint16(10000+i))
		h := all[i]
		if h.ana != nil {
			h.ana.Store.Add(ih, want[i])
			continue
		}
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := nw.injector.AnnounceTo(actx, h.addr, ih, int(want[i].Port()))
		cancel()
		if err != nil {
			return nil, fmt.Errorf("placing peer %d at our node %v: %w", i, h.addr, err)
		}
	}
	return want, nil
}

// searchers starts a fresh peerfind node and a fresh anacrolix server for
// one lookup, with ids that share all but the last bit (and the first bit
// with nothing in ih's half of the space), and bootstraps both at once off
// the same three random network nodes.
func searchers(ctx context.Context, nw *network, id [20]byte) (*ourNode, *thirdparty.Anacrolix, error) {
	var nodes []netip.AddrPort
	for _, a := range nw.ana {
		nodes = append(nodes, a.Addr)
	}
	for _, on := range nw.ours {
		nodes = append(nodes, on.addr)
	}
	var seeds []netip.AddrPort
	for _, i := range nw.rng.Perm(len(nodes))[:3] {
		seeds = append(seeds, nodes[i])
	}
	c, err := nw.listen()
	if err != nil {
		return nil, nil, err
	}
	on, err := nw.startOurs(c, id, seeds)
	if err != nil {
		return nil, nil, err
	}
	aid := id
	aid[19] ^= 1
	a, err := nw.startAna(aid, func() []netip.AddrPort { return seeds })
	if err != nil {
		return nil, nil, err
	}
	bctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = errors.Join(thirdparty.RunAll(bctx, 2, []func(context.Context) error{
		func(ctx context.Context) error { _, err := on.n.Bootstrap(ctx); return err },
		a.Bootstrap,
	})...)
	if err != nil {
		return nil, nil, fmt.Errorf("searcher bootstrap: %w", err)
	}
	return on, a, nil
}

// lookupOurs runs one GetPeers from on.
func lookupOurs(ctx context.Context, on *ourNode, ih [20]byte, want []netip.AddrPort) (sample, error) {
	missing := make(map[netip.AddrPort]bool, len(want))
	for _, w := range want {
		missing[w] = true
	}
	var s sample
	var mu sync.Mutex
	start := time.Now()
	st, err := on.n.GetPeers(ctx, metainfo.Hash(ih), func(p dht.PeerFound) {
		mu.Lock()
		defer mu.Unlock()
		if s.first == 0 {
			s.first = time.Since(start)
		}
		if missing[p.Peer] {
			delete(missing, p.Peer)
			s.found++
			if len(missing) == 0 {
				s.all = time.Since(start)
			}
		}
	})
	mu.Lock()
	defer mu.Unlock()
	s.queries, s.end, s.want = st.Queried, time.Since(start), len(want)
	return s, err
}

// lookupAna runs one anacrolix get_peers traversal from a.
func lookupAna(ctx context.Context, a *thirdparty.Anacrolix, ih [20]byte, want []netip.AddrPort) (sample, error) {
	before := a.Server.Stats().OutboundQueriesAttempted
	res, err := a.Lookup(ctx, ih, 0, want, false)
	s := sample{
		queries: int(a.Server.Stats().OutboundQueriesAttempted - before),
		first:   res.FirstPeer, all: res.AllPeers, end: res.Elapsed, want: len(want),
	}
	for _, w := range want {
		if res.Peers[w] {
			s.found++
		}
	}
	return s, err
}

// compareDistance orders a and b by their XOR distance to target (BEP 5),
// for slices.SortFunc.
func compareDistance(target, a, b [20]byte) int {
	for i := range target {
		if da, db := a[i]^target[i], b[i]^target[i]; da != db {
			return cmp.Compare(da, db)
		}
	}
	return 0
}
