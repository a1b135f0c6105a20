package dhtinterop

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/peerfind/peerfind/bencode"
)

// amplifyFactor is dht's bound on a reply to an address that has never
// answered it: at most 4 times the size of the query (dht/serve.go).
const amplifyFactor = 4

// TestSwarmValues stores a swarm of 20 peers at one of our nodes (20
// announce_peer queries from 20 anacrolix servers) and has a get_peers
// query sent to it by an anacrolix server it has never heard of, as almost
// every requester on the Internet is. BEP 5's get_peers answer is the
// "values". The reply to the stranger must stay within the anti-reflection
// bound of 4× the query, watched on the stranger's socket; within it, the
// values come before the nodes, so the stranger gets every value that fits:
// all 20 (160 bytes of values) for anacrolix's ~95-byte query. A verified
// requester, with up to ~1400 bytes, gets all 20 and nodes too.
func TestSwarmValues(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	m := startMixed(ctx, t, mixedConfig{first: 600, nAna: 20, nOurs: 10})
	w := m.ours[4]
	ih := nearHash(w.n.ID())
	var want []netip.AddrPort
	for i, a := range m.ana {
		port := 9000 + i
		if err := a.announceTo(ctx, w.addr, ih, port); err != nil {
			t.Fatalf("announce of %v:%d to our node: %v", a.addr.Addr(), port, err)
		}
		want = append(want, netip.AddrPortFrom(a.addr.Addr(), uint16(port)))
	}
	tap := &tapConn{PacketConn: listenLoopback(t, loopbackIP(599)), peer: w.addr}
	stranger := startAnacrolixConn(t, tap, func() []netip.AddrPort { return nil })
	got, err := stranger.queryGetPeers(ctx, w.addr, ih)
	if err != nil {
		t.Fatal(err)
	}
	query, reply := tap.exchange("get_peers")
	if query == nil || reply == nil {
		t.Fatalf("get_peers exchange not seen on the stranger's socket (query %d bytes, reply %d bytes)", len(query), len(reply))
	}
	budget := amplifyFactor * len(query)
	if len(reply) > budget {
		t.Fatalf("reply of %d bytes to a %d-byte get_peers from an address our node never queried: over %d× (%d bytes)",
			len(reply), len(query), amplifyFactor, budget)
	}
	// The values that fit: the budget less the reply without values or
	// nodes, at 8 bytes a value ("6:" + 6) after the list's own 10 bytes
	// ("6:valuesl" … "e").
	var rm map[string]any
	if err := bencode.Unmarshal(reply, &rm); err != nil {
		t.Fatalf("reply %q: %v", reply, err)
	}
	r, ok := rm["r"].(map[string]any)
	if !ok {
		t.Fatalf("reply %q: no \"r\" dict", reply)
	}
	delete(r, "values")
	delete(r, "nodes")
	delete(r, "nodes6")
	b, err := bencode.Marshal(rm)
	if err != nil {
		t.Fatal(err)
	}
	fit := min(len(want), max((budget-len(b)-10)/8, 0))
	t.Logf("unverified requester: %d-byte query, %d-byte reply (bound %d, %d without values or nodes): %d of %d values, %d fit",
		len(query), len(reply), budget, len(b), len(got), len(want), fit)
	if fit < len(want) {
		t.Logf("only %d of %d values fit in %d bytes", fit, len(want), budget)
	}
	if len(got) < fit {
		t.Fatalf("get_peers reply to a requester new to our node has %d values, %d of the %d stored fit in %d bytes",
			len(got), fit, len(want), budget)
	}
	if fit == len(want) {
		for _, p := range want {
			if !contains(got, p) {
				t.Fatalf("get_peers reply to a requester new to our node lacks %v: %d of %d values", p, len(got), len(want))
			}
		}
	}

	// Now a requester our node has queried (verified).
	if _, err := w.n.Ping(ctx, m.ana[0].addr); err != nil {
		t.Fatal(err)
	}
	got2, err := m.ana[0].queryGetPeers(ctx, w.addr, ih)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("verified requester got %d of %d values", len(got2), len(want))
	for _, p := range want {
		if !contains(got2, p) {
			t.Fatalf("get_peers reply to a requester our node has queried lacks %v: %d of %d values", p, len(got2), len(want))
		}
	}
}

// tapConn records the datagrams a socket exchanges with one peer, so a
// test can see sizes on the wire.
type tapConn struct {
	net.PacketConn
	peer netip.AddrPort

	mu       sync.Mutex
	sent, in [][]byte
}

func (c *tapConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if ua, ok := addr.(*net.UDPAddr); ok && ua.AddrPort() == c.peer {
		c.mu.Lock()
		c.sent = append(c.sent, bytes.Clone(b))
		c.mu.Unlock()
	}
	return c.PacketConn.WriteTo(b, addr)
}

func (c *tapConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(b)
	if ua, ok := addr.(*net.UDPAddr); ok && err == nil && ua.AddrPort() == c.peer {
		c.mu.Lock()
		c.in = append(c.in, bytes.Clone(b[:n]))
		c.mu.Unlock()
	}
	return n, addr, err
}

// exchange returns the first query of method sent to the peer and the
// reply with its transaction id, or nil.
func (c *tapConn) exchange(method string) (query, reply []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, q := range c.sent {
		m, err := parseHead(q)
		if err != nil || m.Y != "q" || m.Q != method {
			continue
		}
		for _, r := range c.in {
			if rm, err := parseHead(r); err == nil && rm.Y == "r" && rm.T == m.T {
				return q, r
			}
		}
		return q, nil
	}
	return nil, nil
}

// krpcHead is the part of a KRPC message (BEP 5) that pairs a query with
// its reply: transaction id, kind and method.
type krpcHead struct {
	T string `bencode:"t"`
	Y string `bencode:"y"`
	Q string `bencode:"q"`
}

func parseHead(b []byte) (krpcHead, error) {
	var h krpcHead
	err := bencode.Unmarshal(b, &h)
	return h, err
}
