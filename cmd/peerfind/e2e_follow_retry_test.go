package main

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/peerfind/peerfind/discovery"
	"github.com/peerfind/peerfind/tracker"
)

// TestE2EFollowRetries: with --follow a failing source is retried with
// backoff, and without a terminal each retry round is a line on stderr: a
// following search is never silent about a source that does not work.
func TestE2EFollowRetries(t *testing.T) {
	dead := "http://" + deadTCP(t) + "/announce"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, peerfindBin, "peers", strings.Repeat("ab", 20), "--follow", "--no-dht", "--tracker", dead)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var lines []string
	for _, want := range []string{"retrying in 5s", "retrying in 10s"} { // the backoff doubles
		if !sc.Scan() {
			t.Fatalf("stderr ended before %q; got %q", want, lines)
		}
		lines = append(lines, sc.Text())
		if l := sc.Text(); !strings.HasPrefix(l, "peerfind: "+dead+": connection refused") || !strings.HasSuffix(l, want) {
			t.Errorf("line %q, want the tracker, why and %q", l, want)
		}
	}
	cmd.Process.Signal(os.Interrupt)
	for sc.Scan() {
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("exit %v after SIGINT with nothing found, want 130", err)
	}
}

// TestProgressRetries: on a terminal the status line says which sources
// are failing and when the next retry is.
func TestProgressRetries(t *testing.T) {
	p := &progress{trackersTotal: 1, trackersDone: map[string]bool{}}
	fail := &discovery.TrackerEvent{Result: tracker.Result{URL: "udp://x:1", Next: 5 * time.Second}, Err: tracker.ErrRefused}
	p.event(fail, 0)
	p.event(&discovery.DHTEvent{Err: errors.New("no nodes"), Next: time.Minute}, 0)
	if l := p.line(time.Now()); !strings.Contains(l, "2 sources failing, next retry in 5s") {
		t.Errorf("status line %q", l)
	}
	p.event(&discovery.TrackerEvent{Result: tracker.Result{URL: "udp://x:1", Response: &tracker.AnnounceResponse{}}}, 0)
	if l := p.line(time.Now()); !strings.Contains(l, "1 source failing, next retry in 1m0s") {
		t.Errorf("status line after the tracker answered: %q", l)
	}
}
