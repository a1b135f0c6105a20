package dhtemu

import (
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Network is a running emulated DHT: one UDP socket and one reader
// goroutine per node. Its methods are safe for concurrent use.
type Network struct {
	w     *world
	conns []*net.UDPConn
	addrs []netip.AddrPort
	src   sources

	closed  atomic.Bool
	readers sync.WaitGroup
	timers  sync.WaitGroup // replies scheduled and not yet sent
}

// Target is an info hash of the network and the peers stored for it.
type Target struct {
	InfoHash [20]byte
	// Peers is every peer stored for the hash (the union over its
	// holders), sorted: what a complete search finds.
	Peers []netip.AddrPort
	// Holders are the addresses of the live nodes that store some of
	// Peers, closest to the hash first.
	Holders []netip.AddrPort
}

// Start builds the network cfg describes and opens its sockets. The caller
// must Close it.
func Start(cfg Config) (*Network, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	n := &Network{w: newWorld(cfg)}
	n.conns = make([]*net.UDPConn, cfg.Nodes)
	n.addrs = make([]netip.AddrPort, cfg.Nodes)
	for i := range n.conns {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(n.w.nodes[i].ip, 0)))
		if err != nil {
			for _, c := range n.conns[:i] {
				c.Close()
			}
			return nil, fmt.Errorf("dhtemu: node %d: %w", i, err)
		}
		n.conns[i] = c
		n.addrs[i] = c.LocalAddr().(*net.UDPAddr).AddrPort()
	}
	n.readers.Add(len(n.conns))
	for i := range n.conns {
		go n.serve(int32(i))
	}
	return n, nil
}

// Close closes every socket and waits for the readers and the replies
// already scheduled (sent to closed sockets, so dropped).
func (n *Network) Close() error {
	if n.closed.Swap(true) {
		return nil
	}
	var errs []error
	for _, c := range n.conns {
		errs = append(errs, c.Close())
	}
	n.readers.Wait()
	n.timers.Wait()
	return errors.Join(errs...)
}

// Bootstrap returns the address of the bootstrap node (node 0, always
// live).
func (n *Network) Bootstrap() netip.AddrPort { return n.addrs[0] }

// Len returns the number of nodes.
func (n *Network) Len() int { return len(n.addrs) }

// Targets returns the info hashes that have peers.
func (n *Network) Targets() []Target {
	out := make([]Target, len(n.w.targets))
	for i, tg := range n.w.targets {
		out[i] = Target{InfoHash: tg.hash, Peers: slices.Clone(tg.peers)}
		var hs []int32
		for h := range tg.held {
			hs = append(hs, h)
		}
		slices.SortFunc(hs, func(a, b int32) int { return n.w.cmpDist(&tg.hash, a, b) })
		for _, h := range hs {
			out[i].Holders = append(out[i].Holders, n.addrs[h])
		}
	}
	return out
}

// Ideal returns the ideal bound for target i (an index into Targets).
func (n *Network) Ideal(i int) Ideal { return n.w.ideal(i) }

// Counts returns what the network has seen from each source address so
// far.
func (n *Network) Counts() map[netip.AddrPort]Counts { return n.src.all() }

// NodeInfo describes one node, for tests and reports.
type NodeInfo struct {
	Addr netip.AddrPort
	ID   [20]byte
	RTT  time.Duration // base round trip
	Dead bool
}

// Node returns node i (0 is the bootstrap node).
func (n *Network) Node(i int) NodeInfo {
	p := &n.w.nodes[i]
	return NodeInfo{Addr: n.addrs[i], ID: p.id, RTT: p.rtt, Dead: p.dead}
}

// maxPacket bounds what a reader accepts; KRPC queries are far smaller.
const maxPacket = 2048

// serve is node x's socket reader: the only goroutine that reads x's
// socket, and the owner of x's per-source query counts.
func (n *Network) serve(x int32) {
	defer n.readers.Done()
	conn := n.conns[x]
	self := &n.w.nodes[x]
	seen := map[netip.AddrPort]uint64{} // queries received per source
	buf := make([]byte, maxPacket)
	var nodes []int32
	for {
		sz, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if n.closed.Load() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// A transient error (e.g. ICMP feedback surfacing on Linux)
			// must not stop the node; back off a little to stay bounded.
			time.Sleep(time.Millisecond)
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		ct := n.src.get(from)
		ct.bytesIn.Add(int64(sz))
		q, perr := parseQuery(buf[:sz])
		if perr == nil && q.Y != "q" {
			continue // a response or error: the emulated nodes never query
		}
		m := MethodOther
		if perr == nil {
			m = methodIndex(q.Q)
		}
		ct.queries[m].Add(1)
		if self.dead {
			ct.dead.Add(1)
			continue
		}
		k := seen[from]
		seen[from] = k + 1
		drop := int(k) < n.w.cfg.DropFirst && (x == 0 || !n.w.cfg.DropFirstBootstrapOnly)
		if drop || n.lost(x, k) {
			ct.dropped.Add(1)
			continue
		}
		var reply []byte
		reply, nodes = n.answer(x, from, &q, perr, nodes)
		if reply == nil {
			continue
		}
		n.timers.Add(1)
		time.AfterFunc(n.delay(x, k), func() {
			defer n.timers.Done()
			if _, err := conn.WriteToUDPAddrPort(reply, from); err == nil {
				ct.replies.Add(1)
				ct.bytesOut.Add(int64(len(reply)))
			}
		})
	}
}

// answer builds node x's reply to q from from.
func (n *Network) answer(x int32, from netip.AddrPort, q *query, perr error, buf []int32) ([]byte, []int32) {
	self := &n.w.nodes[x]
	if perr != nil {
		if q.T == "" {
			return nil, buf // not even a transaction id to answer
		}
		return appendError(nil, q.T, 203, "malformed query"), buf
	}
	if len(q.A.ID) != 20 {
		return appendError(nil, q.T, 203, "id missing"), buf
	}
	switch q.Q {
	case "ping":
		return appendReply(nil, q.T, from, &self.id, nil, nil, nil), buf
	case "find_node", "get_peers":
		key := q.A.Target
		if q.Q == "get_peers" {
			key = q.A.InfoHash
		}
		if len(key) != 20 {
			return appendError(nil, q.T, 203, "target missing"), buf
		}
		t := ID([]byte(key))
		var values []netip.AddrPort
		var token []byte
		if q.Q == "get_peers" {
			token = n.token(x, from.Addr())
			if ti, ok := n.w.byHash[t]; ok {
				values = n.w.targets[ti].held[x]
			}
		}
		var nodes []byte
		// BEP 32: a want without n4 asks for no IPv4 nodes; values-only
		// nodes leave nodes out when they have values.
		if wantsN4(q.A.Want) && !(len(values) > 0 && self.valuesOnly) {
			buf = n.w.closest(x, &t, buf)
			nodes = make([]byte, 0, 26*len(buf))
			for _, v := range buf {
				nodes = append(nodes, n.w.nodes[v].id[:]...)
				nodes = compactPeer(nodes, n.addrs[v])
			}
		}
		return appendReply(nil, q.T, from, &self.id, nodes, token, values), buf
	case "announce_peer":
		if string(n.token(x, from.Addr())) != q.A.Token {
			return appendError(nil, q.T, 203, "bad token"), buf
		}
		// Accepted but not stored: the expected peer sets stay fixed.
		return appendReply(nil, q.T, from, &self.id, nil, nil, nil), buf
	}
	return appendError(nil, q.T, 204, "method unknown"), buf
}

func wantsN4(want []string) bool {
	return len(want) == 0 || slices.Contains(want, "n4")
}

// token is node x's announce token for ip: fixed for the network's life.
func (n *Network) token(x int32, ip netip.Addr) []byte {
	h := sha1.New()
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], n.w.cfg.Seed)
	binary.BigEndian.PutUint64(b[8:], uint64(x))
	h.Write(b[:])
	a := ip.As16()
	h.Write(a[:])
	return h.Sum(nil)[:8]
}

// lost decides, from the seed alone, whether node x leaves the k-th query
// from a source unanswered: every finder meets the same losses.
func (n *Network) lost(x int32, k uint64) bool {
	return unit(n.w.cfg.Seed, streamLoss, uint64(x), k) < n.w.cfg.Loss
}

// delay is the k-th reply's round trip: the base RTT within ±Jitter.
func (n *Network) delay(x int32, k uint64) time.Duration {
	j := n.w.cfg.Jitter * (2*unit(n.w.cfg.Seed, streamJitter, uint64(x), k) - 1)
	return time.Duration(float64(n.w.nodes[x].rtt) * (1 + j))
}

// unit hashes its arguments to a uniform number in [0, 1) (splitmix64).
func unit(a, b, c, d uint64) float64 {
	h := a
	for _, v := range [...]uint64{b, c, d} {
		h ^= v + 0x9e3779b97f4a7c15 + (h << 6) + (h >> 2)
		h = mix64(h)
	}
	return float64(h>>11) / (1 << 53)
}

func mix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
