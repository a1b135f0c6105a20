package main

import (
	"bufio"
	"context"
	_ "embed" // ltfind.py
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/peerfind/peerfind/interop/dhtemu"
	"github.com/peerfind/peerfind/interop/internal/thirdparty"
)

//go:embed ltfind.py
var ltFind []byte

// Finder names, as -finders takes them.
const (
	finderCold       = "peerfind-cold"
	finderWarm       = "peerfind-warm"
	finderLibtorrent = "libtorrent"
	finderAnacrolix  = "anacrolix"
)

var allFinders = []string{finderCold, finderWarm, finderLibtorrent, finderAnacrolix}

// tools are the finders' programs, built or written once per run into a
// temporary directory.
type tools struct {
	dir       string
	peerfind  string
	anacrolix string
	ltScript  string
}

// buildTools builds the peerfind command of this repository and the
// anacrolix driver with the go command, and writes ltfind.py.
func buildTools(ctx context.Context, dir string) (*tools, error) {
	t := &tools{
		dir:       dir,
		peerfind:  filepath.Join(dir, "peerfind"),
		anacrolix: filepath.Join(dir, "anacrolixfind"),
		ltScript:  filepath.Join(dir, "ltfind.py"),
	}
	// peerfind is built in the repository's root module, as a user builds
	// it (this module's graph holds anacrolix's requirements, which could
	// raise shared versions); the root's directory comes from the go
	// command, through this module's replace directive.
	root, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/peerfind/peerfind").Output()
	if err != nil {
		return nil, fmt.Errorf("go list -m github.com/peerfind/peerfind: %w", err)
	}
	for _, b := range []struct{ dir, out, pkg string }{
		{strings.TrimSpace(string(root)), t.peerfind, "./cmd/peerfind"},
		{"", t.anacrolix, "github.com/peerfind/peerfind/interop/cmd/dhtbench/anacrolixfind"},
	} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b.out, b.pkg)
		cmd.Dir = b.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %w\n%s", b.pkg, err, out)
		}
	}
	if err := os.WriteFile(t.ltScript, ltFind, 0o600); err != nil {
		return nil, err
	}
	return t, nil
}

// finderIP returns the loopback address of the i-th third-party run: each
// run has its own source address, outside the emulator's 127.64-127.255
// node range start.
func finderIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, 2, byte(i / 250), byte(i%250 + 1)})
}

// command returns the process of one finder run for target ih. stateDir
// is peerfind's (a fresh copy per run).
func (t *tools) command(ctx context.Context, finder string, nw *dhtemu.Network, ih [20]byte, run int, stateDir string, timeout time.Duration) *exec.Cmd {
	h := hex.EncodeToString(ih[:])
	boot := nw.Bootstrap().String()
	var cmd *exec.Cmd
	switch finder {
	case finderCold, finderWarm:
		cmd = exec.CommandContext(ctx, t.peerfind, "peers", h, "--no-trackers", "--bootstrap", boot,
			"--state-dir", stateDir, "--timeout", timeout.String(), "-4")
	case finderLibtorrent:
		cmd = exec.CommandContext(ctx, thirdparty.Python, t.ltScript, "--listen", finderIP(run).String(),
			"--bootstrap", boot, "--info-hash", h, "--max-seconds", fmt.Sprint(timeout.Seconds()))
	case finderAnacrolix:
		cmd = exec.CommandContext(ctx, t.anacrolix, "-listen", finderIP(run).String(),
			"-bootstrap", boot, "-info-hash", h, "-max-time", timeout.String())
	default:
		panic("unknown finder " + finder) // checked when flags are parsed
	}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// result is one finder run on one target.
type result struct {
	found    map[netip.AddrPort]time.Duration // when each peer was printed, from process start
	exit     time.Duration                    // when the process ended by itself
	killed   bool                             // it did not end within the run's limit
	cpu      time.Duration                    // user + system time of the child
	counts   dhtemu.Counts                    // what the emulator saw from the run's sources
	status   string                           // how the process exited
	stderr   string                           // its last words
	expected []netip.AddrPort
}

// run starts cmd, timestamps every "ip:port" line of its stdout, and waits
// for it to end. limit bounds the whole run; a process still there is
// killed. If stopWhenComplete, the process is killed as soon as it has
// printed every expected peer (a test that checks what is found, not when
// the finder ends).
func run(cmd *exec.Cmd, nw *dhtemu.Network, limit time.Duration, expected []netip.AddrPort, stopWhenComplete bool) (result, error) {
	r := result{found: map[netip.AddrPort]time.Duration{}, expected: expected}
	before := nw.Counts()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return r, err
	}
	var stderr tailBuffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return r, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	timer := time.AfterFunc(limit, func() { cmd.Process.Kill() })
	defer timer.Stop()
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		at := time.Since(start)
		if p, err := netip.ParseAddrPort(strings.TrimSpace(sc.Text())); err == nil {
			if _, dup := r.found[p]; !dup {
				r.found[p] = at
				if stopWhenComplete && r.foundCount() == len(expected) {
					cmd.Process.Kill()
				}
			}
		}
	}
	io.Copy(io.Discard, stdout)
	werr := cmd.Wait()
	r.exit = time.Since(start)
	r.killed = !timer.Stop()
	r.status = cmd.ProcessState.String()
	r.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	r.stderr = stderr.String()
	var exitErr *exec.ExitError
	complete := stopWhenComplete && r.foundCount() == len(expected)
	if werr != nil && !r.killed && !complete && !(asExit(werr, &exitErr) && exitErr.ExitCode() == 3) {
		// peerfind exits 3 when it found no peers: a result, not a failure.
		return r, fmt.Errorf("%s: %v; stderr: %s", filepath.Base(cmd.Path), werr, r.stderr)
	}
	// Each run has its own source (its own IP, or a fresh port), so the
	// sources new since the run began are the run's.
	for src, c := range nw.Counts() {
		if _, old := before[src]; !old {
			r.counts = r.counts.Add(c)
		}
	}
	return r, nil
}

func asExit(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}

// tailBuffer keeps the last 4 KiB written to it.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
