// Package krpc is the KRPC message codec of the Mainline DHT (BEP 5):
// bencoded queries, responses and errors, with the extension keys of
// BEP 32 ("want", "nodes6"), BEP 33 ("scrape", "noseed", "seed", "BFsd",
// "BFpe"), BEP 42 ("ip") and BEP 43 ("ro"). It is pure:
// bytes in, values out, no sockets or clocks.
package krpc

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/peerfind/peerfind/bencode"
	"github.com/peerfind/peerfind/dht/internal/bloom"
	"github.com/peerfind/peerfind/dht/internal/nodeid"
	"github.com/peerfind/peerfind/internal/compact"
)

// KRPC message kinds, the "y" key of BEP 5.
const (
	KindQuery    = "q"
	KindResponse = "r"
	KindError    = "e"
)

// KRPC error codes (BEP 5, "Errors").
const (
	ErrCodeGeneric       = 201 // generic error
	ErrCodeServer        = 202 // server error
	ErrCodeProtocol      = 203 // malformed packet, invalid arguments or bad token
	ErrCodeMethodUnknown = 204 // method unknown
)

// MaxPacket bounds one KRPC datagram we read. Real replies stay under the
// ~1400-byte path MTU BEP 32 asks for; anything longer is cut by the read
// buffer and then fails to decode.
const MaxPacket = 2048

// Msg is one KRPC message (BEP 5): a query, a response or an error, plus the
// top-level extension keys we use: "ip" (BEP 42), "ro" (BEP 43) and "v".
// Binary values (ids, hashes, tokens, compact lists) are Go strings holding
// raw bytes, so decoding never rejects a whole message because one id has
// the wrong length; ParseMsg checks the lengths it relies on.
type Msg struct {
	T  string  `bencode:"t"`           // transaction id, echoed in the reply
	Y  string  `bencode:"y"`           // "q", "r" or "e"
	Q  string  `bencode:"q,omitempty"` // method of a query
	A  *Args   `bencode:"a,omitempty"` // arguments of a query
	R  *Return `bencode:"r,omitempty"` // values of a response
	E  *Error  `bencode:"e,omitempty"` // error: [code, message]
	IP string  `bencode:"ip,omitempty"`
	RO int64   `bencode:"ro,omitempty"`
	V  string  `bencode:"v,omitempty"`
}

// Args are the arguments of a query ("a"). Which keys are present depends on
// the method (BEP 5); "want" is BEP 32; "scrape" and "noseed" (get_peers)
// and "seed" (announce_peer) are BEP 33, each meaning yes when 1.
type Args struct {
	ID          string   `bencode:"id"`
	Target      string   `bencode:"target,omitempty"`
	InfoHash    string   `bencode:"info_hash,omitempty"`
	Port        int64    `bencode:"port,omitempty"`
	ImpliedPort int64    `bencode:"implied_port,omitempty"`
	Token       string   `bencode:"token,omitempty"`
	Want        []string `bencode:"want,omitempty"`
	Scrape      int64    `bencode:"scrape,omitempty"`
	NoSeed      int64    `bencode:"noseed,omitempty"`
	Seed        int64    `bencode:"seed,omitempty"`
}

// Return holds the values of a response ("r"): "nodes6" is BEP 32; "BFsd"
// and "BFpe" are BEP 33's Bloom filters of the seeds and of the other
// peers, each bloom.Size bytes (Parse rejects any other length).
type Return struct {
	ID     string   `bencode:"id"`
	Nodes  string   `bencode:"nodes,omitempty"`
	Nodes6 string   `bencode:"nodes6,omitempty"`
	Token  string   `bencode:"token,omitempty"`
	Values []string `bencode:"values,omitempty"`
	BFsd   string   `bencode:"BFsd,omitempty"`
	BFpe   string   `bencode:"BFpe,omitempty"`
}

// Error is a KRPC error ("e"), a list of a code and a message. It is also
// the error a query returns when the remote node answered with one.
type Error struct {
	Code int
	Msg  string
}

// Error returns "krpc error CODE: MESSAGE".
func (e *Error) Error() string {
	return fmt.Sprintf("krpc error %d: %s", e.Code, e.Msg)
}

// MarshalBencode encodes e as the list BEP 5 specifies.
func (e Error) MarshalBencode() ([]byte, error) {
	b := make([]byte, 0, 16+len(e.Msg))
	b = append(b, 'l', 'i')
	b = strconv.AppendInt(b, int64(e.Code), 10)
	b = append(b, 'e')
	b = strconv.AppendInt(b, int64(len(e.Msg)), 10)
	b = append(b, ':')
	b = append(b, e.Msg...)
	return append(b, 'e'), nil
}

// UnmarshalBencode decodes the [code, message] list. It is lenient: a
// missing message or extra elements are accepted, because the error itself
// is what matters.
func (e *Error) UnmarshalBencode(b []byte) error {
	var l []any
	if err := bencode.Unmarshal(b, &l); err != nil {
		return err
	}
	if len(l) == 0 {
		return errors.New("krpc error list is empty")
	}
	code, ok := l[0].(int64)
	if !ok {
		return errors.New("krpc error code is not an integer")
	}
	e.Code = int(code)
	if len(l) > 1 {
		e.Msg, _ = l[1].(string)
	}
	return nil
}

// ErrBadFilter is the cause of a MsgError for a response whose BEP 33
// Bloom filter ("BFsd" or "BFpe") is not bloom.Size bytes long: such a
// filter cannot be merged, and a node that sends one is not trusted with
// the rest of its reply either.
var ErrBadFilter = errors.New("bloom filter is not 256 bytes")

// MsgError reports a KRPC message that could not be used. T is the
// transaction id when it could be read, so that a query can still be
// answered with error 203.
type MsgError struct {
	T   string
	Msg string
	Err error // the cause: the bencode error if decoding failed, or ErrBadFilter
}

// Error returns "krpc: what is wrong[: cause]".
func (e *MsgError) Error() string {
	if e.Err != nil {
		return "krpc: " + e.Msg + ": " + e.Err.Error()
	}
	return "krpc: " + e.Msg
}

// Unwrap returns the bencode error, if any.
func (e *MsgError) Unwrap() error { return e.Err }

// Append appends the bencoding of m to b.
func Append(b []byte, m *Msg) ([]byte, error) {
	enc, err := bencode.Marshal(m)
	if err != nil {
		return b, err
	}
	return append(b, enc...), nil
}

// decodeOpts bounds decoding of packets from the network: DHT messages are
// shallow (at most message → a → want → string), so anything deeper is an
// attack or garbage.
var decodeOpts = bencode.DecodeOptions{MaxDepth: 8, MaxSize: MaxPacket}

// Parse decodes and validates one KRPC message. It checks what every
// later step relies on: the kind, and a 20-byte id in queries and responses.
// Unknown keys are ignored, as BEP 5 requires for extensibility.
func Parse(b []byte) (*Msg, error) {
	m := new(Msg)
	if err := decodeOpts.Unmarshal(b, m); err != nil {
		// Recover the transaction id so that a query can get a 203 reply.
		t, _ := PeekString(b, "t")
		return nil, &MsgError{T: t, Msg: "undecodable message", Err: err}
	}
	switch m.Y {
	case KindQuery:
		if m.Q == "" {
			return nil, &MsgError{T: m.T, Msg: "query without method"}
		}
		if m.A == nil {
			return nil, &MsgError{T: m.T, Msg: "query without arguments"}
		}
		if len(m.A.ID) != compact.IDLen {
			return nil, &MsgError{T: m.T, Msg: fmt.Sprintf("query id of %d bytes", len(m.A.ID))}
		}
	case KindResponse:
		if m.R == nil {
			return nil, &MsgError{T: m.T, Msg: "response without values"}
		}
		if len(m.R.ID) != compact.IDLen {
			return nil, &MsgError{T: m.T, Msg: fmt.Sprintf("response id of %d bytes", len(m.R.ID))}
		}
		for _, f := range []struct{ key, v string }{{"BFsd", m.R.BFsd}, {"BFpe", m.R.BFpe}} {
			if f.v != "" && len(f.v) != bloom.Size {
				return nil, &MsgError{T: m.T, Msg: fmt.Sprintf("response %s of %d bytes", f.key, len(f.v)), Err: ErrBadFilter}
			}
		}
	case KindError:
		if m.E == nil {
			return nil, &MsgError{T: m.T, Msg: "error message without error"}
		}
	default:
		return nil, &MsgError{T: m.T, Msg: fmt.Sprintf("unknown message kind %q", m.Y)}
	}
	return m, nil
}

// PeekString finds a short string value stored under key in a message that
// may be truncated or otherwise undecodable, by searching for the encoded
// key. It is a best effort for error replies only: a match inside some other
// string can mislead it, which costs at most an error reply with a useless
// transaction id.
func PeekString(b []byte, key string) (string, bool) {
	pat := strconv.AppendInt(nil, int64(len(key)), 10)
	pat = append(append(pat, ':'), key...)
	i := bytes.Index(b, pat)
	if i < 0 {
		return "", false
	}
	rest := b[i+len(pat):]
	n, j := 0, 0
	for j < len(rest) && j < 3 && rest[j] >= '0' && rest[j] <= '9' {
		n = n*10 + int(rest[j]-'0')
		j++
	}
	if j == 0 || j >= len(rest) || rest[j] != ':' || n > 16 || len(rest) < j+1+n {
		return "", false
	}
	return string(rest[j+1 : j+1+n]), true
}

// SenderID returns the id of a query or response sender.
func (m *Msg) SenderID() nodeid.ID {
	var id nodeid.ID
	switch {
	case m.A != nil:
		copy(id[:], m.A.ID)
	case m.R != nil:
		copy(id[:], m.R.ID)
	}
	return id
}

// Reply is the useful content of a response, decoded from its compact forms.
type Reply struct {
	ID     nodeid.ID
	Nodes  []compact.Node // nodes and nodes6 together
	Peers  []netip.AddrPort
	Token  string
	IP     netip.AddrPort // our address as the remote saw it (BEP 42), if given
	BadLen int            // entries skipped because of a bad length
	// BFsd and BFpe are the BEP 33 Bloom filters of the responder's
	// seeds and other peers, nil when not sent.
	BFsd, BFpe *bloom.Filter
}

// DecodeReply extracts nodes, peers, token and "ip" from a response. Bad
// entries are skipped and counted, never fatal: anacrolix/dht's default
// store, for one, returns 4-byte "values" entries (docs/interop.md).
func DecodeReply(m *Msg) Reply {
	var r Reply
	r.ID = m.SenderID()
	r.Token = m.R.Token
	if ns, err := compact.ParseNodes([]byte(m.R.Nodes), compact.NodeLen4); err == nil {
		r.Nodes = ns
	} else {
		r.BadLen++
	}
	if m.R.Nodes6 != "" {
		if ns, err := compact.ParseNodes([]byte(m.R.Nodes6), compact.NodeLen6); err == nil {
			r.Nodes = append(r.Nodes, ns...)
		} else {
			r.BadLen++
		}
	}
	for _, v := range m.R.Values {
		p, err := compact.ParsePeer([]byte(v))
		if err != nil || !p.Addr().IsValid() || p.Port() == 0 {
			r.BadLen++
			continue
		}
		r.Peers = append(r.Peers, netip.AddrPortFrom(p.Addr().Unmap(), p.Port()))
	}
	if f, ok := bloom.Parse([]byte(m.R.BFsd)); ok {
		r.BFsd = &f
	}
	if f, ok := bloom.Parse([]byte(m.R.BFpe)); ok {
		r.BFpe = &f
	}
	if m.IP != "" {
		if ap, err := compact.ParsePeer([]byte(m.IP)); err == nil {
			r.IP = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		}
	}
	return r
}
