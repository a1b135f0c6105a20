package dhtinterop

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"net/netip"
	"testing"
	"time"

	anadht "github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/int160"

	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/interop/internal/thirdparty"
	"github.com/peerfind/peerfind/metainfo"
)

// scrapeSwarms are the swarms the BEP 33 tests announce: seeds and
// leechers, each from its own IP, since the filters count IPs.
var scrapeSwarms = []struct {
	name            string
	seeds, leechers int
}{
	{"seeds and leechers", 7, 12},
	{"leechers only", 0, 9},
	{"seeds only", 5, 0},
}

// scrapeHash is the info hash of test swarm i.
func scrapeHash(i int) metainfo.Hash {
	return metainfo.Hash(sha1.Sum([]byte("bep33 " + scrapeSwarms[i].name)))
}

// nearTruth reports whether a BEP 33 estimate is within the filter's error
// of the true count: at tens of entries in 2048 bits, collisions cost at
// most a couple of counts.
func nearTruth(got, truth int) bool {
	tol := max(2, truth/10)
	return got >= truth-tol && got <= truth+tol
}

// readOnly makes a node read-only (BEP 43): the announcers and the scraper
// stay out of the server's table, so the server under test is the only
// node of the DHT and every announce and scrape goes to it.
func readOnly(c *dht.Config) { c.ReadOnly = true }

// announceSwarms makes announcers[i] announce each swarm of scrapeSwarms
// under the hash hashOf gives it: the first seeds of them with seed=1
// (AnnounceSeed), the next leechers without.
func announceSwarms(ctx context.Context, announcers []*ourNode, hashOf func(int) metainfo.Hash) error {
	for k, sw := range scrapeSwarms {
		ih := hashOf(k)
		for i := range sw.seeds + sw.leechers {
			announce := announcers[i].n.Announce
			if i < sw.seeds {
				announce = announcers[i].n.AnnounceSeed
			}
			if _, err := announce(ctx, ih, uint16(7000+i), false); err != nil {
				return fmt.Errorf("swarm %q: announce from %v: %w", sw.name, announcers[i].addr, err)
			}
		}
	}
	return nil
}

// TestLibtorrentScrape checks our BEP 33 client against libtorrent 2.0's
// server: our nodes, each on its own IP, announce seeds (seed=1) and
// leechers into a libtorrent DHT node, and Node.Scrape's estimates from
// libtorrent's BFsd and BFpe must match what was announced.
//
// The announcers answer queries (libtorrent 2.0.8 puts even read-only
// nodes in its table and returns them in "nodes", which would make every
// lookup wait out their silence), so they store announces too; the swarms'
// hashes are chosen next to libtorrent's id so that it is always among the
// k closest nodes. Ours send the read-only scraper no filters (a stranger:
// fitReply's amplification bound), so libtorrent's are the ones counted.
func TestLibtorrentScrape(t *testing.T) {
	requireLibtorrent(t)
	ctx, cancel := context.WithTimeout(t.Context(), 110*time.Second)
	defer cancel()
	most := 0
	for _, sw := range scrapeSwarms {
		most = max(most, sw.seeds+sw.leechers)
	}
	thirdparty.RetryAfterCrash(t, "python3-libtorrent (lt.py node)", func(try int) thirdparty.Outcome {
		actx, acancel := context.WithTimeout(ctx, 50*time.Second)
		defer acancel()
		lt, crash := startLibtorrent(actx, t, loopbackIP(1500+try), nil, nil)
		if crash != nil {
			return thirdparty.Outcome{Crash: crash}
		}
		isOurs := map[netip.AddrPort]bool{}
		var announcers []*ourNode
		ltID, err := hex.DecodeString(lt.id)
		if err != nil || len(ltID) != 20 {
			t.Fatalf("libtorrent id %q", lt.id)
		}
		hashOf := func(k int) metainfo.Hash {
			h := metainfo.Hash(ltID)
			h[19] ^= byte(k + 1)
			return h
		}
		for i := range most {
			o := startOurs(t, listenLoopback(t, loopbackIP(1510+i)), []netip.AddrPort{lt.addr})
			announcers = append(announcers, o)
			isOurs[o.addr] = true
		}
		scraper := startOurs(t, listenLoopback(t, loopbackIP(1509)), []netip.AddrPort{lt.addr}, readOnly)
		isOurs[scraper.addr] = true
		// A failure with libtorrent dead is its crash, for the policy.
		crashed := func() *thirdparty.Outcome {
			if c := lt.p.Crash(time.Second); c != nil {
				return &thirdparty.Outcome{Crash: c, Contact: lt.contact(func(a netip.AddrPort) bool { return isOurs[a] })}
			}
			return nil
		}
		if err := announceSwarms(actx, announcers, hashOf); err != nil {
			if o := crashed(); o != nil {
				return *o
			}
			lt.dump(t)
			t.Fatal(err)
		}
		for k, sw := range scrapeSwarms {
			t.Run(sw.name, func(t *testing.T) {
				found := map[netip.AddrPort]bool{}
				res, st, err := scraper.n.Scrape(actx, hashOf(k), func(p dht.PeerFound) { found[p.Peer] = true })
				t.Logf("scrape: %+v; %d queried, %d answered; %d peers", res, st.Queried, st.Answered, len(found))
				switch {
				case err != nil:
					t.Errorf("Scrape: %v", err)
				case res.Filters != 1:
					t.Errorf("%d nodes sent filters, want libtorrent's", res.Filters)
				case !nearTruth(res.Seeds, sw.seeds) || !nearTruth(res.Peers, sw.leechers):
					t.Errorf("estimated %d seeds and %d leechers, announced %d and %d", res.Seeds, res.Peers, sw.seeds, sw.leechers)
				}
			})
		}
		if o := crashed(); o != nil {
			return *o
		}
		return thirdparty.Outcome{}
	})
}

// TestAnacrolixScrapesOurs checks our BEP 33 server against anacrolix/dht's
// client (get_peers with scrape=1; anacrolix serves no filters itself): our
// nodes announce seeds and leechers to one of ours, and anacrolix's
// decoding of our BFsd and BFpe, estimated by its own code, must match. A
// requester that has never answered our node gets no filters (fitReply's
// amplification bound); once our node has pinged it, it gets them.
func TestAnacrolixScrapesOurs(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	server := startOurs(t, listenLoopback(t, loopbackIP(1550)), nil)
	most := 0
	for _, sw := range scrapeSwarms {
		most = max(most, sw.seeds+sw.leechers)
	}
	var announcers []*ourNode
	for i := range most {
		announcers = append(announcers, startOurs(t, listenLoopback(t, loopbackIP(1551+i)), []netip.AddrPort{server.addr}, readOnly))
	}
	if err := announceSwarms(ctx, announcers, scrapeHash); err != nil {
		t.Fatal(err)
	}
	ana := startAnacrolix(t, loopbackIP(1549), func() []netip.AddrPort { return nil })
	query := func(ih metainfo.Hash) (*anadht.QueryResult, error) {
		res := ana.srv.GetPeers(ctx, anadht.NewAddr(net.UDPAddrFromAddrPort(server.addr)), int160.FromByteArray(ih), true, anadht.QueryRateLimiting{})
		if err := res.ToError(); err != nil {
			return nil, err
		}
		if res.Reply.R == nil {
			return nil, fmt.Errorf("reply without r")
		}
		return &res, nil
	}

	t.Run("stranger", func(t *testing.T) {
		res, err := query(scrapeHash(0))
		if err != nil {
			t.Fatal(err)
		}
		if r := res.Reply.R; r.BFsd != nil || r.BFpe != nil || len(r.Values) != scrapeSwarms[0].seeds+scrapeSwarms[0].leechers {
			t.Errorf("reply to an unverified requester: filters %v/%v, %d values", r.BFsd != nil, r.BFpe != nil, len(r.Values))
		}
	})
	if _, err := server.n.Ping(ctx, ana.addr); err != nil {
		t.Fatal(err)
	}
	for k, sw := range scrapeSwarms {
		t.Run(sw.name, func(t *testing.T) {
			res, err := query(scrapeHash(k))
			if err != nil {
				t.Fatal(err)
			}
			r := res.Reply.R
			if r.BFsd == nil || r.BFpe == nil {
				t.Fatalf("no filters (BFsd %v, BFpe %v)", r.BFsd != nil, r.BFpe != nil)
			}
			seeds, leechers := int(math.Round(r.BFsd.EstimateCount())), int(math.Round(r.BFpe.EstimateCount()))
			if !nearTruth(seeds, sw.seeds) || !nearTruth(leechers, sw.leechers) {
				t.Errorf("anacrolix estimates %d seeds and %d leechers from our filters, announced %d and %d", seeds, leechers, sw.seeds, sw.leechers)
			}
		})
	}
	t.Run("a swarm nobody announced", func(t *testing.T) {
		res, err := query(metainfo.Hash{0xbe, 0x33})
		if err != nil {
			t.Fatal(err)
		}
		if r := res.Reply.R; r.BFsd != nil || r.BFpe != nil {
			t.Error("filters for a swarm we store nothing of")
		}
	})
}
