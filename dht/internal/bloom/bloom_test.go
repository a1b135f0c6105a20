package bloom

import (
	"encoding/hex"
	"math"
	"net/netip"
	"strings"
	"testing"
)

// bep33Vector is the filter BEP 33 ("Test Vectors") gives for 192.0.2.0 –
// 192.0.2.255 and 2001:DB8:: – 2001:DB8::3E7, inclusive.
const bep33Vector = `
F6C3F5EA A07FFD91 BDE89F77 7F26FB2B FF37BDB8 FB2BBAA2 FD3DDDE7 BACFFF75 EE7CCBAE
FE5EEDB1 FBFAFF67 F6ABFF5E 43DDBCA3 FD9B9FFD F4FFD3E9 DFF12D1B DF59DB53 DBE9FA5B
7FF3B8FD FCDE1AFB 8BEDD7BE 2F3EE71E BBBFE93B CDEEFE14 8246C2BC 5DBFF7E7 EFDCF24F
D8DC7ADF FD8FFFDF DDFFF7A4 BBEEDF5C B95CE81F C7FCFF1F F4FFFFDF E5F7FDCB B7FD79B3
FA1FC77B FE07FFF9 05B7B7FF C7FEFEFF E0B8370B B0CD3F5B 7F2BD93F EB4386CF DD6F7FD5
BFAF2E9E BFFFFEEC D67ADBF7 C67F17EF D5D75EBA 6FFEBA7F FF47A91E B1BFBB53 E8ABFB57
62ABE8FF 237279BF EFBFEEF5 FFC5FEBF DFE5ADFF ADFEE1FB 737FFFFB FD9F6AEF FEEE76B6
FD8F72EF`

// bep33Addrs returns the addresses of BEP 33's test vector.
func bep33Addrs() []netip.Addr {
	var out []netip.Addr
	for i := range 256 {
		out = append(out, netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}))
	}
	for i := range 1000 {
		a := [16]byte{0x20, 0x01, 0x0d, 0xb8}
		a[14], a[15] = byte(i>>8), byte(i)
		out = append(out, netip.AddrFrom16(a))
	}
	return out
}

func TestBEP33Vector(t *testing.T) {
	want, err := hex.DecodeString(strings.Join(strings.Fields(bep33Vector), ""))
	if err != nil || len(want) != Size {
		t.Fatalf("vector: %d bytes, %v", len(want), err)
	}
	var f Filter
	for _, a := range bep33Addrs() {
		f.Add(a)
	}
	if string(f[:]) != string(want) {
		t.Fatalf("filter:\n got %X\nwant %X", f[:], want)
	}
	// BEP 33: "the calculated estimate should be 1224.9308" (619 zero
	// bits: 1224.93089, which the BEP truncates).
	if got := f.Estimate(); f.Zeros() != 619 || got < 1224.9308 || got >= 1224.9309 {
		t.Fatalf("estimate %.4f, want 1224.9308", got)
	}
}

func TestEstimate(t *testing.T) {
	tests := []struct {
		name string
		ips  int
		lo   float64
		hi   float64
	}{
		{"empty", 0, 0, 0},
		{"one", 1, 0.9, 1.1},
		{"ten", 10, 9, 11},
		{"thousand", 1000, 900, 1100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f Filter
			for i := range tt.ips {
				f.Add(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
			}
			if got := f.Estimate(); got < tt.lo || got > tt.hi {
				t.Fatalf("estimate of %d addresses %.2f, want %.0f–%.0f", tt.ips, got, tt.lo, tt.hi)
			}
		})
	}
}

func TestFullAndUnion(t *testing.T) {
	var full Filter
	for i := range full {
		full[i] = 0xff
	}
	if est := full.Estimate(); !full.Full() || math.Round(est) != 7806 {
		t.Fatalf("full filter: estimate %v, want ln(1/2048)/(2 ln(1-1/2048)) = 7805.7", est)
	}
	// A mapped IPv4 address is the IPv4 address; the union of two halves
	// is the filter of the whole.
	var a, b, all Filter
	a.Add(netip.MustParseAddr("192.0.2.1"))
	b.Add(netip.MustParseAddr("::ffff:192.0.2.2"))
	all.Add(netip.MustParseAddr("192.0.2.2"))
	all.Add(netip.MustParseAddr("192.0.2.1"))
	a.Union(&b)
	if a != all {
		t.Fatal("union differs from the filter of both addresses")
	}
	if !all.Has(netip.MustParseAddr("192.0.2.1")) || !all.Has(netip.MustParseAddr("::ffff:192.0.2.2")) || full.Has(netip.Addr{}) != true {
		t.Fatal("Has misses a member")
	}
	var empty Filter
	if empty.Has(netip.MustParseAddr("192.0.2.1")) {
		t.Fatal("the empty filter has a member")
	}
	if _, ok := Parse(make([]byte, Size-1)); ok {
		t.Fatal("a 255-byte filter parsed")
	}
	if f, ok := Parse(all[:]); !ok || f != all {
		t.Fatal("round trip")
	}
}
