package e2e

import (
	"encoding/json"
	"path"
	"slices"
	"strings"
	"testing"
)

// ltInfo is what libtorrent reads from a torrent (lt.py create) or a
// magnet link (lt.py magnet).
type ltInfo struct {
	Path        string   `json:"torrent"`
	InfoHash    string   `json:"info_hash"`
	InfoHashV2  string   `json:"info_hash_v2"`
	Magnet      string   `json:"magnet"`
	Name        string   `json:"name"`
	TotalSize   int64    `json:"total_size"` // pad files included
	PieceLength int64    `json:"piece_length"`
	NumPieces   int      `json:"num_pieces"`
	Trackers    []string `json:"trackers"`
	Files       []struct {
		Path string `json:"path"` // with the torrent's name as first element
		Size int64  `json:"size"`
		Pad  bool   `json:"pad"`
	} `json:"files"`
}

// pfInfo is `peerfind info --json`.
type pfInfo struct {
	Source      string     `json:"source"`
	Name        string     `json:"name"`
	Size        int64      `json:"size"` // pad files excluded
	Files       int        `json:"files"`
	PieceLength int64      `json:"piece_length"`
	Pieces      int        `json:"pieces"`
	MetaVersion int        `json:"meta_version"`
	InfoHash    string     `json:"info_hash"`
	InfoHashV2  string     `json:"info_hash_v2"`
	Swarms      []string   `json:"swarm_hashes"`
	Trackers    [][]string `json:"trackers"`
	CreatedBy   string     `json:"created_by"`
	FileList    []struct {
		Path   string `json:"path"`
		Length int64  `json:"length"`
		Pad    bool   `json:"pad"`
	} `json:"file_list"`
	Magnet string `json:"magnet"`
}

// ltMagnet has libtorrent parse a magnet link.
func ltMagnet(t *testing.T, uri string) ltInfo {
	t.Helper()
	out := runLT(t, "magnet", uri)
	var li ltInfo
	if err := json.Unmarshal(out, &li); err != nil {
		t.Fatalf("lt.py magnet printed %q: %v", out, err)
	}
	return li
}

// peerfindInfo runs `peerfind info --json target`.
func peerfindInfo(t *testing.T, target string) pfInfo {
	t.Helper()
	r := runPeerfind(t, "info", "--json", target)
	if r.code != 0 {
		t.Fatalf("info %s: exit %d; stderr:\n%s", target, r.code, r.stderr)
	}
	var pi pfInfo
	if err := json.Unmarshal([]byte(r.stdout), &pi); err != nil {
		t.Fatalf("info --json printed %q: %v", r.stdout, err)
	}
	return pi
}

// TestInfoLibtorrentTorrents: torrents and magnet links made by libtorrent
// read by peerfind, and peerfind's magnet links read by libtorrent, agree
// on every fact both can state — v1 and hybrid v1+v2 (BEP 52) torrents,
// the latter with BEP 47 pad files.
func TestInfoLibtorrentTorrents(t *testing.T) {
	requireLibtorrent(t)
	const trackerURL = "udp://127.0.0.1:6969/announce" // never contacted
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"v1-single", nil},
		{"hybrid-multi", []string{"--files", "4", "--hybrid"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lt := createTorrent(t, t.TempDir(), trackerURL, tc.args...)

			pi := peerfindInfo(t, lt.Path)
			if pi.Name != lt.Name || pi.PieceLength != lt.PieceLength || pi.Pieces != lt.NumPieces ||
				pi.InfoHash != lt.InfoHash || pi.InfoHashV2 != lt.InfoHashV2 {
				t.Errorf("peerfind reads name %q, piece length %d, %d pieces, hashes %q %q; libtorrent %q, %d, %d, %q %q",
					pi.Name, pi.PieceLength, pi.Pieces, pi.InfoHash, pi.InfoHashV2, lt.Name, lt.PieceLength, lt.NumPieces, lt.InfoHash, lt.InfoHashV2)
			}
			if want := []string{lt.InfoHash}; lt.InfoHashV2 != "" {
				want = append(want, lt.InfoHashV2[:40]) // BEP 52: the v2 swarm's 20-byte key is the truncated hash
				if !slices.Equal(pi.Swarms, want) || pi.MetaVersion != 2 {
					t.Errorf("swarm hashes %q, meta version %d; want %q, 2", pi.Swarms, pi.MetaVersion, want)
				}
			} else if !slices.Equal(pi.Swarms, want) || pi.MetaVersion != 1 {
				t.Errorf("swarm hashes %q, meta version %d; want %q, 1", pi.Swarms, pi.MetaVersion, want)
			}
			if len(pi.Trackers) != 1 || !slices.Equal(pi.Trackers[0], lt.Trackers) {
				t.Errorf("trackers %q, libtorrent %q", pi.Trackers, lt.Trackers)
			}
			if !strings.HasPrefix(pi.CreatedBy, "libtorrent ") {
				t.Errorf("created by %q", pi.CreatedBy)
			}
			// Files: libtorrent prefixes the torrent's name in multi-file
			// torrents; pad files are listed by both, flagged, and left out
			// of peerfind's size and file count.
			var content int64
			nFiles := 0
			if len(pi.FileList) != len(lt.Files) {
				t.Fatalf("peerfind lists %d files, libtorrent %d", len(pi.FileList), len(lt.Files))
			}
			for i, lf := range lt.Files {
				pf := pi.FileList[i]
				want := lf.Path
				if len(lt.Files) > 1 {
					want = strings.TrimPrefix(lf.Path, lt.Name+"/")
				}
				if pf.Path != path.Clean(want) || pf.Length != lf.Size || pf.Pad != lf.Pad {
					t.Errorf("file %d: peerfind %q %d pad=%v, libtorrent %q %d pad=%v", i, pf.Path, pf.Length, pf.Pad, lf.Path, lf.Size, lf.Pad)
				}
				if !lf.Pad {
					content += lf.Size
					nFiles++
				}
			}
			if pi.Size != content || pi.Files != nFiles {
				t.Errorf("peerfind: %d bytes in %d files; libtorrent: %d bytes in %d files besides pad files", pi.Size, pi.Files, content, nFiles)
			}

			// peerfind's magnet link, read by libtorrent.
			back := ltMagnet(t, pi.Magnet)
			if back.InfoHash != lt.InfoHash || back.InfoHashV2 != lt.InfoHashV2 || back.Name != lt.Name || !slices.Equal(back.Trackers, lt.Trackers) {
				t.Errorf("libtorrent reads peerfind's magnet %q as %+v; want hashes %q %q, name %q, trackers %q",
					pi.Magnet, back, lt.InfoHash, lt.InfoHashV2, lt.Name, lt.Trackers)
			}
			// libtorrent's magnet link, read by peerfind.
			pm := peerfindInfo(t, lt.Magnet)
			if pm.Source != "magnet" || pm.InfoHash != lt.InfoHash || pm.InfoHashV2 != lt.InfoHashV2 || pm.Name != lt.Name ||
				len(pm.Trackers) != 1 || !slices.Equal(pm.Trackers[0], lt.Trackers) {
				t.Errorf("peerfind reads libtorrent's magnet %q as %+v", lt.Magnet, pm)
			}
		})
	}
}
