package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peerfind/peerfind/interop/internal/thirdparty"
	"github.com/peerfind/peerfind/metainfo"
	"github.com/peerfind/peerfind/tracker"
)

// swarm is the third-party swarm of TestThirdPartySwarm.
type swarm struct {
	ot     *opentracker
	an     *anaNet
	lt     *ltClient
	tor    ltInfo
	hashes []metainfo.Hash // the swarms: v1, and the truncated v2 hash of a hybrid torrent

	observer *tracker.Client // announces as one of the tracker peers, to read opentracker's swarms
	obsPort  uint16
	obsAddr  netip.AddrPort
}

// truth is what the third-party side holds at one moment, per swarm:
// opentracker's peers (as its reply to an announce shows them; it lists
// the requester too), the peers anacrolix nodes store, and libtorrent's
// listen address.
type truth struct {
	tracker map[netip.AddrPort]map[metainfo.Hash]bool
	dht     map[netip.AddrPort]map[metainfo.Hash][]netip.AddrPort // peer → swarm → anacrolix nodes storing it
	all     map[netip.AddrPort]bool
}

func (s *swarm) truth(ctx context.Context) (truth, error) {
	tr := truth{
		tracker: map[netip.AddrPort]map[metainfo.Hash]bool{},
		dht:     map[netip.AddrPort]map[metainfo.Hash][]netip.AddrPort{},
		all:     map[netip.AddrPort]bool{s.lt.addr: true},
	}
	for _, h := range s.hashes {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := s.observer.Announce(actx, s.ot.HTTP, tracker.AnnounceRequest{InfoHash: h, Port: s.obsPort, NumWant: 200})
		cancel()
		if err != nil {
			return truth{}, err
		}
		for _, p := range append(resp.Peers, s.obsAddr) {
			if tr.tracker[p] == nil {
				tr.tracker[p] = map[metainfo.Hash]bool{}
			}
			tr.tracker[p][h] = true
			tr.all[p] = true
		}
		for p, nodes := range s.an.stored(h) {
			if tr.dht[p] == nil {
				tr.dht[p] = map[metainfo.Hash][]netip.AddrPort{}
			}
			tr.dht[p][h] = nodes
			tr.all[p] = true
		}
	}
	return tr, nil
}

// storedAt describes where the DHT stores p: for each swarm, the XOR
// distance ranks (0 = closest of the anacrolix nodes) of the nodes storing
// it.
func (s *swarm) storedAt(tr truth, p netip.AddrPort) string {
	var b strings.Builder
	b.WriteString("anacrolix nodes storing it, by distance rank:")
	for _, h := range s.hashes {
		ranks := s.an.ranks(h)
		var rs []int
		for _, a := range tr.dht[p][h] {
			rs = append(rs, ranks[a])
		}
		slices.Sort(rs)
		fmt.Fprintf(&b, " %v in %v", rs, h)
	}
	return b.String()
}

// holds reports whether the swarm h holds p, on the tracker or the DHT.
func (tr truth) holds(p netip.AddrPort, h metainfo.Hash) bool {
	return tr.tracker[p][h] || len(tr.dht[p][h]) > 0
}

// wantSources is the sources that should name p: both tracker URLs if
// opentracker holds it, "dht" if an anacrolix node stores it.
func (tr truth) wantSources(p netip.AddrPort, httpURL, udpURL string) []string {
	var want []string
	if len(tr.tracker[p]) > 0 {
		want = append(want, httpURL, udpURL)
	}
	if len(tr.dht[p]) > 0 {
		want = append(want, "dht")
	}
	slices.Sort(want)
	return want
}

// setupSwarm starts the third-party swarm and waits until it holds every
// peer; it returns the swarm and what it holds then. net4 numbers its
// loopback addresses apart from another swarm's; hybrid makes libtorrent's
// torrent a v1+v2 one. Everything it starts ends in t.Cleanup. If
// libtorrent crashes meanwhile, the crash is returned: peerfind has not run
// yet, so that is a crash before contact (thirdparty.RetryAfterCrash).
func setupSwarm(ctx context.Context, t testing.TB, otBin, ltVersion string, net4 byte, hybrid bool) (*swarm, truth, *thirdparty.Crash) {
	t.Helper()
	start := time.Now()

	s := &swarm{}
	s.an = startAnaNet(ctx, t, 20, func(i int) netip.Addr { return loopback(2, net4, byte(i+1)) })
	t.Logf("anacrolix/dht v2.23.0: %d nodes up after %v", len(s.an.nodes), time.Since(start).Round(time.Millisecond))

	// libtorrent makes the torrent, so the info hashes come from
	// third-party code; opentracker must know them before it starts
	// (whitelist), so the ports are chosen first and retried on a race.
	dir := t.TempDir()
	var createArgs []string
	if hybrid {
		createArgs = []string{"--files", "3", "--hybrid"}
	}
	for attempt := 0; ; attempt++ {
		tcp, udp := freePorts(t)
		s.tor = createTorrent(t, dir, fmt.Sprintf("http://127.0.0.1:%d/announce", tcp), createArgs...)
		hexHashes := []string{s.tor.InfoHash}
		if hybrid {
			hexHashes = append(hexHashes, s.tor.InfoHashV2[:40]) // BEP 52: the v2 swarm's key is the truncated hash
		}
		s.hashes = nil
		for _, hx := range hexHashes {
			h, err := metainfo.ParseHash(hx)
			if err != nil {
				t.Fatal(err)
			}
			s.hashes = append(s.hashes, h)
		}
		var err error
		s.ot, err = startOpentracker(t, otBin, tcp, udp, hexHashes...)
		if err == nil {
			break
		}
		if !errors.Is(err, errExited) || attempt == 4 {
			t.Fatalf("opentracker: %v", err)
		}
	}
	t.Logf("opentracker %s at %s and %s; libtorrent %s made %s (swarms %v)", s.ot.Version, s.ot.HTTP, s.ot.UDP, ltVersion, s.tor.Name, s.hashes)
	// lastSwarm is where extra peers of one swarm only go: the v2 swarm
	// of a hybrid torrent, which only a client that reads v2 finds.
	lastSwarm := s.hashes[len(s.hashes)-1]

	// libtorrent: DHT bootstrapped off anacrolix nodes (without any it
	// would announce only after ~20 s, docs/interop.md), the torrent's tracker
	// is opentracker. A hybrid torrent it announces in both swarms.
	all := s.an.addrs()
	var crash *thirdparty.Crash
	if s.lt, crash = startSeeder(ctx, t, dir, s.tor, loopback(4, net4, 1), all[:3], all); crash != nil {
		return nil, truth{}, crash
	}
	t.Logf("libtorrent listens on %v", s.lt.addr)

	// Extra tracker peers: three over HTTP, one over UDP, each from its
	// own loopback IP so opentracker records distinct addresses.
	announce := func(c *tracker.Client, url string, h metainfo.Hash, port uint16, left int64) {
		t.Helper()
		req := tracker.AnnounceRequest{InfoHash: h, Port: port, Left: left, Event: tracker.EventStarted, NumWant: 200}
		actx, acancel := context.WithTimeout(ctx, 10*time.Second)
		defer acancel()
		if _, err := c.Announce(actx, url, req); err != nil {
			t.Fatalf("announcing port %d to %s: %v", port, url, err)
		}
	}
	newHTTPClient := func(ip netip.Addr) *tracker.Client {
		c := &tracker.Client{HTTP: boundHTTP(ip)}
		t.Cleanup(func() { c.Close() })
		return c
	}
	for i := range 3 {
		ip := loopback(3, net4, byte(i+1))
		c := newHTTPClient(ip)
		port := uint16(7001 + i)
		if i == 0 {
			// The observer is in every swarm, to read each.
			s.observer, s.obsPort, s.obsAddr = c, port, netip.AddrPortFrom(ip, port)
			for _, h := range s.hashes {
				announce(c, s.ot.HTTP, h, port, 0)
			}
			continue
		}
		h := s.hashes[0]
		if i == 2 {
			h = lastSwarm
		}
		announce(c, s.ot.HTTP, h, port, int64(i))
	}
	udpConn, err := net.ListenPacket("udp4", netip.AddrPortFrom(loopback(3, net4, 4), 0).String())
	if err != nil {
		t.Fatal(err)
	}
	udpClient := &tracker.Client{Conn4: udpConn}
	t.Cleanup(func() { udpClient.Close() })
	announce(udpClient, s.ot.UDP, s.hashes[0], 7004, 1)

	// Extra DHT peers, through anacrolix's own announce (get_peers
	// traversal, then announce_peer with a port): the storing nodes record
	// the announcing node's IP with that port. The last one also announces
	// to opentracker, so it has both kinds of source.
	dhtAnnouncers := []struct {
		node int
		port uint16
		h    metainfo.Hash
	}{{5, 7101, s.hashes[0]}, {11, 7102, s.hashes[0]}, {17, 7103, lastSwarm}, {8, 7200, s.hashes[0]}}
	type placed struct {
		p netip.AddrPort
		h metainfo.Hash
	}
	var dhtPeers []placed
	for _, a := range dhtAnnouncers {
		nd := s.an.nodes[a.node]
		if err := nd.announce(ctx, a.h, int(a.port)); err != nil {
			t.Fatal(err)
		}
		dhtPeers = append(dhtPeers, placed{netip.AddrPortFrom(nd.addr.Addr(), a.port), a.h})
	}
	announce(newHTTPClient(s.an.nodes[8].addr.Addr()), s.ot.HTTP, s.hashes[0], 7200, 0)

	// Wait (at most 60 s) until the third party holds every peer where a
	// lookup is meant to find it: stored on at least one of the nodes
	// closest to the swarm's hash (BEP 5). libtorrent announces to the
	// tracker at once, but its first DHT announce comes right after its
	// bootstrap, from a thin routing table — anacrolix answers find_node
	// with short node lists — and may land only on nodes far from the
	// hash, where no correct lookup looks; its later announces (every
	// dht_announce_interval, 5 s, or forced) reach the closest nodes.
	ranks := map[metainfo.Hash]map[netip.AddrPort]int{}
	for _, h := range s.hashes {
		ranks[h] = s.an.ranks(h)
	}
	// near reports whether one of the anacrolix nodes storing p in h is
	// among the 7 closest: then it is among the 8 closest of the network
	// whatever libtorrent's node id.
	near := func(tr truth, p netip.AddrPort, h metainfo.Hash) bool {
		for _, a := range tr.dht[p][h] {
			if ranks[h][a] < 7 {
				return true
			}
		}
		return false
	}
	var tr truth
	polls := 0
	pctx, pcancel := context.WithTimeout(ctx, 60*time.Second)
	defer pcancel()
	err = waitFor(pctx, 250*time.Millisecond, func() bool {
		polls++
		if polls%20 == 0 { // every 5 s without success
			s.lt.reannounce()
		}
		var err error
		if tr, err = s.truth(pctx); err != nil {
			t.Logf("reading the swarm: %v", err)
			return false
		}
		for _, h := range s.hashes {
			if !tr.tracker[s.lt.addr][h] || !near(tr, s.lt.addr, h) {
				return false
			}
		}
		for _, p := range dhtPeers {
			if !near(tr, p.p, p.h) {
				return false
			}
		}
		return true
	})
	if err != nil {
		if crash := s.lt.p.Crash(time.Second); crash != nil {
			t.Logf("the third-party swarm did not settle (%v): libtorrent crashed", err)
			return nil, truth{}, crash
		}
		var where []string
		for _, p := range sortedKeys(tr.all) {
			where = append(where, fmt.Sprintf("%v: %s", p, s.storedAt(tr, p)))
		}
		t.Fatalf("the third-party swarm did not settle: %v\nopentracker holds %v\nlibtorrent at %v\n%s",
			err, tr.tracker, s.lt.addr, strings.Join(where, "\n"))
	}
	t.Logf("swarm ready after %v: opentracker holds %d peers, anacrolix nodes store %d, libtorrent at %v; all: %v",
		time.Since(start).Round(time.Millisecond), len(tr.tracker), len(tr.dht), s.lt.addr, sortedKeys(tr.all))
	return s, tr, nil
}
