package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/peerfind/peerfind/discovery"
	"github.com/peerfind/peerfind/metainfo"
	"github.com/peerfind/peerfind/peerwire"
)

// TestVerifyPrinter: with --verify, plain output lists the peers that
// answered, --table a row per check, --json the verify events; the summary
// counts the checks by reason.
func TestVerifyPrinter(t *testing.T) {
	seed := netip.MustParseAddrPort("127.8.0.1:34789")
	leech := netip.MustParseAddrPort("127.8.0.2:45251")
	dead := netip.MustParseAddrPort("127.0.0.1:1")
	id := [20]byte([]byte("-LT2080-abcdefghijkl"))
	ext := []string{"extensions", "fast", "ut_metadata", "ut_pex"}
	refused := &peerwire.Error{Addr: dead, Op: "connect", Err: errors.New("connection refused")}
	events := []discovery.Event{
		&discovery.PeerEvent{Peer: seed, Swarm: h1, Source: "magnet", Sources: []string{"magnet"}, New: true},
		&discovery.PeerEvent{Peer: dead, Swarm: h1, Source: "magnet", Sources: []string{"magnet"}, New: true},
		&discovery.VerifyEvent{Peer: seed, Swarm: h1, Result: discovery.VerifyOK, Connect: time.Millisecond, RTT: 161 * time.Microsecond, PeerID: id,
			Client: "libtorrent 2.0.8", Version: "libtorrent/2.0.8.0", Pieces: peerwire.Pieces{Known: true, All: true}, Extensions: ext, Sources: []string{"magnet"}, At: time.Millisecond},
		&discovery.VerifyEvent{Peer: dead, Swarm: h1, Result: discovery.VerifyRefused, Err: refused, Sources: []string{"magnet"}, At: time.Millisecond},
		&discovery.PeerEvent{Peer: leech, Swarm: h1, Source: "pex", Via: seed, Sources: []string{"pex"}, New: true, At: 660 * time.Millisecond},
		&discovery.VerifyEvent{Peer: leech, Swarm: h1, Result: discovery.VerifyOK, RTT: 232 * time.Microsecond, PeerID: id, Client: "libtorrent 2.0.8",
			Pieces: peerwire.Pieces{Known: true, Have: 103, Total: 256}, Extensions: ext, Sources: []string{"pex"}, At: 661 * time.Millisecond},
	}
	vs := &discovery.VerifySummary{Seeds: 1, Leechers: 1, PEX: 2}
	vs.Results[discovery.VerifyOK] = 2
	vs.Results[discovery.VerifyRefused] = 1
	sum := &discovery.Summary{Swarms: []metainfo.Hash{h1}, Duration: 1700 * time.Millisecond, Reason: discovery.StopComplete, Verify: vs,
		Sources: []discovery.SourceSummary{
			{Name: "magnet", Kind: discovery.KindMagnet, Peers: 2, Unique: 2, Seeders: -1, Leechers: -1},
			{Name: "pex", Kind: discovery.KindPEX, Peers: 2, Unique: 1, Queries: 2, FirstPeer: 660 * time.Millisecond, Seeders: -1, Leechers: -1},
		}}
	for _, mode := range []struct {
		name, golden string
		json, table  bool
	}{
		{"text", "verify_text.golden", false, false},
		{"table", "verify_table.golden", false, true},
		{"json", "verify_json.golden", true, false},
	} {
		t.Run(mode.name, func(t *testing.T) {
			var out bytes.Buffer
			p := &printer{out: &out, json: mode.json, verify: true, table: mode.table}
			for _, e := range events {
				p.event(e)
			}
			p.summary(sum)
			if p.shown != 2 {
				t.Errorf("shown = %d, want the 2 verified peers", p.shown)
			}
			if mode.json {
				for i, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
					var m map[string]any
					if err := json.Unmarshal([]byte(l), &m); err != nil || m["type"] == nil {
						t.Errorf("line %d %q: %v", i+1, l, err)
					}
				}
			}
			checkGolden(t, mode.golden, out.String())
		})
	}
	var w bytes.Buffer
	writeSummary(&w, sum, 2, false)
	checkGolden(t, "verify_summary.golden", w.String())
}

func TestE2EVerifyUsage(t *testing.T) {
	for _, args := range [][]string{
		{"peers", "0123456789abcdef0123456789abcdef01234567", "--table"},
		{"peers", "0123456789abcdef0123456789abcdef01234567", "--no-pex"},
		{"peers", "0123456789abcdef0123456789abcdef01234567", "--verify", "--max-conns", "0"},
		{"metadata", "0123456789abcdef0123456789abcdef01234567"},
		{"metadata", "0123456789abcdef0123456789abcdef01234567", "-o", "-", "--json"},
	} {
		r := runPF(t, nil, args...)
		if r.code != exitUsage || r.stdout != "" {
			t.Errorf("peerfind %q: exit %d, stdout %q, stderr %q; want a usage error", args, r.code, r.stdout, r.stderr)
		}
	}
}
