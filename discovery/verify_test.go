package discovery

import (
	"context"
	"crypto/sha1"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/peerfind/peerfind/bencode"
	"github.com/peerfind/peerfind/metainfo"
)

// wirePeer is a scripted BitTorrent peer on a loopback address: it answers
// the handshake for hash, sends an extension handshake with metadata_size
// and have_all (a seed) or have_none (a leecher), one ut_pex message naming
// pex, and serves info over ut_metadata (corrupted if bad).
type wirePeer struct {
	hash metainfo.Hash
	seed bool
	pex  []netip.AddrPort
	info []byte
	bad  bool
}

func startWirePeer(t *testing.T, ip string, p wirePeer) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.serve(c) // one connection at a time: the tests need no more
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return netip.MustParseAddrPort(ln.Addr().String())
}

func wireMsg(id byte, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(1+len(payload)))
	return append(append(b, id), payload...)
}

func extMsg(ext byte, v any) []byte {
	b, err := bencode.Marshal(v)
	if err != nil {
		panic(err)
	}
	return wireMsg(20, append([]byte{ext}, b...))
}

func (p wirePeer) serve(c net.Conn) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var hs [68]byte
	if _, err := io.ReadFull(c, hs[:]); err != nil {
		return
	}
	out := append([]byte("\x13BitTorrent protocol"), 0, 0, 0, 0, 0, 0x10, 0, 0x04)
	out = append(out, p.hash[:]...)
	out = append(out, "-TR3000-000000000000"...)
	out = append(out, extMsg(0, map[string]any{"m": map[string]any{"ut_pex": 1, "ut_metadata": 2}, "v": "Transmission 3.00", "metadata_size": len(p.info)})...)
	if p.seed {
		out = append(out, wireMsg(0x0e, nil)...)
	} else {
		out = append(out, wireMsg(0x0f, nil)...)
	}
	if _, err := c.Write(out); err != nil {
		return
	}
	// Our ut_pex and ut_metadata ids are in the dialer's extension
	// handshake; peerwire uses 1 for ut_metadata and 2 for ut_pex.
	sentPEX := false
	for {
		var lb [4]byte
		if _, err := io.ReadFull(c, lb[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(lb[:])
		if n > 1<<20 {
			return
		}
		m := make([]byte, n)
		if _, err := io.ReadFull(c, m); err != nil {
			return
		}
		if n >= 2 && m[0] == 20 && m[1] == 0 && !sentPEX && len(p.pex) > 0 {
			sentPEX = true
			var added []byte
			for _, a := range p.pex {
				v := a.Addr().As4()
				added = binary.BigEndian.AppendUint16(append(added, v[:]...), a.Port())
			}
			c.Write(extMsg(2, map[string]any{"added": added, "added.f": make([]byte, len(p.pex))}))
		}
		if n >= 2 && m[0] == 20 && m[1] == 2 {
			var req struct {
				Piece int `bencode:"piece"`
			}
			bencode.Unmarshal(m[2:], &req)
			data := p.info[req.Piece*16384 : min(len(p.info), (req.Piece+1)*16384)]
			if p.bad {
				data = data[1:]
			}
			hdr, _ := bencode.Marshal(map[string]any{"msg_type": 1, "piece": req.Piece, "total_size": len(p.info)})
			c.Write(wireMsg(20, append(append([]byte{1}, hdr...), data...)))
		}
	}
}

// TestVerifyAndPEX: of the magnet's peers, a seed verifies and names a
// leecher in its ut_pex; the leecher, found only that way, is verified in
// turn with the source "pex"; a peer of another swarm and a closed port
// are counted by reason; the search ends complete, its work done.
func TestVerifyAndPEX(t *testing.T) {
	info := []byte("d6:lengthi1e4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae")
	ih := metainfo.Hash(sha1.Sum(info))
	leecher := startWirePeer(t, "127.0.0.2", wirePeer{hash: ih, info: info})
	seed := startWirePeer(t, "127.0.0.1", wirePeer{hash: ih, seed: true, pex: []netip.AddrPort{leecher}, info: info})
	other := startWirePeer(t, "127.0.0.1", wirePeer{hash: metainfo.Hash{9}, seed: true, info: info})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()

	var events []Event
	target := Target{InfoHashes: []metainfo.Hash{ih}, Peers: []netip.AddrPort{seed, other, closed}}
	cfg := &Config{Timeout: 20 * time.Second, Verify: &Verify{PEX: true, PEXWait: 5 * time.Second}}
	sum, err := Find(context.Background(), target, cfg, func(e Event) { events = append(events, e) })
	if err != nil {
		t.Fatal(err)
	}
	if sum.Reason != StopComplete {
		t.Errorf("reason %s, want complete", sum.Reason)
	}
	results := map[netip.AddrPort]*VerifyEvent{}
	var viaPEX *PeerEvent
	for _, e := range events {
		switch e := e.(type) {
		case *VerifyEvent:
			results[e.Peer] = e
		case *PeerEvent:
			if e.Peer == leecher {
				viaPEX = e
			}
		}
	}
	if viaPEX == nil || viaPEX.Source != SourcePEX || viaPEX.Via != seed {
		t.Errorf("leecher's peer event %+v, want source pex via %s", viaPEX, seed)
	}
	want := map[netip.AddrPort]VerifyResult{seed: VerifyOK, leecher: VerifyOK, other: VerifyWrongHash, closed: VerifyRefused}
	for p, r := range want {
		if results[p] == nil || results[p].Result != r {
			t.Errorf("%s: %+v, want %s", p, results[p], r)
		}
	}
	if s := results[seed]; s != nil && (!s.Pieces.All || s.Client != "Transmission 3.00" || !slices.Contains(s.Extensions, "ut_pex")) {
		t.Errorf("seed: %+v", s)
	}
	if l := results[leecher]; l != nil && (l.Pieces.All || !l.Pieces.Known || !slices.Equal(l.Sources, []string{SourcePEX})) {
		t.Errorf("leecher: %+v", l)
	}
	v := sum.Verify
	if v == nil || v.OK() != 2 || v.Seeds != 1 || v.Leechers != 1 || v.Results[VerifyWrongHash] != 1 || v.Results[VerifyRefused] != 1 || v.Unchecked != 0 || v.PEX < 1 {
		t.Errorf("verify summary %+v", v)
	}
	var pexSrc *SourceSummary
	for i := range sum.Sources {
		if sum.Sources[i].Name == SourcePEX {
			pexSrc = &sum.Sources[i]
		}
	}
	if pexSrc == nil || pexSrc.Kind != KindPEX || pexSrc.Peers != 1 || pexSrc.Unique != 1 {
		t.Errorf("pex source %+v", pexSrc)
	}
}

// TestVerifyPrivateNoPEX: a private torrent's peers are verified, but
// their PEX is neither asked for nor used (BEP 27).
func TestVerifyPrivateNoPEX(t *testing.T) {
	info := []byte("d6:lengthi1e4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaa7:privatei1ee")
	ih := metainfo.Hash(sha1.Sum(info))
	leecher := startWirePeer(t, "127.0.0.2", wirePeer{hash: ih, info: info})
	seed := startWirePeer(t, "127.0.0.1", wirePeer{hash: ih, seed: true, pex: []netip.AddrPort{leecher}, info: info})
	target := Target{InfoHashes: []metainfo.Hash{ih}, Peers: []netip.AddrPort{seed}, Private: true}
	sum, err := Find(context.Background(), target, &Config{Verify: &Verify{PEX: true, PEXWait: time.Second}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Peers) != 1 || sum.Verify.OK() != 1 {
		t.Fatalf("peers %+v, verify %+v: want the seed alone", sum.Peers, sum.Verify)
	}
	for _, s := range sum.Sources {
		if s.Kind == KindPEX {
			t.Errorf("a pex source for a private torrent: %+v", s)
		}
	}
}

// TestFetchMetadata: a peer sending a short piece is dropped, and the
// metadata comes from a good one, byte for byte.
func TestFetchMetadata(t *testing.T) {
	info := []byte("d6:lengthi1e4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae")
	ih := metainfo.Hash(sha1.Sum(info))
	bad := startWirePeer(t, "127.0.0.1", wirePeer{hash: ih, seed: true, info: info, bad: true})
	good := startWirePeer(t, "127.0.0.2", wirePeer{hash: ih, seed: true, info: info})
	var failed []netip.AddrPort
	got, sum, err := FetchMetadata(context.Background(), Target{InfoHashes: []metainfo.Hash{ih}, Peers: []netip.AddrPort{bad, good}},
		metainfo.HashV2{}, &Config{Verify: &Verify{MaxConns: 1}}, func(e Event) {
			if m, ok := e.(*MetadataEvent); ok && m.Err != nil {
				failed = append(failed, m.Peer)
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(info) || sum.Reason != StopComplete {
		t.Fatalf("got %q (%s)", got, sum.Reason)
	}
	if !slices.Equal(failed, []netip.AddrPort{bad}) {
		t.Errorf("dropped %v, want the bad peer %s", failed, bad)
	}
}

// TestVerifyHostile: a peer that accepts and never answers, and one that
// answers garbage, end in their own results within Verify.Timeout, and the
// search completes with the good peer verified; --max-peers-style
// MaxPeers counts verified peers.
func TestVerifyHostile(t *testing.T) {
	info := []byte("d6:lengthi1e4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae")
	ih := metainfo.Hash(sha1.Sum(info))
	good := startWirePeer(t, "127.0.0.1", wirePeer{hash: ih, seed: true, info: info})
	var silent, garbage netip.AddrPort
	for i, script := range []func(net.Conn){
		func(c net.Conn) { io.Copy(io.Discard, c) },
		func(c net.Conn) { c.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n")); io.Copy(io.Discard, c) },
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				script(c)
				c.Close()
			}
		}()
		t.Cleanup(func() { ln.Close(); <-done })
		if i == 0 {
			silent = netip.MustParseAddrPort(ln.Addr().String())
		} else {
			garbage = netip.MustParseAddrPort(ln.Addr().String())
		}
	}
	target := Target{InfoHashes: []metainfo.Hash{ih}, Peers: []netip.AddrPort{silent, garbage, good}}
	sum, err := Find(context.Background(), target, &Config{Verify: &Verify{Timeout: 300 * time.Millisecond}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := sum.Verify
	if sum.Reason != StopComplete || v.OK() != 1 || v.Results[VerifyTimeout] != 1 || v.Results[VerifyNotBitTorrent] != 1 {
		t.Errorf("reason %s, verify %+v", sum.Reason, v)
	}

	// MaxPeers 1 with Verify: the search ends at the first verified peer.
	sum, err = Find(context.Background(), target, &Config{MaxPeers: 1, Verify: &Verify{Timeout: 5 * time.Second}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Reason != StopMaxPeers || sum.Verify.OK() != 1 {
		t.Errorf("MaxPeers 1: reason %s, verify %+v", sum.Reason, sum.Verify)
	}
}
