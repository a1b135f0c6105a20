package peerwire

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/peerfind/peerfind/metainfo"
)

// Our extended message ids (BEP 10: the receiver chooses them), under
// which peers send us ut_metadata and ut_pex messages.
const (
	ourMetadataID = 1
	ourPEXID      = 2
)

// maxOpenMessages bounds the messages read while waiting for the opening
// ones, so that a flood of keep-alives or haves cannot hold Dial even for
// its whole time limit.
const maxOpenMessages = 4096

// maxQueuedPEX bounds the ut_pex messages kept until ReadPEX asks for them.
const maxQueuedPEX = 8

// Pieces is what a peer said it has.
type Pieces struct {
	// Known reports that the peer said: a bitfield, have_all or have_none
	// (BEP 3, BEP 6). A peer with nothing may say nothing (BEP 3).
	Known bool
	// All reports that the peer has every piece: a seed.
	All bool
	// Have is the number of pieces it has; 0 with All when the piece count
	// is unknown (have_all says "every piece", not how many).
	Have int
	// Total is the torrent's piece count: Config.NumPieces if given, else
	// the bitfield's length in bits (up to 7 more than the count); 0 if
	// unknown.
	Total int
}

// Share returns the fraction of the pieces the peer has, in [0, 1], or -1
// if unknown.
func (p Pieces) Share() float64 {
	switch {
	case p.All:
		return 1
	case !p.Known:
		return -1
	case p.Total == 0:
		if p.Have == 0 {
			return 0
		}
		return -1
	}
	return min(float64(p.Have)/float64(p.Total), 1)
}

// Conn is an open connection to a peer after the handshakes. It is owned
// by one goroutine: its methods must not be called concurrently, except
// Close.
type Conn struct {
	// Addr is the peer's address.
	Addr netip.AddrPort
	// InfoHash is the swarm of the handshake.
	InfoHash metainfo.Hash
	// PeerID and Reserved are the peer's, from its handshake.
	PeerID   [20]byte
	Reserved [8]byte
	// Connect is the time the TCP connection took to open; RTT the time
	// from our handshake to the peer's.
	Connect, RTT time.Duration
	// Ext is the peer's extension handshake (BEP 10); nil if it does not
	// support the extension protocol or sent none in time.
	Ext *ExtHandshake
	// Pieces is what the peer has, as of its last message.
	Pieces Pieces

	cfg     *Config
	c       net.Conn
	r       *bufio.Reader
	bits    []byte // the bitfield, kept for have messages
	pex     []*PEX
	meta    *metadataFetch // the fetch in progress, if any
	stopCtx func() bool    // ends the context watch
	wbuf    []byte
}

// Dial connects to addr and does the BEP 3 handshake for infoHash, then
// the BEP 10 extension handshake if the peer supports it, and reads the
// peer's opening messages (its extension handshake and what it has) for up
// to Config.OpenWait. Errors are *Error values wrapping ErrRefused,
// ErrTimeout, ErrReset, ErrClosed, ErrNotBitTorrent, ErrWrongInfoHash,
// ErrTooLarge or ErrProtocol where one applies. A nil cfg is the zero
// Config. The caller must Close the Conn.
func Dial(ctx context.Context, addr netip.AddrPort, infoHash metainfo.Hash, cfg *Config) (*Conn, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout())
	defer cancel()
	start := time.Now()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		if ctx.Err() != nil {
			err = &kindError{ErrTimeout, err}
		}
		return nil, &Error{Addr: addr, Op: "connect", Err: classify(err)}
	}
	c, err := newConn(ctx, nc, addr, infoHash, cfg)
	if err != nil {
		return nil, err
	}
	c.Connect = time.Since(start)
	return c, nil
}

// newConn runs the handshakes on nc, which it closes on failure.
func newConn(ctx context.Context, nc net.Conn, addr netip.AddrPort, infoHash metainfo.Hash, cfg *Config) (*Conn, error) {
	c := &Conn{Addr: addr, InfoHash: infoHash, cfg: cfg, c: nc, r: bufio.NewReaderSize(nc, 16<<10)}
	if err := c.open(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// Close closes the connection.
func (c *Conn) Close() error {
	if c.stopCtx != nil {
		c.stopCtx()
	}
	return c.c.Close()
}

// SupportsExtensions reports BEP 10 in the peer's reserved bytes.
func (c *Conn) SupportsExtensions() bool {
	return c.Reserved[reservedExtension]&bitExtension != 0
}

// SupportsFast reports BEP 6 in the peer's reserved bytes.
func (c *Conn) SupportsFast() bool { return c.Reserved[reservedFlags]&bitFast != 0 }

// SupportsDHT reports BEP 5 in the peer's reserved bytes.
func (c *Conn) SupportsDHT() bool { return c.Reserved[reservedFlags]&bitDHT != 0 }

// SupportsV2 reports BEP 52's upgrade bit in the peer's reserved bytes.
func (c *Conn) SupportsV2() bool { return c.Reserved[reservedFlags]&bitV2 != 0 }

// Extensions lists what the peer supports: "extensions" (BEP 10), "fast"
// (BEP 6), "dht" (BEP 5), "v2" (BEP 52), then the names of its extension
// handshake (ut_pex, ut_metadata, …), sorted.
func (c *Conn) Extensions() []string {
	var out []string
	for _, f := range []struct {
		on   bool
		name string
	}{{c.SupportsExtensions(), "extensions"}, {c.SupportsFast(), "fast"}, {c.SupportsDHT(), "dht"}, {c.SupportsV2(), "v2"}} {
		if f.on {
			out = append(out, f.name)
		}
	}
	if c.Ext != nil {
		out = append(out, c.Ext.Names()...)
	}
	return out
}

// Client names the peer's software: from its peer id (see Client), else
// from its BEP 10 "v"; "" if neither says.
func (c *Conn) Client() string {
	if s := Client(c.PeerID); s != "" {
		return s
	}
	if c.Ext != nil {
		return c.Ext.V
	}
	return ""
}

// deadline applies ctx's deadline to the socket, capped at idleTimeout
// from now, and makes ctx's cancellation interrupt a blocked read. It
// returns the function that undoes the watch.
func (c *Conn) deadline(ctx context.Context) func() {
	dl := time.Now().Add(idleTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	c.c.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Unix(1, 0)) })
	return func() { stop() }
}

func (c *Conn) fail(op string, err error) error {
	return &Error{Addr: c.Addr, Op: op, Err: classify(err)}
}

// open runs the handshakes and reads the opening messages.
func (c *Conn) open(ctx context.Context) error {
	defer c.deadline(ctx)()
	var h handshake
	h.Reserved[reservedExtension] |= bitExtension
	h.Reserved[reservedFlags] |= bitFast
	h.InfoHash = c.InfoHash
	h.PeerID = c.cfg.peerID()
	sent := time.Now()
	if _, err := c.c.Write(appendHandshake(nil, h)); err != nil {
		return c.fail("handshake", err)
	}
	// The protocol string first: what is not BitTorrent is told apart
	// from a peer of another swarm before more is read.
	var buf [handshakeLen]byte
	if _, err := io.ReadFull(c.r, buf[:len(protocol)]); err != nil {
		return c.fail("handshake", err)
	}
	if string(buf[:len(protocol)]) != protocol {
		_, err := parseHandshake(buf[:len(protocol)])
		return c.fail("handshake", err)
	}
	if _, err := io.ReadFull(c.r, buf[len(protocol):]); err != nil {
		return c.fail("handshake", err)
	}
	c.RTT = time.Since(sent)
	ph, err := parseHandshake(buf[:])
	if err != nil {
		return c.fail("handshake", err)
	}
	if ph.InfoHash != c.InfoHash {
		return c.fail("handshake", &kindError{ErrWrongInfoHash, errors.New("peer sent " + ph.InfoHash.String() + ", we asked for " + c.InfoHash.String())})
	}
	c.PeerID, c.Reserved = ph.PeerID, ph.Reserved

	var out []byte
	if c.SupportsExtensions() {
		m := map[string]int{"ut_metadata": ourMetadataID}
		if !c.cfg.NoPEX {
			m["ut_pex"] = ourPEXID
		}
		out = appendExtHandshake(out, m, c.cfg.version())
	}
	if c.SupportsFast() {
		out = appendMessage(out, msgHaveNone, nil) // BEP 6: with both on fast, say what we have
	}
	if len(out) > 0 {
		if _, err := c.c.Write(out); err != nil {
			return c.fail("extension handshake", err)
		}
	}

	// The opening messages, for up to OpenWait: a soft deadline, whose
	// expiry ends the wait without failing Dial.
	soft := time.Now().Add(c.cfg.openWait())
	if d, ok := ctx.Deadline(); ok && d.Before(soft) {
		soft = d
	}
	c.c.SetReadDeadline(soft)
	for i := 0; ; i++ {
		if (c.Ext != nil || !c.SupportsExtensions()) && c.Pieces.Known {
			return nil
		}
		if i >= maxOpenMessages {
			return c.fail("read", protoErr("%d messages without a bitfield or extension handshake", i))
		}
		if err := c.readOne(); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
				return nil // the open wait is over: the peer said what it says
			}
			return c.fail("read", err)
		}
	}
}
