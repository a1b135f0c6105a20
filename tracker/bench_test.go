package tracker

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"
)

// delayConn delays every datagram it writes by d, as a distant tracker
// would.
type delayConn struct {
	net.PacketConn
	d time.Duration
}

func (c delayConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	b = slices.Clone(b)
	time.AfterFunc(c.d, func() { c.PacketConn.WriteTo(b, addr) })
	return len(b), nil
}

// BenchmarkAnnounceAll100 announces at once to 100 UDP trackers on
// loopback: 50 silent, 50 answering each datagram after 0–200 ms (so the
// slowest live tracker needs 2×200 ms: connect, then announce). It reports
// the time until every live tracker's result was yielded, and that time over
// the slowest live tracker's round trips (goal: ≤ 1.10). Each iteration is a
// fresh Client, as in one command-line run.
func BenchmarkAnnounceAll100(b *testing.B) {
	const live, silent = 50, 50
	const maxDelay = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var urls []string
	var conns []net.PacketConn
	done := make(chan struct{}, live)
	srv := &Server{}
	for i := range live + silent {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, pc)
		// Interleave live and silent trackers in the list.
		if i%2 == 0 {
			d := maxDelay * time.Duration(i/2) / (live - 1)
			go func() { srv.ServeUDP(ctx, delayConn{pc, d}); done <- struct{}{} }()
		}
		urls = append(urls, "udp://"+pc.LocalAddr().String()+"/announce")
	}
	defer func() {
		cancel()
		for range live {
			<-done
		}
		for _, pc := range conns {
			pc.Close()
		}
	}()
	tiers := [][]string{urls}
	req := AnnounceRequest{InfoHash: hashN(1), Left: 1, Event: EventStarted}
	var total time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c := &Client{StopTimeout: -1}
		start := time.Now()
		n := 0
		for _, err := range c.AnnounceAll(context.Background(), tiers, req, PolicyAll) {
			if err != nil {
				b.Fatalf("a silent tracker ended before the live ones: %v", err)
			}
			if n++; n == live {
				break
			}
		}
		total += time.Since(start)
		c.Close()
	}
	avg := total / time.Duration(b.N)
	b.ReportMetric(float64(avg)/float64(time.Millisecond), "ms-to-all-live")
	b.ReportMetric(float64(avg)/float64(2*maxDelay), "ratio")
}
