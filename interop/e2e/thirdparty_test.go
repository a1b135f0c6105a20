package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peerfind/peerfind/interop/internal/thirdparty"
	"github.com/peerfind/peerfind/metainfo"
)

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

// testSwarm is one variant of TestThirdPartySwarm. libtorrent's Python
// binding sometimes dies by a signal; the crash policy of
// thirdparty.RetryAfterCrash applies, contact meaning that peerfind has been
// started against the swarm (it bootstraps off libtorrent's DHT node and
// its trackers list libtorrent). A retry builds a new swarm on loopback
// addresses of its own.
func testSwarm(t *testing.T, otBin, ltVersion string, net4 byte, hybrid bool) {
	thirdparty.RetryAfterCrash(t, "python3-libtorrent (lt.py seed)", func(try int) thirdparty.Outcome {
		return testSwarmOnce(t, otBin, ltVersion, net4+2*byte(try-1), hybrid)
	})
}

// testSwarmOnce is one attempt of testSwarm.
func testSwarmOnce(t *testing.T, otBin, ltVersion string, net4 byte, hybrid bool) thirdparty.Outcome {
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Second)
	defer cancel()
	s, before, crash := setupSwarm(ctx, t, otBin, ltVersion, net4, hybrid)
	if crash != nil {
		return thirdparty.Outcome{Crash: crash}
	}

	// peerfind announces this port; opentracker lists the requester
	// among the peers, and peerfind must not print itself.
	self := netip.AddrPortFrom(loopback(0, 0, 1), 6999)
	stateDir := t.TempDir()
	// Two bootstrap nodes, as the public routers are several: libtorrent's
	// DHT node (it shares the listen port) and an anacrolix one. A single
	// anacrolix node is not always enough: v2.23.0 answers find_node from
	// a walk of only part of its buckets (interop/dhtinterop,
	// TestBootstrapFromAnacrolix), sometimes with no nodes at all, and
	// peerfind's lookups then end after asking that one node
	// (BenchmarkSingleBootstrap: about 1 run in 100).
	boot := []string{"--bootstrap", s.lt.addr.String(), "--bootstrap", s.an.nodes[len(s.an.nodes)-1].addr.String()}
	common := append([]string{"--tracker", s.ot.UDP, "--state-dir", stateDir, "--timeout", "30s", "--port", fmt.Sprint(self.Port())}, boot...)

	// Plain output, the magnet link libtorrent made (its tr= is the HTTP
	// tracker; a hybrid one has btih and btmh), cold DHT state. From here
	// on peerfind has contact with libtorrent.
	plain := runPeerfind(t, append([]string{"peers", s.tor.Magnet}, common...)...)
	// --json, the .torrent file libtorrent made, warm DHT state.
	jsonOut := runPeerfind(t, append([]string{"peers", s.tor.Path, "--json"}, common...)...)
	// What the runs saw says nothing if libtorrent died meanwhile.
	if crash := s.lt.p.Crash(200 * time.Millisecond); crash != nil {
		t.Logf("libtorrent crashed while peerfind ran; plain run: exit %d, stderr:\n%s", plain.code, plain.stderr)
		return thirdparty.Outcome{Crash: crash, Contact: true}
	}

	if plain.code != 0 {
		t.Errorf("plain: exit %d, want 0; stderr:\n%s", plain.code, plain.stderr)
	}
	gotPlain := parsePlain(t, plain.stdout)
	t.Logf("plain stderr:\n%s", plain.stderr)
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
		return thirdparty.Outcome{}
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
	return thirdparty.Outcome{}
}
