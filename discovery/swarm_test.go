package discovery_test

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/discovery"
	"github.com/peerfind/peerfind/swarmtest"
	"github.com/peerfind/peerfind/tracker"
)

// newDHT returns a read-only client node for searching sw, with no
// bootstrap node of its own: it starts from the torrent's "nodes".
func newDHT(tb testing.TB) *dht.Node {
	tb.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	nd, err := dht.New(dht.Config{
		Conn4: conn, ReadOnly: true, BootstrapRouters: []string{},
		QueryRate: -1,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return nd
}

func startSwarm(tb testing.TB, cfg swarmtest.Config) *swarmtest.Swarm {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sw, err := swarmtest.Start(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sw.Close() })
	return sw
}

func search(tb testing.TB, sw *swarmtest.Swarm, cfg discovery.Config, fn func(discovery.Event)) *discovery.Summary {
	tb.Helper()
	tc := &tracker.Client{}
	defer tc.Close()
	nd := newDHT(tb)
	defer nd.Close()
	cfg.Trackers = tc
	cfg.DHT = discovery.NewDHTSource(nd)
	sum, err := discovery.Find(context.Background(), discovery.TargetFromMetaInfo(sw.MetaInfo), &cfg, fn)
	if err != nil {
		tb.Fatal(err)
	}
	return sum
}

func TestFindLocalSwarm(t *testing.T) {
	sw := startSwarm(t, swarmtest.Config{Nodes: 64, Peers: 32})
	sum := search(t, sw, discovery.Config{}, nil)
	if sum.Reason != discovery.StopComplete {
		t.Errorf("Reason = %q, want complete (every source finished)", sum.Reason)
	}
	got := map[netip.AddrPort][]string{}
	for _, p := range sum.Peers {
		got[p.Addr] = p.Sources
	}
	for _, problem := range sw.Check(got, discovery.SourceDHT) {
		t.Error(problem)
	}
	for _, s := range sum.Sources {
		if s.Errors > 0 {
			t.Errorf("source %s: %v", s.Name, s.Err)
		}
	}
}

// BenchmarkFindLocalSwarm measures a whole search of a 300-node, 48-peer
// local swarm (fresh DHT client node, both trackers) until every source is
// finished; it reports the time to the first peer and to the last.
func BenchmarkFindLocalSwarm(b *testing.B) {
	sw := startSwarm(b, swarmtest.Config{Nodes: 300, Peers: 48})
	var first, last, total time.Duration
	for b.Loop() {
		var lastAt time.Duration
		sum := search(b, sw, discovery.Config{}, func(e discovery.Event) {
			if pe, ok := e.(*discovery.PeerEvent); ok && pe.New {
				lastAt = pe.At
			}
		})
		if len(sum.Peers) != len(sw.Peers) {
			b.Fatalf("found %d peers of %d", len(sum.Peers), len(sw.Peers))
		}
		first += sum.FirstPeer
		last += lastAt
		total += sum.Duration
	}
	b.ReportMetric(float64(first.Microseconds())/float64(b.N)/1000, "ms-first-peer")
	b.ReportMetric(float64(last.Microseconds())/float64(b.N)/1000, "ms-all-peers")
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms-complete")
}

func TestFindHybridSwarm(t *testing.T) {
	sw := startSwarm(t, swarmtest.Config{Nodes: 48, Peers: 24, Hybrid: true})
	sum := search(t, sw, discovery.Config{}, nil)
	if len(sum.Swarms) != 2 {
		t.Fatalf("searched swarms %v, want v1 and v2", sum.Swarms)
	}
	got := map[netip.AddrPort][]string{}
	for _, p := range sum.Peers {
		var hs []string
		for _, h := range p.Swarms {
			hs = append(hs, h.String())
		}
		slices.Sort(hs)
		got[p.Addr] = hs
	}
	for _, p := range sw.Peers {
		var want []string
		for _, h := range p.Swarms {
			want = append(want, h.String())
		}
		slices.Sort(want)
		if !slices.Equal(got[p.Addr], want) {
			t.Errorf("peer %v found in swarms %v, want %v", p.Addr, got[p.Addr], want)
		}
	}
	if len(sum.Peers) != len(sw.Peers) {
		t.Errorf("found %d peers, want %d", len(sum.Peers), len(sw.Peers))
	}
}
