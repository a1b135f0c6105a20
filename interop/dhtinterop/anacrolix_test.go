package dhtinterop

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	anadht "github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/int160"
	"github.com/anacrolix/dht/v2/krpc"
	peer_store "github.com/anacrolix/dht/v2/peer-store"
	analog "github.com/anacrolix/log"
	"golang.org/x/time/rate"
)

// peerStore is a correct anacrolix peer_store.Interface: it keys stored peers
// by IP and port. anacrolix's own peer_store.InMemory (v2.23.0) keys them by
// IP alone and decodes that key back as IP+port, so a server using it answers
// get_peers with 4-byte "values" (INTEROP.md); interop tests need the
// announced peers back intact.
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

// GetPeers returns the peers stored for ih, IPv4 addresses as 4 bytes so
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

// has reports whether peer is stored for ih.
func (ps *peerStore) has(ih [20]byte, peer netip.AddrPort) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	_, ok := ps.peers[ih][peer]
	return ok
}

// anaNode is one anacrolix/dht server of a test network.
type anaNode struct {
	srv   *anadht.Server
	addr  netip.AddrPort
	store *peerStore
}

// quietLogger drops anacrolix's log output: a library under test must not
// write into the test's output (its few global log.Printf calls still do,
// and those — "received bad krpc message" — are worth seeing).
func quietLogger() analog.Logger {
	l := analog.NewLogger("anacrolix-dht")
	l.SetHandlers(analog.DiscardHandler)
	return l
}

// startAnacrolix starts an anacrolix/dht server on ip:0 whose starting nodes
// are whatever seeds returns when it bootstraps. The server is closed in
// tb.Cleanup.
func startAnacrolix(tb testing.TB, ip netip.Addr, seeds func() []netip.AddrPort) *anaNode {
	tb.Helper()
	return startAnacrolixConn(tb, listenLoopback(tb, ip), seeds)
}

// startAnacrolixConn is startAnacrolix on a given socket, which the server
// owns from then on.
func startAnacrolixConn(tb testing.TB, conn net.PacketConn, seeds func() []netip.AddrPort) *anaNode {
	tb.Helper()
	ps := &peerStore{}
	n := startAnacrolixStore(tb, conn, seeds, ps)
	n.store = ps
	return n
}

// startAnacrolixStore is startAnacrolixConn with the given peer store; the
// node's store field stays nil.
func startAnacrolixStore(tb testing.TB, conn net.PacketConn, seeds func() []netip.AddrPort, ps peer_store.Interface) *anaNode {
	tb.Helper()
	n := &anaNode{addr: netip.MustParseAddrPort(conn.LocalAddr().String())}
	cfg := &anadht.ServerConfig{
		Conn: conn,
		// 127.x addresses cannot carry BEP 42 ids (INTEROP.md).
		NoSecurity: true,
		StartingNodes: func() ([]anadht.Addr, error) {
			var out []anadht.Addr
			for _, s := range seeds() {
				if s != n.addr {
					out = append(out, anadht.NewAddr(net.UDPAddrFromAddrPort(s)))
				}
			}
			if len(out) == 0 {
				return nil, fmt.Errorf("no seeds")
			}
			return out, nil
		},
		PeerStore: ps,
		Logger:    quietLogger(),
		// The default limiter (25 queries/s) is one global shared by every
		// server in the process; a network of servers in one test process
		// needs one each, and loopback needs no limit.
		SendLimiter: rate.NewLimiter(rate.Inf, 0),
		// Replies on loopback take microseconds; a shorter resend delay
		// keeps lookups that hit a closed node short.
		QueryResendDelay: func() time.Duration { return 500 * time.Millisecond },
	}
	srv, err := anadht.NewServer(cfg)
	if err != nil {
		conn.Close()
		tb.Fatalf("anacrolix NewServer: %v", err)
	}
	n.srv = srv
	tb.Cleanup(srv.Close)
	return n
}

// bootstrap runs one anacrolix bootstrap traversal, bounded by ctx.
func (n *anaNode) bootstrap(ctx context.Context) error {
	_, err := n.srv.BootstrapContext(ctx)
	return err
}

// anaLookup is the outcome of one anacrolix get_peers traversal.
type anaLookup struct {
	peers     map[netip.AddrPort]bool
	from      map[netip.AddrPort]map[netip.AddrPort]bool // peer → nodes that returned it
	queried   int                                        // distinct addresses the traversal queried
	responses int
	firstPeer time.Duration // zero if none
	allPeers  time.Duration // when the last of want arrived; zero if not all
	elapsed   time.Duration
}

// lookup runs anacrolix's get_peers traversal for ih (announcing port if it is
// non-zero). It stops when the traversal ends, when every peer of want has
// arrived and stopEarly is set, or when ctx is done.
func (n *anaNode) lookup(ctx context.Context, ih [20]byte, port int, want []netip.AddrPort, stopEarly bool) (res anaLookup, err error) {
	res.peers = make(map[netip.AddrPort]bool)
	res.from = make(map[netip.AddrPort]map[netip.AddrPort]bool)
	start := time.Now()
	a, err := n.srv.Announce(ih, port, false)
	if err != nil {
		return res, fmt.Errorf("anacrolix announce on %v: %w", n.addr, err)
	}
	defer func() {
		st := a.TraversalStats()
		res.queried, res.responses = int(st.NumAddrsTried), int(st.NumResponses)
	}()
	missing := make(map[netip.AddrPort]bool, len(want))
	for _, w := range want {
		missing[w] = true
	}
	stopped := false
	var ctxErr error
	done := ctx.Done()
	for {
		select {
		case pv, ok := <-a.Peers:
			if !ok {
				res.elapsed = time.Since(start)
				return res, ctxErr
			}
			for _, p := range pv.Peers {
				ap := toAddrPort(p)
				if !ap.IsValid() || ap.Port() == 0 {
					continue
				}
				if res.from[ap] == nil {
					res.from[ap] = make(map[netip.AddrPort]bool)
				}
				res.from[ap][toAddrPort(pv.NodeInfo.Addr)] = true
				if res.peers[ap] {
					continue
				}
				res.peers[ap] = true
				if res.firstPeer == 0 {
					res.firstPeer = time.Since(start)
				}
				if missing[ap] {
					delete(missing, ap)
					if len(missing) == 0 && len(want) > 0 {
						res.allPeers = time.Since(start)
						if stopEarly && !stopped {
							stopped = true
							a.Close()
						}
					}
				}
			}
		case <-done:
			ctxErr, done = ctx.Err(), nil
			if !stopped {
				stopped = true
				// Close stops the traversal and any announce_peer still in
				// flight; Peers is then closed, which ends this loop.
				a.Close()
			}
		}
	}
}

// queryGetPeers sends one get_peers query (no traversal) to addr and returns
// the "values" of the reply.
func (n *anaNode) queryGetPeers(ctx context.Context, addr netip.AddrPort, ih [20]byte) ([]netip.AddrPort, error) {
	res := n.srv.GetPeers(ctx, anadht.NewAddr(net.UDPAddrFromAddrPort(addr)), int160.FromByteArray(ih), false, anadht.QueryRateLimiting{})
	if err := res.ToError(); err != nil {
		return nil, fmt.Errorf("anacrolix get_peers to %v: %w", addr, err)
	}
	if res.Reply.R == nil {
		return nil, fmt.Errorf("anacrolix get_peers to %v: reply without r", addr)
	}
	var out []netip.AddrPort
	for _, p := range res.Reply.R.Values {
		out = append(out, toAddrPort(p))
	}
	return out, nil
}

// announceTo announces ih with port to the single node at addr, as BEP 5
// describes it: get_peers for a token, then announce_peer with it. The node
// records this server's IP with port.
func (n *anaNode) announceTo(ctx context.Context, addr netip.AddrPort, ih [20]byte, port int) error {
	to := anadht.NewAddr(net.UDPAddrFromAddrPort(addr))
	gp := n.srv.GetPeers(ctx, to, int160.FromByteArray(ih), false, anadht.QueryRateLimiting{})
	if err := gp.ToError(); err != nil {
		return fmt.Errorf("get_peers to %v: %w", addr, err)
	}
	if gp.Reply.R == nil || gp.Reply.R.Token == nil {
		return fmt.Errorf("get_peers to %v: no token in reply", addr)
	}
	res := n.srv.Query(ctx, to, "announce_peer", anadht.QueryInput{MsgArgs: krpc.MsgArgs{
		InfoHash: ih,
		Port:     &port,
		Token:    *gp.Reply.R.Token,
	}})
	if err := res.ToError(); err != nil {
		return fmt.Errorf("announce_peer to %v: %w", addr, err)
	}
	return nil
}

// toAddrPort converts an anacrolix address; IPv4 comes out unmapped. The
// result is invalid if na is malformed.
func toAddrPort(na krpc.NodeAddr) netip.AddrPort {
	ip, ok := netip.AddrFromSlice(na.IP)
	if !ok || na.Port < 0 || na.Port > 65535 {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(na.Port))
}
