package tracker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/peerfind/peerfind/metainfo"
)

const (
	// connIDLife is how long a BEP 15 connection id is reused: "a client
	// can use a connection ID until one minute after it has received it";
	// a little less leaves room for the path delay and clock drift.
	connIDLife = 50 * time.Second
	// udpReadBuf is the read buffer of the shared sockets: a UDP datagram
	// can be up to 64 KiB, and a truncated peer list would be misaligned.
	udpReadBuf = 64 << 10
	// familyGrace is how long a dual-stack announce waits for the second
	// address family once the first has answered, so a dead IPv6 path does
	// not hold back the IPv4 peers for a whole timeout.
	familyGrace = 500 * time.Millisecond
)

// udpTransport owns one UDP socket shared by every UDP tracker of an
// address family: one reader goroutine delivers each reply to the request
// waiting under its transaction id (BEP 15 matches on it, not on the source
// address); writers call WriteTo directly.
type udpTransport struct {
	conn net.PacketConn
	done chan struct{} // closed when the reader ends

	mu      sync.Mutex
	pending map[uint32]*pendingReq
	err     error // why the reader ended
}

type pendingReq struct {
	addr netip.AddrPort // where the request went: replies from elsewhere are dropped
	ch   chan []byte    // buffered 1: the reader never blocks
}

func newUDPTransport(conn net.PacketConn) *udpTransport {
	if uc, ok := conn.(*net.UDPConn); ok {
		// Best effort: 100 trackers answering within a millisecond must not
		// overflow a small default kernel buffer.
		uc.SetReadBuffer(1 << 20)
	}
	t := &udpTransport{conn: conn, done: make(chan struct{}), pending: map[uint32]*pendingReq{}}
	go t.read()
	return t
}

func (t *udpTransport) read() {
	defer close(t.done)
	buf := make([]byte, udpReadBuf)
	failures := 0
	for {
		n, from, err := t.conn.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			switch {
			case errors.Is(err, net.ErrClosed):
			case errors.As(err, &ne) && ne.Timeout():
				// A deadline set by someone else; keep the socket served.
				t.conn.SetReadDeadline(time.Time{})
				continue
			case errors.Is(err, syscall.ECONNREFUSED) && t.connected():
				// A socket connected to one tracker hears the ICMP "port
				// unreachable" an unconnected one never sees: nothing
				// listens there, so every request waiting on it fails now
				// instead of after its retransmissions.
				t.refuseAll()
				continue
			case failures < 100:
				// An ICMP error reported on the socket (ECONNREFUSED from
				// one dead tracker) must not end the reading for all the
				// others; a socket that only fails is given up.
				failures++
				continue
			}
			t.mu.Lock()
			t.err = err
			t.mu.Unlock()
			return
		}
		failures = 0
		h, err := parseUDPHeader(buf[:n])
		if err != nil {
			continue
		}
		src := addrPortOf(from)
		t.mu.Lock()
		p := t.pending[h.TxID]
		if p != nil && p.addr == src {
			delete(t.pending, h.TxID)
			p.ch <- append([]byte(nil), buf[:n]...)
		}
		t.mu.Unlock()
	}
}

// connected reports whether the socket is connected to one remote address
// (a caller's Conn4/Conn6 made with net.DialUDP and given a WriteTo).
func (t *udpTransport) connected() bool {
	ra, ok := t.conn.(interface{ RemoteAddr() net.Addr })
	return ok && ra.RemoteAddr() != nil
}

// writeTo sends pkt to dst; on a connected socket, with Write (WriteTo
// fails there), and only to the address it is connected to.
func (t *udpTransport) writeTo(pkt []byte, dst *net.UDPAddr) error {
	if !t.connected() {
		_, err := t.conn.WriteTo(pkt, dst)
		return err
	}
	ra := t.conn.(interface{ RemoteAddr() net.Addr }).RemoteAddr()
	if addrPortOf(ra) != addrPortOf(dst) {
		return fmt.Errorf("udp socket connected to %v, not %v", ra, dst)
	}
	w, ok := t.conn.(interface{ Write([]byte) (int, error) })
	if !ok {
		return fmt.Errorf("udp socket connected to %v cannot Write", ra)
	}
	_, err := w.Write(pkt)
	return err
}

// refuseAll fails every pending request with ErrRefused (a nil reply).
func (t *udpTransport) refuseAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for tx, p := range t.pending {
		delete(t.pending, tx)
		p.ch <- nil
	}
}

// addrPortOf converts a net.Addr to an unmapped netip.AddrPort.
func addrPortOf(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	if ua, ok := a.(*net.UDPAddr); ok {
		ap = ua.AddrPort()
	} else if a != nil {
		ap, _ = netip.ParseAddrPort(a.String())
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// roundTrip sends the packet build makes for a fresh transaction id to
// addr and waits for the reply with that id from addr, retransmitting after
// timeout, 2·timeout, 4·timeout, ... up to retries times.
func (t *udpTransport) roundTrip(ctx context.Context, addr netip.AddrPort, build func(tx uint32) []byte, timeout time.Duration, retries int) ([]byte, error) {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	p := &pendingReq{addr: addr, ch: make(chan []byte, 1)}
	t.mu.Lock()
	if t.err != nil {
		err := t.err
		t.mu.Unlock()
		return nil, fmt.Errorf("udp socket: %w", err)
	}
	var tx uint32
	for {
		tx = rand.Uint32()
		if t.pending[tx] == nil {
			break
		}
	}
	t.pending[tx] = p
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		if t.pending[tx] == p {
			delete(t.pending, tx)
		}
		t.mu.Unlock()
	}()

	pkt := build(tx)
	dst := net.UDPAddrFromAddrPort(addr)
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	wait := timeout
	for attempt := 0; ; attempt++ {
		if err := t.writeTo(pkt, dst); err != nil {
			return nil, err
		}
		timer.Reset(wait)
		select {
		case b := <-p.ch:
			if b == nil {
				return nil, &kindError{ErrRefused, fmt.Errorf("%v: port unreachable", addr)}
			}
			return b, nil
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-t.done:
			return nil, fmt.Errorf("udp socket: %w", net.ErrClosed)
		case <-timer.C:
		}
		if attempt >= retries {
			return nil, fmt.Errorf("%w: no reply from %v after %d sends", ErrTimeout, addr, attempt+1)
		}
		wait *= 2
	}
}

func (t *udpTransport) close() error {
	err := t.conn.Close()
	<-t.done
	return err
}

// transport returns the shared socket of addr's family, opening it on
// first use.
func (c *Client) transport(addr netip.Addr) (*udpTransport, error) {
	c.udpMu.Lock()
	defer c.udpMu.Unlock()
	if c.udpClosed {
		return nil, fmt.Errorf("client closed: %w", net.ErrClosed)
	}
	slot, given, network, laddr := &c.udp4, c.Conn4, "udp4", "0.0.0.0:0"
	if addr.Is6() {
		slot, given, network, laddr = &c.udp6, c.Conn6, "udp6", "[::]:0"
	}
	if *slot != nil {
		return *slot, nil
	}
	conn := given
	if conn == nil {
		var err error
		conn, err = net.ListenPacket(network, laddr)
		if err != nil {
			return nil, err
		}
	}
	*slot = newUDPTransport(conn)
	return *slot, nil
}

type connEntry struct {
	id      uint64
	expires time.Time
}

// connID returns a BEP 15 connection id for the tracker at addr, from the
// cache (keyed by IP and port: two trackers on one host must never get
// each other's id) or from a fresh connect exchange.
func (c *Client) connID(ctx context.Context, t *udpTransport, addr netip.AddrPort) (id uint64, cached bool, err error) {
	c.connMu.Lock()
	e, ok := c.connIDs[addr]
	c.connMu.Unlock()
	if ok && time.Now().Before(e.expires) {
		return e.id, true, nil
	}
	b, err := t.roundTrip(ctx, addr, func(tx uint32) []byte { return appendConnectRequest(nil, tx) }, c.udpTimeout(), c.udpRetries())
	if err != nil {
		return 0, false, err
	}
	if err := checkAction(b, actionConnect); err != nil {
		return 0, false, err
	}
	id, err = parseConnectResponse(b)
	if err != nil {
		return 0, false, err
	}
	c.connMu.Lock()
	c.connIDs[addr] = connEntry{id: id, expires: time.Now().Add(connIDLife)}
	c.connMu.Unlock()
	return id, false, nil
}

func (c *Client) dropConnID(addr netip.AddrPort) {
	c.connMu.Lock()
	delete(c.connIDs, addr)
	c.connMu.Unlock()
}

var actionNames = [...]string{"connect", "announce", "scrape", "error"}

func actionName(a uint32) string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return strconv.FormatUint(uint64(a), 10)
}

// checkAction turns an error packet into a *FailureError and a reply of the
// wrong kind into a *WireError.
func checkAction(b []byte, want uint32) error {
	h, err := parseUDPHeader(b)
	if err != nil {
		return err
	}
	switch h.Action {
	case want:
		return nil
	case actionError:
		return &FailureError{Reason: parseErrorResponse(b)}
	}
	return &WireError{"udp response", 0, fmt.Sprintf("action %s in reply to %s", actionName(h.Action), actionName(want))}
}

// exchange runs one request needing a connection id against addr. After an
// error packet answering a cached id, the id may have been forgotten by the
// tracker (opentracker says "Connection ID missmatch"), so it reconnects
// once.
func (c *Client) exchange(ctx context.Context, addr netip.AddrPort, want uint32, build func(connID uint64, tx uint32) []byte) ([]byte, error) {
	t, err := c.transport(addr.Addr())
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		id, cached, err := c.connID(ctx, t, addr)
		if err != nil {
			return nil, err
		}
		b, err := t.roundTrip(ctx, addr, func(tx uint32) []byte { return build(id, tx) }, c.udpTimeout(), c.udpRetries())
		if err != nil {
			return nil, err
		}
		err = checkAction(b, want)
		var fe *FailureError
		if errors.As(err, &fe) {
			c.dropConnID(addr)
			if cached && attempt == 0 {
				continue
			}
		}
		return b, err
	}
}

// udpTarget is a parsed udp:// tracker URL.
type udpTarget struct {
	host    string
	port    uint16
	urlData string // BEP 41: path and query, sent as URLData
}

func parseUDPTarget(u *url.URL) (udpTarget, error) {
	p, err := strconv.ParseUint(u.Port(), 10, 16)
	if err != nil || p == 0 {
		return udpTarget{}, fmt.Errorf("%w: udp tracker needs a port", ErrBadURL)
	}
	t := udpTarget{host: u.Hostname(), port: uint16(p)}
	path := u.EscapedPath()
	if path == "/" {
		path = ""
	}
	t.urlData = path
	if u.RawQuery != "" {
		t.urlData += "?" + u.RawQuery
	}
	return t, nil
}

// resolve returns the addresses of host: itself when it is an IP literal,
// else every A and AAAA record, unmapped.
func (c *Client) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	addrs, err := c.resolver().LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, classify(err)
	}
	if len(addrs) == 0 {
		return nil, &kindError{ErrDNS, fmt.Errorf("no addresses for %q", host)}
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		a = a.Unmap()
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

func splitFamilies(addrs []netip.Addr) (v4, v6 []netip.Addr) {
	for _, a := range addrs {
		if a.Is4() {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	return v4, v6
}

// announceUDP announces over BEP 15. The host's IPv4 and IPv6 addresses
// are tried as two families at once, since each family's tracker answer
// lists that family's peers; within a family raceAddrs tries the addresses
// in turn, staggered, until one answers.
func (c *Client) announceUDP(ctx context.Context, u *url.URL, req AnnounceRequest) (*AnnounceResponse, error) {
	tgt, err := parseUDPTarget(u)
	if err != nil {
		return nil, err
	}
	addrs, err := c.resolve(ctx, tgt.host)
	if err != nil {
		return nil, err
	}
	v4, v6 := splitFamilies(addrs)
	if len(v4) == 0 || len(v6) == 0 {
		return c.announceFamily(ctx, append(v4, v6...), tgt, req)
	}
	type result struct {
		resp *AnnounceResponse
		err  error
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan result, 2)
	for _, fam := range [][]netip.Addr{v4, v6} {
		go func() {
			r, err := c.announceFamily(fctx, fam, tgt, req)
			ch <- result{r, err}
		}()
	}
	first := <-ch
	if first.err != nil {
		second := <-ch
		if second.err == nil {
			return second.resp, nil
		}
		return nil, first.err
	}
	timer := time.NewTimer(familyGrace)
	defer timer.Stop()
	select {
	case second := <-ch:
		if second.err == nil {
			return mergeResponses(first.resp, second.resp), nil
		}
	case <-timer.C:
		cancel()
		<-ch
	}
	return first.resp, nil
}

func (c *Client) announceFamily(ctx context.Context, addrs []netip.Addr, tgt udpTarget, req AnnounceRequest) (*AnnounceResponse, error) {
	return raceAddrs(ctx, addrs, c.udpTimeout(), func(ctx context.Context, a netip.Addr) (*AnnounceResponse, error) {
		ap := netip.AddrPortFrom(a, tgt.port)
		b, err := c.exchange(ctx, ap, actionAnnounce, func(id uint64, tx uint32) []byte {
			return appendAnnounceRequest(nil, id, tx, req, tgt.urlData)
		})
		if err != nil {
			return nil, fmt.Errorf("%v: %w", ap, classify(err))
		}
		// BEP 15 "IPv6": the entry size follows the family the tracker
		// was reached over.
		peerLen := 6
		if a.Is6() {
			peerLen = 18
		}
		r, err := parseAnnounceResponse(b, peerLen)
		if err != nil {
			return nil, fmt.Errorf("%v: %w", ap, err)
		}
		return r, nil
	})
}

// raceAddrs runs try on the addresses of one tracker host, starting the
// next address when the previous has failed or has not answered within
// stagger (its first retransmission time), and returns the first answer.
// A dead first A record thus costs one retransmission interval, not the
// whole retry budget. A *FailureError is an answer too: the tracker is
// alive and said no. Every goroutine started has ended when it returns.
func raceAddrs[T any](ctx context.Context, addrs []netip.Addr, stagger time.Duration, try func(context.Context, netip.Addr) (T, error)) (T, error) {
	return raceAddrsDiscard(ctx, addrs, stagger, try, nil)
}

// raceAddrsDiscard is raceAddrs calling discard on every successful result
// that lost the race (a TCP connection to close).
func raceAddrsDiscard[T any](ctx context.Context, addrs []netip.Addr, stagger time.Duration, try func(context.Context, netip.Addr) (T, error), discard func(T)) (T, error) {
	var zero T
	if len(addrs) == 1 {
		return try(ctx, addrs[0])
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		v   T
		err error
		i   int
	}
	ch := make(chan result, len(addrs))
	next, running := 0, 0
	start := func() {
		i := next
		next++
		running++
		go func() {
			v, err := try(ctx, addrs[i])
			ch <- result{v, err, i}
		}()
	}
	drain := func() {
		cancel()
		for ; running > 0; running-- {
			if r := <-ch; r.err == nil && discard != nil {
				discard(r.v)
			}
		}
	}
	start()
	timer := time.NewTimer(stagger)
	defer timer.Stop()
	var firstErr error
	firstIdx := len(addrs)
	for running > 0 {
		select {
		case r := <-ch:
			running--
			var fe *FailureError
			if r.err == nil || errors.As(r.err, &fe) {
				drain()
				return r.v, r.err
			}
			if r.i < firstIdx { // report the error of the preferred address
				firstErr, firstIdx = r.err, r.i
			}
			if next < len(addrs) && ctx.Err() == nil {
				start()
				timer.Reset(stagger)
			}
		case <-timer.C:
			if next < len(addrs) {
				start()
				timer.Reset(stagger)
			}
		}
	}
	return zero, firstErr
}

// mergeResponses joins the answers of one tracker over IPv4 and IPv6.
func mergeResponses(a, b *AnnounceResponse) *AnnounceResponse {
	r := *a
	r.Peers = slices.Clone(a.Peers)
	for _, p := range b.Peers {
		if !slices.Contains(r.Peers, p) {
			r.Peers = append(r.Peers, p)
		}
	}
	r.Interval = max(a.Interval, b.Interval)
	return &r
}

// scrapeUDP scrapes over BEP 15, at most 74 hashes per packet, racing the
// host's addresses as raceAddrs does.
func (c *Client) scrapeUDP(ctx context.Context, u *url.URL, hashes []metainfo.Hash) (map[metainfo.Hash]ScrapeStats, error) {
	tgt, err := parseUDPTarget(u)
	if err != nil {
		return nil, err
	}
	addrs, err := c.resolve(ctx, tgt.host)
	if err != nil {
		return nil, err
	}
	return raceAddrs(ctx, addrs, c.udpTimeout(), func(ctx context.Context, a netip.Addr) (map[metainfo.Hash]ScrapeStats, error) {
		ap := netip.AddrPortFrom(a, tgt.port)
		m, err := c.scrapeAddr(ctx, ap, hashes)
		if err != nil {
			return nil, fmt.Errorf("%v: %w", ap, classify(err))
		}
		return m, nil
	})
}

func (c *Client) scrapeAddr(ctx context.Context, ap netip.AddrPort, hashes []metainfo.Hash) (map[metainfo.Hash]ScrapeStats, error) {
	out := make(map[metainfo.Hash]ScrapeStats, len(hashes))
	for chunk := range slices.Chunk(hashes, udpMaxScrape) {
		b, err := c.exchange(ctx, ap, actionScrape, func(id uint64, tx uint32) []byte {
			return appendScrapeRequest(nil, id, tx, chunk)
		})
		if err != nil {
			return nil, err
		}
		stats, err := parseScrapeResponse(b, len(chunk))
		if err != nil {
			return nil, err
		}
		for i, s := range stats {
			out[chunk[i]] = s
		}
	}
	return out, nil
}
