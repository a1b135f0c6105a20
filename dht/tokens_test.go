package dht

import (
	"net/netip"
	"testing"
	"testing/synctest"
	"time"
)

// TestTokenValidationAndRotation runs in a synctest bubble: time.Sleep moves the
// fake clock the tokens reads.
func TestTokenValidationAndRotation(t *testing.T) {
	synctest.Test(t, testTokenValidationAndRotation)
}

func testTokenValidationAndRotation(t *testing.T) {
	start := time.Now()
	tk := newTokens(time.Now, newSeeded(1))
	ip := netip.MustParseAddr("192.0.2.1")
	other := netip.MustParseAddr("192.0.2.2")

	tok := tk.issue(ip)
	if len(tok) != tokenLen {
		t.Fatalf("token of %d bytes", len(tok))
	}
	steps := []struct {
		advance time.Duration
		ip      netip.Addr
		tok     string
		want    bool
	}{
		{0, ip, tok, true},
		{0, other, tok, false}, // tied to the requester's IP
		{0, netip.MustParseAddr("::ffff:192.0.2.1"), tok, true}, // mapped form is the same IP
		{0, ip, tok[:4], false},                                 // wrong length
		{0, ip, "xxxxxxxx", false},                              // forged
		{4 * time.Minute, ip, tok, true},                        // same secret
		{2 * time.Minute, ip, tok, true},                        // rotated once: previous secret accepted
		{4 * time.Minute, ip, tok, false},                       // 10 minutes: rotated twice, expired
	}
	for i, s := range steps {
		time.Sleep(s.advance)
		if got := tk.valid(s.tok, s.ip); got != s.want {
			t.Errorf("step %d (t+%v, %v): valid = %v, want %v", i, time.Since(start), s.ip, got, s.want)
		}
	}
	// A token issued now is valid now.
	if tok2 := tk.issue(ip); !tk.valid(tok2, ip) || tok2 == tok {
		t.Fatal("fresh token after rotation invalid or unchanged")
	}
	// A long silence drops both secrets at once.
	tok3 := tk.issue(ip)
	time.Sleep(time.Hour)
	if tk.valid(tok3, ip) {
		t.Fatal("token valid after an hour")
	}
}
