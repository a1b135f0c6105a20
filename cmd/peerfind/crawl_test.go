package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peerfind/peerfind/store"
	"github.com/peerfind/peerfind/swarmtest"
)

// manySwarms starts a local swarm holding n torrents on its two trackers,
// the first dhtN of them with peers on the DHT as well.
func manySwarms(t *testing.T, n, dhtN int) (*swarmtest.Swarm, []*swarmtest.Torrent) {
	t.Helper()
	sw := startSwarm(t, swarmtest.Config{Nodes: 32, Peers: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ts, err := sw.AddTorrents(ctx, swarmtest.TorrentsConfig{N: n, Peers: 8, DHT: dhtN})
	if err != nil {
		t.Fatal(err)
	}
	return sw, ts
}

// writeHashList writes a targets file of the torrents' info hashes, one
// per line, in dir and returns its path.
func writeHashList(t *testing.T, dir string, ts []*swarmtest.Torrent) string {
	t.Helper()
	var list strings.Builder
	for _, tt := range ts {
		list.WriteString(tt.InfoHash.String() + "\n")
	}
	path := filepath.Join(dir, "targets.txt")
	if err := os.WriteFile(path, []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// wantSources says which sources must name a peer placed on on.
func wantSources(sw *swarmtest.Swarm, on int) []string {
	var s []string
	if on&swarmtest.OnHTTP != 0 {
		s = append(s, sw.HTTPTracker)
	}
	if on&swarmtest.OnUDP != 0 {
		s = append(s, sw.UDPTracker)
	}
	if on&swarmtest.OnDHT != 0 {
		s = append(s, "dht")
	}
	return s
}

// TestE2ECrawl crawls 300 torrents of one local swarm for two rounds into
// SQLite and checks that every target's peers are stored with the sources
// that hold them, that bad lines are reported with their numbers and
// skipped, and that the rounds, observations and peers tables agree.
func TestE2ECrawl(t *testing.T) {
	sw, ts := manySwarms(t, 300, 4)
	dir := t.TempDir()
	var list strings.Builder
	list.WriteString("# a crawl list\n\n")
	for i, tt := range ts {
		switch {
		case i < 4: // the DHT ones as .torrent files, relative to the list
			name := fmt.Sprintf("t%d.torrent", i)
			if err := os.WriteFile(filepath.Join(dir, name), tt.Torrent, 0o644); err != nil {
				t.Fatal(err)
			}
			list.WriteString(name + "\n")
		default:
			list.WriteString(tt.InfoHash.String() + "\n")
		}
		if i == 10 {
			list.WriteString("not-a-target\n") // line 14
		}
	}
	list.WriteString("magnet:?xt=urn:btih:nothex\n")
	listPath := filepath.Join(dir, "targets.txt")
	if err := os.WriteFile(listPath, []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "crawl.db")
	args := append([]string{"crawl", listPath, "--db", db, "--rounds", "2", "--json", "--timeout", "20s",
		"--tracker", sw.HTTPTracker, "--tracker", sw.UDPTracker, "--tracker-rate", "-1", "--concurrency", "32"}, bootstrapArgs(sw)...)
	r := runPF(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"targets.txt:14: ", "targets.txt:" + fmt.Sprint(4+len(ts)) + ": "} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not report the bad line %q:\n%s", want, r.stderr)
		}
	}
	events := map[string]int{}
	for line := range strings.Lines(r.stdout) {
		var e struct{ Type string }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("stdout line %q: %v", line, err)
		}
		events[e.Type]++
	}
	if events["target"] != 2*len(ts) || events["scrape"] != 2*len(ts) || events["round"] != 2 || events["skipped"] != 2 {
		t.Errorf("events %v, want %d target and scrape, 2 round, 2 skipped", events, 2*len(ts))
	}

	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]string{} // round 1: info hash → address → sources
	err = st.Sightings(context.Background(), time.Time{}, func(s store.SightingRow) error {
		if s.Round != 1 {
			return nil
		}
		if got[s.InfoHash] == nil {
			got[s.InfoHash] = map[string]string{}
		}
		got[s.InfoHash][s.Address] = s.Sources
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range ts {
		h := tt.InfoHash.String()
		if len(got[h]) != len(tt.Peers) {
			t.Errorf("%s: %d peers stored, want %d", h, len(got[h]), len(tt.Peers))
		}
		for _, p := range tt.Peers {
			srcs := strings.Fields(got[h][p.Addr.String()])
			want := wantSources(sw, p.On)
			slices.Sort(srcs)
			slices.Sort(want)
			if !slices.Equal(srcs, want) {
				t.Errorf("%s peer %v: sources %v, want %v", h, p.Addr, srcs, want)
			}
		}
	}

	hist, err := st.History(context.Background(), ts[0].InfoHash)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 {
		t.Fatalf("history of %v: %d rounds, want 2", ts[0].InfoHash, len(hist))
	}
	if hist[0].NewPeers != len(ts[0].Peers) || hist[1].NewPeers != 0 || hist[1].Peers != len(ts[0].Peers) {
		t.Errorf("history: round 1 %d new, round 2 %d peers %d new; want %d, %d, 0", hist[0].NewPeers, hist[1].Peers, hist[1].NewPeers, len(ts[0].Peers), len(ts[0].Peers))
	}
	kinds := map[string]bool{}
	for _, o := range hist[1].Observations {
		kinds[o.Kind] = true
		if o.Kind == "scrape" && (o.Seeders < 0 || o.Completed < 0) {
			t.Errorf("scrape observation without counts: %+v", o)
		}
	}
	for _, k := range []string{"tracker", "dht", "scrape"} {
		if !kinds[k] {
			t.Errorf("round 2 of %v has no %s observation: %+v", ts[0].InfoHash, k, hist[1].Observations)
		}
	}
	var nPeers int
	if err := st.DB().QueryRow(`SELECT COUNT(*) FROM peers WHERE last_round = 2 AND first_round = 1`).Scan(&nPeers); err != nil {
		t.Fatal(err)
	}
	if want := len(ts) * 8; nPeers != want {
		t.Errorf("%d peers seen in both rounds, want %d", nPeers, want)
	}

	st.Close()
	checkHistoryAndExport(t, db, ts[0], len(ts))
}

// checkHistoryAndExport reads a two-round crawl back through history and
// export.
func checkHistoryAndExport(t *testing.T, db string, tt *swarmtest.Torrent, targets int) {
	h := tt.InfoHash.String()
	svg := filepath.Join(t.TempDir(), "h.svg")
	r := runPF(t, nil, "history", h, "--db", db, "--svg", svg)
	if r.code != 0 {
		t.Fatalf("history: exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "ESTIMATE") || !strings.Contains(lines[0], "DHT") {
		t.Errorf("history table:\n%s", r.stdout)
	}
	data, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v", err)
		}
	}
	if n := strings.Count(string(data), "<polyline"); n < 4 {
		t.Errorf("the SVG draws %d lines, want the estimate, the peers found and each source", n)
	}

	r = runPF(t, nil, "history", h, "--db", db, "--json")
	var rounds []jsonHistoryRound
	for line := range strings.Lines(r.stdout) {
		var v jsonHistoryRound
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("history --json line %q: %v", line, err)
		}
		rounds = append(rounds, v)
	}
	if len(rounds) != 2 || rounds[1].Peers != len(tt.Peers) || rounds[0].NewPeers != len(tt.Peers) || len(rounds[1].Sources) == 0 {
		t.Errorf("history --json: %+v", rounds)
	}

	r = runPF(t, nil, "export", "--db", db, "--format", "csv")
	recs, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil || r.code != 0 {
		t.Fatalf("export csv: exit %d, %v: %s", r.code, err, r.stderr)
	}
	// Each target has per round: two tracker announces, the DHT, two scrapes.
	if len(recs) < 1+2*targets*4 || !slices.Equal(recs[0], observationHeader) {
		t.Errorf("export csv: %d rows, header %v", len(recs), recs[0])
	}
	for _, rec := range recs[1:] {
		if len(rec[0]) != 40 || rec[2] == "" || rec[3] == "" || rec[4] == "" {
			t.Fatalf("an export row is not self-contained: %v", rec)
		}
	}

	r = runPF(t, nil, "export", "--db", db, "--rows", "sightings", "--format", "ndjson", "--since", "1h")
	n := 0
	for line := range strings.Lines(r.stdout) {
		var v struct {
			InfoHash string `json:"info_hash"`
			Address  string `json:"address"`
			Sources  string `json:"sources"`
			Round    int    `json:"round"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil || len(v.InfoHash) != 40 || v.Address == "" || v.Sources == "" || v.Round == 0 {
			t.Fatalf("sighting %q: %v", line, err)
		}
		n++
	}
	if want := 2 * targets * 8; n != want {
		t.Errorf("%d sightings exported, want %d", n, want)
	}
	r = runPF(t, nil, "export", "--db", db, "--rows", "peers", "--format", "csv")
	recs, err = csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil || r.code != 0 || len(recs) != 1+targets*8 {
		t.Fatalf("export --rows peers: exit %d, %v, %d rows, want %d", r.code, err, len(recs), 1+targets*8)
	}
	for _, rec := range recs[1:] {
		if rec[5] != "1" || rec[6] != "2" || rec[7] != "2" || rec[8] == "" {
			t.Fatalf("a peer of both rounds exported as %v", rec)
		}
	}
	if r := runPF(t, nil, "export", "--db", db, "--since", "3000-01-01"); r.code != 0 || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("export --since in the future: exit %d, %q", r.code, r.stdout)
	}
	for _, args := range [][]string{{"export", "--format", "xml"}, {"export", "--since", "yesterday"}, {"history"}} {
		if r := runPF(t, nil, append(args, "--db", db)...); r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, r.code, exitUsage)
		}
	}
	if r := runPF(t, nil, "history", strings.Repeat("ab", 20), "--db", db); r.code != exitError || !strings.Contains(r.stderr, "no rounds") {
		t.Errorf("history of an unknown hash: exit %d: %s", r.code, r.stderr)
	}
}

// TestE2ECrawlResume kills a crawl mid-round (SIGKILL, as a crash would)
// and runs it again: the second run resumes the unfinished round, searches
// only the targets the first did not store, and finishes it with every
// target stored once.
func TestE2ECrawlResume(t *testing.T) {
	sw, ts := manySwarms(t, 80, 0)
	dir := t.TempDir()
	listPath := writeHashList(t, dir, ts)
	db := filepath.Join(dir, "crawl.db")
	base := []string{"crawl", listPath, "--db", db, "--no-dht", "--concurrency", "1", "--tracker", sw.HTTPTracker, "--tracker", sw.UDPTracker}
	args := append(slices.Clone(base), "--tracker-rate", "20")
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cmd, out := startCmd(t, args...)
	// --tracker-rate 20 paces each tracker: the round takes seconds, and
	// it is killed once a few targets are stored.
	waitCount(t, st, 3, `SELECT COUNT(*) FROM round_targets WHERE round = 1`)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	done := count1(t, st, `SELECT COUNT(*) FROM round_targets WHERE round = 1`)
	if done >= len(ts) {
		t.Fatalf("the crawl stored all %d targets before it was killed:\n%s", done, out.String())
	}
	if n := count1(t, st, `SELECT COUNT(*) FROM rounds WHERE finished_ms IS NOT NULL`); n != 0 {
		t.Fatalf("%d rounds finished after the kill", n)
	}

	r := runPF(t, nil, append(base, "--tracker-rate", "-1")...) // the second run unpaced
	if r.code != 0 {
		t.Fatalf("resumed crawl: exit %d: %s", r.code, r.stderr)
	}
	if want := fmt.Sprintf("resuming round 1: %d of %d targets done", done, len(ts)); !strings.Contains(r.stderr, want) {
		t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
	}
	if n := strings.Count(r.stdout, "\n"); n != len(ts)-done {
		t.Errorf("the resumed crawl searched %d targets, want the %d left", n, len(ts)-done)
	}
	if n := count1(t, st, `SELECT COUNT(*) FROM round_targets WHERE round = 1`); n != len(ts) {
		t.Errorf("round 1: %d targets stored, want %d", n, len(ts))
	}
	if n := count1(t, st, `SELECT COUNT(*) FROM rounds`); n != 1 {
		t.Errorf("%d rounds, want 1", n)
	}
	if n := count1(t, st, `SELECT COUNT(*) FROM sightings`); n != 8*len(ts) {
		t.Errorf("%d sightings, want %d", n, 8*len(ts))
	}
}
