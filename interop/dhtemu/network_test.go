package dhtemu

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/metainfo"
)

// TestKRPC runs our dht package against a small network: a ping to the
// bootstrap node and a get_peers lookup that must find every peer of each
// target, with loss and dead nodes on.
func TestKRPC(t *testing.T) {
	c := small(300)
	c.MedianRTT, c.MaxRTT = 5*time.Millisecond, 50*time.Millisecond
	nw, err := Start(c)
	if err != nil {
		t.Fatal(err)
	}
	defer nw.Close()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	src := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	n, err := dht.New(dht.Config{
		Conn4:            conn,
		ReadOnly:         true,
		BootstrapNodes:   []netip.AddrPort{nw.Bootstrap()},
		BootstrapRouters: []string{},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id, err := n.Ping(ctx, nw.Bootstrap())
	if err != nil {
		t.Fatalf("ping %v: %v", nw.Bootstrap(), err)
	}
	if id != dht.ID(nw.Node(0).ID) {
		t.Errorf("ping: id %x, want %x", id, nw.Node(0).ID)
	}
	for i, tg := range nw.Targets() {
		var mu sync.Mutex
		got := map[netip.AddrPort]bool{}
		if _, err := n.GetPeers(ctx, metainfo.Hash(tg.InfoHash), func(p dht.PeerFound) {
			mu.Lock()
			got[p.Peer] = true
			mu.Unlock()
		}); err != nil {
			t.Fatalf("target %d: %v", i, err)
		}
		for _, p := range tg.Peers {
			if !got[p] {
				t.Errorf("target %d: peer %v not found (%d of %d found)", i, p, len(got), len(tg.Peers))
			}
		}
		if len(got) != len(tg.Peers) {
			t.Errorf("target %d: %d peers found, want %d", i, len(got), len(tg.Peers))
		}
		if id := nw.Ideal(i); id.Peers != len(tg.Peers) || id.All <= 0 {
			t.Errorf("target %d: ideal %+v does not reach all %d peers", i, id, len(tg.Peers))
		}
	}
	ct := nw.Counts()[src]
	if ct.Queries[MethodPing] < 1 || ct.Queries[MethodGetPeers] < 1 || ct.Replies == 0 || ct.BytesIn == 0 || ct.BytesOut == 0 {
		t.Errorf("counts for %v: %+v", src, ct)
	}
	if ct.DeadQueries == 0 {
		t.Errorf("no query reached a dead node: %+v", ct)
	}
}

// TestDropFirst: with DropFirst 2 the bootstrap node answers a source's
// third query only.
func TestDropFirst(t *testing.T) {
	c := small(50)
	c.MedianRTT, c.MaxRTT, c.Loss = time.Millisecond, 5*time.Millisecond, 0
	c.DropFirst = 2
	nw, err := Start(c)
	if err != nil {
		t.Fatal(err)
	}
	defer nw.Close()
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Three pings, transaction ids a0, a1, a2: one reader handles them
	// in order, so once a2's reply is here the first two were dropped.
	for i := range 3 {
		ping := []byte("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:a" + string(rune('0'+i)) + "1:y1:qe")
		if _, err := conn.WriteToUDPAddrPort(ping, nw.Bootstrap()); err != nil {
			t.Fatal(err)
		}
	}
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 1500)
	n, _, err := conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf[:n], []byte("1:t2:a2")) {
		t.Errorf("first reply %q, want the third ping's (t = a2)", buf[:n])
	}
	src := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	if ct := nw.Counts()[src]; ct.Dropped != 2 || ct.Queries[MethodPing] != 3 {
		t.Errorf("counts %+v, want 3 pings, 2 dropped", ct)
	}
}
