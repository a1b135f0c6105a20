package main

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/peerfind/peerfind/tracker"
)

// latency draws round trips the way dhtemu draws its nodes' base RTTs
// (log-normal, capped), but afresh for every request: a tracker's answer
// time varies from one request to the next with its load. Seeded, so two
// runs draw the same sequence (though not in the same order).
type latency struct {
	median time.Duration
	sigma  float64
	max    time.Duration
	loss   float64

	mu  sync.Mutex
	rng *rand.Rand
}

func newLatency(seed uint64, median time.Duration, sigma float64, maxRTT time.Duration, loss float64) *latency {
	return &latency{median: median, sigma: sigma, max: maxRTT, loss: loss, rng: rand.New(rand.NewPCG(seed, 0x7472))}
}

func (l *latency) rtt() time.Duration {
	l.mu.Lock()
	z := l.rng.NormFloat64()
	l.mu.Unlock()
	d := time.Duration(float64(l.median) * math.Exp(l.sigma*z))
	return min(max(d, time.Millisecond), l.max)
}

func (l *latency) lost() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rng.Float64() < l.loss
}

// slowTrackers are an HTTP and a UDP tracker (tracker.Server) on loopback
// that answer after a drawn round trip: the UDP one delays each reply and
// loses a share of the requests (the client's retransmission then costs
// it seconds, as on the Internet); the HTTP one spends a round trip on
// each new connection (the TCP handshake) and one on each request. TCP
// does its own retransmissions, so the HTTP tracker loses nothing.
type slowTrackers struct {
	HTTP, UDP *tracker.Server
	HTTPURL   string
	UDPURL    string

	lat      *latency
	httpSrv  *http.Server
	udp      *delayConn
	cancel   context.CancelFunc
	served   sync.WaitGroup
	httpReqs atomic.Int64
	conns    atomic.Int64 // TCP connections accepted by the HTTP tracker
}

func startSlowTrackers(lat *latency) (*slowTrackers, error) {
	t := &slowTrackers{HTTP: &tracker.Server{}, UDP: &tracker.Server{}, lat: lat}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	pc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		ln.Close()
		return nil, err
	}
	t.HTTPURL = "http://" + ln.Addr().String() + "/announce"
	t.UDPURL = "udp://" + pc.LocalAddr().String() + "/announce"
	t.udp = &delayConn{PacketConn: pc, lat: lat}
	t.httpSrv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t.httpReqs.Add(1)
			select {
			case <-time.After(lat.rtt()):
			case <-r.Context().Done():
				return
			}
			t.HTTP.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	var ctx context.Context
	ctx, t.cancel = context.WithCancel(context.Background())
	t.served.Add(2)
	go func() {
		defer t.served.Done()
		t.httpSrv.Serve(&handshakeListener{Listener: ln, lat: lat, n: &t.conns})
	}()
	go func() {
		defer t.served.Done()
		t.UDP.ServeUDP(ctx, t.udp)
	}()
	return t, nil
}

// Requests returns the HTTP requests and UDP packets (connects, announces,
// scrapes, lost ones included) received so far.
func (t *slowTrackers) Requests() int64 { return t.httpReqs.Load() + t.udp.reads.Load() }

// Conns returns the TCP connections the HTTP tracker accepted so far.
func (t *slowTrackers) Conns() int64 { return t.conns.Load() }

func (t *slowTrackers) Close() {
	t.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	t.httpSrv.Shutdown(ctx)
	t.httpSrv.Close()
	t.served.Wait()
	t.udp.Close()
}

// handshakeListener accepts connections whose first read waits a round
// trip: the cost of the TCP handshake a client pays on each new
// connection and saves by keeping one alive.
type handshakeListener struct {
	net.Listener
	lat *latency
	n   *atomic.Int64 // connections accepted
}

func (l *handshakeListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.n.Add(1)
	return &handshakeConn{Conn: c, wait: l.lat.rtt()}, nil
}

type handshakeConn struct {
	net.Conn
	once sync.Once
	wait time.Duration
}

func (c *handshakeConn) Read(b []byte) (int, error) {
	c.once.Do(func() { time.Sleep(c.wait) })
	return c.Conn.Read(b)
}

// delayConn is the UDP tracker's socket: ServeUDP is its only reader;
// a share of the packets read are dropped, and each reply leaves on a
// timer after a drawn round trip. Close waits for the timers.
type delayConn struct {
	net.PacketConn
	lat     *latency
	reads   atomic.Int64
	closed  atomic.Bool
	pending sync.WaitGroup
}

func (c *delayConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil {
			return n, addr, err
		}
		c.reads.Add(1)
		if !c.lat.lost() {
			return n, addr, nil
		}
	}
}

func (c *delayConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	msg := append([]byte(nil), b...)
	c.pending.Add(1)
	time.AfterFunc(c.lat.rtt(), func() {
		defer c.pending.Done()
		c.PacketConn.WriteTo(msg, addr)
	})
	return len(b), nil
}

func (c *delayConn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.pending.Wait()
	err := c.PacketConn.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// deadTracker is a UDP tracker that is gone: its socket stays bound and
// reads everything (an unbound port would draw ICMP port-unreachable,
// which a host that is down does not send) but never answers, so every
// request to it waits out the client's retransmissions.
type deadTracker struct {
	URL   string
	conn  net.PacketConn
	reads atomic.Int64
	done  chan struct{}
}

func startDeadTracker() (*deadTracker, error) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	d := &deadTracker{URL: "udp://" + c.LocalAddr().String() + "/announce", conn: c, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		buf := make([]byte, 2048)
		for {
			if _, _, err := c.ReadFrom(buf); err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			d.reads.Add(1)
		}
	}()
	return d, nil
}

func (d *deadTracker) Close() {
	d.conn.Close()
	<-d.done
}
