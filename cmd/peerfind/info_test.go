package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peerfind/peerfind/bencode"
)

// runInfo runs `peerfind args...` with the given standard input.
func runInfo(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestInfoGolden(t *testing.T) {
	tests := []struct {
		name   string // golden file base name
		target string
	}{
		{"leaves-url-list", "testdata/info/leaves-url-list.torrent"},
		{"bittorrent-v2-hybrid-test", "testdata/info/bittorrent-v2-hybrid-test.torrent"},
		{"dht_nodes", "testdata/info/dht_nodes.torrent"},
		{"parent_path", "testdata/info/parent_path.torrent"},
		{"magnet", "magnet:?xt=urn:btih:08ada5a7a6183aae1e09d831df6748d566095a10&xt=urn:btmh:1220caf1e1c30e81cb361b9ee167c4aa64228a7fa4fa9f6105232b28ad099f3a302e" +
			"&dn=Sintel&xl=129241752&tr=udp%3A%2F%2Fexplodie.org%3A6969&tr=wss%3A%2F%2Ftracker.btorrent.xyz&ws=https%3A%2F%2Fwebtorrent.io%2Ftorrents%2F&x.pe=127.0.0.1:6881&so=0"},
		{"hash-base32", "BCW2LJ5GDA5K4HQJ3AY56Z2I2VTASWQQ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, mode := range []struct{ ext, flag string }{{".txt", ""}, {".json", "--json"}} {
				args := []string{"info", tt.target}
				if mode.flag != "" {
					args = append(args, mode.flag) // flags after the argument, as users type them
				}
				code, stdout, stderr := runInfo(t, "", args...)
				if code != exitOK || stderr != "" {
					t.Fatalf("%q: exit %d, stderr %q", args, code, stderr)
				}
				if mode.flag != "" {
					var v map[string]any
					if err := json.Unmarshal([]byte(stdout), &v); err != nil {
						t.Fatalf("--json output is not one JSON object: %v", err)
					}
				}
				golden(t, filepath.Join("testdata", "info", tt.name+mode.ext), stdout)
			}
		})
	}
}

func TestInfoStdin(t *testing.T) {
	path := "testdata/info/bittorrent-v2-hybrid-test.torrent"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, fromFile, _ := runInfo(t, "", "info", path)
	code, fromStdin, stderr := runInfo(t, string(data), "info", "-")
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if fromStdin != fromFile {
		t.Errorf("stdin output differs from file output:\n%s\nvs\n%s", fromStdin, fromFile)
	}
	code, js, _ := runInfo(t, string(data), "info", "--json", "-")
	var v struct {
		File, InfoHash string
		SwarmHashes    []string `json:"swarm_hashes"`
	}
	if err := json.Unmarshal([]byte(js), &v); code != exitOK || err != nil || v.File != "-" || len(v.SwarmHashes) != 2 {
		t.Errorf("--json -: exit %d, err %v, %+v", code, err, v)
	}
}

func TestInfoErrors(t *testing.T) {
	tests := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stderr string // the start of the first line
	}{
		{"bad pieces", "", []string{"info", "testdata/info/bad.torrent"}, exitError,
			"peerfind: testdata/info/bad.torrent: info.pieces: length 119 is not a multiple of 20"},
		{"bad pieces json", "", []string{"info", "--json", "testdata/info/bad.torrent"}, exitError,
			"peerfind: testdata/info/bad.torrent: info.pieces: length 119 is not a multiple of 20"},
		{"no such file", "", []string{"info", "testdata/info/nosuch.torrent"}, exitError,
			"peerfind: testdata/info/nosuch.torrent: no such file, and not a magnet link or an info hash"},
		{"directory", "", []string{"info", "testdata"}, exitError,
			"peerfind: testdata: is a directory, not a .torrent file"},
		{"stdin not bencode", "hello", []string{"info", "-"}, exitError,
			"peerfind: standard input: not a .torrent file (it is text)"},
		{"stdin empty", "", []string{"info", "-"}, exitError, "peerfind: standard input: empty file, not a .torrent file"},
		{"stdin no info", "d8:announce3:urle", []string{"info", "-"}, exitError,
			"peerfind: standard input: info: missing or invalid info dictionary"},
		{"bad magnet", "", []string{"info", "magnet:?xt=urn:btih:1234"}, exitError, ""},
		{"magnet without hash", "", []string{"info", "magnet:?dn=x"}, exitError, ""},
		{"no argument", "", []string{"info"}, exitUsage, "peerfind: info takes exactly one TARGET (a .torrent file or URL, -, a magnet link or an info hash); got 0 arguments"},
		{"two arguments", "", []string{"info", "a", "b"}, exitUsage, "peerfind: info takes exactly one TARGET (a .torrent file or URL, -, a magnet link or an info hash); got 2 arguments"},
		{"unknown flag", "", []string{"info", "x", "--bogus"}, exitUsage, "peerfind: unknown flag: --bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runInfo(t, tt.stdin, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if !strings.HasPrefix(stderr, "peerfind: ") || strings.Contains(stderr, "internal error") || strings.Contains(stderr, "goroutine") {
				t.Errorf("stderr %q is not a peerfind error line", stderr)
			}
			if tt.code == exitError && len(lines) != 1 {
				t.Errorf("stderr has %d lines, want 1: %q", len(lines), stderr)
			}
			if !strings.HasPrefix(lines[0], tt.stderr) {
				t.Errorf("stderr line\n got %q\nwant %q", lines[0], tt.stderr)
			}
		})
	}
}

// TestInfoCorpus runs `info` and `info --json` on every torrent of the
// repository's corpus (testdata/corpus): each must give exit status 0 with output, or 1 with one error line
// naming the file; never a panic.
func TestInfoCorpus(t *testing.T) {
	var paths []string
	const corpus = "../../testdata/corpus"
	filepath.WalkDir(corpus, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".torrent") {
			paths = append(paths, p)
		}
		return nil
	})
	if len(paths) == 0 {
		t.Fatalf("no .torrent files under %s", corpus)
	}
	for _, p := range paths {
		for _, args := range [][]string{{"info", p}, {"info", "--json", p}} {
			code, stdout, stderr := runInfo(t, "", args...)
			switch code {
			case exitOK:
				if stdout == "" || stderr != "" {
					t.Errorf("%q: exit 0 with stdout %d bytes, stderr %q", args, len(stdout), stderr)
				}
			case exitError:
				if stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "peerfind: "+p+": ") || strings.Contains(stderr, "internal error") {
					t.Errorf("%q: exit 1 with stdout %q, stderr %q", args, stdout, stderr)
				}
			default:
				t.Errorf("%q: exit %d, stderr %q", args, code, stderr)
			}
		}
	}
	t.Logf("%d corpus files", len(paths))
}

func TestInfoSizes(t *testing.T) {
	for _, tt := range []struct {
		n           int64
		human, size string
	}{
		{0, "0 bytes", "0 bytes"},
		{1, "1 byte", "1 bytes"},
		{1000, "1,000 bytes", "1,000 bytes"},
		{1024, "1.0 KiB (1,024 bytes)", "1 KiB"},
		{16384, "16.0 KiB (16,384 bytes)", "16 KiB"},
		{4 << 20, "4.0 MiB (4,194,304 bytes)", "4 MiB"},
		{1503238553, "1.4 GiB (1,503,238,553 bytes)", "1,503,238,553 bytes"},
		{1 << 62, "4.0 EiB (4,611,686,018,427,387,904 bytes)", "4,194,304 TiB"},
	} {
		if got := humanBytes(tt.n); got != tt.human {
			t.Errorf("humanBytes(%d) = %q, want %q", tt.n, got, tt.human)
		}
		if got := pieceSize(tt.n); got != tt.size {
			t.Errorf("pieceSize(%d) = %q, want %q", tt.n, got, tt.size)
		}
	}
	if got := printable("a\x1b[2Jb\tc"); got != "a\uFFFD[2Jb c" { // a tab is a space
		t.Errorf("printable = %q", got)
	}
}

func TestInfoLongLists(t *testing.T) {
	var files []any
	for range 30 {
		files = append(files, map[string]any{"length": int64(1000), "path": []any{"same.txt"}})
	}
	data, err := bencode.Marshal(map[string]any{"info": map[string]any{
		"name": "dups", "piece length": int64(16384), "pieces": strings.Repeat("h", 40), "files": files,
	}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dups.torrent")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runInfo(t, "", "info", path)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"Files:        30\n", "  ... and 20 more (--json lists them all)\n", "              ... and 9 more (--json lists them all)\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, `duplicate path "same.txt"`); n != infoListWarnings {
		t.Errorf("%d warnings shown, want %d", n, infoListWarnings)
	}
}
