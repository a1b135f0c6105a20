package store

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/peerfind/peerfind/crawl"
	"github.com/peerfind/peerfind/discovery"
	"github.com/peerfind/peerfind/metainfo"
)

// engines returns the databases every store test runs on: a SQLite file
// through the real driver, and (see postgres_test.go) a PostgreSQL server
// started for the test.
func engines(t *testing.T) map[string]string {
	t.Helper()
	return map[string]string{
		"sqlite":   filepath.Join(t.TempDir(), "t.db"),
		"postgres": postgresDB(t),
	}
}

func testTarget(b byte) *crawl.Target {
	h := metainfo.Hash{b}
	t, _ := crawl.NewTarget(discovery.Target{InfoHashes: []metainfo.Hash{h}, Trackers: [][]string{{"udp://127.0.0.1:6969"}}}, "t", h.String())
	return t
}

func testResult(round int64, tg *crawl.Target, peers ...string) *crawl.Result {
	r := &crawl.Result{Round: round, Target: tg, Start: time.UnixMilli(1767225600000 + round*3600000), Duration: time.Second, Reason: discovery.StopComplete}
	for i, p := range peers {
		src := []string{"udp://127.0.0.1:6969"}
		if i%2 == 1 {
			src = append(src, discovery.SourceDHT)
		}
		r.Peers = append(r.Peers, discovery.PeerInfo{Addr: netip.MustParseAddrPort(p), Sources: src, FirstSeen: time.Duration(i) * time.Millisecond})
	}
	r.Observations = []crawl.Observation{
		{Source: "udp://127.0.0.1:6969", Kind: "tracker", Peers: len(peers), Seeders: 3, Leechers: 4, Completed: -1, Queries: 1},
		{Source: "dht", Kind: "dht", Peers: len(peers) / 2, Seeders: -1, Leechers: -1, Completed: -1, Queries: 2},
	}
	r.Estimate = crawl.Estimate{Low: len(peers), High: len(peers) + 7}
	return r
}

func count(t *testing.T, s *Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow(s.q(query), args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// TestSaveResultIdempotent stores the same round twice, as a retried job
// would, and checks that nothing is counted twice; then a second round
// counts its new peers against the first.
func TestSaveResultIdempotent(t *testing.T) {
	for name, dsn := range engines(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s, err := Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			tg := testTarget(1)
			if err := s.AddTargets(ctx, []*crawl.Target{tg}); err != nil {
				t.Fatal(err)
			}
			r1, err := s.StartRound(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if err := s.SaveResult(ctx, testResult(r1, tg, "127.1.0.1:1", "127.1.0.2:2", "[::1]:3")); err != nil {
					t.Fatal(err)
				}
			}
			for range 2 {
				u := &crawl.ScrapeUpdate{Round: r1, Target: tg, Estimate: crawl.Estimate{Low: 20, High: 30},
					Observations: []crawl.Observation{{Source: "scrape:udp://127.0.0.1:6969", Kind: "scrape", Peers: -1, Seeders: 12, Leechers: 8, Completed: 100, Queries: 1}}}
				if err := s.SaveScrape(ctx, u); err != nil {
					t.Fatal(err)
				}
			}
			if n := count(t, s, `SELECT COUNT(*) FROM observations WHERE kind = 'scrape'`); n != 1 {
				t.Errorf("%d scrape observations after a retried write, want 1", n)
			}
			if n := count(t, s, `SELECT estimate_high FROM round_targets WHERE round = ?`, r1); n != 30 {
				t.Errorf("estimate_high %d after the scrape, want 30", n)
			}
			if err := s.FinishRound(ctx, r1); err != nil {
				t.Fatal(err)
			}
			if n := count(t, s, `SELECT COUNT(*) FROM sightings`); n != 3 {
				t.Errorf("%d sightings after a retried write, want 3", n)
			}
			if n := count(t, s, `SELECT COUNT(*) FROM observations`); n != 3 {
				t.Errorf("%d observations after a retried write, want 3 (tracker, DHT, scrape)", n)
			}
			if n := count(t, s, `SELECT new_peers FROM round_targets WHERE round = ?`, r1); n != 3 {
				t.Errorf("round 1: %d new peers after a retried write, want 3", n)
			}
			r2, err := s.StartRound(ctx, 1)
			if err != nil || r2 != r1+1 {
				t.Fatalf("second round %d, %v; want %d", r2, err, r1+1)
			}
			if _, _, err := s.OpenRound(ctx); err != nil {
				t.Fatalf("the unfinished round 2 is not open: %v", err)
			}
			for range 2 {
				if err := s.SaveResult(ctx, testResult(r2, tg, "127.1.0.2:2", "127.1.0.9:9")); err != nil {
					t.Fatal(err)
				}
			}
			if n := count(t, s, `SELECT new_peers FROM round_targets WHERE round = ?`, r2); n != 1 {
				t.Errorf("round 2: %d new peers, want 1", n)
			}
			if n := count(t, s, `SELECT new_peers FROM observations WHERE round = ? AND source = 'dht'`, r2); n != 1 {
				t.Errorf("round 2: the DHT named %d new peers, want 1", n)
			}
			if n := count(t, s, `SELECT COUNT(*) FROM peers`); n != 4 {
				t.Errorf("%d peers, want 4", n)
			}
			if n := count(t, s, `SELECT first_round FROM peers WHERE address = '127.1.0.2:2'`); n != 1 {
				t.Errorf("a peer of both rounds has first_round %d, want 1", n)
			}
			if n := count(t, s, `SELECT last_round FROM peers WHERE address = '127.1.0.2:2'`); n != 2 {
				t.Errorf("a peer of both rounds has last_round %d, want 2", n)
			}
			if n := count(t, s, `SELECT via_dht FROM peers WHERE address = '127.1.0.2:2'`); n != 1 {
				t.Errorf("a peer the DHT named has via_dht %d", n)
			}
			var peers []PeerRow
			if err := s.Peers(ctx, time.Time{}, func(p PeerRow) error { peers = append(peers, p); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(peers) != 4 {
				t.Errorf("%d peers exported, want 4", len(peers))
			}
			for _, p := range peers {
				if p.Address == "127.1.0.2:2" && (p.Rounds != 2 || p.FirstRound != r1 || p.LastRound != r2 || len(p.Sources) != 2) {
					t.Errorf("a peer of both rounds, named by a tracker and the DHT: %+v", p)
				}
			}
			hist, err := s.History(ctx, tg.Key)
			if err != nil {
				t.Fatal(err)
			}
			if len(hist) != 2 || hist[1].Peers != 2 || len(hist[1].Observations) != 2 || hist[0].EstimateHigh != 30 {
				t.Errorf("history: %+v", hist)
			}
			if _, err := s.History(ctx, metainfo.Hash{9}); err == nil {
				t.Error("history of an unknown target: no error")
			}
			// Reopening migrates nothing and keeps the data.
			s2, err := Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			ts, err := s2.Targets(ctx)
			s2.Close()
			if err != nil || len(ts) != 1 || ts[0].Key != tg.Key || len(ts[0].Search.Trackers) != 1 {
				t.Errorf("targets after reopening: %+v, %v", ts, err)
			}
		})
	}
}
