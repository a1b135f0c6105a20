package thirdparty

import (
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// DelayConn delays every datagram it sends by a one-way latency plus a
// uniform jitter, emulating a wide-area link on loopback: tc netem is not
// available in this kernel (docs/interop.md), and on bare loopback a lookup's
// time is scheduling noise rather than round trips. Datagrams may overtake
// each other, as on the Internet. Create one with NewDelayConn.
type DelayConn struct {
	net.PacketConn
	delay, jitter time.Duration

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup // pending delayed writes
}

// NewDelayConn wraps c so that every datagram it sends is delayed by
// delay ± jitter/2. The DelayConn owns c from then on.
func NewDelayConn(c net.PacketConn, delay, jitter time.Duration) *DelayConn {
	return &DelayConn{PacketConn: c, delay: delay, jitter: jitter}
}

// WithDelay returns a socket wrapper that adds delay ± jitter/2 to every
// datagram a node sends; with both zero it returns the socket unchanged.
func WithDelay(delay, jitter time.Duration) func(net.PacketConn) net.PacketConn {
	return func(c net.PacketConn) net.PacketConn {
		if delay <= 0 && jitter <= 0 {
			return c
		}
		return NewDelayConn(c, delay, jitter)
	}
}

// WriteTo queues a copy of b for sending after the delay and reports
// success at once, as a kernel send buffer would.
func (c *DelayConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	p := append([]byte(nil), b...)
	d := c.delay
	if c.jitter > 0 {
		d += time.Duration(rand.Int64N(int64(c.jitter))) - c.jitter/2
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	c.wg.Add(1)
	time.AfterFunc(d, func() {
		defer c.wg.Done()
		c.PacketConn.WriteTo(p, addr)
	})
	return len(b), nil
}

// Close stops accepting writes, waits for the delayed ones (at most one
// delay) and closes the socket.
func (c *DelayConn) Close() error {
	c.mu.Lock()
	already := c.closed
	c.closed = true
	c.mu.Unlock()
	if already {
		return net.ErrClosed
	}
	c.wg.Wait()
	return c.PacketConn.Close()
}
