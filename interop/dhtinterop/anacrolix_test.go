package dhtinterop

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	anadht "github.com/anacrolix/dht/v2"
	peer_store "github.com/anacrolix/dht/v2/peer-store"
	"github.com/peerfind/peerfind/interop/internal/thirdparty"
)

// anaNode is one anacrolix/dht server of a test network: a
// thirdparty.Anacrolix under the short names the tests of this package use.
type anaNode struct {
	*thirdparty.Anacrolix
	srv   *anadht.Server
	addr  netip.AddrPort
	store *thirdparty.PeerStore // nil if started with a store of the test's own
}

// startAnacrolix starts an anacrolix/dht server on ip:0 whose starting nodes
// are whatever seeds returns when it bootstraps. The server is closed in
// tb.Cleanup.
func startAnacrolix(tb testing.TB, ip netip.Addr, seeds func() []netip.AddrPort) *anaNode {
	tb.Helper()
	return startAnacrolixConn(tb, listenLoopback(tb, ip), seeds)
}

// startAnacrolixConn is startAnacrolix on a given socket, which the server
// owns from then on; its store is a correct thirdparty.PeerStore.
func startAnacrolixConn(tb testing.TB, conn net.PacketConn, seeds func() []netip.AddrPort) *anaNode {
	tb.Helper()
	return startAnacrolixStore(tb, conn, seeds, nil)
}

// startAnacrolixStore is startAnacrolixConn with the given peer store (if
// not nil); the node's store field is then nil.
func startAnacrolixStore(tb testing.TB, conn net.PacketConn, seeds func() []netip.AddrPort, ps peer_store.Interface) *anaNode {
	tb.Helper()
	a, err := thirdparty.StartAnacrolix(conn, thirdparty.AnacrolixConfig{Seeds: seeds, PeerStore: ps})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(a.Close)
	return &anaNode{Anacrolix: a, srv: a.Server, addr: a.Addr, store: a.Store}
}

// bootstrap runs one anacrolix bootstrap traversal, bounded by ctx.
func (n *anaNode) bootstrap(ctx context.Context) error { return n.Bootstrap(ctx) }

// anaLookup is the outcome of one anacrolix get_peers traversal
// (thirdparty.AnacrolixLookup).
type anaLookup struct {
	peers     map[netip.AddrPort]bool
	from      map[netip.AddrPort]map[netip.AddrPort]bool // peer → nodes that returned it
	queried   int                                        // distinct addresses the traversal queried
	responses int
	firstPeer time.Duration // zero if none
	allPeers  time.Duration // when the last of want arrived; zero if not all
	elapsed   time.Duration
}

// lookup is thirdparty.Anacrolix.Lookup: anacrolix's get_peers traversal
// for ih, announcing port if it is non-zero.
func (n *anaNode) lookup(ctx context.Context, ih [20]byte, port int, want []netip.AddrPort, stopEarly bool) (anaLookup, error) {
	r, err := n.Lookup(ctx, ih, port, want, stopEarly)
	return anaLookup{peers: r.Peers, from: r.From, queried: r.Queried, responses: r.Responses,
		firstPeer: r.FirstPeer, allPeers: r.AllPeers, elapsed: r.Elapsed}, err
}

// queryGetPeers sends one get_peers query (no traversal) to addr and returns
// the "values" of the reply.
func (n *anaNode) queryGetPeers(ctx context.Context, addr netip.AddrPort, ih [20]byte) ([]netip.AddrPort, error) {
	return n.QueryGetPeers(ctx, addr, ih)
}

// announceTo announces ih with port to the single node at addr (get_peers
// for a token, then announce_peer).
func (n *anaNode) announceTo(ctx context.Context, addr netip.AddrPort, ih [20]byte, port int) error {
	return n.AnnounceTo(ctx, addr, ih, port)
}

// toAddrPort converts an anacrolix address (thirdparty.ToAddrPort).
var toAddrPort = thirdparty.ToAddrPort
