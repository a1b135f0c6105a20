package peerwire

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"fmt"

	"github.com/peerfind/peerfind/metainfo"
)

// metadataWindow is the number of ut_metadata requests kept outstanding.
const metadataWindow = 4

// metadataFetch is the state of one Metadata call: which pieces were asked
// for and the ones that arrived. Pieces are kept as they come, not in a
// buffer of metadata_size made up front: a peer announcing the largest
// size it may costs us only what it really sends.
type metadataFetch struct {
	size     int64
	parts    [][]byte // nil until the piece arrives
	asked    []bool
	received int
	err      error // a reject or a bad piece, reported by handle
}

func (f *metadataFetch) pieces() int { return len(f.parts) }

// pieceLen is the length piece i must have: 16 KiB, the last one the rest.
func (f *metadataFetch) pieceLen(i int) int {
	if i == f.pieces()-1 {
		return int(f.size - int64(i)*metadataPieceSize)
	}
	return metadataPieceSize
}

// handle takes a data or reject message. A piece we did not ask for, of
// the wrong size, or with another total_size fails the fetch: the peer is
// not to be trusted with the rest.
func (f *metadataFetch) handle(m metadataMsg) error {
	if f.err != nil {
		return nil
	}
	if m.Type == metaReject {
		f.err = &kindError{ErrMetadataRejected, fmt.Errorf("piece %d", m.Piece)}
		return nil
	}
	switch {
	case m.Piece >= f.pieces() || !f.asked[m.Piece]:
		f.err = protoErr("ut_metadata piece %d, not requested", m.Piece)
	case m.TotalSize != f.size:
		f.err = protoErr("ut_metadata piece %d: total_size %d, metadata_size was %d", m.Piece, m.TotalSize, f.size)
	case len(m.Data) != f.pieceLen(m.Piece):
		f.err = protoErr("ut_metadata piece %d of %d bytes, want %d", m.Piece, len(m.Data), f.pieceLen(m.Piece))
	case f.parts[m.Piece] != nil:
		// a repeat: harmless
	default:
		f.parts[m.Piece] = append([]byte(nil), m.Data...)
		f.received++
	}
	return nil
}

// Metadata fetches the torrent's info dictionary from the peer (BEP 9):
// every piece is requested, each answer is checked (a reject or a piece of
// the wrong size is an error), and the assembled bytes are accepted only if
// they hash to the connection's info hash — SHA-1 for a v1 swarm, SHA-256
// truncated to 20 bytes for a v2 one (BEP 52) — and, if v2 is not zero,
// their SHA-256 is v2 as well (a v2 or hybrid magnet's urn:btmh). It fails
// with ErrNoMetadata if the peer does not offer the metadata.
func (c *Conn) Metadata(ctx context.Context, v2 metainfo.HashV2) ([]byte, error) {
	if c.Ext == nil || c.Ext.M["ut_metadata"] == 0 || c.Ext.MetadataSize <= 0 {
		return nil, &Error{Addr: c.Addr, Op: "metadata", Err: ErrNoMetadata}
	}
	size := c.Ext.MetadataSize
	if size > c.cfg.maxMetadataSize() {
		return nil, c.fail("metadata", tooLarge("metadata_size", size, c.cfg.maxMetadataSize()))
	}
	n := int((size + metadataPieceSize - 1) / metadataPieceSize)
	f := &metadataFetch{size: size, parts: make([][]byte, n), asked: make([]bool, n)}
	c.meta = f
	defer func() { c.meta = nil }()
	defer c.deadline(ctx)()
	next := 0
	for f.received < n {
		for next < n && next-f.received < metadataWindow {
			f.asked[next] = true
			if err := c.writeExtended("ut_metadata", appendMetadataMsg(nil, metadataMsg{Type: metaRequest, Piece: next})); err != nil {
				return nil, c.fail("metadata", err)
			}
			next++
		}
		if err := c.readOne(); err != nil {
			if ctx.Err() != nil {
				err = &kindError{ErrTimeout, context.Cause(ctx)}
			}
			return nil, c.fail("metadata", err)
		}
		if f.err != nil {
			return nil, c.fail("metadata", f.err)
		}
	}
	info := make([]byte, 0, size)
	for _, p := range f.parts {
		info = append(info, p...)
	}
	if err := checkMetadata(info, c.InfoHash, v2); err != nil {
		return nil, c.fail("metadata", err)
	}
	return info, nil
}

// checkMetadata accepts info if its SHA-1 is ih, or its SHA-256 begins with
// ih (a v2 swarm's key, BEP 52); and, if v2 is not zero, its SHA-256 is v2.
func checkMetadata(info []byte, ih metainfo.Hash, v2 metainfo.HashV2) error {
	s1 := sha1.Sum(info)
	s2 := sha256.Sum256(info)
	if s1 != ih && !bytes.Equal(s2[:20], ih[:]) {
		return &kindError{ErrMetadataHash, fmt.Errorf("SHA-1 %x, SHA-256 %x, want %s", s1, s2, ih)}
	}
	if !v2.IsZero() && s2 != v2 {
		return &kindError{ErrMetadataHash, fmt.Errorf("SHA-256 %x, want %s", s2, v2)}
	}
	return nil
}
