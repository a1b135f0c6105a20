// Package queue runs a crawl's rounds as jobs on a durable queue, River
// (github.com/riverqueue/river), in the crawl's own database: PostgreSQL,
// where any number of worker processes on any number of machines share
// it, or the embedded SQLite file, where `peerfind crawl` works its own
// queue in-process. One code path serves both.
//
// Each target of each round is one job, unique by (round, info hash), so
// it is done once however often it is enqueued; a worker holds a job
// under a lease, a failed job is retried with backoff, a running job whose
// worker died is rescued and given to another, and a stopping worker
// cancels its jobs, which go back to the queue. When the last target of a
// round is stored, a round-end job (unique per round) scrapes every
// tracker once for all of the round's swarms and marks the round finished.
// Results are written through package store, whose writes are idempotent
// per (round, target), so a job run twice counts once.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

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

// RoundEndArgs is the job that ends a round once every target has a
// stored result: one scrape per tracker for all of the round's swarms,
// then the round marked finished.
type RoundEndArgs struct {
	Round int64 `json:"round" river:"unique"`
}

// Kind implements river.JobArgs.
func (RoundEndArgs) Kind() string { return "peerfind_round_end" }

// InsertOpts makes the job unique by round.
func (RoundEndArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: MaxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// client is what Queue needs of a river.Client, whatever its driver's
// transaction type.
type client interface {
	Start(context.Context) error
	StopAndCancel(context.Context) error
	InsertMany(context.Context, []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
}

// Queue is the job queue in a crawl database. Close it when done.
type Queue struct {
	st        *store.Store
	pool      *pgxpool.Pool // PostgreSQL only: River's own pool, for LISTEN/NOTIFY
	newClient func(*river.Config) (client, error)
	inserter  client
}

func clientMaker[TTx any](d riverdriver.Driver[TTx]) func(*river.Config) (client, error) {
	return func(c *river.Config) (client, error) { return river.NewClient(d, c) }
}

// Open opens the queue in st's database, whose dsn is given again for
// PostgreSQL (River keeps its own pool there), and brings River's schema
// up to date.
func Open(ctx context.Context, st *store.Store, dsn string) (*Queue, error) {
	q := &Queue{st: st}
	if store.IsPostgres(dsn) {
		pool, err := pgxpool.New(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("queue: %w", err)
		}
		q.pool = pool
		if err := migratePostgres(ctx, pool); err != nil {
			pool.Close()
			return nil, err
		}
		q.newClient = clientMaker(riverpgxv5.New(pool))
	} else {
		d := riversqlite.New(st.DB())
		if err := migrate(ctx, d); err != nil {
			return nil, err
		}
		q.newClient = clientMaker(d)
	}
	c, err := q.newClient(&river.Config{Logger: logger(nil)})
	if err != nil {
		q.Close()
		return nil, fmt.Errorf("queue: %w", err)
	}
	q.inserter = c
	return q, nil
}

// Close releases River's PostgreSQL pool; the store is the caller's.
func (q *Queue) Close() {
	if q.pool != nil {
		q.pool.Close()
	}
}

func migratePostgres(ctx context.Context, pool *pgxpool.Pool) error {
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
	return migrate(ctx, riverpgxv5.New(pool))
}

// migrate brings River's schema up to date through driver d. On SQLite the
// store's one connection serialises this process, and the file's write
// lock (with its busy timeout) another process migrating at once.
func migrate[TTx any](ctx context.Context, d riverdriver.Driver[TTx]) error {
	m, err := rivermigrate.New(d, &rivermigrate.Config{Logger: logger(nil)})
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
func (q *Queue) Enqueue(ctx context.Context, targets []*crawl.Target) (int64, error) {
	if err := q.st.AddTargets(ctx, targets); err != nil {
		return 0, err
	}
	round, err := q.st.StartRound(ctx, len(targets))
	if err != nil {
		return 0, err
	}
	return round, q.Insert(ctx, round, targets)
}

// Insert puts the jobs of round's targets on the queue — again, when a
// round is resumed: a job already done or under way is not duplicated. A
// round whose every target already holds a result gets its round-end job.
func (q *Queue) Insert(ctx context.Context, round int64, targets []*crawl.Target) error {
	if err := insertRound(ctx, round, targets, func(p []river.InsertManyParams) error {
		_, err := q.inserter.InsertMany(ctx, p)
		return err
	}); err != nil {
		return err
	}
	return endIfDone(ctx, q.st, q.inserter, round)
}

// endIfDone enqueues round's round-end job once every planned target
// holds a result.
func endIfDone(ctx context.Context, st *store.Store, c client, round int64) error {
	rs, err := st.RoundStatus(ctx, round)
	if err != nil {
		return err
	}
	if rs.Done < rs.Targets || !rs.Finished.IsZero() {
		return nil
	}
	if _, err := c.InsertMany(ctx, []river.InsertManyParams{{Args: RoundEndArgs{Round: round}}}); err != nil {
		return fmt.Errorf("queue: ending round %d: %w", round, err)
	}
	return nil
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
	// Crawler runs each job's search, and the round-end scrape; its DHT
	// node and tracker client are shared by the worker's jobs.
	Crawler *crawl.Crawler
	// Concurrency is the number of jobs worked at once. If zero,
	// crawl.DefaultConcurrency.
	Concurrency int
	// JobTimeout bounds one target's job: the search's timeout and the
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
	// OnScrape, if not nil, is called with each stored update of a
	// round-end scrape, and OnRoundEnd once the round is marked finished,
	// from the round-end job's goroutine.
	OnScrape   func(*crawl.ScrapeUpdate)
	OnRoundEnd func(round int64)
}

// roundEndTimeout bounds the round-end job: a scrape of every tracker (one
// request per 74 or 64 swarms, paced) and the write.
const roundEndTimeout = 30 * time.Minute

// Run works jobs until ctx is done, then stops: jobs under way are
// cancelled and River puts them back on the queue as available, for this
// or another worker; Run returns once they have been handed back, or
// after 10 s.
func (q *Queue) Run(ctx context.Context, cfg Config) error {
	if cfg.JobTimeout <= 0 {
		return errors.New("queue: Config.JobTimeout is required")
	}
	if cfg.Crawler == nil {
		return errors.New("queue: Config.Crawler is required")
	}
	commit := &committer{st: q.st, reqs: make(chan commitReq)}
	tw := &targetWorker{cfg: cfg, commit: commit}
	workers := river.NewWorkers()
	river.AddWorker(workers, tw)
	river.AddWorker(workers, &roundWorker{q: q})
	river.AddWorker(workers, &roundEndWorker{cfg: cfg, st: q.st})
	conc := cfg.Concurrency
	if conc <= 0 {
		conc = crawl.DefaultConcurrency
	}
	rc := &river.Config{
		ID:      cfg.ID,
		Logger:  logger(cfg.Logger),
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: conc}},
		Workers: workers,
		// Each worker bounds its own job (Timeout); the round-end job
		// may take longer than a target's.
		JobTimeout:  -1,
		MaxAttempts: MaxAttempts,
		// A round-end job rescued while still running is done twice,
		// which its idempotent writes allow.
		RescueStuckJobsAfter: max(cfg.RescueAfter, cfg.JobTimeout),
		// A job on a fast network takes milliseconds: River's default
		// 100 ms between fetches would cap a worker at Concurrency jobs
		// per 100 ms. Polling is the fallback to PostgreSQL's LISTEN and
		// SQLite's notification table.
		FetchCooldown:     5 * time.Millisecond,
		FetchPollInterval: 200 * time.Millisecond,
	}
	if cfg.RescueAfter == 0 {
		rc.RescueStuckJobsAfter = max(time.Hour, cfg.JobTimeout)
	}
	if cfg.Every > 0 {
		rc.PeriodicJobs = []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(cfg.Every),
			func() (river.JobArgs, *river.InsertOpts) { return RoundArgs{}, nil }, nil)}
	}
	c, err := q.newClient(rc)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	commit.client = c
	cctx, stopCommit := context.WithCancel(context.WithoutCancel(ctx))
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		commit.run(cctx)
	}()
	// The committer outlives the jobs, which wait for it.
	defer func() {
		stopCommit()
		<-committed
	}()
	if err := c.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("queue: starting the worker: %w", err)
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.StopAndCancel(sctx); err != nil {
		return fmt.Errorf("queue: stopping: %w", err)
	}
	return nil
}

// committer writes the results of a worker's jobs from one goroutine,
// each batch of what arrived while it wrote in one transaction (group
// commit: one commit costs far more than a few rows), and answers each job
// once its result is durable — only then may River mark the job done.
type committer struct {
	st     *store.Store
	client client // set before the client starts
	reqs   chan commitReq
}

type commitReq struct {
	r    *crawl.Result
	done chan error
}

// maxBatch bounds one transaction.
const maxBatch = 256

// save hands r to the committer and waits until it is stored (or ctx is
// done, when the job fails and is retried: a result written after all is
// written again, idempotently).
func (c *committer) save(ctx context.Context, r *crawl.Result) error {
	req := commitReq{r: r, done: make(chan error, 1)}
	select {
	case c.reqs <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *committer) run(ctx context.Context) {
	var batch []commitReq
	for {
		select {
		case req := <-c.reqs:
			batch = append(batch[:0], req)
		case <-ctx.Done():
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case req := <-c.reqs:
				batch = append(batch, req)
			default:
				break more
			}
		}
		c.write(ctx, batch)
	}
}

// write stores a batch and ends the rounds it completes. If the batch's
// transaction fails, each result is tried alone, so that one bad result
// fails only its own job.
func (c *committer) write(ctx context.Context, batch []commitReq) {
	rs := make([]*crawl.Result, len(batch))
	for i, req := range batch {
		rs[i] = req.r
	}
	errs := make([]error, len(batch))
	if err := c.st.SaveResults(ctx, rs); err != nil {
		for i, r := range rs {
			errs[i] = c.st.SaveResult(ctx, r)
		}
	}
	ended := map[int64]error{}
	for i, r := range rs {
		if errs[i] != nil {
			continue
		}
		err, ok := ended[r.Round]
		if !ok {
			err = endIfDone(ctx, c.st, c.client, r.Round)
			ended[r.Round] = err
		}
		errs[i] = err
	}
	for i, req := range batch {
		req.done <- errs[i]
	}
}

type targetWorker struct {
	river.WorkerDefaults[TargetArgs]
	cfg    Config
	commit *committer
}

func (w *targetWorker) Timeout(*river.Job[TargetArgs]) time.Duration { return w.cfg.JobTimeout }

func (w *targetWorker) Work(ctx context.Context, job *river.Job[TargetArgs]) error {
	t := job.Args.Target
	if job.Attempt > 1 {
		// Rescued or retried: its result may be stored already.
		if done, err := w.commit.st.HasResult(ctx, job.Args.Round, t.Key); err != nil || done {
			return err
		}
	}
	r := w.cfg.Crawler.Target(ctx, job.Args.Round, &t)
	if err := ctx.Err(); err != nil {
		if job.Attempt < job.MaxAttempts || !errors.Is(err, context.DeadlineExceeded) {
			return err // stopped, or timed out with attempts left: nothing stored, the job is retried
		}
		// The last attempt timed out: its failure is the round's result
		// for the target, so that the round can end.
		r = &crawl.Result{Round: job.Args.Round, Target: &t, Start: r.Start, Duration: time.Since(r.Start),
			Reason: r.Reason, Err: fmt.Errorf("gave up after %d attempts: %w", job.Attempt, err)}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
	}
	if err := w.commit.save(ctx, r); err != nil {
		return err
	}
	if w.cfg.OnResult != nil {
		w.cfg.OnResult(r)
	}
	return nil
}

type roundWorker struct {
	river.WorkerDefaults[RoundArgs]
	q *Queue
}

func (w *roundWorker) Work(ctx context.Context, job *river.Job[RoundArgs]) error {
	targets, err := w.q.st.Targets(ctx)
	if err != nil || len(targets) == 0 {
		return err
	}
	round, err := w.q.st.StartRound(ctx, len(targets))
	if err != nil {
		return err
	}
	return w.q.Insert(ctx, round, targets)
}

type roundEndWorker struct {
	river.WorkerDefaults[RoundEndArgs]
	cfg Config
	st  *store.Store
}

func (w *roundEndWorker) Timeout(*river.Job[RoundEndArgs]) time.Duration { return roundEndTimeout }

func (w *roundEndWorker) Work(ctx context.Context, job *river.Job[RoundEndArgs]) error {
	round := job.Args.Round
	rs, err := w.st.RoundStatus(ctx, round)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil || !rs.Finished.IsZero() {
		return err
	}
	results, err := w.st.RoundResults(ctx, round)
	if err != nil {
		return err
	}
	us := w.cfg.Crawler.Scrape(ctx, results)
	if err := ctx.Err(); err != nil {
		return err // stopped: the scrape is redone by whoever takes the job
	}
	if err := w.st.SaveScrapes(ctx, us); err != nil {
		return err
	}
	if err := w.st.FinishRound(ctx, round); err != nil {
		return err
	}
	for _, u := range us {
		if w.cfg.OnScrape != nil {
			w.cfg.OnScrape(u)
		}
	}
	if w.cfg.OnRoundEnd != nil {
		w.cfg.OnRoundEnd(round)
	}
	return nil
}
