package routing

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/peerfind/peerfind/dht/internal/nodeid"
)

// fakeClock is an injected clock for Config.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testAddr returns a distinct global IPv4 address for each i.
func testAddr(i int) netip.AddrPort {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], 0x0b000000+uint32(i)) // 11.0.0.0 + i
	return netip.AddrPortFrom(netip.AddrFrom4(a), 6881)
}

// unlimited is a table config without anti-Sybil limits, for tests that
// need many nodes from few addresses.
func unlimited(clk *fakeClock) Config {
	return Config{MaxPerIP: -1, MaxPerSubnet: -1, Now: clk.Now}
}

// checkInvariants verifies the table's internal structure.
func checkInvariants(t *testing.T, tb *Table) {
	t.Helper()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	n, r := 0, 0
	perIP := map[netip.Addr]int{}
	for i, b := range tb.buckets {
		if len(b.nodes) > K {
			t.Errorf("bucket %d holds %d nodes", i, len(b.nodes))
		}
		if len(b.repl) > ReplacementCacheSize {
			t.Errorf("bucket %d caches %d nodes", i, len(b.repl))
		}
		for _, e := range append(slices.Clip(b.nodes), b.repl...) {
			cpl := nodeid.CommonPrefixLen(tb.self, e.info.ID)
			if i < len(tb.buckets)-1 && cpl != i || i == len(tb.buckets)-1 && cpl < i {
				t.Errorf("node %s (prefix %d) in bucket %d of %d", e.info.ID, cpl, i, len(tb.buckets))
			}
		}
		for _, e := range b.nodes {
			n++
			perIP[e.info.Addr.Addr()]++
			if tb.byAddr[e.info.Addr] != e || tb.byID[e.info.ID] != e {
				t.Errorf("node %s at %s missing from the indexes", e.info.ID, e.info.Addr)
			}
		}
		for _, e := range b.repl {
			r++
			if tb.replAddr[e.info.Addr] != e {
				t.Errorf("cached node %s missing from the index", e.info.Addr)
			}
			if tb.byAddr[e.info.Addr] != nil {
				t.Errorf("%s both in a bucket and a cache", e.info.Addr)
			}
		}
	}
	if n != len(tb.byAddr) || n != len(tb.byID) || r != len(tb.replAddr) {
		t.Errorf("indexes: %d nodes, byAddr %d, byID %d; %d cached, replAddr %d", n, len(tb.byAddr), len(tb.byID), r, len(tb.replAddr))
	}
	for ip, c := range perIP {
		if tb.perIP[ip] != c {
			t.Errorf("perIP[%s] = %d, want %d", ip, tb.perIP[ip], c)
		}
	}
	if len(perIP) != len(tb.perIP) {
		t.Errorf("perIP has %d keys, want %d", len(tb.perIP), len(perIP))
	}
}

func TestTableSplitting(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 1))
	self := nodeid.Random(rng32{rng})
	clk := newFakeClock()
	tb := New(self, unlimited(clk))
	const total = 4000
	inserted := 0
	for i := range total {
		if tb.Seen(NodeInfo{ID: nodeid.Random(rng32{rng}), Addr: testAddr(i)}, SeenReply) {
			inserted++
		}
	}
	checkInvariants(t, tb)
	// With N random ids, bucket i receives about N/2^(i+1) of them, so
	// buckets near log2(N/K) are the last to fill.
	nb := tb.Buckets()
	if nb < 7 || nb > 14 {
		t.Errorf("%d buckets after %d random ids, want about log2(%d/%d) = 9", nb, total, total, K)
	}
	if tb.Len() != inserted {
		t.Errorf("Len = %d, Seen accepted %d", tb.Len(), inserted)
	}
	// The far buckets are full; they never split, so they hold K nodes.
	tb.mu.Lock()
	for i := 0; i < nb-4; i++ {
		if got := len(tb.buckets[i].nodes); got != K {
			t.Errorf("bucket %d holds %d nodes, want %d", i, got, K)
		}
	}
	tb.mu.Unlock()
	if c := tb.Counts(); c.Good != inserted || c.Replacements == 0 {
		t.Errorf("Counts = %+v", c)
	}
}

func TestTableFarBucketNeverSplits(t *testing.T) {
	var self ID // all zeros: every id with a leading 1 bit is in bucket 0
	clk := newFakeClock()
	tb := New(self, unlimited(clk))
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 100 {
		id := nodeid.Random(rng32{rng})
		id[0] |= 0x80
		ok := tb.Seen(NodeInfo{ID: id, Addr: testAddr(i)}, SeenReply)
		if want := i < K; ok != want {
			t.Fatalf("insert %d: Seen = %v, want %v", i, ok, want)
		}
	}
	// One split happened when bucket 0 (then also ours) overflowed; after
	// that bucket 0 is far from us and only rejects.
	if got := tb.Buckets(); got != 2 {
		t.Errorf("Buckets = %d, want 2", got)
	}
	if tb.Len() != K {
		t.Errorf("Len = %d, want %d", tb.Len(), K)
	}
	checkInvariants(t, tb)
}

func TestTableDeepSplit(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	self := nodeid.Random(rng32{rng})
	tb := New(self, unlimited(newFakeClock()))
	// Ids sharing i bits with ours, K+2 for every i: every bucket splits
	// off in turn. Bucket i can hold only 2^(159-i) distinct ids, so the
	// ids sharing 157 or more bits (4+2+1 < K) never fill the last bucket:
	// at most 158 buckets.
	n := 0
	for i := range 160 {
		for range K + 2 {
			tb.Seen(NodeInfo{ID: nodeid.RandomWithPrefix(rng32{rng}, self, i, true), Addr: testAddr(n)}, SeenReply)
			n++
		}
	}
	if got := tb.Buckets(); got < 150 || got > 158 {
		t.Errorf("Buckets = %d, want 150 to 158", got)
	}
	tb.mu.Lock()
	for i := range 150 {
		if got := len(tb.buckets[i].nodes); got != K {
			t.Errorf("bucket %d holds %d nodes, want %d", i, got, K)
		}
	}
	tb.mu.Unlock()
	checkInvariants(t, tb)
}

func TestTableNodeStates(t *testing.T) {
	clk := newFakeClock()
	var self ID
	tb := New(self, unlimited(clk))
	id := func(i int) ID {
		var x ID
		x[0] = 0x80
		x[19] = byte(i)
		return x
	}
	for i := range K {
		if !tb.Seen(NodeInfo{ID: id(i), Addr: testAddr(i)}, SeenReply) {
			t.Fatalf("node %d rejected", i)
		}
	}
	// A ninth node for the full bucket 0 waits in the replacement cache.
	spare := NodeInfo{ID: id(100), Addr: testAddr(100)}
	if tb.Seen(spare, SeenReply) {
		t.Fatalf("node for a full far bucket accepted")
	}
	if c := tb.Counts(); c.Good != K || c.Replacements != 1 {
		t.Fatalf("Counts = %+v, want %d good, 1 cached", c, K)
	}

	// Good → questionable after 15 minutes of silence (BEP 5).
	clk.Advance(GoodFor - time.Second)
	if c := tb.Counts(); c.Good != K {
		t.Fatalf("before 15 min: %+v", c)
	}
	tb.Seen(NodeInfo{ID: id(1), Addr: testAddr(1)}, SeenQuery) // answered before: stays good
	tb.Seen(NodeInfo{ID: id(2), Addr: testAddr(2)}, SeenReply)
	clk.Advance(2 * time.Second)
	if c := tb.Counts(); c.Good != 2 || c.Questionable != K-2 {
		t.Fatalf("after 15 min: %+v, want 2 good, %d questionable", c, K-2)
	}
	q := tb.Questionable(100)
	if len(q) != K-2 {
		t.Fatalf("Questionable = %d nodes, want %d", len(q), K-2)
	}
	if q2 := tb.Questionable(100); len(q2) != 0 {
		t.Errorf("Questionable again while pings are in flight: %d nodes", len(q2))
	}
	clk.Advance(pingBackoff)
	if q3 := tb.Questionable(3); len(q3) != 3 {
		t.Errorf("Questionable(3) after the backoff = %d nodes", len(q3))
	}

	// Questionable → bad after MaxFails failures → replaced by the cache.
	victim := testAddr(0)
	tb.Failed(victim)
	if _, ok := tb.Get(victim); !ok {
		t.Fatalf("node removed after one failure")
	}
	if c := tb.Counts(); c.Bad != 0 {
		t.Fatalf("bad after one failure: %+v", c)
	}
	tb.Failed(victim)
	if _, ok := tb.Get(victim); ok {
		t.Fatalf("node still in the table after %d failures", DefaultMaxFails)
	}
	if got, ok := tb.Get(spare.Addr); !ok || got.ID != spare.ID {
		t.Fatalf("cached node not promoted: %+v %v", got, ok)
	}
	// The promoted node answered 15 minutes ago: questionable, not good.
	if c := tb.Counts(); c.Good != 2 || c.Replacements != 0 || tb.Len() != K {
		t.Fatalf("after replacement: %+v, Len %d", c, tb.Len())
	}

	// With an empty cache a bad node keeps its slot but leaves Closest,
	// until a node that answers takes the slot.
	bad := testAddr(3)
	tb.Failed(bad)
	tb.Failed(bad)
	if c := tb.Counts(); c.Bad != 1 || tb.Len() != K {
		t.Fatalf("bad node without a replacement: %+v, Len %d", c, tb.Len())
	}
	for _, n := range tb.Closest(id(3), K) {
		if n.Addr == bad {
			t.Errorf("Closest returned the bad node")
		}
	}
	newcomer := NodeInfo{ID: id(200), Addr: testAddr(200)}
	if tb.Seen(newcomer, SeenQuery) {
		t.Errorf("a querying node displaced a bad one")
	}
	if !tb.Seen(newcomer, SeenReply) {
		t.Errorf("an answering node did not displace the bad one")
	}
	if _, ok := tb.Get(bad); ok {
		t.Errorf("bad node still present")
	}
	checkInvariants(t, tb)

	// A bad node that answers again is good again.
	tb.Failed(testAddr(4))
	tb.Failed(testAddr(4))
	tb.Seen(NodeInfo{ID: id(4), Addr: testAddr(4)}, SeenReply)
	if n, ok := tb.Get(testAddr(4)); !ok || n.ID != id(4) {
		t.Errorf("node 4 gone")
	}
	if c := tb.Counts(); c.Bad != 0 {
		t.Errorf("answering node still bad: %+v", c)
	}
}

func TestTableQueryOnlyNodeIsQuestionable(t *testing.T) {
	clk := newFakeClock()
	tb := New(ID{1}, unlimited(clk))
	n := NodeInfo{ID: ID{0x80}, Addr: testAddr(1)}
	if !tb.Seen(n, SeenQuery) {
		t.Fatal("querying node rejected from an empty table")
	}
	if c := tb.Counts(); c.Questionable != 1 {
		t.Fatalf("querying node: %+v, want questionable", c)
	}
	if len(tb.Good()) != 0 {
		t.Errorf("Good includes a node that never answered")
	}
	tb.Seen(n, SeenReply)
	if g := tb.Good(); len(g) != 1 || g[0] != n {
		t.Errorf("Good = %v", g)
	}
}

func TestTableConflicts(t *testing.T) {
	clk := newFakeClock()
	tb := New(ID{}, unlimited(clk))
	a := NodeInfo{ID: ID{0x80, 1}, Addr: testAddr(1)}
	tb.Seen(a, SeenReply)
	// Same address, another id: a spoofable query cannot change it, a reply
	// can (the node restarted).
	b := NodeInfo{ID: ID{0x80, 2}, Addr: a.Addr}
	if tb.Seen(b, SeenQuery) {
		t.Errorf("query with a new id for a known address accepted")
	}
	if !tb.Seen(b, SeenReply) {
		t.Errorf("reply with a new id for a known address rejected")
	}
	if got, _ := tb.Get(a.Addr); got.ID != b.ID {
		t.Errorf("Get = %v, want id %s", got, b.ID)
	}
	// Same id, another address: the live node keeps it.
	c := NodeInfo{ID: b.ID, Addr: testAddr(2)}
	if tb.Seen(c, SeenReply) {
		t.Errorf("known id at a new address accepted while the node is live")
	}
	tb.Failed(b.Addr)
	tb.Failed(b.Addr)
	if !tb.Seen(c, SeenReply) {
		t.Errorf("known id at a new address rejected after the node went bad")
	}
	if tb.Len() != 1 {
		t.Errorf("Len = %d, want 1", tb.Len())
	}
	// Our own id, and unusable addresses, are never stored.
	for _, n := range []NodeInfo{
		{ID: ID{}, Addr: testAddr(9)},
		{ID: ID{1}, Addr: netip.AddrPort{}},
		{ID: ID{2}, Addr: netip.MustParseAddrPort("1.2.3.4:0")},
		{ID: ID{3}, Addr: netip.MustParseAddrPort("0.0.0.0:1")},
		{ID: ID{4}, Addr: netip.MustParseAddrPort("[ff02::1]:1")},
	} {
		if tb.Seen(n, SeenReply) {
			t.Errorf("Seen(%v) accepted", n)
		}
	}
	// An IPv4-mapped address is the same node as the IPv4 one.
	mapped := netip.AddrPortFrom(netip.AddrFrom16(c.Addr.Addr().As16()), c.Addr.Port())
	if n, ok := tb.Get(mapped); !ok || n.ID != c.ID {
		t.Errorf("Get(mapped) = %v %v", n, ok)
	}
	checkInvariants(t, tb)
}

func TestTableLimits(t *testing.T) {
	node := func(i int, addr string) NodeInfo {
		var id ID
		binary.BigEndian.PutUint64(id[:], uint64(i)*0x0123456789abcdef)
		return NodeInfo{ID: id, Addr: netip.MustParseAddrPort(addr)}
	}
	tests := []struct {
		name  string
		cfg   Config
		addrs []string
		want  []bool
	}{
		{"default one per IP", Config{},
			[]string{"1.2.3.4:1", "1.2.3.4:2", "[::ffff:1.2.3.4]:3", "1.2.3.5:1"},
			[]bool{true, false, false, true}},
		{"default three per /24", Config{},
			[]string{"1.2.3.1:1", "1.2.3.2:1", "1.2.3.3:1", "1.2.3.4:1", "1.2.4.1:1"},
			[]bool{true, true, true, false, true}},
		{"default three per /64", Config{},
			[]string{"[2001:db8::1]:1", "[2001:db8::2]:1", "[2001:db8::3]:1", "[2001:db8::4]:1", "[2001:db8:0:1::1]:1"},
			[]bool{true, true, true, false, true}},
		{"two per IP", Config{MaxPerIP: 2, MaxPerSubnet: -1},
			[]string{"1.2.3.4:1", "1.2.3.4:2", "1.2.3.4:3"},
			[]bool{true, true, false}},
		{"unlimited", Config{MaxPerIP: -1, MaxPerSubnet: -1},
			[]string{"1.2.3.4:1", "1.2.3.4:2", "1.2.3.4:3", "1.2.3.4:4", "1.2.3.5:1"},
			[]bool{true, true, true, true, true}},
		{"loopback exempt by default", Config{},
			[]string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:4", "127.0.0.2:1", "[::1]:1", "[::1]:2"},
			[]bool{true, true, true, true, true, true, true}},
		{"private and link-local exempt by default", Config{},
			[]string{"192.168.1.1:1", "192.168.1.1:2", "192.168.1.2:1", "192.168.1.3:1", "10.0.0.1:1", "10.0.0.1:2", "[fe80::1]:1", "[fe80::1]:2"},
			[]bool{true, true, true, true, true, true, true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Self is far from all test ids' buckets only in bit 0, so
			// everything fits without bucket pressure.
			tb := New(ID{0xff, 0xff}, tt.cfg)
			for i, a := range tt.addrs {
				if got := tb.Seen(node(i+1, a), SeenReply); got != tt.want[i] {
					t.Errorf("Seen(%s) = %v, want %v", a, got, tt.want[i])
				}
			}
			checkInvariants(t, tb)
		})
	}
	// Removing a node frees its IP's slot.
	tb := New(ID{0xff}, Config{})
	tb.Seen(node(1, "1.2.3.4:1"), SeenReply)
	tb.Remove(netip.MustParseAddrPort("1.2.3.4:1"))
	if !tb.Seen(node(2, "1.2.3.4:2"), SeenReply) {
		t.Errorf("IP slot not freed by Remove")
	}
}

func TestTableBEP42(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	global := func(i int) netip.AddrPort { return testAddr(i) }
	verified := func(i int) NodeInfo {
		a := global(i)
		return NodeInfo{ID: nodeid.RandomForIP(a.Addr(), rng32{rng}), Addr: a}
	}
	unverified := func(i int) NodeInfo {
		id := nodeid.Random(rng32{rng})
		return NodeInfo{ID: id, Addr: global(i)}
	}

	t.Run("require", func(t *testing.T) {
		tb := New(nodeid.Random(rng32{rng}), Config{RequireVerified: true})
		if tb.Seen(unverified(1), SeenReply) {
			t.Errorf("unverified id from a global address accepted")
		}
		v := verified(2)
		if !tb.Seen(v, SeenReply) {
			t.Errorf("verified id rejected")
		}
		if n, _ := tb.Get(v.Addr); !n.Verified {
			t.Errorf("Verified not set on %v", n)
		}
		local := NodeInfo{ID: nodeid.Random(rng32{rng}), Addr: netip.MustParseAddrPort("192.168.1.9:6881")}
		if !tb.Seen(local, SeenReply) {
			t.Errorf("exempt local address rejected")
		}
	})

	t.Run("prefer", func(t *testing.T) {
		// Self's first bit is the opposite of every node's, so they all
		// compete for bucket 0 after its first split.
		clk := newFakeClock()
		cfg := unlimited(clk)
		cfg.PreferVerified = true
		var nodes []NodeInfo
		for i := 0; len(nodes) < K+1; i++ {
			n := unverified(i)
			if n.ID[0]&0x80 != 0 {
				nodes = append(nodes, n)
			}
		}
		tb := New(ID{}, cfg)
		for _, n := range nodes {
			tb.Seen(n, SeenReply)
		}
		var v NodeInfo
		for i := 100; ; i++ {
			if v = verified(i); v.ID[0]&0x80 != 0 {
				break
			}
		}
		if tb.Seen(v, SeenQuery) {
			t.Errorf("a verified node that only queried displaced another")
		}
		if !tb.Seen(v, SeenReply) {
			t.Fatalf("verified node did not displace an unverified one")
		}
		if tb.Len() != K {
			t.Errorf("Len = %d", tb.Len())
		}
		// The displaced node waits in the replacement cache.
		if c := tb.Counts(); c.Replacements != 2 {
			t.Errorf("Counts = %+v, want 2 cached", c)
		}
		checkInvariants(t, tb)

		// Without PreferVerified the verified node waits.
		tb2 := New(ID{}, unlimited(clk))
		for _, n := range nodes {
			tb2.Seen(n, SeenReply)
		}
		if tb2.Seen(v, SeenReply) {
			t.Errorf("verified node displaced another without PreferVerified")
		}
	})
}

func TestTableClosestBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	clk := newFakeClock()
	tb := New(nodeid.Random(rng32{rng}), unlimited(clk))
	for i := range 3000 {
		id := nodeid.Random(rng32{rng})
		if i%3 == 0 {
			// Ids near ours, so deep buckets fill too.
			id = nodeid.RandomWithPrefix(rng32{rng}, tb.Self(), 5+rng.IntN(30), true)
		}
		tb.Seen(NodeInfo{ID: id, Addr: testAddr(i)}, SeenReply)
	}
	// Make some nodes bad: Closest must skip them.
	tb.mu.Lock()
	var all []NodeInfo
	for _, e := range tb.byAddr {
		all = append(all, e.info)
	}
	tb.mu.Unlock()
	slices.SortFunc(all, func(a, b NodeInfo) int { return a.Addr.Compare(b.Addr) })
	live := all[:0:0]
	for i, n := range all {
		if i%10 == 0 {
			for range DefaultMaxFails {
				tb.Failed(n.Addr)
			}
			continue
		}
		live = append(live, n)
	}
	// Failed may have promoted cached nodes: take the live set afresh.
	tb.mu.Lock()
	live = live[:0]
	for _, e := range tb.byAddr {
		if e.fails < DefaultMaxFails {
			live = append(live, e.info)
		}
	}
	tb.mu.Unlock()
	if len(live) < 50 {
		t.Fatalf("only %d live nodes", len(live))
	}
	for trial := range 200 {
		target := nodeid.Random(rng32{rng})
		if trial%4 == 0 {
			target = live[rng.IntN(len(live))].ID // exact hit
		}
		want := slices.Clone(live)
		slices.SortFunc(want, func(a, b NodeInfo) int { return nodeid.CompareDistance(target, a.ID, b.ID) })
		for _, n := range []int{1, K, 20, len(live) + 5} {
			got := tb.Closest(target, n)
			w := want[:min(n, len(want))]
			if !slices.Equal(got, w) {
				t.Fatalf("Closest(%s, %d):\n got %v\nwant %v", target, n, got, w)
			}
		}
	}
	if got := tb.Closest(ID{}, 0); got != nil {
		t.Errorf("Closest(n=0) = %v", got)
	}
}

func TestTableStaleBuckets(t *testing.T) {
	clk := newFakeClock()
	rng := rand.New(rand.NewPCG(9, 9))
	cfg := unlimited(clk)
	cfg.Rand = rng32{rng}
	self := nodeid.Random(rng32{rng})
	tb := New(self, cfg)
	for i := range 300 {
		tb.Seen(NodeInfo{ID: nodeid.Random(rng32{rng}), Addr: testAddr(i)}, SeenReply)
	}
	if got := tb.StaleBuckets(GoodFor); len(got) != 0 {
		t.Fatalf("fresh table: %d stale buckets", len(got))
	}
	clk.Advance(10 * time.Minute)
	// Touch bucket 0 only: a node in it answers.
	far := tb.Closest(self.Xor(ID{0x80}), 1)[0]
	tb.Seen(far, SeenReply)
	clk.Advance(6 * time.Minute)
	stale := tb.StaleBuckets(GoodFor)
	nb := tb.Buckets()
	if len(stale) != nb-1 {
		t.Fatalf("%d stale buckets, want %d", len(stale), nb-1)
	}
	tb.mu.Lock()
	for i, target := range stale {
		// Bucket 0 was fresh; the others are equally stale and come in
		// order, so target i is for bucket i+1.
		if got := tb.bucketIndex(target); got != i+1 {
			t.Errorf("target %s lands in bucket %d, want %d", target, got, i+1)
		}
	}
	tb.mu.Unlock()
	if again := tb.StaleBuckets(GoodFor); len(again) != 0 {
		t.Errorf("buckets handed out again at once: %d", len(again))
	}

	// StaleBucketsN hands out the stalest first and leaves the rest stale.
	clk.Advance(GoodFor - 6*time.Minute) // bucket 0 (touched at 10 min) is due
	first := tb.StaleBucketsN(GoodFor, 2)
	tb.mu.Lock()
	if len(first) != 1 || tb.bucketIndex(first[0]) != 0 {
		t.Errorf("StaleBucketsN(2) = %v, want a target in bucket 0", first)
	}
	tb.mu.Unlock()
	clk.Advance(6 * time.Minute) // buckets 1 and up (refreshed at 16 min) are due
	two := tb.StaleBucketsN(GoodFor, 2)
	rest := tb.StaleBucketsN(GoodFor, 0)
	if len(two) != 2 || len(rest) != nb-3 {
		t.Fatalf("StaleBucketsN: %d then %d targets, want 2 then %d", len(two), len(rest), nb-3)
	}
	tb.mu.Lock()
	for i, target := range append(two, rest...) {
		if got := tb.bucketIndex(target); got != i+1 {
			t.Errorf("target %d lands in bucket %d, want %d", i, got, i+1)
		}
	}
	tb.mu.Unlock()
}

func TestTableBoundedMemory(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	tb := New(nodeid.Random(rng32{rng}), unlimited(newFakeClock()))
	for i := range 30000 {
		id := nodeid.Random(rng32{rng})
		if i%2 == 0 {
			id = nodeid.RandomWithPrefix(rng32{rng}, tb.Self(), rng.IntN(160), true)
		}
		tb.Seen(NodeInfo{ID: id, Addr: testAddr(i)}, SeenKind(1+i%2))
	}
	c := tb.Counts()
	if tb.Len() > maxBuckets*K || c.Replacements > maxBuckets*ReplacementCacheSize {
		t.Errorf("table grew past its bounds: Len %d, %+v", tb.Len(), c)
	}
	checkInvariants(t, tb)
	// One IP with many ports cannot fill a replacement cache.
	tb2 := New(ID{}, Config{})
	for i := range 100 {
		tb2.Seen(NodeInfo{ID: ID{0x80, byte(i)}, Addr: netip.AddrPortFrom(netip.MustParseAddr("1.1.1.1"), uint16(1000+i))}, SeenReply)
	}
	if c := tb2.Counts(); tb2.Len() != 1 || c.Replacements > 1 {
		t.Errorf("one IP: Len %d, %+v", tb2.Len(), c)
	}
}

func TestTableConcurrent(t *testing.T) {
	tb := New(nodeid.Random(nil), Config{MaxPerIP: -1, MaxPerSubnet: -1})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 0))
			for i := range 500 {
				a := testAddr(rng.IntN(300))
				switch i % 5 {
				case 0, 1:
					tb.Seen(NodeInfo{ID: nodeid.Random(rng32{rng}), Addr: a}, SeenReply)
				case 2:
					tb.Failed(a)
				case 3:
					tb.Closest(nodeid.Random(rng32{rng}), K)
				case 4:
					tb.Questionable(2)
					tb.StaleBuckets(0)
					tb.Good()
				}
			}
		})
	}
	wg.Wait()
	checkInvariants(t, tb)
}

// fullTable returns a table with every bucket it can have filled.
func fullTable(b testing.TB, deep int) *Table {
	rng := rand.New(rand.NewPCG(1, 2))
	tb := New(nodeid.Random(rng32{rng}), Config{MaxPerIP: -1, MaxPerSubnet: -1})
	n := 0
	for i := range deep {
		for range K {
			tb.Seen(NodeInfo{ID: nodeid.RandomWithPrefix(rng32{rng}, tb.Self(), i, true), Addr: testAddr(n)}, SeenReply)
			n++
		}
	}
	return tb
}

func BenchmarkTableClosest(b *testing.B) {
	// 20 full buckets is what a node in the live DHT has (BEP 42's
	// estimate); 160 is the most a table can hold.
	for _, deep := range []int{20, 160} {
		tb := fullTable(b, deep)
		rng := rand.New(rand.NewPCG(3, 3))
		targets := make([]ID, 256)
		for i := range targets {
			targets[i] = nodeid.Random(rng32{rng})
		}
		b.Run(fmt.Sprintf("nodes=%d", tb.Len()), func(b *testing.B) {
			i := 0
			for b.Loop() {
				tb.Closest(targets[i%len(targets)], K)
				i++
			}
		})
	}
}

func BenchmarkTableSeen(b *testing.B) {
	tb := fullTable(b, 20)
	rng := rand.New(rand.NewPCG(4, 4))
	nodes := make([]NodeInfo, 4096)
	for i := range nodes {
		nodes[i] = NodeInfo{ID: nodeid.Random(rng32{rng}), Addr: testAddr(100000 + i)}
	}
	i := 0
	for b.Loop() {
		tb.Seen(nodes[i%len(nodes)], SeenReply)
		i++
	}
}

func TestTableRestartedNodeRefillsBucket(t *testing.T) {
	clk := newFakeClock()
	tb := New(ID{}, unlimited(clk))
	for i := range K + 1 {
		tb.Seen(NodeInfo{ID: ID{0x80, byte(i)}, Addr: testAddr(i)}, SeenReply)
	}
	if c := tb.Counts(); tb.Len() != K || c.Replacements != 1 {
		t.Fatalf("setup: Len %d, %+v", tb.Len(), c)
	}
	// Node 0 restarts with an id for bucket 1: it moves there, and the
	// cached node takes its slot in bucket 0.
	if !tb.Seen(NodeInfo{ID: ID{0x40}, Addr: testAddr(0)}, SeenReply) {
		t.Fatal("restarted node rejected")
	}
	if n, ok := tb.Get(testAddr(K)); !ok || n.ID != (ID{0x80, K}) {
		t.Errorf("cached node not promoted: %v %v", n, ok)
	}
	if c := tb.Counts(); tb.Len() != K+1 || c.Replacements != 0 {
		t.Errorf("after restart: Len %d, %+v", tb.Len(), c)
	}
	checkInvariants(t, tb)
}

func TestTableBadNodeFreesItsIP(t *testing.T) {
	clk := newFakeClock()
	tb := New(ID{}, Config{Now: clk.Now}) // default: one node per IP
	old := NodeInfo{ID: ID{0x80}, Addr: netip.MustParseAddrPort("1.2.3.4:1000")}
	moved := NodeInfo{ID: ID{0x40}, Addr: netip.MustParseAddrPort("1.2.3.4:2000")}
	tb.Seen(old, SeenReply)
	if tb.Seen(moved, SeenReply) {
		t.Fatalf("second node on one IP accepted")
	}
	tb.Failed(old.Addr)
	tb.Failed(old.Addr)
	// The old node is bad and nothing replaced it; its IP slot is free
	// for the host's new port.
	if !tb.Seen(moved, SeenReply) {
		t.Fatalf("bad node still holds its IP's slot")
	}
	if _, ok := tb.Get(old.Addr); ok || tb.Len() != 1 {
		t.Errorf("old node still present, Len %d", tb.Len())
	}
	checkInvariants(t, tb)
}

func TestTablePreferVerifiedSparesLocalNodes(t *testing.T) {
	// Nodes on local addresses cannot be verified (BEP 42 exempts them),
	// so they are not "unverified" and a verified node does not displace
	// them.
	cfg := Config{MaxPerIP: -1, MaxPerSubnet: -1, PreferVerified: true}
	tb := New(ID{}, cfg)
	for i := range K + 1 {
		tb.Seen(NodeInfo{ID: ID{0x80, byte(i)}, Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 168, 0, byte(i + 1)}), 1)}, SeenReply)
	}
	ip := netip.MustParseAddr("124.31.75.21")
	var v NodeInfo
	for r := byte(0); ; r++ {
		if v = (NodeInfo{ID: nodeid.ForIP(ip, r, nil), Addr: netip.AddrPortFrom(ip, 1)}); v.ID[0]&0x80 != 0 {
			break
		}
	}
	if tb.Seen(v, SeenReply) {
		t.Errorf("verified node displaced a node on a local address")
	}
}

// FuzzTable applies a sequence of operations decoded from the input to a
// table with a tiny id space and address pool, so that splits, conflicts,
// limits and replacements all happen, and checks the invariants after each.
func FuzzTable(f *testing.F) {
	f.Add([]byte{0, 1, 2, 0, 3, 4, 1, 1, 2, 2, 0, 0})
	f.Add(bytes.Repeat([]byte{0, 0x81, 5, 1, 0x81, 5, 2, 0x81, 5}, 10))
	f.Fuzz(func(t *testing.T, data []byte) {
		clk := newFakeClock()
		cfg := Config{Now: clk.Now, PreferVerified: len(data)%2 == 0}
		if len(data)%3 == 0 {
			cfg.MaxPerIP, cfg.MaxPerSubnet = -1, -1
		}
		tb := New(ID{0x55, 0x55}, cfg)
		for len(data) >= 3 {
			op, x, y := data[0], data[1], data[2]
			data = data[3:]
			// Ids vary in their first two bytes only (bits 0-15), close
			// to and far from self; addresses come from a pool of 64
			// spread over four /24s.
			id := ID{x, y &^ 0x3f, 0x55}
			addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{11, 0, y & 3, y >> 2 & 15}), 1+uint16(op>>4))
			switch op % 8 {
			case 0, 1, 2:
				tb.Seen(NodeInfo{ID: id, Addr: addr}, SeenReply)
			case 3:
				tb.Seen(NodeInfo{ID: id, Addr: addr}, SeenQuery)
			case 4:
				tb.Failed(addr)
			case 5:
				tb.Remove(addr)
			case 6:
				clk.Advance(time.Duration(x) * 10 * time.Second)
				tb.Questionable(int(y % 4))
				tb.StaleBucketsN(GoodFor, int(y%3))
			case 7:
				got := tb.Closest(id, int(y%20))
				for i := 1; i < len(got); i++ {
					if nodeid.Closer(id, got[i].ID, got[i-1].ID) {
						t.Fatalf("Closest out of order at %d", i)
					}
				}
			}
			checkInvariants(t, tb)
			if t.Failed() {
				t.FailNow()
			}
		}
		c := tb.Counts()
		if c.Good+c.Questionable+c.Bad != tb.Len() {
			t.Fatalf("Counts %+v, Len %d", c, tb.Len())
		}
	})
}

func TestTableSparseBuckets(t *testing.T) {
	clk := newFakeClock()
	rng := rand.New(rand.NewPCG(11, 11))
	cfg := unlimited(clk)
	cfg.Rand = rng32{rng}
	self := nodeid.Random(rng32{rng})
	tb := New(self, cfg)
	// Fill bucket 0 (the far half) and put a few nodes in buckets 1–3;
	// enough near nodes make the table split down to bucket 4 or beyond.
	counts := map[int]int{0: K, 1: 2, 2: 0, 3: 5}
	i := 0
	for b, c := range counts {
		for range c {
			tb.Seen(NodeInfo{ID: nodeid.RandomWithPrefix(rng32{rng}, self, b, true), Addr: testAddr(i)}, SeenReply)
			i++
		}
	}
	for range 3 * K {
		tb.Seen(NodeInfo{ID: nodeid.RandomWithPrefix(rng32{rng}, self, 5, false), Addr: testAddr(i)}, SeenReply)
		i++
	}
	nb := tb.Buckets()
	if nb < 5 {
		t.Fatalf("%d buckets, want ≥ 5", nb)
	}
	got := tb.SparseBuckets(3)
	// Bucket 0 is full: the three farthest with room are 1, 2 and 3.
	tb.mu.Lock()
	var idx []int
	for _, target := range got {
		idx = append(idx, tb.bucketIndex(target))
	}
	tb.mu.Unlock()
	if !slices.Equal(idx, []int{1, 2, 3}) {
		t.Fatalf("SparseBuckets(3) targets land in buckets %v, want [1 2 3]", idx)
	}
	// Handed out buckets wait a minute; the others (short of the last,
	// ours) come next.
	rest := tb.SparseBuckets(0)
	tb.mu.Lock()
	for _, target := range rest {
		if b := tb.bucketIndex(target); b < 4 || b == nb-1 {
			t.Errorf("second call: target in bucket %d", b)
		}
	}
	tb.mu.Unlock()
	clk.Advance(pingBackoff)
	if again := tb.SparseBuckets(1); len(again) != 1 {
		t.Fatalf("after a minute: %d targets, want 1", len(again))
	}
	// A table that never split has only our own bucket: nothing to do.
	if got := New(self, cfg).SparseBuckets(0); len(got) != 0 {
		t.Fatalf("empty table: %d targets", len(got))
	}
}

// rng32 adapts math/rand/v2 to io.Reader for deterministic ids.
type rng32 struct{ r *rand.Rand }

func (r rng32) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(r.r.Uint32())
	}
	return len(b), nil
}
