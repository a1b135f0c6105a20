package e2e

// A network of anacrolix/dht v2 servers on loopback: the DHT side of the
// third-party swarm.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	anadht "github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/krpc"
	peer_store "github.com/anacrolix/dht/v2/peer-store"
	analog "github.com/anacrolix/log"
	"golang.org/x/time/rate"
)

// peerStore is a correct anacrolix peer_store.Interface, keyed by IP and
// port. anacrolix's own peer_store.InMemory (v2.23.0) keys peers by IP alone
// and answers get_peers with 4-byte "values" (INTEROP.md), which would make
// the announced peers unfindable by anyone.
type peerStore struct {
	mu    sync.Mutex
	peers map[[20]byte]map[netip.AddrPort]struct{}
}

var _ peer_store.Interface = (*peerStore)(nil)

// AddPeer records that na announced itself for ih.
func (ps *peerStore) AddPeer(ih peer_store.InfoHash, na krpc.NodeAddr) {
	ip, ok := netip.AddrFromSlice(na.IP)
	if !ok || na.Port <= 0 || na.Port > 65535 {
		return
	}
	ap := netip.AddrPortFrom(ip.Unmap(), uint16(na.Port))
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.peers == nil {
		ps.peers = make(map[[20]byte]map[netip.AddrPort]struct{})
	}
	m := ps.peers[ih]
	if m == nil {
		m = make(map[netip.AddrPort]struct{})
		ps.peers[ih] = m
	}
	m[ap] = struct{}{}
}

// GetPeers returns the peers stored for ih; IPv4 addresses as 4 bytes, so
// that they encode as 6-byte compact values (BEP 5).
func (ps *peerStore) GetPeers(ih peer_store.InfoHash) []krpc.NodeAddr {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var out []krpc.NodeAddr
	for ap := range ps.peers[ih] {
		out = append(out, krpc.NodeAddr{IP: ap.Addr().AsSlice(), Port: int(ap.Port())})
	}
	return out
}

// list returns the peers stored for ih.
func (ps *peerStore) list(ih [20]byte) []netip.AddrPort {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var out []netip.AddrPort
	for ap := range ps.peers[ih] {
		out = append(out, ap)
	}
	return out
}

// anaNode is one anacrolix/dht server.
type anaNode struct {
	srv   *anadht.Server
	addr  netip.AddrPort
	store *peerStore
}

// anaNet is a network of anacrolix servers.
type anaNet struct {
	nodes []*anaNode
}

// addrs returns every server's address.
func (an *anaNet) addrs() []netip.AddrPort {
	out := make([]netip.AddrPort, len(an.nodes))
	for i, n := range an.nodes {
		out[i] = n.addr
	}
	return out
}

// stored returns, for each peer any server stores for ih, the servers that
// store it: the DHT's half of the ground truth.
func (an *anaNet) stored(ih [20]byte) map[netip.AddrPort][]netip.AddrPort {
	out := make(map[netip.AddrPort][]netip.AddrPort)
	for _, n := range an.nodes {
		for _, p := range n.store.list(ih) {
			out[p] = append(out[p], n.addr)
		}
	}
	return out
}

// quietLogger drops anacrolix's log output, which would otherwise land in
// the test's output.
func quietLogger() analog.Logger {
	l := analog.NewLogger("anacrolix-dht")
	l.SetHandlers(analog.DiscardHandler)
	return l
}

// startAnaNet starts n anacrolix servers, the i-th on ip(i), port chosen by
// the kernel, each bootstrapping off the first three, and waits until every
// one has bootstrapped. The servers are closed in t.Cleanup.
func startAnaNet(ctx context.Context, t testing.TB, n int, ip func(int) netip.Addr) *anaNet {
	t.Helper()
	an := &anaNet{}
	var seedsMu sync.Mutex
	var seeds []netip.AddrPort
	for i := range n {
		network := "udp4"
		if ip(i).Is6() {
			network = "udp6"
		}
		conn, err := net.ListenPacket(network, netip.AddrPortFrom(ip(i), 0).String())
		if err != nil {
			t.Fatalf("anacrolix node %d: %v", i, err)
		}
		nd := &anaNode{addr: netip.MustParseAddrPort(conn.LocalAddr().String()), store: &peerStore{}}
		srv, err := anadht.NewServer(&anadht.ServerConfig{
			Conn: conn,
			// 127.x addresses cannot carry BEP 42 ids (INTEROP.md).
			NoSecurity: true,
			StartingNodes: func() ([]anadht.Addr, error) {
				seedsMu.Lock()
				defer seedsMu.Unlock()
				var out []anadht.Addr
				for _, s := range seeds {
					if s != nd.addr {
						out = append(out, anadht.NewAddr(net.UDPAddrFromAddrPort(s)))
					}
				}
				if len(out) == 0 {
					return nil, fmt.Errorf("no seeds")
				}
				return out, nil
			},
			PeerStore: nd.store,
			Logger:    quietLogger(),
			// The default limiter is one global shared by every server in
			// the process; loopback needs none.
			SendLimiter:      rate.NewLimiter(rate.Inf, 0),
			QueryResendDelay: func() time.Duration { return 500 * time.Millisecond },
		})
		if err != nil {
			conn.Close()
			t.Fatalf("anacrolix NewServer: %v", err)
		}
		nd.srv = srv
		t.Cleanup(srv.Close)
		an.nodes = append(an.nodes, nd)
		if i < 3 {
			seedsMu.Lock()
			seeds = append(seeds, nd.addr)
			seedsMu.Unlock()
		}
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8) // 2 shared cores: not all at once
	for i, nd := range an.nodes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, errs[i] = nd.srv.BootstrapContext(ctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("anacrolix node %d (%v) bootstrap: %v", i, an.nodes[i].addr, err)
		}
	}
	return an
}

// announce runs anacrolix's own announce for ih with port from nd: a
// get_peers traversal, then announce_peer to the closest nodes that gave a
// token. The nodes record nd's IP with port. It returns when the traversal
// has ended.
func (nd *anaNode) announce(ctx context.Context, ih [20]byte, port int) error {
	a, err := nd.srv.AnnounceTraversal(ih, anadht.AnnouncePeer(anadht.AnnouncePeerOpts{Port: port}))
	if err != nil {
		return fmt.Errorf("anacrolix announce from %v: %w", nd.addr, err)
	}
	defer a.Close()
	for {
		select {
		case _, ok := <-a.Peers:
			if !ok {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("anacrolix announce from %v: %w", nd.addr, ctx.Err())
		}
	}
}

// ranks returns, for each server, its rank by XOR distance to ih among all
// the servers (0 = closest), to tell in a failure whether a peer was stored
// on the nodes a lookup is meant to reach (BEP 5: the K = 8 closest).
func (an *anaNet) ranks(ih [20]byte) map[netip.AddrPort]int {
	type nd struct {
		addr netip.AddrPort
		dist [20]byte
	}
	all := make([]nd, len(an.nodes))
	for i, n := range an.nodes {
		id := n.srv.ID()
		all[i].addr = n.addr
		for j := range 20 {
			all[i].dist[j] = id[j] ^ ih[j]
		}
	}
	slices.SortFunc(all, func(a, b nd) int { return bytes.Compare(a.dist[:], b.dist[:]) })
	out := make(map[netip.AddrPort]int, len(all))
	for i, n := range all {
		out[n.addr] = i
	}
	return out
}
