package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestDeadSources: a tracker with nothing listening and a bootstrap node
// that never answers. Every source failed, which `peerfind peers --help`
// documents as exit 1 ("1 error"; 3 is only for a search that ran fine),
// and stderr names the tracker URL and the bootstrap address in plain words.
func TestDeadSources(t *testing.T) {
	httpURL := fmt.Sprintf("http://%v/announce", deadTCP(t))
	boot := deadUDP(t)
	r := runPeerfind(t, "peers", strings.Repeat("c3", 20), "--tracker", httpURL, "--bootstrap", boot.String(),
		"--state-dir", t.TempDir(), "--timeout", "5s")
	if r.code != 1 {
		t.Errorf("exit %d, want 1 (every source failed); stderr:\n%s", r.code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing", r.stdout)
	}
	for _, want := range []string{httpURL, boot.String(), "connection refused", "every source failed"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if m := plainText.FindString(r.stderr); m != "" {
		t.Errorf("stderr shows a Go value (%q), not a message:\n%s", m, r.stderr)
	}
	t.Logf("stderr:\n%s", r.stderr)

	// The same with --json: stdout still only JSON objects, the tracker's
	// error in its event, the summary last.
	r = runPeerfind(t, "peers", strings.Repeat("c3", 20), "--tracker", httpURL, "--bootstrap", boot.String(),
		"--state-dir", t.TempDir(), "--timeout", "5s", "--json")
	if r.code != 1 {
		t.Errorf("--json: exit %d, want 1", r.code)
	}
	jr := parseJSON(t, r.stdout)
	var trackerErr string
	for _, e := range jr.events {
		if e.Type == "tracker" && e.URL == httpURL {
			trackerErr = e.Error
		}
		if e.Type == "peer" {
			t.Errorf("a peer from dead sources: %s", e.Address)
		}
	}
	if trackerErr == "" || plainText.MatchString(trackerErr) {
		t.Errorf("tracker event error %q, want a plain message", trackerErr)
	}
	if jr.summary.Peers != 0 {
		t.Errorf("summary: %d peers", jr.summary.Peers)
	}
}
