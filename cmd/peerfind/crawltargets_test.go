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

// TestReadTargetsLongLines: a line over the limit is one bad line, skipped,
// and the lines after it are read; the last line needs no newline.
func TestReadTargetsLongLines(t *testing.T) {
	const hash = "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name      string
		input     string
		targets   int
		badLines  []int
		wantError bool
	}{
		{"long line in the middle", hash + "\n" + strings.Repeat("x", maxTargetLine+1) + "\n" + hash + "\n", 2, []int{2}, false},
		{"exactly the limit", strings.Repeat(" ", maxTargetLine-len(hash)) + hash + "\n", 1, nil, false},
		{"long last line without newline", hash + "\n" + strings.Repeat("#", 3*maxTargetLine), 1, []int{2}, false},
		{"no final newline", hash, 1, nil, false},
		{"CRLF", hash + "\r\n\r\n" + hash + "\r\n", 2, nil, false},
		{"empty", "", 0, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var bad []int
			ts, err := readTargets(strings.NewReader(tt.input), "list.txt", "", func(b badLine) { bad = append(bad, b.line) })
			if (err != nil) != tt.wantError {
				t.Fatalf("error %v", err)
			}
			if len(ts) != tt.targets || len(bad) != len(tt.badLines) {
				t.Fatalf("%d targets, bad lines %v; want %d and %v", len(ts), bad, tt.targets, tt.badLines)
			}
			for i := range bad {
				if bad[i] != tt.badLines[i] {
					t.Errorf("bad lines %v, want %v", bad, tt.badLines)
				}
			}
		})
	}
}

// FuzzReadTargets: any targets file gives targets and bad lines, never a
// panic, and each bad line names a line of the input. Lines that would
// fetch a URL or read a file are left out: the fuzzer must not reach the
// network or the file system.
func FuzzReadTargets(f *testing.F) {
	f.Add("0123456789abcdef0123456789abcdef01234567\n# c\n\nmagnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=x&tr=udp://t:1\n")
	f.Add("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567\r\nnonsense\n-\n")
	f.Add("magnet:?xt=urn:btmh:1220" + strings.Repeat("ab", 32) + "\n")
	f.Fuzz(func(t *testing.T, input string) {
		var lines []string
		for _, l := range strings.Split(input, "\n") {
			l = strings.TrimSpace(l)
			if strings.HasPrefix(l, "#") || l == "" || strings.HasPrefix(l, "magnet:") || isHashLike(l) {
				lines = append(lines, l)
			} else {
				lines = append(lines, "# "+l)
			}
		}
		in := strings.Join(lines, "\n")
		var bad []badLine
		ts, err := readTargets(strings.NewReader(in), "f", "", func(b badLine) { bad = append(bad, b) })
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bad {
			if b.line < 1 || b.line > len(lines) {
				t.Fatalf("bad line %d of %d", b.line, len(lines))
			}
		}
		for _, tg := range ts {
			if tg.Key.IsZero() {
				t.Fatalf("a target without a key: %+v", tg)
			}
		}
	})
}

// isHashLike reports whether s has only the characters of a hex or base32
// info hash, which the resolver never takes for a path or URL.
func isHashLike(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return len(s) == 40 || len(s) == 32 || len(s) == 64
}
