package metainfo

import (
	"github.com/peerfind/peerfind/bencode"
)

// torrentFile is what NewTorrent writes: the keys sort as bencode wants
// (announce, announce-list, info).
type torrentFile struct {
	Announce     string             `bencode:"announce,omitempty"`
	AnnounceList [][]string         `bencode:"announce-list,omitempty"`
	Info         bencode.RawMessage `bencode:"info"`
}

// NewTorrent returns a .torrent file made of info — the raw bytes of an
// info dictionary, such as a magnet link's metadata fetched from peers
// (BEP 9) — kept byte for byte, so that the file's info hash is the hash
// of those bytes, and of trackers as its announce-list tiers (BEP 12), the
// first URL also as announce. It returns the file parsed as well; info
// that Parse rejects is an error.
func NewTorrent(info []byte, trackers [][]string) ([]byte, *MetaInfo, error) {
	f := torrentFile{Info: bencode.RawMessage(info)}
	for _, tier := range trackers {
		if len(tier) == 0 {
			continue
		}
		if f.Announce == "" {
			f.Announce = tier[0]
		}
		f.AnnounceList = append(f.AnnounceList, tier)
	}
	data, err := bencode.Marshal(f)
	if err != nil {
		return nil, nil, &Error{Field: "info", Err: ErrMissingInfo}
	}
	mi, err := Parse(data)
	if err != nil {
		return nil, nil, err
	}
	return data, mi, nil
}
