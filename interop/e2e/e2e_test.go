package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peerfind/peerfind/internal/testutil"
	"github.com/peerfind/peerfind/interop/internal/thirdparty"
	"github.com/peerfind/peerfind/metainfo"
)

// peerfindBin is the binary under test, built by TestMain.
var peerfindBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	// PEERFIND_E2E_BIN runs the tests against a binary built elsewhere
	// (another commit, a release) instead of building this tree's.
	if bin := os.Getenv("PEERFIND_E2E_BIN"); bin != "" {
		peerfindBin = bin
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "peerfind-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	peerfindBin = filepath.Join(dir, "peerfind")
	// Built in the repository's root module, as a user builds it: this
	// module's graph also holds anacrolix's requirements, which could
	// raise the versions of modules the command shares with it.
	args := []string{"build", "-o", peerfindBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/peerfind")
	build := exec.Command("go", args...)
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building peerfind: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// result is one run of the binary.
type result struct {
	stdout, stderr string
	code           int
	elapsed        time.Duration
}

// runPeerfind runs the binary with args, bounded to 60 s, and returns its
// output and exit status. It never reads the user's state: XDG_STATE_HOME
// points into the test's temp dir (the tests also pass --state-dir).
func runPeerfind(t testing.TB, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, peerfindBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), elapsed: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running peerfind %v: %v (after %v)\nstderr:\n%s", args, err, r.elapsed, r.stderr)
	}
	if _, bench := t.(*testing.B); !bench { // a benchmark's hundreds of runs would bury its own log
		t.Logf("peerfind %s: exit %d after %v", strings.Join(args, " "), r.code, r.elapsed.Round(time.Millisecond))
	}
	return r
}

// parsePlain checks that stdout holds nothing but peers, one canonical
// ip:port a line, each once, and returns them.
func parsePlain(t testing.TB, stdout string) map[netip.AddrPort]bool {
	t.Helper()
	got := make(map[netip.AddrPort]bool)
	if stdout == "" {
		return got
	}
	if !strings.HasSuffix(stdout, "\n") {
		t.Errorf("stdout does not end with a newline: %q", stdout)
	}
	for i, l := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		ap, err := netip.ParseAddrPort(l)
		if err != nil || ap.String() != l || ap.Port() == 0 {
			t.Errorf("stdout line %d %q is not a peer address (%v)", i+1, l, err)
			continue
		}
		if got[ap] {
			t.Errorf("peer %v printed twice", ap)
		}
		got[ap] = true
	}
	return got
}

// event is the union of the NDJSON events' fields the tests read.
type event struct {
	Type        string          `json:"type"`
	Address     string          `json:"address"`
	IP          string          `json:"ip"`
	Port        int             `json:"port"`
	Source      string          `json:"source"`
	Sources     json.RawMessage `json:"sources"` // []string, or []summarySource in the summary
	Swarm       metainfo.Hash   `json:"swarm"`
	Swarms      []metainfo.Hash `json:"swarms"`
	FirstSeenMS float64         `json:"first_seen_ms"`
	URL         string          `json:"url"`
	OK          bool            `json:"ok"`
	Event       string          `json:"event"`
	Error       string          `json:"error"`
	Peers       int             `json:"peers"`
	Reason      string          `json:"reason"`
	DurationMS  float64         `json:"duration_ms"`
	FirstPeerMS *float64        `json:"first_peer_ms"`
	Queried     int             `json:"queried"`
	Answered    int             `json:"answered"`
	Converged   bool            `json:"converged"`
}

// summarySource is one entry of the summary's "sources".
type summarySource struct {
	Name        string   `json:"name"`
	Kind        string   `json:"kind"`
	Peers       int      `json:"peers"`
	Unique      int      `json:"unique"`
	Queries     int      `json:"queries"`
	Errors      int      `json:"errors"`
	Error       string   `json:"error"`
	FirstPeerMS *float64 `json:"first_peer_ms"`
}

// jsonRun is the parsed --json output of one run.
type jsonRun struct {
	events  []event
	sources map[netip.AddrPort][]string      // every source that named each peer
	first   map[netip.AddrPort]float64       // first_seen_ms
	swarm   map[netip.AddrPort]metainfo.Hash // the swarm of the peer event
	summary event
	stats   []summarySource // the summary's sources
}

// parseJSON checks that stdout holds nothing but JSON objects with a
// "type", one a line, the last being the only "summary", and that each peer
// is announced once by a "peer" event whose ip and port agree with its
// address.
func parseJSON(t testing.TB, stdout string) jsonRun {
	t.Helper()
	jr := jsonRun{sources: map[netip.AddrPort][]string{}, first: map[netip.AddrPort]float64{}, swarm: map[netip.AddrPort]metainfo.Hash{}}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	for i, l := range lines {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			t.Fatalf("stdout line %d %q is not a JSON object: %v", i+1, l, err)
		}
		var e event
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.Type == "" {
			t.Fatalf("stdout line %d %q: no event type (%v)", i+1, l, err)
		}
		jr.events = append(jr.events, e)
		switch e.Type {
		case "peer", "seen":
			var names []string
			if err := json.Unmarshal(e.Sources, &names); err != nil || len(names) == 0 {
				t.Errorf("line %d: sources %s: not a list of names (%v)", i+1, e.Sources, err)
			}
			ap, err := netip.ParseAddrPort(e.Address)
			if err != nil {
				t.Errorf("line %d: address %q: %v", i+1, e.Address, err)
				continue
			}
			if e.Type == "peer" {
				if _, dup := jr.sources[ap]; dup {
					t.Errorf("line %d: peer %v announced twice", i+1, ap)
				}
				if ap.Addr().String() != e.IP || int(ap.Port()) != e.Port {
					t.Errorf("line %d: ip %q / port %d disagree with address %q", i+1, e.IP, e.Port, e.Address)
				}
				jr.first[ap] = e.FirstSeenMS
				jr.swarm[ap] = e.Swarm
			} else if _, known := jr.sources[ap]; !known {
				t.Errorf("line %d: %q seen before its peer event", i+1, e.Address)
			}
			jr.sources[ap] = names
		case "summary":
			if i != len(lines)-1 {
				t.Errorf("line %d: summary before the last line", i+1)
			}
			jr.summary = e
			if err := json.Unmarshal(e.Sources, &jr.stats); err != nil {
				t.Errorf("summary sources %s: %v", e.Sources, err)
			}
		}
	}
	if jr.summary.Type != "summary" {
		t.Fatalf("no summary line; last line %q", lines[len(lines)-1])
	}
	return jr
}

// plainText matches what would betray a Go value printed instead of a
// message: struct or pointer dumps, fmt's verb errors, a crash.
var plainText = regexp.MustCompile(`&\{|\{0x|0x[0-9a-f]{6,}|%!|goroutine \d|panic:|\[\]uint8|netip\.|\bmap\[`)

// loopback returns 127.b.c.d; every component of the test network has its
// own IP in 127/8 (all loopback on Linux), so that peers recorded as
// source IP + port stay distinct, as on the Internet.
func loopback(b, c, d byte) netip.Addr { return netip.AddrFrom4([4]byte{127, b, c, d}) }

// lockedBuffer collects a child's output, bounded, for reading while exec
// still writes into it (testutil.LockedBuffer).
type lockedBuffer = testutil.LockedBuffer

// waitFor polls cond every interval until it is true or ctx ends.
var waitFor = thirdparty.WaitFor

// deadUDP returns a loopback UDP address where nothing listens.
func deadUDP(t *testing.T) netip.AddrPort {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return netip.MustParseAddrPort(c.LocalAddr().String())
}

// deadTCP returns a loopback TCP address where nothing listens.
func deadTCP(t *testing.T) netip.AddrPort {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return netip.MustParseAddrPort(l.Addr().String())
}

// boundHTTP returns an HTTP client whose connections leave from ip, so a
// tracker records ip as the announcing peer's address.
func boundHTTP(ip netip.Addr) *http.Client {
	d := &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)), Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}, Timeout: 10 * time.Second}
}

func sortedKeys(m map[netip.AddrPort]bool) []netip.AddrPort {
	out := make([]netip.AddrPort, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, netip.AddrPort.Compare)
	return out
}

func keys[V any](m map[netip.AddrPort]V) map[netip.AddrPort]bool {
	out := make(map[netip.AddrPort]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}
