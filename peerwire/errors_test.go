package peerwire

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/peerfind/peerfind/metainfo"
)

// TestDialErrors checks that each way a peer can fail the handshake is
// told apart, as the verifier reports them.
func TestDialErrors(t *testing.T) {
	other := metainfo.Hash{0xee}
	tests := []struct {
		name   string
		script func(c net.Conn, r *bufio.Reader)
		want   error
	}{
		{"wrong info hash", func(c net.Conn, r *bufio.Reader) { answerHandshake(c, r, other); r.ReadByte() }, ErrWrongInfoHash},
		{"http server", func(c net.Conn, r *bufio.Reader) {
			c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
			r.ReadByte()
		}, ErrNotBitTorrent},
		{"closed after our handshake", func(c net.Conn, r *bufio.Reader) { readPeerHandshake(r); c.Close() }, ErrClosed},
		{"closed inside the handshake", func(c net.Conn, r *bufio.Reader) {
			readPeerHandshake(r)
			c.Write([]byte(protocol + "\x00\x00"))
			c.Close()
		}, ErrClosed},
		{"reset", func(c net.Conn, r *bufio.Reader) {
			readPeerHandshake(r)
			c.(*net.TCPConn).SetLinger(0) // close with RST
			c.Close()
		}, ErrReset},
		{"silent", func(c net.Conn, r *bufio.Reader) { r.ReadByte(); r.ReadByte() }, ErrTimeout},
		{"huge length prefix", func(c net.Conn, r *bufio.Reader) {
			answerHandshake(c, r, testHash)
			c.Write([]byte{0xff, 0xff, 0xff, 0xff, msgBitfield})
			r.ReadByte()
		}, ErrTooLarge},
		{"bad extension handshake", func(c net.Conn, r *bufio.Reader) {
			answerHandshake(c, r, testHash)
			c.Write(appendExtended(nil, 0, []byte("d1:m")))
			r.ReadByte()
		}, ErrProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startPeer(t, tt.script)
			_, err := Dial(context.Background(), p.addr, testHash, &Config{Timeout: 500 * time.Millisecond})
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Addr != p.addr {
				t.Errorf("error %v does not name the peer %s", err, p.addr)
			}
		})
	}
}

func TestDialRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	if _, err := Dial(context.Background(), addr, testHash, nil); !errors.Is(err, ErrRefused) {
		t.Fatalf("error %v, want ErrRefused", err)
	}
}

// TestMetadataBadPeers checks that a peer sending wrong metadata is an
// error, each of its own kind, and never accepted.
func TestMetadataBadPeers(t *testing.T) {
	info := testInfo()
	ih := metainfo.Hash(sha1.Sum(info))
	tests := []struct {
		name string
		bad  func(piece int, data []byte) []byte
		want error
	}{
		{"reject", func(int, []byte) []byte { return nil }, ErrMetadataRejected},
		{"short piece", func(_ int, d []byte) []byte { return d[:len(d)-1] }, ErrProtocol},
		{"long piece", func(_ int, d []byte) []byte { return append(append([]byte{}, d...), 0) }, ErrProtocol},
		{"wrong bytes", func(i int, d []byte) []byte {
			d = append([]byte{}, d...)
			if i == 1 {
				d[5] ^= 1
			}
			return d
		}, ErrMetadataHash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startPeer(t, servePeer(t, info, ih, nil, tt.bad))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := Dial(ctx, p.addr, ih, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			meta, err := c.Metadata(ctx, metainfo.HashV2{})
			if !errors.Is(err, tt.want) || meta != nil {
				t.Fatalf("Metadata: %d bytes, error %v; want %v", len(meta), err, tt.want)
			}
		})
	}
}

// TestMetadataV2Mismatch: bytes whose SHA-1 matches but whose SHA-256 is
// not the magnet's v2 hash are refused (BEP 52).
func TestMetadataV2Mismatch(t *testing.T) {
	info := testInfo()
	if err := checkMetadata(info, metainfo.Hash(sha1.Sum(info)), metainfo.HashV2{1}); !errors.Is(err, ErrMetadataHash) {
		t.Fatalf("error %v, want ErrMetadataHash", err)
	}
}

// TestMetadataSizeLimit: a metadata_size over the limit is refused before
// anything is allocated.
func TestMetadataSizeLimit(t *testing.T) {
	info := testInfo()
	ih := metainfo.Hash(sha1.Sum(info))
	p := startPeer(t, servePeer(t, info, ih, nil, nil))
	c, err := Dial(context.Background(), p.addr, ih, &Config{MaxMetadataSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Metadata(context.Background(), metainfo.HashV2{}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("error %v, want ErrTooLarge", err)
	}
}

// hostile are peers that try to stall or exhaust a dialer.
var hostile = map[string]func(c net.Conn, r *bufio.Reader){
	// slowloris: the handshake one byte at a time, slower than any timeout
	"slowloris": func(c net.Conn, r *bufio.Reader) {
		readPeerHandshake(r)
		var h handshake
		h.InfoHash = testHash
		for _, b := range appendHandshake(nil, h) {
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond) // the hostile peer's pace, not a wait for a result
		}
	},
	// an endless bitfield: announces the limit and trickles bytes
	"endless bitfield": func(c net.Conn, r *bufio.Reader) {
		answerHandshake(c, r, testHash)
		c.Write(binary.BigEndian.AppendUint32(nil, DefaultMaxMessage))
		c.Write([]byte{msgBitfield})
		for {
			if _, err := c.Write(make([]byte, 512)); err != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	},
	// a flood of keep-alives and haves that never sends what Dial waits for
	"message flood": func(c net.Conn, r *bufio.Reader) {
		answerHandshake(c, r, testHash)
		msg := appendMessage(make([]byte, 4), msgHave, []byte{0, 0, 0, 1})
		for {
			if _, err := c.Write(msg); err != nil {
				return
			}
		}
	},
	// bitfields, again and again, of the largest size
	"bitfield flood": func(c net.Conn, r *bufio.Reader) {
		answerHandshake(c, r, testHash)
		msg := appendMessage(nil, msgBitfield, make([]byte, DefaultMaxMessage-1))
		for {
			if _, err := c.Write(msg); err != nil {
				return
			}
		}
	},
	"huge length prefix": func(c net.Conn, r *bufio.Reader) {
		answerHandshake(c, r, testHash)
		c.Write([]byte{0x7f, 0xff, 0xff, 0xff})
		r.ReadByte()
	},
}

// TestHostilePeers runs every hostile peer at once beside a good one:
// each hostile Dial ends (with an error, or with what the peer said) within
// its time limit, and the good peer is verified regardless.
func TestHostilePeers(t *testing.T) {
	info := testInfo()
	ih := metainfo.Hash(sha1.Sum(info))
	good := startPeer(t, servePeer(t, info, ih, nil, nil))
	var wg sync.WaitGroup
	cfg := &Config{Timeout: time.Second, OpenWait: 500 * time.Millisecond}
	for name, script := range hostile {
		p := startPeer(t, script)
		for range 3 {
			wg.Go(func() {
				c, err := Dial(context.Background(), p.addr, testHash, cfg)
				if err == nil {
					// The flood ends by the open wait with what the peer
					// said; it must not pass for a seed.
					if c.Pieces.All {
						t.Errorf("%s: taken for a seed: %+v", name, c.Pieces)
					}
					c.Close()
				}
			})
		}
	}
	c, err := Dial(context.Background(), good.addr, ih, cfg)
	if err != nil {
		t.Fatalf("the good peer beside the hostile ones: %v", err)
	}
	c.Close()
	wg.Wait()
}

// TestMetadataAnnouncedSizeCostsNothing: a peer announcing the largest
// metadata_size allowed and then sending nothing costs no buffer of that
// size; the fetch ends with the context.
func TestMetadataAnnouncedSizeCostsNothing(t *testing.T) {
	p := startPeer(t, func(c net.Conn, r *bufio.Reader) {
		if !answerHandshake(c, r, testHash) {
			return
		}
		c.Write(appendExtended(nil, 0, extPayload(t, map[string]any{"m": map[string]any{"ut_metadata": 3}, "metadata_size": DefaultMaxMetadataSize})))
		c.Write(appendMessage(nil, msgHaveAll, nil))
		io.Copy(io.Discard, r)
	})
	c, err := Dial(context.Background(), p.addr, testHash, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = c.Metadata(ctx, metainfo.HashV2{})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("error %v, want ErrTimeout", err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > DefaultMaxMetadataSize/4 {
		t.Errorf("%d bytes allocated for a peer that sent nothing", d)
	}
}
