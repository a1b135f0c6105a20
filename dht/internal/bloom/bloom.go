// Package bloom is the 256-byte Bloom filter of BEP 33 (DHT scrapes): a set
// of IP addresses, k = 2 bits per address out of m = 2048, whose size can be
// estimated and which merges with others by OR. Every implementation must
// build it bit for bit the same way, or scrape results are meaningless.
package bloom

import (
	"crypto/sha1"
	"math"
	"math/bits"
	"net/netip"
)

// Size is the length of a filter on the wire, in bytes (BEP 33: 256).
const Size = 256

// m and k are BEP 33's fixed parameters: bits in the filter, bits per item.
const (
	m = Size * 8
	k = 2
)

// Filter is a BEP 33 Bloom filter. The zero value is the empty set.
type Filter [Size]byte

// Add inserts ip: SHA-1 of the address's bytes (4 for IPv4, an IPv4-mapped
// IPv6 address counting as IPv4, 16 for IPv6), two 11-bit indices from the
// first four bytes of the hash, little-endian, as BEP 33's pseudocode.
func (f *Filter) Add(ip netip.Addr) {
	i1, i2 := indices(ip)
	f[i1/8] |= 1 << (i1 % 8)
	f[i2/8] |= 1 << (i2 % 8)
}

// indices returns the two bits of ip.
func indices(ip netip.Addr) (uint, uint) {
	h := sha1.Sum(ip.Unmap().AsSlice())
	return (uint(h[0]) | uint(h[1])<<8) % m, (uint(h[2]) | uint(h[3])<<8) % m
}

// Has reports whether ip may be in f: false means it is not.
func (f *Filter) Has(ip netip.Addr) bool {
	i1, i2 := indices(ip)
	return f[i1/8]&(1<<(i1%8)) != 0 && f[i2/8]&(1<<(i2%8)) != 0
}

// Union adds the members of o to f (BEP 33: the union of sets is the OR of
// their filters).
func (f *Filter) Union(o *Filter) {
	for i := range f {
		f[i] |= o[i]
	}
}

// Zeros returns the number of bits not set.
func (f *Filter) Zeros() int {
	ones := 0
	for _, b := range f {
		ones += bits.OnesCount8(b)
	}
	return m - ones
}

// Estimate returns the estimated number of distinct addresses in f, BEP 33's
// formula ln(c/m) / (k·ln(1−1/m)) with c the zero bits; a full filter
// (c = 0) counts as c = 1 rather than giving infinity: about 7806, the
// most a filter can say. BEP 33 notes the estimate breaks down near that
// size, which is why servers keep sets below 6000.
func (f *Filter) Estimate() float64 {
	return estimate(max(f.Zeros(), 1))
}

func estimate(c int) float64 {
	return math.Log(float64(c)/m) / (k * math.Log1p(-1.0/m))
}

// Full reports whether every bit is set: the estimate then only says "at
// least the estimate of a full filter".
func (f *Filter) Full() bool { return f.Zeros() == 0 }

// Parse returns the filter held by b, which must be Size bytes long.
func Parse(b []byte) (Filter, bool) {
	var f Filter
	if len(b) != Size {
		return f, false
	}
	copy(f[:], b)
	return f, true
}
