package crawl_test

import (
	"context"
	"fmt"
	"net"

	"github.com/peerfind/peerfind/crawl"
	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/discovery"
	"github.com/peerfind/peerfind/metainfo"
	"github.com/peerfind/peerfind/tracker"
)

// A round over two info hashes on one shared DHT node and tracker client:
// each Result arrives as its search ends, each ScrapeUpdate once the
// trackers have been scraped for the whole round.
func Example() {
	ctx := context.Background()
	tc := &tracker.Client{}
	defer tc.Close()
	conn, err := net.ListenPacket("udp4", ":0")
	if err != nil {
		return
	}
	node, err := dht.New(dht.Config{Conn4: conn, ReadOnly: true})
	if err != nil {
		return
	}
	defer node.Close()
	c := crawl.New(crawl.Config{
		Search:  discovery.Config{Trackers: tc, DHT: discovery.NewDHTSource(node)},
		Scraper: tc,
	})
	var targets []*crawl.Target
	for _, s := range []string{"0123456789abcdef0123456789abcdef01234567", "89abcdef0123456789abcdef0123456789abcdef"} {
		h, _ := metainfo.ParseHash(s)
		t, _ := crawl.NewTarget(discovery.Target{InfoHashes: []metainfo.Hash{h}, Trackers: [][]string{{"udp://tracker.example:1337"}}}, "", s)
		targets = append(targets, t)
	}
	// One round: the searches (here one after another; package queue runs
	// them as jobs, many at once), then one scrape of every tracker.
	var results []*crawl.Result
	for _, t := range targets {
		r := c.Target(ctx, 1, t)
		fmt.Println(r.Target.Key, len(r.Peers), "peers, estimate", r.Estimate.Low)
		results = append(results, r)
	}
	for _, u := range c.Scrape(ctx, results) {
		fmt.Println(u.Target.Key, "estimate after the scrape", u.Estimate.Low, "to", u.Estimate.High)
	}
}
