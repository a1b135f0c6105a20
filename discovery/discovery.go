// Package discovery finds the peers of a swarm through every source at once:
// HTTP and UDP trackers, the Mainline DHT and the peers a magnet link names
// (x.pe). It deduplicates the addresses, records for each peer when it was
// first seen and every source that named it, and streams events to the
// caller as they happen.
//
// A search without Follow ends by itself as soon as the answer is complete —
// every tracker answered or failed, and the DHT lookups converged with a
// repeat lookup that found nothing new — or at the timeout, on a peer count,
// or when the context is cancelled, whichever comes first. With Follow it
// keeps going: it re-announces at each tracker's interval (never sooner than
// its min interval) and repeats DHT lookups, reporting only new peers.
//
// Trackers are asked through a tracker.Session, which owns the announce
// events, tiers, intervals and `stopped`; the search adds the DHT and the
// magnet's peers and the rule of private torrents (BEP 27). The sources sit
// behind two small interfaces, tracker.Announcer (a *tracker.Client) and
// PeerLookup (see NewDHTSource), so that the search runs the same against
// real trackers and a real DHT node, against the local swarm of package
// swarmtest, or against fakes in tests.
//
// With Config.Verify each peer found is also connected to and handshaken
// (package peerwire), with bounded concurrency and a cap on open
// connections, and reported in a VerifyEvent; with Verify.PEX the peers
// that verified peers name in ut_pex (BEP 11) join the search as the
// source "pex" (never for a private torrent, BEP 27). FetchMetadata runs
// the same search and asks verified peers for the torrent's metadata
// (BEP 9) until one gives it.
package discovery

import (
	"context"
	"net/netip"
	"time"

	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/metainfo"
	"github.com/peerfind/peerfind/tracker"
)

// Source names used in PeerInfo.Sources and Event values besides tracker
// URLs, which name themselves.
const (
	SourceDHT    = "dht"    // the Mainline DHT (BEP 5)
	SourceMagnet = "magnet" // the x.pe peers of a magnet link (BEP 9)
	SourcePEX    = "pex"    // peer exchange (BEP 11): peers named by verified peers (Config.Verify)
)

// Target is what to look up: the swarm keys and the hints a .torrent file or
// a magnet link carries.
type Target struct {
	// InfoHashes are the swarm keys to look up: the v1 info hash and/or the
	// v2 info hash truncated to 20 bytes (BEP 52). A hybrid torrent has two,
	// and both swarms are searched.
	InfoHashes []metainfo.Hash
	// Trackers are the announce URLs in tiers (BEP 12), asked under
	// Config.TrackerPolicy: by default every tracker of every tier at once,
	// since a lookup wants all the peers, not the first tier that answers.
	Trackers [][]string
	// Nodes are DHT nodes given by the torrent (BEP 5 "nodes") or the user,
	// as host:port. They are handed to the DHT source before its first
	// lookup if it implements NodeAdder.
	Nodes []string
	// Peers are addresses known in advance, such as a magnet link's x.pe
	// parameters; they are reported at once under the source "magnet".
	Peers []netip.AddrPort
	// Private marks a private torrent (BEP 27): it is looked up on its
	// trackers only, unless Config.AllowDHTPrivate is set.
	Private bool
	// Size is the torrent's total size in bytes, announced to trackers as
	// "left" (a finder has nothing); zero if unknown (a magnet link without
	// "xl"), which announces tracker.LeftUnknown, never a seeder.
	Size int64
}

// DHTAllowed reports whether the DHT may be used for t: always, except for
// a private torrent (BEP 27: its peers come from its trackers only) when
// allowPrivate, the user's explicit override, is false. A caller can ask
// before starting a DHT node that would not be used.
func (t *Target) DHTAllowed(allowPrivate bool) bool {
	return !t.Private || allowPrivate
}

// PeerLookup runs DHT get_peers lookups (BEP 5). GetPeers calls fn for each
// peer as it arrives, with the node that returned it, and returns when the
// lookup has converged or ctx is done. It must be safe for concurrent use:
// the swarms of a hybrid torrent are looked up at the same time.
type PeerLookup interface {
	GetPeers(ctx context.Context, infoHash metainfo.Hash, fn func(peer, from netip.AddrPort)) (dht.LookupStats, error)
}

// PeerScraper is implemented by PeerLookups that can estimate a swarm's
// size during the same lookup (BEP 33 DHT scrape, see dht.Node.Scrape):
// ScrapePeers is GetPeers plus the estimate. Config.DHTScrape uses it.
type PeerScraper interface {
	ScrapePeers(ctx context.Context, infoHash metainfo.Hash, fn func(peer, from netip.AddrPort)) (dht.ScrapeResult, dht.LookupStats, error)
}

// NodeAdder is implemented by PeerLookups that accept extra starting nodes;
// the search passes them Target.Nodes (resolved) before the first lookup.
type NodeAdder interface {
	AddNode(addr netip.AddrPort)
}

// Defaults of Config.
const (
	DefaultTimeout     = 30 * time.Second
	DefaultDHTLookups  = 2
	DefaultDHTInterval = 5 * time.Minute
	DefaultPort        = tracker.DefaultPort
	// DefaultSettle is Config.Settle's default; see README "Design notes"
	// for the measurements it was chosen from.
	DefaultSettle = 1500 * time.Millisecond
	// MaxTrackedPeers bounds the peer table when Config.MaxPeers is zero:
	// far more than any real swarm, a few tens of MB at most.
	MaxTrackedPeers = 1 << 18
)

// Config configures a search. The zero value searches the target's trackers
// through no Announcer (so none) and no DHT: set Trackers and DHT to use
// them. A Config is read, never modified, by Find.
type Config struct {
	// Trackers carries the announces to the target's trackers, usually a
	// *tracker.Client, which the caller closes after Find. If nil, trackers
	// are not asked.
	Trackers tracker.Announcer
	// TrackerPolicy chooses which trackers are asked: every one at once
	// (tracker.PolicyAll, the zero value) or BEP 12's order
	// (tracker.PolicyBEP12).
	TrackerPolicy tracker.Policy
	// DHT runs DHT lookups. If nil, the DHT is not used.
	DHT PeerLookup
	// Timeout bounds the whole search. If zero, DefaultTimeout; if
	// negative, none (the context still applies). With Follow it is usually
	// set negative.
	Timeout time.Duration
	// Settle is the end rule for sources that never answer (real torrents
	// list many dead trackers): without Follow, once the DHT lookups have
	// finished (or the DHT is not used) and some source has answered, the
	// search ends when no source has reported anything for Settle, instead
	// of waiting out every dead tracker's announce timeout. The trackers
	// still silent then are given up (Queries 0 in their summary) and the
	// reason is StopSettled. If zero, DefaultSettle; if negative, the search
	// waits for every source to answer or fail.
	Settle time.Duration
	// MaxPeers ends the search once that many distinct peers are found. If
	// zero, MaxTrackedPeers: the peer table, which dedupes, is the one
	// thing that grows with what sources send, so it has a bound even in a
	// follow-mode search that runs for days.
	MaxPeers int
	// Follow keeps the search going after the first answers: trackers are
	// re-announced at their interval and the DHT is looked up again every
	// DHTInterval, until the timeout, MaxPeers or the context ends it.
	Follow bool
	// AllowDHTPrivate uses the DHT even for a private torrent (BEP 27 says a
	// client must not; the user may override it explicitly).
	AllowDHTPrivate bool
	// Port is the port announced to trackers. If zero, DefaultPort.
	Port uint16
	// KeepSelf keeps peers that are this search's own announce echoed
	// back: Port at one of this machine's interface addresses or at the
	// external address a tracker reported (BEP 24). Trackers such as
	// opentracker return the announcing client in its own peer list. If
	// false, such peers are dropped.
	KeepSelf bool
	// NumWant is the number of peers asked of each tracker. If zero,
	// tracker.DefaultNumWant.
	NumWant int
	// AnnounceTimeout bounds each tracker announce, so a dead tracker fails
	// in time for the search to end before its timeout. If zero,
	// tracker.DefaultAnnounceTimeout.
	AnnounceTimeout time.Duration
	// DHTLookups caps the lookups per swarm without Follow: a lookup that
	// no node answered is repeated until this many have run. If zero,
	// DefaultDHTLookups.
	DHTLookups int
	// DHTInterval is the pause between DHT lookups with Follow. If zero,
	// DefaultDHTInterval.
	DHTInterval time.Duration
	// DHTScrape makes every DHT lookup a BEP 33 scrape as well, if DHT
	// implements PeerScraper: the queries carry scrape=1, which costs no
	// extra query, and the DHT's SourceSummary gets the estimated seeds
	// and leechers. If false, or DHT does not implement it, plain lookups.
	DHTScrape bool
	// DefaultInterval is the re-announce interval with Follow when a tracker
	// gives none. If zero, tracker.DefaultInterval.
	DefaultInterval time.Duration
	// RetryInterval is the pause with Follow before announcing again to a
	// tracker that failed; it doubles on each failure up to
	// DefaultInterval. If zero, tracker.DefaultRetryInterval.
	RetryInterval time.Duration
	// StopTimeout bounds, altogether, the "stopped" announces sent at the
	// end to the trackers that accepted "started". If zero,
	// tracker.DefaultStopTimeout; if negative, none is sent.
	StopTimeout time.Duration
	// Verify, if set, checks every peer found with a TCP handshake
	// (package peerwire) and, with Verify.PEX, adds the peers they name
	// (BEP 11). MaxPeers then counts the peers that answered. If nil, no
	// connection is made to any peer.
	Verify *Verify
}

func (c *Config) timeout() time.Duration {
	if c.Timeout == 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

func (c *Config) settle() time.Duration {
	if c.Settle == 0 {
		return DefaultSettle
	}
	return c.Settle
}

func (c *Config) maxPeers() int {
	if c.MaxPeers <= 0 {
		return MaxTrackedPeers
	}
	return c.MaxPeers
}

func (c *Config) port() uint16 {
	if c.Port == 0 {
		return DefaultPort
	}
	return c.Port
}

func (c *Config) dhtLookups() int {
	if c.DHTLookups <= 0 {
		return DefaultDHTLookups
	}
	return c.DHTLookups
}

func (c *Config) dhtInterval() time.Duration {
	if c.DHTInterval <= 0 {
		return DefaultDHTInterval
	}
	return c.DHTInterval
}
