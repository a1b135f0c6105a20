package dht

import (
	"context"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/peerfind/peerfind/metainfo"
)

// netIP returns the address of node i of a test network: every node has its
// own IP in 127.20.0.0/16 (Linux routes all of 127/8 to lo), so per-IP
// limits and the IP-keyed peer store behave as on the Internet.
func netIP(i int) string {
	return netip.AddrFrom4([4]byte{127, 20, byte(i / 250), byte(i%250 + 1)}).String()
}

// buildNetwork starts size nodes and bootstraps each from up to three
// random earlier ones, a few at a time, as nodes joining one by one would.
func buildNetwork(tb testing.TB, size int, seed uint64) []*Node {
	return buildNetworkWith(tb, size, seed, nil)
}

// buildNetworkWith is buildNetwork with each socket passed through wrap.
func buildNetworkWith(tb testing.TB, size int, seed uint64, wrap func(int, net.PacketConn) net.PacketConn) []*Node {
	tb.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	nodes := make([]*Node, size)
	for i := range nodes {
		cfg := testConfig(seed*100000 + uint64(i))
		// Per-IP limits stay at their defaults: every node has its own IP.
		cfg.Conn4 = listenUDP(tb, netIP(i))
		if wrap != nil {
			cfg.Conn4 = wrap(i, cfg.Conn4)
		}
		nodes[i] = newTestNode(tb, netIP(i), cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const batch = 8
	for start := 1; start < size; start += batch {
		var wg sync.WaitGroup
		for i := start; i < min(start+batch, size); i++ {
			var seeds []netip.AddrPort
			for range min(3, start) {
				seeds = append(seeds, nodeAddr(tb, nodes[r.IntN(start)]))
			}
			nodes[i].cfg.BootstrapNodes = seeds
			wg.Add(1)
			go func(n *Node) {
				defer wg.Done()
				if _, err := n.Bootstrap(ctx); err != nil {
					tb.Errorf("bootstrap: %v", err)
				}
			}(nodes[i])
		}
		wg.Wait()
	}
	return nodes
}

// announceAt makes count random nodes announce ih with distinct ports and
// returns the peers they announced.
func announceAt(tb testing.TB, nodes []*Node, ih metainfo.Hash, count int, r *rand.Rand) map[netip.AddrPort]bool {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want := map[netip.AddrPort]bool{}
	for _, i := range r.Perm(len(nodes))[:count] {
		port := uint16(20000 + i)
		if _, err := nodes[i].Announce(ctx, ih, port, false); err != nil {
			tb.Fatalf("announce from node %d: %v", i, err)
		}
		want[netip.AddrPortFrom(nodeAddr(tb, nodes[i]).Addr(), port)] = true
	}
	return want
}

func TestNetworkGetPeers(t *testing.T) {
	if testing.Short() {
		t.Skip("500-node network")
	}
	const size = 500
	nodes := buildNetwork(t, size, 1)
	r := rand.New(rand.NewPCG(2, 2))
	var ih metainfo.Hash
	for i := range ih {
		ih[i] = byte(r.UintN(256))
	}
	want := announceAt(t, nodes, ih, 10, r)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for trial := range 3 {
		searcher := nodes[r.IntN(size)]
		got := map[netip.AddrPort]bool{}
		st, err := searcher.GetPeers(ctx, ih, func(p PeerFound) {
			if !p.From.IsValid() {
				t.Errorf("peer %v without the node that gave it", p.Peer)
			}
			got[p.Peer] = true
		})
		if err != nil {
			t.Fatalf("trial %d: GetPeers: %v", trial, err)
		}
		for p := range want {
			if !got[p] {
				t.Errorf("trial %d: peer %v not found (found %d of %d; stats %+v)", trial, p, len(got), len(want), st)
			}
		}
		for p := range got {
			if !want[p] {
				t.Errorf("trial %d: unexpected peer %v", trial, p)
			}
		}
		if !st.Converged || st.FirstPeer <= 0 || st.Queried > 100 {
			t.Errorf("trial %d: stats %+v", trial, st)
		}
		t.Logf("trial %d: %+v", trial, st)
	}

	// 30% of the nodes die (none of the announcers): lookups still
	// find every peer, and dead nodes cost soft timeouts, not stalls.
	alive := map[int]bool{}
	for i := range size {
		alive[i] = true
	}
	for p := range want {
		for i := range size {
			if netIP(i) == p.Addr().String() {
				alive[i] = false // keep: not a candidate to kill
			}
		}
	}
	killed := 0
	for _, i := range r.Perm(size) {
		if killed == size*3/10 {
			break
		}
		if alive[i] {
			nodes[i].Close()
			alive[i] = false
			killed++
		}
	}
	var dead LookupStats
	for _, i := range r.Perm(size) {
		if !alive[i] {
			continue
		}
		got := map[netip.AddrPort]bool{}
		st, err := nodes[i].GetPeers(ctx, ih, func(p PeerFound) { got[p.Peer] = true })
		if err != nil {
			t.Fatalf("GetPeers with dead nodes: %v", err)
		}
		if len(got) != len(want) {
			t.Errorf("with %d dead nodes found %d of %d peers (stats %+v)", killed, len(got), len(want), st)
		}
		t.Logf("with %d dead nodes: %+v", killed, st)
		dead.add(st)
		if dead.Queried-dead.Answered >= 3 {
			break // met dead nodes and got past them
		}
	}
}

// BenchmarkLookup measures get_peers lookups on a 300-node loopback network
// of our nodes in which 20 info hashes have 10 peers each: queries sent per
// lookup, round trips, time to the first peer and to all 10. The searcher
// and hash change every iteration; per-IP limits are off because the same
// searcher would otherwise query the same nodes many times a second, which
// no real lookup does. Sub-benchmarks vary α.
func BenchmarkLookup(b *testing.B) {
	benchLookups(b, 300, false, []int{1, 3, 6})
}

// BenchmarkLookupRTT is BenchmarkLookup on a 200-node network where every
// datagram is delayed 5–15 ms (a ~20 ms round trip) and a tenth of the
// nodes die after the network is built (they swallow queries and never
// answer): the case soft timeouts are for.
func BenchmarkLookupRTT(b *testing.B) {
	benchLookups(b, 200, true, []int{3, 4, 6})
}

func benchLookups(b *testing.B, size int, delayed bool, alphas []int) {
	const hashes, peersPer = 20, 10
	var conns []*delayConn
	nodes := buildNetworkWith(b, size, 21, func(i int, c net.PacketConn) net.PacketConn {
		if !delayed {
			return c
		}
		dc := &delayConn{PacketConn: c, base: 5 * time.Millisecond, jitter: 10 * time.Millisecond,
			r: rand.New(rand.NewPCG(uint64(i), 9))}
		conns = append(conns, dc)
		return dc
	})
	for i, n := range nodes {
		n.perIP, n.replyLim = nil, nil
		if delayed && i%10 == 9 {
			conns[i].kill()
		}
	}
	r := rand.New(rand.NewPCG(22, 22))
	var alive []*Node
	for _, n := range nodes {
		if dc, ok := n.socks[0].conn.(*delayConn); !ok || !dc.isDead() {
			alive = append(alive, n)
		}
	}
	ihs := make([]metainfo.Hash, hashes)
	wants := make([]map[netip.AddrPort]bool, hashes)
	for h := range ihs {
		for i := range ihs[h] {
			ihs[h][i] = byte(r.UintN(256))
		}
		wants[h] = announceAt(b, alive, ihs[h], peersPer, r)
	}
	for _, alpha := range alphas {
		b.Run("alpha="+itoa(alpha), func(b *testing.B) {
			ctx := context.Background()
			var queried, rtts, missed int
			var first, all, total time.Duration
			i := 0
			for b.Loop() {
				n := alive[(i*7919)%len(alive)]
				h := i % hashes
				i++
				n.alpha = alpha
				start := time.Now()
				got := map[netip.AddrPort]bool{}
				var allAt time.Duration
				st, err := n.GetPeers(ctx, ihs[h], func(p PeerFound) {
					if wants[h][p.Peer] && !got[p.Peer] {
						got[p.Peer] = true
						if len(got) == peersPer {
							allAt = time.Since(start)
						}
					}
				})
				n.alpha = defaultAlpha
				if err != nil {
					b.Fatal(err)
				}
				queried += st.Queried
				rtts += st.RoundTrips
				missed += peersPer - len(got)
				first += st.FirstPeer
				if allAt == 0 {
					allAt = st.Duration
				}
				all += allAt
				total += st.Duration
			}
			N := float64(i)
			b.ReportMetric(float64(queried)/N, "queries/op")
			b.ReportMetric(float64(rtts)/N, "roundtrips/op")
			b.ReportMetric(float64(missed)/N, "missed-peers/op")
			b.ReportMetric(float64(first.Microseconds())/N, "µs-first-peer")
			b.ReportMetric(float64(all.Microseconds())/N, "µs-all-peers")
			b.ReportMetric(float64(total.Microseconds())/N, "µs-converged")
		})
	}
}

// delayConn delays every datagram it sends by base plus a seeded random
// share of jitter; once killed, it sends nothing (a dead node whose socket
// still swallows queries).
type delayConn struct {
	net.PacketConn
	base, jitter time.Duration

	mu     sync.Mutex
	r      *rand.Rand
	killed bool
}

func (c *delayConn) kill() {
	c.mu.Lock()
	c.killed = true
	c.mu.Unlock()
}

func (c *delayConn) isDead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.killed
}

func (c *delayConn) WriteTo(b []byte, a net.Addr) (int, error) {
	c.mu.Lock()
	if c.killed {
		c.mu.Unlock()
		return len(b), nil
	}
	d := c.base + time.Duration(c.r.Int64N(int64(c.jitter)+1))
	c.mu.Unlock()
	buf := append([]byte(nil), b...)
	time.AfterFunc(d, func() { c.PacketConn.WriteTo(buf, a) })
	return len(b), nil
}
