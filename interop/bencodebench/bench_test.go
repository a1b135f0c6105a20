package bencodebench

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	anacrolix "github.com/anacrolix/torrent/bencode"
	anametainfo "github.com/anacrolix/torrent/metainfo"
	jackpal "github.com/jackpal/bencode-go"

	"github.com/peerfind/peerfind/bencode"
)

// corpusDir is the root module's .torrent corpus (see its README.md),
// relative to this package directory.
const corpusDir = "../../testdata/corpus"

// fileInfo, info and metaInfo are a small metainfo-like target shared by the
// three libraries (they agree on the `bencode:"key"` tag syntax).
type fileInfo struct {
	Length int64    `bencode:"length"`
	Path   []string `bencode:"path"`
}

type info struct {
	Name        string     `bencode:"name"`
	PieceLength int64      `bencode:"piece length"`
	Pieces      string     `bencode:"pieces"`
	Length      int64      `bencode:"length"`
	Files       []fileInfo `bencode:"files"`
}

type metaInfo struct {
	Announce     string     `bencode:"announce"`
	AnnounceList [][]string `bencode:"announce-list"`
	Comment      string     `bencode:"comment"`
	CreatedBy    string     `bencode:"created by"`
	CreationDate int64      `bencode:"creation date"`
	Info         info       `bencode:"info"`
}

// decoder is one library under test.
type decoder struct {
	name    string
	generic func([]byte) (any, error)
	typed   func([]byte, *metaInfo) error
}

var decoders = []decoder{
	{
		name: "peerfind",
		generic: func(b []byte) (any, error) {
			var v any
			err := bencode.Unmarshal(b, &v)
			return v, err
		},
		typed: func(b []byte, m *metaInfo) error { return bencode.Unmarshal(b, m) },
	},
	{
		name: "anacrolix",
		generic: func(b []byte) (any, error) {
			var v any
			err := anacrolix.Unmarshal(b, &v)
			return v, err
		},
		typed: func(b []byte, m *metaInfo) error { return anacrolix.Unmarshal(b, m) },
	},
	{
		name:    "jackpal",
		generic: func(b []byte) (any, error) { return jackpal.Decode(bytes.NewReader(b)) },
		typed:   func(b []byte, m *metaInfo) error { return jackpal.Unmarshal(bytes.NewReader(b), m) },
	},
}

// corpus holds the files every library can decode, trimmed to their first
// value (anacrolix rejects the trailing "\n" some files have; that is a
// policy difference, not a speed one).
type corpus struct {
	generic  [][]byte // decodable into any by all three
	typed    [][]byte // decodable into metaInfo by all three
	hashable [][]byte // with an info dict that anacrolix's metainfo.Load accepts
}

func loadCorpus(tb testing.TB) *corpus {
	tb.Helper()
	manifests, _ := filepath.Glob(filepath.Join(corpusDir, "*", "MANIFEST.tsv"))
	if len(manifests) == 0 {
		tb.Fatalf("no */MANIFEST.tsv under %s", corpusDir)
	}
	c := &corpus{}
	for _, m := range manifests {
		data, err := os.ReadFile(m)
		if err != nil {
			tb.Fatal(err)
		}
		header := true
		for _, line := range strings.Split(string(data), "\n") {
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if header {
				header = false
				continue
			}
			cols := strings.Split(line, "\t")
			if cols[1] != "valid" {
				continue
			}
			raw, err := os.ReadFile(filepath.Join(filepath.Dir(m), cols[0]))
			if err != nil {
				tb.Fatal(err)
			}
			var first bencode.RawMessage
			if err := (bencode.DecodeOptions{AllowTrailing: true}).Unmarshal(raw, &first); err != nil {
				tb.Logf("%s: %v", cols[0], err)
				continue
			}
			okGeneric, okTyped := true, true
			for _, d := range decoders {
				if _, err := d.generic(first); err != nil {
					okGeneric = false
				}
				if err := d.typed(first, new(metaInfo)); err != nil {
					okTyped = false
				}
			}
			if okGeneric {
				c.generic = append(c.generic, first)
			}
			if okTyped {
				c.typed = append(c.typed, first)
			}
			_, hasInfo, _ := bencode.DictValue(first, "info")
			if _, err := anametainfo.Load(bytes.NewReader(first)); err == nil && hasInfo {
				c.hashable = append(c.hashable, first)
			}
		}
	}
	return c
}

func total(files [][]byte) int64 {
	var n int64
	for _, f := range files {
		n += int64(len(f))
	}
	return n
}

// TestAgree checks that the three libraries decode the corpus to the same
// values, so the benchmarks compare equal work.
func TestAgree(t *testing.T) {
	c := loadCorpus(t)
	t.Logf("generic: %d files, %d bytes; typed: %d files, %d bytes; hashable: %d files, %d bytes",
		len(c.generic), total(c.generic), len(c.typed), total(c.typed), len(c.hashable), total(c.hashable))
	for _, f := range c.generic {
		want, _ := decoders[0].generic(f)
		for _, d := range decoders[1:] {
			if got, _ := d.generic(f); !reflect.DeepEqual(got, want) {
				t.Errorf("%s disagrees on a %d-byte file", d.name, len(f))
			}
		}
	}
	for _, f := range c.typed {
		var want metaInfo
		decoders[0].typed(f, &want)
		for _, d := range decoders[1:] {
			var got metaInfo
			d.typed(f, &got)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s disagrees on a %d-byte file (typed)", d.name, len(f))
			}
		}
	}
}

// run benchmarks fn, one pass over files per iteration, reporting wall and
// CPU throughput.
func run(b *testing.B, files [][]byte, fn func(f []byte) error) {
	n := total(files)
	b.SetBytes(n)
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		for _, f := range files {
			if err := fn(f); err != nil {
				b.Fatal(err)
			}
		}
	}
	if cpu := cpuTime() - start; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(n)*float64(b.N)/cpu.Seconds()/1e6, "cpu-MB/s")
	}
}

func BenchmarkGeneric(b *testing.B) {
	c := loadCorpus(b)
	for _, d := range decoders {
		b.Run(d.name, func(b *testing.B) {
			run(b, c.generic, func(f []byte) error {
				_, err := d.generic(f)
				return err
			})
		})
	}
}

func BenchmarkTyped(b *testing.B) {
	c := loadCorpus(b)
	for _, d := range decoders {
		b.Run(d.name, func(b *testing.B) {
			run(b, c.typed, func(f []byte) error {
				var m metaInfo
				return d.typed(f, &m)
			})
		})
	}
}

// BenchmarkInfoHash compares finding and hashing the raw info span:
// bencode.DictValue against anacrolix's metainfo.Load + HashInfoBytes, the
// usual way to get an info-hash with that library.
func BenchmarkInfoHash(b *testing.B) {
	c := loadCorpus(b)
	b.Run("peerfind", func(b *testing.B) {
		run(b, c.hashable, func(f []byte) error {
			raw, ok, err := bencode.DictValue(f, "info")
			if !ok && err == nil {
				err = errors.New("no info")
			}
			sha1.Sum(raw)
			return err
		})
	})
	b.Run("anacrolix", func(b *testing.B) {
		run(b, c.hashable, func(f []byte) error {
			mi, err := anametainfo.Load(bytes.NewReader(f))
			if err == nil {
				mi.HashInfoBytes()
			}
			return err
		})
	})
}
