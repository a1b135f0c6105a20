package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peerfind/peerfind/bencode"
	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/discovery"
	"github.com/peerfind/peerfind/metainfo"
	"github.com/peerfind/peerfind/tracker"
)

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	golden(t, filepath.Join("testdata", "peers", name), got)
}

// smallTorrent is a minimal valid single-file .torrent.
func smallTorrent(t *testing.T, private bool) []byte {
	t.Helper()
	info := map[string]any{"name": "x", "length": int64(5), "piece length": int64(16384), "pieces": strings.Repeat("a", 20)}
	if private {
		info["private"] = int64(1)
	}
	b, err := bencode.Marshal(map[string]any{"announce": "http://127.0.0.1:1/announce", "info": info})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoadTarget(t *testing.T) {
	dir := t.TempDir()
	torrent := smallTorrent(t, true)
	path := filepath.Join(dir, "x.torrent")
	if err := os.WriteFile(path, torrent, 0o644); err != nil {
		t.Fatal(err)
	}
	// A file whose name is also a valid hash: the file wins.
	hexName := filepath.Join(dir, strings.Repeat("ab", 20))
	if err := os.WriteFile(hexName, torrent, 0o644); err != nil {
		t.Fatal(err)
	}
	mi, err := metainfo.Parse(torrent)
	if err != nil {
		t.Fatal(err)
	}
	const hexHash = "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name, arg, stdin string
		kind             string
		hash             string
		private          bool
		usage            bool // a usage error (exit 2)
		errText          string
	}{
		{name: "file", arg: path, kind: "torrent", hash: mi.InfoHash.String(), private: true},
		{name: "stdin", arg: "-", stdin: string(torrent), kind: "torrent", hash: mi.InfoHash.String(), private: true},
		{name: "magnet", arg: "magnet:?xt=urn:btih:" + hexHash + "&dn=n", kind: "magnet", hash: hexHash},
		{name: "hex hash", arg: hexHash, kind: "hash", hash: hexHash},
		{name: "base32 hash", arg: "AERUKZ4JVPG66AJDIVTYTK6N54ASGRLH", kind: "hash", hash: hexHash},
		{name: "file named like a hash", arg: hexName, kind: "torrent", hash: mi.InfoHash.String(), private: true},
		{name: "missing file", arg: filepath.Join(dir, "nope.torrent"), errText: "no such file"},
		{name: "directory", arg: dir, errText: "directory"},
		{name: "v2 hash", arg: strings.Repeat("ab", 32), kind: "hash", hash: strings.Repeat("ab", 20)},
		{name: "bad stdin", arg: "-", stdin: "d4:infoi1ee", errText: "standard input"},
		{name: "bad magnet", arg: "magnet:?dn=nohash", errText: "magnet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, err := loadTarget(tt.arg, strings.NewReader(tt.stdin))
			if tt.errText != "" {
				var se *statusError
				isUsage := errors.As(err, &se) && se.status == exitUsage
				if err == nil || !strings.Contains(err.Error(), tt.errText) || isUsage != tt.usage {
					t.Fatalf("err = %v; want one containing %q, usage error %v", err, tt.errText, tt.usage)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tg.kind != tt.kind || len(tg.InfoHashes) != 1 || tg.InfoHashes[0].String() != tt.hash || tg.Private != tt.private {
				t.Errorf("got kind %q hashes %v private %v", tg.kind, tg.InfoHashes, tg.Private)
			}
		})
	}
}

func TestPlainError(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&tracker.Error{URL: "u", Op: "announce", Err: &tracker.FailureError{Reason: "unregistered torrent"}}, "tracker refused: unregistered torrent"},
		{&tracker.Error{URL: "u", Op: "announce", Err: &tracker.StatusError{StatusCode: 404}}, "tracker answered HTTP 404"},
		{&tracker.Error{URL: "u", Op: "announce", Err: fmt.Errorf("dial: %w", tracker.ErrRefused)}, "connection refused (nothing listens there)"},
		{&tracker.Error{URL: "u", Op: "announce", Err: tracker.ErrTimeout}, "no answer (timed out)"},
		{&tracker.Error{URL: "u", Op: "announce", Err: tracker.ErrDNS}, "host not found"},
		{errors.New("something else"), "something else"},
	}
	for _, tt := range tests {
		if got := plainError(tt.err); got != tt.want {
			t.Errorf("plainError(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

var (
	h1 = metainfo.Hash{1, 2, 3}
	p4 = netip.MustParseAddrPort("203.0.113.5:6881")
	p6 = netip.MustParseAddrPort("[2001:db8::7]:51413")
)

func TestPrinter(t *testing.T) {
	events := []discovery.Event{
		&discovery.PeerEvent{Peer: p4, Swarm: h1, Source: "udp://t:1", Sources: []string{"udp://t:1"}, New: true, At: 41200 * time.Microsecond},
		&discovery.PeerEvent{Peer: p6, Swarm: h1, Source: "dht", Sources: []string{"dht"}, New: true, At: 50 * time.Millisecond},
		&discovery.PeerEvent{Peer: p4, Swarm: h1, Source: "dht", Sources: []string{"udp://t:1", "dht"}, At: 60 * time.Millisecond},
		&discovery.TrackerEvent{Result: tracker.Result{URL: "udp://t:1", InfoHash: h1, Event: tracker.EventStarted, Latency: 40 * time.Millisecond,
			Response: &tracker.AnnounceResponse{Peers: []netip.AddrPort{p4}, Seeders: 3, Leechers: -1, Interval: 30 * time.Minute}}, NewPeers: 1, At: 41200 * time.Microsecond},
		&discovery.TrackerEvent{Result: tracker.Result{URL: "http://t:2/announce", Tier: 1, InfoHash: h1, Event: tracker.EventStarted}, Err: &tracker.Error{URL: "http://t:2/announce", Op: "announce", Err: tracker.ErrTimeout}, At: time.Second},
		&discovery.DHTEvent{Swarm: h1, Lookup: 1, Stats: dht.LookupStats{Queried: 120, Answered: 97, TimedOut: 23, RoundTrips: 5, Peers: 64, Converged: true, Duration: 900 * time.Millisecond}, NewPeers: 1, At: 930 * time.Millisecond},
	}
	sum := &discovery.Summary{
		Peers:    []discovery.PeerInfo{{Addr: p4, Sources: []string{"udp://t:1", "dht"}, FirstSeen: 41200 * time.Microsecond}, {Addr: p6, Sources: []string{"dht"}, FirstSeen: 50 * time.Millisecond}},
		Swarms:   []metainfo.Hash{h1},
		Duration: 1203 * time.Millisecond, FirstPeer: 41200 * time.Microsecond, Reason: discovery.StopComplete,
		Sources: []discovery.SourceSummary{
			{Name: "udp://t:1", Kind: discovery.KindTracker, Peers: 1, Unique: 1, Queries: 1, FirstPeer: 41200 * time.Microsecond, Seeders: 3, Leechers: -1},
			{Name: "http://t:2/announce", Kind: discovery.KindTracker, Queries: 1, Errors: 1, Err: &tracker.Error{URL: "http://t:2/announce", Op: "announce", Err: tracker.ErrTimeout}, Seeders: -1, Leechers: -1},
			{Name: "dht", Kind: discovery.KindDHT, Peers: 2, Unique: 1, Queries: 2, FirstPeer: 50 * time.Millisecond, Seeders: -1, Leechers: -1, DHT: dht.LookupStats{Queried: 200, Answered: 160}},
		},
	}
	for _, mode := range []struct {
		name       string
		json       bool
		only4      bool
		wantPeers  int
		goldenFile string
	}{
		{"text", false, false, 2, "text.golden"},
		{"text -4", false, true, 1, "text4.golden"},
		{"json", true, false, 2, "json.golden"},
	} {
		t.Run(mode.name, func(t *testing.T) {
			var out bytes.Buffer
			p := &printer{out: &out, json: mode.json, only4: mode.only4}
			for _, e := range events {
				p.event(e)
			}
			p.summary(sum)
			if p.shown != mode.wantPeers {
				t.Errorf("shown = %d, want %d", p.shown, mode.wantPeers)
			}
			if mode.json {
				for i, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
					var m map[string]any
					if err := json.Unmarshal([]byte(l), &m); err != nil || m["type"] == nil {
						t.Errorf("line %d %q: %v", i+1, l, err)
					}
				}
			}
			checkGolden(t, mode.goldenFile, out.String())
		})
	}
	var w bytes.Buffer
	writeSummary(&w, sum, 2, false)
	sum.DHTSkipped = discovery.SkipPrivate
	sum.Reason = discovery.StopTimeout
	writeSummary(&w, sum, 2, false)
	checkGolden(t, "summary.golden", w.String())
}

func TestAllFailed(t *testing.T) {
	ok := discovery.SourceSummary{Kind: discovery.KindTracker, Queries: 1}
	failed := discovery.SourceSummary{Kind: discovery.KindTracker, Queries: 2, Errors: 2}
	silent := discovery.SourceSummary{Kind: discovery.KindDHT}
	magnet := discovery.SourceSummary{Kind: discovery.KindMagnet}
	tests := []struct {
		srcs []discovery.SourceSummary
		want bool
	}{
		{[]discovery.SourceSummary{failed, silent}, false}, // interrupted, not failed
		{[]discovery.SourceSummary{failed, failed}, true},
		{[]discovery.SourceSummary{failed, ok}, false},
		{[]discovery.SourceSummary{magnet, failed}, false},
		{nil, true},
	}
	for i, tt := range tests {
		if got := allFailed(&discovery.Summary{Sources: tt.srcs}); got != tt.want {
			t.Errorf("case %d: allFailed = %v, want %v", i, got, tt.want)
		}
	}
}
