package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadTargets reads a targets file with every kind of line: good ones
// resolve (a .torrent relative to the file's directory), bad ones are
// reported with their line numbers and skipped, comments and blank lines
// ignored.
func TestReadTargets(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "small.torrent"), smallTorrent(t, false), 0o644); err != nil {
		t.Fatal(err)
	}
	const hash = "0123456789abcdef0123456789abcdef01234567"
	list := strings.Join([]string{
		"# targets",                        // 1
		"",                                 // 2
		hash,                               // 3
		"  small.torrent  ",                // 4
		"nonsense",                         // 5
		"magnet:?xt=urn:btih:" + hash,      // 6: a duplicate is read; crawlTargets drops it
		"magnet:?xt=urn:btih:zz",           // 7
		"-",                                // 8
		"\t# indented comment",             // 9
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", // 10: base32
	}, "\n")
	var bad []badLine
	ts, err := readTargets(strings.NewReader(list), "list.txt", dir, func(b badLine) { bad = append(bad, b) })
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 4 {
		t.Errorf("%d targets, want 4", len(ts))
	}
	var lines []int
	for _, b := range bad {
		lines = append(lines, b.line)
		if !strings.HasPrefix(b.Error(), "list.txt:") {
			t.Errorf("bad line reported as %q, want it to start with the file name", b.Error())
		}
	}
	if len(lines) != 3 || lines[0] != 5 || lines[1] != 7 || lines[2] != 8 {
		t.Errorf("bad lines %v, want [5 7 8]", lines)
	}
	if len(ts) > 1 && ts[1].Name == "" {
		t.Error("the .torrent target has no name")
	}

	// As arguments: duplicates by info hash dropped, a list file expanded.
	listPath := filepath.Join(dir, "list.txt")
	if err := os.WriteFile(listPath, []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	bad = nil
	ts, err = crawlTargets([]string{listPath, hash, filepath.Join(dir, "small.torrent"), "nonsense"}, nil, func(b badLine) { bad = append(bad, b) })
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 3 || len(bad) != 4 {
		t.Errorf("%d targets and %d bad, want 3 and 4", len(ts), len(bad))
	}
}
