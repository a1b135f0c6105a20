package e2e

// A network of anacrolix/dht v2 servers on loopback: the DHT side of the
// third-party swarm (started by thirdparty.StartAnacrolixNet).

import (
	"bytes"
	"context"
	"net/netip"
	"slices"
	"testing"

	anadht "github.com/anacrolix/dht/v2"
	"github.com/peerfind/peerfind/interop/internal/thirdparty"
)

// anaNode is one anacrolix/dht server: a thirdparty.Anacrolix under the
// short names the tests of this package use.
type anaNode struct {
	*thirdparty.Anacrolix
	srv   *anadht.Server
	addr  netip.AddrPort
	store *thirdparty.PeerStore
}

// anaNet is a network of anacrolix servers.
type anaNet struct {
	nodes []*anaNode
}

// addrs returns every server's address.
func (an *anaNet) addrs() []netip.AddrPort {
	out := make([]netip.AddrPort, len(an.nodes))
	for i, n := range an.nodes {
		out[i] = n.addr
	}
	return out
}

// stored returns, for each peer any server stores for ih, the servers that
// store it: the DHT's half of the ground truth.
func (an *anaNet) stored(ih [20]byte) map[netip.AddrPort][]netip.AddrPort {
	out := make(map[netip.AddrPort][]netip.AddrPort)
	for _, n := range an.nodes {
		for _, p := range n.store.List(ih) {
			out[p] = append(out[p], n.addr)
		}
	}
	return out
}

// startAnaNet starts n anacrolix servers, the i-th on ip(i), port chosen by
// the kernel, each bootstrapping off the first three, and waits until every
// one has bootstrapped. The servers are closed in t.Cleanup.
func startAnaNet(ctx context.Context, t testing.TB, n int, ip func(int) netip.Addr) *anaNet {
	t.Helper()
	nodes, err := thirdparty.StartAnacrolixNet(ctx, n, thirdparty.NetConfig{IP: ip, Parallel: 8})
	if err != nil {
		t.Fatal(err)
	}
	an := &anaNet{}
	for _, a := range nodes {
		t.Cleanup(a.Close)
		an.nodes = append(an.nodes, &anaNode{Anacrolix: a, srv: a.Server, addr: a.Addr, store: a.Store})
	}
	return an
}

// announce runs anacrolix's own announce for ih with port from nd
// (thirdparty.Anacrolix.Announce); it returns when the traversal has ended.
func (nd *anaNode) announce(ctx context.Context, ih [20]byte, port int) error {
	return nd.Announce(ctx, ih, port)
}

// ranks returns, for each server, its rank by XOR distance to ih among all
// the servers (0 = closest), to tell in a failure whether a peer was stored
// on the nodes a lookup is meant to reach (BEP 5: the K = 8 closest).
func (an *anaNet) ranks(ih [20]byte) map[netip.AddrPort]int {
	type nd struct {
		addr netip.AddrPort
		dist [20]byte
	}
	all := make([]nd, len(an.nodes))
	for i, n := range an.nodes {
		id := n.srv.ID()
		all[i].addr = n.addr
		for j := range 20 {
			all[i].dist[j] = id[j] ^ ih[j]
		}
	}
	slices.SortFunc(all, func(a, b nd) int { return bytes.Compare(a.dist[:], b.dist[:]) })
	out := make(map[netip.AddrPort]int, len(all))
	for i, n := range all {
		out[n.addr] = i
	}
	return out
}
