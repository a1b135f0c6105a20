package metainfo

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peerfind/peerfind/bencode"
)

// corpusDir is the repository's .torrent corpus: files from other projects'
// test data with what their tests expect (see its README.md).
const corpusDir = "../testdata/corpus"

// corpusRow is one line of a MANIFEST.tsv.
type corpusRow struct {
	dir, file, outcome, expectedErr, v1, v2, notes string
}

// readCorpus returns every row of every MANIFEST.tsv under corpusDir.
func readCorpus(tb testing.TB) []corpusRow {
	tb.Helper()
	manifests, _ := filepath.Glob(filepath.Join(corpusDir, "*", "MANIFEST.tsv"))
	if len(manifests) == 0 {
		tb.Fatalf("no */MANIFEST.tsv under %s", corpusDir)
	}
	var rows []corpusRow
	for _, m := range manifests {
		f, err := os.Open(m)
		if err != nil {
			tb.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		header := true
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "#") || line == "" {
				continue
			}
			cols := strings.Split(line, "\t")
			if header {
				header = false // the column names
				continue
			}
			if len(cols) < 11 {
				tb.Fatalf("%s: short row %q", m, line)
			}
			rows = append(rows, corpusRow{dir: filepath.Dir(m), file: cols[0], outcome: cols[1], expectedErr: cols[2], v1: cols[4], v2: cols[5], notes: cols[10]})
		}
		f.Close()
		if err := sc.Err(); err != nil {
			tb.Fatal(err)
		}
	}
	return rows
}

// corpusExceptions are rows where peerfind deliberately differs from the
// source's expectation, with the reason. Sources disagree with each other on
// these: each entry is a policy choice documented in the package comment.
var corpusExceptions = map[string]string{
	// libtorrent's limit on renamed duplicates (max_duplicate_filenames) is
	// a policy of its own, not a format rule; the manifest flags it so.
	// libtorrent 2.0.8's torrent_info loads both files of this list
	// (TestLibtorrentCorpus).
	"libtorrent/test/test_torrents/duplicate_files2.torrent": "duplicate paths accepted with warnings (no renaming limit)",
}

func TestCorpus(t *testing.T) {
	rows := readCorpus(t)
	counts := map[string]int{}
	for _, r := range rows {
		key := filepath.Base(r.dir) + "/" + r.file
		t.Run(key, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(r.dir, r.file))
			if err != nil {
				t.Fatal(err)
			}
			m, err := Parse(data)
			if reason, ok := corpusExceptions[key]; ok {
				t.Logf("exception (%s): source says %s, got err=%v", reason, r.outcome, err)
				return
			}
			switch r.outcome {
			case "valid":
				if err != nil {
					t.Fatalf("valid torrent rejected: %v", err)
				}
				if got := hexOrEmpty(m.InfoHash.IsZero(), m.InfoHash.String()); got != r.v1 {
					t.Errorf("v1 info hash = %q, want %q", got, r.v1)
				}
				if got := hexOrEmpty(m.InfoHashV2.IsZero(), m.InfoHashV2.String()); got != r.v2 {
					t.Errorf("v2 info hash = %q, want %q", got, r.v2)
				}
				checkInvariants(t, m)
			case "invalid":
				if err == nil {
					t.Fatalf("invalid torrent accepted (source error: %s)", r.expectedErr)
				}
				var fe *Error
				var se *bencode.SyntaxError
				if !errors.As(err, &fe) && !errors.As(err, &se) {
					t.Errorf("error %v (%T) is neither *metainfo.Error nor *bencode.SyntaxError", err, err)
				}
				t.Logf("rejected: %v (source: %s)", err, r.expectedErr)
			default: // unspecified, valid-for-source: only must not panic
				t.Logf("%s: err=%v", r.outcome, err)
			}
			counts[r.outcome]++
		})
	}
	t.Logf("corpus: %d files %v", len(rows), counts)
}

func hexOrEmpty(zero bool, s string) string {
	if zero {
		return ""
	}
	return s
}

// checkInvariants checks what every successfully parsed torrent promises.
func checkInvariants(t *testing.T, m *MetaInfo) {
	t.Helper()
	in := m.Info
	if in.Name == "" || len(in.Files) == 0 || in.PieceLength <= 0 || in.TotalLength <= 0 {
		t.Fatalf("incomplete info: name %q, %d files, piece length %d, total %d", in.Name, len(in.Files), in.PieceLength, in.TotalLength)
	}
	if in.NumPieces <= 0 || int64(in.NumPieces) > ceilDiv(in.TotalLength, in.PieceLength)+int64(len(in.Files)) {
		t.Errorf("%d pieces for %d bytes in pieces of %d", in.NumPieces, in.TotalLength, in.PieceLength)
	}
	var total int64
	for _, f := range in.Files {
		if f.Length < 0 {
			t.Errorf("negative length %d", f.Length)
		}
		if !f.Pad {
			total += f.Length
			if len(f.Path) == 0 {
				t.Errorf("file without path")
			}
		}
		for _, c := range f.Path {
			if c == "" || c == "." || c == ".." || strings.ContainsAny(c, "/\\") {
				t.Errorf("unsafe path component %q in %q", c, f.Path)
			}
		}
	}
	if total != in.TotalLength {
		t.Errorf("TotalLength %d, sum of files %d", in.TotalLength, total)
	}
	if len(m.SwarmHashes()) == 0 {
		t.Errorf("no swarm hash")
	}
}
