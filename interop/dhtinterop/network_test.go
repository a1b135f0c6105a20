package dhtinterop

import (
	"context"
	"crypto/rand"
	"net/netip"
	"testing"
	"time"

	"github.com/peerfind/peerfind/interop/internal/thirdparty"
)

// The network helpers of thirdparty, under this package's short names.
var (
	loopbackIP = thirdparty.LoopbackIP
	runAll     = thirdparty.RunAll
	waitFor    = thirdparty.WaitFor
)

// seedList is a concurrency-safe list of bootstrap addresses that grows as
// nodes start.
type seedList struct{ thirdparty.SeedList }

func (s *seedList) add(a ...netip.AddrPort) { s.Add(a...) }
func (s *seedList) get() []netip.AddrPort   { return s.Get() }

// randomHash returns a random info hash, so that no two tests (or benchmark
// rounds) look up the same key.
func randomHash() [20]byte {
	var h [20]byte
	rand.Read(h[:])
	return h
}

// startAnaNetwork starts n anacrolix servers on loopbackIP(first..first+n-1),
// adds the first three to seeds and bootstraps every server once off seeds
// (thirdparty.StartAnacrolixNet). The servers are closed in tb.Cleanup.
func startAnaNetwork(ctx context.Context, tb testing.TB, first, n int, seeds *seedList) []*anaNode {
	tb.Helper()
	started, err := thirdparty.StartAnacrolixNet(ctx, n, thirdparty.NetConfig{
		IP:       func(i int) netip.Addr { return loopbackIP(first + i) },
		Seeds:    &seeds.SeedList,
		Parallel: 16,
	})
	if err != nil {
		tb.Fatal(err)
	}
	nodes := make([]*anaNode, n)
	for i, a := range started {
		tb.Cleanup(a.Close)
		nodes[i] = &anaNode{Anacrolix: a, srv: a.Server, addr: a.Addr, store: a.Store}
	}
	return nodes
}

// TestAnacrolixHarness checks the third-party side of the harness on its own:
// in an all-anacrolix network a peer announced through one server is found by
// another's lookup. If this fails, the failures of the mixed tests are not
// about our node.
func TestAnacrolixHarness(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var seeds seedList
	nodes := startAnaNetwork(ctx, t, 0, 12, &seeds)
	for i, nd := range nodes {
		if nd.srv.NumNodes() == 0 {
			t.Errorf("anacrolix node %d has an empty table after bootstrap", i)
		}
	}
	ih := randomHash()
	ann := nodes[5]
	if _, err := ann.lookup(ctx, ih, 7001, nil, false); err != nil {
		t.Fatalf("announce: %v", err)
	}
	peer := netip.AddrPortFrom(ann.addr.Addr(), 7001)
	got, err := nodes[10].lookup(ctx, ih, 0, []netip.AddrPort{peer}, true)
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	if !got.peers[peer] {
		t.Fatalf("lookup from %v found %v, want %v among them", nodes[10].addr, got.peers, peer)
	}
	t.Logf("found %v after %v; %d queried, %d responses", peer, got.allPeers, got.queried, got.responses)
}
