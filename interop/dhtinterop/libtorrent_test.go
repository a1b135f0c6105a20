package dhtinterop

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/peerfind/peerfind/interop/internal/thirdparty"
	"github.com/peerfind/peerfind/metainfo"
)

// TestLibtorrent puts a libtorrent 2.0 DHT node (python3-libtorrent, driven by
// lt.py node, in internal/thirdparty) into a network of 8 anacrolix servers
// and 8 of our nodes, bootstrapping off ours, and checks both directions:
//   - a torrent libtorrent announces is found by our GetPeers;
//   - libtorrent keeps our nodes in its routing table (it only keeps nodes
//     that answer its queries correctly);
//   - our announce_peer reaches libtorrent with a token it accepts;
//   - libtorrent's get_peers gets "values" from our node (a peer stored only
//     there) and finds a peer our node announced.
//
// libtorrent's Python binding sometimes dies by a signal; the crash policy
// of thirdparty.RetryAfterCrash applies, contact meaning that libtorrent's
// packet log shows a packet to or from one of our nodes.
//
// Set DHTINTEROP_DUMP=1 to see libtorrent's DHT log even when it passes.
func TestLibtorrent(t *testing.T) {
	requireLibtorrent(t)
	ctx, cancel := context.WithTimeout(t.Context(), 110*time.Second)
	defer cancel()
	m := startMixed(ctx, t, mixedConfig{first: 400, nAna: 8, nOurs: 8})
	ours := m.ours
	isOurs := make(map[netip.AddrPort]bool)
	for _, o := range ours {
		isOurs[o.addr] = true
	}
	peerfind := func(a netip.AddrPort) bool { return isOurs[a] }
	// A libtorrent crash after it exchanged packets with our nodes runs
	// the checks again once, against a new libtorrent node.
	thirdparty.RetryAfterCrash(t, "python3-libtorrent (lt.py node)", func(try int) thirdparty.Outcome {
		actx, acancel := context.WithTimeout(ctx, 55*time.Second)
		defer acancel()
		lt, crash := startLibtorrent(actx, t, loopbackIP(449+try),
			[]netip.AddrPort{ours[0].addr},
			[]netip.AddrPort{ours[1].addr, ours[2].addr, m.ana[0].addr})
		if crash == nil {
			crash = libtorrentChecks(actx, t, m, lt, isOurs)
		}
		if crash != nil {
			return thirdparty.Outcome{Crash: crash, Contact: lt.contact(peerfind)}
		}
		return thirdparty.Outcome{}
	})
}

// errStep ends a step of libtorrentChecks; stepCrash ends all of them.
type (
	errStep   struct{}
	stepCrash struct{ c *thirdparty.Crash }
)

// libtorrentChecks runs the checks of TestLibtorrent as steps: a failed
// step is reported and the next runs. A failure with libtorrent dead by a
// signal is not reported: the crash is returned for the crash policy.
func libtorrentChecks(ctx context.Context, t *testing.T, m *mixedNet, lt *ltNode, isOurs map[netip.AddrPort]bool) (crash *thirdparty.Crash) {
	t.Logf("libtorrent node %s at %v", lt.id, lt.addr)
	ours := m.ours
	failed := false
	defer func() {
		if failed || os.Getenv("DHTINTEROP_DUMP") != "" {
			lt.dump(t)
		}
	}()
	step := ""
	// fail ends the current step, or all of them if libtorrent crashed.
	fail := func(format string, args ...any) {
		t.Helper()
		if c := lt.p.Crash(time.Second); c != nil {
			t.Logf("%s: %s (libtorrent crashed: %s)", step, fmt.Sprintf(format, args...), c.Status)
			panic(stepCrash{c})
		}
		failed = true
		t.Errorf("%s: %s", step, fmt.Sprintf(format, args...))
		panic(errStep{})
	}
	run := func(name string, f func()) (c *thirdparty.Crash) {
		step = name
		defer func() {
			switch r := recover().(type) {
			case nil, errStep:
			case stepCrash:
				c = r.c
			default:
				panic(r)
			}
		}()
		f()
		return nil
	}
	steps := []struct {
		name string
		f    func()
	}{
		{"libtorrent learns our nodes", func() {
			var live map[netip.AddrPort]bool
			err := waitFor(ctx, 250*time.Millisecond, func() bool {
				var err error
				live, err = lt.liveNodes(ctx)
				if err != nil {
					return false
				}
				n := 0
				for a := range live {
					if isOurs[a] {
						n++
					}
				}
				return n >= 3
			})
			if err != nil {
				fail("libtorrent's routing table holds fewer than 3 of our nodes: %v (%v)", live, err)
			}
			heard, err := lt.heard(ctx)
			if err != nil {
				fail("heard: %v", err)
			}
			n := 0
			for a := range heard {
				if isOurs[a] {
					n++
				}
			}
			t.Logf("libtorrent: %d nodes in its table, heard from %d of our 8 nodes", len(live), n)
		}},
		{"our lookup finds libtorrent's announce", func() {
			ih := randomHash()
			peer, err := lt.announce(ctx, ih)
			if err != nil {
				fail("%v", err)
			}
			start := time.Now()
			var res ourLookup
			err = waitFor(ctx, 500*time.Millisecond, func() bool {
				lctx, lcancel := context.WithTimeout(ctx, 8*time.Second)
				defer lcancel()
				res, _ = ours[5].getPeers(lctx, ih, nil)
				return res.peers[peer]
			})
			if err != nil {
				fail("our GetPeers never found libtorrent's peer %v: found %v (stats %+v): %v", peer, res.peers, res.stats, err)
			}
			t.Logf("found %v %v after the announce started, from %v", peer, time.Since(start).Round(time.Millisecond), res.from[peer])
		}},
		{"our announce_peer reaches libtorrent", func() {
			id, err := lt.nodeID(ctx)
			if err != nil {
				fail("%v", err)
			}
			ih := nearHash(id)
			hexIH := fmt.Sprintf("%x", ih)
			announcer := ours[6]
			const port = 7500
			mark := lt.mark()
			err = waitFor(ctx, time.Second, func() bool {
				actx, acancel := context.WithTimeout(ctx, 8*time.Second)
				defer acancel()
				if st, err := announcer.n.Announce(actx, metainfo.Hash(ih), port, false); err != nil {
					t.Logf("our announce: %v (stats %+v)", err, st)
				}
				wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
				defer wcancel()
				_, err := lt.wait(wctx, mark, func(e ltEvent) bool {
					return e.Event == "incoming_announce" && e.InfoHash == hexIH
				})
				return err == nil
			})
			if err != nil {
				fail("libtorrent never accepted our announce_peer for %s: %v", hexIH, err)
			}
			ev, _ := lt.wait(ctx, mark, func(e ltEvent) bool { return e.Event == "incoming_announce" && e.InfoHash == hexIH })
			if ev.IP != announcer.addr.Addr().String() || ev.Port != port {
				fail("libtorrent recorded the announce as %s:%d, want %v:%d", ev.IP, ev.Port, announcer.addr.Addr(), port)
			}
		}},
		{"libtorrent's lookup gets values from our node", func() {
			// The peer is stored at our node closest to the hash, and
			// only there: an anacrolix server announces it to that node
			// alone.
			w := ours[3]
			ih := nearHash(w.n.ID())
			a := m.ana[5]
			const port = 7501
			if err := a.announceTo(ctx, w.addr, ih, port); err != nil {
				fail("placing the peer at our node: %v", err)
			}
			peer := netip.AddrPortFrom(a.addr.Addr(), port)
			var peers []netip.AddrPort
			err := waitFor(ctx, 500*time.Millisecond, func() bool {
				var err error
				peers, err = lt.getPeers(ctx, ih)
				return err == nil && contains(peers, peer) && lt.gotValues(w.addr, peer)
			})
			if err != nil {
				fail("libtorrent's get_peers: want %v from our node %v; last reply %v: %v", peer, w.addr, peers, err)
			}
		}},
		{"libtorrent's lookup finds our announce", func() {
			ih := randomHash()
			announcer := ours[7]
			const port = 7502
			if st, err := announcer.n.Announce(ctx, metainfo.Hash(ih), port, false); err != nil {
				fail("our announce: %v (stats %+v)", err, st)
			}
			peer := netip.AddrPortFrom(announcer.addr.Addr(), port)
			var peers []netip.AddrPort
			err := waitFor(ctx, 500*time.Millisecond, func() bool {
				var err error
				peers, err = lt.getPeers(ctx, ih)
				return err == nil && contains(peers, peer)
			})
			if err != nil {
				fail("libtorrent's get_peers never found %v: last reply %v: %v", peer, peers, err)
			}
		}},
	}
	for _, st := range steps {
		if c := run(st.name, st.f); c != nil {
			return c
		}
	}
	return nil
}
