package dht

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/peerfind/peerfind/dht/internal/krpc"
	"github.com/peerfind/peerfind/dht/internal/nodeid"
)

// sock is one socket and the family it serves.
type sock struct {
	conn net.PacketConn
	v4   bool
}

// pendingKey identifies an outstanding query: BEP 5 transaction ids are
// only unique per remote node, so the address is part of the key.
type pendingKey struct {
	addr netip.AddrPort
	tid  string
}

type call struct {
	done chan struct{} // closed once msg or err is set
	msg  *krpc.Msg
	err  error
}

// readLoop owns the reading side of one socket until it is closed.
func (n *Node) readLoop(s *sock) {
	defer n.wg.Done()
	buf := make([]byte, krpc.MaxPacket)
	fails := 0
	for {
		nr, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			select {
			case <-n.closing:
				n.failAll()
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
				n.failAll()
				return
			}
			// Transient errors (ICMP port unreachable surfacing on some
			// systems) are skipped; a socket that keeps failing is backed
			// off so the loop never spins.
			fails++
			if fails > 10 {
				t := time.NewTimer(min(time.Duration(fails)*time.Millisecond, 100*time.Millisecond))
				select {
				case <-t.C:
				case <-n.closing:
					t.Stop()
				}
			}
			continue
		}
		fails = 0
		addr, ok := addrPortOf(from)
		if !ok || nr == 0 {
			continue
		}
		n.packetsIn.Add(1)
		n.handlePacket(s, addr, buf[:nr])
	}
}

func addrPortOf(a net.Addr) (netip.AddrPort, bool) {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	default:
		var err error
		if ap, err = netip.ParseAddrPort(a.String()); err != nil {
			return ap, false
		}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), ap.IsValid()
}

// failAll fails every pending query; called when a socket closes.
func (n *Node) failAll() {
	n.pendMu.Lock()
	defer n.pendMu.Unlock()
	for k, c := range n.pending {
		c.err = ErrClosed
		close(c.done)
		delete(n.pending, k)
	}
}

// handlePacket dispatches one datagram: queries to the server side, replies
// to the pending query they answer. It runs on the socket's reader
// goroutine and never blocks.
func (n *Node) handlePacket(s *sock, from netip.AddrPort, b []byte) {
	m, err := krpc.Parse(b)
	if err != nil {
		n.dropped.Add(1)
		var me *krpc.MsgError
		// A query we cannot decode still deserves a 203 (BEP 5), but only
		// if it looks like a query, so garbage is not answered.
		if errors.As(err, &me) && me.T != "" && n.ro == 0 && (n.replyLim == nil || n.replyLim.Allow(from.Addr())) {
			if y, ok := krpc.PeekString(b, "y"); ok && y == krpc.KindQuery {
				n.sendError(s, from, me.T, krpc.ErrCodeProtocol, me.Msg)
			}
		}
		return
	}
	if m.Y == krpc.KindQuery {
		n.handleQuery(s, from, m, len(b))
		return
	}
	n.pendMu.Lock()
	k := pendingKey{from, m.T}
	c := n.pending[k]
	if c != nil {
		delete(n.pending, k)
	}
	n.pendMu.Unlock()
	if c == nil {
		n.dropped.Add(1) // late, duplicate or unsolicited
		return
	}
	if m.Y == krpc.KindError {
		c.err = m.E
	} else {
		c.msg = m
	}
	close(c.done)
}

// send encodes and writes one message.
func (n *Node) send(s *sock, to netip.AddrPort, m *krpc.Msg) error {
	m.V = n.version
	b, err := krpc.Append(make([]byte, 0, 256), m)
	if err != nil {
		return err
	}
	return n.write(s, to, b)
}

func (n *Node) write(s *sock, to netip.AddrPort, b []byte) error {
	_, err := s.conn.WriteTo(b, net.UDPAddrFromAddrPort(to))
	if err == nil {
		n.packetsOut.Add(1)
	}
	return err
}

// newTID returns a fresh transaction id for addr; the caller holds pendMu.
func (n *Node) newTIDLocked(addr netip.AddrPort) string {
	for {
		n.tidNext++
		var b [2]byte
		binary.BigEndian.PutUint16(b[:], n.tidNext)
		t := string(b[:])
		if _, busy := n.pending[pendingKey{addr, t}]; !busy {
			return t
		}
	}
}

// query sends one query to addr and waits for its answer, until the hard
// timeout, ctx or Close. It waits for rate-limit and pending-table room
// first, so a query never fails just because many are in flight.
func (n *Node) query(ctx context.Context, addr netip.AddrPort, method string, a *krpc.Args) (*krpc.Msg, error) {
	return n.queryWith(ctx, addr, method, a, queryOpts{})
}

// queryOpts are the options of queryWith.
type queryOpts struct {
	// background queries (table refreshes) yield to the others at the
	// node-wide pacer (pacer.waitBackground), so a refresh never delays a
	// caller's lookup.
	background bool
	// resend lists when the query is sent again (same transaction id) while
	// unanswered, counted from the first send; the hard timeout then runs
	// from the last send. A reply to a resent query gives no RTT sample,
	// since it may answer either copy (Karn's rule).
	resend []time.Duration
	// giveUp, if not zero, replaces the hard timeout after the last resend:
	// the query fails at giveUp after the first send.
	giveUp time.Duration
	// sent, if not nil, is called once the query has left: after the
	// waits for pacing and pending-table room, which are local queueing
	// and must not count against the node's response time.
	sent func()
}

// queryWith is query with options.
func (n *Node) queryWith(ctx context.Context, addr netip.AddrPort, method string, a *krpc.Args, o queryOpts) (*krpc.Msg, error) {
	qerr := func(err error) error { return &QueryError{Addr: addr, Method: method, Err: err} }
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	s := n.sockFor(addr)
	if s == nil {
		return nil, qerr(ErrNoSocket)
	}
	select {
	case n.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, qerr(ctx.Err())
	case <-n.closing:
		return nil, qerr(ErrClosed)
	}
	defer func() { <-n.slots }()
	if err := n.waitRate(ctx, addr.Addr(), o.background); err != nil {
		return nil, qerr(err)
	}
	a.ID = string(n.idBytes())
	m := &krpc.Msg{Y: krpc.KindQuery, Q: method, A: a, RO: n.ro}
	c := &call{done: make(chan struct{})}
	n.pendMu.Lock()
	m.T = n.newTIDLocked(addr)
	k := pendingKey{addr, m.T}
	n.pending[k] = c
	n.pendMu.Unlock()
	forget := func() {
		n.pendMu.Lock()
		if n.pending[k] == c {
			delete(n.pending, k)
		}
		n.pendMu.Unlock()
	}
	start := n.now()
	if err := n.send(s, addr, m); err != nil {
		forget()
		return nil, qerr(err)
	}
	if o.sent != nil {
		o.sent()
	}
	resent := 0
	wait := n.hard
	if len(o.resend) > 0 {
		wait = o.resend[0]
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
wait:
	for {
		select {
		case <-c.done:
			break wait
		case <-timer.C:
			if resent == len(o.resend) {
				forget()
				return nil, qerr(ErrTimeout)
			}
			if err := n.send(s, addr, m); err != nil {
				forget()
				return nil, qerr(err)
			}
			resent++
			switch {
			case resent < len(o.resend):
				timer.Reset(o.resend[resent] - o.resend[resent-1])
			case o.giveUp > o.resend[resent-1]:
				timer.Reset(o.giveUp - o.resend[resent-1])
			default:
				timer.Reset(n.hard)
			}
		case <-ctx.Done():
			forget()
			return nil, qerr(ctx.Err())
		case <-n.closing:
			forget()
			return nil, qerr(ErrClosed)
		}
	}
	if c.err != nil {
		return nil, qerr(c.err)
	}
	if resent == 0 {
		n.sampleRTT(n.now().Sub(start))
	}
	n.markVerified(addr)
	return c.msg, nil
}

// waitRate waits until both the node-wide pacer and the per-IP limiter let
// a packet to ip go.
func (n *Node) waitRate(ctx context.Context, ip netip.Addr, background bool) error {
	if n.pacer != nil {
		wait := n.pacer.wait
		if background {
			wait = n.pacer.waitBackground
		}
		if err := wait(ctx, n.closing); err != nil {
			return err
		}
	}
	if n.perIP == nil || nodeid.Exempt(ip) {
		// Local hosts are exempt, as from the table's per-IP limits: the
		// cap keeps us under the flood thresholds of Internet nodes.
		return nil
	}
	for !n.perIP.Allow(ip) {
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-n.closing:
			t.Stop()
			return ErrClosed
		}
	}
	return nil
}

func (n *Node) idBytes() []byte {
	id := n.ID()
	return id[:]
}

// sampleRTT records one round-trip time: the smoothed mean (the RFC 6298
// gain of 1/8), shown in Stats, and the recent samples the soft timeout is
// a quantile of.
func (n *Node) sampleRTT(d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srtt == 0 {
		n.srtt = d
	} else {
		n.srtt += (d - n.srtt) / 8
	}
	if len(n.rtts) < rttSamples {
		n.rtts = append(n.rtts, d)
	} else {
		n.rtts[n.rttNext] = d
		n.rttNext = (n.rttNext + 1) % rttSamples
	}
	// The quantile is worked out here, once per sample, not on every turn
	// of every lookup's loop.
	rs := append(n.rttSorted[:0], n.rtts...)
	slices.Sort(rs)
	n.rttSorted = rs
	n.soft = rs[min(int(float64(len(rs))*softQuantile), len(rs)-1)]
	n.tail = rs[min(int(float64(len(rs))*tailQuantile), len(rs)-1)]
}

// tailQuantile is the share of recent round trips that a lookup's end
// waits for, twice over, on the nodes closest to the target (graceTimeout).
const tailQuantile = 0.95

// graceTimeout is how long a lookup about to finish waits for a slow query
// to one of the k closest nodes: twice the tailQuantile of the recent round
// trips, clamped to [soft timeout, SoftTimeoutMax]. The soft timeout frees
// a slow query's α slot; it must not also end the lookup without the
// node's answer, for a slow node among the closest may hold peers no other
// node has. Dead nodes among the closest cost this much at the end, so it
// is capped: on a loaded machine (a crawl's many lookups) measured round
// trips grow, and the wait with them.
func (n *Node) graceTimeout() time.Duration {
	soft := n.softTimeout()
	n.mu.Lock()
	t, sampled := n.tail, len(n.rtts) > 0
	n.mu.Unlock()
	if !sampled {
		return max(soft, n.softMax)
	}
	return min(max(2*t, soft), max(soft, n.softMax))
}

// rttSamples is how many recent round trips the soft timeout looks at.
const rttSamples = 64

// softQuantile is the share of recent round trips the soft timeout waits
// for. Round trips on the DHT are heavy-tailed (a few nodes take ten times
// the median) and many nodes in any table are gone: a timeout from the mean
// (2 × SRTT) waits on the tail for every dead node, one from a quantile
// frees the slot once most live nodes would have answered, and a late
// answer is still taken.
const softQuantile = 0.5

// softTimeout is the softQuantile of the recent round trips, clamped to
// [SoftTimeoutMin, SoftTimeoutMax]; before any sample, the maximum.
func (n *Node) softTimeout() time.Duration {
	n.mu.Lock()
	q, sampled := n.soft, len(n.rtts) > 0
	n.mu.Unlock()
	if !sampled {
		return n.softMax
	}
	return min(max(q, n.softMin), n.softMax)
}

// pacer is a token bucket that makes callers wait rather than fail: a
// lookup's queries are delayed, never dropped, by the node-wide rate.
type pacer struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newPacer(rate float64, burst int) *pacer {
	return &pacer{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

func (p *pacer) wait(ctx context.Context, closing <-chan struct{}) error {
	p.mu.Lock()
	now := time.Now()
	if !p.last.IsZero() {
		p.tokens = min(p.burst, p.tokens+now.Sub(p.last).Seconds()*p.rate)
	}
	p.last = now
	p.tokens--
	var d time.Duration
	if p.tokens < 0 {
		d = time.Duration(-p.tokens / p.rate * float64(time.Second))
	}
	p.mu.Unlock()
	if d == 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-closing:
		return ErrClosed
	}
}

// waitBackground is wait for background work: it takes a token only while
// half the burst stays available, and never queues behind other callers,
// so a foreground lookup that starts meanwhile finds the pacer as if the
// background work were not there.
func (p *pacer) waitBackground(ctx context.Context, closing <-chan struct{}) error {
	reserve := p.burst / 2
	for {
		p.mu.Lock()
		now := time.Now()
		if !p.last.IsZero() {
			p.tokens = min(p.burst, p.tokens+now.Sub(p.last).Seconds()*p.rate)
		}
		p.last = now
		if p.tokens >= reserve+1 {
			p.tokens--
			p.mu.Unlock()
			return nil
		}
		d := time.Duration((reserve + 1 - p.tokens) / p.rate * float64(time.Second))
		p.mu.Unlock()
		t := time.NewTimer(max(d, time.Millisecond))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-closing:
			t.Stop()
			return ErrClosed
		}
	}
}
