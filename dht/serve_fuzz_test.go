package dht

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// discardConn is a PacketConn whose writes vanish and whose reads block
// until Close: it lets a fuzz target drive handlePacket directly.
type discardConn struct {
	once   sync.Once
	closed chan struct{}
}

func newDiscardConn() *discardConn { return &discardConn{closed: make(chan struct{})} }

func (c *discardConn) ReadFrom(b []byte) (int, net.Addr, error) {
	<-c.closed
	return 0, nil, net.ErrClosed
}
func (c *discardConn) WriteTo(b []byte, a net.Addr) (int, error) { return len(b), nil }
func (c *discardConn) Close() error                              { c.once.Do(func() { close(c.closed) }); return nil }
func (c *discardConn) LocalAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 6881}
}
func (c *discardConn) SetDeadline(time.Time) error      { return nil }
func (c *discardConn) SetReadDeadline(time.Time) error  { return nil }
func (c *discardConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzServe feeds arbitrary datagrams to a node's packet handler, the
// code every stranger on the Internet can reach: it must never panic and
// its store and tables must stay within their bounds.
func FuzzServe(f *testing.F) {
	// The query examples of BEP 5, one with BEP 32's "want" and one
	// read-only (BEP 43); the captured packets of the krpc tests follow.
	for _, q := range []string{
		"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe",
		"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz1234564:wantl2:n42:n6ee1:q9:find_node1:t2:aa1:y1:qe",
		"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe",
		"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer2:roi1e1:t2:aa1:y1:qe",
	} {
		f.Add([]byte(q))
	}
	seeds, _ := filepath.Glob("internal/krpc/testdata/krpc/*.bin")
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	cfg := testConfig(1)
	cfg.ReplyRate = -1
	cfg.MaxStoredPeers = 100
	cfg.Conn4 = newDiscardConn()
	n, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	defer n.Close()
	s := n.socks[0]
	// Announces need a valid token, which the fuzzer cannot guess: hand it
	// the token of its source address through a seed.
	from := netip.MustParseAddrPort("127.0.0.2:1000")
	tok := n.tokens.issue(from.Addr())
	f.Add([]byte("d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti1e5:token8:" + tok + "e1:q13:announce_peer1:t2:aa1:y1:qe"))
	// BEP 33: a seed's announce, then a scrape with noseed of that swarm.
	f.Add([]byte("d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti1e4:seedi1e5:token8:" + tok + "e1:q13:announce_peer1:t2:aa1:y1:qe"))
	f.Add([]byte("d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234566:noseedi1e6:scrapei1ee1:q9:get_peers1:t2:aa1:y1:qe"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n.handlePacket(s, from, b)
		if p, _ := n.store.len(); p > 100 {
			t.Fatalf("store holds %d peers, cap 100", p)
		}
	})
}
