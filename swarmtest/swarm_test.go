package swarmtest

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/peerfind/peerfind/dht"
)

func TestNodeAddr(t *testing.T) {
	tests := []struct {
		i    int
		want string
	}{{0, "127.0.2.1"}, {253, "127.0.2.254"}, {254, "127.0.3.1"}, {508, "127.0.4.1"}}
	for _, tt := range tests {
		if got := nodeAddr(tt.i).String(); got != tt.want {
			t.Errorf("nodeAddr(%d) = %s, want %s", tt.i, got, tt.want)
		}
	}
}

// lookup runs a get_peers lookup against the swarm from a fresh node, as a
// user's client would.
func lookup(t *testing.T, sw *Swarm) []netip.AddrPort {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := nodeConfig(conn, dht.ID{1}, sw.Bootstrap)
	cfg.ReadOnly = true
	nd, err := dht.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer nd.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := nd.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []netip.AddrPort
	if _, err := nd.GetPeers(ctx, sw.InfoHash, func(p dht.PeerFound) {
		mu.Lock()
		if !slices.Contains(got, p.Peer) {
			got = append(got, p.Peer)
		}
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestSwarm(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sw, err := Start(ctx, Config{Nodes: 48, Peers: 24, Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	if sw.MetaInfo.Info.Name != "test" || len(sw.MetaInfo.Nodes) != 4 || len(sw.MetaInfo.Trackers()) != 2 {
		t.Errorf("torrent: name %q, nodes %v, trackers %v", sw.MetaInfo.Info.Name, sw.MetaInfo.Nodes, sw.MetaInfo.Trackers())
	}
	seen := map[netip.AddrPort]bool{}
	for _, p := range sw.Peers {
		if seen[p.Addr] {
			t.Errorf("duplicate peer %v", p.Addr)
		}
		seen[p.Addr] = true
	}
	same := func(what string, got, want []netip.AddrPort) {
		t.Helper()
		got, want = slices.Clone(got), slices.Clone(want)
		slices.SortFunc(got, netip.AddrPort.Compare)
		slices.SortFunc(want, netip.AddrPort.Compare)
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %d peers %v, want %d %v", what, len(got), got, len(want), want)
		}
	}
	same("HTTP tracker", sw.HTTPServer.Peers(sw.InfoHash), sw.PeersOn(OnHTTP))
	same("UDP tracker", sw.UDPServer.Peers(sw.InfoHash), sw.PeersOn(OnUDP))
	same("DHT", lookup(t, sw), sw.PeersOn(OnDHT))
	t.Logf("DHT announces took %v", sw.AnnounceDuration)
}

func TestSwarmWithoutDHT(t *testing.T) {
	sw, err := Start(context.Background(), Config{Nodes: -1, Peers: 8, Private: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	if !sw.MetaInfo.Info.Private || len(sw.Bootstrap) != 0 || len(sw.PeersOn(OnDHT)) != 0 {
		t.Errorf("private %v, bootstrap %v, DHT peers %v", sw.MetaInfo.Info.Private, sw.Bootstrap, sw.PeersOn(OnDHT))
	}
	if n := len(sw.PeersOn(OnHTTP | OnUDP)); n != 8 {
		t.Errorf("%d tracker peers, want 8", n)
	}
}

func TestSwarmHybrid(t *testing.T) {
	sw, err := Start(context.Background(), Config{Nodes: -1, Peers: 9, Hybrid: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	hs := sw.MetaInfo.SwarmHashes()
	if sw.InfoHashV2.IsZero() || len(hs) != 2 || hs[0] != sw.InfoHash || hs[1] != sw.InfoHashV2 {
		t.Fatalf("swarm hashes %v, v1 %v, v2 %v", hs, sw.InfoHash, sw.InfoHashV2)
	}
	n1 := len(sw.HTTPServer.Peers(sw.InfoHash)) + len(sw.UDPServer.Peers(sw.InfoHash))
	n2 := len(sw.HTTPServer.Peers(sw.InfoHashV2)) + len(sw.UDPServer.Peers(sw.InfoHashV2))
	if n1 == 0 || n2 == 0 {
		t.Errorf("%d peers in the v1 swarm, %d in the v2 swarm; want some in each", n1, n2)
	}
}

// BenchmarkStart measures starting the demo's swarm: 300 DHT nodes
// bootstrapped by lookups, 48 peers, 24 of them announced on the DHT.
func BenchmarkStart(b *testing.B) {
	var announce time.Duration
	for b.Loop() {
		sw, err := Start(context.Background(), Config{Nodes: 300, Peers: 48})
		if err != nil {
			b.Fatal(err)
		}
		announce += sw.AnnounceDuration
		sw.Close()
	}
	b.ReportMetric(float64(announce.Microseconds())/1000/float64(b.N), "ms-announce")
}
