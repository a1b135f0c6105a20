package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peerfind/peerfind/crawl"
	"github.com/peerfind/peerfind/discovery"
	"github.com/peerfind/peerfind/metainfo"
	"github.com/peerfind/peerfind/store"
)

// TestE2EQueueSQLite runs the job queue on the embedded SQLite database,
// the one code path of every crawl: rounds enqueued with --enqueue and
// worked by a `worker` on the same file end with one scrape of each
// tracker for the whole round, as an in-process crawl's rounds do.
func TestE2EQueueSQLite(t *testing.T) {
	sw, ts := manySwarms(t, 40, 0)
	dir := t.TempDir()
	listPath := writeHashList(t, dir, ts)
	db := filepath.Join(dir, "crawl.db")
	search := []string{"--db", db, "--no-dht", "--tracker", sw.HTTPTracker, "--tracker", sw.UDPTracker, "--tracker-rate", "-1", "--timeout", "5s"}
	if r := runPF(t, nil, append([]string{"crawl", listPath, "--enqueue", "--rounds", "2"}, search...)...); r.code != 0 {
		t.Fatalf("crawl --enqueue: exit %d: %s", r.code, r.stderr)
	}
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n := count1(t, st, `SELECT COUNT(*) FROM round_targets`); n != 0 {
		t.Fatalf("%d targets stored before any worker ran", n)
	}
	w, out := startWorker(t, "sqlite", append([]string{"--rescue-after", "1m"}, search...)...)
	waitCount(t, st, 2, `SELECT COUNT(*) FROM rounds WHERE finished_ms IS NOT NULL`)
	w.Process.Signal(os.Interrupt)
	if err := w.Wait(); err != nil {
		t.Errorf("worker after SIGINT: %v\n%s", err, out.String())
	}
	for round := 1; round <= 2; round++ {
		if n := count1(t, st, `SELECT COUNT(*) FROM round_targets WHERE round = ?`, round); n != len(ts) {
			t.Errorf("round %d: %d targets stored, want %d", round, n, len(ts))
		}
		if n := count1(t, st, `SELECT COUNT(*) FROM sightings WHERE round = ?`, round); n != 8*len(ts) {
			t.Errorf("round %d: %d sightings, want %d", round, n, 8*len(ts))
		}
		// Both trackers scraped for every swarm, and every swarm reported.
		if n := count1(t, st, `SELECT COUNT(*) FROM observations WHERE round = ? AND kind = 'scrape' AND errors = 0`, round); n != 2*len(ts) {
			t.Errorf("round %d: %d scrape observations, want %d", round, n, 2*len(ts))
		}
	}
	if !strings.Contains(out.String(), "round 2 finished") {
		t.Errorf("the worker did not report the rounds' ends:\n%s", out.String())
	}
}

// TestE2ECrawlResumeScrape resumes a round whose every search was stored
// but whose end-of-round scrape never ran (the crawl died in between): the
// resumed crawl searches nothing and scrapes the trackers for the round.
func TestE2ECrawlResumeScrape(t *testing.T) {
	sw, ts := manySwarms(t, 10, 0)
	db := filepath.Join(t.TempDir(), "crawl.db")
	ctx := context.Background()
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var args []string
	var targets []*crawl.Target
	for _, tt := range ts {
		args = append(args, tt.InfoHash.String())
		tg, err := crawl.NewTarget(discovery.Target{InfoHashes: []metainfo.Hash{tt.InfoHash}, Trackers: [][]string{{sw.HTTPTracker}, {sw.UDPTracker}}}, "", tt.InfoHash.String())
		if err != nil {
			t.Fatal(err)
		}
		targets = append(targets, tg)
	}
	if err := st.AddTargets(ctx, targets); err != nil {
		t.Fatal(err)
	}
	round, err := st.StartRound(ctx, len(targets))
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		r := &crawl.Result{Round: round, Target: tg, Start: time.Now(), Reason: discovery.StopComplete}
		for _, u := range []string{sw.HTTPTracker, sw.UDPTracker} {
			r.Observations = append(r.Observations, crawl.Observation{Source: u, Kind: "tracker", Seeders: -1, Leechers: -1, Completed: -1, Queries: 1})
		}
		if err := st.SaveResult(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	r := runPF(t, nil, append(append([]string{"crawl"}, args...), "--db", db, "--no-dht", "--tracker", sw.HTTPTracker, "--tracker", sw.UDPTracker, "--tracker-rate", "-1", "--timeout", "5s")...)
	if r.code != 0 {
		t.Fatalf("resumed crawl: exit %d: %s", r.code, r.stderr)
	}
	if want := "resuming round 1: 10 of 10 targets done"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("the resumed crawl searched again:\n%s", r.stdout)
	}
	if n := count1(t, st, `SELECT COUNT(*) FROM observations WHERE round = 1 AND kind = 'scrape' AND errors = 0 AND seeders >= 0`); n != 2*len(ts) {
		t.Errorf("%d scrape observations, want %d", n, 2*len(ts))
	}
	if n := count1(t, st, `SELECT COUNT(*) FROM rounds WHERE finished_ms IS NOT NULL`); n != 1 {
		t.Errorf("%d rounds finished, want 1", n)
	}
	// The scrape counts the swarm's peers: the estimate rises from 0.
	if n := count1(t, st, `SELECT COUNT(*) FROM round_targets WHERE round = 1 AND estimate > 0`); n != len(ts) {
		t.Errorf("%d targets with an estimate from the scrape, want %d", n, len(ts))
	}
}
