package thirdparty

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// LoopbackIP returns the i-th node address of a test network. Every node gets
// its own IP in 127.1.0.0/16 (all of 127/8 is loopback on Linux) so that
// announced peers, which DHT nodes record as source IP + port, stay distinct
// as they would be on the Internet. Ports are always chosen by the kernel.
func LoopbackIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, 1, byte(i / 250), byte(i%250 + 1)})
}

// ListenLoopback opens a UDP socket on ip (IPv4 or IPv6) with a
// kernel-chosen port.
func ListenLoopback(ip netip.Addr) (*net.UDPConn, error) {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		return nil, fmt.Errorf("listen %v: %w", ip, err)
	}
	return conn, nil
}

// RunAll calls each of fns with ctx, at most par at a time, and returns the
// errors by index. Used to bootstrap many nodes concurrently without
// flooding 2 cores.
func RunAll(ctx context.Context, par int, fns []func(context.Context) error) []error {
	errs := make([]error, len(fns))
	sem := make(chan struct{}, max(par, 1))
	var wg sync.WaitGroup
	for i, f := range fns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = f(ctx)
		}()
	}
	wg.Wait()
	return errs
}

// SeedList is a concurrency-safe list of bootstrap addresses that grows as
// nodes start. The zero value is an empty list.
type SeedList struct {
	mu    sync.Mutex
	addrs []netip.AddrPort
}

// Add appends addresses to the list.
func (s *SeedList) Add(a ...netip.AddrPort) {
	s.mu.Lock()
	s.addrs = append(s.addrs, a...)
	s.mu.Unlock()
}

// Get returns a copy of the list.
func (s *SeedList) Get() []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]netip.AddrPort(nil), s.addrs...)
}

// WaitFor polls cond every interval until it returns true or ctx is done;
// interop tests wait for conditions instead of sleeping for fixed times,
// since -race on 2 shared cores stretches every step.
func WaitFor(ctx context.Context, interval time.Duration, cond func() bool) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("condition not met: %w", context.Cause(ctx))
		case <-t.C:
		}
	}
}
