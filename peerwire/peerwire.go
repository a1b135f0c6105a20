// Package peerwire talks to one BitTorrent peer over TCP: the BEP 3
// handshake, checked (a peer of another swarm, or something that is not a
// BitTorrent peer, is an error of its own); the BEP 10 extension handshake;
// what the peer has (BEP 3 bitfield, BEP 6 have_all and have_none), which
// tells a seed from a leecher; the peers it knows (BEP 11 ut_pex); and the
// torrent's metadata (BEP 9 ut_metadata), accepted only if it hashes to the
// info hash (SHA-1, and SHA-256 for v2, BEP 52).
//
// peerwire never uploads or downloads pieces: it is what a finder needs
// to tell a live peer from a stale address, learn more peers, and turn a
// magnet link into a .torrent.
//
// Peers are untrusted. Every length a peer sends is checked against a limit
// before anything is allocated, every read has a deadline (from the
// context, or an idle limit), and a malformed message is an error, never a
// panic: one hostile peer costs its own connection and nothing more.
package peerwire

import (
	"crypto/rand"
	"time"
)

// Defaults of Config.
const (
	// DefaultTimeout bounds Dial when the context has no earlier deadline.
	DefaultTimeout = 10 * time.Second
	// DefaultOpenWait is how long Dial waits, after the handshake, for the
	// extension handshake and for what the peer has.
	DefaultOpenWait = 3 * time.Second
	// DefaultMaxMessage bounds a message's length: a bitfield of 2 Mi
	// pieces fits, and nothing else a finder reads comes close.
	DefaultMaxMessage = 256<<10 + 1
	// DefaultMaxMetadataSize bounds the metadata_size a peer may announce;
	// the largest real info dictionaries are a few MiB of piece hashes.
	DefaultMaxMetadataSize = 32 << 20
	// idleTimeout bounds a read when the context has no deadline: BEP 3
	// peers send a keep-alive every two minutes.
	idleTimeout = 150 * time.Second
)

// Config configures Dial. The zero value works; a Config is read, never
// modified, and may be shared.
type Config struct {
	// PeerID is the id we send in the handshake. If zero, a random id
	// starting "-PF0001-".
	PeerID [20]byte
	// Timeout bounds Dial: connect, both handshakes and the peer's opening
	// messages. If zero, DefaultTimeout. The context may end it sooner.
	Timeout time.Duration
	// OpenWait bounds the wait, after the BEP 3 handshake, for the
	// extension handshake and the bitfield (a peer that has nothing and
	// does not speak BEP 6 sends none). If zero, DefaultOpenWait.
	OpenWait time.Duration
	// NumPieces is the torrent's piece count, if known: the bitfield must
	// then have exactly that many bits, and Pieces.Total is exact.
	NumPieces int
	// NoPEX leaves ut_pex (BEP 11) out of our extension handshake, so the
	// peer sends no PEX: for private torrents (BEP 27).
	NoPEX bool
	// Version is our BEP 10 "v". If empty, "peerfind".
	Version string
	// MaxMessage bounds the length of a message. If zero,
	// DefaultMaxMessage.
	MaxMessage int
	// MaxMetadataSize bounds the metadata_size accepted. If zero,
	// DefaultMaxMetadataSize.
	MaxMetadataSize int64
}

func (c *Config) peerID() [20]byte {
	if c.PeerID != ([20]byte{}) {
		return c.PeerID
	}
	var id [20]byte
	copy(id[:], "-PF0001-")
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	rand.Read(id[8:])
	for i := 8; i < 20; i++ {
		id[i] = alphabet[int(id[i])%len(alphabet)]
	}
	return id
}

func (c *Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

func (c *Config) openWait() time.Duration {
	if c.OpenWait <= 0 {
		return DefaultOpenWait
	}
	return c.OpenWait
}

func (c *Config) maxMessage() int {
	if c.MaxMessage <= 0 {
		return DefaultMaxMessage
	}
	return c.MaxMessage
}

func (c *Config) maxMetadataSize() int64 {
	if c.MaxMetadataSize <= 0 {
		return DefaultMaxMetadataSize
	}
	return c.MaxMetadataSize
}

func (c *Config) version() string {
	if c.Version == "" {
		return "peerfind"
	}
	return c.Version
}
