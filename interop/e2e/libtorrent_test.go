package e2e

// A libtorrent 2.0 client (python3-libtorrent, thirdparty's lt.py) seeding a
// torrent that libtorrent itself made: the client side of the third-party
// swarm.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/peerfind/peerfind/interop/internal/thirdparty"
)

// requireLibtorrent returns libtorrent's version or fails the test, saying
// why (scripts/test.sh installs it).
func requireLibtorrent(t testing.TB) string {
	t.Helper()
	v, err := thirdparty.LibtorrentVersion()
	if err != nil {
		t.Fatalf("python3-libtorrent interop: %v", err)
	}
	return v
}

// runLT runs a one-shot lt.py mode (create, magnet) and returns its stdout.
func runLT(t testing.TB, args ...string) []byte {
	t.Helper()
	cmd, err := thirdparty.LibtorrentCommand(args...)
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("lt.py %s: %v\n%s", args[0], err, stderr.String())
	}
	return out
}

// createTorrent has libtorrent make a torrent of random content in dir,
// with trackerURL as its announce URL; extra are more lt.py create flags.
func createTorrent(t testing.TB, dir, trackerURL string, extra ...string) ltInfo {
	t.Helper()
	out := runLT(t, append([]string{"create", "--dir", dir, "--tracker", trackerURL}, extra...)...)
	var tor ltInfo
	if err := json.Unmarshal(out, &tor); err != nil || len(tor.InfoHash) != 40 {
		t.Fatalf("lt.py create printed %q: %v", out, err)
	}
	return tor
}

// ltEvent is one JSON line printed by lt.py seed.
type ltEvent struct {
	Event    string `json:"event"`
	Addr     string `json:"addr"`
	InfoHash string `json:"info_hash"`
	Seeding  bool   `json:"seeding"`
	URL      string `json:"url"`
	Peers    int    `json:"peers"`
	Msg      string `json:"msg"`
}

// ltClient is a running lt.py seed process.
type ltClient struct {
	addr netip.AddrPort // the listen address (TCP; the DHT shares the port over UDP)
	p    *thirdparty.Process[ltEvent]
}

// startSeeder starts libtorrent seeding tor from dir, listening on ip, its
// DHT bootstrapped off routers (dht_bootstrap_nodes) and nodes
// (add_dht_node: anacrolix answers with short node lists, so a bootstrap
// through one router alone may find few). It waits until the session
// listens and its DHT runs. The process ends in t.Cleanup. If it crashes
// while starting, the crash is returned; any other failure fails the test.
func startSeeder(ctx context.Context, t testing.TB, dir string, tor ltInfo, ip netip.Addr, routers, nodes []netip.AddrPort) (*ltClient, *thirdparty.Crash) {
	t.Helper()
	p, err := thirdparty.StartProcess(func(line string, err error) ltEvent {
		return ltEvent{Event: "error", Msg: fmt.Sprintf("bad line %q: %v", line, err)}
	}, "seed",
		"--dir", dir, "--torrent", tor.Path, "--listen", ip.String(),
		"--bootstrap", joinAddrs(routers), "--nodes", joinAddrs(nodes),
		"--max-seconds", "150")
	if err != nil {
		t.Fatal(err)
	}
	c := &ltClient{p: p}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("lt.py seed events:\n%s\nstderr:\n%s", c.dump(), p.Stderr())
		}
	})
	err = waitFor(ctx, 50*time.Millisecond, func() bool {
		ev, ok := c.find(func(e ltEvent) bool { return e.Event == "ready" })
		if ok {
			c.addr, err = netip.ParseAddrPort(ev.Addr)
		}
		return ok
	})
	if err != nil || !c.addr.IsValid() {
		if crash := p.Crash(time.Second); crash != nil {
			return c, crash
		}
		t.Fatalf("libtorrent did not start (%v); events:\n%s\nstderr:\n%s", err, c.dump(), p.Stderr())
	}
	return c, nil
}

// find returns the first event that satisfies match.
func (c *ltClient) find(match func(ltEvent) bool) (ltEvent, bool) { return c.p.Find(match) }

// reannounce makes libtorrent announce again to its tracker and the DHT.
func (c *ltClient) reannounce() error { return c.p.Send("reannounce") }

// dump returns the events so far, one a line.
func (c *ltClient) dump() string {
	var b strings.Builder
	for _, e := range c.p.Events() {
		j, _ := json.Marshal(e)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

func joinAddrs(aps []netip.AddrPort) string {
	s := make([]string, len(aps))
	for i, a := range aps {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}
