package ratelimit

import (
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestLimiter runs in a synctest bubble: time.Sleep moves the fake clock.
func TestLimiter(t *testing.T) {
	synctest.Test(t, testLimiter)
}

func testLimiter(t *testing.T) {
	rl := New(2, 3, 0)
	a := netip.MustParseAddr("1.2.3.4")
	b := netip.MustParseAddr("::ffff:1.2.3.5")
	// The burst is available at once, then nothing.
	for i := range 3 {
		if !rl.Allow(a) {
			t.Fatalf("event %d of the burst refused", i)
		}
	}
	if rl.Allow(a) {
		t.Fatalf("event past the burst allowed")
	}
	// Another address has its own bucket.
	if !rl.Allow(b) {
		t.Fatalf("second address refused")
	}
	// 2 per second: half a second refills one token.
	time.Sleep(499 * time.Millisecond)
	if rl.Allow(a) {
		t.Fatalf("allowed before a token was refilled")
	}
	time.Sleep(time.Millisecond)
	if !rl.Allow(a) {
		t.Fatalf("refused after a token was refilled")
	}
	if rl.Allow(a) {
		t.Fatalf("two events allowed for one token")
	}
	// A long pause refills only up to the burst.
	time.Sleep(time.Hour)
	n := 0
	for rl.Allow(a) {
		n++
		if n > 100 {
			break
		}
	}
	if n != 3 {
		t.Errorf("after an hour %d events allowed, want the burst 3", n)
	}
	// IPv4-mapped and plain IPv4 are one key.
	for rl.Allow(netip.MustParseAddr("1.2.3.5")) {
	}
	if rl.Allow(b) {
		t.Errorf("mapped address has a separate bucket")
	}
}

func TestLimiterEviction(t *testing.T) {
	rl := New(1, 1, 3)
	ip := func(i byte) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, i}) }
	for i := range byte(3) {
		rl.Allow(ip(i))
	}
	rl.Allow(ip(0)) // refused, but 0 is now the most recently used
	if rl.Len() != 3 {
		t.Fatalf("Len = %d", rl.Len())
	}
	rl.Allow(ip(3)) // evicts 1, the least recently used
	if rl.Len() != 3 {
		t.Fatalf("Len = %d after eviction, want 3", rl.Len())
	}
	if rl.Allow(ip(0)) {
		t.Errorf("0 was evicted instead of 1")
	}
	if !rl.Allow(ip(1)) {
		t.Errorf("1 was not evicted (its bucket is still empty)")
	}
	for i := range 10000 {
		rl.Allow(netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	if rl.Len() != 3 {
		t.Errorf("Len = %d after 10000 addresses, want 3", rl.Len())
	}
}

func TestLimiterDisabled(t *testing.T) {
	var nilRL *Limiter
	for _, rl := range []*Limiter{nilRL, New(0, 5, 0), New(5, 0, 0)} {
		for range 100 {
			if !rl.Allow(netip.Addr{}) {
				t.Fatalf("disabled limiter refused")
			}
		}
	}
	if nilRL.Len() != 0 {
		t.Errorf("nil Len != 0")
	}
}

// TestLimiterConcurrent runs in a synctest bubble, where no time passes
// unless a goroutine sleeps: no token is refilled while the goroutines race.
func TestLimiterConcurrent(t *testing.T) {
	synctest.Test(t, testLimiterConcurrent)
}

func testLimiterConcurrent(t *testing.T) {
	rl := New(1, 10, 100)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if rl.Allow(netip.MustParseAddr("1.1.1.1")) {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if allowed != 10 {
		t.Errorf("%d events allowed concurrently, want the burst 10", allowed)
	}
}

func BenchmarkLimiterAllow(b *testing.B) {
	// hit: the addresses fit in the limiter; evict: twice as many
	// addresses as keys, so every call forgets one and adds one.
	for _, tc := range []struct {
		name  string
		addrs int
	}{{"hit", 512}, {"evict", 2048}} {
		b.Run(tc.name, func(b *testing.B) {
			rl := New(1e9, 1<<30, 1024)
			addrs := make([]netip.Addr, tc.addrs)
			for i := range addrs {
				addrs[i] = netip.AddrFrom4([4]byte{1, 2, byte(i >> 8), byte(i)})
			}
			i := 0
			for b.Loop() {
				rl.Allow(addrs[i%len(addrs)])
				i++
			}
		})
	}
}
