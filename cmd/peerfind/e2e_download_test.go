package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/peerfind/peerfind/swarmtest"
)

// TestE2EURLTarget: an http(s):// TARGET is downloaded, bounded and
// checked, and used as a .torrent by every command.
func TestE2EURLTarget(t *testing.T) {
	sw := startSwarm(t, swarmtest.Config{Nodes: -1, Peers: 6})
	path, err := sw.WriteTorrent(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	torrent, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/x.torrent", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-bittorrent")
		w.Write(torrent)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/x.torrent", http.StatusFound) })
	mux.HandleFunc("/to-magnet", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, sw.Magnet(), http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<!DOCTYPE html><html><body><form>log in</form></body></html>")
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(maxTorrentSize+1))
	})
	mux.HandleFunc("/endless", func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 1<<20)
		buf[0] = 'd'
		for range maxTorrentSize>>20 + 8 { // bounded: a broken cap ends too
			if _, err := w.Write(buf); err != nil {
				return
			}
			buf[0] = 0
		}
	})
	hs := httptest.NewServer(mux)
	defer hs.Close()

	// info: the torrent, and where it came from.
	r := runPF(t, nil, "info", hs.URL+"/moved", "--json")
	var v struct {
		URL      string `json:"url"`
		InfoHash string `json:"info_hash"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); r.code != exitOK || err != nil {
		t.Fatalf("info --json URL: exit %d, %v, stderr:\n%s", r.code, err, r.stderr)
	}
	if v.URL != hs.URL+"/moved" || v.InfoHash != sw.InfoHash.String() {
		t.Errorf("info --json: url %q, info_hash %q; want %q, %v", v.URL, v.InfoHash, hs.URL+"/moved", sw.InfoHash)
	}
	r = runPF(t, nil, "info", hs.URL+"/x.torrent")
	if r.code != exitOK || !strings.Contains(r.stdout, "Downloaded:   "+hs.URL+"/x.torrent") {
		t.Errorf("info URL: exit %d, stdout:\n%s", r.code, r.stdout)
	}
	// peers: the downloaded torrent's swarm.
	r = runPF(t, nil, "peers", hs.URL+"/x.torrent", "--no-dht")
	if r.code != exitOK {
		t.Fatalf("peers URL: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	sameSet(t, "peers URL", parsePeers(t, r.stdout), sw.PeersOn(swarmtest.OnHTTP|swarmtest.OnUDP))
	// A "download" link that redirects to a magnet link.
	r = runPF(t, nil, "info", hs.URL+"/to-magnet")
	if r.code != exitOK || !strings.Contains(r.stdout, sw.InfoHash.String()) {
		t.Errorf("redirect to a magnet: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	for _, tt := range []struct{ path, want string }{
		{"/nothing-here", "download failed: HTTP 404 Not Found"},
		{"/loop", "download failed: more than 10 redirects"},
		{"/login", "not a .torrent file (it is an HTML page)"},
		{"/huge", "too large for a .torrent file"},
		{"/endless", "more than 64 MiB"},
	} {
		r := runPF(t, nil, "info", hs.URL+tt.path)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code != exitError || len(lines) != 1 || !strings.Contains(lines[0], hs.URL+tt.path) || !strings.Contains(lines[0], tt.want) {
			t.Errorf("info %s: exit %d, stderr %q; want exit %d and one line naming the URL with %q", tt.path, r.code, r.stderr, exitError, tt.want)
		}
	}
	// Nothing listens: refused, said so.
	r = runPF(t, nil, "info", "http://"+deadTCP(t)+"/x.torrent")
	if r.code != exitError || !strings.Contains(r.stderr, "download failed") || !strings.Contains(r.stderr, "refused") {
		t.Errorf("dead URL: exit %d, stderr %q", r.code, r.stderr)
	}
}
