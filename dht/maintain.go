package dht

import (
	"context"
	"sync"
	"time"
)

// State returns our id and the good nodes of our routing tables, for
// SaveState; a later New with Config.State starts warm from it.
func (n *Node) State() *State {
	s := &State{ID: n.ID(), Saved: n.now()}
	for i := range n.tables {
		if t := n.tables[i].Load(); t != nil {
			s.Nodes = append(s.Nodes, t.Good()...)
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
			for _, ni := range tb.Questionable(K) {
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
