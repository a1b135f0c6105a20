package dht

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"
)

// TestQueryHardTimeout runs a query to a silent node in a synctest bubble:
// it fails with ErrTimeout exactly at QueryTimeout of fake time, and the
// table counts the failure.
func TestQueryHardTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(1)
		cfg.Conn4 = newDiscardConn()
		cfg.QueryTimeout = 1500 * time.Millisecond
		n, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		start := time.Now()
		_, err = n.Ping(context.Background(), netip.MustParseAddrPort("192.0.2.1:6881"))
		var qe *QueryError
		if !errors.Is(err, ErrTimeout) || !errors.As(err, &qe) || qe.Addr.String() != "192.0.2.1:6881" || qe.Method != "ping" {
			t.Fatalf("error %v, want a *QueryError naming the address, wrapping ErrTimeout", err)
		}
		if d := time.Since(start); d != cfg.QueryTimeout {
			t.Fatalf("timed out after %v, want %v", d, cfg.QueryTimeout)
		}
		if s := n.Stats(); s.Pending != 0 {
			t.Fatalf("%d pending after the timeout: the transaction leaked", s.Pending)
		}
	})
}

// TestQueryContextAndClose: a query ends with its context, and Close ends
// queries in flight with ErrClosed.
func TestQueryContextAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(1)
		cfg.Conn4 = newDiscardConn()
		n, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if _, err := n.Ping(ctx, netip.MustParseAddrPort("192.0.2.1:1")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v, want DeadlineExceeded", err)
		}
		done := make(chan error)
		go func() {
			_, err := n.Ping(context.Background(), netip.MustParseAddrPort("192.0.2.1:1"))
			done <- err
		}()
		synctest.Wait()
		n.Close()
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Fatalf("error %v after Close, want ErrClosed", err)
		}
	})
}

func TestSoftTimeoutAdapts(t *testing.T) {
	cfg := testConfig(1)
	cfg.Conn4 = newDiscardConn()
	cfg.SoftTimeoutMin, cfg.SoftTimeoutMax = 50*time.Millisecond, time.Second
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if got := n.softTimeout(); got != time.Second {
		t.Fatalf("before any sample %v, want the maximum", got)
	}
	// Heavy-tailed round trips: the soft timeout is their median, not
	// pulled up by the tail as a mean would be.
	for i := range 60 {
		d := 100 * time.Millisecond
		if i%3 == 0 {
			d = 900 * time.Millisecond
		}
		n.sampleRTT(d)
	}
	if got := n.softTimeout(); got != 100*time.Millisecond {
		t.Fatalf("RTTs of 100ms, a third 900ms: soft timeout %v, want the median 100ms", got)
	}
	for range 100 {
		n.sampleRTT(time.Millisecond)
	}
	if got := n.softTimeout(); got != 50*time.Millisecond {
		t.Fatalf("RTT 1ms: soft timeout %v, want the 50ms floor", got)
	}
	for range 100 {
		n.sampleRTT(3 * time.Second)
	}
	if got := n.softTimeout(); got != time.Second {
		t.Fatalf("RTT 3s: soft timeout %v, want the 1s ceiling", got)
	}
}
