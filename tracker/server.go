package tracker

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"sync"
	"time"

	"github.com/peerfind/peerfind/metainfo"
)

// Server is a small BitTorrent tracker, HTTP (ServeHTTP) and UDP
// (ServeUDP), for tests, the offline demo and in-process swarms. It keeps
// swarms in memory, expires announced peers, and answers announces with
// compact, dictionary and IPv6 peer lists and scrapes. The zero value is
// ready to use and safe for concurrent use; set the fields before serving.
type Server struct {
	// Interval is the re-announce interval sent. If zero, 30 minutes.
	Interval time.Duration
	// MinInterval is the "min interval" sent. If zero, Interval/2.
	MinInterval time.Duration
	// PeerTTL is how long an announced peer stays listed without
	// re-announcing. If zero, 2·Interval + 1 minute. Peers added with
	// AddPeer never expire.
	PeerTTL time.Duration

	initOnce sync.Once
	secret   [32]byte // keys the UDP connection ids

	mu     sync.Mutex
	swarms map[metainfo.Hash]*swarm
}

type swarm struct {
	peers     map[netip.AddrPort]serverPeer
	completed int // "downloaded": announces with event=completed
}

type serverPeer struct {
	seeder  bool
	expires time.Time // zero: never (AddPeer)
}

// Limits on the peers one answer lists.
const (
	serverDefaultNumWant = 50
	serverMaxNumWant     = 200
)

func (s *Server) init() {
	s.initOnce.Do(func() { rand.Read(s.secret[:]) })
}

func (s *Server) interval() time.Duration {
	if s.Interval > 0 {
		return s.Interval
	}
	return 30 * time.Minute
}

func (s *Server) minInterval() time.Duration {
	if s.MinInterval > 0 {
		return s.MinInterval
	}
	return s.interval() / 2
}

func (s *Server) peerTTL() time.Duration {
	if s.PeerTTL > 0 {
		return s.PeerTTL
	}
	return 2*s.interval() + time.Minute
}

// swarmLocked returns the swarm of h, creating it if create; expired peers
// are dropped on the way. s.mu must be held.
func (s *Server) swarmLocked(h metainfo.Hash, create bool, now time.Time) *swarm {
	sw := s.swarms[h]
	if sw == nil {
		if !create {
			return nil
		}
		if s.swarms == nil {
			s.swarms = map[metainfo.Hash]*swarm{}
		}
		sw = &swarm{peers: map[netip.AddrPort]serverPeer{}}
		s.swarms[h] = sw
	}
	for a, p := range sw.peers {
		if !p.expires.IsZero() && !now.Before(p.expires) {
			delete(sw.peers, a)
		}
	}
	return sw
}

func (sw *swarm) counts() (seeders, leechers int) {
	for _, p := range sw.peers {
		if p.seeder {
			seeders++
		} else {
			leechers++
		}
	}
	return seeders, leechers
}

// AddPeer lists peer in the swarm of hash until the Server is dropped.
func (s *Server) AddPeer(hash metainfo.Hash, peer netip.AddrPort, seeder bool) {
	peer = unmapAP(peer)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.swarmLocked(hash, true, time.Now()).peers[peer] = serverPeer{seeder: seeder}
}

// Peers returns the peers listed in the swarm of hash, in no order.
func (s *Server) Peers(hash metainfo.Hash) []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	sw := s.swarmLocked(hash, false, time.Now())
	if sw == nil {
		return nil
	}
	out := make([]netip.AddrPort, 0, len(sw.peers))
	for a := range sw.peers {
		out = append(out, a)
	}
	return out
}

func unmapAP(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// announced is what the store answers to one announce.
type announced struct {
	peers                 []netip.AddrPort
	seeders, leechers     int
	interval, minInterval time.Duration
}

// announce records one announce from peer and returns up to numWant other
// peers for which want returns true.
func (s *Server) announce(h metainfo.Hash, peer netip.AddrPort, ev Event, left int64, numWant int, want func(netip.AddrPort) bool) announced {
	peer = unmapAP(peer)
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sw := s.swarmLocked(h, true, now)
	if ev == EventStopped {
		delete(sw.peers, peer)
	} else {
		old, had := sw.peers[peer]
		if ev == EventCompleted && !(had && old.seeder) {
			sw.completed++
		}
		p := serverPeer{seeder: left == 0, expires: now.Add(s.peerTTL())}
		if had && old.expires.IsZero() {
			p.expires = time.Time{}
		}
		sw.peers[peer] = p
	}
	if numWant <= 0 {
		numWant = serverDefaultNumWant
	}
	numWant = min(numWant, serverMaxNumWant)
	a := announced{interval: s.interval(), minInterval: s.minInterval()}
	a.seeders, a.leechers = sw.counts()
	if ev == EventStopped {
		return a
	}
	for p := range sw.peers { // map order: a random pick
		if len(a.peers) >= numWant {
			break
		}
		if p != peer && want(p) {
			a.peers = append(a.peers, p)
		}
	}
	return a
}

// scrape returns the counts of the swarms of hashes; unknown swarms count
// zero.
func (s *Server) scrape(hashes []metainfo.Hash) []ScrapeStats {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ScrapeStats, len(hashes))
	for i, h := range hashes {
		if sw := s.swarmLocked(h, false, now); sw != nil {
			out[i].Seeders, out[i].Leechers = sw.counts()
			out[i].Completed = sw.completed
		}
	}
	return out
}

// allHashes lists every swarm, for a full HTTP scrape.
func (s *Server) allHashes() []metainfo.Hash {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]metainfo.Hash, 0, len(s.swarms))
	for h := range s.swarms {
		out = append(out, h)
	}
	return out
}

// connID returns the BEP 15 connection id of addr for a one-minute epoch:
// an HMAC, so the server keeps no state and a spoofer cannot guess it.
func (s *Server) connID(addr netip.AddrPort, epoch int64) uint64 {
	s.init()
	m := hmac.New(sha256.New, s.secret[:])
	b, _ := unmapAP(addr).MarshalBinary()
	m.Write(b)
	var e [8]byte
	binary.BigEndian.PutUint64(e[:], uint64(epoch))
	m.Write(e[:])
	return binary.BigEndian.Uint64(m.Sum(nil))
}

// validConnID accepts ids of this epoch and the last: BEP 15 asks trackers
// to accept an id "until two minutes after it has been send".
func (s *Server) validConnID(addr netip.AddrPort, id uint64, now time.Time) bool {
	e := now.Unix() / 60
	return id == s.connID(addr, e) || id == s.connID(addr, e-1)
}
