package store

import (
	"context"
	"fmt"
	"time"

	"github.com/peerfind/peerfind/metainfo"
)

// RoundResult is one target's row of one round, with its observations.
type RoundResult struct {
	Round        int64
	Started      time.Time
	Duration     time.Duration
	Reason       string
	Peers        int // distinct peers found
	NewPeers     int // of which never seen before this round
	Estimate     int
	EstimateHigh int
	Err          string
	Observations []ObservationRow
}

// ObservationRow is one row of the observations table, self-contained.
type ObservationRow struct {
	Round     int64     `json:"round"`
	InfoHash  string    `json:"info_hash"`
	Name      string    `json:"name,omitempty"`
	Source    string    `json:"source"`
	Kind      string    `json:"kind"`
	Time      time.Time `json:"time"`
	Peers     int       `json:"peers"`
	NewPeers  int       `json:"new_peers"`
	Seeders   int       `json:"seeders"`
	Leechers  int       `json:"leechers"`
	Completed int       `json:"completed"`
	Queries   int       `json:"queries"`
	Errors    int       `json:"errors"`
	LatencyMS int64     `json:"latency_ms"`
	Err       string    `json:"error,omitempty"`
}

// History returns every round's result for the target h, oldest first;
// ErrNotFound if the target was never crawled.
func (s *Store) History(ctx context.Context, h metainfo.Hash) ([]RoundResult, error) {
	key := h.String()
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT round, started_ms, duration_ms, reason, peers, new_peers, estimate, estimate_high, error
		FROM round_targets WHERE info_hash = ? ORDER BY round`), key)
	if err != nil {
		return nil, fmt.Errorf("store: history of %s: %w", key, err)
	}
	var out []RoundResult
	idx := map[int64]int{}
	for rows.Next() {
		var r RoundResult
		var start, dur int64
		if err := rows.Scan(&r.Round, &start, &dur, &r.Reason, &r.Peers, &r.NewPeers, &r.Estimate, &r.EstimateHigh, &r.Err); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: history of %s: %w", key, err)
		}
		r.Started, r.Duration = time.UnixMilli(start).UTC(), time.Duration(dur)*time.Millisecond
		idx[r.Round] = len(out)
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: history of %s: %w", key, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no rounds stored for %s", ErrNotFound, key)
	}
	err = s.observations(ctx, `WHERE o.info_hash = ?`, []any{key}, func(o ObservationRow) error {
		if i, ok := idx[o.Round]; ok {
			out[i].Observations = append(out[i].Observations, o)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Observations calls fn for every observation made at or after since, in
// order of round, target and source. An error from fn stops it.
func (s *Store) Observations(ctx context.Context, since time.Time, fn func(ObservationRow) error) error {
	return s.observations(ctx, `WHERE o.observed_ms >= ?`, []any{ms(since)}, fn)
}

func (s *Store) observations(ctx context.Context, where string, args []any, fn func(ObservationRow) error) error {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT o.round, o.info_hash, COALESCE(t.name, ''), o.source, o.kind, o.observed_ms, o.peers, o.new_peers,
		o.seeders, o.leechers, o.completed, o.queries, o.errors, o.latency_ms, o.error
		FROM observations o LEFT JOIN targets t ON t.info_hash = o.info_hash `+where+` ORDER BY o.round, o.info_hash, o.source`), args...)
	if err != nil {
		return fmt.Errorf("store: reading observations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var o ObservationRow
		var at int64
		if err := rows.Scan(&o.Round, &o.InfoHash, &o.Name, &o.Source, &o.Kind, &at, &o.Peers, &o.NewPeers,
			&o.Seeders, &o.Leechers, &o.Completed, &o.Queries, &o.Errors, &o.LatencyMS, &o.Err); err != nil {
			return fmt.Errorf("store: reading observations: %w", err)
		}
		o.Time = time.UnixMilli(at).UTC()
		if err := fn(o); err != nil {
			return err
		}
	}
	return rows.Err()
}

// SightingRow is one peer seen in one round for one target, self-contained.
type SightingRow struct {
	Round    int64     `json:"round"`
	InfoHash string    `json:"info_hash"`
	Name     string    `json:"name,omitempty"`
	Address  string    `json:"address"`
	Sources  string    `json:"sources"` // space-separated, in order of sighting
	Time     time.Time `json:"time"`
}

// Sightings calls fn for every peer sighting at or after since, in order
// of round, target and address. An error from fn stops it.
func (s *Store) Sightings(ctx context.Context, since time.Time, fn func(SightingRow) error) error {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT p.round, p.info_hash, COALESCE(t.name, ''), p.address, p.sources, p.seen_ms
		FROM sightings p LEFT JOIN targets t ON t.info_hash = p.info_hash WHERE p.seen_ms >= ? ORDER BY p.round, p.info_hash, p.address`), ms(since))
	if err != nil {
		return fmt.Errorf("store: reading sightings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r SightingRow
		var at int64
		if err := rows.Scan(&r.Round, &r.InfoHash, &r.Name, &r.Address, &r.Sources, &at); err != nil {
			return fmt.Errorf("store: reading sightings: %w", err)
		}
		r.Time = time.UnixMilli(at).UTC()
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// PeerRow is one peer of one target over all rounds, self-contained.
type PeerRow struct {
	InfoHash   string    `json:"info_hash"`
	Name       string    `json:"name,omitempty"`
	Address    string    `json:"address"`
	FirstSeen  time.Time `json:"first_seen"`
	LastSeen   time.Time `json:"last_seen"`
	FirstRound int64     `json:"first_round"`
	LastRound  int64     `json:"last_round"`
	Rounds     int       `json:"rounds"`  // rounds in which it was seen
	Sources    []string  `json:"sources"` // the kinds of source that ever named it: tracker, dht, magnet
}

// Peers calls fn for every peer last seen at or after since, in order of
// target and address. An error from fn stops it.
func (s *Store) Peers(ctx context.Context, since time.Time, fn func(PeerRow) error) error {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT p.info_hash, COALESCE(t.name, ''), p.address, p.first_seen_ms, p.last_seen_ms, p.first_round, p.last_round,
		COALESCE(g.n, 0) + p.rounds_pruned, p.via_tracker, p.via_dht, p.via_magnet
		FROM peers p LEFT JOIN targets t ON t.info_hash = p.info_hash
		LEFT JOIN (SELECT info_hash, address, COUNT(*) AS n FROM sightings GROUP BY info_hash, address) g ON g.info_hash = p.info_hash AND g.address = p.address
		WHERE p.last_seen_ms >= ? ORDER BY p.info_hash, p.address`), ms(since))
	if err != nil {
		return fmt.Errorf("store: reading peers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r PeerRow
		var first, last int64
		var viaT, viaD, viaM int
		if err := rows.Scan(&r.InfoHash, &r.Name, &r.Address, &first, &last, &r.FirstRound, &r.LastRound, &r.Rounds, &viaT, &viaD, &viaM); err != nil {
			return fmt.Errorf("store: reading peers: %w", err)
		}
		r.FirstSeen, r.LastSeen = time.UnixMilli(first).UTC(), time.UnixMilli(last).UTC()
		r.Sources = []string{}
		for _, k := range []struct {
			on   int
			name string
		}{{viaT, "tracker"}, {viaD, "dht"}, {viaM, "magnet"}} {
			if k.on != 0 {
				r.Sources = append(r.Sources, k.name)
			}
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}
