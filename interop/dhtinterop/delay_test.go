package dhtinterop

import (
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// delayConn delays every datagram it sends by a one-way latency plus a
// uniform jitter, emulating a wide-area link on loopback: tc netem is not
// available in this kernel (INTEROP.md), and on bare loopback a lookup's
// time is scheduling noise rather than round trips. Datagrams may overtake
// each other, as on the Internet.
type delayConn struct {
	net.PacketConn
	delay, jitter time.Duration

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup // pending delayed writes
}

// withDelay returns a wrapper for startMixed that adds delay ± jitter/2 to
// every datagram a node sends.
func withDelay(delay, jitter time.Duration) func(net.PacketConn) net.PacketConn {
	return func(c net.PacketConn) net.PacketConn {
		return &delayConn{PacketConn: c, delay: delay, jitter: jitter}
	}
}

// WriteTo queues a copy of b for sending after the delay and reports
// success at once, as a kernel send buffer would.
func (c *delayConn) WriteTo(b []byte, addr net.Addr) (int, error) {
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
func (c *delayConn) Close() error {
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
