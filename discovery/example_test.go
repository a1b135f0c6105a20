package discovery_test

import (
	"context"
	"fmt"
	"net"

	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/discovery"
	"github.com/peerfind/peerfind/swarmtest"
	"github.com/peerfind/peerfind/tracker"
)

// Search a swarm through its trackers and the DHT at once. The swarm here is
// a local one (package swarmtest); a real torrent comes from metainfo.Load.
func ExampleFind() {
	ctx := context.Background()
	sw, err := swarmtest.Start(ctx, swarmtest.Config{Nodes: 32, Peers: 12})
	if err != nil {
		panic(err)
	}
	defer sw.Close()

	tc := &tracker.Client{}
	defer tc.Close()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	node, err := dht.New(dht.Config{Conn4: conn, ReadOnly: true, BootstrapRouters: []string{}})
	if err != nil {
		panic(err)
	}
	defer node.Close()

	target := discovery.TargetFromMetaInfo(sw.MetaInfo) // hashes, trackers, DHT nodes, private flag
	cfg := &discovery.Config{
		Trackers: tc, // a Session per search runs over it; target.Size is announced as "left"
		DHT:      discovery.NewDHTSource(node),
	}
	sum, err := discovery.Find(ctx, target, cfg, func(e discovery.Event) {
		if pe, ok := e.(*discovery.PeerEvent); ok && pe.New {
			_ = pe.Peer // a new peer: pe.Peer, pe.Source, pe.At
		}
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(sum.Peers), "peers,", sum.Reason)
	// Output: 12 peers, complete
}
