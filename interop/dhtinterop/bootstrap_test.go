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
//
// anacrolix/dht v2.23.0 builds "nodes" (table.closestNodes) by walking its
// buckets from the one of the target down to bucket 0 only: the buckets
// past the target's, which hold nodes as close to it as bucket 0's or
// closer, are never visited, so a server whose low buckets are empty answers
// with few or no nodes although its table is full. Our id is chosen to
// differ from the entry server's in the first bit, so that the walk starts
// at bucket 0 — half of its table — and the test measures our bootstrap,
// not that walk.
func TestBootstrapFromAnacrolix(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	var seeds seedList
	ana := startAnaNetwork(ctx, t, 200, 16, &seeds)
	// Further rounds let the first servers learn the later ones; the entry
	// is the server with the most nodes in its bucket 0. anacrolix's own
	// bootstrap fills bucket 0 slowly (see above), so allow a few rounds.
	var entry *anaNode
	best := -1
	for round := 0; round < 8 && best < 4; round++ {
		for _, a := range ana[round%4*3 : round%4*3+3] {
			if err := a.bootstrap(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for _, a := range ana {
			if n := bucket0(a); n > best {
				entry, best = a, n
			}
		}
	}
	if best < 4 {
		t.Fatalf("no anacrolix server has 4 nodes in its bucket 0 (best %d): network too young", best)
	}
	entryID := entry.srv.ID()

	t.Run("node", func(t *testing.T) {
		conn := listenLoopback(t, loopbackIP(230))
		n, err := dht.New(dht.Config{
			Conn4:            conn,
			ID:               farID(entryID),
			BootstrapNodes:   []netip.AddrPort{entry.addr},
			BootstrapRouters: []string{},
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
		checkKnown(ctx, t, ana, conn.LocalAddr().String())
	})

	t.Run("router", func(t *testing.T) {
		conn := listenLoopback(t, loopbackIP(231))
		n, err := dht.New(dht.Config{
			Conn4:            conn,
			ID:               farID(entryID),
			BootstrapRouters: []string{entry.addr.String()},
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

// checkKnown requires some anacrolix server to have put our node in its
// table: anacrolix adds the nodes that query it when their bucket has room,
// so our queries must have been valid KRPC with a usable id. (Not
// necessarily the entry server: our id falls into its bucket 0, which the
// test chose for being full.)
func checkKnown(ctx context.Context, t *testing.T, ana []*anaNode, ours string) {
	t.Helper()
	var knowers []netip.AddrPort
	err := waitFor(ctx, 50*time.Millisecond, func() bool {
		knowers = knowers[:0]
		for _, a := range ana {
			for _, ni := range a.srv.Nodes() {
				if toAddrPort(ni.Addr).String() == ours {
					knowers = append(knowers, a.addr)
				}
			}
		}
		return len(knowers) > 0
	})
	if err != nil {
		t.Errorf("no anacrolix server put our node %v in its table: %v", ours, err)
	}
	t.Logf("%d anacrolix servers have our node in their table", len(knowers))
}

// bucket0 counts the nodes in a's table whose id differs from a's in the
// first bit: its bucket 0.
func bucket0(a *anaNode) int {
	self := a.srv.ID()
	n := 0
	for _, ni := range a.srv.Nodes() {
		if (ni.ID[0]^self[0])&0x80 != 0 {
			n++
		}
	}
	return n
}

// farID returns a random id whose first bit differs from id's.
func farID(id [20]byte) dht.ID {
	r := dht.ID(randomHash())
	r[0] = r[0]&0x7f | (^id[0])&0x80
	return r
}
