package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/metainfo"
	"github.com/peerfind/peerfind/tracker"
)

// ErrNoHash is returned by Find for a target without info hashes.
var ErrNoHash = errors.New("discovery: target has no info hash")

// ErrNoSources is returned by Find when there is nothing to ask: no tracker
// (or no Announcer), no usable DHT and no known peer.
var ErrNoSources = errors.New("discovery: no source to ask")

// report is what a worker goroutine sends to the loop that owns the peer
// table: peers a source named, and/or the end of one announce or lookup.
type report struct {
	source  string
	swarm   metainfo.Hash
	peers   []netip.AddrPort
	tracker *TrackerEvent
	dht     *DHTEvent
	final   bool // the worker has finished and will send nothing more

	// From the verifier (verify.go): a peer's check, its PEX peers
	// (source SourcePEX, named by via), a metadata attempt, and the end
	// of the work on one peer (verifyDone).
	verify     *VerifyEvent
	via        netip.AddrPort
	pex        bool
	metadata   *MetadataEvent
	info       []byte
	verifyDone bool
}

// search is the state of one Find call. Only the goroutine running Find
// touches the peer table and the summaries; workers talk to it through ch.
type search struct {
	cfg    *Config
	start  time.Time
	fn     func(Event)
	ch     chan report
	follow bool

	peers   map[netip.AddrPort]*PeerInfo
	order   []netip.AddrPort
	sources map[string]*SourceSummary
	names   []string
	self    map[netip.Addr]bool // our addresses, for dropping our own announce (see Config.KeepSelf)

	verifier *verifier // nil without Config.Verify
	checks   checks
}

// Find searches target's swarms through every source cfg provides, calling
// fn (if not nil) for every event, and returns the summary when the search
// ends: when every source is finished or the rest stayed silent for
// Config.Settle (without Follow), at the timeout, on
// MaxPeers, or when ctx is cancelled. A cancelled context is an ordinary way
// to end a search — typically a follow-mode search — and is reported in
// Summary.Reason, not as an error. Find returns an error only when there is
// nothing to search (ErrNoHash, ErrNoSources). A nil cfg is the zero Config.
//
// fn is called from the goroutine running Find, one event at a time; it
// should return quickly, since the search waits for it.
func Find(ctx context.Context, target Target, cfg *Config, fn func(Event)) (*Summary, error) {
	return find(ctx, target, cfg, fn, nil)
}

// find is Find; with cfg.Verify.metadata set it also fetches the metadata
// into *info and ends once it has it.
func find(ctx context.Context, target Target, cfg *Config, fn func(Event), info *[]byte) (*Summary, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	if fn == nil {
		fn = func(Event) {}
	}
	swarms := dedupeHashes(target.InfoHashes)
	if len(swarms) == 0 {
		return nil, ErrNoHash
	}
	s := &search{
		cfg:     cfg,
		fn:      fn,
		ch:      make(chan report, 64),
		follow:  cfg.Follow,
		peers:   map[netip.AddrPort]*PeerInfo{},
		sources: map[string]*SourceSummary{},
	}
	if !cfg.KeepSelf {
		s.self = localAddrs()
	}
	sum := &Summary{Swarms: swarms}

	var sess *tracker.Session
	var trackers [][]string
	nTrackers := 0
	if cfg.Trackers != nil {
		left := target.Size
		if left <= 0 {
			left = -1 // unknown: the tracker package sends LeftUnknown
		}
		sess = &tracker.Session{
			Announcer:       cfg.Trackers,
			Tiers:           target.Trackers,
			InfoHashes:      swarms,
			Request:         tracker.AnnounceRequest{Port: cfg.port(), NumWant: cfg.NumWant, Left: left},
			Policy:          cfg.TrackerPolicy,
			Follow:          cfg.Follow,
			AnnounceTimeout: cfg.AnnounceTimeout,
			DefaultInterval: cfg.DefaultInterval,
			RetryInterval:   cfg.RetryInterval,
			StopTimeout:     cfg.StopTimeout,
		}
		trackers = sess.Trackers()
		for _, t := range trackers {
			nTrackers += len(t)
		}
	}
	switch {
	case !target.DHTAllowed(cfg.AllowDHTPrivate):
		sum.DHTSkipped = SkipPrivate // BEP 27: a private torrent's peers come from its trackers only
	case cfg.DHT == nil:
		sum.DHTSkipped = SkipNoDHT
	}
	useDHT := sum.DHTSkipped == DHTUsed
	if nTrackers == 0 && !useDHT && len(target.Peers) == 0 {
		if sum.DHTSkipped == SkipPrivate {
			return nil, fmt.Errorf("%w: %s, and no tracker", ErrNoSources, sum.DHTSkipped)
		}
		return nil, ErrNoSources
	}

	if len(target.Peers) > 0 {
		s.source(SourceMagnet, KindMagnet)
	}
	for _, tier := range trackers {
		for _, u := range tier {
			s.source(u, KindTracker)
		}
	}
	if useDHT {
		s.source(SourceDHT, KindDHT)
	}
	if cfg.Verify != nil {
		s.verifier = newVerifier(s, cfg.Verify, target.Private)
		if s.verifier.pex {
			s.source(SourcePEX, KindPEX)
		}
	}

	s.start = time.Now()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	pending := 0
	if nTrackers > 0 {
		pending++
		wg.Go(func() {
			sess.Run(wctx, func(r tracker.Result, err error) {
				var peers []netip.AddrPort
				if r.Response != nil {
					peers = r.Response.Peers
				}
				s.send(wctx, report{source: r.URL, swarm: r.InfoHash, peers: peers, tracker: &TrackerEvent{Result: r, Err: err}})
			})
			s.send(wctx, report{final: true})
		})
	}
	if useDHT {
		pending += len(swarms)
		wg.Go(func() { s.dhtWorkers(wctx, target.Nodes, swarms) })
	}
	if s.verifier != nil {
		wg.Go(func() { s.verifier.run(wctx) })
	}

	var timeout <-chan time.Time
	if d := cfg.timeout(); d > 0 {
		timeout = time.After(d)
	}
	// The magnet's peers are known before anything is asked.
	if len(target.Peers) > 0 {
		s.handle(report{source: SourceMagnet, swarm: swarms[0], peers: target.Peers}, sum)
	}
	// The settle rule (Config.Settle): once the DHT is done and a source
	// has answered, every report restarts the settle timer; when it fires,
	// the sources still silent are taken for dead.
	dhtPending := 0
	if useDHT {
		dhtPending = len(swarms)
	}
	answered := false
	var settle <-chan time.Time
	for sum.Reason == "" && (pending > 0 || s.checks.inflight > 0) {
		select {
		case r := <-s.ch:
			if r.final {
				pending--
				if r.dht != nil {
					dhtPending--
				}
			}
			answered = answered || r.tracker != nil && r.tracker.Err == nil || r.dht != nil && r.dht.Err == nil
			s.handle(r, sum)
			s.handleCheck(r, sum, info)
			if !s.follow && cfg.settle() > 0 && dhtPending == 0 && answered && pending > 0 {
				settle = time.After(cfg.settle())
			}
		case <-settle:
			// Peers still being checked are not silent sources: the
			// last check's report arms the timer again.
			if s.checks.inflight == 0 {
				sum.Reason = StopSettled
			}
		case <-timeout:
			sum.Reason = StopTimeout
		case <-ctx.Done():
			sum.Reason = StopCanceled
		}
	}
	if sum.Reason == "" {
		sum.Reason = StopComplete
		if ctx.Err() != nil {
			// The sources ended because ctx did, and their last
			// reports won the race with ctx.Done above.
			sum.Reason = StopCanceled
		}
	}
	sum.Duration = s.since()
	cancel()
	wg.Wait()
	if sess != nil {
		s.stop(ctx, sess)
	}

	for _, a := range s.order {
		sum.Peers = append(sum.Peers, *s.peers[a])
	}
	if len(sum.Peers) > 0 {
		sum.FirstPeer = sum.Peers[0].FirstSeen
	}
	for _, n := range s.names {
		sum.Sources = append(sum.Sources, *s.sources[n])
	}
	if s.verifier != nil {
		s.checks.sum.Unchecked = s.checks.queued
		for _, n := range s.checks.sum.Results {
			s.checks.sum.Unchecked -= n
		}
		sum.Verify = &s.checks.sum
	}
	return sum, nil
}

func (s *search) since() time.Duration { return time.Now().Sub(s.start) }

func (s *search) source(name string, kind SourceKind) *SourceSummary {
	if ss := s.sources[name]; ss != nil {
		return ss
	}
	ss := &SourceSummary{Name: name, Kind: kind, Seeders: -1, Leechers: -1}
	s.sources[name] = ss
	s.names = append(s.names, name)
	return ss
}

// send hands a report to the search loop, or gives up when the search is
// over (the loop no longer reads).
func (s *search) send(ctx context.Context, r report) bool {
	select {
	case s.ch <- r:
		return true
	case <-ctx.Done():
		return false
	}
}

// handle folds one report into the peer table and emits its events. It sets
// sum.Reason when MaxPeers is reached.
func (s *search) handle(r report, sum *Summary) {
	at := s.since()
	src := s.sources[r.source]
	if src == nil {
		return // a worker's end, with nothing to report
	}
	if ev := r.tracker; ev != nil && ev.Response != nil && ev.Response.ExternalIP.IsValid() && s.self != nil {
		s.self[ev.Response.ExternalIP.Unmap()] = true // BEP 24
	}
	newPeers := 0
	for _, p := range r.peers {
		p = normalize(p)
		if !p.IsValid() {
			continue
		}
		if s.self != nil && p.Port() == s.cfg.port() && s.self[p.Addr()] {
			continue // our own announce, echoed back by the tracker
		}
		pi := s.peers[p]
		isNew := pi == nil
		if isNew {
			pi = &PeerInfo{Addr: p, FirstSeen: at}
			s.peers[p] = pi
			s.order = append(s.order, p)
			src.Unique++
			newPeers++
		}
		if isNew && s.verifier != nil {
			s.checks.inflight++
			s.checks.queued++
			s.verifier.add(verifyJob{peer: p, swarm: r.swarm, sources: []string{r.source}})
		}
		if !slices.Contains(pi.Swarms, r.swarm) {
			pi.Swarms = append(pi.Swarms, r.swarm)
		}
		if slices.Contains(pi.Sources, r.source) {
			continue // a repeat sighting (a re-announce, a repeated lookup): nothing new
		}
		pi.Sources = append(pi.Sources, r.source)
		src.Peers++
		if src.Peers == 1 {
			src.FirstPeer = at
		}
		s.fn(&PeerEvent{Peer: p, Swarm: r.swarm, Source: r.source, Via: r.via, Sources: slices.Clone(pi.Sources), New: isNew, At: at})
		if s.verifier == nil && len(s.order) >= s.cfg.maxPeers() || len(s.order) >= MaxTrackedPeers {
			sum.Reason = StopMaxPeers
			break
		}
	}
	if ev := r.tracker; ev != nil {
		ev.NewPeers = newPeers
		ev.At = at
		src.Queries++
		if ev.Err != nil {
			src.Errors++
			src.Err = ev.Err
		} else {
			src.Seeders, src.Leechers = ev.Response.Seeders, ev.Response.Leechers
		}
		s.fn(ev)
	}
	if ev := r.dht; ev != nil {
		ev.At = at
		src.Queries++
		if ev.Err != nil {
			src.Errors++
			src.Err = ev.Err
		}
		if sc := ev.Scrape; sc != nil && (sc.Filters > 0 || sc.Legacy > 0) {
			src.Seeders, src.Leechers = sc.Seeds, sc.Peers
		}
		addStats(&src.DHT, ev.Stats)
		s.fn(ev)
	}
}

func addStats(sum *dht.LookupStats, st dht.LookupStats) {
	if sum.Queried == 0 && sum.Peers == 0 {
		sum.FirstPeer = st.FirstPeer
	}
	sum.Queried += st.Queried
	sum.Answered += st.Answered
	sum.TimedOut += st.TimedOut
	sum.Errors += st.Errors
	sum.RoundTrips += st.RoundTrips
	sum.Peers += st.Peers
	sum.Converged = st.Converged
	sum.Duration += st.Duration
}

// dhtWorkers gives the DHT the target's nodes, then looks up every swarm at
// once.
func (s *search) dhtWorkers(ctx context.Context, nodes []string, swarms []metainfo.Hash) {
	if na, ok := s.cfg.DHT.(NodeAdder); ok {
		for _, a := range resolveNodes(ctx, nodes) {
			na.AddNode(a)
		}
	}
	var wg sync.WaitGroup
	for _, h := range swarms {
		wg.Go(func() { s.dhtWorker(ctx, h) })
	}
	wg.Wait()
}

// dhtWorker looks swarm h up in the DHT. Without Follow one lookup that ran
// its course is the answer: it has asked the nodes closest to the info
// hash, which are the ones that store its peers (BEP 5), and a repeat would
// cost as many queries again to ask mostly the same nodes. A lookup that no
// node answered is repeated after a pause (dhtRetryAfter, doubling), up to
// DHTLookups in all, so that lost datagrams or a network that comes back
// do not end the search; a lookup with nobody to ask is not. With Follow
// it repeats every DHTInterval, and a failed lookup sooner: after
// dhtRetryAfter, doubling up to DHTInterval.
func (s *search) dhtWorker(ctx context.Context, h metainfo.Hash) {
	var mu sync.Mutex
	seen := map[netip.AddrPort]bool{}
	pause := dhtRetryAfter
	for i := 1; ; i++ {
		newPeers := 0
		onPeer := func(p, _ netip.AddrPort) {
			p = normalize(p)
			if !p.IsValid() {
				return
			}
			mu.Lock()
			fresh := !seen[p]
			if fresh {
				seen[p] = true
				newPeers++
			}
			mu.Unlock()
			if fresh {
				s.send(ctx, report{source: SourceDHT, swarm: h, peers: []netip.AddrPort{p}})
			}
		}
		var (
			stats  dht.LookupStats
			err    error
			scrape *dht.ScrapeResult
		)
		if ps, ok := s.cfg.DHT.(PeerScraper); ok && s.cfg.DHTScrape {
			var res dht.ScrapeResult
			res, stats, err = ps.ScrapePeers(ctx, h, onPeer)
			scrape = &res
		} else {
			stats, err = s.cfg.DHT.GetPeers(ctx, h, onPeer)
		}
		if ctx.Err() != nil {
			return
		}
		mu.Lock()
		n := newPeers
		mu.Unlock()
		unanswered := err != nil && stats.Queried > 0 && stats.Answered == 0
		final := !s.follow && (!unanswered || i >= s.cfg.dhtLookups())
		wait := s.cfg.dhtInterval()
		switch {
		case unanswered && !s.follow, err != nil && s.follow:
			// With Follow a failed lookup (nobody answered, or nobody to
			// ask: offline) is retried soon and then less often, up to
			// DHTInterval, so a network that comes back is noticed.
			wait = min(pause, wait)
			pause *= 2
		default:
			pause = dhtRetryAfter
		}
		ev := &DHTEvent{Swarm: h, Lookup: i, Stats: stats, NewPeers: n, Err: err, Scrape: scrape}
		if !final {
			ev.Next = wait
		}
		if !s.send(ctx, report{source: SourceDHT, swarm: h, dht: ev, final: final}) || final {
			return
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
	}
}

// dhtRetryAfter is the first pause before a lookup that no node answered
// is repeated.
const dhtRetryAfter = time.Second

// stop tells the trackers that accepted "started" that the search is
// leaving the swarm (BEP 3 event=stopped), so they stop handing out our
// address, and reports each answer. It runs after the search, so it is
// bounded by the session's StopTimeout rather than by ctx, which may be the
// very cancellation that ended the search. The events are reported from
// Find's goroutine, in tier and URL order.
func (s *search) stop(ctx context.Context, sess *tracker.Session) {
	var evs []*TrackerEvent
	sess.Stop(context.WithoutCancel(ctx), func(r tracker.Result, err error) {
		evs = append(evs, &TrackerEvent{Result: r, Err: err})
	})
	slices.SortFunc(evs, func(a, b *TrackerEvent) int {
		if a.Tier != b.Tier {
			return a.Tier - b.Tier
		}
		if a.URL != b.URL {
			if a.URL < b.URL {
				return -1
			}
			return 1
		}
		return slices.Compare(a.InfoHash[:], b.InfoHash[:])
	})
	for _, ev := range evs {
		ev.At = s.since()
		s.fn(ev)
	}
}

// normalize unmaps IPv4-mapped IPv6 addresses, so that one peer is one key
// whichever family reported it, and rejects addresses nobody can connect
// to: invalid, unspecified, multicast, or port 0.
func normalize(p netip.AddrPort) netip.AddrPort {
	a := p.Addr().Unmap()
	if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || p.Port() == 0 {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, p.Port())
}

func dedupeHashes(hs []metainfo.Hash) []metainfo.Hash {
	var out []metainfo.Hash
	for _, h := range hs {
		if !h.IsZero() && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// resolveNodes turns host:port strings into addresses: literal ones
// directly, names through DNS (bounded, since they are only hints). Entries
// that do not resolve are skipped.
func resolveNodes(ctx context.Context, nodes []string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, n := range nodes {
		if ap, err := netip.ParseAddrPort(n); err == nil {
			out = append(out, ap)
			continue
		}
		host, port, err := net.SplitHostPort(n)
		if err != nil {
			continue
		}
		pn, err := net.LookupPort("udp", port)
		if err != nil || pn <= 0 || pn > 65535 {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		addrs, err := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
		cancel()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			out = append(out, netip.AddrPortFrom(a.Unmap(), uint16(pn)))
		}
	}
	return out
}

// localAddrs returns this machine's interface addresses (nil if they
// cannot be listed, which only disables the self filter).
func localAddrs() map[netip.Addr]bool {
	ifas, err := net.InterfaceAddrs()
	if err != nil {
		return map[netip.Addr]bool{}
	}
	m := make(map[netip.Addr]bool, len(ifas))
	for _, a := range ifas {
		if pfx, err := netip.ParsePrefix(a.String()); err == nil {
			m[pfx.Addr().Unmap()] = true
		}
	}
	return m
}
