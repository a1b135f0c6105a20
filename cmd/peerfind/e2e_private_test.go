package main

import (
	"strings"
	"testing"
)

// TestE2EPrivateWithoutTrackers: a private torrent with no tracker tells
// the user what to do instead of "no source to ask".
func TestE2EPrivateWithoutTrackers(t *testing.T) {
	path := writeTorrent(t, map[string]any{}, map[string]any{"private": int64(1)})
	for _, args := range [][]string{{"peers", path, "--no-state"}, {"peers", path, "--no-state", "--no-trackers"}} {
		r := runPF(t, nil, args...)
		if r.code != exitError || !strings.Contains(r.stderr, "private torrent (BEP 27)") ||
			!strings.Contains(r.stderr, "--tracker URL") || !strings.Contains(r.stderr, "--allow-dht-private") {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}

// TestE2EScrapeRefused: scraping one UDP tracker whose port is closed says
// "refused" (the connected socket hears the ICMP error) instead of waiting
// out 14 s of retransmissions for "timed out".
func TestE2EScrapeRefused(t *testing.T) {
	u := "udp://" + deadUDP(t) + "/announce"
	r := runPF(t, nil, "scrape", strings.Repeat("ab", 20), "--no-dht", "--tracker", u, "--timeout", "30s")
	if r.code != exitError || !strings.Contains(r.stdout, "error: connection refused (nothing listens there)") {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
