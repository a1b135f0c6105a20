package thirdparty

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	anadht "github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/int160"
	"github.com/anacrolix/dht/v2/krpc"
	peer_store "github.com/anacrolix/dht/v2/peer-store"
	analog "github.com/anacrolix/log"
	"golang.org/x/time/rate"
)

// PeerStore is a correct anacrolix peer_store.Interface: it keys stored peers
// by IP and port. anacrolix's own peer_store.InMemory (v2.23.0) keys them by
// IP alone and decodes that key back as IP+port, so a server using it answers
// get_peers with 4-byte "values" (docs/interop.md), which would make announced
// peers unfindable. The zero value is an empty store; it is safe for
// concurrent use.
type PeerStore struct {
	mu    sync.Mutex
	peers map[[20]byte]map[netip.AddrPort]struct{}
}

var _ peer_store.Interface = (*PeerStore)(nil)

// AddPeer records that na announced itself for ih.
func (ps *PeerStore) AddPeer(ih peer_store.InfoHash, na krpc.NodeAddr) {
	ap := ToAddrPort(na)
	if !ap.IsValid() || ap.Port() == 0 {
		return
	}
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

// Add records peer for ih, as if it had announced itself.
func (ps *PeerStore) Add(ih [20]byte, peer netip.AddrPort) {
	ps.AddPeer(ih, krpc.NodeAddr{IP: peer.Addr().AsSlice(), Port: int(peer.Port())})
}

// GetPeers returns the peers stored for ih, IPv4 addresses as 4 bytes so
// that they encode as 6-byte compact values (BEP 5).
func (ps *PeerStore) GetPeers(ih peer_store.InfoHash) []krpc.NodeAddr {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var out []krpc.NodeAddr
	for ap := range ps.peers[ih] {
		out = append(out, krpc.NodeAddr{IP: ap.Addr().AsSlice(), Port: int(ap.Port())})
	}
	return out
}

// Has reports whether peer is stored for ih.
func (ps *PeerStore) Has(ih [20]byte, peer netip.AddrPort) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	_, ok := ps.peers[ih][peer]
	return ok
}

// List returns the peers stored for ih, in no particular order.
func (ps *PeerStore) List(ih [20]byte) []netip.AddrPort {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var out []netip.AddrPort
	for ap := range ps.peers[ih] {
		out = append(out, ap)
	}
	return out
}

// Anacrolix is one running anacrolix/dht v2 server.
type Anacrolix struct {
	Server *anadht.Server
	Addr   netip.AddrPort // the server's socket address
	Store  *PeerStore     // nil if AnacrolixConfig.PeerStore was set
}

// AnacrolixConfig configures StartAnacrolix. The zero value starts a server
// with no starting nodes and a fresh PeerStore.
type AnacrolixConfig struct {
	// Seeds returns the starting nodes, called whenever the server
	// bootstraps; the server's own address is left out. If nil, or if it
	// returns no other address, bootstrapping fails with "no seeds".
	Seeds func() []netip.AddrPort
	// PeerStore stores announces. If nil, a new *PeerStore, also set as
	// Anacrolix.Store.
	PeerStore peer_store.Interface
	// ID is the server's node id. If zero, anacrolix picks a random one.
	ID [20]byte
}

// quietLogger drops anacrolix's log output: a library under test must not
// write into the caller's output (its few global log.Printf calls still do,
// and those — "received bad krpc message" — are worth seeing).
func quietLogger() analog.Logger {
	l := analog.NewLogger("anacrolix-dht")
	l.SetHandlers(analog.DiscardHandler)
	return l
}

// StartAnacrolix starts an anacrolix/dht server on conn, which it owns from
// then on (it is closed on error too). The caller must Close the server.
func StartAnacrolix(conn net.PacketConn, cfg AnacrolixConfig) (*Anacrolix, error) {
	addr, err := netip.ParseAddrPort(conn.LocalAddr().String())
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("anacrolix server on %v: %w", conn.LocalAddr(), err)
	}
	n := &Anacrolix{Addr: addr}
	ps := cfg.PeerStore
	if ps == nil {
		n.Store = &PeerStore{}
		ps = n.Store
	}
	seeds := cfg.Seeds
	srv, err := anadht.NewServer(&anadht.ServerConfig{
		Conn:   conn,
		NodeId: cfg.ID,
		// 127.x addresses cannot carry BEP 42 ids (docs/interop.md).
		NoSecurity: true,
		StartingNodes: func() ([]anadht.Addr, error) {
			var out []anadht.Addr
			if seeds != nil {
				for _, s := range seeds() {
					if s != addr {
						out = append(out, anadht.NewAddr(net.UDPAddrFromAddrPort(s)))
					}
				}
			}
			if len(out) == 0 {
				return nil, errors.New("no seeds")
			}
			return out, nil
		},
		PeerStore: ps,
		Logger:    quietLogger(),
		// The default limiter (25 queries/s) is one global shared by every
		// server in the process; a network of servers in one process needs
		// one each, and loopback needs no limit.
		SendLimiter: rate.NewLimiter(rate.Inf, 0),
		// Replies on loopback take microseconds; a shorter resend delay
		// keeps lookups that hit a closed node short.
		QueryResendDelay: func() time.Duration { return 500 * time.Millisecond },
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("anacrolix NewServer on %v: %w", addr, err)
	}
	n.Server = srv
	return n, nil
}

// Close stops the server and closes its socket.
func (n *Anacrolix) Close() { n.Server.Close() }

// ID returns the server's node id.
func (n *Anacrolix) ID() [20]byte { return n.Server.ID() }

// Bootstrap runs one anacrolix bootstrap traversal, bounded by ctx.
func (n *Anacrolix) Bootstrap(ctx context.Context) error {
	if _, err := n.Server.BootstrapContext(ctx); err != nil {
		return fmt.Errorf("anacrolix bootstrap of %v: %w", n.Addr, err)
	}
	return nil
}

// AnacrolixLookup is the outcome of one anacrolix get_peers traversal.
type AnacrolixLookup struct {
	Peers     map[netip.AddrPort]bool
	From      map[netip.AddrPort]map[netip.AddrPort]bool // peer → nodes that returned it
	Queried   int                                        // distinct addresses the traversal queried
	Responses int
	FirstPeer time.Duration // zero if none
	AllPeers  time.Duration // when the last of want arrived; zero if not all
	Elapsed   time.Duration
}

// Lookup runs anacrolix's get_peers traversal for ih (announcing port if it
// is non-zero). It stops when the traversal ends, when every peer of want
// has arrived and stopEarly is set, or when ctx is done (then the error is
// ctx's, with the results so far).
func (n *Anacrolix) Lookup(ctx context.Context, ih [20]byte, port int, want []netip.AddrPort, stopEarly bool) (res AnacrolixLookup, err error) {
	res.Peers = make(map[netip.AddrPort]bool)
	res.From = make(map[netip.AddrPort]map[netip.AddrPort]bool)
	start := time.Now()
	a, err := n.Server.Announce(ih, port, false)
	if err != nil {
		return res, fmt.Errorf("anacrolix announce on %v: %w", n.Addr, err)
	}
	defer func() {
		st := a.TraversalStats()
		res.Queried, res.Responses = int(st.NumAddrsTried), int(st.NumResponses)
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
				res.Elapsed = time.Since(start)
				return res, ctxErr
			}
			for _, p := range pv.Peers {
				ap := ToAddrPort(p)
				if !ap.IsValid() || ap.Port() == 0 {
					continue
				}
				if res.From[ap] == nil {
					res.From[ap] = make(map[netip.AddrPort]bool)
				}
				res.From[ap][ToAddrPort(pv.NodeInfo.Addr)] = true
				if res.Peers[ap] {
					continue
				}
				res.Peers[ap] = true
				if res.FirstPeer == 0 {
					res.FirstPeer = time.Since(start)
				}
				if missing[ap] {
					delete(missing, ap)
					if len(missing) == 0 && len(want) > 0 {
						res.AllPeers = time.Since(start)
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

// Announce runs anacrolix's own announce for ih with port: a get_peers
// traversal, then announce_peer to the closest nodes that gave a token. The
// nodes record this server's IP with port. It returns when the traversal
// has ended or ctx is done.
func (n *Anacrolix) Announce(ctx context.Context, ih [20]byte, port int) error {
	a, err := n.Server.AnnounceTraversal(ih, anadht.AnnouncePeer(anadht.AnnouncePeerOpts{Port: port}))
	if err != nil {
		return fmt.Errorf("anacrolix announce from %v: %w", n.Addr, err)
	}
	defer a.Close()
	for {
		select {
		case _, ok := <-a.Peers:
			if !ok {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("anacrolix announce from %v: %w", n.Addr, ctx.Err())
		}
	}
}

// QueryGetPeers sends one get_peers query (no traversal) to addr and
// returns the "values" of the reply.
func (n *Anacrolix) QueryGetPeers(ctx context.Context, addr netip.AddrPort, ih [20]byte) ([]netip.AddrPort, error) {
	res := n.Server.GetPeers(ctx, anadht.NewAddr(net.UDPAddrFromAddrPort(addr)), int160.FromByteArray(ih), false, anadht.QueryRateLimiting{})
	if err := res.ToError(); err != nil {
		return nil, fmt.Errorf("anacrolix get_peers to %v: %w", addr, err)
	}
	if res.Reply.R == nil {
		return nil, fmt.Errorf("anacrolix get_peers to %v: reply without r", addr)
	}
	var out []netip.AddrPort
	for _, p := range res.Reply.R.Values {
		out = append(out, ToAddrPort(p))
	}
	return out, nil
}

// AnnounceTo announces ih with port to the single node at addr, as BEP 5
// describes it: get_peers for a token, then announce_peer with it. The node
// records this server's IP with port.
func (n *Anacrolix) AnnounceTo(ctx context.Context, addr netip.AddrPort, ih [20]byte, port int) error {
	to := anadht.NewAddr(net.UDPAddrFromAddrPort(addr))
	gp := n.Server.GetPeers(ctx, to, int160.FromByteArray(ih), false, anadht.QueryRateLimiting{})
	if err := gp.ToError(); err != nil {
		return fmt.Errorf("get_peers to %v: %w", addr, err)
	}
	if gp.Reply.R == nil || gp.Reply.R.Token == nil {
		return fmt.Errorf("get_peers to %v: no token in reply", addr)
	}
	res := n.Server.Query(ctx, to, "announce_peer", anadht.QueryInput{MsgArgs: krpc.MsgArgs{
		InfoHash: ih,
		Port:     &port,
		Token:    *gp.Reply.R.Token,
	}})
	if err := res.ToError(); err != nil {
		return fmt.Errorf("announce_peer to %v: %w", addr, err)
	}
	return nil
}

// ToAddrPort converts an anacrolix address; IPv4 comes out unmapped. The
// result is invalid if na is malformed.
func ToAddrPort(na krpc.NodeAddr) netip.AddrPort {
	ip, ok := netip.AddrFromSlice(na.IP)
	if !ok || na.Port < 0 || na.Port > 65535 {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(na.Port))
}

// NetConfig configures StartAnacrolixNet. The zero value puts the servers
// on LoopbackIP(0), LoopbackIP(1), … and bootstraps 8 at a time.
type NetConfig struct {
	// IP returns the address of the i-th server (IPv4 or IPv6). If nil,
	// LoopbackIP.
	IP func(i int) netip.Addr
	// Seeds is the list the servers bootstrap off; the first three servers
	// are added to it. If nil, a list of the network's own.
	Seeds *SeedList
	// Parallel bounds the bootstraps in flight: 2 shared cores cannot take
	// them all at once. If zero, 8.
	Parallel int
}

// StartAnacrolixNet starts n anacrolix servers, each on a kernel-chosen
// port of cfg.IP(i), adds the first three to the seed list and bootstraps
// every server once off it. On error the servers started are closed;
// otherwise the caller must Close each one.
func StartAnacrolixNet(ctx context.Context, n int, cfg NetConfig) ([]*Anacrolix, error) {
	ip := cfg.IP
	if ip == nil {
		ip = LoopbackIP
	}
	seeds := cfg.Seeds
	if seeds == nil {
		seeds = &SeedList{}
	}
	par := cfg.Parallel
	if par <= 0 {
		par = 8
	}
	nodes := make([]*Anacrolix, 0, n)
	fail := func(err error) ([]*Anacrolix, error) {
		for _, nd := range nodes {
			nd.Close()
		}
		return nil, err
	}
	for i := range n {
		conn, err := ListenLoopback(ip(i))
		if err != nil {
			return fail(fmt.Errorf("anacrolix node %d: %w", i, err))
		}
		nd, err := StartAnacrolix(conn, AnacrolixConfig{Seeds: seeds.Get})
		if err != nil {
			return fail(fmt.Errorf("anacrolix node %d: %w", i, err))
		}
		nodes = append(nodes, nd)
		if i < 3 {
			seeds.Add(nd.Addr)
		}
	}
	fns := make([]func(context.Context) error, n)
	for i, nd := range nodes {
		fns[i] = nd.Bootstrap
	}
	for i, err := range RunAll(ctx, par, fns) {
		if err != nil {
			return fail(fmt.Errorf("anacrolix node %d: %w", i, err))
		}
	}
	return nodes, nil
}
