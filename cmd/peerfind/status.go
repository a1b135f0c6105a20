package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/discovery"
	"github.com/peerfind/peerfind/tracker"
)

// progress counts what the live status line shows. The search goroutine
// updates it; the status line's renderer reads it.
type progress struct {
	mu            sync.Mutex
	trackersTotal int
	trackersDone  map[string]bool
	dhtQueried    int
	dhtLookups    int
	peers         int
	checked       int // --verify: peers checked
	// failing holds, per failing source, when it is retried (--follow).
	failing map[string]time.Time
	// node, if set, gives live DHT counters between lookups.
	node interface{ Stats() dht.NodeStats }
}

func (p *progress) event(e discovery.Event, shown int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.peers = shown
	switch e := e.(type) {
	case *discovery.TrackerEvent:
		if e.Event != tracker.EventStopped {
			p.trackersDone[e.URL] = true
			p.retry(e.URL, e.Err, e.Next)
		}
	case *discovery.DHTEvent:
		p.dhtLookups++
		p.dhtQueried += e.Stats.Queried
		p.retry(discovery.SourceDHT, e.Err, e.Next)
	case *discovery.VerifyEvent:
		p.checked++
	}
}

// retry notes that source failed and is asked again after next, or that it
// answered (or is not asked again).
func (p *progress) retry(source string, err error, next time.Duration) {
	if err == nil || next <= 0 {
		delete(p.failing, source)
		return
	}
	if p.failing == nil {
		p.failing = map[string]time.Time{}
	}
	p.failing[source] = time.Now().Add(next)
}

func (p *progress) line(start time.Time) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := fmt.Sprintf("trackers %d/%d", len(p.trackersDone), p.trackersTotal)
	if p.node != nil {
		st := p.node.Stats()
		s += fmt.Sprintf(" · DHT %d queries sent, %d answers, %d good nodes (%s done)", st.PacketsOut, st.PacketsIn, st.Good4+st.Good6, plural(p.dhtLookups, "lookup"))
	} else if p.dhtLookups > 0 {
		s += fmt.Sprintf(" · DHT %d nodes queried (%s)", p.dhtQueried, plural(p.dhtLookups, "lookup"))
	}
	if p.checked > 0 {
		s += fmt.Sprintf(" · %d checked", p.checked)
	}
	s += fmt.Sprintf(" · %s · %s", plural(p.peers, "peer"), time.Since(start).Round(100*time.Millisecond))
	if len(p.failing) > 0 {
		var soonest time.Time
		for _, t := range p.failing {
			if soonest.IsZero() || t.Before(soonest) {
				soonest = t
			}
		}
		s += fmt.Sprintf(" · %s failing, next retry in %s", plural(len(p.failing), "source"), max(0, time.Until(soonest)).Round(time.Second))
	}
	return s
}

// statusLine is the live status on a terminal's standard error, drawn by
// mpb. Peer lines meant for the same terminal are written through it so that
// they scroll above the status line instead of tearing it.
type statusLine struct {
	p   *mpb.Progress
	bar *mpb.Bar
}

func newStatusLine(stderr io.Writer, prog *progress, start time.Time) *statusLine {
	p := mpb.New(mpb.WithOutput(stderr), mpb.WithRefreshRate(150*time.Millisecond))
	bar := p.New(0, mpb.SpinnerStyle(), mpb.BarWidth(2),
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return prog.line(start) })),
		mpb.BarFillerClearOnAbort(),
	)
	return &statusLine{p: p, bar: bar}
}

// Write prints lines above the status line.
func (s *statusLine) Write(b []byte) (int, error) { return s.p.Write(b) }

// stop removes the status line and waits for mpb's renderer to end.
func (s *statusLine) stop() {
	s.bar.Abort(true)
	s.p.Wait()
}
