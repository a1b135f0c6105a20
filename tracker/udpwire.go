package tracker

// The UDP tracker packets of BEP 15 and the announce options of BEP 41.
// Pure: bytes in, values out; no sockets, no clocks.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/peerfind/peerfind/internal/compact"
	"github.com/peerfind/peerfind/metainfo"
)

// BEP 15 constants.
const (
	udpProtocolID = 0x41727101980 // the connect request's magic

	actionConnect  = 0
	actionAnnounce = 1
	actionScrape   = 2
	actionError    = 3

	udpAnnounceLen    = 98 // announce request without BEP 41 options
	udpMaxScrape      = 74 // BEP 15: "up to about 74 torrents can be scraped at once"
	udpMaxURLDataLen  = 255 * 8
	optEndOfOptions   = 0 // BEP 41
	optNOP            = 1
	optURLData        = 2
	udpHeaderLen      = 8 // action + transaction id of every response
	udpAnnounceRespHd = 20
)

// WireError reports a malformed packet or body, naming the offset.
type WireError struct {
	What   string // which message
	Offset int    // byte offset of the fault
	Msg    string
}

// Unwrap makes every wire error match ErrBadResponse, like the HTTP
// parser's errors do.
func (e *WireError) Unwrap() error { return ErrBadResponse }

func (e *WireError) Error() string {
	return fmt.Sprintf("%s: %s at offset %d", e.What, e.Msg, e.Offset)
}

// udpHeader is the start of every BEP 15 response.
type udpHeader struct {
	Action uint32
	TxID   uint32
}

// parseUDPHeader reads the action and transaction id of a response.
func parseUDPHeader(b []byte) (udpHeader, error) {
	if len(b) < udpHeaderLen {
		return udpHeader{}, &WireError{"udp response", len(b), fmt.Sprintf("%d bytes, want at least %d", len(b), udpHeaderLen)}
	}
	return udpHeader{binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])}, nil
}

// appendConnectRequest appends a BEP 15 connect request.
func appendConnectRequest(b []byte, tx uint32) []byte {
	b = binary.BigEndian.AppendUint64(b, udpProtocolID)
	b = binary.BigEndian.AppendUint32(b, actionConnect)
	return binary.BigEndian.AppendUint32(b, tx)
}

// parseConnectResponse returns the connection id of a connect response.
func parseConnectResponse(b []byte) (uint64, error) {
	if len(b) < 16 {
		return 0, &WireError{"udp connect response", len(b), fmt.Sprintf("%d bytes, want 16", len(b))}
	}
	return binary.BigEndian.Uint64(b[8:]), nil
}

// appendAnnounceRequest appends a BEP 15 announce request; a non-empty
// urlData (the tracker URL's path and query) is sent as BEP 41 URLData
// options, chunked into 255-byte pieces.
func appendAnnounceRequest(b []byte, connID uint64, tx uint32, r AnnounceRequest, urlData string) []byte {
	b = binary.BigEndian.AppendUint64(b, connID)
	b = binary.BigEndian.AppendUint32(b, actionAnnounce)
	b = binary.BigEndian.AppendUint32(b, tx)
	b = append(b, r.InfoHash[:]...)
	b = append(b, r.PeerID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Downloaded))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Left))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Uploaded))
	b = binary.BigEndian.AppendUint32(b, uint32(r.Event))
	b = binary.BigEndian.AppendUint32(b, 0) // IP address: "0 // default"; unusable for IPv6
	b = binary.BigEndian.AppendUint32(b, r.Key)
	numWant := int32(-1)
	if r.NumWant > 0 {
		numWant = int32(min(r.NumWant, 1<<20))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(numWant))
	b = binary.BigEndian.AppendUint16(b, r.Port)
	if len(urlData) > udpMaxURLDataLen {
		urlData = urlData[:udpMaxURLDataLen]
	}
	for len(urlData) > 0 {
		n := min(len(urlData), 255)
		b = append(b, optURLData, byte(n))
		b = append(b, urlData[:n]...)
		urlData = urlData[n:]
	}
	return b
}

// parseAnnounceResponse decodes a BEP 15 announce response whose peers are
// peerLen bytes each: 6 when the tracker was reached over IPv4, 18 over
// IPv6 (BEP 15 "IPv6"). A trailing partial entry is an error.
func parseAnnounceResponse(b []byte, peerLen int) (*AnnounceResponse, error) {
	if len(b) == udpHeaderLen {
		// opentracker answers an info hash that is not on its whitelist
		// with the bare 8-byte header: a refusal without a reason.
		return nil, &WireError{"udp announce response", len(b), "empty reply: the tracker refused the torrent (not on its whitelist?)"}
	}
	if len(b) < udpAnnounceRespHd {
		return nil, &WireError{"udp announce response", len(b), fmt.Sprintf("%d bytes, want at least %d", len(b), udpAnnounceRespHd)}
	}
	r := &AnnounceResponse{
		Interval: time.Duration(binary.BigEndian.Uint32(b[8:])) * time.Second,
		Leechers: clampCount(binary.BigEndian.Uint32(b[12:])),
		Seeders:  clampCount(binary.BigEndian.Uint32(b[16:])),
	}
	list := b[udpAnnounceRespHd:]
	if peerLen == compact.PeerLen6 && len(list)%compact.PeerLen6 != 0 && len(list)%compact.PeerLen4 == 0 {
		// The npm bittorrent-tracker (11.x) answers IPv6 clients with
		// 6-byte IPv4 entries. A list that only fits the IPv4 size is read
		// as such rather than failing the whole announce.
		peerLen = compact.PeerLen4
	}
	peers, err := compact.ParsePeers(list, peerLen)
	if err != nil {
		var le *compact.LengthError
		if errors.As(err, &le) {
			return nil, &WireError{"udp announce response", udpAnnounceRespHd + le.Len/peerLen*peerLen,
				fmt.Sprintf("peer list of %d bytes is not a multiple of %d", le.Len, peerLen)}
		}
		return nil, err
	}
	r.Peers = peers
	return r, nil
}

// clampCount turns a wire uint32 count into an int, treating values that
// are negative as int32 (some trackers send -1) as unknown.
func clampCount(v uint32) int {
	if int32(v) < 0 {
		return -1
	}
	return int(v)
}

// appendScrapeRequest appends a BEP 15 scrape request for hashes.
func appendScrapeRequest(b []byte, connID uint64, tx uint32, hashes []metainfo.Hash) []byte {
	b = binary.BigEndian.AppendUint64(b, connID)
	b = binary.BigEndian.AppendUint32(b, actionScrape)
	b = binary.BigEndian.AppendUint32(b, tx)
	for _, h := range hashes {
		b = append(b, h[:]...)
	}
	return b
}

// parseScrapeResponse decodes a BEP 15 scrape response for n hashes. A
// tracker may answer fewer than asked (truncated); entries it did not send
// are missing from the result. A partial entry is an error.
func parseScrapeResponse(b []byte, n int) ([]ScrapeStats, error) {
	if len(b) < udpHeaderLen {
		return nil, &WireError{"udp scrape response", len(b), "shorter than its header"}
	}
	body := b[udpHeaderLen:]
	if len(body)%12 != 0 {
		return nil, &WireError{"udp scrape response", udpHeaderLen + len(body)/12*12,
			fmt.Sprintf("%d bytes of entries is not a multiple of 12", len(body))}
	}
	m := min(len(body)/12, n)
	out := make([]ScrapeStats, m)
	for i := range out {
		e := body[i*12:]
		out[i] = ScrapeStats{
			Seeders:   clampCount(binary.BigEndian.Uint32(e)),
			Completed: clampCount(binary.BigEndian.Uint32(e[4:])),
			Leechers:  clampCount(binary.BigEndian.Uint32(e[8:])),
		}
	}
	return out, nil
}

// parseErrorResponse returns the message of a BEP 15 error packet.
func parseErrorResponse(b []byte) string {
	if len(b) <= udpHeaderLen {
		return ""
	}
	msg := b[udpHeaderLen:]
	// Some trackers NUL-terminate the message.
	for len(msg) > 0 && msg[len(msg)-1] == 0 {
		msg = msg[:len(msg)-1]
	}
	return string(msg)
}

// Server side.

// udpRequest is a request a UDP tracker receives.
type udpRequest struct {
	ConnID  uint64
	Action  uint32
	TxID    uint32
	Connect bool // a connect request (protocol id checked)

	Announce AnnounceRequest // when Action == actionAnnounce
	IP       [4]byte         // announce "IP address" field
	URLData  string          // BEP 41 URLData, concatenated
	Hashes   []metainfo.Hash // when Action == actionScrape
}

// parseUDPRequest decodes a connect, announce or scrape request.
func parseUDPRequest(b []byte) (*udpRequest, error) {
	if len(b) < 16 {
		return nil, &WireError{"udp request", len(b), fmt.Sprintf("%d bytes, want at least 16", len(b))}
	}
	r := &udpRequest{
		ConnID: binary.BigEndian.Uint64(b),
		Action: binary.BigEndian.Uint32(b[8:]),
		TxID:   binary.BigEndian.Uint32(b[12:]),
	}
	switch r.Action {
	case actionConnect:
		if r.ConnID != udpProtocolID {
			return nil, &WireError{"udp connect request", 0, fmt.Sprintf("protocol id %#x, want %#x", r.ConnID, udpProtocolID)}
		}
		r.Connect = true
	case actionAnnounce:
		if len(b) < udpAnnounceLen {
			return nil, &WireError{"udp announce request", len(b), fmt.Sprintf("%d bytes, want at least %d", len(b), udpAnnounceLen)}
		}
		a := &r.Announce
		copy(a.InfoHash[:], b[16:36])
		copy(a.PeerID[:], b[36:56])
		a.Downloaded = int64(binary.BigEndian.Uint64(b[56:]))
		a.Left = int64(binary.BigEndian.Uint64(b[64:]))
		a.Uploaded = int64(binary.BigEndian.Uint64(b[72:]))
		ev := binary.BigEndian.Uint32(b[80:])
		if ev > uint32(EventStopped) {
			return nil, &WireError{"udp announce request", 80, fmt.Sprintf("event %d", ev)}
		}
		a.Event = Event(ev)
		copy(r.IP[:], b[84:88])
		a.Key = binary.BigEndian.Uint32(b[88:])
		a.NumWant = int(int32(binary.BigEndian.Uint32(b[92:])))
		a.Port = binary.BigEndian.Uint16(b[96:])
		data, err := parseOptions(b, udpAnnounceLen)
		if err != nil {
			return nil, err
		}
		r.URLData = data
	case actionScrape:
		body := b[16:]
		if len(body)%20 != 0 || len(body) == 0 {
			return nil, &WireError{"udp scrape request", 16, fmt.Sprintf("%d bytes of info hashes, want a positive multiple of 20", len(body))}
		}
		for i := 0; i < len(body); i += 20 {
			r.Hashes = append(r.Hashes, metainfo.Hash(body[i:i+20]))
		}
	default:
		return nil, &WireError{"udp request", 8, fmt.Sprintf("unknown action %d", r.Action)}
	}
	return r, nil
}

// parseOptions walks the BEP 41 options from off and returns the
// concatenated URLData. Unknown options with a length byte are skipped, as
// BEP 41 requires so it can grow.
func parseOptions(b []byte, off int) (string, error) {
	var data []byte
	for i := off; i < len(b); {
		switch b[i] {
		case optEndOfOptions:
			return string(data), nil
		case optNOP:
			i++
			continue
		}
		if i+1 >= len(b) {
			return "", &WireError{"udp announce options", i, "option without length byte"}
		}
		n := int(b[i+1])
		if i+2+n > len(b) {
			return "", &WireError{"udp announce options", i, fmt.Sprintf("option length %d past end of packet", n)}
		}
		if b[i] == optURLData {
			data = append(data, b[i+2:i+2+n]...)
		}
		i += 2 + n
	}
	return string(data), nil
}

// appendConnectResponse appends a connect response.
func appendConnectResponse(b []byte, tx uint32, connID uint64) []byte {
	b = binary.BigEndian.AppendUint32(b, actionConnect)
	b = binary.BigEndian.AppendUint32(b, tx)
	return binary.BigEndian.AppendUint64(b, connID)
}

// appendAnnounceResponse appends an announce response. Peers must be of
// the family the request came from (the caller filters).
func appendAnnounceResponse(b []byte, tx uint32, interval time.Duration, leechers, seeders int, peers []netip.AddrPort) []byte {
	b = binary.BigEndian.AppendUint32(b, actionAnnounce)
	b = binary.BigEndian.AppendUint32(b, tx)
	b = binary.BigEndian.AppendUint32(b, uint32(interval/time.Second))
	b = binary.BigEndian.AppendUint32(b, uint32(leechers))
	b = binary.BigEndian.AppendUint32(b, uint32(seeders))
	for _, p := range peers {
		b = compact.AppendPeer(b, p)
	}
	return b
}

// appendScrapeResponse appends a scrape response.
func appendScrapeResponse(b []byte, tx uint32, stats []ScrapeStats) []byte {
	b = binary.BigEndian.AppendUint32(b, actionScrape)
	b = binary.BigEndian.AppendUint32(b, tx)
	for _, s := range stats {
		b = binary.BigEndian.AppendUint32(b, uint32(s.Seeders))
		b = binary.BigEndian.AppendUint32(b, uint32(s.Completed))
		b = binary.BigEndian.AppendUint32(b, uint32(s.Leechers))
	}
	return b
}

// appendErrorResponse appends an error packet.
func appendErrorResponse(b []byte, tx uint32, msg string) []byte {
	b = binary.BigEndian.AppendUint32(b, actionError)
	b = binary.BigEndian.AppendUint32(b, tx)
	return append(b, msg...)
}
