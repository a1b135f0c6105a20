package e2e

// A libtorrent 2.0 client (python3-libtorrent, lt_client.py) seeding a
// torrent that libtorrent itself made: the client side of the third-party
// swarm.

import (
	"bufio"
	"bytes"
	"context"
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

// ltPython is Debian's interpreter: python3-libtorrent is built for it and
// no other python on the machine can import it (INTEROP.md).
const ltPython = "/usr/bin/python3"

// requireLibtorrent returns libtorrent's version or skips the test, saying
// why (scripts/test.sh installs it, so CI never skips).
func requireLibtorrent(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(ltPython); err != nil {
		t.Skipf("python3-libtorrent interop skipped: %s not found (apt-get install -y python3-libtorrent; scripts/test.sh does)", ltPython)
	}
	out, err := exec.Command(ltPython, "-c", "import libtorrent; print(libtorrent.__version__)").CombinedOutput()
	if err != nil {
		t.Skipf("python3-libtorrent interop skipped: not importable (apt-get install -y python3-libtorrent): %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// createTorrent has libtorrent make a torrent of random content in dir,
// with trackerURL as its announce URL; extra are more lt_client.py create
// flags.
func createTorrent(t testing.TB, dir, trackerURL string, extra ...string) ltInfo {
	t.Helper()
	cmd := exec.Command(ltPython, append([]string{"lt_client.py", "create", "--dir", dir, "--tracker", trackerURL}, extra...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("lt_client.py create: %v\n%s", err, stderr.String())
	}
	var tor ltInfo
	if err := json.Unmarshal(out, &tor); err != nil || len(tor.InfoHash) != 40 {
		t.Fatalf("lt_client.py create printed %q: %v", out, err)
	}
	return tor
}

// ltEvent is one JSON line printed by lt_client.py seed.
type ltEvent struct {
	Event    string `json:"event"`
	Addr     string `json:"addr"`
	InfoHash string `json:"info_hash"`
	Seeding  bool   `json:"seeding"`
	URL      string `json:"url"`
	Peers    int    `json:"peers"`
	Msg      string `json:"msg"`
}

// ltClient is a running lt_client.py seed process.
type ltClient struct {
	addr netip.AddrPort // the listen address (TCP; the DHT shares the port over UDP)

	cmd   *exec.Cmd
	stdin io.WriteCloser

	mu     sync.Mutex
	events []ltEvent
	stderr lockedBuffer
}

// startSeeder starts libtorrent seeding tor from dir, listening on ip, its
// DHT bootstrapped off routers (dht_bootstrap_nodes) and nodes
// (add_dht_node: anacrolix answers with short node lists, so a bootstrap
// through one router alone may find few). It waits until the session
// listens and its DHT runs. The process ends in t.Cleanup.
func startSeeder(ctx context.Context, t testing.TB, dir string, tor ltInfo, ip netip.Addr, routers, nodes []netip.AddrPort) *ltClient {
	t.Helper()
	c := &ltClient{}
	c.cmd = exec.Command(ltPython, "lt_client.py", "seed",
		"--dir", dir, "--torrent", tor.Path, "--listen", ip.String(),
		"--bootstrap", joinAddrs(routers), "--nodes", joinAddrs(nodes),
		"--max-seconds", "150")
	c.cmd.Stderr = &c.stderr
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start lt_client.py: %v", err)
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var e ltEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				e = ltEvent{Event: "error", Msg: fmt.Sprintf("bad line %q: %v", sc.Text(), err)}
			}
			c.mu.Lock()
			c.events = append(c.events, e)
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		// Closing stdin is the script's normal end; kill only a process
		// still there after that.
		c.stdin.Close()
		waited := make(chan struct{})
		go func() { c.cmd.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(10 * time.Second):
			c.cmd.Process.Kill()
			<-waited
		}
		<-readDone
		if t.Failed() {
			t.Logf("lt_client.py events:\n%s\nstderr:\n%s", c.dump(), c.stderr.String())
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
		t.Fatalf("libtorrent did not start (%v); events:\n%s\nstderr:\n%s", err, c.dump(), c.stderr.String())
	}
	return c
}

// find returns the first event that satisfies match.
func (c *ltClient) find(match func(ltEvent) bool) (ltEvent, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.events {
		if match(e) {
			return e, true
		}
	}
	return ltEvent{}, false
}

// reannounce makes libtorrent announce again to its tracker and the DHT.
func (c *ltClient) reannounce() error {
	_, err := io.WriteString(c.stdin, "reannounce\n")
	return err
}

// dump returns the events so far, one a line.
func (c *ltClient) dump() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, e := range c.events {
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

// lockedBuffer collects a child's output, bounded, for reading while exec
// still writes into it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() < 64<<10 {
		b.buf.Write(p)
	}
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
