package discovery

import (
	"context"
	"net/netip"

	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/metainfo"
)

// DHTSource adapts a *dht.Node to PeerLookup (and NodeAdder). The caller
// owns the node and closes it.
//
// A node fresh from dht.New needs no Bootstrap first: its first lookup
// starts from the saved, given and router nodes straight toward the info
// hash, filling the routing table on the way, so the first peers come a
// whole bootstrap sooner.
type DHTSource struct {
	// Node runs the lookups.
	Node *dht.Node
}

// NewDHTSource returns a DHTSource for n.
func NewDHTSource(n *dht.Node) *DHTSource {
	return &DHTSource{Node: n}
}

// GetPeers implements PeerLookup.
func (s *DHTSource) GetPeers(ctx context.Context, h metainfo.Hash, fn func(peer, from netip.AddrPort)) (dht.LookupStats, error) {
	return s.Node.GetPeers(ctx, h, func(p dht.PeerFound) { fn(p.Peer, p.From) })
}

// ScrapePeers implements PeerScraper with dht.Node.Scrape.
func (s *DHTSource) ScrapePeers(ctx context.Context, h metainfo.Hash, fn func(peer, from netip.AddrPort)) (dht.ScrapeResult, dht.LookupStats, error) {
	return s.Node.Scrape(ctx, h, func(p dht.PeerFound) { fn(p.Peer, p.From) })
}

// AddNode implements NodeAdder: the node becomes a starting node of the
// lookups and, once it answers a ping, a routing-table entry.
func (s *DHTSource) AddNode(a netip.AddrPort) {
	s.Node.AddNode(a)
}
