package dht

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/peerfind/peerfind/dht/internal/krpc"
	"github.com/peerfind/peerfind/dht/internal/nodeid"
	"github.com/peerfind/peerfind/dht/internal/ratelimit"
	"github.com/peerfind/peerfind/dht/internal/routing"
	"github.com/peerfind/peerfind/internal/compact"
)

// Node is a Mainline DHT node. Its methods are safe for concurrent use.
type Node struct {
	cfg      Config
	now      func() time.Time
	ro       int64
	alpha    int
	hard     time.Duration
	softMin  time.Duration
	softMax  time.Duration
	version  string
	resolver Resolver

	socks []*sock
	// tables are the routing tables, [0] IPv4 and [1] IPv6, nil without
	// that family. They are replaced when a BEP 42 id is adopted.
	tables [2]atomic.Pointer[routing.Table]
	tokens *tokens
	store  *store

	pacer    *pacer
	perIP    *ratelimit.Limiter
	replyLim *ratelimit.Limiter
	slots    chan struct{} // MaxPending semaphore

	// mu guards the node's small shared state below, none of it held
	// across a call: our id, round trips, IP votes, routers, verified
	// addresses and contacts, and the closed flag. The pending queries
	// have their own lock (pendMu), taken on every packet.
	mu sync.Mutex
	id ID
	// idFixed is set when the id came from Config or State: it is never
	// replaced by a BEP 42 one.
	idFixed bool

	srtt time.Duration // smoothed RTT, 0 until the first sample
	// rtts are the last rttSamples round trips, a ring from rttNext.
	rtts    []time.Duration
	rttNext int
	// soft is the softQuantile of rtts (sorted in rttSorted, reused).
	soft      time.Duration
	tail      time.Duration // the tailQuantile of rtts
	rttSorted []time.Duration

	ipVote map[netip.Addr]int // external IPs reported in "ip" keys (BEP 42)

	routerAddrs     []netip.AddrPort // resolved BootstrapRouters
	routerResults   []RouterResult   // the last resolution, for errors
	routersResolved bool
	added           []netip.AddrPort // AddNode's nodes, starting nodes too

	verified map[netip.AddrPort]time.Time // addresses that answered our queries
	// contacts are the nodes that answered us most recently, newest last,
	// at most maxContacts: saved with the table (State) so that the next
	// run starts near any target, not only near our own id.
	contacts []NodeInfo

	// closed is set by Close under mu, so that spawn's wg.Add never races
	// with Close's wg.Wait.
	closed bool

	pendMu  sync.Mutex
	pending map[pendingKey]*call
	tidNext uint16

	packetsIn, packetsOut, dropped, queriesIn atomic.Uint64

	closeOnce sync.Once
	closing   <-chan struct{} // life.Done()
	life      context.Context // cancelled by Close
	endLife   context.CancelFunc
	wg        sync.WaitGroup
}

// New starts a node on the sockets of cfg. It does not contact anybody:
// call Bootstrap (or AddNode) next.
func New(cfg Config) (*Node, error) {
	if cfg.Conn4 == nil && cfg.Conn6 == nil {
		return nil, errors.New("dht: Config needs Conn4 or Conn6")
	}
	now := time.Now // tests control it with testing/synctest
	n := &Node{
		cfg:      cfg,
		now:      now,
		alpha:    cfg.Alpha,
		hard:     orDuration(cfg.QueryTimeout, 2*time.Second),
		softMin:  orDuration(cfg.SoftTimeoutMin, 50*time.Millisecond),
		softMax:  orDuration(cfg.SoftTimeoutMax, time.Second),
		version:  cfg.Version,
		resolver: cfg.Resolver,
		tokens:   newTokens(now, cfg.rand()),
		store:    newStore(cfg.PeerTTL, cfg.MaxPeersPerHash, cfg.MaxStoredHashes, cfg.MaxStoredPeers, now),
		pending:  make(map[pendingKey]*call),
		ipVote:   make(map[netip.Addr]int),
		verified: make(map[netip.AddrPort]time.Time),
	}
	n.life, n.endLife = context.WithCancel(context.Background())
	n.closing = n.life.Done()
	if n.alpha <= 0 {
		n.alpha = defaultAlpha
	}
	if n.version == "" {
		n.version = "PF\x00\x01"
	}
	if n.resolver == nil {
		n.resolver = net.DefaultResolver
	}
	if cfg.ReadOnly {
		n.ro = 1
	}
	maxPending := cfg.MaxPending
	if maxPending <= 0 {
		maxPending = 1024
	}
	n.slots = make(chan struct{}, maxPending)
	qr := cfg.QueryRate
	if qr == 0 {
		qr = 200
	}
	if qr > 0 {
		n.pacer = newPacer(qr, max(int(qr/10), 1))
	}
	if r := cfg.PerIPRate; r >= 0 {
		if r == 0 {
			r = 4
		}
		n.perIP = ratelimit.New(r, max(int(2*r), 1), 4096)
	}
	if r := cfg.ReplyRate; r >= 0 {
		if r == 0 {
			r = 20
		}
		n.replyLim = ratelimit.New(r, max(int(2*r), 1), 4096)
	}
	switch {
	case !cfg.ID.IsZero():
		n.id, n.idFixed = cfg.ID, true
	case cfg.State != nil && !cfg.State.ID.IsZero():
		n.id, n.idFixed = cfg.State.ID, true
	default:
		n.id = nodeid.Random(cfg.rand())
	}
	var b [2]byte
	io.ReadFull(cfg.rand(), b[:])
	n.tidNext = binary.BigEndian.Uint16(b[:])

	if cfg.Conn4 != nil {
		n.socks = append(n.socks, &sock{conn: cfg.Conn4, v4: true})
		n.tables[0].Store(n.newTable(n.id))
	}
	if cfg.Conn6 != nil {
		n.socks = append(n.socks, &sock{conn: cfg.Conn6})
		n.tables[1].Store(n.newTable(n.id))
	}
	for _, s := range n.socks {
		n.wg.Add(1)
		go n.readLoop(s)
	}
	n.wg.Add(1)
	go n.maintain()
	return n, nil
}

func (n *Node) newTable(self ID) *routing.Table {
	return routing.New(self, routing.Config{
		PreferVerified:  n.cfg.BEP42 != BEP42Off,
		RequireVerified: n.cfg.BEP42 == BEP42Enforce,
		Now:             n.now,
		Rand:            n.cfg.Rand,
	})
}

// Close stops the node: it closes the sockets, fails queries in flight
// with ErrClosed and waits for every goroutine of the node to end.
func (n *Node) Close() error {
	var err error
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		n.mu.Unlock()
		n.endLife()
		for _, s := range n.socks {
			if e := s.conn.Close(); e != nil && err == nil {
				err = e
			}
		}
		n.wg.Wait()
	})
	return err
}

// ID returns our node id.
func (n *Node) ID() ID {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.id
}

// LocalAddrs returns the local addresses of the node's sockets.
func (n *Node) LocalAddrs() []netip.AddrPort {
	var out []netip.AddrPort
	for _, s := range n.socks {
		if ap, err := netip.ParseAddrPort(s.conn.LocalAddr().String()); err == nil {
			out = append(out, ap)
		}
	}
	return out
}

// table returns the routing table of addr's family, or nil.
func (n *Node) table(addr netip.AddrPort) *routing.Table {
	if addr.Addr().Unmap().Is4() {
		return n.tables[0].Load()
	}
	return n.tables[1].Load()
}

func (n *Node) sockFor(addr netip.AddrPort) *sock {
	v4 := addr.Addr().Unmap().Is4()
	for _, s := range n.socks {
		if s.v4 == v4 {
			return s
		}
	}
	return nil
}

// maxVerified bounds the set of addresses known to answer.
const maxVerified = 8192

// markVerified records that addr answered one of our queries: it is a real
// address, not a spoofed one, so replies to it may be full size.
func (n *Node) markVerified(addr netip.AddrPort) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.verified) >= maxVerified {
		for k := range n.verified { // drop an arbitrary entry
			delete(n.verified, k)
			break
		}
	}
	n.verified[addr] = n.now()
}

func (n *Node) isVerified(addr netip.AddrPort) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.verified[addr]
	return ok
}

// voteIP records our external address as reported by a reply's "ip" key
// (BEP 42); the table of votes is bounded.
func (n *Node) voteIP(ip netip.Addr) {
	if !ip.IsValid() {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.ipVote[ip]; !ok && len(n.ipVote) >= 64 {
		return
	}
	n.ipVote[ip]++
}

// externalIPs returns the external addresses nodes reported to us (BEP 42
// "ip" key), the most reported of each family, or invalid addresses.
func (n *Node) externalIPs() (v4, v6 netip.Addr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var c4, c6 int
	for ip, c := range n.ipVote {
		if ip.Is4() && c > c4 {
			v4, c4 = ip, c
		} else if !ip.Is4() && c > c6 {
			v6, c6 = ip, c
		}
	}
	return v4, v6
}

// NodeStats is a snapshot of a node's counters.
type NodeStats struct {
	Good4, Good6     int    // good nodes in the IPv4 and IPv6 tables
	Table4, Table6   int    // all nodes in each table
	PacketsIn        uint64 // datagrams received
	PacketsOut       uint64 // datagrams sent
	Dropped          uint64 // undecodable, unsolicited or rate-limited datagrams
	QueriesIn        uint64 // queries received
	Pending          int    // queries in flight
	StoredPeers      int    // peers in the announce store
	StoredHashes     int    // info hashes in the announce store
	ExternalIP4      netip.Addr
	ExternalIP6      netip.Addr
	SmoothedRTT      time.Duration
	SoftTimeout      time.Duration
	ReadOnly         bool
	ID               ID
	LocalAddrs       []netip.AddrPort
	VerifiedAddrSeen int // addresses known to answer (amplification guard)
}

// Stats returns a snapshot of the node's counters.
func (n *Node) Stats() NodeStats {
	var s NodeStats
	if t := n.tables[0].Load(); t != nil {
		s.Good4, s.Table4 = len(t.Good()), t.Len()
	}
	if t := n.tables[1].Load(); t != nil {
		s.Good6, s.Table6 = len(t.Good()), t.Len()
	}
	s.PacketsIn, s.PacketsOut = n.packetsIn.Load(), n.packetsOut.Load()
	s.Dropped, s.QueriesIn = n.dropped.Load(), n.queriesIn.Load()
	n.pendMu.Lock()
	s.Pending = len(n.pending)
	n.pendMu.Unlock()
	s.StoredPeers, s.StoredHashes = n.store.len()
	s.ExternalIP4, s.ExternalIP6 = n.externalIPs()
	n.mu.Lock()
	s.SmoothedRTT = n.srtt
	n.mu.Unlock()
	s.SoftTimeout = n.softTimeout()
	s.ReadOnly = n.ro != 0
	s.ID = n.ID()
	s.LocalAddrs = n.LocalAddrs()
	n.mu.Lock()
	s.VerifiedAddrSeen = len(n.verified)
	n.mu.Unlock()
	return s
}

// Ping sends a ping to addr and returns the id it answers with. A node that
// answers is added to the routing table.
func (n *Node) Ping(ctx context.Context, addr netip.AddrPort) (ID, error) {
	m, err := n.query(ctx, addr, methodPing, &krpc.Args{})
	if err != nil {
		n.noteFailure(addr, err)
		return ID{}, err
	}
	r := krpc.DecodeReply(m)
	n.noteReply(addr, r.ID, r.IP)
	return r.ID, nil
}

// AddNode pings addr in the background and adds it to the routing table if
// it answers; until the table is full enough, lookups also start from it
// (a torrent's "nodes", BEP 5). It returns at once; the ping ends with
// Close at the latest.
func (n *Node) AddNode(addr netip.AddrPort) {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	n.mu.Lock()
	if len(n.added) < maxAddedSeeds && !slices.Contains(n.added, addr) {
		n.added = append(n.added, addr)
	}
	n.mu.Unlock()
	n.spawn(func() {
		ctx, cancel := n.closingContext(context.Background())
		defer cancel()
		n.Ping(ctx, addr)
	})
}

// spawn runs f on a goroutine that Close waits for, unless the node is
// closed already.
func (n *Node) spawn(f func()) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
	return true
}

// closingContext derives a context that is also cancelled by Close.
func (n *Node) closingContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	stop := context.AfterFunc(n.life, cancel)
	return ctx, func() { stop(); cancel() }
}

// noteReply updates the routing table and external-IP votes after addr
// answered one of our queries with id.
func (n *Node) noteReply(addr netip.AddrPort, id ID, ip netip.AddrPort) {
	if ip.IsValid() {
		n.voteIP(ip.Addr())
	}
	if !n.acceptID(id, addr.Addr()) || n.isRouter(addr) {
		return
	}
	if t := n.table(addr); t != nil {
		t.Seen(routing.NodeInfo{ID: id, Addr: addr}, routing.SeenReply)
		n.mu.Lock()
		n.contacts = append(n.contacts, NodeInfo{ID: id, Addr: addr})
		if len(n.contacts) >= 2*maxContacts {
			n.contacts = append(n.contacts[:0], n.contacts[len(n.contacts)-maxContacts:]...)
		}
		n.mu.Unlock()
	}
}

// maxContacts bounds the recent contacts kept for the saved state.
const maxContacts = 1024

// isRouter reports whether addr is one of the bootstrap routers resolved
// so far. Routers are used for their answers but never enter the table,
// however we meet them again (a later lookup or refresh may be pointed at a
// router by other nodes, or a router may query us): BEP 5 routers are not
// ordinary nodes, and a table slot spent on one is lost to a real node.
func (n *Node) isRouter(addr netip.AddrPort) bool {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Contains(n.routerAddrs, addr)
}

// noteFailure tells the table that addr did not answer in time.
func (n *Node) noteFailure(addr netip.AddrPort, err error) {
	if errors.Is(err, ErrTimeout) {
		if t := n.table(addr); t != nil {
			t.Failed(addr)
		}
	}
}

// acceptID applies the BEP 42 policy to a node id seen at ip.
func (n *Node) acceptID(id ID, ip netip.Addr) bool {
	if id == n.ID() {
		return false
	}
	if n.cfg.BEP42 != BEP42Enforce {
		return true
	}
	return nodeid.Exempt(ip) || nodeid.Verify(id, ip)
}

// closestCompact returns the routing table's compact nodes closest to target
// for the family of v4.
func (n *Node) closestCompact(target ID, v4 bool, count int) []compact.Node {
	t := n.tables[1].Load()
	if v4 {
		t = n.tables[0].Load()
	}
	if t == nil {
		return nil
	}
	var out []compact.Node
	for _, ni := range t.Closest(target, count) {
		out = append(out, compact.Node{ID: ni.ID, Addr: ni.Addr})
	}
	return out
}
