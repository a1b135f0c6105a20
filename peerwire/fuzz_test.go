package peerwire

import (
	"bytes"
	"context"
	"crypto/sha1"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/peerfind/peerfind/metainfo"
)

// Fuzz targets for every parser of what a peer sends. Seeds are the
// messages of the tests above (shaped like libtorrent's and Transmission's)
// and a few malformed ones.

func FuzzParseHandshake(f *testing.F) {
	h := handshake{InfoHash: testHash, PeerID: testPeerID}
	f.Add(appendHandshake(nil, h))
	f.Add([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHandshake(b)
		if err == nil && !bytes.Equal(appendHandshake(nil, h), b) {
			t.Fatalf("round trip: %x", b)
		}
	})
}

func FuzzReadMessage(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0})
	f.Add(appendMessage(nil, msgBitfield, []byte{0xff, 0xc0}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		for range 64 {
			m, err := readMessage(r, 1<<16)
			if err != nil {
				return
			}
			if !m.KeepAlive {
				bitfieldCount(m.Payload, 0)
				bitfieldCount(m.Payload, 13)
			}
		}
	})
}

func FuzzParseExtHandshake(f *testing.F) {
	f.Add([]byte("d12:complete_agoi-1e1:md11:lt_donthavei7e11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei1342e4:reqqi500e11:upload_onlyi1e1:v18:libtorrent/2.0.8.06:yourip4:\x7f\x00\x00\x01e"))
	f.Add([]byte("d1:ei0e4:ipv416:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x7f\x00\x00\x011:md6:ut_pexi1e11:ut_metadatai3ee13:metadata_sizei4000e1:pi51413e4:reqqi512e1:v17:Transmission 3.006:yourip4:\x7f\x00\x00\x01e"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := parseExtHandshake(b)
		if err != nil {
			return
		}
		for k, v := range e.M {
			if v <= 0 || v > 255 || len(k) > 64 {
				t.Fatalf("m[%q] = %d kept", k, v)
			}
		}
		if len(e.V) > 64 {
			t.Fatalf("v of %d bytes kept", len(e.V))
		}
	})
}

func FuzzParsePEX(f *testing.F) {
	f.Add(appendPEX(nil, &PEX{Added: []PEXPeer{{netip.MustParseAddrPort("10.0.0.1:6881"), PEXSeed}, {netip.MustParseAddrPort("[2001:db8::1]:51413"), 0}},
		Dropped: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.2:6882")}}))
	f.Add([]byte("d5:added5:12345e"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parsePEX(b)
		if err != nil {
			return
		}
		if len(p.Added) > 2*maxPEXEntries || len(p.Dropped) > 2*maxPEXEntries {
			t.Fatalf("%d added, %d dropped kept", len(p.Added), len(p.Dropped))
		}
	})
}

func FuzzParseMetadataMsg(f *testing.F) {
	f.Add([]byte("d8:msg_typei1e5:piecei2e10:total_sizei34000eexyz"))
	f.Add([]byte("d8:msg_typei2e5:piecei1ee"))
	f.Add([]byte("d8:msg_typei0e5:piecei0ee"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMetadataMsg(b)
		if err != nil {
			return
		}
		if m.Piece < 0 || len(m.Data) > len(b) {
			t.Fatalf("%+v from %d bytes", m, len(b))
		}
	})
}

func FuzzClient(f *testing.F) {
	for _, s := range []string{"-LT2080-abcdefghijkl", "-TR3000-abcdefghijkl", "A2-1-36-0-abcdefghij", "M7-4-3--abcdefghijkl"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var id [20]byte
		copy(id[:], b)
		Client(id)
	})
}

// FuzzConn plays a peer whose whole side of the conversation is the fuzz
// input, through the handshake, the opening messages, ut_pex and
// ut_metadata: nothing it sends may panic or hang the connection past its
// deadline.
func FuzzConn(f *testing.F) {
	info := testInfo()[:100]
	ih := metainfo.Hash(sha1.Sum(info))
	var h handshake
	h.Reserved[reservedExtension] = bitExtension
	h.Reserved[reservedFlags] = bitFast
	h.InfoHash = ih
	seed := appendHandshake(nil, h)
	seed = appendExtended(seed, 0, []byte("d1:md6:ut_pexi3e11:ut_metadatai4ee13:metadata_sizei100ee"))
	seed = appendMessage(seed, msgHaveAll, nil)
	seed = appendExtended(seed, ourPEXID, appendPEX(nil, &PEX{Added: []PEXPeer{{netip.MustParseAddrPort("10.0.0.1:6881"), 0}}}))
	seed = appendExtended(seed, ourMetadataID, appendMetadataMsg(nil, metadataMsg{Type: metaData, TotalSize: 100, Data: info}))
	f.Add(seed)
	f.Add(appendMessage(appendHandshake(nil, h), msgBitfield, []byte{0xff}))
	f.Fuzz(func(t *testing.T, b []byte) {
		ours, theirs := net.Pipe()
		go io.Copy(io.Discard, theirs)
		go func() {
			theirs.Write(b)
			theirs.Close()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c, err := newConn(ctx, ours, netip.MustParseAddrPort("127.0.0.1:1"), ih, &Config{OpenWait: 100 * time.Millisecond, MaxMessage: 1 << 16, MaxMetadataSize: 1 << 16})
		if err != nil {
			return
		}
		defer c.Close()
		c.ReadPEX(ctx)
		c.Metadata(ctx, metainfo.HashV2{})
	})
}
