// Package store keeps crawl results in a SQL database: SQLite (embedded,
// pure Go, through modernc.org/sqlite) or PostgreSQL (through pgx). Both
// run the same SQL; the schema is in schema.go and README.md.
//
// Every write of a round's result for one target replaces what an earlier
// write of the same (round, target) stored, in one transaction, so a
// retried or resumed job never counts twice.
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"

	"github.com/peerfind/peerfind/crawl"
	"github.com/peerfind/peerfind/discovery"
	"github.com/peerfind/peerfind/metainfo"
)

// ErrNotFound is returned for a target or round the database does not hold.
var ErrNotFound = errors.New("store: not found")

// Store is an open database. It is safe for concurrent use.
type Store struct {
	db       *sql.DB
	postgres bool
}

// IsPostgres reports whether dsn names a PostgreSQL database
// (postgres:// or postgresql://) rather than a SQLite file.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open opens the database dsn — a postgres:// URL or a SQLite file path,
// created if missing — and brings its schema up to date.
func Open(ctx context.Context, dsn string) (*Store, error) {
	s := &Store{postgres: IsPostgres(dsn)}
	var err error
	if s.postgres {
		s.db, err = sql.Open("pgx", dsn)
	} else {
		// WAL lets readers (history, export) run while a crawl writes; the
		// busy timeout lets two processes share the file.
		s.db, err = sql.Open("sqlite", dsn+"?_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
		s.db.SetMaxOpenConns(1) // one writer; database/sql queues the rest
	}
	if err != nil {
		return nil, fmt.Errorf("store: opening %s: %w", redact(dsn), err)
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("store: %s: %w", redact(dsn), err)
	}
	return s, nil
}

// redact drops the password from a PostgreSQL URL for error messages.
func redact(dsn string) string {
	if !IsPostgres(dsn) {
		return dsn
	}
	scheme, rest, _ := strings.Cut(dsn, "://")
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if user, _, ok := strings.Cut(rest[:at], ":"); ok {
			rest = user + ":xxxxx" + rest[at:]
		}
	}
	return scheme + "://" + rest
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// DB returns the underlying database, for queries of the caller's own.
func (s *Store) DB() *sql.DB { return s.db }

// q adapts a query written for SQLite to the engine: placeholders become
// $1, $2, ... and the two-argument min and max become least and greatest
// for PostgreSQL.
func (s *Store) q(query string) string {
	if !s.postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteByte(query[i])
	}
	return strings.NewReplacer("min(", "least(", "max(", "greatest(").Replace(b.String())
}

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if s.postgres {
		// Two workers starting at once must not both migrate.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7260375)`); err != nil {
			return fmt.Errorf("locking the schema: %w", err)
		}
	}
	// A write first, so that SQLite takes the write lock before reading.
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_ms BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	var v int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return fmt.Errorf("reading the schema version: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this peerfind knows (%d)", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, applied_ms) VALUES (?, ?)`), i+1, ms(time.Now())); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	return tx.Commit()
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// AddTargets records the targets (a target already known gets the new name,
// spec and search).
func (s *Store) AddTargets(ctx context.Context, targets []*crawl.Target) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, s.q(`INSERT INTO targets (info_hash, name, spec, search, added_ms) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (info_hash) DO UPDATE SET name = excluded.name, spec = excluded.spec, search = excluded.search`))
	if err != nil {
		return err
	}
	defer st.Close()
	now := ms(time.Now())
	for _, t := range targets {
		js, err := json.Marshal(t.Search)
		if err != nil {
			return fmt.Errorf("store: target %v: %w", t.Key, err)
		}
		if _, err := st.ExecContext(ctx, t.Key.String(), t.Name, t.Spec, string(js), now); err != nil {
			return fmt.Errorf("store: target %v: %w", t.Key, err)
		}
	}
	return tx.Commit()
}

// Targets returns every recorded target, by info hash.
func (s *Store) Targets(ctx context.Context) ([]*crawl.Target, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT info_hash, name, spec, search FROM targets ORDER BY info_hash`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*crawl.Target
	for rows.Next() {
		var h, name, spec, search string
		if err := rows.Scan(&h, &name, &spec, &search); err != nil {
			return nil, err
		}
		t, err := decodeTarget(h, name, spec, search)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func decodeTarget(h, name, spec, search string) (*crawl.Target, error) {
	key, err := metainfo.ParseHash(h)
	if err != nil {
		return nil, fmt.Errorf("store: target %q: %w", h, err)
	}
	t := &crawl.Target{Key: key, Name: name, Spec: spec}
	if err := json.Unmarshal([]byte(search), &t.Search); err != nil {
		return nil, fmt.Errorf("store: target %s: its search: %w", h, err)
	}
	if len(t.Search.InfoHashes) == 0 {
		t.Search.InfoHashes = []metainfo.Hash{key}
	}
	return t, nil
}

// Round is one row of the rounds table.
type Round struct {
	Round    int64
	Started  time.Time
	Finished time.Time // zero while under way
	Targets  int
	Done     int // targets with a stored result
}

// StartRound records a new round of n targets and returns its number, one
// more than the last.
func (s *Store) StartRound(ctx context.Context, n int) (int64, error) {
	for try := 0; ; try++ {
		var last int64
		if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(round), 0) FROM rounds`).Scan(&last); err != nil {
			return 0, err
		}
		_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO rounds (round, started_ms, targets) VALUES (?, ?, ?)`), last+1, ms(time.Now()), n)
		if err == nil {
			return last + 1, nil
		}
		if try == 3 { // another process took the number each time
			return 0, fmt.Errorf("store: starting round %d: %w", last+1, err)
		}
	}
}

// OpenRound returns the latest round if it is unfinished, and the targets
// it already holds results for; ErrNotFound if every round is finished.
func (s *Store) OpenRound(ctx context.Context) (*Round, map[metainfo.Hash]bool, error) {
	r := &Round{}
	var started int64
	var finished sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT round, started_ms, finished_ms, targets FROM rounds ORDER BY round DESC LIMIT 1`).Scan(&r.Round, &started, &finished, &r.Targets)
	if errors.Is(err, sql.ErrNoRows) || err == nil && finished.Valid {
		return nil, nil, ErrNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	r.Started = time.UnixMilli(started)
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT info_hash FROM round_targets WHERE round = ?`), r.Round)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	done := map[metainfo.Hash]bool{}
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, nil, err
		}
		if k, err := metainfo.ParseHash(h); err == nil {
			done[k] = true
		}
	}
	r.Done = len(done)
	return r, done, rows.Err()
}

// FinishRound marks round finished.
func (s *Store) FinishRound(ctx context.Context, round int64) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE rounds SET finished_ms = ? WHERE round = ?`), ms(time.Now()), round)
	return err
}

// SaveScrape stores what a round's scrape added for one target: its
// scrape observations replace those stored before for the same round and
// target, and the target's estimate of the round is updated.
func (s *Store) SaveScrape(ctx context.Context, u *crawl.ScrapeUpdate) error {
	return s.SaveScrapes(ctx, []*crawl.ScrapeUpdate{u})
}

// SaveScrapes stores several scrape updates as SaveScrape does, in one
// transaction.
func (s *Store) SaveScrapes(ctx context.Context, us []*crawl.ScrapeUpdate) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback()
	for _, u := range us {
		if err := s.saveScrape(ctx, tx, u); err != nil {
			return fmt.Errorf("store: round %d, target %v, scrape: %w", u.Round, u.Target.Key, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

func (s *Store) saveScrape(ctx context.Context, tx *sql.Tx, u *crawl.ScrapeUpdate) error {
	h := u.Target.Key.String()
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM observations WHERE round = ? AND info_hash = ? AND kind = 'scrape'`), u.Round, h); err != nil {
		return err
	}
	if err := s.insertObservations(ctx, tx, u.Round, h, u.Observations, nil, ms(time.Now())); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE round_targets SET estimate = ?, estimate_high = ? WHERE round = ? AND info_hash = ?`),
		u.Estimate.Low, u.Estimate.High, u.Round, h); err != nil {
		return err
	}
	return nil
}

// insertObservations inserts observations of one target in one round;
// newBy counts each source's peers never seen in an earlier round.
func (s *Store) insertObservations(ctx context.Context, tx *sql.Tx, round int64, h string, obs []crawl.Observation, newBy map[string]int, at int64) error {
	st, err := tx.PrepareContext(ctx, s.q(`INSERT INTO observations (round, info_hash, source, kind, peers, new_peers, seeders, leechers, completed, queries, errors, latency_ms, error, observed_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`))
	if err != nil {
		return err
	}
	defer st.Close()
	for _, o := range obs {
		nw := newBy[o.Source]
		if o.Kind == "scrape" {
			nw = -1
		}
		if _, err := st.ExecContext(ctx, round, h, o.Source, o.Kind, o.Peers, nw, o.Seeders, o.Leechers, o.Completed, o.Queries, o.Errors, o.Latency.Milliseconds(), o.Err, at); err != nil {
			return err
		}
	}
	return nil
}

// SaveResult stores one target's result of one round, replacing anything
// stored before for the same round and target: observations and
// sightings are rewritten, the peers table merged (first and last seen,
// the sources ever named), so that a retry changes nothing.
func (s *Store) SaveResult(ctx context.Context, r *crawl.Result) error {
	return s.SaveResults(ctx, []*crawl.Result{r})
}

// SaveResults stores several results as SaveResult does, in one
// transaction: a crawl's writer batches what arrived while it wrote, since
// one commit costs far more than a few rows.
func (s *Store) SaveResults(ctx context.Context, rs []*crawl.Result) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback()
	for _, r := range rs {
		if err := s.saveResult(ctx, tx, r); err != nil {
			return fmt.Errorf("store: round %d, target %v: %w", r.Round, r.Target.Key, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

func (s *Store) saveResult(ctx context.Context, tx *sql.Tx, r *crawl.Result) error {
	h := r.Target.Key.String()
	start := ms(r.Start)
	// The target row, in case the caller did not add it (a worker's job).
	js, err := json.Marshal(r.Target.Search)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO targets (info_hash, name, spec, search, added_ms) VALUES (?, ?, ?, ?, ?) ON CONFLICT (info_hash) DO NOTHING`),
		h, r.Target.Name, r.Target.Spec, string(js), start); err != nil {
		return err
	}
	for _, table := range []string{"observations", "sightings"} {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM `+table+` WHERE round = ? AND info_hash = ?`), r.Round, h); err != nil {
			return err
		}
	}
	// Peers known from earlier rounds, to count the new ones.
	known := map[string]bool{}
	rows, err := tx.QueryContext(ctx, s.q(`SELECT address FROM peers WHERE info_hash = ? AND first_round < ?`), h, r.Round)
	if err != nil {
		return err
	}
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			rows.Close()
			return err
		}
		known[a] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	newBy := map[string]int{}
	newPeers := 0
	sight, err := tx.PrepareContext(ctx, s.q(`INSERT INTO sightings (round, info_hash, address, sources, seen_ms) VALUES (?, ?, ?, ?, ?)`))
	if err != nil {
		return err
	}
	defer sight.Close()
	peer, err := tx.PrepareContext(ctx, s.q(`INSERT INTO peers (info_hash, address, first_seen_ms, last_seen_ms, first_round, last_round, via_tracker, via_dht, via_magnet)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (info_hash, address) DO UPDATE SET
			first_seen_ms = min(peers.first_seen_ms, excluded.first_seen_ms),
			last_seen_ms = max(peers.last_seen_ms, excluded.last_seen_ms),
			first_round = min(peers.first_round, excluded.first_round),
			last_round = max(peers.last_round, excluded.last_round),
			via_tracker = max(peers.via_tracker, excluded.via_tracker),
			via_dht = max(peers.via_dht, excluded.via_dht),
			via_magnet = max(peers.via_magnet, excluded.via_magnet)`))
	if err != nil {
		return err
	}
	defer peer.Close()
	for _, p := range r.Peers {
		a := p.Addr.String()
		seen := start + p.FirstSeen.Milliseconds()
		if _, err := sight.ExecContext(ctx, r.Round, h, a, strings.Join(p.Sources, " "), seen); err != nil {
			return err
		}
		var viaT, viaD, viaM int
		for _, src := range p.Sources {
			switch src {
			case discovery.SourceDHT:
				viaD = 1
			case discovery.SourceMagnet:
				viaM = 1
			case discovery.SourcePEX:
			default:
				viaT = 1
			}
			if !known[a] {
				newBy[src]++
			}
		}
		if !known[a] {
			newPeers++
		}
		if _, err := peer.ExecContext(ctx, h, a, seen, seen, r.Round, r.Round, viaT, viaD, viaM); err != nil {
			return err
		}
	}

	if err := s.insertObservations(ctx, tx, r.Round, h, r.Observations, newBy, start+r.Duration.Milliseconds()); err != nil {
		return err
	}
	errText := ""
	if r.Err != nil {
		errText = r.Err.Error()
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO round_targets (round, info_hash, started_ms, duration_ms, reason, peers, new_peers, estimate, estimate_high, error, untracked)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (round, info_hash) DO UPDATE SET started_ms = excluded.started_ms, duration_ms = excluded.duration_ms,
			reason = excluded.reason, peers = excluded.peers, new_peers = excluded.new_peers, estimate = excluded.estimate,
			estimate_high = excluded.estimate_high, error = excluded.error, untracked = excluded.untracked`),
		r.Round, h, start, r.Duration.Milliseconds(), string(r.Reason), len(r.Peers), newPeers, r.Estimate.Low, r.Estimate.High, errText, r.Untracked); err != nil {
		return err
	}
	return nil
}
