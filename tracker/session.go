package tracker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/peerfind/peerfind/metainfo"
)

// Announcer sends one announce to one tracker and returns its answer. *Client
// implements it; a Session takes any Announcer so that callers can put their
// own transport (or a scripted one, in tests) under the session logic.
// Implementations must be safe for concurrent use.
type Announcer interface {
	Announce(ctx context.Context, trackerURL string, req AnnounceRequest) (*AnnounceResponse, error)
}

// Defaults of a Session's zero fields.
const (
	DefaultMaxConcurrent   = 128
	DefaultAnnounceTimeout = 15 * time.Second
	DefaultInterval        = 30 * time.Minute
	DefaultRetryInterval   = 2 * time.Minute
	DefaultStopTimeout     = 3 * time.Second
)

// ErrSessionStopped is returned by Run on a Session that was stopped.
var ErrSessionStopped = errors.New("tracker: session stopped")

// Session is one torrent's life on its trackers: it owns the `started`,
// re-announce and `stopped` events, the tiers and their policy, URL
// deduplication, the bound on concurrent announces and the intervals. The
// transport is its Announcer, usually a *Client shared by many sessions.
//
// Set the fields, then call Run (again to re-announce, if wanted), then
// Stop once; Run and Stop must not overlap. Results stream to a callback as
// each announce finishes; a slow or dead tracker never holds back another.
type Session struct {
	// Announcer carries the announces; required. The caller closes it
	// after Stop.
	Announcer Announcer
	// Tiers are the announce URLs in tiers (BEP 12), as a torrent lists
	// them. Repeats are asked once (see DedupeTiers).
	Tiers [][]string
	// InfoHashes are the swarms announced, each to every tracker: one for
	// most torrents, two for a hybrid v1+v2 torrent (BEP 52).
	InfoHashes []metainfo.Hash
	// Request is the template of every announce: PeerID, Port, Left,
	// NumWant, Key (see AnnounceRequest). Its InfoHash and Event are set by
	// the session.
	Request AnnounceRequest
	// Policy chooses the trackers asked. If zero, PolicyAll.
	Policy Policy
	// Follow keeps Run going until ctx ends: each tracker is announced to
	// again at its interval (never sooner than its min interval), a failed
	// one after RetryInterval, doubling up to DefaultInterval, or when BEP
	// 31's "retry in" says; a tracker whose "retry in" is "never" is left
	// alone. Without Follow, Run returns after one round.
	Follow bool
	// MaxConcurrent bounds the announces in flight at once. If zero,
	// DefaultMaxConcurrent: a waiting UDP announce costs a goroutine and a
	// table entry, and the bound must not hold live trackers behind dead
	// ones.
	MaxConcurrent int
	// AnnounceTimeout bounds each announce, so that a dead tracker is
	// reported failed in time. If zero, DefaultAnnounceTimeout.
	AnnounceTimeout time.Duration
	// DefaultInterval is the re-announce interval when a tracker gives
	// none, and the cap of the retry back-off. If zero, DefaultInterval.
	DefaultInterval time.Duration
	// RetryInterval is the first pause before announcing again to a
	// tracker that failed (Follow). If zero, DefaultRetryInterval.
	RetryInterval time.Duration
	// StopTimeout bounds all of Stop's `stopped` announces together. If
	// zero, DefaultStopTimeout; if negative, Stop sends none.
	StopTimeout time.Duration

	initOnce sync.Once
	tiers    [][]string // deduplicated
	tierOf   map[string]int
	order    *tierOrder // BEP 12
	sem      chan struct{}

	mu      sync.Mutex
	started map[swarmKey]bool // (tracker, swarm) pairs that accepted `started`
	stopped bool

	deliverMu sync.Mutex // fn is called one result at a time
}

type swarmKey struct {
	url  string
	hash metainfo.Hash
}

// Result is one finished announce.
type Result struct {
	URL      string        // the tracker URL, as first given in Tiers
	Tier     int           // its tier, from 0
	InfoHash metainfo.Hash // the swarm announced
	Event    Event         // the event sent
	Latency  time.Duration // from sending to the answer or the error
	// Response is the tracker's answer; nil when the announce failed.
	Response *AnnounceResponse
	// Next is the pause before this tracker is asked again about this
	// swarm (Follow only); zero when no announce is planned.
	Next time.Duration
}

func (s *Session) init() {
	s.initOnce.Do(func() {
		s.tiers = DedupeTiers(s.Tiers)
		s.tierOf = map[string]int{}
		for i, t := range s.tiers {
			for _, u := range t {
				s.tierOf[u] = i
			}
		}
		s.order = newTierOrder(s.tiers)
		n := s.MaxConcurrent
		if n <= 0 {
			n = DefaultMaxConcurrent
		}
		s.sem = make(chan struct{}, n)
		s.started = map[swarmKey]bool{}
	})
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (s *Session) stopTimeout() time.Duration {
	if s.StopTimeout == 0 {
		return DefaultStopTimeout
	}
	return s.StopTimeout
}

// Trackers returns the deduplicated tiers the session asks (see
// DedupeTiers).
func (s *Session) Trackers() [][]string {
	s.init()
	out := make([][]string, len(s.tiers))
	for i, t := range s.tiers {
		out[i] = slices.Clone(t)
	}
	return out
}

// Run announces the swarms to the trackers under the Policy and calls fn
// (if not nil) with each announce's result and its error (a *Error naming
// the tracker), one at a time, from the session's goroutines. The first
// successful announce of a swarm to a tracker is `started`; later ones, in
// this Run or a later one, are regular announces. Announces cut short by
// ctx are not reported: they are not the tracker's verdict.
//
// Without Follow, Run returns once every tracker asked has answered or
// failed (under PolicyBEP12: once a tracker answered for each swarm, or all
// failed). With Follow it returns when ctx ends. It returns ctx's error if
// ctx ended it, ErrSessionStopped after Stop, and nil otherwise.
func (s *Session) Run(ctx context.Context, fn func(Result, error)) error {
	s.init()
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	if stopped {
		return ErrSessionStopped
	}
	deliver := func(r Result, err error) {
		if fn == nil {
			return
		}
		s.deliverMu.Lock()
		defer s.deliverMu.Unlock()
		fn(r, err)
	}
	var hashes []metainfo.Hash
	for _, h := range s.InfoHashes {
		if !h.IsZero() && !slices.Contains(hashes, h) {
			hashes = append(hashes, h)
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	if s.Policy == PolicyBEP12 {
		for _, h := range hashes {
			wg.Go(func() { s.walk(wctx, h, deliver) })
		}
	} else {
	launch:
		for ti, tier := range s.tiers {
			for _, u := range tier {
				for _, h := range hashes {
					// Take the slot before starting the goroutine, so
					// that a torrent listing thousands of trackers has
					// at most MaxConcurrent of them (without Follow).
					if !s.acquire(wctx) {
						break launch
					}
					wg.Go(func() { s.follow(wctx, u, ti, h, deliver) })
				}
			}
		}
	}
	wg.Wait()
	return ctx.Err()
}

func (s *Session) acquire(ctx context.Context) bool {
	select {
	case s.sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Session) release() { <-s.sem }

// announce sends one announce of swarm h to tracker u, `started` unless
// the tracker accepted one before. The caller holds a slot of sem.
func (s *Session) announce(ctx context.Context, u string, tier int, h metainfo.Hash) (Result, error) {
	k := swarmKey{u, h}
	s.mu.Lock()
	started := s.started[k]
	s.mu.Unlock()
	req := s.Request
	req.InfoHash = h
	req.Event = EventStarted
	if started {
		req.Event = EventNone
	}
	actx, cancel := context.WithTimeout(ctx, orDefault(s.AnnounceTimeout, DefaultAnnounceTimeout))
	defer cancel()
	t0 := time.Now()
	resp, err := s.Announcer.Announce(actx, u, req)
	r := Result{URL: u, Tier: tier, InfoHash: h, Event: req.Event, Latency: time.Since(t0)}
	if err == nil && resp == nil {
		err = &Error{URL: u, Op: "announce", Err: ErrBadResponse}
	}
	if err != nil {
		return r, err
	}
	r.Response = resp
	if req.Event == EventStarted {
		s.mu.Lock()
		s.started[k] = true
		s.mu.Unlock()
	}
	return r, nil
}

// follow announces swarm h to one tracker (PolicyAll): once, or with Follow
// again and again. It starts holding a slot of sem.
func (s *Session) follow(ctx context.Context, u string, tier int, h metainfo.Hash, deliver func(Result, error)) {
	retry := orDefault(s.RetryInterval, DefaultRetryInterval)
	def := orDefault(s.DefaultInterval, DefaultInterval)
	for first := true; ; first = false {
		if !first && !s.acquire(ctx) {
			return
		}
		r, err := s.announce(ctx, u, tier, h)
		s.release()
		if ctx.Err() != nil {
			return
		}
		var delay time.Duration
		if err == nil {
			delay = nextAnnounce(r.Response.Interval, r.Response.MinInterval, def)
			retry = orDefault(s.RetryInterval, DefaultRetryInterval)
		} else {
			var never bool
			delay, never = retryAfter(err, retry)
			retry = min(2*retry, def)
			if never {
				deliver(r, err)
				return
			}
		}
		if !s.Follow {
			deliver(r, err)
			return
		}
		r.Next = delay
		deliver(r, err)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return
		}
	}
}

// retryAfter is the pause before asking a tracker that failed with err
// again: BEP 31's "retry in" if the tracker sent one (never: ok false),
// else the back-off pause given.
func retryAfter(err error, backoff time.Duration) (d time.Duration, never bool) {
	var fe *FailureError
	if errors.As(err, &fe) {
		switch {
		case fe.RetryIn < 0:
			return 0, true
		case fe.RetryIn > 0:
			return fe.RetryIn, false
		}
	}
	return backoff, false
}

// nextAnnounce is the pause before the next regular announce: the
// tracker's interval (def if it gave none), never less than its min
// interval, which trackers ask clients not to undercut.
func nextAnnounce(interval, minInterval, def time.Duration) time.Duration {
	d := interval
	if d <= 0 {
		d = def
	}
	return max(d, minInterval)
}

// walk announces swarm h under BEP 12: tiers in order, each in its current
// order, until a tracker answers, which is then promoted to the front of
// its tier. With Follow it walks again at that tracker's interval, or after
// a back-off when none answered.
func (s *Session) walk(ctx context.Context, h metainfo.Hash, deliver func(Result, error)) {
	def := orDefault(s.DefaultInterval, DefaultInterval)
	retry := orDefault(s.RetryInterval, DefaultRetryInterval)
	held := map[string]hold{} // trackers that asked, by BEP 31, to be left alone
	for {
		answered := false
		var delay time.Duration
		asked := 0
	tiers:
		for ti := range s.tiers {
			for _, u := range s.order.tier(ti) {
				if hd, ok := held[u]; ok && (hd.never || time.Now().Before(hd.until)) {
					continue
				}
				if !s.acquire(ctx) {
					return
				}
				r, err := s.announce(ctx, u, ti, h)
				s.release()
				if ctx.Err() != nil {
					return
				}
				asked++
				if err != nil {
					if d, never := retryAfter(err, 0); never || d > 0 {
						held[u] = hold{until: time.Now().Add(d), never: never}
					}
					deliver(r, err)
					continue
				}
				s.order.promote(ti, u)
				answered = true
				delay = nextAnnounce(r.Response.Interval, r.Response.MinInterval, def)
				if s.Follow {
					r.Next = delay
				}
				deliver(r, nil)
				break tiers
			}
		}
		if !s.Follow {
			return
		}
		if answered {
			retry = orDefault(s.RetryInterval, DefaultRetryInterval)
		} else {
			if asked == 0 && s.allNever(held) {
				return
			}
			delay = retry
			retry = min(2*retry, def)
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return
		}
	}
}

// hold is a BEP 31 "retry in": ask the tracker again after until, or never.
type hold struct {
	until time.Time
	never bool
}

// allNever reports whether every tracker of the session is held forever.
func (s *Session) allNever(held map[string]hold) bool {
	for u := range s.tierOf {
		if !held[u].never {
			return false
		}
	}
	return true
}

// Stop announces `stopped` for every swarm to every tracker that accepted a
// `started` for it, all at once, so that no tracker keeps handing out our
// address; it waits for the answers for at most StopTimeout altogether (and
// no longer than ctx allows), so a tracker that never answers costs at most
// that. It calls fn (if not nil) with each result, one at a time. Stop works
// once: later calls do nothing, and Run then returns ErrSessionStopped. It
// must not run while Run does.
func (s *Session) Stop(ctx context.Context, fn func(Result, error)) {
	s.init()
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	keys := make([]swarmKey, 0, len(s.started))
	for k := range s.started {
		keys = append(keys, k)
	}
	clear(s.started)
	s.mu.Unlock()
	d := s.stopTimeout()
	if d < 0 || len(keys) == 0 {
		return
	}
	slices.SortFunc(keys, func(a, b swarmKey) int {
		if c := s.tierOf[a.url] - s.tierOf[b.url]; c != 0 {
			return c
		}
		if c := strings.Compare(a.url, b.url); c != 0 {
			return c
		}
		return slices.Compare(a.hash[:], b.hash[:])
	})
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Go(func() {
			req := s.Request
			req.InfoHash = k.hash
			req.Event = EventStopped
			req.NumWant = -1 // no peers wanted: we are leaving
			t0 := time.Now()
			resp, err := s.Announcer.Announce(ctx, k.url, req)
			r := Result{URL: k.url, Tier: s.tierOf[k.url], InfoHash: k.hash, Event: EventStopped, Latency: time.Since(t0), Response: resp}
			if err != nil {
				r.Response = nil
			}
			if fn != nil {
				s.deliverMu.Lock()
				defer s.deliverMu.Unlock()
				fn(r, err)
			}
		})
	}
	wg.Wait()
}
