package dhtinterop

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/peerfind/peerfind/dht"
)

// TestBootstrapFromAnacrolix starts our node cold with a single anacrolix
// server to bootstrap from, first given as a bootstrap node, then as a
// router: the report must show that it answered, and the table must grow
// well beyond it through anacrolix's find_node replies.
func TestBootstrapFromAnacrolix(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	var seeds seedList
	ana := startAnaNetwork(ctx, t, 200, 16, &seeds)
	// A second round lets the first servers learn the later ones.
	for _, a := range ana[:3] {
		if err := a.bootstrap(ctx); err != nil {
			t.Fatal(err)
		}
	}
	entry := ana[7]

	t.Run("node", func(t *testing.T) {
		conn := listenLoopback(t, loopbackIP(230))
		n, err := dht.New(dht.Config{
			Conn4:            conn,
			BootstrapNodes:   []netip.AddrPort{entry.addr},
			BootstrapRouters: []string{},
			Table:            loopbackTable,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		if s := n.Stats(); s.Table4 != 0 {
			t.Fatalf("table not empty before bootstrap: %d", s.Table4)
		}
		rep, err := n.Bootstrap(ctx)
		if err != nil {
			t.Fatalf("Bootstrap: %v (report %+v)", err, rep)
		}
		t.Logf("report: given %d/%d answered, good4 %d, lookup %+v, %v", rep.GivenAnswered, rep.Given, rep.Good4, rep.Lookup, rep.Duration)
		if rep.Given != 1 || rep.GivenAnswered != 1 {
			t.Errorf("report: %d/%d given nodes answered, want 1/1", rep.GivenAnswered, rep.Given)
		}
		if len(rep.Routers) != 0 {
			t.Errorf("routers tried although the given node sufficed: %+v", rep.Routers)
		}
		checkGrown(t, n, rep, entry.addr, true)
		checkKnows(ctx, t, entry, conn.LocalAddr().String())
	})

	t.Run("router", func(t *testing.T) {
		conn := listenLoopback(t, loopbackIP(231))
		n, err := dht.New(dht.Config{
			Conn4:            conn,
			BootstrapRouters: []string{entry.addr.String()},
			Table:            loopbackTable,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		rep, err := n.Bootstrap(ctx)
		if err != nil {
			t.Fatalf("Bootstrap: %v (report %+v)", err, rep)
		}
		t.Logf("report: routers %+v, good4 %d, lookup %+v, %v", rep.Routers, rep.Good4, rep.Lookup, rep.Duration)
		if len(rep.Routers) != 1 || !slices.Equal(rep.Routers[0].Answered, []netip.AddrPort{entry.addr}) {
			t.Errorf("report routers = %+v, want %v answered", rep.Routers, entry.addr)
		}
		// A router is used for its answers but not kept in the table
		// (BEP 5 routers are not ordinary nodes).
		checkGrown(t, n, rep, entry.addr, false)
	})
}

// checkGrown requires a table of at least 5 good nodes after bootstrapping
// from the single node entry, and says whether entry itself must be in it.
func checkGrown(t *testing.T, n *dht.Node, rep dht.BootstrapReport, entry netip.AddrPort, entryInTable bool) {
	t.Helper()
	s := n.Stats()
	if rep.Good4 < 5 || s.Good4 < 5 {
		t.Errorf("only %d good nodes (report %d) after bootstrapping from %v in a 16-node network, want ≥ 5", s.Good4, rep.Good4, entry)
	}
	if rep.Lookup.Answered < 2 {
		t.Errorf("bootstrap lookup got %d answers: the table did not grow past %v", rep.Lookup.Answered, entry)
	}
	inTable := slices.ContainsFunc(n.State().Nodes, func(ni dht.NodeInfo) bool { return ni.Addr == entry })
	if inTable != entryInTable {
		t.Errorf("%v in our table = %v, want %v", entry, inTable, entryInTable)
	}
}

// checkKnows requires the anacrolix server to have our node in its table:
// it adds nodes that query it, so our queries must have been valid KRPC
// with a usable id.
func checkKnows(ctx context.Context, t *testing.T, a *anaNode, ours string) {
	t.Helper()
	err := waitFor(ctx, 50*time.Millisecond, func() bool {
		for _, ni := range a.srv.Nodes() {
			if toAddrPort(ni.Addr).String() == ours {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Errorf("anacrolix server %v never put our node %v in its table: %v", a.addr, ours, err)
	}
}
