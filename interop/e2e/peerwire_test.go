package e2e

// peerfind's peer-wire side against real clients: `peers --verify` (the
// handshake, client names, seed or leecher, PEX from libtorrent naming a
// peer nobody else knows) and `metadata` (a magnet link's info dictionary
// fetched byte for byte from libtorrent, v1 and hybrid, and from
// Transmission). The clients find nothing but each other: no tracker, no
// DHT; peerfind is given the seed by the magnet's x.pe.

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
)

// verifyEvent is a "verify" NDJSON event.
type verifyEvent struct {
	Type       string   `json:"type"`
	Address    string   `json:"address"`
	OK         bool     `json:"ok"`
	Result     string   `json:"result"`
	Client     string   `json:"client"`
	Version    string   `json:"version"`
	Seed       *bool    `json:"seed"`
	Share      *float64 `json:"share"`
	Extensions []string `json:"extensions"`
	Sources    []string `json:"sources"`
}

func verifyEvents(t *testing.T, stdout string) map[string]verifyEvent {
	t.Helper()
	out := map[string]verifyEvent{}
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var typ struct{ Type string }
		if err := json.Unmarshal([]byte(l), &typ); err != nil {
			t.Fatalf("stdout line %q: %v", l, err)
		}
		if typ.Type != "verify" {
			continue
		}
		var e verifyEvent
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("stdout line %q: %v", l, err)
		}
		out[e.Address] = e
	}
	return out
}

// startLTClient starts libtorrent (thirdparty.StartLTPeerTB: a crash while
// starting starts a new one), stopped at the end of the test.
func startLTClient(ctx context.Context, t *testing.T, cfg thirdparty.LTPeerConfig) *thirdparty.LTPeer {
	t.Helper()
	p := thirdparty.StartLTPeerTB(ctx, t, cfg)
	t.Cleanup(p.Stop)
	return p
}

// TestVerifyLibtorrentPEX: peerfind is given a libtorrent seed; the seed's
// ut_pex names a libtorrent leecher that no tracker or DHT knows, and
// peerfind verifies it with the source "pex". A dead address in the magnet
// is counted as refused, and standard output lists exactly the two live
// peers.
func TestVerifyLibtorrentPEX(t *testing.T) {
	requireLibtorrent(t)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	tor := createTorrent(t, dir, "http://127.0.0.1:1/announce", "--size", "4194304")
	ldir := filepath.Join(t.TempDir(), "leecher")
	if err := os.MkdirAll(filepath.Join(ldir, "content"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The seed connects out to the leecher: libtorrent 2.0.8's first
	// ut_pex (a second after the extension handshake) names the peers it
	// connected to; one that connected in comes a minute later
	// (docs/interop.md). 16 KiB/s keeps the leecher a leecher.
	leech := startLTClient(ctx, t, thirdparty.LTPeerConfig{Dir: ldir, Torrent: tor.Path, Listen: loopback(8, 0, 2), NoAnnounce: true, DownloadLimit: 16 << 10})
	seed := startLTClient(ctx, t, thirdparty.LTPeerConfig{Dir: dir, Torrent: tor.Path, Listen: loopback(8, 0, 1), NoAnnounce: true, Connect: []netip.AddrPort{leech.Addr}})
	for {
		st, err := seed.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(st.Peers, leech.Addr.String()) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the seed never connected to the leecher: %v", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	dead := deadTCP(t)
	magnet := "magnet:?xt=urn:btih:" + tor.InfoHash + "&x.pe=" + seed.Addr.String() + "&x.pe=" + dead.String()

	r := runPeerfind(t, "peers", magnet, "--no-dht", "--no-trackers", "--no-state", "--verify", "--json", "--timeout", "30s")
	if r.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	jr := parseJSON(t, r.stdout)
	ev := verifyEvents(t, r.stdout)
	s, l := ev[seed.Addr.String()], ev[leech.Addr.String()]
	if !s.OK || s.Client != "libtorrent 2.0.8" || !strings.HasPrefix(s.Version, "libtorrent/2.0.8") || s.Seed == nil || !*s.Seed ||
		!slices.Contains(s.Extensions, "ut_pex") || !slices.Equal(s.Sources, []string{"magnet"}) {
		t.Errorf("seed: %+v", s)
	}
	if !l.OK || l.Client != "libtorrent 2.0.8" || l.Seed == nil || *l.Seed || l.Share == nil || *l.Share >= 1 || !slices.Equal(l.Sources, []string{"pex"}) {
		t.Errorf("leecher (found only by PEX): %+v", l)
	}
	if d := ev[dead.String()]; d.OK || d.Result != "refused" {
		t.Errorf("dead address: %+v", d)
	}
	if got := jr.sources[leech.Addr]; !slices.Equal(got, []string{"pex"}) {
		t.Errorf("leecher's sources %q, want [pex]", got)
	}

	// Plain output: the live peers only, and the summary counts the rest.
	r = runPeerfind(t, "peers", magnet, "--no-dht", "--no-trackers", "--no-state", "--verify", "--timeout", "30s")
	got := parsePlain(t, r.stdout)
	if r.code != 0 || len(got) != 2 || !got[seed.Addr] || !got[leech.Addr] {
		t.Errorf("exit %d, stdout %q: want the seed and the leecher", r.code, r.stdout)
	}
	if !strings.Contains(r.stderr, "verified: 2 of 3 checked answered for this torrent (1 seed, 1 leecher); not: 1 refused") {
		t.Errorf("summary:\n%s", r.stderr)
	}

	// --no-pex: the leecher stays unknown.
	r = runPeerfind(t, "peers", magnet, "--no-dht", "--no-trackers", "--no-state", "--verify", "--no-pex", "--timeout", "30s")
	if got := parsePlain(t, r.stdout); len(got) != 1 || !got[seed.Addr] {
		t.Errorf("--no-pex: stdout %q, want the seed alone", r.stdout)
	}
}

// TestMetadataLibtorrent fetches a magnet link's metadata from a libtorrent
// seed, v1 and hybrid (checked against both hashes of the urn:btih and
// urn:btmh), and compares the .torrent written with the original.
func TestMetadataLibtorrent(t *testing.T) {
	requireLibtorrent(t)
	for i, hybrid := range []bool{false, true} {
		t.Run(map[bool]string{false: "v1", true: "hybrid"}[hybrid], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			dir := t.TempDir()
			args := []string{"--files", "3"}
			if hybrid {
				args = append(args, "--hybrid")
			}
			tor := createTorrent(t, dir, "http://127.0.0.1:1/announce", args...)
			seed := startLTClient(ctx, t, thirdparty.LTPeerConfig{Dir: dir, Torrent: tor.Path, Listen: loopback(8, 1, byte(i+1)), NoAnnounce: true})
			// libtorrent's own magnet: urn:btih, urn:btmh for hybrid, tr.
			magnet := tor.Magnet + "&x.pe=" + seed.Addr.String()
			out := filepath.Join(t.TempDir(), "fetched.torrent")
			r := runPeerfind(t, "metadata", magnet, "--no-dht", "--no-trackers", "--no-state", "-o", out, "--timeout", "30s")
			if r.code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
			}
			checkSameInfo(t, tor.Path, out)

			r = runPeerfind(t, "info", "--fetch", "--json", magnet, "--no-dht", "--no-trackers", "--no-state", "--timeout", "30s")
			var v struct {
				Source     string `json:"source"`
				InfoHash   string `json:"info_hash"`
				InfoHashV2 string `json:"info_hash_v2"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.code != 0 {
				t.Fatalf("info --fetch: exit %d, %v; stdout %q, stderr:\n%s", r.code, err, r.stdout, r.stderr)
			}
			if v.Source != "fetched" || v.InfoHash != tor.InfoHash || v.InfoHashV2 != tor.InfoHashV2 {
				t.Errorf("info --fetch: %+v, want fetched, %s, %q", v, tor.InfoHash, tor.InfoHashV2)
			}
			if hybrid && !strings.Contains(magnet, "urn:btmh:") {
				t.Errorf("libtorrent's hybrid magnet has no urn:btmh: %s", magnet)
			}
		})
	}
}

// checkSameInfo checks that the fetched torrent's info dictionary is the
// original's, byte for byte, and that its trackers are the magnet's.
func checkSameInfo(t *testing.T, orig, fetched string) {
	t.Helper()
	want, err := metainfo.Load(orig)
	if err != nil {
		t.Fatal(err)
	}
	got, err := metainfo.Load(fetched)
	if err != nil {
		t.Fatalf("the fetched torrent: %v", err)
	}
	if string(got.InfoBytes) != string(want.InfoBytes) || got.InfoHash != want.InfoHash || got.InfoHashV2 != want.InfoHashV2 {
		t.Fatalf("info of %d bytes (v1 %s, v2 %s), want the original's %d bytes (v1 %s, v2 %s)",
			len(got.InfoBytes), got.InfoHash, got.InfoHashV2, len(want.InfoBytes), want.InfoHash, want.InfoHashV2)
	}
	if !slices.Equal(slices.Concat(got.Trackers()...), slices.Concat(want.Trackers()...)) {
		t.Errorf("trackers %q, want the magnet's %q", got.Trackers(), want.Trackers())
	}
}

// TestTransmission: `peers --verify` names Transmission 3.00 and its seed,
// and `metadata` fetches its info dictionary byte for byte. (Transmission
// 3.00 predates v2: it rejects hybrid torrents, docs/interop.md.)
func TestTransmission(t *testing.T) {
	requireLibtorrent(t) // it makes the torrent
	if _, err := exec.LookPath(thirdparty.TransmissionDaemon); err != nil {
		t.Fatalf("transmission-daemon interop: %v (scripts/test.sh installs it)", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	tor := createTorrent(t, dir, "http://127.0.0.1:1/announce", "--files", "2")
	tr := thirdparty.StartSeedingTB(ctx, t, loopback(8, 2, 1), tor.Path, filepath.Join(dir, "content"), tor.InfoHash)
	magnet := tor.Magnet + "&x.pe=" + tr.Addr.String()
	r := runPeerfind(t, "peers", magnet, "--no-dht", "--no-trackers", "--no-state", "--verify", "--json", "--timeout", "30s")
	ev := verifyEvents(t, r.stdout)[tr.Addr.String()]
	if r.code != 0 || !ev.OK || ev.Client != "Transmission 3.00" || ev.Version != "Transmission 3.00" || ev.Seed == nil || !*ev.Seed {
		t.Errorf("exit %d, verify %+v; stderr:\n%s", r.code, ev, r.stderr)
	}
	if err := tr.WaitNoPeers(ctx); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "fetched.torrent")
	r = runPeerfind(t, "metadata", magnet, "--no-dht", "--no-trackers", "--no-state", "-o", out, "--timeout", "30s")
	if r.code != 0 {
		t.Fatalf("metadata: exit %d; stderr:\n%s", r.code, r.stderr)
	}
	checkSameInfo(t, tor.Path, out)
}
