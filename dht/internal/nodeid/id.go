// Package nodeid holds the 160-bit id of the Mainline DHT (BEP 5), its XOR
// metric, and the node-id rules of BEP 42. The dht package re-exports ID;
// the routing table and the lookups measure distances with the rest.
package nodeid

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math/bits"
)

// ID is a 160-bit DHT node id or info-hash; distances between ids are their
// XOR (BEP 5).
type ID [20]byte

// String returns the id as 40 lowercase hex digits.
func (a ID) String() string { return hex.EncodeToString(a[:]) }

// IsZero reports whether a is all zero bits.
func (a ID) IsZero() bool { return a == ID{} }

// Xor returns the XOR distance between a and b.
func (a ID) Xor(b ID) ID {
	var d ID
	for i := range a {
		d[i] = a[i] ^ b[i]
	}
	return d
}

// Bit returns bit i of a, counting from the most significant bit (0) to the
// least significant (159). It returns 0 for i outside [0, 160).
func (a ID) Bit(i int) int {
	if i < 0 || i >= 160 {
		return 0
	}
	return int(a[i/8]>>(7-i%8)) & 1
}

// Closer reports whether a is strictly closer to target than b under the XOR
// metric of BEP 5.
func Closer(target, a, b ID) bool {
	for i := range target {
		da, db := a[i]^target[i], b[i]^target[i]
		if da != db {
			return da < db
		}
	}
	return false
}

// CompareDistance returns -1, 0 or +1 as a is closer to, as close as, or
// farther from target than b; it suits slices.SortFunc.
func CompareDistance(target, a, b ID) int {
	for i := range target {
		da, db := a[i]^target[i], b[i]^target[i]
		if da != db {
			if da < db {
				return -1
			}
			return 1
		}
	}
	return 0
}

// CommonPrefixLen returns the number of leading bits a and b share, 0 to
// 160 (160 when a == b). In a routing table this is the index of the bucket
// a node belongs to relative to our own id.
func CommonPrefixLen(a, b ID) int {
	for i := range a {
		if x := a[i] ^ b[i]; x != 0 {
			return i*8 + bits.LeadingZeros8(x)
		}
	}
	return 160
}

// Random returns an id read from r. If r is nil, crypto/rand is used. A
// failing reader leaves the remaining bytes from crypto/rand, so the result is
// always usable.
func Random(r io.Reader) ID {
	var id ID
	fillRandom(r, id[:])
	return id
}

// fillRandom fills b from r, falling back to crypto/rand for whatever r
// cannot supply.
func fillRandom(r io.Reader, b []byte) {
	n := 0
	if r != nil {
		n, _ = io.ReadFull(r, b)
	}
	if n < len(b) {
		rand.Read(b[n:]) // crypto/rand.Read never fails (Go 1.24+)
	}
}

// Parse parses 40 hex digits (either case) into an id.
func Parse(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return ID{}, fmt.Errorf("dht: node id %q: %d hex digits, want 40", s, len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return ID{}, fmt.Errorf("dht: node id %q: %w", s, err)
	}
	return id, nil
}

// RandomWithPrefix returns an id that shares its first n bits with prefix
// and has random bits after that; bit n is flipped relative to prefix when
// flip is set. It yields a target inside one routing-table bucket.
func RandomWithPrefix(r io.Reader, prefix ID, n int, flip bool) ID {
	id := Random(r)
	if n > 160 {
		n = 160
	}
	full := n / 8
	copy(id[:full], prefix[:full])
	if rem := n % 8; rem != 0 {
		mask := byte(0xff) << (8 - rem)
		id[full] = prefix[full]&mask | id[full]&^mask
	}
	if flip && n < 160 {
		bit := byte(0x80) >> (n % 8)
		id[n/8] = id[n/8]&^bit | (prefix[n/8]&bit ^ bit)
	}
	return id
}
