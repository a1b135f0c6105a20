package discovery

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/metainfo"
	"github.com/peerfind/peerfind/tracker"
)

// fakeTrackers answers announces from a script per URL: the nth announce to
// a URL gets script[min(n, len-1)]. A nil response with a nil error blocks
// until the context is done, like a tracker that never answers.
type fakeTrackers struct {
	mu      sync.Mutex
	scripts map[string][]fakeAnswer
	calls   []AnnounceRequestAt
}

type fakeAnswer struct {
	resp *tracker.AnnounceResponse
	err  error
}

// AnnounceRequestAt is one recorded announce.
type AnnounceRequestAt struct {
	URL string
	Req tracker.AnnounceRequest
	At  time.Time // in a synctest bubble, fake time
}

func (f *fakeTrackers) Announce(ctx context.Context, url string, req tracker.AnnounceRequest) (*tracker.AnnounceResponse, error) {
	f.mu.Lock()
	n := 0
	for _, c := range f.calls {
		if c.URL == url && c.Req.InfoHash == req.InfoHash && c.Req.Event != tracker.EventStopped {
			n++
		}
	}
	f.calls = append(f.calls, AnnounceRequestAt{url, req, time.Now()})
	script := f.scripts[url]
	f.mu.Unlock()
	if req.Event == tracker.EventStopped {
		return &tracker.AnnounceResponse{}, nil
	}
	if len(script) == 0 {
		return nil, fmt.Errorf("tracker %s: connection refused", url)
	}
	a := script[min(n, len(script)-1)]
	if a.resp == nil && a.err == nil {
		<-ctx.Done()
		return nil, fmt.Errorf("tracker %s: %w", url, ctx.Err())
	}
	if a.resp != nil {
		r := *a.resp
		r.Peers = slices.Clone(r.Peers)
		return &r, a.err
	}
	return nil, a.err
}

func (f *fakeTrackers) requests() []AnnounceRequestAt {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// fakeDHT answers the nth lookup of a swarm with lookups[swarm][min(n, len-1)].
type fakeDHT struct {
	mu      sync.Mutex
	lookups map[metainfo.Hash][][]netip.AddrPort
	err     error
	block   bool // block the lookups after the scripted ones until ctx is done
	// unanswered makes the first lookups of each swarm fail as lookups
	// that no node answered.
	unanswered int
	calls      map[metainfo.Hash]int
	times      []time.Time // when each lookup started
	added      []netip.AddrPort
}

func (d *fakeDHT) GetPeers(ctx context.Context, h metainfo.Hash, fn func(peer, from netip.AddrPort)) (dht.LookupStats, error) {
	d.mu.Lock()
	if d.calls == nil {
		d.calls = map[metainfo.Hash]int{}
	}
	n := d.calls[h]
	d.calls[h]++
	d.times = append(d.times, time.Now())
	script := d.lookups[h]
	d.mu.Unlock()
	if d.err != nil {
		return dht.LookupStats{}, d.err
	}
	if n < d.unanswered {
		return dht.LookupStats{Queried: 3, TimedOut: 3}, errNoAnswer
	}
	if d.block && n >= len(script) {
		<-ctx.Done()
		return dht.LookupStats{}, ctx.Err()
	}
	var peers []netip.AddrPort
	if len(script) > 0 {
		peers = script[min(n, len(script)-1)]
	}
	from := netip.MustParseAddrPort("127.0.0.1:9")
	for _, p := range peers {
		fn(p, from)
	}
	return dht.LookupStats{Queried: 10, Answered: 8, TimedOut: 2, RoundTrips: 3, Peers: len(peers), Converged: true}, nil
}

var errNoAnswer = errors.New("fake DHT: none of the 3 nodes queried answered")

func (d *fakeDHT) AddNode(a netip.AddrPort) {
	d.mu.Lock()
	d.added = append(d.added, a)
	d.mu.Unlock()
}

func (d *fakeDHT) lookupCount(h metainfo.Hash) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[h]
}

// announceTimes returns when url was announced to (stopped announces
// left out), as offsets from start.
func (f *fakeTrackers) announceTimes(url string, start time.Time) []time.Duration {
	var out []time.Duration
	for _, c := range f.requests() {
		if c.URL == url && c.Req.Event != tracker.EventStopped {
			out = append(out, c.At.Sub(start))
		}
	}
	return out
}

// eventLog collects the events of a search for inspection.
type eventLog struct {
	mu     sync.Mutex
	evs    []Event
	notify chan struct{}
}

func newEventLog() *eventLog { return &eventLog{notify: make(chan struct{}, 1)} }

func (l *eventLog) fn(e Event) {
	l.mu.Lock()
	l.evs = append(l.evs, e)
	l.mu.Unlock()
	select {
	case l.notify <- struct{}{}:
	default:
	}
}

// waitPeer waits for the PeerEvent announcing addr as new (which may have
// happened already).
func (l *eventLog) waitPeer(t *testing.T, addr netip.AddrPort) *PeerEvent {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		for _, pe := range l.peerEvents() {
			if pe.Peer == addr && pe.New {
				return pe
			}
		}
		select {
		case <-l.notify:
		case <-deadline:
			t.Fatalf("peer %v never reported", addr)
		}
	}
}

func (l *eventLog) peerEvents() []*PeerEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*PeerEvent
	for _, e := range l.evs {
		if pe, ok := e.(*PeerEvent); ok {
			out = append(out, pe)
		}
	}
	return out
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func hash(b byte) metainfo.Hash {
	var h metainfo.Hash
	for i := range h {
		h[i] = b
	}
	return h
}

var errFake = errors.New("fake failure")

func (l *eventLog) events() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.evs)
}
