package main

// End-to-end tests: they build the peerfind binary once (TestMain) and run
// it against a local swarm (package swarmtest) on loopback, as a user would.
//
// Hook for third-party software: the binary takes --tracker URL and
// --bootstrap host:port pointing anywhere on loopback, so the same helpers
// (runPF, parsePeers) serve a test against opentracker, bittorrent-tracker
// or a libtorrent/anacrolix DHT node started by the test.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/metainfo"
	"github.com/peerfind/peerfind/swarmtest"
	"github.com/peerfind/peerfind/tracker"
)

// peerfindBin is the binary under test, built by TestMain.
var peerfindBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "peerfind-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	peerfindBin = filepath.Join(dir, "peerfind")
	out, err := exec.Command("go", "build", "-o", peerfindBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building peerfind: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// runPF runs the binary with a bounded lifetime and returns its output and
// exit status.
func runPF(t *testing.T, stdin []byte, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, peerfindBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running peerfind: %v", err)
	}
	return result{out.String(), errb.String(), code}
}

func startSwarm(t *testing.T, cfg swarmtest.Config) *swarmtest.Swarm {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sw, err := swarmtest.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sw.Close() })
	return sw
}

func bootstrapArgs(sw *swarmtest.Swarm) []string {
	var args []string
	for _, b := range sw.Bootstrap {
		args = append(args, "--bootstrap", b.String())
	}
	return args
}

// parsePeers parses stdout of `peerfind peers`: every line must be one
// ip:port and nothing else.
func parsePeers(t *testing.T, stdout string) []netip.AddrPort {
	t.Helper()
	var out []netip.AddrPort
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		a, err := netip.ParseAddrPort(sc.Text())
		if err != nil {
			t.Errorf("stdout line %q is not ip:port", sc.Text())
			continue
		}
		if slices.Contains(out, a) {
			t.Errorf("peer %v printed twice", a)
		}
		out = append(out, a)
	}
	return out
}

func sameSet(t *testing.T, what string, got, want []netip.AddrPort) {
	t.Helper()
	got, want = slices.Clone(got), slices.Clone(want)
	slices.SortFunc(got, netip.AddrPort.Compare)
	slices.SortFunc(want, netip.AddrPort.Compare)
	if !slices.Equal(got, want) {
		t.Errorf("%s: got %d peers %v\nwant %d %v", what, len(got), got, len(want), want)
	}
}

func TestE2EPeersTorrent(t *testing.T) {
	sw := startSwarm(t, swarmtest.Config{Nodes: 80, Peers: 32})
	path, err := sw.WriteTorrent(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stateDir := t.TempDir()
	// The torrent's "nodes" are the only DHT entry point besides the
	// explicit --bootstrap, which keeps the public routers out.
	args := append([]string{"peers", path, "--state-dir", stateDir, "--timeout", "30s"}, bootstrapArgs(sw)...)
	r := runPF(t, nil, args...)
	if r.code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	sameSet(t, "stdout", parsePeers(t, r.stdout), sw.PeersOn(swarmtest.OnHTTP|swarmtest.OnUDP|swarmtest.OnDHT))
	for _, want := range []string{"32 peers in", "every source finished", sw.HTTPTracker, sw.UDPTracker, "dht"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.ContainsRune(r.stderr+r.stdout, '\x1b') {
		t.Errorf("escape codes without a terminal:\n%q", r.stderr)
	}
	st, err := dht.LoadState(filepath.Join(stateDir, "dht.state"))
	if err != nil {
		t.Fatalf("state file: %v", err)
	}
	if st == nil {
		t.Fatal("nil state")
	}
}

// jsonLine is the union of the NDJSON events' fields the tests look at.
type jsonLine struct {
	Type    string          `json:"type"`
	Address string          `json:"address"`
	IP      string          `json:"ip"`
	Port    int             `json:"port"`
	Source  string          `json:"source"`
	Sources json.RawMessage `json:"sources"` // peer names, or the summary's source objects
	URL     string          `json:"url"`
	OK      bool            `json:"ok"`
	Error   string          `json:"error"`
	Peers   int             `json:"peers"`
	Reason  string          `json:"reason"`
	Lookup  int             `json:"lookup"`
	Queried int             `json:"queried"`
}

func TestE2EPeersJSON(t *testing.T) {
	sw := startSwarm(t, swarmtest.Config{Nodes: 64, Peers: 24})
	path, err := sw.WriteTorrent(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := runPF(t, nil, append([]string{"peers", path, "--json", "--state-dir", t.TempDir()}, bootstrapArgs(sw)...)...)
	if r.code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	sources := map[string][]string{}
	types := map[string]int{}
	var last jsonLine
	for i, l := range lines {
		var j jsonLine
		if err := json.Unmarshal([]byte(l), &j); err != nil {
			t.Fatalf("line %d %q: %v", i+1, l, err)
		}
		types[j.Type]++
		var names []string
		if j.Type == "peer" || j.Type == "seen" {
			if err := json.Unmarshal(j.Sources, &names); err != nil {
				t.Fatalf("line %d %q: sources: %v", i+1, l, err)
			}
		}
		switch j.Type {
		case "peer":
			if _, dup := sources[j.Address]; dup {
				t.Errorf("peer %s reported twice", j.Address)
			}
			if ap := netip.MustParseAddrPort(j.Address); ap.Addr().String() != j.IP || int(ap.Port()) != j.Port {
				t.Errorf("peer line %q: ip/port disagree with address", l)
			}
			sources[j.Address] = names
		case "seen":
			sources[j.Address] = names
		case "tracker":
			if !j.OK {
				t.Errorf("tracker %s failed: %s", j.URL, j.Error)
			}
		}
		last = j
	}
	if last.Type != "summary" || last.Peers != len(sw.Peers) || last.Reason != "complete" {
		t.Errorf("last line %+v, want a summary of %d peers, reason complete", last, len(sw.Peers))
	}
	if types["tracker"] < 2 || types["dht"] < 1 || types["summary"] != 1 {
		t.Errorf("event counts %v", types)
	}
	found := make(map[netip.AddrPort][]string, len(sources))
	for a, names := range sources {
		found[netip.MustParseAddrPort(a)] = names
	}
	for _, problem := range sw.Check(found, "dht") {
		t.Error(problem)
	}
}

func TestE2EMagnetAndStdin(t *testing.T) {
	sw := startSwarm(t, swarmtest.Config{Nodes: 48, Peers: 16, IPv6Peers: 3})
	// A magnet link carries the trackers but no DHT node.
	r := runPF(t, nil, append([]string{"peers", sw.Magnet(), "--no-state"}, bootstrapArgs(sw)...)...)
	if r.code != exitOK {
		t.Fatalf("magnet: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	sameSet(t, "magnet", parsePeers(t, r.stdout), sw.PeersOn(swarmtest.OnHTTP|swarmtest.OnUDP|swarmtest.OnDHT))

	r = runPF(t, sw.Torrent, "peers", "-", "--no-dht")
	if r.code != exitOK {
		t.Fatalf("stdin: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	sameSet(t, "stdin, --no-dht", parsePeers(t, r.stdout), sw.PeersOn(swarmtest.OnHTTP|swarmtest.OnUDP))

	// A bare hash with an explicit tracker, and -6 or -4.
	var v4, v6 []netip.AddrPort
	for _, p := range sw.PeersOn(swarmtest.OnHTTP) {
		if p.Addr().Is6() {
			v6 = append(v6, p)
		} else {
			v4 = append(v4, p)
		}
	}
	r = runPF(t, nil, "peers", sw.InfoHash.String(), "--no-dht", "--tracker", sw.HTTPTracker, "-6")
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "[::1]:") {
		t.Errorf("-6: exit %d, stdout %q", r.code, r.stdout)
	}
	sameSet(t, "-6", parsePeers(t, r.stdout), v6)
	r = runPF(t, nil, "peers", sw.InfoHash.String(), "--no-dht", "--tracker", sw.HTTPTracker, "-4")
	sameSet(t, "-4", parsePeers(t, r.stdout), v4)
	r = runPF(t, nil, "peers", sw.InfoHash.String(), "--no-dht", "--tracker", sw.UDPTracker, "--max-peers", "3")
	if r.code != exitOK || len(parsePeers(t, r.stdout)) != 3 {
		t.Errorf("--max-peers 3: exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestE2ENoPeers(t *testing.T) {
	sw := startSwarm(t, swarmtest.Config{Nodes: -1, Peers: 4})
	r := runPF(t, nil, "peers", strings.Repeat("ab", 20), "--no-dht", "--tracker", sw.HTTPTracker)
	if r.code != exitNoPeers {
		t.Errorf("exit %d, want %d; stderr:\n%s", r.code, exitNoPeers, r.stderr)
	}
	if r.stdout != "" || !strings.Contains(r.stderr, "no peers found") {
		t.Errorf("stdout %q, stderr:\n%s", r.stdout, r.stderr)
	}
}

// startPeerfind starts the binary with args, its standard output piped and
// its standard error kept; env is added to the environment. It ends with
// ctx.
func startPeerfind(ctx context.Context, t *testing.T, env []string, args ...string) (*exec.Cmd, io.ReadCloser, *bytes.Buffer) {
	t.Helper()
	cmd := exec.CommandContext(ctx, peerfindBin, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	errb := new(bytes.Buffer)
	cmd.Stderr = errb
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdout, errb
}

// deadUDP returns a loopback UDP address where nothing listens.
func deadUDP(t *testing.T) string {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := c.LocalAddr().String()
	c.Close()
	return a
}

func deadTCP(t *testing.T) string {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

func TestE2EDeadSources(t *testing.T) {
	hash := strings.Repeat("cd", 20)
	r := runPF(t, nil, "peers", hash, "--no-state", "--timeout", "5s",
		"--tracker", "http://"+deadTCP(t)+"/announce", "--tracker", "udp://"+deadUDP(t),
		"--bootstrap", deadUDP(t))
	// The dead UDP tracker sends no error back to an unconnected socket, so
	// within 5 s it has not answered: the search timed out rather than
	// failed, the "nobody found" status.
	if r.code != exitNoPeers {
		t.Errorf("exit %d, want %d (timed out, nobody found)", r.code, exitNoPeers)
	}
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing", r.stdout)
	}
	for _, want := range []string{"connection refused", "no answer", "timed out"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "goroutine") || strings.Contains(r.stderr, "panic") {
		t.Errorf("stderr has a crash:\n%s", r.stderr)
	}
}

func TestE2EUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"peers"}, "exactly one TARGET"},
		{[]string{"peers", "a", "b"}, "exactly one TARGET"},
		{[]string{"peers", strings.Repeat("ab", 20), "-4", "-6"}, "exclude each other"},
		{[]string{"peers", strings.Repeat("ab", 20), "--bogus"}, "unknown flag"},
		{[]string{"peers", strings.Repeat("ab", 20), "--no-dht"}, "nothing to search with"},
		{[]string{"peers", strings.Repeat("ab", 20), "--bootstrap", "nonsense"}, "want host:port"},
	}
	for _, tt := range tests {
		r := runPF(t, nil, tt.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, r.code, r.stderr, exitUsage, tt.want)
		}
	}
	r := runPF(t, []byte("not a torrent"), "peers", "-")
	if r.code != exitError || !strings.Contains(r.stderr, "standard input") {
		t.Errorf("bad stdin: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestE2EFollowInterrupt(t *testing.T) {
	sw := startSwarm(t, swarmtest.Config{Nodes: 48, Peers: 16})
	path, err := sw.WriteTorrent(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stateDir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const port = 7777
	cmd, stdout, errb := startPeerfind(ctx, t, nil, append([]string{"peers", path, "--follow", "--state-dir", stateDir, "--port", fmt.Sprint(port)}, bootstrapArgs(sw)...)...)
	// Read until every peer has been printed: the search is then in its
	// follow phase, waiting for the next interval.
	sc := bufio.NewScanner(stdout)
	var got []netip.AddrPort
	for len(got) < len(sw.Peers) && sc.Scan() {
		if a, err := netip.ParseAddrPort(sc.Text()); err == nil {
			got = append(got, a)
		} else {
			t.Errorf("stdout line %q", sc.Text())
		}
	}
	sameSet(t, "follow", got, sw.PeersOn(swarmtest.OnHTTP|swarmtest.OnUDP|swarmtest.OnDHT))
	// We announced ourselves (127.0.0.1:7777) to the trackers.
	me := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
	if !slices.Contains(sw.HTTPServer.Peers(sw.InfoHash), me) {
		t.Errorf("HTTP tracker does not list us (%v) while following", me)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		t.Errorf("stdout after SIGINT: %q", sc.Text())
	}
	err = cmd.Wait()
	if err != nil {
		t.Errorf("exit after SIGINT: %v; stderr:\n%s", err, errb.String())
	}
	if !strings.Contains(errb.String(), fmt.Sprintf("%d peers in", len(sw.Peers))) || !strings.Contains(errb.String(), "stopped") {
		t.Errorf("no summary after SIGINT:\n%s", errb.String())
	}
	// The trackers were told we left (event=stopped).
	for _, srv := range []*struct {
		name  string
		peers []netip.AddrPort
	}{{"HTTP", sw.HTTPServer.Peers(sw.InfoHash)}, {"UDP", sw.UDPServer.Peers(sw.InfoHash)}} {
		if slices.Contains(srv.peers, me) {
			t.Errorf("%s tracker still lists us after SIGINT", srv.name)
		}
	}
	st, err := dht.LoadState(filepath.Join(stateDir, "dht.state"))
	if err != nil {
		t.Fatalf("state file after SIGINT: %v", err)
	}
	// The state saved on the way out holds our id and nodes met while
	// following, every one a node of the swarm's DHT: the only one there is.
	swarmNodes := map[netip.AddrPort]bool{}
	for _, nd := range sw.Nodes {
		for _, a := range nd.LocalAddrs() {
			swarmNodes[a] = true
		}
	}
	if st.ID.IsZero() || len(st.Nodes) == 0 {
		t.Errorf("state file after SIGINT: id %v, %d nodes; want our id and the nodes met", st.ID, len(st.Nodes))
	}
	for _, ni := range st.Nodes {
		if !swarmNodes[ni.Addr] {
			t.Errorf("state file after SIGINT lists %v, not a node of the swarm", ni.Addr)
		}
	}
}

func TestE2EDemo(t *testing.T) {
	r := runPF(t, nil, "demo", "--nodes", "100", "--peers", "24")
	if r.code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	// The demo checks every peer's sources itself (exit status 1 if wrong).
	for _, want := range []string{"100 nodes", "All 24 peers found", "FOUND AFTER", "udp-tracker", "http-tracker", "dht"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestE2EPrivate(t *testing.T) {
	sw := startSwarm(t, swarmtest.Config{Nodes: 48, Peers: 16, Private: true})
	path, err := sw.WriteTorrent(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// BEP 27: trackers only, and the summary says why.
	r := runPF(t, nil, append([]string{"peers", path, "--no-state"}, bootstrapArgs(sw)...)...)
	if r.code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	sameSet(t, "private", parsePeers(t, r.stdout), sw.PeersOn(swarmtest.OnHTTP|swarmtest.OnUDP))
	if !strings.Contains(r.stderr, "DHT not used: private torrent") {
		t.Errorf("summary does not say the DHT was skipped:\n%s", r.stderr)
	}
	// The explicit override searches the DHT too.
	r = runPF(t, nil, append([]string{"peers", path, "--no-state", "--allow-dht-private"}, bootstrapArgs(sw)...)...)
	if r.code != exitOK {
		t.Fatalf("override: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	sameSet(t, "private, --allow-dht-private", parsePeers(t, r.stdout), sw.PeersOn(swarmtest.OnHTTP|swarmtest.OnUDP|swarmtest.OnDHT))
}

// TestE2EClosedPipe reads one peer and closes the pipe, as `| head -1`
// does: peerfind must end cleanly (summary, status 0), not die of SIGPIPE.
func TestE2EClosedPipe(t *testing.T) {
	sw := startSwarm(t, swarmtest.Config{Nodes: -1, Peers: 200})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, peerfindBin, "peers", sw.InfoHash.String(), "--no-dht", "--json",
		"--tracker", sw.HTTPTracker, "--tracker", sw.UDPTracker, "--follow", "--timeout", "20s")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.Contains(line, `"type":"peer"`) {
		t.Fatalf("first line %q, %v", line, err)
	}
	stdout.Close()
	err = cmd.Wait()
	if err != nil {
		t.Errorf("after the pipe closed: %v; stderr:\n%s", err, errb.String())
	}
	if !strings.Contains(errb.String(), "peers in") {
		t.Errorf("no summary:\n%s", errb.String())
	}
}

// TestE2EFollowNewPeer: with --follow, a peer that joins the swarm later is
// printed after the tracker's next interval, and known peers are not
// printed again.
func TestE2EFollowNewPeer(t *testing.T) {
	sw := startSwarm(t, swarmtest.Config{Nodes: -1, Peers: 8, TrackerInterval: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd, stdout, errb := startPeerfind(ctx, t, nil, "peers", sw.InfoHash.String(), "--follow", "--no-dht", "--tracker", sw.HTTPTracker)
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stdout)
	var got []netip.AddrPort
	for len(got) < len(sw.PeersOn(swarmtest.OnHTTP)) && sc.Scan() {
		got = append(got, netip.MustParseAddrPort(sc.Text()))
	}
	sameSet(t, "before", got, sw.PeersOn(swarmtest.OnHTTP))
	late := netip.MustParseAddrPort("127.0.1.250:7000")
	sw.HTTPServer.AddPeer(sw.InfoHash, late, true)
	if !sc.Scan() {
		t.Fatal("no line after a peer joined")
	}
	if sc.Text() != late.String() {
		t.Errorf("next line %q, want the late peer %v (and no repeat of a known one)", sc.Text(), late)
	}
	cmd.Process.Signal(os.Interrupt)
	for sc.Scan() {
		t.Errorf("unexpected line %q", sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit: %v; stderr:\n%s", err, errb.String())
	}
}

// freePort returns a loopback port free for network ("tcp4" or "udp4") at
// the time of the call.
func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp4" {
		c, err := net.ListenPacket(network, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen(network, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestE2EOpentracker runs peerfind against opentracker (Debian package,
// whitelist-only build: see docs/interop.md), over HTTP and UDP.
// opentracker lists the announcing client among the peers, so this also
// checks that peerfind does not print itself.
func TestE2EOpentracker(t *testing.T) {
	bin, err := exec.LookPath("opentracker")
	if err != nil {
		t.Fatal("opentracker not installed (scripts/test.sh installs it)")
	}
	const hash = "0123456789abcdef0123456789abcdef01234567"
	// Run as root, opentracker drops to an unprivileged user before it
	// reads the whitelist, so the file must be world-readable (t.TempDir
	// is 0700).
	dir, err := os.MkdirTemp("", "peerfind-opentracker-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	wl := filepath.Join(dir, "whitelist")
	if err := os.WriteFile(wl, []byte(hash+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tcpPort, udpPort := freePort(t, "tcp4"), freePort(t, "udp4")
	ot := exec.Command(bin, "-i", "127.0.0.1", "-p", fmt.Sprint(tcpPort), "-P", fmt.Sprint(udpPort), "-w", wl)
	var otOut bytes.Buffer
	ot.Stdout, ot.Stderr = &otOut, &otOut
	if err := ot.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ot.Process.Kill()
		ot.Wait()
	})
	httpURL := fmt.Sprintf("http://127.0.0.1:%d/announce", tcpPort)
	udpURL := fmt.Sprintf("udp://127.0.0.1:%d", udpPort)
	h, err := metainfo.ParseHash(hash)
	if err != nil {
		t.Fatal(err)
	}
	// Three peers announce themselves (all from 127.0.0.1, distinct ports);
	// retried until opentracker is up.
	tc := &tracker.Client{}
	defer tc.Close()
	var want []netip.AddrPort
	for i := range 3 {
		port := uint16(7101 + i)
		req := tracker.AnnounceRequest{InfoHash: h, PeerID: [20]byte{'p', byte(i)}, Port: port, Left: 1, Event: tracker.EventStarted}
		deadline := time.Now().Add(10 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := tc.Announce(ctx, httpURL, req)
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				ot.Process.Kill()
				ot.Wait()
				t.Fatalf("opentracker did not come up: %v\n%s", err, otOut.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		want = append(want, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port))
	}
	r := runPF(t, nil, "peers", hash, "--no-dht", "--tracker", httpURL, "--tracker", udpURL, "--port", "7200", "--json")
	if r.code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	var got []netip.AddrPort
	okTrackers := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var j jsonLine
		if err := json.Unmarshal([]byte(l), &j); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		switch j.Type {
		case "peer":
			got = append(got, netip.MustParseAddrPort(j.Address))
		case "tracker":
			if j.OK {
				okTrackers[j.URL] = true
			} else {
				t.Errorf("%s: %s", j.URL, j.Error)
			}
		}
	}
	sameSet(t, "opentracker", got, want)
	if !okTrackers[httpURL] || !okTrackers[udpURL] {
		t.Errorf("trackers that answered: %v, want both", okTrackers)
	}
}

// TestE2EHybridAndMagnetPeers: a hybrid v1+v2 torrent is searched in both
// swarms; a magnet link's x.pe peers are reported under "magnet".
func TestE2EHybridAndMagnetPeers(t *testing.T) {
	sw := startSwarm(t, swarmtest.Config{Nodes: 48, Peers: 18, Hybrid: true})
	path, err := sw.WriteTorrent(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := runPF(t, nil, append([]string{"peers", path, "--no-state"}, bootstrapArgs(sw)...)...)
	if r.code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	sameSet(t, "hybrid", parsePeers(t, r.stdout), sw.PeersOn(swarmtest.OnHTTP|swarmtest.OnUDP|swarmtest.OnDHT))

	given := "127.0.1.222:9999"
	r = runPF(t, nil, "peers", sw.Magnet()+"&x.pe="+given, "--no-dht", "--json")
	if r.code != exitOK {
		t.Fatalf("magnet: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	found := false
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var j jsonLine
		if err := json.Unmarshal([]byte(l), &j); err != nil {
			t.Fatal(err)
		}
		if j.Type == "peer" && j.Address == given {
			found = string(j.Sources) == `["magnet"]`
		}
	}
	if !found {
		t.Errorf("x.pe peer %s not reported with source magnet:\n%s", given, r.stdout)
	}
}

// TestE2EStatusLine runs peerfind on a pseudo-terminal (util-linux
// script(1)): the live status line is drawn on it.
func TestE2EStatusLine(t *testing.T) {
	script, err := exec.LookPath("script")
	if err != nil {
		t.Fatal("script(1) not installed")
	}
	sw := startSwarm(t, swarmtest.Config{Nodes: -1, Peers: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	line := fmt.Sprintf("stty cols 120 rows 30; %s peers %s --no-dht --tracker %s --follow --timeout 1s", peerfindBin, sw.InfoHash, sw.HTTPTracker)
	out, err := exec.CommandContext(ctx, script, "-qec", line, "/dev/null").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := fmt.Sprintf("trackers 1/1 · %d peers", len(sw.PeersOn(swarmtest.OnHTTP)))
	if !strings.Contains(string(out), want) {
		t.Errorf("no status line on the terminal:\n%q", out)
	}
}

// TestE2EBadTarget: a TARGET that is neither a file, a magnet link nor a hash
// is bad input (exit 1), reported on one line naming it, for every command.
func TestE2EBadTarget(t *testing.T) {
	for _, cmd := range []string{"peers", "info", "scrape"} {
		r := runPF(t, nil, cmd, "no-such.torrent")
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code != exitError || len(lines) != 1 || !strings.Contains(lines[0], "no-such.torrent: no such file") {
			t.Errorf("%s no-such.torrent: exit %d, stderr %q; want exit %d and one line naming the file", cmd, r.code, r.stderr, exitError)
		}
	}
}
