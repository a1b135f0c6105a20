package dht

import (
	"net/netip"
	"sync"
	"time"

	"github.com/peerfind/peerfind/dht/internal/bloom"
	"github.com/peerfind/peerfind/metainfo"
)

// Peer store defaults. 30 minutes is the expiry libtorrent and the reference
// client use; clients re-announce every 15–30 minutes (BEP 5 leaves it open).
const (
	defaultPeerTTL      = 30 * time.Minute
	defaultPeersPerHash = 500
	defaultStoreHashes  = 5000
	defaultStorePeers   = 50000
	// maxPeersPerHash is BEP 33's bound on a swarm's stored peers: its
	// 2048-bit filters saturate as a set nears 8000 entries.
	maxPeersPerHash = 6000
)

// store keeps the peers announced to us with announce_peer, bounded per info
// hash and in total so an attacker cannot grow it without limit. Safe for
// concurrent use.
//
// Each peer carries its BEP 33 seed flag. BEP 33 asks for one entry per IP;
// entries are per address and port instead, so that peers sharing an IP
// (behind one NAT, or a loopback swarm) all stay reachable, and the Bloom
// filters, built from IPs, count such an IP once anyway. The per-hash cap
// (500 by default, never above maxPeersPerHash) keeps a swarm's filters
// from saturating.
type store struct {
	ttl      time.Duration
	perHash  int
	maxHash  int
	maxPeers int
	now      func() time.Time

	mu     sync.Mutex
	swarms map[metainfo.Hash]map[netip.AddrPort]entry
	total  int
}

// entry is one stored peer.
type entry struct {
	exp  time.Time // when it expires unless announced again
	seed bool      // announced with seed=1 (BEP 33)
}

func newStore(ttl time.Duration, perHash, maxHash, maxPeers int, now func() time.Time) *store {
	if ttl <= 0 {
		ttl = defaultPeerTTL
	}
	if perHash <= 0 {
		perHash = defaultPeersPerHash
	}
	perHash = min(perHash, maxPeersPerHash)
	if maxHash <= 0 {
		maxHash = defaultStoreHashes
	}
	if maxPeers <= 0 {
		maxPeers = defaultStorePeers
	}
	return &store{ttl: ttl, perHash: perHash, maxHash: maxHash, maxPeers: maxPeers, now: now,
		swarms: make(map[metainfo.Hash]map[netip.AddrPort]entry)}
}

// add records peer for ih, a seed if seed; a re-announce updates the flag.
// It reports false when the store is full: a full
// swarm replaces its entry closest to expiry, but a full store refuses new
// swarms and peers rather than evicting live ones, so a flood of fake
// announces cannot push out real ones faster than they expire.
func (s *store) add(ih metainfo.Hash, peer netip.AddrPort, seed bool) bool {
	peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	now := s.now()
	exp := now.Add(s.ttl)
	s.mu.Lock()
	defer s.mu.Unlock()
	sw := s.swarms[ih]
	if sw == nil {
		if len(s.swarms) >= s.maxHash || s.total >= s.maxPeers {
			s.sweepLocked(now)
			if len(s.swarms) >= s.maxHash || s.total >= s.maxPeers {
				return false
			}
		}
		sw = make(map[netip.AddrPort]entry)
		s.swarms[ih] = sw
	}
	if _, ok := sw[peer]; ok {
		sw[peer] = entry{exp, seed}
		return true
	}
	if len(sw) >= s.perHash {
		var oldest netip.AddrPort
		var oldestExp time.Time
		for p, e := range sw {
			if oldestExp.IsZero() || e.exp.Before(oldestExp) {
				oldest, oldestExp = p, e.exp
			}
		}
		delete(sw, oldest)
		s.total--
	} else if s.total >= s.maxPeers {
		s.sweepLocked(now)
		if s.total >= s.maxPeers {
			return false
		}
	}
	sw[peer] = entry{exp, seed}
	s.total++
	return true
}

// get returns up to max live peers of ih of the family of v4 (BEP 32: a
// get_peers over IPv6 returns IPv6 peers), leaving the seeds out if noSeed
// (BEP 33 noseed=1). Map iteration order picks a varying subset when there
// are more.
func (s *store) get(ih metainfo.Hash, v4 bool, max int, noSeed bool) []netip.AddrPort {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sw := s.swarms[ih]
	var out []netip.AddrPort
	for p, e := range sw {
		if len(out) >= max {
			break
		}
		if !e.exp.After(now) {
			delete(sw, p)
			s.total--
			continue
		}
		if p.Addr().Is4() == v4 && !(noSeed && e.seed) {
			out = append(out, p)
		}
	}
	if len(sw) == 0 {
		delete(s.swarms, ih)
	}
	return out
}

// filters returns the BEP 33 Bloom filters of the live peers of ih, both
// families: the IPs of the seeds and of the other peers. ok is false when
// nothing is stored for ih; BEP 33 then sends no filters.
func (s *store) filters(ih metainfo.Hash) (seeds, peers bloom.Filter, ok bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, e := range s.swarms[ih] {
		if !e.exp.After(now) {
			continue // get and sweep remove it
		}
		ok = true
		if e.seed {
			seeds.Add(p.Addr())
		} else {
			peers.Add(p.Addr())
		}
	}
	return seeds, peers, ok
}

// sweep drops expired peers.
func (s *store) sweep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(s.now())
}

func (s *store) sweepLocked(now time.Time) {
	for ih, sw := range s.swarms {
		for p, e := range sw {
			if !e.exp.After(now) {
				delete(sw, p)
				s.total--
			}
		}
		if len(sw) == 0 {
			delete(s.swarms, ih)
		}
	}
}

// len returns the number of live stored peers and swarms.
func (s *store) len() (peers, swarms int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(s.now())
	return s.total, len(s.swarms)
}
