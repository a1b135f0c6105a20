package dhtemu

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strconv"

	"github.com/peerfind/peerfind/bencode"
)

// query is what the emulator reads of a KRPC query (BEP 5, BEP 32 "want").
type query struct {
	T string `bencode:"t"`
	Y string `bencode:"y"`
	Q string `bencode:"q"`
	A struct {
		ID       string   `bencode:"id"`
		Target   string   `bencode:"target"`
		InfoHash string   `bencode:"info_hash"`
		Token    string   `bencode:"token"`
		Port     int64    `bencode:"port"`
		Want     []string `bencode:"want"`
	} `bencode:"a"`
}

// Methods, as counted in Counts.Queries.
const (
	MethodPing = iota
	MethodFindNode
	MethodGetPeers
	MethodAnnouncePeer
	MethodOther // unknown methods and undecodable packets
	numMethods
)

var methodNames = [numMethods]string{"ping", "find_node", "get_peers", "announce_peer", "other"}

func methodIndex(q string) int {
	if i := slices.Index(methodNames[:MethodOther], q); i >= 0 {
		return i
	}
	return MethodOther
}

func parseQuery(b []byte) (query, error) {
	var q query
	err := bencode.Unmarshal(b, &q)
	return q, err
}

func appendStr(b []byte, s []byte) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}

// appendReply appends a response to transaction t: "ip" is the querier's
// address (BEP 42), r holds id and, when not empty, nodes, token, values
// (keys in the sorted order bencoding requires).
func appendReply(b []byte, t string, ip netip.AddrPort, id *ID, nodes []byte, token []byte, values []netip.AddrPort) []byte {
	b = append(b, "d2:ip"...)
	b = appendStr(b, compactPeer(nil, ip))
	b = append(b, "1:rd2:id"...)
	b = appendStr(b, id[:])
	if nodes != nil {
		b = append(b, "5:nodes"...)
		b = appendStr(b, nodes)
	}
	if token != nil {
		b = append(b, "5:token"...)
		b = appendStr(b, token)
	}
	if len(values) > 0 {
		b = append(b, "6:valuesl"...)
		var buf [6]byte
		for _, v := range values {
			b = appendStr(b, compactPeer(buf[:0], v))
		}
		b = append(b, 'e')
	}
	b = append(b, "e1:t"...)
	b = appendStr(b, []byte(t))
	return append(b, "1:y1:re"...)
}

// appendError appends a KRPC error (BEP 5: 201 generic, 203 protocol,
// 204 method unknown).
func appendError(b []byte, t string, code int, msg string) []byte {
	b = append(b, "d1:eli"...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, 'e')
	b = appendStr(b, []byte(msg))
	b = append(b, "e1:t"...)
	b = appendStr(b, []byte(t))
	return append(b, "1:y1:ee"...)
}

// compactPeer appends the 6-byte compact form of an IPv4 address and port
// (BEP 5).
func compactPeer(b []byte, ap netip.AddrPort) []byte {
	a := ap.Addr().Unmap().As4()
	b = append(b, a[:]...)
	return binary.BigEndian.AppendUint16(b, ap.Port())
}
