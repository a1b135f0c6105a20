package dhtinterop

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/interop/internal/thirdparty"
	"github.com/peerfind/peerfind/metainfo"
)

// ourNode is one peerfind dht.Node of a test network.
type ourNode struct {
	n    *dht.Node
	addr netip.AddrPort
}

// listenLoopback opens a UDP socket on ip with a kernel-chosen port, closed
// in tb.Cleanup.
func listenLoopback(tb testing.TB, ip netip.Addr) *net.UDPConn {
	tb.Helper()
	conn, err := thirdparty.ListenLoopback(ip)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}

// startOurs starts a peerfind node on conn (IPv4 or IPv6) that bootstraps
// from seeds and from no router; opts may adjust its Config. It is closed in
// tb.Cleanup.
func startOurs(tb testing.TB, conn net.PacketConn, seeds []netip.AddrPort, opts ...func(*dht.Config)) *ourNode {
	tb.Helper()
	self := netip.MustParseAddrPort(conn.LocalAddr().String())
	var bs []netip.AddrPort
	for _, s := range seeds {
		if s != self {
			bs = append(bs, s)
		}
	}
	cfg := dht.Config{
		BootstrapNodes:   bs,
		BootstrapRouters: []string{},
	}
	if self.Addr().Is4() {
		cfg.Conn4 = conn
	} else {
		cfg.Conn6 = conn
	}
	for _, o := range opts {
		o(&cfg)
	}
	n, err := dht.New(cfg)
	if err != nil {
		conn.Close()
		tb.Fatalf("dht.New: %v", err)
	}
	tb.Cleanup(func() { n.Close() })
	return &ourNode{n: n, addr: self}
}

func (o *ourNode) bootstrap(ctx context.Context) error {
	_, err := o.n.Bootstrap(ctx)
	return err
}

// ourLookup is the outcome of one GetPeers of ours.
type ourLookup struct {
	stats     dht.LookupStats
	peers     map[netip.AddrPort]bool
	from      map[netip.AddrPort]map[netip.AddrPort]bool // peer → nodes that returned it
	allPeers  time.Duration                              // when the last of want arrived; zero if not all
	firstPeer time.Duration                              // when the first peer arrived; zero if none
}

// getPeers runs our GetPeers for ih, recording which node returned which
// peer, and when the last peer of want arrived.
func (o *ourNode) getPeers(ctx context.Context, ih [20]byte, want []netip.AddrPort) (ourLookup, error) {
	res := ourLookup{peers: make(map[netip.AddrPort]bool), from: make(map[netip.AddrPort]map[netip.AddrPort]bool)}
	missing := make(map[netip.AddrPort]bool, len(want))
	for _, w := range want {
		missing[w] = true
	}
	var mu sync.Mutex
	start := time.Now()
	st, err := o.n.GetPeers(ctx, metainfo.Hash(ih), func(p dht.PeerFound) {
		mu.Lock()
		defer mu.Unlock()
		if len(res.peers) == 0 {
			res.firstPeer = time.Since(start)
		}
		res.peers[p.Peer] = true
		if res.from[p.Peer] == nil {
			res.from[p.Peer] = make(map[netip.AddrPort]bool)
		}
		res.from[p.Peer][p.From] = true
		if missing[p.Peer] {
			delete(missing, p.Peer)
			if len(missing) == 0 {
				res.allPeers = time.Since(start)
			}
		}
	})
	res.stats = st
	return res, err
}
