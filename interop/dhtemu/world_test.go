package dhtemu

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

func small(nodes int) Config {
	c := Dense(nodes)
	c.PerBucket = 4
	c.Targets = 3
	c.PeersPerTarget = 10
	return c
}

// TestTables checks each table against its definition: bucket b holds
// min(PerBucket, nodes at that distance) nodes, and the Neighbours closest
// nodes are all there.
func TestTables(t *testing.T) {
	c := small(600)
	w := newWorld(c)
	for x := range int32(len(w.nodes)) {
		self := &w.nodes[x].id
		tab := w.nodes[x].table
		if slices.Contains(tab, x) {
			t.Fatalf("node %d knows itself", x)
		}
		perBucket := map[int]int{}
		for _, v := range tab {
			perBucket[cpl(self, &w.nodes[v].id)]++
		}
		for b := range 160 {
			lo, hi := w.bucketRange(x, b)
			want := min(hi-lo, c.PerBucket)
			// The neighbourhood may add more than PerBucket to a bucket.
			if got := perBucket[b]; got < want || got > hi-lo {
				t.Fatalf("node %d bucket %d: %d entries of %d nodes, want at least %d", x, b, got, hi-lo, want)
			}
		}
		all := make([]int32, 0, len(w.nodes)-1)
		for v := range int32(len(w.nodes)) {
			if v != x {
				all = append(all, v)
			}
		}
		slices.SortFunc(all, func(a, b int32) int { return w.cmpDist(self, a, b) })
		for _, v := range all[:c.Neighbours] {
			if !slices.Contains(tab, v) {
				t.Fatalf("node %d lacks neighbour %d", x, v)
			}
		}
	}
}

func cpl(a, b *ID) int {
	for i := range a {
		if x := a[i] ^ b[i]; x != 0 {
			n := 0
			for x&0x80 == 0 {
				x <<= 1
				n++
			}
			return 8*i + n
		}
	}
	return 160
}

// TestDeterministic: the same Config builds the same world, and loss and
// jitter decisions depend on the seed alone.
func TestDeterministic(t *testing.T) {
	c := small(300)
	a, b := newWorld(c), newWorld(c)
	for i := range a.nodes {
		x, y := a.nodes[i], b.nodes[i]
		if x.id != y.id || x.rtt != y.rtt || x.dead != y.dead || x.valuesOnly != y.valuesOnly || !slices.Equal(x.table, y.table) {
			t.Fatalf("node %d differs between two builds", i)
		}
	}
	for i := range a.targets {
		if a.targets[i].hash != b.targets[i].hash || !slices.Equal(a.targets[i].peers, b.targets[i].peers) || a.ideal(i) != b.ideal(i) {
			t.Fatalf("target %d differs between two builds", i)
		}
	}
	na, nb := &Network{w: a}, &Network{w: b}
	lost := 0
	for k := range uint64(10000) {
		if na.lost(5, k) != nb.lost(5, k) || na.delay(5, k) != nb.delay(5, k) {
			t.Fatalf("query %d: loss or delay differ", k)
		}
		if na.lost(5, k) {
			lost++
		}
		if d, base := na.delay(5, k), a.nodes[5].rtt; d < time.Duration(0.9*float64(base))-1 || d > time.Duration(1.1*float64(base))+1 {
			t.Fatalf("delay %v outside ±10%% of %v", d, base)
		}
	}
	if lost < 200 || lost > 400 {
		t.Errorf("%d of 10000 queries lost, want about 3%%", lost)
	}
	c.Seed++
	if newWorld(c).nodes[1].id == a.nodes[1].id {
		t.Error("another seed gave the same ids")
	}
	dead := 0
	for _, n := range a.nodes {
		if n.dead {
			dead++
		}
	}
	if want := int(c.Dead * 299); dead != want || a.nodes[0].dead {
		t.Errorf("%d dead nodes (bootstrap dead: %v), want %d", dead, a.nodes[0].dead, want)
	}
}

// TestIdealHandmade checks the bound on a five-node network built by hand:
//
//	0 (bootstrap, 10 ms) knows 1 (50 ms) and 2 (20 ms)
//	1 knows 4 (holds peer A, 5 ms); 2 knows 3 (dead) and 4
//	3 is dead; 4 holds A, 5 holds B and is known by 4 only
//
// First peer: 0 → 2 → 4 = 10 + 20 + 5 = 35 ms, 3 replies. All: 4's reply
// lists 5 (7 ms): 42 ms, 4 replies (from 0, 2, 4, 5; 1 answers at 60 ms).
func TestIdealHandmade(t *testing.T) {
	ms := time.Millisecond
	pa := netip.MustParseAddrPort("1.2.3.4:1000")
	pb := netip.MustParseAddrPort("5.6.7.8:2000")
	w := &world{cfg: Config{K: 8}, nodes: []peer{
		{rtt: 10 * ms, table: []int32{1, 2}},
		{rtt: 50 * ms, table: []int32{4}},
		{rtt: 20 * ms, table: []int32{3, 4}},
		{rtt: 1 * ms, dead: true, table: []int32{5}},
		{rtt: 5 * ms, table: []int32{5}},
		{rtt: 7 * ms},
	}}
	for i := range w.nodes {
		w.nodes[i].id[0] = byte(i)
	}
	w.targets = []target{{peers: []netip.AddrPort{pa, pb}, held: map[int32][]netip.AddrPort{4: {pa}, 5: {pb}}}}
	got := w.ideal(0)
	want := Ideal{First: 35 * ms, P90: 42 * ms, All: 42 * ms, DepthFirst: 3, DepthAll: 4, HopsFirst: 3, HopsAll: 4, Peers: 2, Reached: 4}
	if got != want {
		t.Errorf("ideal = %+v\nwant    %+v", got, want)
	}
	// A values-only holder lists no nodes: 5 is then out of reach.
	w.nodes[4].valuesOnly = true
	got = w.ideal(0)
	if got.Peers != 1 || got.All != 35*ms {
		t.Errorf("values-only holder: ideal = %+v, want 1 peer at 35ms", got)
	}
}

// TestConfigErrors: invalid knobs are reported, not panicked on.
func TestConfigErrors(t *testing.T) {
	for _, mod := range []func(*Config){
		func(c *Config) { c.Nodes = 1 },
		func(c *Config) { c.Loss = 1.5 },
		func(c *Config) { c.PerBucket = 0 },
		func(c *Config) { c.Dead = 1 },
		func(c *Config) { c.MaxRTT = time.Millisecond },
	} {
		c := small(100)
		mod(&c)
		if _, err := Start(c); err == nil {
			t.Errorf("Start(%+v) accepted", c)
		}
	}
}

// TestClosestLive checks the prefix search for the holders against sorting
// every live node by distance, for many targets and several k.
func TestClosestLive(t *testing.T) {
	c := small(700)
	c.Targets = 0
	w := newWorld(c)
	var live []int32
	for i := range w.nodes {
		if !w.nodes[i].dead {
			live = append(live, int32(i))
		}
	}
	r := c.rng(99)
	var got []int32
	for range 200 {
		var h ID
		for j := range h {
			h[j] = byte(r.Uint32())
		}
		slices.SortFunc(live, func(a, b int32) int { return w.cmpDist(&h, a, b) })
		for _, k := range []int{1, 8, 50, len(live)} {
			got = w.closestLive(&h, k, got)
			if !slices.Equal(got, live[:k]) {
				t.Fatalf("target %x, k %d: closestLive = %v, want %v", h, k, got, live[:k])
			}
		}
	}
}
