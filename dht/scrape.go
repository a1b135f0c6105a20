package dht

import (
	"context"
	"math"
	"net/netip"

	"github.com/peerfind/peerfind/dht/internal/bloom"
	"github.com/peerfind/peerfind/dht/internal/routing"
	"github.com/peerfind/peerfind/metainfo"
)

// ScrapeResult is a DHT scrape (BEP 33): the size of a swarm estimated from
// the Bloom filters of its seeds and other peers that the nodes closest to
// the info hash returned, merged by OR.
type ScrapeResult struct {
	// Seeds and Peers are the estimated numbers of distinct IP addresses
	// of seeds and of the other peers (leechers), -1 when unknown: Seeds
	// when no node sent filters, Peers when none sent filters or values.
	// The error grows with the size, and a filter saturates near 8000
	// entries (BEP 33): a full one gives MaxScrapeEstimate.
	Seeds, Peers int
	// Filters is the number of nodes whose filters were merged: those
	// among the k closest answering nodes of each address family that
	// sent them.
	Filters int
	// Legacy is the number of nodes among those k that sent values but no
	// filters (they do not implement BEP 33, or left the filters out to
	// keep their reply small): their peers count as leechers unless some
	// node's seed filter holds their IP, as BEP 33 suggests.
	Legacy int
}

// MaxScrapeEstimate is the largest estimate a BEP 33 filter can give, that
// of a filter with every bit set, ln(1/2048) / (2·ln(1−1/2048)) rounded: a
// swarm at least that large.
const MaxScrapeEstimate = 7806

// Scrape runs a get_peers lookup for infoHash as GetPeers does, with
// scrape=1 in every query, and merges the BEP 33 filters of the k closest
// nodes that answered, per address family, into an estimate of the swarm:
// no queries beyond the lookup's own. fn, if not nil, receives the peers
// as in GetPeers. The error is GetPeers'; the result counts whatever
// filters came before ctx ended.
func (n *Node) Scrape(ctx context.Context, infoHash metainfo.Hash, fn func(PeerFound)) (ScrapeResult, LookupStats, error) {
	st, ls, err := n.getPeers(ctx, infoHash, true, fn)
	return mergeFilters(ls), st, err
}

// mergeFilters ORs the filters of the k closest answered candidates of
// each lookup: they are the nodes that store the swarm (BEP 5); farther
// nodes that answered hold stale or stray announces, and BEP 33's
// estimate of a union needs no more. The values of those that sent no
// filters are added to the peer filter after (BEP 33, "Handling legacy
// responses"), so that a seed another node vouches for is not counted as
// a leecher too.
func mergeFilters(ls []*lookup) ScrapeResult {
	var sd, pe bloom.Filter
	res := ScrapeResult{Seeds: -1, Peers: -1}
	var legacy [][]netip.AddrPort
	for _, l := range ls {
		for _, c := range l.closestAnswered(routing.K) {
			switch {
			case c.bfsd != nil || c.bfpe != nil:
				res.Filters++
				if c.bfsd != nil {
					sd.Union(c.bfsd)
				}
				if c.bfpe != nil {
					pe.Union(c.bfpe)
				}
			case len(c.values) > 0:
				res.Legacy++
				legacy = append(legacy, c.values)
			}
		}
	}
	for _, vs := range legacy {
		for _, p := range vs {
			if !sd.Has(p.Addr()) {
				pe.Add(p.Addr())
			}
		}
	}
	if res.Filters > 0 {
		res.Seeds = int(math.Round(sd.Estimate()))
	}
	if res.Filters+res.Legacy > 0 {
		res.Peers = int(math.Round(pe.Estimate()))
	}
	return res
}
