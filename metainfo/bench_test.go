package metainfo

import (
	"crypto/sha1"
	"os"
	"path/filepath"
	"testing"

	"github.com/peerfind/peerfind/bencode"
)

// benchInputs returns the valid torrents of the shared corpus, or the
// committed seeds when the corpus is absent.
func benchInputs(b *testing.B) [][]byte {
	var out [][]byte
	paths, _ := filepath.Glob(filepath.Join(corpusDir, "*", "MANIFEST.tsv"))
	if len(paths) > 0 {
		for _, r := range readCorpus(b) {
			if r.outcome != "valid" {
				continue
			}
			data, err := os.ReadFile(filepath.Join(r.dir, r.file))
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, data)
		}
		return out
	}
	for _, data := range seedTorrents(b) {
		if _, err := Parse(data); err == nil {
			out = append(out, data)
		}
	}
	return out
}

// BenchmarkParse parses every valid corpus torrent once per iteration; MB/s
// counts input bytes.
func BenchmarkParse(b *testing.B) {
	inputs := benchInputs(b)
	var n int64
	for _, d := range inputs {
		n += int64(len(d))
	}
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		for _, d := range inputs {
			if _, err := Parse(d); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// bigTorrent is the largest permissively licensed torrent of the corpus
// (rqbit's Ubuntu 21.04 desktop, 215 KB, 5,000+ piece hashes), or the largest
// seed when the corpus is absent.
func bigTorrent(b *testing.B) []byte {
	p := filepath.Join(corpusDir, "rqbit", "crates", "librqbit", "resources", "ubuntu-21.04-desktop-amd64.iso.torrent")
	if data, err := os.ReadFile(p); err == nil {
		return data
	}
	var big []byte
	for _, d := range seedTorrents(b) {
		if len(d) > len(big) {
			big = d
		}
	}
	return big
}

// BenchmarkParseLarge parses one large real torrent.
func BenchmarkParseLarge(b *testing.B) {
	data := bigTorrent(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInfoHash locates the info span with bencode.DictValue and hashes
// it: the whole cost of identifying a torrent's swarm. It should not
// allocate; MB/s counts the whole file.
func BenchmarkInfoHash(b *testing.B) {
	data := bigTorrent(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		raw, ok, err := bencode.DictValue(data, "info")
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
		_ = sha1.Sum(raw)
	}
}
