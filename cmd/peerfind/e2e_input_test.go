package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// zeros is an endless reader of zero bytes, bounded by a byte count so a
// broken cap cannot run forever.
type zeros struct{ left int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), z.left)
	clear(p[:n])
	z.left -= n
	return int(n), nil
}

// runCapped runs peerfind with stdin and reports its result and peak
// resident memory in MiB.
//
// The peak is the child's VmHWM, polled from /proc while it runs, not the
// rusage ru_maxrss: Go starts children with vfork (CLONE_VM), and Linux
// carries the parent's high-water mark into the child's ru_maxrss at exec,
// so a test process grown by earlier tests' swarms would be blamed on
// peerfind. VmHWM only grows, so the last poll before exit is the peak
// within one poll interval.
func runCapped(t *testing.T, stdin io.Reader, args ...string) (result, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, peerfindBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &out, &errb, stdin
	if err := cmd.Start(); err != nil {
		t.Fatalf("running peerfind: %v", err)
	}
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	done := make(chan struct{})
	peak := make(chan int64, 1)
	go func() {
		var kib int64
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if b, err := os.ReadFile(status); err == nil {
				for l := range strings.Lines(string(b)) {
					if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
						n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
						kib = max(kib, n)
					}
				}
			}
			select {
			case <-done:
				peak <- kib
				return
			case <-tick.C:
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	rssMiB := <-peak >> 10
	var ee *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running peerfind: %v", err)
	}
	return result{out.String(), errb.String(), code}, rssMiB
}

// TestE2ECappedInput feeds every kind of TARGET source more than the
// 64 MiB cap: each is refused with one plain line and exit status 1, never
// a Go runtime crash, and the process peaks well below twice the cap
// (the issue saw 820 MB for 200 MB of process substitution, and an
// out-of-memory crash for /dev/zero).
func TestE2ECappedInput(t *testing.T) {
	dir := t.TempDir()
	sparse := filepath.Join(dir, "huge.torrent")
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(maxTorrentSize + 1); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()
	fifo := filepath.Join(dir, "fifo.torrent")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	const over = maxTorrentSize + 16<<20 // what a broken cap would read
	tests := []struct {
		name string
		arg  string
		feed func() // writes the FIFO
		want string
	}{
		{name: "regular file", arg: sparse, want: sparse + ": 64.0 MiB"},
		{name: "FIFO", arg: fifo, feed: func() {
			w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
			if err != nil {
				return
			}
			io.Copy(w, &zeros{over}) // stops with EPIPE once peerfind gives up
			w.Close()
		}, want: fifo + ": more than 64 MiB"},
		// A character device that never ends: the kind `info /dev/zero`
		// crashed on.
		{name: "device", arg: "/dev/zero", want: "/dev/zero: more than 64 MiB"},
		{name: "stdin", arg: "-", want: "standard input: more than 64 MiB"},
	}
	for _, tt := range tests {
		for _, args := range [][]string{{"info", tt.arg}, {"peers", tt.arg, "--no-state"}} {
			t.Run(tt.name+"/"+args[0], func(t *testing.T) {
				var stdin io.Reader
				if tt.arg == "-" {
					stdin = &zeros{over}
				}
				done := make(chan struct{})
				go func() {
					defer close(done)
					if tt.feed != nil {
						tt.feed()
					}
				}()
				r, rss := runCapped(t, stdin, args...)
				if tt.feed != nil {
					// Release a feeder still blocked opening the FIFO.
					if rd, err := os.OpenFile(tt.arg, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
						rd.Close()
					}
				}
				<-done
				lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
				if r.code != exitError || len(lines) != 1 || !strings.Contains(lines[0], tt.want) {
					t.Errorf("exit %d, stderr %q; want exit %d and one line with %q", r.code, r.stderr, exitError, tt.want)
				}
				if rss > 2*maxTorrentSize>>20 {
					t.Errorf("peak RSS %d MiB for a %d MiB cap", rss, maxTorrentSize>>20)
				}
				t.Logf("peak RSS %d MiB", rss)
			})
		}
	}
}
