package dht

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/peerfind/peerfind/dht/internal/routing"
)

// memNet is an in-memory datagram network for synctest bubbles: reads
// block on channels, which synctest sees as durably blocked, so fake time
// advances while nodes wait.
type memNet struct {
	mu    sync.Mutex
	conns map[netip.AddrPort]*memConn
}

type memPacket struct {
	b    []byte
	from netip.AddrPort
}

type memConn struct {
	net    *memNet
	addr   netip.AddrPort
	inbox  chan memPacket
	closed chan struct{}
	once   sync.Once
}

func (m *memNet) listen(addr string) *memConn {
	c := &memConn{net: m, addr: netip.MustParseAddrPort(addr), inbox: make(chan memPacket, 64), closed: make(chan struct{})}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conns == nil {
		m.conns = map[netip.AddrPort]*memConn{}
	}
	m.conns[c.addr] = c
	return c
}

func (c *memConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case p := <-c.inbox:
		return copy(b, p.b), net.UDPAddrFromAddrPort(p.from), nil
	case <-c.closed:
		return 0, nil, net.ErrClosed
	}
}

func (c *memConn) WriteTo(b []byte, a net.Addr) (int, error) {
	to := a.(*net.UDPAddr).AddrPort()
	to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	c.net.mu.Lock()
	dst := c.net.conns[to]
	c.net.mu.Unlock()
	if dst == nil {
		return len(b), nil // lost, like UDP
	}
	select {
	case <-dst.closed:
	case dst.inbox <- memPacket{b: append([]byte(nil), b...), from: c.addr}:
	default: // full: dropped
	}
	return len(b), nil
}

func (c *memConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}
func (c *memConn) LocalAddr() net.Addr              { return net.UDPAddrFromAddrPort(c.addr) }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// TestMaintenance runs table maintenance in fake time: a node that stays
// silent for BEP 5's 15 minutes becomes questionable and is pinged; one
// that answers stays good, one that is gone turns bad and leaves the table.
func TestMaintenance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mn memNet
		mk := func(addr string, seed uint64) *Node {
			cfg := testConfig(seed)
			cfg.Conn4 = mn.listen(addr)
			n, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { n.Close() })
			return n
		}
		a := mk("10.0.0.1:1", 1)
		b := mk("10.0.0.2:1", 2)
		c := mk("10.0.0.3:1", 3)
		ctx := t.Context()
		for _, peer := range []*Node{b, c} {
			if _, err := a.Ping(ctx, peer.LocalAddrs()[0]); err != nil {
				t.Fatal(err)
			}
		}
		if s := a.Stats(); s.Good4 != 2 {
			t.Fatalf("%d good nodes, want 2", s.Good4)
		}
		c.Close()
		bIn := b.Stats().PacketsIn
		// Past GoodFor, both are questionable; maintenance pings them
		// (one ping per questionable node per round, a minute apart).
		time.Sleep(routing.GoodFor + 5*maintainEvery)
		synctest.Wait()
		if got := b.Stats().PacketsIn; got <= bIn {
			t.Fatal("maintenance did not ping the questionable node")
		}
		good := a.tables[0].Load().Good()
		if len(good) != 1 || good[0].Addr != b.LocalAddrs()[0] {
			t.Fatalf("good nodes %v, want only b", good)
		}
		for _, ni := range a.tables[0].Load().Closest(ID{}, routing.K) {
			if ni.Addr == c.LocalAddrs()[0] {
				t.Fatal("the dead node is still offered to lookups")
			}
		}
	})
}
