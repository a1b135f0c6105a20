package tracker

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/peerfind/peerfind/metainfo"
)

// httpSeeds are tracker bodies in the shapes real trackers send:
// opentracker (compact, min interval), bittorrent-tracker (peers6),
// dictionary peers, failures with BEP 31 "retry in", scrapes (BEP 48).
var httpSeeds = []string{
	"d8:completei0e10:downloadedi0e10:incompletei1e8:intervali1800e12:min intervali900e5:peers0:e",
	"d8:completei1e10:incompletei1e8:intervali600e5:peers6:\x7f\x00\x00\x01\x1a\xe16:peers618:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe1e",
	"d8:intervali1800e5:peersld2:ip9:192.0.2.17:peer id20:-TR3000-abcdefghijkl4:porti51413eeee",
	"d14:failure reason13:Not a tracker8:retry in5:nevere",
	"d14:failure reason10:overloaded8:retry ini5ee",
	"d10:tracker id3:abc15:warning message4:slow11:external ip4:\xc0\x00\x02\x018:intervali60e5:peers0:e",
	"d5:filesd20:xxxxxxxxxxxxxxxxxxxxd8:completei11e10:downloadedi13772e10:incompletei19eeee",
	"<html><body>502 Bad Gateway</body></html>",
	"d5:peers7:abcdefge",
}

func FuzzParseHTTPResponse(f *testing.F) {
	for _, s := range httpSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseHTTPAnnounce(b)
		if err == nil {
			for _, p := range r.Peers {
				if !p.IsValid() || p.Addr().Is4In6() {
					t.Fatalf("invalid peer %v", p)
				}
			}
			if r.Seeders < -1 || r.Leechers < -1 || r.Interval < 0 || r.MinInterval < 0 {
				t.Fatalf("bad counts %+v", r)
			}
		}
		if m, err := parseHTTPScrape(b); err == nil {
			for _, s := range m {
				if s.Seeders < -1 || s.Leechers < -1 || s.Completed < -1 {
					t.Fatalf("bad scrape counts %+v", s)
				}
			}
		}
	})
}

// FuzzParseUDPPacket feeds one packet to every BEP 15 parser, client side
// (responses) and server side (requests with BEP 41 options), checking that
// what parses re-encodes to the same bytes.
func FuzzParseUDPPacket(f *testing.F) {
	var ih metainfo.Hash
	copy(ih[:], "ABCDEFGHIJKLMNOPQRST")
	req := AnnounceRequest{InfoHash: ih, PeerID: NewPeerID(), Port: 6881, Left: 1 << 34, Event: EventStarted, NumWant: 200, Key: 7}
	peers := []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:6881")}
	for _, b := range [][]byte{
		appendConnectRequest(nil, 1),
		appendConnectResponse(nil, 1, 0x1122334455667788),
		appendAnnounceRequest(nil, 1, 2, req, ""),
		appendAnnounceRequest(nil, 1, 2, req, "/announce?passkey=abc"),
		append(appendAnnounceRequest(nil, 1, 2, req, "/x"), 1, 1, 0),
		appendAnnounceResponse(nil, 2, 1800*time.Second, 3, 4, peers),
		appendAnnounceResponse(nil, 2, 1800*time.Second, 3, 4, []netip.AddrPort{netip.MustParseAddrPort("[2001:db8::1]:1")}),
		appendScrapeRequest(nil, 1, 3, []metainfo.Hash{ih, ih}),
		appendScrapeResponse(nil, 3, []ScrapeStats{{1, 2, 3}}),
		appendErrorResponse(nil, 4, "Connection ID missmatch.\x00"),
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, err := parseUDPHeader(b); err == nil {
			switch h.Action {
			case actionConnect:
				if id, err := parseConnectResponse(b); err == nil {
					if got := appendConnectResponse(nil, h.TxID, id); !bytes.Equal(got, b[:16]) {
						t.Fatalf("connect response round trip % x → % x", b, got)
					}
				}
			case actionAnnounce:
				for _, n := range []int{6, 18} {
					r, err := parseAnnounceResponse(b, n)
					if err != nil {
						continue
					}
					if (len(b)-20)%n != 0 {
						n = 6 // the IPv4-size fallback for IPv6 replies
					}
					if len(r.Peers) != (len(b)-20)/n {
						t.Fatalf("%d peers from %d bytes", len(r.Peers), len(b))
					}
				}
			case actionScrape:
				if s, err := parseScrapeResponse(b, 74); err == nil && len(s) > 74 {
					t.Fatalf("%d scrape entries for 74 hashes", len(s))
				}
			case actionError:
				parseErrorResponse(b)
			}
		}
		r, err := parseUDPRequest(b)
		if err != nil {
			return
		}
		switch r.Action {
		case actionAnnounce:
			// Canonical re-encoding keeps the 98 fixed bytes.
			got := appendAnnounceRequest(nil, r.ConnID, r.TxID, r.Announce, "")
			want := bytes.Clone(b[:98])
			copy(want[84:88], make([]byte, 4)) // the IP field is always sent as 0
			switch {
			case r.Announce.NumWant <= 0:
				copy(want[92:96], []byte{0xff, 0xff, 0xff, 0xff})
			case r.Announce.NumWant > 1<<20: // clamped by the encoder
				copy(want[92:96], []byte{0, 0x10, 0, 0})
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("announce round trip\n% x\n% x", want, got)
			}
			if len(r.URLData) > len(b) {
				t.Fatalf("URLData longer than the packet")
			}
		case actionScrape:
			if got := appendScrapeRequest(nil, r.ConnID, r.TxID, r.Hashes); !bytes.Equal(got, b) {
				t.Fatalf("scrape round trip\n% x\n% x", b, got)
			}
		}
	})
}
