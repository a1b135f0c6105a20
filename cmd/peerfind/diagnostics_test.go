package main

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/discovery"
	"github.com/peerfind/peerfind/tracker"
)

func TestOffline(t *testing.T) {
	dnsErr := fmt.Errorf("announce udp://t.example:1: %w", tracker.ErrDNS)
	routeErr := fmt.Errorf("announce udp://1.2.3.4:1: %w", &net.OpError{Op: "write", Err: os.NewSyscallError("sendto", syscall.ENETUNREACH)})
	routersErr := fmt.Errorf("%w to start from: no saved nodes, none of the 5 bootstrap routers resolved (x): is the network down?", dht.ErrNoNodes)
	silentErr := fmt.Errorf("%w: none of the 3 nodes queried answered; no answer from 127.0.0.1:9", dht.ErrNoNodes)
	src := func(err error) discovery.SourceSummary {
		return discovery.SourceSummary{Queries: 1, Errors: 1, Err: err}
	}
	tests := []struct {
		srcs []discovery.SourceSummary
		want string
	}{
		{[]discovery.SourceSummary{src(dnsErr), src(routersErr)}, "no DNS: no name resolved"},
		{[]discovery.SourceSummary{src(routeErr), src(routeErr)}, "no route to any source"},
		{[]discovery.SourceSummary{src(dnsErr), src(routeErr)}, "no DNS, no route"},
		{[]discovery.SourceSummary{src(dnsErr)}, ""}, // one bad name is a typo
		{[]discovery.SourceSummary{src(dnsErr), src(silentErr)}, ""},
		{[]discovery.SourceSummary{src(dnsErr), src(tracker.ErrRefused)}, ""},
	}
	for i, tt := range tests {
		if got := offline(&discovery.Summary{Sources: tt.srcs}); got != tt.want {
			t.Errorf("case %d: offline = %q, want %q", i, got, tt.want)
		}
	}
}

// TestDHTPlainError runs on the texts the dht package writes (dht/search.go
// noStartError and lookupAll).
func TestDHTPlainError(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf(`%w to start from: no saved nodes, no bootstrap nodes given, none of the 2 bootstrap routers resolved (dht: router "a.example:1": lookup a.example on 10.0.0.53:53: no such host; dht: router "b.example:2": lookup b.example on 10.0.0.53:53: no such host): is the network down?`, dht.ErrNoNodes),
			"no DHT node to start from: none of the 2 bootstrap routers resolved (a.example:1, b.example:2): no DNS?"},
		{fmt.Errorf("%w: none of the 1 nodes queried answered; no answer from 127.0.0.1:9", dht.ErrNoNodes),
			"no DHT node answered: no answer from 127.0.0.1:9"},
		{fmt.Errorf("dht: something else"), "dht: something else"},
	}
	for _, tt := range tests {
		if got := dhtPlainError(tt.err); got != tt.want {
			t.Errorf("dhtPlainError(%q)\n = %q\nwant %q", tt.err, got, tt.want)
		}
	}
}
