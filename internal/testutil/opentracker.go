package testutil

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ErrExited is StartOpentracker's error (wrapped) when the tracker exits by
// itself while starting: most often a port taken in between, which makes
// opentracker exit at once with "socket_bind6_reuse: Address already in
// use". The caller picks other ports and tries again.
var ErrExited = errors.New("opentracker exited")

// lifetime bounds an opentracker's life: it does not notice when the test
// binary dies (a -timeout panic skips Cleanup), so it runs under coreutils
// timeout. Each test needs it for seconds.
const lifetime = "300"

// OpentrackerPath returns the path of the opentracker binary, or an error
// saying how to install it (scripts/test.sh does).
func OpentrackerPath() (string, error) {
	bin, err := exec.LookPath("opentracker")
	if err != nil {
		return "", fmt.Errorf("opentracker not installed (apt-get install -y opentracker; scripts/test.sh does): %w", err)
	}
	return bin, nil
}

// PackageVersion returns the installed Debian version of pkg, or
// "(unknown version)".
func PackageVersion(pkg string) string {
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", pkg).Output()
	if err != nil {
		return "(unknown version)"
	}
	return string(out)
}

// Opentracker is one running opentracker process (Debian's package).
type Opentracker struct {
	HTTP string // announce URL, http://127.0.0.1:PORT/announce
	UDP  string // announce URL, udp://127.0.0.1:PORT/announce

	cmd     *exec.Cmd
	output  LockedBuffer
	exited  chan struct{} // closed when the process has been waited for
	waitErr error         // set before exited is closed
}

// StartOpentracker runs the opentracker binary bin on 127.0.0.1 with the
// given TCP and UDP ports and a whitelist of the hex info hashes, and waits
// until it serves; on error the process has been stopped. The caller must
// Stop it.
//
// The Debian build is IPv4-only and whitelist-only (docs/interop.md). Run as
// root, opentracker chroots to dir and drops to user nobody; run as another
// user, it changes to dir. Either way it reads the whitelist after that, so
// the whitelist is written into dir (made world-enterable) and named
// relative to it. dir should be the test's own temporary directory, so
// that nothing else is exposed; StartOpentracker may be called again with
// the same dir to restart the tracker.
func StartOpentracker(bin, dir string, tcp, udp int, hexHashes ...string) (*Opentracker, error) {
	var probeHash []byte
	if len(hexHashes) > 0 {
		b, err := hex.DecodeString(hexHashes[0])
		if err != nil || len(b) != 20 {
			return nil, fmt.Errorf("opentracker whitelist: info hash %q is not 40 hex digits", hexHashes[0])
		}
		probeHash = b
	}
	// nobody must be able to enter the chroot it runs in.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	var wl strings.Builder
	for _, h := range hexHashes {
		wl.WriteString(h + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "whitelist"), []byte(wl.String()), 0o644); err != nil {
		return nil, err
	}
	args := []string{bin, "-i", "127.0.0.1", "-p", fmt.Sprint(tcp), "-P", fmt.Sprint(udp), "-d", dir, "-w", "whitelist"}
	if timeout, err := exec.LookPath("timeout"); err == nil {
		args = append([]string{timeout, "--kill-after=5", lifetime}, args...)
	}
	ot := &Opentracker{
		HTTP:   fmt.Sprintf("http://127.0.0.1:%d/announce", tcp),
		UDP:    fmt.Sprintf("udp://127.0.0.1:%d/announce", udp),
		exited: make(chan struct{}),
	}
	ot.cmd = exec.Command(args[0], args[1:]...)
	ot.cmd.Dir = dir
	ot.cmd.Stdout, ot.cmd.Stderr = &ot.output, &ot.output
	if err := ot.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start opentracker: %w", err)
	}
	go func() {
		ot.waitErr = ot.cmd.Wait()
		close(ot.exited)
	}()
	if err := ot.waitReady(tcp, udp, probeHash); err != nil {
		ot.Stop()
		return nil, fmt.Errorf("%w (%v); output: %s", err, ot.waitErr, strings.TrimSpace(ot.output.String()))
	}
	return ot, nil
}

// Output returns what the process printed (the first 64 KiB).
func (ot *Opentracker) Output() string { return ot.output.String() }

// Stop ends the process and waits for it; it may be called again. The
// timeout wrapper passes SIGTERM on to opentracker, which exits on it.
func (ot *Opentracker) Stop() {
	_ = ot.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-ot.exited:
	case <-time.After(10 * time.Second):
		_ = ot.cmd.Process.Kill()
		<-ot.exited
	}
}

// waitReady waits until opentracker answers on both its ports with its
// whitelist loaded, or it exits, or 10 s pass. An answer is only accepted
// when it is the tracker's (a bencoded announce reply; a BEP 15 connect
// reply), not some other listener's.
func (ot *Opentracker) waitReady(tcp, udp int, probeHash []byte) error {
	deadline := time.Now().Add(10 * time.Second)
	client := &http.Client{Timeout: time.Second}
	probe := fmt.Sprintf("http://127.0.0.1:%d/scrape", tcp)
	var unprobe string
	if probeHash != nil {
		// opentracker loads the whitelist in the background and refuses
		// announces until then; `stopped` is never refused, so the probe
		// is a plain announce, of port 1, withdrawn again at once.
		q := fmt.Sprintf("http://127.0.0.1:%d/announce?info_hash=%s&peer_id=-PF0001-harnessprobe&port=1&uploaded=0&downloaded=0&left=1&compact=1",
			tcp, EscapeBytes(probeHash))
		probe, unprobe = q, q+"&event=stopped"
	}
	var last string
	httpReady := false
	for time.Now().Before(deadline) {
		select {
		case <-ot.exited:
			return ErrExited
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
		if _, err := UDPConnect(fmt.Sprintf("127.0.0.1:%d", udp)); err != nil {
			last = err.Error()
			continue
		}
		return nil
	}
	return fmt.Errorf("opentracker not ready within 10s (last: %q)", last)
}

// EscapeBytes is BEP 3's escaping of a binary query value: every byte but
// 0-9 A-Z a-z . - _ ~ as %XX. (url.QueryEscape writes a space as "+", which
// opentracker reads as a literal "+".)
func EscapeBytes(b []byte) string {
	const hexDigits = "0123456789ABCDEF"
	var s strings.Builder
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-', c == '_', c == '~':
			s.WriteByte(c)
		default:
			s.WriteByte('%')
			s.WriteByte(hexDigits[c>>4])
			s.WriteByte(hexDigits[c&15])
		}
	}
	return s.String()
}
