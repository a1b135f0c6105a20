package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// pruneBatch is how many sightings PruneSightings deletes per transaction:
// small enough that a crawl writing to the same SQLite file (one writer at
// a time) waits for one batch, not for the whole prune.
const pruneBatch = 10000

// PruneStats says what PruneSightings deleted.
type PruneStats struct {
	Sightings  int64 // rows deleted
	Rounds     int   // distinct rounds that lost sightings
	FirstRound int64 // the lowest of those rounds; 0 if none
	LastRound  int64 // the highest of those rounds; 0 if none
	Batches    int   // transactions that deleted rows
}

// PruneSightings deletes the per-peer sightings seen before before, in
// transactions of at most 10,000 rows. What says how big a swarm was stays:
// rounds, round_targets, observations, and each peer's row in peers (first
// and last seen, sources, and the number of rounds it was seen in, which
// counts its pruned sightings). Pruning twice deletes nothing the second
// time.
//
// A result stored again for a round after its sightings were pruned (a
// worker's job retried once the round is older than the cutoff) counts
// that round twice in its peers' rounds seen: keep sightings longer than
// a job may be retried.
//
// If ctx ends between batches, the batches done stay done and their
// counts are returned with the error. Several prunes may run at once (two
// workers): each sighting is deleted and counted by one of them.
//
// The deleted rows' space is reused by later rows; SQLite's file and
// PostgreSQL's table do not shrink without a VACUUM (see README.md).
func (s *Store) PruneSightings(ctx context.Context, before time.Time) (PruneStats, error) {
	return s.pruneSightings(ctx, before, pruneBatch)
}

func (s *Store) pruneSightings(ctx context.Context, before time.Time, batch int) (st PruneStats, err error) {
	rounds := map[int64]bool{}
	defer func() {
		st.Rounds = len(rounds)
		for r := range rounds {
			if st.FirstRound == 0 || r < st.FirstRound {
				st.FirstRound = r
			}
			st.LastRound = max(st.LastRound, r)
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return st, fmt.Errorf("store: pruning sightings: %w", err)
		}
		var n int
		n, err = s.pruneBatch(ctx, ms(before), batch, rounds)
		if err != nil {
			return st, fmt.Errorf("store: pruning sightings before %s: %w", before.UTC().Format(time.RFC3339), err)
		}
		if n > 0 {
			st.Sightings += int64(n)
			st.Batches++
		}
		if n < batch {
			return st, nil
		}
	}
}

// pruneBatch deletes up to batch sightings older than beforeMS in one
// transaction, adds each deleted one to its peer's rounds_pruned, and
// once committed adds the rounds touched to rounds.
func (s *Store) pruneBatch(ctx context.Context, beforeMS int64, batch int, rounds map[int64]bool) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if s.postgres {
		// Two prunes deleting overlapping rows in different orders could
		// deadlock; they take turns instead, a batch at a time.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7260376)`); err != nil {
			return 0, fmt.Errorf("locking: %w", err)
		}
	}
	// RETURNING names exactly the rows this transaction deleted, so a
	// concurrent prune (or a result rewriting its round) is never counted
	// twice. The rows come by seen_ms through the sightings_time index.
	rows, err := tx.QueryContext(ctx, s.q(`DELETE FROM sightings WHERE (round, info_hash, address) IN
		(SELECT round, info_hash, address FROM sightings WHERE seen_ms < ? LIMIT ?)
		RETURNING round, info_hash, address`), beforeMS, batch)
	if err != nil {
		return 0, err
	}
	type peer struct{ hash, addr string }
	pruned := map[peer]int{}
	touched := map[int64]bool{}
	n := 0
	for rows.Next() {
		var r int64
		var p peer
		if err := rows.Scan(&r, &p.hash, &p.addr); err != nil {
			rows.Close()
			return 0, err
		}
		touched[r] = true
		pruned[p]++
		n++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	// One UPDATE per target and count, naming up to 500 addresses: a batch
	// is mostly one round of many targets, each peer pruned once.
	type group struct {
		hash string
		n    int
	}
	groups := map[group][]string{}
	for p, k := range pruned {
		g := group{p.hash, k}
		groups[g] = append(groups[g], p.addr)
	}
	for g, addrs := range groups {
		for len(addrs) > 0 {
			chunk := addrs[:min(len(addrs), 500)]
			addrs = addrs[len(chunk):]
			args := make([]any, 0, 2+len(chunk))
			args = append(args, g.n, g.hash)
			for _, a := range chunk {
				args = append(args, a)
			}
			marks := strings.Repeat(", ?", len(chunk))[2:]
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE peers SET rounds_pruned = rounds_pruned + ? WHERE info_hash = ? AND address IN (`+marks+`)`), args...); err != nil {
				return 0, fmt.Errorf("counting pruned rounds: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	for r := range touched {
		rounds[r] = true
	}
	return n, nil
}
