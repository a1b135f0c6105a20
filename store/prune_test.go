package store

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/peerfind/peerfind/crawl"
	"github.com/peerfind/peerfind/discovery"
)

// roundStart is when testResult's round r started: sighting i of the
// round is seen i ms later.
func roundStart(r int64) time.Time { return time.UnixMilli(1767225600000 + r*3600000) }

// pruneFixture stores three finished rounds of two targets: round 1 finds
// a, b, c; round 2 b, c, d; round 3 d, e. Each round's peer i is seen i ms
// after its start.
func pruneFixture(t *testing.T, ctx context.Context, s *Store) []*crawl.Target {
	t.Helper()
	tgs := []*crawl.Target{testTarget(1), testTarget(2)}
	if err := s.AddTargets(ctx, tgs); err != nil {
		t.Fatal(err)
	}
	for _, peers := range [][]string{
		{"127.1.0.1:1", "127.1.0.2:2", "127.1.0.3:3"},
		{"127.1.0.2:2", "127.1.0.3:3", "[::1]:4"},
		{"[::1]:4", "127.1.0.5:5"},
	} {
		r, err := s.StartRound(ctx, len(tgs))
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range tgs {
			if err := s.SaveResult(ctx, testResult(r, tg, peers...)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.FinishRound(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	return tgs
}

// summary is what pruning must leave as it was: every peer's row, every
// target's history, the rounds and observations.
type summary struct {
	Peers        []PeerRow
	History      [][]RoundResult
	Rounds       int
	Observations int
}

func summarize(t *testing.T, ctx context.Context, s *Store, tgs []*crawl.Target) summary {
	t.Helper()
	var sm summary
	if err := s.Peers(ctx, time.Time{}, func(p PeerRow) error { sm.Peers = append(sm.Peers, p); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, tg := range tgs {
		h, err := s.History(ctx, tg.Key)
		if err != nil {
			t.Fatal(err)
		}
		sm.History = append(sm.History, h)
	}
	sm.Rounds = count(t, s, `SELECT COUNT(*) FROM rounds`)
	sm.Observations = count(t, s, `SELECT COUNT(*) FROM observations`)
	return sm
}

// TestPruneSightings prunes at several cutoffs and batch sizes on both
// engines: the sightings before the cutoff go, the later ones stay, the
// per-peer summary (rounds seen included), the history, the rounds and
// the observations stay as they were, and a second prune deletes nothing.
func TestPruneSightings(t *testing.T) {
	const perRound = 2 * 3 // round 1: two targets × three peers
	tests := []struct {
		name       string
		before     time.Time
		batch      int
		deleted    int64
		rounds     int
		first      int64
		last       int64
		batches    int
		keptRounds map[int64]int // sightings left per round
	}{
		{"nothing older", roundStart(1), 1000, 0, 0, 0, 0, 0, map[int64]int{1: 6, 2: 6, 3: 4}},
		{"rounds 1 and 2", roundStart(3), 1000, 12, 2, 1, 2, 1, map[int64]int{3: 4}},
		{"rounds 1 and 2, batches of 5", roundStart(3), 5, 12, 2, 1, 2, 3, map[int64]int{3: 4}},
		{"round 1, batch boundary", roundStart(2), perRound, 6, 1, 1, 1, 1, map[int64]int{2: 6, 3: 4}},
		{"round 1, batches of 1", roundStart(2), 1, 6, 1, 1, 1, 6, map[int64]int{2: 6, 3: 4}},
		// Peers 0 and 1 of round 2 are seen at +0 and +1 ms.
		{"inside round 2", roundStart(2).Add(2 * time.Millisecond), 4, 10, 2, 1, 2, 3, map[int64]int{2: 2, 3: 4}},
		{"everything", roundStart(4), 7, 16, 3, 1, 3, 3, map[int64]int{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for engine, dsn := range engines(t) {
				t.Run(engine, func(t *testing.T) {
					ctx := context.Background()
					s, err := Open(ctx, dsn)
					if err != nil {
						t.Fatal(err)
					}
					defer s.Close()
					tgs := pruneFixture(t, ctx, s)
					was := summarize(t, ctx, s, tgs)

					st, err := s.pruneSightings(ctx, tc.before, tc.batch)
					if err != nil {
						t.Fatal(err)
					}
					want := PruneStats{Sightings: tc.deleted, Rounds: tc.rounds, FirstRound: tc.first, LastRound: tc.last, Batches: tc.batches}
					if st != want {
						t.Errorf("stats %+v, want %+v", st, want)
					}
					for r := int64(1); r <= 3; r++ {
						if n := count(t, s, `SELECT COUNT(*) FROM sightings WHERE round = ?`, r); n != tc.keptRounds[r] {
							t.Errorf("round %d: %d sightings left, want %d", r, n, tc.keptRounds[r])
						}
					}
					if n := count(t, s, `SELECT COUNT(*) FROM sightings WHERE seen_ms < ?`, ms(tc.before)); n != 0 {
						t.Errorf("%d sightings older than the cutoff left", n)
					}
					if got := summarize(t, ctx, s, tgs); !reflect.DeepEqual(got, was) {
						t.Errorf("the summary changed:\n got %+v\nwant %+v", got, was)
					}
					var left int
					err = s.Sightings(ctx, tc.before, func(SightingRow) error { left++; return nil })
					if total := 6 + 6 + 4 - int(tc.deleted); err != nil || left != total {
						t.Errorf("Sightings since the cutoff: %d rows, %v; want %d", left, err, total)
					}

					again, err := s.pruneSightings(ctx, tc.before, tc.batch)
					if err != nil || again != (PruneStats{}) {
						t.Errorf("a second prune: %+v, %v; want nothing done", again, err)
					}
					if got := summarize(t, ctx, s, tgs); !reflect.DeepEqual(got, was) {
						t.Errorf("the summary changed on the second prune:\n got %+v\nwant %+v", got, was)
					}
				})
			}
		})
	}
}

// TestPruneSightingsManyBatches prunes more sightings than one batch of
// PruneSightings holds, then stores a new round on top: its new peers and
// rounds seen are counted against the pruned ones.
func TestPruneSightingsManyBatches(t *testing.T) {
	const n = pruneBatch + 57
	for engine, dsn := range engines(t) {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			s, err := Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			tg := testTarget(1)
			r := &crawl.Result{Round: 1, Target: tg, Start: roundStart(1), Duration: time.Minute, Reason: discovery.StopComplete}
			for i := range n {
				addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 2, byte(i >> 8), byte(i)}), 6881)
				r.Peers = append(r.Peers, discovery.PeerInfo{Addr: addr, Sources: []string{"udp://127.0.0.1:6969"}})
			}
			if _, err := s.StartRound(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if err := s.SaveResult(ctx, r); err != nil {
				t.Fatal(err)
			}
			st, err := s.PruneSightings(ctx, roundStart(2))
			if err != nil {
				t.Fatal(err)
			}
			if want := (PruneStats{Sightings: n, Rounds: 1, FirstRound: 1, LastRound: 1, Batches: 2}); st != want {
				t.Errorf("stats %+v, want %+v", st, want)
			}
			if c := count(t, s, `SELECT COUNT(*) FROM sightings`); c != 0 {
				t.Errorf("%d sightings left", c)
			}
			if c := count(t, s, `SELECT SUM(rounds_pruned) FROM peers`); c != n {
				t.Errorf("rounds_pruned sums to %d, want %d", c, n)
			}
			// Round 2 sees the first peer again and one new one.
			if _, err := s.StartRound(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if err := s.SaveResult(ctx, testResult(2, tg, r.Peers[0].Addr.String(), "127.3.0.1:1")); err != nil {
				t.Fatal(err)
			}
			if c := count(t, s, `SELECT new_peers FROM round_targets WHERE round = 2`); c != 1 {
				t.Errorf("round 2: %d new peers, want 1", c)
			}
			rounds := map[string]int{}
			if err := s.Peers(ctx, time.Time{}, func(p PeerRow) error { rounds[p.Address] = p.Rounds; return nil }); err != nil {
				t.Fatal(err)
			}
			for addr, want := range map[string]int{r.Peers[0].Addr.String(): 2, r.Peers[1].Addr.String(): 1, "127.3.0.1:1": 1} {
				if rounds[addr] != want {
					t.Errorf("peer %s: seen in %d rounds, want %d", addr, rounds[addr], want)
				}
			}
			if len(rounds) != n+1 {
				t.Errorf("%d peers, want %d", len(rounds), n+1)
			}
		})
	}
}

// TestPruneSightingsCanceled: a prune whose context is done deletes
// nothing and says why.
func TestPruneSightingsCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pruneFixture(t, ctx, s)
	cancel()
	st, err := s.pruneSightings(ctx, roundStart(4), 1)
	if !errors.Is(err, context.Canceled) || st != (PruneStats{}) {
		t.Errorf("a prune with its context done: %+v, %v", st, err)
	}
	if c := count(t, s, `SELECT COUNT(*) FROM sightings`); c != 16 {
		t.Errorf("%d sightings left, want all 16", c)
	}
}
