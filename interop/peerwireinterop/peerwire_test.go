package peerwireinterop

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peerfind/peerfind/interop/internal/thirdparty"
	"github.com/peerfind/peerfind/metainfo"
	"github.com/peerfind/peerfind/peerwire"
)

// Loopback IPs of this package's clients (127.7/16: the other interop
// packages use 127.1 to 127.4, and packages run at the same time).
var (
	seedIP    = netip.MustParseAddr("127.7.0.1")
	leechIP   = netip.MustParseAddr("127.7.0.2")
	trIP      = netip.MustParseAddr("127.7.0.3")
	noTracker = "http://127.0.0.1:1/announce" // refused at once: the clients here find each other directly
)

// ltTorrent is what lt.py create prints.
type ltTorrent struct {
	Path       string `json:"torrent"`
	InfoHash   string `json:"info_hash"`
	InfoHashV2 string `json:"info_hash_v2"`
	NumPieces  int    `json:"num_pieces"`
}

// createTorrent has libtorrent make a torrent of size random bytes in dir.
func createTorrent(t testing.TB, dir string, size int, hybrid bool) (ltTorrent, *metainfo.MetaInfo) {
	t.Helper()
	if _, err := thirdparty.LibtorrentVersion(); err != nil {
		t.Fatalf("python3-libtorrent interop: %v", err)
	}
	args := []string{"create", "--dir", dir, "--tracker", noTracker, "--size", itoa(size)}
	if hybrid {
		args = append(args, "--hybrid")
	}
	cmd, err := thirdparty.LibtorrentCommand(args...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("lt.py create: %v", err)
	}
	var tor ltTorrent
	if err := json.Unmarshal(out, &tor); err != nil {
		t.Fatalf("lt.py create printed %q: %v", out, err)
	}
	mi, err := metainfo.Load(tor.Path)
	if err != nil {
		t.Fatal(err)
	}
	return tor, mi
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// startLT starts a libtorrent client (thirdparty.StartLTPeerTB: a crash while
// starting starts a new one) and dumps its events if the test fails.
func startLT(ctx context.Context, t *testing.T, cfg thirdparty.LTPeerConfig) *thirdparty.LTPeer {
	t.Helper()
	p := thirdparty.StartLTPeerTB(ctx, t, cfg)
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			b, _ := json.Marshal(p.Events())
			t.Logf("lt.py %s events: %s\nstderr: %s", cfg.Listen, b, p.Stderr())
		}
	})
	return p
}

func TestLibtorrentSeed(t *testing.T) {
	for _, hybrid := range []bool{false, true} {
		name := map[bool]string{false: "v1", true: "hybrid"}[hybrid]
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			dir := t.TempDir()
			tor, mi := createTorrent(t, dir, 1<<20, hybrid)
			seed := startLT(ctx, t, thirdparty.LTPeerConfig{Dir: dir, Torrent: tor.Path, Listen: seedIP, NoAnnounce: true})

			c, err := peerwire.Dial(ctx, seed.Addr, mi.SwarmHashes()[0], &peerwire.Config{NumPieces: mi.Info.NumPieces})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := c.Client(); got != "libtorrent 2.0.8" {
				t.Errorf("client %q (peer id %q), want libtorrent 2.0.8", got, c.PeerID[:8])
			}
			if c.Ext == nil || !strings.HasPrefix(c.Ext.V, "libtorrent/2.0.8") {
				t.Errorf("extension handshake %+v, want v libtorrent/2.0.8", c.Ext)
			}
			if !c.Pieces.All || c.Pieces.Have != mi.Info.NumPieces {
				t.Errorf("pieces %+v, want a seed of %d pieces", c.Pieces, mi.Info.NumPieces)
			}
			for _, e := range []string{"extensions", "fast", "ut_metadata", "ut_pex"} {
				if !slices.Contains(c.Extensions(), e) {
					t.Errorf("extensions %q lack %s", c.Extensions(), e)
				}
			}
			if hybrid && !c.SupportsV2() {
				t.Errorf("a hybrid seed without the v2 bit: reserved %x", c.Reserved)
			}
			info, err := c.Metadata(ctx, mi.InfoHashV2)
			if err != nil {
				t.Fatal(err)
			}
			if string(info) != string(mi.InfoBytes) {
				t.Fatalf("metadata of %d bytes differs from the torrent's %d-byte info", len(info), len(mi.InfoBytes))
			}
			t.Logf("libtorrent seed %s: client %q, v %q, RTT %s, extensions %q, metadata %d bytes", seed.Addr, c.Client(), c.Ext.V, c.RTT, c.Extensions(), len(info))
		})
	}
}

// TestLibtorrentPEX runs a libtorrent seed and a libtorrent leecher that
// only the seed knows (no tracker, no DHT, connected to the seed by
// address): the seed's ut_pex names the leecher, and the leecher answers
// as a leecher.
func TestLibtorrentPEX(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	tor, mi := createTorrent(t, dir, 4<<20, false)
	ldir := filepath.Join(t.TempDir(), "leecher")
	if err := os.MkdirAll(filepath.Join(ldir, "content"), 0o755); err != nil {
		t.Fatal(err)
	}
	// 16 KiB/s: a few pieces in the test's time, never all 256.
	leech := startLT(ctx, t, thirdparty.LTPeerConfig{Dir: ldir, Torrent: tor.Path, Listen: leechIP, NoAnnounce: true, DownloadLimit: 16 << 10})
	seed := startLT(ctx, t, thirdparty.LTPeerConfig{Dir: dir, Torrent: tor.Path, Listen: seedIP, NoAnnounce: true,
		Connect: []netip.AddrPort{leech.Addr}})
	waitConnected(ctx, t, seed, leech.Addr)

	ih := mi.SwarmHashes()[0]
	cfg := &peerwire.Config{NumPieces: mi.Info.NumPieces}
	c, err := peerwire.Dial(ctx, seed.Addr, ih, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	var found bool
	for !found {
		pex, err := c.ReadPEX(ctx)
		if err != nil {
			st, _ := leech.Status(ctx)
			t.Fatalf("no ut_pex naming the leecher %s: %v (leecher status %+v)", leech.Addr, err, st)
		}
		t.Logf("ut_pex from the seed after %s: %+v", time.Since(start).Round(time.Millisecond), pex)
		for _, a := range pex.Added {
			found = found || a.Addr == leech.Addr
		}
	}

	lc, err := peerwire.Dial(ctx, leech.Addr, ih, cfg)
	if err != nil {
		t.Fatalf("the leecher named by PEX: %v", err)
	}
	defer lc.Close()
	if lc.Pieces.All || !lc.Pieces.Known || lc.Pieces.Share() >= 1 || lc.Client() != "libtorrent 2.0.8" {
		t.Errorf("leecher: client %q, pieces %+v (share %.2f), want a libtorrent leecher", lc.Client(), lc.Pieces, lc.Pieces.Share())
	}
	t.Logf("leecher %s: %d of %d pieces", leech.Addr, lc.Pieces.Have, lc.Pieces.Total)
}

// waitConnected waits until p reports a connection to peer: libtorrent
// puts a peer in its first ut_pex message only once connected to it.
func waitConnected(ctx context.Context, t *testing.T, p *thirdparty.LTPeer, peer netip.AddrPort) {
	t.Helper()
	for {
		st, err := p.Status(ctx)
		if err != nil {
			t.Fatalf("waiting for %s to connect to %s: %v", p.Addr, peer, err)
		}
		if slices.Contains(st.Peers, peer.String()) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never connected to %s: %v", p.Addr, peer, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// startTransmission starts transmission-daemon seeding the torrent whose
// data lies in dir/content.
func startTransmission(ctx context.Context, t *testing.T, dir string, tor ltTorrent) *thirdparty.Transmission {
	t.Helper()
	if _, err := exec.LookPath(thirdparty.TransmissionDaemon); err != nil {
		t.Fatalf("transmission-daemon interop: %v (scripts/test.sh installs it: apt-get install -y transmission-daemon)", err)
	}
	return thirdparty.StartSeedingTB(ctx, t, trIP, tor.Path, filepath.Join(dir, "content"), tor.InfoHash)
}

// TestTransmissionSeed: Transmission 3.00 predates BitTorrent v2 (its
// torrent-add calls a hybrid torrent "invalid or corrupt"), so its seed is
// of a v1 torrent.
func TestTransmissionSeed(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	tor, mi := createTorrent(t, dir, 1<<20, false)
	tr := startTransmission(ctx, t, dir, tor)
	{
		{
			c, err := peerwire.Dial(ctx, tr.Addr, mi.InfoHash, &peerwire.Config{NumPieces: mi.Info.NumPieces})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := c.Client(); got != "Transmission 3.00" {
				t.Errorf("client %q (peer id %q), want Transmission 3.00", got, c.PeerID[:8])
			}
			if !c.Pieces.All || c.Pieces.Have != mi.Info.NumPieces {
				t.Errorf("pieces %+v, want a seed of %d pieces", c.Pieces, mi.Info.NumPieces)
			}
			info, err := c.Metadata(ctx, metainfo.HashV2{})
			if err != nil {
				t.Fatal(err)
			}
			if string(info) != string(mi.InfoBytes) {
				t.Fatalf("metadata of %d bytes differs from the torrent's %d-byte info", len(info), len(mi.InfoBytes))
			}
			v := ""
			if c.Ext != nil {
				v = c.Ext.V
			}
			t.Logf("transmission seed %s: client %q, v %q, RTT %s, extensions %q", tr.Addr, c.Client(), v, c.RTT, c.Extensions())
		}
	}
}
