package metainfo

import (
	"crypto/sha1"
	"crypto/sha256"
	"errors"

	"github.com/peerfind/peerfind/bencode"
)

// Reencoding is how tools that decode and re-encode a torrent's info
// dictionary see a torrent whose info is not in canonical bencoding (BEP 3
// wants dictionary keys sorted; real torrents sometimes are not). Such
// tools — WebTorrent's parse-torrent, the common Python recipe
// sha1(bencode(decode(info))) — hash the re-encoded, sorted bytes and get
// another info hash, one that names no swarm: every BitTorrent client keys
// the swarm by the hash of the info bytes as published, which is
// MetaInfo.InfoHash.
type Reencoding struct {
	// Reason says what is not canonical and where, as a byte offset into
	// the info dictionary, e.g. "offset 9: dict keys not sorted".
	Reason string
	// InfoHash is the SHA-1 of the re-encoded info; zero for a v2-only
	// torrent. InfoHashV2 is the SHA-256; zero for a v1-only torrent.
	InfoHash   Hash
	InfoHashV2 HashV2
}

// Reencoded returns how re-encoding tools see m, or nil if m's info
// dictionary is canonical bencoding (re-encoding it gives the same bytes).
func (m *MetaInfo) Reencoded() *Reencoding {
	strict := bencode.DecodeOptions{Strict: true, MaxDepth: decodeOptions.MaxDepth}
	var v any
	err := strict.Unmarshal(m.InfoBytes, &v)
	if err == nil {
		return nil
	}
	if err := decodeOptions.Unmarshal(m.InfoBytes, &v); err != nil {
		return nil // Parse accepted these bytes; cannot happen
	}
	canon, err2 := bencode.Marshal(v)
	if err2 != nil {
		return nil
	}
	r := &Reencoding{Reason: err.Error()}
	var se *bencode.SyntaxError
	if errors.As(err, &se) {
		r.Reason = "offset " + itoa(int(se.Offset)) + ": " + se.Msg
	}
	if !m.InfoHash.IsZero() {
		r.InfoHash = sha1.Sum(canon)
	}
	if !m.InfoHashV2.IsZero() {
		r.InfoHashV2 = sha256.Sum256(canon)
	}
	return r
}
