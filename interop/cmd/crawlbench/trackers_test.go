package main

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/peerfind/peerfind/metainfo"
	"github.com/peerfind/peerfind/tracker"
)

// TestSlowTrackers announces to both slow trackers with a real client: the
// peers added come back, every request is counted, and an answer takes at
// least the round trip it was given (two on a new HTTP connection).
func TestSlowTrackers(t *testing.T) {
	const rtt = 20 * time.Millisecond
	tr, err := startSlowTrackers(newLatency(1, rtt, 0, rtt, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	h := metainfo.Hash{1, 2, 3}
	p := netip.MustParseAddrPort("11.0.0.1:6881")
	tr.HTTP.AddPeer(h, p, true)
	tr.UDP.AddPeer(h, p, false)
	c := &tracker.Client{}
	defer c.Close()
	for _, tc := range []struct {
		url      string
		min      time.Duration
		requests int64 // received by both trackers after this announce
	}{
		{tr.HTTPURL, 2 * rtt, 1},
		{tr.HTTPURL, rtt, 2},    // the connection is kept alive
		{tr.UDPURL, 2 * rtt, 4}, // connect, announce
		{tr.UDPURL, rtt, 5},     // the connection id is reused
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t0 := time.Now()
		resp, err := c.Announce(ctx, tc.url, tracker.AnnounceRequest{InfoHash: h, Port: 7000})
		took := time.Since(t0)
		cancel()
		if err != nil {
			t.Fatalf("announce to %s: %v", tc.url, err)
		}
		if !slices.Contains(resp.Peers, p) {
			t.Errorf("announce to %s: peers %v, want %v among them", tc.url, resp.Peers, p)
		}
		if took < tc.min {
			t.Errorf("announce to %s took %v, want at least %v", tc.url, took, tc.min)
		}
		if got := tr.Requests(); got != tc.requests {
			t.Errorf("after announcing to %s: %d requests counted, want %d", tc.url, got, tc.requests)
		}
	}
	if got := tr.Conns(); got != 1 {
		t.Errorf("%d HTTP connections, want 1 kept alive", got)
	}
}

// TestLatency: the drawn round trips stay within their bounds, and a loss
// share of 0 or 1 is exact.
func TestLatency(t *testing.T) {
	l := newLatency(1, 80*time.Millisecond, 0.98, 1500*time.Millisecond, 0)
	for range 10000 {
		if d := l.rtt(); d < time.Millisecond || d > 1500*time.Millisecond {
			t.Fatalf("rtt %v outside [1ms, 1.5s]", d)
		}
		if l.lost() {
			t.Fatal("lost with loss 0")
		}
	}
	if !newLatency(1, time.Millisecond, 0, time.Millisecond, 1).lost() {
		t.Error("not lost with loss 1")
	}
}

// TestDeadTracker: a request to a dead tracker times out.
func TestDeadTracker(t *testing.T) {
	d, err := startDeadTracker()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c := &tracker.Client{UDPTimeout: 10 * time.Millisecond, UDPRetries: -1}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Announce(ctx, d.URL, tracker.AnnounceRequest{InfoHash: metainfo.Hash{1}}); !errors.Is(err, tracker.ErrTimeout) {
		t.Fatalf("announce to a dead tracker: %v, want %v", err, tracker.ErrTimeout)
	}
}
