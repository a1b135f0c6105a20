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

	// A swarm nobody announced: no node stores it, so no filters.
	res, _, err = scraper.Scrape(ctx, metainfo.Hash{1, 2, 3}, nil)
	if err != nil || res.Filters != 0 || res.Seeds != -1 || res.Peers != -1 {
		t.Fatalf("scrape of an empty swarm: %+v, %v", res, err)
	}
}

// TestMergeFilters checks which answers count: the filters of the k
// closest answering nodes of each family, OR-ed, and nothing beyond them.
func TestMergeFilters(t *testing.T) {
	target := ID{0x80}
	filterOf := func(from, to int) *bloom.Filter {
		var f bloom.Filter
		for i := from; i < to; i++ {
			f.Add(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
		}
		return &f
	}
	mk := func(n int, withFilters func(i int) bool) *lookup {
		l := newLookup(target, ID{}, routing.K, 3, time.Time{})
		for i := range n {
			id := target
			id[19] ^= byte(i + 1) // closest first: i = 0 is nearest
			id[18] ^= byte(i)
			l.add(id, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(i + 1)}), 1000), 1)
		}
		for _, c := range l.cands {
			c.state = candAnswered
		}
		for i, c := range l.cands {
			if withFilters(i) {
				// Overlapping sets: node i stores peers i*5 … i*5+9.
				c.bfsd, c.bfpe = filterOf(1000+i*5, 1000+i*5+10), filterOf(i*5, i*5+10)
			}
		}
		return l
	}
	tests := []struct {
		name        string
		ls          []*lookup
		filters     int
		seeds, peer int
	}{
		{"none", []*lookup{mk(12, func(int) bool { return false })}, 0, -1, -1},
		{"k closest of more", []*lookup{mk(12, func(int) bool { return true })}, routing.K, 45, 45},
		{"some of the closest", []*lookup{mk(12, func(i int) bool { return i%2 == 0 })}, routing.K / 2, 40, 40},
		{"beyond k does not count", []*lookup{mk(12, func(i int) bool { return i >= routing.K })}, 0, -1, -1},
		{"two families", []*lookup{mk(3, func(int) bool { return true }), mk(2, func(int) bool { return true })}, 5, 20, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if nodeid.CompareDistance(target, tt.ls[0].cands[0].id, tt.ls[0].cands[len(tt.ls[0].cands)-1].id) >= 0 {
				t.Fatal("shortlist not closest first")
			}
			res := mergeFilters(tt.ls)
			if res.Filters != tt.filters || !near(res.Seeds, tt.seeds) || !near(res.Peers, tt.peer) || (tt.seeds < 0) != (res.Seeds < 0) {
				t.Fatalf("got %+v, want %d filters, about %d seeds and %d peers", res, tt.filters, tt.seeds, tt.peer)
			}
		})
	}
}
