package dht

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/peerfind/peerfind/dht/internal/routing"
)

// State returns our id, the good nodes of our routing tables and the nodes
// that answered us most recently, for SaveState; a later New with
// Config.State starts warm from it. The table alone holds few nodes far from
// our id, where almost every target lies; the recent contacts sit near the
// targets looked up before, so a later lookup starts hops closer.
func (n *Node) State() *State {
	s := &State{ID: n.ID(), Saved: n.now()}
	seen := make(map[netip.AddrPort]bool)
	for i := range n.tables {
		if t := n.tables[i].Load(); t != nil {
			for _, ni := range t.Good() {
				seen[ni.Addr] = true
				s.Nodes = append(s.Nodes, NodeInfo{ID: ni.ID, Addr: ni.Addr})
			}
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := len(n.contacts) - 1; i >= 0 && len(s.Nodes) < maxContacts; i-- {
		ni := n.contacts[i]
		if !seen[ni.Addr] {
			seen[ni.Addr] = true
			s.Nodes = append(s.Nodes, ni)
		}
	}
	return s
}

// maintainEvery is the period of table maintenance: pinging questionable
// nodes, refreshing stale buckets (BEP 5: 15 minutes) and sweeping the
// peer store.
const maintainEvery = time.Minute

// maintain is the node's housekeeping goroutine; it ends with Close.
func (n *Node) maintain() {
	defer n.wg.Done()
	t := time.NewTicker(maintainEvery)
	defer t.Stop()
	for {
		select {
		case <-n.closing:
			return
		case <-t.C:
		}
		n.store.sweep()
		ctx, cancel := context.WithTimeout(n.life, maintainEvery/2)
		var wg sync.WaitGroup
		for i := range n.tables {
			tb := n.tables[i].Load()
			if tb == nil || tb.Len() == 0 {
				continue
			}
			for _, ni := range tb.Questionable(routing.K) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					n.Ping(ctx, ni.Addr)
				}()
			}
			// A few buckets per round keeps the burst small; the others
			// stay stale and come first next round.
			for _, target := range tb.StaleBucketsN(15*time.Minute, 3) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					n.FindNode(ctx, target)
				}()
			}
		}
		wg.Wait()
		cancel()
	}
}
