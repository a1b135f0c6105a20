package discovery

import (
	"net/netip"
	"time"

	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/metainfo"
	"github.com/peerfind/peerfind/tracker"
)

// Event is one thing that happened during a search: a *PeerEvent,
// *TrackerEvent or *DHTEvent. Events are delivered one at a time, from one
// goroutine, in the order the search saw them.
type Event interface {
	// Elapsed is the time since the search started.
	Elapsed() time.Duration
}

// PeerEvent reports a peer address: newly found (New), or already known and
// now also named by another source.
type PeerEvent struct {
	Peer    netip.AddrPort // IPv4-mapped addresses are unmapped
	Swarm   metainfo.Hash  // the swarm key under which the source named it
	Source  string         // the source of this sighting: "dht", "magnet", "pex" or a tracker URL
	Via     netip.AddrPort // for "pex": the peer whose ut_pex message named it
	Sources []string       // every source that named the peer so far, first first
	New     bool           // the first sighting of this address
	At      time.Duration  // since the search started
}

// TrackerEvent reports the end of one announce to one tracker: the
// session's result (URL, Tier, InfoHash, Event, Latency, Response, Next),
// its error, and what the search made of it. Response is nil when the
// announce failed; Next, with Follow, is the pause before the tracker is
// asked again. The "stopped" announces sent at the end are reported too,
// with Event tracker.EventStopped.
type TrackerEvent struct {
	tracker.Result
	Err      error         // nil on success; a *tracker.Error naming the URL
	NewPeers int           // addresses in the response never seen before from any source
	At       time.Duration // since the search started
}

// DHTEvent reports the end of one DHT lookup.
type DHTEvent struct {
	Swarm    metainfo.Hash
	Lookup   int // 1 for the first lookup of this swarm
	Stats    dht.LookupStats
	NewPeers int // peers the DHT had not returned before for this swarm
	Err      error
	At       time.Duration
	// Next is the pause before this swarm's next lookup; 0 if there is
	// none (the last lookup of a search without Follow).
	Next time.Duration
	// Scrape is the lookup's BEP 33 estimate with Config.DHTScrape, nil
	// without.
	Scrape *dht.ScrapeResult
}

// Elapsed implements Event.
func (e *PeerEvent) Elapsed() time.Duration { return e.At }

// Elapsed implements Event.
func (e *TrackerEvent) Elapsed() time.Duration { return e.At }

// Elapsed implements Event.
func (e *DHTEvent) Elapsed() time.Duration { return e.At }

// StopReason says why a search ended.
type StopReason string

// Stop reasons.
const (
	StopComplete StopReason = "complete"  // every source finished
	StopTimeout  StopReason = "timeout"   // Config.Timeout elapsed
	StopMaxPeers StopReason = "max-peers" // Config.MaxPeers (or MaxTrackedPeers) reached
	StopCanceled StopReason = "canceled"  // the context was cancelled
	StopSettled  StopReason = "settled"   // the answering sources finished and the rest stayed silent for Config.Settle
)

// PeerInfo is everything the search learned about one peer.
type PeerInfo struct {
	Addr      netip.AddrPort
	Sources   []string        // every source that named it, in order of sighting
	Swarms    []metainfo.Hash // the swarm keys it was found under
	FirstSeen time.Duration   // since the search started
}

// SourceKind is the kind of a source.
type SourceKind int

// Source kinds.
const (
	KindTracker SourceKind = iota // an HTTP or UDP tracker, named by its URL
	KindDHT                       // the Mainline DHT, named SourceDHT
	KindMagnet                    // the x.pe peers of a magnet link, named SourceMagnet
	KindPEX                       // peers named by verified peers' ut_pex messages, named SourcePEX
)

// String returns "tracker", "dht" or "magnet".
func (k SourceKind) String() string {
	switch k {
	case KindDHT:
		return "dht"
	case KindMagnet:
		return "magnet"
	case KindPEX:
		return "pex"
	}
	return "tracker"
}

// SkipReason says why a search did not use the DHT.
type SkipReason int

// Reasons for not using the DHT.
const (
	DHTUsed     SkipReason = iota // the DHT was used
	SkipNoDHT                     // Config.DHT is nil
	SkipPrivate                   // a private torrent (BEP 27) without Config.AllowDHTPrivate
)

// String says the reason in words; "" for DHTUsed.
func (r SkipReason) String() string {
	switch r {
	case SkipNoDHT:
		return "no DHT configured"
	case SkipPrivate:
		return "private torrent (BEP 27): trackers only"
	}
	return ""
}

// SourceSummary sums up one source: "magnet", "dht" or a tracker URL.
type SourceSummary struct {
	Name string
	Kind SourceKind
	// Peers is the number of distinct peers this source named; Unique the
	// number it named first.
	Peers, Unique int
	// Queries is the number of announces or lookups made (not counting the
	// final "stopped" announces); Errors how many of them failed; Err the
	// last failure.
	Queries, Errors int
	Err             error
	// FirstPeer is the time from the search start to the first peer this
	// source named; meaningless when Peers is 0.
	FirstPeer time.Duration
	// Seeders and Leechers are a tracker's last counts, or for the DHT
	// (Config.DHTScrape) the last BEP 33 estimate that some node sent
	// filters or values for; -1 if unknown.
	Seeders, Leechers int
	// DHT is the sum of the DHT lookups' statistics.
	DHT dht.LookupStats
}

// Summary is the result of a search.
type Summary struct {
	Peers    []PeerInfo      // in order of first sighting
	Sources  []SourceSummary // "magnet" (if any peers were given), trackers in tier order, then "dht"
	Swarms   []metainfo.Hash // the swarm keys searched
	Duration time.Duration
	Reason   StopReason
	// FirstPeer is the time to the first peer; meaningless without peers.
	FirstPeer time.Duration
	// DHTSkipped says why the DHT was not used; DHTUsed if it was.
	DHTSkipped SkipReason
	// Verify counts the peer checks; nil without Config.Verify.
	Verify *VerifySummary
}
