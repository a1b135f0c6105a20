package nodeid

import (
	"encoding/binary"
	"hash/crc32"
	"io"
	"net/netip"
)

// castagnoli is the CRC32C table BEP 42 hashes the masked external IP with.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BEP 42 masks: only these bits of the external IP (the high 64 bits for
// IPv6) feed the hash, so that control over more address space buys
// logarithmically, not linearly, more of the id space.
const (
	bep42Mask4 = 0x030f3fff
	bep42Mask6 = 0x0103070f1f3f7fff
)

// bep42Prefix returns the CRC32C of the masked ip with r (0–7) in its top
// bits, as BEP 42 defines it. ok is false for an address that is not IPv4 or
// IPv6.
func bep42Prefix(ip netip.Addr, r byte) (crc uint32, ok bool) {
	ip = ip.Unmap()
	var buf [8]byte
	switch {
	case ip.Is4():
		a := ip.As4()
		v := binary.BigEndian.Uint32(a[:])&bep42Mask4 | uint32(r&7)<<29
		binary.BigEndian.PutUint32(buf[:4], v)
		return crc32c(buf[:4]), true
	case ip.Is6():
		a := ip.As16()
		v := binary.BigEndian.Uint64(a[:8])&bep42Mask6 | uint64(r&7)<<61
		binary.BigEndian.PutUint64(buf[:], v)
		return crc32c(buf[:]), true
	}
	return 0, false
}

// crc32c is crc32.Checksum(b, castagnoli) for the 4 or 8 bytes BEP 42
// hashes, computed bytewise from the table: hash/crc32 lets b escape to the
// heap, and verification runs for every node we hear from.
func crc32c(b []byte) uint32 {
	crc := ^uint32(0)
	for _, x := range b {
		crc = castagnoli[byte(crc)^x] ^ crc>>8
	}
	return ^crc
}

// ForIP returns a BEP 42-conforming node id for the external address
// ip. Its low three bits of r select one of the eight ids prefixes per
// address and the whole byte r becomes the id's last byte, as in the BEP's
// example code and test vectors. random supplies the free bits: random[0]
// gives the low three bits of byte 2 and random[1:17] bytes 3 to 18; bytes
// missing from a shorter slice are taken from crypto/rand. For an address
// that is neither IPv4 nor IPv6 the id is fully random.
func ForIP(ip netip.Addr, r byte, random []byte) ID {
	var free [17]byte
	n := copy(free[:], random)
	if n < len(free) {
		fillRandom(nil, free[n:])
	}
	crc, ok := bep42Prefix(ip, r)
	if !ok {
		var id ID
		id[2] = free[0]
		copy(id[3:19], free[1:])
		id[19] = r
		fillRandom(nil, id[:2])
		return id
	}
	var id ID
	id[0] = byte(crc >> 24)
	id[1] = byte(crc >> 16)
	id[2] = byte(crc>>8)&0xf8 | free[0]&0x07
	copy(id[3:19], free[1:])
	id[19] = r
	return id
}

// RandomForIP returns a BEP 42-conforming id for ip with its random parts
// read from rnd (nil → crypto/rand).
func RandomForIP(ip netip.Addr, rnd io.Reader) ID {
	var b [18]byte
	fillRandom(rnd, b[:])
	return ForIP(ip, b[0], b[1:])
}

// Verify reports whether id conforms to BEP 42 for a node at ip: its
// first 21 bits match the CRC32C of the masked ip with r taken from the
// id's last byte. It returns false for addresses BEP 42 exempts (see
// Exempt), because no id can be checked there; callers must therefore
// never enforce verification for exempt addresses.
func Verify(id ID, ip netip.Addr) bool {
	if Exempt(ip) {
		return false
	}
	crc, ok := bep42Prefix(ip, id[19])
	if !ok {
		return false
	}
	return id[0] == byte(crc>>24) &&
		id[1] == byte(crc>>16) &&
		id[2]&0xf8 == byte(crc>>8)&0xf8
}

// Exempt reports whether ip is a local address whose node ids BEP 42
// does not verify: 10/8, 172.16/12, 192.168/16, 169.254/16, 127/8, and the
// IPv6 equivalents (loopback, link-local fe80::/10, unique-local fc00::/7).
// Invalid and unspecified addresses are exempt too, since nothing can be
// verified against them.
func Exempt(ip netip.Addr) bool {
	ip = ip.Unmap()
	return !ip.IsValid() || ip.IsUnspecified() || ip.IsLoopback() ||
		ip.IsPrivate() || ip.IsLinkLocalUnicast()
}
