package tracker

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/peerfind/peerfind/metainfo"
)

// unhex decodes spaced hex.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUDPWireRequests(t *testing.T) {
	var ih metainfo.Hash
	copy(ih[:], "ABCDEFGHIJKLMNOPQRST")
	var pid [20]byte
	copy(pid[:], "-PF0001-abcdefghijkl")
	req := AnnounceRequest{InfoHash: ih, PeerID: pid, Port: 6881, Left: 1000, Downloaded: 1, Uploaded: 2,
		Event: EventStarted, NumWant: 200, Key: 0xdeadbeef}
	for _, tc := range []struct {
		name string
		got  []byte
		want string
	}{
		{"connect", appendConnectRequest(nil, 0x01020304), "00000417 27101980 00000000 01020304"},
		{"announce", appendAnnounceRequest(nil, 0x1122334455667788, 7, req, ""), `
			11223344 55667788 00000001 00000007
			4142434445464748494a4b4c4d4e4f5051525354
			2d5046303030312d6162636465666768696a6b6c
			00000000 00000001  00000000 000003e8  00000000 00000002
			00000002 00000000 deadbeef 000000c8 1ae1`},
		{"announce with URLData (BEP 41 example)", appendAnnounceRequest(nil, 1, 7, req, "/dir?a=b&c=d")[98:],
			"02 0c 2f 64 69 72 3f 61 3d 62 26 63 3d 64"},
		{"scrape", appendScrapeRequest(nil, 9, 3, []metainfo.Hash{ih}), `
			00000000 00000009 00000002 00000003
			4142434445464748494a4b4c4d4e4f5051525354`},
	} {
		if want := unhex(t, tc.want); !bytes.Equal(tc.got, want) {
			t.Errorf("%s:\n got % x\nwant % x", tc.name, tc.got, want)
		}
	}
	// The server side reads back what the client wrote.
	r, err := parseUDPRequest(appendAnnounceRequest(nil, 1, 7, req, "/dir?a=b&c=d"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Announce != req || r.URLData != "/dir?a=b&c=d" || r.TxID != 7 || r.ConnID != 1 {
		t.Errorf("round trip: %+v", r)
	}
	// Unknown numwant goes out as -1 (the tracker's default).
	req.NumWant = -1
	if b := appendAnnounceRequest(nil, 1, 7, req, ""); !bytes.Equal(b[92:96], []byte{0xff, 0xff, 0xff, 0xff}) {
		t.Errorf("numwant -1 encoded as % x", b[92:96])
	}
}

func TestUDPWireResponses(t *testing.T) {
	ann := unhex(t, `00000001 0000abcd 00000708 00000003 00000005
		c0000201 1ae1  0a000001 0050`)
	r, err := parseAnnounceResponse(ann, 6)
	if err != nil {
		t.Fatal(err)
	}
	want := &AnnounceResponse{Interval: 1800 * time.Second, Leechers: 3, Seeders: 5,
		Peers: []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:6881"), netip.MustParseAddrPort("10.0.0.1:80")}}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("announce response %+v, want %+v", r, want)
	}
	ann6 := unhex(t, `00000001 0000abcd 00000708 ffffffff 00000000
		20010db8000000000000000000000001 1ae1`)
	r, err = parseAnnounceResponse(ann6, 18)
	if err != nil {
		t.Fatal(err)
	}
	if r.Leechers != -1 || len(r.Peers) != 1 || r.Peers[0] != netip.MustParseAddrPort("[2001:db8::1]:6881") {
		t.Errorf("IPv6 announce response %+v", r)
	}
	// bittorrent-tracker 11 sends 6-byte entries to IPv6 clients: a list
	// that only fits the IPv4 size is read as IPv4 peers.
	if r, err := parseAnnounceResponse(ann, 18); err != nil || len(r.Peers) != 2 || !r.Peers[0].Addr().Is4() {
		t.Errorf("two 6-byte peers on an IPv6 announce: %+v, %v; want two IPv4 peers", r, err)
	}
	if _, err := parseAnnounceResponse(ann[:20+7], 18); err == nil {
		t.Error("a 7-byte peer list parsed without error")
	}
	var we *WireError
	if _, err := parseAnnounceResponse(ann[:25], 6); !errors.As(err, &we) || we.Offset != 20 {
		t.Errorf("truncated peer list: %v, want a WireError at offset 20", err)
	}

	sc := unhex(t, `00000002 00000001 00000001 00000002 00000003 0000000a 0000000b 0000000c`)
	stats, err := parseScrapeResponse(sc, 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []ScrapeStats{{1, 2, 3}, {10, 11, 12}}; !reflect.DeepEqual(stats, want) {
		t.Errorf("scrape %v, want %v", stats, want)
	}
	if stats, err := parseScrapeResponse(sc, 1); err != nil || len(stats) != 1 {
		t.Errorf("scrape with more entries than asked: %v, %v", stats, err)
	}
	if _, err := parseScrapeResponse(sc[:30], 2); err == nil {
		t.Error("partial scrape entry accepted")
	}
	if msg := parseErrorResponse(unhex(t, "00000003 00000001 626164 00")); msg != "bad" {
		t.Errorf("error message %q", msg)
	}
	// Round trips of the server's encoders.
	if b := appendScrapeResponse(nil, 1, []ScrapeStats{{1, 2, 3}, {10, 11, 12}}); !bytes.Equal(b, sc) {
		t.Errorf("appendScrapeResponse % x", b)
	}
	if b := appendAnnounceResponse(nil, 0xabcd, 1800*time.Second, 3, 5, want.Peers); !bytes.Equal(b, ann) {
		t.Errorf("appendAnnounceResponse % x", b)
	}
}

func TestParseUDPRequestErrors(t *testing.T) {
	base := appendAnnounceRequest(nil, 1, 2, AnnounceRequest{Port: 1}, "")
	for _, tc := range []struct {
		name string
		pkt  []byte
		msg  string
	}{
		{"short", []byte{1, 2, 3}, "want at least 16"},
		{"bad magic", append(appendConnectRequest(nil, 1)[:0:0], unhex(t, "00000417 27101981 00000000 00000001")...), "protocol id"},
		{"short announce", base[:97], "want at least 98"},
		{"option past end", append(bytes.Clone(base), 2, 5, 'a'), "past end"},
		{"option without length", append(bytes.Clone(base), 1, 1, 7), "without length"},
		{"bad event", func() []byte { b := bytes.Clone(base); b[83] = 9; return b }(), "event 9"},
		{"scrape without hashes", appendScrapeRequest(nil, 1, 1, nil), "positive multiple of 20"},
		{"unknown action", unhex(t, "00000000 00000001 00000009 00000001"), "unknown action 9"},
	} {
		_, err := parseUDPRequest(tc.pkt)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.msg)
		}
	}
	// NOPs, unknown options and EndOfOptions are walked as BEP 41 says.
	b := append(bytes.Clone(base), 1, 1, 9, 2, 'x', 'y', 2, 1, '/', 2, 0, 0, 2, 1, 'z')
	r, err := parseUDPRequest(b)
	if err != nil || r.URLData != "/" {
		t.Errorf("options: %q, %v; want \"/\"", r.URLData, err)
	}
}

func TestParseHTTPScrape(t *testing.T) {
	body := "d5:filesd20:xxxxxxxxxxxxxxxxxxxxd8:completei11e10:downloadedi13772e10:incompletei19ee" +
		"20:yyyyyyyyyyyyyyyyyyyyd8:completei21e10:downloadedi206e10:incompletei20ee3:badd8:completei1eeee"
	m, err := parseHTTPScrape([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	var x, y metainfo.Hash
	copy(x[:], strings.Repeat("x", 20))
	copy(y[:], strings.Repeat("y", 20))
	want := map[metainfo.Hash]ScrapeStats{x: {11, 13772, 19}, y: {21, 206, 20}}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("scrape %v, want %v", m, want)
	}
	for _, bad := range []string{"d5:filesi1ee", "de", "<html>"} {
		if _, err := parseHTTPScrape([]byte(bad)); !errors.Is(err, ErrBadResponse) {
			t.Errorf("%q: %v, want ErrBadResponse", bad, err)
		}
	}
	if _, err := parseHTTPScrape([]byte("d14:failure reason4:nopee")); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("failure reason: %v", err)
	}
}

func TestParseHTTPDictPeers(t *testing.T) {
	body := "d5:peersl" +
		"d2:ip9:192.0.2.14:porti6881ee" +
		"d2:ip11:2001:db8::14:porti80e7:peer id20:aaaaaaaaaaaaaaaaaaaae" +
		"d2:ip11:example.com4:porti1ee" + // a DNS name: skipped
		"d2:ip9:192.0.2.24:porti0ee" + // port 0: skipped
		"d2:ip4:\xc0\x00\x02\x034:porti7ee" + // raw 4 bytes
		"i5e" +
		"ee"
	r, err := parseHTTPAnnounce([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:6881"), netip.MustParseAddrPort("[2001:db8::1]:80"), netip.MustParseAddrPort("192.0.2.3:7")}
	if !reflect.DeepEqual(r.Peers, want) {
		t.Errorf("peers %v, want %v", r.Peers, want)
	}
	if r.Seeders != -1 || r.Leechers != -1 {
		t.Errorf("absent counts: %d, %d; want -1", r.Seeders, r.Leechers)
	}
}

func TestScrapeKey(t *testing.T) {
	raw := string([]byte{0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 0x80})
	var want metainfo.Hash
	copy(want[:], raw)
	latin1 := ""
	for _, b := range []byte(raw) {
		latin1 += string(rune(b))
	}
	for _, tc := range []struct {
		key string
		ok  bool
	}{
		{raw, true},
		{hex.EncodeToString([]byte(raw)), true},
		{latin1, true},
		{"short", false},
		{strings.Repeat("\u0100", 20), false},
		{strings.Repeat("z", 40), false},
	} {
		h, ok := scrapeKey(tc.key)
		if ok != tc.ok || ok && h != want {
			t.Errorf("scrapeKey(%q) = %x, %v; want %v", tc.key, h, ok, tc.ok)
		}
	}
}

func TestEscapeBytes(t *testing.T) {
	tests := []struct{ in, want string }{
		{"abc-._~XYZ09", "abc-._~XYZ09"},
		{" ", "%20"}, // never '+': opentracker reads that as 0x2b
		{"+", "%2B"},
		{"\x00\xff/?&=", "%00%FF%2F%3F%26%3D"},
	}
	for _, tt := range tests {
		if got := escapeBytes([]byte(tt.in)); got != tt.want {
			t.Errorf("escapeBytes(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
