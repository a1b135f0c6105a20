package tracker

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peerfind/peerfind/internal/compact"
	"github.com/peerfind/peerfind/metainfo"
)

// httpTracker serves handler on loopback and returns its announce URL.
func httpTracker(t *testing.T, handler http.HandlerFunc) string {
	t.Helper()
	s := httptest.NewServer(handler)
	t.Cleanup(s.Close)
	return s.URL + "/announce"
}

func body(s string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, s) }
}

// announceErr announces and checks the error is a *Error naming url.
func announceErr(t *testing.T, c *Client, url string, timeout time.Duration) error {
	t.Helper()
	start := time.Now()
	_, err := c.Announce(ctxT(t, timeout), url, AnnounceRequest{InfoHash: hashN(1), Left: 1})
	if err == nil {
		t.Fatalf("announce to %s succeeded, want an error", url)
	}
	var te *Error
	if !errors.As(err, &te) || te.URL != url || te.Op != "announce" {
		t.Errorf("error %v (%T) is not an *Error naming %s", err, err, url)
	}
	if !strings.Contains(err.Error(), url) {
		t.Errorf("error %q does not name the tracker", err)
	}
	if d := time.Since(start); d > timeout+2*time.Second {
		t.Errorf("took %v with a %v deadline", d, timeout)
	}
	return err
}

func TestHTTPFaults(t *testing.T) {
	var sent atomic.Int64
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zw.Write(make([]byte, 4<<20))
	zw.Close()
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		is      error  // errors.Is target, if any
		as      any    // errors.As target, if any
		msg     string // substring of the message
	}{
		{"never answers", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, ErrTimeout, nil, "timed out"},
		{"garbage", body("xyzzy"), ErrBadResponse, nil, `starts "xyzzy"`},
		{"truncated bencode", body("d8:intervali1800e5:peers"), ErrBadResponse, nil, "announce body"},
		{"not a dict", body("li1ee"), ErrBadResponse, nil, "not a bencoded dictionary"},
		{"html 200", body("<html><body>Tracker offline</body></html>"), ErrBadResponse, nil, "<html>"},
		{"html 500", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			fmt.Fprint(w, "<html>Internal Server Error</html>")
		}, nil, new(*StatusError), "HTTP status 500"},
		{"empty 502", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(502) }, nil, new(*StatusError), "502"},
		{"failure reason", body("d14:failure reason17:torrent not founde"), nil, new(*FailureError), `"torrent not found"`},
		{"failure reason with 400", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(400)
			fmt.Fprint(w, "d14:failure reason7:go awaye")
		}, nil, new(*FailureError), "go away"},
		{"retry never", body("d14:failure reason13:Not a tracker8:retry in5:nevere"), nil, new(*FailureError), "retry never"},
		{"compact peers not a multiple of 6", body("d8:intervali60e5:peers7:abcdefge"), ErrBadResponse, new(*compact.LengthError), "not a multiple of 6"},
		{"peers6 not a multiple of 18", body("d8:intervali60e5:peers0:6:peers66:abcdefe"), ErrBadResponse, new(*compact.LengthError), "not a multiple of 18"},
		{"peers wrong type", body("d5:peersi3ee"), ErrBadResponse, nil, "neither a string nor a list"},
		{"redirect loop", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.String(), http.StatusFound)
		}, nil, nil, "redirects"},
		{"100 MB body", func(w http.ResponseWriter, r *http.Request) {
			chunk := bytes.Repeat([]byte("d"), 64<<10)
			for i := 0; i < 100<<20/len(chunk); i++ {
				if _, err := w.Write(chunk); err != nil {
					return // the client hung up, as it should
				}
				sent.Add(int64(len(chunk)))
			}
		}, ErrTooLarge, nil, "too large"},
		{"100 MB declared", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "104857600")
			w.Write([]byte("d"))
		}, ErrTooLarge, nil, "Content-Length"},
		{"gzip bomb", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(bomb.Bytes())
		}, ErrTooLarge, nil, "too large"},
		{"bad gzip", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			fmt.Fprint(w, "d8:intervali1ee")
		}, ErrBadResponse, nil, "gzip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClient(t)
			c.MaxResponseSize = 1 << 20
			u := httpTracker(t, tc.handler)
			err := announceErr(t, c, u, time.Second)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if tc.as != nil && !errors.As(err, tc.as) {
				t.Errorf("error %v is not a %T", err, tc.as)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not contain %q", err, tc.msg)
			}
		})
	}
	// The streamed 100 MB were cut short: the client stopped reading at the
	// cap, so the server could push only the cap plus socket buffers.
	if n := sent.Load(); n > 32<<20 {
		t.Errorf("the server sent %d MB of the 100 MB body: the client read past its cap", n>>20)
	}
}

func TestHTTPFailureRetryIn(t *testing.T) {
	c := newTestClient(t)
	u := httpTracker(t, body("d14:failure reason10:overloaded8:retry in1:5e"))
	err := announceErr(t, c, u, time.Second)
	var fe *FailureError
	if !errors.As(err, &fe) || fe.Reason != "overloaded" || fe.RetryIn != 5*time.Minute {
		t.Errorf("error %v, want failure \"overloaded\" retry in 5m", err)
	}
}

func TestHTTPAnnounceRequestAndResponse(t *testing.T) {
	peer := netip.MustParseAddrPort("192.0.2.7:51413")
	peer6 := netip.MustParseAddrPort("[2001:db8::7]:51413")
	var calls atomic.Int32
	u := httpTracker(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		n := calls.Add(1)
		for k, want := range map[string]string{
			"passkey": "s3cret", "port": "6881", "left": fmt.Sprint(LeftUnknown), "compact": "1",
			"numwant": "200", "uploaded": "0", "downloaded": "0",
		} {
			if got := q.Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		if h := hashN(1); q.Get("info_hash") != string(h[:]) {
			t.Errorf("info_hash = %x", q.Get("info_hash"))
		}
		if id := q.Get("peer_id"); !strings.HasPrefix(id, "-PF0001-") || len(id) != 20 {
			t.Errorf("peer_id = %q", id)
		}
		if len(q.Get("key")) != 8 {
			t.Errorf("key = %q", q.Get("key"))
		}
		switch n {
		case 1:
			if q.Get("event") != "started" || q.Has("trackerid") {
				t.Errorf("first announce: event %q trackerid %q", q.Get("event"), q.Get("trackerid"))
			}
		case 2:
			if q.Has("event") || q.Get("trackerid") != "tid 42" {
				t.Errorf("second announce: event %q trackerid %q; want the tracker id echoed", q.Get("event"), q.Get("trackerid"))
			}
		}
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		fmt.Fprintf(zw, "d8:completei7e11:external ip4:\xc6\x33\x64\x0510:incompletei3e8:intervali1800e12:min intervali60e"+
			"5:peers6:%s6:peers618:%s10:tracker id6:tid 4215:warning message5:hello"+"e",
			compact.AppendPeer(nil, peer), compact.AppendPeer(nil, peer6))
		zw.Close()
	})
	c := newTestClient(t)
	u += "?passkey=s3cret"
	for ev := range []Event{EventStarted, EventNone} {
		r, err := c.Announce(ctxT(t, 5*time.Second), u, AnnounceRequest{InfoHash: hashN(1), Left: -1, Event: []Event{EventStarted, EventNone}[ev]})
		if err != nil {
			t.Fatal(err)
		}
		want := AnnounceResponse{
			Peers: []netip.AddrPort{peer, peer6}, Interval: 30 * time.Minute, MinInterval: time.Minute,
			Seeders: 7, Leechers: 3, TrackerID: "tid 42", Warning: "hello", ExternalIP: netip.MustParseAddr("198.51.100.5"),
		}
		if fmt.Sprint(*r) != fmt.Sprint(want) {
			t.Errorf("response\n%+v, want\n%+v", *r, want)
		}
	}
}

func TestHTTPRedirectFollowed(t *testing.T) {
	ts := startServer(t)
	u := httpTracker(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, strings.TrimSuffix(ts.http, "/announce")+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	})
	c := newTestClient(t)
	if _, err := c.Announce(ctxT(t, 5*time.Second), u, AnnounceRequest{InfoHash: hashN(1), Left: 1}); err != nil {
		t.Fatal(err)
	}
}

func TestRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String() + "/announce"
	l.Close()
	err = announceErr(t, newTestClient(t), u, 2*time.Second)
	if !errors.Is(err, ErrRefused) {
		t.Errorf("error %v, want ErrRefused", err)
	}
}

// TestUDPRefusedOnConnectedSocket: a socket connected to one UDP tracker
// hears the "port unreachable" of a closed port, and the scrape and the
// announce fail with ErrRefused rather than timing out after their
// retransmissions (which, at 1 min between them here, would outlast the
// test's context); on the shared unconnected socket they would time out.
func TestUDPRefusedOnConnectedSocket(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := pc.LocalAddr().(*net.UDPAddr)
	pc.Close()
	for _, op := range []string{"scrape", "announce"} {
		conn, err := net.DialUDP("udp4", nil, dead)
		if err != nil {
			t.Fatal(err)
		}
		c := &Client{Conn4: conn, UDPTimeout: time.Minute}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		u := "udp://" + dead.String() + "/announce"
		if op == "scrape" {
			_, err = c.Scrape(ctx, u, metainfo.Hash{1})
		} else {
			_, err = c.Announce(ctx, u, AnnounceRequest{InfoHash: metainfo.Hash{1}, Port: 1})
		}
		cancel()
		c.Close()
		if !errors.Is(err, ErrRefused) {
			t.Errorf("%s: %v, want ErrRefused", op, err)
		}
	}
}

// fakeResolver answers from a table and fails every other name as not
// found, so tests send no DNS traffic.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestDNS(t *testing.T) {
	ts := startServer(t)
	c := newTestClient(t)
	c.Resolver = fakeResolver{"tracker.test": {netip.MustParseAddr("127.0.0.1")}}
	for _, u := range []string{"http://unknown.invalid/announce", "udp://unknown.invalid:6969/announce"} {
		err := announceErr(t, c, u, 2*time.Second)
		var de *net.DNSError
		if !errors.Is(err, ErrDNS) || !errors.As(err, &de) || de.Name != "unknown.invalid" {
			t.Errorf("%s: %v, want ErrDNS naming the host", u, err)
		}
	}
	// Names resolve through the injected resolver for both protocols.
	for _, u := range []string{ts.http, ts.udp4} {
		u = strings.Replace(u, "127.0.0.1", "tracker.test", 1)
		if _, err := c.Announce(ctxT(t, 5*time.Second), u, AnnounceRequest{InfoHash: hashN(1), Left: 1}); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}

func TestBadURL(t *testing.T) {
	c := newTestClient(t)
	for _, u := range []string{"wss://tracker/announce", "udp://127.0.0.1/announce", "http:///announce", "%zz"} {
		err := announceErr(t, c, u, time.Second)
		if !errors.Is(err, ErrBadURL) {
			t.Errorf("%s: %v, want ErrBadURL", u, err)
		}
	}
}

// fakeUDP runs handle for every packet arriving at a loopback socket and
// returns the socket's udp:// URL.
func fakeUDP(t *testing.T, handle func(conn net.PacketConn, from net.Addr, pkt []byte)) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			handle(pc, from, append([]byte(nil), buf[:n]...))
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return "udp://" + pc.LocalAddr().String() + "/announce"
}

func txOf(pkt []byte) uint32 { return binary.BigEndian.Uint32(pkt[12:]) }

// connectThen answers connects properly and other requests with reply.
func connectThen(reply func(pkt []byte) []byte) func(net.PacketConn, net.Addr, []byte) {
	return func(conn net.PacketConn, from net.Addr, pkt []byte) {
		if binary.BigEndian.Uint32(pkt[8:]) == actionConnect {
			conn.WriteTo(appendConnectResponse(nil, txOf(pkt), 0xC0FFEE), from)
			return
		}
		if b := reply(pkt); b != nil {
			conn.WriteTo(b, from)
		}
	}
}

func TestUDPFaults(t *testing.T) {
	var other net.PacketConn
	other, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for _, tc := range []struct {
		name   string
		handle func(net.PacketConn, net.Addr, []byte)
		is     error
		as     any
		msg    string
	}{
		{"silent", func(net.PacketConn, net.Addr, []byte) {}, ErrTimeout, nil, "after 2 sends"},
		{"wrong transaction id", func(conn net.PacketConn, from net.Addr, pkt []byte) {
			conn.WriteTo(appendConnectResponse(nil, txOf(pkt)+1, 1), from)
		}, ErrTimeout, nil, "timed out"},
		{"reply from another address", func(conn net.PacketConn, from net.Addr, pkt []byte) {
			other.WriteTo(appendConnectResponse(nil, txOf(pkt), 1), from)
		}, ErrTimeout, nil, "timed out"},
		{"wrong action to connect", func(conn net.PacketConn, from net.Addr, pkt []byte) {
			conn.WriteTo(appendScrapeResponse(nil, txOf(pkt), nil), from)
		}, nil, new(*WireError), "action scrape in reply to connect"},
		{"wrong action to announce", connectThen(func(pkt []byte) []byte {
			return appendConnectResponse(nil, txOf(pkt), 5)
		}), nil, new(*WireError), "action connect in reply to announce"},
		{"short connect response", func(conn net.PacketConn, from net.Addr, pkt []byte) {
			conn.WriteTo(appendConnectResponse(nil, txOf(pkt), 1)[:12], from)
		}, nil, new(*WireError), "want 16"},
		{"error packet", func(conn net.PacketConn, from net.Addr, pkt []byte) {
			conn.WriteTo(appendErrorResponse(nil, txOf(pkt), "torrent not registered\x00"), from)
		}, nil, new(*FailureError), `"torrent not registered"`},
		{"peers not a multiple of 6", connectThen(func(pkt []byte) []byte {
			b := appendAnnounceResponse(nil, txOf(pkt), time.Minute, 1, 1, []netip.AddrPort{netip.MustParseAddrPort("1.2.3.4:5")})
			return append(b, 9)
		}), nil, new(*WireError), "not a multiple of 6"},
		{"short announce response", connectThen(func(pkt []byte) []byte {
			return appendAnnounceResponse(nil, txOf(pkt), time.Minute, 1, 1, nil)[:16]
		}), nil, new(*WireError), "want at least 20"},
		{"bare header (opentracker's whitelist refusal)", connectThen(func(pkt []byte) []byte {
			return appendAnnounceResponse(nil, txOf(pkt), time.Minute, 1, 1, nil)[:8]
		}), nil, new(*WireError), "refused the torrent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Client{UDPTimeout: 50 * time.Millisecond, UDPRetries: 1}
			defer c.Close()
			u := fakeUDP(t, tc.handle)
			err := announceErr(t, c, u, 2*time.Second)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if tc.as != nil && !errors.As(err, tc.as) {
				t.Errorf("error %v is not a %T", err, tc.as)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not contain %q", err, tc.msg)
			}
		})
	}
}

func TestUDPNeverAnswersBoundedByContext(t *testing.T) {
	c := &Client{} // default timeouts: seconds
	defer c.Close()
	u := fakeUDP(t, func(net.PacketConn, net.Addr, []byte) {})
	start := time.Now()
	err := announceErr(t, c, u, 300*time.Millisecond)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want ErrTimeout wrapping the deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v after a 300ms deadline", d)
	}
}

func TestUDPRetransmit(t *testing.T) {
	var n atomic.Int32
	ts := startServer(t)
	target := net.UDPAddrFromAddrPort(netip.MustParseAddrPort(strings.TrimSuffix(strings.TrimPrefix(ts.udp4, "udp://"), "/announce")))
	// A relay that drops every first copy of a packet: the client must
	// retransmit each request once.
	fwd, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer fwd.Close()
	u := fakeUDP(t, func(relay net.PacketConn, from net.Addr, pkt []byte) {
		if n.Add(1)%2 == 1 {
			return
		}
		fwd.WriteTo(pkt, target)
		fwd.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 2048)
		k, _, err := fwd.ReadFrom(buf)
		if err == nil {
			relay.WriteTo(buf[:k], from)
		}
	})
	c := &Client{UDPTimeout: 50 * time.Millisecond, UDPRetries: 2}
	defer c.Close()
	if _, err := c.Announce(ctxT(t, 5*time.Second), u, AnnounceRequest{InfoHash: hashN(1), Left: 1}); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 4 {
		t.Errorf("relay saw %d packets, want 4 (connect and announce, each sent twice)", got)
	}
}

func TestUDPStaleConnectionID(t *testing.T) {
	ts := startServer(t)
	c := newTestClient(t)
	ap := netip.MustParseAddrPort(strings.TrimSuffix(strings.TrimPrefix(ts.udp4, "udp://"), "/announce"))
	c.init()
	// An id the tracker never issued, as after a tracker restart: it
	// answers with an error packet, and the client must reconnect.
	c.connIDs[ap] = connEntry{id: 12345, expires: time.Now().Add(time.Minute)}
	if _, err := c.Announce(ctxT(t, 5*time.Second), ts.udp4, AnnounceRequest{InfoHash: hashN(1), Left: 1}); err != nil {
		t.Fatal(err)
	}
	if id := c.connIDs[ap].id; id == 12345 {
		t.Error("stale connection id still cached")
	}
}

func TestUDPURLData(t *testing.T) {
	var got atomic.Value
	u := fakeUDP(t, connectThen(func(pkt []byte) []byte {
		d, err := parseOptions(pkt, udpAnnounceLen)
		if err != nil {
			t.Error(err)
		}
		got.Store(d)
		return appendAnnounceResponse(nil, txOf(pkt), time.Minute, 0, 0, nil)
	}))
	c := newTestClient(t)
	long := strings.Repeat("x", 300)
	if _, err := c.Announce(ctxT(t, 5*time.Second), u+"?auth="+long, AnnounceRequest{InfoHash: hashN(1), Left: 1}); err != nil {
		t.Fatal(err)
	}
	if want := "/announce?auth=" + long; got.Load() != want {
		t.Errorf("URLData %q, want %q", got.Load(), want)
	}
}

func TestUDPEveryAddress(t *testing.T) {
	// The host has a dead address first and the live one second (BEP 15
	// trackers are often reachable on only some of their records).
	ts := startServer(t)
	port := strings.TrimSuffix(ts.udp4[strings.LastIndexByte(ts.udp4, ':')+1:], "/announce")
	c := &Client{UDPTimeout: 50 * time.Millisecond, UDPRetries: -1}
	defer c.Close()
	c.Resolver = fakeResolver{"multi.test": {netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.1")}}
	if _, err := c.Announce(ctxT(t, 5*time.Second), "udp://multi.test:"+port, AnnounceRequest{InfoHash: hashN(1), Left: 1}); err != nil {
		t.Fatal(err)
	}
	// With retries, the live address is started after the dead one's first
	// retransmission interval, not after its whole retry budget (0.3 s +
	// 0.6 s + 1.2 s), for announces and scrapes.
	c2 := &Client{UDPTimeout: 300 * time.Millisecond, UDPRetries: 2, Resolver: c.Resolver}
	defer c2.Close()
	start := time.Now()
	if _, err := c2.Announce(ctxT(t, 5*time.Second), "udp://multi.test:"+port, AnnounceRequest{InfoHash: hashN(1), Left: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Scrape(ctxT(t, 5*time.Second), "udp://multi.test:"+port, hashN(1)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("announce and scrape took %v: the dead address held the live one back", d)
	}
	// Every address dead: the error names the first.
	c3 := &Client{UDPTimeout: 50 * time.Millisecond, UDPRetries: -1,
		Resolver: fakeResolver{"dead.test": {netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")}}}
	defer c3.Close()
	err := announceErr(t, c3, "udp://dead.test:"+port, 2*time.Second)
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "127.0.0.2:"+port) {
		t.Errorf("error %v, want a timeout naming 127.0.0.2", err)
	}
}

func TestUDPDualStack(t *testing.T) {
	ts := startServer(t)
	ap := netip.MustParseAddrPort(strings.TrimSuffix(strings.TrimPrefix(ts.udp4, "udp://"), "/announce"))
	pc6, err := net.ListenPacket("udp6", fmt.Sprintf("[::1]:%d", ap.Port()))
	if err != nil {
		t.Skipf("no ::1 on the same port: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ts.srv.ServeUDP(ctx, pc6); close(done) }()
	defer func() { cancel(); <-done; pc6.Close() }()
	h := hashN(5)
	v4, v6 := netip.MustParseAddrPort("10.9.9.9:9"), netip.MustParseAddrPort("[2001:db8::9]:9")
	ts.srv.AddPeer(h, v4, true)
	ts.srv.AddPeer(h, v6, true)
	c := newTestClient(t)
	c.Resolver = fakeResolver{"dual.test": {netip.MustParseAddr("::1"), netip.MustParseAddr("127.0.0.1")}}
	r, err := c.Announce(ctxT(t, 5*time.Second), fmt.Sprintf("udp://dual.test:%d", ap.Port()), AnnounceRequest{InfoHash: h, Left: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Peers) != 2 {
		t.Errorf("peers %v, want the IPv4 and the IPv6 peer", r.Peers)
	}
}

func TestNoScrape(t *testing.T) {
	c := newTestClient(t)
	_, err := c.Scrape(ctxT(t, time.Second), "http://127.0.0.1:1/tracker.php", hashN(1))
	if !errors.Is(err, ErrNoScrape) {
		t.Errorf("error %v, want ErrNoScrape", err)
	}
}

func TestScrapeURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://example.com/announce":            "http://example.com/scrape",
		"http://example.com/x/announce":          "http://example.com/x/scrape",
		"http://example.com/announce.php":        "http://example.com/scrape.php",
		"http://example.com/announce?x2%0644":    "http://example.com/scrape?x2%0644",
		"http://example.com/x%064announce":       "",
		"http://example.com/a":                   "",
		"http://example.com/announce/":           "",
		"http://example.com/passkey123/announce": "http://example.com/passkey123/scrape",
	} {
		u, err := parseTrackerURL(in)
		if err != nil {
			t.Fatal(err)
		}
		s, err := scrapeURL(u)
		switch {
		case want == "" && !errors.Is(err, ErrNoScrape):
			t.Errorf("%s: %v, %v; want ErrNoScrape", in, s, err)
		case want != "" && (err != nil || s.String() != want):
			t.Errorf("%s → %v, %v; want %s", in, s, err, want)
		}
	}
}

func TestNormalizeURL(t *testing.T) {
	for in, want := range map[string]string{
		"HTTP://Tracker.Example.COM:80/announce/": "http://tracker.example.com/announce",
		"udp://T.example:6969":                    "udp://t.example:6969",
		"udp://t.example:6969/":                   "udp://t.example:6969",
		"https://t.example:443/a?Key=V":           "https://t.example/a?Key=V",
		"http://[::1]:80/announce":                "http://[::1]/announce",
	} {
		if got := NormalizeURL(in); got != want {
			t.Errorf("NormalizeURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUDPClosedPort(t *testing.T) {
	// Nothing listens: the shared socket cannot see the ICMP error, so the
	// tracker times out (ErrTimeout), and the socket stays usable.
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "udp://" + pc.LocalAddr().String() + "/announce"
	pc.Close()
	ts := startServer(t)
	c := &Client{UDPTimeout: 50 * time.Millisecond, UDPRetries: -1}
	defer c.Close()
	if err := announceErr(t, c, u, 2*time.Second); !errors.Is(err, ErrTimeout) {
		t.Errorf("error %v, want ErrTimeout", err)
	}
	if _, err := c.Announce(ctxT(t, 2*time.Second), ts.udp4, AnnounceRequest{InfoHash: hashN(1), Left: 1}); err != nil {
		t.Errorf("the shared socket died with the dead tracker: %v", err)
	}
}

func TestUDPDeadIPv6Path(t *testing.T) {
	// The host has an AAAA record whose path is dead: the IPv4 answer is
	// returned after at most the family grace period, not a full timeout.
	ts := startServer(t)
	ap := netip.MustParseAddrPort(strings.TrimSuffix(strings.TrimPrefix(ts.udp4, "udp://"), "/announce"))
	h := hashN(6)
	ts.srv.AddPeer(h, netip.MustParseAddrPort("10.6.6.6:6"), true)
	c := &Client{UDPTimeout: 5 * time.Second}
	defer c.Close()
	c.Resolver = fakeResolver{"half.test": {netip.MustParseAddr("::1"), netip.MustParseAddr("127.0.0.1")}}
	start := time.Now()
	r, err := c.Announce(ctxT(t, 10*time.Second), fmt.Sprintf("udp://half.test:%d", ap.Port()), AnnounceRequest{InfoHash: h, Left: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Peers) != 1 {
		t.Errorf("peers %v", r.Peers)
	}
	if d := time.Since(start); d > familyGrace+2*time.Second {
		t.Errorf("took %v: the dead IPv6 path held the IPv4 answer back", d)
	}
}

func TestHTTPS(t *testing.T) {
	srv := &Server{}
	srv.AddPeer(hashN(1), netip.MustParseAddrPort("192.0.2.9:9"), true)
	hs := httptest.NewTLSServer(srv)
	defer hs.Close()
	c := newTestClient(t)
	c.HTTP = hs.Client() // trusts the test certificate
	r, err := c.Announce(ctxT(t, 5*time.Second), hs.URL+"/announce", AnnounceRequest{InfoHash: hashN(1), Left: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Peers) != 1 {
		t.Errorf("peers %v", r.Peers)
	}
	// Our own client does not trust it: a clear TLS error, not a panic.
	c2 := newTestClient(t)
	if _, err := c2.Announce(ctxT(t, 5*time.Second), hs.URL+"/announce", AnnounceRequest{InfoHash: hashN(1), Left: 1}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate: %v", err)
	}
}

func TestHTTPEveryAddress(t *testing.T) {
	// The first address refuses, the second answers: the announce works.
	ts := startServer(t)
	port := ts.http[strings.LastIndexByte(ts.http, ':')+1 : strings.LastIndexByte(ts.http, '/')]
	c := newTestClient(t)
	c.Resolver = fakeResolver{"multi.test": {netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.1")}}
	if _, err := c.Announce(ctxT(t, 5*time.Second), "http://multi.test:"+port+"/announce", AnnounceRequest{InfoHash: hashN(1), Left: 1}); err != nil {
		t.Fatal(err)
	}
	// Both refuse: the error is ErrRefused. (A new Client: the first keeps
	// its connection alive.)
	c = newTestClient(t)
	c.Resolver = fakeResolver{"multi.test": {netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")}}
	if err := announceErr(t, c, "http://multi.test:"+port+"/announce", 2*time.Second); !errors.Is(err, ErrRefused) {
		t.Errorf("error %v, want ErrRefused", err)
	}
}
