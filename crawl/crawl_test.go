package crawl

import (
	"net/netip"
	"testing"

	"github.com/peerfind/peerfind/discovery"
)

func TestEstimate(t *testing.T) {
	peer := func(srcs ...string) discovery.PeerInfo {
		return discovery.PeerInfo{Addr: netip.MustParseAddrPort("127.0.0.1:1"), Sources: srcs}
	}
	obs := func(src, kind string, seeders, leechers int) Observation {
		return Observation{Source: src, Kind: kind, Seeders: seeders, Leechers: leechers, Completed: -1}
	}
	for _, tt := range []struct {
		name  string
		peers []discovery.PeerInfo
		obs   []Observation
		want  Estimate
	}{
		{"nothing", nil, nil, Estimate{0, 0}},
		{"peers only", []discovery.PeerInfo{peer("dht"), peer("dht")}, []Observation{obs("dht", "dht", -1, -1)}, Estimate{2, 2}},
		{"tracker counts more than found",
			[]discovery.PeerInfo{peer("udp://t"), peer("dht")},
			[]Observation{obs("udp://t", "tracker", 10, 5), obs("dht", "dht", -1, -1)},
			Estimate{15, 16}},
		{"scrape and announce of one tracker: the larger",
			[]discovery.PeerInfo{peer("udp://t")},
			[]Observation{obs("udp://t", "tracker", 1, 1), obs("scrape:udp://t", "scrape", 4, 4)},
			Estimate{8, 8}},
		{"two trackers add up for the upper end",
			[]discovery.PeerInfo{peer("udp://a", "http://b")},
			[]Observation{obs("udp://a", "tracker", 3, 0), obs("http://b", "tracker", 2, 2)},
			Estimate{4, 7}},
		{"the DHT's BEP 33 estimate raises the estimate",
			[]discovery.PeerInfo{peer("dht"), peer("dht")},
			[]Observation{obs("dht", "dht", 30, 10)},
			Estimate{40, 42}},
		{"the DHT's estimate adds up with the trackers' for the upper end",
			[]discovery.PeerInfo{peer("udp://t"), peer("dht")},
			[]Observation{obs("udp://t", "tracker", 10, 5), obs("dht", "dht", 12, 8)},
			Estimate{20, 36}},
		{"found more than trackers say",
			[]discovery.PeerInfo{peer("udp://a"), peer("udp://a"), peer("udp://a")},
			[]Observation{obs("udp://a", "tracker", 1, 0)},
			Estimate{3, 3}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &Result{Observations: tt.obs}
			r.Found, r.Untracked = peerCounts(tt.peers)
			if got := r.estimate(); got != tt.want {
				t.Errorf("estimate = %+v, want %+v", got, tt.want)
			}
		})
	}
}
