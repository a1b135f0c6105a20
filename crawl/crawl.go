// Package crawl looks up many swarms, round after round, sharing one DHT
// node and one tracker client between them: the DHT's routing table stays
// warm from one target to the next, UDP trackers' connection ids are reused
// (BEP 15), and each tracker is scraped once per round for every swarm it
// serves (up to 74 hashes per UDP packet, 64 per HTTP request).
//
// A Crawler searches one target at a time per call (Target), any number
// of calls at once, and scrapes the trackers of a round's ended searches
// (Scrape), pacing the announces and scrapes sent to each tracker. Package
// queue runs the rounds, as jobs on a durable queue, and package store
// keeps the results. A Crawler keeps nothing between calls but what the
// shared DHT node and tracker client keep.
package crawl

import (
	"context"
	"sync"
	"time"

	"github.com/peerfind/peerfind/discovery"
	"github.com/peerfind/peerfind/metainfo"
	"github.com/peerfind/peerfind/tracker"
)

// Target is one swarm to crawl.
type Target struct {
	// Key is the target's identity in results and storage: its first swarm
	// key (the v1 info hash of a hybrid torrent).
	Key metainfo.Hash `json:"key"`
	// Name is the torrent's or magnet's name, possibly empty.
	Name string `json:"name,omitempty"`
	// Spec is the target as the user wrote it (a magnet link, an info hash,
	// a .torrent path).
	Spec string `json:"spec,omitempty"`
	// Search is what to look up.
	Search discovery.Target `json:"search"`
}

// NewTarget returns the target of t, keyed by its first swarm key.
func NewTarget(t discovery.Target, name, spec string) (*Target, error) {
	if len(t.InfoHashes) == 0 || t.InfoHashes[0].IsZero() {
		// The zero hash names no swarm: discovery.Find drops it.
		return nil, discovery.ErrNoHash
	}
	return &Target{Key: t.InfoHashes[0], Name: name, Spec: spec, Search: t}, nil
}

// Scraper asks a tracker for the counts of several swarms at once; a
// *tracker.Client implements it.
type Scraper interface {
	Scrape(ctx context.Context, trackerURL string, hashes ...metainfo.Hash) (map[metainfo.Hash]tracker.ScrapeStats, error)
}

// Defaults of Config (and of queue.Config).
const (
	// DefaultConcurrency is the searches (queue jobs) and the tracker
	// scrapes run at once: a search mostly waits on round trips (and holds
	// its slot through its "stopped" announces), so many at once are
	// needed to keep the DHT node and the trackers busy; past 64, the
	// lookups start to queue behind each other's queries to dead nodes.
	DefaultConcurrency = 64
	// DefaultTrackerRate is the requests per second sent to one tracker:
	// public trackers serve millions of clients, each announcing every
	// half hour or so, and ban addresses that send far more.
	DefaultTrackerRate = 10
)

// Config configures a Crawler. Search is the template of every target's
// search: its Trackers and DHT are the shared client and node.
type Config struct {
	// Search is copied for each target's discovery.Find. Its Trackers
	// announcer is wrapped so that requests to each tracker are paced at
	// TrackerRate.
	Search discovery.Config
	// Scraper, if not nil, scrapes every tracker once per round, after the
	// searches, for all the round's swarms that name it.
	Scraper Scraper
	// Concurrency bounds the trackers scraped at once. If zero,
	// DefaultConcurrency.
	Concurrency int
	// TrackerRate caps requests per second to one tracker URL. If zero,
	// DefaultTrackerRate; negative means unlimited.
	TrackerRate float64
}

func (c *Config) concurrency() int {
	if c.Concurrency <= 0 {
		return DefaultConcurrency
	}
	return c.Concurrency
}

func (c *Config) trackerRate() float64 {
	if c.TrackerRate == 0 {
		return DefaultTrackerRate
	}
	return c.TrackerRate
}

// Crawler runs rounds. It is safe for use by one goroutine at a time.
type Crawler struct {
	cfg   Config
	pacer *pacer
}

// New returns a Crawler for cfg.
func New(cfg Config) *Crawler {
	return &Crawler{cfg: cfg, pacer: newPacer(cfg.trackerRate())}
}

// Observation is one source's view of one target in one round.
type Observation struct {
	Source string // a tracker URL, "dht", "magnet" or "scrape:" + tracker URL
	Kind   string // "tracker", "dht", "magnet" or "scrape"
	// Peers is the number of distinct peers the source named; -1 for a
	// scrape, which names none.
	Peers int
	// Unique is the number of peers this source named first in the round.
	Unique int
	// Seeders, Leechers and Completed are a tracker's counts, -1 where
	// unknown. An announce gives the first two, a scrape all three; the
	// DHT gives the first two as its BEP 33 estimate (Search.DHTScrape).
	Seeders, Leechers, Completed int
	// Queries and Errors count the announces or lookups made and failed.
	Queries, Errors int
	// Latency is a tracker's last announce or scrape round trip, or the
	// time to the DHT's first peer; zero if none.
	Latency time.Duration
	// Err is the source's last failure, "" if none.
	Err string
}

// Estimate is the size of a swarm merged from every source.
type Estimate struct {
	// Low is the largest count any one source vouches for: the distinct
	// peers found, or a tracker's or the DHT's (BEP 33) seeders +
	// leechers. It is the estimate.
	Low int
	// High assumes the sources overlap nowhere: every tracker's
	// seeders + leechers, and the DHT's, added to the peers found outside
	// the trackers.
	High int
}

// Result is what one round found for one target.
type Result struct {
	Round  int64
	Target *Target
	Start  time.Time
	// Duration is the search's; the scrape happens after it.
	Duration     time.Duration
	Reason       discovery.StopReason
	Observations []Observation
	Peers        []discovery.PeerInfo
	Estimate     Estimate
	// Err is set when the target could not be searched at all (no source,
	// no hash); the other fields are then mostly empty.
	Err error
	// Found is the number of distinct peers found, and Untracked how many
	// of them no tracker named: what Scrape needs of the peers to merge
	// the estimate anew, when Peers is no longer at hand.
	Found, Untracked int
}

// ScrapeUpdate is what a round's scrape added for one target: an
// observation per tracker (Kind "scrape") and the estimate merged anew.
type ScrapeUpdate struct {
	Round        int64
	Target       *Target
	Observations []Observation
	Estimate     Estimate
}

// Scrape scrapes, once per tracker, the swarms of a round's results whose
// searches have ended — the end of a round, whose results come back from
// the database without their peers — and returns an update per
// target that any tracker reported on. Only trackers that answered an
// announce in the round are asked. It adds the scrape observations to the
// results themselves.
func (c *Crawler) Scrape(ctx context.Context, results []*Result) []*ScrapeUpdate {
	if c.cfg.Scraper == nil {
		return nil
	}
	c.scrape(ctx, results)
	var us []*ScrapeUpdate
	for _, r := range results {
		u := &ScrapeUpdate{Round: r.Round, Target: r.Target, Estimate: r.estimate()}
		for _, o := range r.Observations {
			if o.Kind == "scrape" {
				u.Observations = append(u.Observations, o)
			}
		}
		if len(u.Observations) > 0 {
			us = append(us, u)
		}
	}
	return us
}

// Target searches one target, without the scrape: the unit of work of a
// job queue, whose round ends with one Scrape of all its results. It is
// safe to call from many goroutines at once.
func (c *Crawler) Target(ctx context.Context, round int64, t *Target) *Result {
	r := c.search(ctx, round, t)
	r.Estimate = r.estimate()
	return r
}

// search runs one target's discovery.Find.
func (c *Crawler) search(ctx context.Context, round int64, t *Target) *Result {
	r := &Result{Round: round, Target: t, Start: time.Now()}
	cfg := c.cfg.Search
	if cfg.Trackers != nil {
		cfg.Trackers = pacedAnnouncer{a: cfg.Trackers, p: c.pacer}
	}
	latency := map[string]time.Duration{}
	sum, err := discovery.Find(ctx, t.Search, &cfg, func(e discovery.Event) {
		if te, ok := e.(*discovery.TrackerEvent); ok && te.Event != tracker.EventStopped {
			latency[te.URL] = te.Latency
		}
	})
	if err != nil {
		r.Err = err
		return r
	}
	r.Duration, r.Reason, r.Peers = sum.Duration, sum.Reason, sum.Peers
	r.Found, r.Untracked = peerCounts(r.Peers)
	for _, s := range sum.Sources {
		o := Observation{
			Source: s.Name, Kind: s.Kind.String(),
			Peers: s.Peers, Unique: s.Unique,
			Seeders: -1, Leechers: -1, Completed: -1,
			Queries: s.Queries, Errors: s.Errors,
		}
		if s.Err != nil {
			o.Err = s.Err.Error()
		}
		switch s.Kind {
		case discovery.KindTracker:
			o.Seeders, o.Leechers = s.Seeders, s.Leechers
			o.Latency = latency[s.Name]
		case discovery.KindDHT:
			if s.Peers > 0 {
				o.Latency = s.FirstPeer
			}
			// BEP 33 estimate with Search.DHTScrape, else -1.
			o.Seeders, o.Leechers = s.Seeders, s.Leechers
		}
		r.Observations = append(r.Observations, o)
	}
	return r
}

// scrape asks each tracker named by the results' targets once for all of
// their swarms and adds a "scrape" observation per target and tracker.
func (c *Crawler) scrape(ctx context.Context, results []*Result) {
	// A tracker that answered no announce this round is not scraped: it is
	// down, and asking it again would only wait for its timeout.
	answered := map[string]bool{}
	for _, r := range results {
		for _, o := range r.Observations {
			if o.Kind == "tracker" && o.Errors < o.Queries {
				answered[o.Source] = true
			}
		}
	}
	byURL := map[string][]*Result{}
	var urls []string
	for _, r := range results {
		if r.Err != nil || c.cfg.Search.Trackers == nil {
			continue
		}
		for _, tier := range tracker.DedupeTiers(r.Target.Search.Trackers) {
			for _, u := range tier {
				if !answered[u] {
					continue
				}
				if byURL[u] == nil {
					urls = append(urls, u)
				}
				byURL[u] = append(byURL[u], r)
			}
		}
	}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, c.cfg.concurrency())
	)
	for _, u := range urls {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			rs := byURL[u]
			hashes := make([]metainfo.Hash, len(rs))
			for i, r := range rs {
				hashes[i] = r.Target.Key
			}
			t0 := time.Now()
			var stats map[metainfo.Hash]tracker.ScrapeStats
			err := c.pacer.wait(ctx, u)
			if err == nil {
				sctx, cancel := context.WithTimeout(ctx, scrapeTimeout(c.cfg.Search.AnnounceTimeout))
				stats, err = c.cfg.Scraper.Scrape(sctx, u, hashes...)
				cancel()
			}
			lat := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			for _, r := range rs {
				o := Observation{Source: "scrape:" + u, Kind: "scrape", Peers: -1, Seeders: -1, Leechers: -1, Completed: -1, Queries: 1, Latency: lat}
				if err != nil {
					o.Errors, o.Err = 1, err.Error()
				} else if st, ok := stats[r.Target.Key]; ok {
					o.Seeders, o.Leechers, o.Completed = st.Seeders, st.Leechers, st.Completed
				} else {
					o.Errors, o.Err = 1, "the tracker did not report this swarm"
				}
				r.Observations = append(r.Observations, o)
			}
		})
	}
	wg.Wait()
}

func scrapeTimeout(announce time.Duration) time.Duration {
	if announce <= 0 {
		return tracker.DefaultAnnounceTimeout
	}
	return announce
}

// peerCounts returns the distinct peers found and how many of them no
// tracker named.
func peerCounts(peers []discovery.PeerInfo) (found, outside int) {
	for _, p := range peers {
		viaTracker := false
		for _, s := range p.Sources {
			if s != discovery.SourceDHT && s != discovery.SourceMagnet && s != discovery.SourcePEX {
				viaTracker = true
			}
		}
		if !viaTracker {
			outside++
		}
	}
	return len(peers), outside
}

// estimate merges the sources' counts into one estimate with its range.
func (r *Result) estimate() Estimate {
	e := Estimate{Low: r.Found}
	// The best count per tracker, from its announce or its scrape, and
	// the DHT's BEP 33 estimate under "dht".
	best := map[string]int{}
	for _, o := range r.Observations {
		if o.Seeders < 0 || o.Leechers < 0 {
			continue
		}
		u := o.Source
		if o.Kind == "scrape" {
			u = u[len("scrape:"):]
		}
		best[u] = max(best[u], o.Seeders+o.Leechers)
	}
	trackerSum := 0
	for _, n := range best {
		e.Low = max(e.Low, n)
		trackerSum += n
	}
	e.High = max(r.Untracked+trackerSum, e.Low)
	return e
}

// pacedAnnouncer paces announces per tracker URL.
type pacedAnnouncer struct {
	a tracker.Announcer
	p *pacer
}

func (pa pacedAnnouncer) Announce(ctx context.Context, u string, req tracker.AnnounceRequest) (*tracker.AnnounceResponse, error) {
	if err := pa.p.wait(ctx, u); err != nil {
		return nil, &tracker.Error{URL: u, Op: "announce", Err: err}
	}
	return pa.a.Announce(ctx, u, req)
}

// pacer spaces requests to one key at least 1/rate apart, without bursts.
type pacer struct {
	gap  time.Duration // 0: unlimited
	mu   sync.Mutex
	next map[string]time.Time
}

func newPacer(rate float64) *pacer {
	p := &pacer{next: map[string]time.Time{}}
	if rate > 0 {
		p.gap = time.Duration(float64(time.Second) / rate)
	}
	return p
}

// wait returns when the next request to key may go, or ctx's error.
func (p *pacer) wait(ctx context.Context, key string) error {
	if p.gap == 0 {
		return ctx.Err()
	}
	p.mu.Lock()
	now := time.Now()
	at := p.next[key]
	if at.Before(now) {
		at = now
	}
	p.next[key] = at.Add(p.gap)
	if len(p.next) > maxPacerKeys { // forget slots long past
		for k, t := range p.next {
			if t.Before(now) {
				delete(p.next, k)
			}
		}
	}
	p.mu.Unlock()
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

const maxPacerKeys = 4096
