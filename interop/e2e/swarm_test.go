package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

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

// TestThirdPartySwarm runs peerfind against a swarm held entirely by
// third-party software: opentracker, 20 anacrolix/dht v2 nodes, and a
// libtorrent client that made the torrent and announces itself to both,
// plus extra peers announced to opentracker (HTTP and UDP) and through
// anacrolix's own announce. Every peer the third-party side holds must be
// printed, with the right sources, and nothing else. The hybrid variant
// (BEP 52 v1+v2 torrent) has libtorrent announce in both swarms and puts
// some extra peers in the v2 swarm only.
func TestThirdPartySwarm(t *testing.T) {
	otBin := requireOpentracker(t)
	ltVersion := requireLibtorrent(t)
	for i, hybrid := range []bool{false, true} {
		name := "v1"
		if hybrid {
			name = "hybrid"
		}
		t.Run(name, func(t *testing.T) {
			testSwarm(t, otBin, ltVersion, byte(i), hybrid)
		})
	}
}

// setupSwarm starts the third-party swarm and waits until it holds every
// peer; it returns the swarm and what it holds then. net4 numbers its
// loopback addresses apart from another swarm's; hybrid makes libtorrent's
// torrent a v1+v2 one. Everything it starts ends in t.Cleanup.
func setupSwarm(ctx context.Context, t testing.TB, otBin, ltVersion string, net4 byte, hybrid bool) (*swarm, truth) {
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
	// would announce only after ~20 s, INTEROP.md), the torrent's tracker
	// is opentracker. A hybrid torrent it announces in both swarms.
	all := s.an.addrs()
	s.lt = startSeeder(ctx, t, dir, s.tor, loopback(4, net4, 1), all[:3], all)
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
		// StopTimeout -1: Close must not withdraw the peer.
		c := &tracker.Client{HTTP: boundHTTP(ip), StopTimeout: -1}
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
	udpClient := &tracker.Client{Conn4: udpConn, StopTimeout: -1}
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
		var where []string
		for _, p := range sortedKeys(tr.all) {
			where = append(where, fmt.Sprintf("%v: %s", p, s.storedAt(tr, p)))
		}
		t.Fatalf("the third-party swarm did not settle: %v\nopentracker holds %v\nlibtorrent at %v\n%s",
			err, tr.tracker, s.lt.addr, strings.Join(where, "\n"))
	}
	t.Logf("swarm ready after %v: opentracker holds %d peers, anacrolix nodes store %d, libtorrent at %v; all: %v",
		time.Since(start).Round(time.Millisecond), len(tr.tracker), len(tr.dht), s.lt.addr, sortedKeys(tr.all))
	return s, tr
}

// testSwarm is one variant of TestThirdPartySwarm.
func testSwarm(t *testing.T, otBin, ltVersion string, net4 byte, hybrid bool) {
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Second)
	defer cancel()
	s, before := setupSwarm(ctx, t, otBin, ltVersion, net4, hybrid)

	// peerfind announces this port; opentracker lists the requester
	// among the peers, and peerfind must not print itself.
	self := netip.AddrPortFrom(loopback(0, 0, 1), 6999)
	stateDir := t.TempDir()
	// Two bootstrap nodes, as the public routers are several: libtorrent's
	// DHT node (it shares the listen port) and an anacrolix one. A single
	// anacrolix node is not enough: v2.23.0 answers find_node from a walk
	// of only part of its buckets (interop/dhtinterop, TestBootstrapFromAnacrolix),
	// often with no nodes at all, and peerfind's lookups then end after
	// asking that one node.
	boot := []string{"--bootstrap", s.lt.addr.String(), "--bootstrap", s.an.nodes[len(s.an.nodes)-1].addr.String()}
	common := append([]string{"--tracker", s.ot.UDP, "--state-dir", stateDir, "--timeout", "30s", "--port", fmt.Sprint(self.Port())}, boot...)

	// Plain output, the magnet link libtorrent made (its tr= is the HTTP
	// tracker; a hybrid one has btih and btmh), cold DHT state.
	plain := runPeerfind(t, append([]string{"peers", s.tor.Magnet}, common...)...)
	if plain.code != 0 {
		t.Errorf("plain: exit %d, want 0; stderr:\n%s", plain.code, plain.stderr)
	}
	gotPlain := parsePlain(t, plain.stdout)
	t.Logf("plain stderr:\n%s", plain.stderr)

	// --json, the .torrent file libtorrent made, warm DHT state.
	jsonOut := runPeerfind(t, append([]string{"peers", s.tor.Path, "--json"}, common...)...)
	if jsonOut.code != 0 {
		t.Errorf("json: exit %d, want 0; stderr:\n%s", jsonOut.code, jsonOut.stderr)
	}
	jr := parseJSON(t, jsonOut.stdout)

	after, err := s.truth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]map[netip.AddrPort]bool{"plain": gotPlain, "json": keys(jr.sources)} {
		for _, p := range sortedKeys(before.all) {
			if !got[p] {
				t.Errorf("%s: peer %v not printed (opentracker has it in %v); %s", name, p, before.tracker[p], s.storedAt(before, p))
			}
		}
		for _, p := range sortedKeys(got) {
			if p == self {
				t.Errorf("%s: printed its own announce %v", name, p)
			} else if !after.all[p] {
				t.Errorf("%s: printed %v, which no third-party component holds", name, p)
			}
		}
	}

	// Sources: the torrent's tracker URL and --tracker as given, "dht";
	// the swarm a peer is first reported in must hold it.
	for _, p := range sortedKeys(before.all) {
		got := slices.Clone(jr.sources[p])
		slices.Sort(got)
		if want := before.wantSources(p, s.ot.HTTP, s.ot.UDP); !slices.Equal(got, want) {
			t.Errorf("peer %v: sources %q, want %q; %s", p, got, want, s.storedAt(before, p))
		}
	}
	for p, h := range jr.swarm {
		if !after.holds(p, h) {
			t.Errorf("peer %v reported in swarm %v, which does not hold it", p, h)
		}
	}
	if got := jr.sources[s.lt.addr]; !slices.Contains(got, "dht") || !slices.Contains(got, s.ot.HTTP) {
		t.Errorf("libtorrent %v: sources %q, want its tracker and the DHT", s.lt.addr, got)
	}
	sum := jr.summary
	if sum.Peers != len(jr.sources) || sum.Reason != "complete" {
		t.Errorf("summary: %d peers, reason %q; want %d peers, complete", sum.Peers, sum.Reason, len(jr.sources))
	}
	if !slices.Equal(sum.Swarms, s.hashes) {
		t.Errorf("summary swarms %v, want %v", sum.Swarms, s.hashes)
	}
	okTrackers := map[string]int{}
	dhtLookups := map[metainfo.Hash]int{}
	for _, e := range jr.events {
		switch {
		case e.Type == "tracker" && e.Event != "stopped":
			if !e.OK {
				t.Errorf("tracker %s, swarm %v: %s", e.URL, e.Swarm, e.Error)
			} else {
				okTrackers[e.URL]++
			}
		case e.Type == "dht":
			dhtLookups[e.Swarm]++
			if e.Error != "" || e.Answered == 0 {
				t.Errorf("dht lookup in %v: answered %d, error %q", e.Swarm, e.Answered, e.Error)
			}
		}
	}
	for _, h := range s.hashes {
		if dhtLookups[h] == 0 {
			t.Errorf("no DHT lookup in swarm %v (lookups: %v)", h, dhtLookups)
		}
	}
	if okTrackers[s.ot.HTTP] != len(s.hashes) || okTrackers[s.ot.UDP] != len(s.hashes) {
		t.Errorf("tracker answers %v, want one per tracker and swarm (%d swarms)", okTrackers, len(s.hashes))
	}

	// The numbers for the report: time to the first and to the last peer.
	var last float64
	for _, ms := range jr.first {
		last = max(last, ms)
	}
	first := "none"
	if sum.FirstPeerMS != nil {
		first = fmt.Sprintf("%.1f ms", *sum.FirstPeerMS)
	}
	var src []string
	for _, st := range jr.stats {
		fp := "-"
		if st.FirstPeerMS != nil {
			fp = fmt.Sprintf("%.1f ms", *st.FirstPeerMS)
		}
		src = append(src, fmt.Sprintf("%s: %d peers (%d unique), first after %s, %d queries, %d errors", st.Name, st.Peers, st.Unique, fp, st.Queries, st.Errors))
	}
	t.Logf("json run: %d peers (third party holds %d); first peer after %s, all after %.1f ms, search %.1f ms (%s); plain run %d peers in %v\n  %s",
		sum.Peers, len(before.all), first, last, sum.DurationMS, sum.Reason, len(gotPlain), plain.elapsed.Round(time.Millisecond), strings.Join(src, "\n  "))
	if t.Failed() {
		t.Logf("json stdout:\n%s\njson stderr:\n%s", jsonOut.stdout, jsonOut.stderr)
	}
	t.Run("Scrape", func(t *testing.T) {
		testScrape(t, s)
	})
	if hybrid {
		return
	}

	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		t.Run("Follow"+strings.ToUpper(sig.String()[:1])+sig.String()[1:], func(t *testing.T) {
			testFollowInterrupt(t, s, before, self, sig, append([]string{"peers", s.tor.Path, "--json", "--follow"}, common...))
		})
	}

	t.Run("UnknownHash", func(t *testing.T) {
		// A swarm nobody holds, on the same live components plus a dead
		// UDP tracker: opentracker refuses the hash (not whitelisted), the
		// dead tracker never answers, the DHT lookup runs fine and finds
		// nobody. The search itself worked: exit 3.
		deadURL := fmt.Sprintf("udp://%v/announce", deadUDP(t))
		r := runPeerfind(t, append([]string{"peers", strings.Repeat("5a", 20), "--tracker", s.ot.HTTP, "--tracker", deadURL,
			"--state-dir", t.TempDir(), "--timeout", "5s", "--port", fmt.Sprint(self.Port())}, boot...)...)
		if r.code != 3 {
			t.Errorf("exit %d, want 3 (ran fine, no peers); stderr:\n%s", r.code, r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("stdout %q, want nothing", r.stdout)
		}
		for _, want := range []string{s.ot.HTTP, deadURL, "not authorized", "no peers found"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
			}
		}
		if m := plainText.FindString(r.stderr); m != "" {
			t.Errorf("stderr shows a Go value (%q), not a message:\n%s", m, r.stderr)
		}
	})
}

// TestDeadSources: a tracker with nothing listening and a bootstrap node
// that never answers. Every source failed, which `peerfind peers --help`
// documents as exit 1 ("1 error"; 3 is only for a search that ran fine),
// and stderr names the tracker URL and the bootstrap address in plain words.
func TestDeadSources(t *testing.T) {
	httpURL := fmt.Sprintf("http://%v/announce", deadTCP(t))
	boot := deadUDP(t)
	r := runPeerfind(t, "peers", strings.Repeat("c3", 20), "--tracker", httpURL, "--bootstrap", boot.String(),
		"--state-dir", t.TempDir(), "--timeout", "5s")
	if r.code != 1 {
		t.Errorf("exit %d, want 1 (every source failed); stderr:\n%s", r.code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing", r.stdout)
	}
	for _, want := range []string{httpURL, boot.String(), "connection refused", "every source failed"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if m := plainText.FindString(r.stderr); m != "" {
		t.Errorf("stderr shows a Go value (%q), not a message:\n%s", m, r.stderr)
	}
	t.Logf("stderr:\n%s", r.stderr)

	// The same with --json: stdout still only JSON objects, the tracker's
	// error in its event, the summary last.
	r = runPeerfind(t, "peers", strings.Repeat("c3", 20), "--tracker", httpURL, "--bootstrap", boot.String(),
		"--state-dir", t.TempDir(), "--timeout", "5s", "--json")
	if r.code != 1 {
		t.Errorf("--json: exit %d, want 1", r.code)
	}
	jr := parseJSON(t, r.stdout)
	var trackerErr string
	for _, e := range jr.events {
		if e.Type == "tracker" && e.URL == httpURL {
			trackerErr = e.Error
		}
		if e.Type == "peer" {
			t.Errorf("a peer from dead sources: %s", e.Address)
		}
	}
	if trackerErr == "" || plainText.MatchString(trackerErr) {
		t.Errorf("tracker event error %q, want a plain message", trackerErr)
	}
	if jr.summary.Peers != 0 {
		t.Errorf("summary: %d peers", jr.summary.Peers)
	}
}

func keys[V any](m map[netip.AddrPort]V) map[netip.AddrPort]bool {
	out := make(map[netip.AddrPort]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// testFollowInterrupt runs peerfind --follow --json against the swarm until
// it has printed every peer the third party holds, checks that opentracker
// lists peerfind (self) while it follows, then sends sig (SIGINT, SIGTERM,
// as `peerfind peers --help` documents both): peerfind must
// stop cleanly — exit 0, the summary last, reason "canceled" — and have told
// opentracker it left (event=stopped), so the tracker no longer lists it.
func testFollowInterrupt(t *testing.T, s *swarm, before truth, self netip.AddrPort, sig os.Signal, args []string) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, peerfindBin, args...)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	missing := maps.Clone(before.all)
	for len(missing) > 0 && sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err == nil && e.Type == "peer" {
			delete(missing, netip.MustParseAddrPort(e.Address))
		}
	}
	if len(missing) > 0 {
		t.Fatalf("--follow ended before printing %v; stdout:\n%s\nstderr:\n%s", sortedKeys(missing), out.String(), stderr.String())
	}
	tr, err := s.truth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !tr.all[self] {
		t.Errorf("opentracker does not list peerfind (%v) while it follows: %v", self, sortedKeys(tr.all))
	}
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("after %v: %v; stderr:\n%s", sig, err, stderr.String())
	}
	jr := parseJSON(t, out.String())
	if jr.summary.Reason != "canceled" || jr.summary.Peers != len(jr.sources) {
		t.Errorf("summary after %v: reason %q, %d peers; want canceled, %d", sig, jr.summary.Reason, jr.summary.Peers, len(jr.sources))
	}
	stopped := map[string]bool{}
	for _, e := range jr.events {
		if e.Type == "tracker" && e.Event == "stopped" {
			stopped[e.URL] = e.OK
		}
	}
	if !stopped[s.ot.HTTP] || !stopped[s.ot.UDP] {
		t.Errorf("stopped announces that succeeded: %v; want both trackers", stopped)
	}
	tr, err = s.truth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tr.all[self] {
		t.Errorf("opentracker still lists peerfind (%v) after %v", self, sig)
	}
	t.Logf("--follow: %d peers, summary after %v: %s", len(jr.sources), sig, strings.TrimSpace(stderr.String()))
}

// testScrape runs peerfind scrape --json on libtorrent's torrent plus the
// UDP tracker: opentracker's counts over HTTP (BEP 48) and UDP (BEP 15)
// must agree with each other and with the peers its announce replies list,
// for every swarm of the torrent.
func testScrape(t *testing.T, s *swarm) {
	held, err := s.truth(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	r := runPeerfind(t, "scrape", s.tor.Path, "--json", "--tracker", s.ot.UDP, "--timeout", "10s")
	if r.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	type line struct {
		Type      string        `json:"type"`
		URL       string        `json:"url"`
		Swarm     metainfo.Hash `json:"swarm"`
		Seeders   *int          `json:"seeders"`
		Leechers  *int          `json:"leechers"`
		Completed *int          `json:"completed"`
		Error     string        `json:"error"`
	}
	seen := map[string]bool{}
	for i, l := range strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n") {
		var e line
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("stdout line %d %q: %v", i+1, l, err)
		}
		if e.Error != "" || e.Seeders == nil || e.Leechers == nil {
			t.Errorf("%s, swarm %v: error %q, seeders %v, leechers %v", e.URL, e.Swarm, e.Error, e.Seeders, e.Leechers)
			continue
		}
		n := 0
		for _, hs := range held.tracker {
			if hs[e.Swarm] {
				n++
			}
		}
		if *e.Seeders+*e.Leechers != n {
			t.Errorf("%s, swarm %v: %d seeders + %d leechers, but opentracker's announce reply lists %d peers", e.URL, e.Swarm, *e.Seeders, *e.Leechers, n)
		}
		seen[e.URL+" "+e.Swarm.String()] = true
	}
	for _, u := range []string{s.ot.HTTP, s.ot.UDP} {
		for _, h := range s.hashes {
			if !seen[u+" "+h.String()] {
				t.Errorf("no scrape result for %s, swarm %v; stdout:\n%s", u, h, r.stdout)
			}
		}
	}
}
