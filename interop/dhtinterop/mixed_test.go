package dhtinterop

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/peerfind/peerfind/metainfo"
)

// mixedNet is a loopback network of anacrolix servers and peerfind nodes
// that bootstrapped off each other.
type mixedNet struct {
	ana  []*anaNode
	ours []*ourNode
}

// mixedConfig describes a mixed network.
type mixedConfig struct {
	first       int // index of the first node's loopbackIP
	nAna, nOurs int
	// rounds is how often every node bootstraps; if zero, 2. A node that
	// bootstraps early sees only part of the network, later rounds fill
	// its table: lookups find the true k closest nodes more often.
	rounds int
	// wrap, if not nil, wraps every node's socket (to add latency).
	wrap func(net.PacketConn) net.PacketConn
}

// startMixed starts cfg.nAna anacrolix servers and cfg.nOurs of our nodes
// on loopbackIP(cfg.first...) and bootstraps them all cfg.rounds times.
// Every node's seeds are the first three of each kind.
func startMixed(ctx context.Context, tb testing.TB, cfg mixedConfig) *mixedNet {
	tb.Helper()
	m := &mixedNet{}
	first, nAna, nOurs, wrap := cfg.first, cfg.nAna, cfg.nOurs, cfg.wrap
	if wrap == nil {
		wrap = func(c net.PacketConn) net.PacketConn { return c }
	}
	// Our sockets first, so that their addresses can seed anacrolix.
	conns := make([]net.PacketConn, nOurs)
	var seeds seedList
	for i := range conns {
		conns[i] = wrap(listenLoopback(tb, loopbackIP(first+nAna+i)))
		if i < 3 {
			seeds.add(netip.MustParseAddrPort(conns[i].LocalAddr().String()))
		}
	}
	for i := range nAna {
		a := startAnacrolixConn(tb, wrap(listenLoopback(tb, loopbackIP(first+i))), seeds.get)
		m.ana = append(m.ana, a)
		if i < 3 {
			seeds.add(a.addr)
		}
	}
	for _, c := range conns {
		m.ours = append(m.ours, startOurs(tb, c, seeds.get()))
	}
	var fns []func(context.Context) error
	for _, a := range m.ana {
		fns = append(fns, a.bootstrap)
	}
	for _, o := range m.ours {
		fns = append(fns, o.bootstrap)
	}
	for round := range max(cfg.rounds, 2) {
		for i, err := range runAll(ctx, 16, fns) {
			if err != nil {
				tb.Fatalf("bootstrap round %d, node %d: %v", round, i, err)
			}
		}
	}
	return m
}

// crossLinks counts the anacrolix servers whose table holds at least one of
// our nodes, and our nodes whose table holds at least one anacrolix server.
func (m *mixedNet) crossLinks() (anaKnowOurs, oursKnowAna int) {
	isOurs := make(map[netip.AddrPort]bool)
	isAna := make(map[netip.AddrPort]bool)
	for _, o := range m.ours {
		isOurs[o.addr] = true
	}
	for _, a := range m.ana {
		isAna[a.addr] = true
	}
	for _, a := range m.ana {
		for _, ni := range a.srv.Nodes() {
			if isOurs[toAddrPort(ni.Addr)] {
				anaKnowOurs++
				break
			}
		}
	}
	for _, o := range m.ours {
		for _, ni := range o.n.State().Nodes {
			if isAna[ni.Addr] {
				oursKnowAna++
				break
			}
		}
	}
	return anaKnowOurs, oursKnowAna
}

// nearHash returns a random info hash sharing its first 64 bits with id, so
// that the node with that id is the closest to it in the whole network and
// is certain to be among the k nodes an announce goes to.
func nearHash(id [20]byte) [20]byte {
	var h [20]byte
	rand.Read(h[:])
	copy(h[:8], id[:8])
	return h
}

// TestMixedNetwork runs 20 anacrolix/dht servers and 20 of our nodes in one
// network. Each case announces through one implementation to an info hash
// whose closest node is of a chosen implementation, then looks it up with
// the other implementation's lookup and requires the peer to come from that
// closest node: this crosses our get_peers/announce_peer client with
// anacrolix's server and our server with anacrolix's client.
func TestMixedNetwork(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Second)
	defer cancel()
	m := startMixed(ctx, t, mixedConfig{first: 100, nAna: 20, nOurs: 20})
	anaKnow, oursKnow := m.crossLinks()
	t.Logf("after bootstrap: %d/20 anacrolix servers know one of ours, %d/20 of ours know an anacrolix server", anaKnow, oursKnow)
	if anaKnow < 10 || oursKnow < 10 {
		t.Errorf("the two implementations barely know each other: %d/20 and %d/20", anaKnow, oursKnow)
	}
	for i, o := range m.ours {
		if s := o.n.Stats(); s.Good4 < 8 {
			t.Errorf("our node %d (%v) has only %d good nodes after bootstrap", i, o.addr, s.Good4)
		}
	}

	type kind int
	const (
		anacrolix kind = iota
		ours
	)
	cases := []struct {
		name         string
		announcer    kind // whose Announce
		near         kind // whose node is closest to the hash (stores it for sure)
		impliedPort  bool // ours only
		lookupByOurs bool
	}{
		{"anacrolix announce, anacrolix stores, our lookup", anacrolix, anacrolix, false, true},
		{"anacrolix announce, we store, our lookup", anacrolix, ours, false, true},
		{"our announce, we store, anacrolix lookup", ours, ours, false, false},
		{"our announce, anacrolix stores, anacrolix lookup", ours, anacrolix, false, false},
		{"our announce implied_port, anacrolix stores, anacrolix lookup", ours, anacrolix, true, false},
		{"our announce, anacrolix stores, our lookup", ours, anacrolix, false, true},
	}
	// asker is an anacrolix server outside the network: none of our nodes
	// has ever queried it, as for most requesters on the Internet, so our
	// node cannot treat it as a verified address.
	asker := startAnacrolix(t, loopbackIP(99), func() []netip.AddrPort { return nil })
	isAna := make(map[netip.AddrPort]bool)
	for _, a := range m.ana {
		isAna[a.addr] = true
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			// Spread the roles over the nodes: a different announcer, closest
			// node and searcher in each case.
			var nearAddr netip.AddrPort
			var ih [20]byte
			if tc.near == anacrolix {
				nd := m.ana[(ci*3+1)%len(m.ana)]
				nearAddr, ih = nd.addr, nearHash(nd.srv.ID())
			} else {
				nd := m.ours[(ci*3+1)%len(m.ours)]
				nearAddr, ih = nd.addr, nearHash(nd.n.ID())
			}
			port := uint16(7300 + ci)
			var peer netip.AddrPort
			var announce func() error
			if tc.announcer == anacrolix {
				a := m.ana[(ci*3+2)%len(m.ana)]
				peer = netip.AddrPortFrom(a.addr.Addr(), port)
				announce = func() error {
					actx, acancel := context.WithTimeout(ctx, 8*time.Second)
					defer acancel()
					if _, err := a.lookup(actx, ih, int(port), nil, false); err != nil {
						return fmt.Errorf("anacrolix announce from %v: %w", a.addr, err)
					}
					return nil
				}
			} else {
				o := m.ours[(ci*3+2)%len(m.ours)]
				peer = netip.AddrPortFrom(o.addr.Addr(), port)
				if tc.impliedPort {
					peer = o.addr // BEP 5: the receiver takes the UDP source port
				}
				announce = func() error {
					actx, acancel := context.WithTimeout(ctx, 8*time.Second)
					defer acancel()
					if st, err := o.n.Announce(actx, metainfo.Hash(ih), port, tc.impliedPort); err != nil {
						return fmt.Errorf("our announce from %v: %w (stats %+v)", o.addr, err, st)
					}
					return nil
				}
			}
			// The closest node must store the announce: anacrolix's store is
			// read directly, ours through a single get_peers query from the
			// anacrolix asker (our server answering anacrolix's client).
			var values []netip.AddrPort
			var qerr error
			stored := func() bool {
				if tc.near == anacrolix {
					return m.ana[(ci*3+1)%len(m.ana)].store.Has(ih, peer)
				}
				values, qerr = asker.queryGetPeers(ctx, nearAddr, ih)
				return qerr == nil && contains(values, peer)
			}
			// An announce reaches the k closest nodes its lookup found; in a
			// young network a lookup can miss one (anacrolix servers return
			// short node lists, see TestBootstrapFromAnacrolix), so announce
			// again, as clients do, before concluding.
			for attempt := 1; ; attempt++ {
				if err := announce(); err != nil {
					t.Fatal(err)
				}
				wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
				err := waitFor(wctx, 50*time.Millisecond, stored)
				wcancel()
				if err == nil {
					break
				}
				if ctx.Err() != nil || attempt == 4 {
					t.Fatalf("closest node %v never stored %v after %d announces (last get_peers values %v, %v)",
						nearAddr, peer, attempt, values, qerr)
				}
				t.Logf("announce %d did not reach the closest node %v; again", attempt, nearAddr)
			}

			var found map[netip.AddrPort]bool
			var from map[netip.AddrPort]map[netip.AddrPort]bool
			var searcher netip.AddrPort
			err := waitFor(ctx, 200*time.Millisecond, func() bool {
				lctx, lcancel := context.WithTimeout(ctx, 8*time.Second)
				defer lcancel()
				if tc.lookupByOurs {
					o := m.ours[(ci*3+5)%len(m.ours)]
					searcher = o.addr
					res, err := o.getPeers(lctx, ih, nil)
					if err != nil {
						t.Logf("our lookup from %v: %v (stats %+v)", o.addr, err, res.stats)
					}
					found, from = res.peers, res.from
				} else {
					a := m.ana[(ci*3+5)%len(m.ana)]
					searcher = a.addr
					res, err := a.lookup(lctx, ih, 0, nil, false)
					if err != nil {
						t.Logf("anacrolix lookup from %v: %v", a.addr, err)
					}
					found, from = res.peers, res.from
				}
				if !found[peer] {
					return false
				}
				if tc.lookupByOurs && tc.near == anacrolix {
					// Our client must read anacrolix's "values" itself,
					// not only through nodes of ours that also stored it.
					for f := range from[peer] {
						if isAna[f] {
							return true
						}
					}
					return false
				}
				return true
			})
			if err != nil {
				t.Fatalf("lookup from %v: want %v (stored at %v); found %v, %v from %v: %v",
					searcher, peer, nearAddr, found, peer, from[peer], err)
			}
			t.Logf("lookup from %v found %v from %d nodes (closest %v among them: %v)",
				searcher, peer, len(from[peer]), nearAddr, from[peer][nearAddr])
		})
	}
}
