package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/peerfind/peerfind/store"
)

type pruneFlags struct {
	db        string
	olderThan time.Duration
	json      bool
}

func newPruneCmd(c *cli) *cobra.Command {
	f := &pruneFlags{}
	cmd := &cobra.Command{
		Use:   "prune --older-than DURATION",
		Short: "Delete old per-peer sightings from a crawl database",
		Long: `Delete from --db the per-peer sightings (one row per peer per target per
round, by far the largest table) seen longer ago than --older-than, in
transactions of 10,000 rows, so that a crawl writing to the same database
waits for one batch at most.

What says how big each swarm was stays: the rounds, every source's
observations (history, export --rows observations), and each peer's summary
(export --rows peers: first and last seen, rounds seen, kinds of source).
export --rows sightings has no rows before the cutoff.

DURATION is a Go duration (720h, 90m) or a number of days (30d).
'peerfind crawl --keep-sightings 30d' (and 'worker') prunes so after each
round.

The space of the deleted rows is reused by later rounds; to shrink a SQLite
file, run VACUUM on it while no crawl writes (it rewrites the whole file).`,
		Example: `  peerfind prune --older-than 30d
  peerfind prune --older-than 720h --db postgres://peerfind@db/peerfind --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 {
				return usageError("prune takes no arguments; got %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("older-than") {
				return usageError("prune needs --older-than, e.g. --older-than 30d")
			}
			if f.olderThan <= 0 {
				return usageError("--older-than must be above 0, such as 720h or 30d")
			}
			st, err := openStore(cmd.Context(), f.db)
			if err != nil {
				return err
			}
			defer st.Close()
			before := time.Now().Add(-f.olderThan)
			ps, err := st.PruneSightings(cmd.Context(), before)
			if f.json {
				out := &crawlPrinter{w: c.stdout, json: true}
				out.emit(pruneEvent(before, ps))
			} else {
				fmt.Fprintln(c.stdout, pruneText(before, ps))
			}
			if err != nil {
				return withStatus(exitError, err)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.db, "db", "", "the database: a SQLite file `path` or a postgres:// URL (default: as crawl)")
	fl.Var(ageFlag{&f.olderThan}, "older-than", "delete sightings older than this: a duration (720h) or days (30d)")
	fl.BoolVar(&f.json, "json", false, "print the result as one JSON object")
	return cmd
}

// jsonPrune is what a prune deleted, for --json: the prune command's
// output, and the crawl's "prune" event.
type jsonPrune struct {
	Type       string    `json:"type"` // "prune"
	Before     time.Time `json:"before"`
	Sightings  int64     `json:"sightings"`
	Rounds     int       `json:"rounds"`
	FirstRound int64     `json:"first_round"` // 0 if none
	LastRound  int64     `json:"last_round"`  // 0 if none
	Batches    int       `json:"batches"`
}

func pruneEvent(before time.Time, ps store.PruneStats) jsonPrune {
	return jsonPrune{Type: "prune", Before: before.UTC().Truncate(time.Millisecond), Sightings: ps.Sightings, Rounds: ps.Rounds,
		FirstRound: ps.FirstRound, LastRound: ps.LastRound, Batches: ps.Batches}
}

func pruneText(before time.Time, ps store.PruneStats) string {
	at := before.UTC().Format(time.RFC3339)
	if ps.Sightings == 0 {
		return "no sightings older than " + at
	}
	rounds := "round " + itoa64(ps.FirstRound)
	if ps.Rounds > 1 {
		rounds = fmt.Sprintf("%d rounds, %d to %d", ps.Rounds, ps.FirstRound, ps.LastRound)
	}
	return fmt.Sprintf("pruned %d sightings older than %s (%s)", ps.Sightings, at, rounds)
}

// maxDays is the most days a time.Duration holds.
const maxDays = int64(1<<63-1) / int64(24*time.Hour)

// parseAge reads a retention period: a Go duration (720h, 90m) or whole
// days (30d), which time.ParseDuration does not know; not negative.
func parseAge(s string) (time.Duration, error) {
	const want = "want a duration such as 720h, 90m or 30d"
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseInt(n, 10, 64)
		if err != nil || days < 0 || days > maxDays {
			return 0, errors.New(want)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, errors.New(want)
	}
	return d, nil
}

// ageFlag is a flag read by parseAge (--older-than, --keep-sightings).
type ageFlag struct{ d *time.Duration }

func (f ageFlag) String() string {
	if f.d == nil || *f.d == 0 {
		return "0"
	}
	return f.d.String()
}

func (f ageFlag) Set(s string) error {
	d, err := parseAge(s)
	if err != nil {
		return err
	}
	*f.d = d
	return nil
}

func (f ageFlag) Type() string { return "duration" }

// sightingPruner prunes the sightings older than keep after each round of
// a crawl or a worker (--keep-sightings); with keep 0 it does nothing. A
// prune that fails is reported and the crawl goes on: the next round's
// prune takes up what it left.
type sightingPruner struct {
	ctx    context.Context
	st     *store.Store
	keep   time.Duration
	stderr io.Writer
	out    *crawlPrinter
}

func newSightingPruner(ctx context.Context, c *cli, st *store.Store, keep time.Duration, out *crawlPrinter) *sightingPruner {
	return &sightingPruner{ctx: ctx, st: st, keep: keep, stderr: c.stderr, out: out}
}

// afterRound prunes now: a crawl or a worker calls it when a round has
// ended (the round-end job).
func (p *sightingPruner) afterRound() {
	if p.keep <= 0 {
		return
	}
	before := time.Now().Add(-p.keep)
	ps, err := p.st.PruneSightings(p.ctx, before)
	if ps.Sightings > 0 {
		if p.out.json {
			p.out.emit(pruneEvent(before, ps))
		}
		fmt.Fprintf(p.stderr, "peerfind: %s\n", pruneText(before, ps))
	}
	if err != nil && p.ctx.Err() == nil {
		fmt.Fprintf(p.stderr, "peerfind: warning: %v\n", err)
	}
}
