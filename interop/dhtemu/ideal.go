package dhtemu

import (
	"container/heap"
	"math"
	"net/netip"
	"time"
)

// Ideal is the best any finder could do for one target on this network:
// the fastest chains of real replies from the bootstrap node to the peers'
// holders, for a finder that queries every node it hears of at once, loses
// nothing and meets every node at its base RTT. Dead nodes never answer;
// a live node's reply lists what it really returns for the target (its K
// closest known nodes, or values alone for a ValuesOnly holder).
type Ideal struct {
	First, P90, All time.Duration // time to the first peer, to 90% and to all of them
	// DepthFirst and DepthAll count the replies on the chain that ends at
	// the first peer's holder and on the slowest chain needed for all peers
	// (the bootstrap node's reply is 1).
	DepthFirst, DepthAll int
	// HopsFirst and HopsAll are the fewest replies on any chain to the
	// first peer's holder and to every holder needed for all peers,
	// whatever the RTTs: the number of rounds a lookup needs at best.
	HopsFirst, HopsAll int
	// Peers is how many of the target's peers the ideal finder gets: all
	// of them unless the tables leave a holder unreachable (then All,
	// DepthAll and Reached describe the last holder it does reach).
	Peers int
	// Reached is how many live nodes the ideal finder hears a reply from
	// before the last needed holder answers.
	Reached int
}

// ideal runs Dijkstra over the nodes: querying node v costs rtt(v), and
// the bootstrap node is queried at t = 0.
func (w *world) ideal(ti int) Ideal {
	id := w.chains(ti, func(v int32) time.Duration { return w.nodes[v].rtt })
	hops := w.chains(ti, func(int32) time.Duration { return 1 })
	id.HopsFirst, id.HopsAll = int(hops.First), int(hops.All)
	return id
}

// chains runs Dijkstra where querying node v costs cost(v).
func (w *world) chains(ti int, cost func(int32) time.Duration) Ideal {
	tg := &w.targets[ti]
	n := len(w.nodes)
	dist := make([]time.Duration, n)
	depth := make([]int, n)
	done := make([]bool, n)
	for i := range dist {
		dist[i] = math.MaxInt64
	}
	dist[0], depth[0] = cost(0), 1
	q := &durHeap{{0, dist[0]}}
	var buf []int32
	var order []int32 // live nodes in reply order
	for q.Len() > 0 {
		it := heap.Pop(q).(durItem)
		u := it.node
		if done[u] || it.d != dist[u] {
			continue
		}
		done[u] = true
		if w.nodes[u].dead {
			continue // never replies: nothing is learnt from it
		}
		order = append(order, u)
		if _, holds := tg.held[u]; holds && w.nodes[u].valuesOnly {
			continue
		}
		buf = w.closest(u, &tg.hash, buf)
		for _, v := range buf {
			if d := dist[u] + cost(v); d < dist[v] {
				dist[v], depth[v] = d, depth[u]+1
				heap.Push(q, durItem{v, d})
			}
		}
	}
	var id Ideal
	seen := 0
	got := map[netip.AddrPort]bool{}
	want := len(tg.peers)
	p90 := int(math.Ceil(0.9 * float64(want)))
	for k, u := range order {
		ps, ok := tg.held[u]
		if !ok {
			continue
		}
		for _, p := range ps {
			if !got[p] {
				got[p] = true
				seen++
			}
		}
		if seen > 0 && id.First == 0 {
			id.First, id.DepthFirst = dist[u], depth[u]
		}
		if seen >= p90 && id.P90 == 0 {
			id.P90 = dist[u]
		}
		id.DepthAll = max(id.DepthAll, depth[u])
		id.All, id.Reached, id.Peers = dist[u], k+1, seen
		if seen == want {
			break
		}
	}
	return id
}

type durItem struct {
	node int32
	d    time.Duration
}

type durHeap []durItem

func (h durHeap) Len() int           { return len(h) }
func (h durHeap) Less(i, j int) bool { return h[i].d < h[j].d }
func (h durHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *durHeap) Push(x any)        { *h = append(*h, x.(durItem)) }
func (h *durHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
