package main

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/peerfind/peerfind/metainfo"
	"github.com/peerfind/peerfind/tracker"
)

// TestE2ESecondInterrupt follows a swarm on a hostile tracker that answers
// `started` but never `stopped`. The first SIGINT starts the clean exit,
// which waits for that `stopped`; the second, sent once the tracker holds
// the `stopped` request, must end the process at once with status 130.
func TestE2ESecondInterrupt(t *testing.T) {
	h := metainfo.Hash{0xab, 1, 2, 3}
	srv := &tracker.Server{}
	srv.AddPeer(h, netip.MustParseAddrPort("192.0.2.7:6881"), true)
	stopped := make(chan struct{}, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("event") == "stopped" {
			select {
			case stopped <- struct{}{}:
			default:
			}
			<-r.Context().Done() // hang until the client goes away
			return
		}
		srv.ServeHTTP(w, r)
	}))
	defer hs.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd, stdout, errb := startPeerfind(ctx, t, []string{"XDG_STATE_HOME=" + t.TempDir()}, "peers", h.String(), "--follow", "--no-dht", "--tracker", hs.URL+"/announce")
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || sc.Text() != "192.0.2.7:6881" {
		t.Fatalf("first stdout line %q, want the tracker's peer; stderr:\n%s", sc.Text(), errb.String())
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopped:
	case <-ctx.Done():
		t.Fatal("no stopped announce after the first SIGINT")
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("exit after the second SIGINT: %v, want status 130; stderr:\n%s", err, errb.String())
	}
	if !strings.Contains(errb.String(), "interrupted again") {
		t.Errorf("stderr does not say why it exited:\n%s", errb.String())
	}
}

// TestE2ETrackerPolicy runs a search with --tracker-policy bep12 (the
// walk itself is tested in package tracker); a policy of another name is a
// usage error.
func TestE2ETrackerPolicy(t *testing.T) {
	h := metainfo.Hash{0xab, 4, 5, 6}
	live := &tracker.Server{}
	live.AddPeer(h, netip.MustParseAddrPort("192.0.2.8:6881"), true)
	hl := httptest.NewServer(live)
	defer hl.Close()
	r := runPF(t, nil, "peers", h.String(), "--no-dht", "--tracker-policy", "bep12", "--json", "--tracker", hl.URL+"/announce")
	if r.code != exitOK || !strings.Contains(r.stdout, `"address":"192.0.2.8:6881"`) {
		t.Errorf("bep12: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runPF(t, nil, "peers", h.String(), "--no-dht", "--tracker-policy", "first", "--tracker", hl.URL+"/announce")
	if r.code != exitUsage || !strings.Contains(r.stderr, "bep12") {
		t.Errorf("bad policy: exit %d, stderr %q", r.code, r.stderr)
	}
}
