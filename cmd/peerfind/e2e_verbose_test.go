package main

import (
	"strings"
	"testing"

	"github.com/peerfind/peerfind/swarmtest"
)

// TestE2EVerboseQuiet: -v streams what the search does to stderr, leaving
// stdout to the results; --quiet leaves stderr empty on success.
func TestE2EVerboseQuiet(t *testing.T) {
	sw := startSwarm(t, swarmtest.Config{Nodes: 48, Peers: 16})
	base := append([]string{"peers", sw.InfoHash.String(), "--no-state", "--tracker", sw.HTTPTracker}, bootstrapArgs(sw)...)
	want := sw.PeersOn(swarmtest.OnHTTP | swarmtest.OnDHT)

	r := runPF(t, nil, append(base, "-v")...)
	if r.code != exitOK {
		t.Fatalf("-v: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	sameSet(t, "-v stdout", parsePeers(t, r.stdout), want)
	for _, w := range []string{
		"DHT: bootstrap from --bootstrap only: ",
		"tracker " + sw.HTTPTracker + ": announce started for " + sw.InfoHash.String(),
		"tracker " + sw.HTTPTracker + ": answered in ",
		"DHT: get_peers lookup for " + sw.InfoHash.String(),
		" gave peer ",
		"DHT: get_peers to ",
		": reply in ",
		"nodes queried",
		"tracker " + sw.HTTPTracker + ": announce stopped",
	} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("-v: stderr lacks %q:\n%s", w, r.stderr)
		}
	}

	r = runPF(t, nil, append(base, "--quiet")...)
	if r.code != exitOK || r.stderr != "" {
		t.Errorf("--quiet: exit %d, stderr %q, want nothing", r.code, r.stderr)
	}
	sameSet(t, "--quiet stdout", parsePeers(t, r.stdout), want)
	if r := runPF(t, nil, append(base, "-v", "-q")...); r.code != exitUsage {
		t.Errorf("-v -q: exit %d, want %d", r.code, exitUsage)
	}
}

// TestE2EPlainDiagnostics: names that do not resolve (checked by Go's
// resolver itself, so no DNS traffic leaves the machine) and a DHT node that
// does not answer are said in plain words, and every name failing reads as
// an offline machine.
func TestE2EPlainDiagnostics(t *testing.T) {
	hash := strings.Repeat("ef", 20)
	// Every name fails: one line says the machine looks offline.
	r := runPF(t, nil, "peers", hash, "--no-state", "--tracker", "http://bad!name.example/announce", "--bootstrap", "no!such.host:6881")
	if r.code != exitError {
		t.Errorf("offline: exit %d, want %d", r.code, exitError)
	}
	for _, w := range []string{
		"error: host not found",
		"no DHT node to start from: the bootstrap router no!such.host:6881 did not resolve",
		"peerfind: no peers: every source failed: this machine looks offline (no DNS: no name resolved)",
	} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("offline: stderr lacks %q:\n%s", w, r.stderr)
		}
	}
	// A bootstrap node that never answers is named.
	dead := deadUDP(t)
	r = runPF(t, nil, "peers", hash, "--no-state", "--bootstrap", dead, "--timeout", "30s")
	if r.code != exitError || !strings.Contains(r.stderr, "no DHT node answered: no answer from "+dead) {
		t.Errorf("dead node: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "offline") {
		t.Errorf("a dead node is not an offline machine:\n%s", r.stderr)
	}
}
