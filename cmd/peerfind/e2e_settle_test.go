package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/peerfind/peerfind/discovery"
	"github.com/peerfind/peerfind/internal/testutil"
	"github.com/peerfind/peerfind/metainfo"
	"github.com/peerfind/peerfind/swarmtest"
	"github.com/peerfind/peerfind/tracker"
)

// startOpentracker runs opentracker (Debian package, whitelist-only build:
// see docs/interop.md) on loopback for the swarm h, with the given peers
// announced to it, and returns its HTTP and UDP announce URLs.
func startOpentracker(t *testing.T, h metainfo.Hash, peers []netip.AddrPort) (httpURL, udpURL string) {
	t.Helper()
	bin, err := testutil.OpentrackerPath()
	if err != nil {
		t.Fatal(err)
	}
	ot, err := testutil.StartOpentracker(bin, t.TempDir(), freePort(t, "tcp4"), freePort(t, "udp4"), h.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ot.Stop)
	httpURL, udpURL = ot.HTTP, ot.UDP
	tc := &tracker.Client{}
	defer tc.Close()
	for i, p := range peers {
		req := tracker.AnnounceRequest{InfoHash: h, PeerID: [20]byte{'o', byte(i)}, Port: p.Port(), Left: 1, Event: tracker.EventStarted}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := tc.Announce(ctx, httpURL, req)
		cancel()
		if err != nil {
			t.Fatalf("announce to opentracker: %v\n%s", err, ot.Output())
		}
	}
	return httpURL, udpURL
}

// TestE2ESettle: a torrent with half its trackers dead (4 live: the local
// swarm's HTTP and UDP trackers and opentracker over HTTP and UDP; 4 UDP
// ports where nothing listens) and a live DHT. Every peer is printed, and
// the search ends by the settle rule instead of waiting out the dead
// trackers' announce timeout (15 s each); the summary names them as given
// up. With --wait-all the old behaviour stays available (not run here: it
// takes the full announce timeout).
func TestE2ESettle(t *testing.T) {
	sw := startSwarm(t, swarmtest.Config{Nodes: 64, Peers: 24})
	otPeers := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:7301"), netip.MustParseAddrPort("127.0.0.1:7302")}
	otHTTP, otUDP := startOpentracker(t, sw.InfoHash, otPeers)
	path, err := sw.WriteTorrent(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"peers", path, "--no-state", "--json", "--tracker", otHTTP, "--tracker", otUDP}
	var dead []string
	for range 4 {
		u := "udp://" + deadUDP(t) + "/announce"
		dead = append(dead, u)
		args = append(args, "--tracker", u)
	}
	args = append(args, bootstrapArgs(sw)...)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	cmd, stdout, errb := startPeerfind(ctx, t, []string{"XDG_STATE_HOME=" + t.TempDir()}, args...)
	var got []netip.AddrPort
	var lastPeer, dhtDone time.Duration
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var j jsonLine
		if err := json.Unmarshal(sc.Bytes(), &j); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		switch j.Type {
		case "peer":
			got = append(got, netip.MustParseAddrPort(j.Address))
			lastPeer = time.Since(start)
		case "dht":
			dhtDone = time.Since(start)
		}
	}
	err = cmd.Wait()
	exit := time.Since(start)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatalf("exit %v; stderr:\n%s", err, errb.String())
	}
	want := append(sw.PeersOn(swarmtest.OnHTTP|swarmtest.OnUDP|swarmtest.OnDHT), otPeers...)
	sameSet(t, "peers", got, want)
	stderr := errb.String()
	if !strings.Contains(stderr, "every answering source finished; 4 trackers silent, given up") {
		t.Errorf("summary does not say the search settled:\n%s", stderr)
	}
	for _, u := range dead {
		row := ""
		for _, l := range strings.Split(stderr, "\n") {
			if strings.Contains(l, u) {
				row = l
			}
		}
		if !strings.Contains(row, "no answer (given up after") {
			t.Errorf("row of dead tracker %s: %q, want it given up", u, row)
		}
	}
	// The measurement the README quotes (not asserted: timing depends on
	// the machine).
	// The settle clock starts at the last report, which is the DHT
	// lookup's end when that comes after the last peer.
	t.Logf("last peer at %v, DHT lookup done at %v, exit at %v: %v after the last peer, %v after the last report (settle %v)",
		lastPeer, dhtDone, exit, exit-lastPeer, exit-max(lastPeer, dhtDone), discovery.DefaultSettle)
}
