package bencode

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusDir is the repository's .torrent corpus (see its README.md),
// relative to this package.
const corpusDir = "../testdata/corpus"

// corpusEntry is one MANIFEST.tsv row.
type corpusEntry struct {
	path    string // file path
	outcome string // valid, invalid, unspecified, valid-for-source
	v1, v2  string // expected info-hashes, hex; "" if none
	notes   string
}

// loadCorpus reads every MANIFEST.tsv under corpusDir; an absent corpus fails
// the test.
func loadCorpus(tb testing.TB) []corpusEntry {
	tb.Helper()
	entries, err := readCorpus()
	if err != nil {
		tb.Fatal(err)
	}
	if entries == nil {
		tb.Fatalf("no */MANIFEST.tsv under %s", corpusDir)
	}
	return entries
}

// readCorpus returns the MANIFEST.tsv rows of the corpus, nil if there are
// none.
func readCorpus() ([]corpusEntry, error) {
	manifests, _ := filepath.Glob(filepath.Join(corpusDir, "*", "MANIFEST.tsv"))
	var out []corpusEntry
	for _, m := range manifests {
		data, err := os.ReadFile(m)
		if err != nil {
			return nil, err
		}
		header := true
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "#") || line == "" {
				continue
			}
			cols := strings.Split(line, "\t")
			if header {
				header = false // column names
				continue
			}
			if len(cols) < 6 {
				return nil, fmt.Errorf("%s: short row %q", m, line)
			}
			out = append(out, corpusEntry{
				path:    filepath.Join(filepath.Dir(m), cols[0]),
				outcome: cols[1],
				v1:      cols[4],
				v2:      cols[5],
				notes:   cols[len(cols)-1],
			})
		}
	}
	return out, nil
}

// TestCorpus decodes every corpus file and checks the raw-span info-hashes.
func TestCorpus(t *testing.T) {
	entries := loadCorpus(t)
	hashed := 0
	for _, e := range entries {
		data, err := os.ReadFile(e.path)
		if err != nil {
			t.Errorf("%s: %v", e.path, err)
			continue
		}
		name := strings.TrimPrefix(e.path, corpusDir+"/")
		var v any
		derr := DecodeOptions{AllowTrailing: true}.Unmarshal(data, &v)
		var m metaInfo
		_ = DecodeOptions{AllowTrailing: true}.Unmarshal(data, &m) // must not panic
		if derr == nil {
			// Round trip through the generic form: encode, decode, compare.
			enc, err := Marshal(v)
			if err != nil {
				t.Errorf("%s: marshal: %v", name, err)
			}
			var v2 any
			if err := Unmarshal(enc, &v2); err != nil {
				t.Errorf("%s: re-decode: %v", name, err)
			}
		}
		raw, ok, err := DictValue(data, "info")
		if (err != nil) != (derr != nil) && !(derr == nil && len(data) > 0 && data[0] != 'd') {
			t.Errorf("%s: DictValue error %v but Unmarshal error %v", name, err, derr)
		}
		if err != nil {
			if e.outcome == "valid" {
				t.Errorf("%s: valid in source but: %v", name, err)
			} else {
				t.Logf("%s (%s): %v", name, e.outcome, err)
			}
			continue
		}
		if e.v1 == "" && e.v2 == "" {
			continue
		}
		if !ok {
			t.Errorf("%s: no info dict", name)
			continue
		}
		hashed++
		if e.v1 != "" {
			if h := sha1.Sum(raw); hex.EncodeToString(h[:]) != e.v1 {
				t.Errorf("%s: v1 %x, want %s", name, h, e.v1)
			}
		}
		if e.v2 != "" {
			if h := sha256.Sum256(raw); hex.EncodeToString(h[:]) != e.v2 {
				t.Errorf("%s: v2 %x, want %s", name, h, e.v2)
			}
		}
	}
	t.Logf("%d files, %d with info-hashes checked", len(entries), hashed)
}
