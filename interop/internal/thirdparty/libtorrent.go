package thirdparty

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed" // lt.py
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Python is Debian's interpreter: python3-libtorrent is built for it and no
// other python on the machine can import it (docs/interop.md).
const Python = "/usr/bin/python3"

// ltScript is lt.py: libtorrent's DHT node (node), seeding client (seed),
// torrent maker (create) and magnet reader (magnet), driven over stdio.
//
//go:embed lt.py
var ltScript []byte

// LibtorrentVersion returns python3-libtorrent's version, or an error that
// says why it cannot be used and how to install it (scripts/test.sh
// installs it, so CI never lacks it).
func LibtorrentVersion() (string, error) {
	if _, err := os.Stat(Python); err != nil {
		return "", fmt.Errorf("%s not found (apt-get install -y python3-libtorrent): %w", Python, err)
	}
	out, err := exec.Command(Python, "-c", "import libtorrent; print(libtorrent.__version__)").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("python3-libtorrent not importable (apt-get install -y python3-libtorrent): %w: %s", err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

var script struct {
	once sync.Once
	path string
	err  error
}

// scriptPath writes lt.py into the temporary directory, once per process,
// under a name that carries a hash of its content, so that concurrent test
// processes share one file and a changed script never runs stale.
func scriptPath() (string, error) {
	script.once.Do(func() {
		sum := sha256.Sum256(ltScript)
		path := filepath.Join(os.TempDir(), "peerfind-lt-"+hex.EncodeToString(sum[:6])+".py")
		if b, err := os.ReadFile(path); err == nil && bytes.Equal(b, ltScript) {
			script.path = path
			return
		}
		f, err := os.CreateTemp(os.TempDir(), "peerfind-lt-*.py")
		if err != nil {
			script.err = fmt.Errorf("writing lt.py: %w", err)
			return
		}
		_, werr := f.Write(ltScript)
		cerr := f.Close()
		if err := errors.Join(werr, cerr); err != nil {
			os.Remove(f.Name())
			script.err = fmt.Errorf("writing lt.py: %w", err)
			return
		}
		// Rename is atomic: another process never runs a half-written file.
		if err := os.Rename(f.Name(), path); err != nil {
			os.Remove(f.Name())
			script.err = fmt.Errorf("writing lt.py: %w", err)
			return
		}
		script.path = path
	})
	return script.path, script.err
}

// LibtorrentCommand returns a command running lt.py with args, for the
// one-shot modes (create, magnet). Python's fault handler is on: a process
// that dies by a signal prints every thread's Python stack to stderr first.
func LibtorrentCommand(args ...string) (*exec.Cmd, error) {
	path, err := scriptPath()
	if err != nil {
		return nil, err
	}
	return exec.Command(Python, append([]string{"-X", "faulthandler", path}, args...)...), nil
}

// Process is a running lt.py node or seed: commands go to its stdin, and
// every line it prints is decoded into an event of type E (the JSON object
// of that line). Its methods are safe for concurrent use.
type Process[E any] struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	waited chan struct{} // closed once the process has exited and been waited for

	mu     sync.Mutex
	events []E
	more   chan struct{} // closed and replaced when events grows or the process ends
	exited bool
	status string // how it exited ("exit status 0", "signal: segmentation fault"), once exited
	stderr []byte // the last maxStderr bytes: a crash trace comes last
}

const maxStderr = 64 << 10

// StartProcess starts lt.py with args (e.g. "node", "--listen", ip). A
// stdout line that does not decode as E becomes bad(line, err). The caller
// must Stop the process.
func StartProcess[E any](bad func(line string, err error) E, args ...string) (*Process[E], error) {
	cmd, err := LibtorrentCommand(args...)
	if err != nil {
		return nil, err
	}
	p := &Process[E]{cmd: cmd, more: make(chan struct{}), waited: make(chan struct{})}
	cmd.Stderr = (*stderrWriter[E])(p)
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start lt.py %s: %w", strings.Join(args, " "), err)
	}
	go p.read(stdout, bad)
	return p, nil
}

// stderrWriter collects the end of the process's stderr, bounded.
type stderrWriter[E any] Process[E]

func (w *stderrWriter[E]) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stderr = append(w.stderr, b...)
	if over := len(w.stderr) - maxStderr; over > 0 {
		w.stderr = append(w.stderr[:0], w.stderr[over:]...)
	}
	return len(b), nil
}

// read collects the events until stdout closes, then waits for the
// process and records how it ended.
func (p *Process[E]) read(r io.Reader, bad func(string, error) E) {
	defer close(p.waited)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var e E
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			e = bad(sc.Text(), err)
		}
		p.mu.Lock()
		p.events = append(p.events, e)
		close(p.more)
		p.more = make(chan struct{})
		p.mu.Unlock()
	}
	io.Copy(io.Discard, r) // a line too long for the scanner: drain, so the process can end
	status := "exited"
	if err := p.cmd.Wait(); err != nil {
		status = err.Error()
	} else if p.cmd.ProcessState != nil {
		status = p.cmd.ProcessState.String()
	}
	p.mu.Lock()
	p.exited = true
	p.status = status
	close(p.more)
	p.more = make(chan struct{})
	p.mu.Unlock()
}

// Send writes one command line to the process.
func (p *Process[E]) Send(format string, args ...any) error {
	_, err := fmt.Fprintf(p.stdin, format+"\n", args...)
	return err
}

// Mark returns the index of the next event, for Wait to look only at what
// comes after a command.
func (p *Process[E]) Mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.events)
}

// Wait returns the first event at index from or later that satisfies
// match, waiting for it until ctx ends or the process exits.
func (p *Process[E]) Wait(ctx context.Context, from int, match func(E) bool) (E, error) {
	for {
		p.mu.Lock()
		for ; from < len(p.events); from++ {
			if e := p.events[from]; match(e) {
				p.mu.Unlock()
				return e, nil
			}
		}
		exited, more, status := p.exited, p.more, p.status
		stderr := string(p.stderr)
		p.mu.Unlock()
		var zero E
		if exited {
			// Say why: a libtorrent failure is only visible on stderr.
			if len(stderr) > 2048 {
				stderr = "…" + stderr[len(stderr)-2048:]
			}
			return zero, fmt.Errorf("lt.py ended (%s) after %d events; stderr: %q", status, from, stderr)
		}
		select {
		case <-more:
		case <-ctx.Done():
			return zero, context.Cause(ctx)
		}
	}
}

// Find returns the first event so far that satisfies match.
func (p *Process[E]) Find(match func(E) bool) (E, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.events {
		if match(e) {
			return e, true
		}
	}
	var zero E
	return zero, false
}

// Events returns a copy of the events so far.
func (p *Process[E]) Events() []E {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]E(nil), p.events...)
}

// Stderr returns what the process wrote to stderr (the last 64 KiB).
func (p *Process[E]) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return string(p.stderr)
}

// Crash returns how the process died if it ended by a signal, giving it up
// to grace to end (an error seen by the caller may precede its exit), or
// nil. python3-libtorrent 2.0.8 sometimes dies of SIGSEGV inside libstdc++
// while handling alerts; callers tell that third-party crash apart from a
// failure of the code under test (see RetryAfterCrash).
func (p *Process[E]) Crash(grace time.Duration) *Crash {
	select {
	case <-p.waited:
	default:
		select {
		case <-p.waited:
		case <-time.After(grace):
			return nil
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !strings.HasPrefix(p.status, "signal:") {
		return nil
	}
	return &Crash{Status: p.status, Trace: string(p.stderr)}
}

// Stop ends the process and waits for it: closing stdin is the script's
// normal end; a process still there 10 s later is killed.
func (p *Process[E]) Stop() {
	p.stdin.Close()
	select {
	case <-p.waited:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.waited
	}
}
