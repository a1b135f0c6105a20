package queue

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/peerfind/peerfind/crawl"
	"github.com/peerfind/peerfind/discovery"
	"github.com/peerfind/peerfind/metainfo"
	"github.com/peerfind/peerfind/store"
	"github.com/peerfind/peerfind/tracker"
)

// TestRoundOnSQLite works a round on the embedded SQLite queue, with the
// real River SQLite driver and a tracker on loopback: every target stored
// once, the round ended by one round-end job that scraped the tracker for
// all of the round's swarms, and a round enqueued again not duplicated.
func TestRoundOnSQLite(t *testing.T) {
	const n = 30
	srv := &tracker.Server{}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	announce := hs.URL + "/announce"
	var targets []*crawl.Target
	for i := range n {
		h := metainfo.Hash{0xc0, byte(i + 1)}
		for p := range 3 {
			srv.AddPeer(h, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i), byte(p + 1)}), 6881), p == 0)
		}
		tg, err := crawl.NewTarget(discovery.Target{InfoHashes: []metainfo.Hash{h}, Trackers: [][]string{{announce}}}, fmt.Sprint("t", i), h.String())
		if err != nil {
			t.Fatal(err)
		}
		targets = append(targets, tg)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := filepath.Join(t.TempDir(), "q.db")
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q, err := Open(ctx, st, db)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	round, err := q.Enqueue(ctx, targets)
	if err != nil {
		t.Fatal(err)
	}
	// Enqueued again (a resumed crawl does so): unique jobs, no duplicates.
	if err := q.Insert(ctx, round, targets); err != nil {
		t.Fatal(err)
	}

	tc := &tracker.Client{}
	defer tc.Close()
	cr := crawl.New(crawl.Config{Search: discovery.Config{Trackers: tc, Settle: -1}, Scraper: tc, TrackerRate: -1})
	var (
		mu      sync.Mutex
		results = map[metainfo.Hash]int{}
		scrapes int
		ends    []int64
	)
	rctx, stop := context.WithCancel(ctx)
	err = q.Run(rctx, Config{
		Crawler:    cr,
		JobTimeout: 30 * time.Second,
		OnResult: func(r *crawl.Result) {
			mu.Lock()
			results[r.Target.Key]++
			mu.Unlock()
		},
		OnScrape: func(*crawl.ScrapeUpdate) {
			mu.Lock()
			scrapes++
			mu.Unlock()
		},
		OnRoundEnd: func(r int64) {
			mu.Lock()
			ends = append(ends, r)
			mu.Unlock()
			stop()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ends) != 1 || ends[0] != round {
		t.Fatalf("round ends %v, want [%d] (interrupted by the test's deadline?)", ends, round)
	}
	for _, tg := range targets {
		if results[tg.Key] != 1 {
			t.Errorf("target %v: %d results, want 1", tg.Key, results[tg.Key])
		}
	}
	if scrapes != n {
		t.Errorf("%d scrape updates, want %d", scrapes, n)
	}
	rs, err := st.RoundStatus(ctx, round)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Finished.IsZero() || rs.Done != n {
		t.Errorf("round %+v, want finished with %d targets", rs, n)
	}
	var jobs, sightings, scrapeRows int
	for _, c := range []struct {
		dst   *int
		query string
	}{
		{&jobs, `SELECT COUNT(*) FROM river_job WHERE kind = 'peerfind_target'`},
		{&sightings, `SELECT COUNT(*) FROM sightings`},
		{&scrapeRows, `SELECT COUNT(*) FROM observations WHERE kind = 'scrape' AND seeders = 1 AND leechers = 2`},
	} {
		if err := st.DB().QueryRowContext(ctx, c.query).Scan(c.dst); err != nil {
			t.Fatal(err)
		}
	}
	if jobs != n || sightings != 3*n || scrapeRows != n {
		t.Errorf("%d jobs, %d sightings, %d scrape rows; want %d, %d, %d", jobs, sightings, scrapeRows, n, 3*n, n)
	}
}
