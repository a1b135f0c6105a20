package nodeid

import (
	"bytes"
	"encoding/hex"
	"hash/crc32"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// bep42Vectors are the five test vectors of BEP 42 ("test vectors" table):
// address, rand byte, and the example node id built from them.
var bep42Vectors = []struct {
	ip   string
	rand byte
	id   string
}{
	{"124.31.75.21", 1, "5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401"},
	{"21.75.31.124", 86, "5a3ce9c14e7a08645677bbd1cfe7d8f956d53256"},
	{"65.23.51.170", 22, "a5d43220bc8f112a3d426c84764f8c2a1150e616"},
	{"84.124.73.14", 65, "1b0321dd1bb1fe518101ceef99462b947a01ff41"},
	{"43.213.53.83", 90, "e56f6cbf5b7c4be0237986d5243b87aa6d51305a"},
}

func TestNodeIDForIPVectors(t *testing.T) {
	for _, v := range bep42Vectors {
		t.Run(v.ip, func(t *testing.T) {
			want, err := Parse(v.id)
			if err != nil {
				t.Fatal(err)
			}
			ip := netip.MustParseAddr(v.ip)
			// The free bits of the example id: the low 3 bits of byte 2 and
			// bytes 3 to 18.
			random := append([]byte{want[2] & 7}, want[3:19]...)
			got := ForIP(ip, v.rand, random)
			if got != want {
				t.Errorf("ForIP(%s, %d) = %s, want %s", ip, v.rand, got, want)
			}
			if !Verify(want, ip) {
				t.Errorf("Verify(%s, %s) = false, want true", want, ip)
			}
			// The same address as an IPv4-mapped IPv6 address verifies too.
			if !Verify(want, netip.AddrFrom16(ip.As16())) {
				t.Errorf("Verify(%s, mapped %s) = false", want, ip)
			}
			// Flipping any of the 21 checked bits breaks it.
			for bit := 0; bit < 21; bit++ {
				bad := want
				bad[bit/8] ^= 0x80 >> (bit % 8)
				if Verify(bad, ip) {
					t.Errorf("bit %d flipped: still verifies", bit)
				}
			}
			// Changing r (the last byte's low bits) selects another prefix.
			bad := want
			bad[19] ^= 1
			if Verify(bad, ip) {
				t.Errorf("r changed: still verifies")
			}
			// The free bits are free.
			free := want
			free[2] ^= 7
			free[10] ^= 0xff
			free[19] ^= 0xf8
			if !Verify(free, ip) {
				t.Errorf("free bits changed: no longer verifies")
			}
		})
	}
}

func TestVerifyNodeIDOtherAddress(t *testing.T) {
	want, _ := Parse(bep42Vectors[0].id)
	// .21 and .22 differ in bits under the last octet's mask 0xff.
	if Verify(want, netip.MustParseAddr("124.31.75.22")) {
		t.Errorf("id for 124.31.75.21 verifies for 124.31.75.22")
	}
	// Bits outside the mask 0x030f3fff do not matter: 124.31 (0x7c.0x1f) and
	// 128.63 (0x80.0x3f) are both 0x00.0x0f under it.
	if !Verify(want, netip.MustParseAddr("128.63.75.21")) {
		t.Errorf("address equal under the mask does not verify")
	}
}

func TestBEP42IPv6RoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		var a [16]byte
		for i := range a {
			a[i] = byte(rng.Uint32())
		}
		a[0] = 0x20 // global unicast 2000::/3
		ip := netip.AddrFrom16(a)
		var random [17]byte
		for i := range random {
			random[i] = byte(rng.Uint32())
		}
		r := byte(rng.Uint32())
		id := ForIP(ip, r, random[:])
		if !Verify(id, ip) {
			t.Fatalf("ForIP(%s) = %s does not verify", ip, id)
		}
		if id[19] != r {
			t.Fatalf("last byte %#x, want r %#x", id[19], r)
		}
		// The low 64 bits of an IPv6 address are not part of the hash.
		b := a
		b[15] ^= 0xff
		if !Verify(id, netip.AddrFrom16(b)) {
			t.Fatalf("low 64 bits changed the verification")
		}
		// A random id verifies with probability 2^-21.
		other := RandomForIP(netip.AddrFrom4([4]byte{1, 2, 3, 4}), rng32{rng})
		if Verify(other, ip) && !bytes.Equal(other[:3], id[:3]) {
			t.Fatalf("id for 1.2.3.4 verifies for %s", ip)
		}
	}
}

func TestBEP42Exempt(t *testing.T) {
	tests := []struct {
		ip     string
		exempt bool
	}{
		{"10.1.2.3", true},
		{"172.16.0.1", true},
		{"172.31.255.255", true},
		{"172.32.0.1", false},
		{"192.168.1.1", true},
		{"169.254.3.4", true},
		{"127.0.0.1", true},
		{"127.5.6.7", true},
		{"::ffff:127.0.0.1", true},
		{"::1", true},
		{"fe80::1", true},
		{"fd00::1", true},
		{"0.0.0.0", true},
		{"::", true},
		{"8.8.8.8", false},
		{"124.31.75.21", false},
		{"2001:db8::1", false},
		{"2a00:1450::1", false},
	}
	for _, tt := range tests {
		if got := Exempt(netip.MustParseAddr(tt.ip)); got != tt.exempt {
			t.Errorf("Exempt(%s) = %v, want %v", tt.ip, got, tt.exempt)
		}
	}
	if !Exempt(netip.Addr{}) {
		t.Errorf("Exempt(invalid) = false")
	}
	// Exempt addresses never verify, even with an id built for them.
	ip := netip.MustParseAddr("192.168.1.1")
	if id := RandomForIP(ip, nil); Verify(id, ip) {
		t.Errorf("Verify on an exempt address = true")
	}
}

func TestNodeIDForIPShortRandom(t *testing.T) {
	ip := netip.MustParseAddr("124.31.75.21")
	for _, random := range [][]byte{nil, {1, 2, 3}} {
		id := ForIP(ip, 1, random)
		if !Verify(id, ip) {
			t.Errorf("ForIP with %d random bytes does not verify", len(random))
		}
	}
	id := ForIP(netip.Addr{}, 7, nil)
	if id[19] != 7 {
		t.Errorf("invalid address: last byte %d, want 7", id[19])
	}
}

// rng32 adapts math/rand/v2 to io.Reader for deterministic ids.
type rng32 struct{ r *rand.Rand }

func (r rng32) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(r.r.Uint32())
	}
	return len(b), nil
}

func BenchmarkVerifyNodeID(b *testing.B) {
	ip := netip.MustParseAddr("124.31.75.21")
	id, _ := hex.DecodeString(bep42Vectors[0].id)
	for b.Loop() {
		Verify(ID(id), ip)
	}
}

func TestCRC32C(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	for n := range 9 {
		b := make([]byte, n)
		for range 100 {
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			if got, want := crc32c(b), crc32.Checksum(b, castagnoli); got != want {
				t.Fatalf("crc32c(% x) = %#x, want %#x", b, got, want)
			}
		}
	}
}
