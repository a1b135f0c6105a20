package dhtinterop

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// ltPython is Debian's interpreter: python3-libtorrent is built for it and no
// other python on the machine can import it (INTEROP.md).
const ltPython = "/usr/bin/python3"

// ltEvent is one JSON line printed by lt_node.py.
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

// ltNode is a libtorrent DHT node running in a child process (lt_node.py).
type ltNode struct {
	addr netip.AddrPort
	id   string

	cmd   *exec.Cmd
	stdin io.WriteCloser

	mu     sync.Mutex
	events []ltEvent
	more   chan struct{} // closed and replaced when events grows or the process ends
	exited bool
	stderr strings.Builder
}

// requireLibtorrent skips the test, with the reason, when python3-libtorrent
// is not installed (scripts/test.sh installs it, so CI never skips).
func requireLibtorrent(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat(ltPython); err != nil {
		tb.Skipf("libtorrent interop skipped: %s not found (apt-get install python3-libtorrent)", ltPython)
	}
	out, err := exec.Command(ltPython, "-c", "import libtorrent; print(libtorrent.__version__)").CombinedOutput()
	if err != nil {
		tb.Skipf("libtorrent interop skipped: python3-libtorrent not importable (apt-get install python3-libtorrent): %v: %s", err, out)
	}
	tb.Logf("libtorrent %s", strings.TrimSpace(string(out)))
}

// startLibtorrent starts lt_node.py listening on ip, using bootstrap as its
// dht_bootstrap_nodes (libtorrent treats those as routers: it queries them
// but never keeps them in its table) and adding nodes with add_dht_node. It
// waits until the DHT runs. The process is ended in tb.Cleanup.
func startLibtorrent(ctx context.Context, tb testing.TB, ip netip.Addr, bootstrap, nodes []netip.AddrPort) *ltNode {
	tb.Helper()
	join := func(aps []netip.AddrPort) string {
		s := make([]string, len(aps))
		for i, a := range aps {
			s[i] = a.String()
		}
		return strings.Join(s, ",")
	}
	n := &ltNode{more: make(chan struct{})}
	n.cmd = exec.Command(ltPython, "lt_node.py",
		"--listen", ip.String(),
		"--bootstrap", join(bootstrap),
		"--nodes", join(nodes),
		"--max-seconds", "150", "--log")
	n.cmd.Stderr = &lockedWriter{mu: &n.mu, b: &n.stderr}
	var err error
	if n.stdin, err = n.cmd.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	stdout, err := n.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		tb.Fatalf("start lt_node.py: %v", err)
	}
	readerDone := make(chan struct{})
	go n.read(stdout, readerDone)
	tb.Cleanup(func() {
		// Closing stdin is the script's normal end; the kill is only for a
		// process that has not gone after that.
		n.stdin.Close()
		waited := make(chan struct{})
		go func() { n.cmd.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(10 * time.Second):
			n.cmd.Process.Kill()
			<-waited
		}
		<-readerDone
		n.mu.Lock()
		defer n.mu.Unlock()
		if s := n.stderr.String(); s != "" {
			tb.Logf("lt_node.py stderr:\n%s", s)
		}
	})
	ev, err := n.wait(ctx, 0, func(e ltEvent) bool { return e.Event == "ready" })
	if err != nil {
		tb.Fatalf("libtorrent node did not start: %v", err)
	}
	if n.addr, err = netip.ParseAddrPort(ev.Addr); err != nil {
		tb.Fatalf("libtorrent ready event: %v", err)
	}
	n.id = ev.ID
	return n
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() < 64<<10 {
		w.b.Write(p)
	}
	return len(p), nil
}

// read collects the script's events until its stdout closes.
func (n *ltNode) read(r io.Reader, done chan struct{}) {
	defer close(done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var e ltEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			e = ltEvent{Event: "error", Msg: fmt.Sprintf("bad line %q: %v", sc.Text(), err)}
		}
		n.mu.Lock()
		n.events = append(n.events, e)
		close(n.more)
		n.more = make(chan struct{})
		n.mu.Unlock()
	}
	n.mu.Lock()
	n.exited = true
	close(n.more)
	n.more = make(chan struct{})
	n.mu.Unlock()
}

// send writes one command line to the script.
func (n *ltNode) send(format string, args ...any) error {
	_, err := fmt.Fprintf(n.stdin, format+"\n", args...)
	return err
}

// mark returns the index of the next event, for wait to look only at what
// comes after a command.
func (n *ltNode) mark() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.events)
}

// wait returns the first event at index from or later that satisfies match.
func (n *ltNode) wait(ctx context.Context, from int, match func(ltEvent) bool) (ltEvent, error) {
	for {
		n.mu.Lock()
		for ; from < len(n.events); from++ {
			if e := n.events[from]; match(e) {
				n.mu.Unlock()
				return e, nil
			}
		}
		exited, more := n.exited, n.more
		n.mu.Unlock()
		if exited {
			return ltEvent{}, fmt.Errorf("lt_node.py exited")
		}
		select {
		case <-more:
		case <-ctx.Done():
			return ltEvent{}, context.Cause(ctx)
		}
	}
}

// dump logs the script's events (DHT log lines need --log), to explain a
// failed test.
func (n *ltNode) dump(tb testing.TB) {
	tb.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	var b strings.Builder
	for _, e := range n.events {
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
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, e := range n.events {
		if e.Event != "log" || !strings.HasPrefix(e.Msg, prefix) {
			continue
		}
		if i := strings.Index(e.Msg, "'values': ["); i >= 0 && strings.Contains(e.Msg[i:], compactHex) {
			return true
		}
	}
	return false
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
// libtorrent's.
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
	lt := startLibtorrent(ctx, t, loopbackIP(40), seeds.get()[:1], all)
	t.Logf("libtorrent node %s at %v", lt.id, lt.addr)

	if err := waitFor(ctx, 200*time.Millisecond, func() bool {
		live, err := lt.liveNodes(ctx)
		return err == nil && len(live) >= 3
	}); err != nil {
		lt.dump(t)
		t.Fatalf("libtorrent routing table did not fill: %v", err)
	}

	ih := randomHash()
	peer, err := lt.announce(ctx, ih)
	if err != nil {
		t.Fatal(err)
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
		lt.dump(t)
		t.Fatalf("anacrolix did not find the peer libtorrent announced: %v (last lookup found %v)", err, got.peers)
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
		t.Fatalf("libtorrent did not find the peer anacrolix announced: %v (last reply %v)", err, peers)
	}
}

func contains(list []netip.AddrPort, a netip.AddrPort) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}
