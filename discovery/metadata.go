package discovery

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/peerfind/peerfind/metainfo"
)

// ErrNoMetadata is returned by FetchMetadata when the search ended without
// a peer giving the metadata.
var ErrNoMetadata = errors.New("discovery: no peer gave the metadata")

// MetadataEvent reports one attempt to fetch the metadata from a peer
// (FetchMetadata): Err is nil when it succeeded, else why the peer was
// dropped (a reject, a piece of the wrong size, bytes that do not hash to
// the info hash, ...).
type MetadataEvent struct {
	Peer netip.AddrPort
	Size int // bytes of the info dictionary, on success
	Err  error
	At   time.Duration
}

// Elapsed implements Event.
func (e *MetadataEvent) Elapsed() time.Duration { return e.At }

// metadataWant is what FetchMetadata wants of the verifier: the full v2
// hash to check, if known, and whether a peer already gave it.
type metadataWant struct {
	v2 metainfo.HashV2
	mu sync.Mutex
	ok bool
}

func (m *metadataWant) done() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ok
}

func (m *metadataWant) set() {
	m.mu.Lock()
	m.ok = true
	m.mu.Unlock()
}

// FetchMetadata finds target's peers as Find does and asks each peer that
// answers the handshake for the torrent's metadata (BEP 9), several at
// once, until one gives an info dictionary whose SHA-1 is the info hash
// (or whose SHA-256 is the v2 one, BEP 52); v2, if not zero, is the full
// v2 hash the SHA-256 must equal as well (a magnet link's urn:btmh).
// Peers that send a reject or bad pieces are dropped and reported in a
// MetadataEvent. It returns the info dictionary's bytes, exactly as the
// peer sent them, and the search's summary; ErrNoMetadata if the search
// ended without them. cfg.Verify, if nil, is the zero Verify.
func FetchMetadata(ctx context.Context, target Target, v2 metainfo.HashV2, cfg *Config, fn func(Event)) ([]byte, *Summary, error) {
	c := Config{}
	if cfg != nil {
		c = *cfg
	}
	vf := Verify{}
	if c.Verify != nil {
		vf = *c.Verify
	}
	vf.metadata = &metadataWant{v2: v2}
	c.Verify = &vf
	var info []byte
	sum, err := find(ctx, target, &c, fn, &info)
	if err != nil {
		return nil, nil, err
	}
	if info == nil {
		return nil, sum, ErrNoMetadata
	}
	return info, sum, nil
}
