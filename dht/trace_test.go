package dht

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/peerfind/peerfind/metainfo"
)

// TestTrace: Config.Trace sees every query of a lookup end, with the
// reply's counts or the timeout.
func TestTrace(t *testing.T) {
	nodes := buildNetwork(t, 20, 31)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ih := metainfo.Hash{0x7a, 0xce}
	if _, err := nodes[3].Announce(ctx, ih, 4444, false); err != nil {
		t.Fatal(err)
	}
	dead, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := netip.MustParseAddrPort(dead.LocalAddr().String())
	dead.Close()

	var mu sync.Mutex
	var traces []QueryTrace
	cfg := testConfig(32)
	cfg.BootstrapNodes = []netip.AddrPort{nodeAddr(t, nodes[0]), deadAddr}
	cfg.Trace = func(q QueryTrace) {
		mu.Lock()
		traces = append(traces, q)
		mu.Unlock()
	}
	n := newTestNode(t, "127.0.9.10", cfg)
	st, err := n.GetPeers(ctx, ih, func(PeerFound) {})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	replies, peers, timedOut := 0, 0, false
	for _, q := range traces {
		switch {
		case q.Err == nil:
			replies++
			peers += q.Peers
		case q.Addr == deadAddr && (errors.Is(q.Err, ErrTimeout) || errors.Is(q.Err, context.Canceled)):
			timedOut = true // or still unanswered when the lookup ended
		}
	}
	if replies == 0 || peers == 0 || !timedOut {
		t.Errorf("%d traces: %d replies with %d peers, dead node timed out %v (stats %+v)", len(traces), replies, peers, timedOut, st)
	}
}
