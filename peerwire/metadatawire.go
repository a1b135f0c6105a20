package peerwire

import (
	"bytes"

	"github.com/peerfind/peerfind/bencode"
)

// BEP 9 ut_metadata messages: a bencoded dictionary, and for a data
// message the piece's bytes after it.

// metadataPieceSize is the size of every metadata piece but the last
// (BEP 9: 16 KiB).
const metadataPieceSize = 16 << 10

// ut_metadata msg_type values.
const (
	metaRequest = 0
	metaData    = 1
	metaReject  = 2
)

type metadataMsg struct {
	Type      int
	Piece     int
	TotalSize int64 // data messages only
	Data      []byte
}

type metadataWire struct {
	MsgType   *int64 `bencode:"msg_type"`
	Piece     *int64 `bencode:"piece"`
	TotalSize int64  `bencode:"total_size,omitempty"`
}

// parseMetadataMsg decodes a ut_metadata payload. Data aliases b.
func parseMetadataMsg(b []byte) (metadataMsg, error) {
	var w metadataWire
	dec := bencode.NewDecoder(bytes.NewReader(b))
	dec.Options = extDecode
	if err := dec.Decode(&w); err != nil {
		return metadataMsg{}, protoErr("ut_metadata: %v", err)
	}
	if w.MsgType == nil || w.Piece == nil {
		return metadataMsg{}, protoErr("ut_metadata: msg_type or piece missing")
	}
	if *w.Piece < 0 || *w.Piece > 1<<20 {
		return metadataMsg{}, protoErr("ut_metadata: piece %d", *w.Piece)
	}
	m := metadataMsg{Type: int(min(max(*w.MsgType, -1), 1<<20)), Piece: int(*w.Piece), TotalSize: w.TotalSize}
	n := dec.InputOffset()
	if m.Type == metaData {
		m.Data = b[n:]
	} else if n != int64(len(b)) {
		return metadataMsg{}, protoErr("ut_metadata: %d bytes after a msg_type %d dictionary", int64(len(b))-n, m.Type)
	}
	return m, nil
}

// appendMetadataMsg encodes a ut_metadata message payload: a request or a
// reject (data only with data).
func appendMetadataMsg(b []byte, m metadataMsg) []byte {
	t, p := int64(m.Type), int64(m.Piece)
	w := metadataWire{MsgType: &t, Piece: &p}
	if m.Type == metaData {
		w.TotalSize = m.TotalSize
	}
	out, err := bencode.Append(b, w)
	if err != nil {
		panic("peerwire: encoding ut_metadata: " + err.Error()) // integers always encode
	}
	return append(out, m.Data...)
}
