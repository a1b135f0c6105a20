package testutil

import (
	"bytes"
	"sync"
)

// LockedBuffer collects a child process's output: exec copies into it from
// its own goroutine while the test may read it. It keeps the first 64 KiB
// and drops the rest, so that a chatty child cannot eat memory. The zero
// value is an empty buffer.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p while the buffer holds less than 64 KiB; it always
// reports success.
func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() < 64<<10 {
		b.buf.Write(p)
	}
	return len(p), nil
}

// String returns what was kept.
func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
