package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peerfind/peerfind/internal/testutil"
	"github.com/peerfind/peerfind/store"
)

func TestParseAge(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"720h", 720 * time.Hour, true},
		{"30d", 30 * 24 * time.Hour, true},
		{"0d", 0, true},
		{"0", 0, true},
		{"1h30m", 90 * time.Minute, true},
		{"-1h", 0, false},
		{"-1d", 0, false},
		{"1.5d", 0, false},
		{"d", 0, false},
		{"30 d", 0, false},
		{"999999999d", 0, false},
		{"3x", 0, false},
		{"", 0, false},
	} {
		got, err := parseAge(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseAge(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// crawlTwoRounds crawls n torrents of a local swarm (trackers only) for
// two rounds into a new SQLite file, with extra crawl flags.
func crawlTwoRounds(t *testing.T, n int, extra ...string) (db string, r result) {
	t.Helper()
	sw, ts := manySwarms(t, n, 0)
	dir := t.TempDir()
	listPath := writeHashList(t, dir, ts)
	db = filepath.Join(dir, "crawl.db")
	args := append([]string{"crawl", listPath, "--db", db, "--rounds", "2", "--no-dht", "--timeout", "20s",
		"--tracker", sw.HTTPTracker, "--tracker", sw.UDPTracker, "--tracker-rate", "-1"}, extra...)
	r = runPF(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("crawl: exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	return db, r
}

// export runs peerfind export with args and returns its CSV rows.
func exportRows(t *testing.T, db string, args ...string) [][]string {
	t.Helper()
	r := runPF(t, nil, append([]string{"export", "--db", db, "--format", "csv"}, args...)...)
	recs, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if r.code != 0 || err != nil {
		t.Fatalf("export %v: exit %d, %v: %s", args, r.code, err, r.stderr)
	}
	return recs
}

// TestE2EPrune crawls two rounds, ages the first round's sightings by 40
// days in the database, and prunes those older than 30 days: round 1's
// sightings go, round 2's stay, and history and the observations and
// peers exports read exactly as before; a second prune deletes nothing.
func TestE2EPrune(t *testing.T) {
	const targets, peers = 6, 8 // manySwarms puts 8 peers in each torrent
	db, _ := crawlTwoRounds(t, targets)
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().Exec(`UPDATE sightings SET seen_ms = seen_ms - ? WHERE round = 1`, (40 * 24 * time.Hour).Milliseconds()); err != nil {
		t.Fatal(err)
	}
	var hash string
	if err := st.DB().QueryRow(`SELECT info_hash FROM targets ORDER BY info_hash LIMIT 1`).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	st.Close()

	history := func() string {
		r := runPF(t, nil, "history", hash, "--db", db, "--json")
		if r.code != 0 {
			t.Fatalf("history: exit %d: %s", r.code, r.stderr)
		}
		return r.stdout
	}
	histWas, obsWas, peersWas := history(), exportRows(t, db), exportRows(t, db, "--rows", "peers")
	if len(peersWas) != 1+targets*peers {
		t.Fatalf("%d peers exported before the prune, want %d", len(peersWas)-1, targets*peers)
	}

	r := runPF(t, nil, "prune", "--older-than", "30d", "--db", db, "--json")
	if r.code != 0 {
		t.Fatalf("prune: exit %d: %s", r.code, r.stderr)
	}
	var got jsonPrune
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("prune --json %q: %v", r.stdout, err)
	}
	if got.Type != "prune" || got.Sightings != targets*peers || got.Rounds != 1 || got.FirstRound != 1 || got.LastRound != 1 || got.Batches != 1 {
		t.Errorf("prune --json: %+v, want %d sightings of round 1", got, targets*peers)
	}
	if ago := time.Since(got.Before); ago < 30*24*time.Hour || ago > 31*24*time.Hour {
		t.Errorf("prune --json: before %v, want 30 days ago", got.Before)
	}

	sightings := exportRows(t, db, "--rows", "sightings")
	if len(sightings) != 1+targets*peers {
		t.Errorf("%d sightings left, want round 2's %d", len(sightings)-1, targets*peers)
	}
	for _, rec := range sightings[1:] {
		if rec[2] != "2" {
			t.Errorf("a sighting of round %s is left", rec[2])
		}
	}
	if h := history(); h != histWas {
		t.Errorf("history changed:\n%s\nwas\n%s", h, histWas)
	}
	if obs := exportRows(t, db); !equalRows(obs, obsWas) {
		t.Errorf("the observations changed: %d rows, were %d", len(obs), len(obsWas))
	}
	if p := exportRows(t, db, "--rows", "peers"); !equalRows(p, peersWas) {
		t.Errorf("the peers changed:\n%v\nwere\n%v", p, peersWas)
	}

	r = runPF(t, nil, "prune", "--older-than", "720h", "--db", db)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "no sightings older than ") {
		t.Errorf("a second prune: exit %d, %q: %s", r.code, r.stdout, r.stderr)
	}
}

func equalRows(a, b [][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if strings.Join(a[i], "\x00") != strings.Join(b[i], "\x00") {
			return false
		}
	}
	return true
}

// TestE2EPruneFlags: bad values are usage errors naming the flag, found
// before the database is touched.
func TestE2EPruneFlags(t *testing.T) {
	db := filepath.Join(t.TempDir(), "absent", "x.db")
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"prune"}, "--older-than"},
		{[]string{"prune", "--older-than", "3x"}, "--older-than"},
		{[]string{"prune", "--older-than", "-1h"}, "--older-than"},
		{[]string{"prune", "--older-than", "0"}, "--older-than"},
		{[]string{"prune", "--older-than", "1.5d"}, "--older-than"},
		{[]string{"prune", "--older-than", "30d", "extra"}, "argument"},
		{[]string{"crawl", "0123456789abcdef0123456789abcdef01234567", "--keep-sightings", "1y"}, "--keep-sightings"},
		{[]string{"crawl", "0123456789abcdef0123456789abcdef01234567", "--keep-sightings", "1d", "--enqueue"}, "--keep-sightings"},
		{[]string{"worker", "--keep-sightings", "-2d"}, "--keep-sightings"},
	} {
		r := runPF(t, nil, append(tc.args, "--db", db)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.flag) {
			t.Errorf("%v: exit %d, want %d naming %s: %s", tc.args, r.code, exitUsage, tc.flag, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Dir(db)); !os.IsNotExist(err) {
		t.Errorf("a rejected command touched the database's directory: %v", err)
	}
}

// TestE2ECrawlKeepSightings crawls two rounds with --keep-sightings 1ms:
// what each round's prune reports (NDJSON "prune" events) is what is gone
// from the database, and every peer is still counted in both rounds.
func TestE2ECrawlKeepSightings(t *testing.T) {
	const targets, peers = 5, 8
	db, r := crawlTwoRounds(t, targets, "--keep-sightings", "1ms", "--json")
	var pruned int64
	for line := range strings.Lines(r.stdout) {
		var e jsonPrune
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("stdout line %q: %v", line, err)
		}
		if e.Type == "prune" {
			pruned += e.Sightings
		}
	}
	left := len(exportRows(t, db, "--rows", "sightings")) - 1
	if want := 2*targets*peers - int(pruned); left != want {
		t.Errorf("%d sightings left, want %d stored less the %d pruned", left, want, pruned)
	}
	ps := exportRows(t, db, "--rows", "peers")
	if len(ps) != 1+targets*peers {
		t.Fatalf("%d peers exported, want %d", len(ps)-1, targets*peers)
	}
	for _, rec := range ps[1:] {
		if rec[5] != "1" || rec[6] != "2" || rec[7] != "2" {
			t.Errorf("a peer of both rounds exported as %v", rec)
		}
	}
}

// TestE2EWorkerKeepSightings works two enqueued rounds with a worker
// pruning as it goes (--keep-sightings 1ms) on a real PostgreSQL server:
// whatever it pruned, every sighting is either still stored or counted in
// its peer's pruned rounds, and every peer is counted in both rounds.
func TestE2EWorkerKeepSightings(t *testing.T) {
	pg, err := testutil.StartPostgres()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Stop() })
	dsn, err := pg.CreateDB("keep")
	if err != nil {
		t.Fatal(err)
	}
	const targets, peers = 10, 8
	sw, ts := manySwarms(t, targets, 0)
	args := []string{"crawl", "--enqueue", "--rounds", "2"}
	for _, tt := range ts {
		args = append(args, tt.InfoHash.String())
	}
	search := []string{"--db", dsn, "--no-dht", "--tracker", sw.HTTPTracker, "--tracker", sw.UDPTracker, "--tracker-rate", "-1", "--timeout", "3s"}
	if r := runPF(t, nil, append(args, search...)...); r.code != 0 {
		t.Fatalf("crawl --enqueue: exit %d: %s", r.code, r.stderr)
	}
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w, out := startWorker(t, "keeper", append([]string{"--keep-sightings", "1ms"}, search...)...)
	waitCount(t, st, 2, `SELECT COUNT(*) FROM rounds WHERE finished_ms IS NOT NULL`)
	w.Process.Signal(os.Interrupt)
	if err := w.Wait(); err != nil {
		t.Errorf("worker after SIGINT: %v\n%s", err, out.String())
	}
	left := count1(t, st, `SELECT COUNT(*) FROM sightings`)
	pruned := count1(t, st, `SELECT COALESCE(SUM(rounds_pruned), 0) FROM peers`)
	if left+pruned != 2*targets*peers {
		t.Errorf("%d sightings left and %d pruned, want %d in all", left, pruned, 2*targets*peers)
	}
	n := 0
	err = st.Peers(context.Background(), time.Time{}, func(p store.PeerRow) error {
		n++
		if p.Rounds != 2 {
			t.Errorf("peer %s of %s: %d rounds, want 2", p.Address, p.InfoHash, p.Rounds)
		}
		return nil
	})
	if err != nil || n != targets*peers {
		t.Errorf("%d peers, %v; want %d", n, err, targets*peers)
	}
	t.Logf("%d of %d sightings pruned by the worker", pruned, 2*targets*peers)
}
