package dht

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestPacerBackgroundYields checks that background queries leave half the
// pacer's burst to foreground ones and never queue ahead of them.
func TestPacerBackgroundYields(t *testing.T) {
	p := newPacer(1, 4) // one token a second: nothing refills during the test
	ctx := context.Background()
	for i := range 2 {
		if err := p.waitBackground(ctx, nil); err != nil {
			t.Fatalf("background %d: %v", i, err)
		}
	}
	// Two tokens left, the reserve: background waits...
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if err := p.waitBackground(short, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("background past the reserve: %v, want to wait", err)
	}
	// ...while foreground takes the reserve at once.
	for i := range 2 {
		fctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
		err := p.wait(fctx, nil)
		cancel()
		if err != nil {
			t.Fatalf("foreground %d: %v", i, err)
		}
	}
}
