package metainfo_test

// Interop with libtorrent 2.0 (Debian python3-libtorrent): libtorrent creates
// v1, v2 and hybrid torrents of random content, and peerfind must read them
// exactly as libtorrent does: same hashes, names, files, pieces, trackers,
// nodes and web seeds. Magnet links are checked both ways in the magnet
// package's own tests; here libtorrent's make_magnet_uri output is parsed.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/peerfind/peerfind/magnet"
	"github.com/peerfind/peerfind/metainfo"
)

// python is Debian's interpreter: the only one that can import the packaged
// libtorrent bindings (see docs/interop.md).
const python = "/usr/bin/python3"

// requireLibtorrent skips the test, visibly, when python3-libtorrent is not
// installed (scripts/test.sh installs it).
func requireLibtorrent(t *testing.T) {
	t.Helper()
	if err := exec.Command(python, "-c", "import libtorrent").Run(); err != nil {
		t.Fatalf("python3-libtorrent not available (%v) (scripts/test.sh installs it)", err)
	}
}

// ltTorrent is what libtorrent reports about a torrent it created.
type ltTorrent struct {
	File   string
	V1, V2 string
	Name   string
	Files  []struct {
		Path   string
		Length int64
		Pad    bool
	}
	NumPieces   int   `json:"num_pieces"`
	PieceLength int64 `json:"piece_length"`
	Private     bool
	Comment     string
	Creator     string
	Trackers    [][]any // [url, tier]
	Nodes       []string
	WebSeeds    []string `json:"web_seeds"`
	Magnet      string
}

// writeContent creates a directory tree of random files under parent/name.
func writeContent(t *testing.T, parent, name string, sizes map[string]int) {
	r := rand.New(rand.NewPCG(7, 7))
	for p, n := range sizes {
		full := filepath.Join(parent, name, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLibtorrentCreated(t *testing.T) {
	requireLibtorrent(t)
	parent := t.TempDir()
	out := t.TempDir()
	writeContent(t, parent, "multi dir", map[string]int{
		"a.bin":              100000,
		"empty.txt":          0,
		"sub/b.bin":          40000,
		"sub/deeper/ç ü.dat": 16384,
		"z.bin":              200001,
	})
	writeContent(t, parent, "single.bin", nil)
	if err := os.WriteFile(filepath.Join(parent, "single.bin"), bytes.Repeat([]byte("peerfind"), 30000), 0o644); err != nil {
		t.Fatal(err)
	}

	var lts []ltTorrent
	for _, name := range []string{"multi dir", "single.bin"} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, python, "testdata/interop/lt_helper.py", "create", parent, name, out)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.Output()
		cancel()
		if err != nil {
			t.Fatalf("libtorrent create %q: %v\n%s", name, err, stderr.String())
		}
		sc := bufio.NewScanner(bytes.NewReader(stdout))
		for sc.Scan() {
			var lt ltTorrent
			if err := json.Unmarshal(sc.Bytes(), &lt); err != nil {
				t.Fatalf("bad helper output %q: %v", sc.Text(), err)
			}
			lts = append(lts, lt)
		}
	}
	if len(lts) != 12 {
		t.Fatalf("libtorrent created %d torrents, want 12", len(lts))
	}
	for _, lt := range lts {
		t.Run(filepath.Base(lt.File), func(t *testing.T) {
			m, err := metainfo.Load(lt.File)
			if err != nil {
				t.Fatal(err)
			}
			compareLibtorrent(t, m, lt)
		})
	}
}

func compareLibtorrent(t *testing.T, m *metainfo.MetaInfo, lt ltTorrent) {
	t.Helper()
	if got := hexIfSet(m.InfoHash.IsZero(), m.InfoHash.String()); got != lt.V1 {
		t.Errorf("v1 hash %q, libtorrent %q", got, lt.V1)
	}
	if got := hexIfSet(m.InfoHashV2.IsZero(), m.InfoHashV2.String()); got != lt.V2 {
		t.Errorf("v2 hash %q, libtorrent %q", got, lt.V2)
	}
	in := m.Info
	if in.Name != lt.Name || in.PieceLength != lt.PieceLength || in.NumPieces != lt.NumPieces || in.Private != lt.Private {
		t.Errorf("name %q, piece length %d, pieces %d, private %v; libtorrent %q %d %d %v",
			in.Name, in.PieceLength, in.NumPieces, in.Private, lt.Name, lt.PieceLength, lt.NumPieces, lt.Private)
	}
	if m.Comment != lt.Comment || m.CreatedBy != lt.Creator {
		t.Errorf("comment %q, created by %q; libtorrent %q %q", m.Comment, m.CreatedBy, lt.Comment, lt.Creator)
	}
	// Files, pad files aside (libtorrent adds v2 alignment pads to its own
	// file list even for v2-only torrents, where the file has none).
	// libtorrent paths include the torrent name for multi-file torrents.
	var got, want []string
	var total int64
	for _, f := range lt.Files {
		if !f.Pad {
			want = append(want, f.Path+":"+itoa(f.Length))
			total += f.Length
		}
	}
	for _, f := range in.Files {
		if f.Pad {
			continue
		}
		p := strings.Join(f.Path, "/")
		if len(want) > 1 {
			p = in.Name + "/" + p
		}
		got = append(got, p+":"+itoa(f.Length))
	}
	if !slices.Equal(got, want) {
		t.Errorf("files %q, libtorrent %q", got, want)
	}
	if in.TotalLength != total {
		t.Errorf("total length %d, libtorrent %d (pads aside)", in.TotalLength, total)
	}
	var tiers [][]string
	for _, tr := range lt.Trackers {
		url, tier := tr[0].(string), int(tr[1].(float64))
		for len(tiers) <= tier {
			tiers = append(tiers, nil)
		}
		tiers[tier] = append(tiers[tier], url)
	}
	// libtorrent shuffles the trackers of a tier when it loads a torrent
	// (BEP 12); Trackers keeps the file's order. Compare tiers as sets.
	g := m.Trackers()
	for _, tier := range append(slices.Clone(g), tiers...) {
		slices.Sort(tier)
	}
	if !slices.EqualFunc(g, tiers, slices.Equal) {
		t.Errorf("trackers %q, libtorrent %q", g, tiers)
	}
	if !slices.Equal(m.Nodes, lt.Nodes) || !slices.Equal(m.URLList, lt.WebSeeds) {
		t.Errorf("nodes %q web seeds %q; libtorrent %q %q", m.Nodes, m.URLList, lt.Nodes, lt.WebSeeds)
	}
	// libtorrent's own magnet link names the same swarm.
	mg, err := magnet.Parse(lt.Magnet)
	if err != nil {
		t.Fatalf("libtorrent magnet %q: %v", lt.Magnet, err)
	}
	if !slices.Equal(mg.SwarmHashes(), m.SwarmHashes()) || mg.Name != in.Name {
		t.Errorf("libtorrent magnet %q gives %v %q; torrent %v", lt.Magnet, mg.SwarmHashes(), mg.Name, m.SwarmHashes())
	}
	if len(m.Warnings) != 0 {
		t.Errorf("warnings on a clean torrent: %q", m.Warnings)
	}
}

func hexIfSet(zero bool, s string) string {
	if zero {
		return ""
	}
	return s
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// libtorrentDisagrees lists the corpus files on which libtorrent 2.0.8's
// torrent_info loader and Parse differ, with the reason; in each case Parse
// follows the outcome the source's own tests state (MANIFEST.tsv).
var libtorrentDisagrees = map[string]string{
	// libtorrent's piece-layer checks run when a torrent is added to a
	// session (load_torrent_file, add_torrent), not in torrent_info; its
	// tests list these three as invalid, and BEP 52 says a layer that does
	// not hash to its root makes the torrent invalid.
	"libtorrent/test/test_torrents/v2_invalid_piece_layer_root.torrent":  "bad piece layer",
	"libtorrent/test/test_torrents/v2_invalid_root_hash.torrent":         "bad piece layer",
	"libtorrent/test/test_torrents/v2_unknown_piece_layer_entry.torrent": "bad piece layer",
	// A dict with the same key twice: libtorrent keeps one value,
	// Transmission rejects the file, and so does bencode (different readers
	// would see different torrents behind one info hash). Made by the test
	// (madeTorrents): Transmission's own file of this case is GPL.
	"made/dup-pieces-key.torrent": "duplicate key",
}

// madeTorrents are torrents the test writes itself, for cases whose corpus
// files could not be included (testdata/corpus/README.md).
var madeTorrents = map[string]string{
	"made/dup-pieces-key.torrent": "d4:infod6:lengthi1e4:name1:a12:piece lengthi16384e" +
		"6:pieces20:" + strings.Repeat("a", 20) + "6:pieces20:" + strings.Repeat("b", 20) + "ee",
}

// TestLibtorrentCorpus loads every file of the repository's corpus
// (testdata/corpus) and the made torrents with libtorrent
// and with Parse: both must accept or reject it (but for the documented
// disagreements above) and agree on the hashes.
func TestLibtorrentCorpus(t *testing.T) {
	requireLibtorrent(t)
	const corpus = "../testdata/corpus"
	var paths []string
	filepath.WalkDir(corpus, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".torrent") {
			paths = append(paths, p)
		}
		return nil
	})
	if len(paths) == 0 {
		t.Fatalf("no .torrent files under %s", corpus)
	}
	made := t.TempDir()
	name := map[string]string{} // path given to libtorrent → name in the tables
	for rel, content := range madeTorrents {
		p := filepath.Join(made, filepath.Base(rel))
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
		name[p] = rel
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "testdata/interop/lt_helper.py", "load")
	cmd.Stdin = strings.NewReader(strings.Join(paths, "\n") + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("libtorrent load: %v\n%s", err, stderr.String())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	n, agree := 0, 0
	for sc.Scan() {
		var lt struct {
			File, V1, V2, Error string
			OK                  bool
		}
		if err := json.Unmarshal(sc.Bytes(), &lt); err != nil {
			t.Fatal(err)
		}
		n++
		rel, ok := name[lt.File]
		if !ok {
			rel, _ = filepath.Rel(corpus, lt.File)
			rel = filepath.ToSlash(rel)
		}
		data, err := os.ReadFile(lt.File)
		if err != nil {
			t.Fatal(err)
		}
		m, err := metainfo.Parse(data)
		if reason, ok := libtorrentDisagrees[rel]; ok {
			if lt.OK == (err == nil) {
				t.Errorf("%s: listed as a disagreement (%s) but both now say ok=%v", rel, reason, lt.OK)
			}
			continue
		}
		switch {
		case lt.OK && err != nil:
			t.Errorf("%s: libtorrent loads it, Parse: %v", rel, err)
		case !lt.OK && err == nil:
			t.Errorf("%s: Parse accepts it, libtorrent: %s", rel, lt.Error)
		case lt.OK:
			if v1 := hexIfSet(m.InfoHash.IsZero(), m.InfoHash.String()); v1 != lt.V1 {
				t.Errorf("%s: v1 %q, libtorrent %q", rel, v1, lt.V1)
			}
			if v2 := hexIfSet(m.InfoHashV2.IsZero(), m.InfoHashV2.String()); v2 != lt.V2 {
				t.Errorf("%s: v2 %q, libtorrent %q", rel, v2, lt.V2)
			}
			agree++
		default:
			agree++
		}
	}
	if n != len(paths) {
		t.Errorf("libtorrent answered for %d of %d files", n, len(paths))
	}
	t.Logf("%d corpus files: %d agree with libtorrent %s, %d documented disagreements", n, agree, "2.0", len(libtorrentDisagrees))
}
