package dht

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/peerfind/peerfind/dht/internal/nodeid"
	"github.com/peerfind/peerfind/dht/internal/routing"
	"github.com/peerfind/peerfind/internal/compact"
)

// simNet is an in-memory DHT for driving the lookup state machine: node i
// has a random id and address 10.x.y.z:1, and answers with the k nodes
// closest to the target among the ones it knows.
type simNet struct {
	ids   []ID
	addrs []netip.AddrPort
	byAdr map[netip.AddrPort]int
	known [][]int // indices each node knows (its routing table)
}

func newSimNet(seed uint64, n, tableSize int) *simNet {
	r := rand.New(rand.NewPCG(seed, seed))
	s := &simNet{byAdr: map[netip.AddrPort]int{}}
	for i := range n {
		var id ID
		for j := range id {
			id[j] = byte(r.UintN(256))
		}
		a := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 1)
		s.ids = append(s.ids, id)
		s.addrs = append(s.addrs, a)
		s.byAdr[a] = i
	}
	// Each node has a Kademlia table: up to tableSize/16 nodes for each
	// length of prefix shared with its own id, so it knows the space
	// around it densely and the rest sparsely.
	per := max(tableSize/16, 2)
	for i := range n {
		count := map[int]int{}
		var k []int
		for j := range n {
			if j == i {
				continue
			}
			b := nodeid.CommonPrefixLen(s.ids[i], s.ids[j])
			if count[b] < per {
				count[b]++
				k = append(k, j)
			}
		}
		s.known = append(s.known, k)
	}
	return s
}

func (s *simNet) reply(i int, target ID) *reply {
	known := slices.Clone(s.known[i])
	slices.SortFunc(known, func(a, b int) int { return nodeid.CompareDistance(target, s.ids[a], s.ids[b]) })
	r := &reply{ID: s.ids[i]}
	for _, j := range known[:min(routing.K, len(known))] {
		r.Nodes = append(r.Nodes, compact.Node{ID: s.ids[j], Addr: s.addrs[j]})
	}
	return r
}

func (s *simNet) trueClosest(target ID, n int) []ID {
	ids := slices.Clone(s.ids)
	slices.SortFunc(ids, func(a, b ID) int { return nodeid.CompareDistance(target, a, b) })
	return ids[:n]
}

// drive runs the lookup with every query answered after rtt, except nodes
// in slow (answered after slowRTT) and dead (never answered, failed at the
// hard timeout).
func drive(t *testing.T, s *simNet, l *lookup, rtt, slowRTT, soft, hard time.Duration, slow, dead map[int]bool) time.Time {
	t.Helper()
	type ev struct {
		at   time.Time
		addr netip.AddrPort
		fail bool
	}
	now := l.start
	var evs []ev
	for step := 0; step < 100000; step++ {
		qs, wake, done := l.next(now, soft)
		if done {
			return now
		}
		for _, c := range qs {
			i := s.byAdr[c.addr]
			switch {
			case dead[i]:
				evs = append(evs, ev{now.Add(hard), c.addr, true})
			case slow[i]:
				evs = append(evs, ev{now.Add(slowRTT), c.addr, false})
			default:
				evs = append(evs, ev{now.Add(rtt), c.addr, false})
			}
		}
		slices.SortStableFunc(evs, func(a, b ev) int { return a.at.Compare(b.at) })
		if len(evs) == 0 {
			t.Fatal("lookup not done but nothing in flight")
		}
		if !wake.IsZero() && wake.Before(evs[0].at) {
			now = wake
			continue
		}
		e := evs[0]
		evs = evs[1:]
		now = e.at
		if e.fail {
			l.fail(e.addr, true)
			continue
		}
		l.handle(e.addr, s.reply(s.byAdr[e.addr], l.target), now)
	}
	t.Fatal("lookup did not finish")
	return now
}

func TestLookupConverges(t *testing.T) {
	s := newSimNet(1, 1000, 128)
	for trial := range 20 {
		target := s.ids[trial*37%len(s.ids)]
		target[19] ^= 0xff
		l := newLookup(target, ID{}, routing.K, 3, time.Unix(0, 0))
		for _, j := range s.known[trial] { // start from one node's table
			l.add(s.ids[j], s.addrs[j], 1)
		}
		drive(t, s, l, 10*time.Millisecond, 0, 50*time.Millisecond, time.Second, nil, nil)
		var got []ID
		for _, c := range l.closestAnswered(routing.K) {
			got = append(got, c.id)
		}
		if want := s.trueClosest(target, routing.K); !slices.Equal(got, want) {
			t.Fatalf("trial %d: closest answered %v, want %v (stats %+v)", trial, got, want, l.stats)
		}
		if l.stats.RoundTrips > 8 || l.stats.Queried > 60 {
			t.Errorf("trial %d: stats %+v: too many round trips or queries", trial, l.stats)
		}
	}
}

func TestLookupSlowNodeFreesSlot(t *testing.T) {
	s := newSimNet(2, 300, 40)
	target := s.ids[5]
	target[19] ^= 1
	l := newLookup(target, ID{}, routing.K, 3, time.Unix(0, 0))
	start := s.trueClosest(target, 40)[10:] // not the very closest
	for _, id := range start {
		i := slices.Index(s.ids, id)
		l.add(id, s.addrs[i], 1)
	}
	t0 := l.start
	qs, _, _ := l.next(t0, 50*time.Millisecond)
	if len(qs) != 3 {
		t.Fatalf("first round %d queries, want α = 3", len(qs))
	}
	// Nobody answers: before the soft timeout nothing more is sent...
	if qs2, wake, _ := l.next(t0.Add(49*time.Millisecond), 50*time.Millisecond); len(qs2) != 0 || !wake.Equal(t0.Add(50*time.Millisecond)) {
		t.Fatalf("before soft timeout: %d queries, wake %v", len(qs2), wake)
	}
	// ...after it, three new ones go out while the slow ones stay pending.
	qs3, _, _ := l.next(t0.Add(50*time.Millisecond), 50*time.Millisecond)
	if len(qs3) != 3 {
		t.Fatalf("after soft timeout %d queries, want 3", len(qs3))
	}
	// A late answer from a slow node is still used.
	c, added := l.handle(qs[0].addr, s.reply(s.byAdr[qs[0].addr], target), t0.Add(500*time.Millisecond))
	if c == nil || added == 0 {
		t.Fatalf("late answer ignored: %v, %d nodes added", c, added)
	}
	if l.active != 3 {
		t.Fatalf("active %d after a slow answer, want 3 (slow nodes do not count)", l.active)
	}
}

func TestLookupWithDeadAndSlowNodes(t *testing.T) {
	s := newSimNet(3, 1000, 128)
	r := rand.New(rand.NewPCG(3, 3))
	dead, slow := map[int]bool{}, map[int]bool{}
	for i := range s.ids {
		switch r.IntN(10) {
		case 0, 1:
			dead[i] = true
		case 2:
			slow[i] = true
		}
	}
	target := s.ids[1]
	target[10] ^= 0x55
	l := newLookup(target, ID{}, routing.K, 3, time.Unix(0, 0))
	for _, j := range s.known[0] {
		l.add(s.ids[j], s.addrs[j], 1)
	}
	end := drive(t, s, l, 10*time.Millisecond, 400*time.Millisecond, 30*time.Millisecond, 2*time.Second, slow, dead)
	// The k closest live nodes answered.
	var live []ID
	for _, id := range s.trueClosest(target, len(s.ids)) {
		if i := slices.Index(s.ids, id); !dead[i] && !slow[i] {
			live = append(live, id)
		}
		if len(live) == routing.K {
			break
		}
	}
	got := 0
	for _, c := range l.closestAnswered(routing.K) {
		if slices.Contains(live, c.id) {
			got++
		}
	}
	if got < routing.K-1 {
		t.Errorf("%d of the %d closest fast live nodes among the answers", got, routing.K)
	}
	// Dead nodes cost a slot only until the soft timeout: the lookup takes
	// far less than one hard timeout per round trip.
	if d := end.Sub(l.start); d > 3*time.Second {
		t.Errorf("lookup took %v of simulated time (stats %+v)", d, l.stats)
	}
	// It ended before any hard timeout: dead nodes were left behind as
	// slow, not waited for.
	pendingSlow := 0
	for _, c := range l.cands {
		if c.state == candSlow {
			pendingSlow++
		}
	}
	if pendingSlow == 0 || end.Sub(l.start) >= 2*time.Second {
		t.Errorf("%d slow nodes left, took %v: want the lookup to finish without waiting for dead nodes", pendingSlow, end.Sub(l.start))
	}
}

func TestLookupShortlistBounded(t *testing.T) {
	l := newLookup(ID{}, ID{1}, routing.K, 3, time.Unix(0, 0))
	r := rand.New(rand.NewPCG(4, 4))
	for i := range 10000 {
		var id ID
		for j := range id {
			id[j] = byte(r.UintN(256))
		}
		l.add(id, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 1), 2)
	}
	if len(l.cands) > routing.K*shortlistFactor || len(l.seen) > maxSeen {
		t.Fatalf("shortlist %d, seen %d: unbounded", len(l.cands), len(l.seen))
	}
	for i := 1; i < len(l.cands); i++ {
		if nodeid.Closer(l.target, l.cands[i].id, l.cands[i-1].id) {
			t.Fatal("shortlist out of order")
		}
	}
	// Own id, invalid and port-0 addresses are refused.
	if l.add(ID{1}, netip.MustParseAddrPort("1.1.1.1:1"), 1) || l.add(ID{2}, netip.AddrPort{}, 1) ||
		l.add(ID{3}, netip.MustParseAddrPort("1.1.1.1:0"), 1) {
		t.Fatal("bad candidate accepted")
	}
}

func TestLookupErrorsAndExhaustion(t *testing.T) {
	l := newLookup(ID{}, ID{1}, routing.K, 3, time.Unix(0, 0))
	a := netip.MustParseAddrPort("10.0.0.1:1")
	b := netip.MustParseAddrPort("10.0.0.2:1")
	l.add(ID{5}, a, 1)
	l.add(ID{6}, b, 1)
	qs, _, done := l.next(l.start, time.Second)
	if len(qs) != 2 || done {
		t.Fatalf("%d queries, done %v", len(qs), done)
	}
	l.fail(a, false)
	l.fail(b, true)
	// The node that timed out is asked again (a starved lookup retries,
	// TestLookupRetriesWhenStarved); the one that sent an error is not.
	now := l.start
	for range maxAsks {
		now = now.Add(time.Hour)
		qs, _, done := l.next(now, time.Second)
		if done {
			break
		}
		for _, c := range qs {
			if c.addr != b {
				t.Fatalf("retried %v, which answered with an error", c.addr)
			}
			l.fail(b, true)
		}
	}
	if _, _, done := l.next(now.Add(time.Hour), time.Second); !done {
		t.Fatal("lookup with every node failed is not done")
	}
	if l.stats.Errors != 1 || l.stats.TimedOut != maxAsks || l.stats.Answered != 0 {
		t.Fatalf("stats %+v", l.stats)
	}
	// An answer from a node we never asked is ignored.
	if c, _ := l.handle(netip.MustParseAddrPort("10.9.9.9:1"), &reply{}, l.start); c != nil {
		t.Fatal("unsolicited answer accepted")
	}
}

// TestLookupValuesWithoutNodes: a node answering get_peers with values and
// no nodes (anacrolix/dht, bittorrent-dht) is asked once more with
// find_node, and its token survives.
func TestLookupValuesWithoutNodes(t *testing.T) {
	l := newLookup(ID{}, ID{0xff}, routing.K, 3, time.Unix(0, 0))
	l.wantNodes = true
	a := netip.MustParseAddrPort("10.0.0.1:1")
	l.add(ID{1}, a, 1)
	qs, _, _ := l.next(l.start, time.Second)
	if len(qs) != 1 || qs[0].needNodes {
		t.Fatalf("first round %v", qs)
	}
	l.handle(a, &reply{ID: ID{1}, Token: "tok", Peers: []netip.AddrPort{netip.MustParseAddrPort("10.1.1.1:1")}}, l.start)
	qs, _, done := l.next(l.start, time.Second)
	if done || len(qs) != 1 || !qs[0].needNodes {
		t.Fatalf("no find_node follow-up: %v done %v", qs, done)
	}
	b := netip.MustParseAddrPort("10.0.0.2:1")
	c, added := l.handle(a, &reply{ID: ID{1}, Nodes: []compact.Node{{ID: [20]byte{0, 2}, Addr: b}}}, l.start)
	if c == nil || added != 1 || c.token != "tok" {
		t.Fatalf("follow-up answer: %v, %d added", c, added)
	}
	// b, closer still, answers with values only too, then its follow-up
	// times out: it still counts as answered, with its token.
	l.next(l.start, time.Second)
	l.handle(b, &reply{ID: ID{0, 2}, Token: "tb", Peers: []netip.AddrPort{netip.MustParseAddrPort("10.1.1.2:1")}}, l.start)
	l.next(l.start, time.Second)
	l.fail(b, true)
	if _, _, done := l.next(l.start, time.Second); !done {
		t.Fatal("not done")
	}
	if got := l.closestAnswered(routing.K); len(got) != 2 || got[0].token != "tb" {
		t.Fatalf("answered %v", got)
	}
	if l.stats.Queried != 4 || l.stats.Answered != 3 || l.stats.TimedOut != 1 {
		t.Fatalf("stats %+v", l.stats)
	}
	// Behind the frontier (a closer node answered), no follow-up.
	d := netip.MustParseAddrPort("10.0.0.4:1")
	l.add(ID{3}, d, 2)
	l.next(l.start, time.Second)
	l.handle(d, &reply{ID: ID{3}, Peers: []netip.AddrPort{netip.MustParseAddrPort("10.1.1.3:1")}}, l.start)
	if qs, _, done := l.next(l.start, time.Second); len(qs) != 0 || !done {
		t.Fatalf("follow-up behind the frontier: %v", qs)
	}
}

// TestLookupQueuedQueryNotSlow checks that a query still waiting at our own
// pacer does not reach its soft timeout: local queueing says nothing of the
// node, and counting it slow would send more queries into the same queue
// and let the lookup end on farther nodes.
func TestLookupQueuedQueryNotSlow(t *testing.T) {
	s := newSimNet(3, 200, 40)
	target := s.ids[7]
	target[19] ^= 1
	l := newLookup(target, ID{}, routing.K, 3, time.Unix(0, 0))
	l.trackSent = true
	for _, id := range s.trueClosest(target, 30)[10:] {
		l.add(id, s.addrs[slices.Index(s.ids, id)], 1)
	}
	soft := 50 * time.Millisecond
	t0 := l.start
	qs, wake, _ := l.next(t0, soft)
	if len(qs) != 3 || !wake.IsZero() {
		t.Fatalf("first round: %d queries, wake %v; want 3 and none (all queued)", len(qs), wake)
	}
	// Long past the soft timeout, still queued: no slow node, no new query.
	if qs2, _, _ := l.next(t0.Add(time.Second), soft); len(qs2) != 0 || l.active != 3 {
		t.Fatalf("queued queries counted slow: %d new queries, %d active", len(qs2), l.active)
	}
	// Once sent, the soft timeout runs from the send.
	t1 := t0.Add(time.Second)
	l.sentAt(qs[0].addr, t1)
	if _, wake, _ := l.next(t1, soft); !wake.Equal(t1.Add(soft)) {
		t.Fatalf("wake %v, want %v", wake, t1.Add(soft))
	}
	qs3, _, _ := l.next(t1.Add(soft), soft)
	if len(qs3) != 1 || qs[0].state != candSlow {
		t.Fatalf("after the soft timeout of the sent query: %d new queries, state %v", len(qs3), qs[0].state)
	}
}

// The window of candidates queried at once reaches past k by as many as are
// likely dead or slow, judged from the lookup's own failures, so that the
// replacements for dead nodes among the closest are asked in parallel.
func TestLookupSpareWindow(t *testing.T) {
	l := newLookup(ID{}, ID{0xff}, routing.K, 100, time.Unix(0, 0))
	for i := range 40 {
		var id ID
		id[0] = byte(i + 1) // closest first: 1, 2, 3, …
		l.add(id, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), 1), 1)
	}
	now := time.Unix(0, 0)
	qs, _, _ := l.next(now, time.Second)
	// The prior of 3 bad in 10: k + 2.
	if want := routing.K + 2; len(qs) != want {
		t.Fatalf("first window %d queries, want %d", len(qs), want)
	}
	// Half of them fail: the window widens to replace them and more.
	for i, c := range qs {
		if i%2 == 0 {
			l.fail(c.addr, true)
		} else {
			l.handle(c.addr, &reply{ID: c.id}, now)
		}
	}
	if got := l.spare(); got <= 2 {
		t.Fatalf("spare %d after half the queries failed, want more than the prior's 2", got)
	}
	qs2, _, _ := l.next(now, time.Second)
	// 5 answered; the window holds k + spare answered or active.
	if want := routing.K + l.spare() - 5; len(qs2) != want {
		t.Fatalf("second window %d queries, want %d", len(qs2), want)
	}
}

// A starved lookup (nothing fresh, nothing young in flight, fewer than k
// answers) asks its silent nodes again with a doubling backoff, up to
// maxAsks queries each, before it gives up: a lost datagram must not end
// a lookup that knows only a few nodes.
func TestLookupRetriesWhenStarved(t *testing.T) {
	const soft = 100 * time.Millisecond
	l := newLookup(ID{}, ID{0xff}, routing.K, 4, time.Unix(0, 0))
	a := netip.MustParseAddrPort("10.0.0.1:1")
	l.add(ID{1}, a, 1)
	now := time.Unix(0, 0)
	asks := 0
	for step := 0; step < 20; step++ {
		qs, wake, done := l.next(now, soft)
		if done {
			break
		}
		for _, c := range qs {
			asks++
			l.fail(c.addr, true) // every query times out
		}
		if len(qs) == 0 {
			if wake.IsZero() {
				t.Fatal("neither done nor a time to wake")
			}
			now = wake
		}
	}
	if asks != maxAsks {
		t.Errorf("%d queries to the only node, want %d", asks, maxAsks)
	}
	if _, _, done := l.next(now.Add(time.Hour), soft); !done {
		t.Error("not done after the retries")
	}
	// An error reply is an answer of sorts: no retry.
	l = newLookup(ID{}, ID{0xff}, routing.K, 4, time.Unix(0, 0))
	l.add(ID{1}, a, 1)
	qs, _, _ := l.next(time.Unix(0, 0), soft)
	l.fail(qs[0].addr, false)
	if qs, _, done := l.next(time.Unix(10, 0), soft); !done || len(qs) != 0 {
		t.Errorf("after an error: %d queries, done %v; want none and done", len(qs), done)
	}
}

// TestLookupGraceForSlowClosest: a query to one of the k closest nodes that
// has passed the soft timeout frees its α slot but holds the lookup's end
// until the grace has passed (it may hold peers no other node has); its
// late answer is taken. Past the grace it is skipped like a failed node.
func TestLookupGraceForSlowClosest(t *testing.T) {
	const soft, grace = 100 * time.Millisecond, 800 * time.Millisecond
	for _, answers := range []bool{true, false} {
		t.Run(fmt.Sprintf("answers=%v", answers), func(t *testing.T) {
			t0 := time.Unix(0, 0)
			l := newLookup(ID{}, ID{0xff}, 2, 4, t0) // k = 2
			l.grace = grace
			slow := netip.MustParseAddrPort("10.0.0.1:1") // the closest
			fast := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.2:1"), netip.MustParseAddrPort("10.0.0.3:1")}
			l.add(ID{1}, slow, 1)
			l.add(ID{2}, fast[0], 1)
			l.add(ID{3}, fast[1], 1)
			qs, _, _ := l.next(t0, soft)
			if len(qs) != 3 {
				t.Fatalf("%d queries, want 3", len(qs))
			}
			for i, a := range fast {
				l.handle(a, &reply{ID: ID{byte(2 + i)}}, t0.Add(50*time.Millisecond))
			}
			// Past the soft timeout, within the grace: not done, and the
			// lookup asks to be woken when the grace ends.
			_, wake, done := l.next(t0.Add(2*soft), soft)
			if done || !wake.Equal(t0.Add(grace)) {
				t.Fatalf("done %v, wake %v; want not done, woken at %v", done, wake, t0.Add(grace))
			}
			if answers {
				l.handle(slow, &reply{ID: ID{1}, Peers: []netip.AddrPort{netip.MustParseAddrPort("10.1.1.1:1")}}, t0.Add(600*time.Millisecond))
				if _, _, done := l.next(t0.Add(600*time.Millisecond), soft); !done {
					t.Fatal("not done once the slow node answered")
				}
				return
			}
			if _, _, done := l.next(t0.Add(grace), soft); !done {
				t.Fatal("not done past the grace")
			}
		})
	}
}
