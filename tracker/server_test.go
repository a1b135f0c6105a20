package tracker

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/peerfind/peerfind/internal/compact"
	"github.com/peerfind/peerfind/metainfo"
)

// httpAnnounce calls the server's handler directly with query parameters.
func httpAnnounce(t *testing.T, s *Server, h metainfo.Hash, params string) (*AnnounceResponse, error) {
	t.Helper()
	q := "info_hash=" + url.QueryEscape(string(h[:])) + "&peer_id=" + url.QueryEscape("-XX0000-000000000000") + "&" + params
	r := httptest.NewRequest("GET", "/announce?"+q, nil)
	r.RemoteAddr = "192.0.2.50:40000"
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	return parseHTTPAnnounce(w.Body.Bytes())
}

func TestServerPeerExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Server{Interval: time.Minute, PeerTTL: 3 * time.Minute}
		h := hashN(1)
		static := netip.MustParseAddrPort("10.0.0.1:1")
		s.AddPeer(h, static, true)
		if _, err := httpAnnounce(t, s, h, "port=1000&left=5&event=started"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Minute)
		if _, err := httpAnnounce(t, s, h, "port=2000&left=5"); err != nil {
			t.Fatal(err)
		}
		if n := len(s.Peers(h)); n != 3 {
			t.Fatalf("%d peers before expiry, want 3", n)
		}
		time.Sleep(90 * time.Second) // port 1000 is now 3.5 min old, 2000 is 1.5
		got := s.Peers(h)
		slices.SortFunc(got, netip.AddrPort.Compare)
		want := []netip.AddrPort{static, netip.MustParseAddrPort("192.0.2.50:2000")}
		if !slices.Equal(got, want) {
			t.Errorf("after expiry %v, want %v", got, want)
		}
		r, err := httpAnnounce(t, s, h, "port=2000&left=5")
		if err != nil {
			t.Fatal(err)
		}
		if r.Interval != time.Minute || r.MinInterval != 30*time.Second || r.Seeders != 1 || r.Leechers != 1 {
			t.Errorf("response %+v", r)
		}
	})
}

func TestServerHTTP(t *testing.T) {
	s := &Server{}
	h := hashN(2)
	s.AddPeer(h, netip.MustParseAddrPort("10.0.0.1:1"), true)
	s.AddPeer(h, netip.MustParseAddrPort("[2001:db8::1]:1"), false)
	for _, tc := range []struct{ params, fail string }{
		{"port=0&left=1", "invalid port"},
		{"port=99999&left=1", "invalid port"},
		{"port=1", "invalid left"},
		{"port=1&left=1&event=paused", "invalid event"},
	} {
		if _, err := httpAnnounce(t, s, h, tc.params); err == nil || !strings.Contains(err.Error(), tc.fail) {
			t.Errorf("%s: %v, want failure %q", tc.params, err, tc.fail)
		}
	}
	// The ip parameter names the peer; dictionary peers with compact=0.
	r, err := httpAnnounce(t, s, h, "port=7&left=0&ip=10.0.0.9&compact=0&event=completed")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Peers) != 2 || r.Seeders != 2 || r.Leechers != 1 || r.ExternalIP != netip.MustParseAddr("10.0.0.9") {
		t.Errorf("response %+v", r)
	}
	if !slices.Contains(s.Peers(h), netip.MustParseAddrPort("10.0.0.9:7")) {
		t.Errorf("peers %v lack 10.0.0.9:7", s.Peers(h))
	}
	// numwant bounds the list.
	if r, err := httpAnnounce(t, s, h, "port=8&left=1&numwant=1"); err != nil || len(r.Peers) != 1 {
		t.Errorf("numwant=1: %v, %v", r, err)
	}
	// A stopped peer leaves.
	if _, err := httpAnnounce(t, s, h, "port=7&left=0&ip=10.0.0.9&event=stopped"); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(s.Peers(h), netip.MustParseAddrPort("10.0.0.9:7")) {
		t.Error("stopped peer still listed")
	}
	// Full scrape and a 404.
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "/scrape", nil))
	m, err := parseHTTPScrape(w.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got := m[h]; got != (ScrapeStats{Seeders: 1, Completed: 1, Leechers: 2}) {
		t.Errorf("full scrape %+v", got)
	}
	w = httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "/other", nil))
	if w.Code != http.StatusNotFound {
		t.Errorf("/other: status %d", w.Code)
	}
}

func TestServerUDP(t *testing.T) {
	s := &Server{}
	h := hashN(3)
	s.AddPeer(h, netip.MustParseAddrPort("10.0.0.1:1"), true)
	s.AddPeer(h, netip.MustParseAddrPort("[2001:db8::1]:1"), true)
	now := time.Unix(1_800_000_000, 0)
	a4 := netip.MustParseAddrPort("192.0.2.1:5000")
	a6 := netip.MustParseAddrPort("[2001:db8::5]:5000")
	connect := func(from netip.AddrPort, at time.Time) uint64 {
		id, err := parseConnectResponse(s.handleUDP(appendConnectRequest(nil, 1), from, at))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	req := AnnounceRequest{InfoHash: h, Port: 6881, Left: 1, NumWant: 50}
	for _, tc := range []struct {
		from    netip.AddrPort
		peerLen int
		want    netip.AddrPort
	}{{a4, compact.PeerLen4, netip.MustParseAddrPort("10.0.0.1:1")}, {a6, compact.PeerLen6, netip.MustParseAddrPort("[2001:db8::1]:1")}} {
		id := connect(tc.from, now)
		b := s.handleUDP(appendAnnounceRequest(nil, id, 9, req, "/announce"), tc.from, now.Add(time.Minute))
		r, err := parseAnnounceResponse(b, tc.peerLen)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(r.Peers, []netip.AddrPort{tc.want}) {
			t.Errorf("from %v: peers %v, want %v", tc.from, r.Peers, tc.want)
		}
	}
	id := connect(a4, now)
	for _, tc := range []struct {
		name string
		from netip.AddrPort
		at   time.Time
	}{
		{"another address", netip.MustParseAddrPort("192.0.2.1:5001"), now},
		{"after two minutes", a4, now.Add(2*time.Minute + time.Second)},
	} {
		b := s.handleUDP(appendAnnounceRequest(nil, id, 9, req, ""), tc.from, tc.at)
		if err := checkAction(b, actionAnnounce); err == nil || !strings.Contains(err.Error(), "connection ID mismatch") {
			t.Errorf("%s: %v, want a connection ID error", tc.name, err)
		}
	}
	if b := s.handleUDP([]byte{1, 2, 3}, a4, now); b != nil {
		t.Errorf("reply % x to a 3-byte packet", b)
	}
	bad := appendAnnounceRequest(nil, id, 77, req, "")[:50]
	if err := checkAction(s.handleUDP(bad, a4, now), actionAnnounce); err == nil || !strings.Contains(err.Error(), "want at least 98") {
		t.Errorf("short announce: %v", err)
	}
	st, err := parseScrapeResponse(s.handleUDP(appendScrapeRequest(nil, id, 4, []metainfo.Hash{h, hashN(99)}), a4, now), 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []ScrapeStats{{Seeders: 2, Leechers: 2}, {}}; !slices.Equal(st, want) {
		t.Errorf("scrape %v, want %v", st, want)
	}
}
