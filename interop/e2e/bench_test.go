package e2e

import (
	"context"
	"encoding/hex"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkSingleBootstrap measures how much of a DHT swarm held by
// anacrolix/dht v2.23.0 nodes one cold `peerfind peers --no-trackers` run
// finds when it is given a single anacrolix node to bootstrap from, as a
// user would give one node. Each round builds a fresh 20-node network (node
// ids, hence routing tables, differ), has three nodes announce a port, and
// bootstraps off the last node started. It reports the share of announced
// peers missed, the share of runs that found none, and the nodes queried.
//
// anacrolix v2.23.0 answers find_node from a walk of only part of its
// buckets, often with few or no nodes (interop/dhtinterop,
// TestBootstrapFromAnacrolix); a bootstrap that ends with the entry node
// alone in the table shows here. Run with e.g.
//
//	go test -run '^$' -bench SingleBootstrap -benchtime 20x ./e2e/
func BenchmarkSingleBootstrap(b *testing.B) {
	missed, emptyRuns, queried, runs, wantTotal := 0, 0, 0, 0, 0
	for b.Loop() {
		ctx, cancel := context.WithTimeout(b.Context(), 30*time.Second)
		an := startAnaNet(ctx, b, 20, func(i int) netip.Addr { return loopback(5, byte(runs), byte(i+1)) })
		ih := [20]byte{0xbe, byte(runs)}
		var want []netip.AddrPort
		for i, nd := range []*anaNode{an.nodes[4], an.nodes[9], an.nodes[14]} {
			port := 7400 + i
			if err := nd.announce(ctx, ih, port); err != nil {
				b.Fatal(err)
			}
			want = append(want, netip.AddrPortFrom(nd.addr.Addr(), uint16(port)))
		}
		cancel()
		r := runPeerfind(b, "peers", hex.EncodeToString(ih[:]), "--no-trackers", "--no-state", "--json",
			"--timeout", "10s", "--bootstrap", an.nodes[len(an.nodes)-1].addr.String())
		jr := parseJSON(b, r.stdout)
		m := 0
		for _, p := range want {
			if _, ok := jr.sources[p]; !ok {
				m++
			}
		}
		missed += m
		wantTotal += len(want)
		if m == len(want) {
			emptyRuns++
			if emptyRuns <= 3 {
				b.Logf("round %d found none of %v (bootstrap %v):\n%s%s", runs, want, an.nodes[len(an.nodes)-1].addr, r.stdout, r.stderr)
			}
		}
		for _, e := range jr.events {
			if e.Type == "dht" {
				queried += e.Queried
			}
		}
		runs++
		// Close this round's network now, not at the end of the benchmark.
		for _, nd := range an.nodes {
			nd.srv.Close()
		}
	}
	b.ReportMetric(100*float64(missed)/float64(wantTotal), "%missed")
	b.ReportMetric(100*float64(emptyRuns)/float64(runs), "%runs-found-none")
	b.ReportMetric(float64(queried)/float64(runs), "queried/op")
}
