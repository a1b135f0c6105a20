package discovery

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/peerfind/peerfind/metainfo"
	"github.com/peerfind/peerfind/peerwire"
)

// Defaults of Verify.
const (
	DefaultVerifyConcurrency = 20
	DefaultMaxConns          = 50
	// DefaultPEXWait is how long a verified peer's connection is held for
	// its first ut_pex message: libtorrent sends it about a second after
	// the extension handshake (docs/interop.md).
	DefaultPEXWait = 4 * time.Second
)

// Verify configures the peer checks of a search (Config.Verify): each
// peer found is connected to over TCP and handshaken (BEP 3, BEP 10) for
// the swarm it was found in, and reported in a VerifyEvent; with PEX, the
// peers it names in ut_pex (BEP 11) join the search under the source
// "pex". The zero value verifies with the defaults and no PEX.
type Verify struct {
	// Concurrency bounds the handshakes in flight. If zero,
	// DefaultVerifyConcurrency.
	Concurrency int
	// MaxConns bounds the open connections: handshakes in flight and
	// connections held for PEX together. If zero, DefaultMaxConns.
	MaxConns int
	// Timeout bounds each handshake, connect included. If zero,
	// peerwire.DefaultTimeout.
	Timeout time.Duration
	// PEX holds each verified peer's connection for up to PEXWait and adds
	// the peers its ut_pex message names. Never for a private torrent
	// (BEP 27): its peers come from its trackers only.
	PEX bool
	// PEXWait is how long a connection is held for a ut_pex message. If
	// zero, DefaultPEXWait.
	PEXWait time.Duration
	// NumPieces is the torrent's piece count, if known (a .torrent file):
	// bitfields are checked against it and shares are exact.
	NumPieces int

	// metadata, set by FetchMetadata, asks each verified peer for the
	// metadata until one gives it.
	metadata *metadataWant
}

func (v *Verify) concurrency() int {
	if v.Concurrency <= 0 {
		return DefaultVerifyConcurrency
	}
	return v.Concurrency
}

func (v *Verify) maxConns() int {
	if v.MaxConns <= 0 {
		return DefaultMaxConns
	}
	return v.MaxConns
}

func (v *Verify) pexWait() time.Duration {
	if v.PEXWait <= 0 {
		return DefaultPEXWait
	}
	return v.PEXWait
}

// VerifyResult is the outcome of one peer's check.
type VerifyResult int

// Results of a check. VerifyOK is a peer that answered the handshake for
// this torrent; the others say why not.
const (
	VerifyOK            VerifyResult = iota
	VerifyRefused                    // nothing listens there (TCP RST)
	VerifyTimeout                    // no connection or no answer in time
	VerifyReset                      // the peer reset the connection
	VerifyClosed                     // the peer closed it, usually: not in this swarm
	VerifyWrongHash                  // the peer answered for another info hash
	VerifyNotBitTorrent              // what answered is not a BitTorrent peer
	VerifyProtocol                   // a BitTorrent peer that broke the protocol
	VerifyError                      // another network error (unreachable, ...)
	numVerifyResults
)

// String returns the result in a few words: "ok", "refused", "timed out",
// "reset", "closed", "wrong info hash", "not BitTorrent", "protocol error",
// "error".
func (r VerifyResult) String() string {
	switch r {
	case VerifyOK:
		return "ok"
	case VerifyRefused:
		return "refused"
	case VerifyTimeout:
		return "timed out"
	case VerifyReset:
		return "reset"
	case VerifyClosed:
		return "closed"
	case VerifyWrongHash:
		return "wrong info hash"
	case VerifyNotBitTorrent:
		return "not BitTorrent"
	case VerifyProtocol:
		return "protocol error"
	}
	return "error"
}

// VerifyResults lists every result, in order, for callers that print
// counts.
func VerifyResults() []VerifyResult {
	out := make([]VerifyResult, numVerifyResults)
	for i := range out {
		out[i] = VerifyResult(i)
	}
	return out
}

func resultOf(err error) VerifyResult {
	switch {
	case err == nil:
		return VerifyOK
	case errors.Is(err, peerwire.ErrRefused):
		return VerifyRefused
	case errors.Is(err, peerwire.ErrTimeout):
		return VerifyTimeout
	case errors.Is(err, peerwire.ErrReset):
		return VerifyReset
	case errors.Is(err, peerwire.ErrClosed):
		return VerifyClosed
	case errors.Is(err, peerwire.ErrWrongInfoHash):
		return VerifyWrongHash
	case errors.Is(err, peerwire.ErrNotBitTorrent):
		return VerifyNotBitTorrent
	case errors.Is(err, peerwire.ErrProtocol), errors.Is(err, peerwire.ErrTooLarge):
		return VerifyProtocol
	}
	return VerifyError
}

// VerifyEvent reports the check of one peer.
type VerifyEvent struct {
	Peer   netip.AddrPort
	Swarm  metainfo.Hash // the swarm it was handshaken for
	Result VerifyResult
	Err    error // nil for VerifyOK; a *peerwire.Error
	// Connect is the TCP connect time; RTT the handshake round trip.
	Connect, RTT time.Duration
	// The rest is known for VerifyOK only.
	PeerID     [20]byte
	Client     string          // from the peer id (see peerwire.Client); "" if unknown
	Version    string          // the BEP 10 "v" the client gave; "" if none
	Pieces     peerwire.Pieces // what it has: a seed, a leecher and its share, or unknown
	Extensions []string        // see peerwire.Conn.Extensions
	Sources    []string        // the sources that had named it when it was checked
	At         time.Duration
}

// Elapsed implements Event.
func (e *VerifyEvent) Elapsed() time.Duration { return e.At }

// VerifySummary counts the checks of a search.
type VerifySummary struct {
	// Results counts the peers checked, by result (index: VerifyResult).
	Results [numVerifyResults]int
	// Seeds and Leechers split the VerifyOK peers that said what they
	// have; the rest of them did not say.
	Seeds, Leechers int
	// Unchecked are the peers found but not checked when the search ended.
	Unchecked int
	// PEX is the number of ut_pex messages received.
	PEX int
}

// OK is the number of peers that answered the handshake for the torrent.
func (v *VerifySummary) OK() int { return v.Results[VerifyOK] }

// verifier runs the checks: a queue of peers, Concurrency workers, and a
// semaphore of MaxConns connection slots. Results go to the search loop
// through s.send.
type verifier struct {
	s   *search
	cfg *Verify
	pw  peerwire.Config
	pex bool

	mu    sync.Mutex // guards queue
	queue []verifyJob
	wake  chan struct{} // a job was queued (capacity 1)
	slots chan struct{} // a token per open connection
}

type verifyJob struct {
	peer    netip.AddrPort
	swarm   metainfo.Hash
	sources []string
}

func newVerifier(s *search, cfg *Verify, private bool) *verifier {
	v := &verifier{s: s, cfg: cfg, pex: cfg.PEX && !private, wake: make(chan struct{}, 1), slots: make(chan struct{}, cfg.maxConns())}
	v.pw = peerwire.Config{Timeout: cfg.Timeout, NumPieces: cfg.NumPieces, NoPEX: !v.pex}
	return v
}

// add queues a peer; it never blocks (the search loop calls it).
func (v *verifier) add(j verifyJob) {
	v.mu.Lock()
	v.queue = append(v.queue, j)
	v.mu.Unlock()
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// unchecked returns the number of peers still queued.
func (v *verifier) unchecked() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.queue)
}

func (v *verifier) next(ctx context.Context) (verifyJob, bool) {
	for {
		v.mu.Lock()
		if len(v.queue) > 0 {
			j := v.queue[0]
			v.queue = v.queue[1:]
			v.mu.Unlock()
			return j, true
		}
		v.mu.Unlock()
		select {
		case <-v.wake:
		case <-ctx.Done():
			return verifyJob{}, false
		}
	}
}

// run starts the workers and returns when ctx ends and every connection
// is closed.
func (v *verifier) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range v.cfg.concurrency() {
		wg.Go(func() {
			for {
				j, ok := v.next(ctx)
				if !ok {
					return
				}
				select {
				case v.slots <- struct{}{}:
				case <-ctx.Done():
					return
				}
				v.check(ctx, j, &wg)
			}
		})
	}
	wg.Wait()
}

// check handshakes one peer and reports it; a verified peer's connection
// is handed to a goroutine of its own for PEX and metadata, keeping its
// slot until it closes, so the worker goes on to the next peer.
func (v *verifier) check(ctx context.Context, j verifyJob, wg *sync.WaitGroup) {
	c, err := peerwire.Dial(ctx, j.peer, j.swarm, &v.pw)
	if ctx.Err() != nil {
		if c != nil {
			c.Close()
		}
		<-v.slots
		return // the search is over: the peer counts as unchecked
	}
	ev := &VerifyEvent{Peer: j.peer, Swarm: j.swarm, Result: resultOf(err), Err: err, Sources: j.sources}
	if err != nil {
		<-v.slots
		v.s.send(ctx, report{verify: ev, verifyDone: true})
		return
	}
	ev.Connect, ev.RTT, ev.PeerID, ev.Client, ev.Pieces, ev.Extensions = c.Connect, c.RTT, c.PeerID, peerwire.Client(c.PeerID), c.Pieces, c.Extensions()
	if c.Ext != nil {
		ev.Version = c.Ext.V
	}
	follow := v.pex || v.cfg.metadata != nil
	if !v.s.send(ctx, report{verify: ev, verifyDone: !follow}) || !follow {
		c.Close()
		<-v.slots
		return
	}
	wg.Go(func() {
		defer func() { <-v.slots }()
		defer c.Close()
		v.follow(ctx, c, j)
		v.s.send(ctx, report{verifyDone: true})
	})
}

// follow asks a verified peer for the metadata (FetchMetadata) and waits
// up to PEXWait for its ut_pex message.
func (v *verifier) follow(ctx context.Context, c *peerwire.Conn, j verifyJob) {
	if m := v.cfg.metadata; m != nil && !m.done() {
		info, err := c.Metadata(ctx, m.v2)
		if ctx.Err() != nil {
			return
		}
		ev := &MetadataEvent{Peer: j.peer, Err: err, Size: len(info)}
		if !v.s.send(ctx, report{metadata: ev, info: info}) || err == nil {
			return
		}
	}
	if !v.pex {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, v.cfg.pexWait())
	defer cancel()
	p, err := c.ReadPEX(pctx)
	if err != nil {
		return
	}
	peers := make([]netip.AddrPort, 0, len(p.Added))
	for _, a := range p.Added {
		peers = append(peers, a.Addr)
	}
	v.s.send(ctx, report{source: SourcePEX, swarm: j.swarm, peers: peers, via: j.peer, pex: true})
}

// checks is the search loop's side of the verifier: peers queued or in
// work (the search is not complete while there are any) and the counts.
type checks struct {
	inflight int // queued, being checked, or held for PEX or metadata
	queued   int // ever queued
	sum      VerifySummary
}

// handleCheck folds a verifier report into the summary and emits its
// event; it ends the search at MaxPeers verified peers, and, fetching the
// metadata, once a peer gave it.
func (s *search) handleCheck(r report, sum *Summary, info *[]byte) {
	if r.verify == nil && r.metadata == nil && !r.verifyDone && !r.pex {
		return
	}
	at := s.since()
	if r.pex {
		s.checks.sum.PEX++
		if src := s.sources[SourcePEX]; src != nil {
			src.Queries++
		}
	}
	if ev := r.verify; ev != nil {
		ev.At = at
		s.checks.sum.Results[ev.Result]++
		if ev.Result == VerifyOK && ev.Pieces.Known {
			if ev.Pieces.All {
				s.checks.sum.Seeds++
			} else {
				s.checks.sum.Leechers++
			}
		}
		if pi := s.peers[ev.Peer]; pi != nil {
			ev.Sources = slices.Clone(pi.Sources)
		}
		s.fn(ev)
		if ev.Result == VerifyOK && s.checks.sum.OK() >= s.cfg.maxPeers() && sum.Reason == "" {
			sum.Reason = StopMaxPeers
		}
	}
	if ev := r.metadata; ev != nil {
		ev.At = at
		s.fn(ev)
		if ev.Err == nil && info != nil && *info == nil {
			*info = r.info
			s.cfg.Verify.metadata.set()
			if sum.Reason == "" {
				sum.Reason = StopComplete
			}
		}
	}
	if r.verifyDone {
		s.checks.inflight--
	}
}
