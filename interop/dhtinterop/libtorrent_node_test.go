package dhtinterop

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/peerfind/peerfind/interop/internal/thirdparty"
)

// ltEvent is one JSON line printed by lt.py node.
type ltEvent struct {
	Event    string   `json:"event"`
	Addr     string   `json:"addr"`
	ID       string   `json:"id"`
	InfoHash string   `json:"info_hash"`
	Peers    []string `json:"peers"`
	IP       string   `json:"ip"`
	Port     int      `json:"port"`
	Msg      string   `json:"msg"`
	Nodes    []json.RawMessage
	Buckets  []struct {
		Nodes        int `json:"nodes"`
		Replacements int `json:"replacements"`
	} `json:"buckets"`
}

// ltNode is a libtorrent DHT node running in a child process (lt.py node).
type ltNode struct {
	addr netip.AddrPort
	id   string
	p    *thirdparty.Process[ltEvent]
}

// requireLibtorrent fails the test, with the reason, when python3-libtorrent
// is not installed (scripts/test.sh installs it).
func requireLibtorrent(tb testing.TB) {
	tb.Helper()
	v, err := thirdparty.LibtorrentVersion()
	if err != nil {
		tb.Fatalf("libtorrent interop: %v", err)
	}
	tb.Logf("libtorrent %s", v)
}

// startLibtorrent starts lt.py node listening on ip, using bootstrap as its
// dht_bootstrap_nodes (libtorrent treats those as routers: it queries them
// but never keeps them in its table) and adding nodes with add_dht_node. It
// waits until the DHT runs. The process is ended in tb.Cleanup. If it
// crashes while starting, the crash is returned with the node (whose
// contact method still works); any other failure fails the test.
func startLibtorrent(ctx context.Context, tb testing.TB, ip netip.Addr, bootstrap, nodes []netip.AddrPort) (*ltNode, *thirdparty.Crash) {
	tb.Helper()
	join := func(aps []netip.AddrPort) string {
		s := make([]string, len(aps))
		for i, a := range aps {
			s[i] = a.String()
		}
		return strings.Join(s, ",")
	}
	p, err := thirdparty.StartProcess(func(line string, err error) ltEvent {
		return ltEvent{Event: "error", Msg: fmt.Sprintf("bad line %q: %v", line, err)}
	}, "node",
		"--listen", ip.String(),
		"--bootstrap", join(bootstrap),
		"--nodes", join(nodes),
		"--max-seconds", "150", "--log")
	if err != nil {
		tb.Fatal(err)
	}
	n := &ltNode{p: p}
	tb.Cleanup(func() {
		p.Stop()
		if s := p.Stderr(); s != "" {
			tb.Logf("lt.py node stderr:\n%s", s)
		}
	})
	ev, err := n.wait(ctx, 0, func(e ltEvent) bool { return e.Event == "ready" })
	if err != nil {
		if c := p.Crash(time.Second); c != nil {
			return n, c
		}
		tb.Fatalf("libtorrent node did not start: %v", err)
	}
	if n.addr, err = netip.ParseAddrPort(ev.Addr); err != nil {
		tb.Fatalf("libtorrent ready event: %v", err)
	}
	n.id = ev.ID
	return n, nil
}

// contact reports whether libtorrent has received a DHT packet from, or
// sent one to, an address for which peerfind reports true: its packet log
// (dht_pkt_alert, forwarded with --log) says so, and the log printed before
// a crash stays readable after it. This is the "contact" of the crash
// policy (thirdparty.RetryAfterCrash).
func (n *ltNode) contact(peerfind func(netip.AddrPort) bool) bool {
	_, ok := n.p.Find(func(e ltEvent) bool {
		rest, ok := strings.CutPrefix(e.Msg, "pkt ")
		if e.Event != "log" || !ok {
			return false
		}
		rest = strings.TrimSpace(rest)
		if r, ok := strings.CutPrefix(rest, "<=="); ok {
			rest = r
		} else if r, ok := strings.CutPrefix(rest, "==>"); ok {
			rest = r
		} else {
			return false
		}
		// "[127.0.0.1:6881] {...}" (IPv6: "[[::1]:6881] {...}")
		addr, _, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(rest), "["), "] ")
		if !ok {
			return false
		}
		ap, err := netip.ParseAddrPort(addr)
		return err == nil && peerfind(ap)
	})
	return ok
}

// send writes one command line to the script.
func (n *ltNode) send(format string, args ...any) error { return n.p.Send(format, args...) }

// mark returns the index of the next event, for wait to look only at what
// comes after a command.
func (n *ltNode) mark() int { return n.p.Mark() }

// wait returns the first event at index from or later that satisfies match.
func (n *ltNode) wait(ctx context.Context, from int, match func(ltEvent) bool) (ltEvent, error) {
	return n.p.Wait(ctx, from, match)
}

// dump logs the script's events (DHT log lines need --log), to explain a
// failed test.
func (n *ltNode) dump(tb testing.TB) {
	tb.Helper()
	var b strings.Builder
	for _, e := range n.p.Events() {
		switch e.Event {
		case "log", "error":
			fmt.Fprintf(&b, "%s: %s\n", e.Event, e.Msg)
		case "live_nodes", "heard":
			fmt.Fprintf(&b, "%s: %d nodes\n", e.Event, len(e.Nodes))
		default:
			j, _ := json.Marshal(e)
			fmt.Fprintf(&b, "%s\n", j)
		}
	}
	tb.Logf("libtorrent node %v events:\n%s", n.addr, b.String())
}

// gotValues reports whether libtorrent received, from the node at from, a
// reply whose "values" hold peer. It reads libtorrent's own packet log
// (dht_pkt_alert), which prints a compact peer as 12 hex digits.
func (n *ltNode) gotValues(from, peer netip.AddrPort) bool {
	prefix := "pkt <== [" + from.String() + "]"
	ip4 := peer.Addr().As4()
	compactHex := fmt.Sprintf("'%x%04x'", ip4[:], peer.Port())
	_, ok := n.p.Find(func(e ltEvent) bool {
		if e.Event != "log" || !strings.HasPrefix(e.Msg, prefix) {
			return false
		}
		i := strings.Index(e.Msg, "'values': [")
		return i >= 0 && strings.Contains(e.Msg[i:], compactHex)
	})
	return ok
}

// getPeers runs libtorrent's dht_get_peers for ih and returns the peers of
// its reply (libtorrent posts one reply alert when the lookup ends).
func (n *ltNode) getPeers(ctx context.Context, ih [20]byte) ([]netip.AddrPort, error) {
	hexIH := fmt.Sprintf("%x", ih)
	m := n.mark()
	if err := n.send("get_peers %s", hexIH); err != nil {
		return nil, err
	}
	ev, err := n.wait(ctx, m, func(e ltEvent) bool { return e.Event == "get_peers_reply" && e.InfoHash == hexIH })
	if err != nil {
		return nil, fmt.Errorf("libtorrent get_peers %s: %w", hexIH, err)
	}
	var out []netip.AddrPort
	for _, p := range ev.Peers {
		ap, err := netip.ParseAddrPort(p)
		if err != nil {
			return nil, fmt.Errorf("libtorrent reply peer %q: %w", p, err)
		}
		out = append(out, ap)
	}
	return out, nil
}

// announce makes libtorrent announce itself for ih: it adds a torrent, which
// libtorrent announces to the DHT every dht_announce_interval (5 s) with its
// listen port and implied_port set. It returns the peer address other nodes
// will store: libtorrent's address, since the DHT shares the listen port.
func (n *ltNode) announce(ctx context.Context, ih [20]byte) (netip.AddrPort, error) {
	hexIH := fmt.Sprintf("%x", ih)
	m := n.mark()
	if err := n.send("announce %s", hexIH); err != nil {
		return netip.AddrPort{}, err
	}
	ev, err := n.wait(ctx, m, func(e ltEvent) bool {
		return (e.Event == "announce_started" && e.InfoHash == hexIH) || e.Event == "error"
	})
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("libtorrent announce %s: %w", hexIH, err)
	}
	if ev.Event == "error" {
		return netip.AddrPort{}, fmt.Errorf("libtorrent announce %s: %s", hexIH, ev.Msg)
	}
	return netip.AddrPortFrom(n.addr.Addr(), uint16(ev.Port)), nil
}

// nodeID asks libtorrent for its current node id.
func (n *ltNode) nodeID(ctx context.Context) ([20]byte, error) {
	var id [20]byte
	m := n.mark()
	if err := n.send("id"); err != nil {
		return id, err
	}
	ev, err := n.wait(ctx, m, func(e ltEvent) bool { return e.Event == "id" })
	if err != nil {
		return id, err
	}
	b, err := hex.DecodeString(ev.ID)
	if err != nil || len(b) != 20 {
		return id, fmt.Errorf("libtorrent id %q: bad hex (%v)", ev.ID, err)
	}
	copy(id[:], b)
	return id, nil
}

// heard returns the addresses libtorrent has received DHT packets from.
func (n *ltNode) heard(ctx context.Context) (map[netip.AddrPort]bool, error) {
	m := n.mark()
	if err := n.send("heard"); err != nil {
		return nil, err
	}
	ev, err := n.wait(ctx, m, func(e ltEvent) bool { return e.Event == "heard" })
	if err != nil {
		return nil, err
	}
	out := make(map[netip.AddrPort]bool)
	for _, raw := range ev.Nodes {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if ap, err := netip.ParseAddrPort(s); err == nil {
				out[ap] = true
			}
		}
	}
	return out, nil
}

// liveNodes returns the addresses in libtorrent's routing table.
func (n *ltNode) liveNodes(ctx context.Context) (map[netip.AddrPort]bool, error) {
	m := n.mark()
	if err := n.send("live_nodes"); err != nil {
		return nil, err
	}
	ev, err := n.wait(ctx, m, func(e ltEvent) bool { return e.Event == "live_nodes" })
	if err != nil {
		return nil, err
	}
	out := make(map[netip.AddrPort]bool)
	for _, raw := range ev.Nodes {
		var nd struct{ Addr string }
		if json.Unmarshal(raw, &nd) == nil {
			if ap, err := netip.ParseAddrPort(nd.Addr); err == nil {
				out[ap] = true
			}
		}
	}
	return out, nil
}

// TestLibtorrentHarness checks the libtorrent side of the harness against
// anacrolix alone: libtorrent joins an anacrolix network, a peer it announces
// is found by an anacrolix lookup and a peer anacrolix announces is found by
// libtorrent's. No peerfind node takes part, so a libtorrent crash is always
// one before contact with peerfind (thirdparty.RetryAfterCrash): a new
// process is started, and only repeated crashes fail the test.
func TestLibtorrentHarness(t *testing.T) {
	requireLibtorrent(t)
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()
	var seeds seedList
	nodes := startAnaNetwork(ctx, t, 20, 10, &seeds)
	// Every server is also added as a node: anacrolix answers with short
	// or empty node lists (see TestBootstrapFromAnacrolix), so a libtorrent
	// bootstrap through one of them alone may find nobody.
	var all []netip.AddrPort
	for _, nd := range nodes {
		all = append(all, nd.addr)
	}
	thirdparty.RetryAfterCrash(t, "python3-libtorrent (lt.py node)", func(int) thirdparty.Outcome {
		lt, crash := startLibtorrent(ctx, t, loopbackIP(40), seeds.get()[:1], all)
		if crash == nil {
			crash = harnessChecks(ctx, t, nodes, lt)
		}
		return thirdparty.Outcome{Crash: crash}
	})
}

// harnessChecks is TestLibtorrentHarness once libtorrent runs. A failure
// with libtorrent dead by a signal is not reported: the crash is returned.
func harnessChecks(ctx context.Context, t *testing.T, nodes []*anaNode, lt *ltNode) *thirdparty.Crash {
	t.Logf("libtorrent node %s at %v", lt.id, lt.addr)
	fail := func(format string, args ...any) *thirdparty.Crash {
		t.Helper()
		if c := lt.p.Crash(time.Second); c != nil {
			t.Logf("%s (libtorrent crashed: %s)", fmt.Sprintf(format, args...), c.Status)
			return c
		}
		lt.dump(t)
		t.Fatalf(format, args...)
		return nil
	}
	if err := waitFor(ctx, 200*time.Millisecond, func() bool {
		live, err := lt.liveNodes(ctx)
		return err == nil && len(live) >= 3
	}); err != nil {
		return fail("libtorrent routing table did not fill: %v", err)
	}

	ih := randomHash()
	peer, err := lt.announce(ctx, ih)
	if err != nil {
		return fail("%v", err)
	}
	var got anaLookup
	err = waitFor(ctx, 500*time.Millisecond, func() bool {
		lctx, lcancel := context.WithTimeout(ctx, 5*time.Second)
		defer lcancel()
		var err error
		got, err = nodes[9].lookup(lctx, ih, 0, []netip.AddrPort{peer}, true)
		return err == nil && got.peers[peer]
	})
	if err != nil {
		return fail("anacrolix did not find the peer libtorrent announced: %v (last lookup found %v)", err, got.peers)
	}

	ih2 := randomHash()
	if _, err := nodes[2].lookup(ctx, ih2, 7200, nil, false); err != nil {
		t.Fatal(err)
	}
	peer2 := netip.AddrPortFrom(nodes[2].addr.Addr(), 7200)
	var peers []netip.AddrPort
	err = waitFor(ctx, 500*time.Millisecond, func() bool {
		var err error
		peers, err = lt.getPeers(ctx, ih2)
		return err == nil && contains(peers, peer2)
	})
	if err != nil {
		return fail("libtorrent did not find the peer anacrolix announced: %v (last reply %v)", err, peers)
	}
	return nil
}

func contains(list []netip.AddrPort, a netip.AddrPort) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}
