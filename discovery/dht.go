package discovery

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/metainfo"
)

// DHTSource adapts a *dht.Node to PeerLookup (and NodeAdder). Its zero value
// is not usable: set Node. The caller owns the node and closes it.
type DHTSource struct {
	// Node runs the lookups.
	Node *dht.Node
	// Bootstrap makes the first lookup wait for Node.Bootstrap, which the
	// other lookups then share. Set it for a node fresh from dht.New; a node
	// already bootstrapped does not need it.
	Bootstrap bool

	mu       sync.Mutex // held while bootstrapping, so lookups wait for it
	extra    []netip.AddrPort
	booted   bool
	failedAt time.Time
	report   dht.BootstrapReport
	err      error
}

// NewDHTSource returns a DHTSource for n that bootstraps it first if
// bootstrap is set.
func NewDHTSource(n *dht.Node, bootstrap bool) *DHTSource {
	return &DHTSource{Node: n, Bootstrap: bootstrap}
}

// BootstrapReport returns the report and error of the bootstrap, and
// whether it has run (ran is false before the first lookup, or when the
// bootstrap was cut short).
func (s *DHTSource) BootstrapReport() (rep dht.BootstrapReport, ran bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.report, s.booted, s.err
}

func (s *DHTSource) bootstrap(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.Bootstrap || s.booted && (s.err == nil || time.Since(s.failedAt) < RebootstrapAfter) {
		return s.err
	}
	// Nodes given through AddNode (a torrent's "nodes") are pinged first
	// and wait for their answers, so that the bootstrap can start from them.
	var wg sync.WaitGroup
	for _, a := range s.extra {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, pingTimeout)
			defer cancel()
			s.Node.Ping(pctx, a)
		})
	}
	wg.Wait()
	s.extra = nil
	rep, err := s.Node.Bootstrap(ctx)
	if err != nil && ctx.Err() != nil {
		return err // cut short: not a verdict on the DHT
	}
	s.booted = true
	s.report = rep
	s.err = nil
	if err != nil {
		s.err = fmt.Errorf("DHT bootstrap: %w", err)
		s.failedAt = time.Now()
	}
	return s.err
}

// RebootstrapAfter is how long a failed bootstrap stands: lookups within it
// fail at once with its error (the swarms of a hybrid torrent do not wait
// for it twice); a lookup after it (a follow-mode repeat) bootstraps again.
const RebootstrapAfter = time.Minute

// GetPeers implements PeerLookup.
func (s *DHTSource) GetPeers(ctx context.Context, h metainfo.Hash, fn func(peer, from netip.AddrPort)) (LookupStats, error) {
	if err := s.bootstrap(ctx); err != nil {
		return LookupStats{}, err
	}
	st, err := s.Node.GetPeers(ctx, h, func(p dht.PeerFound) { fn(p.Peer, p.From) })
	return LookupStats(st), err
}

// pingTimeout bounds the pings of nodes given through AddNode.
const pingTimeout = 2 * time.Second

// AddNode implements NodeAdder. Before the bootstrap the node is kept to be
// pinged first thing; afterwards it is handed to Node.AddNode.
func (s *DHTSource) AddNode(a netip.AddrPort) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Bootstrap && !s.booted {
		s.extra = append(s.extra, a)
		return
	}
	s.Node.AddNode(a)
}
