package peerwire

import (
	"net/netip"

	"github.com/peerfind/peerfind/bencode"
	"github.com/peerfind/peerfind/internal/compact"
)

// PEX is one BEP 11 ut_pex message: peers the sender connected to or
// dropped since its last message (its first message lists every peer it is
// connected to).
type PEX struct {
	Added   []PEXPeer
	Dropped []netip.AddrPort
}

// PEXPeer is one added peer with its flags (BEP 11 "added.f").
type PEXPeer struct {
	Addr  netip.AddrPort
	Flags byte // PEXEncryption | PEXSeed | …; 0 if not given
}

// Flags of PEXPeer (BEP 11).
const (
	PEXEncryption = 0x01 // prefers encryption
	PEXSeed       = 0x02 // a seed or upload-only
	PEXUTP        = 0x04 // supports uTP
	PEXHolepunch  = 0x08 // supports ut_holepunch
	PEXReachable  = 0x10 // reachable: the sender connected out to it
)

// maxPEXEntries bounds each list of a ut_pex message. BEP 11 allows 50
// added and 50 dropped per message; libtorrent sends up to 100. More is
// cut, not an error, so that one over-generous client still helps.
const maxPEXEntries = 200

type pexWire struct {
	Added    []byte `bencode:"added"`
	AddedF   []byte `bencode:"added.f"`
	Added6   []byte `bencode:"added6"`
	Added6F  []byte `bencode:"added6.f"`
	Dropped  []byte `bencode:"dropped"`
	Dropped6 []byte `bencode:"dropped6"`
}

// parsePEX decodes a ut_pex payload. A compact list whose length is not a
// multiple of its entry size is an error (every entry after the fault
// would be garbage); a flags string shorter than its list leaves the rest
// without flags.
func parsePEX(b []byte) (*PEX, error) {
	var w pexWire
	if err := extDecode.Unmarshal(b, &w); err != nil {
		return nil, protoErr("ut_pex: %v", err)
	}
	p := &PEX{}
	for _, l := range []struct {
		peers, flags []byte
		entry        int
		field        string
	}{{w.Added, w.AddedF, compact.PeerLen4, "added"}, {w.Added6, w.Added6F, compact.PeerLen6, "added6"}} {
		addrs, err := compact.ParsePeers(l.peers, l.entry)
		if err != nil {
			return nil, protoErr("ut_pex %s: %v", l.field, err)
		}
		for i, a := range addrs {
			if len(p.Added) >= maxPEXEntries {
				break
			}
			pp := PEXPeer{Addr: netip.AddrPortFrom(a.Addr().Unmap(), a.Port())}
			if i < len(l.flags) {
				pp.Flags = l.flags[i]
			}
			p.Added = append(p.Added, pp)
		}
	}
	for _, l := range []struct {
		peers []byte
		entry int
		field string
	}{{w.Dropped, compact.PeerLen4, "dropped"}, {w.Dropped6, compact.PeerLen6, "dropped6"}} {
		addrs, err := compact.ParsePeers(l.peers, l.entry)
		if err != nil {
			return nil, protoErr("ut_pex %s: %v", l.field, err)
		}
		for _, a := range addrs {
			if len(p.Dropped) >= maxPEXEntries {
				break
			}
			p.Dropped = append(p.Dropped, netip.AddrPortFrom(a.Addr().Unmap(), a.Port()))
		}
	}
	return p, nil
}

// appendPEX encodes p as a ut_pex payload (for tests and fuzz seeds: we
// never send PEX, having no peers of our own to tell about).
func appendPEX(b []byte, p *PEX) []byte {
	var w pexWire
	for _, a := range p.Added {
		if a.Addr.Addr().Unmap().Is4() {
			w.Added = compact.AppendPeer(w.Added, a.Addr)
			w.AddedF = append(w.AddedF, a.Flags)
		} else {
			w.Added6 = compact.AppendPeer(w.Added6, a.Addr)
			w.Added6F = append(w.Added6F, a.Flags)
		}
	}
	for _, a := range p.Dropped {
		if a.Addr().Unmap().Is4() {
			w.Dropped = compact.AppendPeer(w.Dropped, a)
		} else {
			w.Dropped6 = compact.AppendPeer(w.Dropped6, a)
		}
	}
	out, err := bencode.Append(b, w)
	if err != nil {
		panic("peerwire: encoding ut_pex: " + err.Error()) // byte strings always encode
	}
	return out
}
