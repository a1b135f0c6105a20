package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// testFollowInterrupt runs peerfind --follow --json against the swarm until
// it has printed every peer the third party holds, checks that opentracker
// lists peerfind (self) while it follows, then sends sig (SIGINT, SIGTERM,
// as `peerfind peers --help` documents both): peerfind must
// stop cleanly — exit 0, the summary last, reason "canceled" — and have told
// opentracker it left (event=stopped), so the tracker no longer lists it.
func testFollowInterrupt(t *testing.T, s *swarm, before truth, self netip.AddrPort, sig os.Signal, args []string) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, peerfindBin, args...)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	missing := maps.Clone(before.all)
	for len(missing) > 0 && sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err == nil && e.Type == "peer" {
			delete(missing, netip.MustParseAddrPort(e.Address))
		}
	}
	if len(missing) > 0 {
		t.Fatalf("--follow ended before printing %v; stdout:\n%s\nstderr:\n%s", sortedKeys(missing), out.String(), stderr.String())
	}
	tr, err := s.truth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !tr.all[self] {
		t.Errorf("opentracker does not list peerfind (%v) while it follows: %v", self, sortedKeys(tr.all))
	}
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("after %v: %v; stderr:\n%s", sig, err, stderr.String())
	}
	jr := parseJSON(t, out.String())
	if jr.summary.Reason != "canceled" || jr.summary.Peers != len(jr.sources) {
		t.Errorf("summary after %v: reason %q, %d peers; want canceled, %d", sig, jr.summary.Reason, jr.summary.Peers, len(jr.sources))
	}
	stopped := map[string]bool{}
	for _, e := range jr.events {
		if e.Type == "tracker" && e.Event == "stopped" {
			stopped[e.URL] = e.OK
		}
	}
	if !stopped[s.ot.HTTP] || !stopped[s.ot.UDP] {
		t.Errorf("stopped announces that succeeded: %v; want both trackers", stopped)
	}
	tr, err = s.truth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tr.all[self] {
		t.Errorf("opentracker still lists peerfind (%v) after %v", self, sig)
	}
	t.Logf("--follow: %d peers, summary after %v: %s", len(jr.sources), sig, strings.TrimSpace(stderr.String()))
}
