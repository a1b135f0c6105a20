package swarmtest

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Sources returns, sorted, the names a search should give the sources that
// hold p: the URLs of the trackers it was announced to, and dhtSource (the
// search's name for the DHT, e.g. discovery.SourceDHT) if it is on the DHT.
func (s *Swarm) Sources(p Peer, dhtSource string) []string {
	var want []string
	if p.On&OnHTTP != 0 {
		want = append(want, s.HTTPTracker)
	}
	if p.On&OnUDP != 0 {
		want = append(want, s.UDPTracker)
	}
	if p.On&OnDHT != 0 {
		want = append(want, dhtSource)
	}
	slices.Sort(want)
	return want
}

// Check compares what a search found — each peer with the names of the
// sources that named it — with the swarm: every peer must be found, through
// exactly the sources it was announced to (see Sources), and nothing else.
// It returns one line per discrepancy, none when the search was right.
func (s *Swarm) Check(found map[netip.AddrPort][]string, dhtSource string) []string {
	var bad []string
	known := make(map[netip.AddrPort]bool, len(s.Peers))
	for _, p := range s.Peers {
		known[p.Addr] = true
		want := s.Sources(p, dhtSource)
		names, ok := found[p.Addr]
		got := slices.Sorted(slices.Values(names))
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("%s not found (announced to %s)", p.Addr, strings.Join(want, ", ")))
		case !slices.Equal(got, want):
			bad = append(bad, fmt.Sprintf("%s found through %s, announced to %s", p.Addr, strings.Join(got, ", "), strings.Join(want, ", ")))
		}
	}
	for a := range found {
		if !known[a] {
			bad = append(bad, fmt.Sprintf("%s found but not in the swarm", a))
		}
	}
	slices.Sort(bad)
	return bad
}
