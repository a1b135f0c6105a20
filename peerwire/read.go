package peerwire

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
)

// readOne reads one message and folds it into the connection's state:
// the extension handshake, what the peer has, queued ut_pex messages, and
// ut_metadata answers for a fetch in progress. Messages a finder has no
// use for (choke, interested, piece, …) are read and dropped.
func (c *Conn) readOne() error {
	m, err := readMessage(c.r, c.cfg.maxMessage())
	if err != nil || m.KeepAlive {
		return err
	}
	switch m.ID {
	case msgBitfield:
		have, all, err := bitfieldCount(m.Payload, c.cfg.NumPieces)
		if err != nil {
			return err
		}
		c.bits = append(c.bits[:0], m.Payload...)
		c.Pieces = Pieces{Known: true, All: all, Have: have, Total: c.cfg.NumPieces}
		if c.Pieces.Total == 0 {
			c.Pieces.Total = len(m.Payload) * 8
			if all {
				c.Pieces.Total = have
			}
		}
	case msgHaveAll:
		c.Pieces = Pieces{Known: true, All: true, Have: c.cfg.NumPieces, Total: c.cfg.NumPieces}
		c.bits = nil
	case msgHaveNone:
		c.Pieces = Pieces{Known: true, Total: c.cfg.NumPieces}
		c.bits = nil
	case msgHave:
		if len(m.Payload) != 4 {
			return protoErr("have of %d bytes", len(m.Payload))
		}
		c.have(int(binary.BigEndian.Uint32(m.Payload)))
	case msgExtended:
		if len(m.Payload) < 1 {
			return protoErr("empty extended message")
		}
		return c.extended(m.Payload[0], m.Payload[1:])
	}
	return nil
}

// have records a have message: one more piece, if it is new to us and
// within the torrent.
func (c *Conn) have(i int) {
	if c.Pieces.All {
		return
	}
	if n := c.cfg.NumPieces; n > 0 && i >= n || i < 0 {
		return
	}
	if c.bits != nil {
		if i/8 >= len(c.bits) {
			return
		}
		if c.bits[i/8]&(0x80>>(i%8)) != 0 {
			return
		}
		c.bits[i/8] |= 0x80 >> (i % 8)
	}
	c.Pieces.Known = true
	c.Pieces.Have++
	if c.cfg.NumPieces > 0 && c.Pieces.Have >= c.cfg.NumPieces {
		c.Pieces.All = true
	}
}

func (c *Conn) extended(id byte, payload []byte) error {
	switch id {
	case 0:
		e, err := parseExtHandshake(payload)
		if err != nil {
			return err
		}
		c.Ext = e
		if e.UploadOnly && !c.Pieces.Known {
			// BEP 21: upload only, and no bitfield yet; a partial seed
			// sends one later and overrides this.
			c.Pieces = Pieces{Known: true, All: true, Have: c.cfg.NumPieces, Total: c.cfg.NumPieces}
		}
	case ourPEXID:
		if c.cfg.NoPEX {
			return nil // not asked for (a private torrent): ignored, never used
		}
		p, err := parsePEX(payload)
		if err != nil {
			return err
		}
		// Transmission names the receiver in its own PEX (by the address
		// it sees, our outgoing port): not a peer to tell anyone about.
		local, _ := netip.ParseAddrPort(c.c.LocalAddr().String())
		p.Added = slices.DeleteFunc(p.Added, func(a PEXPeer) bool { return a.Addr == local })
		if len(c.pex) >= maxQueuedPEX {
			c.pex = c.pex[1:]
		}
		c.pex = append(c.pex, p)
	case ourMetadataID:
		mm, err := parseMetadataMsg(payload)
		if err != nil {
			return err
		}
		switch mm.Type {
		case metaRequest:
			// We have no metadata to give (BEP 9: answer with a reject).
			return c.writeExtended("ut_metadata", appendMetadataMsg(nil, metadataMsg{Type: metaReject, Piece: mm.Piece}))
		case metaData, metaReject:
			if c.meta != nil {
				return c.meta.handle(mm)
			}
		}
	}
	return nil
}

// writeExtended sends an extended message under the id the peer gave name
// in its extension handshake; nothing if it gave none.
func (c *Conn) writeExtended(name string, payload []byte) error {
	if c.Ext == nil || c.Ext.M[name] == 0 {
		return nil
	}
	c.wbuf = appendExtended(c.wbuf[:0], byte(c.Ext.M[name]), payload)
	_, err := c.c.Write(c.wbuf)
	return err
}

// ReadPEX returns the peer's next ut_pex message (BEP 11), reading until
// one arrives or ctx ends. Peers send their first one soon after the
// extension handshake (libtorrent within seconds), then about once a
// minute. It fails at once if the peer does not support ut_pex.
func (c *Conn) ReadPEX(ctx context.Context) (*PEX, error) {
	if len(c.pex) > 0 {
		p := c.pex[0]
		c.pex = c.pex[1:]
		return p, nil
	}
	if c.cfg.NoPEX || c.Ext == nil || c.Ext.M["ut_pex"] == 0 {
		return nil, &Error{Addr: c.Addr, Op: "pex", Err: errNoPEX}
	}
	defer c.deadline(ctx)()
	for len(c.pex) == 0 {
		if err := c.readOne(); err != nil {
			if ctx.Err() != nil {
				err = &kindError{ErrTimeout, context.Cause(ctx)}
			}
			return nil, c.fail("pex", err)
		}
	}
	p := c.pex[0]
	c.pex = c.pex[1:]
	return p, nil
}

var errNoPEX = errors.New("peer does not support ut_pex (BEP 11)")
