package peerwire

import (
	"bufio"
	"context"
	"crypto/sha1"
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/peerfind/peerfind/bencode"
	"github.com/peerfind/peerfind/metainfo"
)

// fakePeer is a scripted peer on 127.0.0.1:0: script runs on each accepted
// connection (in its own goroutine, which owns that socket), and the test's
// cleanup closes the listener and waits for the scripts.
type fakePeer struct {
	ln   net.Listener
	addr netip.AddrPort
	done chan struct{}
}

func startPeer(t testing.TB, script func(c net.Conn, r *bufio.Reader)) *fakePeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &fakePeer{ln: ln, addr: netip.MustParseAddrPort(ln.Addr().String()), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		var conns []net.Conn
		fin := make(chan struct{}, 64)
		for {
			c, err := ln.Accept()
			if err != nil {
				break
			}
			conns = append(conns, c)
			go func() {
				defer func() { fin <- struct{}{} }()
				script(c, bufio.NewReader(c))
			}()
		}
		for _, c := range conns {
			c.Close()
		}
		for range conns {
			<-fin
		}
	}()
	t.Cleanup(func() { ln.Close(); <-p.done })
	return p
}

var (
	testHash   = metainfo.Hash{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}
	testPeerID = [20]byte([]byte("-LT2080-abcdefghijkl"))
)

// readPeerHandshake reads the 68 bytes of the dialer's handshake.
func readPeerHandshake(r io.Reader) (handshake, error) {
	var b [handshakeLen]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return handshake{}, err
	}
	return parseHandshake(b[:])
}

// answerHandshake reads the dialer's handshake and answers it for ih with
// the extension and fast bits set.
func answerHandshake(c net.Conn, r io.Reader, ih metainfo.Hash) bool {
	if _, err := readPeerHandshake(r); err != nil {
		return false
	}
	var h handshake
	h.Reserved[reservedExtension] |= bitExtension
	h.Reserved[reservedFlags] |= bitFast | bitDHT
	h.InfoHash, h.PeerID = ih, testPeerID
	_, err := c.Write(appendHandshake(nil, h))
	return err == nil
}

// readExtHandshake reads the dialer's messages up to its extension
// handshake.
func readExtHandshake(r io.Reader) (*ExtHandshake, bool) {
	for {
		m, err := readMessage(r, 1<<20)
		if err != nil {
			return nil, false
		}
		if m.ID == msgExtended && len(m.Payload) > 0 && m.Payload[0] == 0 {
			e, err := parseExtHandshake(m.Payload[1:])
			return e, err == nil
		}
	}
}

// extPayload bencodes an extension handshake dictionary.
func extPayload(t testing.TB, d map[string]any) []byte {
	b, err := bencode.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testInfo is an info dictionary of two metadata pieces and a bit.
func testInfo() []byte {
	pieces := make([]byte, 20*1700)
	for i := range pieces {
		pieces[i] = byte(i * 7)
	}
	b, _ := bencode.Marshal(map[string]any{"name": "x", "piece length": 16384, "length": 1700 * 16384, "pieces": pieces})
	return b
}

// servePeer plays a well-behaved seed: handshake, extension handshake,
// have_all, one ut_pex message, and ut_metadata answers from info (or
// answers altered by bad, given the piece asked and the correct data).
func servePeer(t testing.TB, info []byte, ih metainfo.Hash, pex *PEX, bad func(piece int, data []byte) []byte) func(net.Conn, *bufio.Reader) {
	return func(c net.Conn, r *bufio.Reader) {
		if !answerHandshake(c, r, ih) {
			return
		}
		ours, ok := readExtHandshake(r)
		if !ok {
			return
		}
		var out []byte
		out = appendExtended(out, 0, extPayload(t, map[string]any{
			"m": map[string]any{"ut_pex": 3, "ut_metadata": 4, "lt_donthave": 7}, "v": "Test 1.0", "p": 6881,
			"yourip": []byte{127, 0, 0, 1}, "reqq": 250, "metadata_size": len(info)}))
		out = appendMessage(out, msgHaveAll, nil)
		if pex != nil {
			out = appendExtended(out, byte(ours.M["ut_pex"]), appendPEX(nil, pex))
		}
		if _, err := c.Write(out); err != nil {
			return
		}
		ourMeta := ours.M["ut_metadata"]
		for {
			m, err := readMessage(r, 1<<20)
			if err != nil {
				return
			}
			if m.ID != msgExtended || len(m.Payload) == 0 {
				continue
			}
			if m.Payload[0] != 4 {
				continue
			}
			mm, err := parseMetadataMsg(m.Payload[1:])
			if err != nil || mm.Type != metaRequest {
				continue
			}
			end := min(len(info), (mm.Piece+1)*metadataPieceSize)
			data := info[mm.Piece*metadataPieceSize : end]
			reply := metadataMsg{Type: metaData, Piece: mm.Piece, TotalSize: int64(len(info)), Data: data}
			if bad != nil {
				d := bad(mm.Piece, data)
				if d == nil {
					reply = metadataMsg{Type: metaReject, Piece: mm.Piece}
				} else {
					reply.Data = d
				}
			}
			if _, err := c.Write(appendExtended(nil, byte(ourMeta), appendMetadataMsg(nil, reply))); err != nil {
				return
			}
		}
	}
}

func TestDialSeed(t *testing.T) {
	info := testInfo()
	ih := metainfo.Hash(sha1.Sum(info))
	pex := &PEX{Added: []PEXPeer{{netip.MustParseAddrPort("127.0.0.9:7000"), PEXSeed | PEXReachable}, {netip.MustParseAddrPort("[::1]:7001"), 0}},
		Dropped: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.10:7002")}}
	p := startPeer(t, servePeer(t, info, ih, pex, nil))
	ctx := context.Background()
	c, err := Dial(ctx, p.addr, ih, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.PeerID != testPeerID || c.Client() != "libtorrent 2.0.8" {
		t.Errorf("peer id %q, client %q", c.PeerID, c.Client())
	}
	if !c.Pieces.Known || !c.Pieces.All || c.Pieces.Share() != 1 {
		t.Errorf("pieces %+v, want a seed", c.Pieces)
	}
	if c.Ext == nil {
		t.Fatal("no extension handshake")
	}
	if c.Ext.V != "Test 1.0" || c.Ext.P != 6881 || c.Ext.Reqq != 250 || c.Ext.MetadataSize != int64(len(info)) ||
		c.Ext.YourIP != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("extension handshake %+v", c.Ext)
	}
	want := []string{"extensions", "fast", "dht", "lt_donthave", "ut_metadata", "ut_pex"}
	if got := c.Extensions(); !equal(got, want) {
		t.Errorf("extensions %q, want %q", got, want)
	}
	got, err := c.ReadPEX(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Added) != 2 || got.Added[0] != pex.Added[0] || got.Added[1] != pex.Added[1] || len(got.Dropped) != 1 || got.Dropped[0] != pex.Dropped[0] {
		t.Errorf("pex %+v, want %+v", got, pex)
	}
	meta, err := c.Metadata(ctx, metainfo.HashV2{})
	if err != nil {
		t.Fatal(err)
	}
	if string(meta) != string(info) {
		t.Errorf("metadata of %d bytes differs from the %d-byte info", len(meta), len(info))
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
