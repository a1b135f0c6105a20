package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/peerfind/peerfind/interop/dhtemu"
	"github.com/peerfind/peerfind/metainfo"
	"github.com/peerfind/peerfind/swarmtest"
	"github.com/peerfind/peerfind/tracker"
)

// testbed is the network the runs search: its targets, the flags that
// point peerfind at it, and the counters read around each run.
type testbed struct {
	describe string
	common   []string       // flags of every peerfind command
	hashes   []string       // the targets, hex
	held     map[string]int // hex hash → distinct peers held by all sources
	// dhtQueries returns the DHT queries received so far by all nodes.
	dhtQueries func() int64
	// trackerReqs returns the tracker requests received so far; nil when
	// they are not counted (then inferred from the output).
	trackerReqs func() int64
	// httpConns returns the TCP connections the HTTP tracker accepted so
	// far; nil when not counted.
	httpConns func() int64
	close     func()
}

// emulatedBed starts a dhtemu network holding the peers of n targets and
// two slow trackers (HTTP, UDP), each holding a part of every target's DHT
// peers and a few of its own.
func emulatedBed(o *options, n int, stderr io.Writer) (*testbed, error) {
	c := dhtemu.Sparse(o.nodes)
	if o.setting == "dense" {
		c = dhtemu.Dense(o.nodes)
	}
	c.Seed = o.seed
	c.Targets = n
	fmt.Fprintf(stderr, "crawlbench: starting an emulated DHT of %d nodes (%s) holding %d targets\n", o.nodes, o.setting, n)
	t0 := time.Now()
	nw, err := dhtemu.Start(c)
	if err != nil {
		return nil, err
	}
	lat := newLatency(o.seed, c.MedianRTT, c.RTTSigma, c.MaxRTT, c.Loss)
	tr, err := startSlowTrackers(lat)
	if err != nil {
		nw.Close()
		return nil, err
	}
	var dead []*deadTracker
	for range o.deadTrackers {
		d, err := startDeadTracker()
		if err != nil {
			for _, d := range dead {
				d.Close()
			}
			tr.Close()
			nw.Close()
			return nil, err
		}
		dead = append(dead, d)
	}
	b := &testbed{
		held: map[string]int{},
		common: []string{"--tracker", tr.HTTPURL, "--tracker", tr.UDPURL, "--bootstrap", nw.Bootstrap().String(),
			"--timeout", o.timeout.String(), "-4"},
		dhtQueries: func() int64 {
			var q int64
			for _, c := range nw.Counts() {
				q += c.Total()
			}
			return q
		},
		trackerReqs: func() int64 {
			n := tr.Requests()
			for _, d := range dead {
				n += d.reads.Load()
			}
			return n
		},
		httpConns: tr.Conns,
		close: func() {
			for _, d := range dead {
				d.Close()
			}
			tr.Close()
			nw.Close()
		},
	}
	for _, d := range dead {
		b.common = append(b.common, "--tracker", d.URL)
	}
	r := rand.New(rand.NewPCG(o.seed, 0x747267))
	own := 0 // tracker-only peers handed out so far: 11.x.y.z, distinct
	for _, tg := range nw.Targets() {
		h := metainfo.Hash(tg.InfoHash)
		key := hex.EncodeToString(tg.InfoHash[:])
		b.hashes = append(b.hashes, key)
		dhtPeers := map[netip.AddrPort]bool{}
		for _, p := range tg.Peers {
			dhtPeers[p] = true
		}
		union := len(tg.Peers)
		for _, srv := range []*tracker.Server{tr.HTTP, tr.UDP} {
			for _, k := range r.Perm(len(tg.Peers))[:min(o.trackerShared, len(tg.Peers))] {
				srv.AddPeer(h, tg.Peers[k], r.IntN(2) == 0)
			}
			for range o.trackerOwn {
				var p netip.AddrPort
				for {
					own++
					p = netip.AddrPortFrom(netip.AddrFrom4([4]byte{11, byte(own >> 16), byte(own >> 8), byte(own)}), 6881)
					if !dhtPeers[p] {
						break
					}
				}
				srv.AddPeer(h, p, r.IntN(2) == 0)
				union++
			}
		}
		b.held[key] = union
	}
	b.describe = fmt.Sprintf("emulated network: a %s DHT of %d nodes (dhtemu: RTT log-normal median %v, sigma %.2f, cap %v; %.0f%% dead, %.0f%% loss), "+
		"%d targets with %d DHT peers each; an HTTP and a UDP tracker with the same RTT drawn per request (%.0f%% UDP loss; "+
		"a round trip more per new TCP connection), each holding %d of a target's DHT peers and %d of its own; %d dead UDP tracker(s); set up in %.0fs",
		o.setting, o.nodes, c.MedianRTT, c.RTTSigma, c.MaxRTT, 100*c.Dead, 100*c.Loss, n, c.PeersPerTarget, 100*c.Loss,
		o.trackerShared, o.trackerOwn, o.deadTrackers, time.Since(t0).Seconds())
	return b, nil
}

// loopbackBed is the old network: a swarmtest swarm of real peerfind DHT
// nodes and trackers on loopback, where every round trip is about zero.
func loopbackBed(ctx context.Context, o *options, n int, stderr io.Writer) (*testbed, error) {
	fmt.Fprintf(stderr, "crawlbench: starting a loopback swarm of %d DHT nodes and %d torrents\n", o.loopNodes, n)
	sctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	sw, err := swarmtest.Start(sctx, swarmtest.Config{Nodes: o.loopNodes, Peers: 4})
	if err != nil {
		return nil, err
	}
	torrents, err := sw.AddTorrents(sctx, swarmtest.TorrentsConfig{N: n, Peers: o.loopPeers, DHT: o.loopDHTTargets})
	if err != nil {
		sw.Close()
		return nil, err
	}
	b := &testbed{
		describe: fmt.Sprintf("loopback swarm: %d peerfind DHT nodes, one HTTP and one UDP tracker, no added latency; %d torrents of %d peers, %d of them also on the DHT",
			o.loopNodes, n, o.loopPeers, o.loopDHTTargets),
		held:   map[string]int{},
		common: []string{"--tracker", sw.HTTPTracker, "--tracker", sw.UDPTracker, "--timeout", o.timeout.String()},
		dhtQueries: func() int64 {
			var q int64
			for _, nd := range sw.Nodes {
				q += int64(nd.Stats().QueriesIn)
			}
			return q
		},
		close: func() { sw.Close() },
	}
	for _, a := range sw.Bootstrap {
		b.common = append(b.common, "--bootstrap", a.String())
	}
	for _, t := range torrents {
		b.hashes = append(b.hashes, t.InfoHash.String())
		b.held[t.InfoHash.String()] = len(t.Peers)
	}
	return b, nil
}
