package dht

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/peerfind/peerfind/dht/internal/krpc"
	"github.com/peerfind/peerfind/dht/internal/nodeid"
	"github.com/peerfind/peerfind/dht/internal/routing"
	"github.com/peerfind/peerfind/internal/compact"
	"github.com/peerfind/peerfind/metainfo"
)

// has6 reports whether the host can bind ::1.
func has6(t *testing.T) bool {
	c, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// TestIPv6OnlyAndDualStack runs IPv6-only nodes (BEP 32: nodes6, want)
// and a dual-stack node that joins both families.
func TestIPv6OnlyAndDualStack(t *testing.T) {
	if !has6(t) {
		t.Skip("no IPv6 loopback")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// All IPv6 nodes share ::1, so per-IP limits are off here.
	cfg6 := func(seed uint64) Config {
		c := testConfig(seed)
		c.Conn6 = listenUDP(t, "::1")
		c.PerIPRate, c.ReplyRate = -1, -1
		return c
	}
	var six []*Node
	for i := range 12 {
		cfg := cfg6(uint64(300 + i))
		if i > 0 {
			cfg.BootstrapNodes = []netip.AddrPort{nodeAddr(t, six[0])}
		}
		n := newTestNode(t, "", cfg)
		if i > 0 {
			if _, err := n.Bootstrap(ctx); err != nil {
				t.Fatalf("v6 node %d: %v", i, err)
			}
		}
		six = append(six, n)
	}
	ih := metainfo.Hash{6, 6, 6}
	if _, err := six[3].Announce(ctx, ih, 7000, false); err != nil {
		t.Fatal(err)
	}
	got := map[netip.AddrPort]bool{}
	if _, err := six[9].GetPeers(ctx, ih, func(p PeerFound) { got[p.Peer] = true }); err != nil {
		t.Fatal(err)
	}
	if want := netip.MustParseAddrPort("[::1]:7000"); !got[want] || len(got) != 1 {
		t.Fatalf("IPv6 lookup found %v, want %v", got, want)
	}

	// A dual-stack node bootstrapping from an IPv4 node and an IPv6 node.
	v4 := newTestNode(t, "127.0.0.1", testConfig(400))
	cfg := cfg6(401)
	cfg.Conn4 = listenUDP(t, "127.0.0.2")
	cfg.BootstrapNodes = []netip.AddrPort{nodeAddr(t, v4), nodeAddr(t, six[5])}
	dual := newTestNode(t, "", cfg)
	rep, err := dual.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Good4 < 1 || rep.Good6 < routing.K {
		t.Fatalf("dual-stack bootstrap: %d IPv4 and %d IPv6 good nodes", rep.Good4, rep.Good6)
	}
	if len(dual.LocalAddrs()) != 2 {
		t.Fatalf("local addrs %v", dual.LocalAddrs())
	}
	// It serves nodes6 to an IPv4 requester that asks for them (BEP 32 want).
	p := newRawPeer(t, "127.0.0.3", dual.LocalAddrs()[0])
	p.send(&krpc.Msg{T: "w", Y: "q", Q: "find_node", A: &krpc.Args{ID: string(make([]byte, 20)), Target: string(make([]byte, 20)), Want: []string{"n4", "n6"}}})
	m, _ := p.recvMsg()
	if len(m.R.Nodes6) == 0 || len(m.R.Nodes) == 0 {
		t.Fatalf("want n4+n6 over IPv4: nodes %d bytes, nodes6 %d bytes", len(m.R.Nodes), len(m.R.Nodes6))
	}
}

func TestAdoptBEP42ID(t *testing.T) {
	n := newTestNode(t, "127.0.0.1", testConfig(1))
	old := n.ID()
	// Votes for a local address never change the id: BEP 42 cannot check it.
	n.voteIP(netip.MustParseAddr("192.168.1.2"))
	if n.adoptBEP42ID() || n.ID() != old {
		t.Fatal("id changed for a private address")
	}
	pub := netip.MustParseAddr("203.0.113.7")
	n.voteIP(pub)
	n.voteIP(pub)
	if !n.adoptBEP42ID() {
		t.Fatal("random id not replaced once the public IP is known")
	}
	if !nodeid.Verify(n.ID(), pub) {
		t.Fatalf("new id %v does not conform to BEP 42 for %v", n.ID(), pub)
	}
	if n.tables[0].Load().Self() != n.ID() {
		t.Fatal("routing table not rebuilt around the new id")
	}
	// A configured id is kept.
	cfg := testConfig(2)
	cfg.ID = ID{1, 2, 3}
	m := newTestNode(t, "127.0.0.2", cfg)
	m.voteIP(pub)
	if m.adoptBEP42ID() || m.ID() != cfg.ID {
		t.Fatal("configured id replaced")
	}
}

func TestBEP42Enforce(t *testing.T) {
	cfg := testConfig(1)
	cfg.BEP42 = BEP42Enforce
	n := newTestNode(t, "127.0.0.1", cfg)
	pub := netip.MustParseAddr("203.0.113.7")
	if n.acceptID(ID{9}, pub) {
		t.Fatal("non-conforming id accepted for a public address under enforcement")
	}
	if !n.acceptID(nodeid.RandomForIP(pub, nil), pub) {
		t.Fatal("conforming id refused")
	}
	if !n.acceptID(ID{9}, netip.MustParseAddr("127.0.0.5")) {
		t.Fatal("loopback node refused: BEP 42 cannot verify it, so it must not be enforced")
	}
	off := newTestNode(t, "127.0.0.2", testConfig(2))
	if !off.acceptID(ID{9}, pub) {
		t.Fatal("default mode refused a non-conforming id")
	}
}

// TestStatePersistence wires Node.State, SaveState, LoadState and
// Config.State: a restarted node keeps its id and starts warm.
func TestStatePersistence(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nodes := buildNetwork(t, 30, 7)
	cfg := testConfig(9)
	cfg.BootstrapNodes = []netip.AddrPort{nodeAddr(t, nodes[0])}
	n := newTestNode(t, "127.0.9.1", cfg)
	if _, err := n.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dht.state")
	if err := SaveState(path, n.State()); err != nil {
		t.Fatal(err)
	}
	id := n.ID()
	n.Close()

	st, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg2 := testConfig(10)
	cfg2.State = st
	cfg2.BootstrapRouters = nil // would be DefaultRouters: must not be needed
	cfg2.Resolver = failingResolver{}
	warm := newTestNode(t, "127.0.9.1", cfg2)
	if warm.ID() != id {
		t.Fatalf("restarted with id %v, want %v", warm.ID(), id)
	}
	rep, err := warm.Bootstrap(ctx)
	if err != nil || rep.SavedAnswered < routing.K || len(rep.Routers) != 0 {
		t.Fatalf("warm bootstrap %+v, %v", rep, err)
	}

	// A corrupt file is an error the caller turns into a warning and a
	// cold start.
	bad := filepath.Join(t.TempDir(), "bad.state")
	os.WriteFile(bad, []byte("d3:foo"), 0o600)
	if _, err := LoadState(bad); !errors.Is(err, ErrBadState) {
		t.Fatalf("corrupt state: %v, want ErrBadState", err)
	}
}

// TestNodeFailsAndIsReplaced checks the node-state transitions as the
// Node drives them: good after a reply, failed after timeouts, then no
// longer offered to lookups.
func TestNodeFailsAndIsReplaced(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := testConfig(1)
	cfg.QueryTimeout = 100 * time.Millisecond
	a := newTestNode(t, "127.0.0.1", cfg)
	b := newTestNode(t, "127.0.0.2", testConfig(2))
	ba := nodeAddr(t, b)
	if _, err := a.Ping(ctx, ba); err != nil {
		t.Fatal(err)
	}
	if s := a.Stats(); s.Good4 != 1 {
		t.Fatalf("after a reply: %d good, want 1", s.Good4)
	}
	b.Close()
	for range routing.DefaultMaxFails {
		if _, err := a.Ping(ctx, ba); !errors.Is(err, ErrTimeout) {
			t.Fatalf("ping of a closed node: %v, want ErrTimeout", err)
		}
	}
	if s := a.Stats(); s.Good4 != 0 {
		t.Fatalf("after %d timeouts: %d good, want 0", routing.DefaultMaxFails, s.Good4)
	}
	for _, ni := range a.tables[0].Load().Closest(b.ID(), routing.K) {
		if ni.Addr == ba {
			t.Fatal("failed node still offered to lookups")
		}
	}
}

// TestColdGetPeers: a node that never bootstrapped looks up peers straight
// from its bootstrap seeds, and its table fills on the way.
func TestColdGetPeers(t *testing.T) {
	nodes := buildNetwork(t, 40, 13)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ih := metainfo.Hash{0xc0, 0x1d}
	if _, err := nodes[7].Announce(ctx, ih, 3333, false); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"given node", func(c *Config) { c.BootstrapNodes = []netip.AddrPort{nodeAddr(t, nodes[0])} }},
		{"router", func(c *Config) {
			ra := nodeAddr(t, nodes[0])
			c.BootstrapRouters = []string{"router.test:" + itoa(int(ra.Port()))}
			c.Resolver = fakeResolver{"router.test": {ra.Addr()}}
		}},
		{"router answering find_node only", func(c *Config) {
			ra := fakeRouter(t, nodes[:routing.K])
			c.BootstrapRouters = []string{ra.String()}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(14)
			tc.mod(&cfg)
			n := newTestNode(t, "127.0.9.9", cfg)
			var got []netip.AddrPort
			st, err := n.GetPeers(ctx, ih, func(p PeerFound) { got = append(got, p.Peer) })
			if err != nil {
				t.Fatal(err)
			}
			want := netip.AddrPortFrom(nodeAddr(t, nodes[7]).Addr(), 3333)
			if len(got) == 0 || got[0] != want {
				t.Fatalf("found %v, want %v (stats %+v)", got, want, st)
			}
			s := n.Stats()
			if s.Good4 < routing.K {
				t.Fatalf("table has %d good nodes after a cold lookup", s.Good4)
			}
			if _, ok := n.tables[0].Load().Get(nodeAddr(t, nodes[0])); ok && tc.name == "router" {
				t.Fatal("router added to the table")
			}
		})
	}
}

// fakeRouter serves find_node like router.bittorrent.com, answering with
// the given nodes, and ignores every other query. It stops with the test.
func fakeRouter(t *testing.T, nodes []*Node) netip.AddrPort {
	c := listenUDP(t, "127.0.8.1")
	t.Cleanup(func() { c.Close() })
	var list []byte
	for _, n := range nodes {
		list = compact.AppendNode(list, compact.Node{ID: n.ID(), Addr: nodeAddr(t, n)})
	}
	go func() {
		buf := make([]byte, 2048)
		for {
			nr, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			m, err := krpc.Parse(buf[:nr])
			if err != nil || m.Y != "q" || m.Q != "find_node" {
				continue
			}
			b, _ := krpc.Append(nil, &krpc.Msg{T: m.T, Y: "r", R: &krpc.Return{ID: "rrrrrrrrrrrrrrrrrrrr", Nodes: string(list)}})
			c.WriteTo(b, from)
		}
	}()
	return netip.MustParseAddrPort(c.LocalAddr().String())
}

// TestBootstrapFillsFarBuckets checks the bucket refresh that follows a
// bootstrap: the lookup for our own id meets few nodes of the far half of
// the id space, and the background find_node lookups into the farthest
// buckets with room fill bucket 0 (half the network) to K.
func TestBootstrapFillsFarBuckets(t *testing.T) {
	nodes := buildNetwork(t, 64, 17)
	cfg := testConfig(18)
	cfg.BootstrapNodes = []netip.AddrPort{nodeAddr(t, nodes[5])}
	n := newTestNode(t, "127.0.9.10", cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rep, err := n.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	self := n.ID()
	farHalf := 0
	for _, o := range nodes {
		if nodeid.CommonPrefixLen(self, o.ID()) == 0 {
			farHalf++
		}
	}
	if farHalf < 2*routing.K {
		t.Fatalf("only %d of 64 nodes in the far half", farHalf)
	}
	bucket0 := func() int {
		c := 0
		for _, ni := range n.tables[0].Load().Closest(self.Xor(ID{0x80}), 4*routing.K) {
			if nodeid.CommonPrefixLen(self, ni.ID) == 0 {
				c++
			}
		}
		return c
	}
	t.Logf("bootstrap: %d good nodes, %d in bucket 0 (stats %+v)", rep.Good4, bucket0(), rep.Lookup)
	// The refresh runs in the background: wait for it, bounded by ctx.
	for bucket0() < routing.K {
		select {
		case <-ctx.Done():
			t.Fatalf("bucket 0 holds %d nodes of the %d in the far half, want %d after the refresh", bucket0(), farHalf, routing.K)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
