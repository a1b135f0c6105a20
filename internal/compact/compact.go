// Package compact encodes and decodes the compact peer and node formats of
// BEP 23 (4-byte IPv4 + 2-byte port), BEP 7 (16-byte IPv6 + port), BEP 5
// (20-byte node id + compact IPv4 address) and BEP 32 (node id + compact IPv6
// address). It is pure: bytes in, values out.
package compact

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Sizes of one entry in each compact format.
const (
	PeerLen4 = 6  // BEP 23
	PeerLen6 = 18 // BEP 7
	IDLen    = 20 // BEP 5 node id
	NodeLen4 = IDLen + PeerLen4
	NodeLen6 = IDLen + PeerLen6
)

// LengthError reports a compact list whose length is not a multiple of its
// entry size.
type LengthError struct {
	Len   int // length of the whole list in bytes
	Entry int // size of one entry
}

func (e *LengthError) Error() string {
	return fmt.Sprintf("compact list of %d bytes is not a multiple of %d", e.Len, e.Entry)
}

// Node is one entry of a compact node list.
type Node struct {
	ID   [IDLen]byte
	Addr netip.AddrPort
}

// PeerLen returns the compact size of an address of ap's family.
func PeerLen(ap netip.AddrPort) int {
	if ap.Addr().Unmap().Is4() {
		return PeerLen4
	}
	return PeerLen6
}

// AppendPeer appends the compact form of ap: 6 bytes for IPv4 (including
// IPv4-mapped IPv6 addresses), 18 for IPv6.
func AppendPeer(b []byte, ap netip.AddrPort) []byte {
	a := ap.Addr().Unmap()
	if a.Is4() {
		v := a.As4()
		b = append(b, v[:]...)
	} else {
		v := a.As16()
		b = append(b, v[:]...)
	}
	return binary.BigEndian.AppendUint16(b, ap.Port())
}

// ParsePeer decodes one 6- or 18-byte compact address.
func ParsePeer(b []byte) (netip.AddrPort, error) {
	switch len(b) {
	case PeerLen4:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[:4])), binary.BigEndian.Uint16(b[4:])), nil
	case PeerLen6:
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[:16])), binary.BigEndian.Uint16(b[16:])), nil
	}
	return netip.AddrPort{}, fmt.Errorf("compact peer of %d bytes, want %d or %d", len(b), PeerLen4, PeerLen6)
}

// ParsePeers decodes a list of compact addresses whose entries are entry
// bytes long (PeerLen4 or PeerLen6). A length that is not a multiple of entry
// is a *LengthError; nothing is returned then, because a misaligned list
// means every entry after the fault would be garbage.
func ParsePeers(b []byte, entry int) ([]netip.AddrPort, error) {
	if entry != PeerLen4 && entry != PeerLen6 {
		return nil, fmt.Errorf("compact peer entry size %d, want %d or %d", entry, PeerLen4, PeerLen6)
	}
	if len(b)%entry != 0 {
		return nil, &LengthError{Len: len(b), Entry: entry}
	}
	out := make([]netip.AddrPort, 0, len(b)/entry)
	for i := 0; i < len(b); i += entry {
		ap, _ := ParsePeer(b[i : i+entry])
		out = append(out, ap)
	}
	return out, nil
}

// AppendNode appends the compact node form: 20-byte id then compact address.
func AppendNode(b []byte, n Node) []byte {
	b = append(b, n.ID[:]...)
	return AppendPeer(b, n.Addr)
}

// ParseNodes decodes a compact node list (`nodes`, entry NodeLen4, or
// `nodes6`, entry NodeLen6).
func ParseNodes(b []byte, entry int) ([]Node, error) {
	if entry != NodeLen4 && entry != NodeLen6 {
		return nil, fmt.Errorf("compact node entry size %d, want %d or %d", entry, NodeLen4, NodeLen6)
	}
	if len(b)%entry != 0 {
		return nil, &LengthError{Len: len(b), Entry: entry}
	}
	out := make([]Node, 0, len(b)/entry)
	for i := 0; i < len(b); i += entry {
		var n Node
		copy(n.ID[:], b[i:i+IDLen])
		n.Addr, _ = ParsePeer(b[i+IDLen : i+entry])
		out = append(out, n)
	}
	return out, nil
}
