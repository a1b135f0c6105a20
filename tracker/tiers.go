package tracker

import (
	"context"
	"iter"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// Policy chooses which trackers of a torrent's tier list AnnounceAll asks.
type Policy int

const (
	// PolicyAll announces to every tracker of every tier at once: the
	// fastest way to find every peer, and the default.
	PolicyAll Policy = iota
	// PolicyBEP12 follows BEP 12: each tier shuffled once, trackers tried
	// in order, the first that answers promoted to the front of its tier,
	// falling through to the next tracker and then the next tier on
	// failure; it stops at the first answer.
	PolicyBEP12
)

// String returns "all" or "bep12".
func (p Policy) String() string {
	if p == PolicyBEP12 {
		return "bep12"
	}
	return "all"
}

// Result is what one tracker contacted by AnnounceAll answered.
type Result struct {
	URL      string            // the tracker URL as given
	Tier     int               // its tier, from 0
	Latency  time.Duration     // from sending to the answer or the error
	Response *AnnounceResponse // nil when the announce failed
}

// AnnounceAll announces req to the trackers of tiers under policy p and
// yields one item per tracker contacted, as each finishes: the Result, and
// a nil error or the *Error of that tracker. Slow or dead trackers never
// hold back answers that have arrived. Breaking out of the loop cancels the
// announces still running and waits for them to end. URLs repeated within
// or across tiers (after lower-casing the scheme and host and dropping a
// trailing "/" and default ports) are asked once, in their first tier.
func (c *Client) AnnounceAll(ctx context.Context, tiers [][]string, req AnnounceRequest, p Policy) iter.Seq2[Result, error] {
	if p == PolicyBEP12 {
		return c.announceBEP12(ctx, tiers, req)
	}
	return c.announceEvery(ctx, tiers, req)
}

type tierURL struct {
	url  string
	tier int
}

// dedupe flattens tiers, dropping empty and repeated URLs.
func dedupe(tiers [][]string) []tierURL {
	seen := map[string]bool{}
	var out []tierURL
	for i, tier := range tiers {
		for _, u := range tier {
			u = strings.TrimSpace(u)
			n := NormalizeURL(u)
			if u == "" || seen[n] {
				continue
			}
			seen[n] = true
			out = append(out, tierURL{u, i})
		}
	}
	return out
}

type item struct {
	res Result
	err error
}

func (c *Client) announceOne(ctx context.Context, t tierURL, req AnnounceRequest) item {
	start := time.Now()
	resp, err := c.Announce(ctx, t.url, req)
	return item{Result{URL: t.url, Tier: t.tier, Latency: time.Since(start), Response: resp}, err}
}

func (c *Client) announceEvery(ctx context.Context, tiers [][]string, req AnnounceRequest) iter.Seq2[Result, error] {
	return func(yield func(Result, error) bool) {
		urls := dedupe(tiers)
		if len(urls) == 0 {
			return
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		// Buffered for every result, so workers never block on a caller
		// that stopped reading; the deferred wait below ends them all.
		results := make(chan item, len(urls))
		sem := make(chan struct{}, c.maxConcurrent())
		done := make(chan struct{})
		go func() {
			defer close(done)
			var wg sync.WaitGroup
			for _, u := range urls {
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					results <- item{Result{URL: u.url, Tier: u.tier}, &Error{URL: u.url, Op: "announce", Err: classify(context.Cause(ctx))}}
					continue
				}
				wg.Go(func() {
					defer func() { <-sem }()
					results <- c.announceOne(ctx, u, req)
				})
			}
			wg.Wait()
		}()
		defer func() {
			cancel()
			<-done
		}()
		for range urls {
			it := <-results
			if !yield(it.res, it.err) {
				return
			}
		}
	}
}

func (c *Client) announceBEP12(ctx context.Context, tiers [][]string, req AnnounceRequest) iter.Seq2[Result, error] {
	return func(yield func(Result, error) bool) {
		seen := map[string]bool{}
		for ti, tier := range tiers {
			order := c.tierOrderFor(tier)
			for _, u := range order {
				n := NormalizeURL(u)
				if u == "" || seen[n] {
					continue
				}
				seen[n] = true
				if ctx.Err() != nil {
					return
				}
				it := c.announceOne(ctx, tierURL{u, ti}, req)
				if it.err == nil {
					c.promote(tier, u)
				}
				if !yield(it.res, it.err) || it.err == nil {
					return
				}
			}
		}
	}
}

// tierKey identifies a tier as given, to keep its BEP 12 order across calls.
func tierKey(tier []string) string { return strings.Join(tier, "\n") }

// tierOrderFor returns the tier's current order, shuffling it the first
// time it is seen (BEP 12: "shuffled ... once").
func (c *Client) tierOrderFor(tier []string) []string {
	c.init()
	k := tierKey(tier)
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	if o, ok := c.tierOrder[k]; ok {
		return slices.Clone(o)
	}
	o := slices.Clone(tier)
	rand.Shuffle(len(o), func(i, j int) { o[i], o[j] = o[j], o[i] })
	c.tierOrder[k] = o
	return slices.Clone(o)
}

// promote moves a tracker that answered to the front of its tier (BEP 12).
func (c *Client) promote(tier []string, u string) {
	k := tierKey(tier)
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	o := c.tierOrder[k]
	if i := slices.Index(o, u); i > 0 {
		copy(o[1:i+1], o[:i])
		o[0] = u
	}
}
