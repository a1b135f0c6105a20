package dhtinterop

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/peerfind/peerfind/dht"
)

// TestReadOnly runs our node as a BEP 43 read-only node (what a short
// command-line run uses) in an anacrolix network: it must bootstrap and find
// an announced peer, while anacrolix — which honours "ro": 1 — never puts
// it into a routing table, so nobody pings an address that is gone a moment
// later.
func TestReadOnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	var seeds seedList
	ana := startAnaNetwork(ctx, t, 900, 12, &seeds)
	// anacrolix servers sometimes end their own bootstrap with 0-1 nodes
	// (v2.23.0 answers find_node with short node lists), and a read-only
	// node seeded by such a server alone is stuck with one node. Seed ours
	// from the three servers with the fullest tables, as a real run seeds
	// from several routers.
	var seedAddrs []netip.AddrPort
	if err := waitFor(ctx, 50*time.Millisecond, func() bool {
		seedAddrs = seedAddrs[:0]
		for _, a := range ana {
			if a.srv.NumNodes() >= 3 && len(seedAddrs) < 3 {
				seedAddrs = append(seedAddrs, a.addr)
			}
		}
		return len(seedAddrs) == 3
	}); err != nil {
		for i, a := range ana {
			t.Logf("anacrolix server %d: %d nodes", i, a.srv.NumNodes())
		}
		t.Fatalf("fewer than 3 anacrolix servers hold 3 nodes: %v", err)
	}
	o := startOurs(t, listenLoopback(t, loopbackIP(920)), seedAddrs, func(c *dht.Config) {
		c.ReadOnly = true
	})
	rep, err := o.n.Bootstrap(ctx)
	if err != nil {
		t.Fatalf("read-only Bootstrap: %v (report %+v)", err, rep)
	}
	if rep.Good4 < 3 {
		t.Errorf("read-only bootstrap ended with %d good nodes", rep.Good4)
	}
	ih := randomHash()
	const port = 7800
	if _, err := ana[6].lookup(ctx, ih, port, nil, false); err != nil {
		t.Fatal(err)
	}
	peer := netip.AddrPortFrom(ana[6].addr.Addr(), port)
	var res ourLookup
	if err := waitFor(ctx, 200*time.Millisecond, func() bool {
		lctx, lcancel := context.WithTimeout(ctx, 8*time.Second)
		defer lcancel()
		res, _ = o.getPeers(lctx, ih, nil)
		return res.peers[peer]
	}); err != nil {
		t.Fatalf("read-only lookup never found %v: found %v (stats %+v): %v", peer, res.peers, res.stats, err)
	}
	for _, a := range ana {
		for _, ni := range a.srv.Nodes() {
			if toAddrPort(ni.Addr) == o.addr {
				t.Errorf("anacrolix server %v put our read-only node into its table", a.addr)
			}
		}
	}
	if st := o.n.Stats(); st.PacketsOut < 5 {
		t.Errorf("read-only node sent only %d packets: the check above proves nothing", st.PacketsOut)
	}
}
