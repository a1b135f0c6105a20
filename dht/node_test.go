package dht

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peerfind/peerfind/dht/internal/routing"
	"github.com/peerfind/peerfind/metainfo"
)

// seededReader is a deterministic io.Reader for ids and secrets.
type seededReader struct{ r *rand.ChaCha8 }

func newSeeded(seed uint64) *seededReader {
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	s[2], s[3] = byte(seed>>16), byte(seed>>24)
	return &seededReader{rand.NewChaCha8(s)}
}

func (s *seededReader) Read(b []byte) (int, error) { return s.r.Read(b) }

// testConfig is a loopback configuration: no routers, tight timeouts.
// Loopback needs no table settings: local addresses are exempt from the
// per-IP and per-subnet limits.
func testConfig(seed uint64) Config {
	return Config{
		BootstrapRouters: []string{},
		QueryTimeout:     time.Second,
		SoftTimeoutMin:   20 * time.Millisecond,
		SoftTimeoutMax:   200 * time.Millisecond,
		Rand:             newSeeded(seed),
	}
}

func listenUDP(t testing.TB, ip string) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("listen %s: %v", ip, err)
	}
	return c
}

func newTestNode(t testing.TB, ip string, cfg Config) *Node {
	t.Helper()
	if cfg.Conn4 == nil && cfg.Conn6 == nil {
		cfg.Conn4 = listenUDP(t, ip)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func nodeAddr(t testing.TB, n *Node) netip.AddrPort {
	t.Helper()
	as := n.LocalAddrs()
	if len(as) == 0 {
		t.Fatal("node has no local address")
	}
	return as[0]
}

func TestPingFindNodeGetPeersAnnounce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a := newTestNode(t, "127.0.0.1", testConfig(1))
	b := newTestNode(t, "127.0.0.2", testConfig(2))
	c := newTestNode(t, "127.0.0.3", testConfig(3))

	id, err := a.Ping(ctx, nodeAddr(t, b))
	if err != nil {
		t.Fatal(err)
	}
	if id != b.ID() {
		t.Fatalf("ping answered with id %v, want %v", id, b.ID())
	}
	if _, err := c.Ping(ctx, nodeAddr(t, b)); err != nil {
		t.Fatal(err)
	}
	// b heard from a and c by their queries; a knows b by its reply.
	if got := a.Stats().Good4; got != 1 {
		t.Fatalf("a has %d good nodes, want 1", got)
	}
	nodes, st, err := a.FindNode(ctx, c.ID())
	if err != nil {
		t.Fatalf("FindNode: %v (stats %+v)", err, st)
	}
	found := false
	for _, nd := range nodes {
		if nd.Addr == nodeAddr(t, c) && ID(nd.ID) == c.ID() {
			found = true
		}
	}
	if !found {
		t.Fatalf("FindNode(c) = %v, want c at %v among them", nodes, nodeAddr(t, c))
	}

	var ih metainfo.Hash
	ih[0] = 0xab
	if _, err := c.Announce(ctx, ih, 6881, false); err != nil {
		t.Fatalf("announce: %v", err)
	}
	var mu sync.Mutex
	var peers []PeerFound
	st, err = a.GetPeers(ctx, ih, func(p PeerFound) {
		mu.Lock()
		peers = append(peers, p)
		mu.Unlock()
	})
	if err != nil {
		t.Fatalf("GetPeers: %v", err)
	}
	want := netip.MustParseAddrPort("127.0.0.3:6881")
	ok := false
	for _, p := range peers {
		if p.Peer == want {
			ok = true
		}
	}
	if !ok {
		t.Fatalf("GetPeers found %v, want %v (stats %+v)", peers, want, st)
	}
	if st.Peers == 0 || st.FirstPeer <= 0 || st.Answered == 0 || !st.Converged {
		t.Errorf("stats %+v: want peers, first-peer time, answers, convergence", st)
	}
}

func TestAnnounceImpliedPort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a := newTestNode(t, "127.0.0.1", testConfig(1))
	b := newTestNode(t, "127.0.0.2", testConfig(2))
	if _, err := a.Ping(ctx, nodeAddr(t, b)); err != nil {
		t.Fatal(err)
	}
	ih := metainfo.Hash{1, 2, 3}
	if _, err := a.Announce(ctx, ih, 1, true); err != nil {
		t.Fatal(err)
	}
	got := b.store.get(ih, true, 10, false)
	if len(got) != 1 || got[0] != nodeAddr(t, a) {
		t.Fatalf("stored %v, want the UDP source %v (implied_port)", got, nodeAddr(t, a))
	}
}

func TestReadOnlyNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := testConfig(1)
	cfg.ReadOnly = true
	ro := newTestNode(t, "127.0.0.1", cfg)
	b := newTestNode(t, "127.0.0.2", testConfig(2))
	// A read-only node's query is served, but the sender is not added to
	// the table (BEP 43).
	if _, err := ro.Ping(ctx, nodeAddr(t, b)); err != nil {
		t.Fatal(err)
	}
	if s := b.Stats(); s.Table4 != 0 {
		t.Fatalf("b added the read-only node to its table: %+v", s)
	}
	// And it does not answer queries.
	short, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel2()
	if _, err := b.Ping(short, nodeAddr(t, ro)); err == nil {
		t.Fatal("read-only node answered a ping")
	}
}

func TestBootstrapNoNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dead := listenUDP(t, "127.0.0.9") // a silent socket
	defer dead.Close()
	cfg := testConfig(1)
	cfg.QueryTimeout = 200 * time.Millisecond
	cfg.BootstrapNodes = []netip.AddrPort{netip.MustParseAddrPort(dead.LocalAddr().String())}
	cfg.BootstrapRouters = []string{"router.invalid:6881"}
	cfg.Resolver = failingResolver{}
	n := newTestNode(t, "127.0.0.1", cfg)
	rep, err := n.Bootstrap(ctx)
	if !errors.Is(err, ErrNoNodes) {
		t.Fatalf("Bootstrap error %v, want ErrNoNodes", err)
	}
	// The error names the given node that never answered.
	if !strings.Contains(err.Error(), "no answer from "+dead.LocalAddr().String()) {
		t.Errorf("Bootstrap error %q does not name the silent node %v", err, dead.LocalAddr())
	}
	if rep.Given != 1 || rep.GivenAnswered != 0 || len(rep.Routers) != 1 || rep.Routers[0].Err == nil {
		t.Fatalf("report %+v", rep)
	}
	if len(rep.Warnings()) != 1 {
		t.Fatalf("warnings %v, want the router's DNS failure", rep.Warnings())
	}
	if _, err := n.GetPeers(ctx, metainfo.Hash{}, nil); !errors.Is(err, ErrNoNodes) {
		t.Fatalf("GetPeers on an empty table: %v, want ErrNoNodes", err)
	}
}

// TestBootstrapErrorNamesNodes: the error of a bootstrap that found nobody
// names each given node, telling a node that never answered from one that
// could not be asked (an IPv6 node for a node with only an IPv4 socket).
func TestBootstrapErrorNamesNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dead := listenUDP(t, "127.0.0.9") // a silent socket
	defer dead.Close()
	silent := netip.MustParseAddrPort(dead.LocalAddr().String())
	v6 := netip.MustParseAddrPort("[::1]:6881")
	cfg := testConfig(2)
	cfg.QueryTimeout = 200 * time.Millisecond
	cfg.BootstrapNodes = []netip.AddrPort{silent, v6}
	n := newTestNode(t, "127.0.0.1", cfg)
	_, err := n.Bootstrap(ctx)
	if !errors.Is(err, ErrNoNodes) {
		t.Fatalf("Bootstrap error %v, want ErrNoNodes", err)
	}
	for _, want := range []string{"no answer from " + silent.String(), "no socket of their address family for " + v6.String()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Bootstrap error %q lacks %q", err, want)
		}
	}
}

type failingResolver struct{}

func (failingResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// fakeResolver maps router names to loopback addresses.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestBootstrapOrderAndRouters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// A small network: a router node and 12 nodes that know it.
	router := newTestNode(t, "127.0.1.1", testConfig(100))
	ra := nodeAddr(t, router)
	for i := range 12 {
		cfg := testConfig(uint64(200 + i))
		cfg.BootstrapNodes = []netip.AddrPort{ra}
		m := newTestNode(t, netip.AddrFrom4([4]byte{127, 0, 2, byte(i + 1)}).String(), cfg)
		if _, err := m.Bootstrap(ctx); err != nil {
			t.Fatalf("member %d bootstrap: %v", i, err)
		}
	}
	cfg := testConfig(7)
	cfg.BootstrapRouters = []string{"router.test:" + itoa(int(ra.Port())), "gone.test:1"}
	cfg.Resolver = fakeResolver{"router.test": {ra.Addr()}}
	n := newTestNode(t, "127.0.3.1", cfg)
	rep, err := n.Bootstrap(ctx)
	if err != nil {
		t.Fatalf("bootstrap: %v (%+v)", err, rep)
	}
	if len(rep.Routers) != 2 || len(rep.Routers[0].Answered) != 1 || rep.Routers[1].Err == nil {
		t.Fatalf("router results %+v", rep.Routers)
	}
	if rep.Good4 < routing.K {
		t.Fatalf("good nodes %d after bootstrap, want ≥ %d", rep.Good4, routing.K)
	}
	// Routers stay out of the table.
	for _, ni := range n.tables[0].Load().Good() {
		if ni.Addr == ra {
			t.Fatalf("router %v in the routing table", ra)
		}
	}

	// Warm start: the saved state alone suffices; routers are not asked.
	st := n.State()
	if st.ID != n.ID() || len(st.Nodes) < routing.K {
		t.Fatalf("state %d nodes, id %v", len(st.Nodes), st.ID)
	}
	cfg2 := testConfig(8)
	cfg2.State = st
	cfg2.BootstrapRouters = []string{"router.test:1"}
	cfg2.BootstrapNodes = []netip.AddrPort{ra} // not needed either
	cfg2.Resolver = failingResolver{}
	n.Close()
	warm := newTestNode(t, "127.0.3.1", cfg2)
	if warm.ID() != st.ID {
		t.Fatalf("warm node id %v, want saved %v", warm.ID(), st.ID)
	}
	rep2, err := warm.Bootstrap(ctx)
	if err != nil {
		t.Fatalf("warm bootstrap: %v", err)
	}
	if rep2.SavedAnswered < routing.K || rep2.GivenAnswered != 0 || len(rep2.Routers) != 0 {
		t.Fatalf("warm bootstrap report %+v: want saved nodes answering, given nodes and routers skipped", rep2)
	}
}

func itoa(i int) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(i)).String()[len("0.0.0.0:"):]
}
