package dht

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/peerfind/peerfind/dht/internal/bloom"
	"github.com/peerfind/peerfind/dht/internal/nodeid"
	"github.com/peerfind/peerfind/dht/internal/routing"
	"github.com/peerfind/peerfind/metainfo"
)

// near reports whether an estimate is within BEP 33's error of truth: the
// filters are exact up to collisions, which at tens of entries cost at most
// a couple of counts.
func near(got, truth int) bool {
	tol := max(2, truth/10)
	return got >= truth-tol && got <= truth+tol
}

// TestScrapeNetwork announces seeds and leechers, each from its own IP, into
// a network of our nodes, and scrapes it from another node (BEP 33).
func TestScrapeNetwork(t *testing.T) {
	const size, seeds, leechers = 40, 9, 15
	nodes := buildNetwork(t, size, 33)
	r := rand.New(rand.NewPCG(33, 3))
	var ih metainfo.Hash
	for i := range ih {
		ih[i] = byte(r.UintN(256))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for k, i := range r.Perm(size - 1)[:seeds+leechers] {
		announce := nodes[i].Announce
		if k < seeds {
			announce = nodes[i].AnnounceSeed
		}
		if _, err := announce(ctx, ih, uint16(20000+i), false); err != nil {
			t.Fatalf("announce from node %d: %v", i, err)
		}
	}
	scraper := nodes[size-1]
	// Our servers send filters only to addresses that answered them
	// (fitReply's amplification bound); a node of the network has, but
	// which ones have verified it depends on the bootstrap order.
	for _, n := range nodes {
		n.markVerified(nodeAddr(t, scraper))
	}
	found := map[netip.AddrPort]bool{}
	res, st, err := scraper.Scrape(ctx, ih, func(p PeerFound) { found[p.Peer] = true })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("scrape: %+v; lookup: %d queried, %d answered, %d peers found", res, st.Queried, st.Answered, len(found))
	if res.Filters < 1 || res.Filters > routing.K {
		t.Fatalf("%d nodes sent filters, want 1–%d", res.Filters, routing.K)
	}
	if !near(res.Seeds, seeds) || !near(res.Peers, leechers) {
		t.Fatalf("estimated %d seeds and %d leechers, want about %d and %d", res.Seeds, res.Peers, seeds, leechers)
	}
	if len(found) < seeds+leechers {
		t.Fatalf("the scrape lookup found %d peers, want the %d announced", len(found), seeds+leechers)
	}

	// A read-only node is a stranger to every node: they send it their
	// values but no filters (fitReply), which BEP 33's legacy rule counts
	// as leechers, seeds unknown.
	cfg := testConfig(3301)
	cfg.ReadOnly = true
	cfg.BootstrapNodes = []netip.AddrPort{nodeAddr(t, nodes[0])}
	stranger := newTestNode(t, "127.0.0.33", cfg)
	res, _, err = stranger.Scrape(ctx, ih, nil)
	if err != nil || res.Filters != 0 || res.Legacy < 1 || res.Seeds != -1 || !near(res.Peers, seeds+leechers) {
		t.Fatalf("a stranger's scrape: %+v, %v; want values only, about %d leechers", res, err, seeds+leechers)
	}

	// A swarm nobody announced: no node stores it, so no filters.
	res, _, err = scraper.Scrape(ctx, metainfo.Hash{1, 2, 3}, nil)
	if err != nil || res.Filters != 0 || res.Legacy != 0 || res.Seeds != -1 || res.Peers != -1 {
		t.Fatalf("scrape of an empty swarm: %+v, %v", res, err)
	}
}

// TestMergeFilters checks which answers count: the filters of the k
// closest answering nodes of each family, OR-ed, nothing beyond them, and
// the values of those that sent no filters as leechers unless a seed
// filter holds them (BEP 33, legacy responses).
func TestMergeFilters(t *testing.T) {
	target := ID{0x80}
	ip := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}) }
	filterOf := func(from, to int) *bloom.Filter {
		var f bloom.Filter
		for i := from; i < to; i++ {
			f.Add(ip(i))
		}
		return &f
	}
	valuesOf := func(from, to int) []netip.AddrPort {
		var out []netip.AddrPort
		for i := from; i < to; i++ {
			out = append(out, netip.AddrPortFrom(ip(i), 1))
		}
		return out
	}
	const (
		none = iota
		filters
		values
	)
	// mk builds a lookup of n answered nodes, closest first; kind(i) says
	// what node i sent. Node i's filters hold seeds 1000+5i … 1000+5i+9 and
	// peers 5i … 5i+9 (overlapping sets); its values, peers 2000+5i … 2000+5i+9
	// and, for even i, the seeds of node 0's filter.
	mk := func(n int, kind func(i int) int) *lookup {
		l := newLookup(target, ID{}, routing.K, 3, time.Time{})
		for i := range n {
			id := target
			id[19] ^= byte(i + 1) // closest first: i = 0 is nearest
			id[18] ^= byte(i)
			l.add(id, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(i + 1)}), 1000), 1)
		}
		for i, c := range l.cands {
			c.state = candAnswered
			switch kind(i) {
			case filters:
				c.bfsd, c.bfpe = filterOf(1000+i*5, 1000+i*5+10), filterOf(i*5, i*5+10)
			case values:
				c.values = valuesOf(2000+i*5, 2000+i*5+10)
				if i%2 == 0 {
					c.values = append(c.values, valuesOf(1000, 1010)...)
				}
			}
		}
		return l
	}
	all := func(k int) func(int) int { return func(int) int { return k } }
	tests := []struct {
		name            string
		ls              []*lookup
		filters, legacy int
		seeds, peers    int
	}{
		{"none", []*lookup{mk(12, all(none))}, 0, 0, -1, -1},
		{"k closest of more", []*lookup{mk(12, all(filters))}, routing.K, 0, 45, 45},
		{"some of the closest", []*lookup{mk(12, func(i int) int { return []int{filters, none}[i%2] })}, routing.K / 2, 0, 40, 40},
		{"beyond k does not count", []*lookup{mk(12, func(i int) int { return []int{none, filters}[min(i/routing.K, 1)] })}, 0, 0, -1, -1},
		{"two families", []*lookup{mk(3, all(filters)), mk(2, all(filters))}, 5, 0, 20, 20},
		// Node 0's filter: seeds 1000–1009, peers 0–9. Nodes 1, 2 send
		// values: 2005–2019 (overlapping) plus, from node 2, the seeds
		// 1000–1009, which node 0 vouches for: not leechers.
		{"legacy values are leechers, but not known seeds", []*lookup{mk(3, func(i int) int { return []int{filters, values, values}[i] })}, 1, 2, 10, 10 + 15},
		// Without a seed filter, values only: the seeds are unknown, and
		// node 0's and 2's extra 1000–1009 count as leechers.
		{"legacy only", []*lookup{mk(3, all(values))}, 0, 3, -1, 20 + 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if nodeid.CompareDistance(target, tt.ls[0].cands[0].id, tt.ls[0].cands[len(tt.ls[0].cands)-1].id) >= 0 {
				t.Fatal("shortlist not closest first")
			}
			res := mergeFilters(tt.ls)
			if res.Filters != tt.filters || res.Legacy != tt.legacy || !near(res.Seeds, tt.seeds) || !near(res.Peers, tt.peers) ||
				(tt.seeds < 0) != (res.Seeds < 0) || (tt.peers < 0) != (res.Peers < 0) {
				t.Fatalf("got %+v, want %d filters, %d legacy, about %d seeds and %d peers", res, tt.filters, tt.legacy, tt.seeds, tt.peers)
			}
		})
	}
}

func TestMaxScrapeEstimate(t *testing.T) {
	var full bloom.Filter
	for i := range full {
		full[i] = 0xff
	}
	if got := mergeFilters([]*lookup{{cands: []*candidate{{state: candAnswered, bfsd: &full, bfpe: &full}}}}); got.Seeds != MaxScrapeEstimate || got.Peers != MaxScrapeEstimate {
		t.Fatalf("full filters give %+v, want MaxScrapeEstimate %d", got, MaxScrapeEstimate)
	}
}

// TestPruneScrape checks that a lookup keeps filters and values of its k
// closest answered nodes only.
func TestPruneScrape(t *testing.T) {
	l := newLookup(ID{}, ID{0xff}, 2, 3, time.Time{})
	l.keepValues = true
	var f bloom.Filter
	for i := range 4 {
		l.add(ID{byte(i + 1)}, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(i + 1)}), 1), 1)
	}
	// Answers arrive farthest first, each with filters and values.
	for i := 3; i >= 0; i-- {
		c := l.cands[i]
		c.state = candActive
		l.active++
		l.handle(c.addr, &reply{ID: c.id, BFsd: &f, BFpe: &f, Peers: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:1")}}, time.Time{})
	}
	for i, c := range l.cands {
		kept := c.bfsd != nil && c.bfpe != nil && c.values != nil
		if kept != (i < 2) {
			t.Errorf("candidate %d: filters and values kept %v", i, kept)
		}
	}
}
