package e2e

// opentracker (Debian package) on 127.0.0.1: the tracker side of the
// third-party swarm. The approach follows tracker/realtracker_procs_test.go.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// otLifetime bounds opentracker's life: it does not notice when the test
// binary dies (a -timeout panic skips Cleanup), so it runs under coreutils
// timeout.
const otLifetime = "300"

// opentracker is one running opentracker process.
type opentracker struct {
	HTTP, UDP string // announce URLs
	Version   string

	cmd    *exec.Cmd
	output *lockedBuffer
	exited chan struct{}
}

// requireOpentracker returns opentracker's path or skips the test, saying
// why (scripts/test.sh installs it, so CI never skips).
func requireOpentracker(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("opentracker")
	if err != nil {
		t.Skip("opentracker not installed (apt-get install -y opentracker; scripts/test.sh does)")
	}
	return bin
}

// freePorts returns a TCP and a UDP port on 127.0.0.1 that were free a
// moment ago; a daemon cannot inherit our sockets, so the caller retries if
// another process takes one in between.
func freePorts(t testing.TB) (tcp, udp int) {
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

// startOpentracker runs opentracker on 127.0.0.1 with the given ports and a
// whitelist holding the hex info hashes (the Debian build is whitelist-only),
// and waits until it serves. It returns an error wrapping errExited when the
// process exits by itself (a port taken in between). The process is stopped
// in t.Cleanup.
//
// Run as root, opentracker chroots to -d and then reads the whitelist, so
// the whitelist path is relative to -d, and the directory must be
// enterable by the user it drops to.
func startOpentracker(t testing.TB, bin string, tcp, udp int, hexHashes ...string) (*opentracker, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "whitelist"), []byte(strings.Join(hexHashes, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{bin, "-i", "127.0.0.1", "-p", fmt.Sprint(tcp), "-P", fmt.Sprint(udp), "-d", dir, "-w", "whitelist"}
	if timeout, err := exec.LookPath("timeout"); err == nil {
		args = append([]string{timeout, "--kill-after=5", otLifetime}, args...)
	}
	ot := &opentracker{
		HTTP:    fmt.Sprintf("http://127.0.0.1:%d/announce", tcp),
		UDP:     fmt.Sprintf("udp://127.0.0.1:%d/announce", udp),
		Version: packageVersion("opentracker"),
		output:  &lockedBuffer{},
		exited:  make(chan struct{}),
	}
	ot.cmd = exec.Command(args[0], args[1:]...)
	ot.cmd.Dir = dir
	ot.cmd.Stdout, ot.cmd.Stderr = ot.output, ot.output
	if err := ot.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start opentracker: %w", err)
	}
	go func() {
		ot.cmd.Wait()
		close(ot.exited)
	}()
	if err := ot.waitReady(tcp, udp, hexHashes[0]); err != nil {
		ot.stop()
		return nil, fmt.Errorf("%w; output: %s", err, strings.TrimSpace(ot.output.String()))
	}
	t.Cleanup(func() {
		ot.stop()
		if t.Failed() {
			t.Logf("opentracker output:\n%s", ot.output.String())
		}
	})
	return ot, nil
}

// stop ends the process and waits for it; the timeout wrapper passes
// SIGTERM on.
func (ot *opentracker) stop() {
	_ = ot.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-ot.exited:
	case <-time.After(10 * time.Second):
		_ = ot.cmd.Process.Kill()
		<-ot.exited
	}
}

var errExited = errors.New("opentracker exited")

// waitReady waits up to 10 s until opentracker answers an HTTP announce for
// hexHash without a failure (it loads the whitelist in the background and
// refuses announces until then) and a BEP 15 connect on UDP. The probe
// announce is of port 1 and withdrawn at once with `stopped`.
func (ot *opentracker) waitReady(tcp, udp int, hexHash string) error {
	raw, err := hexBytes(hexHash)
	if err != nil {
		return err
	}
	probe := fmt.Sprintf("http://127.0.0.1:%d/announce?info_hash=%s&peer_id=-PF0001-e2e-probe-00&port=1&uploaded=0&downloaded=0&left=1&compact=1",
		tcp, escapeBytes(raw))
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(10 * time.Second)
	last := ""
	httpReady := false
	for time.Now().Before(deadline) {
		select {
		case <-ot.exited:
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
				continue
			}
			httpReady = true
			resp, err = client.Get(probe + "&event=stopped")
			if err != nil {
				return fmt.Errorf("withdrawing the probe announce: %w", err)
			}
			resp.Body.Close()
		}
		if err := udpConnect(fmt.Sprintf("127.0.0.1:%d", udp)); err != nil {
			last = err.Error()
			continue
		}
		return nil
	}
	return fmt.Errorf("opentracker not ready within 10s (last: %q)", last)
}

// udpConnect runs one BEP 15 connect exchange, waiting 200 ms for the reply.
func udpConnect(addr string) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	var req [16]byte
	binary.BigEndian.PutUint64(req[0:], 0x41727101980) // BEP 15 protocol id
	binary.BigEndian.PutUint32(req[12:], 0x5eed)       // action 0 connect, transaction id
	if _, err := c.Write(req[:]); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	resp := make([]byte, 64)
	n, err := c.Read(resp)
	if err != nil {
		return err
	}
	if n < 16 || binary.BigEndian.Uint32(resp[0:]) != 0 || binary.BigEndian.Uint32(resp[4:]) != 0x5eed {
		return fmt.Errorf("udp %s: not a BEP 15 connect reply: % x", addr, resp[:n])
	}
	return nil
}

// escapeBytes is BEP 3's escaping of a binary query value: every byte but
// 0-9 A-Z a-z . - _ ~ as %XX (url.QueryEscape's "+" for a space would be
// read as a literal "+").
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

// packageVersion is the installed Debian version of pkg, for the log.
func packageVersion(pkg string) string {
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", pkg).Output()
	if err != nil {
		return "(unknown version)"
	}
	return string(out)
}
