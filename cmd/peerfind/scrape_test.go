package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/peerfind/peerfind/bencode"
	"github.com/peerfind/peerfind/metainfo"
	"github.com/peerfind/peerfind/tracker"
)

// scrapeTrackers starts our tracker server on loopback (HTTP and UDP) with
// a swarm of 2 seeders and 1 leecher for h, and returns the two URLs and a
// URL where nothing listens.
func scrapeTrackers(t *testing.T, h metainfo.Hash) (httpURL, udpURL, deadURL string) {
	t.Helper()
	srv := &tracker.Server{}
	srv.AddPeer(h, netip.MustParseAddrPort("10.0.0.1:1"), true)
	srv.AddPeer(h, netip.MustParseAddrPort("10.0.0.2:1"), true)
	srv.AddPeer(h, netip.MustParseAddrPort("10.0.0.3:1"), false)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.ServeUDP(ctx, pc); close(done) }()
	t.Cleanup(func() { cancel(); <-done; pc.Close() })
	// A closed listener's port refuses connections.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL = "http://" + l.Addr().String() + "/announce"
	l.Close()
	return hs.URL + "/announce", "udp://" + pc.LocalAddr().String() + "/announce", deadURL
}

func runScrapeCmd(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	code = run(ctx, args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestScrapeMagnet(t *testing.T) {
	h := metainfo.Hash{1, 2, 3}
	httpURL, udpURL, dead := scrapeTrackers(t, h)
	mag := fmt.Sprintf("magnet:?xt=urn:btih:%s&tr=%s&tr=%s", h, httpURL, udpURL)
	code, out, errOut := runScrapeCmd(t, "", "scrape", mag, "--no-dht", "--tracker", dead, "--timeout", "5s")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "SOURCE") {
		t.Fatalf("output:\n%s", out)
	}
	for i, u := range []string{httpURL, udpURL} {
		if f := strings.Fields(lines[i+1]); len(f) != 4 || f[0] != u || f[1] != "2" || f[2] != "1" || f[3] != "0" {
			t.Errorf("line %q, want %s 2 1 0", lines[i+1], u)
		}
	}
	if !strings.HasPrefix(lines[3], dead) || !strings.Contains(lines[3], "connection refused") {
		t.Errorf("dead tracker line %q", lines[3])
	}
}

func TestScrapeJSON(t *testing.T) {
	h := metainfo.Hash{4, 5, 6}
	httpURL, udpURL, dead := scrapeTrackers(t, h)
	code, out, errOut := runScrapeCmd(t, "", "scrape", h.String(), "--json", "--no-dht",
		"--tracker", udpURL, "--tracker", dead, "--tracker", "http://127.0.0.1:1/no-scrape-here", "--tracker", httpURL)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	var rows []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		rows = append(rows, m)
	}
	if len(rows) != 4 {
		t.Fatalf("%d rows:\n%s", len(rows), out)
	}
	for _, i := range []int{0, 3} {
		r := rows[i]
		if r["type"] != "scrape" || r["swarm"] != h.String() || r["seeders"] != 2.0 || r["leechers"] != 1.0 || r["completed"] != 0.0 || r["error"] != nil {
			t.Errorf("row %d = %v", i, r)
		}
	}
	if e, _ := rows[1]["error"].(string); !strings.Contains(e, "refused") || rows[1]["seeders"] != nil {
		t.Errorf("dead tracker row = %v", rows[1])
	}
	if e, _ := rows[2]["error"].(string); !strings.Contains(e, "no scrape URL") {
		t.Errorf("no-scrape tracker row = %v", rows[2])
	}
}

func TestScrapeTorrentStdin(t *testing.T) {
	info := map[string]any{"name": "x", "piece length": int64(16384), "length": int64(5), "pieces": string(make([]byte, 20))}
	ib, err := bencode.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	h := metainfo.Hash(sha1.Sum(ib))
	httpURL, udpURL, _ := scrapeTrackers(t, h)
	torrent, err := bencode.Marshal(map[string]any{
		"announce":      httpURL,
		"announce-list": []any{[]any{udpURL}, []any{httpURL}},
		"info":          bencode.RawMessage(ib),
	})
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runScrapeCmd(t, string(torrent), "scrape", "-", "--no-dht")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	if n := strings.Count(out, "\n"); n != 3 || !strings.Contains(out, udpURL) || !strings.Contains(out, httpURL) {
		t.Errorf("output:\n%s", out)
	}
}

func TestScrapeExitCodes(t *testing.T) {
	h := metainfo.Hash{7}
	_, _, dead := scrapeTrackers(t, h)
	for _, tc := range []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"no tracker answers", []string{"scrape", h.String(), "--no-dht", "--tracker", dead}, exitError, "no tracker answered"},
		{"no trackers and no DHT", []string{"scrape", h.String(), "--no-dht"}, exitUsage, "no trackers and --no-dht"},
		{"bad bootstrap", []string{"scrape", h.String(), "--bootstrap", "nohostport"}, exitUsage, "--bootstrap"},
		{"no target", []string{"scrape"}, exitUsage, "exactly one TARGET"},
		{"bad target", []string{"scrape", "not-a-file-or-hash"}, exitError, "no such file"},
		{"bad flag", []string{"scrape", h.String(), "--bogus"}, exitUsage, "unknown flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runScrapeCmd(t, "", tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.err) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, tc.code, tc.err)
			}
		})
	}
}
