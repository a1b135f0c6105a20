package dhtemu

import (
	"bytes"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"
)

// ID is a node id or an info hash: 160 bits compared by XOR (BEP 5).
type ID [20]byte

// xorLess reports whether a is closer to t than b.
func xorLess(t, a, b *ID) bool {
	for i := range t {
		if x, y := a[i]^t[i], b[i]^t[i]; x != y {
			return x < y
		}
	}
	return false
}

// peer is one emulated node as the world knows it: everything about it but
// its socket.
type peer struct {
	id         ID
	ip         netip.Addr
	rtt        time.Duration // base round trip
	dead       bool
	valuesOnly bool
	table      []int32 // indices of the nodes it knows
}

// world is the whole network as data: built from the Config alone,
// deterministically, with no sockets, so tests and the ideal bound can use
// it directly.
type world struct {
	cfg     Config
	nodes   []peer
	sorted  []int32 // node indices by id
	targets []target
	byHash  map[ID]int
}

// target is one info hash: its expected peers and which of them each
// holder stores.
type target struct {
	hash  ID
	peers []netip.AddrPort // the union, sorted
	held  map[int32][]netip.AddrPort
}

// Streams of the seeded generator: one per aspect, so changing one knob
// (say Dead) leaves the others' draws (ids, RTTs) as they were.
const (
	streamIDs = iota + 1
	streamRTT
	streamDead
	streamValuesOnly
	streamTables
	streamTargets
	streamLoss   // hash salts, not generators
	streamJitter // "
	streamToken  // "
)

func (c Config) rng(stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(c.Seed, stream*0x9e3779b97f4a7c15))
}

// nodeIP is node i's address: a distinct /24 per node, so no per-IP or
// per-subnet rule of a finder squeezes them.
func (c Config) nodeIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, byte(c.FirstOctet + i/256), byte(i % 256), 1})
}

func newWorld(c Config) *world {
	w := &world{cfg: c, nodes: make([]peer, c.Nodes), byHash: map[ID]int{}}
	r := c.rng(streamIDs)
	for i := range w.nodes {
		n := &w.nodes[i]
		for j := 0; j < len(n.id); j += 8 {
			var b [8]byte
			u := r.Uint64()
			for k := range b {
				b[k] = byte(u >> (8 * k))
			}
			copy(n.id[j:], b[:])
		}
		n.ip = c.nodeIP(i)
	}
	r = c.rng(streamRTT)
	for i := range w.nodes {
		d := time.Duration(float64(c.MedianRTT) * math.Exp(c.RTTSigma*r.NormFloat64()))
		w.nodes[i].rtt = min(max(d, time.Millisecond), c.MaxRTT)
	}
	if c.BootstrapRTT > 0 {
		w.nodes[0].rtt = c.BootstrapRTT
	}
	// Node 0 is the bootstrap node and always live.
	r = c.rng(streamDead)
	perm := r.Perm(c.Nodes - 1)
	for _, p := range perm[:int(float64(c.Nodes-1)*c.Dead)] {
		w.nodes[p+1].dead = true
	}
	r = c.rng(streamValuesOnly)
	for i := range w.nodes {
		w.nodes[i].valuesOnly = r.Float64() < c.ValuesOnly
	}
	w.sorted = make([]int32, c.Nodes)
	for i := range w.sorted {
		w.sorted[i] = int32(i)
	}
	slices.SortFunc(w.sorted, func(a, b int32) int { return bytes.Compare(w.nodes[a].id[:], w.nodes[b].id[:]) })
	r = c.rng(streamTables)
	for i := range w.nodes {
		w.nodes[i].table = w.buildTable(int32(i), r)
	}
	w.buildTargets(c.rng(streamTargets))
	return w
}

// prefixRange returns the range of w.sorted whose ids share the first bits
// bits of p.
func (w *world) prefixRange(p *ID, bits int) (lo, hi int) {
	var low, high ID
	for i := range p {
		keep := byte(0)
		switch {
		case bits >= 8*(i+1):
			keep = 0xff
		case bits > 8*i:
			keep = byte(0xff << (8 - (bits - 8*i)))
		}
		low[i] = p[i] & keep
		high[i] = p[i] | ^keep
	}
	lo, _ = slices.BinarySearchFunc(w.sorted, low, func(n int32, t ID) int { return bytes.Compare(w.nodes[n].id[:], t[:]) })
	hi = lo + sortSearch(len(w.sorted)-lo, func(k int) bool { return bytes.Compare(w.nodes[w.sorted[lo+k]].id[:], high[:]) > 0 })
	return lo, hi
}

func sortSearch(n int, f func(int) bool) int {
	i, j := 0, n
	for i < j {
		h := int(uint(i+j) >> 1)
		if !f(h) {
			i = h + 1
		} else {
			j = h
		}
	}
	return i
}

// bucketRange returns the range of nodes whose common prefix with node x's
// id is exactly b bits long: x's bucket b.
func (w *world) bucketRange(x int32, b int) (lo, hi int) {
	p := w.nodes[x].id
	p[b/8] ^= 0x80 >> (b % 8)
	return w.prefixRange(&p, b+1)
}

// buildTable gives node x up to PerBucket random nodes of each bucket and
// its Neighbours XOR-closest nodes.
func (w *world) buildTable(x int32, r *rand.Rand) []int32 {
	c := w.cfg
	var t []int32
	type span struct{ lo, hi int }
	var buckets []span
	for b := 0; b < 160; b++ {
		lo, hi := w.bucketRange(x, b)
		buckets = append(buckets, span{lo, hi})
		if olo, ohi := w.prefixRange(&w.nodes[x].id, b+1); ohi-olo <= 1 {
			break // only x itself shares b+1 bits: every deeper bucket is empty
		}
	}
	for _, s := range buckets {
		n := s.hi - s.lo
		if n <= c.PerBucket {
			t = append(t, w.sorted[s.lo:s.hi]...)
			continue
		}
		start := len(t)
		for len(t)-start < c.PerBucket {
			v := w.sorted[s.lo+r.IntN(n)]
			if !slices.Contains(t[start:], v) {
				t = append(t, v)
			}
		}
	}
	// The neighbourhood: whole buckets from the deepest up, and the
	// closest part of the first bucket that overflows.
	need := c.Neighbours
	for i := len(buckets) - 1; i >= 0 && need > 0; i-- {
		s := buckets[i]
		members := slices.Clone(w.sorted[s.lo:s.hi])
		if len(members) > need {
			self := &w.nodes[x].id
			slices.SortFunc(members, func(a, b int32) int { return w.cmpDist(self, a, b) })
			members = members[:need]
		}
		need -= len(members)
		t = append(t, members...)
	}
	slices.Sort(t)
	return slices.Compact(t)
}

func (w *world) cmpDist(t *ID, a, b int32) int {
	switch {
	case xorLess(t, &w.nodes[a].id, &w.nodes[b].id):
		return -1
	case xorLess(t, &w.nodes[b].id, &w.nodes[a].id):
		return 1
	}
	return 0
}

// closest returns the K nodes of x's table closest to t: what x lists in a
// find_node or get_peers reply.
func (w *world) closest(x int32, t *ID, dst []int32) []int32 {
	dst = dst[:0]
	k := w.cfg.K
	for _, v := range w.nodes[x].table {
		if len(dst) < k {
			dst = append(dst, v)
		} else if xorLess(t, &w.nodes[v].id, &w.nodes[dst[k-1]].id) {
			dst[k-1] = v
		} else {
			continue
		}
		for j := len(dst) - 1; j > 0 && xorLess(t, &w.nodes[dst[j]].id, &w.nodes[dst[j-1]].id); j-- {
			dst[j], dst[j-1] = dst[j-1], dst[j]
		}
	}
	return dst
}

func (w *world) buildTargets(r *rand.Rand) {
	c := w.cfg
	used := map[netip.AddrPort]bool{}
	live := 0
	for i := range w.nodes {
		if !w.nodes[i].dead {
			live++
		}
	}
	var near []int32
	for range c.Targets {
		var tg target
		for j := range tg.hash {
			tg.hash[j] = byte(r.Uint32())
		}
		near = w.closestLive(&tg.hash, min(c.Holders, live), near)
		holders := near
		tg.held = map[int32][]netip.AddrPort{}
		for range c.PeersPerTarget {
			p := publicPeer(r, used)
			tg.peers = append(tg.peers, p)
			stored := false
			for _, h := range holders {
				if r.Float64() < c.HolderShare {
					tg.held[h] = append(tg.held[h], p)
					stored = true
				}
			}
			if !stored {
				h := holders[r.IntN(len(holders))]
				tg.held[h] = append(tg.held[h], p)
			}
		}
		slices.SortFunc(tg.peers, netip.AddrPort.Compare)
		w.byHash[tg.hash] = len(w.targets)
		w.targets = append(w.targets, tg)
	}
}

// closestLive returns the k live nodes closest to t, closest first (k at
// most the number of live nodes). Every node whose id shares a longer
// prefix with t is closer than every node sharing a shorter one, so the k
// closest live nodes lie in the longest prefix of t that k live nodes
// share: only that range is sorted, which lets a network hold peers for
// tens of thousands of targets without sorting every node for each.
func (w *world) closestLive(t *ID, k int, dst []int32) []int32 {
	liveIn := func(bits int) int {
		lo, hi := w.prefixRange(t, bits)
		n := 0
		for _, v := range w.sorted[lo:hi] {
			if !w.nodes[v].dead {
				n++
			}
		}
		return n
	}
	// The live count falls as the prefix grows: find the longest prefix
	// with k live nodes (0 bits, the whole network, has them all).
	lo, hi := 0, 160
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if liveIn(mid) >= k {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	a, b := w.prefixRange(t, lo)
	dst = dst[:0]
	for _, v := range w.sorted[a:b] {
		if !w.nodes[v].dead {
			dst = append(dst, v)
		}
	}
	slices.SortFunc(dst, func(x, y int32) int { return w.cmpDist(t, x, y) })
	return dst[:k]
}

// publicPeer draws a peer address that looks like a public IPv4 host (no
// private, loopback, shared, link-local, documentation, benchmarking,
// multicast or reserved range) with a port of 1024 or more, not in used.
func publicPeer(r *rand.Rand, used map[netip.AddrPort]bool) netip.AddrPort {
	for {
		a := [4]byte{byte(1 + r.IntN(223)), byte(r.Uint32()), byte(r.Uint32()), byte(1 + r.IntN(254))}
		ip := netip.AddrFrom4(a)
		if !isPublic(ip) {
			continue
		}
		p := netip.AddrPortFrom(ip, uint16(1024+r.IntN(65536-1024)))
		if !used[p] {
			used[p] = true
			return p
		}
	}
}

var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("224.0.0.0/3"),
}

func isPublic(ip netip.Addr) bool {
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}
