package peerwire

import (
	"net/netip"
	"sort"

	"github.com/peerfind/peerfind/bencode"
)

// ExtHandshake is a peer's BEP 10 extension handshake: the extended
// messages it understands and what it says about itself. Fields of the
// wrong type are ignored, as BEP 10 asks of unknown or malformed entries.
type ExtHandshake struct {
	// M maps an extension name ("ut_pex", "ut_metadata", …) to the
	// extended message id the peer wants to receive it under (1-255).
	// Names it disabled (id 0) are left out.
	M map[string]int
	// V is the client's name and version, e.g. "libtorrent/2.0.8.0" or
	// "Transmission 3.00"; "" if not given.
	V string
	// P is the peer's TCP listen port; 0 if not given.
	P uint16
	// YourIP is our address as the peer sees it; invalid if not given.
	YourIP netip.Addr
	// Reqq is the number of outstanding requests the peer takes; 0 if not
	// given.
	Reqq int
	// MetadataSize is the size in bytes of the info dictionary (BEP 9); 0
	// if the peer does not have it (or did not say).
	MetadataSize int64
	// UploadOnly is BEP 21's upload_only: the peer downloads nothing more
	// (a seed, or a partial seed).
	UploadOnly bool
}

// Names returns the extension names of M, sorted.
func (e *ExtHandshake) Names() []string {
	names := make([]string, 0, len(e.M))
	for n := range e.M {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// extDecode is the bencode configuration for peer messages: lenient key
// order (clients do not all sort), a small depth, and trailing bytes
// allowed, since ut_metadata data follows its dictionary.
var extDecode = bencode.DecodeOptions{MaxDepth: 8, AllowTrailing: true}

// maxExtNames bounds the entries kept from a peer's "m" dictionary.
const maxExtNames = 64

// parseExtHandshake decodes the payload of an extension handshake (the
// bytes after the extended id 0).
func parseExtHandshake(b []byte) (*ExtHandshake, error) {
	var d map[string]any
	if err := extDecode.Unmarshal(b, &d); err != nil {
		return nil, protoErr("extension handshake: %v", err)
	}
	e := &ExtHandshake{M: map[string]int{}}
	if m, ok := d["m"].(map[string]any); ok {
		for k, v := range m {
			if id, ok := v.(int64); ok && id > 0 && id < 256 && len(e.M) < maxExtNames && len(k) <= 64 {
				e.M[k] = int(id)
			}
		}
	}
	if v, ok := d["v"].(string); ok {
		e.V = printable(v, 64)
	}
	if p, ok := d["p"].(int64); ok && p > 0 && p < 65536 {
		e.P = uint16(p)
	}
	if ip, ok := d["yourip"].(string); ok {
		if a, ok := netip.AddrFromSlice([]byte(ip)); ok && (len(ip) == 4 || len(ip) == 16) {
			e.YourIP = a.Unmap()
		}
	}
	if q, ok := d["reqq"].(int64); ok && q > 0 && q < 1<<20 {
		e.Reqq = int(q)
	}
	if n, ok := d["metadata_size"].(int64); ok && n > 0 {
		e.MetadataSize = n
	}
	if u, ok := d["upload_only"].(int64); ok && u != 0 {
		e.UploadOnly = true
	}
	return e, nil
}

// extHandshakeOut is the extension handshake we send.
type extHandshakeOut struct {
	M    map[string]int `bencode:"m"`
	V    string         `bencode:"v"`
	Reqq int            `bencode:"reqq"`
}

func appendExtHandshake(b []byte, m map[string]int, v string) []byte {
	payload, err := bencode.Marshal(extHandshakeOut{M: m, V: v, Reqq: 16})
	if err != nil {
		panic("peerwire: encoding our extension handshake: " + err.Error()) // a map of ints and a string always encode
	}
	return appendExtended(b, 0, payload)
}

// printable returns s cut to max bytes with every byte outside printable
// ASCII replaced by '?': a peer's strings end up in terminals and logs.
func printable(s string, max int) string {
	if len(s) > max {
		s = s[:max]
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}
