package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peerfind/peerfind/bencode"
	"github.com/peerfind/peerfind/swarmtest"
)

// writeTorrent writes a torrent built from top (with a small v1 info
// dictionary merged from info) and returns its path.
func writeTorrent(t *testing.T, top, info map[string]any) string {
	t.Helper()
	in := map[string]any{"name": "x", "piece length": int64(16384), "pieces": strings.Repeat("a", 20), "length": int64(5)}
	for k, v := range info {
		if v == nil {
			delete(in, k)
		} else {
			in[k] = v
		}
	}
	top["info"] = in
	b, err := bencode.Marshal(top)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "x.torrent")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestE2ERoughEdges: the rough edges a new user met, one case each.
func TestE2ERoughEdges(t *testing.T) {
	t.Run("comment with line breaks", func(t *testing.T) {
		path := writeTorrent(t, map[string]any{"comment": "first line\r\nsecond\tline\n"}, nil)
		r := runPF(t, nil, "info", path)
		if r.code != exitOK || !strings.Contains(r.stdout, "Comment:      first line\n              second line\n") || strings.ContainsRune(r.stdout, '\uFFFD') {
			t.Errorf("exit %d, stdout:\n%s", r.code, r.stdout)
		}
	})
	t.Run("multi-file torrent of one file", func(t *testing.T) {
		path := writeTorrent(t, map[string]any{}, map[string]any{"name": "dir", "length": nil,
			"files": []any{map[string]any{"length": int64(5), "path": []any{"sub", "only.bin"}}}})
		r := runPF(t, nil, "info", path)
		if r.code != exitOK || !strings.Contains(r.stdout, "Files:        1\n  sub/only.bin (5 bytes)\n") {
			t.Errorf("exit %d, stdout:\n%s", r.code, r.stdout)
		}
	})
	t.Run("relative web seed", func(t *testing.T) {
		path := writeTorrent(t, map[string]any{"url-list": []any{"files/x", "https://ws.example/x"}}, nil)
		r := runPF(t, nil, "info", path)
		if r.code != exitOK || !strings.Contains(r.stdout, `url-list[0]: "files/x" is not an absolute http(s) or ftp URL, ignored`) ||
			strings.Contains(r.stdout, "ws=files") || !strings.Contains(r.stdout, "ws=https") {
			t.Errorf("exit %d, stdout:\n%s", r.code, r.stdout)
		}
	})
	t.Run("empty and random files", func(t *testing.T) {
		dir := t.TempDir()
		empty, random := filepath.Join(dir, "empty.torrent"), filepath.Join(dir, "random.torrent")
		os.WriteFile(empty, nil, 0o644)
		os.WriteFile(random, []byte("\x89PNG\r\n\x1a\n\x00\x01"), 0o644)
		for path, want := range map[string]string{empty: "empty file, not a .torrent file", random: "not a .torrent file (it is image/png)"} {
			r := runPF(t, nil, "info", path)
			if r.code != exitError || r.stderr != "peerfind: "+path+": "+want+"\n" {
				t.Errorf("%s: exit %d, stderr %q, want %q", path, r.code, r.stderr, want)
			}
		}
	})
	t.Run("lenient optional magnet fields", func(t *testing.T) {
		sw := startSwarm(t, swarmtest.Config{Nodes: -1, Peers: 3})
		link := sw.Magnet() + "&dn=50%25%zz&xl=lots&x.pe=nohostport"
		r := runPF(t, nil, "info", link)
		if r.code != exitOK || !strings.Contains(r.stdout, `xl "lots": exact length is not a non-negative integer, ignored`) ||
			!strings.Contains(r.stdout, `x.pe "nohostport": peer address is not host:port, ignored`) {
			t.Errorf("info: exit %d, stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		r = runPF(t, nil, "peers", link, "--no-dht")
		if r.code != exitOK || !strings.Contains(r.stderr, `peerfind: warning: magnet link: xl "lots"`) {
			t.Errorf("peers: exit %d, stderr:\n%s", r.code, r.stderr)
		}
		// The hash stays strict.
		r = runPF(t, nil, "info", "magnet:?xt=urn:btih:1234&dn=x")
		if r.code != exitError {
			t.Errorf("bad hash: exit %d, want %d", r.code, exitError)
		}
	})
	t.Run("plurals and -6 counts", func(t *testing.T) {
		sw := startSwarm(t, swarmtest.Config{Nodes: -1, Peers: 5, IPv6Peers: 1})
		r := runPF(t, nil, "peers", sw.InfoHash.String(), "--no-dht", "--tracker", sw.HTTPTracker, "-6")
		if r.code != exitOK || len(parsePeers(t, r.stdout)) != 1 {
			t.Fatalf("exit %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
		}
		if !strings.HasPrefix(r.stderr, "1 peer in") {
			t.Errorf("summary headline: %q", r.stderr)
		}
		for _, l := range strings.Split(r.stderr, "\n") {
			if strings.Contains(l, sw.HTTPTracker) && !strings.Contains(l, sw.HTTPTracker+"  1  ") {
				t.Errorf("tracker row counts other families: %q", l)
			}
		}
	})
	t.Run("one wording for argument errors", func(t *testing.T) {
		for _, cmd := range []string{"info", "peers", "scrape"} {
			r := runPF(t, nil, cmd, "a", "b")
			want := "peerfind: " + cmd + " takes exactly one TARGET (a .torrent file or URL, -, a magnet link or an info hash); got 2 arguments\n"
			if r.code != exitUsage || !strings.HasPrefix(r.stderr, want) {
				t.Errorf("%s a b: exit %d, stderr %q", cmd, r.code, r.stderr)
			}
		}
	})
	t.Run("help on an unknown command", func(t *testing.T) {
		r := runPF(t, nil, "help", "bogus")
		if r.code != exitUsage || !strings.Contains(r.stderr, `no command "bogus"`) {
			t.Errorf("help bogus: exit %d, stderr %q", r.code, r.stderr)
		}
		if r := runPF(t, nil, "help", "peers"); r.code != exitOK || !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("help peers: exit %d", r.code)
		}
	})
	t.Run("v2 hash in every help text", func(t *testing.T) {
		for _, cmd := range []string{"", "info", "peers", "scrape"} {
			args := []string{"--help"}
			if cmd != "" {
				args = []string{cmd, "--help"}
			}
			r := runPF(t, nil, args...)
			if !strings.Contains(r.stdout, "64 hex digits for v2") {
				t.Errorf("peerfind %s --help does not name the v2 hash", cmd)
			}
		}
	})
}
