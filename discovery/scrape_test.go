package discovery

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"

	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/metainfo"
)

// fakeScraper is a fakeDHT that also scrapes (PeerScraper), answering
// every scrape with res.
type fakeScraper struct {
	fakeDHT
	res     dht.ScrapeResult
	scrapes int
}

func (d *fakeScraper) ScrapePeers(ctx context.Context, h metainfo.Hash, fn func(peer, from netip.AddrPort)) (dht.ScrapeResult, dht.LookupStats, error) {
	st, err := d.GetPeers(ctx, h, fn)
	d.mu.Lock()
	d.scrapes++
	d.mu.Unlock()
	return d.res, st, err
}

// TestFindDHTScrape checks that Config.DHTScrape turns the lookups into
// BEP 33 scrapes and puts the estimate in the DHT's summary row.
func TestFindDHTScrape(t *testing.T) {
	h := hash(33)
	tests := []struct {
		name              string
		scrape            bool
		res               dht.ScrapeResult
		scrapes           int
		seeders, leechers int
		eventHasScrape    bool
	}{
		{"off", false, dht.ScrapeResult{Seeds: 5, Peers: 7, Filters: 3}, 0, -1, -1, false},
		{"on", true, dht.ScrapeResult{Seeds: 5, Peers: 7, Filters: 3}, 1, 5, 7, true},
		{"on, no node sent filters", true, dht.ScrapeResult{Seeds: -1, Peers: -1}, 1, -1, -1, true},
		{"on, an empty swarm", true, dht.ScrapeResult{Seeds: 0, Peers: 0, Filters: 2}, 1, 0, 0, true},
		{"on, values without filters", true, dht.ScrapeResult{Seeds: -1, Peers: 20, Legacy: 3}, 1, -1, 20, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d := &fakeScraper{fakeDHT: fakeDHT{lookups: map[metainfo.Hash][][]netip.AddrPort{h: {peerList("10.0.0.1:1")}}}, res: tt.res}
				var ev *DHTEvent
				sum, err := Find(context.Background(), Target{InfoHashes: []metainfo.Hash{h}}, &Config{DHT: d, DHTScrape: tt.scrape, Timeout: -1}, func(e Event) {
					if de, ok := e.(*DHTEvent); ok {
						ev = de
					}
				})
				if err != nil {
					t.Fatal(err)
				}
				if d.scrapes != tt.scrapes || d.lookupCount(h) != 1 || len(sum.Peers) != 1 {
					t.Fatalf("%d scrapes, %d lookups, %d peers; want %d, 1, 1", d.scrapes, d.lookupCount(h), len(sum.Peers), tt.scrapes)
				}
				if ev == nil || (ev.Scrape != nil) != tt.eventHasScrape || ev.Scrape != nil && *ev.Scrape != tt.res {
					t.Fatalf("DHT event %+v", ev)
				}
				for _, s := range sum.Sources {
					if s.Kind == KindDHT && (s.Seeders != tt.seeders || s.Leechers != tt.leechers) {
						t.Fatalf("DHT row: %d seeders, %d leechers; want %d, %d", s.Seeders, s.Leechers, tt.seeders, tt.leechers)
					}
				}
			})
		})
	}
}
