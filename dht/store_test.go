package dht

import (
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/peerfind/peerfind/metainfo"
)

func storePeer(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 6881)
}

// TestStoreCapsAndExpiry runs in a synctest bubble: time.Sleep moves the
// fake clock the store reads.
func TestStoreCapsAndExpiry(t *testing.T) {
	synctest.Test(t, testStoreCapsAndExpiry)
}

func testStoreCapsAndExpiry(t *testing.T) {
	s := newStore(30*time.Minute, 3, 2, 5, time.Now)
	h1, h2, h3 := metainfo.Hash{1}, metainfo.Hash{2}, metainfo.Hash{3}

	for i := range 4 { // one more than the per-hash cap: the oldest goes
		time.Sleep(time.Second)
		if !s.add(h1, storePeer(i), false) {
			t.Fatalf("add %d refused", i)
		}
	}
	if got := s.get(h1, true, 10, false); len(got) != 3 {
		t.Fatalf("hash holds %d peers, want cap 3", len(got))
	}
	for _, p := range s.get(h1, true, 10, false) {
		if p == storePeer(0) {
			t.Fatal("oldest peer not evicted")
		}
	}
	if !s.add(h2, storePeer(10), false) || !s.add(h2, storePeer(11), false) {
		t.Fatal("second hash refused")
	}
	if s.add(h2, storePeer(12), false) {
		t.Fatal("total cap of 5 peers exceeded")
	}
	if s.add(h3, storePeer(20), false) {
		t.Fatal("hash cap of 2 exceeded")
	}
	// Re-announcing refreshes without growing.
	if !s.add(h2, storePeer(10), false) {
		t.Fatal("refresh refused")
	}
	// Family filter (BEP 32) and max.
	s6 := newStore(0, 0, 0, 0, time.Now)
	s6.add(h1, netip.MustParseAddrPort("[2001:db8::1]:1"), false)
	s6.add(h1, netip.MustParseAddrPort("192.0.2.1:1"), false)
	if v4, v6 := s6.get(h1, true, 10, false), s6.get(h1, false, 10, false); len(v4) != 1 || len(v6) != 1 || !v6[0].Addr().Is6() {
		t.Fatalf("family split: v4 %v v6 %v", v4, v6)
	}
	// Expiry frees room.
	time.Sleep(31 * time.Minute)
	if got := s.get(h1, true, 10, false); len(got) != 0 {
		t.Fatalf("expired peers returned: %v", got)
	}
	if !s.add(h3, storePeer(30), false) {
		t.Fatal("add refused after expiry")
	}
	if p, h := s.len(); p != 1 || h != 1 {
		t.Fatalf("after expiry %d peers in %d hashes, want 1 in 1", p, h)
	}
}
