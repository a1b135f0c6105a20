package dhtinterop

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// loopbackIP returns the i-th node address of a test network. Every node gets
// its own IP in 127.1.0.0/16 (all of 127/8 is loopback on Linux) so that
// announced peers, which DHT nodes record as source IP + port, stay distinct
// as they would be on the Internet. Ports are always chosen by the kernel.
func loopbackIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, 1, byte(i / 250), byte(i%250 + 1)})
}

// randomHash returns a random info hash, so that no two tests (or benchmark
// rounds) look up the same key.
func randomHash() [20]byte {
	var h [20]byte
	rand.Read(h[:])
	return h
}

// runAll calls each of fns with ctx, at most par at a time, and returns the
// errors joined by index. Used to bootstrap many nodes concurrently without
// flooding 2 cores.
func runAll(ctx context.Context, par int, fns []func(context.Context) error) []error {
	errs := make([]error, len(fns))
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i, f := range fns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = f(ctx)
		}()
	}
	wg.Wait()
	return errs
}

// seedList is a concurrency-safe list of bootstrap addresses that grows as
// nodes start.
type seedList struct {
	mu    sync.Mutex
	addrs []netip.AddrPort
}

func (s *seedList) add(a ...netip.AddrPort) {
	s.mu.Lock()
	s.addrs = append(s.addrs, a...)
	s.mu.Unlock()
}

func (s *seedList) get() []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]netip.AddrPort(nil), s.addrs...)
}

// waitFor polls cond every interval until it returns true or ctx is done;
// interop tests wait for conditions instead of sleeping for fixed times,
// since -race on 2 shared cores stretches every step.
func waitFor(ctx context.Context, interval time.Duration, cond func() bool) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("condition not met: %w", context.Cause(ctx))
		case <-t.C:
		}
	}
}

// startAnaNetwork starts n anacrolix servers on loopbackIP(first..first+n-1),
// adds the first three to seeds and bootstraps every server once off seeds.
func startAnaNetwork(ctx context.Context, tb testing.TB, first, n int, seeds *seedList) []*anaNode {
	tb.Helper()
	nodes := make([]*anaNode, n)
	for i := range nodes {
		nodes[i] = startAnacrolix(tb, loopbackIP(first+i), seeds.get)
		if i < 3 {
			seeds.add(nodes[i].addr)
		}
	}
	fns := make([]func(context.Context) error, n)
	for i, nd := range nodes {
		fns[i] = nd.bootstrap
	}
	for i, err := range runAll(ctx, 16, fns) {
		if err != nil {
			tb.Fatalf("anacrolix node %d (%v) bootstrap: %v", i, nodes[i].addr, err)
		}
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
