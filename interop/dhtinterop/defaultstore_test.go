package dhtinterop

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	anadht "github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/int160"
	peer_store "github.com/anacrolix/dht/v2/peer-store"
	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/metainfo"
)

// TestAnacrolixDefaultStore puts into the network an anacrolix server with
// anacrolix's own peer_store.InMemory (v2.23.0), the node closest to the
// hash. That store keys peers by IP alone and decodes the key back as
// IP+port, giving a 2-byte "IP"; in v2.23.0 the server's BEP 32 filter
// (filterPeers) then drops every such entry, so the server answers get_peers
// with no values at all — though it holds the announce — and with nodes.
// (this is what v2.23.0 sends; see docs/interop.md). Our
// lookup must go past it, find the peer at the other nodes and report
// nothing malformed.
func TestAnacrolixDefaultStore(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	m := startMixed(ctx, t, mixedConfig{first: 700, nAna: 8, nOurs: 6})
	seeds := []netip.AddrPort{m.ana[0].addr, m.ours[0].addr}
	badStore := &peer_store.InMemory{}
	bad := startAnacrolixStore(t, listenLoopback(t, loopbackIP(690)), func() []netip.AddrPort { return seeds }, badStore)
	if err := bad.bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	for _, o := range m.ours {
		if _, err := o.n.Ping(ctx, bad.addr); err != nil {
			t.Fatalf("ping of the default-store server from %v: %v", o.addr, err)
		}
	}
	ih := nearHash(bad.srv.ID())
	a := m.ana[2]
	const port = 7600
	peer := netip.AddrPortFrom(a.addr.Addr(), port)
	if _, err := a.lookup(ctx, ih, port, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := a.announceTo(ctx, bad.addr, ih, port); err != nil {
		t.Fatal(err)
	}

	// anacrolix stores announces asynchronously.
	if err := waitFor(ctx, 20*time.Millisecond, func() bool { return len(badStore.GetAll()[ih]) > 0 }); err != nil {
		t.Fatalf("the default-store server never stored the announce: %v", err)
	}
	for _, e := range badStore.GetAll()[ih] {
		t.Logf("default store holds %v (IP %d bytes)", e.NodeAddr, len(e.IP))
	}
	// Premise: the default store really answers with malformed values.
	res := m.ana[5].srv.GetPeers(ctx, anadht.NewAddr(udpAddr(bad.addr)), int160.FromByteArray(ih), false, anadht.QueryRateLimiting{})
	if err := res.ToError(); err != nil || res.Reply.R == nil {
		t.Fatalf("get_peers to the default-store server: %v", err)
	}
	t.Logf("default-store server's get_peers reply: %d values (IP lengths %v), %d nodes",
		len(res.Reply.R.Values), ipLens(res.Reply.R.Values), len(res.Reply.R.Nodes))

	o := m.ours[4]
	var mu sync.Mutex
	var got []dht.PeerFound
	st, err := o.n.GetPeers(ctx, metainfo.Hash(ih), func(p dht.PeerFound) {
		mu.Lock()
		got = append(got, p)
		mu.Unlock()
	})
	if err != nil {
		t.Fatalf("GetPeers: %v (stats %+v)", err, st)
	}
	t.Logf("lookup stats %+v", st)
	found := false
	for _, p := range got {
		if p.Peer == peer {
			found = true
		} else {
			t.Errorf("GetPeers reported %v from %v; the only peer is %v", p.Peer, p.From, peer)
		}
		if p.From == bad.addr && p.Peer != peer {
			t.Errorf("GetPeers reported %v from the default-store server", p.Peer)
		}
	}
	if !found {
		t.Errorf("GetPeers did not find %v past the malformed values (got %v)", peer, got)
	}
}

func ipLens(vs []anadht.Peer) []int {
	var out []int
	for _, v := range vs {
		out = append(out, len(v.IP))
	}
	return out
}

func udpAddr(ap netip.AddrPort) *net.UDPAddr { return net.UDPAddrFromAddrPort(ap) }
