// Package ratelimit holds the per-address token buckets a DHT node uses to
// cap the packets it sends to one IP and the replies it gives one source.
package ratelimit

import (
	"container/list"
	"net/netip"
	"sync"
	"time"
)

// defaultKeys is the number of addresses a Limiter tracks when New is
// given no positive maxKeys.
const defaultKeys = 4096

// Limiter is a set of token buckets, one per remote address, each
// refilled at a steady rate up to a burst. It tracks a bounded number of
// addresses: when a new one arrives and the set is full, the address used
// least recently is forgotten (its bucket starts full again when it comes
// back). It is safe for concurrent use, and a nil *Limiter allows
// everything.
type Limiter struct {
	rate    float64 // tokens per second
	burst   float64
	maxKeys int

	mu      sync.Mutex
	buckets map[netip.Addr]*list.Element // of *tokenBucket
	lru     list.List                    // most recently used at the front
}

// tokenBucket is one address's allowance.
type tokenBucket struct {
	key    netip.Addr
	tokens float64
	last   time.Time // when tokens was last brought up to date
}

// New returns a limiter allowing each address perSecond events per second
// on average and burst events at once. perSecond ≤ 0 or burst ≤ 0 disables
// limiting (Allow always reports true). maxKeys ≤ 0 means 4096.
func New(perSecond float64, burst int, maxKeys int) *Limiter {
	if maxKeys <= 0 {
		maxKeys = defaultKeys
	}
	return &Limiter{
		rate:    perSecond,
		burst:   float64(burst),
		maxKeys: maxKeys,
		buckets: make(map[netip.Addr]*list.Element),
	}
}

// Allow reports whether an event from key may happen now, and if so spends
// one token of key's bucket. IPv4-mapped IPv6 addresses count as their IPv4
// address; the zero netip.Addr is a key like any other, which suits a single
// global limit.
func (r *Limiter) Allow(key netip.Addr) bool {
	if r == nil || r.rate <= 0 || r.burst <= 0 {
		return true
	}
	key = key.Unmap()
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	var b *tokenBucket
	if el := r.buckets[key]; el != nil {
		r.lru.MoveToFront(el)
		b = el.Value.(*tokenBucket)
		if dt := now.Sub(b.last).Seconds(); dt > 0 {
			b.tokens = min(r.burst, b.tokens+dt*r.rate)
		}
		// A clock that steps back must not mint tokens later: only move
		// last forward.
		if now.After(b.last) {
			b.last = now
		}
	} else {
		if r.lru.Len() >= r.maxKeys {
			// Recycle the least recently used bucket for the new key, so a
			// flood of new addresses costs no allocations.
			el := r.lru.Back()
			b = el.Value.(*tokenBucket)
			delete(r.buckets, b.key)
			*b = tokenBucket{key: key, tokens: r.burst, last: now}
			r.lru.MoveToFront(el)
			r.buckets[key] = el
		} else {
			b = &tokenBucket{key: key, tokens: r.burst, last: now}
			r.buckets[key] = r.lru.PushFront(b)
		}
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Len returns the number of addresses currently tracked.
func (r *Limiter) Len() int {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lru.Len()
}
