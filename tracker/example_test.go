package tracker_test

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"net/netip"
	"time"

	"github.com/peerfind/peerfind/metainfo"
	"github.com/peerfind/peerfind/tracker"
)

// Announce a torrent to its trackers, every tier at once, printing each
// answer as it arrives; then leave the swarm with Stop, which sends
// `stopped` to the trackers that got `started`.
func ExampleSession() {
	// Two trackers on loopback, HTTP and UDP, knowing one peer each.
	h := metainfo.Hash{1}
	srv := &tracker.Server{}
	srv.AddPeer(h, netip.MustParseAddrPort("192.0.2.1:6881"), true)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	pc, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	defer pc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go srv.ServeUDP(ctx, pc)

	c := &tracker.Client{} // the transport, shared by every session
	defer c.Close()
	s := &tracker.Session{
		Announcer:  c,
		Tiers:      [][]string{{hs.URL + "/announce"}, {"udp://" + pc.LocalAddr().String() + "/announce"}},
		InfoHashes: []metainfo.Hash{h},
		Request:    tracker.AnnounceRequest{Left: 1 << 20}, // the torrent's size: we have nothing
		Policy:     tracker.PolicyAll,
	}
	s.Run(ctx, func(res tracker.Result, err error) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("tier", res.Tier, res.Event, "peers", res.Response.Peers[0])
	})
	s.Stop(ctx, nil)
	// Unordered output:
	// tier 0 started peers 192.0.2.1:6881
	// tier 1 started peers 192.0.2.1:6881
}
