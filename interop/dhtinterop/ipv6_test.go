package dhtinterop

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/metainfo"
)

// sharedIP lifts our node's per-IP limits for networks where every node has
// the same address (::1): the defaults (4 queries/s to one IP, 20 replies/s
// to one IP) protect one remote host, and here all remote hosts are one IP.
func sharedIP(c *dht.Config) {
	c.PerIPRate = -1
	c.ReplyRate = -1
}

// TestIPv6 runs the two directions of TestMixedNetwork over IPv6 on ::1 (the
// only IPv6 loopback address, so nodes differ by port alone): 8 anacrolix
// servers and 8 of our nodes with only an IPv6 socket. Replies carry
// "nodes6" (BEP 32) and 18-byte compact peers in "values".
func TestIPv6(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	lo6 := netip.IPv6Loopback()
	var seeds seedList
	conns := make([]netip.AddrPort, 0, 8)
	var ours []*ourNode
	var ana []*anaNode
	for i := range 8 {
		a := startAnacrolix(t, lo6, seeds.get)
		ana = append(ana, a)
		if i < 3 {
			seeds.add(a.addr)
		}
	}
	for i := range 8 {
		c := listenLoopback(t, lo6)
		conns = append(conns, netip.MustParseAddrPort(c.LocalAddr().String()))
		o := startOurs(t, c, append(seeds.get(), conns[0]), sharedIP)
		ours = append(ours, o)
		if i < 3 {
			seeds.add(o.addr)
		}
	}
	var fns []func(context.Context) error
	for _, a := range ana {
		fns = append(fns, a.bootstrap)
	}
	for _, o := range ours {
		fns = append(fns, o.bootstrap)
	}
	for round := range 2 {
		for i, err := range runAll(ctx, 8, fns) {
			if err != nil {
				t.Fatalf("bootstrap round %d, node %d: %v", round, i, err)
			}
		}
	}
	for i, o := range ours {
		if s := o.n.Stats(); s.Good6 < 4 || s.Table4 != 0 {
			t.Errorf("our node %d: %d good IPv6 nodes, %d IPv4 table entries after bootstrap", i, s.Good6, s.Table4)
		}
	}

	t.Run("anacrolix announce, our lookup", func(t *testing.T) {
		ih := nearHash(ana[1].srv.ID())
		const port = 7700
		peer := netip.AddrPortFrom(lo6, port)
		if _, err := ana[2].lookup(ctx, ih, port, nil, false); err != nil {
			t.Fatal(err)
		}
		var res ourLookup
		err := waitFor(ctx, 200*time.Millisecond, func() bool {
			lctx, lcancel := context.WithTimeout(ctx, 8*time.Second)
			defer lcancel()
			res, _ = ours[5].getPeers(lctx, ih, nil)
			return res.peers[peer]
		})
		if err != nil {
			t.Fatalf("our lookup never found %v: found %v (stats %+v): %v", peer, res.peers, res.stats, err)
		}
		if !res.from[peer][ana[1].addr] && !ana[1].store.Has(ih, peer) {
			t.Errorf("the closest anacrolix server %v neither stored nor returned %v", ana[1].addr, peer)
		}
	})

	t.Run("our announce, anacrolix lookup", func(t *testing.T) {
		ih := nearHash(ours[1].n.ID())
		const port = 7701
		peer := netip.AddrPortFrom(lo6, port)
		if st, err := ours[2].n.Announce(ctx, metainfo.Hash(ih), port, false); err != nil {
			t.Fatalf("our announce: %v (stats %+v)", err, st)
		}
		var res anaLookup
		err := waitFor(ctx, 200*time.Millisecond, func() bool {
			lctx, lcancel := context.WithTimeout(ctx, 8*time.Second)
			defer lcancel()
			res, _ = ana[5].lookup(lctx, ih, 0, nil, false)
			return res.peers[peer]
		})
		if err != nil {
			t.Fatalf("anacrolix lookup never found %v: found %v: %v", peer, res.peers, err)
		}
		t.Logf("found %v from %v", peer, res.from[peer])
	})
}
