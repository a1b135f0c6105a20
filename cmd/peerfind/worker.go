package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/peerfind/peerfind/crawl"
	"github.com/peerfind/peerfind/queue"
)

func newWorkerCmd(c *cli) *cobra.Command {
	f := &crawlFlags{}
	var rescueAfter time.Duration
	var id string
	cmd := &cobra.Command{
		Use:   "worker [--db postgres://...]",
		Short: "Work the crawl jobs queued in the database",
		Long: `Take crawl jobs -- one target of one round each, put on the queue by
'peerfind crawl --enqueue' -- from the database --db (River's job queue
lives beside the results) and store their results there. Any number of
workers, on any number of machines, can share one PostgreSQL database (a
SQLite file serves the workers of one machine): each job is held under a
lease, done once (jobs are unique per round and target), retried with
backoff when it fails (5 attempts), and handed to another worker when its
worker dies (after --rescue-after). When a round's last target is stored,
one worker scrapes every tracker once for all of the round's swarms and
marks the round finished. Ctrl-C stops the worker cleanly: the jobs under
way are cancelled and go back to the queue for the others.

With --every, the workers also start a round of every stored target at
that interval (one of them, the leader, enqueues it).

The search flags mean what they mean for 'peers' and 'crawl'; --concurrency
is the number of jobs this worker runs at once, all sharing one DHT node
and one tracker client.`,
		Example: `  peerfind crawl hashes.txt --enqueue --db postgres://peerfind@db/peerfind
  peerfind worker --db postgres://peerfind@db/peerfind --concurrency 32`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 {
				return usageError("worker takes no arguments (the jobs come from --db); got %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWorker(cmd.Context(), c, f, rescueAfter, id)
		},
	}
	addSearchFlags(cmd, f)
	fl := cmd.Flags()
	fl.DurationVar(&f.every, "every", 0, "also start a round of every stored target this often (0: only work what is enqueued)")
	fl.DurationVar(&rescueAfter, "rescue-after", time.Hour, "hand a job to another worker when it has been running this long (its worker is taken for dead)")
	fl.StringVar(&id, "id", "", "this worker's `name` in the queue's records (default: River's, from the host name and the time)")
	return cmd
}

// jobTimeout bounds one job: the search, the scrape after it, the write.
func jobTimeout(search time.Duration) time.Duration {
	if search <= 0 {
		search = 10 * time.Minute
	}
	return search + 15*time.Second
}

func runWorker(ctx context.Context, c *cli, f *crawlFlags, rescueAfter time.Duration, id string) error {
	if err := checkCrawlFlags(f); err != nil {
		return err
	}
	jt := jobTimeout(f.search.timeout)
	if rescueAfter < jt {
		return usageError("--rescue-after %s is shorter than a job may take (--timeout + 15s = %s)", rescueAfter, jt)
	}
	st, err := openStore(ctx, f.db)
	if err != nil {
		return err
	}
	defer st.Close()
	q, err := queue.Open(ctx, st, f.db)
	if err != nil {
		return withStatus(exitError, err)
	}
	defer q.Close()
	cr, src, err := newCrawler(c, f)
	if err != nil {
		return err
	}
	defer src.close(c.stderr)
	out := &crawlPrinter{w: c.stdout, json: f.search.json}
	pr := newSightingPruner(ctx, c, st, f.keepSightings, out)
	err = q.Run(ctx, queue.Config{
		Crawler:     cr,
		Concurrency: f.concurrency,
		JobTimeout:  jt,
		RescueAfter: rescueAfter,
		Every:       f.every,
		ID:          id,
		Logger:      slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		OnResult:    out.target,
		OnScrape:    out.scrape,
		OnRoundEnd: func(round int64) {
			fmt.Fprintf(c.stderr, "peerfind: round %d finished\n", round)
			pr.afterRound()
		},
	})
	if err != nil {
		return withStatus(exitError, err)
	}
	fmt.Fprintln(c.stderr, "peerfind: worker stopped; unfinished jobs are back on the queue")
	return nil
}

// runEnqueue puts rounds of targets on the job queue.
func runEnqueue(ctx context.Context, c *cli, q *queue.Queue, targets []*crawl.Target, f *crawlFlags, rounds int) error {
	for n := 0; rounds == 0 || n < rounds; n++ {
		start := time.Now()
		round, err := q.Enqueue(ctx, targets)
		if err != nil {
			return withStatus(exitError, err)
		}
		if f.search.json {
			out := &crawlPrinter{w: c.stdout, json: true}
			out.emit(map[string]any{"type": "enqueued", "round": round, "targets": len(targets)})
		}
		fmt.Fprintf(c.stderr, "peerfind: round %d: %s enqueued\n", round, countNoun(len(targets), "target"))
		if rounds != 0 && n+1 >= rounds {
			break
		}
		t := time.NewTimer(time.Until(start.Add(f.every)))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil
		}
	}
	return nil
}
