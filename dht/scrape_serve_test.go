package dht

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/peerfind/peerfind/dht/internal/bloom"
	"github.com/peerfind/peerfind/dht/internal/krpc"
	"github.com/peerfind/peerfind/internal/compact"
	"github.com/peerfind/peerfind/metainfo"
)

// TestStoreSeeds checks the BEP 33 side of the peer store: the seed flag
// (updated by a re-announce), noseed, and the filters of both families.
func TestStoreSeeds(t *testing.T) {
	h := metainfo.Hash{7}
	s := newStore(0, 0, 0, 0, time.Now)
	seedA := netip.MustParseAddrPort("192.0.2.1:1")
	seedB := netip.MustParseAddrPort("[2001:db8::1]:1")
	peerA := netip.MustParseAddrPort("192.0.2.2:1")
	peerB := netip.MustParseAddrPort("192.0.2.2:2") // same IP, another port
	turned := netip.MustParseAddrPort("192.0.2.3:1")
	for _, a := range []struct {
		p    netip.AddrPort
		seed bool
	}{{seedA, true}, {seedB, true}, {peerA, false}, {peerB, false}, {turned, false}, {turned, true}} {
		if !s.add(h, a.p, a.seed) {
			t.Fatalf("add %v refused", a.p)
		}
	}
	tests := []struct {
		name   string
		v4     bool
		noSeed bool
		want   []netip.AddrPort
	}{
		{"v4 all", true, false, []netip.AddrPort{seedA, peerA, peerB, turned}},
		{"v4 noseed", true, true, []netip.AddrPort{peerA, peerB}},
		{"v6 noseed", false, true, nil},
		{"v6 all", false, false, []netip.AddrPort{seedB}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.get(h, tt.v4, 100, tt.noSeed)
			slices.SortFunc(got, netip.AddrPort.Compare)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	var wantSeeds, wantPeers bloom.Filter
	for _, ip := range []string{"192.0.2.1", "2001:db8::1", "192.0.2.3"} {
		wantSeeds.Add(netip.MustParseAddr(ip))
	}
	wantPeers.Add(netip.MustParseAddr("192.0.2.2"))
	sd, pe, ok := s.filters(h)
	if !ok || sd != wantSeeds || pe != wantPeers {
		t.Fatalf("filters: ok %v, seeds %.1f peers %.1f", ok, sd.Estimate(), pe.Estimate())
	}
	if _, _, ok := s.filters(metainfo.Hash{8}); ok {
		t.Fatal("filters for a hash with nothing stored")
	}
}

func TestStorePerHashCap(t *testing.T) {
	for _, tt := range []struct{ asked, want int }{{0, defaultPeersPerHash}, {10, 10}, {6000, 6000}, {100000, maxPeersPerHash}} {
		if s := newStore(0, tt.asked, 0, 0, time.Now); s.perHash != tt.want {
			t.Errorf("MaxPeersPerHash %d: cap %d, want %d", tt.asked, s.perHash, tt.want)
		}
	}
}

// TestServeScrape announces a seed and a leecher from two addresses, then
// asks get_peers with scrape=1 and noseed=1 (BEP 33).
func TestServeScrape(t *testing.T) {
	n := newTestNode(t, "127.0.0.1", testConfig(1))
	ih := "ssssssssssssssssssss"
	myID := string(make([]byte, 20))
	seed := newRawPeer(t, "127.0.0.2", nodeAddr(t, n))
	leech := newRawPeer(t, "127.0.0.3", nodeAddr(t, n))
	for i, p := range []*rawPeer{seed, leech} {
		p.send(&krpc.Msg{T: "g0", Y: "q", Q: "get_peers", A: &krpc.Args{ID: myID, InfoHash: ih}})
		m, _ := p.recvMsg()
		if m.R.BFsd != "" || m.R.BFpe != "" {
			t.Fatal("filters without scrape=1")
		}
		p.send(&krpc.Msg{T: "a0", Y: "q", Q: "announce_peer", A: &krpc.Args{ID: myID, InfoHash: ih, Port: 4000, Token: m.R.Token, Seed: int64(1 - i)}})
		if m, _ := p.recvMsg(); m.Y != "r" {
			t.Fatalf("announce reply %+v", m)
		}
	}
	var wantSeeds, wantPeers bloom.Filter
	wantSeeds.Add(seed.addr().Addr())
	wantPeers.Add(leech.addr().Addr())
	peerOf := func(p *rawPeer) string {
		return string(compact.AppendPeer(nil, netip.AddrPortFrom(p.addr().Addr(), 4000)))
	}

	n.markVerified(leech.addr()) // full-size replies: see the stranger case
	tests := []struct {
		name        string
		args        krpc.Args
		filters     bool
		wantValues  []string
		unsortedLen int
	}{
		{"scrape", krpc.Args{InfoHash: ih, Scrape: 1}, true, []string{peerOf(seed), peerOf(leech)}, 0},
		{"scrape and noseed", krpc.Args{InfoHash: ih, Scrape: 1, NoSeed: 1}, true, []string{peerOf(leech)}, 0},
		{"noseed only", krpc.Args{InfoHash: ih, NoSeed: 1}, false, []string{peerOf(leech)}, 0},
		{"scrape of an unknown hash", krpc.Args{InfoHash: "uuuuuuuuuuuuuuuuuuuu", Scrape: 1}, false, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.args
			a.ID = myID
			leech.send(&krpc.Msg{T: "g1", Y: "q", Q: "get_peers", A: &a})
			m, size := leech.recvMsg()
			if size > maxReplySize {
				t.Fatalf("reply of %d bytes", size)
			}
			r := krpc.DecodeReply(m)
			if got := (r.BFsd != nil && r.BFpe != nil); got != tt.filters {
				t.Fatalf("filters sent %v, want %v", got, tt.filters)
			}
			if tt.filters && (*r.BFsd != wantSeeds || *r.BFpe != wantPeers) {
				t.Fatalf("filters hold %.1f seeds, %.1f peers; want the seed and the leecher", r.BFsd.Estimate(), r.BFpe.Estimate())
			}
			got := slices.Clone(m.R.Values)
			slices.Sort(got)
			want := slices.Clone(tt.wantValues)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("values %q, want %q", got, want)
			}
		})
	}

	// A stranger (an address that never answered us) asking a scrape gets
	// its values but no filters: 512 bytes of filters would break the
	// amplification bound of a ~120-byte query.
	stranger := newRawPeer(t, "127.0.0.4", nodeAddr(t, n))
	qlen := stranger.send(&krpc.Msg{T: "g2", Y: "q", Q: "get_peers", A: &krpc.Args{ID: myID, InfoHash: ih, Scrape: 1}})
	m, size := stranger.recvMsg()
	if size > amplifyFactor*qlen || m.R.BFsd != "" || m.R.BFpe != "" || len(m.R.Values) != 2 {
		t.Fatalf("stranger's scrape: %d bytes to a %d-byte query, filters %d+%d bytes, %d values", size, qlen, len(m.R.BFsd), len(m.R.BFpe), len(m.R.Values))
	}
}

// TestFitReplyFilters checks where BEP 33's filters go when a reply must
// shrink: after the nodes; before the values only if they cannot fit even
// without them.
func TestFitReplyFilters(t *testing.T) {
	var f bloom.Filter
	f.Add(netip.MustParseAddr("192.0.2.1"))
	var values []string
	for i := range 60 {
		values = append(values, string(compact.AppendPeer(nil, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, 0, byte(i)}), 9000))))
	}
	mk := func(nv int, filters bool) *krpc.Msg {
		r := &krpc.Return{ID: string(make([]byte, 20)), Token: "tokentok", Nodes: string(make([]byte, 8*compact.NodeLen4))}
		if nv > 0 {
			r.Values = slices.Clone(values[:nv])
		}
		if filters {
			r.BFsd, r.BFpe = string(f[:]), string(f[:])
		}
		return &krpc.Msg{T: "gp", Y: krpc.KindResponse, R: r}
	}
	size := func(m *krpc.Msg) int {
		m.R.Nodes = ""
		b, _ := krpc.Append(nil, m)
		return len(b)
	}
	// most is the largest number of values that fit budget without filters.
	most := func(budget int) int {
		nv := 0
		for nv < len(values) && size(mk(nv+1, false)) <= budget {
			nv++
		}
		return nv
	}
	tests := []struct {
		name    string
		budget  int
		nv      int
		filters bool
	}{
		{"all fit but nodes", size(mk(60, true)), 60, true},
		{"fewer values keep the filters", size(mk(30, true)), 30, true},
		{"filters alone", size(mk(0, true)), 0, true},
		{"no room for filters: values stay", size(mk(0, true)) - 1, 60, false},
		{"stranger's budget", 480, most(480), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := fitReply(nil, mk(60, true), tt.budget)
			if out == nil || len(out) > tt.budget {
				t.Fatalf("%d bytes for a budget of %d", len(out), tt.budget)
			}
			m, err := krpc.Parse(out)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.R.Values) != tt.nv || (m.R.BFsd != "") != tt.filters || (m.R.BFpe != "") != tt.filters || m.R.Nodes != "" {
				t.Fatalf("%d values, filters %v/%v, %d node bytes; want %d values, filters %v", len(m.R.Values), m.R.BFsd != "", m.R.BFpe != "", len(m.R.Nodes), tt.nv, tt.filters)
			}
		})
	}
}
