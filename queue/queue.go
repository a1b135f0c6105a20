// Package queue spreads a crawl over any number of worker processes, on
// any number of machines, through a durable job queue in PostgreSQL: River
// (github.com/riverqueue/river). Each target of each round is one job,
// unique by (round, info hash), so it is done once however often it is
// enqueued; a worker holds a job under a lease, a failed job is retried
// with backoff, a running job whose worker died is rescued and given to
// another, and a stopping worker cancels its jobs, which go back to the
// queue. Results are written through package store, whose writes are
// idempotent per (round, target), so a job run twice counts once.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/peerfind/peerfind/crawl"
	"github.com/peerfind/peerfind/store"
)

// MaxAttempts is how often a job is tried before it is discarded.
const MaxAttempts = 5

// TargetArgs is the job of one target in one round.
type TargetArgs struct {
	Round int64 `json:"round" river:"unique"`
	// Key is the target's info hash, hex; with Round, the job's identity.
	Key    string       `json:"key" river:"unique"`
	Target crawl.Target `json:"target"`
}

// Kind implements river.JobArgs.
func (TargetArgs) Kind() string { return "peerfind_target" }

// InsertOpts makes the job unique by round and target, in every state
// (a completed job is not done again).
func (TargetArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: MaxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// RoundArgs is the periodic job that starts a round: it records the round
// and enqueues a TargetArgs job for every stored target.
type RoundArgs struct{}

// Kind implements river.JobArgs.
func (RoundArgs) Kind() string { return "peerfind_round" }

// Open connects to the PostgreSQL database dsn and brings River's schema up
// to date. Close the pool when done.
func Open(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	// Workers started together must not migrate at once.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(7260376)`); err != nil {
		return fmt.Errorf("queue: locking the schema: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7260376)`)
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: logger(nil)})
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("queue: River migrations: %w", err)
	}
	return nil
}

// logger returns l, or a logger that discards: a library does not print.
func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// Enqueue records targets, starts a new round of them and puts one job per
// target on the queue. It returns the round's number.
func Enqueue(ctx context.Context, pool *pgxpool.Pool, st *store.Store, targets []*crawl.Target) (int64, error) {
	if err := st.AddTargets(ctx, targets); err != nil {
		return 0, err
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: logger(nil)})
	if err != nil {
		return 0, fmt.Errorf("queue: %w", err)
	}
	round, err := st.StartRound(ctx, len(targets))
	if err != nil {
		return 0, err
	}
	if err := insertRound(ctx, round, targets, func(p []river.InsertManyParams) error {
		_, err := client.InsertMany(ctx, p)
		return err
	}); err != nil {
		return round, err
	}
	return round, nil
}

// insertRound inserts the jobs of a round in batches.
func insertRound(ctx context.Context, round int64, targets []*crawl.Target, insert func([]river.InsertManyParams) error) error {
	const batch = 1000
	for i := 0; i < len(targets); i += batch {
		var params []river.InsertManyParams
		for _, t := range targets[i:min(i+batch, len(targets))] {
			params = append(params, river.InsertManyParams{Args: TargetArgs{Round: round, Key: t.Key.String(), Target: *t}})
		}
		if err := insert(params); err != nil {
			return fmt.Errorf("queue: enqueueing round %d: %w", round, err)
		}
	}
	return nil
}

// Config configures a worker.
type Config struct {
	// Crawler runs each job's search; its DHT node and tracker client are
	// shared by the worker's jobs.
	Crawler *crawl.Crawler
	// Store receives the results.
	Store *store.Store
	// Concurrency is the number of jobs worked at once. If zero, 16.
	Concurrency int
	// JobTimeout bounds one job: the search's timeout, the scrape and the
	// write. Required.
	JobTimeout time.Duration
	// RescueAfter is how long a job may stay running before it is taken
	// to belong to a dead worker and handed to another. If zero, one hour;
	// at least JobTimeout.
	RescueAfter time.Duration
	// Every, if positive, starts a round of every stored target this often
	// (a River periodic job: one worker, the leader, enqueues it).
	Every time.Duration
	// ID names this worker in River's records (river_job.attempted_by). If
	// empty, River picks one.
	ID string
	// Logger receives River's own reports (a job failed, retried,
	// discarded). If nil, they are dropped.
	Logger *slog.Logger
	// OnResult, if not nil, is called after each stored result, from the
	// job's goroutine.
	OnResult func(*crawl.Result)
}

// Run works jobs until ctx is done, then stops: jobs under way are
// cancelled and River puts them back on the queue as available, the
// attempt not counted, for this or another worker; Run returns once they
// have been handed back, or after 10 s.
func Run(ctx context.Context, pool *pgxpool.Pool, cfg Config) error {
	if cfg.JobTimeout <= 0 {
		return errors.New("queue: Config.JobTimeout is required")
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &targetWorker{cfg: cfg})
	river.AddWorker(workers, &roundWorker{cfg: cfg})
	rc := &river.Config{
		ID:                   cfg.ID,
		Logger:               logger(cfg.Logger),
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: max(cfg.Concurrency, 1)}},
		Workers:              workers,
		JobTimeout:           cfg.JobTimeout,
		MaxAttempts:          MaxAttempts,
		RescueStuckJobsAfter: max(cfg.RescueAfter, cfg.JobTimeout),
		FetchPollInterval:    200 * time.Millisecond,
	}
	if cfg.RescueAfter == 0 {
		rc.RescueStuckJobsAfter = max(time.Hour, cfg.JobTimeout)
	}
	if cfg.Concurrency == 0 {
		rc.Queues[river.QueueDefault] = river.QueueConfig{MaxWorkers: crawl.DefaultConcurrency}
	}
	if cfg.Every > 0 {
		rc.PeriodicJobs = []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(cfg.Every),
			func() (river.JobArgs, *river.InsertOpts) { return RoundArgs{}, nil }, nil)}
	}
	client, err := river.NewClient(riverpgxv5.New(pool), rc)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("queue: starting the worker: %w", err)
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client.StopAndCancel(sctx); err != nil {
		return fmt.Errorf("queue: stopping: %w", err)
	}
	return nil
}

type targetWorker struct {
	river.WorkerDefaults[TargetArgs]
	cfg Config
}

func (w *targetWorker) Work(ctx context.Context, job *river.Job[TargetArgs]) error {
	t := job.Args.Target
	r := w.cfg.Crawler.Target(ctx, job.Args.Round, &t)
	if err := ctx.Err(); err != nil {
		return err // stopped or timed out: nothing stored, the job is retried
	}
	if err := w.cfg.Store.SaveResult(ctx, r); err != nil {
		return err
	}
	if err := w.cfg.Store.FinishRoundIfDone(ctx, job.Args.Round); err != nil {
		return err
	}
	if w.cfg.OnResult != nil {
		w.cfg.OnResult(r)
	}
	return nil
}

type roundWorker struct {
	river.WorkerDefaults[RoundArgs]
	cfg Config
}

func (w *roundWorker) Work(ctx context.Context, job *river.Job[RoundArgs]) error {
	targets, err := w.cfg.Store.Targets(ctx)
	if err != nil || len(targets) == 0 {
		return err
	}
	client := river.ClientFromContext[pgx.Tx](ctx)
	round, err := w.cfg.Store.StartRound(ctx, len(targets))
	if err != nil {
		return err
	}
	return insertRound(ctx, round, targets, func(p []river.InsertManyParams) error {
		_, err := client.InsertMany(ctx, p)
		return err
	})
}
