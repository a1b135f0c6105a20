package dht

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/peerfind/peerfind/internal/compact"
)

// Errors callers can branch on.
var (
	// ErrClosed is returned by calls on a closed Node.
	ErrClosed = errors.New("dht: node closed")
	// ErrNoNodes means a lookup or bootstrap had no node to start from or
	// ended with none: the node is stuck until it is given nodes.
	ErrNoNodes = errors.New("dht: no nodes")
	// ErrTimeout is wrapped by a query that reached its hard timeout.
	ErrTimeout = errors.New("dht: query timed out")
	// ErrNoSocket means no socket of the address family of the destination.
	ErrNoSocket = errors.New("dht: no socket for address family")
)

// QueryError reports a failed query to one node.
type QueryError struct {
	Addr   netip.AddrPort
	Method string
	Err    error // ErrTimeout, *Error (KRPC error reply), a socket error, or ctx.Err()
}

// Error returns "dht: METHOD to ADDR: cause".
func (e *QueryError) Error() string {
	return fmt.Sprintf("dht: %s to %s: %v", e.Method, e.Addr, e.Err)
}

// Unwrap returns the cause.
func (e *QueryError) Unwrap() error { return e.Err }

// BEP42Mode says how node ids that do not match their IP (BEP 42) are
// treated. Addresses that cannot be checked (loopback, private) are never
// penalised.
type BEP42Mode int

const (
	// BEP42Prefer keeps nodes with non-conforming ids but prefers verified
	// ones when a bucket is full. It is the default: most of the DHT does not
	// conform yet.
	BEP42Prefer BEP42Mode = iota
	// BEP42Off ignores BEP 42 when choosing nodes.
	BEP42Off
	// BEP42Enforce refuses nodes whose id does not match their public IP,
	// both in the table and in lookups.
	BEP42Enforce
)

// Resolver resolves router host names. *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Config configures a Node. Every zero field means the documented default,
// so Config{Conn4: c} is a working node.
type Config struct {
	// Conn4 and Conn6 are the IPv4 and IPv6 sockets; at least one is
	// required. The Node owns them from New on and closes them in Close.
	Conn4, Conn6 net.PacketConn
	// ID is our node id. If zero, State's id is used, else a random one,
	// replaced during Bootstrap by a BEP 42-conforming id once our public IP
	// is known.
	ID ID
	// State is a saved state to start warm from. If nil, the node starts
	// cold.
	State *State
	// BootstrapNodes are tried after the saved nodes and before the routers:
	// a torrent's "nodes" and user-given nodes. A lookup on an empty table
	// starts from the same seeds, so Bootstrap is optional.
	BootstrapNodes []netip.AddrPort
	// BootstrapRouters are host:port routers, tried last. If nil,
	// DefaultRouters; if non-nil and empty, none.
	BootstrapRouters []string
	// Resolver resolves router names. If nil, net.DefaultResolver.
	Resolver Resolver
	// ReadOnly makes this a BEP 43 read-only node: queries carry "ro": 1 and
	// incoming queries are not answered. Off by default for a library, but a
	// command-line run of a few seconds should set it: its address is gone a
	// moment later, and other nodes would otherwise keep it in their tables
	// and ping it in vain.
	ReadOnly bool
	// BEP42 chooses how non-conforming node ids are treated. Zero is
	// BEP42Prefer.
	BEP42 BEP42Mode
	// Alpha is the number of concurrent queries per lookup. If zero, 4:
	// on a 200-node test network with ~20 ms round trips and a tenth of
	// the nodes dead, 4 reached the first peer ~20% and convergence ~25%
	// sooner than Kademlia's 3 for about the same number of queries; 6
	// gained little more and sent more queries (BenchmarkLookupRTT).
	Alpha int
	// QueryTimeout is the hard timeout of one query, after which the node
	// counts as failed. If zero, 2 s.
	QueryTimeout time.Duration
	// SoftTimeoutMin and SoftTimeoutMax clamp the soft timeout (twice the
	// smoothed round-trip time) after which a query stops counting against
	// Alpha. If zero, 50 ms and 1 s.
	SoftTimeoutMin, SoftTimeoutMax time.Duration
	// QueryRate caps outgoing queries per second for the whole node; queries
	// wait for their turn. If zero, 200; negative means unlimited.
	QueryRate float64
	// PerIPRate caps packets per second to one destination IP; a query over
	// the cap waits. If zero, 4/s with a burst of 8: libtorrent blocks an IP
	// for 5 minutes when it averages more than 5 packets/s over 10 s.
	// Negative means unlimited.
	PerIPRate float64
	// ReplyRate caps replies per second to one source IP; queries over it
	// are dropped. If zero, 20/s; negative means unlimited.
	ReplyRate float64
	// MaxPending bounds queries in flight; more wait. If zero, 1024.
	MaxPending int
	// PeerTTL, MaxPeersPerHash, MaxStoredHashes and MaxStoredPeers bound
	// the store of announced peers. If zero: 30 min, 500, 5000, 50000.
	PeerTTL                                          time.Duration
	MaxPeersPerHash, MaxStoredHashes, MaxStoredPeers int
	// Table configures the routing tables (per-IP and per-subnet limits,
	// failures before a node is bad). Loopback tests need MaxPerIP and
	// MaxPerSubnet -1. The Node sets its Now, PreferVerified and
	// RequireVerified (from BEP42), and Rand if nil.
	Table TableConfig
	// Version is the "v" key of our messages (BEP 5: 2-byte client id plus
	// 2-byte version). If empty, "PF" 0 1.
	Version string
	// Now is the clock of token rotation, peer expiry, routing-table ages
	// and lookup statistics. If nil, time.Now. Timeouts use timers, which
	// testing/synctest controls.
	Now func() time.Time
	// Rand is the source of ids, transaction ids and token secrets. If
	// nil, crypto/rand.
	Rand io.Reader
}

func (c *Config) now() func() time.Time {
	if c.Now != nil {
		return c.Now
	}
	return time.Now
}

func (c *Config) rand() io.Reader {
	if c.Rand != nil {
		return c.Rand
	}
	return rand.Reader
}

func orDuration(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

// defaultAlpha is the lookup concurrency when Config.Alpha is zero.
const defaultAlpha = 4

// sock is one socket and the family it serves.
type sock struct {
	conn net.PacketConn
	v4   bool
}

// pendingKey identifies an outstanding query: BEP 5 transaction ids are
// only unique per remote node, so the address is part of the key.
type pendingKey struct {
	addr netip.AddrPort
	tid  string
}

type call struct {
	done chan struct{} // closed once msg or err is set
	msg  *Msg
	err  error
}

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
	tables [2]atomic.Pointer[Table]
	tokens *tokens
	store  *store

	pacer    *pacer
	perIP    *RateLimiter
	replyLim *RateLimiter
	slots    chan struct{} // MaxPending semaphore

	idMu sync.Mutex
	id   ID
	// idFixed is set when the id came from Config or State: it is never
	// replaced by a BEP 42 one.
	idFixed bool

	pendMu  sync.Mutex
	pending map[pendingKey]*call
	tidNext uint16

	rttMu sync.Mutex
	srtt  time.Duration // smoothed RTT, 0 until the first sample

	ipMu   sync.Mutex
	ipVote map[netip.Addr]int // external IPs reported in "ip" keys (BEP 42)

	routerMu        sync.Mutex
	routerAddrs     []netip.AddrPort // resolved BootstrapRouters
	routersResolved bool

	verMu    sync.Mutex
	verified map[netip.AddrPort]time.Time // addresses that answered our queries

	packetsIn, packetsOut, dropped, queriesIn atomic.Uint64

	closeOnce sync.Once
	// goMu makes starting a goroutine of the node and closing it exclusive,
	// so wg.Add never races with Close's wg.Wait.
	goMu    sync.Mutex
	closed  bool
	closing <-chan struct{} // life.Done()
	life    context.Context // cancelled by Close
	endLife context.CancelFunc
	wg      sync.WaitGroup
}

// New starts a node on the sockets of cfg. It does not contact anybody:
// call Bootstrap (or AddNode) next.
func New(cfg Config) (*Node, error) {
	if cfg.Conn4 == nil && cfg.Conn6 == nil {
		return nil, errors.New("dht: Config needs Conn4 or Conn6")
	}
	now := cfg.now()
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
		n.perIP = NewRateLimiter(r, max(int(2*r), 1), 4096, now)
	}
	if r := cfg.ReplyRate; r >= 0 {
		if r == 0 {
			r = 20
		}
		n.replyLim = NewRateLimiter(r, max(int(2*r), 1), 4096, now)
	}
	switch {
	case !cfg.ID.IsZero():
		n.id, n.idFixed = cfg.ID, true
	case cfg.State != nil && !cfg.State.ID.IsZero():
		n.id, n.idFixed = cfg.State.ID, true
	default:
		n.id = RandomID(cfg.rand())
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

func (n *Node) newTable(self ID) *Table {
	tc := n.cfg.Table
	tc.Now = n.now
	tc.PreferVerified = n.cfg.BEP42 != BEP42Off
	tc.RequireVerified = n.cfg.BEP42 == BEP42Enforce
	if tc.Rand == nil {
		tc.Rand = n.cfg.Rand
	}
	return NewTable(self, tc)
}

// Close stops the node: it closes the sockets, fails queries in flight
// with ErrClosed and waits for every goroutine of the node to end.
func (n *Node) Close() error {
	var err error
	n.closeOnce.Do(func() {
		n.goMu.Lock()
		n.closed = true
		n.goMu.Unlock()
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
	n.idMu.Lock()
	defer n.idMu.Unlock()
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
func (n *Node) table(addr netip.AddrPort) *Table {
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

// readLoop owns the reading side of one socket until it is closed.
func (n *Node) readLoop(s *sock) {
	defer n.wg.Done()
	buf := make([]byte, maxPacket)
	fails := 0
	for {
		nr, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			select {
			case <-n.closing:
				n.failAll()
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
				n.failAll()
				return
			}
			// Transient errors (ICMP port unreachable surfacing on some
			// systems) are skipped; a socket that keeps failing is backed
			// off so the loop never spins.
			fails++
			if fails > 10 {
				t := time.NewTimer(min(time.Duration(fails)*time.Millisecond, 100*time.Millisecond))
				select {
				case <-t.C:
				case <-n.closing:
					t.Stop()
				}
			}
			continue
		}
		fails = 0
		addr, ok := addrPortOf(from)
		if !ok || nr == 0 {
			continue
		}
		n.packetsIn.Add(1)
		n.handlePacket(s, addr, buf[:nr])
	}
}

func addrPortOf(a net.Addr) (netip.AddrPort, bool) {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	default:
		var err error
		if ap, err = netip.ParseAddrPort(a.String()); err != nil {
			return ap, false
		}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), ap.IsValid()
}

// failAll fails every pending query; called when a socket closes.
func (n *Node) failAll() {
	n.pendMu.Lock()
	defer n.pendMu.Unlock()
	for k, c := range n.pending {
		c.err = ErrClosed
		close(c.done)
		delete(n.pending, k)
	}
}

// handlePacket dispatches one datagram: queries to the server side, replies
// to the pending query they answer. It runs on the socket's reader
// goroutine and never blocks.
func (n *Node) handlePacket(s *sock, from netip.AddrPort, b []byte) {
	m, err := ParseMsg(b)
	if err != nil {
		n.dropped.Add(1)
		var me *MsgError
		// A query we cannot decode still deserves a 203 (BEP 5), but only
		// if it looks like a query, so garbage is not answered.
		if errors.As(err, &me) && me.T != "" && n.ro == 0 && (n.replyLim == nil || n.replyLim.Allow(from.Addr())) {
			if y, ok := peekString(b, "y"); ok && y == kindQuery {
				n.sendError(s, from, me.T, ErrCodeProtocol, me.Msg)
			}
		}
		return
	}
	if m.Y == kindQuery {
		n.handleQuery(s, from, m, len(b))
		return
	}
	n.pendMu.Lock()
	k := pendingKey{from, m.T}
	c := n.pending[k]
	if c != nil {
		delete(n.pending, k)
	}
	n.pendMu.Unlock()
	if c == nil {
		n.dropped.Add(1) // late, duplicate or unsolicited
		return
	}
	if m.Y == kindError {
		c.err = m.E
	} else {
		c.msg = m
	}
	close(c.done)
}

// send encodes and writes one message.
func (n *Node) send(s *sock, to netip.AddrPort, m *Msg) error {
	m.V = n.version
	b, err := AppendMsg(make([]byte, 0, 256), m)
	if err != nil {
		return err
	}
	return n.write(s, to, b)
}

func (n *Node) write(s *sock, to netip.AddrPort, b []byte) error {
	_, err := s.conn.WriteTo(b, net.UDPAddrFromAddrPort(to))
	if err == nil {
		n.packetsOut.Add(1)
	}
	return err
}

// newTID returns a fresh transaction id for addr; the caller holds pendMu.
func (n *Node) newTIDLocked(addr netip.AddrPort) string {
	for {
		n.tidNext++
		var b [2]byte
		binary.BigEndian.PutUint16(b[:], n.tidNext)
		t := string(b[:])
		if _, busy := n.pending[pendingKey{addr, t}]; !busy {
			return t
		}
	}
}

// query sends one query to addr and waits for its answer, until the hard
// timeout, ctx or Close. It waits for rate-limit and pending-table room
// first, so a query never fails just because many are in flight.
func (n *Node) query(ctx context.Context, addr netip.AddrPort, method string, a *Args) (*Msg, error) {
	qerr := func(err error) error { return &QueryError{Addr: addr, Method: method, Err: err} }
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	s := n.sockFor(addr)
	if s == nil {
		return nil, qerr(ErrNoSocket)
	}
	select {
	case n.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, qerr(ctx.Err())
	case <-n.closing:
		return nil, qerr(ErrClosed)
	}
	defer func() { <-n.slots }()
	if err := n.waitRate(ctx, addr.Addr()); err != nil {
		return nil, qerr(err)
	}
	a.ID = string(n.idBytes())
	m := &Msg{Y: kindQuery, Q: method, A: a, RO: n.ro}
	c := &call{done: make(chan struct{})}
	n.pendMu.Lock()
	m.T = n.newTIDLocked(addr)
	k := pendingKey{addr, m.T}
	n.pending[k] = c
	n.pendMu.Unlock()
	forget := func() {
		n.pendMu.Lock()
		if n.pending[k] == c {
			delete(n.pending, k)
		}
		n.pendMu.Unlock()
	}
	start := n.now()
	if err := n.send(s, addr, m); err != nil {
		forget()
		return nil, qerr(err)
	}
	timer := time.NewTimer(n.hard)
	defer timer.Stop()
	select {
	case <-c.done:
	case <-timer.C:
		forget()
		return nil, qerr(ErrTimeout)
	case <-ctx.Done():
		forget()
		return nil, qerr(ctx.Err())
	case <-n.closing:
		forget()
		return nil, qerr(ErrClosed)
	}
	if c.err != nil {
		return nil, qerr(c.err)
	}
	n.sampleRTT(n.now().Sub(start))
	n.markVerified(addr)
	return c.msg, nil
}

// waitRate waits until both the node-wide pacer and the per-IP limiter let
// a packet to ip go.
func (n *Node) waitRate(ctx context.Context, ip netip.Addr) error {
	if n.pacer != nil {
		if err := n.pacer.wait(ctx, n.closing); err != nil {
			return err
		}
	}
	if n.perIP == nil {
		return nil
	}
	for !n.perIP.Allow(ip) {
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-n.closing:
			t.Stop()
			return ErrClosed
		}
	}
	return nil
}

func (n *Node) idBytes() []byte {
	id := n.ID()
	return id[:]
}

// sampleRTT folds one round-trip time into the smoothed estimate (the
// RFC 6298 gain of 1/8).
func (n *Node) sampleRTT(d time.Duration) {
	n.rttMu.Lock()
	defer n.rttMu.Unlock()
	if n.srtt == 0 {
		n.srtt = d
	} else {
		n.srtt += (d - n.srtt) / 8
	}
}

// softTimeout is twice the smoothed RTT, clamped to [SoftTimeoutMin,
// SoftTimeoutMax]; before any sample, the maximum.
func (n *Node) softTimeout() time.Duration {
	n.rttMu.Lock()
	srtt := n.srtt
	n.rttMu.Unlock()
	if srtt == 0 {
		return n.softMax
	}
	return min(max(2*srtt, n.softMin), n.softMax)
}

// maxVerified bounds the set of addresses known to answer.
const maxVerified = 8192

// markVerified records that addr answered one of our queries: it is a real
// address, not a spoofed one, so replies to it may be full size.
func (n *Node) markVerified(addr netip.AddrPort) {
	n.verMu.Lock()
	defer n.verMu.Unlock()
	if len(n.verified) >= maxVerified {
		for k := range n.verified { // drop an arbitrary entry
			delete(n.verified, k)
			break
		}
	}
	n.verified[addr] = n.now()
}

func (n *Node) isVerified(addr netip.AddrPort) bool {
	n.verMu.Lock()
	defer n.verMu.Unlock()
	_, ok := n.verified[addr]
	return ok
}

// voteIP records our external address as reported by a reply's "ip" key
// (BEP 42); the table of votes is bounded.
func (n *Node) voteIP(ip netip.Addr) {
	if !ip.IsValid() {
		return
	}
	n.ipMu.Lock()
	defer n.ipMu.Unlock()
	if _, ok := n.ipVote[ip]; !ok && len(n.ipVote) >= 64 {
		return
	}
	n.ipVote[ip]++
}

// ExternalIPs returns the external addresses nodes reported to us (BEP 42
// "ip" key), the most reported of each family, or invalid addresses.
func (n *Node) ExternalIPs() (v4, v6 netip.Addr) {
	n.ipMu.Lock()
	defer n.ipMu.Unlock()
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

// pacer is a token bucket that makes callers wait rather than fail: a
// lookup's queries are delayed, never dropped, by the node-wide rate.
type pacer struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newPacer(rate float64, burst int) *pacer {
	return &pacer{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

func (p *pacer) wait(ctx context.Context, closing <-chan struct{}) error {
	p.mu.Lock()
	now := time.Now()
	if !p.last.IsZero() {
		p.tokens = min(p.burst, p.tokens+now.Sub(p.last).Seconds()*p.rate)
	}
	p.last = now
	p.tokens--
	var d time.Duration
	if p.tokens < 0 {
		d = time.Duration(-p.tokens / p.rate * float64(time.Second))
	}
	p.mu.Unlock()
	if d == 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-closing:
		return ErrClosed
	}
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
	s.ExternalIP4, s.ExternalIP6 = n.ExternalIPs()
	n.rttMu.Lock()
	s.SmoothedRTT = n.srtt
	n.rttMu.Unlock()
	s.SoftTimeout = n.softTimeout()
	s.ReadOnly = n.ro != 0
	s.ID = n.ID()
	s.LocalAddrs = n.LocalAddrs()
	n.verMu.Lock()
	s.VerifiedAddrSeen = len(n.verified)
	n.verMu.Unlock()
	return s
}

// Ping sends a ping to addr and returns the id it answers with. A node that
// answers is added to the routing table.
func (n *Node) Ping(ctx context.Context, addr netip.AddrPort) (ID, error) {
	m, err := n.query(ctx, addr, methodPing, &Args{})
	if err != nil {
		n.noteFailure(addr, err)
		return ID{}, err
	}
	r := decodeReply(m)
	n.noteReply(addr, r.ID, r.IP)
	return r.ID, nil
}

// AddNode pings addr in the background and adds it to the routing table if
// it answers. It returns at once; the ping ends with Close at the latest.
func (n *Node) AddNode(addr netip.AddrPort) {
	n.spawn(func() {
		ctx, cancel := n.closingContext(context.Background())
		defer cancel()
		n.Ping(ctx, addr)
	})
}

// spawn runs f on a goroutine that Close waits for, unless the node is
// closed already.
func (n *Node) spawn(f func()) bool {
	n.goMu.Lock()
	defer n.goMu.Unlock()
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
	if !n.acceptID(id, addr.Addr()) {
		return
	}
	if t := n.table(addr); t != nil {
		t.Seen(NodeInfo{ID: id, Addr: addr, Verified: VerifyNodeID(id, addr.Addr())}, SeenReply)
	}
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
	return BEP42Exempt(ip) || VerifyNodeID(id, ip)
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
