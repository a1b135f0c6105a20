package dhtemu

import (
	"net/netip"
	"sync"
	"sync/atomic"
)

// Counts is what the network saw from one source address (a finder's IP
// and port).
type Counts struct {
	Queries     [numMethods]int64 // by method: MethodPing, MethodFindNode, …
	DeadQueries int64             // queries sent to dead nodes (included in Queries)
	Dropped     int64             // queries a live node left unanswered (Loss, DropFirst)
	Replies     int64             // replies sent
	BytesIn     int64             // bytes received from the source
	BytesOut    int64             // bytes of the replies sent to it
}

// Total returns the number of queries of every method.
func (c Counts) Total() int64 {
	var t int64
	for _, q := range c.Queries {
		t += q
	}
	return t
}

// Add returns the sum of c and d.
func (c Counts) Add(d Counts) Counts {
	for i := range c.Queries {
		c.Queries[i] += d.Queries[i]
	}
	c.DeadQueries += d.DeadQueries
	c.Dropped += d.Dropped
	c.Replies += d.Replies
	c.BytesIn += d.BytesIn
	c.BytesOut += d.BytesOut
	return c
}

// counters is the live, atomically updated form of Counts.
type counters struct {
	queries                                   [numMethods]atomic.Int64
	dead, dropped, replies, bytesIn, bytesOut atomic.Int64
}

func (c *counters) snapshot() Counts {
	var s Counts
	for i := range s.Queries {
		s.Queries[i] = c.queries[i].Load()
	}
	s.DeadQueries = c.dead.Load()
	s.Dropped = c.dropped.Load()
	s.Replies = c.replies.Load()
	s.BytesIn = c.bytesIn.Load()
	s.BytesOut = c.bytesOut.Load()
	return s
}

// sources maps each source address to its counters. A sync.Map: written
// once per new source, then read by thousands of socket readers.
type sources struct{ m sync.Map }

func (s *sources) get(a netip.AddrPort) *counters {
	if c, ok := s.m.Load(a); ok {
		return c.(*counters)
	}
	c, _ := s.m.LoadOrStore(a, new(counters))
	return c.(*counters)
}

func (s *sources) all() map[netip.AddrPort]Counts {
	out := map[netip.AddrPort]Counts{}
	s.m.Range(func(k, v any) bool {
		out[k.(netip.AddrPort)] = v.(*counters).snapshot()
		return true
	})
	return out
}
