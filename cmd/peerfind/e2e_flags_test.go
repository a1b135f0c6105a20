package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/peerfind/peerfind/swarmtest"
)

// TestE2EFlagValues: every bad flag value is a usage error (exit 2) naming
// the flag and what it wants, found before any network use: the tracker
// given alongside is never asked.
func TestE2EFlagValues(t *testing.T) {
	var asked atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { asked.Add(1) }))
	defer hs.Close()
	live := hs.URL + "/announce"
	hash := strings.Repeat("ab", 20)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"peers", hash, "--tracker", "notaurl"}, `--tracker "notaurl": wants an http://, https:// or udp://`},
		{[]string{"peers", hash, "--tracker", "ftp://x"}, `--tracker "ftp://x": scheme "ftp" is not a tracker protocol`},
		{[]string{"peers", hash, "--tracker", "udp://x"}, `--tracker "udp://x": a udp:// tracker needs a port`},
		{[]string{"peers", hash, "--tracker", "udp://x:70000"}, `port 70000 is not 1–65535`},
		{[]string{"peers", hash, "--port", "99999"}, `"--port" flag: want a port number 1–65535, got "99999"`},
		{[]string{"peers", hash, "--port", "0"}, `"--port" flag: want a port number 1–65535`},
		{[]string{"peers", hash, "--max-peers", "abc"}, `"--max-peers" flag: not a number`},
		{[]string{"peers", hash, "--max-peers", "-1"}, `--max-peers must not be negative`},
		{[]string{"peers", hash, "--timeout", "soon"}, `"--timeout" flag: want a duration such as 30s`},
		{[]string{"peers", hash, "--timeout", "-1s"}, `--timeout must not be negative`},
		{[]string{"peers", hash, "--settle", "0"}, `--settle wants a positive duration`},
		{[]string{"peers", hash, "--bootstrap", "host:99999"}, `--bootstrap "host:99999": port 99999 is not 1–65535`},
		{[]string{"peers", hash, "--bootstrap", "nonsense"}, `--bootstrap "nonsense": want host:port`},
		{[]string{"peers", hash, "--tracker-policy", "some"}, `--tracker-policy`},
		{[]string{"scrape", hash, "--tracker", "ftp://x"}, `--tracker "ftp://x": scheme "ftp"`},
		{[]string{"scrape", hash, "--timeout", "-2s"}, `--timeout must not be negative`},
		{[]string{"demo", "--timeout", "-2s"}, `--timeout must not be negative`},
	}
	for _, tt := range tests {
		args := tt.args
		if args[0] != "demo" {
			args = append(args, "--tracker", live)
		}
		r := runPF(t, nil, args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) || strings.Contains(r.stderr, "strconv") {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tt.args, r.code, r.stderr, exitUsage, tt.want)
		}
	}
	if n := asked.Load(); n != 0 {
		t.Errorf("the tracker was asked %d times despite bad flags", n)
	}
}

// TestE2ETimeoutZero: --timeout 0 means "no limit" in every command that
// has the flag (each tracker's own timeout still applies).
func TestE2ETimeoutZero(t *testing.T) {
	sw := startSwarm(t, swarmtest.Config{Nodes: -1, Peers: 4})
	r := runPF(t, nil, "peers", sw.InfoHash.String(), "--no-dht", "--tracker", sw.HTTPTracker, "--timeout", "0")
	if r.code != exitOK || len(parsePeers(t, r.stdout)) == 0 {
		t.Errorf("peers --timeout 0: exit %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = runPF(t, nil, "scrape", sw.InfoHash.String(), "--no-dht", "--tracker", sw.HTTPTracker, "--timeout", "0")
	if r.code != exitOK || !strings.Contains(r.stdout, sw.HTTPTracker) {
		t.Errorf("scrape --timeout 0: exit %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
}
