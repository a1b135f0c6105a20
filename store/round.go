package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/peerfind/peerfind/crawl"
	"github.com/peerfind/peerfind/discovery"
	"github.com/peerfind/peerfind/metainfo"
)

// RoundStatus returns round's row and how many of its targets hold a
// result; ErrNotFound if there is no such round.
func (s *Store) RoundStatus(ctx context.Context, round int64) (*Round, error) {
	r := &Round{Round: round}
	var started int64
	var finished sql.NullInt64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT started_ms, finished_ms, targets,
		(SELECT COUNT(*) FROM round_targets WHERE round = ?) FROM rounds WHERE round = ?`), round, round).Scan(&started, &finished, &r.Targets, &r.Done)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: round %d: %w", round, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: round %d: %w", round, err)
	}
	r.Started = time.UnixMilli(started)
	if finished.Valid {
		r.Finished = time.UnixMilli(finished.Int64)
	}
	return r, nil
}

// RoundResults returns the stored results of round, one per target, as
// crawl.Scrape needs them: the target, the observations other than
// scrapes, and the peer counts (Found, Untracked) but not the peers.
func (s *Store) RoundResults(ctx context.Context, round int64) ([]*crawl.Result, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT rt.info_hash, t.name, t.spec, t.search, rt.started_ms, rt.duration_ms, rt.reason, rt.peers, rt.untracked, rt.error
		FROM round_targets rt JOIN targets t ON t.info_hash = rt.info_hash WHERE rt.round = ? ORDER BY rt.info_hash`), round)
	if err != nil {
		return nil, fmt.Errorf("store: results of round %d: %w", round, err)
	}
	var out []*crawl.Result
	byHash := map[string]*crawl.Result{}
	for rows.Next() {
		var h, name, spec, search, reason, errText string
		var start, dur int64
		r := &crawl.Result{Round: round}
		if err := rows.Scan(&h, &name, &spec, &search, &start, &dur, &reason, &r.Found, &r.Untracked, &errText); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: results of round %d: %w", round, err)
		}
		if r.Target, err = decodeTarget(h, name, spec, search); err != nil {
			rows.Close()
			return nil, err
		}
		r.Start, r.Duration, r.Reason = time.UnixMilli(start), time.Duration(dur)*time.Millisecond, discovery.StopReason(reason)
		if errText != "" {
			r.Err = errors.New(errText)
		}
		out = append(out, r)
		byHash[h] = r
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: results of round %d: %w", round, err)
	}
	err = s.observations(ctx, `WHERE o.round = ? AND o.kind <> 'scrape'`, []any{round}, func(o ObservationRow) error {
		if r := byHash[o.InfoHash]; r != nil {
			r.Observations = append(r.Observations, crawl.Observation{
				Source: o.Source, Kind: o.Kind, Peers: o.Peers,
				Seeders: o.Seeders, Leechers: o.Leechers, Completed: o.Completed,
				Queries: o.Queries, Errors: o.Errors,
				Latency: time.Duration(o.LatencyMS) * time.Millisecond, Err: o.Err,
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// HasResult reports whether round holds a result for the target h: a job
// whose result was stored but whose completion its worker did not live to
// record need not search again.
func (s *Store) HasResult(ctx context.Context, round int64, h metainfo.Hash) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM round_targets WHERE round = ? AND info_hash = ?`), round, h.String()).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: round %d, target %v: %w", round, h, err)
	}
	return n > 0, nil
}
