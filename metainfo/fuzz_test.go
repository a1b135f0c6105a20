package metainfo

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"os"
	"path/filepath"
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
