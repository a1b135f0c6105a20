package tracker

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/peerfind/peerfind/metainfo"
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

// BenchmarkSession100 runs the Session of one command-line search over 100
// UDP trackers on loopback: 50 silent, 50 answering each datagram after
// 0–200 ms (so the slowest live tracker needs 2×200 ms: connect, then
// announce). It reports the time until every live tracker's result was
// delivered, that time over the slowest live tracker's round trips (goal:
// ≤ 1.10), and the time Stop then takes to tell the 50 live trackers we
// left. Each iteration is a fresh Client and Session, as in one run.
func BenchmarkSession100(b *testing.B) {
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
	var total, stop time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c := &Client{}
		s := &Session{Announcer: c, Tiers: [][]string{urls}, InfoHashes: []metainfo.Hash{hashN(1)}, Request: AnnounceRequest{Left: 1}}
		start := time.Now()
		rctx, rcancel := context.WithCancel(context.Background())
		n := 0
		s.Run(rctx, func(_ Result, err error) {
			if err != nil {
				b.Errorf("a silent tracker ended before the live ones: %v", err)
			}
			if n++; n == live {
				rcancel() // what the search does once it has every answer it waits for
			}
		})
		total += time.Since(start)
		rcancel()
		t0 := time.Now()
		stopped := 0
		s.Stop(context.Background(), func(_ Result, err error) {
			if err == nil {
				stopped++
			}
		})
		stop += time.Since(t0)
		if stopped != live {
			b.Fatalf("%d stopped announces answered, want %d", stopped, live)
		}
		c.Close()
	}
	avg := total / time.Duration(b.N)
	b.ReportMetric(float64(avg)/float64(time.Millisecond), "ms-to-all-live")
	b.ReportMetric(float64(avg)/float64(2*maxDelay), "ratio")
	b.ReportMetric(float64(stop/time.Duration(b.N))/float64(time.Millisecond), "ms-stop")
}
