package peerwire

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/peerfind/peerfind/metainfo"
)

// The wire format of BEP 3 and the messages of BEP 6 and BEP 10: pure
// functions, bytes in and values out, no sockets or clocks.

// protocol is the handshake's first 20 bytes: the length 19 and the
// protocol string (BEP 3).
const protocol = "\x13BitTorrent protocol"

// handshakeLen is the length of a BEP 3 handshake: protocol, 8 reserved
// bytes, the info hash and the peer id.
const handshakeLen = 20 + 8 + 20 + 20

// Reserved-byte bits of the handshake.
const (
	reservedExtension = 5    // byte 5, 0x10: BEP 10 extension protocol
	bitExtension      = 0x10 //
	reservedFlags     = 7    // byte 7 holds the next three
	bitDHT            = 0x01 // BEP 5: the peer runs a DHT node (port message)
	bitFast           = 0x04 // BEP 6: fast extension
	bitV2             = 0x10 // BEP 52: upgrade to v2
)

// handshake is the BEP 3 handshake after the protocol string.
type handshake struct {
	Reserved [8]byte
	InfoHash metainfo.Hash
	PeerID   [20]byte
}

func appendHandshake(b []byte, h handshake) []byte {
	b = append(b, protocol...)
	b = append(b, h.Reserved[:]...)
	b = append(b, h.InfoHash[:]...)
	return append(b, h.PeerID[:]...)
}

// parseHandshake decodes a 68-byte handshake. A wrong protocol string is
// ErrNotBitTorrent: whatever answered is not a BitTorrent peer.
func parseHandshake(b []byte) (handshake, error) {
	var h handshake
	if len(b) < len(protocol) || string(b[:len(protocol)]) != protocol {
		return h, &kindError{ErrNotBitTorrent, fmt.Errorf("first bytes %q", b[:min(len(b), len(protocol))])}
	}
	if len(b) != handshakeLen {
		return h, protoErr("handshake of %d bytes, want %d", len(b), handshakeLen)
	}
	copy(h.Reserved[:], b[20:28])
	copy(h.InfoHash[:], b[28:48])
	copy(h.PeerID[:], b[48:68])
	return h, nil
}

// Message ids (BEP 3, BEP 6 fast extension, BEP 10).
const (
	msgChoke         = 0
	msgUnchoke       = 1
	msgInterested    = 2
	msgNotInterested = 3
	msgHave          = 4
	msgBitfield      = 5
	msgRequest       = 6
	msgPiece         = 7
	msgCancel        = 8
	msgPort          = 9
	msgSuggest       = 0x0d
	msgHaveAll       = 0x0e
	msgHaveNone      = 0x0f
	msgReject        = 0x10
	msgAllowedFast   = 0x11
	msgExtended      = 20
)

// message is one length-prefixed peer message; a keep-alive has no id.
type message struct {
	KeepAlive bool
	ID        byte
	Payload   []byte
}

// appendMessage appends a message with id and payload, length-prefixed.
func appendMessage(b []byte, id byte, payload []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(1+len(payload)))
	b = append(b, id)
	return append(b, payload...)
}

// appendExtended appends a BEP 10 extended message: id 20, then the
// extended message id the receiver chose, then the payload.
func appendExtended(b []byte, ext byte, payload []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(2+len(payload)))
	b = append(b, msgExtended, ext)
	return append(b, payload...)
}

// readMessage reads one length-prefixed message from r. A length above max
// is ErrTooLarge before anything is allocated; a large payload is read in
// chunks as it arrives, so a peer that announces much and sends little (a
// slowloris) holds no more memory than it has sent.
func readMessage(r io.Reader, max int) (message, error) {
	var lb [4]byte
	if _, err := io.ReadFull(r, lb[:]); err != nil {
		return message{}, err
	}
	n := binary.BigEndian.Uint32(lb[:])
	if n == 0 {
		return message{KeepAlive: true}, nil
	}
	if int64(n) > int64(max) {
		return message{}, tooLarge("message", int64(n), int64(max))
	}
	const chunk = 32 << 10
	buf := make([]byte, 0, min(int(n), chunk))
	for len(buf) < int(n) {
		k := min(int(n)-len(buf), chunk)
		buf = append(buf, make([]byte, k)...)
		if _, err := io.ReadFull(r, buf[len(buf)-k:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return message{}, err
		}
	}
	return message{ID: buf[0], Payload: buf[1:]}, nil
}

// bitfieldCount checks a bitfield (BEP 3) and counts its set bits. With
// numPieces > 0 its length must be exactly ceil(numPieces/8) and the spare
// bits at the end zero, as BEP 3 requires; with numPieces 0 (unknown, as
// for a magnet link) any length is taken. all reports that every piece is
// set: with numPieces unknown, that every byte is 0xff but the last, whose
// set bits are a run from the top (the spare bits of a seed's bitfield).
func bitfieldCount(b []byte, numPieces int) (have int, all bool, err error) {
	if numPieces > 0 {
		if want := (numPieces + 7) / 8; len(b) != want {
			return 0, false, protoErr("bitfield of %d bytes for %d pieces, want %d", len(b), numPieces, want)
		}
		if spare := len(b)*8 - numPieces; spare > 0 && b[len(b)-1]&(1<<spare-1) != 0 {
			return 0, false, protoErr("bitfield has spare bits set")
		}
	}
	for _, x := range b {
		have += popcount(x)
	}
	switch {
	case numPieces > 0:
		all = have == numPieces
	case len(b) > 0:
		all = true
		for _, x := range b[:len(b)-1] {
			all = all && x == 0xff
		}
		last := b[len(b)-1]
		all = all && last != 0 && isTopRun(last)
	}
	return have, all, nil
}

// isTopRun reports whether x's set bits are a run starting at the top bit
// (0x80, 0xc0, …, 0xff).
func isTopRun(x byte) bool {
	inv := ^x
	return inv&(inv+1) == 0
}

func popcount(x byte) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}
