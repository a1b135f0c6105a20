package tracker

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// memConn is an in-memory net.PacketConn that records when packets are
// written and delivers what a test injects; under synctest its reads block
// durably, so the fake clock runs.
type memConn struct {
	reply  func(pkt []byte) []byte // answers a written packet, or nil
	mu     sync.Mutex
	sent   []time.Duration // send times since start
	pkts   [][]byte
	start  time.Time
	in     chan []byte
	from   net.Addr
	closed chan struct{}
	once   sync.Once
}

func newMemConn(from net.Addr) *memConn {
	return &memConn{start: time.Now(), in: make(chan []byte, 8), from: from, closed: make(chan struct{})}
}

func (m *memConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case p := <-m.in:
		return copy(b, p), m.from, nil
	case <-m.closed:
		return 0, nil, net.ErrClosed
	}
}

func (m *memConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	m.mu.Lock()
	m.sent = append(m.sent, time.Since(m.start))
	m.pkts = append(m.pkts, bytes.Clone(b))
	m.mu.Unlock()
	if m.reply != nil {
		if r := m.reply(b); r != nil {
			m.in <- r
		}
	}
	return len(b), nil
}

func (m *memConn) Close() error                     { m.once.Do(func() { close(m.closed) }); return nil }
func (m *memConn) LocalAddr() net.Addr              { return &net.UDPAddr{} }
func (m *memConn) SetDeadline(time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(time.Time) error { return nil }

func TestUDPBackoffSchedule(t *testing.T) {
	for _, tc := range []struct {
		name    string
		c       *Client
		sends   []time.Duration
		timeout time.Duration
	}{
		{"defaults", &Client{}, []time.Duration{0, 2 * time.Second, 6 * time.Second}, 14 * time.Second},
		{"configured", &Client{UDPTimeout: time.Second, UDPRetries: 3}, []time.Duration{0, time.Second, 3 * time.Second, 7 * time.Second}, 15 * time.Second},
		{"no retries", &Client{UDPTimeout: time.Second, UDPRetries: -1}, []time.Duration{0}, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				conn := newMemConn(&net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 80})
				c := tc.c
				c.Conn4 = conn
				defer c.Close()
				start := time.Now()
				_, err := c.Announce(context.Background(), "udp://192.0.2.1:80", AnnounceRequest{Left: 1})
				if !errors.Is(err, ErrTimeout) {
					t.Fatalf("error %v, want ErrTimeout", err)
				}
				if d := time.Since(start); d != tc.timeout {
					t.Errorf("gave up after %v, want %v", d, tc.timeout)
				}
				conn.mu.Lock()
				defer conn.mu.Unlock()
				if len(conn.sent) != len(tc.sends) {
					t.Fatalf("sent at %v, want %v", conn.sent, tc.sends)
				}
				for i := range tc.sends {
					if conn.sent[i] != tc.sends[i] {
						t.Errorf("sent at %v, want %v", conn.sent, tc.sends)
						break
					}
				}
			})
		})
	}
}

func TestUDPConnIDReuseAndExpiry(t *testing.T) {
	// The connection id is reused for a little under BEP 15's minute, then
	// fetched anew.
	synctest.Test(t, func(t *testing.T) {
		from := netip.MustParseAddrPort("192.0.2.1:80")
		conn := newMemConn(net.UDPAddrFromAddrPort(from))
		srv := &Server{}
		me := netip.MustParseAddrPort("198.51.100.1:1")
		conn.reply = func(pkt []byte) []byte { return srv.handleUDP(pkt, me, time.Now()) }
		c := &Client{Conn4: conn}
		defer c.Close()
		for _, wait := range []time.Duration{0, 30 * time.Second, 30 * time.Second} {
			time.Sleep(wait)
			if _, err := c.Announce(context.Background(), "udp://192.0.2.1:80", AnnounceRequest{Left: 1}); err != nil {
				t.Fatal(err)
			}
		}
		conn.mu.Lock()
		defer conn.mu.Unlock()
		var kinds []uint32
		for _, p := range conn.pkts {
			kinds = append(kinds, binary.BigEndian.Uint32(p[8:]))
		}
		// connect, announce; announce (id 30 s old); connect, announce (60 s).
		if want := []uint32{0, 1, 1, 0, 1}; !slices.Equal(kinds, want) {
			t.Errorf("actions sent %v, want %v", kinds, want)
		}
	})
}
