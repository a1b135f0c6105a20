package dht

import (
	"crypto/hmac"
	"crypto/sha256"
	"io"
	"net/netip"
	"sync"
	"time"
)

// tokenRotation is how often the token secret changes. BEP 5: "tokens up to
// ten minutes old are accepted", i.e. a secret rotated every five minutes
// with the previous one still honoured.
const tokenRotation = 5 * time.Minute

// tokenLen is the length of the tokens we hand out: 8 bytes of an HMAC is
// plenty against guessing within a 10-minute window and keeps replies small.
const tokenLen = 8

// tokens issues and checks get_peers tokens: HMAC(secret, requester IP).
// Safe for concurrent use.
type tokens struct {
	now  func() time.Time
	rand io.Reader

	mu      sync.Mutex
	cur     [16]byte
	prev    [16]byte
	hasPrev bool
	rotated time.Time
}

func newTokens(now func() time.Time, rand io.Reader) *tokens {
	t := &tokens{now: now, rand: rand}
	io.ReadFull(rand, t.cur[:])
	t.rotated = now()
	return t
}

// rotateLocked advances the secrets to the current time. More than two
// periods of silence drop the previous secret too, so no token ever lives
// longer than two periods.
func (t *tokens) rotateLocked() {
	el := t.now().Sub(t.rotated)
	if el < tokenRotation {
		return
	}
	periods := el / tokenRotation
	if periods >= 2 {
		t.hasPrev = false
	} else {
		t.prev, t.hasPrev = t.cur, true
	}
	io.ReadFull(t.rand, t.cur[:])
	// Stay on the period grid, so a token lives at most two periods from
	// the start of the period it was issued in, however lazily we rotate.
	t.rotated = t.rotated.Add(periods * tokenRotation)
}

func tokenFor(secret []byte, ip netip.Addr) string {
	h := hmac.New(sha256.New, secret)
	b := ip.Unmap().AsSlice()
	h.Write(b)
	return string(h.Sum(nil)[:tokenLen])
}

// issue returns the token for a requester at ip.
func (t *tokens) issue(ip netip.Addr) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rotateLocked()
	return tokenFor(t.cur[:], ip)
}

// valid reports whether tok was issued to ip by the current or previous
// secret. The port is not part of the token: NATs may change it between
// get_peers and announce_peer, and BEP 5 keys tokens on the IP alone.
func (t *tokens) valid(tok string, ip netip.Addr) bool {
	if len(tok) != tokenLen {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rotateLocked()
	if hmac.Equal([]byte(tok), []byte(tokenFor(t.cur[:], ip))) {
		return true
	}
	return t.hasPrev && hmac.Equal([]byte(tok), []byte(tokenFor(t.prev[:], ip)))
}
