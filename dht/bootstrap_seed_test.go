package dht

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/peerfind/peerfind/dht/internal/krpc"
	"github.com/peerfind/peerfind/dht/internal/nodeid"
	"github.com/peerfind/peerfind/dht/internal/routing"
	"github.com/peerfind/peerfind/internal/compact"
)

// stingySeed answers like anacrolix/dht v2.23.0 often does: find_node for
// the querier's own id gets no nodes, while find_node for other targets gets
// the 8 closest nodes of the network it knows. It runs until conn closes.
func stingySeed(conn net.PacketConn, self ID, network []*Node) {
	buf := make([]byte, krpc.MaxPacket)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return
		}
		m, err := krpc.Parse(buf[:n])
		if err != nil || m.Y != krpc.KindQuery || m.A == nil {
			continue
		}
		r := &krpc.Return{ID: string(self[:])}
		if m.Q == methodFindNode && m.A.Target != m.A.ID && len(m.A.Target) == len(ID{}) {
			target := ID([]byte(m.A.Target))
			closest := slices.Clone(network)
			slices.SortFunc(closest, func(a, b *Node) int { return nodeid.CompareDistance(target, a.ID(), b.ID()) })
			var nodes []byte
			for _, nd := range closest[:routing.K] {
				nodes = compact.AppendNode(nodes, compact.Node{ID: nd.ID(), Addr: nd.LocalAddrs()[0]})
			}
			r.Nodes = string(nodes)
		}
		out, err := krpc.Append(nil, &krpc.Msg{T: m.T, Y: krpc.KindResponse, R: r})
		if err == nil {
			conn.WriteTo(out, from)
		}
	}
}

// TestBootstrapThinTableRefreshesBeforeReturning: when the only seed answers
// our own-id find_node with no nodes, Bootstrap must not return with a
// one-node table (a lookup from it queries that node and "converges" with
// nothing): the bucket refresh runs before Bootstrap returns.
func TestBootstrapThinTableRefreshesBeforeReturning(t *testing.T) {
	network := buildNetwork(t, 40, 23)
	seedConn := listenUDP(t, "127.0.9.30")
	defer seedConn.Close()
	go stingySeed(seedConn, ID{0x55, 0x55}, network)

	cfg := testConfig(24)
	cfg.BootstrapNodes = []netip.AddrPort{netip.MustParseAddrPort(seedConn.LocalAddr().String())}
	n := newTestNode(t, "127.0.9.31", cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rep, err := n.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s := n.Stats(); s.Good4 < routing.K {
		t.Fatalf("Bootstrap returned with %d good nodes (report %+v); want at least %d", s.Good4, rep, routing.K)
	}
}

// TestRouterNeverInTable: a bootstrap router stays out of the table even
// when we meet it again as an ordinary node — named by other nodes in a
// later lookup, or sending us a query itself.
func TestRouterNeverInTable(t *testing.T) {
	network := buildNetwork(t, 30, 29)
	router := network[0]
	routerAddr := nodeAddr(t, router)
	cfg := testConfig(30)
	cfg.BootstrapRouters = []string{routerAddr.String()}
	n := newTestNode(t, "127.0.9.32", cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := n.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := router.Ping(ctx, nodeAddr(t, n)); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if _, _, err := n.FindNode(ctx, router.ID().Xor(ID{byte(i)})); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := n.tables[0].Load().Get(routerAddr); ok {
		t.Fatalf("router %v is in the table", routerAddr)
	}
}
