package dhtinterop

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/anacrolix/dht/v2/krpc"
)

// Benchmark networks have benchNodes nodes (the mixed one half anacrolix/dht
// servers and half ours); benchPeers peers are placed per info hash.
const (
	benchNodes = 200
	benchPeers = 8
)

// lookupSample is one lookup's measurements.
type lookupSample struct {
	queries     int
	first, all  time.Duration // zero if none / not all
	found, want int
}

// benchTotals accumulates the samples of one implementation.
type benchTotals struct {
	n, queries       int
	firsts, alls     []time.Duration
	found, wantPeers int
}

func (t *benchTotals) add(s lookupSample) {
	t.n++
	t.queries += s.queries
	t.found += s.found
	t.wantPeers += s.want
	if s.first > 0 {
		t.firsts = append(t.firsts, s.first)
	}
	if s.all > 0 {
		t.alls = append(t.alls, s.all)
	}
}

func (t *benchTotals) queriesPerOp() float64 { return float64(t.queries) / float64(max(t.n, 1)) }

// median returns the median of ds in milliseconds (0 if empty): lookups on
// 2 shared cores have long scheduling outliers that would swamp a mean.
func median(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[len(s)/2]) / float64(time.Millisecond)
}

func (t *benchTotals) foundPct() float64 {
	return 100 * float64(t.found) / float64(max(t.wantPeers, 1))
}

// BenchmarkLookup compares our get_peers lookup with anacrolix/dht's.
//
//   - mixed/loopback, mixed/rtt=20ms: one network of 100 anacrolix servers
//     and 100 of our nodes, on bare loopback and with 10 ms ± 5 ms added to
//     every datagram (a ~20 ms round trip); both lookups cross the same
//     nodes, so this compares the clients alone.
//   - homogeneous/rtt=20ms: a network of 200 of our nodes and one of 200
//     anacrolix servers, each searched by its own implementation: client and
//     server together, as a network of one implementation behaves.
//
// Each round places benchPeers peers for a fresh info hash, one at each of
// the k closest nodes (placeSwarm, outside the timer), then looks it up once
// with each implementation, in alternating order; no searcher is among the
// 2k closest nodes. Both lookups run to their natural end (ours: the k
// closest nodes known answered; anacrolix: the traversal stalled).
//
// Metrics, for each implementation: the average routing-table size after
// the bootstrap rounds (-table-boot) and at the end, queries sent per lookup (ours:
// LookupStats.Queried; anacrolix: the server's OutboundQueriesAttempted
// delta), median ms to the first peer and to the last of the placed peers
// (over lookups that found them), the percentage of placed peers found, and
// the ours/anacrolix ratios of the three.
func BenchmarkLookup(b *testing.B) {
	rtt20 := withDelay(10*time.Millisecond, 10*time.Millisecond)
	for _, bc := range []struct {
		name        string
		first       int
		homogeneous bool
		wrap        func(net.PacketConn) net.PacketConn
	}{
		{"mixed/loopback", 500, false, nil},
		{"mixed/rtt=20ms", 800, false, rtt20},
		{"homogeneous/rtt=20ms", 1100, true, rtt20},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(b.Context(), 10*time.Minute)
			defer cancel()
			injector := startAnacrolix(b, loopbackIP(bc.first-1), func() []netip.AddrPort { return nil })
			if !bc.homogeneous {
				m := startMixed(ctx, b, mixedConfig{first: bc.first, nAna: benchNodes / 2, nOurs: benchNodes / 2, rounds: 4, wrap: bc.wrap})
				benchLookups(ctx, b, m, m, injector)
				return
			}
			oursNet := startMixed(ctx, b, mixedConfig{first: bc.first, nOurs: benchNodes, rounds: 4, wrap: bc.wrap})
			anaNet := startMixed(ctx, b, mixedConfig{first: bc.first + benchNodes, nAna: benchNodes, rounds: 4, wrap: bc.wrap})
			benchLookups(ctx, b, oursNet, anaNet, injector)
		})
	}
}

// benchLookups runs the measured rounds: our lookup in oursNet, anacrolix's
// in anaNet (the same network in the mixed case).
func benchLookups(ctx context.Context, b *testing.B, oursNet, anaNet *mixedNet, injector *anaNode) {
	var ours, ana benchTotals
	// Routing-table fill after the bootstrap rounds, before any lookup:
	// what the first lookup of a fresh node starts from.
	oursBoot, _ := tableFill(oursNet)
	_, anaBoot := tableFill(anaNet)
	round := 0
	for b.Loop() {
		b.StopTimer()
		ih, want, near := placeSwarm(ctx, b, oursNet, injector)
		ihA, wantA, nearA := ih, want, near
		if anaNet != oursNet {
			ihA, wantA, nearA = placeSwarm(ctx, b, anaNet, injector)
		}
		// The searchers are outside the 2k closest nodes: a lookup does not
		// consult its own node's store, and a searcher next to the hash
		// would have nothing to search.
		o := oursNet.ours[(round*7+3)%len(oursNet.ours)]
		for near[o.addr] {
			o = oursNet.ours[(slices.Index(oursNet.ours, o)+1)%len(oursNet.ours)]
		}
		a := anaNet.ana[(round*7+3)%len(anaNet.ana)]
		for nearA[a.addr] {
			a = anaNet.ana[(slices.Index(anaNet.ana, a)+1)%len(anaNet.ana)]
		}
		b.StartTimer()
		runOurs := func() {
			lctx, lcancel := context.WithTimeout(ctx, 30*time.Second)
			defer lcancel()
			res, err := o.getPeers(lctx, ih, want)
			if err != nil {
				b.Logf("our lookup from %v: %v", o.addr, err)
			}
			if os.Getenv("DHTINTEROP_DEBUG") != "" {
				fmt.Fprintf(os.Stderr, "ours %v: missing %v first %v all %v stats %+v\n", o.addr, missingRanks(res.peers, want), res.firstPeer, res.allPeers, res.stats)
			}
			ours.add(lookupSample{queries: res.stats.Queried, first: res.firstPeer, all: res.allPeers,
				found: countFound(res.peers, want), want: len(want)})
		}
		runAna := func() {
			lctx, lcancel := context.WithTimeout(ctx, 30*time.Second)
			defer lcancel()
			before := a.srv.Stats().OutboundQueriesAttempted
			res, err := a.lookup(lctx, ihA, 0, wantA, false)
			if err != nil {
				b.Logf("anacrolix lookup from %v: %v", a.addr, err)
			}
			if os.Getenv("DHTINTEROP_DEBUG") != "" {
				fmt.Fprintf(os.Stderr, "ana %v: missing %v queried %d first %v all %v elapsed %v\n", a.addr, missingRanks(res.peers, wantA), res.queried, res.firstPeer, res.allPeers, res.elapsed)
			}
			ana.add(lookupSample{queries: int(a.srv.Stats().OutboundQueriesAttempted - before), first: res.firstPeer,
				all: res.allPeers, found: countFound(res.peers, wantA), want: len(wantA)})
		}
		if round%2 == 0 {
			runOurs()
			runAna()
		} else {
			runAna()
			runOurs()
		}
		round++
	}
	// Routing-table fill, which decides how far from the target a lookup
	// starts: after the bootstrap and at the end, when the lookups have
	// added the nodes that answered them.
	oursEnd, _ := tableFill(oursNet)
	_, anaEnd := tableFill(anaNet)
	b.ReportMetric(oursBoot, "ours-table-boot")
	b.ReportMetric(anaBoot, "ana-table-boot")
	b.ReportMetric(oursEnd, "ours-table-nodes")
	b.ReportMetric(anaEnd, "ana-table-nodes")
	b.ReportMetric(ours.queriesPerOp(), "ours-queries/op")
	b.ReportMetric(ana.queriesPerOp(), "ana-queries/op")
	b.ReportMetric(median(ours.firsts), "ours-ms-first/op")
	b.ReportMetric(median(ana.firsts), "ana-ms-first/op")
	b.ReportMetric(median(ours.alls), "ours-ms-all/op")
	b.ReportMetric(median(ana.alls), "ana-ms-all/op")
	b.ReportMetric(ours.foundPct(), "ours-found-%")
	b.ReportMetric(ana.foundPct(), "ana-found-%")
	if ana.queries > 0 {
		b.ReportMetric(ours.queriesPerOp()/ana.queriesPerOp(), "queries-ratio")
	}
	if median(ana.firsts) > 0 && median(ours.firsts) > 0 {
		b.ReportMetric(median(ours.firsts)/median(ana.firsts), "first-ratio")
	}
	if median(ana.alls) > 0 && median(ours.alls) > 0 {
		b.ReportMetric(median(ours.alls)/median(ana.alls), "all-ratio")
	}
}

// tableFill returns the average routing-table size (IPv4, nodes in
// buckets) of our nodes and of the anacrolix servers of m.
func tableFill(m *mixedNet) (ours, ana float64) {
	sum := 0
	for _, o := range m.ours {
		sum += o.n.Stats().Table4
	}
	ours = float64(sum) / float64(max(len(m.ours), 1))
	sum = 0
	for _, a := range m.ana {
		sum += a.srv.NumNodes()
	}
	return ours, float64(sum) / float64(max(len(m.ana), 1))
}

// placeSwarm stores benchPeers peers for a fresh info hash, peer i at the
// node of rank i by XOR distance to the hash, so that every peer sits at
// exactly one of the k closest nodes: a lookup has all of them only once it
// has reached all k, which makes time-to-first and time-to-all differ.
// Peers at anacrolix servers go straight into their stores; peers at our
// nodes arrive through get_peers + announce_peer from the injector, an
// anacrolix server outside the network. Each peer is the injector's IP with
// its own port.
//
// near holds the addresses of the 2k nodes closest to the hash.
func placeSwarm(ctx context.Context, tb testing.TB, m *mixedNet, injector *anaNode) (ih [20]byte, want []netip.AddrPort, near map[netip.AddrPort]bool) {
	tb.Helper()
	ih = randomHash()
	type holder struct {
		id  [20]byte
		ana *anaNode
		our *ourNode
	}
	var all []holder
	for _, a := range m.ana {
		all = append(all, holder{id: a.srv.ID(), ana: a})
	}
	for _, o := range m.ours {
		all = append(all, holder{id: o.n.ID(), our: o})
	}
	slices.SortFunc(all, func(x, y holder) int { return compareDistance(ih, x.id, y.id) })
	near = make(map[netip.AddrPort]bool)
	for _, h := range all[:2*8] { // twice K, the bucket size of BEP 5
		if h.ana != nil {
			near[h.ana.addr] = true
		} else {
			near[h.our.addr] = true
		}
	}
	want = make([]netip.AddrPort, benchPeers)
	if os.Getenv("DHTINTEROP_DEBUG") != "" {
		var kinds []string
		for _, h := range all[:benchPeers] {
			if h.ana != nil {
				kinds = append(kinds, "ana "+h.ana.addr.String())
			} else {
				kinds = append(kinds, "ours "+h.our.addr.String())
			}
		}
		tb.Logf("holders: %v", kinds)
	}
	for i := range benchPeers {
		port := 10000 + i
		want[i] = netip.AddrPortFrom(injector.addr.Addr(), uint16(port))
		h := all[i]
		if h.ana != nil {
			h.ana.store.AddPeer(ih, krpc.NodeAddr{IP: want[i].Addr().AsSlice(), Port: port})
			continue
		}
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := injector.announceTo(actx, h.our.addr, ih, port)
		cancel()
		if err != nil {
			tb.Fatalf("placing peer %d at our node %v: %v", i, h.our.addr, err)
		}
	}
	return ih, want, near
}

func countFound(found map[netip.AddrPort]bool, want []netip.AddrPort) int {
	n := 0
	for _, w := range want {
		if found[w] {
			n++
		}
	}
	return n
}

func missingRanks(found map[netip.AddrPort]bool, want []netip.AddrPort) []int {
	var out []int
	for i, w := range want {
		if !found[w] {
			out = append(out, i)
		}
	}
	return out
}

// compareDistance orders a and b by their XOR distance to target (BEP 5),
// for slices.SortFunc.
func compareDistance(target, a, b [20]byte) int {
	for i := range target {
		if da, db := a[i]^target[i], b[i]^target[i]; da != db {
			return cmp.Compare(da, db)
		}
	}
	return 0
}
