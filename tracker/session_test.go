package tracker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peerfind/peerfind/metainfo"
)

func TestDedupeTiers(t *testing.T) {
	tests := []struct {
		name string
		in   [][]string
		want [][]string
	}{
		{"empty", nil, [][]string{}},
		{"host case, default port, trailing slash",
			[][]string{{"http://T.example:80/announce/", " udp://t.example:6969 "}, {"http://t.example/announce", "HTTP://t.example:80/announce"}},
			[][]string{{"http://T.example:80/announce/", "udp://t.example:6969"}, nil}},
		{"within one tier, blanks", [][]string{{"udp://a:1", "", "udp://A:1/", "udp://b:1"}}, [][]string{{"udp://a:1", "udp://b:1"}}},
		{"passkeys are case-sensitive", [][]string{{"http://t/a/ABC/announce"}, {"http://t/a/abc/announce"}},
			[][]string{{"http://t/a/ABC/announce"}, {"http://t/a/abc/announce"}}},
		{"https default port", [][]string{{"https://t:443/announce"}, {"https://t/announce"}}, [][]string{{"https://t:443/announce"}, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DedupeTiers(tt.in)
			if len(got) != len(tt.want) {
				t.Fatalf("DedupeTiers(%q) = %q, want %q", tt.in, got, tt.want)
			}
			for i := range got {
				if !slices.Equal(got[i], tt.want[i]) {
					t.Errorf("DedupeTiers(%q) = %q, want %q", tt.in, got, tt.want)
				}
			}
		})
	}
}

func TestPolicyText(t *testing.T) {
	for _, p := range []Policy{PolicyAll, PolicyBEP12} {
		var q Policy
		if err := q.UnmarshalText([]byte(p.String())); err != nil || q != p {
			t.Errorf("round trip of %v: %v, %v", p, q, err)
		}
	}
	var q Policy
	if err := q.UnmarshalText([]byte("first")); err == nil {
		t.Error("policy \"first\" accepted")
	}
}

// TestSessionAll announces to three of our servers over HTTP and UDP, with
// one tracker repeated under another spelling: each tracker answers once,
// with `started`; Stop then sends `stopped` to each, and only once.
func TestSessionAll(t *testing.T) {
	var servers []*testServer
	var tiers [][]string
	h := hashN(1)
	for i := range 3 {
		ts := startServer(t)
		ts.srv.AddPeer(h, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 80), true)
		servers = append(servers, ts)
		tiers = append(tiers, []string{ts.udp4, ts.http})
	}
	// A duplicate differing in host case and trailing slash is asked once.
	tiers = append(tiers, []string{"HTTP" + strings.TrimPrefix(servers[0].http, "http") + "/"})
	s := &Session{Announcer: newTestClient(t), Tiers: tiers, InfoHashes: []metainfo.Hash{h, h}, Request: AnnounceRequest{Port: 7000, Left: 1}}
	if got := s.Trackers(); len(got) != 4 || len(got[3]) != 0 {
		t.Errorf("Trackers() = %q, want the repeat left out", got)
	}
	got := map[string]int{}
	err := s.Run(ctxT(t, 5*time.Second), func(r Result, err error) {
		got[r.URL]++
		switch {
		case err != nil:
			t.Errorf("%s: %v", r.URL, err)
		case r.Event != EventStarted || r.InfoHash != h || r.Next != 0:
			t.Errorf("%s: result %+v", r.URL, r)
		case !slices.ContainsFunc(r.Response.Peers, func(p netip.AddrPort) bool { return p.Port() == 80 }): // the server's own peer
			t.Errorf("%s: peers %v", r.URL, r.Response.Peers)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 {
		t.Errorf("results %v, want one from each of 6 trackers", got)
	}
	for u, n := range got {
		if n != 1 {
			t.Errorf("%s answered %d times", u, n)
		}
	}
	stopped := map[string]int{}
	for range 2 {
		s.Stop(ctxT(t, 5*time.Second), func(r Result, err error) {
			if err != nil || r.Event != EventStopped {
				t.Errorf("%s: %v %v", r.URL, r.Event, err)
			}
			stopped[r.URL]++
		})
	}
	if len(stopped) != 6 {
		t.Errorf("stopped %v, want every tracker once", stopped)
	}
	for _, ts := range servers {
		if n := len(ts.srv.Peers(h)); n != 1 {
			t.Errorf("after Stop the server lists %d peers, want 1", n)
		}
	}
	if err := s.Run(ctxT(t, 5*time.Second), nil); !errors.Is(err, ErrSessionStopped) {
		t.Errorf("Run after Stop: %v, want ErrSessionStopped", err)
	}
}

// TestSessionBEP12 walks the tiers in order: a dead first tier, then a
// tier of a dead and a live tracker, then a live tier never reached. The
// first Run ends at the live tracker of tier 1, which is then first in its
// tier, so the second Run asks it before the dead one.
func TestSessionBEP12(t *testing.T) {
	live := startServer(t)
	dead := deadUDP(t)
	tiers := [][]string{{dead}, {dead + "/x", live.udp4}, {live.http}}
	s := &Session{Announcer: newTestClient(t), Tiers: tiers, InfoHashes: []metainfo.Hash{hashN(2)}, Request: AnnounceRequest{Left: 1}, Policy: PolicyBEP12}
	for run := range 2 {
		var urls []string
		var tiersSeen []int
		err := s.Run(ctxT(t, 10*time.Second), func(r Result, err error) {
			urls = append(urls, r.URL)
			tiersSeen = append(tiersSeen, r.Tier)
			if err != nil && !errors.Is(err, ErrTimeout) {
				t.Errorf("%s: %v, want a timeout", r.URL, err)
			}
			if (err == nil) != (r.URL == live.udp4) {
				t.Errorf("%s: error %v", r.URL, err)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.IsSorted(tiersSeen) {
			t.Errorf("run %d: tiers asked in the order %v", run, tiersSeen)
		}
		if urls[len(urls)-1] != live.udp4 || len(urls) > 3 {
			t.Errorf("run %d: asked %v; want to end at the first live tracker %s", run, urls, live.udp4)
		}
		if run == 1 && !slices.Equal(urls, []string{dead, live.udp4}) {
			t.Errorf("run 1: asked %v; want the promoted %s right after the first tier", urls, live.udp4)
		}
	}
	if o := s.order.tier(1); o[0] != live.udp4 {
		t.Errorf("tier order %v: want %s first", o, live.udp4)
	}
}

// TestSessionConcurrencyBound announces to 8 trackers through an HTTP
// server that holds each request until the test releases it: no more than
// MaxConcurrent are ever in flight, and that many are.
func TestSessionConcurrencyBound(t *testing.T) {
	const trackers, limit = 8, 3
	var mu sync.Mutex
	inFlight, most := 0, 0
	arrived := make(chan struct{})
	release := make(chan struct{})
	srv := &Server{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		select {
		case arrived <- struct{}{}:
		case <-r.Context().Done():
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		mu.Lock()
		inFlight--
		mu.Unlock()
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	var tier []string
	for i := range trackers {
		tier = append(tier, fmt.Sprintf("%s/%d/announce", hs.URL, i))
	}
	s := &Session{Announcer: newTestClient(t), Tiers: [][]string{tier}, InfoHashes: []metainfo.Hash{hashN(3)}, MaxConcurrent: limit}
	n := 0
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctxT(t, 20*time.Second), func(_ Result, err error) {
			if err != nil {
				t.Error(err)
			}
			n++
		})
	}()
	for range limit { // limit requests must be in flight together
		<-arrived
	}
	for range trackers - limit { // then each released one lets one more in
		release <- struct{}{}
		<-arrived
	}
	for range limit {
		release <- struct{}{}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if most != limit || n != trackers {
		t.Errorf("%d results, at most %d in flight; want %d and %d", n, most, trackers, limit)
	}
}

// TestSessionStopHangs has a hostile tracker that answers `started` and
// never answers `stopped`, beside a good one. Stop must return at its
// deadline with the hostile tracker's timeout, and the good tracker must
// have been told in parallel.
func TestSessionStopHangs(t *testing.T) {
	good := startServer(t)
	var mu sync.Mutex
	hung := 0
	srv := &Server{}
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("event") == "stopped" {
			mu.Lock()
			hung++
			mu.Unlock()
			<-r.Context().Done() // until the client gives up
			return
		}
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(hostile.Close)
	h := hashN(4)
	s := &Session{
		Announcer: newTestClient(t), Tiers: [][]string{{hostile.URL + "/announce"}, {good.http}},
		InfoHashes: []metainfo.Hash{h}, StopTimeout: 200 * time.Millisecond,
	}
	if err := s.Run(ctxT(t, 5*time.Second), func(r Result, err error) {
		if err != nil {
			t.Error(err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	errs := map[string]error{}
	done := make(chan struct{})
	go func() {
		// Stop's own deadline, not ctx, must end it.
		s.Stop(context.Background(), func(r Result, err error) { errs[r.URL] = err })
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Stop did not return: the hung tracker held it")
	}
	if err := errs[hostile.URL+"/announce"]; !errors.Is(err, ErrTimeout) {
		t.Errorf("hung tracker: %v, want ErrTimeout", err)
	}
	if err, ok := errs[good.http]; !ok || err != nil {
		t.Errorf("good tracker: told %v, %v", ok, err)
	}
	if n := len(good.srv.Peers(h)); n != 0 {
		t.Errorf("the good tracker still lists %d peers", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if hung != 1 {
		t.Errorf("%d stopped announces reached the hostile tracker, want 1", hung)
	}
}

func TestNextAnnounce(t *testing.T) {
	tests := []struct{ interval, min, def, want time.Duration }{
		{30 * time.Minute, 0, time.Hour, 30 * time.Minute},
		{0, 0, time.Hour, time.Hour},
		{10 * time.Minute, 15 * time.Minute, time.Hour, 15 * time.Minute},
		{0, 2 * time.Hour, time.Hour, 2 * time.Hour},
	}
	for _, tt := range tests {
		if got := nextAnnounce(tt.interval, tt.min, tt.def); got != tt.want {
			t.Errorf("nextAnnounce(%v, %v, %v) = %v, want %v", tt.interval, tt.min, tt.def, got, tt.want)
		}
	}
}
