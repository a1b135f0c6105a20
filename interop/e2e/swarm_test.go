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

	"github.com/peerfind/peerfind/metainfo"
	"github.com/peerfind/peerfind/tracker"
)

// swarm is the third-party swarm of TestThirdPartySwarm.
type swarm struct {
	ot  *opentracker
	an  *anaNet
	lt  *ltClient
	tor ltInfo
	ih  metainfo.Hash

	observer *tracker.Client // announces as one of the tracker peers, to read opentracker's swarm
	obsReq   tracker.AnnounceRequest
	obsAddr  netip.AddrPort
}

// trackerPeers returns the peers opentracker holds, as its reply to an
// announce shows them (opentracker lists the requester too).
func (s *swarm) trackerPeers(ctx context.Context) (map[netip.AddrPort]bool, error) {
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := s.observer.Announce(actx, s.ot.HTTP, s.obsReq)
	if err != nil {
		return nil, err
	}
	out := map[netip.AddrPort]bool{s.obsAddr: true}
	for _, p := range resp.Peers {
		out[p] = true
	}
	return out, nil
}

// truth is what the third-party side holds at one moment: opentracker's
// swarm, the peers anacrolix nodes store, and libtorrent's listen address.
type truth struct {
	tracker map[netip.AddrPort]bool
	dht     map[netip.AddrPort][]netip.AddrPort // peer → anacrolix nodes storing it
	all     map[netip.AddrPort]bool
}

func (s *swarm) truth(ctx context.Context) (truth, error) {
	tp, err := s.trackerPeers(ctx)
	if err != nil {
		return truth{}, err
	}
	tr := truth{tracker: tp, dht: s.an.stored(s.ih), all: map[netip.AddrPort]bool{s.lt.addr: true}}
	for p := range tr.tracker {
		tr.all[p] = true
	}
	for p := range tr.dht {
		tr.all[p] = true
	}
	return tr, nil
}

// wantSources is the sources that should name p: both tracker URLs if
// opentracker holds it, "dht" if an anacrolix node stores it.
func (tr truth) wantSources(p netip.AddrPort, httpURL, udpURL string) []string {
	var want []string
	if tr.tracker[p] {
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
// printed, with the right sources, and nothing else.
func TestThirdPartySwarm(t *testing.T) {
	otBin := requireOpentracker(t)
	ltVersion := requireLibtorrent(t)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Second)
	defer cancel()
	start := time.Now()

	s := &swarm{}
	s.an = startAnaNet(ctx, t, 20, func(i int) netip.Addr { return loopback(2, 0, byte(i+1)) })
	t.Logf("anacrolix/dht v2.23.0: %d nodes up after %v", len(s.an.nodes), time.Since(start).Round(time.Millisecond))

	// libtorrent makes the torrent, so the info hash comes from
	// third-party code; opentracker must know the hash before it starts
	// (whitelist), so the ports are chosen first and retried on a race.
	dir := t.TempDir()
	for attempt := 0; ; attempt++ {
		tcp, udp := freePorts(t)
		s.tor = createTorrent(t, dir, fmt.Sprintf("http://127.0.0.1:%d/announce", tcp))
		var err error
		s.ot, err = startOpentracker(t, otBin, tcp, udp, s.tor.InfoHash)
		if err == nil {
			break
		}
		if !errors.Is(err, errExited) || attempt == 4 {
			t.Fatalf("opentracker: %v", err)
		}
	}
	var err error
	if s.ih, err = metainfo.ParseHash(s.tor.InfoHash); err != nil {
		t.Fatal(err)
	}
	t.Logf("opentracker %s at %s and %s; libtorrent %s made %s (info hash %s)", s.ot.Version, s.ot.HTTP, s.ot.UDP, ltVersion, s.tor.Name, s.tor.InfoHash)

	// libtorrent: DHT bootstrapped off anacrolix nodes (without any it
	// would announce only after ~20 s, INTEROP.md), the torrent's tracker
	// is opentracker.
	all := s.an.addrs()
	s.lt = startSeeder(ctx, t, dir, s.tor, loopback(4, 0, 1), all[:3], all)
	t.Logf("libtorrent listens on %v", s.lt.addr)

	// Extra tracker peers: three over HTTP, one over UDP, each from its
	// own loopback IP so opentracker records distinct addresses.
	announce := func(c *tracker.Client, url string, port uint16, left int64) {
		t.Helper()
		req := tracker.AnnounceRequest{InfoHash: s.ih, Port: port, Left: left, Event: tracker.EventStarted, NumWant: 200}
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
		ip := loopback(3, 0, byte(i+1))
		c := newHTTPClient(ip)
		port := uint16(7001 + i)
		announce(c, s.ot.HTTP, port, int64(i)) // the first a seeder (left 0)
		if i == 0 {
			s.observer = c
			s.obsAddr = netip.AddrPortFrom(ip, port)
			s.obsReq = tracker.AnnounceRequest{InfoHash: s.ih, Port: port, NumWant: 200}
		}
	}
	udpConn, err := net.ListenPacket("udp4", netip.AddrPortFrom(loopback(3, 0, 4), 0).String())
	if err != nil {
		t.Fatal(err)
	}
	udpClient := &tracker.Client{Conn4: udpConn, StopTimeout: -1}
	t.Cleanup(func() { udpClient.Close() })
	announce(udpClient, s.ot.UDP, 7004, 1)

	// Extra DHT peers, through anacrolix's own announce (get_peers
	// traversal, then announce_peer with a port): the storing nodes record
	// the announcing node's IP with that port. The last one also announces
	// to opentracker, so it has both kinds of source.
	dhtAnnouncers := []struct {
		node int
		port uint16
	}{{5, 7101}, {11, 7102}, {17, 7103}, {8, 7200}}
	var dhtPeers []netip.AddrPort
	for _, a := range dhtAnnouncers {
		nd := s.an.nodes[a.node]
		if err := nd.announce(ctx, s.ih, int(a.port)); err != nil {
			t.Fatal(err)
		}
		dhtPeers = append(dhtPeers, netip.AddrPortFrom(nd.addr.Addr(), a.port))
	}
	announce(newHTTPClient(s.an.nodes[8].addr.Addr()), s.ot.HTTP, 7200, 0)

	// Wait (bounded by ctx) until the third party holds every peer:
	// libtorrent announces to the tracker at once but to the DHT only
	// once its table has nodes and its announce timer fires.
	var tr truth
	polls := 0
	pctx, pcancel := context.WithTimeout(ctx, 60*time.Second)
	defer pcancel()
	err = waitFor(pctx, 250*time.Millisecond, func() bool {
		polls++
		if polls%40 == 0 { // every 10 s without success
			s.lt.reannounce()
		}
		var err error
		if tr, err = s.truth(pctx); err != nil {
			t.Logf("reading the swarm: %v", err)
			return false
		}
		if !tr.tracker[s.lt.addr] || len(tr.dht[s.lt.addr]) == 0 {
			return false
		}
		for _, p := range dhtPeers {
			if len(tr.dht[p]) == 0 {
				return false
			}
		}
		return true
	})
	if err != nil {
		t.Fatalf("the third-party swarm did not settle: %v\nopentracker holds %v\nanacrolix nodes store %v\nlibtorrent at %v",
			err, sortedKeys(tr.tracker), tr.dht, s.lt.addr)
	}
	t.Logf("swarm ready after %v: opentracker holds %d peers %v, anacrolix nodes store %d peers, libtorrent at %v",
		time.Since(start).Round(time.Millisecond), len(tr.tracker), sortedKeys(tr.tracker), len(tr.dht), s.lt.addr)
	before := tr

	// peerfind announces this port; opentracker lists the requester
	// among the peers, and peerfind must not print itself.
	self := netip.AddrPortFrom(loopback(0, 0, 1), 6999)
	stateDir := t.TempDir()
	boot := s.an.nodes[len(s.an.nodes)-1].addr.String()
	common := []string{"--tracker", s.ot.UDP, "--bootstrap", boot, "--state-dir", stateDir, "--timeout", "30s", "--port", fmt.Sprint(self.Port())}

	// Plain output, the magnet link libtorrent made (its tr= is the HTTP
	// tracker), cold DHT state.
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
				t.Errorf("%s: peer %v not printed (opentracker has it: %v; anacrolix nodes storing it: %v)", name, p, before.tracker[p], before.dht[p])
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

	// Sources: the torrent's tracker URL and --tracker as given, "dht".
	for _, p := range sortedKeys(before.all) {
		got := slices.Clone(jr.sources[p])
		slices.Sort(got)
		if want := before.wantSources(p, s.ot.HTTP, s.ot.UDP); !slices.Equal(got, want) {
			t.Errorf("peer %v: sources %q, want %q", p, got, want)
		}
	}
	if got := jr.sources[s.lt.addr]; !slices.Contains(got, "dht") || !slices.Contains(got, s.ot.HTTP) {
		t.Errorf("libtorrent %v: sources %q, want its tracker and the DHT", s.lt.addr, got)
	}
	sum := jr.summary
	if sum.Peers != len(jr.sources) || sum.Reason != "complete" {
		t.Errorf("summary: %d peers, reason %q; want %d peers, complete", sum.Peers, sum.Reason, len(jr.sources))
	}
	okTrackers := map[string]bool{}
	dhtLookups := 0
	for _, e := range jr.events {
		switch {
		case e.Type == "tracker" && e.Event != "stopped":
			if !e.OK {
				t.Errorf("tracker %s: %s", e.URL, e.Error)
			}
			okTrackers[e.URL] = e.OK
		case e.Type == "dht":
			dhtLookups++
			if e.Error != "" || e.Answered == 0 {
				t.Errorf("dht lookup: answered %d, error %q", e.Answered, e.Error)
			}
		}
	}
	if !okTrackers[s.ot.HTTP] || !okTrackers[s.ot.UDP] || dhtLookups == 0 {
		t.Errorf("tracker answers %v, %d DHT lookups: want both trackers and at least one lookup", okTrackers, dhtLookups)
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

	t.Run("UnknownHash", func(t *testing.T) {
		// A swarm nobody holds, on the same live components plus a dead
		// UDP tracker: opentracker refuses the hash (not whitelisted), the
		// dead tracker never answers, the DHT lookup runs fine and finds
		// nobody. The search itself worked: exit 3.
		deadURL := fmt.Sprintf("udp://%v/announce", deadUDP(t))
		r := runPeerfind(t, "peers", strings.Repeat("5a", 20), "--tracker", s.ot.HTTP, "--tracker", deadURL,
			"--bootstrap", boot, "--state-dir", t.TempDir(), "--timeout", "8s", "--port", fmt.Sprint(self.Port()))
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
