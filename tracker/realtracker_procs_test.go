package tracker_test

// Starting and stopping the real third-party trackers that
// realtracker_test.go runs our Client against: opentracker (Debian) and the
// npm bittorrent-tracker server. Each runs as a child process of the test on
// loopback ports the kernel picked, and is killed in t.Cleanup.

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/peerfind/peerfind/internal/testutil"
	"github.com/peerfind/peerfind/metainfo"
)

// realTracker is one running third-party tracker.
type realTracker struct {
	Name    string // "opentracker" or "bittorrent-tracker"
	Version string
	HTTP    string // announce URL, http://127.0.0.1:PORT/announce
	UDP     string // announce URL, udp://127.0.0.1:PORT/announce
	HTTP6   string // announce URL on [::1]; empty when the tracker has no IPv6 side
	UDP6    string // announce URL on [::1]; empty when the tracker has no IPv6 side

	// restart stops the tracker and starts a fresh process on the same
	// ports, forgetting every swarm; nil when not supported.
	restart func(t *testing.T)
}

// lockedBuffer collects a child's stderr, bounded (testutil.LockedBuffer).
type lockedBuffer = testutil.LockedBuffer

// testHash returns the info hash named label in test t: fixed from run to
// run, so that a failure that depends on the hash's bytes repeats, and
// different across tests and labels, so that swarms are never shared.
func testHash(t *testing.T, label string) metainfo.Hash {
	return metainfo.Hash(sha1.Sum([]byte(t.Name() + "\x00" + label)))
}

// freePorts returns a TCP and a UDP port on 127.0.0.1 that were free a
// moment ago (testutil.FreePorts).
func freePorts(t *testing.T) (tcp, udp int) {
	t.Helper()
	tcp, udp, err := testutil.FreePorts()
	if err != nil {
		t.Fatal(err)
	}
	return tcp, udp
}

// deadURLs returns an http:// and a udp:// announce URL on 127.0.0.1 where
// nothing listens: ports that were bound and closed again.
func deadURLs(t *testing.T) (httpURL, udpURL string) {
	t.Helper()
	tcp, udp := freePorts(t)
	return fmt.Sprintf("http://127.0.0.1:%d/announce", tcp), fmt.Sprintf("udp://127.0.0.1:%d/announce", udp)
}

// startOpentracker runs opentracker on 127.0.0.1 with a whitelist holding
// hashes (testutil.StartOpentracker), in the test's temp dir, retrying with
// other ports when one was taken in between. The Debian build is IPv4-only
// ("Tracker is V4 only!" with -i ::1) and whitelist-only: any other hash is
// refused.
func startOpentracker(t *testing.T, hashes ...metainfo.Hash) *realTracker {
	t.Helper()
	bin, err := testutil.OpentrackerPath()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	hexHashes := make([]string, len(hashes))
	for i, h := range hashes {
		hexHashes[i] = h.String()
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		tcp, udp := freePorts(t)
		p, err := testutil.StartOpentracker(bin, dir, tcp, udp, hexHashes...)
		if err != nil {
			lastErr = err
			if errors.Is(err, testutil.ErrExited) {
				// A port taken in between makes opentracker exit at once
				// with "socket_bind6_reuse: Address already in use".
				continue
			}
			break
		}
		rt := &realTracker{
			Name:    "opentracker",
			Version: opentrackerVersion(),
			HTTP:    p.HTTP,
			UDP:     p.UDP,
		}
		var mu sync.Mutex // guards p: restart and Cleanup
		rt.restart = func(t *testing.T) {
			t.Helper()
			mu.Lock()
			defer mu.Unlock()
			p.Stop()
			np, err := testutil.StartOpentracker(bin, dir, tcp, udp, hexHashes...)
			if err != nil {
				t.Fatalf("restart opentracker on ports %d, %d: %v", tcp, udp, err)
			}
			p = np
		}
		t.Cleanup(func() {
			mu.Lock()
			defer mu.Unlock()
			p.Stop()
			if t.Failed() {
				t.Logf("opentracker output:\n%s", p.Output())
			}
		})
		t.Logf("opentracker %s: %s %s", rt.Version, rt.HTTP, rt.UDP)
		return rt
	}
	t.Fatalf("opentracker did not start: %v", lastErr)
	return nil
}

// udpRawConnect runs one BEP 15 connect exchange by hand and returns the
// connection id (testutil.UDPConnect).
var udpRawConnect = testutil.UDPConnect

// udpRawScrape sends one BEP 15 scrape of h with connection id id by hand
// and returns the action of the reply (2 scrape, 3 error).
func udpRawScrape(addr string, id uint64, h metainfo.Hash) (uint32, error) {
	req := binary.BigEndian.AppendUint64(nil, id)
	req = binary.BigEndian.AppendUint32(req, 2) // action scrape
	req = binary.BigEndian.AppendUint32(req, 0x5eee)
	req = append(req, h[:]...)
	resp, err := testutil.UDPExchange(addr, req)
	if err != nil {
		return 0, err
	}
	if len(resp) < 8 || binary.BigEndian.Uint32(resp[4:]) != 0x5eee {
		return 0, fmt.Errorf("udp %s: not a reply to our scrape: % x", addr, resp)
	}
	return binary.BigEndian.Uint32(resp), nil
}

var opentrackerVersion = sync.OnceValue(func() string { return testutil.PackageVersion("opentracker") })

// nodeTrackerDir is interop/node, relative to this package's directory
// (go test runs tests in the package directory).
const nodeTrackerDir = "../interop/node"

// startNodeTracker runs the npm bittorrent-tracker server from
// interop/node/tracker-server.mjs: HTTP and UDP on 127.0.0.1 and on ::1,
// each on a port the kernel picked (so no retry loop is needed). interval is
// the announce interval it hands out.
//
// The script exits when its stdin closes, so it dies with the test binary
// even if Cleanup never runs.
func startNodeTracker(t *testing.T, interval time.Duration) *realTracker {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not installed; install it with: apt-get install -y nodejs npm && (cd interop/node && npm install --ignore-scripts)")
	}
	if _, err := os.Stat(filepath.Join(nodeTrackerDir, "node_modules", "bittorrent-tracker", "server.js")); err != nil {
		t.Fatal("npm bittorrent-tracker not installed; install it with: (cd interop/node && npm install --ignore-scripts)")
	}
	stderr := &lockedBuffer{}
	cmd := exec.Command(node, "tracker-server.mjs", fmt.Sprint(interval.Milliseconds()))
	cmd.Dir = nodeTrackerDir
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start bittorrent-tracker: %v", err)
	}
	// One goroutine owns stdout and the process: it reads the ports line,
	// drains the rest, then waits (Wait must follow the last read).
	lines := make(chan string, 1)
	exited := make(chan struct{})
	var waitErr error
	go func() {
		defer close(exited)
		line, _ := bufio.NewReader(io.LimitReader(stdout, 4<<10)).ReadString('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, stdout)
		waitErr = cmd.Wait()
	}()
	t.Cleanup(func() {
		stdin.Close() // the script exits when stdin closes
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("bittorrent-tracker exited (%v); stderr:\n%s", waitErr, stderr.String())
		}
	})

	type ports struct {
		HTTP, HTTP6, UDP4, UDP6 int
		Version                 string
	}
	var p ports
	select {
	case line := <-lines:
		if err := json.Unmarshal([]byte(line), &p); err != nil || p.HTTP == 0 || p.UDP4 == 0 {
			t.Fatalf("bittorrent-tracker: bad ports line %q (%v); stderr:\n%s", line, err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("bittorrent-tracker printed no ports within 20s; stderr:\n%s", stderr.String())
	}
	rt := &realTracker{
		Name:    "bittorrent-tracker",
		Version: p.Version,
		HTTP:    fmt.Sprintf("http://127.0.0.1:%d/announce", p.HTTP),
		UDP:     fmt.Sprintf("udp://127.0.0.1:%d/announce", p.UDP4),
	}
	if p.HTTP6 != 0 {
		rt.HTTP6 = fmt.Sprintf("http://[::1]:%d/announce", p.HTTP6)
	}
	if p.UDP6 != 0 {
		rt.UDP6 = fmt.Sprintf("udp://[::1]:%d/announce", p.UDP6)
	}
	t.Logf("bittorrent-tracker %s: %s %s %s %s", rt.Version, rt.HTTP, rt.UDP, rt.HTTP6, rt.UDP6)
	return rt
}

// ctxT is a context for one step of a test, bounded so that a tracker that
// drops our packets fails the test instead of hanging it.
func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
