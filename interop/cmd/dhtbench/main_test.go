package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/peerfind/peerfind/interop/dhtemu"
)

// TestFindersFindEveryPeer runs each finder as a whole process on a small
// emulated network with loss and dead nodes, and checks correctness only:
// every expected peer of a few targets is found. Round trips are short so
// the test is quick; no time is asserted.
func TestFindersFindEveryPeer(t *testing.T) {
	c := dhtemu.Dense(400)
	c.Seed = 7
	c.MedianRTT, c.MaxRTT = 5*time.Millisecond, 60*time.Millisecond
	c.Targets, c.PeersPerTarget = 3, 20
	nw, err := dhtemu.Start(c)
	if err != nil {
		t.Fatal(err)
	}
	defer nw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tools, err := buildTools(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	targets := nw.Targets()
	for i, tg := range targets {
		if id := nw.Ideal(i); id.Peers != len(tg.Peers) {
			t.Fatalf("target %d: the ideal finder reaches %d of %d peers: the network is broken", i, id.Peers, len(tg.Peers))
		}
	}
	runNo := 0
	for _, f := range []string{finderCold, finderLibtorrent, finderAnacrolix} {
		for i, tg := range targets {
			runNo++
			// libtorrent's lookup ends only when its last outstanding
			// queries (to dead nodes) time out, about 15 s later: the
			// test stops it once it has printed every peer. peerfind and
			// anacrolix must end by themselves.
			stop := f == finderLibtorrent
			cmd := tools.command(ctx, f, nw, tg.InfoHash, runNo, filepath.Join(t.TempDir(), "state"), 20*time.Second)
			r, err := run(cmd, nw, 40*time.Second, tg.Peers, stop)
			if err != nil {
				t.Errorf("%s, target %d: %v", f, i, err)
				continue
			}
			if r.killed {
				t.Errorf("%s, target %d: still running after 40 s; stderr: %s", f, i, r.stderr)
			}
			if n := r.foundCount(); n != len(tg.Peers) {
				t.Errorf("%s, target %d: found %d of %d peers (%d queries); stderr: %s", f, i, n, len(tg.Peers), r.counts.Total(), r.stderr)
			}
			if r.counts.Total() == 0 {
				t.Errorf("%s, target %d: the emulator saw no queries from the run", f, i)
			}
		}
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{{"-setting", "x"}, {"-finders", "nobody"}, {"-bogus"}} {
		if code := runMain(context.Background(), args, os.Stdout, new(tailBuffer)); code != 2 {
			t.Errorf("dhtbench %v: exit %d, want 2", args, code)
		}
	}
}

// TestLostBootstrapReplies: the only node peerfind knows, the bootstrap
// node, drops its first queries (as if the datagrams were lost); peerfind
// must ask it again and still find every peer, not give up after one
// silent query. With every node dropping the first query from each source,
// the lookup starves after the bootstrap node's reply and must ask the
// silent nodes again too; there it must find peers (which holders it asks
// again is a matter of time against completeness, so not every peer is
// asserted).
func TestLostBootstrapReplies(t *testing.T) {
	for _, tc := range []struct {
		drop          int
		bootstrapOnly bool
	}{{1, true}, {3, true}, {1, false}} {
		c := dhtemu.Dense(300)
		c.Seed = 11
		c.MedianRTT, c.MaxRTT = 5*time.Millisecond, 60*time.Millisecond
		c.Loss, c.Dead = 0, 0
		c.Targets, c.PeersPerTarget = 1, 20
		c.DropFirst, c.DropFirstBootstrapOnly = tc.drop, tc.bootstrapOnly
		nw, err := dhtemu.Start(c)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		tools, err := buildTools(ctx, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		tg := nw.Targets()[0]
		cmd := tools.command(ctx, finderCold, nw, tg.InfoHash, 1, filepath.Join(t.TempDir(), "state"), 20*time.Second)
		r, err := run(cmd, nw, 40*time.Second, tg.Peers, false)
		cancel()
		nw.Close()
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		n := r.foundCount()
		switch {
		case tc.bootstrapOnly && n != len(tg.Peers):
			t.Errorf("bootstrap node drops its first %d queries: found %d of %d peers; stderr: %s", tc.drop, n, len(tg.Peers), r.stderr)
		case !tc.bootstrapOnly && n == 0:
			t.Errorf("every node drops the first query: found no peer; stderr: %s", r.stderr)
		}
	}
}
