package metainfo

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedTorrents returns the committed seed torrents (testdata/seeds, see its
// README for their licenses).
func seedTorrents(tb testing.TB) map[string][]byte {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "seeds", "*.torrent"))
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no seed torrents in testdata/seeds: %v", err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

// FuzzParse checks that Parse never panics and that whatever it accepts
// keeps its promises: the hashes are those of the raw info span, which is
// inside the input, and the file list is safe to use as paths.
func FuzzParse(f *testing.F) {
	for _, b := range seedTorrents(f) {
		f.Add(b)
	}
	f.Add([]byte("d4:infod4:name1:a6:lengthi1e12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			if m != nil {
				t.Fatalf("non-nil MetaInfo with error %v", err)
			}
			return
		}
		if !bytes.Contains(data, m.InfoBytes) {
			t.Fatalf("InfoBytes are not a span of the input")
		}
		if !m.InfoHash.IsZero() && m.InfoHash != Hash(sha1.Sum(m.InfoBytes)) {
			t.Fatalf("v1 hash is not SHA-1 of InfoBytes")
		}
		if !m.InfoHashV2.IsZero() && m.InfoHashV2 != HashV2(sha256.Sum256(m.InfoBytes)) {
			t.Fatalf("v2 hash is not SHA-256 of InfoBytes")
		}
		if m.InfoHash.IsZero() && m.InfoHashV2.IsZero() {
			t.Fatalf("accepted a torrent without any hash")
		}
		checkInvariants(t, m)
	})
}

// TestSeeds checks the committed seeds against the outcomes and hashes of
// the shared corpus manifests (testdata/seeds/EXPECTED.tsv), so the
// validation policy is tested even where the shared corpus is absent.
func TestSeeds(t *testing.T) {
	seeds := seedTorrents(t)
	table, err := os.ReadFile(filepath.Join("testdata", "seeds", "EXPECTED.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(table), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		c := strings.Split(line, "\t")
		if len(c) != 4 {
			t.Fatalf("bad EXPECTED.tsv line %q", line)
		}
		name, outcome, v1, v2 := c[0], c[1], c[2], c[3]
		data, ok := seeds[name]
		if !ok {
			t.Errorf("%s: listed but missing", name)
			continue
		}
		n++
		m, err := Parse(data)
		if _, exc := corpusExceptions["libtorrent/test/test_torrents/"+strings.TrimPrefix(name, "libtorrent_")]; exc {
			continue
		}
		switch outcome {
		case "valid":
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if got := hexOrEmpty(m.InfoHash.IsZero(), m.InfoHash.String()); got != v1 {
				t.Errorf("%s: v1 hash %q, want %q", name, got, v1)
			}
			if got := hexOrEmpty(m.InfoHashV2.IsZero(), m.InfoHashV2.String()); got != v2 {
				t.Errorf("%s: v2 hash %q, want %q", name, got, v2)
			}
		case "invalid":
			if err == nil {
				t.Errorf("%s: invalid torrent accepted", name)
			}
		}
	}
	if n != len(seeds) {
		t.Errorf("EXPECTED.tsv lists %d of %d seeds", n, len(seeds))
	}
}
