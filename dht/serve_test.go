package dht

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/peerfind/peerfind/dht/internal/krpc"
	"github.com/peerfind/peerfind/dht/internal/nodeid"
	"github.com/peerfind/peerfind/dht/internal/routing"
	"github.com/peerfind/peerfind/internal/compact"
	"github.com/peerfind/peerfind/metainfo"
)

// rawPeer is a bare UDP socket speaking KRPC by hand to a node under test.
type rawPeer struct {
	t    *testing.T
	conn *net.UDPConn
	to   netip.AddrPort
}

func newRawPeer(t *testing.T, ip string, to netip.AddrPort) *rawPeer {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawPeer{t: t, conn: c, to: to}
}

func (p *rawPeer) addr() netip.AddrPort {
	return netip.MustParseAddrPort(p.conn.LocalAddr().String())
}

func (p *rawPeer) sendRaw(b []byte) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDPAddrPort(b, p.to); err != nil {
		p.t.Fatal(err)
	}
}

func (p *rawPeer) send(m *krpc.Msg) int {
	p.t.Helper()
	b, err := krpc.Append(nil, m)
	if err != nil {
		p.t.Fatal(err)
	}
	p.sendRaw(b)
	return len(b)
}

// recv returns the next datagram, or nil after wait.
func (p *rawPeer) recv(wait time.Duration) []byte {
	p.conn.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 4096)
	n, _, err := p.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

func (p *rawPeer) recvMsg() (*krpc.Msg, int) {
	p.t.Helper()
	b := p.recv(2 * time.Second)
	if b == nil {
		p.t.Fatal("no reply")
	}
	m, err := krpc.Parse(b)
	if err != nil {
		p.t.Fatalf("reply %q: %v", b, err)
	}
	return m, len(b)
}

func TestServeQueries(t *testing.T) {
	cfg := testConfig(1)
	n := newTestNode(t, "127.0.0.1", cfg)
	// Give the node a few table entries to return.
	for i := range 30 {
		id := nodeid.Random(newSeeded(uint64(50 + i)))
		n.tables[0].Load().Seen(routing.NodeInfo{ID: id, Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 5, 0, byte(i + 1)}), 1000)}, routing.SeenReply)
	}
	p := newRawPeer(t, "127.0.0.2", nodeAddr(t, n))
	myID := string(make([]byte, 20))
	ih := "iiiiiiiiiiiiiiiiiiii"

	tests := []struct {
		name  string
		q     *krpc.Msg
		check func(t *testing.T, m *krpc.Msg)
	}{
		{"ping", &krpc.Msg{T: "p1", Y: "q", Q: "ping", A: &krpc.Args{ID: myID}}, func(t *testing.T, m *krpc.Msg) {
			if m.Y != "r" || m.R.ID != string(n.idBytes()) {
				t.Fatalf("reply %+v", m)
			}
			// BEP 42: our address as the node saw it.
			if m.IP != string(compact.AppendPeer(nil, p.addr())) {
				t.Fatalf("ip key %x, want %v", m.IP, p.addr())
			}
		}},
		{"find_node default family", &krpc.Msg{T: "f1", Y: "q", Q: "find_node", A: &krpc.Args{ID: myID, Target: ih}}, func(t *testing.T, m *krpc.Msg) {
			if len(m.R.Nodes) != routing.K*compact.NodeLen4 || m.R.Nodes6 != "" {
				t.Fatalf("nodes %d bytes, nodes6 %d bytes", len(m.R.Nodes), len(m.R.Nodes6))
			}
		}},
		{"find_node want n6 on an IPv4-only node", &krpc.Msg{T: "f2", Y: "q", Q: "find_node", A: &krpc.Args{ID: myID, Target: ih, Want: []string{"n6"}}}, func(t *testing.T, m *krpc.Msg) {
			if m.R.Nodes != "" || m.R.Nodes6 != "" {
				t.Fatalf("nodes %q nodes6 %q, want neither", m.R.Nodes, m.R.Nodes6)
			}
		}},
		{"find_node short target", &krpc.Msg{T: "f3", Y: "q", Q: "find_node", A: &krpc.Args{ID: myID, Target: "short"}}, func(t *testing.T, m *krpc.Msg) {
			if m.Y != "e" || m.E.Code != krpc.ErrCodeProtocol || m.T != "f3" {
				t.Fatalf("reply %+v, want error 203", m)
			}
		}},
		{"get_peers", &krpc.Msg{T: "g1", Y: "q", Q: "get_peers", A: &krpc.Args{ID: myID, InfoHash: ih}}, func(t *testing.T, m *krpc.Msg) {
			if len(m.R.Token) != tokenLen || len(m.R.Nodes) == 0 || len(m.R.Values) != 0 {
				t.Fatalf("reply %+v", m.R)
			}
		}},
		{"announce_peer bad token", &krpc.Msg{T: "a1", Y: "q", Q: "announce_peer", A: &krpc.Args{ID: myID, InfoHash: ih, Port: 1, Token: "12345678"}}, func(t *testing.T, m *krpc.Msg) {
			if m.Y != "e" || m.E.Code != krpc.ErrCodeProtocol {
				t.Fatalf("reply %+v, want 203", m)
			}
		}},
		{"unknown method", &krpc.Msg{T: "u1", Y: "q", Q: "vote", A: &krpc.Args{ID: myID}}, func(t *testing.T, m *krpc.Msg) {
			if m.Y != "e" || m.E.Code != krpc.ErrCodeMethodUnknown || m.T != "u1" {
				t.Fatalf("reply %+v, want 204", m)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.send(tt.q)
			m, _ := p.recvMsg()
			if m.T != tt.q.T {
				t.Fatalf("transaction id %q, want %q", m.T, tt.q.T)
			}
			tt.check(t, m)
		})
	}

	t.Run("undecodable query gets 203", func(t *testing.T) {
		p.sendRaw([]byte("d1:ad2:id3:abce1:q4:ping1:t2:zz1:y1:qe"))
		m, _ := p.recvMsg()
		if m.Y != "e" || m.E.Code != krpc.ErrCodeProtocol || m.T != "zz" {
			t.Fatalf("reply %+v", m)
		}
	})
	t.Run("garbage is dropped", func(t *testing.T) {
		p.sendRaw([]byte("\x00\x01garbage"))
		if b := p.recv(100 * time.Millisecond); b != nil {
			t.Fatalf("garbage answered with %q", b)
		}
	})
	t.Run("announce with token", func(t *testing.T) {
		p.send(&krpc.Msg{T: "g2", Y: "q", Q: "get_peers", A: &krpc.Args{ID: myID, InfoHash: ih}})
		m, _ := p.recvMsg()
		p.send(&krpc.Msg{T: "a2", Y: "q", Q: "announce_peer", A: &krpc.Args{ID: myID, InfoHash: ih, Port: 4444, Token: m.R.Token}})
		if m, _ := p.recvMsg(); m.Y != "r" {
			t.Fatalf("announce reply %+v", m)
		}
		p.send(&krpc.Msg{T: "g3", Y: "q", Q: "get_peers", A: &krpc.Args{ID: myID, InfoHash: ih}})
		m, _ = p.recvMsg()
		want := string(compact.AppendPeer(nil, netip.AddrPortFrom(p.addr().Addr(), 4444)))
		if len(m.R.Values) != 1 || m.R.Values[0] != want {
			t.Fatalf("values %q, want [%q]", m.R.Values, want)
		}
	})
}

func TestServeNoAmplification(t *testing.T) {
	n := newTestNode(t, "127.0.0.1", testConfig(1))
	var h metainfo.Hash
	copy(h[:], "iiiiiiiiiiiiiiiiiiii")
	for i := range 200 {
		n.store.add(h, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 1), false)
	}
	for i := range 20 {
		n.tables[0].Load().Seen(routing.NodeInfo{ID: nodeid.Random(newSeeded(uint64(90 + i))), Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 5, 0, byte(i + 1)}), 1000)}, routing.SeenReply)
	}
	p := newRawPeer(t, "127.0.0.2", nodeAddr(t, n))
	q := &krpc.Msg{T: "g1", Y: "q", Q: "get_peers", A: &krpc.Args{ID: string(make([]byte, 20)), InfoHash: string(h[:]), Want: []string{"n4", "n6"}}}
	qlen := p.send(q)
	m, rlen := p.recvMsg()
	if rlen > amplifyFactor*qlen {
		t.Fatalf("reply of %d bytes to a %d-byte query from an unverified address", rlen, qlen)
	}
	// Values are what the requester wants: the nodes go first, and the
	// values fill what is left (fitReply; TestFitReplyOrder checks exact
	// counts).
	if len(m.R.Nodes) != 0 || len(m.R.Nodes6) != 0 || len(m.R.Values)*8 < amplifyFactor*qlen-200 {
		t.Fatalf("reply to a stranger of %d bytes (budget %d): %d values, %d node bytes, %d nodes6 bytes",
			rlen, amplifyFactor*qlen, len(m.R.Values), len(m.R.Nodes), len(m.R.Nodes6))
	}
	// Once the address has answered us, full replies are allowed.
	n.markVerified(p.addr())
	p.send(q)
	m, rlen = p.recvMsg()
	if rlen > maxReplySize || len(m.R.Values) < 50 || len(m.R.Nodes) != routing.K*compact.NodeLen4 {
		t.Fatalf("verified reply %d bytes, %d values, %d node bytes", rlen, len(m.R.Values), len(m.R.Nodes))
	}
}

func TestServeReplyRateLimit(t *testing.T) {
	cfg := testConfig(1)
	cfg.ReplyRate = 5 // burst 10
	n := newTestNode(t, "127.0.0.1", cfg)
	p := newRawPeer(t, "127.0.0.2", nodeAddr(t, n))
	for i := range 30 {
		p.send(&krpc.Msg{T: string([]byte{byte(i)}), Y: "q", Q: "ping", A: &krpc.Args{ID: string(make([]byte, 20))}})
	}
	got := 0
	for p.recv(200*time.Millisecond) != nil {
		got++
	}
	if got < 10 || got > 12 {
		t.Fatalf("%d replies to 30 pings in a burst, want about the burst of 10", got)
	}
	if s := n.Stats(); s.Dropped < 18 {
		t.Fatalf("dropped %d, want ≥ 18", s.Dropped)
	}
}

// TestFitReplyOrder checks the order in which fitReply trims a reply that
// is over budget: nodes6, then nodes, then values, each list from its end,
// and no more than needed.
func TestFitReplyOrder(t *testing.T) {
	var nodes, nodes6 []byte
	for i := range routing.K {
		id := nodeid.Random(newSeeded(uint64(300 + i)))
		nodes = compact.AppendNode(nodes, compact.Node{ID: id, Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}), 6881)})
		nodes6 = compact.AppendNode(nodes6, compact.Node{ID: id, Addr: netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), uint16(7000+i))})
	}
	var values []string
	for i := range 20 {
		values = append(values, string(compact.AppendPeer(nil, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, 0, byte(i)}), 9000))))
	}
	// mk builds a get_peers reply with the first nv values, nn nodes and
	// n6 IPv6 nodes.
	mk := func(nv, nn, n6 int) *krpc.Msg {
		r := &krpc.Return{ID: string(make([]byte, 20)), Token: "tokentok",
			Nodes: string(nodes[:nn*compact.NodeLen4]), Nodes6: string(nodes6[:n6*compact.NodeLen6])}
		if nv > 0 {
			r.Values = slices.Clone(values[:nv])
		}
		return &krpc.Msg{T: "gp", Y: krpc.KindResponse, R: r, IP: string(compact.AppendPeer(nil, netip.MustParseAddrPort("127.0.0.2:6881"))), V: "PF\x00\x01"}
	}
	size := func(m *krpc.Msg) int {
		b, err := krpc.Append(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		return len(b)
	}
	full := size(mk(20, routing.K, routing.K))
	tests := []struct {
		name       string
		in         *krpc.Msg
		budget     int
		nv, nn, n6 int  // entries expected to remain
		dropped    bool // nil result
	}{
		{"fits", mk(20, routing.K, routing.K), full, 20, routing.K, routing.K, false},
		{"one nodes6 too many", mk(20, routing.K, routing.K), full - 1, 20, routing.K, routing.K - 1, false},
		{"nodes6 gone first", mk(20, routing.K, routing.K), size(mk(20, routing.K, 0)), 20, routing.K, 0, false},
		{"then nodes, keeping the closest", mk(20, routing.K, routing.K), size(mk(20, 3, 0)) + 5, 20, 3, 0, false},
		// The case of issue 4: a 95-byte get_peers from a stranger.
		{"stranger gets all values", mk(20, routing.K, routing.K), amplifyFactor * 95, 20, (amplifyFactor*95 - size(mk(20, 0, 0))) / compact.NodeLen4, 0, false},
		{"values last", mk(20, routing.K, routing.K), size(mk(12, 0, 0)) + 7, 12, 0, 0, false},
		{"bare reply over budget", mk(20, routing.K, routing.K), size(mk(0, 0, 0)) - 1, 0, 0, 0, true},
		{"find_node trims nodes", mk(0, routing.K, 0), size(mk(0, 5, 0)), 0, 5, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("xyz")
			out := fitReply(prefix, tt.in, tt.budget)
			if tt.dropped {
				if out != nil {
					t.Fatalf("got %d bytes, want nothing (budget %d)", len(out), tt.budget)
				}
				return
			}
			if out == nil {
				t.Fatalf("nothing sent, budget %d", tt.budget)
			}
			if string(out[:3]) != "xyz" {
				t.Fatalf("prefix lost: %q", out[:3])
			}
			if len(out)-3 > tt.budget {
				t.Fatalf("%d bytes over budget %d", len(out)-3, tt.budget)
			}
			m, err := krpc.Parse(out[3:])
			if err != nil {
				t.Fatal(err)
			}
			r := m.R
			if len(r.Values) != tt.nv || len(r.Nodes) != tt.nn*compact.NodeLen4 || len(r.Nodes6) != tt.n6*compact.NodeLen6 {
				t.Fatalf("values %d nodes %d nodes6 %d, want %d %d %d", len(r.Values),
					len(r.Nodes)/compact.NodeLen4, len(r.Nodes6)/compact.NodeLen6, tt.nv, tt.nn, tt.n6)
			}
			if !slices.Equal(r.Values, values[:tt.nv]) || r.Nodes != string(nodes[:len(r.Nodes)]) || r.Nodes6 != string(nodes6[:len(r.Nodes6)]) {
				t.Fatal("trimmed lists are not prefixes of the originals")
			}
		})
	}
}
