package tracker

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peerfind/peerfind/metainfo"
)

// testServer is our Server on loopback: HTTP on 127.0.0.1, UDP on
// 127.0.0.1 and (when available) ::1.
type testServer struct {
	srv                *Server
	http, udp4, udp6   string
	http6              string
	udpConn4, udpConn6 net.PacketConn
}

func startServer(t *testing.T) *testServer {
	t.Helper()
	ts := &testServer{srv: &Server{Interval: 10 * time.Minute}}
	hs := httptest.NewServer(ts.srv)
	t.Cleanup(hs.Close)
	ts.http = hs.URL + "/announce"
	if l6, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		hs6 := httptest.NewUnstartedServer(ts.srv)
		hs6.Listener.Close()
		hs6.Listener = l6
		hs6.Start()
		t.Cleanup(hs6.Close)
		ts.http6 = hs6.URL + "/announce"
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	n := 0
	pc4, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.udpConn4 = pc4
	ts.udp4 = fmt.Sprintf("udp://%s/announce", pc4.LocalAddr())
	n++
	go func() { ts.srv.ServeUDP(ctx, pc4); done <- struct{}{} }()
	if pc6, err := net.ListenPacket("udp6", "[::1]:0"); err == nil {
		ts.udpConn6 = pc6
		ts.udp6 = fmt.Sprintf("udp://%s/announce", pc6.LocalAddr())
		n++
		go func() { ts.srv.ServeUDP(ctx, pc6); done <- struct{}{} }()
	}
	t.Cleanup(func() {
		cancel()
		for range n {
			<-done
		}
		pc4.Close()
		if ts.udpConn6 != nil {
			ts.udpConn6.Close()
		}
	})
	return ts
}

func newTestClient(t *testing.T) *Client {
	t.Helper()
	c := &Client{UDPTimeout: 200 * time.Millisecond, UDPRetries: 1}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func hashN(n byte) metainfo.Hash {
	var h metainfo.Hash
	for i := range h {
		h[i] = n + byte(i)
	}
	return h
}

func TestClientServer(t *testing.T) {
	ts := startServer(t)
	urls := map[string]string{"http": ts.http, "udp4": ts.udp4}
	if ts.udp6 != "" {
		urls["udp6"] = ts.udp6
	}
	if ts.http6 != "" {
		urls["http6"] = ts.http6
	}
	for name, u := range urls {
		t.Run(name, func(t *testing.T) {
			c := newTestClient(t)
			h := hashN(map[string]byte{"http": 10, "udp4": 20, "udp6": 30, "http6": 40}[name])
			v4 := netip.MustParseAddrPort("10.0.0.1:1000")
			v6 := netip.MustParseAddrPort("[2001:db8::1]:2000")
			ts.srv.AddPeer(h, v4, true)
			ts.srv.AddPeer(h, v6, false)
			r, err := c.Announce(ctxT(t, 5*time.Second), u, AnnounceRequest{InfoHash: h, Port: 7000, Left: 100, Event: EventStarted})
			if err != nil {
				t.Fatal(err)
			}
			var want []netip.AddrPort
			switch name {
			case "http", "http6":
				want = []netip.AddrPort{v4, v6}
			case "udp4":
				want = []netip.AddrPort{v4}
			case "udp6":
				want = []netip.AddrPort{v6}
			}
			got := slices.Clone(r.Peers)
			slices.SortFunc(got, netip.AddrPort.Compare)
			if !slices.Equal(got, want) {
				t.Errorf("peers = %v, want %v", got, want)
			}
			if r.Interval != 10*time.Minute {
				t.Errorf("interval = %v", r.Interval)
			}
			if r.Seeders != 1 || r.Leechers != 2 {
				t.Errorf("seeders, leechers = %d, %d; want 1, 2", r.Seeders, r.Leechers)
			}
			// We are listed now, at our own address and announced port.
			me := slices.IndexFunc(ts.srv.Peers(h), func(p netip.AddrPort) bool { return p.Port() == 7000 })
			if me < 0 {
				t.Fatalf("server does not list us: %v", ts.srv.Peers(h))
			}
			st, err := c.Scrape(ctxT(t, 5*time.Second), u, h, hashN(200))
			if err != nil {
				t.Fatal(err)
			}
			if got := st[h]; got != (ScrapeStats{Seeders: 1, Leechers: 2}) {
				t.Errorf("scrape = %+v", got)
			}
			if got := st[hashN(200)]; got != (ScrapeStats{}) {
				t.Errorf("scrape of unknown swarm = %+v", got)
			}
			// Close only closes sockets (leaving is Session.Stop's job):
			// we are still listed.
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if n := len(ts.srv.Peers(h)); n != 3 {
				t.Errorf("after Close the swarm has %d peers, want 3 (Close sent something?)", n)
			}
		})
	}
}

func TestClientServerCompleted(t *testing.T) {
	ts := startServer(t)
	c := newTestClient(t)
	h := hashN(9)
	for _, u := range []string{ts.http, ts.udp4} {
		if _, err := c.Announce(ctxT(t, 5*time.Second), u, AnnounceRequest{InfoHash: h, Port: 1, Left: 10, Event: EventStarted}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Announce(ctxT(t, 5*time.Second), ts.udp4, AnnounceRequest{InfoHash: h, Port: 1, Left: 0, Event: EventCompleted}); err != nil {
		t.Fatal(err)
	}
	st, err := c.Scrape(ctxT(t, 5*time.Second), ts.http, h)
	if err != nil {
		t.Fatal(err)
	}
	// HTTP and UDP from 127.0.0.1 port 1 are the same peer.
	if want := (ScrapeStats{Seeders: 1, Completed: 1}); st[h] != want {
		t.Errorf("scrape = %+v, want %+v", st[h], want)
	}
}

func TestHTTPDictPeers(t *testing.T) {
	ts := startServer(t)
	h := hashN(3)
	ts.srv.AddPeer(h, netip.MustParseAddrPort("10.1.2.3:4"), false)
	ts.srv.AddPeer(h, netip.MustParseAddrPort("[2001:db8::2]:5"), false)
	// compact=0 selects the BEP 3 dictionary list; the client must read it.
	c := newTestClient(t)
	c.HTTP = &http.Client{Transport: rewriteQuery{"compact=1", "compact=0"}}
	r, err := c.Announce(ctxT(t, 5*time.Second), ts.http, AnnounceRequest{InfoHash: h, Port: 9, Left: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Peers) != 2 {
		t.Errorf("peers = %v, want 2", r.Peers)
	}
}

// rewriteQuery is an http.RoundTripper replacing text in the query.
type rewriteQuery struct{ old, new string }

func (rq rewriteQuery) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	u := *r.URL
	u.RawQuery = strings.ReplaceAll(u.RawQuery, rq.old, rq.new)
	r.URL = &u
	return http.DefaultTransport.RoundTrip(r)
}

func TestTwoTrackersOneHost(t *testing.T) {
	// Two UDP trackers on one IP, different ports: each must get its own
	// connection id (docs/interop.md: libtorrent keys them by IP alone).
	a, b := startServer(t), startServer(t)
	c := newTestClient(t)
	h := hashN(4)
	for range 2 {
		for _, u := range []string{a.udp4, b.udp4} {
			if _, err := c.Announce(ctxT(t, 5*time.Second), u, AnnounceRequest{InfoHash: h, Port: 5, Left: 1}); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.connMu.Lock()
	n := len(c.connIDs)
	c.connMu.Unlock()
	if n != 2 {
		t.Errorf("%d cached connection ids, want 2", n)
	}
}

// deadUDP returns the URL of a UDP socket that reads and never answers.
func deadUDP(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return "udp://" + pc.LocalAddr().String()
}

func TestScrapeManyHashes(t *testing.T) {
	// 100 hashes: two UDP packets (BEP 15 fits about 74), one HTTP request.
	ts := startServer(t)
	var hashes []metainfo.Hash
	for i := range 100 {
		h := hashN(byte(i))
		hashes = append(hashes, h)
		for j := range i % 3 {
			ts.srv.AddPeer(h, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(j)}), 1), true)
		}
	}
	c := newTestClient(t)
	for _, u := range []string{ts.udp4, ts.http} {
		m, err := c.Scrape(ctxT(t, 5*time.Second), u, hashes...)
		if err != nil {
			t.Fatal(err)
		}
		if len(m) != 100 {
			t.Errorf("%s: %d swarms, want 100", u, len(m))
		}
		for i, h := range hashes {
			if m[h].Seeders != i%3 {
				t.Errorf("%s: swarm %d has %d seeders, want %d", u, i, m[h].Seeders, i%3)
				break
			}
		}
	}
}
