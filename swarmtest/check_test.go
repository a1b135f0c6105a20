package swarmtest

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	a := netip.MustParseAddrPort("127.0.1.1:6881")
	b := netip.MustParseAddrPort("127.0.1.2:6882")
	x := netip.MustParseAddrPort("127.0.1.9:6889")
	sw := &Swarm{HTTPTracker: "http://t/announce", UDPTracker: "udp://t:1", Peers: []Peer{
		{Addr: a, On: OnHTTP | OnDHT},
		{Addr: b, On: OnUDP},
	}}
	if got, want := sw.Sources(sw.Peers[0], "dht"), []string{"dht", "http://t/announce"}; !slices.Equal(got, want) {
		t.Fatalf("Sources = %v, want %v", got, want)
	}
	tests := []struct {
		name  string
		found map[netip.AddrPort][]string
		want  []string // substrings of the problems, in order
	}{
		{"right", map[netip.AddrPort][]string{a: {"http://t/announce", "dht"}, b: {"udp://t:1"}}, nil},
		{"missing", map[netip.AddrPort][]string{a: {"dht", "http://t/announce"}}, []string{"127.0.1.2:6882 not found"}},
		{"wrong sources", map[netip.AddrPort][]string{a: {"dht"}, b: {"udp://t:1"}}, []string{"127.0.1.1:6881 found through dht, announced to dht, http://t/announce"}},
		{"extra", map[netip.AddrPort][]string{a: {"dht", "http://t/announce"}, b: {"udp://t:1"}, x: {"dht"}}, []string{"127.0.1.9:6889 found but not in the swarm"}},
	}
	for _, tt := range tests {
		got := sw.Check(tt.found, "dht")
		if len(got) != len(tt.want) {
			t.Errorf("%s: problems %q, want %d", tt.name, got, len(tt.want))
			continue
		}
		for i := range got {
			if !strings.Contains(got[i], tt.want[i]) {
				t.Errorf("%s: problem %q, want one containing %q", tt.name, got[i], tt.want[i])
			}
		}
	}
}
