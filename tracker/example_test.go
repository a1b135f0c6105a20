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

// Announce to every tracker of a torrent at once and print each answer as
// it arrives; Close then sends the `stopped` announces.
func ExampleClient_AnnounceAll() {
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

	tiers := [][]string{{hs.URL + "/announce"}, {"udp://" + pc.LocalAddr().String() + "/announce"}}
	c := &tracker.Client{}
	defer c.Close()
	req := tracker.AnnounceRequest{InfoHash: h, Left: 1 << 20, Event: tracker.EventStarted}
	n := 0
	for res, err := range c.AnnounceAll(ctx, tiers, req, tracker.PolicyAll) {
		if err != nil {
			fmt.Println(err)
			continue
		}
		n++
		fmt.Println("tier", res.Tier, "peers", res.Response.Peers[0])
		if n == 2 {
			break
		}
	}
	// Unordered output:
	// tier 0 peers 192.0.2.1:6881
	// tier 1 peers 192.0.2.1:6881
}
