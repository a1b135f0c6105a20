// Regression tests for two bugs these real trackers exposed: byte 0x20 of an
// info hash sent as '+' (opentracker reads a literal 0x2b), and HTTP scrapes of
// more than 64 hashes in one request (opentracker drops the rest).

package tracker_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/peerfind/peerfind/metainfo"
	"github.com/peerfind/peerfind/tracker"
)

// TestRealTrackerEscaping announces over HTTP an info hash and a peer id
// full of bytes that need escaping in a query string, then checks over UDP,
// where the hash travels as raw bytes, that the real trackers filed the
// announce under the exact hash, and that an HTTP scrape finds it.
//
// BEP 3 asks for every byte outside 0-9 A-Z a-z . - _ ~ to be sent as %nn.
// opentracker decodes %nn and nothing else: it reads "+" as the byte 0x2b,
// where Go's url.ParseQuery (and so our own Server) and Node's querystring
// (bittorrent-tracker) read a space. A client that writes 0x20 as "+", as
// url.QueryEscape does, announces to the wrong swarm on opentracker, or is
// refused by its whitelist, and scrapes the wrong swarm: about one info hash
// in thirteen has a 0x20 byte.
//
// Fix: in tracker/http.go, escape info_hash and peer_id (announce and
// scrape) byte by byte as %XX for every byte outside the unreserved set,
// instead of url.QueryEscape.
func TestRealTrackerEscaping(t *testing.T) {
	t.Parallel()
	h := metainfo.Hash{' ', '+', '%', '&', '=', '#', '?', '/', 0x00, 0xff,
		'~', '.', '-', '_', 'A', 0x01, 0x80, ';', ':', ' '}
	ot := startOpentracker(t, h)
	bt := startNodeTracker(t, time.Minute)

	var id [20]byte
	copy(id[:], "-PF0001- +%&=#?/\x00\xff~.")
	for _, tr := range []*realTracker{ot, bt} {
		t.Run(tr.Name, func(t *testing.T) {
			c := newClient(t)
			resp, err := c.Announce(ctxT(t, 10*time.Second), tr.HTTP, tracker.AnnounceRequest{
				InfoHash: h, PeerID: id, Port: 16881, Left: 1, Event: tracker.EventStarted,
			})
			if err != nil {
				t.Fatalf("HTTP announce of hash %v: %v", h, err)
			}
			t.Logf("HTTP announce: peers %v, seeders %d, leechers %d", resp.Peers, resp.Seeders, resp.Leechers)
			checkScrape(t, c, tr.UDP, h, tracker.ScrapeStats{Leechers: 1})
			checkScrape(t, c, tr.HTTP, h, tracker.ScrapeStats{Leechers: 1})
		})
	}
}

// TestRealTrackerScrapeMany scrapes 100 swarms in one call, over HTTP and
// UDP, from both trackers. opentracker's HTTP scrape answers at most 64
// info hashes a request and drops the rest without a word (and a request of
// about 200 gets HTTP 500); over UDP the Client already splits the hashes,
// 74 a packet (BEP 15).
//
// Fix: in tracker/http.go scrapeHTTP, split the hashes into requests of at
// most 64 and merge the answers (the swarms missing from a tracker's answer
// are left out of the map either way).
func TestRealTrackerScrapeMany(t *testing.T) {
	t.Parallel()
	// Hashes without 0x20 (TestRealTrackerEscaping): this test is about
	// counts only.
	var hashes []metainfo.Hash
	for i := 0; len(hashes) < 100; i++ {
		h := testHash(t, fmt.Sprint(i))
		if bytes.IndexByte(h[:], ' ') < 0 {
			hashes = append(hashes, h)
		}
	}
	ot := startOpentracker(t, hashes...)
	bt := startNodeTracker(t, time.Minute)
	c := newClient(t)
	p := newPeer("A", "127.0.0.1", 16881)
	// Every 7th swarm gets a leecher, announced over UDP (raw hash bytes),
	// the last ones among them beyond the first 64.
	for _, tr := range []*realTracker{ot, bt} {
		for i := 0; i < len(hashes); i += 7 {
			announce(t, c, tr.UDP, hashes[i], p, 1, tracker.EventStarted)
		}
	}
	for _, u := range []string{ot.HTTP, ot.UDP, bt.HTTP, bt.UDP} {
		got, err := c.Scrape(ctxT(t, 10*time.Second), u, hashes...)
		if err != nil {
			t.Errorf("scrape of %d swarms from %s: %v", len(hashes), u, err)
			continue
		}
		var wrong []int
		for i, h := range hashes {
			want := tracker.ScrapeStats{}
			if i%7 == 0 {
				want.Leechers = 1
			}
			// A swarm the tracker does not know may be left out.
			if s, ok := got[h]; s != want || (!ok && want.Leechers > 0) {
				wrong = append(wrong, i)
			}
		}
		if len(wrong) > 0 {
			t.Errorf("scrape of %d swarms from %s: %d answered, wrong or missing: swarms %v", len(hashes), u, len(got), wrong)
		}
	}
}
