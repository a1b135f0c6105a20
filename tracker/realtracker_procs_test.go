package tracker_test

// Starting and stopping the real third-party trackers that
// realtracker_test.go runs our Client against: opentracker (Debian) and the
// npm bittorrent-tracker server. Each runs as a child process of the test on
// loopback ports the kernel picked, and is killed in t.Cleanup.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

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

// lockedBuffer collects a child's stderr; exec copies into it from its own
// goroutine while the test may read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 64<<10 { // bounded: a chatty child must not eat memory
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testHash returns the info hash named label in test t: fixed from run to
// run, so that a failure that depends on the hash's bytes repeats, and
// different across tests and labels, so that swarms are never shared.
func testHash(t *testing.T, label string) metainfo.Hash {
	return metainfo.Hash(sha1.Sum([]byte(t.Name() + "\x00" + label)))
}

// freePorts returns a TCP and a UDP port on 127.0.0.1 that were free a
// moment ago. A third-party daemon cannot take a listening socket from us, so
// the caller binds them again and retries when another process won the race.
func freePorts(t *testing.T) (tcp, udp int) {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return l.Addr().(*net.TCPAddr).Port, pc.LocalAddr().(*net.UDPAddr).Port
}

// deadURLs returns an http:// and a udp:// announce URL on 127.0.0.1 where
// nothing listens: ports that were bound and closed again.
func deadURLs(t *testing.T) (httpURL, udpURL string) {
	t.Helper()
	tcp, udp := freePorts(t)
	return fmt.Sprintf("http://127.0.0.1:%d/announce", tcp), fmt.Sprintf("udp://127.0.0.1:%d/announce", udp)
}

// startOpentracker runs opentracker on 127.0.0.1 with a whitelist holding
// hashes. The Debian build is IPv4-only ("Tracker is V4 only!" with -i ::1)
// and whitelist-only: any other hash is refused.
//
// Run as root, opentracker chroots to -d and drops to user nobody; run as
// another user, it changes to -d. Either way it reads the whitelist after
// that, so the path is given relative to -d (an absolute path would be looked
// up inside the chroot). The directory is the test's temp dir, so nothing
// else is exposed.
func startOpentracker(t *testing.T, hashes ...metainfo.Hash) *realTracker {
	t.Helper()
	bin, err := exec.LookPath("opentracker")
	if err != nil {
		t.Skip("opentracker not installed; install it with: apt-get install -y opentracker")
	}
	dir := t.TempDir()
	// nobody must be able to enter the chroot it runs in.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var wl strings.Builder
	for _, h := range hashes {
		wl.WriteString(h.String() + "\n")
	}
	whitelist := filepath.Join(dir, "whitelist")
	if err := os.WriteFile(whitelist, []byte(wl.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	launch := func(tcp, udp int) (*otProc, error) {
		return launchOpentracker(bin, dir, filepath.Base(whitelist), tcp, udp, hashes)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		tcp, udp := freePorts(t)
		p, err := launch(tcp, udp)
		if err != nil {
			lastErr = err
			if errors.Is(err, errExited) {
				// A port taken in between makes opentracker exit at once
				// with "socket_bind6_reuse: Address already in use".
				continue
			}
			break
		}
		rt := &realTracker{
			Name:    "opentracker",
			Version: opentrackerVersion(),
			HTTP:    fmt.Sprintf("http://127.0.0.1:%d/announce", tcp),
			UDP:     fmt.Sprintf("udp://127.0.0.1:%d/announce", udp),
		}
		var mu sync.Mutex // guards p: restart and Cleanup
		rt.restart = func(t *testing.T) {
			t.Helper()
			mu.Lock()
			defer mu.Unlock()
			p.stop()
			np, err := launch(tcp, udp)
			if err != nil {
				t.Fatalf("restart opentracker on ports %d, %d: %v", tcp, udp, err)
			}
			p = np
		}
		t.Cleanup(func() {
			mu.Lock()
			defer mu.Unlock()
			p.stop()
			if t.Failed() {
				t.Logf("opentracker output:\n%s", p.output.String())
			}
		})
		t.Logf("opentracker %s: %s %s", rt.Version, rt.HTTP, rt.UDP)
		return rt
	}
	t.Fatalf("opentracker did not start: %v", lastErr)
	return nil
}

// otProc is one opentracker process.
type otProc struct {
	cmd    *exec.Cmd
	output *lockedBuffer
	exited chan struct{} // closed when the process has been waited for
}

// stop ends the process and waits for it; it may be called again. The
// timeout wrapper passes SIGTERM on to opentracker, which exits on it.
func (p *otProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// otLifetime bounds an opentracker's life: it does not notice when the test
// binary dies (a -timeout panic skips Cleanup), so it runs under coreutils
// timeout. Each test needs it for seconds.
const otLifetime = "300"

// launchOpentracker starts opentracker on 127.0.0.1 with the given ports,
// chroot directory and whitelist (a name inside dir), and waits until it
// serves. On error the process has been stopped.
func launchOpentracker(bin, dir, whitelist string, tcp, udp int, hashes []metainfo.Hash) (*otProc, error) {
	p := &otProc{output: &lockedBuffer{}, exited: make(chan struct{})}
	args := []string{bin, "-i", "127.0.0.1", "-p", fmt.Sprint(tcp), "-P", fmt.Sprint(udp),
		"-d", dir, "-w", whitelist}
	if timeout, err := exec.LookPath("timeout"); err == nil {
		args = append([]string{timeout, "--kill-after=5", otLifetime}, args...)
	}
	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.Dir = dir
	p.cmd.Stdout = p.output
	p.cmd.Stderr = p.output
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start opentracker: %w", err)
	}
	var waitErr error
	go func() {
		waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	if err := waitOpentracker(p.exited, tcp, udp, hashes); err != nil {
		p.stop()
		return nil, fmt.Errorf("%w (%v); output: %s", err, waitErr, strings.TrimSpace(p.output.String()))
	}
	return p, nil
}

// errExited is waitOpentracker's error when the tracker exits by itself.
var errExited = errors.New("opentracker exited")

// waitOpentracker waits until opentracker answers on both its ports with
// its whitelist loaded, or it exits, or 10 s pass. An answer is only
// accepted when it is the tracker's (a bencoded announce reply; a BEP 15
// connect reply), not some other listener's.
func waitOpentracker(exited <-chan struct{}, tcp, udp int, hashes []metainfo.Hash) error {
	deadline := time.Now().Add(10 * time.Second)
	client := &http.Client{Timeout: time.Second}
	probe := fmt.Sprintf("http://127.0.0.1:%d/scrape", tcp)
	var unprobe string
	if len(hashes) > 0 {
		// opentracker loads the whitelist in the background and refuses
		// announces until then; `stopped` is never refused, so the probe
		// is a plain announce, of port 1, withdrawn again at once.
		q := fmt.Sprintf("http://127.0.0.1:%d/announce?info_hash=%s&peer_id=-PF0001-harnessprobe&port=1&uploaded=0&downloaded=0&left=1&compact=1",
			tcp, escapeBytes(hashes[0][:]))
		probe, unprobe = q, q+"&event=stopped"
	}
	var last string
	httpReady := false
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errExited
		case <-time.After(20 * time.Millisecond):
		}
		if !httpReady {
			resp, err := client.Get(probe)
			if err != nil {
				last = err.Error()
				continue
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
			resp.Body.Close()
			if !bytes.HasPrefix(body, []byte("d")) {
				return fmt.Errorf("http://127.0.0.1:%d is not opentracker: %q", tcp, body)
			}
			if last = string(body); strings.Contains(last, "failure reason") {
				continue // whitelist not loaded yet
			}
			httpReady = true
			if unprobe != "" {
				resp, err := client.Get(unprobe)
				if err != nil {
					return fmt.Errorf("withdrawing the probe announce: %w", err)
				}
				resp.Body.Close()
			}
		}
		if err := udpConnectProbe(fmt.Sprintf("127.0.0.1:%d", udp)); err != nil {
			last = err.Error()
			continue
		}
		return nil
	}
	return fmt.Errorf("opentracker not ready within 10s (last: %q)", last)
}

// escapeBytes is BEP 3's escaping of a binary query value: every byte but
// 0-9 A-Z a-z . - _ ~ as %XX. (url.QueryEscape writes a space as "+", which
// opentracker reads as a literal "+".)
func escapeBytes(b []byte) string {
	const hex = "0123456789ABCDEF"
	var s strings.Builder
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-', c == '_', c == '~':
			s.WriteByte(c)
		default:
			s.WriteByte('%')
			s.WriteByte(hex[c>>4])
			s.WriteByte(hex[c&15])
		}
	}
	return s.String()
}

// udpConnectProbe sends one BEP 15 connect request and waits up to 200 ms
// for a matching connect reply.
func udpConnectProbe(addr string) error {
	_, err := udpRawConnect(addr)
	return err
}

// udpRawConnect runs one BEP 15 connect exchange by hand and returns the
// connection id, waiting up to 200 ms for the reply.
func udpRawConnect(addr string) (uint64, error) {
	var req [16]byte
	binary.BigEndian.PutUint64(req[0:], 0x41727101980) // BEP 15 protocol id
	binary.BigEndian.PutUint32(req[8:], 0)             // action connect
	binary.BigEndian.PutUint32(req[12:], 0x5eed)       // transaction id
	resp, err := udpRawExchange(addr, req[:])
	if err != nil {
		return 0, err
	}
	if len(resp) < 16 || binary.BigEndian.Uint32(resp[0:]) != 0 || binary.BigEndian.Uint32(resp[4:]) != 0x5eed {
		return 0, fmt.Errorf("udp %s: not a BEP 15 connect reply: % x", addr, resp)
	}
	return binary.BigEndian.Uint64(resp[8:]), nil
}

// udpRawScrape sends one BEP 15 scrape of h with connection id id by hand
// and returns the action of the reply (2 scrape, 3 error).
func udpRawScrape(addr string, id uint64, h metainfo.Hash) (uint32, error) {
	req := binary.BigEndian.AppendUint64(nil, id)
	req = binary.BigEndian.AppendUint32(req, 2) // action scrape
	req = binary.BigEndian.AppendUint32(req, 0x5eee)
	req = append(req, h[:]...)
	resp, err := udpRawExchange(addr, req)
	if err != nil {
		return 0, err
	}
	if len(resp) < 8 || binary.BigEndian.Uint32(resp[4:]) != 0x5eee {
		return 0, fmt.Errorf("udp %s: not a reply to our scrape: % x", addr, resp)
	}
	return binary.BigEndian.Uint32(resp), nil
}

func udpRawExchange(addr string, req []byte) ([]byte, error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := c.Write(req); err != nil {
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	resp := make([]byte, 2048)
	n, err := c.Read(resp)
	if err != nil {
		return nil, err
	}
	return resp[:n], nil
}

var opentrackerVersion = sync.OnceValue(func() string {
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", "opentracker").Output()
	if err != nil {
		return "(unknown version)"
	}
	return string(out)
})

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
		t.Skip("node not installed; install it with: apt-get install -y nodejs npm && (cd interop/node && npm install --ignore-scripts)")
	}
	if _, err := os.Stat(filepath.Join(nodeTrackerDir, "node_modules", "bittorrent-tracker", "server.js")); err != nil {
		t.Skip("npm bittorrent-tracker not installed; install it with: (cd interop/node && npm install --ignore-scripts)")
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
