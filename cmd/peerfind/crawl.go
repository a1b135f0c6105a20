package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/peerfind/peerfind/crawl"
	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/discovery"
	"github.com/peerfind/peerfind/queue"
	"github.com/peerfind/peerfind/store"
	"github.com/peerfind/peerfind/tracker"
)

// crawlFlags are the flags of `peerfind crawl` (and `worker`): the search
// flags of `peers`, with the same meaning, and the crawl's own.
type crawlFlags struct {
	search      searchOptions
	trackers    []string
	noTrackers  bool
	noState     bool
	stateDir    string
	db          string
	every       time.Duration
	rounds      int
	concurrency int
	dhtRate     float64
	trackerRate float64
	noScrape    bool
	enqueue     bool

	keepSightings time.Duration // prune after each round (prune.go)
}

func addSearchFlags(cmd *cobra.Command, f *crawlFlags) {
	fl := cmd.Flags()
	o := &f.search
	fl.DurationVar(&o.timeout, "timeout", discovery.DefaultTimeout, "give up on one target after this long")
	fl.IntVar(&o.maxPeers, "max-peers", 0, "stop a target's search after `N` peers (0: no limit)")
	fl.BoolVar(&o.noDHT, "no-dht", false, "do not use the DHT")
	fl.BoolVar(&f.noTrackers, "no-trackers", false, "do not use the trackers (the torrents', the magnets' or --tracker)")
	fl.StringArrayVar(&f.trackers, "tracker", nil, "also announce every target to this tracker `URL` (repeatable)")
	fl.Var(policyFlag{&o.trackerPolicy}, "tracker-policy", "which trackers to ask: all (every tier at once) or bep12 (BEP 12: tiers in order, the first tracker that answers)")
	fl.StringArrayVar(&o.bootstrap, "bootstrap", nil, "bootstrap the DHT from `host:port` instead of the public routers (repeatable)")
	fl.BoolVarP(&o.only4, "ipv4", "4", false, "IPv4 only")
	fl.BoolVarP(&o.only6, "ipv6", "6", false, "IPv6 only")
	fl.StringVar(&f.stateDir, "state-dir", "", "`directory` of the saved DHT state (default: $XDG_STATE_HOME/peerfind, else the user cache dir + /peerfind)")
	fl.BoolVar(&f.noState, "no-state", false, "neither load nor save the DHT state")
	fl.Uint16Var(&o.port, "port", discovery.DefaultPort, "the `port` announced to trackers")
	fl.BoolVar(&o.allowDHTPrivate, "allow-dht-private", false, "use the DHT even for private torrents (BEP 27 says not to)")
	fl.StringVar(&f.db, "db", "", "the database: a SQLite file `path` or a postgres:// URL (default: $XDG_DATA_HOME/peerfind/peerfind.db, else ~/.local/share/peerfind/peerfind.db)")
	fl.IntVar(&f.concurrency, "concurrency", 0, "targets searched at once (0: 64, or with a --dht-rate cap one per 20 queries/s of it, at least 4)")
	fl.Float64Var(&f.dhtRate, "dht-rate", 200, "at most `N` DHT queries per second, all targets together (negative: no cap)")
	fl.Float64Var(&f.trackerRate, "tracker-rate", crawl.DefaultTrackerRate, "at most `N` requests per second to any one tracker (negative: no cap)")
	fl.BoolVar(&f.noScrape, "no-scrape", false, "do not scrape the trackers after each round")
	fl.BoolVar(&o.json, "json", false, "print NDJSON events instead of one line per target")
	fl.Var(ageFlag{&f.keepSightings}, "keep-sightings", "after each round, delete the per-peer sightings older than this (720h, 30d; 0: keep all)")
}

func newCrawlCmd(c *cli) *cobra.Command {
	f := &crawlFlags{}
	cmd := &cobra.Command{
		Use:   "crawl [TARGETS-FILE|-|TARGET]...",
		Short: "Look up many swarms, round after round, into a database",
		Long: `Look up many swarms in one process that shares one DHT node (its routing
table stays warm from one target to the next) and one tracker client (UDP
connection ids reused; each tracker scraped once per round for all of its
swarms), and store every round in a database.

Each argument is a TARGET (a .torrent file, a magnet link, an info hash) or
a targets file: one TARGET per line, # comments and blank lines ignored,
.torrent paths relative to the file; "-" reads such a list from standard
input. A line that names no target is reported with its line number and
skipped.

--rounds N runs N rounds (default 1); --every 1h starts a round every hour
until stopped (or until --rounds). A crawl stopped mid-round (Ctrl-C, a
crash) resumes that round where it stopped when started again on the same
database. Writes are per round and target, and idempotent.

Results go to --db: a SQLite file (the default, under the user's data
directory) or a PostgreSQL URL. Read them back with 'peerfind history' and
'peerfind export', or with SQL (README.md gives the schema).

Each round's targets are jobs on a durable queue (River) in the database,
which this process works itself. With --enqueue it only puts them there,
for 'peerfind worker' processes (on any number of machines, with a
PostgreSQL --db), and exits (with --every it enqueues a round at each
interval until stopped).

Standard output gets one line per target (round, info hash, peers found,
swarm estimate from the announces, name), or with --json NDJSON events:
"target" per target and round when its search ends, "scrape" per target
when the trackers have been scraped at the end of the round, with the
estimate merged anew, "round" at each round's end, "skipped" per bad line.`,
		Example: `  peerfind crawl hashes.txt
  peerfind crawl hashes.txt --every 1h --db postgres://peerfind@db/peerfind
  peerfind crawl a.torrent b.torrent 'magnet:?xt=urn:btih:...' --rounds 3 --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("crawl needs targets: a targets file, - for standard input, or TARGET arguments")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCrawl(cmd.Context(), c, args, f)
		},
	}
	addSearchFlags(cmd, f)
	fl := cmd.Flags()
	fl.DurationVar(&f.every, "every", 0, "start a round this often, until stopped (0: rounds back to back)")
	fl.IntVar(&f.rounds, "rounds", 0, "run `N` rounds (default: 1, or no limit with --every)")
	fl.BoolVar(&f.enqueue, "enqueue", false, "put each target of each round on the job queue for 'peerfind worker' instead of searching here")
	return cmd
}

// checkCrawlFlags validates the flags shared with worker.
func checkCrawlFlags(f *crawlFlags) error {
	o := &f.search
	switch {
	case o.only4 && o.only6:
		return usageError("-4 and -6 exclude each other")
	case o.maxPeers < 0:
		return usageError("--max-peers must not be negative")
	case o.timeout < 0:
		return usageError("--timeout must not be negative")
	case f.concurrency < 0:
		return usageError("--concurrency must not be negative")
	case f.rounds < 0:
		return usageError("--rounds must not be negative")
	case f.every < 0:
		return usageError("--every must not be negative")
	case f.noTrackers && o.noDHT:
		return usageError("nothing to search with: --no-trackers and --no-dht")
	case f.enqueue && f.keepSightings > 0:
		return usageError("--keep-sightings prunes after a round searched here; with --enqueue, give it to the workers")
	}
	if o.timeout == 0 {
		o.timeout = -1
	}
	if f.concurrency == 0 {
		f.concurrency = autoConcurrency(f)
	}
	return nil
}

// autoConcurrency is --concurrency 0. An uncapped lookup sends its queries
// at well over a hundred per second, so under a --dht-rate cap a few
// searches use all of it, and more only share it: each then takes longer
// (against --timeout) for no more targets per second. One search per 20
// queries/s of the cap keeps a lookup of 60-odd queries to a few seconds.
func autoConcurrency(f *crawlFlags) int {
	if f.search.noDHT || f.dhtRate <= 0 {
		return crawl.DefaultConcurrency
	}
	return min(crawl.DefaultConcurrency, max(4, int(f.dhtRate/20)))
}

// defaultDB is the SQLite file used without --db.
func defaultDB() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "peerfind", "peerfind.db"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no --db and no home directory for the default database: %w", err)
	}
	return filepath.Join(home, ".local", "share", "peerfind", "peerfind.db"), nil
}

// openStore opens --db, creating the default SQLite file's directory.
func openStore(ctx context.Context, dsn string) (*store.Store, error) {
	if dsn == "" {
		var err error
		if dsn, err = defaultDB(); err != nil {
			return nil, withStatus(exitError, err)
		}
	}
	if !store.IsPostgres(dsn) {
		if err := os.MkdirAll(filepath.Dir(dsn), 0o700); err != nil {
			return nil, withStatus(exitError, fmt.Errorf("the database's directory: %w", err))
		}
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, withStatus(exitError, err)
	}
	return st, nil
}

// crawlSources are the shared tracker client and DHT node of a crawl or a
// worker.
type crawlSources struct {
	tc        *tracker.Client
	node      *dht.Node
	statePath string
}

func (s *crawlSources) close(stderr io.Writer) {
	s.saveState(stderr)
	if s.node != nil {
		s.node.Close()
	}
	s.tc.Close()
}

func (s *crawlSources) saveState(stderr io.Writer) {
	if s.node != nil && s.statePath != "" {
		if err := saveState(s.statePath, s.node); err != nil {
			fmt.Fprintf(stderr, "peerfind: warning: DHT state not saved: %v\n", err)
		}
	}
}

// newCrawler opens the shared sources and returns a Crawler over them.
func newCrawler(c *cli, f *crawlFlags) (*crawl.Crawler, *crawlSources, error) {
	o := &f.search
	src := &crawlSources{tc: &tracker.Client{}}
	if !f.noState && !o.noDHT {
		dir := f.stateDir
		if dir == "" {
			var err error
			if dir, err = defaultStateDir(); err != nil {
				fmt.Fprintf(c.stderr, "peerfind: warning: no place for the DHT state (%v); starting cold\n", err)
			}
		}
		if dir != "" {
			o.statePath = stateFile(dir)
			src.statePath = o.statePath
		}
	}
	cfg := crawl.Config{
		Search: discovery.Config{
			Timeout:         o.timeout,
			MaxPeers:        o.maxPeers,
			AllowDHTPrivate: o.allowDHTPrivate,
			Port:            o.port,
			TrackerPolicy:   o.trackerPolicy,
			DHTScrape:       true, // BEP 33 estimates ride on the lookups for free
		},
		Concurrency: f.concurrency,
		TrackerRate: f.trackerRate,
	}
	if !f.noTrackers {
		cfg.Search.Trackers = src.tc
		if !f.noScrape {
			cfg.Scraper = src.tc
		}
	}
	if !o.noDHT {
		o.dhtQueryRate = f.dhtRate
		// Room for every search's lookup: a query to a dead node holds
		// its place until the hard timeout, and with the default bound
		// the lookups of a high --concurrency queue behind each other.
		o.dhtMaxPending = max(1024, 64*f.concurrency)
		node, err := newDHTNode(c.stderr, o)
		if err != nil {
			src.tc.Close()
			var se *statusError
			if errors.As(err, &se) {
				return nil, nil, err
			}
			return nil, nil, withStatus(exitError, err)
		}
		src.node = node
		cfg.Search.DHT = discovery.NewDHTSource(node)
	}
	return crawl.New(cfg), src, nil
}

// applyTrackerFlags adds --tracker to every target, or drops all trackers
// with --no-trackers.
func applyTrackerFlags(ts []*crawl.Target, f *crawlFlags) {
	for _, t := range ts {
		if f.noTrackers {
			t.Search.Trackers = nil
		} else if len(f.trackers) > 0 {
			t.Search.Trackers = append(t.Search.Trackers, f.trackers)
		}
	}
}

func runCrawl(ctx context.Context, c *cli, args []string, f *crawlFlags) error {
	if err := checkCrawlFlags(f); err != nil {
		return err
	}
	rounds := f.rounds
	if rounds == 0 && f.every == 0 {
		rounds = 1
	}
	out := &crawlPrinter{w: c.stdout, json: f.search.json}
	targets, err := crawlTargets(args, c.stdin, func(b badLine) {
		fmt.Fprintf(c.stderr, "peerfind: skipped: %v\n", b)
		out.skipped(b)
	})
	if err != nil {
		return withStatus(exitError, err)
	}
	if len(targets) == 0 {
		return withStatus(exitError, errors.New("no targets to crawl"))
	}
	applyTrackerFlags(targets, f)
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
	if f.enqueue {
		return runEnqueue(ctx, c, q, targets, f, rounds)
	}
	if err := st.AddTargets(ctx, targets); err != nil {
		return withStatus(exitError, err)
	}
	cr, src, err := newCrawler(c, f)
	if err != nil {
		return err
	}
	defer src.close(c.stderr)

	for n := 0; rounds == 0 || n < rounds; n++ {
		start := time.Now()
		var round int64
		todo := len(targets)
		open, done, err := st.OpenRound(ctx)
		switch {
		case err == nil && n == 0:
			// The jobs of the targets not done go on the queue again;
			// those a killed crawl left running are handed back by River's
			// rescuer once they have run longer than a job may.
			round = open.Round
			var rest []*crawl.Target
			for _, t := range targets {
				if !done[t.Key] {
					rest = append(rest, t)
				}
			}
			todo = len(rest)
			fmt.Fprintf(c.stderr, "peerfind: resuming round %d: %d of %d targets done\n", round, len(done), len(done)+len(rest))
			if err := q.Insert(ctx, round, rest); err != nil {
				return withStatus(exitError, err)
			}
		case err == nil || errors.Is(err, store.ErrNotFound):
			if round, err = q.Enqueue(ctx, targets); err != nil {
				return withStatus(exitError, err)
			}
		default:
			return withStatus(exitError, err)
		}
		if err := crawlRound(ctx, c, q, cr, f, round, todo, out); err != nil {
			if ctx.Err() != nil {
				fmt.Fprintf(c.stderr, "peerfind: interrupted: round %d is unfinished; run the same crawl again to resume it\n", round)
				return nil
			}
			return err
		}
		src.saveState(c.stderr)
		newSightingPruner(ctx, c, st, f.keepSightings, out).afterRound()
		if rounds != 0 && n+1 >= rounds {
			break
		}
		if wait := time.Until(start.Add(f.every)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil
			}
		}
		if ctx.Err() != nil {
			return nil
		}
	}
	return nil
}

// crawlRound works the queue in this process until round has ended (every
// target searched and stored, the trackers scraped), with a progress bar
// of its todo targets on a terminal. Jobs of other rounds on the queue
// are worked too, if any.
func crawlRound(ctx context.Context, c *cli, q *queue.Queue, cr *crawl.Crawler, f *crawlFlags, round int64, todo int, out *crawlPrinter) error {
	start := time.Now()
	var bar *crawlBar
	if isTerminal(c.stderr) {
		bar = newCrawlBar(c.stderr, round, todo)
		if isTerminal(c.stdout) {
			out.setWriter(bar.p)
		}
		defer out.setWriter(c.stdout)
	}
	var (
		mu            sync.Mutex
		peers, failed int
		ended         bool
	)
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	jt := jobTimeout(f.search.timeout)
	err := q.Run(rctx, queue.Config{
		Crawler:     cr,
		Concurrency: f.concurrency,
		JobTimeout:  jt,
		RescueAfter: jt,
		Logger:      slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		OnResult: func(r *crawl.Result) {
			out.target(r)
			if r.Round != round {
				return
			}
			mu.Lock()
			peers += len(r.Peers)
			if searchFailed(r) {
				failed++
			}
			mu.Unlock()
			if bar != nil {
				bar.add(len(r.Peers))
			}
		},
		OnScrape: out.scrape,
		OnRoundEnd: func(r int64) {
			if r == round {
				mu.Lock()
				ended = true
				mu.Unlock()
				stop()
			}
		},
	})
	if bar != nil {
		bar.stop()
	}
	if err != nil {
		return withStatus(exitError, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !ended {
		return ctx.Err()
	}
	out.round(round, todo, peers, failed, time.Since(start))
	fmt.Fprintf(c.stderr, "peerfind: round %d: %s, %s found, %d failed, in %s\n", round, countNoun(todo, "target"), countNoun(peers, "peer"), failed, roundDur(time.Since(start)))
	return nil
}

// searchFailed reports whether a target's search failed: nothing to search
// with, or every source asked failed every time.
func searchFailed(r *crawl.Result) bool {
	if r.Err != nil {
		return true
	}
	for _, o := range r.Observations {
		if o.Kind == "magnet" || o.Errors < o.Queries {
			return false
		}
	}
	return len(r.Observations) > 0
}

// crawlPrinter writes a crawl's results on standard output.
type crawlPrinter struct {
	mu   sync.Mutex
	w    io.Writer
	json bool
}

func (p *crawlPrinter) setWriter(w io.Writer) {
	p.mu.Lock()
	p.w = w
	p.mu.Unlock()
}

func (p *crawlPrinter) emit(v any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, _ := json.Marshal(v)
	p.w.Write(append(b, '\n'))
}

func (p *crawlPrinter) skipped(b badLine) {
	if p.json {
		p.emit(map[string]any{"type": "skipped", "file": b.file, "line": b.line, "error": b.err.Error()})
	}
}

type jsonCrawlSource struct {
	Source    string `json:"source"`
	Kind      string `json:"kind"`
	Peers     *int   `json:"peers"`
	Seeders   *int   `json:"seeders"`
	Leechers  *int   `json:"leechers"`
	Completed *int   `json:"completed"`
	Queries   int    `json:"queries"`
	Errors    int    `json:"errors"`
	LatencyMS int64  `json:"latency_ms"`
	Error     string `json:"error,omitempty"`
}

func (p *crawlPrinter) target(r *crawl.Result) {
	if !p.json {
		p.mu.Lock()
		defer p.mu.Unlock()
		status := fmt.Sprintf("%d peers, estimate %d", len(r.Peers), r.Estimate.Low)
		if r.Estimate.High > r.Estimate.Low {
			status += fmt.Sprintf("-%d", r.Estimate.High)
		}
		if r.Err != nil {
			status = "error: " + r.Err.Error()
		} else if searchFailed(r) {
			status += ", every source failed"
		}
		fmt.Fprintf(p.w, "%d\t%s\t%s\t%s\n", r.Round, r.Target.Key, status, r.Target.Name)
		return
	}
	v := map[string]any{
		"type": "target", "round": r.Round, "info_hash": r.Target.Key, "name": r.Target.Name,
		"time": r.Start.UTC(), "duration_ms": ms(r.Duration), "reason": r.Reason,
		"peers": len(r.Peers), "estimate": r.Estimate.Low, "estimate_high": r.Estimate.High,
	}
	if r.Err != nil {
		v["error"] = r.Err.Error()
	}
	var srcs []jsonCrawlSource
	for _, o := range r.Observations {
		srcs = append(srcs, jsonCrawlSource{Source: o.Source, Kind: o.Kind, Peers: optCount(o.Peers),
			Seeders: optCount(o.Seeders), Leechers: optCount(o.Leechers), Completed: optCount(o.Completed),
			Queries: o.Queries, Errors: o.Errors, LatencyMS: o.Latency.Milliseconds(), Error: o.Err})
	}
	v["sources"] = srcs
	p.emit(v)
}

// scrape reports the scrape of one target at the end of a round (NDJSON
// only: the plain output has one line per target, printed at its search).
func (p *crawlPrinter) scrape(u *crawl.ScrapeUpdate) {
	if !p.json {
		return
	}
	var srcs []jsonCrawlSource
	for _, o := range u.Observations {
		srcs = append(srcs, jsonCrawlSource{Source: o.Source, Kind: o.Kind, Peers: optCount(o.Peers),
			Seeders: optCount(o.Seeders), Leechers: optCount(o.Leechers), Completed: optCount(o.Completed),
			Queries: o.Queries, Errors: o.Errors, LatencyMS: o.Latency.Milliseconds(), Error: o.Err})
	}
	p.emit(map[string]any{"type": "scrape", "round": u.Round, "info_hash": u.Target.Key, "name": u.Target.Name,
		"estimate": u.Estimate.Low, "estimate_high": u.Estimate.High, "sources": srcs})
}

func (p *crawlPrinter) round(round int64, targets, peers, failed int, d time.Duration) {
	if p.json {
		p.emit(map[string]any{"type": "round", "round": round, "targets": targets, "peers": peers, "failed": failed, "duration_ms": ms(d)})
	}
}

// crawlBar is the progress bar of a round on a terminal.
type crawlBar struct {
	p     *mpb.Progress
	bar   *mpb.Bar
	mu    sync.Mutex
	peers int
}

func newCrawlBar(w io.Writer, round int64, total int) *crawlBar {
	b := &crawlBar{p: mpb.New(mpb.WithOutput(w), mpb.WithRefreshRate(200*time.Millisecond))}
	b.bar = b.p.AddBar(int64(total),
		mpb.PrependDecorators(
			decor.Name(fmt.Sprintf("round %d ", round)),
			decor.CountersNoUnit("%d/%d targets"),
		),
		mpb.AppendDecorators(
			decor.Any(func(decor.Statistics) string {
				b.mu.Lock()
				defer b.mu.Unlock()
				return fmt.Sprintf(" %d peers ", b.peers)
			}),
			decor.AverageSpeed(0, "%.1f targets/s "),
			decor.AverageETA(decor.ET_STYLE_GO),
		),
		mpb.BarRemoveOnComplete(),
		mpb.BarFillerClearOnAbort(),
	)
	return b
}

func (b *crawlBar) add(peers int) {
	b.mu.Lock()
	b.peers += peers
	b.mu.Unlock()
	b.bar.Increment()
}

func (b *crawlBar) stop() {
	if !b.bar.Completed() {
		b.bar.Abort(true)
	}
	b.p.Wait()
}
